/* Settings files (srt's format and the Elixir port's) -> struct config, with the position of every value. */
#ifndef SRT_CONFIG_H
#define SRT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "sandbox_runtime.h"
#include "util/util.h"

/* Formats. srt's keys and the Elixir port's keys (`sandbox`,
 * `permissions`) form one schema: no key means one thing in one format and
 * another in the other, so a file may use either or mix them.
 *
 * Keys of our own:
 *   trustedProjectDirs  array of project folders (absolute or ~/...)
 *                       whose .sandbox/settings.json may widen the sandbox.
 *                       Read from user settings only; a folder counts
 *                       only exactly (not its subfolders).
 *   network.timeouts    object of seconds (numbers, fractions allowed) for
 *                       the proxies: requestHead, connect (more than 0),
 *                       keepAliveIdle, response, tunnelIdle (0: never);
 *                       at most CONFIG_MAX_TIMEOUT_S. Neutral: a project
 *                       file sets them like a user file does.
 *   network.mode        "proxy" (default) or "transparent". Neutral too:
 *                       the same lists decide in either mode.
 *
 * Project files (.sandbox/settings.json, see config_load): deny rules always apply.
 * Rules that widen the sandbox apply only when trusted, else they go to
 * ignored_allows: allowRead, allowWrite, allowedDomains, allowUnixSockets,
 * ignoreViolations, bwrapPath, network.httpProxyPort/socksProxyPort (an
 * external proxy does its own filtering), Elixir allow permissions,
 * booleans set to their widening value (allow*: true, enable*: true,
 * strictAllowlist: false, sandbox.enabled: false), and a lower
 * mandatoryDenySearchDepth. A boolean set to its narrowing value applies.
 *
 * Accepted with a note (they tune srt's own machinery or another OS):
 * ripgrep, socatPath, seccomp, javaAgentJarPath, allowPty,
 * enableWeakerNetworkIsolation, allowAppleEvents, network.allowMachLookup
 * (macOS), windows, git, $schema. credentials: see struct config_credential;
 * a project file's entries apply (denying or masking protects more), but
 * an untrusted one's allowPlaintextInject: true is ignored. Refused as
 * "not supported yet" (they promise a protection we do not give): the
 * request-filtering keys
 * network.filterRequest, allowPlaintextHeaderSet, stripResponseHeaders,
 * ambiguousRequestTarget, and filesystem.disabled: true.
 *
 *   network.tlsTerminate  object: caCertPath and caKeyPath (absolute or ~/
 *                       paths, both or neither), excludeDomains and
 *                       extraCaCertPaths (arrays of strings), maxTunnels and
 *                       handshakeTimeoutMs (positive integers). With it,
 *                       network.refuseOpaqueTunnels and
 *                       network.requireHostMatch (booleans). */

/* Bounds on user-controlled input; exceeding one is an error that says so. */
#define CONFIG_MAX_FILE_SIZE        (4u * 1024 * 1024) /* bytes per settings file */
#define CONFIG_MAX_LIST_ENTRIES     65536  /* per list, over all files */
#define CONFIG_MAX_IGNORE_PATTERNS  4096   /* ignoreViolations command patterns */
#define CONFIG_MAX_PERMISSION_LEN   8192   /* bytes in one permission string */
#define CONFIG_MAX_TIMEOUT_S        604800 /* a week: network.timeouts.* */

/* Where a value came from. file points at a string owned by the config
 * (config->files), never NULL for values read from a file; "<default>" or
 * "<command line>" otherwise. line/column are 1-based, 0 when unknown. */
/* The name of settings built in code (struct srt_config): their text is
 * generated, so positions in it name the key only, never a line. */
#define CONFIG_NAME_BUILT "<config>"

struct config_pos {
	const char *file;
	int line;
	int column;
	const char *key; /* owned by the config: "filesystem.allowWrite[2]" */
};

enum config_origin {
	CONFIG_ORIGIN_DEFAULT = 0,
	CONFIG_ORIGIN_USER,    /* --settings FILE or ~/.srt-settings.json */
	CONFIG_ORIGIN_PROJECT, /* .sandbox/settings.json of the project (see config_load) */
};

/* One entry of a string list (paths, domains, CIDRs, ...). Raw text as the
 * user wrote it: config does not expand ~ or validate domains; policy does.
 * The one exception: a relative path of a project file found above cwd is
 * joined to its project folder (see config_load). */
struct config_entry {
	char *value;
	bool literal;            /* {"path": ..., "literal": true}: no glob */
	enum config_origin origin;
	struct config_pos pos;
};

struct config_list {
	struct config_entry *items;
	size_t n;
};

struct config_reason {
	char *domain;
	char *reason;
	struct config_pos pos;
};

/* One key of network.timeouts. Unset keys leave the proxies' own default
 * (proxy_limits_default), which config does not know. */
struct config_timeout {
	bool set;
	unsigned ms;             /* rounded to the nearest ms; 0: never */
	struct config_pos pos;
};

/* One string value (F_STRING), checked when read; value NULL when unset. */
struct config_string {
	char *value;
	struct config_pos pos;
};

struct config_ignore {
	char *command_pattern;   /* key of ignoreViolations ("*" for all) */
	struct config_list paths;
};

/* A project rule that was dropped because project settings are not trusted
 * (or, for trustedProjectDirs, because only user settings may trust);
 * srt check shows these with their reason. */
struct config_ignored_allow {
	char *what;              /* e.g. "filesystem.allowWrite: ./out" */
	const char *value;       /* points into what: "./out" */
	bool quoted;             /* value is a string of the file, not true/false or a number */
	struct config_pos pos;
	const char *reason;      /* static text: why it was dropped */
};

/* A path setting (one string): NULL when unset. */
struct config_file {
	char *path;              /* as written: absolute, or starting with ~/ */
	struct config_pos pos;
};

/* A count setting: unset leaves the default. */
struct config_count {
	bool set;
	unsigned value;
	struct config_pos pos;
};

/* network.tlsTerminate: present (enabled) or not. caCertPath and caKeyPath
 * come together (checked per object); a later file's pair replaces an
 * earlier one's, its lists add to the earlier ones. */
struct config_tls {
	bool enabled;
	struct config_pos pos;               /* of the object (the last one) */
	struct config_file ca_cert;          /* caCertPath: NULL for an ephemeral CA */
	struct config_file ca_key;           /* caKeyPath */
	struct config_list exclude_domains;  /* domain patterns, checked when the runtime starts */
	struct config_list extra_ca_certs;   /* extraCaCertPaths */
	struct config_count max_tunnels;     /* maxTunnels: 1..1000000 */
	struct config_count handshake_ms;    /* handshakeTimeoutMs: 1..600000 */
};

/* network.mode. */
enum config_net_mode {
	CONFIG_NET_PROXY = 0,        /* the default: out through srt's proxies only */
	CONFIG_NET_TRANSPARENT = 1,  /* also direct connects by name, through srt's DNS responder */
};

/* credentials (srt's schema). */
enum config_cred_mode { CONFIG_CRED_DENY = 0, CONFIG_CRED_MASK = 1 };
enum config_cred_nomatch { CONFIG_NOMATCH_WARN = 0, CONFIG_NOMATCH_DENY, CONFIG_NOMATCH_ERROR };
/* credentials.sigv4.*: "deny", "passthrough", "resign" (streaming and
 * presigned only: SigV4a is never re-signed). */
enum config_sigv4 { CONFIG_SIGV4_DENY = 0, CONFIG_SIGV4_PASSTHROUGH = 1, CONFIG_SIGV4_RESIGN = 2 };

/* One entry of credentials.envVars or credentials.files. The extract
 * pattern was compiled once to check it (config/credregex.h). */
struct config_credential {
	bool is_file;
	char *name;                    /* envVars: the variable; files: the path as written */
	enum config_cred_mode mode;
	char *extract;                 /* NULL when absent */
	enum config_cred_nomatch on_no_match;
	bool decode_jwt;               /* decode: "jwt" */
	struct strv mask_claims;       /* maskClaims (requires decode) */
	bool has_mask_claims;
	bool mask_duplicates;
	bool has_inject_hosts;         /* absent: network.allowedDomains */
	struct config_list inject_hosts;
	enum config_origin origin;
	struct config_pos pos;         /* of the entry */
};

struct config_aws_pair {
	char *access_key_id_var;
	char *secret_access_key_var;
	char *session_token_var;       /* NULL when absent */
	struct config_pos pos;
};

struct config {
	struct config_list deny_read;
	struct config_list allow_read;
	struct config_list allow_write;
	struct config_list deny_write;
	bool allow_git_config;
	bool allow_new_repositories;         /* filesystem.allowNewRepositories */
	int mandatory_deny_search_depth;     /* 1..10, default 3 */
	bool allow_nested_user_namespaces;
	bool enable_weaker_nested_sandbox;

	struct {
		struct config_list allowed_domains;
		struct config_list denied_domains;
		struct config_list allow_unix_sockets;
		struct config_list denied_resolved_addresses;
		struct config_reason *denied_domain_reasons;
		size_t n_denied_domain_reasons;
		bool allow_all_unix_sockets;
		bool allow_local_binding;
		bool strict_allowlist;
		int http_proxy_port;   /* 0 when unset */
		int socks_proxy_port;  /* 0 when unset */
		/* Elixir format: ports our own proxies listen on inside the sandbox. */
		int listen_http_port;  /* 0 when unset */
		int listen_socks_port; /* 0 when unset */
		enum config_net_mode mode;
		struct config_pos mode_pos;   /* where it was set; file NULL when not */
		struct {
			struct config_timeout request_head;    /* requestHead: > 0 */
			struct config_timeout connect;         /* connect: > 0 */
			struct config_timeout keep_alive_idle; /* keepAliveIdle: 0 = never */
			struct config_timeout response;        /* response: 0 = never */
			struct config_timeout tunnel_idle;     /* tunnelIdle: 0 = never */
		} timeouts;
		/* network.parentProxy: URLs checked by parent_url_parse,
		 * noProxy by no_proxy_parse; unset ones fall back to the
		 * environment (see proxy_upstream_from_config). */
		struct {
			struct config_string http, https, no_proxy;
		} parent_proxy;
		/* network.mitmProxy: both keys or neither (checked by
		 * proxy_upstream_from_config, with the domains). */
		struct {
			struct config_string socket_path;
			struct config_list domains;
		} mitm_proxy;
		struct config_tls tls;
		bool refuse_opaque_tunnels;   /* refuseOpaqueTunnels (with tlsTerminate) */
		bool host_mismatch_allowed;   /* requireHostMatch: false */
	} network;

	struct config_ignore *ignore_violations;
	size_t n_ignore_violations;

	/* credentials: entries of every file, in order. */
	struct {
		struct config_credential *items;
		size_t n;
		bool allow_plaintext_inject;
		struct config_pos plaintext_pos;
		struct config_aws_pair *aws_pairs;
		size_t n_aws_pairs;
		enum config_sigv4 sigv4_streaming, sigv4_presigned, sigv4a;
	} credentials;

	char *bwrap_path;             /* NULL: search PATH */
	struct config_list trusted_project_dirs; /* user-level list of trusted project folders */

	bool enabled;                 /* Elixir sandbox.enabled / srt has none: true */

	struct strv files;            /* absolute paths of every settings file loaded; owns pos.file strings */
	struct strv file_names;       /* the files loaded from paths, as named (symbolic links not
				       * resolved): policy checks the links on the way */
	struct strv keys;             /* owns pos.key strings */
	struct strv notes;            /* accepted-but-ignored keys, shown under --debug */
	struct strv warnings;         /* said on stderr at every run: a project file that was not used */
	struct config_ignored_allow *ignored_allows;
	size_t n_ignored_allows;
	bool project_loaded;          /* config_load read a project file on top: */
	char *project_dir;            /* its folder, and the text read */
	char *project_text;           /* (project_len bytes); NULL when given (project_dir of the options) */
	size_t project_len;
};

struct config_load_options {
	const char *settings_path;     /* --settings FILE, or NULL for the default */
	const char *home;              /* $HOME, for the default path */
	const char *cwd;               /* where the search for .sandbox/settings.json starts */
	bool trust_project_settings;   /* --trust-project-settings */
	const char *project_search_top; /* highest folder searched; NULL: "/" (tests stay in a scratch tree) */
	/* In place of the user settings file: this text, named
	 * settings_text_name in messages (srt --control-fd's lines). */
	const char *settings_text, *settings_text_name;
	bool skip_project;             /* no project file on top */
	/* The project file as read before, in place of the search and the
	 * read: its folder and text (srt --control-fd's lines: the command
	 * running since may have made the folder unreadable). NULL: search. */
	const char *project_dir, *project_text;
	size_t project_len;
};

/* Initialise cfg with the built-in defaults. */
void config_init(struct config *cfg);

/* Load the user settings (opts->settings_path or ~/.srt-settings.json; an
 * absent default file means defaults) and then the project file on top
 * (skipped when it is the user file).
 *
 * The project file is found as git finds .git: .sandbox/settings.json in
 * cwd or the nearest folder above it that has one, looking no higher than
 * the root of the git repository cwd is in (the first folder, cwd
 * included, with a .git entry, file or folder), nor than
 * opts->project_search_top or "/". The walk crosses file system
 * boundaries: missing a project file loses its deny rules, and its allows
 * need trust anyway. The folder holding .sandbox/ is the project folder:
 * trustedProjectDirs must name it, and relative paths of the file are
 * relative to it (entries are rewritten to absolute paths when it is not
 * cwd, because policy joins relative paths to cwd).
 *
 * A project file is used only when .sandbox, the file, and what they link
 * to belong to the running user or to root: anyone may create
 * /tmp/.sandbox/settings.json, and a broken one there would stop srt for
 * everybody working below /tmp. Another user's file is skipped with a
 * line in cfg->warnings (and cfg->notes), and the search ends there.
 *
 * Returns 0, or a negative code with err naming the file, line:column
 * and key path, e.g.
 *   "/home/u/s.json:3:14: unknown key 'filesystem.allowwrite' (did you mean 'allowWrite'?)"
 *   "/home/u/s.json:2:3: invalid token near 'tru'"           (jansson's text)
 *   "/home/u/s.json: cannot open settings file: No such file or directory"
 * On error cfg is left initialised (safe to config_free). */
int config_load(struct config *cfg, const struct config_load_options *opts, struct srt_error *err);

/* Parse one settings text (either format, or both mixed) and merge it into
 * cfg: lists append, scalars overwrite. name is the file name used in
 * messages and is added to cfg->files. For CONFIG_ORIGIN_PROJECT with
 * trusted false, rules that widen the sandbox go to cfg->ignored_allows.
 * The text must be a JSON object of at most CONFIG_MAX_FILE_SIZE bytes;
 * duplicate keys are refused. */
int config_parse_text(struct config *cfg, const char *name, const char *text, size_t len,
		      enum config_origin origin, bool trusted, struct srt_error *err);

/* Parse one Elixir permission string such as "Read(~/.ssh)" or
 * "WebFetch(domain:github.com)" from the allow (is_allow) or deny list and
 * add it to cfg. Returns -EINVAL with a message naming the string when it is
 * malformed. pos.key is copied; pos.file must outlive cfg (a string of
 * cfg->files, or a literal such as "<command line>"). */
int config_parse_permission(struct config *cfg, const char *perm, bool is_allow,
			    enum config_origin origin, bool trusted, struct config_pos pos,
			    struct srt_error *err);

/* What srt says on stderr at run time about project rules it ignored: at
 * most two lines (no "srt: " prefix, no newline) appended to lines, one for
 * allows dropped because the project is not trusted, one for project
 * entries that only user settings may give (trustedProjectDirs). Each
 * names the file and the first few rules with their key and value.
 * Returns 0 or -ENOMEM. */
int config_ignored_allows_summary(const struct config *cfg, struct strv *lines);

/* Free everything cfg owns and leave it zeroed; NULL is a no-op. */
void config_free(struct config *cfg);

#endif
