/* The violation store: lists by kind, count, clear, and the bound
 * (max_violations keeps the newest N and counts the dropped ones). */
#include "common.h"

#include <sys/socket.h>
#include <sys/un.h>

static size_t list_n(srt_runtime *rt, enum srt_violation_kind kind, bool *only_kind, uint64_t *dropped)
{
	struct srt_violation_list *l = NULL;
	if (srt_runtime_violations(rt, kind, &l) != 0 || !l) {
		*only_kind = false;
		return SIZE_MAX;
	}
	size_t n = l->n;
	*only_kind = true;
	for (size_t i = 0; i < l->n; i++)
		if (kind != SRT_VIOLATION_ANY && srt_violation_at(l, i)->kind != kind)
			*only_kind = false;
	if (dropped)
		*dropped = l->dropped;
	srt_violation_list_free(l);
	return n;
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;
	char cmd[4096];

	plan(22);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	const char *const dd[] = { "blocked.test", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	cfg.denied_domains = dd;
	rt = runtime_new_or_bail(&cfg, &o);
	ok(srt_runtime_violation_count(rt) == 0, "a new runtime has no violations");

	/* A unix socket of the host, which the sandbox sees but may not
	 * connect to (no allowUnixSockets entry): bound, so the file is a
	 * socket; the connect broker refuses it before any listen matters. */
	struct sockaddr_un ua = { .sun_family = AF_UNIX };
	if (strlen(t.root) + sizeof("/v.sock") > sizeof(ua.sun_path))
		die("the tree's folder is too long for a unix socket");
	memcpy(ua.sun_path, t.root, strlen(t.root));
	memcpy(ua.sun_path + strlen(t.root), "/v.sock", sizeof("/v.sock"));
	int us = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (us < 0 || bind(us, (struct sockaddr *)&ua, sizeof(ua)) < 0 || listen(us, 1) < 0)
		die("a host unix socket");

	/* one violation of each kind we can cause hermetically */
	snprintf(cmd, sizeof(cmd),
		 "echo > '%s/fs-denied' 2>/dev/null; "
		 "/usr/bin/python3 -c 'import socket; s = socket.create_connection((\"127.0.0.1\", 3128)); "
		 "s.sendall(b\"GET http://blocked.test/ HTTP/1.1\\r\\nHost: blocked.test\\r\\n\\r\\n\"); s.recv(4096)'; "
		 "/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"%s\")' 2>/dev/null; "
		 "exit 0", t.ro, ua.sun_path);
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	if (!ok(r == 0 && res->status == 0, "the command ran"))
		diag_err("srt_runtime_execute_shell", r, &e);
	uint64_t id = r == 0 ? res->sandbox_id : 0;
	if (r == 0)
		result_clear(&res);
	char target[600];
	snprintf(target, sizeof(target), "%s/fs-denied", t.ro);
	find_violation(rt, SRT_VIOLATION_FILESYSTEM, id, target, 2000, NULL);
	find_violation(rt, SRT_VIOLATION_NETWORK, id, "blocked.test:80", 2000, NULL);
	find_violation(rt, SRT_VIOLATION_UNIX_SOCKET, id, ua.sun_path, 2000, NULL);

	bool only;
	uint64_t dropped = 99;
	size_t n_any = list_n(rt, SRT_VIOLATION_ANY, &only, &dropped);
	ok(n_any != SIZE_MAX && n_any >= 3, "ANY lists every violation (%zu)", n_any);
	ok(dropped == 0, "nothing dropped (%llu)", (unsigned long long)dropped);
	size_t n_fs = list_n(rt, SRT_VIOLATION_FILESYSTEM, &only, NULL);
	ok(n_fs == 1 && only, "FILESYSTEM lists the write only (%zu)", n_fs);
	size_t n_net = list_n(rt, SRT_VIOLATION_NETWORK, &only, NULL);
	ok(n_net == 1 && only, "NETWORK lists the connection only (%zu)", n_net);
	size_t n_unix = list_n(rt, SRT_VIOLATION_UNIX_SOCKET, &only, NULL);
	ok(n_unix == 1 && only, "UNIX_SOCKET lists the refused connect only (%zu)", n_unix);
	size_t n_proc = list_n(rt, SRT_VIOLATION_PROCESS, &only, NULL);
	ok(n_proc == 0, "PROCESS lists nothing (%zu)", n_proc);
	ok(srt_runtime_violation_count(rt) == n_any, "violation_count equals the ANY list (%zu, %zu)",
	   srt_runtime_violation_count(rt), n_any);
	if (n_any != 3 || n_fs != 1 || n_net != 1 || n_unix != 1)
		dump_violations(rt);

	struct srt_violation_list *l = NULL;
	bool ordered = srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l) == 0 && l && l->n > 0;
	for (size_t i = 0; ordered && i < l->n; i++) {
		const struct srt_violation *v = srt_violation_at(l, i), *prev = i > 0 ? srt_violation_at(l, i - 1) : NULL;
		if (v->seq == 0 || (prev && (v->seq <= prev->seq || v->time_ns < prev->time_ns)) || v->sandbox_id != id)
			ordered = false;
	}
	ok(ordered, "oldest first: seq and time increase, every one is the sandbox's");
	bool unix_ok = false;
	for (size_t i = 0; l && i < l->n; i++) {
		const struct srt_violation *v = srt_violation_at(l, i);
		if (v->kind == SRT_VIOLATION_UNIX_SOCKET)
			unix_ok = v->operation && strcmp(v->operation, "connect") == 0 && v->source == SRT_SOURCE_OBSERVER;
	}
	ok(unix_ok, "the unix socket violation: operation \"connect\", source observer");
	close(us);
	unlink(ua.sun_path);
	srt_violation_list_free(l);

	/* the list is a copy: clearing does not touch it */
	l = NULL;
	srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l);
	srt_runtime_clear_violations(rt);
	ok(l && l->n == n_any && srt_violation_at(l, 0)->target && srt_violation_at(l, 0)->target[0], "a list stays valid after clear (%zu entries)",
	   l ? l->n : 0);
	srt_violation_list_free(l);
	ok(srt_runtime_violation_count(rt) == 0, "clear: count 0");
	n_any = list_n(rt, SRT_VIOLATION_ANY, &only, &dropped);
	ok(n_any == 0, "clear: empty list (%zu)", n_any);
	srt_runtime_free(rt);

	/* the bound: keep 3, drop the 2 oldest */
	rt = NULL;
	o.max_violations = 3;
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_config(&cfg, &o, &rt, &e);
	if (!ok(r == 0, "a runtime with max_violations 3")) {
		diag_err("srt_runtime_new_from_config", r, &e);
		skip(7, "no runtime");
		goto out;
	}
	snprintf(cmd, sizeof(cmd), "for i in 1 2 3 4 5; do echo > '%s/f'$i; done 2>/dev/null; exit 0", t.ro);
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	ok(r == 0 && res->status == 0, "5 denied writes ran");
	if (r == 0)
		result_clear(&res);
	snprintf(target, sizeof(target), "%s/f5", t.ro);
	find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, target, 2000, NULL);
	l = NULL;
	r = srt_runtime_violations(rt, SRT_VIOLATION_ANY, &l);
	ok(r == 0 && l && l->n == 3, "3 stored (%zu)", l ? l->n : 0);
	ok(l && l->dropped == 2, "2 dropped (%llu)", l ? (unsigned long long)l->dropped : 0ULL);
	bool newest = l && l->n == 3;
	for (size_t i = 0; newest && i < 3; i++) {
		snprintf(target, sizeof(target), "%s/f%zu", t.ro, i + 3);
		newest = srt_violation_at(l, i)->target && strcmp(srt_violation_at(l, i)->target, target) == 0;
	}
	ok(newest, "the newest three are kept, oldest first (f3, f4, f5)");
	ok(l && l->n == 3 && srt_violation_at(l, 0)->seq == 3 && srt_violation_at(l, 2)->seq == 5, "their seq are 3..5 (%llu..%llu)",
	   l && l->n ? (unsigned long long)srt_violation_at(l, 0)->seq : 0ULL, l && l->n ? (unsigned long long)srt_violation_at(l, l->n - 1)->seq : 0ULL);
	if (!newest || !l || l->n != 3 || l->dropped != 2)
		dump_violations(rt);
	srt_violation_list_free(l);
	ok(srt_runtime_violation_count(rt) == 3, "count 3 (%zu)", srt_runtime_violation_count(rt));
	srt_runtime_reset(rt);
	n_any = list_n(rt, SRT_VIOLATION_ANY, &only, &dropped);
	ok(n_any == 0 && dropped == 0, "reset clears the store and the dropped count (%zu, %llu)", n_any,
	   (unsigned long long)dropped);
out:
	srt_runtime_free(rt);
	tree_remove(&t);
	return done_testing();
}
