/* Glob patterns for path rules: matching, and a bounded directory walk that expands them. */
#include "policy/glob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool glob_has_magic(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			continue;
		}
		if (*p == '*' || *p == '?' || *p == '[')
			return true;
	}
	return false;
}

/* Match one character class at *pp against c; advances *pp past ']'.
 * Returns 1 match, 0 no match, -1 malformed (then '[' is literal). */
static int match_class(const char **pp, char c)
{
	const char *p = *pp + 1;
	bool neg = false, ok = false;
	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	bool first = true;
	while (*p && (first || *p != ']')) {
		first = false;
		char lo = *p;
		if (lo == '\\' && p[1])
			lo = *++p;
		char hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hi = p[2];
			p += 2;
			if (hi == '\\' && p[1])
				hi = *++p;
		}
		if (c >= lo && c <= hi)
			ok = true;
		p++;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return (ok != neg) && c != '/';
}

/* Match one path component against one pattern component (no '/'),
 * with the classic single-star backtracking: linear in practice. */
static bool match_segment(const char *p, const char *pe, const char *s, const char *se)
{
	const char *star_p = NULL, *star_s = NULL;
	while (s < se) {
		if (p < pe && *p == '*') {
			star_p = ++p;
			star_s = s;
			continue;
		}
		if (p < pe) {
			const char *q = p;
			int m;
			if (*q == '?') {
				p++;
				s++;
				continue;
			}
			if (*q == '[' && (m = match_class(&q, *s)) >= 0) {
				if (m && q <= pe) {
					p = q;
					s++;
					continue;
				}
			} else {
				char lit = *q;
				if (lit == '\\' && q + 1 < pe)
					lit = *++q;
				if (lit == *s) {
					p = q + 1;
					s++;
					continue;
				}
			}
		}
		if (!star_p)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

/* Split into components: pointers to starts and ends. */
#define MAX_COMPONENTS 256

static int split(const char *s, const char **starts, const char **ends)
{
	int n = 0;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		if (n == MAX_COMPONENTS)
			return -1;
		starts[n] = s;
		while (*s && *s != '/')
			s++;
		ends[n++] = s;
	}
	return n;
}

static bool is_globstar(const char *b, const char *e)
{
	return e - b == 2 && b[0] == '*' && b[1] == '*';
}

bool glob_match(const char *pattern, const char *path)
{
	const char *ps[MAX_COMPONENTS], *pe[MAX_COMPONENTS], *ss[MAX_COMPONENTS], *se[MAX_COMPONENTS];
	int np = split(pattern, ps, pe), ns = split(path, ss, se);
	if (np < 0 || ns < 0)
		return false;
	/* Components with '**' backtracking, the same single-star scheme one
	 * level up: O(np * ns) segment matches at worst. */
	int i = 0, j = 0, star_i = -1, star_j = 0;
	while (j < ns) {
		if (i < np && is_globstar(ps[i], pe[i])) {
			star_i = ++i;
			star_j = j;
			continue;
		}
		if (i < np && match_segment(ps[i], pe[i], ss[j], se[j])) {
			i++;
			j++;
			continue;
		}
		if (star_i < 0)
			return false;
		i = star_i;
		j = ++star_j;
	}
	while (i < np && is_globstar(ps[i], pe[i]))
		i++;
	return i == np;
}

struct walk {
	const char *pattern;
	const char **ps, **pe;
	int np;
	size_t visited, matches, max_visited, max_matches;
	glob_match_cb cb;
	void *userdata;
	char path[PATH_MAX];
};

static bool names_literally(const struct walk *w, const char *name)
{
	for (int i = 0; i < w->np; i++)
		if ((size_t)(w->pe[i] - w->ps[i]) == strlen(name) && strncmp(w->ps[i], name, strlen(name)) == 0)
			return true;
	return false;
}

/* Walk the folder at dirfd whose path is w->path[0..len), being at
 * pattern component k (all components before k matched literally or by
 * the walk). Depth-bounded by the pattern unless a '**' is still ahead. */
static int walk_dir(struct walk *w, int dirfd, size_t len, int depth, bool deep)
{
	DIR *d = fdopendir(dirfd);
	if (!d) {
		close(dirfd);
		return 0;
	}
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0')))
			continue;
		if (++w->visited > w->max_visited) {
			r = -E2BIG;
			break;
		}
		size_t nlen = strlen(n);
		if (len + 1 + nlen >= sizeof(w->path))
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, n, nlen + 1);
		unsigned char t = e->d_type;
		if (t == DT_UNKNOWN || t == DT_LNK) {
			struct stat st;
			if (fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0)
				t = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
		}
		if (glob_match(w->pattern, w->path)) {
			if (++w->matches > w->max_matches) {
				r = -E2BIG;
				break;
			}
			if ((r = w->cb(w->path, t == DT_DIR, w->userdata)))
				break;
		}
		bool descend = t == DT_DIR && (deep || depth + 1 < w->np);
		if (descend && strcmp(n, "node_modules") == 0 && !names_literally(w, n))
			descend = false;
		if (descend && strcmp(n, "objects") == 0 && len >= 5 && strcmp(w->path + len - 5, "/.git") == 0 &&
		    !names_literally(w, "objects"))
			descend = false;
		if (descend) {
			int sub = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0 && (r = walk_dir(w, sub, len + 1 + nlen, depth + 1, deep)))
				break;
		}
	}
	w->path[len] = '\0';
	closedir(d);
	return r;
}

int glob_expand(const char *pattern, const struct glob_walk_limits *limits,
		glob_match_cb cb, void *userdata)
{
	const char *ps[MAX_COMPONENTS], *pe[MAX_COMPONENTS];
	int np = split(pattern, ps, pe);
	if (np < 0 || pattern[0] != '/')
		return -EINVAL;
	struct walk w = { .pattern = pattern, .ps = ps, .pe = pe, .cb = cb, .userdata = userdata };
	w.max_visited = limits && limits->max_visited ? limits->max_visited : 1000000;
	w.max_matches = limits && limits->max_matches ? limits->max_matches : 100000;

	/* The longest literal prefix of whole components. */
	int k = 0;
	size_t len = 0;
	w.path[0] = '\0';
	while (k < np) {
		char comp[NAME_MAX + 1];
		size_t n = (size_t)(pe[k] - ps[k]);
		if (n > NAME_MAX)
			return 0;
		memcpy(comp, ps[k], n);
		comp[n] = '\0';
		if (glob_has_magic(comp))
			break;
		/* unescape */
		char *o = comp;
		for (const char *c = comp; *c; c++) {
			if (*c == '\\' && c[1])
				c++;
			*o++ = *c;
		}
		*o = '\0';
		size_t cl = strlen(comp);
		if (len + 1 + cl >= sizeof(w.path))
			return 0;
		w.path[len] = '/';
		memcpy(w.path + len + 1, comp, cl + 1);
		len += 1 + cl;
		k++;
	}
	if (k == np)
		return 0; /* no magic: nothing to expand */
	bool deep = false;
	for (int i = k; i < np; i++)
		deep |= is_globstar(ps[i], pe[i]);
	int fd = open(len ? w.path : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0; /* nothing there: no matches */
	return walk_dir(&w, fd, len, k, deep);
}
