/* Settings files (srt's format and the Elixir port's) -> struct config, with file:line:col for every value. */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config/credregex.h"
#include "config/jsonpos.h"
#include "proxy/parent.h"

/* ------------------------------------------------------------------ */
/* Schema                                                               */

enum field_kind {
	F_OBJECT,       /* nested object: sub lists its keys */
	F_PATHS,        /* array of "path" or {"path": ..., "literal": bool} */
	F_STRINGS,      /* array of strings (domains, addresses, sockets) */
	F_BOOL,
	F_PORT,         /* integer 1..65535 */
	F_DEPTH,        /* mandatoryDenySearchDepth: integer 1..10 */
	F_SECONDS,      /* network.timeouts.*: seconds, kept as ms */
	F_REASONS,      /* deniedDomainReasons: object domain -> non-empty string */
	F_IGNORE,       /* ignoreViolations: object pattern -> array of strings */
	F_PERMISSIONS,  /* Elixir permissions.allow / permissions.deny */
	F_BWRAP,        /* bwrapPath: absolute path */
	F_TRUSTED_DIRS, /* trustedProjectDirs: user-level only */
	F_NOTE,         /* tunes the other implementation only: accepted, noted */
	F_UNSUPPORTED,  /* promises a protection we do not give yet: refused */
	F_FS_DISABLED,  /* filesystem.disabled: false is fine, true is refused */
	F_NET_MODE,     /* network.mode: "proxy" or "transparent" */
	F_STRING,       /* one string (struct config_string), checked by .check */
	F_TLS,          /* network.tlsTerminate: an object of tls_fields */
	F_FILE,         /* one path (absolute or ~/): struct config_file */
	F_COUNT,        /* an integer min..max: struct config_count */
	F_BOOL_NOT,     /* a boolean stored negated (requireHostMatch) */
	F_CREDENTIALS,  /* credentials: see field_credentials */
};

/* F_STRING: what the string must be. */
enum string_check {
	SC_PROXY_URL,   /* a parent proxy URL (parent_url_parse) */
	SC_NO_PROXY,    /* a noProxy list (no_proxy_parse, strict) */
	SC_SOCKET_PATH, /* an absolute unix socket path */
};

/* What a value does to the sandbox, for project files: deny rules always
 * apply, allow rules only when the project is trusted. */
enum field_rule {
	R_NEUTRAL,
	R_ALLOW,
	R_DENY,
};

enum note_type { NT_OBJECT, NT_STRING, NT_BOOL, NT_ARRAY };

struct field {
	const char *name;
	enum field_kind kind;
	enum field_rule rule;
	size_t offset;            /* of the target inside struct config */
	bool widening;            /* F_BOOL: the value that widens the sandbox */
	bool is_allow;            /* F_PERMISSIONS: the allow list */
	enum note_type note_type; /* F_NOTE: the shape the value must have */
	bool zero_never;          /* F_SECONDS: 0 is accepted and means never */
	const char *text;         /* F_NOTE, F_UNSUPPORTED: why */
	const struct field *sub;  /* F_OBJECT, F_TLS */
	enum string_check check;  /* F_STRING */
	long min, max;            /* F_COUNT */
};

#define AT(member) offsetof(struct config, member)

static const char MACOS_ONLY[] = "macOS only; it has no effect on Linux";
static const char REQUEST_FILTERING[] = "request filtering";

static const struct field filesystem_fields[] = {
	{ .name = "denyRead", .kind = F_PATHS, .rule = R_DENY, .offset = AT(deny_read) },
	{ .name = "allowRead", .kind = F_PATHS, .rule = R_ALLOW, .offset = AT(allow_read) },
	{ .name = "allowWrite", .kind = F_PATHS, .rule = R_ALLOW, .offset = AT(allow_write) },
	{ .name = "denyWrite", .kind = F_PATHS, .rule = R_DENY, .offset = AT(deny_write) },
	{ .name = "allowGitConfig", .kind = F_BOOL, .widening = true, .offset = AT(allow_git_config) },
	{ .name = "allowNewRepositories", .kind = F_BOOL, .widening = true, .offset = AT(allow_new_repositories) },
	{ .name = "disabled", .kind = F_FS_DISABLED },
	{ 0 },
};

/* Neutral: how long the proxies wait changes no rule of the sandbox. A
 * wait that holds a connection slot (a client sending its head, a dial)
 * cannot be turned off. */
#define TIMEOUT(key, member, never) \
	{ .name = key, .kind = F_SECONDS, .rule = R_NEUTRAL, .zero_never = never, \
	  .offset = AT(network.timeouts.member) }
static const struct field timeout_fields[] = {
	TIMEOUT("requestHead", request_head, false),
	TIMEOUT("connect", connect, false),
	TIMEOUT("keepAliveIdle", keep_alive_idle, true),
	TIMEOUT("response", response, true),
	TIMEOUT("tunnelIdle", tunnel_idle, true),
	{ 0 },
};
#undef TIMEOUT

/* Both route the sandbox's traffic through a proxy of the user's choice:
 * only trusted settings may name one (a project could otherwise send
 * everything through a proxy of its own, or srt's connections to any
 * unix socket of the host). */
static const struct field parent_proxy_fields[] = {
	{ .name = "http", .kind = F_STRING, .rule = R_ALLOW, .check = SC_PROXY_URL,
	  .offset = AT(network.parent_proxy.http) },
	{ .name = "https", .kind = F_STRING, .rule = R_ALLOW, .check = SC_PROXY_URL,
	  .offset = AT(network.parent_proxy.https) },
	{ .name = "noProxy", .kind = F_STRING, .rule = R_ALLOW, .check = SC_NO_PROXY,
	  .offset = AT(network.parent_proxy.no_proxy) },
	{ 0 },
};

static const struct field mitm_proxy_fields[] = {
	{ .name = "socketPath", .kind = F_STRING, .rule = R_ALLOW, .check = SC_SOCKET_PATH,
	  .offset = AT(network.mitm_proxy.socket_path) },
	{ .name = "domains", .kind = F_STRINGS, .rule = R_ALLOW, .offset = AT(network.mitm_proxy.domains) },
	{ 0 },
};

/* network.tlsTerminate. Neutral: terminating lets out nothing the lists do
 * not allow; the lists are the user's own trust (excluding a host only
 * leaves its tunnel opaque, as without termination). */
static const struct field tls_fields[] = {
	{ .name = "caCertPath", .kind = F_FILE, .offset = AT(network.tls.ca_cert) },
	{ .name = "caKeyPath", .kind = F_FILE, .offset = AT(network.tls.ca_key) },
	{ .name = "excludeDomains", .kind = F_STRINGS, .rule = R_NEUTRAL, .offset = AT(network.tls.exclude_domains) },
	{ .name = "extraCaCertPaths", .kind = F_STRINGS, .rule = R_NEUTRAL, .offset = AT(network.tls.extra_ca_certs) },
	{ .name = "maxTunnels", .kind = F_COUNT, .min = 1, .max = 1000000, .offset = AT(network.tls.max_tunnels) },
	{ .name = "handshakeTimeoutMs", .kind = F_COUNT, .min = 1, .max = 600000,
	  .offset = AT(network.tls.handshake_ms) },
	{ 0 },
};

static const struct field network_fields[] = {
	{ .name = "allowedDomains", .kind = F_STRINGS, .rule = R_ALLOW, .offset = AT(network.allowed_domains) },
	{ .name = "deniedDomains", .kind = F_STRINGS, .rule = R_DENY, .offset = AT(network.denied_domains) },
	{ .name = "allowUnixSockets", .kind = F_STRINGS, .rule = R_ALLOW, .offset = AT(network.allow_unix_sockets) },
	{ .name = "deniedResolvedAddresses", .kind = F_STRINGS, .rule = R_DENY,
	  .offset = AT(network.denied_resolved_addresses) },
	{ .name = "deniedDomainReasons", .kind = F_REASONS },
	{ .name = "allowAllUnixSockets", .kind = F_BOOL, .widening = true, .offset = AT(network.allow_all_unix_sockets) },
	{ .name = "allowLocalBinding", .kind = F_BOOL, .widening = true, .offset = AT(network.allow_local_binding) },
	{ .name = "strictAllowlist", .kind = F_BOOL, .widening = false, .offset = AT(network.strict_allowlist) },
	/* An external proxy that "must handle domain filtering" itself: a
	 * project naming one could route around the allowlist. */
	{ .name = "httpProxyPort", .kind = F_PORT, .rule = R_ALLOW, .offset = AT(network.http_proxy_port) },
	{ .name = "socksProxyPort", .kind = F_PORT, .rule = R_ALLOW, .offset = AT(network.socks_proxy_port) },
	{ .name = "timeouts", .kind = F_OBJECT, .sub = timeout_fields },
	/* Neutral: either mode lets out only what the same lists allow. */
	{ .name = "mode", .kind = F_NET_MODE, .rule = R_NEUTRAL },
	{ .name = "allowMachLookup", .kind = F_NOTE, .note_type = NT_ARRAY, .text = MACOS_ONLY },
	{ .name = "mitmProxy", .kind = F_OBJECT, .sub = mitm_proxy_fields },
	{ .name = "tlsTerminate", .kind = F_TLS, .sub = tls_fields },
	{ .name = "parentProxy", .kind = F_OBJECT, .sub = parent_proxy_fields },
	{ .name = "filterRequest", .kind = F_UNSUPPORTED, .text = REQUEST_FILTERING },
	{ .name = "allowPlaintextHeaderSet", .kind = F_UNSUPPORTED, .text = REQUEST_FILTERING },
	{ .name = "stripResponseHeaders", .kind = F_UNSUPPORTED, .text = REQUEST_FILTERING },
	{ .name = "refuseOpaqueTunnels", .kind = F_BOOL, .widening = false, .offset = AT(network.refuse_opaque_tunnels) },
	/* Stored negated: false widens. */
	{ .name = "requireHostMatch", .kind = F_BOOL_NOT, .widening = false, .offset = AT(network.host_mismatch_allowed) },
	{ .name = "ambiguousRequestTarget", .kind = F_UNSUPPORTED, .text = REQUEST_FILTERING },
	{ 0 },
};

/* The Elixir port's "sandbox" object. Its proxy ports are the ports our
 * own proxies listen on inside the sandbox, not an external proxy. */
static const struct field elixir_network_fields[] = {
	{ .name = "httpProxyPort", .kind = F_PORT, .rule = R_NEUTRAL, .offset = AT(network.listen_http_port) },
	{ .name = "socksProxyPort", .kind = F_PORT, .rule = R_NEUTRAL, .offset = AT(network.listen_socks_port) },
	{ .name = "allowUnixSockets", .kind = F_STRINGS, .rule = R_ALLOW, .offset = AT(network.allow_unix_sockets) },
	{ .name = "allowLocalBinding", .kind = F_BOOL, .widening = true, .offset = AT(network.allow_local_binding) },
	{ 0 },
};

static const struct field elixir_sandbox_fields[] = {
	{ .name = "enabled", .kind = F_BOOL, .widening = false, .offset = AT(enabled) },
	{ .name = "network", .kind = F_OBJECT, .sub = elixir_network_fields },
	{ 0 },
};

static const struct field elixir_permission_fields[] = {
	{ .name = "allow", .kind = F_PERMISSIONS, .is_allow = true },
	{ .name = "deny", .kind = F_PERMISSIONS, .is_allow = false },
	{ 0 },
};

/* Both formats are one schema: no top-level key means one thing in one
 * format and another thing in the other, so a file may mix them. */
static const struct field top_fields[] = {
	{ .name = "filesystem", .kind = F_OBJECT, .sub = filesystem_fields },
	{ .name = "network", .kind = F_OBJECT, .sub = network_fields },
	{ .name = "mandatoryDenySearchDepth", .kind = F_DEPTH },
	{ .name = "allowNestedUserNamespaces", .kind = F_BOOL, .widening = true, .offset = AT(allow_nested_user_namespaces) },
	{ .name = "enableWeakerNestedSandbox", .kind = F_BOOL, .widening = true, .offset = AT(enable_weaker_nested_sandbox) },
	{ .name = "ignoreViolations", .kind = F_IGNORE },
	{ .name = "bwrapPath", .kind = F_BWRAP },
	{ .name = "trustedProjectDirs", .kind = F_TRUSTED_DIRS },
	{ .name = "ripgrep", .kind = F_NOTE, .note_type = NT_OBJECT,
	  .text = "globs are expanded by srt's own directory walk, ripgrep is never run" },
	{ .name = "socatPath", .kind = F_NOTE, .note_type = NT_STRING, .text = "srt does not use socat" },
	{ .name = "seccomp", .kind = F_NOTE, .note_type = NT_OBJECT,
	  .text = "srt builds and applies its seccomp filter itself, with no helper binary" },
	{ .name = "javaAgentJarPath", .kind = F_NOTE, .note_type = NT_STRING,
	  .text = "srt does not inject a Java proxy agent" },
	{ .name = "allowPty", .kind = F_NOTE, .note_type = NT_BOOL, .text = MACOS_ONLY },
	{ .name = "enableWeakerNetworkIsolation", .kind = F_NOTE, .note_type = NT_BOOL, .text = MACOS_ONLY },
	{ .name = "allowAppleEvents", .kind = F_NOTE, .note_type = NT_BOOL, .text = MACOS_ONLY },
	{ .name = "windows", .kind = F_NOTE, .note_type = NT_OBJECT, .text = "Windows only; it has no effect on Linux" },
	{ .name = "git", .kind = F_NOTE, .note_type = NT_OBJECT,
	  .text = "git.safeDirectories is not applied yet (it grants no access either way)" },
	{ .name = "$schema", .kind = F_NOTE, .note_type = NT_STRING, .text = "a hint for editors" },
	{ .name = "credentials", .kind = F_CREDENTIALS },
	{ .name = "sandbox", .kind = F_OBJECT, .sub = elixir_sandbox_fields },
	{ .name = "permissions", .kind = F_OBJECT, .sub = elixir_permission_fields },
	{ 0 },
};

/* Key names of the credentials objects (for messages and suggestions;
 * field_credentials reads them). */
static const struct field credentials_fields[] = {
	{ .name = "files" }, { .name = "envVars" }, { .name = "allowPlaintextInject" },
	{ .name = "awsPairs" }, { .name = "sigv4" }, { 0 },
};
static const struct field cred_env_fields[] = {
	{ .name = "name" }, { .name = "mode" }, { .name = "extract" }, { .name = "onExtractNoMatch" },
	{ .name = "decode" }, { .name = "maskClaims" }, { .name = "injectHosts" }, { 0 },
};
static const struct field cred_file_fields[] = {
	{ .name = "path" }, { .name = "mode" }, { .name = "extract" }, { .name = "onExtractNoMatch" },
	{ .name = "decode" }, { .name = "maskClaims" }, { .name = "maskDuplicates" }, { .name = "injectHosts" },
	{ 0 },
};
static const struct field aws_pair_fields[] = {
	{ .name = "accessKeyIdVar" }, { .name = "secretAccessKeyVar" }, { .name = "sessionTokenVar" }, { 0 },
};
static const struct field sigv4_fields[] = {
	{ .name = "streaming" }, { .name = "presigned" }, { .name = "sigv4a" }, { 0 },
};

static const struct field path_entry_fields[] = {
	{ .name = "path" },
	{ .name = "literal" },
	{ 0 },
};

/* Every object of the schema with its key path, to suggest 'network.allowedDomains'
 * for an "allowedDomains" written at the top level. */
static const struct {
	const char *prefix;
	const struct field *fields;
} all_objects[] = {
	{ "", top_fields },
	{ "filesystem.", filesystem_fields },
	{ "network.", network_fields },
	{ "network.timeouts.", timeout_fields },
	{ "network.parentProxy.", parent_proxy_fields },
	{ "network.mitmProxy.", mitm_proxy_fields },
	{ "network.tlsTerminate.", tls_fields },
	{ "sandbox.", elixir_sandbox_fields },
	{ "sandbox.network.", elixir_network_fields },
	{ "permissions.", elixir_permission_fields },
	{ "credentials.", credentials_fields },
	{ "credentials.sigv4.", sigv4_fields },
};

static const char REASON_UNTRUSTED[] =
	"project settings are not trusted (pass --trust-project-settings, or list the folder "
	"in trustedProjectDirs in your user settings)";
static const char REASON_TRUST_SELF[] = "only user settings can name trusted project folders";

/* ------------------------------------------------------------------ */
/* Loader state, positions, messages                                    */

#define KEYPATH_MAX 512
#define KEY_DISPLAY_MAX 64

struct loader {
	struct config *cfg;
	const char *file; /* interned in cfg->files */
	enum config_origin origin;
	bool trusted;
	const struct jsonpos *jp;
	struct srt_error *err;
	char path[KEYPATH_MAX]; /* key path of the value being read */
	size_t path_len;
};

static inline void jsonpos_freep(struct jsonpos **jp)
{
	jsonpos_free(*jp);
}

#define _cleanup_json_ __attribute__((cleanup(json_decrefp))) /* json_decrefp: jansson's */
#define _cleanup_jsonpos_ __attribute__((cleanup(jsonpos_freep)))

/* Settings come from files other people write (a cloned project): never
 * let their bytes drive the user's terminal. C0 controls, DEL and UTF-8
 * encoded C1 controls become '?'. */
static void sanitize(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			p[0] = p[1] = '?';
	}
}

static int oom(struct srt_error *err)
{
	return srt_error_set(err, -ENOMEM, "out of memory");
}

/* "FILE:LINE:COL: " or "FILE: " (or "" without a file). */
static void pos_prefix(char *buf, size_t size, const char *file, int line, int column)
{
	if (!file)
		buf[0] = '\0';
	else if (line > 0 && strcmp(file, CONFIG_NAME_BUILT) != 0)
		snprintf(buf, size, "%s:%d:%d: ", file, line, column > 0 ? column : 1);
	else
		snprintf(buf, size, "%s: ", file);
}

static int verror_at(struct srt_error *err, int code, const char *file, int line, int column,
		     const char *fmt, va_list ap)
{
	char prefix[512], text[1024];
	pos_prefix(prefix, sizeof(prefix), file, line, column);
	vsnprintf(text, sizeof(text), fmt, ap);
	srt_error_set(err, code, "%s%s", prefix, text);
	if (err)
		sanitize(err->message);
	return code;
}

static int __attribute__((format(printf, 6, 7)))
error_at(struct srt_error *err, int code, const char *file, int line, int column, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = verror_at(err, code, file, line, column, fmt, ap);
	va_end(ap);
	return r;
}

/* An error about the value of node n (at_key: about its key). */
static int __attribute__((format(printf, 5, 6)))
fail(struct loader *l, jsonpos_node n, bool at_key, int code, const char *fmt, ...)
{
	int line, column;
	if (at_key)
		jsonpos_key_where(l->jp, n, &line, &column);
	else
		jsonpos_where(l->jp, n, &line, &column);
	va_list ap;
	va_start(ap, fmt);
	int r = verror_at(l->err, code, l->file, line, column, fmt, ap);
	va_end(ap);
	return r;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER:
	case JSON_REAL: return "a number";
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	case JSON_NULL: return "null";
	}
	return "something else";
}

/* "FILE:L:C: KEY: expected WHAT, found a number" */
static int type_error(struct loader *l, jsonpos_node n, const json_t *v, const char *what)
{
	return fail(l, n, false, -EINVAL, "%s: expected %s, found %s", l->path, what, json_kind(v));
}

/* The node of member key of object obj. jansson hands keys out in document
 * order, so the next sibling after the previous one (*cursor) is tried
 * first: reading an object costs O(keys), not O(keys^2). */
static jsonpos_node member_node(const struct loader *l, jsonpos_node obj, jsonpos_node *cursor, const char *key)
{
	size_t len = strlen(key), klen = 0;
	jsonpos_node n = *cursor;
	const char *k = n != JSONPOS_NONE ? jsonpos_key(l->jp, n, &klen) : NULL;
	if (!k || klen != len || memcmp(k, key, len) != 0)
		n = jsonpos_member(l->jp, obj, key, len);
	*cursor = jsonpos_next(l->jp, n);
	return n;
}

static void path_set_len(struct loader *l, size_t len)
{
	if (len >= sizeof(l->path))
		len = sizeof(l->path) - 1;
	l->path_len = len;
	l->path[len] = '\0';
}

/* Append a key: ".name", or ["quoted"] when it is not a plain name (see
 * jsonpos_lookup). Long keys are cut for display. Returns the old length. */
static size_t path_push_key(struct loader *l, const char *key)
{
	size_t saved = l->path_len, len = strlen(key);
	char seg[KEY_DISPLAY_MAX * 2 + 16];
	size_t n = 0;
	if (len <= KEY_DISPLAY_MAX && jsonpos_key_is_name(key, len)) {
		n = (size_t)snprintf(seg, sizeof(seg), "%s%s", saved ? "." : "", key);
	} else {
		size_t show = len;
		if (show > KEY_DISPLAY_MAX) {
			show = KEY_DISPLAY_MAX;
			while (show > 0 && ((unsigned char)key[show] & 0xC0) == 0x80)
				show--;
		}
		seg[n++] = '[';
		seg[n++] = '"';
		for (size_t i = 0; i < show; i++) {
			unsigned char c = (unsigned char)key[i];
			if (c == '"' || c == '\\')
				seg[n++] = '\\';
			seg[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
		if (show < len)
			n += (size_t)snprintf(seg + n, sizeof(seg) - n, "...");
		n += (size_t)snprintf(seg + n, sizeof(seg) - n, "\"]");
	}
	size_t room = sizeof(l->path) - 1 - saved;
	if (n > room)
		n = room;
	memcpy(l->path + saved, seg, n);
	path_set_len(l, saved + n);
	return saved;
}

static size_t path_push_index(struct loader *l, size_t i)
{
	size_t saved = l->path_len;
	int n = snprintf(l->path + saved, sizeof(l->path) - saved, "[%zu]", i);
	path_set_len(l, saved + (n > 0 ? (size_t)n : 0));
	return saved;
}

/* The position of node n under the current key path; the key string is
 * owned by cfg->keys. */
static int make_pos(struct loader *l, jsonpos_node n, struct config_pos *ret)
{
	if (strv_push(&l->cfg->keys, l->path) < 0)
		return oom(l->err);
	ret->file = l->file;
	ret->key = l->cfg->keys.v[l->cfg->keys.n - 1];
	jsonpos_where(l->jp, n, &ret->line, &ret->column);
	return 0;
}

static bool allows_ignored(enum config_origin origin, bool trusted)
{
	return origin == CONFIG_ORIGIN_PROJECT && !trusted;
}

/* Arrays in struct config carry no capacity: they grow to the next power
 * of two when their length reaches one. */
static int grow(void **items, size_t n, size_t size)
{
	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return 0;
	size_t cap = n == 0 ? 4 : n * 2;
	void *v = realloc(*items, cap * size);
	if (!v)
		return -ENOMEM;
	*items = v;
	return 0;
}

/* what is "KEY: value"; the value starts at value_at. quoted: the value
 * is a string of the file (shown in quotes), not true/false or a number. */
static int push_ignored(struct config *cfg, char *what, size_t value_at, bool quoted, struct config_pos pos,
			const char *reason, struct srt_error *err)
{
	if (!what)
		return oom(err);
	if (cfg->n_ignored_allows >= CONFIG_MAX_LIST_ENTRIES) {
		free(what);
		return error_at(err, -E2BIG, pos.file, pos.line, pos.column,
				"%s: more than %d ignored project rules", pos.key ? pos.key : "", CONFIG_MAX_LIST_ENTRIES);
	}
	if (grow((void **)&cfg->ignored_allows, cfg->n_ignored_allows, sizeof(*cfg->ignored_allows)) < 0) {
		free(what);
		return oom(err);
	}
	sanitize(what);
	cfg->ignored_allows[cfg->n_ignored_allows++] = (struct config_ignored_allow){
		.what = what, .value = what + (value_at <= strlen(what) ? value_at : strlen(what)),
		.quoted = quoted, .pos = pos, .reason = reason,
	};
	return 0;
}

/* Record a dropped project allow; what is "KEY: value" with the key path
 * cut before its index (key_len bytes of l->path). */
static int ignore_allow(struct loader *l, jsonpos_node n, size_t key_len, const char *value, bool quoted,
			const char *reason)
{
	struct config_pos pos;
	int r = make_pos(l, n, &pos);
	if (r < 0)
		return r;
	return push_ignored(l->cfg, str_printf("%.*s: %s", (int)key_len, l->path, value), key_len + 2, quoted, pos,
			    reason, l->err);
}

static int list_push(struct config_list *list, const char *value, bool literal,
		     enum config_origin origin, struct config_pos pos, struct srt_error *err)
{
	if (list->n >= CONFIG_MAX_LIST_ENTRIES)
		return error_at(err, -E2BIG, pos.file, pos.line, pos.column,
				"%s: too many entries (the limit is %d for one list over all settings files)",
				pos.key ? pos.key : "", CONFIG_MAX_LIST_ENTRIES);
	char *copy = strdup(value);
	if (!copy || grow((void **)&list->items, list->n, sizeof(*list->items)) < 0) {
		free(copy);
		return oom(err);
	}
	list->items[list->n++] = (struct config_entry){
		.value = copy, .literal = literal, .origin = origin, .pos = pos,
	};
	return 0;
}

static int add_note(struct loader *l, jsonpos_node n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int add_note(struct loader *l, jsonpos_node n, const char *fmt, ...)
{
	int line, column;
	char prefix[512];
	jsonpos_key_where(l->jp, n, &line, &column);
	pos_prefix(prefix, sizeof(prefix), l->file, line, column);
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *text = str_vprintf(fmt, ap);
	va_end(ap);
	if (!text)
		return oom(l->err);
	char *note = str_printf("%s%s", prefix, text);
	if (!note)
		return oom(l->err);
	sanitize(note);
	if (strv_push_take(&l->cfg->notes, note) < 0)
		return oom(l->err);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Suggestions for unknown keys                                         */

/* Equal once case, '_' and '-' are ignored: allowwrite, allow_write. */
static bool loosely_equal(const char *a, const char *b)
{
	for (;;) {
		while (*a == '_' || *a == '-')
			a++;
		while (*b == '_' || *b == '-')
			b++;
		if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
			return false;
		if (!*a)
			return true;
		a++;
		b++;
	}
}

/* Edit distance with transpositions, case-insensitive; both strings are at
 * most KEY_DISPLAY_MAX bytes (callers check). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t d[KEY_DISPLAY_MAX + 1][KEY_DISPLAY_MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
			size_t cost = ca != cb;
			size_t best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/* The closest of names[0..n) to key, or NULL when none is close. */
static const char *closest_name(const char *key, const char *const *names, size_t n)
{
	size_t klen = strlen(key);
	const char *best = NULL;
	size_t best_d = SIZE_MAX;
	for (size_t i = 0; i < n; i++)
		if (loosely_equal(key, names[i]))
			return names[i];
	if (klen > KEY_DISPLAY_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (len > KEY_DISPLAY_MAX)
			continue;
		size_t limit = len <= 4 ? 1 : len <= 8 ? 2 : 3;
		size_t d = edit_distance(key, names[i]);
		if (d <= limit && d < best_d) {
			best = names[i];
			best_d = d;
		}
	}
	return best;
}

static size_t field_names(const struct field *table, const char **names, size_t max)
{
	size_t n = 0;
	for (; table->name && n < max; table++)
		names[n++] = table->name;
	return n;
}

/* "(did you mean 'allowWrite'?)" for a close key of the same object, or
 * "(did you mean 'network.allowedDomains'?)" for a key of another one. */
static void suggestion(const struct field *table, const char *key, char *buf, size_t size)
{
	const char *names[64];
	size_t n = field_names(table, names, ARRAY_SIZE(names));
	const char *s = closest_name(key, names, n);
	buf[0] = '\0';
	if (s) {
		snprintf(buf, size, " (did you mean '%s'?)", s);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(all_objects); i++) {
		if (all_objects[i].fields == table)
			continue;
		for (const struct field *f = all_objects[i].fields; f->name; f++) {
			if (loosely_equal(key, f->name)) {
				snprintf(buf, size, " (did you mean '%s%s'?)", all_objects[i].prefix, f->name);
				return;
			}
		}
	}
}

static int unknown_key(struct loader *l, const struct field *table, const char *key, jsonpos_node n)
{
	char hint[160];
	suggestion(table, key, hint, sizeof(hint));
	return fail(l, n, true, -EINVAL, "unknown key '%s'%s", l->path, hint);
}

/* ------------------------------------------------------------------ */
/* Values                                                               */

static int walk_object(struct loader *l, const json_t *obj, jsonpos_node node, const struct field *table);
static void list_free(struct config_list *list);
#define list_free_ list_free

/* An integer in [min, max]; 3.0 counts as 3, since srt's own reader
 * (JavaScript numbers) cannot tell them apart. */
static int get_int(struct loader *l, const json_t *v, jsonpos_node n, long min, long max, long *ret)
{
	if (json_is_integer(v)) {
		json_int_t x = json_integer_value(v);
		if (x >= min && x <= max) {
			*ret = (long)x;
			return 0;
		}
		return fail(l, n, false, -EINVAL, "%s: expected an integer from %ld to %ld, found %" JSON_INTEGER_FORMAT,
			    l->path, min, max, x);
	}
	if (json_is_real(v)) {
		double x = json_real_value(v);
		if (x >= (double)min && x <= (double)max && x == (double)(long)x) {
			*ret = (long)x;
			return 0;
		}
		return fail(l, n, false, -EINVAL, "%s: expected an integer from %ld to %ld, found %g",
			    l->path, min, max, x);
	}
	char what[64];
	snprintf(what, sizeof(what), "an integer from %ld to %ld", min, max);
	return type_error(l, n, v, what);
}

static int field_bool(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	if (!json_is_boolean(v))
		return type_error(l, n, v, "true or false");
	bool b = json_is_true(v);
	if (b == f->widening && allows_ignored(l->origin, l->trusted))
		return ignore_allow(l, n, l->path_len, b ? "true" : "false", false, REASON_UNTRUSTED);
	*(bool *)((char *)l->cfg + f->offset) = b;
	return 0;
}

static int field_port(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	long port;
	int r = get_int(l, v, n, 1, 65535, &port);
	if (r < 0)
		return r;
	if (f->rule == R_ALLOW && allows_ignored(l->origin, l->trusted)) {
		char text[24];
		snprintf(text, sizeof(text), "%ld", port);
		return ignore_allow(l, n, l->path_len, text, false, REASON_UNTRUSTED);
	}
	*(int *)((char *)l->cfg + f->offset) = (int)port;
	return 0;
}

/* A deeper search protects more, so an untrusted project may raise the
 * depth but not lower it. */
static int field_depth(struct loader *l, const json_t *v, jsonpos_node n)
{
	long depth;
	int r = get_int(l, v, n, 1, 10, &depth);
	if (r < 0)
		return r;
	if (depth < l->cfg->mandatory_deny_search_depth && allows_ignored(l->origin, l->trusted)) {
		char text[24];
		snprintf(text, sizeof(text), "%ld", depth);
		return ignore_allow(l, n, l->path_len, text, false, REASON_UNTRUSTED);
	}
	l->cfg->mandatory_deny_search_depth = (int)depth;
	return 0;
}

/* A number of seconds (3, 0.5, 2.5e1), kept as whole milliseconds,
 * rounded to the nearest. 0 means never where f->zero_never, and is
 * refused elsewhere, as is a positive value that rounds to 0 ms. A later
 * file overwrites an earlier one, key by key, as for every scalar. */
static int field_seconds(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	char range[80];
	snprintf(range, sizeof(range), f->zero_never ? "from 0 (never) to %d" : "more than 0 and at most %d",
		 CONFIG_MAX_TIMEOUT_S);
	if (!json_is_number(v)) {
		char what[128];
		snprintf(what, sizeof(what), "a number of seconds %s", range);
		return type_error(l, n, v, what);
	}
	double x = json_number_value(v);
	/* An integer is compared as written, so that a huge one is not
	 * rounded into range on its way to double. */
	bool in_range = json_is_integer(v) ?
		json_integer_value(v) >= 0 && json_integer_value(v) <= CONFIG_MAX_TIMEOUT_S :
		x >= 0 && x <= CONFIG_MAX_TIMEOUT_S;
	if (!in_range || (x == 0 && !f->zero_never)) {
		if (json_is_integer(v))
			return fail(l, n, false, -EINVAL, "%s: expected a number of seconds %s, found %" JSON_INTEGER_FORMAT,
				    l->path, range, json_integer_value(v));
		return fail(l, n, false, -EINVAL, "%s: expected a number of seconds %s, found %.15g", l->path, range, x);
	}
	unsigned ms = (unsigned)(x * 1000.0 + 0.5);
	if (ms == 0 && x > 0)
		return fail(l, n, false, -EINVAL, "%s: %.15g seconds is less than a millisecond; expected %s0.001 or more",
			    l->path, x, f->zero_never ? "0 (never) or " : "");
	struct config_timeout *t = (struct config_timeout *)((char *)l->cfg + f->offset);
	struct config_pos pos;
	int r = make_pos(l, n, &pos);
	if (r < 0)
		return r;
	*t = (struct config_timeout){ .set = true, .ms = ms, .pos = pos };
	return 0;
}

/* {"path": "...", "literal": true}: a path that is never read as a glob. */
static int path_object(struct loader *l, const json_t *e, jsonpos_node n, const char **ret_value, bool *ret_literal)
{
	const json_t *pv = NULL, *lv = NULL;
	jsonpos_node pn = JSONPOS_NONE, ln = JSONPOS_NONE;
	const char *key;
	json_t *x;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)e, key, x) {
		jsonpos_node kn = member_node(l, n, &cursor, key);
		if (strcmp(key, "path") == 0) {
			pv = x;
			pn = kn;
		} else if (strcmp(key, "literal") == 0) {
			lv = x;
			ln = kn;
		} else {
			size_t saved = path_push_key(l, key);
			int r = unknown_key(l, path_entry_fields, key, kn);
			path_set_len(l, saved);
			return r;
		}
	}
	if (!pv)
		return fail(l, n, false, -EINVAL, "%s: expected {\"path\": ..., \"literal\": true}, \"path\" is missing",
			    l->path);
	size_t saved = l->path_len;
	int r = 0;
	if (!json_is_string(pv)) {
		path_push_key(l, "path");
		r = type_error(l, pn, pv, "a string");
	} else if (!lv) {
		r = fail(l, n, false, -EINVAL,
			 "%s: expected \"literal\": true beside \"path\" (or write the path as a plain string)", l->path);
	} else if (!json_is_boolean(lv)) {
		path_push_key(l, "literal");
		r = type_error(l, ln, lv, "true or false");
	}
	path_set_len(l, saved);
	if (r < 0)
		return r;
	*ret_value = json_string_value(pv);
	*ret_literal = json_is_true(lv);
	return 0;
}

/* One element of a list field. base_len is the length of the key path
 * without the element's index. */
static int list_entry(struct loader *l, const struct field *f, struct config_list *list, const json_t *e,
		      jsonpos_node n, size_t base_len)
{
	const char *value = NULL;
	bool literal = false;
	bool paths = f->kind == F_PATHS || f->kind == F_TRUSTED_DIRS;
	int r;

	if (json_is_string(e)) {
		value = json_string_value(e);
	} else if (f->kind == F_PATHS && json_is_object(e)) {
		if ((r = path_object(l, e, n, &value, &literal)) < 0)
			return r;
	} else {
		return type_error(l, n, e, f->kind == F_PATHS ? "a string or {\"path\": ...}" : "a string");
	}
	if (paths && value[0] == '\0')
		return fail(l, n, false, -EINVAL, "%s: expected a path, found an empty string", l->path);

	if (f->kind == F_TRUSTED_DIRS) {
		if (value[0] != '/' && strcmp(value, "~") != 0 && !str_has_prefix(value, "~/"))
			return fail(l, n, false, -EINVAL,
				    "%s: expected an absolute path or one starting with ~/, found '%s'", l->path, value);
		if (l->origin == CONFIG_ORIGIN_PROJECT)
			return ignore_allow(l, n, base_len, value, true, REASON_TRUST_SELF);
	} else if (f->rule == R_ALLOW && allows_ignored(l->origin, l->trusted)) {
		return ignore_allow(l, n, base_len, value, true, REASON_UNTRUSTED);
	}

	struct config_pos pos;
	if ((r = make_pos(l, n, &pos)) < 0)
		return r;
	return list_push(list, value, literal, l->origin, pos, l->err);
}

static int field_list(struct loader *l, const struct field *f, struct config_list *list, const json_t *v,
		      jsonpos_node n)
{
	if (!json_is_array(v))
		return type_error(l, n, v, f->kind == F_PATHS ? "an array of paths" : "an array of strings");
	size_t base_len = l->path_len;
	jsonpos_node en = jsonpos_first(l->jp, n);
	for (size_t i = 0; i < json_array_size(v); i++, en = jsonpos_next(l->jp, en)) {
		path_push_index(l, i);
		int r = list_entry(l, f, list, json_array_get(v, i), en, base_len);
		path_set_len(l, base_len);
		if (r < 0)
			return r;
	}
	return 0;
}

static int field_reasons(struct loader *l, const json_t *v, jsonpos_node n)
{
	struct config *cfg = l->cfg;
	if (!json_is_object(v))
		return type_error(l, n, v, "an object of domain -> reason");
	const char *domain;
	json_t *reason;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)v, domain, reason) {
		jsonpos_node rn = member_node(l, n, &cursor, domain);
		size_t saved = path_push_key(l, domain);
		int r = 0;
		if (!json_is_string(reason))
			r = type_error(l, rn, reason, "a string");
		else if (json_string_length(reason) == 0)
			r = fail(l, rn, false, -EINVAL, "%s: expected a reason, found an empty string", l->path);
		else if (cfg->network.n_denied_domain_reasons >= CONFIG_MAX_LIST_ENTRIES)
			r = fail(l, rn, true, -E2BIG, "%s: too many reasons (the limit is %d)", l->path,
				 CONFIG_MAX_LIST_ENTRIES);
		struct config_pos pos;
		if (r == 0)
			r = make_pos(l, rn, &pos);
		path_set_len(l, saved);
		if (r < 0)
			return r;
		if (grow((void **)&cfg->network.denied_domain_reasons, cfg->network.n_denied_domain_reasons,
			 sizeof(*cfg->network.denied_domain_reasons)) < 0)
			return oom(l->err);
		struct config_reason *cr = &cfg->network.denied_domain_reasons[cfg->network.n_denied_domain_reasons];
		*cr = (struct config_reason){ .domain = strdup(domain), .reason = strdup(json_string_value(reason)),
					      .pos = pos };
		cfg->network.n_denied_domain_reasons++;
		if (!cr->domain || !cr->reason)
			return oom(l->err);
	}
	return 0;
}

/* ignoreViolations only hides reports, but a project that hides its own
 * violations from the user widens what goes unseen: it is an allow. */
static int field_ignore(struct loader *l, const json_t *v, jsonpos_node n)
{
	static const struct field paths_field = { .name = "ignoreViolations", .kind = F_STRINGS, .rule = R_ALLOW };
	struct config *cfg = l->cfg;
	if (!json_is_object(v))
		return type_error(l, n, v, "an object of command pattern -> array of paths");
	const char *pattern;
	json_t *list;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)v, pattern, list) {
		jsonpos_node ln = member_node(l, n, &cursor, pattern);
		size_t saved = path_push_key(l, pattern);
		int r = 0;
		if (!json_is_array(list))
			r = type_error(l, ln, list, "an array of strings");
		else if (cfg->n_ignore_violations >= CONFIG_MAX_IGNORE_PATTERNS)
			r = fail(l, ln, true, -E2BIG, "%s: too many command patterns (the limit is %d)", l->path,
				 CONFIG_MAX_IGNORE_PATTERNS);
		else if (allows_ignored(l->origin, l->trusted))
			r = field_list(l, &paths_field, NULL, list, ln);
		else if (grow((void **)&cfg->ignore_violations, cfg->n_ignore_violations,
			      sizeof(*cfg->ignore_violations)) < 0)
			r = oom(l->err);
		else {
			struct config_ignore *ig = &cfg->ignore_violations[cfg->n_ignore_violations];
			*ig = (struct config_ignore){ .command_pattern = strdup(pattern) };
			cfg->n_ignore_violations++;
			if (!ig->command_pattern)
				r = oom(l->err);
			else
				r = field_list(l, &paths_field, &ig->paths, list, ln);
		}
		path_set_len(l, saved);
		if (r < 0)
			return r;
	}
	return 0;
}

static int field_bwrap(struct loader *l, const json_t *v, jsonpos_node n)
{
	if (!json_is_string(v))
		return type_error(l, n, v, "an absolute path");
	const char *path = json_string_value(v);
	/* Searching PATH or the current folder for it would let whoever can
	 * write there choose what srt runs outside the sandbox. */
	if (path[0] != '/')
		return fail(l, n, false, -EINVAL, "%s: expected an absolute path, found '%s'", l->path, path);
	if (allows_ignored(l->origin, l->trusted))
		return ignore_allow(l, n, l->path_len, path, true, REASON_UNTRUSTED);
	char *copy = strdup(path);
	if (!copy)
		return oom(l->err);
	free(l->cfg->bwrap_path);
	l->cfg->bwrap_path = copy;
	return 0;
}

/* How programs reach the network: through the proxies only ("proxy"), or
 * also directly, by the names the sandbox's own DNS responder hands out
 * ("transparent"). Neutral: a project file may choose either, since the
 * same allowedDomains and deniedDomains decide every connection. */
static int field_net_mode(struct loader *l, const json_t *v, jsonpos_node n)
{
	if (!json_is_string(v))
		return type_error(l, n, v, "\"proxy\" or \"transparent\"");
	const char *m = json_string_value(v);
	if (strcmp(m, "proxy") == 0)
		l->cfg->network.mode = CONFIG_NET_PROXY;
	else if (strcmp(m, "transparent") == 0)
		l->cfg->network.mode = CONFIG_NET_TRANSPARENT;
	else
		return fail(l, n, false, -EINVAL, "%s: expected \"proxy\" or \"transparent\", found '%s'", l->path, m);
	return make_pos(l, n, &l->cfg->network.mode_pos);
}

/* One string, checked now so that a mistake is named with its place. */
static int field_string(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	static const char *const shapes[] = {
		[SC_PROXY_URL] = "a proxy URL such as \"http://proxy.example:3128\"",
		[SC_NO_PROXY] = "a comma-separated list such as \"localhost,.corp.example,10.0.0.0/8\"",
		[SC_SOCKET_PATH] = "an absolute path of a unix socket",
	};
	if (!json_is_string(v))
		return type_error(l, n, v, shapes[f->check]);
	const char *text = json_string_value(v);
	if (strlen(text) != json_string_length(v))
		return fail(l, n, false, -EINVAL, "%s: a NUL byte in the string", l->path);
	const char *why = NULL;
	int r = 0;
	if (f->check == SC_PROXY_URL) {
		struct parent_url u;
		r = parent_url_parse(text, &u, &why);
		parent_url_clear(&u);
		/* The value is not shown: it may hold a password. */
		if (r < 0)
			return fail(l, n, false, -EINVAL, "%s: %s", l->path, why);
	} else if (f->check == SC_NO_PROXY) {
		struct no_proxy np;
		size_t bad = 0;
		r = no_proxy_parse(text, true, &np, &why, &bad);
		no_proxy_free(&np);
		if (r < 0)
			return fail(l, n, false, -EINVAL, "%s: entry %zu: %s", l->path, bad + 1, why);
	} else {
		struct parent_url u;
		if (parent_url_unix(text, &u, &why) < 0)
			return fail(l, n, false, -EINVAL, "%s: %s", l->path, why);
	}
	if (f->rule == R_ALLOW && allows_ignored(l->origin, l->trusted))
		return ignore_allow(l, n, l->path_len, f->check == SC_PROXY_URL ? "(a proxy URL)" : text, true,
				    REASON_UNTRUSTED);
	struct config_string *cs = (struct config_string *)((char *)l->cfg + f->offset);
	char *copy = strdup(text);
	if (!copy)
		return oom(l->err);
	if (cs->value)
		explicit_bzero(cs->value, strlen(cs->value));
	free(cs->value);
	cs->value = copy;
	return make_pos(l, n, &cs->pos);
}

static int field_note(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	static const char *const shapes[] = {
		[NT_OBJECT] = "an object", [NT_STRING] = "a string", [NT_BOOL] = "true or false",
		[NT_ARRAY] = "an array",
	};
	bool ok = (f->note_type == NT_OBJECT && json_is_object(v)) ||
		  (f->note_type == NT_STRING && json_is_string(v)) ||
		  (f->note_type == NT_BOOL && json_is_boolean(v)) ||
		  (f->note_type == NT_ARRAY && json_is_array(v));
	if (!ok)
		return type_error(l, n, v, shapes[f->note_type]);
	return add_note(l, n, "%s: accepted and ignored: %s", l->path, f->text);
}

static int field_unsupported(struct loader *l, const struct field *f, jsonpos_node n)
{
	return fail(l, n, true, -EOPNOTSUPP,
		    "%s: not supported yet (%s); remove it, nothing it asks for would be enforced",
		    l->path, f->text);
}

static int field_fs_disabled(struct loader *l, const json_t *v, jsonpos_node n)
{
	if (!json_is_boolean(v))
		return type_error(l, n, v, "true or false");
	if (json_is_true(v))
		return fail(l, n, true, -EOPNOTSUPP,
			    "%s: true is not supported yet; filesystem rules always apply", l->path);
	return 0;
}

/* Elixir permission strings. */
static int field_permissions(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	if (!json_is_array(v))
		return type_error(l, n, v, "an array of permission strings");
	size_t base_len = l->path_len;
	jsonpos_node en = jsonpos_first(l->jp, n);
	for (size_t i = 0; i < json_array_size(v); i++, en = jsonpos_next(l->jp, en)) {
		const json_t *e = json_array_get(v, i);
		path_push_index(l, i);
		int r;
		struct config_pos pos;
		if (!json_is_string(e))
			r = type_error(l, en, e, "a permission string such as \"Read(~/.ssh)\"");
		else if ((r = make_pos(l, en, &pos)) == 0)
			r = config_parse_permission(l->cfg, json_string_value(e), f->is_allow, l->origin, l->trusted,
						    pos, l->err);
		path_set_len(l, base_len);
		if (r < 0)
			return r;
	}
	return 0;
}

/* network.tlsTerminate: one path. */
static int field_file(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	if (!json_is_string(v))
		return type_error(l, n, v, "a path");
	const char *value = json_string_value(v);
	if (value[0] != '/' && !str_has_prefix(value, "~/"))
		return fail(l, n, false, -EINVAL, "%s: expected an absolute path or one starting with ~/, found '%s'",
			    l->path, value);
	struct config_file *cf = (struct config_file *)((char *)l->cfg + f->offset);
	char *copy = strdup(value);
	if (!copy)
		return oom(l->err);
	int r = make_pos(l, n, &cf->pos);
	if (r < 0) {
		free(copy);
		return r;
	}
	free(cf->path);
	cf->path = copy;
	return 0;
}

static int field_count(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	long x;
	int r = get_int(l, v, n, f->min, f->max, &x);
	if (r < 0)
		return r;
	struct config_count *cc = (struct config_count *)((char *)l->cfg + f->offset);
	if ((r = make_pos(l, n, &cc->pos)) < 0)
		return r;
	cc->set = true;
	cc->value = (unsigned)x;
	return 0;
}

static int field_bool_not(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	if (!json_is_boolean(v))
		return type_error(l, n, v, "true or false");
	bool b = json_is_true(v);
	if (b == f->widening && allows_ignored(l->origin, l->trusted))
		return ignore_allow(l, n, l->path_len, b ? "true" : "false", false, REASON_UNTRUSTED);
	*(bool *)((char *)l->cfg + f->offset) = !b;
	return 0;
}

/* The object; its CA pair must be whole: a key without its certificate
 * (or the reverse) names what is missing. */
static int field_tls(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	if (!json_is_object(v))
		return type_error(l, n, v, "an object");
	struct config_tls *t = &l->cfg->network.tls;
	/* A pair given before is replaced only by a whole new pair. */
	struct config_file cert = t->ca_cert, key = t->ca_key;
	t->ca_cert = (struct config_file){ 0 };
	t->ca_key = (struct config_file){ 0 };
	int r = walk_object(l, v, n, f->sub);
	if (r == 0 && !t->ca_cert.path != !t->ca_key.path)
		r = fail(l, n, false, -EINVAL, "%s: caCertPath and caKeyPath go together: %s is missing", l->path,
			 t->ca_cert.path ? "caKeyPath" : "caCertPath");
	if (r == 0)
		r = make_pos(l, n, &t->pos);
	if (r < 0 || !t->ca_cert.path) {
		if (t->ca_cert.path || t->ca_key.path) {
			free(t->ca_cert.path);
			free(t->ca_key.path);
		}
		t->ca_cert = cert;
		t->ca_key = key;
	} else {
		free(cert.path);
		free(key.path);
		/* The CA's key signs whatever srt presents to the sandbox: the
		 * sandbox must never read it. */
		r = list_push(&l->cfg->deny_read, t->ca_key.path, true, l->origin, t->ca_key.pos, l->err);
	}
	if (r == 0)
		t->enabled = true;
	return r;
}

/* ---- credentials --------------------------------------------------------- */

/* A string among choices[] (NULL-terminated); returns its index or a
 * negative code. */
static int cred_enum(struct loader *l, const json_t *v, jsonpos_node n, const char *const *choices, const char *shown)
{
	if (!json_is_string(v))
		return type_error(l, n, v, shown);
	for (int i = 0; choices[i]; i++)
		if (strcmp(json_string_value(v), choices[i]) == 0)
			return i;
	return fail(l, n, false, -EINVAL, "%s: expected %s, found '%s'", l->path, shown, json_string_value(v));
}

static bool env_name_ok(const char *s)
{
	if (!s[0] || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!(isalnum((unsigned char)*p) || *p == '_'))
			return false;
	return true;
}

static void cred_free_entry(struct config_credential *c)
{
	free(c->name);
	free(c->extract);
	strv_clear(&c->mask_claims);
	list_free_(&c->inject_hosts);
}

static int cred_entry(struct loader *l, const json_t *e, jsonpos_node n, bool is_file)
{
	struct config *cfg = l->cfg;
	if (!json_is_object(e))
		return type_error(l, n, e, is_file ? "an object {\"path\": ..., \"mode\": \"deny\" or \"mask\"}" :
						     "an object {\"name\": ..., \"mode\": \"deny\" or \"mask\"}");
	if (cfg->credentials.n >= CONFIG_MAX_LIST_ENTRIES)
		return fail(l, n, false, -E2BIG, "%s: too many credentials (the limit is %d)", l->path,
			    CONFIG_MAX_LIST_ENTRIES);
	struct config_credential c = { .is_file = is_file, .origin = l->origin };
	int r = make_pos(l, n, &c.pos);
	if (r < 0)
		return r;
	bool has_mode = false, has_no_match = false;
	const char *key;
	json_t *v;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)e, key, v) {
		jsonpos_node kn = member_node(l, n, &cursor, key);
		size_t saved = path_push_key(l, key);
		r = 0;
		if (strcmp(key, is_file ? "path" : "name") == 0) {
			if (!json_is_string(v))
				r = type_error(l, kn, v, is_file ? "a path" : "a variable name");
			else if (is_file && json_string_length(v) == 0)
				r = fail(l, kn, false, -EINVAL, "%s: expected a path, found an empty string", l->path);
			else if (!is_file && !env_name_ok(json_string_value(v)))
				r = fail(l, kn, false, -EINVAL,
					 "%s: '%s' is not a variable name (a letter or '_', then letters, digits "
					 "and '_')", l->path, json_string_value(v));
			else if (!(c.name = strdup(json_string_value(v))))
				r = oom(l->err);
		} else if (strcmp(key, "mode") == 0) {
			static const char *const modes[] = { "deny", "mask", NULL };
			int m = cred_enum(l, v, kn, modes, "\"deny\" or \"mask\"");
			if (m < 0)
				r = m;
			else
				c.mode = m == 1 ? CONFIG_CRED_MASK : CONFIG_CRED_DENY, has_mode = true;
		} else if (strcmp(key, "extract") == 0) {
			regex_t re;
			const char *why = NULL;
			char buf[256];
			if (!json_is_string(v))
				r = type_error(l, kn, v, "a regular expression (a string)");
			else if (credregex_compile(json_string_value(v), &re, &why, buf, sizeof(buf)) < 0)
				r = fail(l, kn, false, -EINVAL, "%s: %s", l->path, why);
			else {
				regfree(&re);
				if (!(c.extract = strdup(json_string_value(v))))
					r = oom(l->err);
			}
		} else if (strcmp(key, "onExtractNoMatch") == 0) {
			static const char *const ways[] = { "warn", "deny", "error", NULL };
			int m = cred_enum(l, v, kn, ways, "\"warn\", \"deny\" or \"error\"");
			if (m < 0)
				r = m;
			else
				c.on_no_match = (enum config_cred_nomatch)m, has_no_match = true;
		} else if (strcmp(key, "decode") == 0) {
			static const char *const decs[] = { "jwt", NULL };
			int m = cred_enum(l, v, kn, decs, "\"jwt\"");
			if (m < 0)
				r = m;
			else
				c.decode_jwt = true;
		} else if (strcmp(key, "maskClaims") == 0) {
			if (!json_is_array(v))
				r = type_error(l, kn, v, "an array of claim names");
			else if (json_array_size(v) == 0)
				r = fail(l, kn, false, -EINVAL,
					 "%s: is empty, so no claim would be masked; omit it to mask the whole token, "
					 "or list the claims", l->path);
			c.has_mask_claims = true;
			jsonpos_node en = jsonpos_first(l->jp, kn);
			for (size_t i = 0; r == 0 && i < json_array_size(v); i++, en = jsonpos_next(l->jp, en)) {
				const json_t *x = json_array_get(v, i);
				size_t s2 = path_push_index(l, i);
				if (!json_is_string(x) || json_string_length(x) == 0)
					r = type_error(l, en, x, "a claim name (a non-empty string)");
				else if (strv_push(&c.mask_claims, json_string_value(x)) < 0)
					r = oom(l->err);
				path_set_len(l, s2);
			}
		} else if (strcmp(key, "maskDuplicates") == 0 && is_file) {
			if (!json_is_boolean(v))
				r = type_error(l, kn, v, "true or false");
			else
				c.mask_duplicates = json_is_true(v);
		} else if (strcmp(key, "injectHosts") == 0) {
			static const struct field hosts = { .name = "injectHosts", .kind = F_STRINGS, .rule = R_NEUTRAL };
			c.has_inject_hosts = true;
			r = field_list(l, &hosts, &c.inject_hosts, v, kn);
		} else {
			r = unknown_key(l, is_file ? cred_file_fields : cred_env_fields, key, kn);
		}
		path_set_len(l, saved);
		if (r < 0) {
			cred_free_entry(&c);
			return r;
		}
	}
	r = 0;
	if (!c.name)
		r = fail(l, n, false, -EINVAL, "%s: \"%s\" is missing", l->path, is_file ? "path" : "name");
	else if (!has_mode)
		r = fail(l, n, false, -EINVAL, "%s: \"mode\" is missing (\"deny\" or \"mask\")", l->path);
	else if (c.has_mask_claims && !c.decode_jwt)
		r = fail(l, n, false, -EINVAL, "%s.maskClaims: requires \"decode\": \"jwt\" (claims are inside the "
					       "decoded token)", l->path);
	else if (c.mode == CONFIG_CRED_MASK && c.has_inject_hosts && c.inject_hosts.n == 0)
		r = fail(l, n, false, -EINVAL, "%s.injectHosts: is empty, so the credential would be masked but never "
					       "sent; omit it (network.allowedDomains) or list the hosts", l->path);
	else if (is_file && c.mode == CONFIG_CRED_MASK && strpbrk(c.name, "*?["))
		r = fail(l, n, false, -EINVAL, "%s.path: mode \"mask\" applies to one file, not a glob ('%s'); globs "
					       "only with \"deny\"", l->path, c.name);
	else if (is_file && c.mode == CONFIG_CRED_MASK && c.name[strlen(c.name) - 1] == '/')
		r = fail(l, n, false, -EINVAL, "%s.path: mode \"mask\" applies to one file, not a folder ('%s'); use "
					       "\"deny\" for a folder", l->path, c.name);
	(void)has_no_match;
	if (r == 0 && grow((void **)&cfg->credentials.items, cfg->credentials.n, sizeof(c)) < 0)
		r = oom(l->err);
	if (r < 0) {
		cred_free_entry(&c);
		return r;
	}
	cfg->credentials.items[cfg->credentials.n++] = c;
	return 0;
}

static int cred_entries(struct loader *l, const json_t *v, jsonpos_node n, bool is_file)
{
	if (!json_is_array(v))
		return type_error(l, n, v, "an array of objects");
	size_t base = l->path_len;
	jsonpos_node en = jsonpos_first(l->jp, n);
	for (size_t i = 0; i < json_array_size(v); i++, en = jsonpos_next(l->jp, en)) {
		path_push_index(l, i);
		int r = cred_entry(l, json_array_get(v, i), en, is_file);
		path_set_len(l, base);
		if (r < 0)
			return r;
	}
	return 0;
}

static int aws_pair(struct loader *l, const json_t *e, jsonpos_node n)
{
	struct config *cfg = l->cfg;
	if (!json_is_object(e))
		return type_error(l, n, e, "an object {\"accessKeyIdVar\": ..., \"secretAccessKeyVar\": ...}");
	struct config_aws_pair p = { 0 };
	int r = make_pos(l, n, &p.pos);
	if (r < 0)
		return r;
	const char *key;
	json_t *v;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)e, key, v) {
		jsonpos_node kn = member_node(l, n, &cursor, key);
		size_t saved = path_push_key(l, key);
		char **slot = strcmp(key, "accessKeyIdVar") == 0 ? &p.access_key_id_var :
			      strcmp(key, "secretAccessKeyVar") == 0 ? &p.secret_access_key_var :
			      strcmp(key, "sessionTokenVar") == 0 ? &p.session_token_var : NULL;
		if (!slot)
			r = unknown_key(l, aws_pair_fields, key, kn);
		else if (!json_is_string(v))
			r = type_error(l, kn, v, "a variable name");
		else if (!env_name_ok(json_string_value(v)))
			r = fail(l, kn, false, -EINVAL, "%s: '%s' is not a variable name", l->path, json_string_value(v));
		else if (!(*slot = strdup(json_string_value(v))))
			r = oom(l->err);
		path_set_len(l, saved);
		if (r < 0)
			break;
	}
	if (r == 0 && (!p.access_key_id_var || !p.secret_access_key_var))
		r = fail(l, n, false, -EINVAL, "%s: \"%s\" is missing", l->path,
			 !p.access_key_id_var ? "accessKeyIdVar" : "secretAccessKeyVar");
	if (r == 0 && grow((void **)&cfg->credentials.aws_pairs, cfg->credentials.n_aws_pairs, sizeof(p)) < 0)
		r = oom(l->err);
	if (r < 0) {
		free(p.access_key_id_var);
		free(p.secret_access_key_var);
		free(p.session_token_var);
		return r;
	}
	cfg->credentials.aws_pairs[cfg->credentials.n_aws_pairs++] = p;
	return 0;
}

static int field_sigv4(struct loader *l, const json_t *v, jsonpos_node n)
{
	if (!json_is_object(v))
		return type_error(l, n, v, "an object");
	const char *key;
	json_t *x;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)v, key, x) {
		jsonpos_node kn = member_node(l, n, &cursor, key);
		size_t saved = path_push_key(l, key);
		enum config_sigv4 *slot = strcmp(key, "streaming") == 0 ? &l->cfg->credentials.sigv4_streaming :
					  strcmp(key, "presigned") == 0 ? &l->cfg->credentials.sigv4_presigned :
					  strcmp(key, "sigv4a") == 0 ? &l->cfg->credentials.sigv4a : NULL;
		int r;
		if (!slot) {
			r = unknown_key(l, sigv4_fields, key, kn);
		} else {
			static const char *const pol[] = { "deny", "passthrough", "resign", NULL };
			static const char *const pol_a[] = { "deny", "passthrough", NULL };
			bool a = slot == &l->cfg->credentials.sigv4a;
			r = cred_enum(l, x, kn, a ? pol_a : pol,
				      a ? "\"deny\" or \"passthrough\"" : "\"deny\", \"passthrough\" or \"resign\"");
			/* passthrough and resign widen: an untrusted project cannot choose them */
			if (r >= 1 && allows_ignored(l->origin, l->trusted))
				r = ignore_allow(l, kn, l->path_len, pol[r], true, REASON_UNTRUSTED);
			else if (r >= 0)
				*slot = (enum config_sigv4)r, r = 0;
		}
		path_set_len(l, saved);
		if (r < 0)
			return r;
	}
	return 0;
}

/* credentials: srt's schema (files[], envVars[], allowPlaintextInject,
 * awsPairs[], sigv4). Entries of every file add up; what needs every
 * file (awsPairs naming envVars, injectHosts against allowedDomains) is
 * checked when the sandbox is set up (creds.c). */
static int field_credentials(struct loader *l, const json_t *v, jsonpos_node n)
{
	if (!json_is_object(v))
		return type_error(l, n, v, "an object");
	const char *key;
	json_t *x;
	jsonpos_node cursor = jsonpos_first(l->jp, n);
	json_object_foreach((json_t *)v, key, x) {
		jsonpos_node kn = member_node(l, n, &cursor, key);
		size_t saved = path_push_key(l, key);
		int r;
		if (strcmp(key, "files") == 0 || strcmp(key, "envVars") == 0) {
			r = cred_entries(l, x, kn, key[0] == 'f');
		} else if (strcmp(key, "allowPlaintextInject") == 0) {
			if (!json_is_boolean(x))
				r = type_error(l, kn, x, "true or false");
			else if (json_is_true(x) && allows_ignored(l->origin, l->trusted))
				r = ignore_allow(l, kn, l->path_len, "true", false, REASON_UNTRUSTED);
			else {
				l->cfg->credentials.allow_plaintext_inject = json_is_true(x);
				r = make_pos(l, kn, &l->cfg->credentials.plaintext_pos);
			}
		} else if (strcmp(key, "awsPairs") == 0) {
			if (!json_is_array(x)) {
				r = type_error(l, kn, x, "an array of objects");
			} else {
				r = 0;
				size_t base = l->path_len;
				jsonpos_node en = jsonpos_first(l->jp, kn);
				for (size_t i = 0; r == 0 && i < json_array_size(x); i++, en = jsonpos_next(l->jp, en)) {
					path_push_index(l, i);
					r = aws_pair(l, json_array_get(x, i), en);
					path_set_len(l, base);
				}
			}
		} else if (strcmp(key, "sigv4") == 0) {
			r = field_sigv4(l, x, kn);
		} else {
			r = unknown_key(l, credentials_fields, key, kn);
		}
		path_set_len(l, saved);
		if (r < 0)
			return r;
	}
	return 0;
}

static int apply_field(struct loader *l, const struct field *f, const json_t *v, jsonpos_node n)
{
	switch (f->kind) {
	case F_OBJECT:
		if (!json_is_object(v))
			return type_error(l, n, v, "an object");
		return walk_object(l, v, n, f->sub);
	case F_PATHS:
	case F_STRINGS:
		return field_list(l, f, (struct config_list *)((char *)l->cfg + f->offset), v, n);
	case F_TRUSTED_DIRS:
		return field_list(l, f, &l->cfg->trusted_project_dirs, v, n);
	case F_BOOL:
		return field_bool(l, f, v, n);
	case F_PORT:
		return field_port(l, f, v, n);
	case F_DEPTH:
		return field_depth(l, v, n);
	case F_SECONDS:
		return field_seconds(l, f, v, n);
	case F_REASONS:
		return field_reasons(l, v, n);
	case F_IGNORE:
		return field_ignore(l, v, n);
	case F_PERMISSIONS:
		return field_permissions(l, f, v, n);
	case F_BWRAP:
		return field_bwrap(l, v, n);
	case F_NOTE:
		return field_note(l, f, v, n);
	case F_UNSUPPORTED:
		return field_unsupported(l, f, n);
	case F_FS_DISABLED:
		return field_fs_disabled(l, v, n);
	case F_NET_MODE:
		return field_net_mode(l, v, n);
	case F_STRING:
		return field_string(l, f, v, n);
	case F_TLS:
		return field_tls(l, f, v, n);
	case F_FILE:
		return field_file(l, f, v, n);
	case F_COUNT:
		return field_count(l, f, v, n);
	case F_BOOL_NOT:
		return field_bool_not(l, f, v, n);
	case F_CREDENTIALS:
		return field_credentials(l, v, n);
	}
	return fail(l, n, false, -EINVAL, "%s: internal error: unknown field kind", l->path);
}

static int walk_object(struct loader *l, const json_t *obj, jsonpos_node node, const struct field *table)
{
	const char *key;
	json_t *v;
	jsonpos_node cursor = jsonpos_first(l->jp, node);
	json_object_foreach((json_t *)obj, key, v) {
		jsonpos_node n = member_node(l, node, &cursor, key);
		size_t saved = path_push_key(l, key);
		const struct field *f = table;
		while (f->name && strcmp(f->name, key) != 0)
			f++;
		int r = f->name ? apply_field(l, f, v, n) : unknown_key(l, table, key, n);
		path_set_len(l, saved);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Permission strings                                                   */

static const char *const permission_kinds[] = { "Read", "Edit", "WebFetch", "UnixSocket" };

/* Show at most this much of a malformed permission in a message. */
#define PERM_SHOW 200

static int __attribute__((format(printf, 4, 5)))
perm_error(struct srt_error *err, const struct config_pos *pos, const char *perm, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t len = strlen(perm);
	return error_at(err, -EINVAL, pos->file, pos->line, pos->column, "%s%smalformed permission \"%.*s%s\": %s",
			pos->key ? pos->key : "", pos->key ? ": " : "", (int)(len > PERM_SHOW ? PERM_SHOW : len),
			perm, len > PERM_SHOW ? "..." : "", text);
}

/* The key path without a trailing "[N]": "permissions.allow[3]" -> "permissions.allow". */
static size_t key_base_len(const char *key)
{
	size_t len = strlen(key);
	if (len > 0 && key[len - 1] == ']') {
		const char *open = strrchr(key, '[');
		if (open && open[1] != '"')
			return (size_t)(open - key);
	}
	return len;
}

/*   permission = kind "(" argument ")"
 *   kind       = "Read" / "Edit" / "WebFetch" / "UnixSocket"   (exact case)
 *   Read, Edit, UnixSocket: argument = 1*CHAR, a path kept as written
 *   WebFetch:   argument = "domain:" 1*CHAR
 *                        / "tcp:" host ":" port
 *   host       = 1*CHAR without ":", or "[" 1*CHAR "]" (IPv6)
 *   port       = 1*5DIGIT, 1..65535
 * The argument runs from the first "(" to the final ")", so a path may
 * hold parentheses. Domains and paths are judged later by the policy. */
int config_parse_permission(struct config *cfg, const char *perm, bool is_allow, enum config_origin origin,
			    bool trusted, struct config_pos pos, struct srt_error *err)
{
	if (!cfg || !perm)
		return srt_error_set(err, -EINVAL, "no permission string");
	/* Callers may pass a key they own: keep a copy the config owns. */
	if (pos.key && !(cfg->keys.n > 0 && pos.key == cfg->keys.v[cfg->keys.n - 1])) {
		if (strv_push(&cfg->keys, pos.key) < 0)
			return oom(err);
		pos.key = cfg->keys.v[cfg->keys.n - 1];
	}
	size_t len = strlen(perm);
	if (len > CONFIG_MAX_PERMISSION_LEN)
		return perm_error(err, &pos, perm, "longer than %d bytes", CONFIG_MAX_PERMISSION_LEN);
	const char *open = strchr(perm, '(');
	if (!open || len < 2 || perm[len - 1] != ')' || open == perm + len - 1)
		return perm_error(err, &pos, perm,
				  "expected Kind(argument): Read(path), Edit(path), WebFetch(domain:NAME), "
				  "WebFetch(tcp:HOST:PORT) or UnixSocket(path)");
	size_t kind_len = (size_t)(open - perm);
	const char *arg = open + 1;
	size_t arg_len = len - kind_len - 2;
	if (arg_len == 0)
		return perm_error(err, &pos, perm, "the argument between the parentheses is empty");

	size_t kind = ARRAY_SIZE(permission_kinds);
	for (size_t i = 0; i < ARRAY_SIZE(permission_kinds); i++)
		if (strlen(permission_kinds[i]) == kind_len && memcmp(perm, permission_kinds[i], kind_len) == 0)
			kind = i;
	if (kind == ARRAY_SIZE(permission_kinds)) {
		char name[KEY_DISPLAY_MAX + 1];
		size_t show = kind_len > KEY_DISPLAY_MAX ? KEY_DISPLAY_MAX : kind_len;
		memcpy(name, perm, show);
		name[show] = '\0';
		const char *s = kind_len <= KEY_DISPLAY_MAX ?
			closest_name(name, permission_kinds, ARRAY_SIZE(permission_kinds)) : NULL;
		if (s)
			return perm_error(err, &pos, perm, "unknown kind '%s' (did you mean '%s'?)", name, s);
		return perm_error(err, &pos, perm, "unknown kind '%s'%s; expected Read, Edit, WebFetch or UnixSocket",
				  name, show < kind_len ? "..." : "");
	}

	_cleanup_free_ char *value = NULL;
	struct config_list *list = NULL;
	switch (kind) {
	case 0: /* Read */
		list = is_allow ? &cfg->allow_read : &cfg->deny_read;
		value = strndup(arg, arg_len);
		break;
	case 1: /* Edit */
		list = is_allow ? &cfg->allow_write : &cfg->deny_write;
		value = strndup(arg, arg_len);
		break;
	case 2: /* WebFetch */
		list = is_allow ? &cfg->network.allowed_domains : &cfg->network.denied_domains;
		if (arg_len > 7 && memcmp(arg, "domain:", 7) == 0) {
			value = strndup(arg + 7, arg_len - 7);
		} else if (arg_len > 4 && memcmp(arg, "tcp:", 4) == 0) {
			const char *host = arg + 4, *end = arg + arg_len;
			const char *colon = memrchr(host, ':', (size_t)(end - host));
			if (!colon || colon == host || colon + 1 == end)
				return perm_error(err, &pos, perm, "expected WebFetch(tcp:HOST:PORT)");
			size_t host_len = (size_t)(colon - host);
			bool bracketed = host[0] == '[' && host[host_len - 1] == ']' && host_len > 2;
			if (!bracketed && memchr(host, ':', host_len))
				return perm_error(err, &pos, perm, "an IPv6 host must be written in brackets, e.g. tcp:[::1]:5432");
			long port = 0;
			const char *p = colon + 1;
			for (; p < end && *p >= '0' && *p <= '9' && port <= 65535; p++)
				port = port * 10 + (*p - '0');
			if (p != end || port < 1 || port > 65535)
				return perm_error(err, &pos, perm, "the port must be a number from 1 to 65535");
			value = strndup(host, (size_t)(end - host));
		} else {
			return perm_error(err, &pos, perm, "expected WebFetch(domain:NAME) or WebFetch(tcp:HOST:PORT)");
		}
		break;
	default: /* UnixSocket */
		if (!is_allow)
			return error_at(err, -EINVAL, pos.file, pos.line, pos.column,
					"%s%spermission \"%.*s\": UnixSocket(...) belongs in permissions.allow; unix "
					"sockets are refused unless allowed", pos.key ? pos.key : "", pos.key ? ": " : "",
					PERM_SHOW, perm);
		list = &cfg->network.allow_unix_sockets;
		value = strndup(arg, arg_len);
		break;
	}
	if (!value)
		return oom(err);
	if (!value[0])
		return perm_error(err, &pos, perm, "the name after the prefix is empty");

	if (is_allow && allows_ignored(origin, trusted)) {
		const char *key = pos.key ? pos.key : "permissions.allow";
		return push_ignored(cfg, str_printf("%.*s: %s", (int)key_base_len(key), key, perm),
				    key_base_len(key) + 2, true, pos, REASON_UNTRUSTED, err);
	}
	return list_push(list, value, false, origin, pos, err);
}

/* ------------------------------------------------------------------ */
/* Texts and files                                                      */

static const char *intern_file(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->files.n; i++)
		if (strcmp(cfg->files.v[i], name) == 0)
			return cfg->files.v[i];
	if (strv_push(&cfg->files, name) < 0)
		return NULL;
	return cfg->files.v[cfg->files.n - 1];
}

int config_parse_text(struct config *cfg, const char *name, const char *text, size_t len,
		      enum config_origin origin, bool trusted, struct srt_error *err)
{
	if (!cfg || (!text && len))
		return srt_error_set(err, -EINVAL, "no settings text");
	const char *file = intern_file(cfg, name ? name : "<settings>");
	if (!file)
		return oom(err);
	if (len > CONFIG_MAX_FILE_SIZE)
		return error_at(err, -EFBIG, file, 0, 0, "settings file is larger than %u bytes",
				(unsigned)CONFIG_MAX_FILE_SIZE);
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	if (i == len)
		return error_at(err, -EINVAL, file, 0, 0, "settings file is empty");

	/* No JSON text holds a NUL byte, and jansson would skip one after a
	 * number where the position scanner stops: refuse it outright. */
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		int line, column;
		jsonpos_offset_where(text, (size_t)(nul - text), &line, &column);
		return error_at(err, -EINVAL, file, line, column, "NUL byte in settings file");
	}

	/* The scan runs first: it refuses a text over the depth and value
	 * bounds before jansson builds anything from it. */
	_cleanup_jsonpos_ struct jsonpos *jp = NULL;
	struct jsonpos_error perr = { 0 };
	int scanned = jsonpos_scan(text, len, &jp, &perr);
	if (scanned == -ENOMEM)
		return oom(err);
	if (scanned == -E2BIG)
		return error_at(err, -E2BIG, file, perr.line, perr.column, "settings too large: %s", perr.message);

	json_error_t jerr;
	_cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_at(err, -EINVAL, file, jerr.line, jerr.column, "%s", jerr.text);
	if (scanned < 0) /* jansson took what the scanner did not: keep failing closed */
		return error_at(err, -EINVAL, file, perr.line, perr.column, "%s", perr.message);

	struct loader l = { .cfg = cfg, .file = file, .origin = origin, .trusted = trusted, .jp = jp, .err = err };
	if (!json_is_object(root))
		return fail(&l, jsonpos_root(jp), false, -EINVAL, "settings must be a JSON object, found %s",
			    json_kind(root));
	return walk_object(&l, root, jsonpos_root(jp), top_fields);
}

/* Read a whole settings file, at most CONFIG_MAX_FILE_SIZE bytes. Returns
 * -ENOENT (message set) when it does not exist; regular_only refuses
 * FIFOs and devices (a project file must not make srt block). */
static int read_file(const char *path, bool regular_only, char **ret_text, size_t *ret_len, struct stat *ret_st,
		     struct srt_error *err)
{
	/* O_NONBLOCK: opening a FIFO planted as a project file must not hang
	 * srt; it is refused below. It does not change reads of regular files. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (regular_only ? O_NONBLOCK : 0));
	int e = errno;
	if (fd < 0)
		return error_at(err, -e, path, 0, 0, "cannot open settings file: %s", strerror(e));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		e = errno;
		return error_at(err, -e, path, 0, 0, "cannot read settings file: %s", strerror(e));
	}
	if (S_ISDIR(st.st_mode))
		return error_at(err, -EISDIR, path, 0, 0, "is a directory, not a settings file");
	if (regular_only && !S_ISREG(st.st_mode))
		return error_at(err, -EINVAL, path, 0, 0, "is not a regular file");
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CONFIG_MAX_FILE_SIZE)
		return error_at(err, -EFBIG, path, 0, 0, "settings file is larger than %u bytes",
				(unsigned)CONFIG_MAX_FILE_SIZE);

	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096, len = 0;
	_cleanup_free_ char *text = malloc(cap);
	if (!text)
		return oom(err);
	for (;;) {
		if (len == cap) {
			if (cap > CONFIG_MAX_FILE_SIZE)
				return error_at(err, -EFBIG, path, 0, 0, "settings file is larger than %u bytes",
						(unsigned)CONFIG_MAX_FILE_SIZE);
			size_t ncap = cap * 2 > CONFIG_MAX_FILE_SIZE + 1 ? CONFIG_MAX_FILE_SIZE + 1 : cap * 2;
			char *t = realloc(text, ncap);
			if (!t)
				return oom(err);
			text = t;
			cap = ncap;
		}
		ssize_t n = read(fd, text + len, cap - len);
		e = errno;
		if (n < 0 && e == EINTR)
			continue;
		if (n < 0)
			return error_at(err, -e, path, 0, 0, "cannot read settings file: %s", strerror(e));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret_text = steal_pointer(&text);
	*ret_len = len;
	*ret_st = st;
	return 0;
}

/* Load one file. Returns 1 when it is absent and absent_ok says that is
 * fine (-ENOENT, and also -ENOTDIR for a project file). */
static int load_file(struct config *cfg, const char *path, enum config_origin origin, bool trusted,
		     bool absent_ok, const struct stat *skip_same, struct stat *ret_st, struct srt_error *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	struct stat st;
	int r = read_file(path, origin == CONFIG_ORIGIN_PROJECT, &text, &len, &st, err);
	if (absent_ok && (r == -ENOENT || (r == -ENOTDIR && origin == CONFIG_ORIGIN_PROJECT))) {
		if (err) {
			err->code = 0;
			err->message[0] = '\0';
		}
		return 1;
	}
	if (r < 0)
		return r;
	if (skip_same && st.st_dev == skip_same->st_dev && st.st_ino == skip_same->st_ino)
		return 1;
	if (ret_st)
		*ret_st = st;
	return config_parse_text(cfg, path, text, len, origin, trusted, err);
}

/* "a" + "/" + "b" without doubling the slash; b absolute stays b. An
 * existing file is named by its real path, so that messages and srt check
 * show /home/u/s.json rather than /home/u/x/../s.json. */
static char *path_join(const char *a, const char *b)
{
	char *joined;
	if (b[0] == '/' || !a) {
		joined = strdup(b);
	} else {
		size_t la = strlen(a);
		joined = str_printf("%s%s%s", a, la > 0 && a[la - 1] == '/' ? "" : "/", b);
	}
	if (!joined)
		return NULL;
	char *real = realpath(joined, NULL);
	if (!real)
		return joined;
	free(joined);
	return real;
}

/* Keep the name a loaded file was reached by (a + "/" + b, links not
 * resolved), for policy to check the links on the way. */
static int note_file_name(struct config *cfg, const char *a, const char *b)
{
	_cleanup_free_ char *n = b[0] == '/' || !a ? strdup(b) : str_printf("%s/%s", a, b);
	return n ? strv_push(&cfg->file_names, n) : -ENOMEM;
}

/* Lexical normal form of an absolute path: no "//", ".", "..", or
 * trailing "/". */
static char *normalize_lexical(const char *path)
{
	size_t len = strlen(path);
	char *out = malloc(len + 2);
	if (!out)
		return NULL;
	size_t n = 0;
	const char *p = path;
	while (*p) {
		while (*p == '/')
			p++;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t seg = (size_t)(p - start);
		if (seg == 0 || (seg == 1 && start[0] == '.'))
			continue;
		if (seg == 2 && start[0] == '.' && start[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, start, seg);
		n += seg;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

static bool same_dir(const char *a, const char *b)
{
	_cleanup_free_ char *na = normalize_lexical(a);
	_cleanup_free_ char *nb = normalize_lexical(b);
	if (na && nb && strcmp(na, nb) == 0)
		return true;
	_cleanup_free_ char *ra = realpath(a, NULL);
	_cleanup_free_ char *rb = realpath(b, NULL);
	return ra && rb && strcmp(ra, rb) == 0;
}

/* The trustedProjectDirs entry naming the project folder, or NULL. Only
 * exact folders count: trusting a parent would trust every repository
 * cloned under it. */
static const struct config_entry *trusted_entry(const struct config *cfg, const char *project_dir,
						const char *home)
{
	for (size_t i = 0; i < cfg->trusted_project_dirs.n; i++) {
		const struct config_entry *e = &cfg->trusted_project_dirs.items[i];
		_cleanup_free_ char *dir = NULL;
		if (e->value[0] == '~') {
			if (!home || home[0] != '/')
				continue;
			dir = str_printf("%s%s", home, e->value + 1);
		} else {
			dir = strdup(e->value);
		}
		if (dir && same_dir(dir, project_dir))
			return e;
	}
	return NULL;
}

/* "dir/name" for an absolute, normalized dir ("/" included). */
static char *child_path(const char *dir, const char *name)
{
	return str_printf("%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

/* The project folder for cwd, as git finds .git: the nearest folder from
 * cwd up that has .sandbox/settings.json, looking no higher than the first
 * folder with a .git entry (the repository root), top, or "/". Returns 1
 * with *ret (caller frees), 0 when there is none, -ENOMEM. Something there
 * that cannot be examined (EACCES, a loop) counts as found, so that
 * reading it says what is wrong rather than a project file being passed
 * over in silence. */
static int find_project_dir(const char *cwd, const char *top, char **ret)
{
	*ret = NULL;
	/* The physical folder, as getcwd() gives it and as git walks. */
	_cleanup_free_ char *dir = realpath(cwd, NULL);
	if (!dir && cwd[0] != '/')
		return 0;
	if (!dir && !(dir = normalize_lexical(cwd)))
		return -ENOMEM;
	_cleanup_free_ char *top_dir = NULL;
	if (top && !(top_dir = realpath(top, NULL)) && top[0] == '/' && !(top_dir = normalize_lexical(top)))
		return -ENOMEM;
	for (;;) {
		_cleanup_free_ char *file = child_path(dir, ".sandbox/settings.json");
		_cleanup_free_ char *git = child_path(dir, ".git");
		if (!file || !git)
			return -ENOMEM;
		struct stat st;
		if (lstat(file, &st) == 0 || (errno != ENOENT && errno != ENOTDIR)) {
			*ret = steal_pointer(&dir);
			return 1;
		}
		if (lstat(git, &st) == 0 || strcmp(dir, "/") == 0 || (top_dir && strcmp(dir, top_dir) == 0))
			return 0;
		char *slash = strrchr(dir, '/');
		slash[slash == dir ? 1 : 0] = '\0';
	}
}

/* Only the running user's files and root's (who can change what srt runs
 * anyway) may be project settings. */
static bool owner_ok(uid_t owner)
{
	return owner == geteuid() || owner == 0;
}

/* NULL when path, and what it links to, belong to the user or root;
 * otherwise why not (caller frees). Paths that cannot be examined pass:
 * reading the file reports them. */
static char *foreign_owner(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return NULL;
	if (!owner_ok(st.st_uid))
		return str_printf("%s belongs to uid %u", path, (unsigned)st.st_uid);
	if (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && !owner_ok(st.st_uid))
		return str_printf("%s links to a file of uid %u", path, (unsigned)st.st_uid);
	return NULL;
}

/* Another user's project file is not read: it would apply to everybody
 * working below its folder (/tmp/.sandbox/settings.json), and, broken, make
 * srt refuse to run for all of them. Its deny rules are lost, so the user
 * is told on every run. */
static int skip_foreign(struct config *cfg, const char *project, const char *why, struct srt_error *err)
{
	_cleanup_free_ char *text = str_printf("ignored the project settings %s: %s (project settings are used "
					       "only when they are yours or root's)", project, why);
	if (!text)
		return oom(err);
	sanitize(text);
	if (strv_push(&cfg->warnings, text) < 0 || strv_push(&cfg->notes, text) < 0)
		return oom(err);
	return 1;
}

/* Load .sandbox/settings.json of dir, named project (its real path) in
 * the settings' messages, and by its own name when skipped. Returns 1 when
 * it is absent, is the user settings file (skip_same) or is not the
 * user's (see skip_foreign), 0 when loaded, or a negative code. */
static int load_project(struct config *cfg, const char *dir, const char *project, bool trusted,
			const struct stat *skip_same, char **ret_text, size_t *ret_len, struct srt_error *err)
{
	_cleanup_free_ char *sandbox_dir = child_path(dir, ".sandbox");
	_cleanup_free_ char *name = child_path(dir, ".sandbox/settings.json");
	if (!sandbox_dir || !name)
		return oom(err);
	struct stat st;
	if (skip_same && stat(name, &st) == 0 && st.st_dev == skip_same->st_dev && st.st_ino == skip_same->st_ino)
		return 1;
	/* By name, links included: an attacker's link to a file of the
	 * user's must not make that file project settings. */
	_cleanup_free_ char *why = foreign_owner(sandbox_dir);
	if (!why)
		why = foreign_owner(name);
	if (why)
		return skip_foreign(cfg, name, why, err);

	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r = read_file(name, true, &text, &len, &st, err);
	if (r == -ENOENT || r == -ENOTDIR) {
		if (err) {
			err->code = 0;
			err->message[0] = '\0';
		}
		return 1;
	}
	if (r < 0)
		return r;
	/* Again on what was read: the names may have changed since. */
	if (!owner_ok(st.st_uid)) {
		_cleanup_free_ char *whose = str_printf("it belongs to uid %u", (unsigned)st.st_uid);
		return whose ? skip_foreign(cfg, name, whose, err) : oom(err);
	}
	r = config_parse_text(cfg, project, text, len, CONFIG_ORIGIN_PROJECT, trusted, err);
	if (r == 0) {
		*ret_text = steal_pointer(&text);
		*ret_len = len;
	}
	return r;
}

/* Policy joins relative paths to cwd. The relative paths of a project file
 * found above cwd mean its own folder, so they are made absolute here. */
static int anchor_project_paths(struct config_list *list, const char *dir)
{
	for (size_t i = 0; i < list->n; i++) {
		struct config_entry *e = &list->items[i];
		if (e->origin != CONFIG_ORIGIN_PROJECT || e->value[0] == '/' || e->value[0] == '~')
			continue;
		const char *rel = e->value;
		while (rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0')) {
			rel += 1;
			while (*rel == '/')
				rel++;
		}
		char *abs = rel[0] ? child_path(dir, rel) : strdup(dir);
		if (!abs)
			return -ENOMEM;
		free(e->value);
		e->value = abs;
	}
	return 0;
}

/* The same for credentials.files of a project file found above cwd. */
static int anchor_credential_paths(struct config *cfg, const char *dir)
{
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		struct config_credential *c = &cfg->credentials.items[i];
		if (!c->is_file || c->origin != CONFIG_ORIGIN_PROJECT)
			continue;
		struct config_list one = { .items = &(struct config_entry){ .value = c->name, .origin = c->origin }, .n = 1 };
		if (anchor_project_paths(&one, dir) < 0)
			return -ENOMEM;
		c->name = one.items[0].value;
	}
	return 0;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mandatory_deny_search_depth = 3;
	cfg->enabled = true;
}

int config_load(struct config *cfg, const struct config_load_options *opts, struct srt_error *err)
{
	if (!cfg || !opts)
		return srt_error_set(err, -EINVAL, "no settings options");
	_cleanup_free_ char *cwd_buf = NULL;
	const char *cwd = opts->cwd;
	if (!cwd)
		cwd = cwd_buf = getcwd(NULL, 0);

	struct stat user_st;
	bool have_user = false;
	int r;
	if (opts->settings_text) {
		if ((r = config_parse_text(cfg, opts->settings_text_name, opts->settings_text, strlen(opts->settings_text),
					   CONFIG_ORIGIN_USER, true, err)) < 0)
			return r;
	} else if (opts->settings_path) {
		if (!opts->settings_path[0])
			return srt_error_set(err, -EINVAL, "--settings needs a file name");
		_cleanup_free_ char *path = path_join(cwd, opts->settings_path);
		if (!path)
			return oom(err);
		if ((r = load_file(cfg, path, CONFIG_ORIGIN_USER, true, false, NULL, &user_st, err)) < 0)
			return r;
		if (note_file_name(cfg, cwd, opts->settings_path) < 0)
			return oom(err);
		have_user = true;
	} else if (opts->home && opts->home[0]) {
		_cleanup_free_ char *path = path_join(opts->home, ".srt-settings.json");
		if (!path)
			return oom(err);
		if ((r = load_file(cfg, path, CONFIG_ORIGIN_USER, true, true, NULL, &user_st, err)) < 0)
			return r;
		have_user = r == 0;
		if (have_user && note_file_name(cfg, opts->home, ".srt-settings.json") < 0)
			return oom(err);
	}

	if (!cwd || opts->skip_project)
		return 0;
	_cleanup_free_ char *dir = NULL;
	if (opts->project_dir) {
		if (!(dir = strdup(opts->project_dir)))
			return oom(err);
	} else if ((r = find_project_dir(cwd, opts->project_search_top, &dir)) <= 0) {
		return r < 0 ? oom(err) : 0;
	}
	_cleanup_free_ char *project = path_join(dir, ".sandbox/settings.json");
	if (!project)
		return oom(err);
	const struct config_entry *why = opts->trust_project_settings ? NULL : trusted_entry(cfg, dir, opts->home);
	bool trusted = opts->trust_project_settings || why;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	if (opts->project_dir)
		r = config_parse_text(cfg, project, opts->project_text, opts->project_len, CONFIG_ORIGIN_PROJECT,
				      trusted, err);
	else
		r = load_project(cfg, dir, project, trusted, have_user ? &user_st : NULL, &text, &len, err);
	if (r != 0)
		return r < 0 ? r : 0;
	cfg->project_loaded = true;
	if (!opts->project_dir) {
		if (!(cfg->project_dir = strdup(dir)))
			return oom(err);
		cfg->project_text = steal_pointer(&text);
		cfg->project_len = len;
	}
	if (note_file_name(cfg, dir, ".sandbox/settings.json") < 0)
		return oom(err);
	bool above = !same_dir(dir, cwd);
	if (above && ((r = anchor_project_paths(&cfg->deny_read, dir)) < 0 ||
		      (r = anchor_project_paths(&cfg->allow_read, dir)) < 0 ||
		      (r = anchor_project_paths(&cfg->allow_write, dir)) < 0 ||
		      (r = anchor_project_paths(&cfg->deny_write, dir)) < 0 ||
		      (r = anchor_project_paths(&cfg->network.allow_unix_sockets, dir)) < 0 ||
		      (r = anchor_credential_paths(cfg, dir)) < 0))
		return oom(err);
	if (above && strv_pushf(&cfg->notes, "%s: found above the current folder: its relative paths are relative to %s",
				project, dir) < 0)
		return oom(err);
	if (opts->trust_project_settings)
		r = strv_pushf(&cfg->notes, "%s: project settings trusted (--trust-project-settings)", project);
	else if (why)
		r = strv_pushf(&cfg->notes, "%s: project settings trusted: the folder is in trustedProjectDirs (%s:%d:%d)",
			       project, why->pos.file, why->pos.line, why->pos.column);
	else
		r = strv_pushf(&cfg->notes, "%s: project settings not trusted: only its deny rules apply", project);
	if (r < 0)
		return oom(err);
	/* They name folders whoever made the project chose. */
	for (size_t i = 0; i < cfg->notes.n; i++)
		sanitize(cfg->notes.v[i]);
	return 0;
}

/* One line of config_ignored_allows_summary: the rules dropped for reason. */
#define SUMMARY_NAMED 3      /* rules named; srt check lists them all */
#define SUMMARY_VALUE_MAX 60 /* bytes of a value shown */

static int summary_line(const struct config *cfg, const char *reason, const char *what, const char *whose,
			const char *advice, struct strv *lines)
{
	size_t n = 0, named = 0;
	const char *file = NULL;
	for (size_t i = 0; i < cfg->n_ignored_allows; i++)
		if (cfg->ignored_allows[i].reason == reason && n++ == 0)
			file = cfg->ignored_allows[i].pos.file;
	if (n == 0)
		return 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "ignored %zu %s%s of the %sproject settings %s: ", n, what, n == 1 ? "" : "s", whose,
		file ? file : "?");
	for (size_t i = 0; i < cfg->n_ignored_allows && named < SUMMARY_NAMED; i++) {
		const struct config_ignored_allow *a = &cfg->ignored_allows[i];
		if (a->reason != reason)
			continue;
		const char *v = a->value ? a->value : "";
		size_t vl = strlen(v), shown = vl;
		if (shown > SUMMARY_VALUE_MAX) {
			shown = SUMMARY_VALUE_MAX;
			while (shown > 0 && ((unsigned char)v[shown] & 0xC0) == 0x80) /* not inside a character */
				shown--;
		}
		fprintf(f, "%s%s %s%.*s%s%s", named ? ", " : "", a->pos.key ? a->pos.key : "?", a->quoted ? "\"" : "",
			(int)shown, v, shown < vl ? "..." : "", a->quoted ? "\"" : "");
		named++;
	}
	if (n > named)
		fprintf(f, " and %zu more", n - named);
	fprintf(f, " (%s%s)", advice, n > named ? "; srt check lists them all" : "");
	if (fclose(f) != 0 || !buf) {
		free(buf);
		return -ENOMEM;
	}
	return strv_push_take(lines, buf) < 0 ? -ENOMEM : 0;
}

int config_ignored_allows_summary(const struct config *cfg, struct strv *lines)
{
	int r = summary_line(cfg, REASON_UNTRUSTED, "allow rule", "untrusted ",
			     "trust the project with --trust-project-settings or trustedProjectDirs", lines);
	if (r == 0)
		r = summary_line(cfg, REASON_TRUST_SELF, "rule", "", REASON_TRUST_SELF, lines);
	return r;
}

static void list_free(struct config_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		free(list->items[i].value);
	free(list->items);
	list->items = NULL;
	list->n = 0;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	list_free(&cfg->deny_read);
	list_free(&cfg->allow_read);
	list_free(&cfg->allow_write);
	list_free(&cfg->deny_write);
	list_free(&cfg->network.allowed_domains);
	list_free(&cfg->network.denied_domains);
	list_free(&cfg->network.allow_unix_sockets);
	list_free(&cfg->network.denied_resolved_addresses);
	struct config_string *strings[] = { &cfg->network.parent_proxy.http, &cfg->network.parent_proxy.https,
					     &cfg->network.parent_proxy.no_proxy, &cfg->network.mitm_proxy.socket_path };
	for (size_t i = 0; i < ARRAY_SIZE(strings); i++) {
		if (strings[i]->value)
			explicit_bzero(strings[i]->value, strlen(strings[i]->value));
		free(strings[i]->value);
	}
	list_free(&cfg->network.mitm_proxy.domains);
	for (size_t i = 0; i < cfg->network.n_denied_domain_reasons; i++) {
		free(cfg->network.denied_domain_reasons[i].domain);
		free(cfg->network.denied_domain_reasons[i].reason);
	}
	free(cfg->network.denied_domain_reasons);
	free(cfg->network.tls.ca_cert.path);
	free(cfg->network.tls.ca_key.path);
	list_free(&cfg->network.tls.exclude_domains);
	list_free(&cfg->network.tls.extra_ca_certs);
	for (size_t i = 0; i < cfg->n_ignore_violations; i++) {
		free(cfg->ignore_violations[i].command_pattern);
		list_free(&cfg->ignore_violations[i].paths);
	}
	free(cfg->ignore_violations);
	for (size_t i = 0; i < cfg->credentials.n; i++)
		cred_free_entry(&cfg->credentials.items[i]);
	free(cfg->credentials.items);
	for (size_t i = 0; i < cfg->credentials.n_aws_pairs; i++) {
		free(cfg->credentials.aws_pairs[i].access_key_id_var);
		free(cfg->credentials.aws_pairs[i].secret_access_key_var);
		free(cfg->credentials.aws_pairs[i].session_token_var);
	}
	free(cfg->credentials.aws_pairs);
	free(cfg->bwrap_path);
	list_free(&cfg->trusted_project_dirs);
	for (size_t i = 0; i < cfg->n_ignored_allows; i++)
		free(cfg->ignored_allows[i].what);
	free(cfg->ignored_allows);
	free(cfg->project_dir);
	free(cfg->project_text);
	strv_clear(&cfg->files);
	strv_clear(&cfg->file_names);
	strv_clear(&cfg->keys);
	strv_clear(&cfg->notes);
	strv_clear(&cfg->warnings);
	memset(cfg, 0, sizeof(*cfg));
}
