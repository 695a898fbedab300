/* credentials: what the sandbox may not see (deny) or sees only as stand-ins (mask), and the proxy's side of masking. */
#ifndef SRT_CREDS_H
#define SRT_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox_runtime.h"
#include "proxy/credsub.h"
#include "proxy/sigv4.h"
#include "util/util.h"

struct config;
struct net_policy;
struct proxy_host;

/*
 * One per sandbox: built from the settings and the supervisor's own
 * environment and files when the sandbox is prepared. The real values live
 * here only (wiped when freed): never on disk, never in the sandbox's
 * environment or files, never in an event (those name the credential).
 *
 * Stand-ins: "srtmask_" then 32 random characters of [a-z0-9] (165 bits),
 * padded with more random [a-z0-9] up to the length of the real value when
 * that is longer (so that replacing keeps lengths, and Content-Length,
 * unchanged). Unique per run and per secret; only letters, digits and one
 * '_', so it passes shells, URLs, JSON, forms and headers unquoted, and its
 * fixed prefix plus entropy make false matches practically impossible.
 * decode "jwt" stand-ins are JWTs instead (see creds.c).
 */
#define CREDS_STANDIN_PREFIX "srtmask_"
#define CREDS_STANDIN_RANDOM 32
#define CREDS_FILE_MAX (1u << 20) /* a masked file is read whole: at most 1 MiB */

struct creds_cover {
	char *path;          /* absolute, normalized */
	char *data;          /* what the sandbox reads there (stand-ins in place of secrets) */
	size_t len;
	int cred;            /* the credential (creds_name) */
};

struct creds;

/* Build. Errors (exit 125 for srt) name the settings file, line and key:
 * an injectHosts entry that is not a domain pattern, an awsPairs entry
 * naming no masked variable, masking without a transport srt may inject
 * over (no TLS termination and no allowPlaintextInject), a masked file
 * that cannot be read or is too large, onExtractNoMatch "error" with no
 * match. Warnings (onExtractNoMatch "warn") go to warnings. *ret is NULL
 * when the settings declare no credential. */
int creds_build(const struct config *cfg, const char *home, const char *cwd, struct creds **ret,
		struct strv *warnings, struct srt_error *err);
void creds_free(struct creds *c);

/* What the sandbox's environment gets. Every name of the settings' envVars
 * (denied or masked) is taken out of the environment srt hands to bwrap;
 * masked ones come back as NAME=STAND-IN (setenv pairs), denied ones are
 * removed from the command's environment too (unset). */
const char *const *creds_env_strip(const struct creds *c);   /* NULL-terminated */
char *const *creds_env_set(const struct creds *c);           /* NAME, VALUE, ..., NULL */
const char *const *creds_env_unset(const struct creds *c);   /* NULL-terminated */

/* Masked files: cover path with data, read-only (mount plan). */
const struct creds_cover *creds_covers(const struct creds *c, size_t *n);
/* Masked files against the sandbox's read policy, before anything is
 * mounted: srt reads a masked file unsandboxed, following links, so a path
 * the sandbox could have made a link (a project's file, or one a command
 * left behind) would turn a file the sandbox may not read into a
 * credential the proxy sends out. Refused (-EACCES, naming the entry):
 * a masked path, or what it leads to, that the policy denies reading, and
 * one file masked by two entries (the laxer one's injectHosts would
 * launder the other's secret). */
struct policy;
int creds_check_covers(const struct creds *c, const struct policy *p, struct srt_error *err);
/* Masked files that fell back to deny (onExtractNoMatch "deny"). */
const char *const *creds_file_hide(const struct creds *c);

/* The proxy's patterns: every stand-in with its real value; pats[i].cred
 * is the credential (creds_name). */
const struct credsub_pat *creds_patterns(const struct creds *c, size_t *n);
/* "envVars[0] GITHUB_TOKEN" / "files[1] /home/u/.netrc" (never a value). */
const char *creds_name(const struct creds *c, int cred);
/* May pattern i's real value go to host:port? Its injectHosts, or, without
 * them, an allowedDomains entry of np. Transport (TLS or
 * allowPlaintextInject) is the caller's to check. in_head: the real value
 * is placed in a request head (refused when it holds CR, LF or NUL). */
bool creds_may_inject(const struct creds *c, size_t i, const struct proxy_host *host, uint16_t port,
		      const struct net_policy *np, bool in_head);
/* The same under reloaded settings now (NULL, or the settings c was built
 * from: creds_may_inject): the injectHosts of now's entry for the same
 * variable or file (its mode "mask"); none there: never. The stand-ins and
 * real values stay those of the start. */
bool creds_may_inject_now(const struct creds *c, size_t i, const struct config *now, const struct proxy_host *host,
			  uint16_t port, const struct net_policy *np, bool in_head);
bool creds_plaintext_ok(const struct creds *c);
/* For AWS SigV4 re-signing (awsPairs): the stand-in and real value of the
 * masked, whole-value variable name (pattern index in *ret), or false.
 * creds_config: the settings the credentials were built from (awsPairs,
 * sigv4), valid as long as c. */
bool creds_env_pattern(const struct creds *c, const char *name, size_t *ret);
const struct config *creds_config(const struct creds *c);
size_t creds_count(const struct creds *c);

/* AWS SigV4 re-signing: the masked key pairs. Each awsPairs entry, plus
 * the conventional AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN when no awsPairs entry names one of those; a pair
 * counts when its access key id and secret variables are both masked
 * whole and were set (the session token joins when masked and set too).
 * Re-signing with a pair happens only where its access key id's real
 * value may be injected (akid_pat: creds_may_inject). The strings are
 * the credentials' (real ones wiped by creds_free). */
struct creds_aws {
	struct sigv4_pair pair;
	size_t akid_pat;
};
const struct creds_aws *creds_aws_pairs(const struct creds *c, size_t *n);
/* credentials.sigv4 of cfg as re-signing options (NULL: all deny). */
void creds_sigv4_opts(const struct config *cfg, struct sigv4_opts *o);

#endif
