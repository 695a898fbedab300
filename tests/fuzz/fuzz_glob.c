/* libFuzzer target: glob_match on a pattern and a path split from the input at the first NUL, checked against a slow reference. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/glob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A deliberately naive matcher with the documented rules, written
 * independently of glob.c: recursion instead of backtracking pointers. It
 * is exponential, so it only runs on short inputs. */

/* Class at p ('[' already seen at p[-1]) against c within [p, end).
 * Returns the length consumed after '[' including ']', or 0 if unclosed. */
static size_t ref_class(const char *p, const char *end, unsigned char c, bool *in)
{
	const char *q = p;
	bool neg = false;
	if (q < end && (*q == '!' || *q == '^')) {
		neg = true;
		q++;
	}
	bool hit = false;
	const char *first = q;
	while (q < end && !(*q == ']' && q != first)) {
		unsigned char lo, hi;
		if (*q == '\\' && q + 1 < end)
			q++;
		lo = (unsigned char)*q++;
		hi = lo;
		if (q + 1 < end && *q == '-' && q[1] != ']') {
			q++;
			if (*q == '\\' && q + 1 < end)
				q++;
			hi = (unsigned char)*q++;
		}
		if (lo <= c && c <= hi)
			hit = true;
	}
	if (q >= end)
		return 0;
	*in = hit != neg;
	return (size_t)(q + 1 - p);
}

static bool ref_seg(const char *p, const char *pe, const char *s, const char *se)
{
	if (p == pe)
		return s == se;
	if (*p == '*') {
		for (const char *t = s; t <= se; t++)
			if (ref_seg(p + 1, pe, t, se))
				return true;
		return false;
	}
	if (s == se)
		return false;
	unsigned char c = (unsigned char)*s;
	if (*p == '?')
		return ref_seg(p + 1, pe, s + 1, se);
	if (*p == '[') {
		bool in;
		size_t n = ref_class(p + 1, pe, c, &in);
		if (n)
			return in && ref_seg(p + 1 + n, pe, s + 1, se);
		return c == '[' && ref_seg(p + 1, pe, s + 1, se);
	}
	if (*p == '\\' && p + 1 < pe)
		return c == (unsigned char)p[1] && ref_seg(p + 2, pe, s + 1, se);
	return c == (unsigned char)*p && ref_seg(p + 1, pe, s + 1, se);
}

#define REF_MAX 32

struct comps {
	const char *b[REF_MAX];
	const char *e[REF_MAX];
	size_t n;
};

static void split(const char *x, struct comps *c)
{
	c->n = 0;
	while (*x) {
		while (*x == '/')
			x++;
		if (!*x)
			break;
		c->b[c->n] = x;
		while (*x && *x != '/')
			x++;
		c->e[c->n++] = x;
	}
}

static bool ref_path(const struct comps *p, size_t i, const struct comps *s, size_t j)
{
	if (i == p->n)
		return j == s->n;
	if (p->e[i] - p->b[i] == 2 && p->b[i][0] == '*' && p->b[i][1] == '*') {
		for (size_t k = j; k <= s->n; k++)
			if (ref_path(p, i + 1, s, k))
				return true;
		return false;
	}
	return j < s->n && ref_seg(p->b[i], p->e[i], s->b[j], s->e[j]) && ref_path(p, i + 1, s, j + 1);
}

static bool ref_match(const char *pat, const char *path)
{
	if ((pat[0] == '/') != (path[0] == '/'))
		return false;
	struct comps p, s;
	split(pat, &p);
	split(path, &s);
	return ref_path(&p, 0, &s, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 2);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	buf[size + 1] = '\0';
	const char *pattern = buf;
	size_t plen = strlen(buf);
	const char *path = plen < size ? buf + plen + 1 : buf + size + 1;

	bool m = glob_match(pattern, path);
	(void)glob_has_magic(pattern);

	/* A path without magic characters matches itself. */
	if (path[0] == '/' && !strpbrk(path, "*?[\\") && !glob_match(path, path))
		abort();

	/* Differential check where the reference stays cheap: few stars. */
	size_t stars = 0;
	for (const char *c = pattern; *c; c++)
		stars += *c == '*';
	if (strlen(pattern) <= REF_MAX && strlen(path) <= REF_MAX && stars <= 6 &&
	    m != ref_match(pattern, path))
		abort();
	free(buf);
	return 0;
}
