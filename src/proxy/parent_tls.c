/* TLS to an https:// parent proxy: a small pump on the loop that speaks TLS on the parent's socket and plaintext on one end of a socket pair, whose other end the proxy uses as it would the parent's socket. */
#include "proxy/parent_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/*
 * Two non-blocking sockets watched with uv_poll: net (TLS, to the parent)
 * and plain (our end of the pair). One buffer per direction; a side is
 * read only while its buffer is empty, which is the back-pressure. The
 * pump ends when both directions have ended (end of stream passed on as
 * close_notify one way, as shutdown(SHUT_WR) the other) or on any error,
 * closing both sockets: the proxy then sees the pair's end close.
 */

#define PUMP_BUF 16384
/* How long a pump the proxy has let go of may still try to hand the
 * parent what it was given (and its close_notify). */
#define PUMP_LINGER_MS 3000

struct parent_tls {
	SSL *ssl;
	int net_fd, plain_fd;
	uv_poll_t net_poll, plain_poll;
	uv_timer_t linger;       /* armed once released: the end, whatever the parent does */
	int handles;             /* handles not yet closed */
	int refs;                /* the caller's reference, and the pump's own */
	bool done;
	bool released;           /* the proxy let go: nobody reads what the parent sends */
	bool handshaken;
	bool want_net_read, want_net_write; /* what OpenSSL waits for */
	void (*on_ready)(void *data);  /* the handshake is done; NULL once released */
	void *data;
	unsigned char up[PUMP_BUF];   /* plaintext to encrypt */
	size_t up_off, up_len;
	unsigned char down[PUMP_BUF]; /* decrypted, to hand over */
	size_t down_off, down_len;
	bool plain_eof, net_eof, close_sent, plain_shut;
	char err[200];
};

static SSL_CTX *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_init(void)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	if (!c)
		return;
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_set_default_verify_paths(c) != 1) {
		SSL_CTX_free(c);
		return;
	}
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ctx = c;
}

/* A write into a socket whose peer has gone raises SIGPIPE: ignored by
 * the CLI, blocked on a library runtime's thread, where it would stay
 * pending: take it (see docs/internals/proxy.md). */
static void sigpipe_take(void)
{
	if (errno != EPIPE)
		return;
	sigset_t pending, one;
	if (sigpending(&pending) < 0 || !sigismember(&pending, SIGPIPE))
		return;
	sigemptyset(&one);
	sigaddset(&one, SIGPIPE);
	const struct timespec now = { 0, 0 };
	sigtimedwait(&one, NULL, &now);
}

static void maybe_free(struct parent_tls *t)
{
	if (t->refs == 0 && t->handles == 0) {
		SSL_free(t->ssl);
		free(t);
	}
}

static void on_closed(uv_handle_t *h)
{
	struct parent_tls *t = h->data;
	t->handles--;
	maybe_free(t);
}

static void finish(struct parent_tls *t)
{
	if (t->done)
		return;
	t->done = true;
	uv_close((uv_handle_t *)&t->net_poll, on_closed);
	uv_close((uv_handle_t *)&t->plain_poll, on_closed);
	uv_close((uv_handle_t *)&t->linger, on_closed);
	close(t->net_fd);
	close(t->plain_fd);
	t->refs--; /* the pump's own */
}

static void fail_ssl(struct parent_tls *t, const char *what)
{
	if (!t->err[0]) {
		long vr = SSL_get_verify_result(t->ssl);
		unsigned long e = ERR_peek_last_error();
		if (vr != X509_V_OK)
			snprintf(t->err, sizeof(t->err), "TLS: the parent's certificate: %s",
				 X509_verify_cert_error_string(vr));
		else if (e)
			snprintf(t->err, sizeof(t->err), "TLS: %s: %s", what, ERR_reason_error_string(e) ?
				 ERR_reason_error_string(e) : "error");
		else
			snprintf(t->err, sizeof(t->err), "TLS: %s failed", what);
	}
	ERR_clear_error();
	finish(t);
}

static void update(struct parent_tls *t);
static void on_poll(uv_poll_t *p, int status, int events);

/* Move what can move; returns false when the pump ended. */
static bool pump(struct parent_tls *t)
{
	t->want_net_read = t->want_net_write = false;
	if (!t->handshaken) {
		ERR_clear_error();
		int r = SSL_do_handshake(t->ssl);
		if (r != 1) {
			sigpipe_take();
			int e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				t->want_net_read = true;
			else if (e == SSL_ERROR_WANT_WRITE)
				t->want_net_write = true;
			else {
				fail_ssl(t, "handshake");
				return false;
			}
			return true;
		}
		t->handshaken = true;
		if (t->on_ready)
			t->on_ready(t->data);
		if (t->done)
			return false;
	}
	for (int rounds = 0; rounds < 64; rounds++) {
		bool moved = false;
		/* plaintext -> TLS */
		if (t->up_len == t->up_off && !t->plain_eof) {
			ssize_t n = read(t->plain_fd, t->up, sizeof(t->up));
			if (n > 0) {
				t->up_off = 0;
				t->up_len = (size_t)n;
				moved = true;
			} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				t->plain_eof = true;
				moved = true;
			}
		}
		if (t->up_len > t->up_off) {
			ERR_clear_error();
			int w = SSL_write(t->ssl, t->up + t->up_off, (int)(t->up_len - t->up_off));
			if (w > 0) {
				t->up_off += (size_t)w;
				moved = true;
			} else {
				int e = SSL_get_error(t->ssl, w);
				if (e == SSL_ERROR_WANT_READ)
					t->want_net_read = true;
				else if (e == SSL_ERROR_WANT_WRITE)
					t->want_net_write = true;
				else {
					sigpipe_take();
					fail_ssl(t, "write");
					return false;
				}
			}
		}
		if (t->plain_eof && t->up_len == t->up_off && !t->close_sent) {
			/* The proxy's end of stream: close_notify, then the
			 * TCP half-close, as a tunnel passes it on. */
			ERR_clear_error();
			int r = SSL_shutdown(t->ssl);
			if (r < 0)
				sigpipe_take();
			if (r < 0 && SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_WRITE) {
				t->want_net_write = true;
			} else {
				t->close_sent = true;
				shutdown(t->net_fd, SHUT_WR);
				moved = true;
			}
			ERR_clear_error();
		}
		/* TLS -> plaintext */
		if (t->down_len == t->down_off && !t->net_eof) {
			ERR_clear_error();
			int r = SSL_read(t->ssl, t->down, sizeof(t->down));
			if (r > 0) {
				t->down_off = 0;
				t->down_len = (size_t)r;
				moved = true;
			} else {
				int e = SSL_get_error(t->ssl, r);
				if (e == SSL_ERROR_WANT_READ) {
					t->want_net_read = true;
				} else if (e == SSL_ERROR_WANT_WRITE) {
					t->want_net_write = true;
				} else if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL) {
					/* close_notify, or the parent closed without
					 * one: the end of its stream either way. */
					t->net_eof = true;
					ERR_clear_error();
					moved = true;
				}
			}
		}
		if (t->down_len > t->down_off) {
			ssize_t w = send(t->plain_fd, t->down + t->down_off, t->down_len - t->down_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				t->down_off += (size_t)w;
				moved = true;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				finish(t); /* the proxy closed its end */
				return false;
			}
		}
		if (t->net_eof && t->down_len == t->down_off && !t->plain_shut) {
			t->plain_shut = true;
			shutdown(t->plain_fd, SHUT_WR);
			moved = true;
		}
		if (t->net_eof && t->plain_eof && t->up_len == t->up_off && t->down_len == t->down_off) {
			finish(t);
			return false;
		}
		/* Released, and the parent has all it was given: waiting for
		 * its end of stream would serve nobody (a parent may never
		 * close), and would hold two descriptors and the TLS state. */
		if (t->released && t->close_sent) {
			finish(t);
			return false;
		}
		if (!moved)
			break;
	}
	return true;
}

static void update(struct parent_tls *t)
{
	if (t->done)
		return;
	int net = 0, plain = 0;
	if (t->want_net_read || (t->handshaken && !t->net_eof && t->down_len == t->down_off))
		net |= UV_READABLE;
	if (t->want_net_write)
		net |= UV_WRITABLE;
	if (t->handshaken && !t->plain_eof && t->up_len == t->up_off)
		plain |= UV_READABLE;
	if (!t->handshaken)
		plain |= UV_DISCONNECT; /* the proxy gave up meanwhile */
	if (t->down_len > t->down_off)
		plain |= UV_WRITABLE;
	if (uv_poll_start(&t->net_poll, net, on_poll) < 0 || uv_poll_start(&t->plain_poll, plain, on_poll) < 0) {
		snprintf(t->err, sizeof(t->err), "TLS: cannot watch the sockets");
		finish(t);
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct parent_tls *t = p->data;
	if (t->done)
		return;
	if (status < 0) {
		if (!t->err[0])
			snprintf(t->err, sizeof(t->err), "TLS: %s", uv_strerror(status));
		finish(t);
		return;
	}
	if (p == &t->plain_poll && (events & UV_DISCONNECT) && !t->handshaken) {
		finish(t);
		return;
	}
	if (pump(t))
		update(t);
}

int parent_tls_start(uv_loop_t *loop, int fd, const struct proxy_host *host, void (*on_ready)(void *data),
		     void *data, struct parent_tls **ret)
{
	pthread_once(&ctx_once, ctx_init);
	if (!ctx) {
		close(fd);
		return -ENOTSUP;
	}
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct parent_tls *t = calloc(1, sizeof(*t));
	SSL *ssl = t ? SSL_new(ctx) : NULL;
	if (!t || !ssl || SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		free(t);
		close(fd);
		close(sp[0]);
		close(sp[1]);
		return -ENOMEM;
	}
	t->ssl = ssl;
	t->on_ready = on_ready;
	t->data = data;
	t->net_fd = fd;
	t->plain_fd = sp[1];
	bool ok;
	if (host->kind == PROXY_HOST_NAME) {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
		ok = SSL_set_tlsext_host_name(ssl, host->text) == 1 && SSL_set1_host(ssl, host->text) == 1;
	}
	else
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host->text) == 1;
	SSL_set_connect_state(ssl);
	if (!ok || uv_poll_init_socket(loop, &t->net_poll, fd) < 0) {
		SSL_free(ssl);
		free(t);
		close(fd);
		close(sp[0]);
		close(sp[1]);
		return -ENOMEM;
	}
	t->net_poll.data = t;
	uv_timer_init(loop, &t->linger);
	t->linger.data = t;
	uv_unref((uv_handle_t *)&t->linger);
	if (uv_poll_init_socket(loop, &t->plain_poll, sp[1]) < 0) {
		t->handles = 2;
		t->refs = 1;
		uv_close((uv_handle_t *)&t->net_poll, on_closed);
		uv_close((uv_handle_t *)&t->linger, on_closed);
		t->done = true;
		close(fd);
		close(sp[1]);
		close(sp[0]);
		t->refs = 0;
		return -ENOMEM;
	}
	t->plain_poll.data = t;
	t->handles = 3;
	t->refs = 2;
	/* A pump never holds the loop: a parent that keeps a finished
	 * tunnel open must not keep srt from exiting. */
	uv_unref((uv_handle_t *)&t->net_poll);
	uv_unref((uv_handle_t *)&t->plain_poll);
	/* The handshake starts when the socket is writable. */
	if (uv_poll_start(&t->net_poll, UV_WRITABLE, on_poll) < 0 ||
	    uv_poll_start(&t->plain_poll, UV_DISCONNECT, on_poll) < 0) {
		snprintf(t->err, sizeof(t->err), "TLS: cannot watch the socket");
		finish(t);
	}
	*ret = t;
	return sp[0];
}

const char *parent_tls_error(const struct parent_tls *t)
{
	return t ? t->err : "";
}

bool parent_tls_ready(const struct parent_tls *t)
{
	return t && t->handshaken;
}

static void on_linger(uv_timer_t *tm)
{
	finish(tm->data);
}

void parent_tls_release(struct parent_tls *t)
{
	if (!t)
		return;
	t->on_ready = NULL;
	t->released = true;
	if (!t->done) {
		/* What is left to hand the parent goes while the pump runs on
		 * (see pump()), for a bounded time: a parent that neither
		 * reads nor closes must not keep it. */
		if (t->close_sent)
			finish(t);
		else
			uv_timer_start(&t->linger, on_linger, PUMP_LINGER_MS, 0);
	}
	t->refs--;
	maybe_free(t);
}
