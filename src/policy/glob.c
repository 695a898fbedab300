/* Glob patterns for path rules: matching, and a bounded directory walk that expands them. */
#include "policy/glob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GLOB_PATH_MAX 4096      /* result paths, with their NUL */
#define GLOB_MAX_DEPTH 256      /* directories held open at once while walking */

/* ---- matching ------------------------------------------------------------ */

/* One path component: s[0..n), never containing '/'. */
struct seg {
	const char *s;
	size_t n;
};

bool glob_has_magic(const char *p)
{
	for (; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				break;
			p++;
			continue;
		}
		if (*p == '*' || *p == '?' || *p == '[')
			return true;
	}
	return false;
}

static bool seg_is_dstar(struct seg g)
{
	return g.n == 2 && g.s[0] == '*' && g.s[1] == '*';
}

/* Read the component that starts at or after *p (skipping slashes); set
 * *p past it. False when none is left. */
static bool next_seg(const char **p, struct seg *ret)
{
	const char *s = *p;
	while (*s == '/')
		s++;
	if (!*s)
		return false;
	const char *e = s;
	while (*e && *e != '/')
		e++;
	ret->s = s;
	ret->n = (size_t)(e - s);
	*p = e;
	return true;
}

/* Try the class that starts at pat[i] == '[' against c. Sets *end to the
 * index just past the closing ']' and returns whether c is in the class;
 * returns -1 when the class is not closed in this component, in which case
 * '[' is an ordinary character. */
static int class_match(struct seg pat, size_t i, unsigned char c, size_t *end)
{
	size_t j = i + 1;
	bool negate = false;
	if (j < pat.n && (pat.s[j] == '!' || pat.s[j] == '^')) {
		negate = true;
		j++;
	}
	bool found = false;
	bool first = true;
	for (;;) {
		if (j >= pat.n)
			return -1;
		unsigned char lo = (unsigned char)pat.s[j];
		if (lo == ']' && !first)
			break;
		first = false;
		if (lo == '\\' && j + 1 < pat.n)
			lo = (unsigned char)pat.s[++j];
		j++;
		unsigned char hi = lo;
		/* "a-z" is a range; a '-' just before ']' is literal. */
		if (j + 1 < pat.n && pat.s[j] == '-' && pat.s[j + 1] != ']') {
			j++;
			hi = (unsigned char)pat.s[j];
			if (hi == '\\' && j + 1 < pat.n)
				hi = (unsigned char)pat.s[++j];
			j++;
		}
		if (lo <= c && c <= hi)
			found = true;
	}
	*end = j + 1;
	return found != negate;
}

/* Match one pattern token at pat[*pi] against c; advance *pi past it. */
static bool token_match(struct seg pat, size_t *pi, unsigned char c)
{
	size_t i = *pi;
	unsigned char t = (unsigned char)pat.s[i];
	if (t == '?') {
		*pi = i + 1;
		return true;
	}
	if (t == '[') {
		size_t end;
		int m = class_match(pat, i, c, &end);
		if (m >= 0) {
			*pi = end;
			return m;
		}
		*pi = i + 1;
		return c == '[';
	}
	if (t == '\\' && i + 1 < pat.n) {
		*pi = i + 2;
		return c == (unsigned char)pat.s[i + 1];
	}
	*pi = i + 1;
	return c == t;
}

/* Match one component. Every token but '*' consumes exactly one
 * character, so remembering only the last '*' is enough: when a later
 * token fails, letting an earlier '*' take more could only be needed if
 * the last '*' could not absorb it, and it always can. O(|pat| * |str|). */
static bool seg_match(struct seg pat, struct seg str)
{
	size_t pi = 0, si = 0;
	size_t star_pi = SIZE_MAX, star_si = 0;
	while (si < str.n) {
		if (pi < pat.n && pat.s[pi] == '*') {
			while (pi < pat.n && pat.s[pi] == '*')
				pi++;
			star_pi = pi;
			star_si = si;
			continue;
		}
		size_t next = pi;
		if (pi < pat.n && token_match(pat, &next, (unsigned char)str.s[si])) {
			pi = next;
			si++;
			continue;
		}
		if (star_pi == SIZE_MAX)
			return false;
		pi = star_pi;
		si = ++star_si;
	}
	while (pi < pat.n && pat.s[pi] == '*')
		pi++;
	return pi == pat.n;
}

/* The same two-pointer idea one level up: a "**" component is the star,
 * every other component consumes exactly one path component. */
bool glob_match(const char *pattern, const char *path)
{
	if (!pattern || !path || (pattern[0] == '/') != (path[0] == '/'))
		return false;
	const char *p = pattern, *s = path;
	const char *star_p = NULL, *star_s = NULL;
	for (;;) {
		struct seg ps, ss;
		const char *p_next = p, *s_next = s;
		bool have_p = next_seg(&p_next, &ps);
		bool have_s = next_seg(&s_next, &ss);
		if (have_p && seg_is_dstar(ps)) {
			star_p = p = p_next;
			star_s = s;
			continue;
		}
		if (!have_s) {
			/* Only more "**" can match nothing. */
			while (have_p && seg_is_dstar(ps)) {
				p = p_next;
				have_p = next_seg(&p_next, &ps);
			}
			return !have_p;
		}
		if (have_p && seg_match(ps, ss)) {
			p = p_next;
			s = s_next;
			continue;
		}
		if (!star_p)
			return false;
		struct seg skipped;
		next_seg(&star_s, &skipped); /* the "**" takes one more component */
		s = star_s;
		p = star_p;
	}
}

/* ---- expansion ----------------------------------------------------------- */

struct pcomp {
	struct seg g;
	bool dstar;
	bool magic;
};

struct walk {
	const struct pcomp *comp;
	size_t n_comp;
	size_t max_visited, max_matches;
	size_t visited, matches;
	glob_match_cb cb;
	void *userdata;
	/* State sets of all open levels, one after the other, as pattern
	 * component indices: state i means components [0, i) are matched. */
	uint32_t *states;
	size_t n_states, cap_states;
	uint32_t *mark;      /* per index: the stamp of the set that has it */
	uint32_t stamp;
	char path[GLOB_PATH_MAX];
};

static int push_state(struct walk *w, uint32_t i)
{
	if (w->mark[i] == w->stamp)
		return 0;
	if (w->n_states == w->cap_states) {
		size_t cap = w->cap_states ? w->cap_states * 2 : 64;
		uint32_t *v = realloc(w->states, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		w->states = v;
		w->cap_states = cap;
	}
	w->mark[i] = w->stamp;
	w->states[w->n_states++] = i;
	/* "**" may match zero components: the state after it holds too. */
	if (i < w->n_comp && w->comp[i].dstar)
		return push_state(w, i + 1);
	return 0;
}

/* Would the walk skip this directory? node_modules and .git/objects are
 * huge and never what a pattern means unless it names them. */
static bool is_heavy_dir(bool parent_is_git, const char *name)
{
	return strcmp(name, "node_modules") == 0 || (parent_is_git && strcmp(name, "objects") == 0);
}

/* Compute the states after the entry `name` from the set [from, to) into a
 * new set at the end of w->states. With heavy, only states that came
 * through a component naming the entry literally survive: the set to
 * descend with into a directory we otherwise skip. */
static int step(struct walk *w, size_t from, size_t to, const char *name, bool heavy)
{
	struct seg ns = { name, strlen(name) };
	w->stamp++;
	if (w->stamp == 0) { /* wrapped: start the stamps over */
		memset(w->mark, 0, (w->n_comp + 1) * sizeof(*w->mark));
		w->stamp = 1;
	}
	for (size_t k = from; k < to; k++) {
		uint32_t i = w->states[k];
		if (i >= w->n_comp)
			continue;
		const struct pcomp *c = &w->comp[i];
		int r = 0;
		if (c->dstar) {
			if (!heavy)
				r = push_state(w, i);
		} else if (seg_match(c->g, ns) && (!heavy || !c->magic)) {
			r = push_state(w, i + 1);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int report(struct walk *w, bool is_dir)
{
	if (w->matches >= w->max_matches)
		return -E2BIG;
	w->matches++;
	return w->cb(w->path, is_dir, w->userdata);
}

/* A directory being walked: its fd, its path w->path[0..len), and its
 * state set w->states[from, to). */
struct dir_ctx {
	int fd;
	size_t len;
	size_t from, to;
	bool is_git;
	unsigned depth;
};

static int walk_dir(struct walk *w, int fd, size_t len, size_t from, size_t to, bool is_git,
		    unsigned depth);

/* One entry of a directory: match it, report it, go into it. type is a
 * d_type, DT_UNKNOWN when not known yet (the entry may not even exist when
 * it was only probed for). Returns 0 to go on. */
static int visit(struct walk *w, const struct dir_ctx *dc, const char *name, unsigned char type)
{
	if (++w->visited > w->max_visited)
		return -E2BIG;
	size_t nlen = strlen(name);
	if (dc->len + 1 + nlen >= sizeof(w->path))
		return 0; /* not nameable by a path: no rule could name it either */

	int r;
	size_t mark = w->n_states;
	if ((r = step(w, dc->from, dc->to, name, false)) < 0)
		return r;
	if (w->n_states == mark)
		return 0;
	bool matched = w->mark[w->n_comp] == w->stamp;
	if (is_heavy_dir(dc->is_git, name)) {
		/* Report it as any entry, but go in only on a literal
		 * mention. */
		w->n_states = mark;
		if ((r = step(w, dc->from, dc->to, name, true)) < 0)
			return r;
	}
	size_t nfrom = mark, nto = w->n_states;
	bool more = false;
	for (size_t k = nfrom; k < nto; k++)
		if (w->states[k] != w->n_comp)
			more = true;

	if (type == DT_UNKNOWN) {
		struct stat st;
		if (fstatat(dc->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			w->n_states = mark;
			return 0; /* not there (any more) */
		}
		type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISLNK(st.st_mode) ? DT_LNK : DT_REG;
	}
	bool is_dir = type == DT_DIR;

	size_t len = dc->len;
	w->path[len] = '/';
	memcpy(w->path + len + 1, name, nlen + 1);
	r = matched ? report(w, is_dir) : 0;
	if (r == 0 && more && is_dir) {
		if (dc->depth + 1 >= GLOB_MAX_DEPTH) {
			r = -E2BIG;
		} else {
			int cfd = openat(dc->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0)
				r = walk_dir(w, cfd, len + 1 + nlen, nfrom, nto, strcmp(name, ".git") == 0,
					     dc->depth + 1);
			else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
				r = -errno;
			/* Otherwise unreadable or replaced by a non-directory:
			 * nothing there for us, nor for the sandboxed command. */
		}
	}
	w->path[len] = '\0';
	w->n_states = mark;
	return r;
}

/* Remove backslash escapes from a literal component into out. */
static size_t unescape(char *out, struct seg g)
{
	size_t o = 0;
	for (size_t i = 0; i < g.n; i++) {
		if (g.s[i] == '\\' && i + 1 < g.n)
			i++;
		out[o++] = g.s[i];
	}
	return o;
}

/* When every state of a directory wants one literal name next (as in
 * "/home/<any>/.ssh" below /home), look those names up instead of
 * listing the directory, which may be big. Returns 1 when this applied
 * (with the result in *ret), 0 when the directory must be listed. */
static int probe_literals(struct walk *w, const struct dir_ctx *dc, int *ret)
{
	for (size_t k = dc->from; k < dc->to; k++) {
		uint32_t i = w->states[k];
		if (i < w->n_comp && (w->comp[i].magic || w->comp[i].g.n > 255))
			return 0;
	}
	char name[256], other[256];
	for (size_t k = dc->from; k < dc->to; k++) {
		uint32_t i = w->states[k];
		if (i >= w->n_comp)
			continue;
		size_t n = unescape(name, w->comp[i].g);
		name[n] = '\0';
		if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		bool dup = false;
		for (size_t k2 = dc->from; k2 < k && !dup; k2++) {
			uint32_t i2 = w->states[k2];
			if (i2 >= w->n_comp)
				continue;
			other[unescape(other, w->comp[i2].g)] = '\0';
			dup = strcmp(name, other) == 0;
		}
		if (dup)
			continue;
		int r = visit(w, dc, name, DT_UNKNOWN);
		if (r != 0) {
			*ret = r;
			return 1;
		}
	}
	*ret = 0;
	return 1;
}

/* Walk the directory open as fd, whose path is w->path[0..len) and whose
 * state set is w->states[from, to). Takes ownership of fd. */
static int walk_dir(struct walk *w, int fd, size_t len, size_t from, size_t to, bool is_git,
		    unsigned depth)
{
	struct dir_ctx dc = { .fd = fd, .len = len, .from = from, .to = to, .is_git = is_git, .depth = depth };
	int r = 0;
	if (probe_literals(w, &dc, &r)) {
		close(fd);
		return r;
	}
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct dirent *de;
	/* A directory that goes bad mid-read counts as read up to there. */
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
			continue;
		if ((r = visit(w, &dc, name, de->d_type)) != 0)
			break;
	}
	w->path[len] = '\0';
	closedir(d);
	return r;
}

int glob_expand(const char *pattern, const struct glob_walk_limits *limits,
		glob_match_cb cb, void *userdata)
{
	if (!pattern || pattern[0] != '/' || !cb)
		return -EINVAL;
	size_t plen = strlen(pattern);
	if (plen >= GLOB_PATH_MAX)
		return -ENAMETOOLONG;

	struct walk w = {
		.max_visited = limits && limits->max_visited ? limits->max_visited : 1000000,
		.max_matches = limits && limits->max_matches ? limits->max_matches : 100000,
		.cb = cb,
		.userdata = userdata,
	};
	struct pcomp *comp = calloc(plen / 2 + 1, sizeof(*comp));
	if (!comp)
		return -ENOMEM;
	size_t n = 0;
	const char *p = pattern;
	struct seg g;
	while (next_seg(&p, &g)) {
		comp[n].g = g;
		comp[n].dstar = seg_is_dstar(g);
		comp[n].magic = false;
		for (size_t i = 0; i < g.n; i++) {
			if (g.s[i] == '\\') {
				i++;
				continue;
			}
			if (g.s[i] == '*' || g.s[i] == '?' || g.s[i] == '[')
				comp[n].magic = true;
		}
		n++;
	}
	w.comp = comp;
	w.n_comp = n;

	/* The walk starts at the longest literal directory prefix. */
	size_t lit = 0, len = 0;
	while (lit < n && !comp[lit].magic) {
		w.path[len++] = '/';
		len += unescape(w.path + len, comp[lit].g);
		lit++;
	}
	w.path[len] = '\0';

	int r = 0;
	w.mark = calloc(n + 1, sizeof(*w.mark));
	if (!w.mark) {
		r = -ENOMEM;
		goto out;
	}
	w.stamp = 1;
	if ((r = push_state(&w, (uint32_t)lit)) < 0)
		goto out;

	bool whole = false, more = false;
	for (size_t k = 0; k < w.n_states; k++) {
		if (w.states[k] == n)
			whole = true;
		else
			more = true;
	}
	const char *start = len ? w.path : "/";
	struct stat st;
	if (whole) {
		/* Everything was literal (or only "**" is left): the prefix
		 * itself is the one candidate. */
		if (lstat(start, &st) == 0 && (r = report(&w, S_ISDIR(st.st_mode))) != 0)
			goto out;
	}
	if (more) {
		int fd = open(start, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			/* Nothing there, or nothing we (and so the sandboxed
			 * command, which runs as us) can list. */
			if (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == ELOOP)
				r = 0;
			else
				r = -errno;
			goto out;
		}
		const char *last = strrchr(start, '/');
		r = walk_dir(&w, fd, len, 0, w.n_states, strcmp(last + 1, ".git") == 0, 0);
	}
out:
	free(w.states);
	free(w.mark);
	free(comp);
	return r;
}
