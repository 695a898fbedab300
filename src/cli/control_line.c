/* srt --control-fd's framing: newline-delimited lines of at most a fixed length. */
#include "cli/control_line.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void control_lines_init(struct control_lines *cl, size_t max)
{
	memset(cl, 0, sizeof(*cl));
	cl->max = max;
}

static void deliver(struct control_lines *cl, control_line_fn fn, void *data)
{
	cl->number++;
	if (cl->skipping) {
		fn(data, cl->number, NULL, 0, true);
	} else {
		size_t len = cl->len;
		if (len > 0 && cl->buf[len - 1] == '\r')
			len--;
		if (cl->buf)
			cl->buf[len] = '\0';
		fn(data, cl->number, cl->buf ? cl->buf : "", len, false);
	}
	cl->len = 0;
	cl->skipping = false;
	cl->started = false;
}

/* Keep n more bytes of the current line, or start skipping it. The '\r'
 * that may end it is one byte past max at most. */
static int keep(struct control_lines *cl, const char *p, size_t n)
{
	if (cl->skipping || n == 0)
		return 0;
	size_t limit = cl->max + 1;
	if (n > limit - cl->len || cl->len + n > limit) {
		cl->skipping = true;
		cl->len = 0;
		return 0;
	}
	if (cl->len + n + 1 > cl->cap) {
		size_t cap = cl->cap ? cl->cap : 256;
		while (cap < cl->len + n + 1)
			cap *= 2;
		if (cap > limit + 1)
			cap = limit + 1;
		char *b = realloc(cl->buf, cap);
		if (!b) {
			cl->skipping = true;
			cl->len = 0;
			return -ENOMEM;
		}
		cl->buf = b;
		cl->cap = cap;
	}
	memcpy(cl->buf + cl->len, p, n);
	cl->len += n;
	return 0;
}

int control_lines_feed(struct control_lines *cl, const char *p, size_t n, control_line_fn fn, void *data)
{
	int r = 0;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t part = nl ? (size_t)(nl - p) : n;
		cl->started = true;
		if (keep(cl, p, part) < 0)
			r = -ENOMEM;
		if (!nl)
			break;
		/* A '\r' kept as the (max+1)th byte is only allowed when it ends
		 * the line: anything longer is too long. */
		if (!cl->skipping && cl->len > cl->max && cl->buf[cl->len - 1] != '\r') {
			cl->skipping = true;
			cl->len = 0;
		}
		deliver(cl, fn, data);
		p = nl + 1;
		n -= part + 1;
	}
	if (!cl->skipping && cl->len > cl->max && cl->buf[cl->len - 1] != '\r') {
		cl->skipping = true;
		cl->len = 0;
	}
	return r;
}

void control_lines_end(struct control_lines *cl, control_line_fn fn, void *data)
{
	if (!cl->started)
		return;
	if (!cl->skipping && cl->len > cl->max && cl->buf[cl->len - 1] != '\r') {
		cl->skipping = true;
		cl->len = 0;
	}
	deliver(cl, fn, data);
}

void control_lines_free(struct control_lines *cl)
{
	free(cl->buf);
	memset(cl, 0, sizeof(*cl));
}
