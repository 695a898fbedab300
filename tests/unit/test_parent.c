/* Unit tests for upstream proxies: proxy URLs, noProxy, routes, the CONNECT response and SOCKS5 reply parsers, the handshakes (every split point), and the environment fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "proxy/parent.h"
#include "proxy/parent_config.h"

static void url_ok(const char *text, enum parent_scheme scheme, const char *host, unsigned port, const char *name)
{
	struct parent_url u;
	const char *why = NULL;
	int r = parent_url_parse(text, &u, &why);
	if (r != 0)
		fail_msg("%s: %s", text, why);
	assert_int_equal(u.scheme, scheme);
	assert_string_equal(u.host.text, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.name, name);
}

static void url_bad(const char *text, const char *says)
{
	struct parent_url u;
	memset(&u, 0x5a, sizeof(u));
	const char *why = NULL;
	assert_int_equal(parent_url_parse(text, &u, &why), -EINVAL);
	assert_non_null(why);
	if (!strstr(why, says))
		fail_msg("%s: '%s' does not say '%s'", text, why, says);
	assert_int_equal(((unsigned char *)&u)[0], 0x5a); /* untouched */
}

static void test_urls(void **state)
{
	(void)state;
	url_ok("http://proxy.example:3128", PARENT_HTTP, "proxy.example", 3128, "http://proxy.example:3128");
	url_ok("proxy.example:3128", PARENT_HTTP, "proxy.example", 3128, "http://proxy.example:3128");
	url_ok("HTTP://Proxy.Example/", PARENT_HTTP, "proxy.example", 80, "http://proxy.example:80");
	url_ok("socks5://10.1.2.3", PARENT_SOCKS5, "10.1.2.3", 1080, "socks5://10.1.2.3:1080");
	url_ok("socks5h://[::1]:9050", PARENT_SOCKS5H, "::1", 9050, "socks5h://[::1]:9050");
	url_ok("https://p.example", PARENT_HTTPS, "p.example", 443, "https://p.example:443");

	struct parent_url u;
	assert_int_equal(parent_url_parse("http://us%40er:p%3Aa%20ss@127.0.0.1:8080", &u, NULL), 0);
	assert_true(u.has_auth);
	assert_string_equal(u.user, "us@er");
	assert_string_equal(u.pass, "p:a ss");
	assert_null(strstr(u.name, "us"));
	assert_int_equal(parent_url_parse("http://user@h", &u, NULL), 0);
	assert_true(u.has_auth);
	assert_string_equal(u.user, "user");
	assert_int_equal(u.pass_len, 0);
	/* The last '@' separates the userinfo; the password keeps ':' */
	assert_int_equal(parent_url_parse("http://a:b:c@h:1", &u, NULL), 0);
	assert_string_equal(u.pass, "b:c");
	parent_url_clear(&u);
	assert_int_equal(u.pass[0], 0);

	url_bad("", "empty");
	url_bad("ftp://h", "unsupported scheme");
	url_bad("socks4://h", "unsupported scheme");
	url_bad("http://h/path", "path");
	url_bad("http://h?x", "path");
	url_bad("http://h#f", "path");
	url_bad("http://h:0", "port");
	url_bad("http://h:65536", "port");
	url_bad("http://h:", "port");
	url_bad("http://", "no host");
	url_bad("http://u:p@", "no host");
	url_bad("http://a%0d%0aX-Evil: 1:p@h", "control character");
	url_bad("http://u:p%0a@h", "control character");
	url_bad("http://u:p%00@h", "control character");
	url_bad("http://u%3a:p@h", "':' in the user name");
	url_bad("http://u%zz@h", "%-escape");
	url_bad("http://u%4@h", "%-escape");
	url_bad("http://u%@h", "%-escape");
	url_bad("http://u p@h", "must be %-escaped");
	url_bad("http://h h:1", "");
	url_bad("http://h\r\n:1", "");
	url_bad("http://::1:80", "");
	url_bad("http://[fe80::1%25eth0]:80", "");
	char longuser[300];
	memset(longuser, 'a', 256);
	strcpy(longuser + 256, "@h");
	char buf[320];
	snprintf(buf, sizeof(buf), "http://%s", longuser);
	url_bad(buf, "longer than 255");

	const char *why;
	assert_int_equal(parent_url_unix("/run/mitm.sock", &u, &why), 0);
	assert_int_equal(u.scheme, PARENT_UNIX);
	assert_string_equal(u.name, "mitmProxy socket /run/mitm.sock");
	assert_int_equal(parent_url_unix("mitm.sock", &u, &why), -EINVAL);
	assert_int_equal(parent_url_unix("/a\nb", &u, &why), -EINVAL);
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(parent_url_unix(longpath, &u, &why), -EINVAL);
}

static struct proxy_host H(const char *text)
{
	struct proxy_host h;
	assert_int_equal(proxy_host_canonical(text, strlen(text), &h, NULL), 0);
	return h;
}

static void test_no_proxy(void **state)
{
	(void)state;
	struct no_proxy np;
	const char *why = NULL;
	size_t bad = 0;
	assert_int_equal(no_proxy_parse(" example.com, .corp.test,*.wild.test , 10.0.0.0/8,192.0.2.7,[2001:db8::1]:443,"
					 "port.test:8080,TRAIL.test.,,",
					 true, &np, &why, &bad), 0);
	struct proxy_host yes[] = { H("example.com"), H("a.example.com"), H("corp.test"), H("x.y.corp.test"),
				    H("wild.test"), H("a.wild.test"), H("10.200.0.1"), H("192.0.2.7"),
				    H("[2001:db8::1]"), H("port.test"), H("trail.test"), H("localhost"), H("a.localhost"),
				    H("127.0.0.1"), H("127.9.9.9"), H("[::1]") };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!no_proxy_match(&np, &yes[i]))
			fail_msg("%s should bypass", yes[i].text);
	struct proxy_host no[] = { H("notexample.com"), H("example.com.evil.test"), H("corp.test.evil"),
				   H("11.0.0.1"), H("192.0.2.8"), H("[2001:db8::2]"), H("localhost.evil.test") };
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (no_proxy_match(&np, &no[i]))
			fail_msg("%s should not bypass", no[i].text);
	no_proxy_free(&np);

	assert_int_equal(no_proxy_parse("a.test,*", true, &np, &why, &bad), 0);
	assert_true(no_proxy_match(&np, &no[0]));
	no_proxy_free(&np);
	/* Without any list, loopback still bypasses. */
	assert_true(no_proxy_match(NULL, &yes[11]));
	assert_false(no_proxy_match(NULL, &no[0]));

	assert_int_equal(no_proxy_parse("ok.test, 10.0.0.0/99", true, &np, &why, &bad), -EINVAL);
	assert_int_equal(bad, 1);
	assert_int_equal(no_proxy_parse("ok.test,bad name", true, &np, &why, &bad), -EINVAL);
	/* The name's own fault, not a guess from an unset kind. */
	assert_string_equal(why, "space in host");
	assert_int_equal(no_proxy_parse("a..test", true, &np, &why, &bad), -EINVAL);
	assert_non_null(strstr(why, "empty label"));
	assert_int_equal(no_proxy_parse("10.1", true, &np, &why, &bad), -EINVAL);
	assert_string_equal(why, "not a name");
	assert_int_equal(no_proxy_parse("[::1", true, &np, &why, &bad), -EINVAL);
	/* Lenient (the environment): bad entries are skipped. */
	assert_int_equal(no_proxy_parse("bad name, 10.0.0.0/99, ok.test", false, &np, &why, &bad), 0);
	assert_int_equal(np.n_names, 1);
	no_proxy_free(&np);
	char many[NO_PROXY_MAX * 8 + 64] = "";
	for (int i = 0; i <= NO_PROXY_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "h%d.t,", i);
	assert_int_equal(no_proxy_parse(many, false, &np, &why, &bad), -E2BIG);
}

static void test_http_head(void **state)
{
	(void)state;
	int status = 0;
	const char ok[] = "HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\nTARGET";
	size_t head = sizeof(ok) - 1 - 6;
	for (size_t i = 0; i < head; i++)
		assert_int_equal(parent_parse_http_head((const uint8_t *)ok, i, &status), 0);
	assert_int_equal(parent_parse_http_head((const uint8_t *)ok, sizeof(ok) - 1, &status), (int)head);
	assert_int_equal(status, 200);
	assert_int_equal(parent_parse_http_head((const uint8_t *)"HTTP/1.0 407\n\n", 14, &status), 14);
	assert_int_equal(status, 407);
	static const char *const bad[] = {
		"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 600 X\r\n\r\n", "HTTP/1.1 099 X\r\n\r\n",
		"HTTP/1.1 200OK\r\n\r\n", "SSH-2.0-x\r\n\r\n", "HTTP/1.1 200 OK\r\nA: \001\r\n\r\n", "\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parent_parse_http_head((const uint8_t *)bad[i], strlen(bad[i]), &status) >= 0)
			fail_msg("accepted: %s", bad[i]);
	/* A head that never ends is refused at PARENT_HEAD_MAX. */
	size_t n = PARENT_HEAD_MAX + 10;
	uint8_t *big = malloc(n);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', n - 20);
	assert_int_equal(parent_parse_http_head(big, PARENT_HEAD_MAX - 1, &status), 0);
	assert_true(parent_parse_http_head(big, n, &status) < 0);
	free(big);
}

static void test_socks_reply(void **state)
{
	(void)state;
	uint8_t rep = 0xee;
	const uint8_t v4[] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 80, 'x' };
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(parent_parse_socks_reply(v4, i, &rep), 0);
	assert_int_equal(parent_parse_socks_reply(v4, sizeof(v4), &rep), 10);
	assert_int_equal(rep, 0);
	const uint8_t dom[] = { 5, 2, 0, 3, 3, 'a', 'b', 'c', 0, 1 };
	assert_int_equal(parent_parse_socks_reply(dom, sizeof(dom), &rep), 10);
	assert_int_equal(rep, 2);
	const uint8_t v6[22] = { 5, 0, 0, 4 };
	assert_int_equal(parent_parse_socks_reply(v6, 21, &rep), 0);
	assert_int_equal(parent_parse_socks_reply(v6, 22, &rep), 22);
	const uint8_t bad1[] = { 4, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	const uint8_t bad2[] = { 5, 0, 1, 1, 0, 0, 0, 0, 0, 0 };
	const uint8_t bad3[] = { 5, 0, 0, 9, 0, 0, 0, 0, 0, 0 };
	assert_true(parent_parse_socks_reply(bad1, sizeof(bad1), &rep) < 0);
	assert_true(parent_parse_socks_reply(bad2, sizeof(bad2), &rep) < 0);
	assert_true(parent_parse_socks_reply(bad3, sizeof(bad3), &rep) < 0);
}

static void test_connect_request(void **state)
{
	(void)state;
	struct parent_url u;
	assert_int_equal(parent_url_parse("http://Aladdin:open%20sesame@p:1", &u, NULL), 0);
	struct proxy_host h = H("example.com");
	size_t n = 0;
	char *req = parent_connect_request(&u, &h, 443, &n);
	assert_string_equal(req, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
				 "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
	assert_int_equal(n, strlen(req));
	free(req);
	assert_int_equal(parent_url_parse("http://p:1", &u, NULL), 0);
	h = H("[2001:db8::1]");
	req = parent_connect_request(&u, &h, 22, &n);
	assert_string_equal(req, "CONNECT [2001:db8::1]:22 HTTP/1.1\r\nHost: [2001:db8::1]:22\r\n\r\n");
	free(req);
}

/* Feed the whole answer byte by byte: every split point. */
static int feed_all(struct parent_hs *hs, const uint8_t *in, size_t len, size_t *used_total, char **sent)
{
	size_t off = 0, have = 0;
	*used_total = 0;
	for (;;) {
		if (have < len - off)
			have++;
		size_t used = 0, n = 0;
		char *out = NULL;
		int r = parent_hs_feed(hs, in + off, have, &used, &out, &n);
		off += used;
		have -= used;
		*used_total += used;
		if (r == PARENT_SEND) {
			if (sent) {
				free(*sent);
				*sent = malloc(n + 1);
				memcpy(*sent, out, n);
				(*sent)[n] = '\0';
			}
			free(out);
			continue;
		}
		if (r != PARENT_MORE || off + have >= len)
			return r;
	}
}

static void test_handshakes(void **state)
{
	(void)state;
	struct parent_url u;
	struct parent_hs hs;
	char *out = NULL;
	size_t n = 0, used = 0;
	struct proxy_host h = H("target.test");

	assert_int_equal(parent_url_parse("http://p:1", &u, NULL), 0);
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	free(out);
	const char ok[] = "HTTP/1.1 200 OK\r\n\r\nSSH-2.0";
	assert_int_equal(feed_all(&hs, (const uint8_t *)ok, sizeof(ok) - 1, &used, NULL), PARENT_READY);
	assert_int_equal(used, 19);
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	free(out);
	const char no[] = "HTTP/1.1 407 Auth\r\n\r\n";
	assert_int_equal(feed_all(&hs, (const uint8_t *)no, sizeof(no) - 1, &used, NULL), PARENT_AUTH);
	char msg[160];
	parent_hs_describe(&hs, PARENT_AUTH, msg, sizeof(msg));
	assert_string_equal(msg, "requires authentication (HTTP 407)");

	/* socks5h with credentials: greeting, RFC 1929, request by name. */
	assert_int_equal(parent_url_parse("socks5h://al:pw@p", &u, NULL), 0);
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x05\x02\x00\x02", 4);
	free(out);
	const uint8_t ans[] = { 5, 2, 1, 0, 5, 0, 0, 1, 1, 2, 3, 4, 0, 1, 'Z' };
	char *sent = NULL;
	assert_int_equal(feed_all(&hs, ans, sizeof(ans), &used, &sent), PARENT_READY);
	assert_int_equal(used, sizeof(ans) - 1);
	assert_memory_equal(sent, "\x05\x01\x00\x03\x0btarget.test\x01\xbb", 18);
	free(sent);
	/* Auth refused. */
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	free(out);
	const uint8_t deny[] = { 5, 2, 1, 1 };
	assert_int_equal(feed_all(&hs, deny, sizeof(deny), &used, NULL), PARENT_AUTH);
	/* No method acceptable. */
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	free(out);
	const uint8_t none[] = { 5, 0xff };
	assert_int_equal(feed_all(&hs, none, sizeof(none), &used, NULL), PARENT_AUTH);
	/* The parent picks user/password we never offered. */
	assert_int_equal(parent_url_parse("socks5h://p", &u, NULL), 0);
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	assert_memory_equal(out, "\x05\x01\x00", 3);
	free(out);
	const uint8_t unoffered[] = { 5, 2 };
	assert_int_equal(feed_all(&hs, unoffered, sizeof(unoffered), &used, NULL), PARENT_AUTH);
	/* Refused request. */
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 443, &out, &n), PARENT_SEND);
	free(out);
	const uint8_t refused[] = { 5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(feed_all(&hs, refused, sizeof(refused), &used, NULL), PARENT_REFUSED);
	parent_hs_describe(&hs, PARENT_REFUSED, msg, sizeof(msg));
	assert_string_equal(msg, "refused: connection refused (SOCKS5 5)");

	/* socks5:// with the address srt resolved. */
	assert_int_equal(parent_url_parse("socks5://p", &u, NULL), 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	inet_pton(AF_INET, "192.0.2.9", &a.sin_addr);
	assert_int_equal(parent_hs_start(&hs, &u, &h, (struct sockaddr *)&a, 80, &out, &n), PARENT_SEND);
	free(out);
	const uint8_t okv4[] = { 5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	sent = NULL;
	assert_int_equal(feed_all(&hs, okv4, sizeof(okv4), &used, &sent), PARENT_READY);
	assert_memory_equal(sent, "\x05\x01\x00\x01\xc0\x00\x02\x09\x00\x50", 10);
	free(sent);
	/* Garbage. */
	assert_int_equal(parent_hs_start(&hs, &u, &h, NULL, 80, &out, &n), PARENT_SEND);
	free(out);
	const uint8_t junk[] = { 'H', 'T' };
	assert_int_equal(feed_all(&hs, junk, sizeof(junk), &used, NULL), PARENT_MALFORMED);
}

/* ---- settings and the environment ---------------------------------------- */

static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
	for (const char *const *e = fake_env; e && *e; e += 2)
		if (strcmp(e[0], name) == 0)
			return e[1];
	return NULL;
}

static struct proxy_upstream *from(const char *json, const char *const *env, int want, const char *says,
				   struct strv *warnings)
{
	struct config cfg;
	config_init(&cfg);
	struct srt_error err = { 0 };
	int r = config_parse_text(&cfg, "/s.json", json, strlen(json), CONFIG_ORIGIN_USER, true, &err);
	struct proxy_upstream *u = NULL;
	if (r == 0) {
		fake_env = env;
		r = proxy_upstream_from_config_env(&cfg, fake_getenv, &u, warnings, &err);
	}
	config_free(&cfg);
	if (r != want)
		fail_msg("%s: %d (%s)", json, r, err.message);
	if (says && !strstr(err.message, says))
		fail_msg("%s: '%s' does not say '%s'", json, err.message, says);
	return u;
}

static void test_from_config(void **state)
{
	(void)state;
	struct strv w = { 0 };
	const char *const none[] = { NULL };
	assert_null(from("{}", none, 0, NULL, &w));

	const char *const env[] = { "HTTP_PROXY", "http://env:1", "https_proxy", "socks5h://envs:2",
				    "no_proxy", "skip.test,bad name", NULL };
	struct proxy_upstream *u = from("{}", env, 0, NULL, &w);
	assert_non_null(u);
	assert_string_equal(u->http.name, "http://env:1");
	assert_string_equal(u->https.name, "socks5h://envs:2");
	struct proxy_host t = H("x.test"), s = H("skip.test");
	assert_ptr_equal(proxy_upstream_route(u, &t, 80, true), &u->http);
	assert_ptr_equal(proxy_upstream_route(u, &t, 443, false), &u->https);
	assert_null(proxy_upstream_route(u, &s, 443, false));
	proxy_upstream_free(u);

	/* Settings win, key by key; https falls back to http for tunnels
	 * only; plain HTTP without http goes direct. */
	u = from("{\"network\": {\"parentProxy\": {\"http\": \"http://set:3\", \"noProxy\": \"\"}}}", env, 0, NULL, &w);
	assert_string_equal(u->http.name, "http://set:3");
	assert_string_equal(u->https.name, "socks5h://envs:2");
	assert_non_null(proxy_upstream_route(u, &s, 443, false)); /* noProxy "" from the settings */
	proxy_upstream_free(u);
	u = from("{\"network\": {\"parentProxy\": {\"https\": \"http://set:3\"}}}", none, 0, NULL, &w);
	assert_null(proxy_upstream_route(u, &t, 80, true));
	assert_non_null(proxy_upstream_route(u, &t, 443, false));
	proxy_upstream_free(u);
	u = from("{\"network\": {\"parentProxy\": {\"http\": \"http://set:3\"}}}", none, 0, NULL, &w);
	assert_ptr_equal(proxy_upstream_route(u, &t, 443, false), &u->http);
	proxy_upstream_free(u);

	/* Bad variables: ignored with a warning that shows no credentials. */
	strv_clear(&w);
	const char *const bad_env[] = { "HTTPS_PROXY", "gopher://sec:ret@h", "HTTP_PROXY", "http://a%0a:b@h", NULL };
	assert_null(from("{}", bad_env, 0, NULL, &w));
	assert_int_equal(w.n, 2);
	for (size_t i = 0; i < w.n; i++)
		assert_null(strstr(w.v[i], "ret"));
	strv_clear(&w);

	/* mitmProxy: both keys, valid domains; it wins over the parent. */
	u = from("{\"network\": {\"mitmProxy\": {\"socketPath\": \"/run/m.sock\", \"domains\": [\"*.m.test\", \"a.test:8443\"]},"
		 "\"parentProxy\": {\"http\": \"http://p:1\"}}}",
		 none, 0, NULL, &w);
	struct proxy_host m = H("x.m.test"), a = H("a.test");
	assert_ptr_equal(proxy_upstream_route(u, &m, 443, false), &u->mitm);
	assert_ptr_equal(proxy_upstream_route(u, &a, 8443, false), &u->mitm);
	assert_ptr_equal(proxy_upstream_route(u, &a, 443, false), &u->http);
	proxy_upstream_free(u);
	from("{\"network\": {\"mitmProxy\": {\"domains\": [\"a.test\"]}}}", none, -EINVAL, "socketPath is missing", &w);
	from("{\"network\": {\"mitmProxy\": {\"socketPath\": \"/m\"}}}", none, -EINVAL, "domains is missing", &w);
	from("{\"network\": {\"mitmProxy\": {\"socketPath\": \"/m\", \"domains\": [\"*.com\"]}}}", none, -EINVAL,
	     "network.mitmProxy.domains[0]", &w);
	from("{\"network\": {\"parentProxy\": {\"http\": \"http://u:se%0Dcret@h\"}}}", none, -EINVAL,
	     "/s.json:1:38: network.parentProxy.http: a control character", &w);
	from("{\"network\": {\"parentProxy\": {\"http\": 3}}}", none, -EINVAL, "expected a proxy URL", &w);
	strv_clear(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_no_proxy),
		cmocka_unit_test(test_http_head),
		cmocka_unit_test(test_socks_reply),
		cmocka_unit_test(test_connect_request),
		cmocka_unit_test(test_handshakes),
		cmocka_unit_test(test_from_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
