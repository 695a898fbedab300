/* libFuzzer target: guard_decide on requests built from the input (op, type, settings, parent, name, root, home, facts) and guard_todo_exec_line against a reference. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                         \
	do {                             \
		if (!(c))                \
			__builtin_trap(); \
	} while (0)

/* ---- facts: a function of the path and a seed from the input -------------- */

struct facts_ctx {
	uint32_t seed;
	bool none;           /* answer nothing: the rules alone */
	const char *target;  /* every question is about an ancestor of it, or it */
};

static uint32_t hash(const char *s, uint32_t h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static unsigned fuzz_facts(void *data, const char *path, unsigned want)
{
	struct facts_ctx *c = data;
	size_t n = strlen(path);
	CHECK(path[0] == '/');
	CHECK(n == 1 || path[n - 1] != '/');
	CHECK(!strstr(path, "//"));
	/* An ancestor of the target or the target itself. */
	CHECK(strncmp(c->target, path, n) == 0);
	CHECK(n == 1 || c->target[n] == '\0' || c->target[n] == '/');
	if (c->none)
		return 0;
	uint32_t h = hash(path, c->seed);
	/* Mostly nothing, as for real folders; sometimes anything. */
	return (h & 7) == 0 ? (unsigned)(h >> 8) & want : 0;
}

/* ---- requests --------------------------------------------------------------- */

static const char *const vocab[] = {
	".git", "hooks", "config", "config.lock", "objects", "refs", "HEAD", "HEAD.lock", "index.lock",
	"ORIG_HEAD", "logs", "info", "exclude", "attributes", "alternates", "commondir", "gitdir",
	"worktrees", "modules", "rebase-merge", "git-rebase-todo", "sequencer", "todo", "locked",
	"config.worktree", "description", ".claude", "settings.json", "commands", ".vscode", ".bashrc",
	".mcp.json", "home", "u", ".ssh", "authorized_keys", ".config", "git", ".local", "lib",
	"python3.11", "site-packages", "evil.pth", "sitecustomize.py", "bin", "proj", "tmp", "a", "b",
	".GIT", "Hooks", "CONFIG", "node_modules", "FETCH_HEAD", "packed-refs", "sharedindex.x", "x",
	/* Several components at once, so that deep rules are reached soon. */
	"home/u", ".local/lib/python3.12/site-packages", ".local/lib/pythonx/site-packages/pkg",
	".git/worktrees/w", ".git/modules/s", ".claude/commands", ".config/systemd/user", "site.pth",
	"usercustomize", "python3.13", ".git/objects/info",
};
#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

struct input {
	const uint8_t *p;
	size_t n;
};

static bool take(struct input *in, uint8_t *ret)
{
	if (in->n == 0)
		return false;
	*ret = *in->p++;
	in->n--;
	return true;
}

/* A NUL-terminated string from the input up to the next NUL (or the end). */
static char *take_string(struct input *in)
{
	const uint8_t *z = memchr(in->p, 0, in->n);
	size_t l = z ? (size_t)(z - in->p) : in->n;
	char *s = malloc(l + 1);
	if (!s)
		abort();
	memcpy(s, in->p, l);
	s[l] = '\0';
	in->p += l + (z ? 1 : 0);
	in->n -= l + (z ? 1 : 0);
	return s;
}

struct built {
	char *parent, *name, *root, *home;
	char *todo, *before;
	size_t todo_len, before_len;
};

static char *dup_prefix(const char *s, size_t n)
{
	char *r = malloc(n + 1);
	if (!r)
		abort();
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/* Structured: components from the vocabulary (a byte each, up to 0xff),
 * the name, then which prefixes of the parent are the root and $HOME. */
static void build_structured(struct input *in, struct built *b)
{
	char parent[2048];
	size_t len = 0;
	uint8_t c;
	size_t ends[64];
	size_t n = 0;
	while (take(in, &c) && c != 0xff && n < 60) {
		const char *v = vocab[c % NVOCAB];
		size_t vl = strlen(v);
		if (len + 1 + vl >= sizeof(parent))
			break;
		parent[len++] = '/';
		memcpy(parent + len, v, vl);
		len += vl;
		ends[n++] = len;
	}
	if (len == 0)
		parent[len++] = '/';
	parent[len] = '\0';
	b->parent = dup_prefix(parent, len);
	uint8_t nm = 0, r = 0, h = 0;
	take(in, &nm);
	take(in, &r);
	take(in, &h);
	b->name = dup_prefix(vocab[nm % NVOCAB], strlen(vocab[nm % NVOCAB]));
	size_t rk = n ? r % (n + 1) : 0;
	b->root = rk == 0 ? dup_prefix("/", 1) : dup_prefix(parent, ends[rk - 1]);
	size_t hk = h % (n + 2);
	if (hk == n + 1)
		b->home = NULL;
	else if (hk == 0)
		b->home = dup_prefix("/", 1);
	else
		b->home = dup_prefix(parent, ends[hk - 1]);
}

static void build_raw(struct input *in, struct built *b)
{
	b->parent = take_string(in);
	b->name = take_string(in);
	b->root = take_string(in);
	char *home = take_string(in);
	if (home[0] == '\0') {
		free(home);
		home = NULL;
	}
	b->home = home;
}

/* ---- the todo reference ------------------------------------------------------
 * Written from git's parser, independently of guard.c: per line, skip
 * spaces and tabs; exec is "exec" as a prefix, or "x" followed by a blank,
 * CR, NUL or the end. */

static size_t ref_todo(const char *s, size_t len)
{
	size_t line = 1;
	size_t i = 0;
	while (i <= len) {
		size_t e = i;
		while (e < len && s[e] != '\n')
			e++;
		size_t j = i;
		while (j < e && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (e - j >= 4 && s[j] == 'e' && s[j + 1] == 'x' && s[j + 2] == 'e' && s[j + 3] == 'c')
			return line;
		if (j < e && s[j] == 'x' &&
		    (j + 1 == e || s[j + 1] == ' ' || s[j + 1] == '\t' || s[j + 1] == '\r' || s[j + 1] == '\0'))
			return line;
		if (e == len)
			break;
		i = e + 1;
		line++;
	}
	return 0;
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 1;
	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

/* ---- the target ------------------------------------------------------------- */

static int decide(const struct guard_request *req, struct guard_verdict *v)
{
	memset(v, 0xa5, sizeof(*v));
	int r = guard_decide(req, v);
	CHECK(r == 0 || r == -EINVAL || r == -ENAMETOOLONG);
	if (r == 0) {
		CHECK(v->error == 0 || v->error == EACCES || v->error == EEXIST);
		if (v->error)
			CHECK(v->rule != NULL);
		if (v->error == EEXIST)
			CHECK(req->type != GUARD_TYPE_NONE &&
			      (req->op == GUARD_OP_MKDIR || req->op == GUARD_OP_MKNOD || req->op == GUARD_OP_SYMLINK ||
			       req->op == GUARD_OP_LINK_TO));
		CHECK((unsigned)v->new_repo <= GUARD_NEW_REPO_PARENT);
		if (v->new_repo != GUARD_NEW_REPO_NONE)
			CHECK(v->error == 0 && req->allow_new_repositories && !req->root_private);
		if (v->check_todo)
			CHECK(v->error == 0);
		if (v->rule)
			CHECK(strlen(v->rule) > 0 && !strchr(v->rule, '\n'));
	}
	return r;
}

static bool ci_has_component(const char *path, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = path; (p = strchr(p, '/')) != NULL;) {
		p++;
		size_t l = strcspn(p, "/");
		if (l == nl && strncasecmp(p, name, nl) == 0)
			return true;
	}
	return false;
}

/* Is parent/name in (or) the hooks folder of the deepest .git in parent? */
static bool in_hooks(const char *parent, const char *name)
{
	const char *after = NULL; /* the component after the deepest .git */
	for (const char *p = parent; (p = strchr(p, '/')) != NULL;) {
		p++;
		size_t l = strcspn(p, "/");
		if (l == 4 && strncasecmp(p, ".git", 4) == 0)
			after = p[l] == '/' ? p + l + 1 : name;
	}
	if (!after)
		return false;
	size_t l = strcspn(after, "/");
	return l == 5 && strncasecmp(after, "hooks", 5) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t op = 0, type = 0, flags = 0, seed = 0;
	take(&in, &op);
	take(&in, &type);
	take(&in, &flags);
	take(&in, &seed);

	struct built b = { 0 };
	if (flags & 0x80)
		build_structured(&in, &b);
	else
		build_raw(&in, &b);
	/* What is left: a todo and the todo before the run. */
	const uint8_t *z = memchr(in.p, 0xfe, in.n);
	b.todo_len = z ? (size_t)(z - in.p) : in.n;
	b.todo = dup_prefix((const char *)in.p, b.todo_len);
	b.before_len = z ? in.n - b.todo_len - 1 : 0;
	b.before = z ? dup_prefix((const char *)z + 1, b.before_len) : NULL;

	/* The full target, for the facts callback's check. */
	size_t pl = strlen(b.parent), nl = strlen(b.name);
	char *target = malloc(pl + nl + 2);
	if (!target)
		abort();
	memcpy(target, b.parent, pl);
	size_t tl = pl == 1 && b.parent[0] == '/' ? 0 : pl;
	target[tl] = '/';
	memcpy(target + tl + 1, b.name, nl + 1);

	struct facts_ctx fc = { .seed = seed * 2654435761u, .target = target };
	struct guard_request req = {
		.op = (enum guard_op)(op % (GUARD_OP_COUNT_ + 1)),
		.parent = b.parent,
		.name = b.name,
		.type = (enum guard_type)(type % 6),
		.root = (flags & 0x10) ? NULL : b.root,
		.root_private = flags & 1,
		.home = (flags & 0x20) ? NULL : b.home,
		.allow_git_config = flags & 2,
		.allow_new_repositories = flags & 4,
		.facts = fuzz_facts,
		.facts_data = &fc,
	};
	struct guard_verdict v, v2;
	int r = decide(&req, &v);
	CHECK(guard_op_name(req.op) != NULL);

	/* Same question, same answer. */
	CHECK(decide(&req, &v2) == r);
	if (r == 0)
		CHECK(v.error == v2.error && v.rule == v2.rule && v.new_repo == v2.new_repo &&
		      v.check_todo == v2.check_todo);

	if (r == 0) {
		/* The private /tmp allows everything. */
		if (req.root_private)
			CHECK(v.error == 0 && v.rule && strstr(v.rule, "private"));

		/* The settings only lift refusals. */
		struct guard_request lifted = req;
		lifted.allow_git_config = true;
		lifted.allow_new_repositories = true;
		CHECK(decide(&lifted, &v2) == 0);
		if (v.error == 0)
			CHECK(v2.error == 0);

		/* With facts that say nothing, the structural rules hold. */
		struct facts_ctx none = fc;
		none.none = true;
		struct guard_request plain = req;
		plain.facts_data = &none;
		CHECK(decide(&plain, &v2) == 0);
		if (!req.root_private) {
			if (ci_has_component(target, ".bashrc") || ci_has_component(target, ".vscode") ||
			    ci_has_component(target, ".mcp.json"))
				CHECK(v2.error != 0);
			if (!req.allow_new_repositories && in_hooks(b.parent, b.name))
				CHECK(v2.error != 0);
			if (!req.allow_new_repositories && strcasecmp(b.name, ".git") == 0 &&
			    (req.op == GUARD_OP_MKDIR || req.op == GUARD_OP_CREATE || req.op == GUARD_OP_SYMLINK ||
			     req.op == GUARD_OP_RENAME_TO || req.op == GUARD_OP_LINK_TO))
				CHECK(v2.error != 0);
		}
	}

	/* The todo checker agrees with the reference; before == todo hides
	 * every exec line while it has few distinct commands. */
	size_t t = guard_todo_exec_line(b.todo, b.todo_len, NULL, 0);
	CHECK(t == ref_todo(b.todo, b.todo_len));
	CHECK(t <= count_lines(b.todo, b.todo_len));
	size_t tb = guard_todo_exec_line(b.todo, b.todo_len, b.before, b.before_len);
	CHECK(tb == 0 || tb >= t);
	if (t == 0)
		CHECK(tb == 0);
	if (count_lines(b.todo, b.todo_len) <= 256)
		CHECK(guard_todo_exec_line(b.todo, b.todo_len, b.todo, b.todo_len) == 0);

	/* The other checked contents: a line is refused only when it is not
	 * in before, so the file against itself passes; the number is a
	 * line of the file. */
	for (int k = GUARD_CONTENT_STRATEGY; k <= GUARD_CONTENT_PACKED_REFS; k++) {
		size_t c = guard_content_bad_line((enum guard_content)k, b.todo, b.todo_len, NULL, 0);
		CHECK(c <= count_lines(b.todo, b.todo_len));
		CHECK(guard_content_bad_line((enum guard_content)k, b.todo, b.todo_len, b.todo, b.todo_len) == 0);
		size_t cb = guard_content_bad_line((enum guard_content)k, b.todo, b.todo_len, b.before, b.before_len);
		CHECK(cb == 0 || cb >= c);
		if (c == 0)
			CHECK(cb == 0);
	}
	CHECK(guard_content_bad_line(GUARD_CONTENT_TODO, b.todo, b.todo_len, NULL, 0) == t);
	/* The index reader takes any bytes: no crash, and a file is never
	 * refused against itself unless it is no index at all. */
	size_t ib = guard_index_bad_entry(b.todo, b.todo_len, NULL, 0);
	size_t is = guard_index_bad_entry(b.todo, b.todo_len, b.todo, b.todo_len);
	CHECK(is == 0 || is == 1);
	CHECK(ib == 0 || ib >= is);
	(void)guard_index_bad_entry(b.todo, b.todo_len, b.before, b.before_len);

	free(target);
	free(b.parent);
	free(b.name);
	free(b.root);
	free(b.home);
	free(b.todo);
	free(b.before);
	return 0;
}
