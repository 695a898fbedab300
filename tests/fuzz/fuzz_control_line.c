/* libFuzzer target: srt --control-fd's line framing (control_line.c), fed the same bytes in arbitrary pieces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/control_line.h"

#define MAX 64

struct seen {
	unsigned long lines;
	char *text;             /* what the lines kept, each followed by '\n' */
	size_t len;
};

static void on_line(void *data, unsigned long number, const char *text, size_t len, bool too_long)
{
	struct seen *s = data;
	if (number != s->lines + 1)
		abort();
	s->lines = number;
	if (too_long) {
		if (text)
			abort();
		return;
	}
	if (len > MAX || text[len] != '\0' || memchr(text, '\n', len))
		abort();
	char *t = realloc(s->text, s->len + len + 1);
	if (!t)
		abort();
	memcpy(t + s->len, text, len);
	t[s->len + len] = '\n';
	s->text = t;
	s->len += len + 1;
}

static void run(const uint8_t *data, size_t size, size_t piece, struct seen *s)
{
	struct control_lines cl;
	control_lines_init(&cl, MAX);
	for (size_t off = 0; off < size;) {
		size_t n = size - off < piece ? size - off : piece;
		control_lines_feed(&cl, (const char *)data + off, n, on_line, s);
		off += n;
	}
	control_lines_end(&cl, on_line, s);
	control_lines_free(&cl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = data[0] % 17 + 1;
	data++;
	size--;
	struct seen whole = { 0 }, pieces = { 0 };
	run(data, size, size ? size : 1, &whole);
	run(data, size, piece, &pieces);
	/* However the bytes come, the same lines. */
	if (whole.lines != pieces.lines || whole.len != pieces.len ||
	    (whole.len && memcmp(whole.text, pieces.text, whole.len) != 0))
		abort();
	/* As many lines as newlines, and one more for bytes after the last. */
	size_t nl = 0;
	for (size_t i = 0; i < size; i++)
		nl += data[i] == '\n';
	if (whole.lines != nl + (size && data[size - 1] != '\n'))
		abort();
	free(whole.text);
	free(pieces.text);
	return 0;
}
