/* config -> policy: normalize paths, expand globs, validate domains, find protected paths in writable roots. */
#include "policy/policy.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/glob.h"
#include "policy/mandatory.h"
#include "policy/path.h"

struct builder {
	struct policy *p;
	size_t cap;
	const struct policy_env *env;
	struct srt_error *err;
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
	if (pos->file && pos->line > 0)
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

static int add_rule_as(struct builder *b, const char *path, enum policy_path_kind kind,
		       bool mandatory, bool canonical, const char *source, const char *pattern)
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
	if (!r->path || !r->source || (pattern && !r->pattern)) {
		free(r->path);
		free(r->source);
		free(r->pattern);
		return srt_error_set(b->err, -ENOMEM, "out of memory");
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
		    bool mandatory, const char *source, const char *pattern)
{
	return add_rule_as(b, path, kind, mandatory, false, source, pattern);
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
	int r = add_rule(g->b, path, g->kind, false, g->source, g->pattern);
	return r < 0 ? r : 0;
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
		int r = add_rule(b, norm, kind, false, source, NULL);
		if (r < 0)
			return r;
	}
	return 0;
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
	return (int)x->kind - (int)y->kind;
}

struct scan_ctx {
	struct builder *b;
	const char *root;
};

static int on_protected_path(const char *path, bool exists, void *userdata)
{
	(void)exists;
	struct scan_ctx *s = userdata;
	return add_rule_as(s->b, path, POLICY_DENY_WRITE, true, true,
			   "built-in: protected in every writable folder", NULL);
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
			if (!best || len > best_len || (len == best_len && is_deny(r) && !is_deny(best))) {
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
			if (relevant(r, write) && (!best || (is_deny(r) && !is_deny(best))))
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
	p->allow_nested_user_namespaces = cfg->allow_nested_user_namespaces;
	p->enable_weaker_nested_sandbox = cfg->enable_weaker_nested_sandbox;
	p->allow_all_unix_sockets = cfg->network.allow_all_unix_sockets;
	p->mandatory_deny_search_depth = cfg->mandatory_deny_search_depth;
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

	if ((r = add_list(&b, &cfg->deny_read, POLICY_DENY_READ)) < 0 ||
	    (r = add_list(&b, &cfg->allow_read, POLICY_ALLOW_READ)) < 0 ||
	    (r = add_list(&b, &cfg->allow_write, POLICY_ALLOW_WRITE)) < 0 ||
	    (r = add_list(&b, &cfg->deny_write, POLICY_DENY_WRITE)) < 0)
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
				  "built-in: the current directory, inside the private /tmp", NULL)) < 0)
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
		struct scan_ctx s = { .b = &b, .root = root };
		r = mandatory_scan(root, p->mandatory_deny_search_depth, p->allow_git_config, on_protected_path, &s);
		if (r < 0) {
			if (!err || !err->code)
				srt_error_set(err, r, "cannot scan writable folder %s: %s", root, strerror(-r));
			goto fail;
		}
	}
	for (size_t i = 0; i < cfg->files.n; i++) {
		if ((r = add_rule(&b, cfg->files.v[i], POLICY_DENY_WRITE, true,
				  "built-in: settings file srt loaded", NULL)) < 0)
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
			continue;
		}
		p->rules[w++] = p->rules[i];
	}
	p->n_rules = w;
	p->sorted = true;

	*ret = p;
	return 0;
oom:
	r = srt_error_set(err, -ENOMEM, "out of memory");
fail:
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
	free(p->bwrap_path);
	strv_clear(&p->settings_files);
	strv_clear(&p->notes);
	strv_clear(&p->ignored);
	strv_clear(&p->unmatched_globs);
	free(p);
}
