/* The write guard: judge each trapped write-intent call on what it resolves to, then carry it out. */
#include "linux/writeguard.h"

#include "linux/callerfs.h"
#include "policy/guard.h"
#include "policy/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#ifndef SECCOMP_IOCTL_NOTIF_ADDFD
#define SECCOMP_IOCTL_NOTIF_ADDFD SECCOMP_IOW(3, struct seccomp_notif_addfd)
#endif

#define MAX_HOPS 40
#define CACHE_MAX 64
#define HOLDS_SCAN_ENTRIES 4096

struct ino_key {
	dev_t dev;
	ino_t ino;
};

/* A file of checked content (a rebase todo, a merge strategy, packed
 * refs) the sandbox wrote, and what it held before. */
#define CONTENT_MAX (64u << 20)
#define TODOS_MAX 64
struct todo_rec {
	char *path;                /* as the sandbox sees it, for the report */
	int folder;                /* O_PATH: the folder it is in, held from the first write */
	char *name;
	enum guard_content kind;
	char *before;
	size_t before_len;
};

struct cached_facts {
	char *path;
	unsigned facts;
	unsigned known;
};

/* Git facts of a folder by identity: they change only when HEAD,
 * objects, refs or commondir appear or go in it, which the guard sees
 * (it empties the cache then). */
#define INO_CACHE 256
struct ino_facts {
	dev_t dev;
	ino_t ino;
	unsigned facts;
};

struct wguard {
	const struct policy *p;
	struct ino_facts ino_cache[INO_CACHE];
	size_t n_ino;
	/* The folder of the call being judged: its facts come from its
	 * descriptor, not from its path walked again. */
	int cur_fd;
	const char *cur_path;
	/* Judging a path as written: a link on its way (which the judgement
	 * of the resolved path covered) is no reason to refuse here. */
	bool lexical;
	/* The call being served: what was opened under /proc/PID is the
	 * caller's only while it still waits in this call (a process id can
	 * be another process's by then). */
	struct broker *cur_b;
	uint64_t cur_id;
	char *home;
	int root;              /* the caller's root, O_PATH; -1 until the first call */
	bool rights_taken;
	bool rights_failed;
	struct ino_key *new_repos;
	size_t n_new, cap_new;
	struct todo_rec *todos;    /* rebase todos written in this run */
	size_t n_todos;
	struct cached_facts cache[CACHE_MAX];
	size_t n_cache;
};

/* A target as judged: its folder and name (the name not followed). */
struct tgt {
	struct caller_target t;
	char ppath[PATH_MAX];   /* the folder, as the caller sees it */
	/* The path as the caller wrote it, normalized but its links not
	 * followed, when it differs: a link on the way (sub/.claude ->
	 * elsewhere) must not take the name out of the rules' sight. */
	bool has_lex;
	char lex[PATH_MAX];
	enum guard_type type;
	struct stat st;         /* when type != NONE */
};

static void tgt_close(struct tgt *x)
{
	if (x->t.parent >= 0)
		close(x->t.parent);
	x->t.parent = -1;
}

int wguard_new(const struct wguard_options *o, struct wguard **ret)
{
	struct wguard *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->p = o->policy;
	w->root = -1;
	w->cur_fd = -1;
	if (o->home && o->home[0] == '/') {
		w->home = strdup(o->home);
		if (!w->home) {
			free(w);
			return -ENOMEM;
		}
		/* guard_decide wants it normalized: no trailing '/'. */
		size_t n = strlen(w->home);
		while (n > 1 && w->home[n - 1] == '/')
			w->home[--n] = '\0';
	}
	*ret = w;
	return 0;
}

void wguard_free(struct wguard *w)
{
	if (!w)
		return;
	if (w->root >= 0)
		close(w->root);
	for (size_t i = 0; i < w->n_cache; i++)
		free(w->cache[i].path);
	free(w->new_repos);
	for (size_t i = 0; i < w->n_todos; i++) {
		free(w->todos[i].path);
		free(w->todos[i].name);
		free(w->todos[i].before);
		if (w->todos[i].folder >= 0)
			close(w->todos[i].folder);
	}
	free(w->todos);
	free(w->home);
	free(w);
}

bool wguard_release_at_least(const char *release, int major, int minor)
{
	/* Digits, a dot, digits: strtol alone would take spaces and signs. */
	if (release[0] < '0' || release[0] > '9')
		return false;
	char *end;
	long a = strtol(release, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9')
		return false;
	const char *m = end + 1;
	long b = strtol(m, &end, 10);
	return a > major || (a == major && b >= minor);
}

bool wguard_supported(void)
{
	/* Descriptors handed back with SECCOMP_ADDFD_FLAG_SEND: Linux 5.14.
	 * The kernel offers no probe for it that loads nothing, so its
	 * release says. */
	struct utsname u;
	return observer_supported() && uname(&u) == 0 && wguard_release_at_least(u.release, 5, 14);
}

int wguard_magic_fd(const char *path)
{
	static const char *const std[] = { "/dev/stdin", "/dev/stdout", "/dev/stderr" };
	for (int i = 0; i < 3; i++)
		if (strcmp(path, std[i]) == 0)
			return i;
	static const char *const dirs[] = { "/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/" };
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) != 0)
			continue;
		const char *s = path + n;
		if (*s < '0' || *s > '9')
			return -1;
		long v = 0;
		for (; *s >= '0' && *s <= '9'; s++) {
			v = v * 10 + (*s - '0');
			if (v > 1 << 24)
				return -1;
		}
		return *s ? -1 : (int)v;
	}
	return -1;
}

/* ---- Reading the caller ------------------------------------------------------ */

static ssize_t read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	return process_vm_readv(pid, &local, 1, &remote, 1, 0);
}

/* A NUL-terminated string of at most PATH_MAX - 1 bytes at addr. 0, or a
 * negative errno (-EFAULT, -ENAMETOOLONG). */
static int read_string(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
	if (!addr)
		return -EFAULT;
	size_t got = 0;
	while (got < cap) {
		/* Up to the end of the page: a string ending just before an
		 * unmapped page must still be read. */
		uint64_t a = addr + got;
		size_t chunk = 4096 - (size_t)(a & 4095);
		/* Most paths are short: a small first read, then the rest. */
		if (got == 0 && chunk > 256)
			chunk = 256;
		if (chunk > cap - got)
			chunk = cap - got;
		ssize_t n = read_mem(pid, a, buf + got, chunk);
		if (n <= 0)
			return -EFAULT;
		void *z = memchr(buf + got, '\0', (size_t)n);
		if (z)
			return 0;
		got += (size_t)n;
	}
	return -ENAMETOOLONG;
}

static int as_int(uint64_t v)
{
	return (int)(int32_t)(uint32_t)v;
}

/* ---- Facts for guard_decide --------------------------------------------------- */

/* May the sandbox change what is at path? Only inside a writable root or
 * its private /tmp; elsewhere the answers hold for the run. */
static bool changeable(const struct wguard *w, const char *path)
{
	if (!w->p->tmp_is_host && path_is_inside(path, "/tmp"))
		return true;
	/* The rule deciding path (a writable root decides itself too). */
	const struct policy_path_rule *r = policy_write_rule(w->p, path);
	return r && r->kind == POLICY_ALLOW_WRITE;
}

static bool new_repo_has(const struct wguard *w, const struct stat *st)
{
	for (size_t i = 0; i < w->n_new; i++)
		if (w->new_repos[i].dev == st->st_dev && w->new_repos[i].ino == st->st_ino)
			return true;
	return false;
}

static void new_repo_add(struct wguard *w, const struct stat *st)
{
	if (new_repo_has(w, st))
		return;
	if (w->n_new == w->cap_new) {
		size_t cap = w->cap_new ? 2 * w->cap_new : 8;
		struct ino_key *v = realloc(w->new_repos, cap * sizeof(*v));
		if (!v)
			return; /* then it is not writable as new: the refusing side */
		w->new_repos = v;
		w->cap_new = cap;
	}
	w->new_repos[w->n_new++] = (struct ino_key){ st->st_dev, st->st_ino };
}

static bool entry_exists(int dfd, const char *name, bool want_dir)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return !want_dir || S_ISDIR(st.st_mode);
}

/* The entries of folder name in dfd ("" for dfd itself), or NULL. */
static DIR *open_listing(int dfd, const char *name)
{
	int d = openat(dfd, name[0] ? name : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d < 0)
		return NULL;
	DIR *dir = fdopendir(d);
	if (!dir)
		close(d);
	return dir;
}

/* Does the folder fd hold, within a few levels, a .git (bounded: past the
 * bound, answer yes)? */
static bool holds_git(int fd, int depth, size_t *budget)
{
	DIR *dir = open_listing(fd, "");
	if (!dir)
		return true;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(dir))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (*budget == 0) {
			found = true;
			break;
		}
		(*budget)--;
		if (strcasecmp(e->d_name, ".git") == 0) {
			found = true;
			break;
		}
		if (depth > 0 && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
			int sub = openat(dirfd(dir), e->d_name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				found = holds_git(sub, depth - 1, budget);
				close(sub);
			}
		}
	}
	closedir(dir);
	return found;
}

/* A user rule (denyWrite, denyRead, the built-in ones at a writable root)
 * strictly below path. */
static const struct policy_path_rule *rule_below(const struct policy *p, const char *path)
{
	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_path_rule *r = &p->rules[i];
		if (r->kind != POLICY_DENY_WRITE && r->kind != POLICY_DENY_READ)
			continue;
		if (strcmp(r->path, path) != 0 && path_is_inside(r->path, path))
			return r;
	}
	return NULL;
}

static unsigned facts_of(void *data, const char *path, unsigned want)
{
	struct wguard *w = data;
	const unsigned refusing = GUARD_FACT_GIT_DIR | GUARD_FACT_HAS_HEAD | GUARD_FACT_HAS_OBJECTS |
				  GUARD_FACT_HAS_REFS | GUARD_FACT_HAS_COMMONDIR | GUARD_FACT_HOLDS_PROTECTED;
	const unsigned cacheable = GUARD_FACT_GIT_DIR | GUARD_FACT_HAS_HEAD | GUARD_FACT_HAS_OBJECTS |
				   GUARD_FACT_HAS_REFS | GUARD_FACT_HAS_COMMONDIR;
	bool fixed = !changeable(w, path);
	if (fixed && !(want & ~cacheable)) {
		for (size_t i = 0; i < w->n_cache; i++)
			if (strcmp(w->cache[i].path, path) == 0 && (w->cache[i].known & want) == want)
				return w->cache[i].facts & want;
	}
	if (w->root < 0)
		return refusing;
	if (w->cur_fd >= 0 && w->cur_path && strcmp(path, w->cur_path) == 0 && !(want & ~cacheable)) {
		struct stat cst;
		if (fstat(w->cur_fd, &cst) == 0 && S_ISDIR(cst.st_mode)) {
			for (size_t i = 0; i < w->n_ino; i++)
				if (w->ino_cache[i].dev == cst.st_dev && w->ino_cache[i].ino == cst.st_ino)
					return w->ino_cache[i].facts & want;
			unsigned cf = 0;
			if (entry_exists(w->cur_fd, "HEAD", false))
				cf |= GUARD_FACT_HAS_HEAD;
			if (entry_exists(w->cur_fd, "commondir", false))
				cf |= GUARD_FACT_HAS_COMMONDIR;
			if (entry_exists(w->cur_fd, "objects", false))
				cf |= GUARD_FACT_HAS_OBJECTS;
			if (entry_exists(w->cur_fd, "refs", false))
				cf |= GUARD_FACT_HAS_REFS;
			if ((cf & GUARD_FACT_HAS_HEAD) && ((cf & GUARD_FACT_HAS_COMMONDIR) ||
							   ((cf & GUARD_FACT_HAS_OBJECTS) && (cf & GUARD_FACT_HAS_REFS))))
				cf |= GUARD_FACT_GIT_DIR;
			if (w->n_ino == INO_CACHE)
				w->n_ino = 0;
			w->ino_cache[w->n_ino++] = (struct ino_facts){ cst.st_dev, cst.st_ino, cf };
			return cf & want;
		}
	}
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	const char *rel = path[0] == '/' && path[1] ? path + 1 : ".";
	int fd = callerfs_openat2(w->root, rel, &how);
	if (fd < 0) {
		errno = -fd;
		/* Nothing there: no git folder, nothing in it. */
		if (errno == ENOENT || errno == ENOTDIR || (errno == ELOOP && w->lexical))
			return 0;
		return refusing & want;
	}
	struct stat st;
	unsigned f = 0;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return refusing & want;
	}
	if ((want & GUARD_FACT_NEW_REPO) && new_repo_has(w, &st))
		f |= GUARD_FACT_NEW_REPO;
	if (S_ISDIR(st.st_mode) && (want & cacheable)) {
		bool head = entry_exists(fd, "HEAD", false);
		if (head)
			f |= GUARD_FACT_HAS_HEAD;
		/* Without HEAD it is no git folder, whatever else is there. */
		if (head || (want & (GUARD_FACT_HAS_OBJECTS | GUARD_FACT_HAS_REFS | GUARD_FACT_HAS_COMMONDIR))) {
			if (entry_exists(fd, "commondir", false))
				f |= GUARD_FACT_HAS_COMMONDIR;
			if (entry_exists(fd, "objects", false))
				f |= GUARD_FACT_HAS_OBJECTS;
			if (entry_exists(fd, "refs", false))
				f |= GUARD_FACT_HAS_REFS;
		}
		if (head && ((f & GUARD_FACT_HAS_COMMONDIR) ||
			     ((f & GUARD_FACT_HAS_OBJECTS) && (f & GUARD_FACT_HAS_REFS))))
			f |= GUARD_FACT_GIT_DIR;
	}
	if ((want & GUARD_FACT_HOLDS_PROTECTED) && S_ISDIR(st.st_mode)) {
		if (rule_below(w->p, path) || (w->home && path_is_inside(w->home, path)))
			f |= GUARD_FACT_HOLDS_PROTECTED;
		else if (w->p->allow_new_repositories) {
			size_t budget = HOLDS_SCAN_ENTRIES;
			if (holds_git(fd, 3, &budget))
				f |= GUARD_FACT_HOLDS_PROTECTED;
		}
	}
	close(fd);
	if (fixed && w->n_cache < CACHE_MAX && !(want & ~cacheable)) {
		char *copy = strdup(path);
		if (copy)
			w->cache[w->n_cache++] = (struct cached_facts){ copy, f & cacheable, cacheable };
	}
	return f & want;
}

/* ---- Judging ---------------------------------------------------------------- */

static enum guard_type type_of(const struct stat *st)
{
	if (S_ISREG(st->st_mode))
		return GUARD_TYPE_FILE;
	if (S_ISDIR(st->st_mode))
		return GUARD_TYPE_DIR;
	if (S_ISLNK(st->st_mode))
		return GUARD_TYPE_SYMLINK;
	return GUARD_TYPE_OTHER;
}

/* Fill x->type and x->st from the name in its folder. */
static void stat_target(struct tgt *x)
{
	const char *name = x->t.name[0] ? x->t.name : ".";
	if (fstatat(x->t.parent, name, &x->st, AT_SYMLINK_NOFOLLOW) < 0)
		x->type = GUARD_TYPE_NONE;
	else
		x->type = type_of(&x->st);
}

struct judged {
	int error;                 /* 0: allowed */
	const char *rule;          /* refused: why */
	char rule_buf[512];
	enum guard_new_repo new_repo;
	enum guard_content content; /* its content is checked (guard_content_bad_line) */
	bool exclusive_exists;     /* EEXIST: nothing was refused */
};

static bool op_names_new(enum guard_op op)
{
	return op == GUARD_OP_SYMLINK || op == GUARD_OP_RENAME_FROM || op == GUARD_OP_RENAME_TO ||
	       op == GUARD_OP_LINK_TO || op == GUARD_OP_CREATE || op == GUARD_OP_MKNOD;
}

static bool op_exclusive(enum guard_op op)
{
	return op == GUARD_OP_MKDIR || op == GUARD_OP_MKNOD || op == GUARD_OP_SYMLINK || op == GUARD_OP_LINK_TO;
}

/* Judge op on ppath/name (the name's current type given). */
static void judge(struct wguard *w, enum guard_op op, const char *ppath, const char *name, enum guard_type type,
		  struct judged *j)
{
	j->error = 0;
	j->rule = NULL;
	j->new_repo = GUARD_NEW_REPO_NONE;
	j->content = GUARD_CONTENT_NONE;
	j->exclusive_exists = false;
	const struct policy *p = w->p;
	/* The folder itself ("/", "."): ask about it by its own name. */
	char pbuf[PATH_MAX], nbuf[NAME_MAX + 1];
	if (!name[0]) {
		if (strcmp(ppath, "/") == 0)
			return; /* the root: nothing to create or remove */
		const char *slash = strrchr(ppath, '/');
		size_t pl = slash == ppath ? 1 : (size_t)(slash - ppath);
		if (pl >= sizeof(pbuf) || strlen(slash + 1) > NAME_MAX)
			return;
		memcpy(pbuf, ppath, pl);
		pbuf[pl] = '\0';
		strcpy(nbuf, slash + 1);
		ppath = pbuf;
		name = nbuf;
	}
	char full[PATH_MAX];
	if (snprintf(full, sizeof(full), "%s/%s", strcmp(ppath, "/") == 0 ? "" : ppath, name) >= (int)sizeof(full)) {
		j->error = ENAMETOOLONG;
		return;
	}
	/* The writable folder that holds the parent, even where a deny rule
	 * inside it decides (.git/hooks): the guard answers EACCES there
	 * with the rule, before the read-only mount's EROFS. */
	const struct policy_path_rule *wr = policy_write_rule(p, ppath);
	if (wr && wr->kind != POLICY_ALLOW_WRITE) {
		/* A deny decides: the writable folder around it, if any (rare:
		 * no rule at all means no writable folder either). */
		const struct policy_path_rule *deny = wr;
		wr = NULL;
		for (size_t i = 0; i < p->n_rules; i++) {
			const struct policy_path_rule *c = &p->rules[i];
			if (c->kind == POLICY_ALLOW_WRITE && c->exists && path_is_inside(deny->path, c->path) &&
			    (!wr || strlen(c->path) > strlen(wr->path)))
				wr = c;
		}
	}
	bool in_root = wr != NULL;
	bool private_tmp = !in_root && !p->tmp_is_host && path_is_inside(ppath, "/tmp");
	if (!in_root && !private_tmp)
		return; /* read-only there: the kernel refuses what needs writing */
	if (op_exclusive(op) && type != GUARD_TYPE_NONE) {
		/* What the kernel answers anyway (mkdir -p of an existing
		 * folder): not a refusal. */
		j->error = EEXIST;
		j->exclusive_exists = true;
		return;
	}
	if (in_root) {
		/* The sandbox's own rules: a denied path inside the writable
		 * folder, there or not yet. */
		if (!policy_path_writable(p, full) || !policy_path_readable(p, full)) {
			const struct policy_path_rule *r = policy_path_writable(p, full) ? policy_read_rule(p, full)
										   : policy_write_rule(p, full);
			if (r && r->source)
				snprintf(j->rule_buf, sizeof(j->rule_buf), "%.250s (%.250s)", r->text ? r->text : full,
					 r->source);
			else
				snprintf(j->rule_buf, sizeof(j->rule_buf), "%.250s", full);
			j->rule = j->rule_buf;
			j->error = EACCES;
			return;
		}
		const struct policy_path_rule *below;
		if (op_names_new(op) && type != GUARD_TYPE_DIR && op != GUARD_OP_CREATE &&
		    (below = rule_below(p, full))) {
			snprintf(j->rule_buf, sizeof(j->rule_buf),
				 "protected: %.120s is on the way to %.120s (%.150s); it cannot be replaced, moved or made a link",
				 full, below->path, below->source ? below->source : "a rule");
			j->rule = j->rule_buf;
			j->error = EACCES;
			return;
		}
		if ((op == GUARD_OP_RENAME_FROM || op == GUARD_OP_RENAME_TO) && type == GUARD_TYPE_DIR &&
		    (below = rule_below(p, full))) {
			snprintf(j->rule_buf, sizeof(j->rule_buf),
				 "protected: %.120s holds %.120s (%.150s); it cannot be moved or replaced", full, below->path,
				 below->source ? below->source : "a rule");
			j->rule = j->rule_buf;
			j->error = EACCES;
			return;
		}
	}
	struct guard_request req = {
		.op = op,
		.parent = ppath,
		.name = name,
		.type = type,
		.root = in_root ? wr->path : NULL,
		.root_private = private_tmp,
		.home = w->home,
		.allow_git_config = p->allow_git_config,
		.allow_new_repositories = p->allow_new_repositories,
		.facts = facts_of,
		.facts_data = w,
	};
	struct guard_verdict v;
	w->cur_path = ppath;
	int r = guard_decide(&req, &v);
	w->cur_path = NULL;
	if (r < 0) {
		j->error = EACCES;
		j->rule = "the write guard could not judge this call";
		return;
	}
	if (v.error) {
		j->error = v.error;
		j->rule = v.rule;
		j->exclusive_exists = v.error == EEXIST;
		return;
	}
	j->new_repo = v.new_repo;
	j->content = v.content;
}

/* judge() on a resolved target: the facts of its folder come from its
 * descriptor. */
static void judge_at(struct wguard *w, enum guard_op op, const struct tgt *x, struct judged *j)
{
	w->cur_fd = x->t.parent;
	judge(w, op, x->ppath, x->t.name, x->type, j);
	w->cur_fd = -1;
	if (j->error || !x->has_lex)
		return;
	/* Judged again as written: either refusing refuses. */
	char lp[PATH_MAX];
	strcpy(lp, x->lex);
	char *slash = strrchr(lp, '/');
	if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX)
		return;
	char name[NAME_MAX + 1];
	strcpy(name, slash + 1);
	if (slash == lp)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (strcmp(lp, x->ppath) == 0 && strcmp(name, x->t.name) == 0)
		return;
	enum guard_new_repo nr = j->new_repo;
	enum guard_content content = j->content;
	w->lexical = true;
	judge(w, op, lp, name, x->type, j);
	w->lexical = false;
	if (!j->error) {
		j->new_repo = nr; /* what is made is the resolved one */
		if (!j->content)
			j->content = content;
	}
}

static bool marker_name(const char *name)
{
	return strcasecmp(name, "HEAD") == 0 || strcasecmp(name, "objects") == 0 || strcasecmp(name, "refs") == 0 ||
	       strcasecmp(name, "commondir") == 0;
}

/* ---- Resolving ------------------------------------------------------------- */

static bool caller_still_waits(struct wguard *w)
{
	return !w->cur_b || broker_id_valid(w->cur_b, w->cur_id);
}

static int ensure_root(struct wguard *w, pid_t pid)
{
	if (w->root >= 0)
		return 0;
	int fd = callerfs_open_root(pid);
	if (fd < 0)
		return fd;
	if (!caller_still_waits(w)) {
		close(fd);
		return -ESRCH;
	}
	w->root = fd;
	return 0;
}

static int fill_ppath(struct tgt *x)
{
	ssize_t n = callerfs_fd_path(x->t.parent, x->ppath, sizeof(x->ppath) - 1);
	if (n < 0)
		return (int)n;
	x->ppath[n] = '\0';
	return 0;
}

/* Resolve (dirfd, path) of pid to a folder and a name. follow: follow a
 * link in the final component, judging each link's own name with op
 * (writing through a link named .bashrc writes .bashrc). *magic: set to
 * the caller's descriptor when the path (or a link on the way) is one of
 * the magic-link spellings; then x is not filled. */
static int resolve(struct wguard *w, pid_t pid, int dirfd, const char *path, bool follow, enum guard_op hop_op,
		   struct tgt *x, int *magic, struct judged *j)
{
	x->t.parent = -1;
	*magic = -1;
	int m = wguard_magic_fd(path);
	if (m >= 0) {
		*magic = m;
		return 0;
	}
	int base = -1;
	int r;
	const char *rest = NULL;
	x->has_lex = false;
	if (strncmp(path, "/proc/self/", 11) == 0)
		rest = path + 11;
	else if (strncmp(path, "/proc/thread-self/", 18) == 0)
		rest = path + 18;
	if (rest) {
		/* The caller's own /proc entries: "self" would name the
		 * supervisor in the caller's /proc. The same entries in ours,
		 * under the calling thread's own folder and never above it: no
		 * "." or "..", no link of any kind on the way (what they lead
		 * to is the caller's, and judged where the guard meets it). */
		char dir[PATH_MAX];
		size_t rl = strlen(rest);
		if (rl == 0 || rl >= sizeof(dir))
			return rl ? -ENAMETOOLONG : -ENOENT;
		memcpy(dir, rest, rl + 1);
		for (char *c = dir, *e; *c; c = e + (*e != '\0')) {
			e = strchr(c, '/');
			if (!e)
				e = c + strlen(c);
			size_t cl = (size_t)(e - c);
			if (cl == 0 || (cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
				return -EACCES;
		}
		char *slash = strrchr(dir, '/');
		const char *name = slash ? slash + 1 : dir;
		if (strlen(name) > NAME_MAX)
			return -ENAMETOOLONG;
		char own[48];
		snprintf(own, sizeof(own), "/proc/%d", (int)pid);
		int piddir = open(own, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (piddir < 0)
			return -errno;
		if (!caller_still_waits(w)) {
			close(piddir);
			return -ESRCH;
		}
		int folder = piddir;
		if (slash) {
			*slash = '\0';
			struct open_how how = {
				.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
			};
			folder = callerfs_openat2(piddir, dir, &how);
			int e = folder < 0 ? -folder : 0;
			if (folder < 0)
				folder = -1;
			close(piddir);
			if (folder < 0)
				return -e;
		}
		x->t.parent = folder;
		strcpy(x->t.name, name);
		x->t.trailing_slash = false;
		r = 0;
	} else {
		if (path[0] != '/') {
			base = callerfs_open_dirfd(pid, dirfd);
			if (base < 0)
				return base;
			if (!caller_still_waits(w)) {
				close(base);
				return -ESRCH;
			}
		}
		size_t pl = strlen(path);
		if (base >= 0 && !strchr(path, '/') && strcmp(path, ".") != 0 && strcmp(path, "..") != 0 &&
		    pl <= NAME_MAX) {
			/* A name in the working folder or dirfd: that folder is
			 * the parent already. */
			x->t.parent = base;
			memcpy(x->t.name, path, pl + 1);
			x->t.trailing_slash = false;
			r = 0;
		} else {
			if (path[0] == '/')
				x->has_lex = observer_normalize("/", path, x->lex, sizeof(x->lex)) > 0;
			else {
				char bp[PATH_MAX];
				ssize_t bn = callerfs_fd_path(base, bp, sizeof(bp) - 1);
				if (bn > 0) {
					bp[bn] = '\0';
					x->has_lex = observer_normalize(bp, path, x->lex, sizeof(x->lex)) > 0;
				}
			}
			r = callerfs_resolve(w->root, base, path, &x->t);
			if (base >= 0)
				close(base);
		}
	}
	if (r < 0)
		return r;
	for (int hops = 0;; hops++) {
		stat_target(x);
		if ((r = fill_ppath(x)) < 0) {
			tgt_close(x);
			return r;
		}
		if (!follow || x->type != GUARD_TYPE_SYMLINK)
			return 0;
		if (hops >= MAX_HOPS) {
			tgt_close(x);
			return -ELOOP;
		}
		judge_at(w, hop_op, x, j);
		if (j->error && !j->exclusive_exists) {
			tgt_close(x);
			return -j->error;
		}
		char text[PATH_MAX];
		ssize_t n = readlinkat(x->t.parent, x->t.name, text, sizeof(text) - 1);
		if (n <= 0) {
			r = n < 0 ? -errno : -ENOENT;
			tgt_close(x);
			return r;
		}
		text[n] = '\0';
		if ((m = wguard_magic_fd(text)) >= 0) {
			tgt_close(x);
			*magic = m;
			return 0;
		}
		struct caller_target next;
		r = callerfs_resolve(w->root, text[0] == '/' ? -1 : x->t.parent, text, &next);
		tgt_close(x);
		if (r < 0)
			return r;
		x->t = next;
	}
}

/* The caller's descriptor fdnum as our own O_PATH descriptor. */
static int open_magic(struct wguard *w, pid_t pid, int fdnum)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, fdnum);
	int fd = open(p, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!caller_still_waits(w)) {
		close(fd);
		return -ESRCH;
	}
	return fd;
}

/* Judge op on what obj (an O_PATH descriptor) is, by its current path. */
static void judge_object(struct wguard *w, int obj, enum guard_op op, struct judged *j)
{
	j->error = 0;
	j->rule = NULL;
	j->new_repo = GUARD_NEW_REPO_NONE;
	j->exclusive_exists = false;
	struct stat st;
	if (fstat(obj, &st) < 0) {
		j->error = errno;
		return;
	}
	/* Pipes, sockets, terminals, devices: no name of the host's. */
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
		return;
	/* A file with no name left (an O_TMPFILE not linked yet, a deleted
	 * one) gives nothing to anybody later. */
	if (st.st_nlink == 0)
		return;
	char path[PATH_MAX];
	ssize_t n = callerfs_fd_path(obj, path, sizeof(path) - 1);
	if (n < 0) {
		j->error = EACCES;
		j->rule = "the write guard cannot tell where this file is";
		return;
	}
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash || strlen(slash + 1) > NAME_MAX) {
		j->error = EACCES;
		j->rule = "the write guard cannot tell where this file is";
		return;
	}
	char name[NAME_MAX + 1];
	strcpy(name, slash + 1);
	if (slash == path)
		slash[1] = '\0';
	else
		*slash = '\0';
	judge(w, op, path, name, type_of(&st), j);
}

/* ---- Carrying out ------------------------------------------------------------ */

static int caller_umask(pid_t pid, mode_t *um)
{
	int r = callerfs_umask(pid, um);
	if (r < 0)
		*um = 022;
	return 0;
}

/* A FIFO opened for writing with no reader yet: wait for one on a thread
 * of its own, so that the broker serves the sandbox's other calls. */
struct fifo_wait {
	int listener;
	int folder;                /* the FIFO's folder; or, name empty, the FIFO itself (O_PATH) */
	char name[NAME_MAX + 1];
	int flags;
	uint64_t id;
	pid_t tid;                 /* the caller */
};

/* Waiting FIFO openers, at most FIFO_WAITERS at once (each holds a thread
 * and two descriptors of srt's). */
#define FIFO_WAITERS 64
static int fifo_waiters;

static void *fifo_wait_main(void *arg)
{
	struct fifo_wait *fw = arg;
	struct seccomp_notif_resp resp = { .id = fw->id };
	for (;;) {
		uint64_t id = fw->id;
		if (ioctl(fw->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0)
			break; /* the caller gave up (a signal) or is gone */
		/* Its wait ends for a fatal signal only (WAIT_KILLABLE_RECV):
		 * a signal it handles (an alarm, ^C in Python) would wait for
		 * a reader, and a default SIGTERM behind it too. Nothing is
		 * done yet: EINTR, as an open waiting for a reader gives. */
		if (callerfs_signal_pending(fw->tid) == 1) {
			resp.error = -EINTR;
			(void)ioctl(fw->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
			goto out;
		}
		/* O_NOFOLLOW: a link swapped in while waiting leads nowhere. */
		int fd;
		if (fw->name[0])
			fd = openat(fw->folder, fw->name, fw->flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
		else {
			char p[64];
			snprintf(p, sizeof(p), "/proc/self/fd/%d", fw->folder);
			fd = open(p, fw->flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		}
		if (fd >= 0) {
			if (!(fw->flags & O_NONBLOCK)) {
				int fl = fcntl(fd, F_GETFL);
				if (fl >= 0)
					fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
			}
			struct seccomp_notif_addfd a = {
				.id = fw->id,
				.flags = SECCOMP_ADDFD_FLAG_SEND,
				.srcfd = (uint32_t)fd,
				.newfd_flags = (fw->flags & O_CLOEXEC) ? O_CLOEXEC : 0,
			};
			(void)ioctl(fw->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
			close(fd);
			goto out;
		}
		if (errno != ENXIO) {
			resp.error = -errno;
			(void)ioctl(fw->listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
			goto out;
		}
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
out:
	close(fw->listener);
	close(fw->folder);
	free(fw);
	__atomic_sub_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED);
	return NULL;
}

/* folder and name as in struct fifo_wait. */
static int fifo_wait_start(struct broker *b, uint64_t id, pid_t tid, int folder, const char *name, int flags)
{
	if (__atomic_add_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED) > FIFO_WAITERS) {
		__atomic_sub_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED);
		return -EAGAIN;
	}
	struct fifo_wait *fw = calloc(1, sizeof(*fw));
	if (!fw) {
		__atomic_sub_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED);
		return -ENOMEM;
	}
	fw->listener = fcntl(broker_listener(b), F_DUPFD_CLOEXEC, 3);
	fw->folder = fcntl(folder, F_DUPFD_CLOEXEC, 3);
	if (fw->listener < 0 || fw->folder < 0) {
		int e = -errno;
		if (fw->listener >= 0)
			close(fw->listener);
		if (fw->folder >= 0)
			close(fw->folder);
		free(fw);
		__atomic_sub_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED);
		return e;
	}
	snprintf(fw->name, sizeof(fw->name), "%s", name);
	fw->flags = flags;
	fw->id = id;
	fw->tid = tid;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_t th;
	int r = pthread_create(&th, &at, fifo_wait_main, fw);
	pthread_attr_destroy(&at);
	if (r) {
		close(fw->listener);
		close(fw->folder);
		free(fw);
		__atomic_sub_fetch(&fifo_waiters, 1, __ATOMIC_RELAXED);
		return -r;
	}
	return 0;
}

/* Hand fd to the caller as its call's result. */
static void give_fd(struct broker *b, const struct broker_notif *n, int fd, int flags, struct broker_reply *reply,
		    struct wguard_result *res)
{
	int r = broker_addfd(b, n->id, fd, (flags & O_CLOEXEC) != 0);
	close(fd);
	if (r < 0) {
		reply->error = -r;
		res->error = -r;
		return;
	}
	reply->sent = true;
}

static void set_result(struct broker_reply *reply, struct wguard_result *res, int r)
{
	if (r < 0) {
		reply->error = -r;
		res->error = -r;
	} else {
		reply->value = true;
		reply->val = r;
	}
}

static void refuse(struct broker_reply *reply, struct wguard_result *res, const struct judged *j)
{
	reply->error = j->error;
	res->error = j->error;
	if (!j->exclusive_exists && j->rule) {
		snprintf(res->rule_buf, sizeof(res->rule_buf), "%s", j->rule);
		res->rule = res->rule_buf;
	}
}

/* Judge op on the object obj and name it in the report; refused: close
 * obj, answer the call and return true. */
static bool object_refused(struct wguard *w, int obj, enum guard_op op, struct judged *j, struct broker_reply *reply,
			   struct wguard_result *res)
{
	(void)callerfs_fd_path(obj, res->path, sizeof(res->path) - 1);
	judge_object(w, obj, op, j);
	if (!j->error)
		return false;
	close(obj);
	refuse(reply, res, j);
	return true;
}

static void path_of(const struct tgt *x, struct wguard_result *res)
{
	int k;
	if (!x->t.name[0])
		k = snprintf(res->path, sizeof(res->path), "%s", x->ppath);
	else
		k = snprintf(res->path, sizeof(res->path), "%s/%s", strcmp(x->ppath, "/") == 0 ? "" : x->ppath,
			     x->t.name);
	if (k < 0 || (size_t)k >= sizeof(res->path))
		res->path[0] = '\0';
}

static void record_new_repo(struct wguard *w, const struct tgt *x, enum guard_new_repo nr)
{
	struct stat st;
	if (nr == GUARD_NEW_REPO_TARGET && fstatat(x->t.parent, x->t.name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		new_repo_add(w, &st);
	else if (nr == GUARD_NEW_REPO_PARENT && fstat(x->t.parent, &st) == 0)
		new_repo_add(w, &st);
}

/* The content of name in dfd (no link followed), up to CONTENT_MAX
 * bytes: a malloc'd, NUL-terminated buffer, or NULL (*len 0) when it is
 * not there or not a regular file. *whole: false when it was longer. */
static char *read_content(int dfd, const char *name, size_t *len, bool *whole)
{
	*len = 0;
	*whole = true;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	size_t cap = st.st_size < (off_t)CONTENT_MAX ? (size_t)st.st_size + 4096 : CONTENT_MAX;
	char *buf = malloc(cap + 1);
	size_t got = 0;
	while (buf && got < cap) {
		ssize_t k = read(fd, buf + got, cap - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (buf && got == cap) {
		char c;
		*whole = read(fd, &c, 1) == 0;
	}
	close(fd);
	if (buf)
		buf[got] = '\0';
	*len = got;
	return buf;
}

/* Remember the checked file x names, with what it holds now (before this
 * run first changes it), and a descriptor of its folder to look at it
 * again at the end (never its path: the sandbox could have put a link on
 * the way by then). */
static const struct todo_rec *todo_note(struct wguard *w, const struct tgt *x, enum guard_content kind)
{
	struct stat fst;
	if (fstat(x->t.parent, &fst) < 0)
		return NULL;
	for (size_t i = 0; i < w->n_todos; i++) {
		struct stat o;
		if (strcmp(w->todos[i].name, x->t.name) == 0 && fstat(w->todos[i].folder, &o) == 0 &&
		    o.st_dev == fst.st_dev && o.st_ino == fst.st_ino)
			return &w->todos[i];
	}
	if (w->n_todos == TODOS_MAX)
		return NULL;
	if (w->n_todos == 0 && !(w->todos = calloc(TODOS_MAX, sizeof(*w->todos))))
		return NULL;
	struct todo_rec *t = &w->todos[w->n_todos];
	char full[PATH_MAX];
	snprintf(full, sizeof(full), "%.2000s/%.255s", strcmp(x->ppath, "/") == 0 ? "" : x->ppath, x->t.name);
	t->path = strdup(full);
	t->name = strdup(x->t.name);
	t->folder = fcntl(x->t.parent, F_DUPFD_CLOEXEC, 3);
	if (!t->path || !t->name || t->folder < 0) {
		free(t->path);
		free(t->name);
		if (t->folder >= 0)
			close(t->folder);
		memset(t, 0, sizeof(*t));
		return NULL;
	}
	t->kind = kind;
	bool whole;
	t->before = read_content(x->t.parent, x->t.name, &t->before_len, &whole);
	if (!whole) {
		/* Too long to know: nothing in it counts as the user's. */
		free(t->before);
		t->before = NULL;
		t->before_len = 0;
	}
	w->n_todos++;
	return t;
}

static const char *content_rule(enum guard_content kind)
{
	switch (kind) {
	case GUARD_CONTENT_TODO:
		return "protected: an exec line in the rebase todo (git rebase --continue would run it as a shell "
		       "command)";
	case GUARD_CONTENT_STRATEGY:
	case GUARD_CONTENT_SEQ_OPTS:
		return "protected: a merge strategy that is not git's own (git would run it as a program at "
		       "--continue)";
	case GUARD_CONTENT_PACKED_REFS:
		return "protected: a refs/replace/ entry in packed-refs (it swaps objects unseen, as info/grafts would)";
	case GUARD_CONTENT_INDEX:
		return "protected: an index entry that leads into a .git folder (git checkout would write it there)";
	default:
		return "protected: a git file whose content the write guard checks";
	}
}

/* "name/": the name must be a folder; the kernel's answer when it is not
 * (0: go on). */
static int trailing_slash_error(const struct tgt *x, enum guard_op op)
{
	if (!x->t.trailing_slash || x->type == GUARD_TYPE_DIR || op == GUARD_OP_MKDIR || op == GUARD_OP_RMDIR)
		return 0;
	if (x->type == GUARD_TYPE_NONE)
		return op == GUARD_OP_CREATE ? -EISDIR : -ENOENT;
	return -ENOTDIR;
}

/* open, openat, openat2, creat. */
static void do_open(struct wguard *w, struct broker *b, const struct broker_notif *n, const char *path, int dirfd,
		    int flags, mode_t mode, struct broker_reply *reply, struct wguard_result *res)
{
	struct judged j = { 0 };
	struct tgt x;
	int magic;
	res->op = (flags & O_CREAT) ? OBS_CREATE : OBS_WRITE;
	bool follow = !(flags & O_NOFOLLOW) && !((flags & O_CREAT) && (flags & O_EXCL));
	if ((flags & O_TMPFILE) == O_TMPFILE)
		follow = true;
	int r = resolve(w, n->pid, dirfd, path, follow, GUARD_OP_WRITE, &x, &magic, &j);
	if (r < 0) {
		if (j.rule && -r == j.error) {
			snprintf(res->path, sizeof(res->path), "%s", path);
			refuse(reply, res, &j);
			return;
		}
		set_result(reply, res, r);
		return;
	}
	if (magic >= 0) {
		int obj = open_magic(w, n->pid, magic);
		if (obj < 0) {
			set_result(reply, res, obj);
			return;
		}
		if (object_refused(w, obj, GUARD_OP_WRITE, &j, reply, res))
			return;
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", obj);
		int of = (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW | O_TMPFILE)) | O_NOCTTY | O_CLOEXEC;
		bool wants_block = !(flags & O_NONBLOCK);
		/* Never wait here (a FIFO with no reader): on a thread of its
		 * own instead. */
		if ((flags & O_ACCMODE) == O_WRONLY)
			of |= O_NONBLOCK;
		int fd = open(p, of);
		int e = errno;
		if (fd < 0 && e == ENXIO && (of & O_NONBLOCK) && wants_block) {
			int r = fifo_wait_start(b, n->id, n->pid, obj, "",
						flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW | O_TMPFILE));
			close(obj);
			if (r < 0)
				set_result(reply, res, r);
			else
				reply->sent = true;
			return;
		}
		close(obj);
		if (fd < 0) {
			set_result(reply, res, -e);
			return;
		}
		if (wants_block && (of & O_NONBLOCK) && fcntl(fd, F_SETFL, of & ~O_NONBLOCK) < 0) {
			e = errno;
			close(fd);
			set_result(reply, res, -e);
			return;
		}
		give_fd(b, n, fd, flags, reply, res);
		return;
	}
	path_of(&x, res);
	if (x.type != GUARD_TYPE_NONE)
		res->op = OBS_WRITE;
	mode_t um;
	if ((flags & O_TMPFILE) == O_TMPFILE) {
		/* A file with no name, in the folder x names: nothing to judge
		 * until a link gives it one (linkat, judged then). */
		if (x.type != GUARD_TYPE_DIR) {
			tgt_close(&x);
			set_result(reply, res, x.type == GUARD_TYPE_NONE ? -ENOENT : -ENOTDIR);
			return;
		}
		caller_umask(n->pid, &um);
		mode_t old = umask(um);
		int fd = openat(x.t.parent, x.t.name[0] ? x.t.name : ".", flags | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW, mode);
		int e = errno;
		umask(old);
		tgt_close(&x);
		if (fd < 0) {
			set_result(reply, res, -e);
			return;
		}
		give_fd(b, n, fd, flags, reply, res);
		return;
	}
	if ((r = trailing_slash_error(&x, (flags & O_CREAT) ? GUARD_OP_CREATE : GUARD_OP_WRITE)) < 0) {
		tgt_close(&x);
		set_result(reply, res, r);
		return;
	}
	enum guard_op op = (flags & O_CREAT) && x.type == GUARD_TYPE_NONE ? GUARD_OP_CREATE
		: (flags & O_TRUNC) && !(flags & O_ACCMODE) ? GUARD_OP_TRUNCATE
							 : GUARD_OP_WRITE;
	if (x.type == GUARD_TYPE_NONE && !(flags & O_CREAT)) {
		tgt_close(&x);
		set_result(reply, res, -ENOENT);
		return;
	}
	judge_at(w, op, &x, &j);
	if (j.error && !(j.exclusive_exists)) {
		tgt_close(&x);
		refuse(reply, res, &j);
		return;
	}
	if (j.content && !todo_note(w, &x, j.content)) {
		/* Its content could not be checked at the end: refuse. */
		tgt_close(&x);
		j.error = EACCES;
		j.rule = content_rule(j.content);
		refuse(reply, res, &j);
		return;
	}
	if (op == GUARD_OP_CREATE)
		caller_umask(n->pid, &um);
	else
		um = 0;
	/* O_CREAT on a file that is there opens it: no umask to apply. (Gone
	 * by now, it is not made again: ENOENT, the caller's own race.) */
	if (x.type == GUARD_TYPE_FILE && !(flags & O_EXCL))
		flags &= ~O_CREAT;
	int fd = callerfs_openat(&x.t, flags, mode, um);
	if (fd == -EAGAIN) {
		r = fifo_wait_start(b, n->id, n->pid, x.t.parent, x.t.name, flags);
		tgt_close(&x);
		if (r < 0)
			set_result(reply, res, r);
		else
			reply->sent = true;
		return;
	}
	if (fd >= 0 && j.new_repo)
		record_new_repo(w, &x, j.new_repo);
	if (fd >= 0 && x.type == GUARD_TYPE_NONE && marker_name(x.t.name))
		w->n_ino = 0;
	tgt_close(&x);
	if (fd < 0) {
		set_result(reply, res, fd);
		return;
	}
	give_fd(b, n, fd, flags, reply, res);
}

/* Is the folder name in dfd empty? One that cannot be read counts as
 * empty: then the guard's refusal stands. */
static bool dir_empty(int dfd, const char *name)
{
	DIR *dir = open_listing(dfd, name);
	if (!dir)
		return true;
	bool empty = true;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = false;
			break;
		}
	closedir(dir);
	return empty;
}

/* Judge a name call: resolve without following, judge op. Returns 0 with x
 * filled (the caller closes it), or non-zero after answering. */
static int prepare_name(struct wguard *w, const struct broker_notif *n, int dirfd, const char *path, enum guard_op op,
			struct tgt *x, struct judged *j, struct broker_reply *reply, struct wguard_result *res)
{
	int magic;
	int r = resolve(w, n->pid, dirfd, path, false, op, x, &magic, j);
	if (r == 0 && magic >= 0)
		r = -ELOOP; /* /dev/stdout as a name: not one we make */
	if (r < 0) {
		set_result(reply, res, r);
		return 1;
	}
	path_of(x, res);
	/* Calls that change nothing whatever the rules say get the kernel's
	 * answer, unreported (git removes names that may not be there, and
	 * tries rmdir up to the git folder after deleting a ref). A name
	 * that is not there is answered from what was seen: carrying the
	 * call out could meet one made since, unjudged. */
	int nothing = trailing_slash_error(x, op);
	if (nothing)
		;
	else if (x->type == GUARD_TYPE_NONE && x->t.name[0] &&
	    (op == GUARD_OP_UNLINK || op == GUARD_OP_RMDIR || op == GUARD_OP_RENAME_FROM))
		nothing = -ENOENT;
	else if (op == GUARD_OP_UNLINK && x->type == GUARD_TYPE_DIR)
		nothing = -EISDIR;
	else if (op == GUARD_OP_RMDIR && x->type != GUARD_TYPE_DIR && x->type != GUARD_TYPE_NONE)
		nothing = -ENOTDIR;
	if (nothing) {
		tgt_close(x);
		set_result(reply, res, nothing);
		return 1;
	}
	judge_at(w, op, x, j);
	if (j->error) {
		if (op == GUARD_OP_RMDIR && j->error == EACCES && !dir_empty(x->t.parent, x->t.name)) {
			tgt_close(x);
			set_result(reply, res, -ENOTEMPTY);
			return 1;
		}
		tgt_close(x);
		refuse(reply, res, j);
		return 1;
	}
	return 0;
}

/* ---- The calls ---------------------------------------------------------------- */

static const char *arg_path(pid_t pid, const uint64_t args[6], int idx, char *buf, int *err)
{
	*err = read_string(pid, args[idx], buf, PATH_MAX);
	return *err ? NULL : buf;
}

/* The path argument idx, or NULL after answering the call (EFAULT,
 * ENAMETOOLONG). */
static const char *need_path(const struct broker_notif *n, int idx, char *buf, struct broker_reply *reply,
			     struct wguard_result *res)
{
	int err;
	const char *p = arg_path(n->pid, n->args, idx, buf, &err);
	if (!p)
		set_result(reply, res, err);
	return p;
}

static int arg_dirfd(const struct observer_syscall *e, const uint64_t args[6])
{
	return e->dirfd >= 0 ? as_int(args[(int)e->dirfd]) : AT_FDCWD;
}

bool wguard_wants(const struct observer_syscall *e, const uint64_t args[6])
{
	switch (e->op) {
	case OBS_EXEC:
	case OBS_CONNECT:
	case OBS_SOCKET:
	case OBS_READ:
		return false;
	default:
		break;
	}
	if (e->decode == OBS_DEC_OPEN && e->op == OBS_WRITE && e->flags >= 0) {
		int fl = as_int(args[(int)e->flags]);
		/* O_PATH makes the kernel ignore every other flag: no file is
		 * made or written (the flags are in a register: no race). */
		if (fl & O_PATH)
			return false;
		return (fl & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0;
	}
	/* openat2's flags are in the caller's memory, where another thread
	 * can change them after a look: every openat2 is the guard's, and
	 * answered ENOSYS (the C library and programs fall back to openat,
	 * whose flags are in a register). */
	if (e->decode == OBS_DEC_OPENAT2)
		return true;
	return true;
}

static void times_now(struct timespec ts[2])
{
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_NOW;
	ts[0].tv_sec = ts[1].tv_sec = 0;
}

/* Read the times argument of utime, utimes, futimesat, utimensat. 0 or a
 * negative errno; NULL pointer: now. */
static int read_times(pid_t pid, const char *sys, uint64_t addr, struct timespec ts[2])
{
	if (!addr) {
		times_now(ts);
		return 0;
	}
	if (strcmp(sys, "utime") == 0) {
		struct utimbuf u;
		if (read_mem(pid, addr, &u, sizeof(u)) != (ssize_t)sizeof(u))
			return -EFAULT;
		ts[0] = (struct timespec){ u.actime, 0 };
		ts[1] = (struct timespec){ u.modtime, 0 };
		return 0;
	}
	if (strcmp(sys, "utimensat") == 0) {
		if (read_mem(pid, addr, ts, 2 * sizeof(*ts)) != (ssize_t)(2 * sizeof(*ts)))
			return -EFAULT;
		return 0;
	}
	struct timeval tv[2];
	if (read_mem(pid, addr, tv, sizeof(tv)) != (ssize_t)sizeof(tv))
		return -EFAULT;
	for (int i = 0; i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
			return -EINVAL;
		ts[i] = (struct timespec){ tv[i].tv_sec, tv[i].tv_usec * 1000 };
	}
	return 0;
}

/* What (dirfd, path) of the caller leads to, as our O_PATH descriptor,
 * following a final link when follow (each link's name judged with op).
 * Returns the descriptor, or a negative errno after answering the call
 * (refused: with the rule). */
static int open_target_object(struct wguard *w, const struct broker_notif *n, int dirfd, const char *path,
			      bool follow, enum guard_op op, struct judged *j, struct broker_reply *reply,
			      struct wguard_result *res)
{
	struct tgt x;
	int magic;
	int r = resolve(w, n->pid, dirfd, path, follow, op, &x, &magic, j);
	if (r < 0) {
		snprintf(res->path, sizeof(res->path), "%s", path);
		if (j->rule && -r == j->error)
			refuse(reply, res, j);
		else
			set_result(reply, res, r);
		return r;
	}
	int obj;
	if (magic >= 0)
		obj = open_magic(w, n->pid, magic);
	else if (x.type == GUARD_TYPE_NONE)
		obj = -ENOENT;
	else {
		struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC };
		obj = (int)syscall(SYS_openat2, x.t.parent, x.t.name[0] ? x.t.name : ".", &how, sizeof(how));
		if (obj < 0)
			obj = -errno;
	}
	if (magic < 0) {
		path_of(&x, res);
		tgt_close(&x);
	}
	if (obj < 0)
		set_result(reply, res, obj);
	return obj;
}

/* truncate, chmod, chown, utimes, xattr: on what the path leads to. */
static void do_attr(struct wguard *w, const struct broker_notif *n, const struct observer_syscall *e,
		    struct broker_reply *reply, struct wguard_result *res)
{
	const char *sys = e->name;
	char buf[PATH_MAX];
	int err = 0;
	int dirfd = arg_dirfd(e, n->args);
	int flags = e->flags >= 0 ? as_int(n->args[(int)e->flags]) : 0;
	bool nofollow = sys[0] == 'l' /* lchown, lsetxattr, lremovexattr */ ||
			((strcmp(sys, "fchownat") == 0 || strcmp(sys, "utimensat") == 0 ||
			  strcmp(sys, "fchmodat2") == 0) && (flags & AT_SYMLINK_NOFOLLOW));
	if (strcmp(sys, "setxattrat") == 0 || strcmp(sys, "removexattrat") == 0) {
		set_result(reply, res, -ENOSYS); /* the C library falls back to the others */
		return;
	}
	enum guard_op op = e->op == OBS_TRUNCATE ? GUARD_OP_TRUNCATE : e->op == OBS_XATTR ? GUARD_OP_XATTR
											  : GUARD_OP_SETATTR;
	/* The object, as our O_PATH descriptor. */
	int obj = -1;
	const char *path = NULL;
	bool empty = false;
	if (e->decode == OBS_DEC_PATH_NULL && (e->path < 0 || !n->args[(int)e->path]))
		empty = true; /* the descriptor itself (fchmod, utimensat(fd, NULL)) */
	else {
		path = arg_path(n->pid, n->args, e->path, buf, &err);
		if (!path) {
			set_result(reply, res, err);
			return;
		}
		if (!path[0] && (flags & AT_EMPTY_PATH) && strcmp(sys, "fchownat") == 0)
			empty = true;
		else if (!path[0] && (flags & AT_EMPTY_PATH) && strcmp(sys, "utimensat") == 0)
			empty = true;
	}
	struct judged j = { 0 };
	if (empty) {
		obj = open_magic(w, n->pid, dirfd);
		if (obj < 0) {
			set_result(reply, res, obj == -ENOENT ? -EBADF : obj);
			return;
		}
	} else if ((obj = open_target_object(w, n, dirfd, path, !nofollow, op, &j, reply, res)) < 0)
		return;
	if (object_refused(w, obj, op, &j, reply, res))
		return;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", obj);
	struct stat st;
	bool is_link = fstat(obj, &st) == 0 && S_ISLNK(st.st_mode);
	int r = 0;
	const uint64_t *a = n->args;
	int k = e->path >= 0 ? e->path : e->dirfd; /* the arguments after the path or descriptor */
	switch (e->op) {
	case OBS_TRUNCATE:
		r = truncate(p, (off_t)a[k + 1]) < 0 ? -errno : 0;
		break;
	case OBS_CHMOD:
		if (is_link)
			r = -EOPNOTSUPP;
		else
			r = chmod(p, (mode_t)a[k + 1]) < 0 ? -errno : 0;
		break;
	case OBS_CHOWN:
		r = fchownat(obj, "", (uid_t)a[k + 1], (gid_t)a[k + 2], AT_EMPTY_PATH) < 0 ? -errno : 0;
		break;
	case OBS_UTIMES: {
		struct timespec ts[2];
		r = read_times(n->pid, sys, a[k + 1], ts);
		if (r == 0)
			r = utimensat(AT_FDCWD, p, ts, is_link ? AT_SYMLINK_NOFOLLOW : 0) < 0 ? -errno : 0;
		break;
	}
	case OBS_XATTR: {
		char name[256];
		r = read_string(n->pid, a[k + 1], name, sizeof(name));
		if (r == -ENAMETOOLONG)
			r = -ERANGE;
		if (r < 0)
			break;
		if (strstr(sys, "remove")) {
			r = (is_link ? lremovexattr(p, name) : removexattr(p, name)) < 0 ? -errno : 0;
			break;
		}
		size_t size = (size_t)a[k + 3];
		if (size > 65536) {
			r = -E2BIG;
			break;
		}
		void *val = size ? malloc(size) : NULL;
		if (size && !val) {
			r = -ENOMEM;
			break;
		}
		if (size && read_mem(n->pid, a[k + 2], val, size) != (ssize_t)size)
			r = -EFAULT;
		else
			r = (is_link ? lsetxattr(p, name, val, size, as_int(a[k + 4]))
				     : setxattr(p, name, val, size, as_int(a[k + 4]))) < 0 ? -errno : 0;
		free(val);
		break;
	}
	default:
		r = -ENOSYS;
	}
	close(obj);
	set_result(reply, res, r);
}

static void handle(struct wguard *w, struct broker *b, const struct broker_notif *n,
		   const struct observer_syscall *e, struct broker_reply *reply, struct wguard_result *res)
{
	res->handled = false;
	res->error = 0;
	res->rule = NULL;
	res->path[0] = '\0';
	res->syscall = e->name;
	res->op = (enum observed_op)e->op;
	if (n->pid <= 0)
		return;
	res->handled = true;
	if (!w->rights_taken && !w->rights_failed) {
		if (callerfs_thread_take_caller_rights() < 0)
			w->rights_failed = true;
		else
			w->rights_taken = true;
	}
	if (w->rights_failed || ensure_root(w, n->pid) < 0) {
		/* Fail closed: nothing is carried out with rights the caller
		 * lacks, nothing is let through unjudged. */
		reply->error = EACCES;
		res->error = EACCES;
		res->rule = "the write guard cannot act for the sandbox";
		return;
	}
	const uint64_t *a = n->args;
	char buf[PATH_MAX], buf2[PATH_MAX];
	int err = 0;
	struct judged j = { 0 };
	struct tgt x, y;
	switch (e->op) {
	case OBS_WRITE:
	case OBS_CREATE: {
		const char *path = need_path(n, e->path, buf, reply, res);
		if (!path)
			return;
		int flags;
		mode_t mode;
		if (e->op == OBS_CREATE) { /* creat */
			flags = O_CREAT | O_WRONLY | O_TRUNC;
			mode = (mode_t)a[1];
		} else if (e->decode == OBS_DEC_OPENAT2) {
			set_result(reply, res, -ENOSYS);
			return;
		} else {
			flags = as_int(a[(int)e->flags]);
			mode = (mode_t)a[e->flags + 1];
		}
		do_open(w, b, n, path, arg_dirfd(e, a), flags, mode & 07777, reply, res);
		return;
	}
	case OBS_MKDIR:
	case OBS_MKNOD: {
		const char *path = need_path(n, e->path, buf, reply, res);
		if (!path)
			return;
		mode_t mode = (mode_t)a[e->path + 1];
		enum guard_op op = GUARD_OP_MKDIR;
		if (e->op == OBS_MKNOD)
			op = (mode & S_IFMT) == 0 || S_ISREG(mode) ? GUARD_OP_CREATE : GUARD_OP_MKNOD;
		if (prepare_name(w, n, arg_dirfd(e, a), path, op, &x, &j, reply, res))
			return;
		mode_t um;
		caller_umask(n->pid, &um);
		int r = e->op == OBS_MKDIR ? callerfs_mkdirat(&x.t, mode & 07777, um)
					   : callerfs_mknodat(&x.t, mode, (dev_t)a[e->path + 2], um);
		if (r == 0 && j.new_repo)
			record_new_repo(w, &x, j.new_repo);
		tgt_close(&x);
		set_result(reply, res, r);
		return;
	}
	case OBS_SYMLINK: {
		const char *text = arg_path(n->pid, a, 0, buf2, &err);
		const char *path = text ? arg_path(n->pid, a, e->path, buf, &err) : NULL;
		if (!path) {
			set_result(reply, res, err);
			return;
		}
		if (prepare_name(w, n, arg_dirfd(e, a), path, GUARD_OP_SYMLINK, &x, &j, reply, res))
			return;
		int r = callerfs_symlinkat(text, &x.t);
		if (r == 0 && j.new_repo)
			record_new_repo(w, &x, j.new_repo);
		tgt_close(&x);
		set_result(reply, res, r);
		return;
	}
	case OBS_UNLINK:
	case OBS_RMDIR: {
		const char *path = need_path(n, e->path, buf, reply, res);
		if (!path)
			return;
		int flags = e->flags >= 0 ? as_int(a[(int)e->flags]) : (e->op == OBS_RMDIR ? AT_REMOVEDIR : 0);
		if (flags & AT_REMOVEDIR)
			res->op = OBS_RMDIR;
		if (prepare_name(w, n, arg_dirfd(e, a), path, (flags & AT_REMOVEDIR) ? GUARD_OP_RMDIR : GUARD_OP_UNLINK,
				 &x, &j, reply, res))
			return;
		int r = callerfs_unlinkat(&x.t, flags & AT_REMOVEDIR);
		tgt_close(&x);
		set_result(reply, res, r);
		return;
	}
	case OBS_RENAME: {
		const char *from = arg_path(n->pid, a, e->path, buf, &err);
		const char *to = from ? arg_path(n->pid, a, e->path2, buf2, &err) : NULL;
		if (!to) {
			set_result(reply, res, err);
			return;
		}
		unsigned flags = strcmp(e->name, "renameat2") == 0 ? (unsigned)a[4] : 0;
		bool exchange = flags & RENAME_EXCHANGE;
		/* RENAME_WHITEOUT leaves a device node behind, which no rule
		 * judged: only the flags the rules know. */
		if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
			set_result(reply, res, -EINVAL);
			return;
		}
		if (prepare_name(w, n, arg_dirfd(e, a), from, GUARD_OP_RENAME_FROM, &x, &j, reply, res))
			return;
		int d2 = e->dirfd2 >= 0 ? as_int(a[(int)e->dirfd2]) : AT_FDCWD;
		struct wguard_result res2;
		res2 = *res;
		if (prepare_name(w, n, d2, to, GUARD_OP_RENAME_TO, &y, &j, reply, &res2)) {
			tgt_close(&x);
			*res = res2;
			return;
		}
		if (j.content) {
			/* git writes these to a .lock (or .new) and renames it
			 * into place: what comes in must pass the check. */
			enum guard_content kind = j.content;
			const struct todo_rec *t = exchange ? NULL : todo_note(w, &y, kind);
			size_t len;
			bool whole = false;
			char *in = t ? read_content(x.t.parent, x.t.name, &len, &whole) : NULL;
			bool bad = !in || !whole || guard_content_bad_line(kind, in, len, t->before, t->before_len) > 0;
			free(in);
			if (bad) {
				j.error = EACCES;
				j.rule = content_rule(kind);
				tgt_close(&x);
				tgt_close(&y);
				*res = res2;
				refuse(reply, res, &j);
				return;
			}
		}
		if (exchange) {
			judge_at(w, GUARD_OP_RENAME_TO, &x, &j);
			if (!j.error)
				judge_at(w, GUARD_OP_RENAME_FROM, &y, &j);
			if (j.error) {
				tgt_close(&x);
				tgt_close(&y);
				refuse(reply, res, &j);
				return;
			}
		}
		/* A new repository moved into place stays the one recorded:
		 * by identity, so nothing to do. */
		int r = callerfs_renameat2(&x.t, &y.t, flags);
		tgt_close(&x);
		tgt_close(&y);
		set_result(reply, res, r);
		return;
	}
	case OBS_LINK: {
		bool is_linkat = strcmp(e->name, "linkat") == 0;
		const char *from = arg_path(n->pid, a, is_linkat ? 1 : 0, buf2, &err);
		const char *to = from ? arg_path(n->pid, a, e->path, buf, &err) : NULL;
		if (!to) {
			set_result(reply, res, err);
			return;
		}
		int flags = is_linkat ? as_int(a[4]) : 0;
		int d1 = is_linkat ? as_int(a[0]) : AT_FDCWD;
		int obj;
		if (!from[0] && (flags & AT_EMPTY_PATH)) {
			set_result(reply, res, -ENOENT); /* needs CAP_DAC_READ_SEARCH, which it lacks */
			return;
		}
		if ((obj = open_target_object(w, n, d1, from, (flags & AT_SYMLINK_FOLLOW) != 0, GUARD_OP_LINK_FROM, &j,
					      reply, res)) < 0)
			return;
		if (object_refused(w, obj, GUARD_OP_LINK_FROM, &j, reply, res))
			return;
		if (prepare_name(w, n, arg_dirfd(e, a), to, GUARD_OP_LINK_TO, &x, &j, reply, res)) {
			close(obj);
			return;
		}
		int r = callerfs_linkat(obj, &x.t);
		if (r == 0 && j.new_repo)
			record_new_repo(w, &x, j.new_repo);
		close(obj);
		tgt_close(&x);
		set_result(reply, res, r);
		return;
	}
	case OBS_TRUNCATE:
	case OBS_CHMOD:
	case OBS_CHOWN:
	case OBS_UTIMES:
	case OBS_XATTR:
		do_attr(w, n, e, reply, res);
		return;
	default:
		res->handled = false;
		return;
	}
}

void wguard_handle(struct wguard *w, struct broker *b, const struct broker_notif *n,
		   const struct observer_syscall *e, struct broker_reply *reply, struct wguard_result *res)
{
	w->cur_b = b;
	w->cur_id = n->id;
	handle(w, b, n, e, reply, res);
	w->cur_b = NULL;
	/* Names came or went: the git facts known by identity may have
	 * changed (after the call, so that nothing learnt before it stays). */
	switch (e->op) {
	case OBS_MKDIR:
	case OBS_RMDIR:
	case OBS_UNLINK:
	case OBS_RENAME:
	case OBS_LINK:
	case OBS_SYMLINK:
	case OBS_MKNOD:
		w->n_ino = 0;
		break;
	default:
		break;
	}
}

/* The refused lines of a file, as byte ranges. */
struct ranges {
	size_t *v; /* start, end pairs */
	size_t n, cap;
	bool failed;
};

static void add_range(void *data, size_t line, size_t start, size_t end)
{
	(void)line;
	struct ranges *r = data;
	if (r->failed)
		return;
	if (r->n + 2 > r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		size_t *v = realloc(r->v, cap * sizeof(*v));
		if (!v) {
			r->failed = true;
			return;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = start;
	r->v[r->n++] = end;
}

/* Neutralize, in one pass, everything the run added that the check
 * refuses: a line of a todo or of sequencer/opts becomes a comment; a
 * packed-refs line goes; a strategy file is emptied (neither has
 * comments). Returns the new content (malloc'd), or NULL with *count 0
 * when nothing had to change; NULL with *count > 0 when memory ran out
 * (the caller then empties the file: the safe side). */
static char *neutralize(const char *cur, size_t len, const struct todo_rec *t, size_t *ret_len, size_t *count)
{
	struct ranges r = { 0 };
	*count = guard_content_bad_lines(t->kind, cur, len, t->before, t->before_len, add_range, &r);
	if (*count == 0 || r.failed) {
		free(r.v);
		return NULL;
	}
	static const char mark[] = "# srt: refused: ";
	size_t ml = sizeof(mark) - 1;
	bool comment = t->kind == GUARD_CONTENT_TODO || t->kind == GUARD_CONTENT_SEQ_OPTS;
	char *buf = malloc(len + (comment ? (r.n / 2) * ml : 0) + 1);
	if (!buf) {
		free(r.v);
		return NULL;
	}
	size_t o = 0, at = 0;
	for (size_t k = 0; k < r.n; k += 2) {
		size_t start = r.v[k], end = r.v[k + 1];
		memcpy(buf + o, cur + at, start - at);
		o += start - at;
		if (comment) {
			memcpy(buf + o, mark, ml);
			o += ml;
			at = start;
		} else {
			/* The line goes, with its newline. */
			at = end < len ? end + 1 : len;
		}
	}
	if (t->kind == GUARD_CONTENT_STRATEGY)
		at = len; /* the whole value */
	memcpy(buf + o, cur + at, len - at);
	o += len - at;
	buf[o] = '\0';
	free(r.v);
	*ret_len = o;
	return buf;
}

void wguard_finish(struct wguard *w, void (*report)(void *data, const char *path, const char *rule), void *data)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_todos; i++) {
		const struct todo_rec *t = &w->todos[i];
		/* The sandbox is gone: the file is looked at through the
		 * folder held since its first write, wherever that folder is
		 * now, and its name with no link followed. */
		size_t len, nlen = 0, count = 0;
		bool whole;
		char *cur = read_content(t->folder, t->name, &len, &whole);
		if (t->kind == GUARD_CONTENT_INDEX) {
			/* Binary, with a checksum: set aside whole, so that the
			 * host's git checks nothing out of it (git reset makes
			 * a new one from HEAD). */
			if (cur && (!whole || guard_index_bad_entry(cur, len, t->before, t->before_len))) {
				char aside[NAME_MAX + 1];
				snprintf(aside, sizeof(aside), "%.200s.srt-refused", t->name);
				if (renameat(t->folder, t->name, t->folder, aside) == 0 && report)
					report(data, t->path,
					       "protected: an index entry the command wrote leads into a .git folder "
					       "(git checkout would write it there); srt set the index aside as "
					       "index.srt-refused: git reset makes a new one");
			}
			free(cur);
			continue;
		}
		char *fixed = cur && whole ? neutralize(cur, len, t, &nlen, &count) : NULL;
		if (!fixed && count > 0) {
			/* Out of memory with refused lines in it: empty it. */
			fixed = strdup("");
			nlen = 0;
		}
		if (fixed) {
			/* The same file, rewritten in place (its descriptor
			 * reaches the host's folder even with the sandbox's
			 * mounts gone). */
			int fd = openat(t->folder, t->name, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			size_t done = 0;
			while (fd >= 0 && done < nlen) {
				ssize_t k = write(fd, fixed + done, nlen - done);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					break;
				done += (size_t)k;
			}
			if (fd >= 0)
				close(fd);
			if (report)
				report(data, t->path,
				       t->kind == GUARD_CONTENT_TODO
					       ? "protected: an exec line the command added to the rebase todo (git rebase "
						 "--continue would run it); srt turned it into a comment"
					       : t->kind == GUARD_CONTENT_SEQ_OPTS
					       ? "protected: a merge strategy the command put in sequencer/opts (git would "
						 "run it at --continue); srt turned it into a comment"
					       : t->kind == GUARD_CONTENT_STRATEGY
					       ? "protected: a merge strategy the command wrote (git would run it at "
						 "--continue); srt removed it"
					       : "protected: a refs/replace/ entry the command put in packed-refs; srt "
						 "removed it");
		} else if (cur && !whole && report)
			report(data, t->path, "protected: a git file whose content the write guard checks grew past 64 MiB; "
					      "srt could not check it");
		free(fixed);
		free(cur);
	}
}
