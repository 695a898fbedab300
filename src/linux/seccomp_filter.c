/* The seccomp filter of the sandbox, built for srt-init to load. */
#include "linux/seccomp_filter.h"
#include "linux/observer.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stdint.h>
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

/* socket()'s family and ioctl()'s request are 32-bit in the kernel, which
 * ignores the upper half of the register. libseccomp's SCMP_CMP_EQ (its
 * _32 macros too) also requires the upper half to be 0, so
 * socket(AF_UNIX | 1ul << 32, ...) slipped past such a rule: compare the
 * low half only. */
#define LOW32_EQ(arg, value) \
	((struct scmp_arg_cmp){ (arg), SCMP_CMP_MASKED_EQ, 0xffffffffULL, (uint32_t)(value) })

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

/* Write ctx as classic BPF into a new sealed memfd. */
static int export_sealed(scmp_filter_ctx ctx, const char *name, int *ret_fd, char *errbuf, size_t errlen)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		int e = errno;
		snprintf(errbuf, errlen, "cannot create the seccomp filter: memfd_create: %s", strerror(e));
		return -e;
	}
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		snprintf(errbuf, errlen, "cannot export the seccomp filter: %s", strerror(-rc));
	if (rc == 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
		rc = -errno;
		snprintf(errbuf, errlen, "cannot seal the seccomp filter: %s", strerror(errno));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	*ret_fd = fd;
	return 0;
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

	if (!opts->allow_unix_sockets && !opts->observer_handles_unix)
		add1(&r, EPERM, "socket", LOW32_EQ(0, AF_UNIX));
	add1(&r, EPERM, "socket", LOW32_EQ(0, AF_VSOCK));

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

	add1(&r, EPERM, "ioctl", LOW32_EQ(1, TIOCSTI));
	add1(&r, EPERM, "ioctl", LOW32_EQ(1, TIOCLINUX));

	/* Keyrings are not namespaced: by serial, or through the user,
	 * user-session and persistent keyrings, the command could read and
	 * add the caller's keys, and they would outlive it. srt-init joins a
	 * session keyring of the sandbox's own before loading this. */
	add0(&r, EPERM, "add_key");
	add0(&r, EPERM, "request_key");
	add0(&r, EPERM, "keyctl");

	int rc = r.failed;
	if (rc == 0)
		rc = export_sealed(r.ctx, "srt-seccomp", ret_fd, errbuf, errlen);
	seccomp_release(r.ctx);
	return rc;
}

int sandbox_seccomp_export_notify(const struct sandbox_observe_options *o, int *ret_fd, char *errbuf, size_t errlen)
{
	*ret_fd = -1;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		snprintf(errbuf, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	/* Other architectures: not ours to report; the enforcement filter
	 * kills them. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
	if (rc < 0)
		snprintf(errbuf, errlen, "cannot build the notify filter: %s", strerror(-rc));
	size_t n = 0;
	const struct observer_syscall *t = observer_syscall_table(&n);
	for (size_t i = 0; i < n && rc == 0; i++) {
		int nr = observer_syscall_nr(&t[i]);
		if (nr < 0)
			continue; /* not on this architecture */
		switch (t[i].trap) {
		case OBS_TRAP_ALWAYS:
			if (o->mode == OBSERVER_BASIC && t[i].op != OBS_EXEC && t[i].op != OBS_CONNECT)
				break;
			rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 0, NULL);
			break;
		case OBS_TRAP_OPEN_FLAGS:
			if (o->mode == OBSERVER_BASIC)
				break;
			if (o->mode == OBSERVER_READS) {
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 0, NULL);
				break;
			}
			/* One rule per bit: rules of a call are alternatives. */
			for (unsigned bit = 1; bit && rc == 0; bit <<= 1) {
				if (!(OBSERVER_OPEN_WRITE_FLAGS & bit))
					continue;
				struct scmp_arg_cmp c = { (unsigned)t[i].arg, SCMP_CMP_MASKED_EQ, bit, bit };
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 1, &c);
			}
			break;
		case OBS_TRAP_UNIX_SOCKET:
			if (o->deny_unix_sockets) {
				struct scmp_arg_cmp c = LOW32_EQ((unsigned)t[i].arg, AF_UNIX);
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 1, &c);
			}
			break;
		case OBS_TRAP_SEND:
			if (o->broker_net)
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 0, NULL);
			break;
		case OBS_TRAP_SEND_ADDR:
			if (o->broker_net) {
				/* The pointer is a register: whether there is an
				 * address cannot change after the filter looked. */
				struct scmp_arg_cmp c = { (unsigned)t[i].arg, SCMP_CMP_NE, 0, 0 };
				rc = seccomp_rule_add_array(ctx, SCMP_ACT_NOTIFY, nr, 1, &c);
			}
			break;
		}
		if (rc < 0) {
			if (rc == -EINVAL || rc == -EOPNOTSUPP)
				rc = -EOPNOTSUPP; /* libseccomp or the kernel has no NOTIFY */
			snprintf(errbuf, errlen, "cannot add the notify rule for %s: %s", t[i].name, strerror(-rc));
		}
	}
	if (rc == 0)
		rc = export_sealed(ctx, "srt-seccomp-notify", ret_fd, errbuf, errlen);
	seccomp_release(ctx);
	return rc;
}
