/* libFuzzer target: arbitrary bytes as a settings file, user and untrusted project, and the position scanner alone. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <errno.h>

#include <jansson.h>

#include "config/config.h"
#include "config/jsonpos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Visit every node through the public accessors; the scanner bounds the depth. */
static void walk(const struct jsonpos *jp, jsonpos_node n, int depth)
{
	int line, column;
	if (depth > JSONPOS_MAX_DEPTH)
		__builtin_trap();
	jsonpos_where(jp, n, &line, &column);
	jsonpos_key_where(jp, n, &line, &column);
	if (line < 1 || column < 1)
		__builtin_trap();
	for (jsonpos_node c = jsonpos_first(jp, n); c != JSONPOS_NONE; c = jsonpos_next(jp, c))
		walk(jp, c, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte picks the origin and trust, so every path is reached. */
	enum config_origin origin = CONFIG_ORIGIN_USER;
	bool trusted = true;
	if (size > 0) {
		origin = (data[0] & 1) ? CONFIG_ORIGIN_PROJECT : CONFIG_ORIGIN_USER;
		trusted = (data[0] & 2) != 0;
		data++;
		size--;
	}
	const char *text = (const char *)data;

	/* The scanner must take everything jansson takes (it is a superset),
	 * and find every key jansson found. */
	struct jsonpos *jp = NULL;
	struct jsonpos_error perr;
	int scanned = jsonpos_scan(text, size, &jp, &perr);
	json_error_t jerr;
	json_t *root = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
	if (root && scanned == -EINVAL && !memchr(text, '\0', size)) /* see jsonpos_scan */
		__builtin_trap();
	if (root && scanned == 0 && json_is_object(root)) {
		const char *key;
		json_t *v;
		json_object_foreach(root, key, v)
			if (jsonpos_member(jp, jsonpos_root(jp), key, strlen(key)) == JSONPOS_NONE)
				__builtin_trap();
	}
	json_decref(root);
	if (scanned == 0) {
		walk(jp, jsonpos_root(jp), 0);
		jsonpos_lookup(jp, "filesystem.allowWrite[0]");
		jsonpos_lookup(jp, "ignoreViolations[\"*\"][1]");
		jsonpos_free(jp);
	}

	struct config cfg;
	struct srt_error err;
	config_init(&cfg);
	memset(&err, 0, sizeof(err));
	int r = config_parse_text(&cfg, "fuzz.json", text, size, origin, trusted, &err);
	if (r < 0 && (err.code != r || err.message[0] == '\0' || memchr(err.message, '\0', sizeof(err.message)) == NULL))
		__builtin_trap(); /* every failure says why */
	for (const unsigned char *p = (const unsigned char *)err.message; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			__builtin_trap(); /* nothing from the file reaches the terminal raw */
	/* Entries always point at a position inside the file. */
	for (size_t i = 0; i < cfg.allow_write.n; i++)
		if (!cfg.allow_write.items[i].pos.file || !cfg.allow_write.items[i].pos.key ||
		    cfg.allow_write.items[i].pos.line < 1)
			__builtin_trap();
	config_free(&cfg);
	return 0;
}
