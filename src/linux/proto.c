/* The tiny message format spoken between the supervisor and srt-init over a socketpair. */
#include "linux/proto.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct proto_head {
	uint32_t type;
	uint32_t len;
};

int proto_send(int sock, uint32_t type, const void *payload, uint32_t len,
	       const int *fds, size_t nfds)
{
	if (len > PROTO_MAX_PAYLOAD || nfds > PROTO_MAX_FDS)
		return -EINVAL;
	struct proto_head head = { .type = type, .len = len };
	struct iovec iov[2] = {
		{ .iov_base = &head, .iov_len = sizeof(head) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	if (nfds) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != sizeof(head) + len)
		return -EMSGSIZE;
	return 0;
}

int proto_recv(int sock, uint32_t *ret_type, void *payload, uint32_t *ret_len,
	       int *fds, size_t *ret_nfds, pid_t *ret_pid)
{
	struct proto_head head;
	struct iovec iov[2] = {
		{ .iov_base = &head, .iov_len = sizeof(head) },
		{ .iov_base = payload, .iov_len = PROTO_MAX_PAYLOAD },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * PROTO_MAX_FDS) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} control;
	struct msghdr msg = {
		.msg_iov = iov, .msg_iovlen = 2,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	size_t nfds = 0;
	pid_t pid = 0;
	ssize_t n;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -EPIPE;

	int r = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int *in = (int *)CMSG_DATA(c);
			for (size_t i = 0; i < k; i++) {
				int fd;
				memcpy(&fd, in + i, sizeof(fd));
				if (nfds < PROTO_MAX_FDS && fds)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		} else if (c->cmsg_type == SCM_CREDENTIALS &&
			   c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			pid = cred.pid;
		}
	}
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		r = -EBADMSG;
	else if ((size_t)n < sizeof(head) || head.len > PROTO_MAX_PAYLOAD ||
		 (size_t)n != sizeof(head) + head.len)
		r = -EBADMSG;
	if (r < 0) {
		for (size_t i = 0; i < nfds; i++)
			close(fds[i]);
		return r;
	}
	*ret_type = head.type;
	if (ret_len)
		*ret_len = head.len;
	if (ret_nfds)
		*ret_nfds = nfds;
	if (ret_pid)
		*ret_pid = pid;
	return 0;
}
