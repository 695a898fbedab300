/* The write guard: on the broker's thread, every trapped call that creates,
 * writes, renames, links, removes or changes a name is resolved once in the
 * caller's view, judged (policy/guard.h for the built-in rules, the
 * sandbox's policy for its own denies), and carried out by the supervisor
 * on exactly what was judged, or refused with EACCES.
 *
 * Why the supervisor performs the call instead of answering CONTINUE: the
 * kernel would read the path from the caller's memory again and walk it
 * again, after the check; the caller's other threads can change the string
 * or swap a link in between. What is judged here is a folder descriptor
 * and a name, and the call is made on that descriptor (see
 * docs/internals/linux-sandbox.md, "The write guard"). */
#ifndef SRT_LINUX_WRITEGUARD_H
#define SRT_LINUX_WRITEGUARD_H

#include <limits.h>
#include <stdbool.h>

#include "linux/broker.h"
#include "linux/observer.h"
#include "policy/policy.h"

struct wguard;

struct wguard_options {
	const struct policy *policy;  /* the sandbox's, unchanged while it runs */
	const char *home;             /* $HOME as the sandbox sees it; NULL: none */
};

/* Can this kernel run the guard: user notification (observer_supported)
 * and descriptors handed back with the answer (Linux 5.14)? */
bool wguard_supported(void);

/* Returns 0 or a negative errno. */
int wguard_new(const struct wguard_options *o, struct wguard **ret);
void wguard_free(struct wguard *w);

/* What the guard did with one call, for the report. */
struct wguard_result {
	bool handled;              /* the guard answered the call: the broker sends nothing more */
	int error;                 /* the errno the call got; 0: it succeeded */
	const char *rule;          /* set when the guard (not the kernel) refused: why (static
				    * text, or the policy's source of the rule) */
	enum observed_op op;
	const char *syscall;
	char path[PATH_MAX];       /* the target as the sandbox sees it (links resolved) */
	char rule_buf[512];
};

/* Is this call one for the guard: a trapped file call that changes a name
 * or a file (an open for writing, not one for reading)? e: the table
 * entry of the call (observer_syscall_lookup). */
bool wguard_wants(const struct observer_syscall *e, const uint64_t args[6]);

/* Judge and carry out the call (on the broker's thread). Fills *res;
 * res->handled false: the guard had nothing to do with it (reply
 * untouched). */
void wguard_handle(struct wguard *w, struct broker *b, const struct broker_notif *n,
		   const struct observer_syscall *e, struct broker_reply *reply, struct wguard_result *res);

/* Once the sandbox's processes are gone (on the loop's thread): check the
 * rebase todos the command wrote, through descriptors the guard could not
 * watch, and turn every exec line the run added into a comment, calling
 * report for each file changed. */
void wguard_finish(struct wguard *w, void (*report)(void *data, const char *path, const char *rule), void *data);

/* ---- Exposed for the unit test and the fuzzer ------------------------------ */

/* Is the kernel release text ("6.1.0-18-amd64") major.minor or later? */
bool wguard_release_at_least(const char *release, int major, int minor);

/* The caller's descriptor number that a magic-link path names:
 * /proc/self/fd/N, /proc/thread-self/fd/N, /dev/fd/N, /dev/stdin,
 * /dev/stdout, /dev/stderr (exactly these spellings), or -1. */
int wguard_magic_fd(const char *path);

#endif
