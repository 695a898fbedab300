/* srt_runtime_config_json: the settings in force as JSON, each rule with
 * the settings position it came from, the listeners inside the sandbox and
 * the host ports it reaches (srt check's lines); a reload shows at once;
 * NULL arguments are refused. */
#include "common.h"

#include <jansson.h>
#include <limits.h>

/* "NAME:LINE:COL: KEY" for the first occurrence of needle in text: the
 * position config records for a value is that of its first character. */
static void pos_of(char *buf, size_t size, const char *name, const char *text, const char *needle,
		   const char *key)
{
	const char *at = strstr(text, needle);
	int line = 1, col = 1;
	for (const char *p = text; at && p < at; p++) {
		if (*p == '\n') {
			line++;
			col = 1;
		} else {
			col++;
		}
	}
	snprintf(buf, size, "%s:%d:%d: %s", name, line, col, key);
}

static json_t *get_json(srt_runtime *rt)
{
	char *text = NULL;
	struct srt_error e;
	int r = srt_runtime_config_json(rt, &text, &e);
	if (r < 0) {
		diag_err("srt_runtime_config_json", r, &e);
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		diag("not JSON (%s): %s", je.text, text);
	free(text);
	return j;
}

/* The first rule of that kind for that entry, or NULL. */
static json_t *find_rule(json_t *root, const char *kind, const char *entry)
{
	json_t *rules = json_object_get(json_object_get(root, "filesystem"), "rules");
	size_t i;
	json_t *r;
	json_array_foreach(rules, i, r) {
		const char *k = json_string_value(json_object_get(r, "kind"));
		const char *e = json_string_value(json_object_get(r, "entry"));
		if (k && e && strcmp(k, kind) == 0 && strcmp(e, entry) == 0)
			return r;
	}
	return NULL;
}

static json_t *find_domain(json_t *root, const char *list, const char *domain)
{
	json_t *arr = json_object_get(json_object_get(root, "network"), list);
	size_t i;
	json_t *d;
	json_array_foreach(arr, i, d) {
		const char *t = json_string_value(json_object_get(d, "domain"));
		if (t && strcmp(t, domain) == 0)
			return d;
	}
	return NULL;
}

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "(none)";
}

static void check_rule(json_t *root, const char *kind, const char *entry, const char *path, const char *source)
{
	json_t *r = find_rule(root, kind, entry);
	ok(r && strcmp(str(r, "path"), path) == 0 && strcmp(str(r, "source"), source) == 0 &&
		   json_is_false(json_object_get(r, "builtIn")),
	   "%s %s: path %s, source \"%s\" (want %s, \"%s\")", kind, entry, r ? str(r, "path") : "(no rule)",
	   r ? str(r, "source") : "", path, source);
}

static void check_domain(json_t *root, const char *list, const char *domain, const char *source)
{
	json_t *d = find_domain(root, list, domain);
	ok(d && strcmp(str(d, "source"), source) == 0, "%s %s: source \"%s\" (want \"%s\")", list, domain,
	   d ? str(d, "source") : "(not listed)", source);
}

static const char settings_a[] =
	"{\n"
	"  \"filesystem\": {\n"
	"    \"allowWrite\": [\"./out\"],\n"
	"    \"denyRead\": [\"./secret\"]\n"
	"  },\n"
	"  \"network\": {\n"
	"    \"allowedDomains\": [\"example.com\"],\n"
	"    \"deniedDomains\": [\"evil.example.org\"],\n"
	"    \"timeouts\": {\"connect\": 5}\n"
	"  }\n"
	"}\n";

/* The user's own HTTP proxy on the host, and a host loopback service. */
static const char settings_c[] =
	"{\"network\": {\"httpProxyPort\": 18888,\n"
	"  \"allowedDomains\": [\"example.com\", \"localhost:5432\"]}}\n";

/* The listener of network.listeners for proxy ("http", "socks5"). */
static json_t *find_listener(json_t *root, const char *proxy)
{
	json_t *arr = json_object_get(json_object_get(root, "network"), "listeners");
	size_t i;
	json_t *l;
	json_array_foreach(arr, i, l) {
		if (strcmp(str(l, "proxy"), proxy) == 0)
			return l;
	}
	return NULL;
}

static void check_listener(json_t *root, const char *proxy, const char *address, const char *served_by,
			   const char *host_address, const char *host_source)
{
	json_t *l = find_listener(root, proxy);
	json_t *ha = json_object_get(l, "hostAddress");
	bool host_ok = host_address ? json_is_string(ha) && strcmp(json_string_value(ha), host_address) == 0
				    : json_is_null(ha);
	ok(l && strcmp(str(l, "address"), address) == 0 && strcmp(str(l, "servedBy"), served_by) == 0 && host_ok &&
		   strcmp(str(l, "hostSource"), host_source) == 0,
	   "listener %s: %s, served by %s, host %s <- %s (want %s, %s, %s <- %s)", proxy, str(l, "address"),
	   str(l, "servedBy"), json_is_string(ha) ? json_string_value(ha) : "null", str(l, "hostSource"), address,
	   served_by, host_address ? host_address : "null", host_source);
}

static const char settings_b[] =
	"{\"filesystem\": {\"allowWrite\": [\"./other\"]},\n"
	" \"network\": {\"allowedDomains\": [\"other.example.net\"]}}\n";

int main(void)
{
	struct tree t;
	struct srt_error e;
	srt_runtime *rt = NULL;
	char want[600], out[PATH_MAX + 16], secret[PATH_MAX + 16], other[PATH_MAX + 16], real[PATH_MAX];

	plan(25);
	tree_make(&t);
	if (!realpath(t.proj, real))
		die("realpath");
	snprintf(out, sizeof(out), "%s/out", real);
	snprintf(secret, sizeof(secret), "%s/secret", real);
	snprintf(other, sizeof(other), "%s/other", real);
	if (mkdir(out, 0755) < 0 || mkdir(secret, 0755) < 0 || mkdir(other, 0755) < 0)
		die("mkdir");
	struct srt_runtime_options o = tree_options(&t);
	int r = srt_runtime_new_from_json(settings_a, "settings-a", &o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_json", r, &e);
		printf("Bail out! no runtime\n");
		return 1;
	}

	char *text = NULL;
	e.code = -1;
	snprintf(e.message, sizeof(e.message), "stale");
	r = srt_runtime_config_json(rt, &text, &e);
	ok(r == 0 && text && e.code == 0 && e.message[0] == '\0', "srt_runtime_config_json: %d", r);
	free(text);

	json_t *j = get_json(rt);
	ok(json_is_object(j) && json_is_object(json_object_get(j, "filesystem")) &&
		   json_is_object(json_object_get(j, "network")) && json_is_array(json_object_get(j, "notes")),
	   "an object with filesystem, network and notes");
	ok(strcmp(str(j, "observe"), "writes") == 0 && json_is_true(json_object_get(j, "enabled")),
	   "observe \"%s\" (the runtime's option), enabled", str(j, "observe"));

	pos_of(want, sizeof(want), "settings-a", settings_a, "\"./out\"", "filesystem.allowWrite[0]");
	check_rule(j, "allowWrite", "./out", out, want);
	pos_of(want, sizeof(want), "settings-a", settings_a, "\"./secret\"", "filesystem.denyRead[0]");
	check_rule(j, "denyRead", "./secret", secret, want);
	pos_of(want, sizeof(want), "settings-a", settings_a, "\"example.com\"", "network.allowedDomains[0]");
	check_domain(j, "allowedDomains", "example.com", want);
	pos_of(want, sizeof(want), "settings-a", settings_a, "\"evil.example.org\"", "network.deniedDomains[0]");
	check_domain(j, "deniedDomains", "evil.example.org", want);

	json_t *tmo = json_object_get(json_object_get(j, "network"), "timeouts");
	json_t *conn = json_object_get(tmo, "connect"), *head = json_object_get(tmo, "requestHead");
	pos_of(want, sizeof(want), "settings-a", settings_a, "5}", "network.timeouts.connect");
	ok(json_integer_value(json_object_get(conn, "ms")) == 5000 && strcmp(str(conn, "source"), want) == 0,
	   "timeouts.connect: %lld ms from \"%s\" (want 5000, \"%s\")",
	   (long long)json_integer_value(json_object_get(conn, "ms")), str(conn, "source"), want);
	ok(json_integer_value(json_object_get(head, "ms")) > 0 && strcmp(str(head, "source"), "default") == 0,
	   "timeouts.requestHead: %lld ms, \"%s\" (not set)", (long long)json_integer_value(json_object_get(head, "ms")),
	   str(head, "source"));
	ok(json_object_size(tmo) == 5, "five timeouts listed (%zu)", json_object_size(tmo));

	/* Built-in protections are rules too, marked as such. */
	json_t *rules = json_object_get(json_object_get(j, "filesystem"), "rules");
	size_t i, builtin = 0, bad = 0;
	json_t *rule;
	json_array_foreach(rules, i, rule) {
		if (json_is_true(json_object_get(rule, "builtIn"))) {
			builtin++;
			if (strncmp(str(rule, "source"), "built-in", 8) != 0 || !json_is_null(json_object_get(rule, "entry")))
				bad++;
		}
	}
	ok(builtin > 0 && bad == 0, "%zu built-in rules, each with a \"built-in\" source and a null entry (%zu not)",
	   builtin, bad);
	/* srt check's listener lines: srt's own proxies, at the default
	 * ports; no host port. */
	check_listener(j, "http", "127.0.0.1:3128", "srt", NULL, "default");
	check_listener(j, "socks5", "127.0.0.1:1080", "srt", NULL, "default");
	json_t *hp = json_object_get(json_object_get(j, "network"), "hostPorts");
	ok(json_is_array(hp) && json_array_size(hp) == 0, "no host port (%zu)", json_array_size(hp));
	json_decref(j);

	/* After a reload the JSON is the new settings', and only theirs. */
	r = srt_runtime_reload_json(rt, settings_b, "settings-b", &e);
	if (!ok(r == 0, "reload"))
		diag_err("srt_runtime_reload_json", r, &e);
	j = get_json(rt);
	pos_of(want, sizeof(want), "settings-b", settings_b, "\"./other\"", "filesystem.allowWrite[0]");
	check_rule(j, "allowWrite", "./other", other, want);
	pos_of(want, sizeof(want), "settings-b", settings_b, "\"other.example.net\"", "network.allowedDomains[0]");
	check_domain(j, "allowedDomains", "other.example.net", want);
	ok(!find_rule(j, "allowWrite", "./out") && !find_rule(j, "denyRead", "./secret") &&
		   !find_domain(j, "allowedDomains", "example.com") &&
		   !find_domain(j, "deniedDomains", "evil.example.org"),
	   "the old settings' rules are gone");
	conn = json_object_get(json_object_get(json_object_get(j, "network"), "timeouts"), "connect");
	ok(strcmp(str(conn, "source"), "default") == 0, "timeouts.connect is back to the default (\"%s\")",
	   str(conn, "source"));
	json_decref(j);

	/* The user's own proxy on the host, and a host port. */
	r = srt_runtime_reload_json(rt, settings_c, "settings-c", &e);
	if (r < 0)
		diag_err("srt_runtime_reload_json", r, &e);
	j = get_json(rt);
	check_listener(j, "http", "127.0.0.1:3128", "host", "127.0.0.1:18888", "network.httpProxyPort");
	check_listener(j, "socks5", "127.0.0.1:1080", "srt", NULL, "default");
	hp = json_object_get(json_object_get(j, "network"), "hostPorts");
	json_t *h0 = json_array_get(hp, 0), *inside = json_object_get(h0, "inside");
	pos_of(want, sizeof(want), "settings-c", settings_c, "\"localhost:5432\"", "network.allowedDomains[1]");
	ok(json_array_size(hp) == 1 && json_integer_value(json_object_get(h0, "port")) == 5432 &&
		   json_array_size(inside) == 2 &&
		   strcmp(json_string_value(json_array_get(inside, 0)) ? json_string_value(json_array_get(inside, 0)) : "",
			  "127.0.0.1:5432") == 0 &&
		   strcmp(json_string_value(json_array_get(inside, 1)) ? json_string_value(json_array_get(inside, 1)) : "",
			  "[::1]:5432") == 0 &&
		   strcmp(str(h0, "source"), want) == 0,
	   "host port 5432: 127.0.0.1:5432 and [::1]:5432 inside, from \"%s\" (want \"%s\")", str(h0, "source"), want);
	json_decref(j);

	/* NULL arguments. */
	text = (char *)"untouched";
	r = srt_runtime_config_json(NULL, &text, &e);
	ok(r == -EINVAL && e.code == r && strstr(e.message, "rt") && strcmp(text, "untouched") == 0,
	   "rt NULL: %d \"%s\"", r, e.message);
	r = srt_runtime_config_json(rt, NULL, &e);
	ok(r == -EINVAL && e.code == r && strstr(e.message, "ret_json"), "ret_json NULL: %d \"%s\"", r, e.message);
	r = srt_runtime_config_json(NULL, NULL, NULL);
	ok(r == -EINVAL, "without a struct srt_error: %d", r);

	srt_runtime_free(rt);
	tree_remove(&t);
	return done_testing();
}
