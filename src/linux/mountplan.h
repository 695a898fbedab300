/* policy -> mount plan: the list of mount operations that builds the sandbox's view of the file system. */
#ifndef SRT_LINUX_MOUNTPLAN_H
#define SRT_LINUX_MOUNTPLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "policy/policy.h"

enum mount_op_kind {
	MOUNT_BIND_RW,         /* --bind P P */
	MOUNT_BIND_RO,         /* --ro-bind P P */
	MOUNT_HIDE_DIR,        /* --tmpfs P, then --remount-ro P after everything below it */
	MOUNT_HIDE_FILE,       /* --ro-bind EMPTY P: an empty file nobody may open */
};

struct mount_op {
	enum mount_op_kind kind;
	char *path;
	bool host_rw_root;     /* MOUNT_BIND_RW of a writable root whose host parent is read-only */
	const char *why;       /* the source of the deciding rule (owned by the policy) */
};

struct mount_plan {
	struct mount_op *ops;  /* in execution order, parents before children */
	size_t n_ops;
	bool root_writable;    /* allowWrite "/" */
	bool private_tmp;      /* /tmp is the sandbox's own, not the host's (see tmp_overlay) */
	bool tmp_overlay;      /* private_tmp shows the host's /tmp read-only beneath it (an
				* overlay whose upper layer is a fresh tmpfs); false: an empty
				* tmpfs (denyRead /tmp). srt-init falls back to the empty tmpfs
				* where overlayfs cannot be mounted. */
	bool host_proc;        /* enableWeakerNestedSandbox: bind the host /proc */
	bool resolver_files;   /* network.mode transparent: /etc/resolv.conf names the
				* sandbox's own DNS (127.0.0.1) and /etc/hosts holds only
				* localhost, whatever the host's are; srt-init writes them
				* and covers what the sandbox would see there (a link
				* included, not what it leads to), read-only, last */
	struct strv notes;     /* rules that need no mount, and why (for --debug) */
	size_t guarded_missing; /* protected paths inside writable folders that no mount
				 * covers (missing, or links): the write guard's alone */
};

/* srt-init's report on the private /tmp, after the i32 status in
 * PROTO_EXIT's payload (native byte order; an older srt-init sends the
 * status alone):
 *   u32  errno of the overlay mount when the private /tmp fell back to an
 *        empty tmpfs, else 0
 *   u32  how many entries of the host's /tmp the command changed or
 *        deleted in its private /tmp (its own copies: the host's stay)
 *   then as many of their paths as fit, each NUL-terminated */
#define MOUNT_TMP_REPORT_HEAD (3 * 4u)

/* The report, read from a PROTO_EXIT payload of len bytes: srt-init runs
 * inside the sandbox, and the names come from the host's /tmp, where
 * anyone chooses them, so every length is checked here. */
struct mount_tmp_report {
	uint32_t fallback_errno;
	uint32_t changed;
	const char *names;      /* inside the payload */
	size_t names_len;
};

/* 0, or -EINVAL when the payload is too short to hold a report (an older
 * srt-init's status alone). */
int mount_tmp_report_read(const void *payload, size_t len, struct mount_tmp_report *ret);

/* The next NUL-terminated name from *off (start at 0), or NULL at the end
 * (a name cut off by the payload's end is not returned). */
const char *mount_tmp_report_next(const struct mount_tmp_report *r, size_t *off);

/* Build the plan. Fails closed: a protected path that cannot be protected
 * (a symbolic link in a writable folder: a mount cannot cover a link) is an
 * error naming the path and the rule. *ret written only on success. */
int mount_plan_build(const struct policy *p, struct mount_plan **ret, struct srt_error *err);

void mount_plan_free(struct mount_plan *plan);

/* Print the plan, one operation a line, for `srt check --debug`. */
void mount_plan_print(const struct mount_plan *plan, FILE *out);

#endif
