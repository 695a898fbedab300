/* policy -> mount plan: the list of mount operations that builds the sandbox's view of the file system. */
#include "linux/mountplan.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/mandatory.h"
#include "policy/path.h"

/* A node is a path where the view may change: every rule path. (The
 * folders above a protected path inside a writable folder are the write
 * guard's to keep: it refuses renaming them away.) */
struct node {
	char *path;
	const struct policy_path_rule *rule;
};

struct nodes {
	struct node *v;
	size_t n, cap;
};

static int nodes_add(struct nodes *ns, const char *path, const struct policy_path_rule *rule)
{
	if (ns->n == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 64;
		void *v = realloc(ns->v, cap * sizeof(*ns->v));
		if (!v)
			return -ENOMEM;
		ns->v = v;
		ns->cap = cap;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	ns->v[ns->n++] = (struct node){ .path = copy, .rule = rule };
	return 0;
}

static int node_cmp(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	int c = path_order(x->path, y->path);
	if (c)
		return c;
	/* The rules at one path in the order
	 * of their kind (denyRead, allowRead, allowWrite, denyWrite): the
	 * first node at a path is what the plan looks at, so that it never
	 * depends on the order qsort leaves equal items in. The explanation
	 * (policy_explain_path) takes the same rule. */
	if (x->rule->kind != y->rule->kind)
		return (int)x->rule->kind - (int)y->rule->kind;
	return strcmp(x->rule->source, y->rule->source);
}

static int plan_add(struct mount_plan *plan, size_t *cap, enum mount_op_kind kind, const char *path,
		    bool dir, const char *why)
{
	if (plan->n_ops == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		void *v = realloc(plan->ops, c * sizeof(*plan->ops));
		if (!v)
			return -ENOMEM;
		plan->ops = v;
		*cap = c;
	}
	(void)dir;
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	plan->ops[plan->n_ops++] = (struct mount_op){ .kind = kind, .path = copy,
						      .why = why };
	return 0;
}

static char *parent_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

/* Paths the sandbox gets fresh from bwrap: host rules there mean nothing. */
static bool under_special(const char *path)
{
	return path_is_inside(path, "/proc") || path_is_inside(path, "/dev");
}

/* Is the host's path writable in the sandbox's view? Only an allowWrite
 * rule makes it so: the private /tmp is writable, but it is not the host's
 * /tmp, and host paths brought into it keep their own rules. */
static bool host_writable(const struct policy *p, const char *path)
{
	const struct policy_path_rule *r = policy_write_rule(p, path);
	return r && r->kind == POLICY_ALLOW_WRITE;
}

/* Does the sandbox see the host's path itself here? Not inside a hidden
 * folder, and not inside the private /tmp unless an allow rule brought
 * that part of the host's /tmp in (what the overlay shows beneath the
 * private /tmp is a view of it, not the path: see shown()). */
static bool visible(const struct policy *p, const struct mount_plan *plan, const char *path)
{
	if (!policy_path_readable(p, path))
		return false;
	if (!plan->private_tmp || !path_is_inside(path, "/tmp"))
		return true;
	/* An allow rule at path or above it, below /tmp itself. */
	const struct policy_path_rule *r = policy_read_rule(p, path);
	if (r && (r->kind == POLICY_ALLOW_READ || r->kind == POLICY_ALLOW_WRITE) && r->exists &&
	    strcmp(r->path, "/tmp") != 0)
		return true;
	r = policy_write_rule(p, path);
	return r && r->kind == POLICY_ALLOW_WRITE && r->exists && strcmp(r->path, "/tmp") != 0;
}

/* Can the sandbox read what the host has at path, as itself or through
 * the private /tmp's overlay? Then a denyRead there needs a mount. */
static bool shown(const struct policy *p, const struct mount_plan *plan, const char *path)
{
	if (plan->tmp_overlay && path_is_inside(path, "/tmp"))
		return policy_path_readable(p, path);
	return visible(p, plan, path);
}

static bool exists_lstat(const char *path, struct stat *st)
{
	return lstat(path, st) == 0;
}

/* The missing protected path X: no mount can cover a name that is not
 * there, and srt puts nothing in the user's folders for it. The write
 * guard refuses its creation, and the creation of anything that would
 * lead to it (a link or a renamed folder on its way), at the time of the
 * call (see policy/guard.h and linux/writeguard.h). */
static int hold_missing(struct mount_plan *plan, const char *X, const char *why)
{
	plan->guarded_missing++;
	if (plan->guarded_missing <= 64 &&
	    strv_pushf(&plan->notes, "%s: %s does not exist; the write guard refuses its creation", why, X) < 0)
		return -ENOMEM;
	return 0;
}

int mount_plan_build(const struct policy *p, struct mount_plan **ret, struct srt_error *err)
{
	struct mount_plan *plan = calloc(1, sizeof(*plan));
	struct nodes ns = { 0 };
	size_t cap = 0;
	int r = 0;
	if (!plan)
		return srt_error_set(err, -ENOMEM, "out of memory");
	plan->private_tmp = !p->tmp_is_host;
	plan->resolver_files = p->transparent;
	plan->tmp_overlay = plan->private_tmp && policy_path_readable(p, "/tmp");
	plan->host_proc = p->enable_weaker_nested_sandbox;
	plan->root_writable = host_writable(p, "/");

	for (size_t i = 0; i < p->n_rules; i++) {
		const struct policy_path_rule *rule = &p->rules[i];
		/* Everything would be hidden, the command too (policy_build
		 * refuses this): never a plan that hides nothing instead. */
		if (rule->kind == POLICY_DENY_READ && strcmp(rule->path, "/") == 0) {
			r = srt_error_set(err, -EINVAL, "%s: denyRead / would hide the whole file system, "
					  "including the command", rule->source);
			goto fail;
		}
		if (strcmp(rule->path, "/") == 0 || under_special(rule->path))
			continue;
		if ((r = nodes_add(&ns, rule->path, rule)) < 0)
			goto oom;
	}
	if (ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), node_cmp);

	/* denyRead /tmp: nothing of the host's /tmp may show through the
	 * private one. srt-init takes a hidden /tmp to mean its private
	 * /tmp without the host's beneath (an empty tmpfs, writable as
	 * ever): hiding it again would only make it unwritable. First, so
	 * that what is re-exposed inside comes after it. */
	if (plan->private_tmp && !plan->tmp_overlay) {
		const struct policy_path_rule *t = policy_read_rule(p, "/tmp");
		if ((r = plan_add(plan, &cap, MOUNT_HIDE_DIR, "/tmp", true, t ? t->source : "denyRead")) < 0)
			goto oom;
	}

	const char *covered = NULL; /* a hidden dir or a file covers everything below */
	for (size_t i = 0; i < ns.n; i++) {
		const struct node *nd = &ns.v[i];
		if (i > 0 && strcmp(ns.v[i - 1].path, nd->path) == 0)
			continue; /* one node per path; the first (a rule) is the decider */
		if (covered && path_is_inside(nd->path, covered) && strcmp(nd->path, covered) != 0)
			continue;
		covered = NULL;

		const char *X = nd->path;
		if (plan->private_tmp && strcmp(X, "/tmp") == 0)
			continue;
		const struct policy_path_rule *rr = policy_read_rule(p, X);
		const struct policy_path_rule *wr = policy_write_rule(p, X);
		/* The rule the view comes from: what hides it, what protects
		 * it, else the first rule at the path (an allow rule when there
		 * is one: see node_cmp). */
		const char *why = nd->rule->source;
		bool R = policy_path_readable(p, X);
		bool W = host_writable(p, X);
		_cleanup_free_ char *parent = parent_of(X);
		if (!parent)
			goto oom;
		bool Rp = visible(p, plan, parent);
		bool Wp = host_writable(p, parent);
		/* The policy looked at every rule path already; a protected
		 * path that exists gets a fresh look (is it still there?). */
		struct stat st;
		memset(&st, 0, sizeof(st));
		bool exists = nd->rule->exists;
		bool is_dir = nd->rule->is_dir;
		bool is_link = nd->rule->is_symlink;
		if (!R) {
			if (rr)
				why = rr->source;
			/* Rp && !R: a denyRead at X itself. In a writable
			 * folder the command could create X and read it, or
			 * read what appears there: the guard refuses its
			 * creation, like a missing write-protected path. */
			if (Rp && Wp) {
				if (is_link) {
					r = srt_error_set(err, -ELOOP,
							  "cannot hide %s (%s): it is a symbolic link inside a writable "
							  "folder, and a mount cannot cover a link; remove the link or do "
							  "not allow writing to %s", X, why, parent);
					goto fail;
				}
				if (exists && !exists_lstat(X, &st))
					exists = false;
				if (!exists) {
					if ((r = hold_missing(plan, X, why)) < 0)
						goto oom;
					continue;
				}
			}
			if (!exists || !shown(p, plan, parent))
				continue; /* nothing to hide, or already hidden */
			/* A link in the host's /tmp that another user made (the
			 * sticky /tmp keeps it theirs): a mount cannot cover the
			 * link, only what it leads to when srt-init mounts, which
			 * its owner may change by then (a dangling link would
			 * stop the run). What it leads to keeps its own rules;
			 * only the link's text shows. */
			if (is_link && plan->tmp_overlay && path_is_inside(X, "/tmp") && !Rp &&
			    exists_lstat(X, &st) && st.st_uid != geteuid() && st.st_uid != 0) {
				strv_pushf(&plan->notes, "%s: %s is a symbolic link of uid %u in the host's /tmp; "
					   "a mount cannot cover it: what it leads to keeps its own rules", why, X,
					   (unsigned)st.st_uid);
				continue;
			}
			if (is_dir) {
				if ((r = plan_add(plan, &cap, MOUNT_HIDE_DIR, X, true, why)) < 0)
					goto oom;
			} else {
				if ((r = plan_add(plan, &cap, MOUNT_HIDE_FILE, X, false, why)) < 0)
					goto oom;
				covered = X;
			}
			continue;
		}
		if (!Rp) {
			/* Re-exposed inside a hidden directory or the private /tmp:
			 * only what an allow rule names. */
			if (!nd->rule || (nd->rule->kind != POLICY_ALLOW_READ &&
					  nd->rule->kind != POLICY_ALLOW_WRITE))
				continue;
			if (!exists) {
				strv_pushf(&plan->notes, "%s: %s does not exist; nothing to expose", why, X);
				continue;
			}
			if ((r = plan_add(plan, &cap, W ? MOUNT_BIND_RW : MOUNT_BIND_RO, X, false, why)) < 0)
				goto oom;
			continue;
		}
		if (W == Wp && nd->rule)
			continue; /* the view already is what the rule asks */
		if (!W && Wp) {
			/* Write protection inside a writable folder. */
			if (wr)
				why = wr->source;
			if (is_link) {
				/* No mount covers a link; the guard refuses
				 * replacing it and writing through it. */
				plan->guarded_missing++;
				strv_pushf(&plan->notes, "%s: %s is a symbolic link; the write guard refuses "
					   "replacing it and writing through it", why, X);
				continue;
			}
			if (exists && !exists_lstat(X, &st))
				exists = false;
			if (exists && !S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
				st.st_mode = is_dir ? S_IFDIR : S_IFREG;
			if (exists) {
				if ((r = plan_add(plan, &cap, MOUNT_BIND_RO, X, false, why)) < 0)
					goto oom;
				if (!is_dir)
					covered = plan->ops[plan->n_ops - 1].path; /* nothing lives below a file */
				continue;
			}
			if ((r = hold_missing(plan, X, why)) < 0)
				goto oom;
			continue;
		}
		if (!exists) {
			if (W && !Wp)
				strv_pushf(&plan->notes, "%s: %s does not exist; it stays unwritable", why, X);
			continue;
		}
		if ((r = plan_add(plan, &cap, W ? MOUNT_BIND_RW : MOUNT_BIND_RO, X, false, why)) < 0)
			goto oom;
	}

	/* A writable mount can only be made from a writable one inside the
	 * sandbox's user namespace: the roots of writable trees whose parent
	 * is read-only on the host side are bound by bwrap first. */
	for (size_t i = 0; i < plan->n_ops; i++) {
		struct mount_op *op = &plan->ops[i];
		if (op->kind != MOUNT_BIND_RW)
			continue;
		_cleanup_free_ char *parent = parent_of(op->path);
		if (!parent)
			goto oom;
		const struct policy_path_rule *pw = policy_write_rule(p, parent);
		op->host_rw_root = !pw || pw->kind != POLICY_ALLOW_WRITE;
	}

	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i].path);
	free(ns.v);
	*ret = plan;
	return 0;
oom:
	r = srt_error_set(err, -ENOMEM, "out of memory");
fail:
	for (size_t i = 0; i < ns.n; i++)
		free(ns.v[i].path);
	free(ns.v);
	mount_plan_free(plan);
	return r;
}

void mount_plan_free(struct mount_plan *plan)
{
	if (!plan)
		return;
	for (size_t i = 0; i < plan->n_ops; i++)
		free(plan->ops[i].path);
	free(plan->ops);
	strv_clear(&plan->notes);
	free(plan);
}

void mount_plan_print(const struct mount_plan *plan, FILE *out)
{
	static const char *const names[] = {
		[MOUNT_BIND_RW] = "writable",
		[MOUNT_BIND_RO] = "read-only",
		[MOUNT_HIDE_DIR] = "hidden dir",
		[MOUNT_HIDE_FILE] = "hidden file",
	};
	fprintf(out, "mount plan:\n");
	fprintf(out, "  %-12s /%s\n", plan->root_writable ? "writable" : "read-only", "");
	fprintf(out, "  %-12s /dev\n", "fresh");
	fprintf(out, "  %-12s /proc%s\n", plan->host_proc ? "host" : "fresh",
		plan->host_proc ? " (enableWeakerNestedSandbox)" : "");
	if (plan->private_tmp)
		fprintf(out, "  %-12s /tmp%s\n", "private",
			plan->tmp_overlay ? " (over the host's /tmp, read-only beneath; empty where overlayfs cannot be mounted)"
					  : " (empty)");
	for (size_t i = 0; i < plan->n_ops; i++) {
		const struct mount_op *op = &plan->ops[i];
		fprintf(out, "  %-12s %s  <- %s\n", names[op->kind], op->path, op->why);
	}
	if (plan->resolver_files) {
		fprintf(out, "  %-12s /etc/resolv.conf  <- network.mode transparent (nameserver 127.0.0.1)\n", "srt's own");
		fprintf(out, "  %-12s /etc/hosts  <- network.mode transparent (localhost only)\n", "srt's own");
	}
	for (size_t i = 0; i < plan->notes.n; i++)
		fprintf(out, "  note: %s\n", plan->notes.v[i]);
}

int mount_tmp_report_read(const void *payload, size_t len, struct mount_tmp_report *ret)
{
	if (!payload || len < MOUNT_TMP_REPORT_HEAD)
		return -EINVAL;
	const char *p = payload;
	memcpy(&ret->fallback_errno, p + 4, 4);
	memcpy(&ret->changed, p + 8, 4);
	ret->names = p + MOUNT_TMP_REPORT_HEAD;
	ret->names_len = len - MOUNT_TMP_REPORT_HEAD;
	return 0;
}

const char *mount_tmp_report_next(const struct mount_tmp_report *r, size_t *off)
{
	if (*off >= r->names_len)
		return NULL;
	const char *q = r->names + *off;
	size_t left = r->names_len - *off;
	size_t l = strnlen(q, left);
	if (l == left)
		return NULL;
	*off += l + 1;
	return q;
}
