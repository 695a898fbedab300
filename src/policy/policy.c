/* config -> policy: normalize paths, expand globs, validate domains, find protected paths in writable roots. */
#include "policy/policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "policy/glob.h"
#include "policy/guard.h"
#include "policy/mandatory.h"
#include "policy/path.h"

/* An allowWrite entry as the sandbox will get it: a place where an
 * earlier sandbox could have made or changed links. */
struct write_root {
	char *path;    /* resolved, as the rule's path */
	char *text;    /* the entry as written */
	char *source;  /* "FILE:LINE:COL: filesystem.allowWrite[0]" */
};

struct builder {
	struct policy *p;
	size_t cap;
	const struct policy_env *env;
	struct srt_error *err;
	struct write_root *roots;
	size_t n_roots;
};

static const char *kind_key(enum policy_path_kind k)
{
	switch (k) {
	case POLICY_DENY_READ: return "denyRead";
	case POLICY_ALLOW_READ: return "allowRead";
	case POLICY_ALLOW_WRITE: return "allowWrite";
	case POLICY_DENY_WRITE: return "denyWrite";
	}
	return "?";
}

char *policy_pos_text(const struct config_pos *pos)
{
	if (pos->file && pos->line > 0 && strcmp(pos->file, CONFIG_NAME_BUILT) != 0)
		return str_printf("%s:%d:%d: %s", pos->file, pos->line, pos->column, pos->key ? pos->key : "");
	if (pos->file)
		return str_printf("%s: %s", pos->file, pos->key ? pos->key : "");
	return str_printf("%s", pos->key ? pos->key : "<built-in>");
}

/* Resolve symlinks in the existing part of path; the missing tail is kept
 * as written. When follow_last is false the last component is not
 * resolved (so a protected name that is itself a link stays visible). */
static char *resolve_existing(const char *path, bool follow_last)
{
	char buf[PATH_MAX];
	if (follow_last && realpath(path, buf))
		return strdup(buf);
	size_t len = strlen(path);
	if (len >= PATH_MAX)
		return strdup(path);
	char tmp[PATH_MAX];
	memcpy(tmp, path, len + 1);
	char *slash = tmp + len;
	while ((slash = memrchr(tmp, '/', (size_t)(slash - tmp))) != NULL) {
		if (slash == tmp)
			break;
		*slash = '\0';
		if (realpath(tmp, buf))
			return str_printf("%s%s", strcmp(buf, "/") == 0 ? "" : buf, path + (slash - tmp));
	}
	return strdup(path);
}

/* As many links as the kernel follows for one path (MAXSYMLINKS). */
#define LINKS_MAX 40

/* Called for every symbolic link met: link is its path (the folders above
 * it resolved), target its text. Non-zero stops the walk. */
typedef int (*link_met_cb)(const char *link, const char *target, void *userdata);

/* Resolve an absolute path as the kernel does when creating it: every
 * symbolic link met is followed, the last component's and dangling ones
 * too; the missing tail is kept ("." and ".." folded). Unlike realpath it
 * names each link on the way, which is what the checks below need, and it
 * says where a dangling link would lead. *ret (unless NULL) gets the path
 * reached, malloc'd. Returns 0, -ELOOP (more than LINKS_MAX links),
 * -ENAMETOOLONG, -ENOMEM, or what cb returned. */
static int walk_links(const char *path, link_met_cb cb, void *userdata, char **ret)
{
	char cur[PATH_MAX]; /* resolved so far, no link in it; "" is "/" */
	size_t clen = 0;
	cur[0] = '\0';
	char *rest = strdup(path);
	if (!rest)
		return -ENOMEM;
	const char *p = rest;
	bool missing = false;
	int links = 0, r = 0;
	for (;;) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - start);
		if (n == 1 && start[0] == '.')
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			/* cur holds no link: its parent is the real one */
			while (clen > 0 && cur[clen - 1] != '/')
				clen--;
			if (clen > 0)
				clen--;
			cur[clen] = '\0';
			continue;
		}
		if (clen + 1 + n >= sizeof(cur)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		cur[clen] = '/';
		memcpy(cur + clen + 1, start, n);
		size_t nlen = clen + 1 + n;
		cur[nlen] = '\0';
		struct stat st;
		/* Below a missing folder nothing exists; a path that cannot be
		 * examined cannot be created through either. */
		if (!missing && lstat(cur, &st) < 0)
			missing = true;
		if (missing || !S_ISLNK(st.st_mode)) {
			clen = nlen;
			continue;
		}
		if (++links > LINKS_MAX) {
			r = -ELOOP;
			goto out;
		}
		char target[PATH_MAX];
		ssize_t t = readlink(cur, target, sizeof(target) - 1);
		if (t <= 0) { /* gone meanwhile, or empty: nothing to follow */
			missing = true;
			clen = nlen;
			continue;
		}
		target[t] = '\0';
		if (cb && (r = cb(cur, target, userdata)) != 0)
			goto out;
		cur[clen] = '\0';
		if (target[0] == '/') {
			clen = 0;
			cur[0] = '\0';
		}
		char *next = str_printf("%s/%s", target, p);
		if (!next) {
			r = -ENOMEM;
			goto out;
		}
		free(rest);
		rest = next;
		p = rest;
		if (strlen(rest) >= 2 * PATH_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
	}
	if (ret && !(*ret = strdup(clen ? cur : "/")))
		r = -ENOMEM;
out:
	free(rest);
	return r;
}

static void parent_into(const char *path, char *buf);

/* The writable root that holds the folder of path (so that a sandbox
 * could make or replace path there), or NULL. */
static const struct write_root *root_holding(const struct builder *b, const char *path)
{
	char parent[PATH_MAX];
	parent_into(path, parent);
	for (size_t i = 0; i < b->n_roots; i++)
		if (path_is_inside(parent, b->roots[i].path))
			return &b->roots[i];
	return NULL;
}

/* The first link met in a writable folder, for the messages. */
struct link_check {
	const struct builder *b;
	const struct write_root *root;
	char *link;
	char *target;
};

static int link_in_writable(const char *link, const char *target, void *userdata)
{
	struct link_check *c = userdata;
	const struct write_root *w = root_holding(c->b, link);
	if (!w)
		return 0;
	c->root = w;
	c->link = strdup(link);
	c->target = strdup(target);
	return c->link && c->target ? 1 : -ENOMEM;
}

static void link_check_clear(struct link_check *c)
{
	free(c->link);
	free(c->target);
	c->link = c->target = NULL;
}

/* A settings path entry (normalized, before links are resolved) must not
 * lead through a link that a sandbox could have made or changed: with
 * allowWrite [".", "./dist"], a command that makes dist -> /etc would have
 * the next run make /etc writable; a link that moves a deny entry drops a
 * protection just as silently, so deny entries are refused too (a mount
 * cannot cover the link itself, so there is no safe way to keep both). */
static int check_entry_links_as(struct builder *b, const char *path, const char *key, const char *source,
				const char *text);

static int check_entry_links(struct builder *b, const char *path, enum policy_path_kind kind,
			     const char *source, const char *text)
{
	return check_entry_links_as(b, path, kind_key(kind), source, text);
}

static int check_entry_links_as(struct builder *b, const char *path, const char *key, const char *source,
				const char *text)
{
	if (b->n_roots == 0)
		return 0;
	struct link_check c = { .b = b };
	int r = walk_links(path, link_in_writable, &c, NULL);
	if (r == -ENOMEM) {
		link_check_clear(&c);
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	}
	if (r != 1)
		return 0; /* no such link (a loop outside the writable folders is no sandbox's doing) */
	_cleanup_free_ char *reached = NULL;
	if (walk_links(path, NULL, NULL, &reached) == -ENOMEM) {
		link_check_clear(&c);
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	}
	char parent[PATH_MAX];
	parent_into(c.link, parent);
	r = srt_error_set(b->err, -ELOOP,
			  "%s: %s '%s' leads through the symbolic link %s (-> %s), which lies in the writable "
			  "folder %s (allowWrite '%s', %s): a sandboxed command could have made or changed "
			  "that link to point this entry elsewhere. Remove the link, or write the path it "
			  "leads to%s%s%s in the settings instead",
			  source, key, text ? text : path, c.link, c.target, parent, c.root->text,
			  c.root->source, reached ? " (" : "", reached ? reached : "", reached ? ")" : "");
	link_check_clear(&c);
	return r;
}

/* A settings file reached through a link that a sandbox can repoint would
 * let the sandbox choose the settings of the next run. The file itself is
 * kept read-only (policy_build); a mount cannot cover a link, so such a
 * link is refused. */
static int check_settings_file_links(struct builder *b, const char *name)
{
	if (name[0] != '/')
		return srt_error_set(b->err, -EINVAL, "settings file %s: cannot check the links on its way: "
				     "not an absolute path", name);
	if (b->n_roots == 0)
		return 0;
	struct link_check c = { .b = b };
	int r = walk_links(name, link_in_writable, &c, NULL);
	if (r == 0)
		return 0;
	if (r == 1) {
		char parent[PATH_MAX];
		parent_into(c.link, parent);
		r = srt_error_set(b->err, -ELOOP,
				  "settings file %s is reached through the symbolic link %s (-> %s), which lies in "
				  "the writable folder %s (allowWrite '%s', %s): a sandboxed command could repoint "
				  "it and choose the settings of the next run. Replace the link with the file it "
				  "leads to, or keep the settings outside the folders the sandbox may write",
				  name, c.link, c.target, parent, c.root->text, c.root->source);
		link_check_clear(&c);
		return r;
	}
	link_check_clear(&c);
	if (r == -ENOMEM)
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	/* It was read a moment ago: its path changed since. */
	return srt_error_set(b->err, r, "settings file %s: cannot check the links on its way: %s", name,
			     strerror(-r));
}

static int add_rule_as(struct builder *b, const char *path, enum policy_path_kind kind,
		       bool mandatory, bool canonical, const char *source, const char *pattern,
		       const char *text)
{
	struct policy *p = b->p;
	if (p->n_rules == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		void *v = realloc(p->rules, cap * sizeof(*p->rules));
		if (!v)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		p->rules = v;
		b->cap = cap;
	}
	struct policy_path_rule *r = &p->rules[p->n_rules];
	memset(r, 0, sizeof(*r));
	/* A protected name that is a link must be judged as the link itself.
	 * Paths the scan found are canonical already (it walks a resolved
	 * root without following links): resolving thousands of them again
	 * would dominate the start-up time in big trees. */
	r->path = canonical ? strdup(path) : resolve_existing(path, !mandatory && kind != POLICY_DENY_WRITE);
	r->kind = kind;
	r->mandatory = mandatory;
	r->source = strdup(source);
	r->pattern = pattern ? strdup(pattern) : NULL;
	r->text = text ? strdup(text) : NULL;
	if (!r->path || !r->source || (pattern && !r->pattern) || (text && !r->text)) {
		free(r->path);
		free(r->source);
		free(r->pattern);
		free(r->text);
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	}
	/* A sandbox cannot hide the whole file system: the command itself
	 * must stay readable. Refused rather than ignored, so that no other
	 * denyRead entry is taken as covered by it. */
	if (kind == POLICY_DENY_READ && strcmp(r->path, "/") == 0) {
		const char *as = text ? text : path;
		int e = srt_error_set(b->err, -EINVAL,
				      "%s: denyRead '%s'%s would hide the whole file system, including the command; "
				      "list the folders to hide, and allowRead what the command needs",
				      source, as, strcmp(as, "/") == 0 ? "" : " (that is /)");
		free(r->path);
		free(r->source);
		free(r->pattern);
		free(r->text);
		return e;
	}
	struct stat st;
	if (lstat(r->path, &st) == 0) {
		r->exists = true;
		r->is_symlink = S_ISLNK(st.st_mode);
		if (r->is_symlink) {
			struct stat tst;
			r->is_dir = stat(r->path, &tst) == 0 && S_ISDIR(tst.st_mode);
		} else {
			r->is_dir = S_ISDIR(st.st_mode);
		}
	}
	p->n_rules++;
	return 0;
}

static int add_rule(struct builder *b, const char *path, enum policy_path_kind kind,
		    bool mandatory, const char *source, const char *pattern, const char *text)
{
	return add_rule_as(b, path, kind, mandatory, false, source, pattern, text);
}

/* A settings entry: added, then checked for links a sandbox could have
 * planted on its way (after adding, so that a refusal add_rule makes, such
 * as denyRead "/", is the one reported). */
static int add_rule_checked(struct builder *b, const char *path, enum policy_path_kind kind,
			    const char *source, const char *pattern, const char *text)
{
	int r = add_rule(b, path, kind, false, source, pattern, text);
	if (r < 0)
		return r;
	if ((r = check_entry_links(b, path, kind, source, text)) < 0) {
		struct policy_path_rule *last = &b->p->rules[--b->p->n_rules];
		free(last->path);
		free(last->source);
		free(last->pattern);
		free(last->text);
	}
	return r;
}

struct glob_ctx {
	struct builder *b;
	enum policy_path_kind kind;
	const char *source;
	const char *pattern;
	size_t matches;
};

static int glob_cb(const char *path, bool is_dir, void *userdata)
{
	(void)is_dir;
	struct glob_ctx *g = userdata;
	g->matches++;
	int r = add_rule_checked(g->b, path, g->kind, g->source, g->pattern, g->pattern);
	return r < 0 ? r : 0;
}

static int add_list(struct builder *b, const struct config_list *list, enum policy_path_kind kind);

/* credentials.files with mode "deny": read-denied as denyRead entries are
 * (globs, folders, links alike). */
static int add_credential_denies(struct builder *b, const struct config *cfg)
{
	size_t n = 0;
	for (size_t i = 0; i < cfg->credentials.n; i++)
		n += cfg->credentials.items[i].is_file && cfg->credentials.items[i].mode == CONFIG_CRED_DENY;
	if (n == 0)
		return 0;
	struct config_entry *items = calloc(n, sizeof(*items));
	if (!items)
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		const struct config_credential *e = &cfg->credentials.items[i];
		if (e->is_file && e->mode == CONFIG_CRED_DENY)
			items[k++] = (struct config_entry){ .value = e->name, .origin = e->origin, .pos = e->pos };
	}
	const struct config_list list = { .items = items, .n = n };
	int r = add_list(b, &list, POLICY_DENY_READ);
	free(items);
	return r;
}

/* credentials.files with mode "mask": write-denied as denyWrite entries
 * are, the name and what a link leads to. The cover is a mount on the
 * file's name; in a writable folder, renaming, linking or removing that
 * name (the write guard's to refuse) would leave the real file uncovered
 * at another name, or for the next run, which would find nothing to mask;
 * and a masked file that is missing could be created as a link for the
 * next run to follow. */
static int add_credential_masks(struct builder *b, const struct config *cfg)
{
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		const struct config_credential *e = &cfg->credentials.items[i];
		if (!e->is_file || e->mode != CONFIG_CRED_MASK)
			continue;
		struct config_entry items[2] = { { .value = e->name, .origin = e->origin, .pos = e->pos, .literal = true } };
		size_t n = 1;
		const char *why = NULL;
		_cleanup_free_ char *norm = path_normalize(e->name, b->env->home, b->env->cwd, &why);
		_cleanup_free_ char *real = norm ? realpath(norm, NULL) : NULL;
		if (real && strcmp(real, norm) != 0)
			items[n++] = (struct config_entry){ .value = real, .origin = e->origin, .pos = e->pos, .literal = true };
		const struct config_list list = { .items = items, .n = n };
		int r = add_list(b, &list, POLICY_DENY_WRITE);
		if (r < 0)
			return r;
	}
	return 0;
}

static int add_list(struct builder *b, const struct config_list *list, enum policy_path_kind kind)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct config_entry *e = &list->items[i];
		_cleanup_free_ char *source = policy_pos_text(&e->pos);
		if (!source)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		const char *why = NULL;
		_cleanup_free_ char *norm = path_normalize(e->value, b->env->home, b->env->cwd, &why);
		if (!norm) {
			if (!why)
				return srt_error_set(b->err, -ENOMEM, "out of memory");
			return srt_error_set(b->err, -EINVAL, "%s: invalid path '%s': %s", source, e->value, why);
		}
		if (!e->literal && glob_has_magic(norm)) {
			if (kind == POLICY_ALLOW_WRITE)
				return srt_error_set(b->err, -EINVAL,
						     "%s: '%s': glob patterns are not supported in allowWrite "
						     "(name the folder to make writable)", source, e->value);
			struct glob_ctx g = { .b = b, .kind = kind, .source = source, .pattern = e->value };
			int r = glob_expand(norm, NULL, glob_cb, &g);
			if (r == -E2BIG)
				return srt_error_set(b->err, -E2BIG,
						     "%s: '%s' matches too many paths (limit reached while expanding it)",
						     source, e->value);
			if (r < 0)
				return b->err && b->err->code ? b->err->code :
					srt_error_set(b->err, r, "%s: cannot expand '%s': %s", source, e->value, strerror(-r));
			if (g.matches == 0)
				strv_pushf(&b->p->unmatched_globs, "%s: %s '%s' matches nothing now",
					   source, kind_key(kind), e->value);
			continue;
		}
		int r = add_rule_checked(b, norm, kind, source, NULL, e->value);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The allowWrite entries resolved as add_list will resolve them, before
 * any list is added: every entry is checked against all of them. Entries
 * add_list will refuse are left out here. */
static int collect_write_roots(struct builder *b, const struct config_list *list)
{
	if (list->n == 0)
		return 0;
	b->roots = calloc(list->n, sizeof(*b->roots));
	if (!b->roots)
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < list->n; i++) {
		const struct config_entry *e = &list->items[i];
		const char *why = NULL;
		_cleanup_free_ char *norm = path_normalize(e->value, b->env->home, b->env->cwd, &why);
		if (!norm) {
			if (!why)
				return srt_error_set(b->err, -ENOMEM, "out of memory");
			continue;
		}
		if (!e->literal && glob_has_magic(norm))
			continue;
		struct write_root *w = &b->roots[b->n_roots];
		w->path = resolve_existing(norm, true);
		w->text = strdup(e->value);
		w->source = policy_pos_text(&e->pos);
		b->n_roots++;
		if (!w->path || !w->text || !w->source)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
	}
	return 0;
}

static void builder_clear(struct builder *b)
{
	for (size_t i = 0; i < b->n_roots; i++) {
		free(b->roots[i].path);
		free(b->roots[i].text);
		free(b->roots[i].source);
	}
	free(b->roots);
	b->roots = NULL;
	b->n_roots = 0;
}

/* One allowUnixSockets entry into u (zeroed; what it holds is freed with
 * the rest, also on error). */
static int unix_rule_init(struct policy_unix_rule *u, const struct config_entry *e, const char *source,
			  const char *home, const char *cwd, struct builder *b, struct srt_error *err)
{
	const char *why = NULL;
	char *norm = path_normalize(e->value, home, cwd, &why);
	if (!norm) {
		if (!why)
			return srt_error_set(err, -ENOMEM, "out of memory");
		return srt_error_set(err, -EINVAL, "%s: invalid path '%s': %s", source, e->value, why);
	}
	/* path_normalize reads DIR followed by slash-star-star as DIR (a folder rule's
	 * convention); here it means every socket below DIR. */
	size_t vl = strlen(e->value);
	if (!e->literal && vl >= 3 && strcmp(e->value + vl - 3, "/**") == 0 &&
	    !str_has_suffix(norm, "/**")) {
		char *sub = str_printf("%s%s", norm, strcmp(norm, "/") == 0 ? "**" : "/**");
		free(norm);
		if (!(norm = sub))
			return srt_error_set(err, -ENOMEM, "out of memory");
	}
	u->pattern = norm;
	if (!(u->text = strdup(e->value)) || !(u->source = strdup(source)))
		return srt_error_set(err, -ENOMEM, "out of memory");
	/* An entry without magic characters is compared as written (a
	 * backslash is no escape then). */
	bool glob = !e->literal && glob_has_magic(norm);
	u->literal = !glob;
	/* The sandbox sees the host's links: /var/run/docker.sock is
	 * reached as /run/docker.sock. The folders before a glob's
	 * first magic component are resolved; the rest is kept. */
	size_t fixed = strlen(norm);
	if (glob) {
		const char *m = norm;
		while (*m && !strchr("*?[\\", *m))
			m++;
		while (m > norm && m[-1] != '/')
			m--;
		fixed = (size_t)(m - norm);
		while (fixed > 1 && norm[fixed - 1] == '/')
			fixed--;
	}
	_cleanup_free_ char *head = strndup(norm, fixed);
	if (!head)
		return srt_error_set(err, -ENOMEM, "out of memory");
	/* Links a sandbox could have planted (in a writable folder) would
	 * point the entry at another socket next time: refused, as for
	 * path entries. Without the settings' writable folders to check
	 * against (the library's per-sandbox list), no link is followed. */
	if (!b)
		return 0;
	int lr = check_entry_links_as(b, head, "network.allowUnixSockets", source, e->value);
	if (lr < 0)
		return lr;
	_cleanup_free_ char *res = policy_resolve_path(head, true);
	if (!res)
		return srt_error_set(err, -ENOMEM, "out of memory");
	if (strcmp(res, head) != 0) {
		const char *tail = norm + fixed;
		u->resolved = str_printf("%s%s%s", res, (*tail && *tail != '/' && strcmp(res, "/") != 0) ? "/" : "",
					 strcmp(res, "/") == 0 && *tail == '/' ? tail + 1 : tail);
		if (!u->resolved)
			return srt_error_set(err, -ENOMEM, "out of memory");
	}
	return 0;
}

static void unix_rule_clear(struct policy_unix_rule *u)
{
	free(u->pattern);
	free(u->resolved);
	free(u->text);
	free(u->source);
}

static int add_unix_sockets(struct builder *b, const struct config_list *list)
{
	if (list->n == 0)
		return 0;
	b->p->unix_sockets = calloc(list->n, sizeof(*b->p->unix_sockets));
	if (!b->p->unix_sockets)
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < list->n; i++) {
		const struct config_entry *e = &list->items[i];
		_cleanup_free_ char *source = policy_pos_text(&e->pos);
		if (!source)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		struct policy_unix_rule *u = &b->p->unix_sockets[b->p->n_unix_sockets++];
		int r = unix_rule_init(u, e, source, b->env->home, b->env->cwd, b, b->err);
		if (r < 0)
			return r;
	}
	return 0;
}

int policy_unix_rules_build(const char *const *entries, const char *origin, const char *home, const char *cwd,
			    struct policy_unix_rules *ret, struct srt_error *err)
{
	memset(ret, 0, sizeof(*ret));
	size_t n = 0;
	while (entries && entries[n])
		n++;
	if (n == 0)
		return 0;
	if (!(ret->v = calloc(n, sizeof(*ret->v))))
		return srt_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *source = str_printf("%s: allowUnixSockets[%zu]", origin, i);
		if (!source) {
			policy_unix_rules_clear(ret);
			return srt_error_set(err, -ENOMEM, "out of memory");
		}
		const struct config_entry e = { .value = (char *)entries[i] };
		int r = unix_rule_init(&ret->v[ret->n++], &e, source, home, cwd, NULL, err);
		if (r < 0) {
			policy_unix_rules_clear(ret);
			return r;
		}
	}
	return 0;
}

void policy_unix_rules_clear(struct policy_unix_rules *r)
{
	for (size_t i = 0; i < r->n; i++)
		unix_rule_clear(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static bool unix_rule_matches(const struct policy_unix_rule *u, const char *pattern, const char *path)
{
	return u->literal ? strcmp(pattern, path) == 0 : glob_match(pattern, path);
}

const struct policy_unix_rule *policy_unix_rules_match(const struct policy_unix_rules *r, const char *path)
{
	for (size_t i = 0; r && i < r->n; i++) {
		const struct policy_unix_rule *u = &r->v[i];
		if (unix_rule_matches(u, u->pattern, path) || (u->resolved && unix_rule_matches(u, u->resolved, path)))
			return u;
	}
	return NULL;
}

const struct policy_unix_rule *policy_unix_socket_rule(const struct policy *p, const char *path)
{
	for (size_t i = 0; i < p->n_unix_sockets; i++) {
		const struct policy_unix_rule *u = &p->unix_sockets[i];
		if (unix_rule_matches(u, u->pattern, path) || (u->resolved && unix_rule_matches(u, u->resolved, path)))
			return u;
	}
	return NULL;
}

static int add_domains(struct builder *b, const struct config_list *list, bool deny,
		       struct policy_domain_rule **ret, size_t *ret_n)
{
	if (list->n == 0)
		return 0;
	struct policy_domain_rule *v = calloc(list->n, sizeof(*v));
	if (!v)
		return srt_error_set(b->err, -ENOMEM, "out of memory");
	*ret = v;
	for (size_t i = 0; i < list->n; i++) {
		const struct config_entry *e = &list->items[i];
		const char *why = NULL;
		_cleanup_free_ char *source = policy_pos_text(&e->pos);
		if (!source)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		int r = domain_pattern_parse(e->value, deny, &v[i].pattern, &why);
		if (r < 0)
			return srt_error_set(b->err, r, "%s: invalid domain '%s': %s", source, e->value,
					     why ? why : strerror(-r));
		(*ret_n)++;
		v[i].text = strdup(e->value);
		v[i].source = steal_pointer(&source);
		if (!v[i].text)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
	}
	return 0;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct policy_path_rule *x = a, *y = b;
	int c = path_order(x->path, y->path);
	if (c)
		return c;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	/* Duplicates (one is dropped below): whatever qsort does, keep the
	 * settings entry rather than the built-in rule, then the first by
	 * source. */
	if (x->mandatory != y->mandatory)
		return (int)x->mandatory - (int)y->mandatory;
	return strcmp(x->source, y->source);
}

#define SOURCE_BUILTIN_PROTECTED "built-in: protected in every writable folder"
/* The tail of the source of a protection that a link's name asked for:
 * rule_text shows it. */
#define SOURCE_LINK_LEADS " (where the link "

struct scan_ctx {
	struct builder *b;
	const char *root;
	const char *source;  /* of the rules this scan adds */
	int link_depth;      /* links followed to get here */
};

static const struct policy_path_rule *decide(const struct policy *p, const char *path, bool write);

static int on_protected_path(const char *path, bool exists, void *userdata);

/* A protected name that is a symbolic link. A mount cannot cover a link,
 * and refusing to run would let anyone who can make such a link (in a
 * shared writable /tmp, anybody) stop srt: protect what it leads to
 * instead, as the name itself would be, when that lies where this run can
 * write (elsewhere it is read-only already). A dangling link leads to a
 * missing path, held like any missing protected path. The link itself can
 * still be repointed by the command (docs/internals/linux-sandbox.md). */
static int protect_link_target(struct scan_ctx *s, const char *link)
{
	/* Only .git and .claude lead to more names, which are never .git or
	 * .claude, and a target is never a link: two levels end every chain
	 * unless the links change under us. Then the link itself is the rule,
	 * which the mount plan refuses: fail closed. */
	if (s->link_depth >= 2)
		return add_rule_as(s->b, link, POLICY_DENY_WRITE, true, true, s->source, NULL, NULL);
	_cleanup_free_ char *target = NULL;
	int r = walk_links(link, NULL, NULL, &target);
	if (r == -ENOMEM)
		return srt_error_set(s->b->err, -ENOMEM, "out of memory");
	if (r < 0)
		return strv_pushf(&s->b->p->notes, "%s is a symbolic link that leads nowhere (%s): "
				  "nothing can be written through it", link, strerror(-r)) < 0
			       ? srt_error_set(s->b->err, -ENOMEM, "out of memory") : 0;
	const struct policy_path_rule *w = decide(s->b->p, target, true);
	if (!w || w->kind != POLICY_ALLOW_WRITE)
		return 0;
	_cleanup_free_ char *source = str_printf("%s" SOURCE_LINK_LEADS "%s leads)", SOURCE_BUILTIN_PROTECTED, link);
	if (!source)
		return srt_error_set(s->b->err, -ENOMEM, "out of memory");
	struct scan_ctx sub = { .b = s->b, .root = s->root, .source = source, .link_depth = s->link_depth + 1 };
	return mandatory_scan_link_target(strrchr(link, '/') + 1, target, s->b->p->allow_git_config,
					  on_protected_path, &sub);
}

static int on_protected_path(const char *path, bool exists, void *userdata)
{
	struct scan_ctx *s = userdata;
	struct stat st;
	if (exists && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		/* The command runs as this user: every link it made is this
		 * user's. Another user's link (a shared /tmp) is that user's
		 * doing, and following it would let them make a folder of
		 * ours read-only. */
		if (st.st_uid != geteuid() && st.st_uid != 0)
			return strv_pushf(&s->b->p->notes, "%s: a symbolic link of uid %u's: not followed", path,
					  (unsigned)st.st_uid) < 0
				       ? srt_error_set(s->b->err, -ENOMEM, "out of memory") : 0;
		return protect_link_target(s, path);
	}
	return add_rule_as(s->b, path, POLICY_DENY_WRITE, true, true, s->source, NULL, NULL);
}

static bool is_write_allowing(const struct policy_path_rule *r)
{
	return r->kind == POLICY_ALLOW_WRITE;
}

static bool relevant(const struct policy_path_rule *r, bool write)
{
	return write ? (r->kind == POLICY_ALLOW_WRITE || r->kind == POLICY_DENY_WRITE ||
			r->kind == POLICY_DENY_READ)
		     : (r->kind == POLICY_DENY_READ || r->kind == POLICY_ALLOW_READ ||
			r->kind == POLICY_ALLOW_WRITE);
}

static bool is_deny(const struct policy_path_rule *r)
{
	return r->kind == POLICY_DENY_READ || r->kind == POLICY_DENY_WRITE;
}

/* Of two relevant rules with the same path, does r decide rather than
 * best? A deny wins; then the lower kind (the order of enum
 * policy_path_kind, which is also the order of the rules at one path in
 * the sorted policy): the answer never depends on the order of the rules. */
static bool decides_before(const struct policy_path_rule *r, const struct policy_path_rule *best)
{
	if (is_deny(r) != is_deny(best))
		return is_deny(r);
	return r->kind < best->kind;
}

/* The rule deciding one aspect: most specific wins, deny wins a tie.
 * Before the rules are sorted (while building) by a scan; afterwards by
 * looking up each ancestor of path, longest first, with a binary search:
 * the mount plan asks this for thousands of paths. */
static const struct policy_path_rule *decide(const struct policy *p, const char *path, bool write)
{
	if (!p->sorted) {
		const struct policy_path_rule *best = NULL;
		size_t best_len = 0;
		for (size_t i = 0; i < p->n_rules; i++) {
			const struct policy_path_rule *r = &p->rules[i];
			if (!relevant(r, write) || !path_is_inside(path, r->path))
				continue;
			size_t len = strlen(r->path);
			if (!best || len > best_len || (len == best_len && decides_before(r, best))) {
				best = r;
				best_len = len;
			}
		}
		return best;
	}
	char buf[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return NULL;
	memcpy(buf, path, len + 1);
	for (;;) {
		/* Rules for exactly buf: find the first with that path. */
		size_t lo = 0, hi = p->n_rules;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (path_order(p->rules[mid].path, buf) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		const struct policy_path_rule *best = NULL;
		for (size_t i = lo; i < p->n_rules && strcmp(p->rules[i].path, buf) == 0; i++) {
			const struct policy_path_rule *r = &p->rules[i];
			if (relevant(r, write) && (!best || decides_before(r, best)))
				best = r;
		}
		if (best)
			return best;
		if (len == 1)
			return NULL; /* "/" had no rule */
		char *slash = strrchr(buf, '/');
		if (!slash)
			return NULL;
		len = slash == buf ? 1 : (size_t)(slash - buf);
		buf[len] = '\0';
	}
}

const struct policy_path_rule *policy_read_rule(const struct policy *p, const char *path)
{
	return decide(p, path, false);
}

const struct policy_path_rule *policy_write_rule(const struct policy *p, const char *path)
{
	return decide(p, path, true);
}

bool policy_path_readable(const struct policy *p, const char *path)
{
	const struct policy_path_rule *r = policy_read_rule(p, path);
	return !r || r->kind != POLICY_DENY_READ;
}

bool policy_path_writable(const struct policy *p, const char *path)
{
	const struct policy_path_rule *r = policy_write_rule(p, path);
	if (!r)
		return !p->tmp_is_host && path_is_inside(path, "/tmp");
	return is_write_allowing(r);
}

char *policy_resolve_path(const char *path, bool follow_last)
{
	return resolve_existing(path, follow_last);
}

/* ------------------------------------------------------------------ */
/* Explaining one access: what the mount plan makes of the policy      */
/* ------------------------------------------------------------------ */

/* Everything below mirrors linux/mountplan.c (mount_plan_build): which
 * rule paths become mounts, which of them cover what lies below, and where
 * a missing protected path is held. Change both together; the end-to-end
 * tests in tests/e2e/test_explain.py compare the two. */

static bool host_writable(const struct policy *p, const char *path)
{
	const struct policy_path_rule *r = policy_write_rule(p, path);
	return r && r->kind == POLICY_ALLOW_WRITE;
}

/* mountplan.c's visible(): does the sandbox see the host's path here? */
static bool plan_visible(const struct policy *p, const char *path)
{
	if (!policy_path_readable(p, path))
		return false;
	if (p->tmp_is_host || !path_is_inside(path, "/tmp"))
		return true;
	const struct policy_path_rule *r = policy_read_rule(p, path);
	if (r && (r->kind == POLICY_ALLOW_READ || r->kind == POLICY_ALLOW_WRITE) && r->exists &&
	    strcmp(r->path, "/tmp") != 0)
		return true;
	r = policy_write_rule(p, path);
	return r && r->kind == POLICY_ALLOW_WRITE && r->exists && strcmp(r->path, "/tmp") != 0;
}

/* The rules whose path is dir or lies below it: [*begin, *end). Before the
 * rules are sorted, all of them (callers check each). */
static void rules_below(const struct policy *p, const char *dir, size_t *begin, size_t *end)
{
	if (!p->sorted) {
		*begin = 0;
		*end = p->n_rules;
		return;
	}
	size_t lo = 0, hi = p->n_rules;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (path_order(p->rules[mid].path, dir) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* path_order puts everything below dir right after it. */
	size_t e = lo;
	while (e < p->n_rules && path_is_inside(p->rules[e].path, dir))
		e++;
	*begin = lo;
	*end = e;
}

/* buf holds PATH_MAX bytes; a parent too long for it (no such path can
 * exist) is taken as "/". */
static void parent_into(const char *path, char *buf)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path || (size_t)(slash - path) >= PATH_MAX) {
		strcpy(buf, "/");
		return;
	}
	memcpy(buf, path, (size_t)(slash - path));
	buf[slash - path] = '\0';
}

enum view_kind {
	VIEW_ROOT,         /* the host's / (read-only unless allowWrite "/") */
	VIEW_PRIVATE_TMP,  /* the sandbox's own /tmp */
	VIEW_BIND,         /* a rule path bound onto itself, read-only or writable */
	VIEW_HIDDEN,       /* a denyRead folder (empty, read-only) or file */
	VIEW_PROTECTED,    /* a write-protected path: read-only bind, or the write guard's */
};

struct view {
	enum view_kind kind;
	bool readable, writable;
	const struct policy_path_rule *rule;  /* what made the view; NULL for the root */
};

static bool missing(const char *path)
{
	struct stat st;
	return lstat(path, &st) < 0;
}

/* The node at path a (the rules whose path is exactly a), as
 * mount_plan_build handles it. Updates *v when the node makes a mount;
 * returns true when that mount covers everything below a. */
static bool eval_node(const struct policy *p, const char *a, struct view *v)
{
	size_t b, e;
	rules_below(p, a, &b, &e);
	const struct policy_path_rule *first = NULL;
	for (size_t i = b; i < e; i++)
		if (strcmp(p->rules[i].path, a) == 0 && (!first || p->rules[i].kind < first->kind))
			first = &p->rules[i];
	if (!first)
		return false;
	bool exists = first->exists, is_dir = first->is_dir, is_link = first->is_symlink;
	char parent[PATH_MAX];
	parent_into(a, parent);
	bool R = policy_path_readable(p, a), W = host_writable(p, a);
	bool Rp = plan_visible(p, parent), Wp = host_writable(p, parent);

	if (!R) {
		if (Rp && Wp) {
			/* In a writable folder: the write guard refuses
			 * creating a missing path, so the command can neither
			 * create it nor read what appears there. A link
			 * there: the plan refuses, nothing runs. */
			if (is_link || !exists || missing(a)) {
				*v = (struct view){ .kind = VIEW_HIDDEN, .rule = policy_read_rule(p, a) };
				return true;
			}
		}
		if (!exists || !Rp)
			return false; /* nothing to hide, or hidden already */
		*v = (struct view){ .kind = VIEW_HIDDEN, .rule = policy_read_rule(p, a) };
		return !is_dir;
	}
	if (!Rp) {
		/* Inside a hidden folder or the private /tmp: only what an allow
		 * rule names, when it exists. */
		if ((first->kind != POLICY_ALLOW_READ && first->kind != POLICY_ALLOW_WRITE) || !exists)
			return false;
		*v = (struct view){ .kind = VIEW_BIND, .readable = true, .writable = W, .rule = first };
		return false;
	}
	if (W == Wp)
		return false;
	if (!W) {
		*v = (struct view){ .kind = VIEW_PROTECTED, .readable = true, .rule = policy_write_rule(p, a) };
		struct stat st;
		if (is_link)
			return true; /* the guard refuses writing through it */
		if (exists && lstat(a, &st) == 0)
			return !S_ISDIR(st.st_mode);
		return true; /* the guard refuses its creation */
	}
	if (!exists)
		return false; /* stays unwritable */
	*v = (struct view){ .kind = VIEW_BIND, .readable = true, .writable = true, .rule = policy_write_rule(p, a) };
	return false;
}

static const char *kind_text(enum policy_path_kind k)
{
	return kind_key(k);
}

static const struct {
	const char *name;
	const char *what;
} protected_names[] = {
	{ ".git/hooks", "git hooks" },
	{ ".git/config", "git repository configuration" },
	{ ".claude/commands", "agent commands" },
	{ ".claude/agents", "agent definitions" },
	{ ".vscode", "editor settings" },
	{ ".idea", "editor settings" },
	{ ".sandbox", "project sandbox settings" },
	{ ".bashrc", "shell startup file" },
	{ ".bash_profile", "shell startup file" },
	{ ".zshrc", "shell startup file" },
	{ ".zprofile", "shell startup file" },
	{ ".profile", "shell startup file" },
	{ ".gitconfig", "git configuration" },
	{ ".gitmodules", "git submodules" },
	{ ".ripgreprc", "ripgrep configuration" },
	{ ".mcp.json", "MCP servers" },
};

/* "denyRead: ~/.ssh", "built-in protection: .bashrc (shell startup file)" */
static char *rule_text(const struct policy_path_rule *r)
{
	if (!str_has_prefix(r->source, "built-in"))
		return str_printf("%s: %s", kind_text(r->kind), r->text ? r->text : r->path);
	if (strstr(r->source, "settings file"))
		return str_printf("built-in protection: settings file srt loaded");
	if (r->mandatory) {
		const char *via = strstr(r->source, SOURCE_LINK_LEADS);
		if (via)
			return str_printf("built-in protection: %s%s", r->path, via);
		size_t pl = strlen(r->path);
		for (size_t i = 0; i < ARRAY_SIZE(protected_names); i++) {
			size_t nl = strlen(protected_names[i].name);
			if (pl > nl && r->path[pl - nl - 1] == '/' &&
			    strcmp(r->path + pl - nl, protected_names[i].name) == 0)
				return str_printf("built-in protection: %s (%s)", protected_names[i].name,
						  protected_names[i].what);
		}
		return str_printf("built-in protection: %s", r->path);
	}
	if (strstr(r->source, "current directory"))
		return str_printf("the current folder (the host's, inside the private /tmp)");
	return str_printf("%s", r->source);
}

static char *source_text(const struct policy_path_rule *r)
{
	if (!r)
		return NULL;
	return strdup(str_has_prefix(r->source, "built-in") ? "built-in" : r->source);
}

/* One line, whatever the paths and entries held: control characters
 * (a newline in a file name could forge a line of a report) become \xNN,
 * and so does a backslash, so that the text reads back unambiguously.
 * Takes s; NULL when out of memory. */
static char *one_line(char *s)
{
	if (!s)
		return NULL;
	size_t extra = 0;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++)
		if (*c < 0x20 || *c == 0x7f || *c == '\\')
			extra += 3;
	if (extra == 0)
		return s;
	char *r = malloc(strlen(s) + extra + 1);
	if (r) {
		char *w = r;
		for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
			if (*c < 0x20 || *c == 0x7f || *c == '\\')
				w += sprintf(w, "\\x%02x", *c);
			else
				*w++ = (char)*c;
		}
		*w = '\0';
	}
	free(s);
	return r;
}

static int verdict_set(struct policy_verdict *out, bool allowed, char *rule, char *source, bool want_source)
{
	rule = one_line(rule);
	source = one_line(source);
	if (!rule || (want_source && !source)) {
		free(rule);
		free(source);
		return -ENOMEM;
	}
	*out = (struct policy_verdict){ .allowed = allowed, .rule = rule, .source = source };
	return 0;
}

static int verdict_builtin(struct policy_verdict *out, bool allowed, char *rule)
{
	return verdict_set(out, allowed, rule, strdup("built-in"), true);
}

/* /dev: bwrap's --dev, a fresh tmpfs with the basic devices; rules there
 * mean nothing. */
static int explain_dev(const char *path, bool write, struct policy_verdict *out)
{
	static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };
	const char *rest = path + 4; /* after "/dev" */
	if (*rest == '\0')
		return verdict_builtin(out, true, str_printf("the sandbox's own /dev (not the host's)"));
	rest++;
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
		if (strcmp(rest, devices[i]) == 0)
			return verdict_builtin(out, true, str_printf("the sandbox's own device %s", path));
	if (strcmp(rest, ".srt-connect") == 0)
		return verdict_builtin(out, !write, str_printf("srt's proxy-connect helper (read-only)"));
	if (path_is_inside(path, "/dev/shm"))
		return verdict_builtin(out, true, str_printf("the sandbox's own /dev/shm (not the host's)"));
	if (path_is_inside(path, "/dev/pts") || strcmp(rest, "ptmx") == 0)
		return verdict_builtin(out, true, str_printf("the sandbox's own terminals (/dev/pts)"));
	if (path_is_inside(path, "/dev/fd") || strcmp(rest, "stdin") == 0 || strcmp(rest, "stdout") == 0 ||
	    strcmp(rest, "stderr") == 0)
		return verdict_builtin(out, true, str_printf("the process's own file descriptors (%s)", path));
	if (write)
		return verdict_builtin(out, true,
				       str_printf("the sandbox's own /dev (a fresh tmpfs; the host's devices are not there)"));
	return verdict_builtin(out, false,
			       str_printf("not in the sandbox's own /dev (the host's devices are not there)"));
}

/* /proc: a fresh proc for the sandbox's PID namespace (or the host's with
 * enableWeakerNestedSandbox); rules there mean nothing. */
static int explain_proc(const struct policy *p, const char *path, bool write, struct policy_verdict *out)
{
	const char *which = p->enable_weaker_nested_sandbox ? "the host's /proc (enableWeakerNestedSandbox)"
							    : "the sandbox's own /proc";
	if (!write)
		return verdict_builtin(out, true, str_printf("%s", which));
	const char *rest = path + 5; /* after "/proc" */
	if (*rest == '/') {
		rest++;
		size_t n = strcspn(rest, "/");
		bool pid = n > 0;
		for (size_t i = 0; i < n; i++)
			pid = pid && rest[i] >= '0' && rest[i] <= '9';
		if (pid || (n == 4 && strncmp(rest, "self", 4) == 0) ||
		    (n == 11 && strncmp(rest, "thread-self", 11) == 0))
			return verdict_builtin(out, true,
					       str_printf("%s: a process's own entries (the kernel's permissions apply)", which));
	}
	return verdict_builtin(out, false, str_printf("%s: kernel settings are not the sandbox's to change", which));
}

/* Is the folder holding path there, as a folder (links followed)? */
static bool parent_is_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1])
		return false;
	_cleanup_free_ char *parent = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
	struct stat st;
	return parent && stat(parent, &st) == 0 && S_ISDIR(st.st_mode);
}

static int explain_mounts(const struct policy *p, const char *path, bool write, struct policy_verdict *out);

/* The write guard's facts, from the host's file system: a writable
 * folder is the same path inside and out. */
static unsigned host_facts(void *data, const char *path, unsigned want)
{
	const struct policy *p = data;
	unsigned f = 0;
	char q[PATH_MAX + 16];
	struct stat st;
	static const struct { const char *name; unsigned fact; bool dir; } marks[] = {
		{ "HEAD", GUARD_FACT_HAS_HEAD, false },
		{ "objects", GUARD_FACT_HAS_OBJECTS, false },
		{ "refs", GUARD_FACT_HAS_REFS, false },
		{ "commondir", GUARD_FACT_HAS_COMMONDIR, false },
	};
	for (size_t i = 0; i < 4; i++) {
		snprintf(q, sizeof(q), "%s/%s", strcmp(path, "/") == 0 ? "" : path, marks[i].name);
		if (lstat(q, &st) == 0 && (!marks[i].dir || S_ISDIR(st.st_mode)))
			f |= marks[i].fact;
	}
	if ((f & GUARD_FACT_HAS_HEAD) &&
	    ((f & GUARD_FACT_HAS_COMMONDIR) || ((f & GUARD_FACT_HAS_OBJECTS) && (f & GUARD_FACT_HAS_REFS))))
		f |= GUARD_FACT_GIT_DIR;
	if (want & GUARD_FACT_HOLDS_PROTECTED) {
		for (size_t i = 0; i < p->n_rules; i++) {
			const struct policy_path_rule *r = &p->rules[i];
			if ((r->kind == POLICY_DENY_WRITE || r->kind == POLICY_DENY_READ) && strcmp(r->path, path) != 0 &&
			    path_is_inside(r->path, path))
				f |= GUARD_FACT_HOLDS_PROTECTED;
		}
		if (p->home && path_is_inside(p->home, path))
			f |= GUARD_FACT_HOLDS_PROTECTED;
	}
	return f & want;
}

int policy_explain_path(const struct policy *p, const char *path, bool write, struct policy_verdict *out)
{
	int r = explain_mounts(p, path, write, out);
	if (r < 0 || !write || !out->allowed || path_is_inside(path, "/dev") || path_is_inside(path, "/proc"))
		return r;
	/* Allowed by the mounts: the write guard has the last word inside a
	 * writable folder. */
	char parent[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash || !slash[1] || strlen(slash + 1) > NAME_MAX)
		return r;
	size_t pl = slash == path ? 1 : (size_t)(slash - path);
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	const struct policy_path_rule *wr = policy_write_rule(p, parent);
	if (!wr || wr->kind != POLICY_ALLOW_WRITE || !path_is_inside(parent, wr->path))
		return r;
	struct stat st;
	enum guard_type type = GUARD_TYPE_NONE;
	if (lstat(path, &st) == 0)
		type = S_ISREG(st.st_mode) ? GUARD_TYPE_FILE : S_ISDIR(st.st_mode) ? GUARD_TYPE_DIR
			: S_ISLNK(st.st_mode) ? GUARD_TYPE_SYMLINK : GUARD_TYPE_OTHER;
	char home[PATH_MAX];
	const char *h = NULL;
	if (p->home && strlen(p->home) < sizeof(home)) {
		strcpy(home, p->home);
		size_t n = strlen(home);
		while (n > 1 && home[n - 1] == '/')
			home[--n] = '\0';
		h = home;
	}
	struct guard_request req = {
		.op = type == GUARD_TYPE_NONE ? GUARD_OP_CREATE : GUARD_OP_WRITE,
		.parent = parent,
		.name = slash + 1,
		.type = type,
		.root = wr->path,
		.home = h,
		.allow_git_config = p->allow_git_config,
		.allow_new_repositories = p->allow_new_repositories,
		.facts = host_facts,
		.facts_data = (void *)p,
	};
	struct guard_verdict v;
	/* Folders on the way that do not exist yet must be made first:
	 * each mkdir is a question of its own (mkdir .git is a new
	 * repository, whatever goes in it). */
	char way[PATH_MAX];
	strcpy(way, parent);
	size_t first_missing = strlen(way);
	while (first_missing > 1 && lstat(way, &st) < 0 && path_is_inside(way, wr->path) &&
	       strcmp(way, wr->path) != 0) {
		char *sl = strrchr(way, '/');
		first_missing = (size_t)(sl - way);
		*sl = '\0';
		if (!way[0])
			strcpy(way, "/");
	}
	for (size_t i = first_missing; i < pl; ) {
		/* way = parent[0..i): make parent[0..next) */
		size_t next = i + 1;
		while (next < pl && parent[next] != '/')
			next++;
		char up[PATH_MAX], name[NAME_MAX + 1];
		memcpy(up, parent, i ? i : 1);
		up[i ? i : 1] = '\0';
		size_t nl = next - i - 1;
		if (nl == 0 || nl > NAME_MAX)
			break;
		memcpy(name, parent + i + 1, nl);
		name[nl] = '\0';
		struct guard_request mk = req;
		mk.op = GUARD_OP_MKDIR;
		mk.parent = up;
		mk.name = name;
		mk.type = GUARD_TYPE_NONE;
		if (guard_decide(&mk, &v) == 0 && v.error && v.error != EEXIST) {
			policy_verdict_clear(out);
			return verdict_set(out, false, str_printf("%s", v.rule), strdup("built-in: the write guard"), true);
		}
		i = next;
	}
	if (guard_decide(&req, &v) < 0 || !v.error)
		return r;
	policy_verdict_clear(out);
	return verdict_set(out, false, str_printf("%s", v.rule), strdup("built-in: the write guard"), true);
}

static int explain_mounts(const struct policy *p, const char *path, bool write, struct policy_verdict *out)
{
	*out = (struct policy_verdict){ 0 };
	size_t len = path ? strlen(path) : 0;
	if (!p || len == 0 || path[0] != '/' || len >= PATH_MAX)
		return -EINVAL;
	if (path_is_inside(path, "/dev"))
		return explain_dev(path, write, out);
	if (path_is_inside(path, "/proc"))
		return explain_proc(p, path, write, out);

	/* Walk from / down to path, as the mounts are made: parents first. */
	struct view v = { .kind = VIEW_ROOT, .readable = true, .writable = host_writable(p, "/") };
	char a[PATH_MAX];
	for (size_t i = 0; i < len;) {
		size_t j = i + 1;
		while (j < len && path[j] != '/')
			j++;
		memcpy(a, path, j);
		a[j] = '\0';
		i = j;
		if (!p->tmp_is_host && strcmp(a, "/tmp") == 0) {
			v = (struct view){ .kind = VIEW_PRIVATE_TMP, .readable = true, .writable = true };
			continue;
		}
		if (eval_node(p, a, &v))
			break;
	}

	bool pol = write ? policy_path_writable(p, path) : policy_path_readable(p, path);
	const struct policy_path_rule *pr = write ? policy_write_rule(p, path) : policy_read_rule(p, path);
	bool allowed = write ? v.writable : v.readable;
	/* A denied path that does not exist, in a read-only view: nothing can
	 * appear there to be read. */
	if (!write && allowed && !v.writable && !pol && pr && !pr->exists)
		allowed = false;

	if (v.kind == VIEW_PRIVATE_TMP) {
		/* The host's /tmp shows beneath the private one (read-only, an
		 * overlay), and denyRead still hides what it names there. */
		if (!write && !pol && pr && pr->kind == POLICY_DENY_READ)
			return verdict_set(out, false, rule_text(pr), source_text(pr), true);
		return verdict_builtin(out, allowed,
				       str_printf("private /tmp (the host's /tmp read-only beneath it; what the "
						  "command writes there stays in the sandbox)"));
	}
	if (allowed == pol) {
		if (!pr)
			return verdict_set(out, allowed,
					   str_printf(write ? "no allowWrite entry covers %s" : "no denyRead entry covers %s",
						      path), NULL, false);
		return verdict_set(out, allowed, rule_text(pr), source_text(pr), true);
	}
	/* The mounts do something else than the deciding rule alone says. */
	if (pr) {
		_cleanup_free_ char *t = rule_text(pr);
		if (!t)
			return -ENOMEM;
		char *why;
		if (strcmp(pr->path, "/") == 0)
			why = str_printf("%s has no effect: srt applies no rule to / itself", t);
		else if (!pr->exists && pr->kind == POLICY_ALLOW_WRITE && !pr->mandatory && !pr->pattern &&
			 parent_is_dir(pr->path)) {
			/* Made when a command runs (create_missing_writable). */
			return verdict_set(out, true,
					   str_printf("%s: %s does not exist yet; srt creates it when a command runs",
						      t, pr->path),
					   source_text(pr), true);
		} else if (!pr->exists)
			why = str_printf("%s has no effect: %s does not exist", t, pr->path);
		else if (v.rule) {
			_cleanup_free_ char *vt = rule_text(v.rule);
			why = vt ? str_printf("%s has no effect here: %s decides", t, vt) : NULL;
		} else
			why = str_printf("%s has no effect here", t);
		return verdict_set(out, allowed, why, source_text(pr), true);
	}
	if (v.rule) {
		_cleanup_free_ char *t = rule_text(v.rule);
		if (!t)
			return -ENOMEM;
		/* The host's folder brought into the private /tmp read-only. */
		return verdict_set(out, allowed,
				   str_printf("%s%s", t, v.kind == VIEW_BIND && !v.writable ? ", read-only" : ""),
				   source_text(v.rule), true);
	}
	return verdict_set(out, allowed,
			   str_printf(write ? "no allowWrite entry covers %s" : "no denyRead entry covers %s", path),
			   NULL, false);
}

void policy_verdict_clear(struct policy_verdict *v)
{
	if (!v)
		return;
	free(v->rule);
	free(v->source);
	v->rule = NULL;
	v->source = NULL;
}

/* allowWrite folders that do not exist yet, whose parent does: made now,
 * so that the command can use them (~/.cache/tool on a fresh machine).
 * The parent is opened with no link followed anywhere on its path (it was
 * resolved already): another sandbox writing there meanwhile cannot turn
 * it into a link and have the folder made elsewhere. A folder that cannot
 * be made stays read-only, as before, with a note. */
static int create_missing_writable(struct builder *b)
{
	struct policy *p = b->p;
	for (size_t i = 0; i < p->n_rules; i++) {
		struct policy_path_rule *w = &p->rules[i];
		if (w->kind != POLICY_ALLOW_WRITE || w->mandatory || w->exists || w->pattern)
			continue;
		const char *slash = strrchr(w->path, '/');
		if (!slash || !slash[1])
			continue;
		_cleanup_free_ char *parent = slash == w->path ? strdup("/") : strndup(w->path, (size_t)(slash - w->path));
		if (!parent)
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS };
		int pfd = (int)syscall(SYS_openat2, AT_FDCWD, parent, &how, sizeof(how));
		if (pfd < 0)
			continue; /* no parent (or not a plain one): nothing to make */
		int e = mkdirat(pfd, slash + 1, 0777) < 0 ? errno : 0;
		close(pfd);
		if (e == 0) {
			w->exists = w->is_dir = true;
			if (strv_pushf(&p->notes, "%s: created %s (it did not exist)", w->source, w->path) < 0)
				return srt_error_set(b->err, -ENOMEM, "out of memory");
		} else if (e != EEXIST &&
			   strv_pushf(&p->notes, "%s: cannot create %s: %s; it stays unwritable", w->source, w->path,
				      strerror(e)) < 0) {
			return srt_error_set(b->err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

int policy_build(const struct config *cfg, const struct policy_env *env,
		 struct policy **ret, struct srt_error *err)
{
	struct policy *p = calloc(1, sizeof(*p));
	if (!p)
		return srt_error_set(err, -ENOMEM, "out of memory");
	struct builder b = { .p = p, .env = env, .err = err };
	int r;

	/* The Elixir port's sandbox.enabled: false meant "run unsandboxed".
	 * srt never does that silently. */
	if (!cfg->enabled) {
		r = srt_error_set(err, -EINVAL, "sandbox.enabled is false in the settings: srt never runs a "
				  "command without its sandbox; remove the key, or run the command without srt");
		goto fail;
	}
	p->allow_git_config = cfg->allow_git_config;
	p->allow_new_repositories = cfg->allow_new_repositories;
	if (env->home && env->home[0] == '/' && !(p->home = strdup(env->home))) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	p->allow_nested_user_namespaces = cfg->allow_nested_user_namespaces;
	p->enable_weaker_nested_sandbox = cfg->enable_weaker_nested_sandbox;
	p->allow_all_unix_sockets = cfg->network.allow_all_unix_sockets;
	p->transparent = cfg->network.mode == CONFIG_NET_TRANSPARENT;
	p->mandatory_deny_search_depth = cfg->mandatory_deny_search_depth;
	if (cfg->mandatory_deny_search_depth != 3 &&
	    strv_pushf(&p->notes, "mandatoryDenySearchDepth (%d) no longer limits anything: the write guard "
		       "protects the built-in names at every depth", cfg->mandatory_deny_search_depth) < 0) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (cfg->bwrap_path && !(p->bwrap_path = strdup(cfg->bwrap_path))) {
		r = srt_error_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < cfg->notes.n; i++)
		if ((r = strv_push(&p->notes, cfg->notes.v[i])) < 0)
			goto oom;
	for (size_t i = 0; i < cfg->n_ignored_allows; i++) {
		_cleanup_free_ char *src = policy_pos_text(&cfg->ignored_allows[i].pos);
		const char *why = cfg->ignored_allows[i].reason;
		if ((r = strv_pushf(&p->ignored, "%s (%s)%s%s", cfg->ignored_allows[i].what, src ? src : "?",
				    why ? ": " : "", why ? why : "")) < 0)
			goto oom;
	}

	if (env->network_only) {
		if ((r = add_domains(&b, &cfg->network.allowed_domains, false, &p->allowed_domains,
				     &p->n_allowed_domains)) < 0 ||
		    (r = add_domains(&b, &cfg->network.denied_domains, true, &p->denied_domains,
				     &p->n_denied_domains)) < 0)
			goto fail;
		p->sorted = true;
		builder_clear(&b);
		*ret = p;
		return 0;
	}

	if ((r = collect_write_roots(&b, &cfg->allow_write)) < 0 ||
	    (r = add_list(&b, &cfg->deny_read, POLICY_DENY_READ)) < 0 ||
	    (r = add_credential_denies(&b, cfg)) < 0 ||
	    (r = add_list(&b, &cfg->allow_read, POLICY_ALLOW_READ)) < 0 ||
	    (r = add_list(&b, &cfg->allow_write, POLICY_ALLOW_WRITE)) < 0 ||
	    (r = add_list(&b, &cfg->deny_write, POLICY_DENY_WRITE)) < 0 ||
	    (r = add_credential_masks(&b, cfg)) < 0 ||
	    (r = add_unix_sockets(&b, &cfg->network.allow_unix_sockets)) < 0)
		goto fail;

	if ((r = add_domains(&b, &cfg->network.allowed_domains, false, &p->allowed_domains, &p->n_allowed_domains)) < 0 ||
	    (r = add_domains(&b, &cfg->network.denied_domains, true, &p->denied_domains, &p->n_denied_domains)) < 0)
		goto fail;

	/* Decide /tmp before the scan: a private /tmp needs no protection. */
	{
		const struct policy_path_rule *t = decide(p, "/tmp", true);
		p->tmp_is_host = t && t->kind == POLICY_ALLOW_WRITE;
	}

	/* The private /tmp hides the host's; when we were started inside it,
	 * keep the current directory readable there so the command can run. */
	if (!p->tmp_is_host && path_is_inside(env->cwd, "/tmp") && strcmp(env->cwd, "/tmp") != 0 &&
	    !decide(p, env->cwd, false))
		if ((r = add_rule(&b, env->cwd, POLICY_ALLOW_READ, false,
				  "built-in: the current directory, inside the private /tmp", NULL, NULL)) < 0)
			goto fail;

	/* Links on the way to the settings files first: nothing is created
	 * for a run that is then refused. */
	for (size_t i = 0; i < cfg->file_names.n; i++)
		if ((r = check_settings_file_links(&b, cfg->file_names.v[i])) < 0)
			goto fail;
	if (env->create_missing_writable && (r = create_missing_writable(&b)) < 0)
		goto fail;

	/* Every writable root gets the built-in protection; so do the
	 * settings files that were loaded. */
	size_t n_user = p->n_rules;
	for (size_t i = 0; i < n_user; i++) {
		struct policy_path_rule *w = &p->rules[i];
		if (w->kind != POLICY_ALLOW_WRITE || !w->exists || !w->is_dir)
			continue;
		_cleanup_free_ char *root = strdup(w->path);
		if (!root)
			goto oom;
		struct scan_ctx s = { .b = &b, .root = root, .source = SOURCE_BUILTIN_PROTECTED };
		/* The writable root itself only: deeper, the write guard decides
		 * each call (no walk of the tree, no depth limit). */
		r = mandatory_scan(root, 0, p->allow_git_config, on_protected_path, &s);
		if (r < 0) {
			if (!err || !err->code)
				srt_error_set(err, r, "cannot scan writable folder %s: %s", root, strerror(-r));
			goto fail;
		}
	}
	/* The folders of $PATH inside a writable folder: a program put there
	 * runs instead of the real one at the user's next command. A writable
	 * folder that is itself on PATH was asked for by name: it stays. */
	const char *path_env = env->path ? env->path : getenv("PATH");
	if (path_env) {
		_cleanup_free_ char *copy = strdup(path_env);
		if (!copy)
			goto oom;
		char *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if (d[0] != '/')
				continue; /* relative entries name no folder of their own */
			_cleanup_free_ char *real = policy_resolve_path(d, true);
			if (!real)
				continue;
			bool inside = false, named = false;
			for (size_t i = 0; i < n_user; i++) {
				const struct policy_path_rule *w = &p->rules[i];
				if (w->kind != POLICY_ALLOW_WRITE || !w->exists)
					continue;
				if (strcmp(w->path, real) == 0)
					named = true;
				else if (path_is_inside(real, w->path))
					inside = true;
			}
			struct stat st;
			if (!inside || named || stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
				continue;
			if ((r = add_rule(&b, real, POLICY_DENY_WRITE, true,
					  "built-in: a folder on $PATH (a program put there runs instead of the real one)",
					  NULL, NULL)) < 0)
				goto fail;
		}
	}
	for (size_t i = 0; i < cfg->files.n; i++) {
		if ((r = add_rule(&b, cfg->files.v[i], POLICY_DENY_WRITE, true,
				  "built-in: settings file srt loaded", NULL, NULL)) < 0)
			goto fail;
		if ((r = strv_push(&p->settings_files, cfg->files.v[i])) < 0)
			goto oom;
	}
	if (p->n_rules > 1)
		qsort(p->rules, p->n_rules, sizeof(*p->rules), rule_cmp);
	/* Drop exact duplicates (same path and kind): the first source stays. */
	size_t w = 0;
	for (size_t i = 0; i < p->n_rules; i++) {
		if (w > 0 && strcmp(p->rules[w - 1].path, p->rules[i].path) == 0 &&
		    p->rules[w - 1].kind == p->rules[i].kind) {
			free(p->rules[i].path);
			free(p->rules[i].source);
			free(p->rules[i].pattern);
			free(p->rules[i].text);
			continue;
		}
		p->rules[w++] = p->rules[i];
	}
	p->n_rules = w;
	p->sorted = true;

	builder_clear(&b);
	*ret = p;
	return 0;
oom:
	r = srt_error_set(err, -ENOMEM, "out of memory");
fail:
	builder_clear(&b);
	policy_free(p);
	return r;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_rules; i++) {
		free(p->rules[i].path);
		free(p->rules[i].source);
		free(p->rules[i].pattern);
		free(p->rules[i].text);
	}
	free(p->rules);
	for (size_t i = 0; i < p->n_allowed_domains; i++) {
		domain_pattern_free(&p->allowed_domains[i].pattern);
		free(p->allowed_domains[i].text);
		free(p->allowed_domains[i].source);
	}
	free(p->allowed_domains);
	for (size_t i = 0; i < p->n_denied_domains; i++) {
		domain_pattern_free(&p->denied_domains[i].pattern);
		free(p->denied_domains[i].text);
		free(p->denied_domains[i].source);
	}
	free(p->denied_domains);
	for (size_t i = 0; i < p->n_unix_sockets; i++)
		unix_rule_clear(&p->unix_sockets[i]);
	free(p->unix_sockets);
	free(p->bwrap_path);
	free(p->home);
	strv_clear(&p->settings_files);
	strv_clear(&p->notes);
	strv_clear(&p->ignored);
	strv_clear(&p->unmatched_globs);
	free(p);
}

const char *policy_loopback_source(const struct policy *p, uint16_t port)
{
	for (size_t i = 0; i < p->n_allowed_domains; i++) {
		const struct domain_pattern *d = &p->allowed_domains[i].pattern;
		if (d->port != port || !d->host)
			continue;
		if ((d->kind == DOMAIN_NAME && strcmp(d->host, "localhost") == 0) ||
		    (d->kind == DOMAIN_IPV4 && strncmp(d->host, "127.", 4) == 0) ||
		    (d->kind == DOMAIN_IPV6 && strcmp(d->host, "::1") == 0))
			return p->allowed_domains[i].source;
	}
	return NULL;
}
