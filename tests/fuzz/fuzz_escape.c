/* libFuzzer target: str_escape_invalid, the escaping of sandbox-chosen text (paths) for terminals and JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* the text ends at the first NUL, as a path does */
	for (int controls = 0; controls < 2; controls++) {
		char *e = str_escape_invalid(s, controls);
		if (!e)
			continue;
		/* Always valid UTF-8: jansson takes it. */
		json_t *j = json_string(e);
		if (!j)
			abort();
		json_decref(j);
		if (controls)
			for (const char *p = e; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					abort();
		/* Valid text without controls comes back unchanged. */
		json_t *orig = json_string(s);
		bool has_ctl = false;
		for (const char *p = s; *p; p++)
			has_ctl |= (unsigned char)*p < 0x20 || *p == 0x7f;
		if (orig && (!controls || !has_ctl) && strcmp(e, s) != 0)
			abort();
		json_decref(orig);
		free(e);
	}
	free(s);
	return 0;
}
