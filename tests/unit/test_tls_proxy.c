/* Unit tests of TLS termination in the proxy itself (network.tlsTerminate): a proxy_server with a CA on a libuv loop in a thread (proxy_harness.h), a hostile TLS client on 127.0.0.1 driving OpenSSL by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define SETTINGS "/etc/test-tls-proxy.json"
#include "proxy_harness.h"

#include <fcntl.h>
#include <poll.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "proxy/tls.h"

static struct tls_ca *ca;
static struct tls_terminate term;
static struct net_policy *np;

/* Small socket buffers, fixed (no autotuning): what the kernel holds is
 * then small next to what a test measures. */
static void small_buffers(int fd)
{
	int sz = 64 * 1024;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

/* A proxy that terminates TLS, its HTTP listener with small buffers
 * (accepted sockets inherit them). */
static void start(const char *settings)
{
	char err[256] = "";
	assert_int_equal(tls_ca_new_ephemeral(&ca, err, sizeof(err)), 0);
	term = (struct tls_terminate){ .ca = ca, .max_tunnels = 16, .handshake_timeout_ms = 10000 };
	np = build_policy(settings);
	fx_init();
	struct proxy_options o = fx_options(np);
	o.tls = &term;
	assert_int_equal(proxy_server_new(&F.loop, &o, &F.srv), 0);
	int fd = listen_on("127.0.0.1", &F.http_port);
	small_buffers(fd);
	assert_int_equal(proxy_server_listen(F.srv, PROXY_KIND_HTTP, fd, NULL, 0), 0);
	fx_run();
}

static void stop(void)
{
	fx_join();
	net_policy_free(np);
	tls_ca_free(ca);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		assert_true(k > 0);
		p += k;
		n -= (size_t)k;
	}
}

/* CONNECT through the proxy to 127.0.0.1:port, then a TLS 1.3 handshake
 * (the leaf is not checked here) over memory BIOs; returns the socket. */
static int tunnel_tls(int port, SSL **ret)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	small_buffers(fd);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)F.http_port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	set_timeouts(fd);
	char req[128], resp[512];
	snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n", port, port);
	write_all(fd, req, strlen(req));
	size_t have = 0;
	while (have < sizeof(resp) - 1 && !strstr(resp, "\r\n\r\n")) {
		ssize_t k = read(fd, resp + have, 1);
		assert_true(k == 1);
		resp[++have] = '\0';
	}
	assert_prefix(resp, "HTTP/1.1 200");

	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL *ssl = SSL_new(ctx);
	SSL_CTX_free(ctx);
	BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());
	SSL_set_bio(ssl, in, out);
	SSL_set_connect_state(ssl);
	char buf[16384];
	for (;;) {
		int r = SSL_do_handshake(ssl);
		int n;
		while ((n = BIO_read(out, buf, sizeof(buf))) > 0)
			write_all(fd, buf, (size_t)n);
		if (r == 1)
			break;
		assert_int_equal(SSL_get_error(ssl, r), SSL_ERROR_WANT_READ);
		ssize_t k = read(fd, buf, sizeof(buf));
		assert_true(k > 0);
		BIO_write(in, buf, (int)k);
	}
	*ret = ssl;
	return fd;
}

/*
 * A client that asks for a KeyUpdate in every record and never reads: each
 * one makes the proxy's TLS engine answer with a KeyUpdate of its own,
 * bytes for a client that takes none. The proxy must stop reading such a
 * client once its answers pile up, as it does for any other data, rather
 * than queue them in memory without end. Observed from outside: the
 * client's writes block, long before all it wanted to send went through.
 */
static void test_key_update_flood_is_held_back(void **state)
{
	(void)state;
	/* A server that never answers: the server's leg stays in its
	 * handshake; the client's leg is up. */
	int up_port;
	int up = listen_on("127.0.0.1", &up_port);
	start("{\"network\": {\"allowedDomains\": [\"127.0.0.1\"]}}");
	SSL *ssl;
	int fd = tunnel_tls(up_port, &ssl);
	assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
	BIO *out = SSL_get_wbio(ssl);
	const size_t goal = 6u << 20, enough = 3u << 20;
	size_t sent = 0;
	bool blocked = false;
	char buf[65536];
	while (!blocked && sent < goal) {
		for (int i = 0; i < 1000; i++) {
			assert_int_equal(SSL_key_update(ssl, SSL_KEY_UPDATE_REQUESTED), 1);
			assert_int_equal(SSL_do_handshake(ssl), 1);
		}
		int n;
		while (!blocked && (n = BIO_read(out, buf, sizeof(buf))) > 0) {
			for (int off = 0; off < n;) {
				ssize_t k = write(fd, buf + off, (size_t)(n - off));
				if (k > 0) {
					off += (int)k;
					sent += (size_t)k;
					continue;
				}
				if (k >= 0 || errno != EAGAIN)
					fail_msg("the proxy took %zu bytes of KeyUpdate requests, then: %s", sent,
						 k < 0 ? strerror(errno) : "end of stream");
				struct pollfd p = { .fd = fd, .events = POLLOUT };
				if (poll(&p, 1, 2000) == 0) {
					blocked = true;
					break;
				}
			}
		}
	}
	if (!blocked || sent >= enough)
		fail_msg("the proxy took %zu bytes of KeyUpdate requests from a client that reads nothing%s", sent,
			 blocked ? "" : " and was still reading");
	SSL_free(ssl);
	close(fd);
	close(up);
	stop();
}

/*
 * A server whose TLS fails at once (it answers the ClientHello with bytes
 * that are not TLS) and then sends without end, while the client, whose
 * own handshake with the proxy succeeded, says nothing: the proxy must not
 * keep what the failed server sends. Observed from the server: its writes
 * block, long before all it wanted to send went through.
 */
static void test_failed_server_leg_is_not_buffered(void **state)
{
	(void)state;
	int up_port;
	int up = listen_on("127.0.0.1", &up_port);
	small_buffers(up);
	start("{\"network\": {\"allowedDomains\": [\"127.0.0.1\"]}}");
	SSL *ssl;
	int fd = tunnel_tls(up_port, &ssl);
	int s = accept(up, NULL, NULL);
	assert_true(s >= 0);
	char hello[512];
	assert_true(read(s, hello, sizeof(hello)) > 0); /* the proxy's ClientHello */
	assert_int_equal(fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK), 0);
	const size_t goal = 48u << 20, enough = 8u << 20;
	size_t sent = 0;
	bool blocked = false;
	static char junk[65536];
	memset(junk, 'j', sizeof(junk));
	memcpy(junk, "HTTP/1.1 200 OK\r\n", 17);
	while (!blocked && sent < goal) {
		ssize_t k = write(s, junk, sizeof(junk));
		if (k > 0) {
			sent += (size_t)k;
			continue;
		}
		if (k == 0 || errno != EAGAIN)
			break; /* closed by the proxy: fine too */
		struct pollfd p = { .fd = s, .events = POLLOUT };
		if (poll(&p, 1, 2000) == 0)
			blocked = true;
	}
	if (sent >= enough)
		fail_msg("the proxy took %zu bytes from a server whose TLS had failed", sent);
	SSL_free(ssl);
	close(fd);
	close(s);
	close(up);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_update_flood_is_held_back),
		cmocka_unit_test(test_failed_server_leg_is_not_buffered),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
