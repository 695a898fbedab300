/* Path normalization for settings entries: ~, relative paths, .., //, a trailing slash or slash-star-star. */
#include "policy/path.h"

#include <stdlib.h>
#include <string.h>

#define PATH_NORM_MAX 4095

/* Append the components of src to out (an absolute path of length *len;
 * the root is the empty string here), folding ".", ".." and repeated
 * slashes. Each component added costs at most one byte more than it took in
 * src, so out needs strlen(src) + 1 bytes beyond *len. */
static void fold_into(char *out, size_t *len, const char *src)
{
	const char *p = src;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			return;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 1 && start[0] == '.')
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			/* "/.." stays "/", as the kernel has it. */
			while (*len > 0 && out[*len - 1] != '/')
				(*len)--;
			if (*len > 0)
				(*len)--;
			continue;
		}
		out[(*len)++] = '/';
		memcpy(out + *len, start, n);
		*len += n;
	}
}

char *path_normalize(const char *path, const char *home, const char *cwd, const char **why)
{
	const char *unused;
	if (!why)
		why = &unused;
	*why = NULL;
	if (!path || !*path) {
		*why = "empty path";
		return NULL;
	}

	const char *base = NULL; /* what a "~" or relative path hangs from */
	const char *rest = path;
	if (path[0] == '~') {
		if (path[1] != '\0' && path[1] != '/') {
			*why = "'~user' paths are not supported (write the full path)";
			return NULL;
		}
		if (!home || home[0] != '/') {
			*why = "'~' used, but the home directory is unknown or not absolute";
			return NULL;
		}
		base = home;
		rest = path + 1;
	} else if (path[0] != '/') {
		if (!cwd || cwd[0] != '/') {
			*why = "relative path, but the current directory is unknown or not absolute";
			return NULL;
		}
		base = cwd;
	}

	/* Fold first and check the length after: "a/../" repeated is long
	 * text for a short path. */
	size_t cap = (base ? strlen(base) + 1 : 0) + strlen(rest) + 2;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	size_t len = 0;
	if (base)
		fold_into(out, &len, base);
	fold_into(out, &len, rest);

	/* A trailing slash-star-star means the directory itself (srt's
	 * convention); repeated, it still does. */
	while (len >= 3 && out[len - 1] == '*' && out[len - 2] == '*' && out[len - 3] == '/')
		len -= 3;

	if (len == 0)
		out[len++] = '/';
	out[len] = '\0';
	if (len > PATH_NORM_MAX) {
		free(out);
		*why = "path is longer than 4095 bytes";
		return NULL;
	}
	return out;
}

int path_is_inside(const char *path, const char *dir)
{
	if (!path || !dir)
		return 0;
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		n--;
	if (n == 1 && dir[0] == '/')
		return path[0] == '/';
	if (n == 0 || strncmp(path, dir, n) != 0)
		return 0;
	return path[n] == '\0' || path[n] == '/';
}
