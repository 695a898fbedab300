/* Line:column of every value in a JSON text, so settings errors can point at file:line:col. */
#include "config/jsonpos.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The refusal messages below spell these numbers out. */
_Static_assert(JSONPOS_MAX_VALUES == 262144, "update the message");
_Static_assert(JSONPOS_MAX_DEPTH == 64, "update the message");

struct jsonpos_rec {
	uint32_t parent;
	uint32_t first_child;
	uint32_t last_child;
	uint32_t next;
	uint32_t key_off; /* into keys, or JSONPOS_NONE when not an object member */
	uint32_t key_len;
	int32_t line, column;
	int32_t key_line, key_column;
	uint8_t type;
};

struct jsonpos {
	struct jsonpos_rec *recs;
	uint32_t n, cap;
	char *keys; /* decoded member keys, each NUL-terminated */
	size_t keys_len, keys_cap;
};

struct scanner {
	const unsigned char *p, *end;
	int line, column;
	struct jsonpos *jp;
	struct jsonpos_error *err;
	/* the member key waiting for its value */
	uint32_t key_off, key_len;
	int key_line, key_column;
};

static int fail(struct scanner *s, int code, const char *message)
{
	if (s->err) {
		s->err->line = s->line;
		s->err->column = s->column;
		s->err->message = message;
	}
	return code;
}

/* Columns count characters, as jansson's do: a UTF-8 continuation byte
 * does not start a new column. */
static void advance(struct scanner *s)
{
	unsigned char c = *s->p++;
	if (c == '\n') {
		s->line++;
		s->column = 1;
	} else if ((c & 0xC0) != 0x80) {
		s->column++;
	}
}

void jsonpos_offset_where(const char *text, size_t offset, int *line, int *column)
{
	struct scanner s = { .p = (const unsigned char *)text, .end = (const unsigned char *)text + offset,
			     .line = 1, .column = 1 };
	while (s.p < s.end)
		advance(&s);
	*line = s.line;
	*column = s.column;
}

static void skip_ws(struct scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		advance(s);
}

static int new_node(struct scanner *s, uint8_t type, uint32_t parent, uint32_t *ret)
{
	struct jsonpos *jp = s->jp;
	if (jp->n >= JSONPOS_MAX_VALUES)
		return fail(s, -E2BIG, "more than 262144 values");
	if (jp->n == jp->cap) {
		uint32_t cap = jp->cap ? jp->cap * 2 : 64;
		if (cap > JSONPOS_MAX_VALUES)
			cap = JSONPOS_MAX_VALUES;
		struct jsonpos_rec *v = realloc(jp->recs, (size_t)cap * sizeof(*v));
		if (!v)
			return fail(s, -ENOMEM, "out of memory");
		jp->recs = v;
		jp->cap = cap;
	}
	uint32_t id = jp->n++;
	struct jsonpos_rec *r = &jp->recs[id];
	*r = (struct jsonpos_rec){
		.parent = parent, .first_child = JSONPOS_NONE, .last_child = JSONPOS_NONE,
		.next = JSONPOS_NONE, .key_off = JSONPOS_NONE, .type = type,
		.line = s->line, .column = s->column,
	};
	if (parent != JSONPOS_NONE) {
		struct jsonpos_rec *pr = &jp->recs[parent];
		if (pr->last_child == JSONPOS_NONE)
			pr->first_child = id;
		else
			jp->recs[pr->last_child].next = id;
		pr->last_child = id;
		if (pr->type == JSONPOS_OBJECT) {
			r->key_off = s->key_off;
			r->key_len = s->key_len;
			r->key_line = s->key_line;
			r->key_column = s->key_column;
		}
	}
	*ret = id;
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at p (which has at least 4 bytes), or -1. */
static long hex4(const unsigned char *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t put_utf8(unsigned char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decode the body of a JSON string (between the quotes) into out, which
 * has room for at least (end - p) bytes: no escape decodes to more bytes
 * than it is written with (\uXXXX: 6 -> at most 3; a surrogate pair: 12 ->
 * 4). A bad escape is copied as written; jansson refuses that text anyway,
 * so such a key is never looked up. Returns the decoded length. */
static size_t decode_string(const unsigned char *p, const unsigned char *end, unsigned char *out)
{
	size_t n = 0;
	while (p < end) {
		if (*p != '\\' || end - p < 2) {
			out[n++] = *p++;
			continue;
		}
		unsigned char e = p[1];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (e != '\0' && simple) {
			static const char map[] = "\"\\/\b\f\n\r\t";
			out[n++] = (unsigned char)map[simple - "\"\\/bfnrt"];
			p += 2;
			continue;
		}
		if (e == 'u' && end - p >= 6) {
			long cp = hex4(p + 2);
			if (cp >= 0) {
				p += 6;
				if (cp >= 0xD800 && cp <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
					long lo = hex4(p + 2);
					if (lo >= 0xDC00 && lo <= 0xDFFF) {
						cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
						p += 6;
					}
				}
				n += put_utf8(out + n, (unsigned long)cp);
				continue;
			}
		}
		out[n++] = *p++;
	}
	return n;
}

/* string = DQUOTE *( unescaped / "\" any-byte ) DQUOTE
 * Looser than RFC 8259 (control bytes and any escape letter pass): jansson
 * judges those. On return s->p is past the closing quote; *body and *body_end
 * span the bytes between the quotes. */
static int skip_string(struct scanner *s, const unsigned char **body, const unsigned char **body_end)
{
	advance(s); /* the opening quote */
	*body = s->p;
	while (s->p < s->end) {
		unsigned char c = *s->p;
		if (c == '"') {
			*body_end = s->p;
			advance(s);
			return 0;
		}
		advance(s);
		if (c == '\\') {
			if (s->p >= s->end)
				break;
			advance(s);
		}
	}
	return fail(s, -EINVAL, "unterminated string");
}

static int scan_key(struct scanner *s)
{
	if (s->p >= s->end || *s->p != '"')
		return fail(s, -EINVAL, "string or '}' expected");
	s->key_line = s->line;
	s->key_column = s->column;
	const unsigned char *body = NULL, *body_end = NULL;
	int r = skip_string(s, &body, &body_end);
	if (r < 0)
		return r;
	struct jsonpos *jp = s->jp;
	size_t raw = (size_t)(body_end - body);
	/* keys_cap is len + 1 and every key's raw body plus its two quotes
	 * lies inside the text, so this never fails; checked all the same. */
	if (raw + 1 > jp->keys_cap - jp->keys_len)
		return fail(s, -E2BIG, "keys longer than the text");
	size_t n = decode_string(body, body_end, (unsigned char *)jp->keys + jp->keys_len);
	jp->keys[jp->keys_len + n] = '\0';
	s->key_off = (uint32_t)jp->keys_len;
	s->key_len = (uint32_t)n;
	jp->keys_len += n + 1;
	skip_ws(s);
	if (s->p >= s->end || *s->p != ':')
		return fail(s, -EINVAL, "':' expected");
	advance(s);
	return 0;
}

static bool literal_at(const struct scanner *s, const char *word)
{
	size_t n = strlen(word);
	return (size_t)(s->end - s->p) >= n && memcmp(s->p, word, n) == 0;
}

/* One scalar or the opening of a container at s->p, under parent.
 *   value   = object / array / string / number / "true" / "false" / "null"
 *   number  = ( "-" / DIGIT ) *( DIGIT / "+" / "-" / "." / "e" / "E" )
 * Numbers are taken loosely; jansson judges their form. *opened is set
 * when the value is an object or array (its children follow). */
static int scan_value(struct scanner *s, uint32_t parent, uint32_t *id, bool *opened)
{
	*opened = false;
	if (s->p >= s->end)
		return fail(s, -EINVAL, "value expected");
	unsigned char c = *s->p;
	int r;
	if (c == '{' || c == '[') {
		if ((r = new_node(s, c == '{' ? JSONPOS_OBJECT : JSONPOS_ARRAY, parent, id)) < 0)
			return r;
		advance(s);
		*opened = true;
		return 0;
	}
	if (c == '"') {
		const unsigned char *b, *e;
		if ((r = new_node(s, JSONPOS_STRING, parent, id)) < 0)
			return r;
		return skip_string(s, &b, &e);
	}
	if (c == '-' || (c >= '0' && c <= '9')) {
		if ((r = new_node(s, JSONPOS_NUMBER, parent, id)) < 0)
			return r;
		do
			advance(s);
		while (s->p < s->end && ((*s->p >= '0' && *s->p <= '9') || *s->p == '+' || *s->p == '-' ||
					  *s->p == '.' || *s->p == 'e' || *s->p == 'E'));
		return 0;
	}
	static const char *const words[] = { "true", "false", "null" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (literal_at(s, words[i])) {
			if ((r = new_node(s, JSONPOS_LITERAL, parent, id)) < 0)
				return r;
			for (size_t k = strlen(words[i]); k > 0; k--)
				advance(s);
			return 0;
		}
	}
	return fail(s, -EINVAL, "invalid token");
}

/* The grammar (RFC 8259, scanned without recursion; containers on an
 * explicit stack of JSONPOS_MAX_DEPTH):
 *   text    = ws value ws
 *   object  = "{" ws [ member *( ws "," ws member ) ] ws "}"
 *   member  = string ws ":" ws value
 *   array   = "[" ws [ value *( ws "," ws value ) ] ws "]"
 *   ws      = *( SP / HTAB / LF / CR )
 * Every read checks s->p < s->end first. */
static int scan(struct scanner *s)
{
	uint32_t stack[JSONPOS_MAX_DEPTH];
	size_t depth = 0;
	uint32_t id;
	bool opened;
	int r;

	skip_ws(s);
	if ((r = scan_value(s, JSONPOS_NONE, &id, &opened)) < 0)
		return r;
	if (opened)
		goto opened;
	goto after_value;

opened:
	if (depth == JSONPOS_MAX_DEPTH)
		return fail(s, -E2BIG, "nested more than 64 levels deep");
	stack[depth++] = id;
	skip_ws(s);
	if (s->p < s->end && *s->p == (s->jp->recs[id].type == JSONPOS_OBJECT ? '}' : ']')) {
		advance(s);
		depth--;
		goto after_value;
	}
	goto next_child;

next_child:
	if (s->jp->recs[stack[depth - 1]].type == JSONPOS_OBJECT) {
		if ((r = scan_key(s)) < 0)
			return r;
		skip_ws(s);
	}
	if ((r = scan_value(s, stack[depth - 1], &id, &opened)) < 0)
		return r;
	if (opened)
		goto opened;
	goto after_value;

after_value:
	skip_ws(s);
	if (depth == 0) {
		if (s->p != s->end)
			return fail(s, -EINVAL, "end of text expected");
		return 0;
	}
	if (s->p >= s->end)
		return fail(s, -EINVAL, "unexpected end of text");
	bool is_object = s->jp->recs[stack[depth - 1]].type == JSONPOS_OBJECT;
	if (*s->p == ',') {
		advance(s);
		skip_ws(s);
		goto next_child;
	}
	if (*s->p == (is_object ? '}' : ']')) {
		advance(s);
		depth--;
		goto after_value;
	}
	return fail(s, -EINVAL, is_object ? "',' or '}' expected" : "',' or ']' expected");
}

int jsonpos_scan(const char *text, size_t len, struct jsonpos **ret, struct jsonpos_error *err)
{
	struct scanner s = { .line = 1, .column = 1, .err = err };
	if (!text && len)
		return fail(&s, -EINVAL, "no text");
	if (len > JSONPOS_MAX_TEXT)
		return fail(&s, -E2BIG, "text too long");
	struct jsonpos *jp = calloc(1, sizeof(*jp));
	if (!jp)
		return fail(&s, -ENOMEM, "out of memory");
	jp->keys_cap = len + 1;
	jp->keys = malloc(jp->keys_cap);
	if (!jp->keys) {
		jsonpos_free(jp);
		return fail(&s, -ENOMEM, "out of memory");
	}
	s.jp = jp;
	s.p = (const unsigned char *)text;
	s.end = s.p + len;
	int r = scan(&s);
	if (r < 0) {
		jsonpos_free(jp);
		return r;
	}
	*ret = jp;
	return 0;
}

struct jsonpos *jsonpos_free(struct jsonpos *jp)
{
	if (jp) {
		free(jp->recs);
		free(jp->keys);
		free(jp);
	}
	return NULL;
}

static const struct jsonpos_rec *rec(const struct jsonpos *jp, jsonpos_node n)
{
	if (!jp || n >= jp->n)
		return NULL;
	return &jp->recs[n];
}

jsonpos_node jsonpos_root(const struct jsonpos *jp)
{
	return jp && jp->n > 0 ? 0 : JSONPOS_NONE;
}

enum jsonpos_type jsonpos_type_of(const struct jsonpos *jp, jsonpos_node n)
{
	const struct jsonpos_rec *r = rec(jp, n);
	return r ? (enum jsonpos_type)r->type : JSONPOS_LITERAL;
}

const char *jsonpos_key(const struct jsonpos *jp, jsonpos_node n, size_t *len)
{
	const struct jsonpos_rec *r = rec(jp, n);
	if (!r || r->key_off == JSONPOS_NONE)
		return NULL;
	*len = r->key_len;
	return jp->keys + r->key_off;
}

jsonpos_node jsonpos_first(const struct jsonpos *jp, jsonpos_node n)
{
	const struct jsonpos_rec *r = rec(jp, n);
	return r ? r->first_child : JSONPOS_NONE;
}

jsonpos_node jsonpos_next(const struct jsonpos *jp, jsonpos_node n)
{
	const struct jsonpos_rec *r = rec(jp, n);
	return r ? r->next : JSONPOS_NONE;
}

jsonpos_node jsonpos_member(const struct jsonpos *jp, jsonpos_node n, const char *key, size_t key_len)
{
	const struct jsonpos_rec *r = rec(jp, n);
	if (!r || r->type != JSONPOS_OBJECT)
		return JSONPOS_NONE;
	for (jsonpos_node c = r->first_child; c != JSONPOS_NONE; c = jp->recs[c].next) {
		const struct jsonpos_rec *cr = &jp->recs[c];
		if (cr->key_off != JSONPOS_NONE && cr->key_len == key_len &&
		    memcmp(jp->keys + cr->key_off, key, key_len) == 0)
			return c;
	}
	return JSONPOS_NONE;
}

jsonpos_node jsonpos_element(const struct jsonpos *jp, jsonpos_node n, size_t index)
{
	const struct jsonpos_rec *r = rec(jp, n);
	if (!r || r->type != JSONPOS_ARRAY)
		return JSONPOS_NONE;
	jsonpos_node c = r->first_child;
	for (; c != JSONPOS_NONE && index > 0; index--)
		c = jp->recs[c].next;
	return c;
}

void jsonpos_where(const struct jsonpos *jp, jsonpos_node n, int *line, int *column)
{
	const struct jsonpos_rec *r = rec(jp, n);
	*line = r ? r->line : 0;
	*column = r ? r->column : 0;
}

void jsonpos_key_where(const struct jsonpos *jp, jsonpos_node n, int *line, int *column)
{
	const struct jsonpos_rec *r = rec(jp, n);
	if (r && r->key_off != JSONPOS_NONE) {
		*line = r->key_line;
		*column = r->key_column;
		return;
	}
	jsonpos_where(jp, n, line, column);
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '$';
}

bool jsonpos_key_is_name(const char *key, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)key[i]))
			return false;
	return true;
}

jsonpos_node jsonpos_lookup(const struct jsonpos *jp, const char *path)
{
	jsonpos_node n = jsonpos_root(jp);
	const char *p = path;
	for (bool first = true; n != JSONPOS_NONE && *p; first = false) {
		if (*p == '[' && p[1] == '"') {
			/* A quoted key is never longer than the rest of the path. */
			char *key = malloc(strlen(p));
			size_t k = 0;
			if (!key)
				return JSONPOS_NONE;
			for (p += 2; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				key[k++] = *p;
			}
			bool closed = p[0] == '"' && p[1] == ']';
			if (closed)
				n = jsonpos_member(jp, n, key, k);
			free(key);
			if (!closed)
				return JSONPOS_NONE;
			p += 2;
			continue;
		}
		if (*p == '[') {
			size_t index = 0;
			const char *start = ++p;
			for (; *p >= '0' && *p <= '9'; p++) {
				if (index > (SIZE_MAX - 9) / 10)
					return JSONPOS_NONE;
				index = index * 10 + (size_t)(*p - '0');
			}
			if (p == start || *p != ']')
				return JSONPOS_NONE;
			p++;
			n = jsonpos_element(jp, n, index);
			continue;
		}
		if (*p == '.' && !first)
			p++;
		else if (!first)
			return JSONPOS_NONE;
		const char *start = p;
		while (name_char((unsigned char)*p))
			p++;
		if (p == start)
			return JSONPOS_NONE;
		n = jsonpos_member(jp, n, start, (size_t)(p - start));
	}
	return n;
}
