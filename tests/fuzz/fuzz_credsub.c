/* libFuzzer target: the credential stand-in scanner (credsub): fed in random pieces it must give exactly what it gives fed whole, and that must match a plain reference (leftmost, then longest, never rescanning a replacement). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/credsub.h"

#define MAX_PATS 6

/* The reference: obviously correct, quadratic. */
static void reference(const struct credsub_pat *pats, size_t n, const bool *inject, const uint8_t *in, size_t len,
		      struct credsub_out *out)
{
	size_t pos = 0;
	while (pos < len) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (pats[i].standin_len <= len - pos && memcmp(in + pos, pats[i].standin, pats[i].standin_len) == 0 &&
			    (best == n || pats[i].standin_len > pats[best].standin_len))
				best = i;
		if (best == n) {
			credsub_out_append(out, in + pos, 1);
			pos++;
			continue;
		}
		if (inject[best])
			credsub_out_append(out, pats[best].real, pats[best].real_len);
		else
			credsub_out_append(out, pats[best].standin, pats[best].standin_len);
		pos += pats[best].standin_len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* Header: count, then per pattern: standin length, real length, inject;
	 * the stand-in and real bytes follow. Small alphabets (data & 3) make
	 * overlaps and near misses common. */
	size_t n = data[0] % (MAX_PATS + 1);
	size_t off = 1;
	struct credsub_pat pats[MAX_PATS];
	bool inject[MAX_PATS];
	uint8_t store[MAX_PATS][2][32];
	for (size_t i = 0; i < n; i++) {
		if (off + 3 > size)
			return 0;
		size_t sl = data[off] % 12 + 1, rl = data[off + 1] % 20;
		inject[i] = data[off + 2] & 1;
		off += 3;
		if (off + sl + rl > size)
			return 0;
		for (size_t k = 0; k < sl; k++)
			store[i][0][k] = (uint8_t)('a' + (data[off + k] & 3));
		memcpy(store[i][1], data + off + sl, rl);
		off += sl + rl;
		pats[i] = (struct credsub_pat){ .standin = store[i][0], .standin_len = sl, .real = store[i][1],
						.real_len = rl, .cred = (int)i };
	}
	if (off >= size)
		return 0;
	uint8_t cut_seed = data[off++];
	size_t len = size - off;
	uint8_t *text = malloc(len ? len : 1);
	if (!text)
		return 0;
	for (size_t k = 0; k < len; k++)
		text[k] = (data[off + k] & 0x80) ? data[off + k] : (uint8_t)('a' + (data[off + k] & 3));

	struct credsub_out whole = { 0 }, pieces = { 0 }, ref = { 0 };
	bool seen[MAX_PATS];
	if (credsub_oneshot(pats, n, inject, text, len, &whole, seen) < 0)
		abort();
	reference(pats, n, inject, text, len, &ref);
	if (whole.len != ref.len || (whole.len && memcmp(whole.p, ref.p, whole.len) != 0))
		abort();

	struct credsub s;
	if (credsub_init(&s, pats, n, inject) < 0)
		abort();
	size_t pos = 0, k = 0;
	while (pos < len) {
		size_t piece = (size_t)((cut_seed + k * 7 + text[pos]) % 9);
		if (piece > len - pos)
			piece = len - pos;
		if (credsub_feed(&s, text + pos, piece, &pieces) < 0)
			abort();
		pos += piece;
		k++;
		if (s.hold_len >= (s.maxlen ? s.maxlen : 1))
			abort(); /* bounded: never more than the longest stand-in minus one */
	}
	if (credsub_finish(&s, &pieces) < 0)
		abort();
	if (pieces.len != whole.len || (whole.len && memcmp(pieces.p, whole.p, whole.len) != 0))
		abort();
	for (size_t i = 0; i < n; i++)
		if (s.seen[i] != seen[i])
			abort();
	credsub_free(&s);
	credsub_out_free(&whole);
	credsub_out_free(&pieces);
	credsub_out_free(&ref);
	free(text);
	return 0;
}
