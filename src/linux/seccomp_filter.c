/* The seccomp filter of the sandbox, built for srt-init to load. */
#include "linux/seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Namespace flags. CLONE_NEWTIME shares its bit with the exit signal in
 * clone()'s flags, so it is only checked for unshare(). */
#define NS_FLAGS_CLONE (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | \
			CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)
#define NS_FLAGS_UNSHARE (NS_FLAGS_CLONE | CLONE_NEWTIME)

struct rule_ctx {
	scmp_filter_ctx ctx;
	char *errbuf;
	size_t errlen;
	int failed;
};

static void add(struct rule_ctx *r, int err, const char *name, unsigned n, const struct scmp_arg_cmp *cmp)
{
	if (r->failed)
		return;
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR) {
		/* A syscall this architecture does not have cannot be called. */
		return;
	}
	int rc = seccomp_rule_add_array(r->ctx, SCMP_ACT_ERRNO(err), nr, n, cmp);
	if (rc < 0) {
		r->failed = rc;
		snprintf(r->errbuf, r->errlen, "cannot add seccomp rule for %s: %s", name, strerror(-rc));
	}
}

static void add0(struct rule_ctx *r, int err, const char *name)
{
	add(r, err, name, 0, NULL);
}

static void add1(struct rule_ctx *r, int err, const char *name, struct scmp_arg_cmp c)
{
	add(r, err, name, 1, &c);
}

int sandbox_seccomp_export(const struct sandbox_seccomp_options *opts, int *ret_fd, char *errbuf, size_t errlen)
{
	*ret_fd = -1;
	struct rule_ctx r = { .errbuf = errbuf, .errlen = errlen };
	r.ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!r.ctx) {
		snprintf(errbuf, errlen, "seccomp_init failed");
		return -ENOMEM;
	}

	if (!opts->allow_unix_sockets)
		add1(&r, EPERM, "socket", SCMP_A0_32(SCMP_CMP_EQ, AF_UNIX));
	add1(&r, EPERM, "socket", SCMP_A0_32(SCMP_CMP_EQ, AF_VSOCK));

	add0(&r, EPERM, "io_uring_setup");
	add0(&r, EPERM, "io_uring_enter");
	add0(&r, EPERM, "io_uring_register");

	/* clone3 passes its flags in memory the filter cannot read: ENOSYS
	 * makes libc and runtimes fall back to clone(), whose flags we see. */
	add0(&r, ENOSYS, "clone3");

	if (!opts->allow_nested_userns) {
		/* One rule per flag bit: rules for a syscall are alternatives,
		 * so any namespace bit set refuses the call. */
		for (unsigned bit = 1; bit; bit <<= 1) {
			if (NS_FLAGS_UNSHARE & bit)
				add1(&r, EPERM, "unshare", SCMP_A0_32(SCMP_CMP_MASKED_EQ, bit, bit));
			if (NS_FLAGS_CLONE & bit)
				add1(&r, EPERM, "clone", SCMP_A0_64(SCMP_CMP_MASKED_EQ, bit, bit));
		}
		add0(&r, EPERM, "setns");
		static const char *const mount_calls[] = {
			"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree",
			"fsopen", "fsmount", "fsconfig", "fspick", "mount_setattr",
		};
		for (size_t i = 0; i < sizeof(mount_calls) / sizeof(mount_calls[0]); i++)
			add0(&r, EPERM, mount_calls[i]);
	}

	/* socket()'s family and ioctl()'s request are 32-bit in the kernel:
	 * the _32 comparisons look only at the low half, so setting high bits
	 * cannot slip past a rule. */
	add1(&r, EPERM, "ioctl", SCMP_A1_32(SCMP_CMP_EQ, TIOCSTI));
	add1(&r, EPERM, "ioctl", SCMP_A1_32(SCMP_CMP_EQ, TIOCLINUX));

	int rc = r.failed;
	int fd = -1;
	if (rc == 0) {
		fd = memfd_create("srt-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd < 0) {
			rc = -errno;
			snprintf(errbuf, errlen, "cannot create the seccomp filter: memfd_create: %s", strerror(errno));
		}
	}
	if (rc == 0) {
		rc = seccomp_export_bpf(r.ctx, fd);
		if (rc < 0)
			snprintf(errbuf, errlen, "cannot export the seccomp filter: %s", strerror(-rc));
	}
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot seal the seccomp filter: %s", strerror(errno));
	}
	seccomp_release(r.ctx);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	*ret_fd = fd;
	return 0;
}
