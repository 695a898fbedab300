/* libFuzzer target: host canonicalization and authority splitting, checked against the canonical form's own promises. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/host.h"

/* Whatever is accepted must come out in the form policy matching relies on,
 * and canonicalizing that form again must give it back unchanged. */
static void check_canonical(const struct proxy_host *h)
{
	size_t n = strnlen(h->text, sizeof(h->text));
	if (n == 0 || n == sizeof(h->text))
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = h->text[i];
		if (c >= 'A' && c <= 'Z')
			abort();
		if (h->kind == PROXY_HOST_NAME && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
						      c == '-' || c == '_' || c == '.'))
			abort();
		if (h->kind == PROXY_HOST_IPV4 && !((c >= '0' && c <= '9') || c == '.'))
			abort();
	}
	if (h->kind == PROXY_HOST_NAME && (n > PROXY_HOST_NAME_MAX || h->text[n - 1] == '.'))
		abort();
	if (h->kind != PROXY_HOST_NAME && h->kind != PROXY_HOST_IPV4 && h->kind != PROXY_HOST_IPV6)
		abort();

	struct proxy_host again;
	const char *why = NULL;
	if (proxy_host_canonical(h->text, n, &again, &why) != 0)
		abort();
	if (again.kind != h->kind || strcmp(again.text, h->text) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct proxy_host h;
	memset(&h, 0xAA, sizeof(h));
	const char *why = NULL;
	int r = proxy_host_canonical(in, size, &h, &why);
	if (r == 0) {
		check_canonical(&h);
		/* The bytes used to smuggle a second host never survive. */
		for (size_t i = 0; i < size; i++)
			if (memchr("@/\\% \r\n", data[i], 8))
				abort();
	} else if (r != -EINVAL || !why) {
		abort();
	}

	uint16_t port = 0;
	uint16_t def = (size && (data[0] & 1)) ? 0 : 80;
	why = NULL;
	r = proxy_authority_parse(in, size, def, &h, &port, &why);
	if (r == 0) {
		if (port == 0)
			abort();
		check_canonical(&h);
	} else if (r != -EINVAL || !why) {
		abort();
	}
	return 0;
}
