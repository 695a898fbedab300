/* libFuzzer target: SigV4 re-signing of request heads, raw or as validly signed requests with fuzzed edits (a re-signed head must parse again and verify with the real key), and the aws-chunked chunk re-signer on validly signed and corrupted bodies fed in pieces (same output however split; output verifies with the real key). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proxy/sigv4.h"
#include "../unit/data/sigv4_vectors.h"

static const struct sigv4_pair pairs[2] = {
	{VEC_MASKED_AKID, VEC_REAL_AKID, VEC_MASKED_SECRET, VEC_REAL_SECRET, VEC_MASKED_TOKEN, VEC_REAL_TOKEN},
	{"SRTMASKEDAKID0000002", "AKIAREALKEY000000002", "m2", "r2", NULL, NULL},
};
/* The real keys as if masked: a head re-signed with pairs[] must verify
 * with these and re-sign to itself. */
static const struct sigv4_pair identity[2] = {
	{VEC_REAL_AKID, VEC_REAL_AKID, VEC_REAL_SECRET, VEC_REAL_SECRET, VEC_REAL_TOKEN, VEC_REAL_TOKEN},
	{"AKIAREALKEY000000002", "AKIAREALKEY000000002", "r2", "r2", NULL, NULL},
};
#define NPAIRS 2
#define NVEC (sizeof(sigv4_vectors) / sizeof(sigv4_vectors[0]))

static const char seed_c[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char seed_n[] = "2222222222222222222222222222222222222222222222222222222222222222";

static void hm(const void *key, size_t kl, const void *msg, size_t ml, unsigned char out[32])
{
	unsigned int n = 32;
	if (!HMAC(EVP_sha256(), key, (int)kl, msg, ml, out, &n))
		abort();
}

/* An aws-chunked body of data, cut into chunks whose sizes the data's
 * own bytes choose, signed with secret "m" from seed_c. */
static size_t signed_body(const uint8_t *data, size_t size, char *out)
{
	unsigned char k[32], t[32];
	hm("AWS4m", 5, "20240101", 8, t);
	hm(t, 32, "us-east-1", 9, k);
	hm(k, 32, "s3", 2, t);
	hm(t, 32, "aws4_request", 12, k);
	char prev[65];
	memcpy(prev, seed_c, 65);
	size_t pos = 0, len = 0;
	for (;;) {
		size_t n = pos < size ? (size_t)(data[pos] % 40) + 1 : 0;
		if (pos + n > size)
			n = size - pos;
		char dh[65], sts[400];
		sigv4_sha256_hex(data + pos, n, dh);
		int sl = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n20240101T000000Z\n20240101/us-east-1/s3/aws4_request\n%s\n"
				  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n%s", prev, dh);
		unsigned char md[32];
		hm(k, 32, sts, (size_t)sl, md);
		for (int j = 0; j < 32; j++)
			sprintf(prev + 2 * j, "%02x", md[j]);
		len += (size_t)sprintf(out + len, "%zx;chunk-signature=%s\r\n", n, prev);
		memcpy(out + len, data + pos, n);
		len += n;
		memcpy(out + len, "\r\n", 2);
		len += 2;
		pos += n;
		if (n == 0)
			return len;
	}
}

static struct sigv4_stream *new_stream(const char *client_secret, const char *seed_client, const char *seed_new)
{
	struct sigv4_stream *s = sigv4_stream_new(client_secret, "r", "20240101", "us-east-1", "s3", "20240101T000000Z",
						  seed_client, seed_new, 1 << 16);
	if (!s)
		abort();
	return s;
}

static enum sigv4_stream_status feed_pieces(struct sigv4_stream *s, const char *in, size_t size, size_t step,
					    struct sigv4_buf *out)
{
	const char *why = NULL;
	enum sigv4_stream_status r = SIGV4_STREAM_MORE;
	if (size == 0)
		return sigv4_stream_feed(s, in, 0, out, &why);
	for (size_t off = 0; off < size && r == SIGV4_STREAM_MORE; off += step) {
		size_t n = size - off < step ? size - off : step;
		r = sigv4_stream_feed(s, in + off, n, out, &why);
		if (r == SIGV4_STREAM_ERROR && !why)
			abort();
	}
	return r;
}

static void fuzz_stream(const uint8_t *data, size_t size, uint8_t flags)
{
	if (size > 4096)
		size = 4096;
	/* Raw bytes, or a validly signed body with at most one byte changed. */
	char *body = malloc(size * 4 + 200 * (size + 1) + 256);
	if (!body)
		abort();
	size_t len;
	bool valid = false;
	if (flags & 1) {
		memcpy(body, data, size);
		len = size;
	} else {
		len = signed_body(data, size, body);
		valid = true;
		if ((flags & 2) && size >= 2) {
			size_t at = ((size_t)data[0] << 8 | data[1]) % len;
			body[at] ^= (char)(data[size - 1] | 1);
			valid = false;
		}
	}
	struct sigv4_stream *a = new_stream("m", seed_c, seed_n), *b = new_stream("m", seed_c, seed_n);
	struct sigv4_buf oa = {0}, ob = {0};
	enum sigv4_stream_status ra = feed_pieces(a, body, len, len ? len : 1, &oa);
	enum sigv4_stream_status rb = feed_pieces(b, body, len, (size_t)(flags >> 2) % 17 + 1, &ob);
	if (ra != rb || oa.len != ob.len || (oa.len && memcmp(oa.data, ob.data, oa.len) != 0) || oa.len > len)
		abort();
	if (valid && ra != SIGV4_STREAM_DONE)
		abort();
	if (ra == SIGV4_STREAM_DONE) {
		if (oa.len != len)
			abort();
		/* Re-signed under "r" from seed_n: it verifies with that key
		 * (a stream whose client key is "r", seeds seed_n both sides,
		 * passes it through unchanged). */
		struct sigv4_stream *c = sigv4_stream_new("r", "r", "20240101", "us-east-1", "s3", "20240101T000000Z",
							  seed_n, seed_n, 1 << 16);
		struct sigv4_buf oc = {0};
		if (feed_pieces(c, oa.data, oa.len, oa.len, &oc) != SIGV4_STREAM_DONE || oc.len != oa.len ||
		    memcmp(oc.data, oa.data, oa.len) != 0)
			abort();
		free(oc.data);
		sigv4_stream_free(c);
	}
	free(oa.data);
	free(ob.data);
	free(body);
	sigv4_stream_free(a);
	sigv4_stream_free(b);
}

/* The head to re-sign: the input itself, or a signed vector with the
 * input spliced in (as extra fields, or over its bytes). */
static char *make_head(const uint8_t *data, size_t size, uint8_t flags, size_t *len)
{
	int mode = (flags >> 5) & 3;
	if (mode == 0 || size == 0) {
		char *h = malloc(size + 1);
		if (!h)
			abort();
		memcpy(h, data, size);
		*len = size;
		return h;
	}
	const struct sigv4_vector *v = &sigv4_vectors[data[0] % NVEC];
	data++;
	size--;
	size_t vl = strlen(v->request);
	char *h = malloc(vl + size + 1);
	if (!h)
		abort();
	if (mode == 1 || mode == 3) {
		/* Extra bytes before the final CRLF (new fields). */
		memcpy(h, v->request, vl - 2);
		memcpy(h + vl - 2, data, size);
		memcpy(h + vl - 2 + size, "\r\n", 2);
		*len = vl + size;
	} else {
		/* Overwrite bytes at an offset the input chooses. */
		memcpy(h, v->request, vl);
		size_t at = size ? (size_t)data[0] * 7 % vl : 0;
		for (size_t i = 1; i < size && at + i - 1 < vl; i++)
			h[at + i - 1] = (char)data[i];
		*len = vl;
	}
	return h;
}

static size_t occurrences(const char *buf, size_t len, const char *needle)
{
	size_t n = 0, nl = strlen(needle);
	for (const char *p = buf; (p = memmem(p, len - (size_t)(p - buf), needle, nl)); p++)
		n++;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t flags = data[0], pol = data[1];
	data += 2;
	size -= 2;
	if (flags & 0x80) {
		fuzz_stream(data, size, flags);
		return 0;
	}
	struct sigv4_opts opts = {
		.streaming = (enum sigv4_policy)(pol % 3),
		.presigned = (enum sigv4_policy)((pol / 3) % 3),
		.sigv4a = (enum sigv4_policy)((pol / 9) % 3),
	};
	const char *host = (flags & 1) ? "my-bucket.s3.eu-west-1.amazonaws.com" : NULL;
	uint8_t md[32];
	memset(md, 0, sizeof(md));
	struct sigv4_body body = {(flags & 4) ? md : NULL, (flags & 4) ? md : NULL, (flags & 2) != 0};
	size_t len;
	char *head = make_head(data, size, flags, &len);
	struct sigv4_out out;
	enum sigv4_result r = sigv4_resign(head, len, NULL, 0, host, pairs, NPAIRS, &opts, &body, &out);
	if ((r == SIGV4_REFUSED || r == SIGV4_NEED_BODY) && !out.reason)
		abort();
	if ((r == SIGV4_RESIGNED) != (out.head != NULL))
		abort();
	if (r == SIGV4_RESIGNED) {
		if (out.head_len < 4 || memcmp(out.head + out.head_len - 4, "\r\n\r\n", 4) != 0)
			abort();
		/* The signing credential is replaced; stand-ins elsewhere in the
		 * head are the caller's substitution to make, never added. */
		if (occurrences(out.head, out.head_len, VEC_MASKED_AKID) >= occurrences(head, len, VEC_MASKED_AKID) ||
		    occurrences(out.head, out.head_len, VEC_MASKED_TOKEN) > occurrences(head, len, VEC_MASKED_TOKEN))
			abort();
		struct sigv4_opts all = {SIGV4_RESIGN, SIGV4_RESIGN, SIGV4_RESIGN, 0};
		struct sigv4_out again;
		/* The body as forwarded: what was signed for it. */
		struct sigv4_body b2 = body;
		enum sigv4_result r2 = sigv4_resign(out.head, out.head_len, NULL, 0, NULL, identity, NPAIRS, &all, &b2, &again);
		if (r2 != SIGV4_RESIGNED || again.head_len != out.head_len || memcmp(again.head, out.head, out.head_len) != 0) {
			fprintf(stderr, "re-check failed: %d %s\n%.*s", r2, again.reason ? again.reason : "",
				(int)out.head_len, out.head);
			abort();
		}
		sigv4_out_free(&again);
	}
	sigv4_out_free(&out);
	free(head);
	return 0;
}
