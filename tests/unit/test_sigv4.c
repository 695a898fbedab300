/* Unit tests for AWS SigV4 re-signing: AWS's published examples, vectors from an independent Python signer, every refusal (forged, tampered, ambiguous, denied shapes), and the aws-chunked stream re-signer fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "proxy/sigv4.h"
#include "data/sigv4_vectors.h"

static void *xmalloc(size_t n)
{
	void *p = malloc(n);
	if (!p)
		abort();
	return p;
}

/* AWS's documentation example key pair (public, documentation only). */
#define DOC_AKID "AKIAIOSFODNN7EXAMPLE"
#define DOC_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
/* The SigV4 test suite's key pair. */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static const struct sigv4_pair vec_pair = {
	VEC_MASKED_AKID, VEC_REAL_AKID, VEC_MASKED_SECRET, VEC_REAL_SECRET, VEC_MASKED_TOKEN, VEC_REAL_TOKEN,
};
static const struct sigv4_pair vec_pair_notoken = {
	VEC_MASKED_AKID, VEC_REAL_AKID, VEC_MASKED_SECRET, VEC_REAL_SECRET, NULL, NULL,
};
/* The real key as if it were masked: re-signing with it checks a signature
 * made with the real key, and re-signs to the same signature. */
static const struct sigv4_pair vec_real_identity = {
	VEC_REAL_AKID, VEC_REAL_AKID, VEC_REAL_SECRET, VEC_REAL_SECRET, VEC_REAL_TOKEN, VEC_REAL_TOKEN,
};

static const struct sigv4_opts resign_all = {SIGV4_RESIGN, SIGV4_RESIGN, SIGV4_RESIGN, 0};
static const struct sigv4_opts deny_all = {SIGV4_DENY, SIGV4_DENY, SIGV4_DENY, 0};
static const struct sigv4_opts pass_all = {SIGV4_PASSTHROUGH, SIGV4_PASSTHROUGH, SIGV4_PASSTHROUGH, 0};

/* The value of the first field called name in a head, as a new string. */
static char *field(const char *head, size_t len, const char *name)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len);
	while (p && (size_t)(p + 1 - head) < len) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\r', len - (size_t)(line - head));
		if (!eol || eol == line)
			return NULL;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(eol - v);
			char *s = xmalloc(vl + 1);
			memcpy(s, v, vl);
			s[vl] = '\0';
			return s;
		}
		p = eol + 1;
	}
	return NULL;
}

static size_t count_field(const char *head, size_t len, const char *name)
{
	size_t n = 0, nl = strlen(name);
	for (size_t i = 0; i + nl + 3 < len; i++)
		if (head[i] == '\n' && strncasecmp(head + i + 1, name, nl) == 0 && head[i + 1 + nl] == ':')
			n++;
	return n;
}

/* The request-target of a head, as a new string. */
static char *target(const char *head)
{
	const char *a = strchr(head, ' ') + 1;
	const char *b = strchr(a, ' ');
	char *s = xmalloc((size_t)(b - a) + 1);
	memcpy(s, a, (size_t)(b - a));
	s[b - a] = '\0';
	return s;
}

static void sha(const void *p, size_t n, uint8_t md[32])
{
	unsigned int l = 0;
	assert_int_equal(EVP_Digest(p, n, md, &l, EVP_sha256(), NULL), 1);
}

static enum sigv4_result run(const char *req, const struct sigv4_pair *pair, const struct sigv4_opts *o,
			     const struct sigv4_body *b, struct sigv4_out *out)
{
	return sigv4_resign(req, strlen(req), NULL, 0, NULL, pair, 1, o, b, out);
}

/* A head re-signed with vec_pair must verify with the real key: fed back
 * with the real key as the "masked" one, it re-signs to itself. */
static void assert_verifies_with_real_key(const struct sigv4_out *o, const struct sigv4_body *b)
{
	char *req = xmalloc(o->head_len + 1);
	memcpy(req, o->head, o->head_len);
	req[o->head_len] = '\0';
	struct sigv4_out again;
	enum sigv4_result r = run(req, &vec_real_identity, &resign_all, b, &again);
	if (r != SIGV4_RESIGNED)
		fprintf(stderr, "re-check: %d %s\n%s", r, again.reason ? again.reason : "", req);
	assert_int_equal(r, SIGV4_RESIGNED);
	assert_int_equal(again.head_len, o->head_len);
	assert_memory_equal(again.head, o->head, o->head_len);
	sigv4_out_free(&again);
	free(req);
}

/* ---- AWS's published examples ---------------------------------------- */

/* https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
 * ("Example: GET Object"): the documented signature is
 * f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41. */
static const char doc_get[] =
	"GET /test.txt HTTP/1.1\r\n"
	"Host: examplebucket.s3.amazonaws.com\r\n"
	"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
	"SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
	"Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41\r\n"
	"Range: bytes=0-9\r\n"
	"x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
	"x-amz-date: 20130524T000000Z\r\n"
	"\r\n";

static void test_aws_doc_get_object(void **state)
{
	(void)state;
	struct sigv4_pair same = {DOC_AKID, DOC_AKID, DOC_SECRET, DOC_SECRET, NULL, NULL};
	struct sigv4_out o;
	assert_int_equal(run(doc_get, &same, &deny_all, NULL, &o), SIGV4_RESIGNED);
	assert_int_equal(o.kind, SIGV4_KIND_HEADER);
	char *auth = field(o.head, o.head_len, "authorization");
	assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
				  "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
				  "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	free(auth);
	sigv4_out_free(&o);

	/* The documented signature verifies with the documented key, so the
	 * same request as a masked one re-signs; with another secret it is
	 * refused. */
	struct sigv4_pair masked = {DOC_AKID, VEC_REAL_AKID, DOC_SECRET, VEC_REAL_SECRET, NULL, NULL};
	assert_int_equal(run(doc_get, &masked, &deny_all, NULL, &o), SIGV4_RESIGNED);
	sigv4_out_free(&o);
	struct sigv4_pair wrong = {DOC_AKID, VEC_REAL_AKID, "not-the-secret", VEC_REAL_SECRET, NULL, NULL};
	assert_int_equal(run(doc_get, &wrong, &deny_all, NULL, &o), SIGV4_REFUSED);
	assert_non_null(strstr(o.reason, "does not verify"));
}

/* https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html
 * (get-vanilla-query-order-key-case): query parameters sorted, signature
 * b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500. */
static void test_aws_suite_query_order(void **state)
{
	(void)state;
	static const char req[] =
		"GET /?Param2=value2&Param1=value1 HTTP/1.1\r\n"
		"Host:example.amazonaws.com\r\n"
		"X-Amz-Date:20150830T123600Z\r\n"
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
		"SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500\r\n"
		"\r\n";
	struct sigv4_pair same = {SUITE_AKID, SUITE_AKID, SUITE_SECRET, SUITE_SECRET, NULL, NULL};
	struct sigv4_out o;
	assert_int_equal(run(req, &same, &deny_all, NULL, &o), SIGV4_RESIGNED);
	char *auth = field(o.head, o.head_len, "authorization");
	assert_non_null(strstr(auth, "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"));
	free(auth);
	sigv4_out_free(&o);
}

/* https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 * (presigned GET, expires 86400): signature
 * aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404. */
static void test_aws_doc_presigned(void **state)
{
	(void)state;
	static const char req[] =
		"GET /test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
		"&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
		"&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404 HTTP/1.1\r\n"
		"Host: examplebucket.s3.amazonaws.com\r\n"
		"\r\n";
	struct sigv4_pair same = {DOC_AKID, DOC_AKID, DOC_SECRET, DOC_SECRET, NULL, NULL};
	struct sigv4_out o;
	assert_int_equal(run(req, &same, &resign_all, NULL, &o), SIGV4_RESIGNED);
	assert_int_equal(o.kind, SIGV4_KIND_PRESIGNED);
	char *t = target(o.head);
	assert_non_null(strstr(t, "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
	free(t);
	sigv4_out_free(&o);
	/* Presigned is denied unless the switch says otherwise. */
	assert_int_equal(run(req, &same, &deny_all, NULL, &o), SIGV4_REFUSED);
	assert_int_equal(o.kind, SIGV4_KIND_PRESIGNED);
	assert_int_equal(run(req, &same, &pass_all, NULL, &o), SIGV4_PASS);
}

/* https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
 * ("Example: PUT Object"): 65536 + 1024 bytes of 'a' in two chunks and a
 * final empty one; seed and chunk signatures as documented. */
static const char doc_stream_head[] =
	"PUT /examplebucket/chunkObject.txt HTTP/1.1\r\n"
	"Host: s3.amazonaws.com\r\n"
	"x-amz-date: 20130524T000000Z\r\n"
	"x-amz-storage-class: REDUCED_REDUNDANCY\r\n"
	"Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
	"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"
	"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9\r\n"
	"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n"
	"Content-Encoding: aws-chunked\r\n"
	"x-amz-decoded-content-length: 66560\r\n"
	"Content-Length: 66824\r\n"
	"\r\n";

static const char *const doc_chunk_sigs[3] = {
	"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
	"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
	"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
};

static char *doc_stream_body(size_t *len)
{
	char *b = xmalloc(70000);
	size_t n = 0;
	n += (size_t)sprintf(b + n, "10000;chunk-signature=%s\r\n", doc_chunk_sigs[0]);
	memset(b + n, 'a', 65536);
	n += 65536;
	n += (size_t)sprintf(b + n, "\r\n400;chunk-signature=%s\r\n", doc_chunk_sigs[1]);
	memset(b + n, 'a', 1024);
	n += 1024;
	n += (size_t)sprintf(b + n, "\r\n0;chunk-signature=%s\r\n\r\n", doc_chunk_sigs[2]);
	*len = n;
	return b;
}

static void test_aws_doc_streaming(void **state)
{
	(void)state;
	size_t blen;
	char *body = doc_stream_body(&blen);
	assert_int_equal(blen, 66824);
	struct sigv4_pair same = {DOC_AKID, DOC_AKID, DOC_SECRET, DOC_SECRET, NULL, NULL};
	struct sigv4_out o;
	assert_int_equal(run(doc_stream_head, &same, &deny_all, NULL, &o), SIGV4_REFUSED);
	assert_int_equal(o.kind, SIGV4_KIND_STREAMING);
	assert_int_equal(run(doc_stream_head, &same, &pass_all, NULL, &o), SIGV4_PASS);
	assert_int_equal(run(doc_stream_head, &same, &resign_all, NULL, &o), SIGV4_RESIGNED);
	assert_non_null(o.stream);
	char *auth = field(o.head, o.head_len, "authorization");
	assert_non_null(strstr(auth, "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"));
	free(auth);
	/* Same key both sides: the documented body comes out unchanged. */
	struct sigv4_buf ob = {0};
	const char *why = NULL;
	assert_int_equal(sigv4_stream_feed(o.stream, body, blen, &ob, &why), SIGV4_STREAM_DONE);
	assert_int_equal(ob.len, blen);
	assert_memory_equal(ob.data, body, blen);
	/* Anything after the final chunk is an error. */
	assert_int_equal(sigv4_stream_feed(o.stream, "x", 1, &ob, &why), SIGV4_STREAM_ERROR);
	free(ob.data);
	sigv4_out_free(&o);

	/* Re-signed with another key: same length, new signatures that chain
	 * from the new seed, and the data untouched; then the output checks
	 * with that key (fed back as the masked one). */
	struct sigv4_pair other = {DOC_AKID, VEC_REAL_AKID, DOC_SECRET, VEC_REAL_SECRET, NULL, NULL};
	assert_int_equal(run(doc_stream_head, &other, &resign_all, NULL, &o), SIGV4_RESIGNED);
	memset(&ob, 0, sizeof(ob));
	/* One byte at a time: chunk headers split everywhere. */
	enum sigv4_stream_status st = SIGV4_STREAM_MORE;
	for (size_t i = 0; i < blen; i++) {
		st = sigv4_stream_feed(o.stream, body + i, 1, &ob, &why);
		assert_int_equal(st, i + 1 == blen ? SIGV4_STREAM_DONE : SIGV4_STREAM_MORE);
	}
	assert_int_equal(ob.len, blen);
	assert_memory_not_equal(ob.data, body, 100);
	assert_memory_equal(ob.data + 87, body + 87, 65536);
	char *again_head = xmalloc(o.head_len + 1);
	memcpy(again_head, o.head, o.head_len);
	again_head[o.head_len] = '\0';
	struct sigv4_pair real_id = {VEC_REAL_AKID, VEC_REAL_AKID, VEC_REAL_SECRET, VEC_REAL_SECRET, NULL, NULL};
	struct sigv4_out o2;
	assert_int_equal(run(again_head, &real_id, &resign_all, NULL, &o2), SIGV4_RESIGNED);
	struct sigv4_buf ob2 = {0};
	assert_int_equal(sigv4_stream_feed(o2.stream, ob.data, ob.len, &ob2, &why), SIGV4_STREAM_DONE);
	assert_memory_equal(ob2.data, ob.data, ob.len);
	free(ob2.data);
	free(ob.data);
	free(again_head);
	sigv4_out_free(&o2);
	sigv4_out_free(&o);
	free(body);
}

/* ---- Vectors from the Python reference signer ------------------------- */

static void test_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(sigv4_vectors) / sizeof(sigv4_vectors[0]); i++) {
		const struct sigv4_vector *v = &sigv4_vectors[i];
		const struct sigv4_pair *pair = strstr(v->request, "X-Amz-Security-Token") ? &vec_pair : &vec_pair_notoken;
		if (strcmp(v->name, "token_not_signed_by_sandbox") == 0)
			pair = &vec_pair;
		struct sigv4_out o;
		enum sigv4_result r = run(v->request, pair, &resign_all, NULL, &o);
		uint8_t md[32];
		sha(v->body, v->body_len, md);
		struct sigv4_body b = {md, md, true};
		if (r == SIGV4_NEED_BODY) {
			/* Only a body the signature covers by its hash needs
			 * reading (the caller does not say it goes verbatim). */
			assert_true(strcmp(v->name, "sts_post_form") == 0 || strcmp(v->name, "s3_put_signed_payload") == 0);
			r = run(v->request, pair, &resign_all, &b, &o);
		}
		if (r != SIGV4_RESIGNED)
			fprintf(stderr, "%s: %d %s\n", v->name, r, o.reason ? o.reason : "");
		assert_int_equal(r, SIGV4_RESIGNED);
		if (v->presigned) {
			char *t = target(o.head);
			assert_string_equal(t, v->expect);
			free(t);
		} else {
			char *auth = field(o.head, o.head_len, "authorization");
			if (strcmp(auth, v->expect) != 0)
				fprintf(stderr, "%s:\n got %s\nwant %s\n", v->name, auth, v->expect);
			assert_string_equal(auth, v->expect);
			free(auth);
			assert_int_equal(count_field(o.head, o.head_len, "authorization"), 1);
		}
		if (pair == &vec_pair && !v->presigned) {
			char *tok = field(o.head, o.head_len, "x-amz-security-token");
			assert_string_equal(tok, VEC_REAL_TOKEN);
			free(tok);
		}
		/* Only a signed aws-chunked body needs the chunk re-signer. */
		assert_null(o.stream);
		assert_null(strstr(o.head, VEC_MASKED_AKID));
		assert_null(strstr(o.head, VEC_MASKED_TOKEN));
		if (pair == &vec_pair)
			assert_verifies_with_real_key(&o, &b);
		sigv4_out_free(&o);
	}
}

/* ---- Refusals and what is left alone ---------------------------------- */

static const char *vec(const char *name)
{
	for (size_t i = 0; i < sizeof(sigv4_vectors) / sizeof(sigv4_vectors[0]); i++)
		if (strcmp(sigv4_vectors[i].name, name) == 0)
			return sigv4_vectors[i].request;
	abort();
}

/* A copy of s with the first "from" replaced by "to". */
static char *replace(const char *s, const char *from, const char *to)
{
	const char *p = strstr(s, from);
	assert_non_null(p);
	size_t a = (size_t)(p - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
	char *r = xmalloc(n - fl + tl + 1);
	memcpy(r, s, a);
	memcpy(r + a, to, tl);
	memcpy(r + a + tl, p + fl, n - a - fl + 1);
	return r;
}

static void expect(const char *req, const struct sigv4_pair *pair, const struct sigv4_opts *o, enum sigv4_result want,
		   const char *reason_part)
{
	struct sigv4_out out;
	enum sigv4_result r = run(req, pair, o, NULL, &out);
	if (r != want)
		fprintf(stderr, "got %d (%s) want %d for\n%s\n", r, out.reason ? out.reason : "", want, req);
	assert_int_equal(r, want);
	if (reason_part) {
		assert_non_null(out.reason);
		if (!strstr(out.reason, reason_part))
			fprintf(stderr, "reason: %s\n", out.reason);
		assert_non_null(strstr(out.reason, reason_part));
	}
	/* A reason never carries a secret. */
	if (out.reason) {
		assert_null(strstr(out.reason, VEC_MASKED_SECRET));
		assert_null(strstr(out.reason, VEC_REAL_SECRET));
		assert_null(strstr(out.reason, VEC_REAL_AKID));
	}
	sigv4_out_free(&out);
}

static void test_not_ours(void **state)
{
	(void)state;
	const char *get = vec("s3_get_query_token");
	/* Signed with a key id that is not a masked one (a real key the
	 * sandbox holds, another account): left alone. */
	char *real = replace(get, "Credential=" VEC_MASKED_AKID, "Credential=AKIAOTHERKEY000000001");
	expect(real, &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	/* A key id that merely starts with the masked one is not it. */
	char *longer = replace(get, "Credential=" VEC_MASKED_AKID, "Credential=" VEC_MASKED_AKID "X");
	expect(longer, &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	char *shorter = replace(get, "Credential=" VEC_MASKED_AKID, "Credential=SRTMASKEDAKID000000");
	expect(shorter, &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	expect("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	expect("GET / HTTP/1.1\r\nHost: example.com\r\nAuthorization: Bearer abc\r\n\r\n", &vec_pair, &resign_all,
	       SIGV4_NOT_AWS, NULL);
	/* Malformed heads that do not name a masked key are not ours either. */
	expect("garbage\r\n\r\n", &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	expect("", &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	free(real);
	free(longer);
	free(shorter);
}

static void test_refusals(void **state)
{
	(void)state;
	const char *get = vec("s3_get_query_token");
	/* Two Authorization fields: which one the upstream reads is anyone's guess. */
	char *two = replace(get, "Range:", "Authorization: AWS4-HMAC-SHA256 Credential=AKIAOTHER/20240229/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000\r\nRange:");
	expect(two, &vec_pair, &resign_all, SIGV4_REFUSED, "more than one Authorization");
	/* A forged signature (what a sandbox without the masked secret makes). */
	char *forged = replace(get, "Signature=dfa8", "Signature=0fa8");
	expect(forged, &vec_pair, &resign_all, SIGV4_REFUSED, "does not verify");
	/* A signed field changed after signing. */
	char *tampered = replace(get, "bytes=0-9", "bytes=0-99");
	expect(tampered, &vec_pair, &resign_all, SIGV4_REFUSED, "does not verify");
	/* A session token that is not the masked one. */
	char *tok = replace(get, VEC_MASKED_TOKEN, "some-other-token");
	expect(tok, &vec_pair, &resign_all, SIGV4_REFUSED, "session token");
	/* Malformed Authorization values naming the masked key. */
	char *nosig = replace(get, ", Signature=", ", Sig=");
	expect(nosig, &vec_pair, &resign_all, SIGV4_REFUSED, "malformed");
	char *scope = replace(get, "/s3/aws4_request", "/s3/aws5_request");
	expect(scope, &vec_pair, &resign_all, SIGV4_REFUSED, "malformed");
	char *dup = replace(get, "SignedHeaders=host;", "SignedHeaders=host;host;");
	expect(dup, &vec_pair, &resign_all, SIGV4_REFUSED, "malformed");
	char *alg = replace(get, "AWS4-HMAC-SHA256 Credential", "AWS4-HMAC-SHA512 Credential");
	expect(alg, &vec_pair, &resign_all, SIGV4_REFUSED, "unknown signing algorithm");
	/* No x-amz-date, or two. */
	char *nodate = replace(get, "X-Amz-Date: 20240229T235959Z\r\n", "");
	expect(nodate, &vec_pair, &resign_all, SIGV4_REFUSED, "x-amz-date");
	char *twodate = replace(get, "Range:", "X-Amz-Date: 20240229T235959Z\r\nRange:");
	expect(twodate, &vec_pair, &resign_all, SIGV4_REFUSED, "x-amz-date");
	/* A signed field missing from the request. */
	char *missing = replace(get, "Range: bytes=0-9\r\n", "");
	expect(missing, &vec_pair, &resign_all, SIGV4_REFUSED, "missing");
	/* SigV4a: denied, and not re-signable. */
	char *v4a = replace(get, "AWS4-HMAC-SHA256 Credential=" VEC_MASKED_AKID,
			    "AWS4-ECDSA-P256-SHA256 Credential=" VEC_MASKED_AKID);
	expect(v4a, &vec_pair, &deny_all, SIGV4_REFUSED, "sigv4a");
	expect(v4a, &vec_pair, &resign_all, SIGV4_REFUSED, "not supported");
	expect(v4a, &vec_pair, &pass_all, SIGV4_PASS, NULL);
	/* Streaming with signed trailers is not re-signed. */
	char *trailer = replace(get, "X-Amz-Content-Sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
				"X-Amz-Content-Sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
	expect(trailer, &vec_pair, &deny_all, SIGV4_REFUSED, "credentials.sigv4.streaming");
	expect(trailer, &vec_pair, &resign_all, SIGV4_REFUSED, "cannot be re-signed");
	expect(trailer, &vec_pair, &pass_all, SIGV4_PASS, NULL);
	/* An incomplete pair is refused, not half-used. */
	struct sigv4_pair half = vec_pair;
	half.real_token = NULL;
	expect(get, &half, &resign_all, SIGV4_REFUSED, "incomplete");
	/* A real token or key id that would break the head (configuration
	 * from outside the sandbox, still checked). */
	struct sigv4_pair crlf = vec_pair;
	crlf.real_token = "tok\r\nX-Injected: 1";
	expect(get, &crlf, &resign_all, SIGV4_REFUSED, "cannot carry");
	crlf = vec_pair;
	crlf.real_akid = "AKIA/evil";
	expect(get, &crlf, &resign_all, SIGV4_REFUSED, "cannot carry");
	/* The masked key named second in one Authorization value is found. */
	char *second = replace(get, "Credential=" VEC_MASKED_AKID, "Credential=AKIAOTHER/x, Credential=" VEC_MASKED_AKID);
	expect(second, &vec_pair, &resign_all, SIGV4_REFUSED, "malformed");
	free(second);
	/* Header values with a bad x-amz-content-sha256. */
	char *badsha = replace(get, "X-Amz-Content-Sha256: e3b0", "X-Amz-Content-Sha256: z3b0");
	expect(badsha, &vec_pair, &resign_all, SIGV4_REFUSED, "x-amz-content-sha256");
	free(two);
	free(forged);
	free(tampered);
	free(tok);
	free(nosig);
	free(scope);
	free(dup);
	free(alg);
	free(nodate);
	free(twodate);
	free(missing);
	free(v4a);
	free(trailer);
	free(badsha);
}

static void test_presigned_refusals(void **state)
{
	(void)state;
	const char *ps = vec("presigned_s3_token");
	expect(ps, &vec_pair, &deny_all, SIGV4_REFUSED, "credentials.sigv4.presigned");
	expect(ps, &vec_pair, &pass_all, SIGV4_PASS, NULL);
	/* Both a presigned query and an Authorization field. */
	char *both = replace(ps, "Host:", "Authorization: AWS4-HMAC-SHA256 Credential=X/20240229/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nHost:");
	expect(both, &vec_pair, &resign_all, SIGV4_REFUSED, NULL);
	/* A repeated signature parameter. */
	char *twice = replace(ps, "X-Amz-Signature=", "X-Amz-Signature=00&X-Amz-Signature=");
	expect(twice, &vec_pair, &resign_all, SIGV4_REFUSED, "repeated");
	/* A forged signature. */
	char *forged = replace(ps, "X-Amz-Expires=3600", "X-Amz-Expires=3601");
	expect(forged, &vec_pair, &resign_all, SIGV4_REFUSED, "does not verify");
	/* The credential spelled in lower case is still ours (refused, as it
	 * is not an exact parameter name the signature covers). */
	char *lc = replace(ps, "X-Amz-Credential=", "x-amz-credential=");
	struct sigv4_out out;
	enum sigv4_result r = run(lc, &vec_pair, &resign_all, NULL, &out);
	assert_true(r == SIGV4_REFUSED || r == SIGV4_RESIGNED);
	sigv4_out_free(&out);
	free(both);
	free(twice);
	free(forged);
	free(lc);
}

static void test_huge_head(void **state)
{
	(void)state;
	const char *get = vec("s3_get_query_token");
	size_t pad = SIGV4_HEAD_MAX;
	size_t n = strlen(get);
	char *big = xmalloc(n + pad + 32);
	/* A field too long for any head, after the Authorization field. */
	const char *end = strstr(get, "\r\n\r\n");
	size_t a = (size_t)(end - get) + 2;
	memcpy(big, get, a);
	memcpy(big + a, "X-Pad: ", 7);
	memset(big + a + 7, 'p', pad);
	memcpy(big + a + 7 + pad, "\r\n\r\n", 5);
	expect(big, &vec_pair, &resign_all, SIGV4_REFUSED, "too large");
	/* The same without the masked key: not ours. */
	char *other = replace(big, "Credential=" VEC_MASKED_AKID, "Credential=AKIAOTHERKEY000000001");
	expect(other, &vec_pair, &resign_all, SIGV4_NOT_AWS, NULL);
	free(other);
	/* Too many fields. */
	char *many = xmalloc(n + 200 * 8 + 1);
	memcpy(many, get, a);
	size_t k = a;
	for (int i = 0; i < 200; i++) {
		memcpy(many + k, "X-A: b\r\n", 8);
		k += 8;
	}
	memcpy(many + k, "\r\n", 3);
	expect(many, &vec_pair, &resign_all, SIGV4_REFUSED, "malformed");
	free(many);
	free(big);
}

/* The body: needed only when the signature covers its hash and nothing
 * vouches for it; the forwarded body's hash is what gets signed. */
static void test_body_hashes(void **state)
{
	(void)state;
	const char *post = vec("sts_post_form");
	struct sigv4_out o;
	assert_int_equal(run(post, &vec_pair, &resign_all, NULL, &o), SIGV4_NEED_BODY);
	assert_int_equal(o.kind, SIGV4_KIND_HEADER);
	/* A client hash that does not match what was signed: refused. */
	uint8_t wrong[32] = {1};
	struct sigv4_body wb = {wrong, wrong, true};
	assert_int_equal(run(post, &vec_pair, &resign_all, &wb, &o), SIGV4_REFUSED);

	/* S3 PUT with a declared hash: forwarded verbatim, no body needed. */
	const char *put = vec("s3_put_signed_payload");
	struct sigv4_body verb = {NULL, NULL, true};
	assert_int_equal(run(put, &vec_pair, &resign_all, NULL, &o), SIGV4_NEED_BODY);
	assert_int_equal(run(put, &vec_pair, &resign_all, &verb, &o), SIGV4_RESIGNED);
	char *h1 = field(o.head, o.head_len, "x-amz-content-sha256");
	sigv4_out_free(&o);
	/* The caller changed the body (a substitution): the new hash is
	 * signed and declared. */
	uint8_t sent[32];
	sha("other body", 10, sent);
	struct sigv4_body changed = {NULL, sent, false};
	assert_int_equal(run(put, &vec_pair, &resign_all, &changed, &o), SIGV4_RESIGNED);
	char *h2 = field(o.head, o.head_len, "x-amz-content-sha256");
	assert_string_not_equal(h1, h2);
	char hex[65];
	sigv4_sha256_hex("other body", 10, hex);
	assert_string_equal(h2, hex);
	assert_verifies_with_real_key(&o, &changed);
	free(h1);
	free(h2);
	sigv4_out_free(&o);
	/* UNSIGNED-PAYLOAD never needs the body. */
	assert_int_equal(run(vec("unsigned_payload_put"), &vec_pair, &resign_all, NULL, &o), SIGV4_RESIGNED);
	sigv4_out_free(&o);
}

/* The forwarded head (after other substitutions) is what is signed; the
 * Host the tunnel goes to is what is signed and sent. */
static void test_fwd_head_and_host(void **state)
{
	(void)state;
	const char *get = vec("spaces_and_repeats");
	char *fwd = replace(get, "a  b   c", "substituted value");
	struct sigv4_out o;
	enum sigv4_result r = sigv4_resign(get, strlen(get), fwd, strlen(fwd), "s3.amazonaws.com:443", &vec_pair_notoken, 1,
					   &resign_all, NULL, &o);
	assert_int_equal(r, SIGV4_RESIGNED);
	char *v = field(o.head, o.head_len, "my-header");
	assert_string_equal(v, "substituted value");
	free(v);
	char *h = field(o.head, o.head_len, "host");
	assert_string_equal(h, "s3.amazonaws.com:443");
	free(h);
	assert_int_equal(count_field(o.head, o.head_len, "host"), 1);
	/* It verifies with the real key as sent. */
	struct sigv4_pair real_id = {VEC_REAL_AKID, VEC_REAL_AKID, VEC_REAL_SECRET, VEC_REAL_SECRET, NULL, NULL};
	char *again = xmalloc(o.head_len + 1);
	memcpy(again, o.head, o.head_len);
	again[o.head_len] = '\0';
	struct sigv4_out o2;
	assert_int_equal(run(again, &real_id, &resign_all, NULL, &o2), SIGV4_RESIGNED);
	assert_memory_equal(o2.head, o.head, o.head_len);
	sigv4_out_free(&o2);
	free(again);
	sigv4_out_free(&o);
	/* A forwarded head that is not the same request is refused. */
	char *post = replace(get, "GET ", "PUT ");
	r = sigv4_resign(get, strlen(get), post, strlen(post), NULL, &vec_pair_notoken, 1, &resign_all, NULL, &o);
	assert_int_equal(r, SIGV4_REFUSED);
	free(post);
	free(fwd);
}

/* ---- The chunk re-signer on its own ----------------------------------- */

static const char seed_c[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char seed_n[] = "2222222222222222222222222222222222222222222222222222222222222222";

/* HMAC-SHA256 as bytes. */
static void hm(const void *key, size_t kl, const char *msg, unsigned char out[32])
{
	unsigned int n = 32;
	assert_non_null(HMAC(EVP_sha256(), key, (int)kl, (const unsigned char *)msg, strlen(msg), out, &n));
}

/* An aws-chunked body as the sandbox makes it: signed with secret "m",
 * scope 20240101/r/s3, chained from seed_c (written out here from AWS's
 * description, independently of the module). */
static size_t make_body(char *buf, const char *const *chunks, size_t n)
{
	unsigned char k[32], t[32];
	hm("AWS4m", 5, "20240101", t);
	hm(t, 32, "r", k);
	hm(k, 32, "s3", t);
	hm(t, 32, "aws4_request", k);
	size_t len = 0;
	char prev[65];
	memcpy(prev, seed_c, 65);
	for (size_t i = 0; i <= n; i++) {
		const char *d = i < n ? chunks[i] : "";
		size_t dl = strlen(d);
		char sts[512], dh[65];
		sigv4_sha256_hex(d, dl, dh);
		snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n20240101T000000Z\n20240101/r/s3/aws4_request\n%s\n"
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n%s", prev, dh);
		unsigned char md[32];
		hm(k, 32, sts, md);
		for (int j = 0; j < 32; j++)
			sprintf(prev + 2 * j, "%02x", md[j]);
		len += (size_t)sprintf(buf + len, "%zx;chunk-signature=%s\r\n", dl, prev);
		memcpy(buf + len, d, dl);
		len += dl;
		memcpy(buf + len, "\r\n", 2);
		len += 2;
	}
	return len;
}

static void test_stream_splits(void **state)
{
	(void)state;
	static const char *const chunks[] = {"hello world", "x", "0123456789abcdef0123456789abcdef"};
	char body[2048];
	size_t len = make_body(body, chunks, 3);
	/* Whole, then every two-piece split, then byte by byte: same output. */
	struct sigv4_stream *s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 0);
	struct sigv4_buf whole = {0};
	const char *why = NULL;
	assert_int_equal(sigv4_stream_feed(s, body, len, &whole, &why), SIGV4_STREAM_DONE);
	assert_int_equal(whole.len, len);
	sigv4_stream_free(s);
	for (size_t cut = 0; cut <= len; cut++) {
		s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 0);
		struct sigv4_buf ob = {0};
		enum sigv4_stream_status a = sigv4_stream_feed(s, body, cut, &ob, &why);
		assert_int_equal(a, cut == len ? SIGV4_STREAM_DONE : SIGV4_STREAM_MORE);
		enum sigv4_stream_status b = sigv4_stream_feed(s, body + cut, len - cut, &ob, &why);
		assert_int_equal(b, SIGV4_STREAM_DONE);
		assert_int_equal(ob.len, len);
		assert_memory_equal(ob.data, whole.data, len);
		free(ob.data);
		sigv4_stream_free(s);
	}
	/* The data and sizes are kept, the signatures change. */
	assert_memory_not_equal(whole.data, body, len);
	assert_memory_equal(whole.data, body, 3);
	free(whole.data);
}

static void test_stream_errors(void **state)
{
	(void)state;
	static const char *const chunks[] = {"hello world"};
	char body[1024];
	size_t len = make_body(body, chunks, 1);
	const char *why = NULL;
	struct sigv4_buf ob = {0};
	struct {
		const char *what;
		size_t at;
		char byte;
	} bad[] = {
		{"chunk signature", 20, 'f'},   /* inside the first signature */
		{"chunk header", 1, ';'},       /* "b;" -> ";;" */
		{"data", 90, 'X'},              /* the data: signature no longer matches */
		{"crlf", 95, 'x'},              /* the CRLF after the data */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char copy[1024];
		memcpy(copy, body, len);
		if (copy[bad[i].at] == bad[i].byte)
			bad[i].byte ^= 1;
		copy[bad[i].at] = bad[i].byte;
		struct sigv4_stream *s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 0);
		ob.len = 0;
		assert_int_equal(sigv4_stream_feed(s, copy, len, &ob, &why), SIGV4_STREAM_ERROR);
		assert_non_null(why);
		/* Nothing of a chunk that failed is written. */
		assert_int_equal(ob.len, 0);
		/* And the stream stays failed. */
		assert_int_equal(sigv4_stream_feed(s, "", 0, &ob, &why), SIGV4_STREAM_ERROR);
		sigv4_stream_free(s);
	}
	/* A chunk over the limit is refused as soon as its header is read. */
	struct sigv4_stream *s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 4);
	assert_int_equal(sigv4_stream_feed(s, body, len, &ob, &why), SIGV4_STREAM_ERROR);
	assert_non_null(strstr(why, "limit"));
	sigv4_stream_free(s);
	/* An endless header line. */
	s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 0);
	char junk[300];
	memset(junk, '1', sizeof(junk));
	assert_int_equal(sigv4_stream_feed(s, junk, sizeof(junk), &ob, &why), SIGV4_STREAM_ERROR);
	sigv4_stream_free(s);
	/* Bytes after the final chunk, in the same call. */
	s = sigv4_stream_new("m", "real", "20240101", "r", "s3", "20240101T000000Z", seed_c, seed_n, 0);
	char more[1100];
	memcpy(more, body, len);
	more[len] = 'Z';
	assert_int_equal(sigv4_stream_feed(s, more, len + 1, &ob, &why), SIGV4_STREAM_ERROR);
	sigv4_stream_free(s);
	/* Bad arguments. */
	assert_null(sigv4_stream_new("m", "r", "d", "r", "s", "a", "short", seed_n, 0));
	free(ob.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_doc_get_object),
		cmocka_unit_test(test_aws_suite_query_order),
		cmocka_unit_test(test_aws_doc_presigned),
		cmocka_unit_test(test_aws_doc_streaming),
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_presigned_refusals),
		cmocka_unit_test(test_huge_head),
		cmocka_unit_test(test_body_hashes),
		cmocka_unit_test(test_fwd_head_and_host),
		cmocka_unit_test(test_stream_splits),
		cmocka_unit_test(test_stream_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
