/* Other layouts of the public structs, for tests/lib/test_abi.c: what a
 * program built against another version of <sandbox_runtime.h> passes to
 * this library.
 *
 *   newer_*: the struct as a later header might have it, with one more
 *            field at the end (a newer program on this library);
 *   older_*: the struct without its last field (an older program).
 *
 * Copies of include/sandbox_runtime.h's structs, field for field; keep
 * them in step with it (test_abi checks the common prefix with offsetof
 * and sizeof, so a drift fails the test rather than proving nothing). */
#ifndef SRT_TEST_ABI_LAYOUTS_H
#define SRT_TEST_ABI_LAYOUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sandbox_runtime.h>

/* ---- srt_runtime_options ---- */
struct newer_runtime_options {
	size_t size;
	size_t max_violations;
	enum srt_observe observe;
	const char *home;
	const char *cwd;
	uint64_t future;             /* the field this library does not know */
};

struct older_runtime_options {
	size_t size;
	size_t max_violations;
	enum srt_observe observe;
	const char *home;
	/* no cwd */
};

/* ---- srt_config ---- */
struct newer_config {
	size_t size;
	const char *const *deny_read;
	const char *const *allow_read;
	const char *const *allow_write;
	const char *const *deny_write;
	const char *const *allowed_domains;
	const char *const *denied_domains;
	bool allow_all_unix_sockets;
	bool allow_local_binding;
	bool allow_git_config;
	const char *const *allow_unix_sockets;
	enum srt_network_mode network_mode;
	uint64_t future;
};

struct older_config {
	size_t size;
	const char *const *deny_read;
	const char *const *allow_read;
	const char *const *allow_write;
	const char *const *deny_write;
	const char *const *allowed_domains;
	const char *const *denied_domains;
	bool allow_all_unix_sockets;
	bool allow_local_binding;
	bool allow_git_config;
	const char *const *allow_unix_sockets;
	/* no network_mode */
};

/* ---- srt_sandbox_options ---- */
struct newer_sandbox_options {
	size_t size;
	const char *const *allowed_domains;
	const char *cwd;
	const char *const *allow_unix_sockets;
	uint64_t future;
};

struct older_sandbox_options {
	size_t size;
	const char *const *allowed_domains;
	const char *cwd;
	/* no allow_unix_sockets */
};

/* ---- srt_execute_options ---- */
struct newer_execute_options {
	size_t size;
	const struct srt_sandbox_options *sandbox;
	enum srt_stdin_kind stdin_kind;
	const void *stdin_data;
	size_t stdin_len;
	int stdin_fd;
	const char *const *env;
	bool env_replace;
	uint64_t timeout_ms;
	size_t max_output;
	struct srt_execution *cancel;
	uint64_t future;
};

struct older_execute_options {
	size_t size;
	const struct srt_sandbox_options *sandbox;
	enum srt_stdin_kind stdin_kind;
	const void *stdin_data;
	size_t stdin_len;
	int stdin_fd;
	const char *const *env;
	bool env_replace;
	uint64_t timeout_ms;
	size_t max_output;
	/* no cancel */
};

/* ---- srt_platform_info (filled by the library) ---- */
struct newer_platform_info {
	size_t size;
	char platform[16];
	bool supported;
	bool observer_supported;
	char kernel[64];
	char bwrap[128];
	char libseccomp[32];
	char libuv[32];
	char jansson[32];
	char missing[512];
	uint64_t future;
};

struct older_platform_info {
	size_t size;
	char platform[16];
	bool supported;
	bool observer_supported;
	char kernel[64];
	char bwrap[128];
	char libseccomp[32];
	char libuv[32];
	char jansson[32];
	/* no missing */
};

#endif
