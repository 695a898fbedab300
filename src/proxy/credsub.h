/* Streaming stand-in -> real value substitution for masked credentials (request heads and bodies). */
#ifndef SRT_PROXY_CREDSUB_H
#define SRT_PROXY_CREDSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A masked credential is seen by the sandbox as one or more stand-ins; the
 * proxy swaps a stand-in for its real value in what is sent to a host the
 * credential may be injected at, and only reports it (never swaps) when it
 * goes anywhere else.
 *
 * The scanner looks for every stand-in of a request in a byte stream fed
 * in pieces of any size: a stand-in split across pieces is found as if the
 * stream came whole. Matching is leftmost, then longest; a replaced real
 * value is never scanned again. Memory is bounded: at most the longest
 * stand-in minus one byte is held back between calls, and a work buffer
 * as large as the largest piece fed (plus that hold) is kept for reuse.
 */

struct credsub_pat {
	const uint8_t *standin;
	size_t standin_len;      /* >= 1 */
	const uint8_t *real;
	size_t real_len;
	int cred;                /* the credential it belongs to (an index of the caller's) */
};

/* A growable output buffer (malloc'd). */
struct credsub_out {
	uint8_t *p;
	size_t len, cap;
};

struct credsub {
	const struct credsub_pat *pats; /* borrowed: must outlive the scanner */
	size_t n;
	bool *inject;            /* per pattern: replace (true) or only report (false) */
	bool *seen;              /* per pattern: found at least once */
	bool *reported;          /* per pattern: for the caller (its reports), initially false */
	size_t *next;            /* per pattern: cached position of its next match in the work buffer */
	size_t maxlen;
	uint8_t *hold;           /* up to maxlen - 1 bytes carried to the next call */
	size_t hold_len;
	uint8_t *work;           /* hold + the bytes of one call, kept for the next */
	size_t work_cap;
	uint64_t replaced, passed; /* stand-ins replaced, and found but passed on as they are */
};

/* inject[i]: whether pats[i] is replaced (copied). Returns 0 or -ENOMEM. */
int credsub_init(struct credsub *s, const struct credsub_pat *pats, size_t n, const bool *inject);
void credsub_free(struct credsub *s);

/* Scan in[0..n) and append what may be passed on to out (the held-back
 * tail comes out with a later call or credsub_finish). Returns 0 or -ENOMEM
 * (out keeps what it had). */
int credsub_feed(struct credsub *s, const uint8_t *in, size_t n, struct credsub_out *out);
/* End of stream: append the held-back bytes (scanned as the stream's end). */
int credsub_finish(struct credsub *s, struct credsub_out *out);

/* Whole text at once: credsub_feed + credsub_finish on a fresh scanner. */
int credsub_oneshot(const struct credsub_pat *pats, size_t n, const bool *inject, const uint8_t *in, size_t len,
		    struct credsub_out *out, bool *seen);

/* Append n bytes; 0 or -ENOMEM. */
int credsub_out_append(struct credsub_out *o, const void *p, size_t n);
/* Make room for extra more bytes; 0 or -ENOMEM. */
int credsub_out_reserve(struct credsub_out *o, size_t extra);
/* Wipe and free. */
void credsub_out_free(struct credsub_out *o);

#endif
