/* Small shared helpers: error reporting, string vectors. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int srt_error_set(struct srt_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int srt_error_prefix(struct srt_error *err, const char *fmt, ...)
{
	if (!err)
		return -EINVAL;
	char prefix[512];
	char old[sizeof(err->message)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->message, sizeof(old));
	snprintf(err->message, sizeof(err->message), "%.500s: %.*s", prefix, (int)(sizeof(err->message) - 503), old);
	return err->code;
}

static int strv_grow(struct strv *s)
{
	if (s->n + 1 < s->cap)
		return 0;
	size_t cap = s->cap ? s->cap * 2 : 8;
	char **v = realloc(s->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->v = v;
	s->cap = cap;
	return 0;
}

int strv_push_take(struct strv *s, char *str)
{
	if (!str)
		return -ENOMEM;
	if (strv_grow(s) < 0) {
		free(str);
		return -ENOMEM;
	}
	s->v[s->n++] = str;
	s->v[s->n] = NULL;
	return 0;
}

int strv_push(struct strv *s, const char *str)
{
	return strv_push_take(s, strdup(str));
}

int strv_pushf(struct strv *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *str = str_vprintf(fmt, ap);
	va_end(ap);
	return strv_push_take(s, str);
}

bool strv_contains(const struct strv *s, const char *str)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], str) == 0)
			return true;
	return false;
}

void strv_clear(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

char *str_vprintf(const char *fmt, va_list ap)
{
	char *r = NULL;
	if (vasprintf(&r, fmt, ap) < 0)
		return NULL;
	return r;
}

char *str_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *r = str_vprintf(fmt, ap);
	va_end(ap);
	return r;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int path_order(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x != y) {
			if (x == '/' && y != '\0')
				return -1;
			if (y == '/' && x != '\0')
				return 1;
			return x < y ? -1 : 1;
		}
		if (!x)
			return 0;
	}
}

int fd_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. Refuses
 * overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if ((c >> 5) == 0x6) {
		len = 2;
		cp = c & 0x1f;
	} else if ((c >> 4) == 0xe) {
		len = 3;
		cp = c & 0x0f;
	} else if ((c >> 3) == 0x1e) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] >> 6) != 0x2)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	static const unsigned min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *str_escape_invalid(const char *s, bool controls)
{
	size_t n = strlen(s);
	char *out = malloc(4 * n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)s + i;
		size_t len = utf8_len(p, n - i);
		bool ctl = len == 1 && (p[0] < 0x20 || p[0] == 0x7f);
		if (len == 0 || (controls && ctl)) {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", p[0]);
			i++;
			continue;
		}
		memcpy(out + o, p, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return out;
}

int fd_place(const int *keep, size_t n, int first)
{
	int tmp[8];
	if (n > sizeof(tmp) / sizeof(tmp[0]))
		return -EINVAL;
	for (unsigned from = 3;;) {
		unsigned next = ~0u;
		for (size_t i = 0; i < n; i++)
			if (keep[i] >= 0 && (unsigned)keep[i] >= from && (unsigned)keep[i] < next)
				next = (unsigned)keep[i];
		if (next == ~0u) {
			close_range(from, ~0u, 0);
			break;
		}
		if (next > from)
			close_range(from, next - 1, 0);
		from = next + 1;
	}
	/* Copies above the targets first: a target may hold a later source. */
	for (size_t i = 0; i < n; i++)
		if ((tmp[i] = fcntl(keep[i], F_DUPFD_CLOEXEC, first + (int)n)) < 0)
			return -errno;
	for (size_t i = 0; i < n; i++)
		if (dup2(tmp[i], first + (int)i) < 0) /* dup2 clears close-on-exec */
			return -errno;
	close_range((unsigned)first + (unsigned)n, ~0u, 0);
	return 0;
}

int proc_field(const char *path, const char *key, int base, long *ret)
{
	char buf[1024], want[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf + 1, sizeof(buf) - 2);
	close(fd);
	if (n <= 0)
		return -1;
	buf[0] = '\n'; /* the first line counts too */
	buf[n + 1] = '\0';
	snprintf(want, sizeof(want), "\n%s:", key);
	const char *l = strstr(buf, want);
	if (!l)
		return -1;
	*ret = strtol(l + strlen(want), NULL, base);
	return 0;
}
