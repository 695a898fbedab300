/* The mount plan's wire format, shared by the writer (srt) and the reader (srt-init). */
#ifndef SRT_LINUX_PLAN_FORMAT_H
#define SRT_LINUX_PLAN_FORMAT_H

#include <stddef.h>

/*
 *   plan   := record*
 *   record := op:u8 path NUL        path absolute, 1..4095 bytes, no NUL
 *   op     := 'w' bind onto itself writable | 'r' bind onto itself read-only
 *           | 'h' hide a directory (empty tmpfs) | 'T' a private writable tmpfs
 *           | 'f' hide a file (empty, mode 0000) | 'R' make a hidden
 *             directory read-only
 *           | 'N' cover the file (or link) with the transparent mode's
 *             resolv.conf, read-only | 'H' the same with a hosts file of
 *             the localhost lines only
 *   'C' path NUL hex NUL: cover the file (or link) with these bytes (hex,
 *             lower case, even length), read-only: a masked credential
 *             file
 */
#define PLAN_MAX_BYTES (64u << 20)
#define PLAN_MAX_PATH 4095u

struct plan_record {
	char op;
	const char *path;   /* points into the parsed buffer */
	const char *hex;    /* 'C': the content in hex (NUL-terminated), else NULL */
};

/* An upper bound of the number of records in buf (its NUL count). */
size_t plan_count(const char *buf, size_t len);

/* Parse buf[0..len) into out (room for cap records). Returns the number of
 * records, or -EINVAL when anything is off: an unknown op, an empty or
 * relative or over-long path, a missing final NUL, more than cap records,
 * more than PLAN_MAX_BYTES. */
long plan_parse(const char *buf, size_t len, struct plan_record *out, size_t cap);

#endif
