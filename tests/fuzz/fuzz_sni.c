/* libFuzzer target: the TLS ClientHello SNI reader and its incremental contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[SNI_NAME_MAX + 1];
	memset(name, 'x', sizeof(name));
	enum sni_status st = sni_read(data, size, name);
	if (st == SNI_NEED_MORE && size >= SNI_PEEK_MAX)
		abort();
	if (st == SNI_FOUND) {
		size_t n = strnlen(name, sizeof(name));
		if (n == 0 || n > SNI_NAME_MAX)
			abort();
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)name[i] <= 0x20 || name[i] == 0x7f)
				abort();
		if (!sni_matches_host(name, name))
			abort();
	}
	/* A verdict on the whole must not be contradicted by a prefix: a prefix
	 * is either undecided or already gave the same verdict. */
	if (st != SNI_NEED_MORE && size > 0) {
		enum sni_status p = sni_read(data, size - 1, name);
		if (p != SNI_NEED_MORE && p != st)
			abort();
	}
	/* Arbitrary name pairs: must not crash, and must be symmetric. */
	if (size >= 2) {
		size_t half = size / 2;
		char a[64], b[64];
		size_t na = half < sizeof(a) - 1 ? half : sizeof(a) - 1;
		size_t nb = size - half < sizeof(b) - 1 ? size - half : sizeof(b) - 1;
		memcpy(a, data, na);
		a[na] = '\0';
		memcpy(b, data + half, nb);
		b[nb] = '\0';
		if (sni_matches_host(a, b) != sni_matches_host(b, a))
			abort();
	}
	return 0;
}
