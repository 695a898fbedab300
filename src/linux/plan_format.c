/* The mount plan's wire format, shared by the writer (srt) and the reader (srt-init). */
#include "linux/plan_format.h"

#include <errno.h>
#include <string.h>

size_t plan_count(const char *buf, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	return n;
}

long plan_parse(const char *buf, size_t len, struct plan_record *out, size_t cap)
{
	if (len > PLAN_MAX_BYTES)
		return -EINVAL;
	size_t k = 0;
	for (size_t i = 0; i < len;) {
		char op = buf[i++];
		if (!op || !strchr("wrhfRTNHC", op) || i >= len)
			return -EINVAL;
		const char *path = buf + i;
		size_t plen = strnlen(path, len - i);
		/* plen == len - i: no terminating NUL inside the buffer */
		if (plen == len - i || plen == 0 || plen > PLAN_MAX_PATH || path[0] != '/')
			return -EINVAL;
		if (k == cap)
			return -EINVAL;
		out[k] = (struct plan_record){ .op = op, .path = path };
		i += plen + 1;
		if (op == 'C') {
			if (i >= len)
				return -EINVAL;
			const char *hex = buf + i;
			size_t hlen = strnlen(hex, len - i);
			if (hlen == len - i || hlen % 2 != 0 || strspn(hex, "0123456789abcdef") != hlen)
				return -EINVAL;
			out[k].hex = hex;
			i += hlen + 1;
		}
		k++;
	}
	return (long)k;
}
