/* libFuzzer target: the supervisor <-> srt-init message reader (proto_recv), the private /tmp's report in a PROTO_EXIT payload, and the runtime folders' name check (runtime_dir_name). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "linux/mountplan.h"
#include "linux/proto.h"
#include "runtime.h"

/* "PID.XXXXXX": 1 to 9 digits without a leading zero, a dot, six letters
 * or digits, and nothing else; written independently of the checker. */
static int name_reference(const char *s)
{
	size_t d = strspn(s, "0123456789");
	if (d == 0 || d > 9 || s[0] == '0' || s[d] != '.')
		return 0;
	const char *x = s + d + 1;
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	return strspn(x, alnum) == 6 && x[6] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 64) {
		char name[64];
		memcpy(name, data, size);
		name[size] = '\0';
		if ((int)runtime_dir_name(name) != name_reference(name))
			abort();
	}
	static int sv[2] = { -1, -1 };
	if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (size > 2 * PROTO_MAX_PAYLOAD)
		return 0;
	/* One datagram of arbitrary bytes, as a hostile peer would send it. */
	if (send(sv[1], data, size, MSG_DONTWAIT) != (ssize_t)size)
		return 0;
	static char payload[PROTO_MAX_PAYLOAD];
	uint32_t type = 0, len = 0;
	int fds[PROTO_MAX_FDS];
	size_t nfds = 0;
	pid_t pid = 0;
	int r = proto_recv(sv[0], &type, payload, &len, fds, &nfds, &pid);
	if (r == 0 && len > PROTO_MAX_PAYLOAD)
		abort();
	if (r == 0)
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
	/* Whatever srt-init (inside the sandbox) puts after its status. */
	struct mount_tmp_report t;
	if (mount_tmp_report_read(data, size, &t) == 0) {
		size_t off = 0, seen = 0;
		for (const char *q; (q = mount_tmp_report_next(&t, &off)); seen++)
			if (q < t.names || q + strlen(q) >= t.names + t.names_len || off > t.names_len)
				abort();
		if (seen > t.names_len)
			abort();
	}
	return 0;
}
