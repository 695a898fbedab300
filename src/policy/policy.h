/* config -> policy: one immutable, normalized description of what the sandbox allows, and the pure functions that decide. */
#ifndef SRT_POLICY_H
#define SRT_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "policy/domain.h"
#include "util/util.h"

enum policy_path_kind {
	POLICY_DENY_READ,
	POLICY_ALLOW_READ,
	POLICY_ALLOW_WRITE,
	POLICY_DENY_WRITE,
};

/* One path rule, concrete (globs already expanded). */
struct policy_path_rule {
	char *path;                  /* absolute, normalized, symlinks in existing parents resolved */
	enum policy_path_kind kind;
	bool exists;
	bool is_dir;                 /* when exists */
	bool is_symlink;             /* the path itself is a symbolic link */
	bool mandatory;              /* from the built-in list, not from settings */
	char *source;                /* "FILE:LINE:COL filesystem.denyRead[0]" or "built-in: ..." */
	char *pattern;               /* the entry as written when it was a glob; else NULL */
	char *text;                  /* the entry as written in the settings ("~/.ssh", "./out");
				      * NULL for built-in rules */
};

/* One network.allowUnixSockets entry (or permissions.allow
 * "UnixSocket(PATH)"): the sandbox may connect (and send datagrams) to a
 * unix socket whose resolved path matches. */
struct policy_unix_rule {
	char *pattern;               /* absolute, normalized; may be a glob: /run/user/1000 then "**" */
	char *resolved;              /* the same with symbolic links in its existing part resolved
				      * (/var/run/x -> /run/x); NULL when equal to pattern */
	char *text;                  /* as written */
	char *source;                /* "FILE:LINE:COL: network.allowUnixSockets[0]" */
	bool literal;                /* compared as written, never as a glob */
};

struct policy_domain_rule {
	struct domain_pattern pattern;
	char *text;                  /* as written */
	char *source;
};

struct policy {
	struct policy_path_rule *rules;   /* sorted by path, then kind */
	size_t n_rules;
	bool sorted;                      /* rules in path_order: lookups by binary search */
	bool tmp_is_host;                 /* /tmp (or a parent) is in allowWrite */

	bool allow_git_config;
	bool allow_new_repositories;
	bool allow_nested_user_namespaces;
	bool enable_weaker_nested_sandbox;
	bool allow_all_unix_sockets;
	/* network.mode "transparent": a DNS responder inside the sandbox
	 * hands out addresses that stand for names (see proxy/dns.h); the
	 * sandbox's /etc/resolv.conf names it and its /etc/hosts only
	 * localhost. The same domain lists decide. */
	bool transparent;
	struct policy_unix_rule *unix_sockets;  /* allowUnixSockets, in settings order */
	size_t n_unix_sockets;
	int mandatory_deny_search_depth;

	struct policy_domain_rule *allowed_domains;
	size_t n_allowed_domains;
	struct policy_domain_rule *denied_domains;
	size_t n_denied_domains;

	char *bwrap_path;                 /* NULL: search PATH */
	char *home;                       /* $HOME the rules were built with (the write guard's
					   * home list); NULL: none */
	struct strv settings_files;       /* loaded files (kept unwritable) */
	struct strv notes;                /* for --debug */
	struct strv ignored;              /* project allows that were ignored, with reason */
	struct strv unmatched_globs;      /* glob entries that matched nothing (notes) */
};

struct policy_env {
	const char *home;
	const char *cwd;
	const char *path;   /* $PATH the sandbox gets; NULL: srt's own */
	/* A sandbox is about to run: an allowWrite folder that does not exist
	 * yet is created when its parent does (srt check and srt explain only
	 * look). */
	bool create_missing_writable;
	/* Only the network lists (allowedDomains, deniedDomains), nothing of
	 * the file system: settings whose filesystem rules are those of a
	 * policy built before (srt --control-fd's lines), which the command
	 * running since must not make fail (a glob over its tree, its links). */
	bool network_only;
};

/* Build the policy. Expands globs and scans every writable root for the
 * built-in protected paths (this touches the file system: it is the one
 * impure step). Errors name the settings file, line, column and key of the
 * offending entry. Symbolic links a sandbox could have planted (lying in a
 * folder inside an allowWrite entry) are refused on the way of a path entry
 * or of a settings file (cfg->file_names): -ELOOP. A protected name that is
 * a link is no error: what it leads to is protected when writable. *ret is
 * written only on success; free with policy_free. */
int policy_build(const struct config *cfg, const struct policy_env *env,
		 struct policy **ret, struct srt_error *err);

void policy_free(struct policy *p);

/* "FILE:LINE:COL: KEY" for a settings position (the shape of every source
 * and error that names a rule); malloc'd, NULL when out of memory. */
char *policy_pos_text(const struct config_pos *pos);

/* Which rule decides for path (normalized absolute)? The most specific rule
 * (longest path that contains path) of the matching aspect wins; at equal
 * length a deny wins. Returns NULL when the default decides (read: allowed,
 * write: denied). */
const struct policy_path_rule *policy_read_rule(const struct policy *p, const char *path);
const struct policy_path_rule *policy_write_rule(const struct policy *p, const char *path);

bool policy_path_readable(const struct policy *p, const char *path);
bool policy_path_writable(const struct policy *p, const char *path);

/* What the sandbox does with one access, and what decided it. */
struct policy_verdict {
	bool allowed;
	/* malloc'd, one line, as a user would say it:
	 *   "no allowWrite entry covers /etc/foo"      (the default; source NULL)
	 *   "denyRead: ~/.ssh"  "allowWrite: ."         (settings entries as written)
	 *   "built-in protection: .bashrc (shell startup file)"
	 *   "private /tmp (the host's /tmp read-only beneath it; ...)"  "the sandbox's own device /dev/null"
	 *   "allowWrite: ./out has no effect: /srv/p/out does not exist"
	 * When the sandbox's mounts do something else than the rule alone
	 * would say (a rule whose path does not exist, a protection that holds
	 * a missing folder read-only, ...), the text says so. */
	char *rule;
	/* malloc'd: "FILE:LINE:COL: filesystem.allowWrite[0]" (the source of
	 * the settings entry, as policy_path_rule.source has it), "built-in",
	 * or NULL when the default decided. */
	char *source;
};

/* Would the sandbox let a process read (write false) or write, create or
 * delete (write true) this absolute, normalized path (symbolic links
 * already resolved, see policy_resolve_path)? Agrees with what the mount
 * plan (linux/mountplan.c) really makes of the policy, including what no
 * rule names: the fresh /dev and /proc, the private /tmp, hidden folders,
 * built-in protections inside writable folders and the read-only
 * placeholders that hold missing protected paths, rules whose paths do not
 * exist. Looks at the file system (lstat of the path's folders) like the
 * plan does. *out is filled on success; free it with policy_verdict_clear.
 * Returns 0, -EINVAL when path is not absolute, or -ENOMEM. */
int policy_explain_path(const struct policy *p, const char *path, bool write, struct policy_verdict *out);
void policy_verdict_clear(struct policy_verdict *v);

/* The allowUnixSockets entry that lets the sandbox reach the unix socket
 * at path (absolute, normalized, links resolved as the sandbox sees them),
 * or NULL. */
const struct policy_unix_rule *policy_unix_socket_rule(const struct policy *p, const char *path);

/* A list of allowUnixSockets entries made apart from the settings (the
 * library's per-sandbox list). */
struct policy_unix_rules {
	struct policy_unix_rule *v;
	size_t n;
};

/* Build *ret from NULL-terminated entries (NULL: none) with the settings'
 * rules; sources read "ORIGIN: allowUnixSockets[I]". Returns 0, or a
 * negative errno with a message naming the entry (*ret empty then). */
int policy_unix_rules_build(const char *const *entries, const char *origin, const char *home, const char *cwd,
			    struct policy_unix_rules *ret, struct srt_error *err);
void policy_unix_rules_clear(struct policy_unix_rules *r);

/* The rule of r (may be NULL) that matches path, or NULL. */
const struct policy_unix_rule *policy_unix_rules_match(const struct policy_unix_rules *r, const char *path);

/* Resolve symbolic links in the existing part of an absolute normalized
 * path as policy_build does for allow rules (the missing tail is kept as
 * written; with follow_last false the last component is not resolved).
 * malloc'd; NULL when out of memory. */
char *policy_resolve_path(const char *path, bool follow_last);

/* The allowedDomains entry that opens host loopback port port: localhost,
 * 127.x.y.z or [::1] with that port (as net_policy_loopback_ports finds
 * them); its source, or NULL. */
const char *policy_loopback_source(const struct policy *p, uint16_t port);

#endif
