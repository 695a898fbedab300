/* Small shared helpers: error reporting, string vectors, cleanup attributes. */
#ifndef SRT_UTIL_H
#define SRT_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "sandbox_runtime.h"

/* Fill err (when not NULL) with a formatted message and return code, which
 * is a negative errno-style value. Keeps an earlier message if one is set and
 * prefix is used via srt_error_prefix(). */
int srt_error_set(struct srt_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "prefix: " to an existing message (for adding context on the way
 * up). Returns err->code, or -EINVAL when err is NULL. */
int srt_error_prefix(struct srt_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A growable NULL-terminated vector of owned strings. */
struct strv {
	char **v;   /* v[n] == NULL when v != NULL */
	size_t n;
	size_t cap;
};

int strv_push(struct strv *s, const char *str);          /* copies str */
int strv_push_take(struct strv *s, char *str);           /* takes ownership */
int strv_pushf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strv_contains(const struct strv *s, const char *str);
void strv_clear(struct strv *s);                         /* frees the strings */

/* xstrdup-like helpers that return NULL on allocation failure. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *str_vprintf(const char *fmt, va_list ap);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* Order paths so that everything below a directory follows it directly:
 * like strcmp, but '/' sorts before every other character. */
int path_order(const char *a, const char *b);

/* s with every byte that is not part of valid UTF-8 (and, with controls,
 * every control character) written as \xNN: for text a sandbox chose
 * (paths) on its way to a terminal or into JSON. malloc'd; NULL when out
 * of memory. */
char *str_escape_invalid(const char *s, bool controls);

/* write() all of data, retrying on EINTR. Returns 0 or a negative errno. */
int fd_write_all(int fd, const void *data, size_t len);

/* The number after "KEY:" at the start of a line of a small text file of
 * /proc (/proc/PID/status, /proc/self/fdinfo/N), in base (10, 8): 0, or
 * -1 when the file cannot be read or has no such line. */
int proc_field(const char *path, const char *key, int base, long *ret);

/* In a child about to execute something (bwrap): keep[i] becomes first + i
 * (without close-on-exec) and nothing else above stderr stays open.
 * Everything else is closed before the moves, so that their temporary
 * copies find room just above first + n at any descriptor limit the
 * program itself can run with (a fixed high number, 64 say, is out of
 * reach below it). At most 8 kept. Returns 0 or a negative errno
 * (-EMFILE: the descriptor limit is too low). */
int fd_place(const int *keep, size_t n, int first);

/* Cleanup attributes, bubblewrap style. */
static inline void cleanup_freep(void *p) { free(*(void **)p); }
static inline void cleanup_closep(int *fd) { if (*fd >= 0) close(*fd); }
#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))

static inline void *steal_pointer(void *pp)
{
	void **p = pp;
	void *r = *p;
	*p = NULL;
	return r;
}

static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
