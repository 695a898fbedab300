/* Unit tests: TLS termination's CA, leaf minting and cache, the memory-buffer engine (a handshake and data between two engines), CA files, the trust bundle. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "proxy/tls.h"

static char tmpdir[] = "/tmp/srt-tls-unit-XXXXXX";

static char *write_tmp(const char *name, const char *text)
{
	char *path = NULL;
	if (asprintf(&path, "%s/%s", tmpdir, name) < 0)
		return NULL;
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* The number of subjectAltName entries, and whether the first is of type. */
static int san_count(X509 *x, int type)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (!g)
		return -1;
	int n = sk_GENERAL_NAME_num(g);
	if (n > 0 && sk_GENERAL_NAME_value(g, 0)->type != type)
		n = -2;
	GENERAL_NAMES_free(g);
	return n;
}

static bool verifies(struct tls_ca *ca, X509 *leaf)
{
	char *pem = tls_ca_cert_pem(ca);
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *cacert = PEM_read_bio_X509(b, NULL, NULL, NULL);
	X509_STORE *st = X509_STORE_new();
	X509_STORE_add_cert(st, cacert);
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_VERIFY_PARAM_set_purpose(X509_STORE_CTX_get0_param(ctx), X509_PURPOSE_SSL_SERVER);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	bool ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	X509_free(cacert);
	BIO_free(b);
	free(pem);
	return ok;
}

static void test_leaves(void **state)
{
	(void)state;
	struct tls_ca *ca = NULL;
	char err[256];
	assert_int_equal(tls_ca_new_ephemeral(&ca, err, sizeof(err)), 0);
	char *pem = tls_ca_cert_pem(ca);
	assert_non_null(strstr(pem, "-----BEGIN CERTIFICATE-----"));
	assert_null(strstr(pem, "PRIVATE"));
	free(pem);

	bool minted = false;
	X509 *a = tls_ca_leaf(ca, "good.test", &minted);
	assert_non_null(a);
	assert_true(minted);
	assert_ptr_equal(tls_ca_leaf(ca, "good.test", &minted), a);
	assert_false(minted);
	assert_int_equal(san_count(a, GEN_DNS), 1);
	assert_int_equal(X509_check_host(a, "good.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(a, "other.test", 0, 0, NULL), 0);
	assert_true(verifies(ca, a));

	X509 *ip = tls_ca_leaf(ca, "127.0.0.1", NULL);
	assert_int_equal(san_count(ip, GEN_IPADD), 1);
	assert_int_equal(X509_check_ip_asc(ip, "127.0.0.1", 0), 1);
	assert_true(verifies(ca, ip));
	X509 *ip6 = tls_ca_leaf(ca, "::1", NULL);
	assert_int_equal(X509_check_ip_asc(ip6, "::1", 0), 1);

	/* A name is one SAN entry whatever it holds: no second name slips in. */
	X509 *odd = tls_ca_leaf(ca, "a.test,DNS:evil.test", NULL);
	assert_int_equal(san_count(odd, GEN_DNS), 1);
	assert_int_equal(X509_check_host(odd, "evil.test", 0, 0, NULL), 0);

	/* A long name (over a CN's 64 characters) still gets its SAN. */
	char longname[200];
	memset(longname, 'a', 70);
	strcpy(longname + 70, ".example.test");
	X509 *lg = tls_ca_leaf(ca, longname, NULL);
	assert_non_null(lg);
	assert_int_equal(X509_check_host(lg, longname, 0, 0, NULL), 1);

	/* The cache is bounded; the least recently used leaf goes first. */
	for (int i = 0; i < TLS_LEAF_CACHE_MAX + 40; i++) {
		char name[32];
		snprintf(name, sizeof(name), "h%d.test", i);
		tls_ca_leaf(ca, name, NULL);
		tls_ca_leaf(ca, "good.test", NULL); /* kept in use */
	}
	assert_int_equal(tls_ca_cached(ca), TLS_LEAF_CACHE_MAX);
	tls_ca_leaf(ca, "good.test", &minted);
	assert_false(minted);
	tls_ca_leaf(ca, "h0.test", &minted);
	assert_true(minted);
	tls_ca_free(ca);
}

/* Move what each engine has for the other until neither has more. */
static void pump(struct tls_io *a, struct tls_io *b)
{
	for (int round = 0; round < 20; round++) {
		size_t n1 = 0, n2 = 0;
		char *p1 = tls_io_take(a, &n1), *p2 = tls_io_take(b, &n2);
		if (!p1 && !p2)
			return;
		if (p1) {
			tls_io_feed(b, p1, n1);
			tls_io_handshake(b);
			tls_io_keep(b);
		}
		if (p2) {
			tls_io_feed(a, p2, n2);
			tls_io_handshake(a);
			tls_io_keep(a);
		}
		free(p1);
		free(p2);
	}
}

static void test_engines(void **state)
{
	(void)state;
	char err[256];
	struct tls_ca *server_side = NULL, *client_side = NULL;
	assert_int_equal(tls_ca_new_ephemeral(&server_side, err, sizeof(err)), 0);
	/* The client trusts what SSL_CERT_FILE names when its CA object is made. */
	char *pem = tls_ca_cert_pem(server_side);
	char *trust = write_tmp("trust.pem", pem);
	free(pem);
	setenv("SSL_CERT_FILE", trust, 1);
	assert_int_equal(tls_ca_new_ephemeral(&client_side, err, sizeof(err)), 0);

	struct tls_io *s = tls_io_server(server_side, "good.test");
	struct tls_io *c = tls_io_client(client_side, "good.test");
	assert_int_equal(tls_io_handshake(c), 0);
	pump(c, s);
	assert_true(tls_io_ready(c));
	assert_true(tls_io_ready(s));
	/* 100 KiB across, several records, read in one go per call. */
	size_t n = 100 * 1024;
	char *data = malloc(n), *back = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)(i * 7);
	assert_int_equal(tls_io_write(c, data, n), 0);
	size_t len = 0;
	char *wire = tls_io_take(c, &len);
	assert_true(len > n);
	assert_int_equal(tls_io_feed(s, wire, len), 0);
	size_t got = 0;
	long k;
	while ((k = tls_io_read(s, back + got, n + 1 - got)) > 0)
		got += (size_t)k;
	assert_int_equal(k, 0);
	tls_io_keep(s);
	free(wire);
	assert_int_equal(got, n);
	assert_memory_equal(data, back, n);
	/* close_notify ends the peer's stream. */
	tls_io_close_notify(c);
	wire = tls_io_take(c, &len);
	tls_io_feed(s, wire, len);
	assert_int_equal(tls_io_read(s, back, 16), -1);
	tls_io_keep(s);
	free(wire);
	tls_io_free(c);
	tls_io_free(s);

	/* A name the leaf does not hold: the client refuses, and says why. */
	s = tls_io_server(server_side, "good.test");
	c = tls_io_client(client_side, "other.test");
	tls_io_handshake(c);
	pump(c, s);
	assert_true(tls_io_failed(c));
	assert_non_null(strstr(tls_io_error(c), "mismatch"));
	tls_io_free(c);
	tls_io_free(s);

	/* A CA the client does not trust. */
	struct tls_ca *stranger = NULL;
	assert_int_equal(tls_ca_new_ephemeral(&stranger, err, sizeof(err)), 0);
	s = tls_io_server(stranger, "good.test");
	c = tls_io_client(client_side, "good.test");
	tls_io_handshake(c);
	pump(c, s);
	assert_true(tls_io_failed(c));
	assert_non_null(strstr(tls_io_error(c), "certificate verify failed"));
	tls_io_free(c);
	tls_io_free(s);

	/* Garbage instead of a handshake fails, it does not hang. */
	s = tls_io_server(server_side, "good.test");
	tls_io_feed(s, "GET / HTTP/1.1\r\n\r\n", 18);
	assert_int_equal(tls_io_handshake(s), -1);
	tls_io_free(s);

	unsetenv("SSL_CERT_FILE");
	free(data);
	free(back);
	free(trust);
	tls_ca_free(stranger);
	tls_ca_free(server_side);
	tls_ca_free(client_side);
}

static void test_ca_files(void **state)
{
	(void)state;
	char err[512];
	struct tls_ca *ca = NULL, *other = NULL;
	assert_int_equal(tls_ca_new_ephemeral(&other, err, sizeof(err)), 0);
	char *pem = tls_ca_cert_pem(other);
	char *cert = write_tmp("ca.pem", pem);
	char *junk = write_tmp("junk.pem", "hello\n");
	free(pem);
	assert_true(tls_ca_load("/nonexistent/ca.pem", junk, &ca, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "cannot read /nonexistent/ca.pem"));
	assert_true(tls_ca_load(junk, junk, &ca, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "holds no PEM certificate"));
	assert_true(tls_ca_load(cert, junk, &ca, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "holds no PEM private key"));
	assert_null(ca);

	/* The bundle: our CA first, missing extra files named as skipped. */
	const char *extra[] = { "/nonexistent/extra.pem", cert };
	char *skipped = NULL;
	char *bundle = tls_bundle_text(other, extra, 2, &skipped);
	assert_non_null(bundle);
	assert_int_equal(strncmp(bundle, "-----BEGIN CERTIFICATE-----", 27), 0);
	assert_null(strstr(bundle, "PRIVATE"));
	assert_non_null(skipped);
	assert_string_equal(skipped, "/nonexistent/extra.pem\n");
	free(bundle);
	free(skipped);
	unlink(cert);
	unlink(junk);
	free(cert);
	free(junk);
	tls_ca_free(other);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaves),
		cmocka_unit_test(test_engines),
		cmocka_unit_test(test_ca_files),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	char path[64];
	snprintf(path, sizeof(path), "%s/trust.pem", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return r;
}
