/* Unit tests for the TLS ClientHello SNI reader and the SNI-to-host comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "proxy/sni.h"

/* A byte builder for hellos; lengths are patched in after their contents. */
struct hello {
	uint8_t b[SNI_PEEK_MAX + 64];
	size_t n;
};

static void put(struct hello *h, const void *p, size_t len)
{
	assert_true(h->n + len <= sizeof(h->b));
	memcpy(h->b + h->n, p, len);
	h->n += len;
}

static void put8(struct hello *h, unsigned v)
{
	uint8_t x = (uint8_t)v;
	put(h, &x, 1);
}

static void put16(struct hello *h, unsigned v)
{
	put8(h, v >> 8);
	put8(h, v & 0xff);
}

static void patch16(struct hello *h, size_t at, size_t v)
{
	h->b[at] = (uint8_t)(v >> 8);
	h->b[at + 1] = (uint8_t)v;
}

static void patch24(struct hello *h, size_t at, size_t v)
{
	h->b[at] = (uint8_t)(v >> 16);
	patch16(h, at + 1, v & 0xffff);
}

/* Offsets of interest in a built hello, so tests can make lengths lie. */
struct hello_marks {
	size_t sni_ext_len;   /* the server_name extension's length field */
	size_t sni_list_len;  /* ServerNameList length */
	size_t sni_name_len;  /* host_name length */
	size_t exts_len;      /* extensions block length */
};

/* A ClientHello shaped like a modern client's: TLS 1.2 record version 0x0301,
 * 32-byte session id, several cipher suites, null compression, a few common
 * extensions around server_name. sni NULL leaves server_name out. */
static void build_hello(struct hello *h, const char *sni, size_t sni_len, struct hello_marks *m)
{
	memset(h, 0, sizeof(*h));
	struct hello_marks marks = { 0 };
	put8(h, 0x16);
	put16(h, 0x0301);
	size_t record_len_at = h->n;
	put16(h, 0);
	put8(h, 0x01);
	size_t hs_len_at = h->n;
	put(h, "\0\0\0", 3);
	put16(h, 0x0303);
	for (int i = 0; i < 32; i++)
		put8(h, 0xA0 + i); /* random */
	put8(h, 32);
	for (int i = 0; i < 32; i++)
		put8(h, i); /* session id */
	const unsigned suites[] = { 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xcca9, 0x009c };
	put16(h, 2 * 7);
	for (int i = 0; i < 7; i++)
		put16(h, suites[i]);
	put8(h, 1);
	put8(h, 0);
	marks.exts_len = h->n;
	put16(h, 0);
	size_t exts_start = h->n;

	/* extended_master_secret (empty) first, as browsers often do. */
	put16(h, 0x0017);
	put16(h, 0);
	if (sni) {
		put16(h, 0x0000);
		marks.sni_ext_len = h->n;
		put16(h, 2 + 1 + 2 + sni_len);
		marks.sni_list_len = h->n;
		put16(h, 1 + 2 + sni_len);
		put8(h, 0);
		marks.sni_name_len = h->n;
		put16(h, sni_len);
		put(h, sni, sni_len);
	}
	/* supported_versions: TLS 1.3, 1.2 */
	put16(h, 0x002b);
	put16(h, 5);
	put8(h, 4);
	put16(h, 0x0304);
	put16(h, 0x0303);
	/* supported_groups: x25519, secp256r1 */
	put16(h, 0x000a);
	put16(h, 6);
	put16(h, 4);
	put16(h, 0x001d);
	put16(h, 0x0017);
	/* key_share: x25519 with a 32-byte key */
	put16(h, 0x0033);
	put16(h, 2 + 2 + 2 + 32);
	put16(h, 2 + 2 + 32);
	put16(h, 0x001d);
	put16(h, 32);
	for (int i = 0; i < 32; i++)
		put8(h, 0x55);
	/* ALPN: h2, http/1.1 */
	put16(h, 0x0010);
	put16(h, 2 + 3 + 9);
	put16(h, 3 + 9);
	put8(h, 2);
	put(h, "h2", 2);
	put8(h, 8);
	put(h, "http/1.1", 8);

	patch16(h, marks.exts_len, h->n - exts_start);
	patch24(h, hs_len_at, h->n - hs_len_at - 3);
	patch16(h, record_len_at, h->n - record_len_at - 2);
	if (m)
		*m = marks;
}

static enum sni_status read_all(const struct hello *h, char *name)
{
	return sni_read(h->b, h->n, name);
}

static void test_found(void **state)
{
	(void)state;
	struct hello h;
	build_hello(&h, "api.Example.com", 15, NULL);
	char name[SNI_NAME_MAX + 1];
	assert_int_equal(read_all(&h, name), SNI_FOUND);
	assert_string_equal(name, "api.Example.com");
	assert_true(sni_matches_host(name, "api.example.com"));
	assert_false(sni_matches_host(name, "example.com"));
}

static void test_no_sni(void **state)
{
	(void)state;
	struct hello h;
	build_hello(&h, NULL, 0, NULL);
	char name[SNI_NAME_MAX + 1] = "untouched";
	assert_int_equal(read_all(&h, name), SNI_NO_SNI);
	assert_string_equal(name, "untouched");
}

static void test_no_extensions(void **state)
{
	(void)state;
	/* A TLS 1.0-style hello that ends after compression methods. */
	struct hello h;
	struct hello_marks m;
	build_hello(&h, NULL, 0, &m);
	h.n = m.exts_len;
	patch24(&h, 6, h.n - 9);
	patch16(&h, 3, h.n - 5);
	assert_int_equal(read_all(&h, NULL), SNI_NO_SNI);
}

/* Every truncation of a complete hello must ask for more, never decide. */
static void test_truncated_everywhere(void **state)
{
	(void)state;
	struct hello h;
	build_hello(&h, "example.com", 11, NULL);
	char name[SNI_NAME_MAX + 1] = "untouched";
	for (size_t i = 0; i < h.n; i++) {
		assert_int_equal(sni_read(h.b, i, name), SNI_NEED_MORE);
		assert_string_equal(name, "untouched");
	}
	assert_int_equal(sni_read(h.b, h.n, name), SNI_FOUND);
	assert_string_equal(name, "example.com");

	build_hello(&h, NULL, 0, NULL);
	for (size_t i = 0; i < h.n; i++)
		assert_int_equal(sni_read(h.b, i, name), SNI_NEED_MORE);
	assert_int_equal(sni_read(h.b, h.n, name), SNI_NO_SNI);
}

/* Shrinking the record and handshake lengths by the same amount cuts the
 * hello short inside a complete buffer: every such cut is malformed. */
static void test_short_lengths_everywhere(void **state)
{
	(void)state;
	struct hello h, cut;
	struct hello_marks m;
	build_hello(&h, "example.com", 11, &m);
	size_t body = h.n - 9;
	for (size_t k = 0; k < body; k++) {
		cut = h;
		cut.n = 9 + k;
		patch24(&cut, 6, k);
		patch16(&cut, 3, k + 4);
		enum sni_status st = sni_read(cut.b, cut.n, NULL);
		/* Ending right before the extensions is a legal old-style hello. */
		enum sni_status want = 9 + k == m.exts_len ? SNI_NO_SNI : SNI_MALFORMED;
		if (st != want)
			fail_msg("body cut at %zu of %zu: status %d", k, body, st);
	}
}

static void test_inner_length_lies(void **state)
{
	(void)state;
	struct hello h;
	struct hello_marks m;
	const unsigned deltas[] = { 1, 2, 0x100, 0xFFFF };
	for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
		/* host_name length longer than the list */
		build_hello(&h, "example.com", 11, &m);
		patch16(&h, m.sni_name_len, 11 + deltas[i] > 0xFFFF ? 0xFFFF : 11 + deltas[i]);
		assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
		/* list length longer than the extension */
		build_hello(&h, "example.com", 11, &m);
		patch16(&h, m.sni_list_len, (14 + deltas[i]) & 0xFFFF);
		assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
		/* extension length running into the next extension and past the block */
		build_hello(&h, "example.com", 11, &m);
		patch16(&h, m.sni_ext_len, (16 + deltas[i]) & 0xFFFF);
		assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	}
	/* host_name shorter than its entry: the rest parses as an entry with
	 * a bogus length. */
	build_hello(&h, "example.com", 11, &m);
	patch16(&h, m.sni_name_len, 3);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	/* list length shorter than the extension */
	build_hello(&h, "example.com", 11, &m);
	patch16(&h, m.sni_list_len, 13);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	/* extensions block length disagreeing with the hello */
	build_hello(&h, "example.com", 11, &m);
	patch16(&h, m.exts_len, h.b[m.exts_len] * 256 + h.b[m.exts_len + 1] - 1);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
}

static void test_bad_names(void **state)
{
	(void)state;
	struct hello h;
	build_hello(&h, "allowed.com\0.evil.com", 21, NULL);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	build_hello(&h, "a\tb.com", 7, NULL);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	build_hello(&h, "a b.com", 7, NULL);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	build_hello(&h, "ab.com\x7f", 7, NULL);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	build_hello(&h, "", 0, NULL);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);

	char long_name[300];
	memset(long_name, 'a', sizeof(long_name));
	char name[SNI_NAME_MAX + 1];
	build_hello(&h, long_name, 255, NULL);
	assert_int_equal(read_all(&h, name), SNI_FOUND);
	assert_int_equal(strlen(name), 255);
	build_hello(&h, long_name, 256, NULL);
	assert_int_equal(read_all(&h, name), SNI_MALFORMED);
}

static void test_two_host_names(void **state)
{
	(void)state;
	/* Two host_name entries in one list: the check and the server might
	 * each believe a different one. */
	struct hello h;
	struct hello_marks m;
	build_hello(&h, "aa.com\0\0\x06" "bb.com", 15, &m);
	patch16(&h, m.sni_name_len, 6);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
	/* An unknown name type next to a host_name is skipped. */
	build_hello(&h, "aa.com\x07\0\x02zz", 11, &m);
	patch16(&h, m.sni_name_len, 6);
	char name[SNI_NAME_MAX + 1];
	assert_int_equal(read_all(&h, name), SNI_FOUND);
	assert_string_equal(name, "aa.com");
}

static void test_two_sni_extensions(void **state)
{
	(void)state;
	struct hello h;
	struct hello_marks m;
	build_hello(&h, "aa.com", 6, &m);
	/* Duplicate the whole server_name extension at the end. */
	const uint8_t ext[] = { 0x00, 0x00, 0x00, 0x0b, 0x00, 0x09, 0x00, 0x00, 0x06, 'b', 'b', '.', 'c', 'o', 'm' };
	put(&h, ext, sizeof(ext));
	size_t exts = ((size_t)h.b[m.exts_len] << 8 | h.b[m.exts_len + 1]) + sizeof(ext);
	patch16(&h, m.exts_len, exts);
	patch24(&h, 6, h.n - 9);
	patch16(&h, 3, h.n - 5);
	assert_int_equal(read_all(&h, NULL), SNI_MALFORMED);
}

static void test_not_tls(void **state)
{
	(void)state;
	assert_int_equal(sni_read((const uint8_t *)"GET / HTTP/1.1\r\n", 16, NULL), SNI_NOT_TLS);
	assert_int_equal(sni_read((const uint8_t *)"SSH-2.0-OpenSSH_9.2\r\n", 21, NULL), SNI_NOT_TLS);
	/* Decided on the first byte. */
	assert_int_equal(sni_read((const uint8_t *)"G", 1, NULL), SNI_NOT_TLS);
	/* A handshake record that is not a ClientHello (a ServerHello). */
	const uint8_t server_hello[] = { 0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00 };
	assert_int_equal(sni_read(server_hello, 6, NULL), SNI_NOT_TLS);
	assert_int_equal(sni_read(NULL, 0, NULL), SNI_NEED_MORE);
}

static void test_record_limits(void **state)
{
	(void)state;
	struct hello h;
	build_hello(&h, "example.com", 11, NULL);
	/* Record length over 2^14. */
	struct hello big = h;
	patch16(&big, 3, SNI_RECORD_MAX + 1);
	assert_int_equal(sni_read(big.b, 5, NULL), SNI_MALFORMED);
	patch16(&big, 3, 0);
	assert_int_equal(sni_read(big.b, 5, NULL), SNI_MALFORMED);
	/* Not a TLS record version. */
	big = h;
	big.b[1] = 0x02;
	assert_int_equal(sni_read(big.b, big.n, NULL), SNI_MALFORMED);
	/* The ClientHello continues in a second record. */
	struct hello split = h;
	size_t first = 60;
	patch16(&split, 3, first);
	assert_int_equal(sni_read(split.b, 9, NULL), SNI_UNSUPPORTED);
	assert_int_equal(sni_read(split.b, split.n, NULL), SNI_UNSUPPORTED);
	split = h;
	patch16(&split, 3, 3);
	assert_int_equal(sni_read(split.b, 6, NULL), SNI_UNSUPPORTED);
}

static void test_largest_record(void **state)
{
	(void)state;
	/* A hello filling a full 16 KiB record via a padding extension, and the
	 * reader never needs more than SNI_PEEK_MAX bytes. */
	struct hello h;
	struct hello_marks m;
	build_hello(&h, "example.com", 11, &m);
	size_t pad = SNI_PEEK_MAX - h.n - 4;
	put16(&h, 0x0015);
	put16(&h, pad);
	static const uint8_t zeros[SNI_PEEK_MAX];
	put(&h, zeros, pad);
	assert_int_equal(h.n, SNI_PEEK_MAX);
	size_t exts = ((size_t)h.b[m.exts_len] << 8 | h.b[m.exts_len + 1]) + 4 + pad;
	patch16(&h, m.exts_len, exts);
	patch24(&h, 6, h.n - 9);
	patch16(&h, 3, h.n - 5);
	char name[SNI_NAME_MAX + 1];
	assert_int_equal(sni_read(h.b, h.n - 1, name), SNI_NEED_MORE);
	assert_int_equal(sni_read(h.b, h.n, name), SNI_FOUND);
	assert_string_equal(name, "example.com");
}

static void test_matches_host(void **state)
{
	(void)state;
	assert_true(sni_matches_host("example.com", "example.com"));
	assert_true(sni_matches_host("EXAMPLE.com", "example.COM"));
	assert_true(sni_matches_host("example.com.", "example.com"));
	assert_true(sni_matches_host("example.com", "example.com."));
	assert_true(sni_matches_host("example.com.", "example.com."));
	assert_false(sni_matches_host("example.com..", "example.com"));
	assert_false(sni_matches_host("www.example.com", "example.com"));
	assert_false(sni_matches_host("example.com", "www.example.com"));
	assert_false(sni_matches_host("xexample.com", "example.com"));
	assert_false(sni_matches_host("example.co", "example.com"));
	assert_false(sni_matches_host("", ""));
	assert_false(sni_matches_host(".", "."));
	assert_false(sni_matches_host(NULL, "example.com"));
	assert_false(sni_matches_host("example.com", NULL));
	/* Only ASCII letters fold: bytes >= 0x80 compare exactly. */
	assert_false(sni_matches_host("\xc3\x89.com", "\xc3\xa9.com"));
}

static void test_status_names(void **state)
{
	(void)state;
	for (int s = SNI_FOUND; s <= SNI_UNSUPPORTED; s++)
		assert_string_not_equal(sni_status_name((enum sni_status)s), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found),
		cmocka_unit_test(test_no_sni),
		cmocka_unit_test(test_no_extensions),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_short_lengths_everywhere),
		cmocka_unit_test(test_inner_length_lies),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_two_host_names),
		cmocka_unit_test(test_two_sni_extensions),
		cmocka_unit_test(test_not_tls),
		cmocka_unit_test(test_record_limits),
		cmocka_unit_test(test_largest_record),
		cmocka_unit_test(test_matches_host),
		cmocka_unit_test(test_status_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
