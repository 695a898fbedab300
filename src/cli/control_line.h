/* srt --control-fd's framing: bytes in, whole lines out (newline-delimited, bounded). Pure: no I/O. */
#ifndef SRT_CLI_CONTROL_LINE_H
#define SRT_CLI_CONTROL_LINE_H

#include <stdbool.h>
#include <stddef.h>

/* Lines end at '\n'; a '\r' right before it is dropped. A line longer than
 * max bytes (its newline and '\r' not counted) is not kept: it is reported
 * once, as too_long, when its newline (or the end of input) comes, and the
 * bytes after that newline start the next line as usual. The text handed
 * over is NUL-terminated at len (it may hold NUL bytes of its own). */
typedef void (*control_line_fn)(void *data, unsigned long number, const char *text, size_t len, bool too_long);

struct control_lines {
	size_t max;               /* the longest line kept, in bytes */
	char *buf;                /* the line so far */
	size_t len, cap;
	bool skipping;            /* the line so far is longer than max */
	bool started;             /* some byte of the current line came */
	unsigned long number;     /* lines completed so far */
};

void control_lines_init(struct control_lines *cl, size_t max);
/* Hand over n bytes: fn is called for each line they complete, in order.
 * Returns 0, or -ENOMEM (the bytes of the line so far are then dropped
 * and it is reported as too_long). */
int control_lines_feed(struct control_lines *cl, const char *p, size_t n, control_line_fn fn, void *data);
/* The end of input: a last line without a newline is handed over too. */
void control_lines_end(struct control_lines *cl, control_line_fn fn, void *data);
void control_lines_free(struct control_lines *cl);

#endif
