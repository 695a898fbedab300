/* Unit tests for the write guard's pure part: which paths name one of the caller's descriptors (wguard_magic_fd). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "linux/writeguard.h"

#define FD_LIMIT (1 << 24) /* the largest number accepted */

static void expect_fd(const char *path, int want)
{
	int got = wguard_magic_fd(path);
	if (got != want)
		fail_msg("wguard_magic_fd(\"%s\") = %d, want %d", path, got, want);
}

static void test_standard_streams(void **state)
{
	(void)state;
	expect_fd("/dev/stdin", 0);
	expect_fd("/dev/stdout", 1);
	expect_fd("/dev/stderr", 2);
}

static void test_descriptor_folders(void **state)
{
	(void)state;
	static const char *const dirs[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };
	static const int nums[] = { 0, 1, 2, 3, 9, 10, 255, 1024, 65535, 1048576, FD_LIMIT };
	for (size_t d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++) {
		for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
			char p[64];
			snprintf(p, sizeof(p), "%s%d", dirs[d], nums[i]);
			expect_fd(p, nums[i]);
		}
	}
}

static void test_numbers_out_of_range(void **state)
{
	(void)state;
	char p[64];
	snprintf(p, sizeof(p), "/dev/fd/%d", FD_LIMIT + 1);
	expect_fd(p, -1);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", FD_LIMIT * 10);
	expect_fd(p, -1);
	expect_fd("/proc/self/fd/2147483647", -1);  /* INT_MAX */
	expect_fd("/proc/self/fd/2147483648", -1);  /* INT_MAX + 1 */
	expect_fd("/proc/self/fd/4294967296", -1);  /* wraps a 32-bit int to 0 */
	expect_fd("/proc/thread-self/fd/4294967299", -1);
	expect_fd("/dev/fd/18446744073709551616", -1); /* wraps 64 bits to 0 */
	expect_fd("/dev/fd/99999999999999999999999999999999999999999999999999", -1);
	expect_fd("/proc/self/fd/-1", -1);
	expect_fd("/proc/self/fd/-0", -1);
	expect_fd("/proc/self/fd/+1", -1);
	expect_fd("/dev/fd/ 1", -1);
	expect_fd("/dev/fd/0x1", -1);
}

static void test_near_misses(void **state)
{
	(void)state;
	static const char *const no[] = {
		/* no number, or more than a number */
		"/dev/fd/", "/dev/fd", "/dev/fd/1x", "/dev/fd/1 ", "/dev/fd/1/", "/dev/fd/1/x", "/dev/fd/1.",
		"/proc/self/fd/", "/proc/self/fd", "/proc/self/fd/3/", "/proc/self/fd/3\n",
		"/proc/thread-self/fd/", "/proc/thread-self/fd/7a",
		/* another process's descriptors, or other folders */
		"/proc/1/fd/3", "/proc/12345/fd/0", "/proc/self/task/1/fd/3", "/proc/self/fdinfo/3",
		"/proc/self/fd//3", "/proc/self//fd/3", "/proc//self/fd/3", "/dev//fd/1", "//dev/fd/1",
		"/proc/self/fd/../fd/3", "/proc/./self/fd/3", "/dev/./fd/1", "/dev/fd/./1",
		"/proc/self/cwd", "/proc/self/root", "/proc/self/exe", "/proc/self", "/proc/thread-self",
		/* the streams, spelt otherwise */
		"/dev/stdout/", "/dev/stdout/x", "/dev/stdin ", "/dev/stdoutx", "/dev/std", "/dev/stdout\n",
		"/dev//stdout", "//dev/stdout", "/dev/./stdout", "/dev/STDOUT", "/DEV/stdout", "/dev/stdio",
		"/dev/tty", "/dev/null", "/dev/fd0",
		/* relative spellings: the guard resolves those as any path */
		"dev/stdout", "dev/fd/1", "proc/self/fd/3", "fd/3", "3", "stdout", "./dev/stdout",
		"../dev/fd/1", "self/fd/3",
		/* nothing */
		"", "/", "/dev", "/dev/", "/proc", "/proc/",
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		expect_fd(no[i], -1);
}

/* Every string made of a spelling's prefix and a short tail: accepted
 * exactly when the tail is decimal digits with a value in range, or the
 * whole is one of the three streams. Numbers with leading zeros ("007")
 * are left out: the kernel has no such entry in /proc/self/fd, and this
 * test takes no side on whether the guard should take them for fd 7. */
static bool leading_zero(const char *path)
{
	static const char *const dirs[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) == 0)
			return path[n] == '0' && path[n + 1] >= '0' && path[n + 1] <= '9';
	}
	return false;
}


static bool reference(const char *path, int *fd)
{
	static const char *const std[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
	for (int i = 0; i < 3; i++)
		if (strcmp(path, std[i]) == 0) {
			*fd = i;
			return true;
		}
	static const char *const dirs[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) != 0)
			continue;
		const char *s = path + n;
		if (!*s || strspn(s, "0123456789") != strlen(s))
			return false;
		unsigned long long v = 0;
		for (; *s; s++) {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > FD_LIMIT)
				return false;
		}
		*fd = (int)v;
		return true;
	}
	return false;
}

static void test_against_a_reference(void **state)
{
	(void)state;
	static const char *const heads[] = {
		"/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/", "/dev/std", "/dev/", "/proc/self/fd",
		"/proc/1/fd/", "",
	};
	static const char alphabet[] = "019/x-ionuterr";
	const size_t k = sizeof(alphabet) - 1;
	size_t checked = 0, accepted = 0;
	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		/* tails of length 0..3 over the alphabet */
		for (size_t len = 0; len <= 3; len++) {
			size_t total = 1;
			for (size_t i = 0; i < len; i++)
				total *= k;
			for (size_t c = 0; c < total; c++) {
				char p[64];
				size_t hl = strlen(heads[h]);
				memcpy(p, heads[h], hl);
				size_t x = c;
				for (size_t i = 0; i < len; i++, x /= k)
					p[hl + i] = alphabet[x % k];
				p[hl + len] = '\0';
				if (leading_zero(p))
					continue;
				int want = -1, got = wguard_magic_fd(p);
				if (!reference(p, &want))
					want = -1;
				if (got != want)
					fail_msg("wguard_magic_fd(\"%s\") = %d, want %d", p, got, want);
				checked++;
				accepted += got >= 0;
			}
		}
	}
	assert_true(checked > 10000);
	assert_true(accepted > 80); /* 81 numbers, and the three streams via "/dev/std" */
	/* The streams with every tail of the alphabet: only the exact ones. */
	static const char *const streams[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
	for (int s = 0; s < 3; s++) {
		expect_fd(streams[s], s);
		for (size_t c = 0; c < k; c++) {
			char p[64];
			snprintf(p, sizeof(p), "%s%c", streams[s], alphabet[c]);
			expect_fd(p, -1);
		}
	}
}

static void test_kernel_release(void **state)
{
	(void)state;
	assert_true(wguard_release_at_least("5.14.0", 5, 14));
	assert_true(wguard_release_at_least("5.15.0-91-generic", 5, 14));
	assert_true(wguard_release_at_least("6.1.0-18-amd64", 5, 14));
	assert_true(wguard_release_at_least("6.18.44-fc-v1300", 5, 14));
	assert_false(wguard_release_at_least("5.13.19", 5, 14));
	assert_false(wguard_release_at_least("5.4.0-150-generic", 5, 14));
	assert_false(wguard_release_at_least("4.19.0", 5, 14));
	/* Not a release: the refusing side. */
	assert_false(wguard_release_at_least("", 5, 14));
	assert_false(wguard_release_at_least("six.one", 5, 14));
	assert_false(wguard_release_at_least("6", 5, 14));
	assert_false(wguard_release_at_least("6.", 5, 14));
}

static void test_new_and_free(void **state)
{
	(void)state;
	struct wguard *w = NULL;
	struct wguard_options o = { .policy = NULL, .home = "/home/u///" };
	assert_int_equal(wguard_new(&o, &w), 0);
	assert_non_null(w);
	wguard_free(w);
	o.home = "relative/home"; /* no $HOME to judge by: ignored */
	w = NULL;
	assert_int_equal(wguard_new(&o, &w), 0);
	assert_non_null(w);
	wguard_free(w);
	o.home = NULL;
	w = NULL;
	assert_int_equal(wguard_new(&o, &w), 0);
	wguard_free(w);
	wguard_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_streams),
		cmocka_unit_test(test_descriptor_folders),
		cmocka_unit_test(test_numbers_out_of_range),
		cmocka_unit_test(test_near_misses),
		cmocka_unit_test(test_against_a_reference),
		cmocka_unit_test(test_kernel_release),
		cmocka_unit_test(test_new_and_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
