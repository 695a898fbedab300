/* libFuzzer target: arbitrary bytes as one Elixir permission string, from the allow or the deny list. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool is_allow = true, trusted = true;
	enum config_origin origin = CONFIG_ORIGIN_USER;
	if (size > 0) {
		is_allow = data[0] & 1;
		trusted = data[0] & 2;
		origin = (data[0] & 4) ? CONFIG_ORIGIN_PROJECT : CONFIG_ORIGIN_USER;
		data++;
		size--;
	}
	char *perm = malloc(size + 1);
	if (!perm)
		return 0;
	memcpy(perm, data, size);
	perm[size] = '\0';

	struct config cfg;
	struct srt_error err;
	config_init(&cfg);
	memset(&err, 0, sizeof(err));
	struct config_pos pos = { .file = "fuzz.json", .line = 1, .column = 1, .key = "permissions.allow[0]" };
	int r = config_parse_permission(&cfg, perm, is_allow, origin, trusted, pos, &err);
	if (r < 0) {
		if (err.code != r || !strstr(err.message, "permission"))
			__builtin_trap(); /* a refusal names the permission */
		for (const unsigned char *p = (const unsigned char *)err.message; *p; p++)
			if (*p < 0x20 || *p == 0x7f)
				__builtin_trap();
	} else {
		/* Accepted: exactly one rule or one ignored allow came of it. */
		size_t n = cfg.deny_read.n + cfg.allow_read.n + cfg.allow_write.n + cfg.deny_write.n +
			   cfg.network.allowed_domains.n + cfg.network.denied_domains.n +
			   cfg.network.allow_unix_sockets.n + cfg.n_ignored_allows;
		if (n != 1)
			__builtin_trap();
	}
	config_free(&cfg);
	free(perm);
	return 0;
}
