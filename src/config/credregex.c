/* Extract patterns to POSIX extended regular expressions; see credregex.h. */
#include "config/credregex.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATTERN_MAX 4096

struct sb {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct sb *b, const char *s)
{
	size_t n = strlen(s);
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		while (nc < b->len + n + 1)
			nc *= 2;
		char *q = realloc(b->p, nc);
		if (!q) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
}

static void putc_(struct sb *b, char c)
{
	char s[2] = { c, 0 };
	put(b, s);
}

static bool is_punct_escape(char c)
{
	return c && strchr("\\/.-^$*+?()[]{}|", c) != NULL;
}

/* Translate; returns NULL with *why on a refused construct. */
static char *translate(const char *in, const char **why)
{
	struct sb b = { 0 };
	bool in_class = false;
	size_t class_start = 0;
	for (size_t i = 0; in[i]; i++) {
		char c = in[i];
		if (in_class) {
			if (c == ']' && i > class_start) {
				in_class = false;
				putc_(&b, ']');
			} else if (c == '\\') {
				char e = in[++i];
				if (e == 'd')
					put(&b, "0-9");
				else if (e == 's')
					put(&b, " \t\n\r\f\v");
				else if (e == 'w')
					put(&b, "A-Za-z0-9_");
				else if (e == 't')
					putc_(&b, '\t');
				else if (e == 'n')
					putc_(&b, '\n');
				else if (e == 'r')
					putc_(&b, '\r');
				else if (e == ']')
					/* POSIX has no escape for ']' inside [...]. */
					goto refuse_class;
				else if (e == '-')
					/* a '-' is literal last: refuse the middle */
					goto refuse_class;
				else if (is_punct_escape(e))
					putc_(&b, e);
				else
					goto refuse_class;
			} else if (c == '[' && (in[i + 1] == ':' || in[i + 1] == '=' || in[i + 1] == '.')) {
				*why = "[: :], [= =] and [. .] inside a bracket expression are not supported";
				goto fail;
			} else {
				putc_(&b, c);
			}
			continue;
		}
		switch (c) {
		case '[':
			in_class = true;
			putc_(&b, '[');
			class_start = i + 1;
			if (in[i + 1] == '^') {
				putc_(&b, '^');
				i++;
				class_start = i + 1;
			}
			if (in[i + 1] == ']') {
				/* JavaScript: [] and [^] are special; refuse. */
				*why = "an empty bracket expression ([] or [^]) is not supported";
				goto fail;
			}
			break;
		case '(':
			if (in[i + 1] == '?') {
				*why = "(?...) groups (non-capturing, lookaround, named) are not supported: srt uses POSIX "
				       "extended regular expressions, where group 1 is the first '('";
				goto fail;
			}
			putc_(&b, c);
			break;
		case '*':
		case '+':
		case '?':
		case '}':
			putc_(&b, c);
			if (in[i + 1] == '?') {
				*why = "lazy quantifiers (*? +? ?? {n,m}?) are not supported: POSIX matching is "
				       "leftmost-longest";
				goto fail;
			}
			break;
		case '\\': {
			char e = in[++i];
			if (e == 'd')
				put(&b, "[0-9]");
			else if (e == 'D')
				put(&b, "[^0-9]");
			else if (e == 's' || e == 'S' || e == 'w' || e == 'W')
				/* GNU extensions of regcomp, same meaning (ASCII) */
				putc_(&b, '\\'), putc_(&b, e);
			else if (e == 't')
				putc_(&b, '\t');
			else if (e == 'n')
				putc_(&b, '\n');
			else if (e == 'r')
				putc_(&b, '\r');
			else if (is_punct_escape(e) || e == '"' || e == '\'' || e == ':' || e == '=' || e == '@' ||
				 e == '#' || e == ',' || e == ' ' || e == '&' || e == '%' || e == '!' || e == '<' ||
				 e == '>' || e == '~' || e == ';' || e == '_')
				putc_(&b, '\\'), putc_(&b, e);
			else if (e == '\0') {
				*why = "the pattern ends with a lone backslash";
				goto fail;
			} else {
				*why = "this escape is not supported (supported: \\d \\D \\s \\S \\w \\W \\t \\n \\r and "
				       "escaped punctuation)";
				goto fail;
			}
			break;
		}
		default:
			putc_(&b, c);
		}
	}
	if (in_class) {
		*why = "unterminated bracket expression '['";
		goto fail;
	}
	if (b.oom || !b.p) {
		if (!b.p && !b.oom)
			return strdup("");
		*why = "out of memory";
		goto fail;
	}
	return b.p;
refuse_class:
	*why = "inside [...] only \\d \\s \\w \\t \\n \\r and escaped punctuation other than \\] and \\- are supported";
fail:
	free(b.p);
	return NULL;
}

/*
 * glibc compiles X+ as X X* and X{n,m} as n to m copies of X, so nested
 * repetition grows the compiled pattern exponentially (a 400-byte pattern
 * took over 2 GiB). Refuse a pattern whose expansion would exceed
 * WEIGHT_MAX atoms, and a quantifier right after another (JavaScript
 * refuses those too: "nothing to repeat").
 */
#define WEIGHT_MAX 4096u
#define DEPTH_MAX 64

static const char *complexity(const char *in)
{
	unsigned long sum[DEPTH_MAX + 1], last = 0;
	int depth = 0;
	bool after_quant = false, have_atom = false;
	sum[0] = 0;
	for (size_t i = 0; in[i]; i++) {
		char c = in[i];
		unsigned long factor = 0;
		if (c == '*' || c == '?') {
			factor = 1;
		} else if (c == '+') {
			factor = 2;
		} else if (c == '{' && in[i + 1] >= '0' && in[i + 1] <= '9') {
			size_t j = i + 1;
			unsigned long n = 0, m = 0;
			while (in[j] >= '0' && in[j] <= '9' && n < 100000)
				n = n * 10 + (unsigned long)(in[j++] - '0');
			m = n;
			if (in[j] == ',') {
				j++;
				m = 0;
				while (in[j] >= '0' && in[j] <= '9' && m < 100000)
					m = m * 10 + (unsigned long)(in[j++] - '0');
			}
			if (in[j] == '}') {
				factor = (m > n ? m : n) + 1;
				i = j;
			}
		}
		if (factor) {
			if (after_quant)
				return "a quantifier right after another (such as a++ or a*{2}) is not supported";
			if (!have_atom)
				return "a quantifier with nothing before it to repeat";
			sum[depth] += last * (factor - 1);
			last *= factor;
			after_quant = true;
		} else if (c == '(') {
			if (in[i + 1] == '?')
				return NULL; /* refused by translate, with its reason */
			if (depth == DEPTH_MAX)
				return "groups nested more than 64 deep";
			sum[++depth] = 0;
			have_atom = false;
			after_quant = false;
			continue;
		} else if (c == ')') {
			if (depth == 0)
				return NULL; /* regcomp says what is wrong */
			last = sum[depth--] + 1;
			sum[depth] += last;
			have_atom = true;
			after_quant = false;
		} else if (c == '|') {
			have_atom = false;
			after_quant = false;
			continue;
		} else {
			if (c == '\\' && in[i + 1])
				i++;
			else if (c == '[') {
				size_t j = i + 1;
				if (in[j] == '^')
					j++;
				if (in[j] == ']')
					j++;
				while (in[j] && in[j] != ']')
					j += in[j] == '\\' && in[j + 1] ? 2 : 1;
				i = in[j] ? j : j - 1;
			}
			last = 1;
			sum[depth] += 1;
			have_atom = true;
			after_quant = false;
		}
		if (sum[depth] > WEIGHT_MAX || last > WEIGHT_MAX)
			return "the pattern repeats too much (nested or large repetition counts): simplify it";
	}
	return NULL;
}

int credregex_compile(const char *pattern, regex_t *re, const char **why, char *buf, size_t bufsize)
{
	if (strlen(pattern) > PATTERN_MAX) {
		*why = "the pattern is longer than 4096 bytes";
		return -EINVAL;
	}
	if ((*why = complexity(pattern)) != NULL)
		return -EINVAL;
	char *ere = translate(pattern, why);
	if (!ere)
		return -EINVAL;
	int rc = regcomp(re, ere, REG_EXTENDED);
	free(ere);
	if (rc != 0) {
		char text[160];
		regerror(rc, re, text, sizeof(text));
		snprintf(buf, bufsize, "not a valid regular expression: %s", text);
		*why = buf;
		return -EINVAL;
	}
	if (re->re_nsub < 1) {
		regfree(re);
		*why = "the pattern has no capturing group: group 1 must capture the secret, e.g. \"token:\\\\s*(\\\\S+)\"";
		return -EINVAL;
	}
	return 0;
}
