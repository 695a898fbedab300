/* libFuzzer target: the observer's decoder (observer_decode) over a fake
 * caller whose memory, working directory and fd path are the input: the
 * strings, struct open_how and socket addresses it reads are the sandbox's,
 * hence hostile. And the path normalizer alone.
 *
 * Input: call index (1 byte), mode (1), six arguments (6 x 8 bytes, but
 * pointers are made to land in the memory below when their top byte is 0),
 * cwd length (1) and cwd, fd path length (1) and fd path, then the memory. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linux/observer.h"

#define BASE 0x100000ULL

struct fake {
	const uint8_t *mem;
	size_t len;
	char cwd[256];
	char fdp[256];
};

static ssize_t fake_read(void *data, uint64_t addr, void *buf, size_t len)
{
	struct fake *f = data;
	if (addr < BASE || addr - BASE >= f->len)
		return -1;
	size_t off = (size_t)(addr - BASE);
	size_t n = f->len - off < len ? f->len - off : len;
	memcpy(buf, f->mem + off, n);
	return (ssize_t)n;
}

static ssize_t fake_fd_path(void *data, int fd, char *buf, size_t len)
{
	struct fake *f = data;
	const char *p = fd == AT_FDCWD ? f->cwd : (fd >= 0 && fd < 64) ? f->fdp : NULL;
	if (!p)
		return -1;
	size_t n = strlen(p);
	if (n > len)
		n = len;
	memcpy(buf, p, n);
	return (ssize_t)n;
}

static void check_path(const char *p)
{
	/* Absolute, normalized, within PATH_MAX. */
	size_t n = strlen(p);
	if (p[0] != '/' || n > PATH_MAX || (n > 1 && p[n - 1] == '/') || strstr(p, "//") ||
	    strstr(p, "/./") || strstr(p, "/../") || (n >= 2 && strcmp(p + n - 2, "/.") == 0) ||
	    (n >= 3 && strcmp(p + n - 3, "/..") == 0))
		abort();
}

static struct observer_scratch scratch;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n_table;
	const struct observer_syscall *table = observer_syscall_table(&n_table);
	if (size < 2 + 48 + 2)
		return 0;
	size_t idx = data[0] % n_table;
	enum observer_mode mode = (data[1] & 1) ? OBSERVER_READS : OBSERVER_WRITES;
	uint64_t args[6];
	memcpy(args, data + 2, sizeof(args));
	for (int i = 0; i < 6; i++)
		if ((args[i] >> 56) == 0 && args[i] > 0xffff)
			args[i] = BASE + (args[i] & 0xffff); /* a pointer into the memory */
	size_t off = 2 + sizeof(args);
	struct fake f;
	memset(&f, 0, sizeof(f));
	size_t cl = data[off++];
	if (cl > size - off || cl >= sizeof(f.cwd))
		return 0;
	memcpy(f.cwd, data + off, cl);
	off += cl;
	if (off >= size)
		return 0;
	size_t fl = data[off++];
	if (fl > size - off || fl >= sizeof(f.fdp))
		return 0;
	memcpy(f.fdp, data + off, fl);
	off += fl;
	f.mem = data + off;
	f.len = size - off;

	int nr = observer_syscall_nr(&table[idx]);
	struct observer_source src = { .data = &f, .read_mem = fake_read, .fd_path = fake_fd_path };
	struct observed_call out[OBSERVER_MAX_CALLS];
	int n = observer_decode(observer_syscalls_native(), mode, nr, args, &src, &scratch, out);
	if (n < 0 || n > OBSERVER_MAX_CALLS)
		abort();
	for (int i = 0; i < n; i++) {
		if (!out[i].operation)
			abort();
		if (out[i].path)
			check_path(out[i].path);
		if (out[i].op == OBS_READ && mode != OBSERVER_READS)
			abort();
		if (out[i].addr && (out[i].addr_len > sizeof(struct sockaddr_storage) ||
				    (out[i].addr->sa_family != AF_INET && out[i].addr->sa_family != AF_INET6)))
			abort();
	}

	/* The normalizer with the cwd as base and the memory as a path. */
	static char rel[PATH_MAX + 1], out_path[PATH_MAX + 1];
	size_t rl = f.len < PATH_MAX ? f.len : PATH_MAX;
	memcpy(rel, f.mem, rl);
	rel[rl] = '\0';
	ssize_t k = observer_normalize(f.cwd, rel, out_path, sizeof(out_path));
	if (k >= 0) {
		if ((size_t)k != strlen(out_path))
			abort();
		check_path(out_path);
	}
	return 0;
}
