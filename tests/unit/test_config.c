/* Unit tests for the settings reader: both formats, every error a user can meet, project trust. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "config/jsonpos.h"

/* ---- helpers ---------------------------------------------------------- */

struct parsed {
	struct config cfg;
	struct srt_error err;
	int r;
};

static void parse_as(struct parsed *p, const char *text, enum config_origin origin, bool trusted)
{
	config_init(&p->cfg);
	memset(&p->err, 0, sizeof(p->err));
	p->r = config_parse_text(&p->cfg, "/home/u/.srt-settings.json", text, strlen(text), origin, trusted, &p->err);
}

static void parse(struct parsed *p, const char *text)
{
	parse_as(p, text, CONFIG_ORIGIN_USER, true);
}

#define assert_contains(haystack, needle)                                                          \
	do {                                                                                        \
		const char *h_ = (haystack), *n_ = (needle);                                        \
		if (!strstr(h_, n_))                                                                \
			fail_msg("expected \"%s\" in \"%s\"", n_, h_);                              \
	} while (0)

/* Parse text expecting failure; the message must contain every needle. */
static void expect_error(const char *text, int code, ...)
{
	struct parsed p;
	parse(&p, text);
	config_free(&p.cfg); /* before any assert, which would skip it */
	if (p.r == 0)
		fail_msg("parsed without error: %s", text);
	assert_int_equal(p.r, code);
	assert_int_equal(p.err.code, code);
	va_list ap;
	va_start(ap, code);
	for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
		assert_contains(p.err.message, needle);
	va_end(ap);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A scratch home and project folder per test. */
struct dirs {
	char root[64];
	char home[128];
	char project[128];
	char user_file[192];
	char project_file[192];
};

static void make_dirs(struct dirs *d)
{
	strcpy(d->root, "/tmp/srt-test-config-XXXXXX");
	assert_non_null(mkdtemp(d->root));
	snprintf(d->home, sizeof(d->home), "%s/home", d->root);
	snprintf(d->project, sizeof(d->project), "%s/proj", d->root);
	snprintf(d->user_file, sizeof(d->user_file), "%s/.srt-settings.json", d->home);
	snprintf(d->project_file, sizeof(d->project_file), "%s/.sandbox/settings.json", d->project);
	assert_int_equal(mkdir(d->home, 0700), 0);
	assert_int_equal(mkdir(d->project, 0700), 0);
	char sb[160];
	snprintf(sb, sizeof(sb), "%s/.sandbox", d->project);
	assert_int_equal(mkdir(sb, 0700), 0);
}

static void remove_dirs(struct dirs *d)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->root);
	assert_int_equal(system(cmd), 0);
}

static const struct config_entry *find(const struct config_list *list, const char *value)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->items[i].value, value) == 0)
			return &list->items[i];
	return NULL;
}

static bool ignored_has(const struct config *cfg, const char *what)
{
	for (size_t i = 0; i < cfg->n_ignored_allows; i++)
		if (strcmp(cfg->ignored_allows[i].what, what) == 0)
			return true;
	return false;
}

static bool notes_have(const struct config *cfg, const char *needle)
{
	for (size_t i = 0; i < cfg->notes.n; i++)
		if (strstr(cfg->notes.v[i], needle))
			return true;
	return false;
}

/* ---- defaults and the srt format -------------------------------------- */

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	config_init(&cfg);
	assert_int_equal(cfg.mandatory_deny_search_depth, 3);
	assert_true(cfg.enabled);
	assert_false(cfg.allow_git_config);
	assert_false(cfg.allow_new_repositories);
	assert_int_equal(cfg.allow_write.n, 0);
	assert_null(cfg.bwrap_path);
	assert_false(cfg.network.timeouts.request_head.set);
	assert_false(cfg.network.timeouts.tunnel_idle.set);
	config_free(&cfg);
	config_free(&cfg); /* twice is harmless */
	config_free(NULL);
}

static void test_srt_format_full(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\n"
		  "  \"filesystem\": {\n"
		  "    \"denyRead\": [\"~/.ssh\"],\n"
		  "    \"allowRead\": [\"~/.ssh/known_hosts\"],\n"
		  "    \"allowWrite\": [\".\", \"/tmp/out\"],\n"
		  "    \"denyWrite\": [\".env\"],\n"
		  "    \"allowGitConfig\": true,\n"
		  "    \"allowNewRepositories\": true\n"
		  "  },\n"
		  "  \"network\": {\n"
		  "    \"allowedDomains\": [\"github.com\", \"*.npmjs.org:443\"],\n"
		  "    \"deniedDomains\": [\"evil.com\"],\n"
		  "    \"allowUnixSockets\": [\"/run/docker.sock\"],\n"
		  "    \"deniedResolvedAddresses\": [\"10.0.0.0/8\"],\n"
		  "    \"allowAllUnixSockets\": true,\n"
		  "    \"allowLocalBinding\": true,\n"
		  "    \"strictAllowlist\": true,\n"
		  "    \"httpProxyPort\": 8080,\n"
		  "    \"socksProxyPort\": 1081,\n"
		  "    \"deniedDomainReasons\": {\"evil.com\": \"known bad\"}\n"
		  "  },\n"
		  "  \"mandatoryDenySearchDepth\": 5,\n"
		  "  \"allowNestedUserNamespaces\": true,\n"
		  "  \"enableWeakerNestedSandbox\": true,\n"
		  "  \"ignoreViolations\": {\"*\": [\"/usr/bin\"], \"git push\": [\"/x\", \"/y\"]},\n"
		  "  \"bwrapPath\": \"/opt/bwrap\"\n"
		  "}\n");
	assert_int_equal(p.r, 0);
	struct config *c = &p.cfg;
	assert_string_equal(c->deny_read.items[0].value, "~/.ssh");
	assert_string_equal(c->allow_read.items[0].value, "~/.ssh/known_hosts");
	assert_int_equal(c->allow_write.n, 2);
	assert_string_equal(c->allow_write.items[1].value, "/tmp/out");
	assert_string_equal(c->deny_write.items[0].value, ".env");
	assert_true(c->allow_git_config);
	assert_true(c->allow_new_repositories);
	assert_int_equal(c->network.allowed_domains.n, 2);
	assert_string_equal(c->network.allowed_domains.items[1].value, "*.npmjs.org:443");
	assert_string_equal(c->network.denied_domains.items[0].value, "evil.com");
	assert_string_equal(c->network.allow_unix_sockets.items[0].value, "/run/docker.sock");
	assert_string_equal(c->network.denied_resolved_addresses.items[0].value, "10.0.0.0/8");
	assert_true(c->network.allow_all_unix_sockets);
	assert_true(c->network.allow_local_binding);
	assert_true(c->network.strict_allowlist);
	assert_int_equal(c->network.http_proxy_port, 8080);
	assert_int_equal(c->network.socks_proxy_port, 1081);
	assert_int_equal(c->network.n_denied_domain_reasons, 1);
	assert_string_equal(c->network.denied_domain_reasons[0].domain, "evil.com");
	assert_string_equal(c->network.denied_domain_reasons[0].reason, "known bad");
	assert_int_equal(c->mandatory_deny_search_depth, 5);
	assert_true(c->allow_nested_user_namespaces);
	assert_true(c->enable_weaker_nested_sandbox);
	assert_int_equal(c->n_ignore_violations, 2);
	assert_string_equal(c->ignore_violations[1].command_pattern, "git push");
	assert_int_equal(c->ignore_violations[1].paths.n, 2);
	assert_string_equal(c->ignore_violations[1].paths.items[1].value, "/y");
	assert_string_equal(c->bwrap_path, "/opt/bwrap");
	assert_int_equal(c->files.n, 1);
	assert_string_equal(c->files.v[0], "/home/u/.srt-settings.json");
	config_free(c);
}

static void test_positions_and_origin(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\n"
		  "  \"filesystem\": {\n"
		  "    \"allowWrite\": [\".\",\n"
		  "                   \"/tmp/x\"]\n"
		  "  },\n"
		  "  \"network\": {\"allowedDomains\": [\"a.com\", \"b.com\"]}\n"
		  "}\n");
	assert_int_equal(p.r, 0);
	const struct config_entry *e = &p.cfg.allow_write.items[1];
	assert_string_equal(e->pos.file, "/home/u/.srt-settings.json");
	assert_int_equal(e->pos.line, 4);
	assert_int_equal(e->pos.column, 20);
	assert_string_equal(e->pos.key, "filesystem.allowWrite[1]");
	assert_int_equal(e->origin, CONFIG_ORIGIN_USER);
	e = &p.cfg.network.allowed_domains.items[1];
	assert_int_equal(e->pos.line, 6);
	assert_int_equal(e->pos.column, 43);
	assert_string_equal(e->pos.key, "network.allowedDomains[1]");
	config_free(&p.cfg);
}

static void test_columns_count_characters(void **state)
{
	(void)state;
	struct parsed p;
	/* "é" is two bytes and one column, as in jansson's messages. */
	parse(&p, "{\"filesystem\": {\"denyRead\": [\"\xc3\xa9\", \"/x\"]}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.deny_read.items[1].pos.column, 35);
	config_free(&p.cfg);
}

static void test_literal_paths(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\"filesystem\": {\"denyRead\": [\"/w/*.key\", {\"path\": \"/w/[WIP]\", \"literal\": true},"
		  " {\"path\": \"/w/plain\", \"literal\": false}]}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.deny_read.n, 3);
	assert_false(find(&p.cfg.deny_read, "/w/*.key")->literal);
	assert_true(find(&p.cfg.deny_read, "/w/[WIP]")->literal);
	assert_false(find(&p.cfg.deny_read, "/w/plain")->literal);
	config_free(&p.cfg);

	expect_error("{\"filesystem\": {\"denyRead\": [{\"path\": \"/w\"}]}}", -EINVAL,
		     "filesystem.denyRead[0]", "\"literal\": true", NULL);
	expect_error("{\"filesystem\": {\"denyRead\": [{\"path\": 3, \"literal\": true}]}}", -EINVAL,
		     "filesystem.denyRead[0].path: expected a string, found a number", NULL);
	expect_error("{\"filesystem\": {\"denyRead\": [{\"path\": \"/w\", \"literal\": \"yes\"}]}}", -EINVAL,
		     "filesystem.denyRead[0].literal: expected true or false, found a string", NULL);
	expect_error("{\"filesystem\": {\"denyRead\": [{\"paht\": \"/w\", \"literal\": true}]}}", -EINVAL,
		     "unknown key 'filesystem.denyRead[0].paht' (did you mean 'path'?)", NULL);
}

static void test_notes_for_machinery_keys(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\n"
		  "  \"ripgrep\": {\"command\": \"rg\"},\n"
		  "  \"socatPath\": \"/usr/bin/socat\",\n"
		  "  \"seccomp\": {\"applyPath\": \"/x\"},\n"
		  "  \"javaAgentJarPath\": \"/x.jar\",\n"
		  "  \"allowPty\": true,\n"
		  "  \"enableWeakerNetworkIsolation\": false,\n"
		  "  \"allowAppleEvents\": true,\n"
		  "  \"network\": {\"allowMachLookup\": [\"com.x.*\"]},\n"
		  "  \"bwrapPath\": \"/usr/local/bin/bwrap\"\n"
		  "}\n");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.notes.n, 8);
	assert_true(notes_have(&p.cfg, "/home/u/.srt-settings.json:2:3: ripgrep: accepted and ignored"));
	assert_true(notes_have(&p.cfg, "socatPath: accepted and ignored"));
	assert_true(notes_have(&p.cfg, "seccomp: accepted and ignored"));
	assert_true(notes_have(&p.cfg, "javaAgentJarPath: accepted and ignored"));
	assert_true(notes_have(&p.cfg, "allowPty: accepted and ignored: macOS only"));
	assert_true(notes_have(&p.cfg, "network.allowMachLookup: accepted and ignored: macOS only"));
	assert_string_equal(p.cfg.bwrap_path, "/usr/local/bin/bwrap");
	config_free(&p.cfg);

	/* Accepted keys still have a shape. */
	expect_error("{\"allowPty\": \"yes\"}", -EINVAL, "allowPty: expected true or false, found a string", NULL);
	expect_error("{\"bwrapPath\": \"bwrap\"}", -EINVAL, "1:15: bwrapPath: expected an absolute path", NULL);
}

/* ---- the Elixir format ------------------------------------------------ */

static void test_elixir_format(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\n"
		  "  \"sandbox\": {\n"
		  "    \"enabled\": true,\n"
		  "    \"network\": {\"httpProxyPort\": 8888, \"socksProxyPort\": 1080,\n"
		  "                \"allowUnixSockets\": [\"/var/run/a.sock\"], \"allowLocalBinding\": true}\n"
		  "  },\n"
		  "  \"permissions\": {\n"
		  "    \"allow\": [\"WebFetch(domain:github.com)\", \"Read(.)\", \"Edit(./src)\",\n"
		  "              \"WebFetch(tcp:localhost:5432)\", \"UnixSocket(/var/run/docker.sock)\",\n"
		  "              \"Edit(./odd (name))\"],\n"
		  "    \"deny\": [\"Read(~/.ssh)\", \"Edit(.env)\", \"WebFetch(domain:malicious.com)\",\n"
		  "             \"WebFetch(tcp:[::1]:22)\"]\n"
		  "  }\n"
		  "}\n");
	assert_int_equal(p.r, 0);
	struct config *c = &p.cfg;
	assert_true(c->enabled);
	assert_int_equal(c->network.listen_http_port, 8888);
	assert_int_equal(c->network.listen_socks_port, 1080);
	assert_int_equal(c->network.http_proxy_port, 0);
	assert_true(c->network.allow_local_binding);
	assert_non_null(find(&c->network.allowed_domains, "github.com"));
	assert_non_null(find(&c->network.allowed_domains, "localhost:5432"));
	assert_non_null(find(&c->allow_read, "."));
	assert_non_null(find(&c->allow_write, "./src"));
	assert_non_null(find(&c->allow_write, "./odd (name)"));
	assert_non_null(find(&c->network.allow_unix_sockets, "/var/run/a.sock"));
	assert_non_null(find(&c->network.allow_unix_sockets, "/var/run/docker.sock"));
	assert_non_null(find(&c->deny_read, "~/.ssh"));
	assert_non_null(find(&c->deny_write, ".env"));
	assert_non_null(find(&c->network.denied_domains, "malicious.com"));
	assert_non_null(find(&c->network.denied_domains, "[::1]:22"));
	const struct config_entry *e = find(&c->deny_read, "~/.ssh");
	assert_string_equal(e->pos.key, "permissions.deny[0]");
	assert_int_equal(e->pos.line, 11);
	assert_int_equal(e->pos.column, 14);
	config_free(c);

	parse(&p, "{\"sandbox\": {\"enabled\": false}}");
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.enabled);
	config_free(&p.cfg);
}

static void test_mixed_formats(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\"filesystem\": {\"allowWrite\": [\"/a\"]}, \"permissions\": {\"allow\": [\"Edit(/b)\"]},"
		  " \"network\": {\"httpProxyPort\": 3000}, \"sandbox\": {\"network\": {\"httpProxyPort\": 3128}}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.allow_write.n, 2);
	assert_int_equal(p.cfg.network.http_proxy_port, 3000);
	assert_int_equal(p.cfg.network.listen_http_port, 3128);
	config_free(&p.cfg);
}

static void test_malformed_permissions(void **state)
{
	(void)state;
	expect_error("{\"permissions\": {\"allow\": [\"Read(.)\",\n \"Raed(~/.ssh)\"]}}", -EINVAL,
		     "/home/u/.srt-settings.json:2:2: permissions.allow[1]: malformed permission \"Raed(~/.ssh)\"",
		     "(did you mean 'Read'?)", NULL);
	expect_error("{\"permissions\": {\"deny\": [\"Bash(rm)\"]}}", -EINVAL,
		     "malformed permission \"Bash(rm)\"", "expected Read, Edit, WebFetch or UnixSocket", NULL);
	expect_error("{\"permissions\": {\"deny\": [\"Read\"]}}", -EINVAL, "malformed permission \"Read\"", NULL);
	expect_error("{\"permissions\": {\"deny\": [\"Read()\"]}}", -EINVAL, "malformed permission \"Read()\"", NULL);
	expect_error("{\"permissions\": {\"deny\": [\"Read(x) \"]}}", -EINVAL, "malformed permission \"Read(x) \"", NULL);
	expect_error("{\"permissions\": {\"allow\": [\"WebFetch(github.com)\"]}}", -EINVAL,
		     "WebFetch(domain:NAME) or WebFetch(tcp:HOST:PORT)", NULL);
	expect_error("{\"permissions\": {\"allow\": [\"WebFetch(domain:)\"]}}", -EINVAL,
		     "malformed permission \"WebFetch(domain:)\"", NULL);
	expect_error("{\"permissions\": {\"allow\": [\"WebFetch(tcp:db:0)\"]}}", -EINVAL,
		     "the port must be a number from 1 to 65535", NULL);
	expect_error("{\"permissions\": {\"allow\": [\"WebFetch(tcp:db:x)\"]}}", -EINVAL, "port", NULL);
	expect_error("{\"permissions\": {\"allow\": [\"WebFetch(tcp:::1:22)\"]}}", -EINVAL, "brackets", NULL);
	expect_error("{\"permissions\": {\"deny\": [\"UnixSocket(/var/run/docker.sock)\"]}}", -EINVAL,
		     "permissions.deny[0]", "UnixSocket(...) belongs in permissions.allow", NULL);
	expect_error("{\"permissions\": {\"allow\": [42]}}", -EINVAL,
		     "permissions.allow[0]: expected a permission string", NULL);
	expect_error("{\"permissions\": {\"ask\": []}}", -EINVAL, "unknown key 'permissions.ask'", NULL);
}

static void test_parse_permission_api(void **state)
{
	(void)state;
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	char key[32];
	strcpy(key, "permissions.deny[0]");
	struct config_pos pos = { .file = "<command line>", .key = key };
	assert_int_equal(config_parse_permission(&cfg, "Read(~/.aws)", false, CONFIG_ORIGIN_USER, true, pos, &err), 0);
	strcpy(key, "changed");
	assert_string_equal(cfg.deny_read.items[0].value, "~/.aws");
	assert_string_equal(cfg.deny_read.items[0].pos.key, "permissions.deny[0]"); /* copied */
	assert_int_equal(config_parse_permission(&cfg, "Nope", true, CONFIG_ORIGIN_USER, true, pos, &err), -EINVAL);
	assert_contains(err.message, "<command line>: changed: malformed permission \"Nope\"");
	config_free(&cfg);
}

/* ---- errors ----------------------------------------------------------- */

static void test_syntax_errors_have_line_and_column(void **state)
{
	(void)state;
	expect_error("{\n  \"filesystem\": {\n    \"allowWrite\": [tru]\n  }\n}\n", -EINVAL,
		     "/home/u/.srt-settings.json:3:22: invalid token near 'tru'", NULL);
	expect_error("{\"a\": 1,}", -EINVAL, "/home/u/.srt-settings.json:1:9: string or '}' expected", NULL);
	expect_error("{\"network\": {}, \"network\": {}}", -EINVAL, "1:25: duplicate object key near '\"network\"'", NULL);
	/* A control byte in the file is not echoed to the terminal. */
	expect_error("{\"a\": \x1b[31m}", -EINVAL, "/home/u/.srt-settings.json:1:", NULL);
	struct parsed p;
	parse(&p, "{\"a\": \x1b[31m}");
	assert_null(strchr(p.err.message, '\x1b'));
	config_free(&p.cfg);
}

static void test_nul_byte_refused(void **state)
{
	(void)state;
	/* jansson alone would read this as {"a": 10, "b": 1}. */
	static const char text[] = "{\"a\": 10\0, \"b\": 1}";
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	int r = config_parse_text(&cfg, "s.json", text, sizeof(text) - 1, CONFIG_ORIGIN_USER, true, &err);
	config_free(&cfg);
	assert_int_equal(r, -EINVAL);
	assert_contains(err.message, "s.json:1:9: NUL byte in settings file");
}

static void test_not_an_object_and_empty(void **state)
{
	(void)state;
	expect_error("[\"/tmp\"]", -EINVAL, "/home/u/.srt-settings.json:1:1: settings must be a JSON object, found an array",
		     NULL);
	expect_error("", -EINVAL, "/home/u/.srt-settings.json: settings file is empty", NULL);
	expect_error(" \n\t\n", -EINVAL, "/home/u/.srt-settings.json: settings file is empty", NULL);
	expect_error("\"x\"", -EINVAL, "/home/u/.srt-settings.json:", NULL);
}

static void test_type_errors_name_key_path(void **state)
{
	(void)state;
	expect_error("{\n  \"filesystem\": {\n    \"allowWrite\": [\".\", 7]\n  }\n}", -EINVAL,
		     "/home/u/.srt-settings.json:3:25: filesystem.allowWrite[1]: expected a string or {\"path\": ...}, "
		     "found a number", NULL);
	expect_error("{\"filesystem\": {\"allowWrite\": \"/tmp\"}}", -EINVAL,
		     "1:31: filesystem.allowWrite: expected an array of paths, found a string", NULL);
	expect_error("{\"filesystem\": {\"allowWrite\": [\"\"]}}", -EINVAL,
		     "filesystem.allowWrite[0]: expected a path, found an empty string", NULL);
	expect_error("{\"filesystem\": []}", -EINVAL, "filesystem: expected an object, found an array", NULL);
	expect_error("{\"network\": {\"allowedDomains\": [null]}}", -EINVAL,
		     "network.allowedDomains[0]: expected a string, found null", NULL);
	expect_error("{\"network\": {\"strictAllowlist\": 1}}", -EINVAL,
		     "network.strictAllowlist: expected true or false, found a number", NULL);
	expect_error("{\"network\": {\"httpProxyPort\": 70000}}", -EINVAL,
		     "network.httpProxyPort: expected an integer from 1 to 65535, found 70000", NULL);
	expect_error("{\"network\": {\"socksProxyPort\": \"1080\"}}", -EINVAL,
		     "network.socksProxyPort: expected an integer from 1 to 65535, found a string", NULL);
	expect_error("{\"mandatoryDenySearchDepth\": 0}", -EINVAL,
		     "mandatoryDenySearchDepth: expected an integer from 1 to 10, found 0", NULL);
	expect_error("{\"mandatoryDenySearchDepth\": 2.5}", -EINVAL, "found 2.5", NULL);
	expect_error("{\"network\": {\"deniedDomainReasons\": {\"x.com\": \"\"}}}", -EINVAL,
		     "network.deniedDomainReasons[\"x.com\"]: expected a reason, found an empty string", NULL);
	expect_error("{\"ignoreViolations\": {\"npm test\": \"/x\"}}", -EINVAL,
		     "ignoreViolations[\"npm test\"]: expected an array of strings, found a string", NULL);

	struct parsed p;
	parse(&p, "{\"mandatoryDenySearchDepth\": 4.0}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.mandatory_deny_search_depth, 4);
	config_free(&p.cfg);
}

static void test_unknown_keys_suggest(void **state)
{
	(void)state;
	expect_error("{\"filesystem\": {\"allowwrite\": []}}", -EINVAL,
		     "/home/u/.srt-settings.json:1:17: unknown key 'filesystem.allowwrite' (did you mean 'allowWrite'?)",
		     NULL);
	expect_error("{\"filesystem\": {\"allow_write\": []}}", -EINVAL, "(did you mean 'allowWrite'?)", NULL);
	expect_error("{\"filesystem\": {\"alowWirte\": []}}", -EINVAL, "(did you mean 'allowWrite'?)", NULL);
	expect_error("{\"netwrok\": {}}", -EINVAL, "unknown key 'netwrok' (did you mean 'network'?)", NULL);
	expect_error("{\"allowedDomains\": []}", -EINVAL,
		     "unknown key 'allowedDomains' (did you mean 'network.allowedDomains'?)", NULL);
	expect_error("{\"sandbox\": {\"network\": {\"http_proxy_port\": 1}}}", -EINVAL,
		     "unknown key 'sandbox.network.http_proxy_port' (did you mean 'httpProxyPort'?)", NULL);

	struct parsed p;
	parse(&p, "{\"completelyDifferent\": 1}");
	assert_int_equal(p.r, -EINVAL);
	assert_contains(p.err.message, "unknown key 'completelyDifferent'");
	assert_null(strstr(p.err.message, "did you mean"));
	config_free(&p.cfg);
}

static void test_tls_terminate(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\"network\": {\"tlsTerminate\": {}}}");
	assert_int_equal(p.r, 0);
	assert_true(p.cfg.network.tls.enabled);
	assert_null(p.cfg.network.tls.ca_cert.path);
	assert_false(p.cfg.network.host_mismatch_allowed);
	config_free(&p.cfg);
	parse(&p, "{\"network\": {\"tlsTerminate\": {\"caCertPath\": \"/etc/ca.pem\", \"caKeyPath\": \"~/ca.key\",\n"
		  "  \"excludeDomains\": [\"a.com\", \"*.b.com\"], \"extraCaCertPaths\": [\"/x.pem\"],\n"
		  "  \"maxTunnels\": 7, \"handshakeTimeoutMs\": 1500},\n"
		  "  \"refuseOpaqueTunnels\": true, \"requireHostMatch\": false}}");
	assert_int_equal(p.r, 0);
	const struct config_tls *t = &p.cfg.network.tls;
	assert_string_equal(t->ca_cert.path, "/etc/ca.pem");
	assert_string_equal(t->ca_key.path, "~/ca.key");
	assert_string_equal(t->ca_key.pos.key, "network.tlsTerminate.caKeyPath");
	assert_int_equal(t->exclude_domains.n, 2);
	assert_int_equal(t->extra_ca_certs.n, 1);
	assert_true(t->max_tunnels.set);
	assert_int_equal(t->max_tunnels.value, 7);
	assert_int_equal(t->handshake_ms.value, 1500);
	assert_true(p.cfg.network.refuse_opaque_tunnels);
	assert_true(p.cfg.network.host_mismatch_allowed);
	/* The CA's key is never readable inside. */
	bool denied = false;
	for (size_t i = 0; i < p.cfg.deny_read.n; i++)
		denied |= strcmp(p.cfg.deny_read.items[i].value, "~/ca.key") == 0 && p.cfg.deny_read.items[i].literal;
	assert_true(denied);
	config_free(&p.cfg);
	expect_error("{\"network\": {\"tlsTerminate\": {\"caCertPath\": \"/a\"}}}", -EINVAL,
		     "network.tlsTerminate: caCertPath and caKeyPath go together: caKeyPath is missing", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": {\"caKeyPath\": \"/a\"}}}", -EINVAL, "caCertPath is missing", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": {\"caCertPath\": \"a\", \"caKeyPath\": \"/a\"}}}", -EINVAL,
		     "network.tlsTerminate.caCertPath: expected an absolute path", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": {\"maxTunnels\": 0}}}", -EINVAL,
		     "network.tlsTerminate.maxTunnels: expected an integer from 1 to 1000000", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": {\"handshakeTimeoutMs\": 600001}}}", -EINVAL,
		     "handshakeTimeoutMs", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": true}}", -EINVAL,
		     "network.tlsTerminate: expected an object", NULL);
	expect_error("{\"network\": {\"tlsTerminate\": {\"excludeDomains\": \"a.com\"}}}", -EINVAL,
		     "network.tlsTerminate.excludeDomains: expected an array", NULL);
	expect_error("{\"network\": {\"requireHostMatch\": 1}}", -EINVAL, "network.requireHostMatch: expected true or false",
		     NULL);
	/* From an untrusted project file, the widening values are ignored. */
	parse_as(&p, "{\"network\": {\"requireHostMatch\": false, \"refuseOpaqueTunnels\": true}}",
		 CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.network.host_mismatch_allowed);
	assert_true(p.cfg.network.refuse_opaque_tunnels);
	config_free(&p.cfg);
}

static void test_credentials(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\"credentials\": {\"allowPlaintextInject\": true,\n"
		  "  \"envVars\": [{\"name\": \"GITHUB_TOKEN\", \"mode\": \"mask\", \"injectHosts\": [\"api.github.com\"]},\n"
		  "              {\"name\": \"NPM_TOKEN\", \"mode\": \"deny\"},\n"
		  "              {\"name\": \"JWT\", \"mode\": \"mask\", \"decode\": \"jwt\", \"maskClaims\": [\"sk\"]}],\n"
		  "  \"files\": [{\"path\": \"~/.netrc\", \"mode\": \"mask\", \"extract\": \"password\\\\s+(\\\\S+)\",\n"
		  "              \"onExtractNoMatch\": \"deny\", \"maskDuplicates\": true}],\n"
		  "  \"awsPairs\": [{\"accessKeyIdVar\": \"K\", \"secretAccessKeyVar\": \"S\"}],\n"
		  "  \"sigv4\": {\"streaming\": \"passthrough\", \"presigned\": \"deny\"}}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.credentials.n, 4);
	assert_true(p.cfg.credentials.allow_plaintext_inject);
	const struct config_credential *c = p.cfg.credentials.items;
	assert_string_equal(c[0].name, "GITHUB_TOKEN");
	assert_int_equal(c[0].mode, CONFIG_CRED_MASK);
	assert_true(c[0].has_inject_hosts);
	assert_string_equal(c[0].inject_hosts.items[0].value, "api.github.com");
	assert_int_equal(c[1].mode, CONFIG_CRED_DENY);
	assert_true(c[2].decode_jwt);
	assert_string_equal(c[2].mask_claims.v[0], "sk");
	assert_true(c[3].is_file);
	assert_non_null(c[3].extract);
	assert_int_equal(c[3].on_no_match, CONFIG_NOMATCH_DENY);
	assert_int_equal(c[3].pos.line, 5);
	assert_int_equal(p.cfg.credentials.n_aws_pairs, 1);
	assert_int_equal(p.cfg.credentials.sigv4_streaming, CONFIG_SIGV4_PASSTHROUGH);
	config_free(&p.cfg);
	parse_as(&p, "{\"credentials\": {\"sigv4\": {\"streaming\": \"resign\", \"presigned\": \"resign\"}}}",
		 CONFIG_ORIGIN_USER, true);
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.credentials.sigv4_streaming, CONFIG_SIGV4_RESIGN);
	assert_int_equal(p.cfg.credentials.sigv4_presigned, CONFIG_SIGV4_RESIGN);
	config_free(&p.cfg);
	/* resign widens too: an untrusted project cannot choose it */
	parse_as(&p, "{\"credentials\": {\"sigv4\": {\"streaming\": \"resign\"}}}", CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.credentials.sigv4_streaming, CONFIG_SIGV4_DENY);
	assert_int_equal(p.cfg.n_ignored_allows, 1);
	config_free(&p.cfg);

	/* An untrusted project: its entries apply, its widening values do not. */
	parse_as(&p, "{\"credentials\": {\"allowPlaintextInject\": true, \"sigv4\": {\"presigned\": \"passthrough\"},"
		     " \"envVars\": [{\"name\": \"T\", \"mode\": \"deny\"}]}}", CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.credentials.allow_plaintext_inject);
	assert_int_equal(p.cfg.credentials.sigv4_presigned, CONFIG_SIGV4_DENY);
	assert_int_equal(p.cfg.credentials.n, 1);
	assert_int_equal(p.cfg.n_ignored_allows, 2);
	assert_string_equal(p.cfg.ignored_allows[0].what, "credentials.allowPlaintextInject: true");
	config_free(&p.cfg);

	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"mask\", \"extract\": \"a(b\"}]}}",
		     -EINVAL, "credentials.envVars[0].extract: not a valid regular expression", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"mask\", \"extract\": \"abc\"}]}}",
		     -EINVAL, "credentials.envVars[0].extract: the pattern has no capturing group", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"mask\", \"extract\": \"(?:a)(b)\"}]}}",
		     -EINVAL, "(?...) groups", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A-B\", \"mode\": \"deny\"}]}}", -EINVAL,
		     "credentials.envVars[0].name: 'A-B' is not a variable name", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\"}]}}", -EINVAL, "\"mode\" is missing", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"mask\", \"maskClaims\": [\"x\"]}]}}",
		     -EINVAL, "maskClaims: requires \"decode\"", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"mask\", \"injectHosts\": []}]}}",
		     -EINVAL, "injectHosts: is empty", NULL);
	expect_error("{\"credentials\": {\"files\": [{\"path\": \"/x/\", \"mode\": \"mask\"}]}}", -EINVAL,
		     "not a folder", NULL);
	expect_error("{\"credentials\": {\"files\": [{\"path\": \"~/.config/*/token\", \"mode\": \"mask\"}]}}", -EINVAL,
		     "not a glob", NULL);
	expect_error("{\"credentials\": {\"injectHosts\": []}}", -EINVAL, "unknown key 'credentials.injectHosts'", NULL);
	expect_error("{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"deny\", \"maskDuplicates\": true}]}}",
		     -EINVAL, "unknown key 'credentials.envVars[0].maskDuplicates'", NULL);
	expect_error("{\"credentials\": {\"sigv4\": {\"streaming\": \"allow\"}}}", -EINVAL,
		     "credentials.sigv4.streaming: expected \"deny\", \"passthrough\" or \"resign\"", NULL);
	/* SigV4a is never re-signed: resign is not a value it takes */
	expect_error("{\"credentials\": {\"sigv4\": {\"sigv4a\": \"resign\"}}}", -EINVAL,
		     "credentials.sigv4.sigv4a: expected \"deny\" or \"passthrough\"", NULL);
	expect_error("{\"credentials\": {\"awsPairs\": [{\"accessKeyIdVar\": \"K\"}]}}", -EINVAL,
		     "\"secretAccessKeyVar\" is missing", NULL);
}

static void test_unsupported_keys(void **state)
{
	(void)state;
	/* parentProxy and mitmProxy are read (test_parent covers their values). */
	expect_error("{\"network\": {\"parentProxy\": {\n\"http\": \"gopher://p:1\"}}}", -EINVAL,
		     ":2:9: network.parentProxy.http: an unsupported scheme", NULL);
	expect_error("{\"network\": {\"parentProxy\": {\"https\": \"https://p/x\"}}}", -EINVAL,
		     "network.parentProxy.https: a path", NULL);
	expect_error("{\"network\": {\"parentProxy\": {\"url\": \"http://p\"}}}", -EINVAL,
		     "unknown key 'network.parentProxy.url'", NULL);
	expect_error("{\"network\": {\"mitmProxy\": {\"socketPath\": \"x.sock\"}}}", -EINVAL,
		     "network.mitmProxy.socketPath: not an absolute path", NULL);
	expect_error("{\"network\": {\"filterRequest\": 1}}", -EOPNOTSUPP,
		     "network.filterRequest: not supported yet (request filtering)", NULL);
	expect_error("{\"network\": {\"ambiguousRequestTarget\": true}}", -EOPNOTSUPP, "not supported yet", NULL);
	expect_error("{\"filesystem\": {\"disabled\": true}}", -EOPNOTSUPP,
		     "filesystem.disabled: true is not supported yet", NULL);
	struct parsed p;
	parse(&p, "{\"filesystem\": {\"disabled\": false}}");
	assert_int_equal(p.r, 0);
	config_free(&p.cfg);
}

/* ---- network.timeouts ------------------------------------------------- */

static void test_timeouts_accepted(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\n"
		  "  \"network\": {\n"
		  "    \"timeouts\": {\n"
		  "      \"requestHead\": 30,\n"
		  "      \"connect\": 2.5,\n"
		  "      \"keepAliveIdle\": 120.0,\n"
		  "      \"response\": 0.5,\n"
		  "      \"tunnelIdle\": 6e2\n"
		  "    }\n"
		  "  }\n"
		  "}\n");
	assert_int_equal(p.r, 0);
	const struct config_timeout *t = &p.cfg.network.timeouts.request_head;
	assert_true(t->set);
	assert_int_equal(t->ms, 30000);
	assert_string_equal(t->pos.file, "/home/u/.srt-settings.json");
	assert_int_equal(t->pos.line, 4);
	assert_int_equal(t->pos.column, 22);
	assert_string_equal(t->pos.key, "network.timeouts.requestHead");
	assert_int_equal(p.cfg.network.timeouts.connect.ms, 2500);
	assert_int_equal(p.cfg.network.timeouts.connect.pos.line, 5);
	assert_string_equal(p.cfg.network.timeouts.connect.pos.key, "network.timeouts.connect");
	assert_int_equal(p.cfg.network.timeouts.keep_alive_idle.ms, 120000);
	assert_int_equal(p.cfg.network.timeouts.response.ms, 500);
	assert_int_equal(p.cfg.network.timeouts.tunnel_idle.ms, 600000);
	assert_string_equal(p.cfg.network.timeouts.tunnel_idle.pos.key, "network.timeouts.tunnelIdle");
	config_free(&p.cfg);

	/* Every key is optional; an empty object changes nothing. */
	parse(&p, "{\"network\": {\"timeouts\": {}}}");
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.network.timeouts.request_head.set);
	assert_false(p.cfg.network.timeouts.connect.set);
	assert_false(p.cfg.network.timeouts.response.set);
	config_free(&p.cfg);

	/* Rounded to the nearest millisecond; the bounds themselves are fine. */
	parse(&p, "{\"network\": {\"timeouts\": {\"requestHead\": 0.001, \"connect\": 0.0014, "
		  "\"keepAliveIdle\": 1.2346, \"response\": 604800, \"tunnelIdle\": 604800.0}}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.network.timeouts.request_head.ms, 1);
	assert_int_equal(p.cfg.network.timeouts.connect.ms, 1);
	assert_int_equal(p.cfg.network.timeouts.keep_alive_idle.ms, 1235);
	assert_int_equal(p.cfg.network.timeouts.response.ms, 604800000);
	assert_int_equal(p.cfg.network.timeouts.tunnel_idle.ms, 604800000);
	config_free(&p.cfg);

	/* 0 is "never" where a wait holds no slot, and is set, not unset. */
	parse(&p, "{\"network\": {\"timeouts\": {\"keepAliveIdle\": 0, \"response\": 0.0, \"tunnelIdle\": 0}}}");
	assert_int_equal(p.r, 0);
	assert_true(p.cfg.network.timeouts.keep_alive_idle.set);
	assert_int_equal(p.cfg.network.timeouts.keep_alive_idle.ms, 0);
	assert_true(p.cfg.network.timeouts.response.set);
	assert_int_equal(p.cfg.network.timeouts.response.ms, 0);
	assert_true(p.cfg.network.timeouts.tunnel_idle.set);
	assert_int_equal(p.cfg.network.timeouts.tunnel_idle.ms, 0);
	config_free(&p.cfg);

	/* A later text overwrites key by key, as for every scalar. */
	config_init(&p.cfg);
	memset(&p.err, 0, sizeof(p.err));
	const char *first = "{\"network\": {\"timeouts\": {\"connect\": 10, \"response\": 20}}}";
	const char *second = "{\"network\": {\"timeouts\": {\"connect\": 5}}}";
	assert_int_equal(config_parse_text(&p.cfg, "/a.json", first, strlen(first), CONFIG_ORIGIN_USER, true, &p.err), 0);
	assert_int_equal(config_parse_text(&p.cfg, "/b.json", second, strlen(second), CONFIG_ORIGIN_USER, true, &p.err), 0);
	assert_int_equal(p.cfg.network.timeouts.connect.ms, 5000);
	assert_string_equal(p.cfg.network.timeouts.connect.pos.file, "/b.json");
	assert_int_equal(p.cfg.network.timeouts.response.ms, 20000);
	assert_string_equal(p.cfg.network.timeouts.response.pos.file, "/a.json");
	config_free(&p.cfg);
}

/* {"network": {"timeouts": {"KEY": VALUE}}}: the error names the value's
 * position (column 31 + the key's length) and the key path. */
static void expect_timeout_error(const char *key, const char *value, const char *what)
{
	char text[256], want[512];
	snprintf(text, sizeof(text), "{\"network\": {\"timeouts\": {\"%s\": %s}}}", key, value);
	snprintf(want, sizeof(want), "/home/u/.srt-settings.json:1:%zu: network.timeouts.%s: %s", 31 + strlen(key), key,
		 what);
	struct parsed p;
	parse(&p, text);
	config_free(&p.cfg);
	assert_int_equal(p.r, -EINVAL);
	assert_string_equal(p.err.message, want);
}

static void test_timeouts_refused(void **state)
{
	(void)state;
	static const char positive[] = "expected a number of seconds more than 0 and at most 604800";
	static const char never[] = "expected a number of seconds from 0 (never) to 604800";
	char what[160];
#define WHAT(range, found) (snprintf(what, sizeof(what), "%s, found %s", range, found), what)
	/* A client sending its head and a dial hold a slot: never "never". */
	expect_timeout_error("requestHead", "0", WHAT(positive, "0"));
	expect_timeout_error("connect", "0", WHAT(positive, "0"));
	expect_timeout_error("connect", "0.0", WHAT(positive, "0"));
	expect_timeout_error("connect", "-0.0", WHAT(positive, "-0"));
	expect_timeout_error("requestHead", "-1", WHAT(positive, "-1"));
	expect_timeout_error("response", "-0.5", WHAT(never, "-0.5"));
	expect_timeout_error("keepAliveIdle", "-3", WHAT(never, "-3"));
	/* Above a week, however written. */
	expect_timeout_error("tunnelIdle", "604801", WHAT(never, "604801"));
	expect_timeout_error("tunnelIdle", "604800.5", WHAT(never, "604800.5"));
	expect_timeout_error("connect", "1e300", WHAT(positive, "1e+300"));
	expect_timeout_error("connect", "9223372036854775807", WHAT(positive, "9223372036854775807"));
	/* Not a number. */
	expect_timeout_error("connect", "\"30\"", WHAT(positive, "a string"));
	expect_timeout_error("connect", "true", WHAT(positive, "true"));
	expect_timeout_error("response", "null", WHAT(never, "null"));
	expect_timeout_error("tunnelIdle", "[600]", WHAT(never, "an array"));
	expect_timeout_error("keepAliveIdle", "{}", WHAT(never, "an object"));
#undef WHAT
	/* Positive but nothing once rounded to milliseconds. */
	expect_timeout_error("connect", "0.0004",
			     "0.0004 seconds is less than a millisecond; expected 0.001 or more");
	expect_timeout_error("response", "1e-4",
			     "0.0001 seconds is less than a millisecond; expected 0 (never) or 0.001 or more");

	expect_error("{\"network\": {\"timeouts\": 30}}", -EINVAL,
		     "/home/u/.srt-settings.json:1:26: network.timeouts: expected an object, found a number", NULL);
	expect_error("{\"network\": {\"timeouts\": {\"conect\": 1}}}", -EINVAL,
		     "/home/u/.srt-settings.json:1:27: unknown key 'network.timeouts.conect' (did you mean 'connect'?)",
		     NULL);
	expect_error("{\"network\": {\"timeouts\": {\"tunnel_idle\": 1}}}", -EINVAL,
		     "unknown key 'network.timeouts.tunnel_idle' (did you mean 'tunnelIdle'?)", NULL);
	expect_error("{\"network\": {\"timeouts\": {\"idle\": 1}}}", -EINVAL,
		     "unknown key 'network.timeouts.idle'", NULL);
	expect_error("{\"network\": {\"connect\": 5}}", -EINVAL,
		     "unknown key 'network.connect' (did you mean 'network.timeouts.connect'?)", NULL);
	expect_error("{\"timeouts\": {}}", -EINVAL, "unknown key 'timeouts' (did you mean 'network.timeouts'?)", NULL);
}

/* Timeouts tune srt's own proxies and widen nothing: an untrusted project
 * sets them, and, loaded after the user file, wins where both do. */
static void test_timeouts_from_project(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.user_file, "{\"network\": {\"timeouts\": {\"connect\": 10, \"response\": 20}}}");
	write_file(d.project_file, "{\"network\": {\"timeouts\": {\"connect\": 5, \"tunnelIdle\": 0}}}");
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_int_equal(cfg.network.timeouts.connect.ms, 5000);
	assert_string_equal(cfg.network.timeouts.connect.pos.file, d.project_file);
	assert_int_equal(cfg.network.timeouts.response.ms, 20000);
	assert_string_equal(cfg.network.timeouts.response.pos.file, d.user_file);
	assert_true(cfg.network.timeouts.tunnel_idle.set);
	assert_int_equal(cfg.network.timeouts.tunnel_idle.ms, 0);
	assert_false(cfg.network.timeouts.request_head.set);
	config_free(&cfg);

	/* A bad value in a project file is an error like any other. */
	write_file(d.project_file, "{\"network\": {\"timeouts\": {\"connect\": 0}}}");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	assert_contains(err.message, d.project_file);
	assert_contains(err.message, ":1:38: network.timeouts.connect: expected a number of seconds");
	config_free(&cfg);
	remove_dirs(&d);
}

/* ---- network.mode ----------------------------------------------------- */

static void test_network_mode(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.network.mode, CONFIG_NET_PROXY);
	assert_null(p.cfg.network.mode_pos.file);
	config_free(&p.cfg);

	parse(&p, "{\"network\": {\n  \"mode\": \"transparent\"}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.network.mode, CONFIG_NET_TRANSPARENT);
	assert_int_equal(p.cfg.network.mode_pos.line, 2);
	assert_string_equal(p.cfg.network.mode_pos.key, "network.mode");
	config_free(&p.cfg);

	parse(&p, "{\"network\": {\"mode\": \"proxy\"}}");
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.network.mode, CONFIG_NET_PROXY);
	config_free(&p.cfg);

	/* A later file overwrites an earlier one, as for every scalar. */
	config_init(&p.cfg);
	const char *first = "{\"network\": {\"mode\": \"transparent\"}}";
	const char *second = "{\"network\": {\"mode\": \"proxy\"}}";
	assert_int_equal(config_parse_text(&p.cfg, "/a.json", first, strlen(first), CONFIG_ORIGIN_USER, true, NULL), 0);
	assert_int_equal(config_parse_text(&p.cfg, "/b.json", second, strlen(second), CONFIG_ORIGIN_USER, true, NULL), 0);
	assert_int_equal(p.cfg.network.mode, CONFIG_NET_PROXY);
	assert_string_equal(p.cfg.network.mode_pos.file, "/b.json");
	config_free(&p.cfg);
}

static void test_network_mode_refused(void **state)
{
	(void)state;
	expect_error("{\"network\": {\"mode\": \"direct\"}}", -EINVAL,
		     "/home/u/.srt-settings.json:1:22: network.mode: expected \"proxy\" or \"transparent\", found 'direct'",
		     NULL);
	/* Compared as written: the other settings' words are case-sensitive too. */
	expect_error("{\"network\": {\"mode\": \"Transparent\"}}", -EINVAL,
		     ":1:22: network.mode: expected \"proxy\" or \"transparent\", found 'Transparent'", NULL);
	expect_error("{\"network\": {\"mode\": \"\"}}", -EINVAL, ":1:22: network.mode: expected", NULL);
	expect_error("{\"network\": {\"mode\": true}}", -EINVAL,
		     ":1:22: network.mode: expected \"proxy\" or \"transparent\", found", NULL);
	expect_error("{\"network\": {\"mode\": [\"transparent\"]}}", -EINVAL, ":1:22: network.mode: expected", NULL);
	expect_error("{\"network\": {\"mod\": \"transparent\"}}", -EINVAL,
		     "unknown key 'network.mod' (did you mean 'mode'?)", NULL);
	expect_error("{\"mode\": \"transparent\"}", -EINVAL, "unknown key 'mode' (did you mean 'network.mode'?)", NULL);
}

/* The mode widens nothing (the same lists decide): an untrusted project
 * file sets it, either way, and nothing is reported as ignored. */
static void test_network_mode_from_project(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.user_file, "{\"network\": {\"mode\": \"proxy\"}}");
	write_file(d.project_file, "{\"network\": {\"mode\": \"transparent\"}}");
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_int_equal(cfg.network.mode, CONFIG_NET_TRANSPARENT);
	assert_string_equal(cfg.network.mode_pos.file, d.project_file);
	config_free(&cfg);

	write_file(d.user_file, "{\"network\": {\"mode\": \"transparent\"}}");
	write_file(d.project_file, "{\"network\": {\"mode\": \"proxy\"}}");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_int_equal(cfg.network.mode, CONFIG_NET_PROXY);
	config_free(&cfg);

	write_file(d.project_file, "{\"network\": {\"mode\": \"tproxy\"}}");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	assert_contains(err.message, d.project_file);
	assert_contains(err.message, ":1:22: network.mode: expected");
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_limits(void **state)
{
	(void)state;
	/* Nesting deeper than the scanner allows. */
	size_t depth = JSONPOS_MAX_DEPTH + 1;
	char *deep = malloc(depth * 7 + 8);
	assert_non_null(deep);
	char *w = deep;
	for (size_t i = 0; i < depth; i++)
		w += sprintf(w, "{\"a\":");
	*w++ = '1';
	for (size_t i = 0; i < depth; i++)
		*w++ = '}';
	*w = '\0';
	expect_error(deep, -E2BIG, "settings too large: nested more than 64 levels deep", NULL);
	free(deep);

	/* One list longer than CONFIG_MAX_LIST_ENTRIES. */
	size_t n = CONFIG_MAX_LIST_ENTRIES + 1;
	char *big = malloc(n * 5 + 64);
	assert_non_null(big);
	w = big + sprintf(big, "{\"network\": {\"deniedDomains\": [");
	for (size_t i = 0; i < n; i++)
		w += sprintf(w, "%s\"a\"", i ? "," : "");
	strcpy(w, "]}}");
	expect_error(big, -E2BIG, "network.deniedDomains[65536]: too many entries (the limit is 65536", NULL);
	free(big);

	/* A text over the size cap is refused before it is parsed. */
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	size_t huge = CONFIG_MAX_FILE_SIZE + 1;
	char *text = malloc(huge);
	assert_non_null(text);
	memset(text, ' ', huge);
	assert_int_equal(config_parse_text(&cfg, "big.json", text, huge, CONFIG_ORIGIN_USER, true, &err), -EFBIG);
	assert_contains(err.message, "big.json: settings file is larger than 4194304 bytes");
	free(text);
	config_free(&cfg);

	/* A permission string over its cap. */
	char *perm = malloc(CONFIG_MAX_PERMISSION_LEN + 16);
	assert_non_null(perm);
	strcpy(perm, "Read(");
	memset(perm + 5, 'a', CONFIG_MAX_PERMISSION_LEN);
	strcpy(perm + 5 + CONFIG_MAX_PERMISSION_LEN, ")");
	config_init(&cfg);
	struct config_pos pos = { .file = "x", .key = "permissions.allow[0]" };
	assert_int_equal(config_parse_permission(&cfg, perm, true, CONFIG_ORIGIN_USER, true, pos, &err), -EINVAL);
	assert_contains(err.message, "longer than 8192 bytes");
	free(perm);
	config_free(&cfg);
}

/* ---- files and project trust ------------------------------------------ */

static void test_named_file_missing_is_an_error(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .settings_path = "nope.json", .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), -ENOENT);
	char want[256];
	snprintf(want, sizeof(want), "%s/nope.json: cannot open settings file: No such file or directory", d.project);
	assert_contains(err.message, want);
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_default_file_absent_means_defaults(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	assert_int_equal(cfg.mandatory_deny_search_depth, 3);
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_default_file_present_but_bad(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	struct config cfg;
	struct srt_error err = { 0 };
	struct config_load_options o = { .home = d.home, .cwd = d.project };

	write_file(d.user_file, "");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s: settings file is empty", d.user_file);
	assert_contains(err.message, want);
	config_free(&cfg);

	write_file(d.user_file, "{\"filesystem\": {\n  \"denyRead\": [\"~/.ssh\",]}}");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	snprintf(want, sizeof(want), "%s:2:", d.user_file);
	assert_contains(err.message, want);
	config_free(&cfg);

	/* A folder where the file should be is not "absent". */
	unlink(d.user_file);
	assert_int_equal(mkdir(d.user_file, 0700), 0);
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EISDIR);
	assert_contains(err.message, "is a directory");
	config_free(&cfg);
	remove_dirs(&d);
}

static const char project_text[] =
	"{\n"
	"  \"filesystem\": {\"denyRead\": [\"./secrets\"], \"allowWrite\": [\"/\"], \"denyWrite\": [\"./lock\"],\n"
	"                 \"allowGitConfig\": true},\n"
	"  \"network\": {\"allowedDomains\": [\"exfil.example\"], \"deniedDomains\": [\"ads.example\"],\n"
	"              \"strictAllowlist\": true, \"allowAllUnixSockets\": true, \"httpProxyPort\": 9999},\n"
	"  \"allowNestedUserNamespaces\": true,\n"
	"  \"bwrapPath\": \"/tmp/evil\",\n"
	"  \"trustedProjectDirs\": [\"/\"],\n"
	"  \"permissions\": {\"allow\": [\"Edit(/etc)\"], \"deny\": [\"Read(./keys)\"]}\n"
	"}\n";

static void test_untrusted_project_only_denies(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.user_file, "{\"filesystem\": {\"allowWrite\": [\".\"]}, \"allowNestedUserNamespaces\": false}");
	write_file(d.project_file, project_text);
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);

	/* Deny rules from the project apply. */
	const struct config_entry *e = find(&cfg.deny_read, "./secrets");
	assert_non_null(e);
	assert_int_equal(e->origin, CONFIG_ORIGIN_PROJECT);
	assert_string_equal(e->pos.file, d.project_file);
	assert_int_equal(e->pos.line, 2);
	assert_non_null(find(&cfg.deny_write, "./lock"));
	assert_non_null(find(&cfg.deny_read, "./keys"));
	assert_non_null(find(&cfg.network.denied_domains, "ads.example"));
	assert_true(cfg.network.strict_allowlist);

	/* Allow rules do not; the user's own do. */
	assert_int_equal(cfg.allow_write.n, 1);
	assert_string_equal(cfg.allow_write.items[0].value, ".");
	assert_int_equal(cfg.allow_write.items[0].origin, CONFIG_ORIGIN_USER);
	assert_int_equal(cfg.network.allowed_domains.n, 0);
	assert_false(cfg.allow_git_config);
	assert_false(cfg.network.allow_all_unix_sockets);
	assert_false(cfg.allow_nested_user_namespaces);
	assert_int_equal(cfg.network.http_proxy_port, 0);
	assert_null(cfg.bwrap_path);
	assert_int_equal(cfg.trusted_project_dirs.n, 0);

	assert_true(ignored_has(&cfg, "filesystem.allowWrite: /"));
	assert_true(ignored_has(&cfg, "network.allowedDomains: exfil.example"));
	assert_true(ignored_has(&cfg, "filesystem.allowGitConfig: true"));
	assert_true(ignored_has(&cfg, "network.allowAllUnixSockets: true"));
	assert_true(ignored_has(&cfg, "network.httpProxyPort: 9999"));
	assert_true(ignored_has(&cfg, "allowNestedUserNamespaces: true"));
	assert_true(ignored_has(&cfg, "bwrapPath: /tmp/evil"));
	assert_true(ignored_has(&cfg, "trustedProjectDirs: /"));
	assert_true(ignored_has(&cfg, "permissions.allow: Edit(/etc)"));
	for (size_t i = 0; i < cfg.n_ignored_allows; i++) {
		assert_non_null(cfg.ignored_allows[i].reason);
		assert_string_equal(cfg.ignored_allows[i].pos.file, d.project_file);
		assert_true(cfg.ignored_allows[i].pos.line > 0);
	}
	assert_true(notes_have(&cfg, "project settings not trusted"));

	/* Both files are recorded, so the policy can protect them. */
	assert_int_equal(cfg.files.n, 2);
	assert_string_equal(cfg.files.v[0], d.user_file);
	assert_string_equal(cfg.files.v[1], d.project_file);
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_project_trusted_by_option(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.project_file, project_text);
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project, .trust_project_settings = true };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_non_null(find(&cfg.allow_write, "/"));
	assert_non_null(find(&cfg.allow_write, "/etc"));
	assert_non_null(find(&cfg.network.allowed_domains, "exfil.example"));
	assert_true(cfg.allow_git_config);
	assert_string_equal(cfg.bwrap_path, "/tmp/evil");
	/* Even a trusted project cannot trust folders. */
	assert_true(ignored_has(&cfg, "trustedProjectDirs: /"));
	assert_int_equal(cfg.n_ignored_allows, 1);
	assert_true(notes_have(&cfg, "project settings trusted (--trust-project-settings)"));
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_project_trusted_by_user_setting(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	char text[512];
	/* Named with ~, a doubled slash and a trailing slash. */
	snprintf(text, sizeof(text), "{\"trustedProjectDirs\": [\"/nowhere\", \"~/..//proj/\"]}");
	write_file(d.user_file, text);
	write_file(d.project_file, "{\"filesystem\": {\"allowWrite\": [\"./build\"]}}");
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_non_null(find(&cfg.allow_write, "./build"));
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_true(notes_have(&cfg, "the folder is in trustedProjectDirs"));
	config_free(&cfg);

	/* A parent folder does not trust the projects below it. */
	snprintf(text, sizeof(text), "{\"trustedProjectDirs\": [\"%s\"]}", d.root);
	write_file(d.user_file, text);
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.allow_write.n, 0);
	assert_true(ignored_has(&cfg, "filesystem.allowWrite: ./build"));
	config_free(&cfg);

	expect_error("{\"trustedProjectDirs\": [\"proj\"]}", -EINVAL,
		     "trustedProjectDirs[0]: expected an absolute path or one starting with ~/", NULL);
	remove_dirs(&d);
}

/* filesystem.allowNewRepositories widens the sandbox: a boolean, and
 * from untrusted project settings ignored like every allow. */
static void test_allow_new_repositories(void **state)
{
	(void)state;
	struct parsed p;
	parse(&p, "{\"filesystem\": {\"allowNewRepositories\": false}}");
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.allow_new_repositories);
	config_free(&p.cfg);
	parse_as(&p, "{\"filesystem\": {\"allowNewRepositories\": true}}", CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_false(p.cfg.allow_new_repositories);
	assert_true(ignored_has(&p.cfg, "filesystem.allowNewRepositories: true"));
	config_free(&p.cfg);
	parse_as(&p, "{\"filesystem\": {\"allowNewRepositories\": true}}", CONFIG_ORIGIN_PROJECT, true);
	assert_int_equal(p.r, 0);
	assert_true(p.cfg.allow_new_repositories);
	config_free(&p.cfg);
	expect_error("{\"filesystem\": {\"allowNewRepositories\": 1}}", -EINVAL, "allowNewRepositories", NULL);
}

static void test_project_cannot_lower_depth_but_can_raise(void **state)
{
	(void)state;
	struct parsed p;
	parse_as(&p, "{\"mandatoryDenySearchDepth\": 1}", CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.mandatory_deny_search_depth, 3);
	assert_true(ignored_has(&p.cfg, "mandatoryDenySearchDepth: 1"));
	config_free(&p.cfg);
	parse_as(&p, "{\"mandatoryDenySearchDepth\": 7, \"network\": {\"strictAllowlist\": false}}",
		 CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_int_equal(p.cfg.mandatory_deny_search_depth, 7);
	assert_true(ignored_has(&p.cfg, "network.strictAllowlist: false"));
	config_free(&p.cfg);
	/* The Elixir switch that turns the sandbox off is an allow too. */
	parse_as(&p, "{\"sandbox\": {\"enabled\": false}}", CONFIG_ORIGIN_PROJECT, false);
	assert_int_equal(p.r, 0);
	assert_true(p.cfg.enabled);
	assert_true(ignored_has(&p.cfg, "sandbox.enabled: false"));
	config_free(&p.cfg);
}

static void test_project_errors_still_fail(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.project_file, "{\"filesystem\": {\"allowWrite\": [1]}}");
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s:1:32: filesystem.allowWrite[0]: expected a string", d.project_file);
	assert_contains(err.message, want);
	config_free(&cfg);

	write_file(d.project_file, "{\"credentials\": {\"envVars\": [{\"name\": \"A\", \"mode\": \"nope\"}]}}");
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), -EINVAL);
	assert_contains(err.message, "credentials.envVars[0].mode: expected \"deny\" or \"mask\", found 'nope'");
	config_free(&cfg);
	remove_dirs(&d);
}

static void test_project_fifo_refused_without_hanging(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	assert_int_equal(mkfifo(d.project_file, 0600), 0);
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	struct config_load_options o = { .home = d.home, .cwd = d.project };
	int r = config_load(&cfg, &o, &err);
	config_free(&cfg);
	remove_dirs(&d);
	assert_int_equal(r, -EINVAL);
	assert_contains(err.message, "settings.json: is not a regular file");
}

static void test_settings_file_is_project_file(void **state)
{
	(void)state;
	struct dirs d;
	make_dirs(&d);
	write_file(d.project_file, "{\"filesystem\": {\"allowWrite\": [\"./out\"]}}");
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	/* Named by the user with --settings, the same file is user settings
	 * and is not read a second time as an untrusted project file. */
	struct config_load_options o = { .settings_path = ".sandbox/settings.json", .home = d.home, .cwd = d.project };
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.allow_write.n, 1);
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_int_equal(cfg.files.n, 1);
	config_free(&cfg);
	remove_dirs(&d);
}

/* ---- jsonpos directly ------------------------------------------------- */

static void test_jsonpos_lookup(void **state)
{
	(void)state;
	const char *text = "{\n \"a\": {\"b\": [10, 20, {\"c d\": true}]},\n \"q\\\"k\": null\n}";
	struct jsonpos *jp = NULL;
	struct jsonpos_error err;
	assert_int_equal(jsonpos_scan(text, strlen(text), &jp, &err), 0);
	int line, col;
	jsonpos_where(jp, jsonpos_lookup(jp, "a.b[1]"), &line, &col);
	assert_int_equal(line, 2);
	assert_int_equal(col, 18);
	jsonpos_where(jp, jsonpos_lookup(jp, "a.b[2][\"c d\"]"), &line, &col);
	assert_int_equal(col, 30);
	jsonpos_key_where(jp, jsonpos_lookup(jp, "[\"q\\\"k\"]"), &line, &col);
	assert_int_equal(line, 3);
	assert_int_equal(col, 2);
	assert_int_equal(jsonpos_lookup(jp, "a.b[3]"), JSONPOS_NONE);
	assert_int_equal(jsonpos_lookup(jp, "a.x"), JSONPOS_NONE);
	assert_int_equal(jsonpos_lookup(jp, "a..b"), JSONPOS_NONE);
	assert_int_equal(jsonpos_lookup(jp, ""), jsonpos_root(jp));
	jsonpos_free(jp);

	assert_int_equal(jsonpos_scan("{\"a\" 1}", 7, &jp, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 6);
	assert_int_equal(jsonpos_scan("[1, 2", 5, &jp, &err), -EINVAL);
	/* Escaped keys are matched decoded. */
	const char *esc = "{\"\\u00e9t\\u00e9\": 1, \"\\ud83d\\ude00\": 2}";
	assert_int_equal(jsonpos_scan(esc, strlen(esc), &jp, &err), 0);
	assert_int_not_equal(jsonpos_member(jp, 0, "\xc3\xa9t\xc3\xa9", 5), JSONPOS_NONE);
	assert_int_not_equal(jsonpos_member(jp, 0, "\xf0\x9f\x98\x80", 4), JSONPOS_NONE);
	jsonpos_free(jp);
}

/* ---- finding the project file ----------------------------------------- */

/* A scratch tree for the search: paths are relative to its real root, and
 * the search never looks above that root. */
struct tree {
	char root[256];
	char home[300];
};

static void tree_path(const struct tree *t, const char *rel, char *out, size_t size)
{
	snprintf(out, size, "%s%s%s", t->root, rel[0] ? "/" : "", rel);
}

static void tree_mkdir(const struct tree *t, const char *rel)
{
	char path[512];
	tree_path(t, rel, path, sizeof(path));
	for (char *p = path + strlen(t->root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	mkdir(path, 0700);
}

static void tree_write(const struct tree *t, const char *rel, const char *text)
{
	char path[512], dir[512];
	tree_path(t, rel, path, sizeof(path));
	snprintf(dir, sizeof(dir), "%s", rel);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = '\0';
		tree_mkdir(t, dir);
	}
	write_file(path, text);
}

static void tree_make(struct tree *t)
{
	char tmpl[] = "/tmp/srt-test-walk-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	/* The real path: the search walks the physical folders. */
	assert_non_null(realpath(tmpl, t->root));
	snprintf(t->home, sizeof(t->home), "%s/home", t->root);
	assert_int_equal(mkdir(t->home, 0700), 0);
}

static void tree_remove(const struct tree *t)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	assert_int_equal(system(cmd), 0);
}

/* config_load from cwd (relative to the tree), searching no higher than
 * the tree's root. */
static int tree_load(const struct tree *t, const char *cwd_rel, bool trust, struct config *cfg,
		     struct srt_error *err)
{
	char cwd[512];
	tree_path(t, cwd_rel, cwd, sizeof(cwd));
	struct config_load_options o = { .home = t->home, .cwd = cwd, .trust_project_settings = trust,
					 .project_search_top = t->root };
	config_init(cfg);
	memset(err, 0, sizeof(*err));
	return config_load(cfg, &o, err);
}

static void test_project_found_above_cwd(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t);
	tree_mkdir(&t, "repo/.git");
	tree_mkdir(&t, "repo/sub/dir");
	tree_write(&t, "repo/.sandbox/settings.json",
		   "{\"filesystem\": {\"denyRead\": [\"./secret\", \".\", \"~/.aws\", \"/etc/shadow\"],\n"
		   "                \"denyWrite\": [\"lock\", {\"path\": \"./a[1]\", \"literal\": true}],\n"
		   "                \"allowWrite\": [\"./build\"]},\n"
		   " \"permissions\": {\"deny\": [\"Read(../outside)\"]}}");
	char repo[512], file[512], want[600];
	tree_path(&t, "repo", repo, sizeof(repo));
	tree_path(&t, "repo/.sandbox/settings.json", file, sizeof(file));

	struct config cfg;
	struct srt_error err;
	assert_int_equal(tree_load(&t, "repo/sub/dir", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 1);
	assert_string_equal(cfg.files.v[0], file);
	/* Relative paths mean the project folder, not the working folder. */
	snprintf(want, sizeof(want), "%s/secret", repo);
	const struct config_entry *e = find(&cfg.deny_read, want);
	assert_non_null(e);
	assert_string_equal(e->pos.file, file);
	assert_int_equal(e->pos.line, 1);
	assert_non_null(find(&cfg.deny_read, repo));
	assert_non_null(find(&cfg.deny_read, "~/.aws"));
	assert_non_null(find(&cfg.deny_read, "/etc/shadow"));
	snprintf(want, sizeof(want), "%s/../outside", repo);
	assert_non_null(find(&cfg.deny_read, want));
	snprintf(want, sizeof(want), "%s/lock", repo);
	assert_non_null(find(&cfg.deny_write, want));
	snprintf(want, sizeof(want), "%s/a[1]", repo);
	e = find(&cfg.deny_write, want);
	assert_non_null(e);
	assert_true(e->literal);
	/* Ignored allows keep the text as written. */
	assert_int_equal(cfg.allow_write.n, 0);
	assert_true(ignored_has(&cfg, "filesystem.allowWrite: ./build"));
	assert_true(notes_have(&cfg, "found above the current folder"));
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);

	/* In the project folder itself, entries stay as written. */
	assert_int_equal(tree_load(&t, "repo", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.deny_read, "./secret"));
	assert_false(notes_have(&cfg, "found above the current folder"));
	config_free(&cfg);
	tree_remove(&t);
}

static void test_project_search_stops_at_repository_root(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t);
	/* A .sandbox above the repository root belongs to something else. */
	tree_write(&t, ".sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [\"/above\"]}}");
	tree_mkdir(&t, "repo/.git");
	tree_mkdir(&t, "repo/a/b");
	struct config cfg;
	struct srt_error err;
	assert_int_equal(tree_load(&t, "repo/a/b", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	assert_int_equal(cfg.deny_read.n, 0);
	config_free(&cfg);

	/* A .git file (a worktree, a submodule) marks a root too. */
	tree_mkdir(&t, "wt/a");
	tree_write(&t, "wt/.git", "gitdir: /nowhere\n");
	assert_int_equal(tree_load(&t, "wt/a", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	config_free(&cfg);

	/* The repository root's own file is found, from the root too. */
	tree_write(&t, "repo/.sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [\"/inside\"]}}");
	assert_int_equal(tree_load(&t, "repo/a/b", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.deny_read, "/inside"));
	assert_null(find(&cfg.deny_read, "/above"));
	config_free(&cfg);
	assert_int_equal(tree_load(&t, "repo", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.deny_read, "/inside"));
	config_free(&cfg);

	/* A .sandbox folder without settings.json does not stop the search. */
	tree_mkdir(&t, "repo/a/.sandbox");
	assert_int_equal(tree_load(&t, "repo/a/b", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.deny_read, "/inside"));
	config_free(&cfg);

	/* The nearest file wins; files further up are not merged in. */
	tree_write(&t, "repo/a/.sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [\"/nearest\"]}}");
	assert_int_equal(tree_load(&t, "repo/a/b", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.deny_read, "/nearest"));
	assert_null(find(&cfg.deny_read, "/inside"));
	assert_int_equal(cfg.files.n, 1);
	config_free(&cfg);
	tree_remove(&t);
}

static void test_project_search_without_git_goes_to_the_top(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t);
	tree_mkdir(&t, "x/y/z");
	struct config cfg;
	struct srt_error err;
	/* Nothing anywhere up to the top: no project settings. */
	assert_int_equal(tree_load(&t, "x/y/z", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	config_free(&cfg);

	/* No .git: the search goes on up to the top, which is searched too. */
	tree_write(&t, ".sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [\"s\"]}}");
	assert_int_equal(tree_load(&t, "x/y/z", false, &cfg, &err), 0);
	char want[600];
	snprintf(want, sizeof(want), "%s/s", t.root);
	assert_non_null(find(&cfg.deny_read, want));
	config_free(&cfg);

	/* Nothing above the top is looked at. */
	char top[512], cwd[512];
	tree_path(&t, "x", top, sizeof(top));
	tree_path(&t, "x/y/z", cwd, sizeof(cwd));
	struct config_load_options o = { .home = t.home, .cwd = cwd, .project_search_top = top };
	config_init(&cfg);
	assert_int_equal(config_load(&cfg, &o, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	config_free(&cfg);

	/* A broken file found this way is an error like one in cwd. */
	tree_write(&t, ".sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [}");
	assert_int_equal(tree_load(&t, "x/y/z", false, &cfg, &err), -EINVAL);
	assert_contains(err.message, "/.sandbox/settings.json:1:");
	config_free(&cfg);
	tree_remove(&t);
}

/* Trust names the folder that holds .sandbox/, not the working folder. */
static void test_project_trust_names_the_project_folder(void **state)
{
	(void)state;
	struct tree t;
	tree_make(&t);
	tree_mkdir(&t, "repo/.git");
	tree_mkdir(&t, "repo/sub");
	tree_write(&t, "repo/.sandbox/settings.json", "{\"filesystem\": {\"allowWrite\": [\"./build\"]}}");
	char repo[512], sub[512], text[1200], want[600];
	tree_path(&t, "repo", repo, sizeof(repo));
	tree_path(&t, "repo/sub", sub, sizeof(sub));
	snprintf(want, sizeof(want), "%s/build", repo);

	struct config cfg;
	struct srt_error err;
	snprintf(text, sizeof(text), "{\"trustedProjectDirs\": [\"%s\"]}", repo);
	tree_write(&t, "home/.srt-settings.json", text);
	assert_int_equal(tree_load(&t, "repo/sub", false, &cfg, &err), 0);
	assert_non_null(find(&cfg.allow_write, want));
	assert_int_equal(cfg.n_ignored_allows, 0);
	assert_true(notes_have(&cfg, "the folder is in trustedProjectDirs"));
	config_free(&cfg);

	/* Trusting the working folder below it trusts nothing. */
	snprintf(text, sizeof(text), "{\"trustedProjectDirs\": [\"%s\"]}", sub);
	tree_write(&t, "home/.srt-settings.json", text);
	assert_int_equal(tree_load(&t, "repo/sub", false, &cfg, &err), 0);
	assert_int_equal(cfg.allow_write.n, 0);
	assert_true(ignored_has(&cfg, "filesystem.allowWrite: ./build"));
	config_free(&cfg);

	/* --trust-project-settings: the file found, wherever it is. */
	assert_int_equal(tree_load(&t, "repo/sub", true, &cfg, &err), 0);
	assert_non_null(find(&cfg.allow_write, want));
	config_free(&cfg);
	tree_remove(&t);
}

/* Another user's project file is skipped with a warning, broken or not;
 * root's is used. Needs root to make files of other users. */
static void test_project_of_another_user_is_skipped(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct tree t;
	tree_make(&t);
	tree_mkdir(&t, "x/y");
	tree_write(&t, ".sandbox/settings.json", "{\"filesystem\": {\"denyRead\": [}");
	char sb[512], file[512], link[512];
	tree_path(&t, ".sandbox", sb, sizeof(sb));
	tree_path(&t, ".sandbox/settings.json", file, sizeof(file));
	tree_path(&t, ".sandbox/link.json", link, sizeof(link));
	struct config cfg;
	struct srt_error err;

	/* The folder .sandbox is someone else's. */
	assert_int_equal(chown(sb, 65534, 65534), 0);
	assert_int_equal(tree_load(&t, "x/y", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	assert_int_equal(cfg.warnings.n, 1);
	assert_contains(cfg.warnings.v[0], "ignored the project settings ");
	assert_contains(cfg.warnings.v[0], "/.sandbox belongs to uid 65534");
	assert_true(notes_have(&cfg, "belongs to uid 65534"));
	config_free(&cfg);
	assert_int_equal(chown(sb, 0, 0), 0);

	/* The file is. */
	assert_int_equal(chown(file, 65534, 65534), 0);
	assert_int_equal(tree_load(&t, "x/y", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	assert_int_equal(cfg.warnings.n, 1);
	assert_contains(cfg.warnings.v[0], "/.sandbox/settings.json belongs to uid 65534");
	config_free(&cfg);

	/* A link of someone else's to a file of root's. */
	assert_int_equal(rename(file, link), 0);
	assert_int_equal(chown(link, 0, 0), 0);
	assert_int_equal(symlink("link.json", file), 0);
	assert_int_equal(lchown(file, 65534, 65534), 0);
	assert_int_equal(tree_load(&t, "x/y", false, &cfg, &err), 0);
	assert_int_equal(cfg.files.n, 0);
	assert_int_equal(cfg.warnings.n, 1);
	config_free(&cfg);

	/* root's own link and file: used, and here broken. */
	assert_int_equal(lchown(file, 0, 0), 0);
	assert_int_equal(tree_load(&t, "x/y", false, &cfg, &err), -EINVAL);
	assert_int_equal(cfg.warnings.n, 0);
	config_free(&cfg);
	tree_remove(&t);
}

static void test_ignored_allows_summary(void **state)
{
	(void)state;
	struct config cfg;
	struct srt_error err = { 0 };
	struct strv lines = { 0 };
	const char *name = "/p/.sandbox/settings.json";
	const char *two = "{\"filesystem\": {\"allowWrite\": [\"./build\"]},\n"
			  " \"network\": {\"allowedDomains\": [\"a.example\", \"x.com\"], \"deniedDomains\": [\"y\"]}}";

	/* Trusted or user settings: nothing to say. */
	config_init(&cfg);
	assert_int_equal(config_parse_text(&cfg, name, two, strlen(two), CONFIG_ORIGIN_PROJECT, true, &err), 0);
	assert_int_equal(config_ignored_allows_summary(&cfg, &lines), 0);
	assert_int_equal(lines.n, 0);
	config_free(&cfg);

	config_init(&cfg);
	assert_int_equal(config_parse_text(&cfg, name, two, strlen(two), CONFIG_ORIGIN_PROJECT, false, &err), 0);
	assert_int_equal(config_ignored_allows_summary(&cfg, &lines), 0);
	assert_int_equal(lines.n, 1);
	assert_string_equal(lines.v[0],
			    "ignored 3 allow rules of the untrusted project settings /p/.sandbox/settings.json: "
			    "filesystem.allowWrite[0] \"./build\", network.allowedDomains[0] \"a.example\", "
			    "network.allowedDomains[1] \"x.com\" (trust the project with --trust-project-settings "
			    "or trustedProjectDirs)");
	strv_clear(&lines);
	config_free(&cfg);

	/* Many: the first three and a count; a second line for what no
	 * project file may set. */
	const char *many = "{\"allowNestedUserNamespaces\": true, \"mandatoryDenySearchDepth\": 1,\n"
			   " \"trustedProjectDirs\": [\"/\"],\n"
			   " \"network\": {\"allowedDomains\": [\"a\", \"b\", "
			   "\"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\"]}}";
	config_init(&cfg);
	assert_int_equal(config_parse_text(&cfg, name, many, strlen(many), CONFIG_ORIGIN_PROJECT, false, &err), 0);
	assert_int_equal(config_ignored_allows_summary(&cfg, &lines), 0);
	assert_int_equal(lines.n, 2);
	assert_string_equal(lines.v[0],
			    "ignored 5 allow rules of the untrusted project settings /p/.sandbox/settings.json: "
			    "allowNestedUserNamespaces true, mandatoryDenySearchDepth 1, network.allowedDomains[0] \"a\" "
			    "and 2 more (trust the project with --trust-project-settings or trustedProjectDirs; "
			    "srt check lists them all)");
	assert_string_equal(lines.v[1],
			    "ignored 1 rule of the project settings /p/.sandbox/settings.json: trustedProjectDirs[0] \"/\" "
			    "(only user settings can name trusted project folders)");
	strv_clear(&lines);
	config_free(&cfg);

	/* A long value is cut; bytes that would drive a terminal are not shown. */
	const char *odd = "{\"filesystem\": {\"allowWrite\": [\"/a\\u001b[2Jb\", "
			  "\"/dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\"]}}";
	config_init(&cfg);
	assert_int_equal(config_parse_text(&cfg, name, odd, strlen(odd), CONFIG_ORIGIN_PROJECT, false, &err), 0);
	assert_int_equal(config_ignored_allows_summary(&cfg, &lines), 0);
	assert_int_equal(lines.n, 1);
	assert_contains(lines.v[0], "filesystem.allowWrite[0] \"/a?[2Jb\"");
	assert_contains(lines.v[0], "filesystem.allowWrite[1] \"/ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd...\"");
	strv_clear(&lines);
	config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_srt_format_full),
		cmocka_unit_test(test_positions_and_origin),
		cmocka_unit_test(test_columns_count_characters),
		cmocka_unit_test(test_literal_paths),
		cmocka_unit_test(test_notes_for_machinery_keys),
		cmocka_unit_test(test_elixir_format),
		cmocka_unit_test(test_mixed_formats),
		cmocka_unit_test(test_malformed_permissions),
		cmocka_unit_test(test_parse_permission_api),
		cmocka_unit_test(test_syntax_errors_have_line_and_column),
		cmocka_unit_test(test_nul_byte_refused),
		cmocka_unit_test(test_not_an_object_and_empty),
		cmocka_unit_test(test_type_errors_name_key_path),
		cmocka_unit_test(test_unknown_keys_suggest),
		cmocka_unit_test(test_unsupported_keys),
		cmocka_unit_test(test_tls_terminate),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_timeouts_accepted),
		cmocka_unit_test(test_timeouts_refused),
		cmocka_unit_test(test_timeouts_from_project),
		cmocka_unit_test(test_network_mode),
		cmocka_unit_test(test_network_mode_refused),
		cmocka_unit_test(test_network_mode_from_project),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_named_file_missing_is_an_error),
		cmocka_unit_test(test_default_file_absent_means_defaults),
		cmocka_unit_test(test_default_file_present_but_bad),
		cmocka_unit_test(test_untrusted_project_only_denies),
		cmocka_unit_test(test_project_trusted_by_option),
		cmocka_unit_test(test_project_trusted_by_user_setting),
		cmocka_unit_test(test_allow_new_repositories),
		cmocka_unit_test(test_project_cannot_lower_depth_but_can_raise),
		cmocka_unit_test(test_project_errors_still_fail),
		cmocka_unit_test(test_project_fifo_refused_without_hanging),
		cmocka_unit_test(test_settings_file_is_project_file),
		cmocka_unit_test(test_jsonpos_lookup),
		cmocka_unit_test(test_project_found_above_cwd),
		cmocka_unit_test(test_project_search_stops_at_repository_root),
		cmocka_unit_test(test_project_search_without_git_goes_to_the_top),
		cmocka_unit_test(test_project_trust_names_the_project_folder),
		cmocka_unit_test(test_project_of_another_user_is_skipped),
		cmocka_unit_test(test_ignored_allows_summary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
