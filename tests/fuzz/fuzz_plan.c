/* libFuzzer target: the mount plan reader of srt-init (masked credential files' content included). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/plan_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t cap = plan_count(buf, size);
	struct plan_record *recs = calloc(cap ? cap : 1, sizeof(*recs));
	if (!recs)
		return 0;
	long n = plan_parse(buf, size, recs, cap);
	for (long i = 0; i < n; i++) {
		/* Every record accepted is one of ours and inside the buffer. */
		if (!strchr("wrhfRTNHC", recs[i].op) || recs[i].path[0] != '/' ||
		    recs[i].path < buf || recs[i].path + strlen(recs[i].path) >= buf + size)
			abort();
		/* 'C' (a masked file) carries its content: hex, even, inside the buffer. */
		if ((recs[i].op == 'C') != (recs[i].hex != NULL))
			abort();
		if (recs[i].hex && (recs[i].hex < buf || recs[i].hex + strlen(recs[i].hex) >= buf + size ||
				    strlen(recs[i].hex) % 2 || strspn(recs[i].hex, "0123456789abcdef") != strlen(recs[i].hex)))
			abort();
	}
	free(recs);
	return 0;
}
