/* libFuzzer target: callerfs_resolve on any path, in a small scratch tree as the caller's root, with its invariants checked. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "linux/callerfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int root = -1, base = -1;
static char tree[] = "/tmp/srt-fuzz-callerfs-XXXXXX";

static int remove_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(p);
	return 0;
}

static void remove_tree(void)
{
	nftw(tree, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A tree with folders, a file and links of every kind, made once:
 *   ROOT/a/b/c, ROOT/file, ROOT/a/abs -> /a/b, ROOT/a/rel -> b/c,
 *   ROOT/a/up -> ../../.., ROOT/a/loop -> loop, ROOT/a/dangling -> /nowhere */
static void make_tree(void)
{
	char *t = tree;
	if (!mkdtemp(t))
		abort();
	atexit(remove_tree);
	char p[256];
	static const char *const dirs[] = { "a", "a/b", "a/b/c" };
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t, dirs[i]);
		if (mkdir(p, 0755) < 0)
			abort();
	}
	snprintf(p, sizeof(p), "%s/file", t);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	if (fd < 0)
		abort();
	close(fd);
	static const char *const links[][2] = {
		{ "/a/b", "a/abs" }, { "b/c", "a/rel" }, { "../../..", "a/up" },
		{ "loop", "a/loop" }, { "/nowhere", "a/dangling" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", t, links[i][1]);
		if (symlink(links[i][0], p) < 0)
			abort();
	}
	root = open(t, O_PATH | O_DIRECTORY | O_CLOEXEC);
	snprintf(p, sizeof(p), "%s/a", t);
	base = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || base < 0)
		abort();
}

/* Is fd inside the tree (the root or below it)? Walks up by "..". */
static bool inside_root(int fd)
{
	struct stat r, s;
	if (fstat(root, &r) < 0)
		abort();
	int cur = dup(fd);
	for (int depth = 0; depth < 64 && cur >= 0; depth++) {
		if (fstat(cur, &s) < 0)
			abort();
		if (s.st_dev == r.st_dev && s.st_ino == r.st_ino) {
			close(cur);
			return true;
		}
		int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		struct stat u;
		if (up < 0 || fstat(up, &u) < 0)
			abort();
		close(cur);
		if (u.st_dev == s.st_dev && u.st_ino == s.st_ino) {
			close(up);
			return false; /* reached the supervisor's root */
		}
		cur = up;
	}
	if (cur >= 0)
		close(cur);
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (root < 0)
		make_tree();
	if (size == 0 || size > PATH_MAX + 16)
		return 0;
	/* First byte: relative to the base or to nothing. */
	bool with_base = data[0] & 1;
	char *path = malloc(size);
	if (!path)
		return 0;
	memcpy(path, data + 1, size - 1);
	path[size - 1] = '\0';
	struct caller_target t;
	int r = callerfs_resolve(root, with_base ? base : -1, path, &t);
	if (r == 0) {
		/* A folder of the caller's root, and a plain name in it. */
		struct stat st;
		if (t.parent < 0 || fstat(t.parent, &st) < 0 || !S_ISDIR(st.st_mode))
			abort();
		if (!inside_root(t.parent))
			abort();
		if (strchr(t.name, '/') || strcmp(t.name, ".") == 0 || strcmp(t.name, "..") == 0)
			abort();
		if (strlen(t.name) > NAME_MAX)
			abort();
		close(t.parent);
	} else {
		if (t.parent != -1 || r >= 0)
			abort();
	}
	free(path);
	return 0;
}
