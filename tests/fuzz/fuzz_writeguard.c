/* libFuzzer target: wguard_magic_fd on any string, checked against a reference and for a round trip; wguard_release_at_least against sscanf. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linux/writeguard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                         \
	do {                             \
		if (!(c))                \
			__builtin_trap(); \
	} while (0)

#define FD_LIMIT (1 << 24)

static const char *const streams[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
static const char *const dirs[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };

/* The spelling's answer, written independently: -1, or the number. *lead:
 * the number has a leading zero ("007"), on which the check takes no side
 * beyond "-1 or the number". */
static int reference(const char *path, bool *lead)
{
	*lead = false;
	for (int i = 0; i < 3; i++)
		if (strcmp(path, streams[i]) == 0)
			return i;
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) != 0)
			continue;
		const char *s = path + n;
		size_t digits = strspn(s, "0123456789");
		if (digits == 0 || s[digits] != '\0')
			return -1;
		*lead = digits > 1 && s[0] == '0';
		while (digits > 1 && *s == '0') {
			s++;
			digits--;
		}
		if (digits > 8)
			return -1; /* 16777216 has 8 digits */
		long v = strtol(s, NULL, 10);
		return v > FD_LIMIT ? -1 : (int)v;
	}
	return -1;
}

/* At most six digits after any leading zeros: sscanf's %d reads it
 * without overflow (past int, what it stores is undefined). */
static bool short_number(const char *s)
{
	while (*s == '0')
		s++;
	return strspn(s, "0123456789") <= 6;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *path = malloc(size + 1);
	if (!path)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0'; /* an embedded NUL ends the string, as for the caller's */
	/* The kernel release reader: a release at least 5.14 by its first
	 * two numbers (as sscanf reads them) and nothing else. */
	{
		int a = 0, b = 0, used = 0;
		bool parsed = sscanf(path, "%d.%d%n", &a, &b, &used) == 2 && path[0] >= '0' && path[0] <= '9';
		bool at_least = wguard_release_at_least(path, 5, 14);
		if (!parsed)
			CHECK(!at_least || (path[0] >= '0' && path[0] <= '9'));
		else if (a >= 0 && b >= 0 && short_number(path) && strchr("0123456789", path[strcspn(path, ".") + 1]) &&
			 short_number(path + strcspn(path, ".") + 1))
			CHECK(at_least == (a > 5 || (a == 5 && b >= 14)));
	}
	int got = wguard_magic_fd(path);
	bool lead;
	int want = reference(path, &lead);
	CHECK(got >= -1 && got <= FD_LIMIT);
	if (lead)
		CHECK(got == -1 || got == want);
	else
		CHECK(got == want);
	if (got >= 0 && !lead) {
		/* Round trip: the answer spelt again is the input. */
		bool same = false;
		if (got <= 2 && strcmp(path, streams[got]) == 0)
			same = true;
		for (size_t i = 0; i < 3 && !same; i++) {
			char p[64];
			snprintf(p, sizeof(p), "%s%d", dirs[i], got);
			same = strcmp(p, path) == 0;
		}
		CHECK(same);
	}
	/* The same path with anything after it names no descriptor unless
	 * what follows extends the number. */
	if (got >= 0 && size + 2 <= 4096) {
		char *longer = malloc(size + 3);
		if (longer) {
			memcpy(longer, path, strlen(path));
			memcpy(longer + strlen(path), "/", 2);
			CHECK(wguard_magic_fd(longer) == -1);
			free(longer);
		}
	}
	free(path);
	return 0;
}
