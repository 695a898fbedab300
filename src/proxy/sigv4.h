/* AWS Signature Version 4 re-signing: a request the sandbox signed with a masked AWS key pair is verified with the masked secret and signed again with the real one (Authorization header, presigned query, aws-chunked streaming bodies); no I/O. */
#ifndef SRT_PROXY_SIGV4_H
#define SRT_PROXY_SIGV4_H

/*
 * What this module does
 * ---------------------
 * The sandbox sees a stand-in access key id, secret access key and
 * (optionally) session token instead of the real ones. An AWS SDK inside
 * signs its requests with the stand-ins. The signature is an HMAC keyed by
 * (a key derived from) the secret, so no byte substitution can repair it:
 * the proxy has to sign the request again with the real secret. This module
 * does that on a complete HTTP/1.1 request head:
 *
 *   1. find the access key id the request is signed with: in an
 *      "Authorization: AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/
 *      <service>/aws4_request, SignedHeaders=..., Signature=..." field, or
 *      in the X-Amz-Credential query parameter of a presigned URL;
 *   2. if it is not one of the masked ids given (a real key the sandbox
 *      holds, another account, no signature at all): SIGV4_NOT_AWS, the
 *      head is not touched -- the sandbox never sees a real key id, so a
 *      real one in a request is not ours to bless;
 *   3. apply the policy for the request's shape (presigned, streaming,
 *      SigV4a): deny (SIGV4_REFUSED), pass through unmodified (SIGV4_PASS),
 *      or re-sign;
 *   4. rebuild the canonical request exactly as AWS defines it and check
 *      that the sandbox's signature verifies with the MASKED secret: a
 *      request carrying the masked key id with any other signature (forged,
 *      corrupted, or canonicalised in a way this module does not reproduce)
 *      is refused, never blessed with the real key;
 *   5. rebuild the canonical request over the head as it will be forwarded
 *      and sign it with the REAL secret: the new head carries the real key
 *      id and the new signature (Authorization, or X-Amz-Credential and
 *      X-Amz-Signature), the real session token in X-Amz-Security-Token,
 *      and, when the body hash was recomputed, x-amz-content-sha256.
 *
 * Canonical request (AWS SigV4): method; canonical URI -- for the "s3"
 * service the path exactly as sent (S3 object keys are byte-significant
 * and S3 does not encode again), for every other service the path with
 * "." and ".." segments resolved and empty segments removed, then
 * percent-encoded once more (so "%20" becomes "%2520", '/' kept);
 * canonical query -- every name and value percent-decoded then encoded
 * (RFC 3986 unreserved characters kept, '+' is a plus, not a space),
 * sorted by name then value, X-Amz-Signature left out when presigned;
 * the signed fields, lowercase, sorted, values trimmed with runs of spaces
 * and tabs collapsed to one space, repeated fields joined with ','; the
 * signed field list; the payload hash (x-amz-content-sha256 when sent,
 * "UNSIGNED-PAYLOAD" for S3 presigned URLs, else the body's SHA-256).
 * The key is HMAC("AWS4"+secret, date) -> region -> service ->
 * "aws4_request".
 *
 * Where it sits: the caller (credential substitution, on a request to a
 * host in the access key id's injectHosts, over terminated TLS) first does
 * its own stand-in substitution on the head, then calls sigv4_resign() with
 * both the head as the sandbox sent it (detection, verification) and the
 * substituted head (what is signed and forwarded). Calling it for a host
 * outside injectHosts is the caller's mistake: this module does not know
 * hosts.
 *
 * Not done: SigV4a (AWS4-ECDSA-P256-SHA256) is never re-signed (its
 * policy's SIGV4_RESIGN is treated as deny); a streaming body with signed
 * trailers (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER) is refused under
 * SIGV4_RESIGN.
 *
 * Secrets: reasons are static strings and never contain a key, token or
 * signature; derived keys held by a stream are wiped when it is freed.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Heads larger than this are refused (SIGV4_REFUSED). */
#define SIGV4_HEAD_MAX (64 * 1024)
/* Fields in a head; more are refused. */
#define SIGV4_FIELDS_MAX 128
/* Default largest aws-chunked chunk a stream holds (the whole chunk is held
 * until its signature can be computed). */
#define SIGV4_CHUNK_MAX_DEFAULT (8u * 1024 * 1024)

/* One masked AWS credential. Every string NUL-terminated; the module keeps
 * no pointer to them after a call returns. */
struct sigv4_pair {
	const char *masked_akid;    /* the stand-in access key id the sandbox sees (required) */
	const char *real_akid;      /* required */
	const char *masked_secret;  /* the stand-in secret access key (required: verification) */
	const char *real_secret;    /* required */
	const char *masked_token;   /* the stand-in session token, or NULL */
	const char *real_token;     /* the real session token, or NULL (both or neither) */
};

/* What to do with a request shape signed with a masked key id. The zero
 * value is deny, so a zeroed struct sigv4_opts denies everything that is
 * not a plain Authorization-header request. Settings spell these "deny",
 * "passthrough" and "resign". */
enum sigv4_policy {
	SIGV4_DENY = 0,      /* refuse (SIGV4_REFUSED) */
	SIGV4_PASSTHROUGH,   /* forward unmodified (SIGV4_PASS); AWS will reject the signature */
	SIGV4_RESIGN,        /* re-sign (sigv4a: not implemented, treated as deny) */
};

struct sigv4_opts {
	enum sigv4_policy streaming;  /* x-amz-content-sha256: STREAMING-... (aws-chunked bodies) */
	enum sigv4_policy presigned;  /* X-Amz-Signature in the query string */
	enum sigv4_policy sigv4a;     /* AWS4-ECDSA-P256-SHA256 */
	size_t chunk_max;             /* largest streaming chunk; 0: SIGV4_CHUNK_MAX_DEFAULT */
};

/* What is known of the request body. All optional (pass NULL for none).
 * A head without Content-Length and Transfer-Encoding, or with
 * Content-Length: 0, has an empty body: its hash is known without this. */
struct sigv4_body {
	/* SHA-256 of the body as the sandbox sent it (checks the sandbox's
	 * signature) and as it will be forwarded, after the caller's own
	 * substitutions (the new signature); NULL when not known. */
	const uint8_t *client_sha256;
	const uint8_t *sent_sha256;
	/* The body is forwarded byte for byte as the sandbox sent it: either
	 * hash stands for both, and a body hash the sandbox declared in
	 * x-amz-content-sha256 is trusted (AWS checks it against the bytes). */
	bool verbatim;
};

enum sigv4_result {
	SIGV4_NOT_AWS = 0, /* not SigV4, or not signed with a masked key id: forward as is */
	SIGV4_PASS,        /* masked key id, shape passed through by policy: forward as is */
	SIGV4_RESIGNED,    /* out->head is the head to forward */
	SIGV4_NEED_BODY,   /* the signature covers the body's SHA-256, which is not known:
			    * read the whole body (bounded), call again with body hashes */
	SIGV4_REFUSED,     /* refuse the request (403); out->reason says why */
};

/* The request's shape, when signed with a masked key id. */
enum sigv4_kind {
	SIGV4_KIND_NONE = 0,
	SIGV4_KIND_HEADER,     /* Authorization header, whole-body payload hash or UNSIGNED-PAYLOAD */
	SIGV4_KIND_STREAMING,  /* Authorization header, STREAMING-... payload */
	SIGV4_KIND_PRESIGNED,  /* query-string signature */
	SIGV4_KIND_SIGV4A,     /* AWS4-ECDSA-P256-SHA256, header or query */
};

struct sigv4_stream;

struct sigv4_out {
	enum sigv4_kind kind;
	size_t pair;         /* index into pairs[] of the key used (kind != NONE) */
	const char *reason;  /* SIGV4_REFUSED (and NEED_BODY): static text, no secrets */
	char *head;          /* SIGV4_RESIGNED: malloc'd head (CRLF CRLF-terminated); free() it */
	size_t head_len;
	/* SIGV4_RESIGNED with STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the body must
	 * go through this re-signer (sigv4_stream_feed); free with
	 * sigv4_stream_free(). NULL otherwise (STREAMING-UNSIGNED-PAYLOAD-TRAILER
	 * bodies carry no signatures and are forwarded as they are). */
	struct sigv4_stream *stream;
};

/*
 * Re-sign a request head.
 *
 * head[0..head_len): the request head exactly as the sandbox sent it:
 * request line (origin-form "/path?query" or absolute-form
 * "https://host/path?query"), fields, final empty line; CRLF line ends.
 * Bytes after the head are ignored.
 * fwd[0..fwd_len): the same head after the caller's own substitutions, the
 * one to forward; NULL to forward head itself. Its Authorization,
 * X-Amz-Security-Token, presigned X-Amz-Credential/X-Amz-Signature and
 * (when recomputed) x-amz-content-sha256 are rewritten; everything else is
 * kept byte for byte.
 * When the caller changed the body (a stand-in replaced), fwd carries the
 * body's new Content-Length, and body->sent_sha256 its new hash.
 * host: the Host value the request goes upstream with (the tunnel's
 * authority, without ":443" for https as SDKs write it), which is what
 * gets signed; the output's Host field is set to it (added if absent).
 * NULL: the head's own Host field (required then).
 *
 * Returns a sigv4_result and fills *out (zeroed first). On SIGV4_RESIGNED
 * the caller owns out->head and out->stream.
 */
enum sigv4_result sigv4_resign(const char *head, size_t head_len,
			       const char *fwd, size_t fwd_len,
			       const char *host,
			       const struct sigv4_pair *pairs, size_t npairs,
			       const struct sigv4_opts *opts,
			       const struct sigv4_body *body,
			       struct sigv4_out *out);

/* Free what sigv4_resign() left in *out (head, stream); *out is zeroed. */
void sigv4_out_free(struct sigv4_out *out);

/*
 * aws-chunked body re-signing (x-amz-content-sha256:
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD). The body is a sequence of chunks
 *   hex-size ";chunk-signature=" 64-hex CRLF  data  CRLF
 * ending with a chunk of size 0. Each chunk's signature chains from the
 * previous one (the first from the head's signature, the "seed"). The
 * re-signer checks each of the sandbox's chunk signatures against the
 * masked key and replaces it with one chained from the re-signed seed;
 * the size text and data are kept, so the body's length does not change
 * (Content-Length and x-amz-decoded-content-length stay true).
 *
 * Feed the body bytes (after any HTTP transfer coding is removed) in pieces
 * of any size; a chunk is written to out once it is complete (its data is
 * held until then, at most opts.chunk_max bytes).
 */
struct sigv4_buf {
	char *data;   /* malloc'd; the caller consumes data[0..len), may reset len to 0, frees data */
	size_t len;
	size_t cap;
};

enum sigv4_stream_status {
	SIGV4_STREAM_ERROR = -1, /* malformed chunk, bad signature, too large: *reason; abort the request */
	SIGV4_STREAM_MORE = 0,   /* all input taken; more body expected */
	SIGV4_STREAM_DONE = 1,   /* the final chunk has been written; the body is complete */
};

/* Append the re-signed form of in[0..len) to out. After DONE or ERROR every
 * further call is ERROR (bytes after the final chunk are not a body). */
enum sigv4_stream_status sigv4_stream_feed(struct sigv4_stream *s, const char *in, size_t len,
					   struct sigv4_buf *out, const char **reason);
void sigv4_stream_free(struct sigv4_stream *s);

/*
 * A stream re-signer from its parts (sigv4_resign() makes one for a
 * streaming request; tests and tools use this). date is the scope's
 * YYYYMMDD, amz_date the x-amz-date value; client_seed and new_seed the
 * head's signatures (64 lowercase hex) under the masked and real secrets.
 * NULL on bad arguments or memory.
 */
struct sigv4_stream *sigv4_stream_new(const char *masked_secret, const char *real_secret,
				      const char *date, const char *region, const char *service,
				      const char *amz_date, const char *client_seed, const char *new_seed,
				      size_t chunk_max);

/* Lowercase hex SHA-256 of data (65 bytes with the NUL). */
void sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
