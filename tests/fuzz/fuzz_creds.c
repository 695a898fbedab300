/* libFuzzer target: masking a variable's value (extract patterns, JWT decoding with and without claims): never a crash, and no captured secret left in what the sandbox would see. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "creds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const settings[] = {
		"{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"FZ\", \"mode\": \"mask\"}]}}",
		"{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"FZ\", \"mode\": \"mask\", "
		"\"extract\": \"[=:]([A-Za-z0-9_]{3,})\"}]}}",
		"{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"FZ\", \"mode\": \"mask\", "
		"\"decode\": \"jwt\"}]}}",
		"{\"credentials\": {\"allowPlaintextInject\": true, \"envVars\": [{\"name\": \"FZ\", \"mode\": \"mask\", "
		"\"decode\": \"jwt\", \"maskClaims\": [\"sk\", \"sub\"]}]}}",
	};
	if (size < 1)
		return 0;
	const char *text = settings[data[0] % 4];
	char *value = malloc(size);
	if (!value)
		return 0;
	memcpy(value, data + 1, size - 1);
	value[size - 1] = '\0';
	if (!value[0]) {
		free(value);
		return 0;
	}
	struct config cfg;
	struct srt_error err = { 0 };
	config_init(&cfg);
	if (config_parse_text(&cfg, "fuzz.json", text, strlen(text), CONFIG_ORIGIN_USER, true, &err) < 0)
		abort();
	setenv("FZ", value, 1);
	struct creds *c = NULL;
	struct strv warnings = { 0 };
	if (creds_build(&cfg, "/home/u", "/", &c, &warnings, &err) == 0 && c) {
		char *const *set = creds_env_set(c);
		size_t n;
		const struct credsub_pat *pats = creds_patterns(c, &n);
		for (size_t k = 0; set && set[k] && set[k + 1]; k += 2) {
			/* What the sandbox sees holds no real value of a pattern
			 * (when no stand-in of another contains it by chance). */
			for (size_t i = 0; i < n; i++) {
				if (pats[i].real_len < 8 || !memmem(set[k + 1], strlen(set[k + 1]), pats[i].real, pats[i].real_len))
					continue;
				bool inside_standin = false;
				for (size_t j = 0; j < n; j++)
					if (memmem(pats[j].standin, pats[j].standin_len, pats[i].real, pats[i].real_len))
						inside_standin = true;
				/* Checked for whole values and whole tokens: with extract
				 * (and claims) a copy the pattern does not capture stays,
				 * as documented. */
				if (!inside_standin && (data[0] % 4 == 0 || data[0] % 4 == 2))
					abort();
			}
		}
	}
	creds_free(c);
	strv_clear(&warnings);
	unsetenv("FZ");
	config_free(&cfg);
	free(value);
	return 0;
}
