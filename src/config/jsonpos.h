/* Line:column of every value in a JSON text, which jansson does not record, found by key path. */
#ifndef SRT_JSONPOS_H
#define SRT_JSONPOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds on what one scan accepts; a text over them is refused with -E2BIG
 * before anything else (jansson included) spends memory on it. */
#define JSONPOS_MAX_TEXT   (64u * 1024 * 1024)
#define JSONPOS_MAX_DEPTH  64
#define JSONPOS_MAX_VALUES (256u * 1024)

/* A node is an index into the scan; JSONPOS_NONE means "no such value". */
typedef uint32_t jsonpos_node;
#define JSONPOS_NONE UINT32_MAX

enum jsonpos_type {
	JSONPOS_OBJECT,
	JSONPOS_ARRAY,
	JSONPOS_STRING,
	JSONPOS_NUMBER,
	JSONPOS_LITERAL, /* true, false, null */
};

struct jsonpos_error {
	int line;            /* 1-based */
	int column;          /* 1-based, in characters (UTF-8 code points) like jansson */
	const char *message; /* static text */
};

struct jsonpos;

/* Scan text[0..len) and index every value. Returns 0 and *ret (free with
 * jsonpos_free), -EINVAL when the text is not JSON (err says where; the
 * scanner accepts a superset of what jansson accepts, so a text jansson
 * loads always scans, except that jansson skips a NUL byte right after a
 * number: callers refuse NUL bytes first), -E2BIG when it is over a bound
 * above, -ENOMEM. */
int jsonpos_scan(const char *text, size_t len, struct jsonpos **ret, struct jsonpos_error *err);

struct jsonpos *jsonpos_free(struct jsonpos *jp);

jsonpos_node jsonpos_root(const struct jsonpos *jp);
enum jsonpos_type jsonpos_type_of(const struct jsonpos *jp, jsonpos_node n);

/* The value of member key (key_len bytes, escapes decoded, compared
 * exactly) of object n; the first one when a key repeats. */
jsonpos_node jsonpos_member(const struct jsonpos *jp, jsonpos_node n, const char *key, size_t key_len);

/* The decoded key of member n (NUL-terminated, *len bytes), or NULL when
 * n is not an object member. */
const char *jsonpos_key(const struct jsonpos *jp, jsonpos_node n, size_t *len);

/* Children of an object or array in document order: first, then next. */
jsonpos_node jsonpos_first(const struct jsonpos *jp, jsonpos_node n);
jsonpos_node jsonpos_next(const struct jsonpos *jp, jsonpos_node n);
/* Element index of array n (walks the siblings: O(index)). */
jsonpos_node jsonpos_element(const struct jsonpos *jp, jsonpos_node n, size_t index);

/* Where value n starts; where the key of member n starts (its value's
 * position when n is not an object member). 0:0 for JSONPOS_NONE. */
void jsonpos_where(const struct jsonpos *jp, jsonpos_node n, int *line, int *column);
void jsonpos_key_where(const struct jsonpos *jp, jsonpos_node n, int *line, int *column);

/* Find a value by key path:
 *   path    = [ first *( "." name / index / quoted ) ]
 *   first   = name / index / quoted
 *   name    = 1*( ALPHA / DIGIT / "_" / "-" / "$" )
 *   index   = "[" 1*DIGIT "]"
 *   quoted  = "[" DQUOTE *( char / "\" DQUOTE / "\" "\" ) DQUOTE "]"
 * e.g. "filesystem.allowWrite[2]" or "ignoreViolations[\"npm test\"][0]";
 * "" is the root. Keys that are not names must be quoted. */
jsonpos_node jsonpos_lookup(const struct jsonpos *jp, const char *path);

/* The line:column of byte offset in text, counted as the scan counts. */
void jsonpos_offset_where(const char *text, size_t offset, int *line, int *column);

/* Whether key can be written as a bare name in a path (see above). */
bool jsonpos_key_is_name(const char *key, size_t len);

#endif
