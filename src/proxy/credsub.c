/* Streaming stand-in -> real value substitution; see credsub.h. */
#include "proxy/credsub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_MATCH SIZE_MAX

static void wipe(void *p, size_t n)
{
	if (p && n)
		explicit_bzero(p, n);
}

int credsub_out_append(struct credsub_out *o, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (o->len + n > o->cap) {
		size_t nc = o->cap ? o->cap : (n > 256 ? n : 256);
		while (nc < o->len + n)
			nc *= 2;
		/* Not realloc: the old block may hold real values, wipe it. */
		uint8_t *q = malloc(nc);
		if (!q)
			return -ENOMEM;
		if (o->len)
			memcpy(q, o->p, o->len);
		wipe(o->p, o->cap);
		free(o->p);
		o->p = q;
		o->cap = nc;
	}
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

int credsub_out_reserve(struct credsub_out *o, size_t extra)
{
	if (o->cap - o->len >= extra)
		return 0;
	size_t nc = o->len + extra;
	uint8_t *q = malloc(nc);
	if (!q)
		return -ENOMEM;
	if (o->len)
		memcpy(q, o->p, o->len);
	wipe(o->p, o->cap);
	free(o->p);
	o->p = q;
	o->cap = nc;
	return 0;
}

void credsub_out_free(struct credsub_out *o)
{
	if (!o)
		return;
	wipe(o->p, o->cap);
	free(o->p);
	*o = (struct credsub_out){ 0 };
}

int credsub_init(struct credsub *s, const struct credsub_pat *pats, size_t n, const bool *inject)
{
	*s = (struct credsub){ .pats = pats, .n = n };
	for (size_t i = 0; i < n; i++)
		if (pats[i].standin_len > s->maxlen)
			s->maxlen = pats[i].standin_len;
	s->inject = calloc(n ? n : 1, sizeof(*s->inject));
	s->seen = calloc(n ? n : 1, sizeof(*s->seen));
	s->reported = calloc(n ? n : 1, sizeof(*s->reported));
	s->next = calloc(n ? n : 1, sizeof(*s->next));
	s->hold = malloc(s->maxlen ? s->maxlen : 1);
	if (!s->inject || !s->seen || !s->reported || !s->next || !s->hold) {
		credsub_free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		s->inject[i] = inject ? inject[i] : false;
	return 0;
}

void credsub_free(struct credsub *s)
{
	if (!s)
		return;
	free(s->inject);
	free(s->seen);
	free(s->reported);
	free(s->next);
	free(s->hold);
	free(s->work);
	*s = (struct credsub){ 0 };
}

/* Leftmost, then longest, match in w[pos..len) starting before limit. */
static size_t find(struct credsub *s, const uint8_t *w, size_t len, size_t pos, size_t limit, size_t *which)
{
	size_t best = NO_MATCH, best_len = 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct credsub_pat *p = &s->pats[i];
		size_t at = s->next[i];
		if (at == NO_MATCH)
			continue;
		if (at < pos) {
			const uint8_t *m = pos < len ? memmem(w + pos, len - pos, p->standin, p->standin_len) : NULL;
			at = m ? (size_t)(m - w) : NO_MATCH;
			s->next[i] = at;
			if (at == NO_MATCH)
				continue;
		}
		if (at >= limit)
			continue;
		if (at < best || (at == best && p->standin_len > best_len)) {
			best = at;
			best_len = p->standin_len;
			*which = i;
		}
	}
	return best;
}

/* Scan w[0..len); final: no more bytes will come. Appends to out what is
 * decided and keeps the rest in s->hold. */
static int scan(struct credsub *s, const uint8_t *w, size_t len, bool final, struct credsub_out *out)
{
	/* A match starting before limit is complete in w (no stand-in is
	 * longer than maxlen); one starting later may still grow. */
	size_t limit;
	if (final)
		limit = len;
	else if (len >= s->maxlen)
		limit = len - (s->maxlen - 1);
	else
		limit = 0;
	for (size_t i = 0; i < s->n; i++) {
		const uint8_t *m = len ? memmem(w, len, s->pats[i].standin, s->pats[i].standin_len) : NULL;
		s->next[i] = m ? (size_t)(m - w) : NO_MATCH;
	}
	size_t pos = 0;
	for (;;) {
		size_t which = 0;
		size_t at = find(s, w, len, pos, limit, &which);
		if (at == NO_MATCH)
			break;
		const struct credsub_pat *p = &s->pats[which];
		int r = credsub_out_append(out, w + pos, at - pos);
		if (r == 0)
			r = s->inject[which] ? credsub_out_append(out, p->real, p->real_len) :
					       credsub_out_append(out, p->standin, p->standin_len);
		if (r < 0)
			return r;
		s->seen[which] = true;
		if (s->inject[which])
			s->replaced++;
		else
			s->passed++;
		pos = at + p->standin_len;
	}
	size_t keep_from = limit > pos ? limit : pos;
	int r = credsub_out_append(out, w + pos, keep_from - pos);
	if (r < 0)
		return r;
	s->hold_len = len - keep_from;
	if (s->hold_len)
		memmove(s->hold, w + keep_from, s->hold_len);
	return 0;
}

int credsub_feed(struct credsub *s, const uint8_t *in, size_t n, struct credsub_out *out)
{
	if (n == 0)
		return 0;
	if (s->n == 0)
		return credsub_out_append(out, in, n);
	size_t saved = out->len;
	/* Room for what is likely to come out at once: one allocation, not
	 * a doubling series (each old block is wiped). */
	if (out->cap - out->len < s->hold_len + n && credsub_out_reserve(out, s->hold_len + n + 256) < 0)
		return -ENOMEM;
	if (s->work_cap < s->hold_len + n) {
		free(s->work);
		s->work_cap = s->hold_len + n;
		if (!(s->work = malloc(s->work_cap))) {
			s->work_cap = 0;
			return -ENOMEM;
		}
	}
	uint8_t *w = s->work;
	memcpy(w, s->hold, s->hold_len);
	memcpy(w + s->hold_len, in, n);
	int r = scan(s, w, s->hold_len + n, false, out);
	if (r < 0)
		out->len = saved;
	return r;
}

int credsub_finish(struct credsub *s, struct credsub_out *out)
{
	if (s->hold_len == 0)
		return 0;
	uint8_t *w = malloc(s->hold_len);
	if (!w)
		return -ENOMEM;
	size_t n = s->hold_len;
	memcpy(w, s->hold, n);
	s->hold_len = 0;
	int r = scan(s, w, n, true, out);
	free(w);
	return r;
}

int credsub_oneshot(const struct credsub_pat *pats, size_t n, const bool *inject, const uint8_t *in, size_t len,
		    struct credsub_out *out, bool *seen)
{
	struct credsub s;
	int r = credsub_init(&s, pats, n, inject);
	if (r < 0)
		return r;
	if (len) {
		r = s.n ? scan(&s, in, len, true, out) : credsub_out_append(out, in, len);
	}
	if (r == 0 && seen)
		for (size_t i = 0; i < n; i++)
			seen[i] = s.seen[i];
	credsub_free(&s);
	return r;
}
