/* Resources of a runtime: settings paths resolved again for each sandbox
 * (a folder made after the runtime, a folder replaced by a link); running
 * out of descriptors or memory fails new sandboxes with -EMFILE or -ENOMEM
 * and leaves running ones alone; srt_runtime_free leaves no thread behind
 * (name lookups, blocking asks). Folders of runtimes that are gone:
 * test_rundir.c. */
#include "common.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* ---- small helpers ---------------------------------------------------------- */

static struct srt_runtime_options options_for(const struct tree *t)
{
	struct srt_runtime_options o;
	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.home = t->home;
	o.cwd = t->proj;
	return o;
}

static srt_runtime *runtime_or_bail(const char *const *allow_write, const char *const *allowed_domains,
				    const struct srt_runtime_options *o)
{
	struct srt_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.size = sizeof(cfg);
	cfg.allow_write = allow_write;
	cfg.allowed_domains = allowed_domains;
	struct srt_error e;
	memset(&e, 0, sizeof(e));
	srt_runtime *rt = NULL;
	int r = srt_runtime_new_from_config(&cfg, o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_config", r, &e);
		printf("Bail out! no runtime\n");
		exit(1);
	}
	return rt;
}

/* One sandbox of cmd: 0 with the status and stdout, or the error. */
struct run {
	int r;
	int status;
	char out[512];
	char err[512];
	char message[1024];
};

static void run(srt_runtime *rt, const char *cmd, struct run *x)
{
	struct srt_error e;
	struct srt_result *res = NULL;
	memset(&e, 0, sizeof(e));
	memset(x, 0, sizeof(*x));
	x->status = -1;
	x->r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	snprintf(x->message, sizeof(x->message), "%s", e.message);
	if (x->r == 0 && res) {
		x->status = res->status;
		snprintf(x->out, sizeof(x->out), "%s", res->out ? res->out : "");
		snprintf(x->err, sizeof(x->err), "%s", res->err ? res->err : "");
	}
	srt_result_free(res);
}

static void diag_run(const char *what, const struct run *x)
{
	diag("%s: %d (%s) status %d\nmessage: %s\nstdout: %s\nstderr: %s", what, x->r,
	     x->r < 0 ? strerror(-x->r) : "-", x->status, x->message, x->out, x->err);
}

static bool file_has(const char *path, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

static int count_tasks(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- 1. paths follow the file system ------------------------------------------ */

static void test_paths(void)
{
	struct tree t;
	tree_make(&t);
	char later[400], out[420], deep[400], sub[400], f[500], victim[500];
	snprintf(later, sizeof(later), "%s/later", t.proj);
	snprintf(out, sizeof(out), "%s/later/out", t.proj);
	snprintf(deep, sizeof(deep), "%s/deep", t.home);
	snprintf(sub, sizeof(sub), "%s/sub", t.proj);
	if (mkdir(sub, 0755) < 0)
		die("mkdir sub");
	/* later/out and ~/deep/out cannot be made when the runtime is (no
	 * parent): read-only then, as srt would have them. */
	const char *const aw[] = { ".", "./sub", "./later/out", "~/deep/out", NULL };
	struct srt_runtime_options o = options_for(&t);
	srt_runtime *rt = runtime_or_bail(aw, NULL, &o);

	if (mkdir(later, 0755) < 0 || mkdir(out, 0755) < 0 || mkdir(deep, 0755) < 0)
		die("mkdir later");
	struct run x;
	run(rt, "echo hi > later/out/f && echo wrote", &x);
	snprintf(f, sizeof(f), "%s/f", out);
	if (!ok(x.r == 0 && x.status == 0 && file_has(f, "hi\n"),
		"an allowWrite folder made after the runtime is writable in the next sandbox, and the file is "
		"on the host"))
		diag_run("write into later/out", &x);
	/* ~/deep/out itself is made at the sandbox's start, its parent being
	 * there now (as srt makes it for a run). */
	char cmd[600];
	snprintf(f, sizeof(f), "%s/out/g", deep);
	snprintf(cmd, sizeof(cmd), "echo deep > '%s'", f);
	run(rt, cmd, &x);
	if (!ok(x.r == 0 && x.status == 0 && file_has(f, "deep\n"),
		"a \"~/...\" allowWrite folder whose parent appeared is made and writable at the next start"))
		diag_run("write into ~/deep/out", &x);

	run(rt, "echo one > sub/f1", &x);
	snprintf(f, sizeof(f), "%s/f1", sub);
	if (!ok(x.r == 0 && x.status == 0 && file_has(f, "one\n"), "a write into ./sub works while it is a folder"))
		diag_run("write into sub", &x);
	/* Between two sandboxes, the folder becomes a link out of every
	 * writable folder: judged as it is at the next start. */
	unlink(f);
	if (rmdir(sub) < 0 || symlink(t.ro, sub) < 0)
		die("swap sub");
	run(rt, "echo two > sub/f2 && echo wrote", &x);
	snprintf(victim, sizeof(victim), "%s/f2", t.ro);
	if (!ok(x.r == -ELOOP && strstr(x.message, "sub") && access(victim, F_OK) < 0,
		"the same entry through a link planted in a writable folder is refused at the next start "
		"(-ELOOP, nothing written where it leads)"))
		diag_run("write through the link", &x);
	unlink(sub);
	if (mkdir(sub, 0755) < 0)
		die("mkdir sub again");
	run(rt, "echo three > sub/f3", &x);
	snprintf(f, sizeof(f), "%s/f3", sub);
	if (!ok(x.r == 0 && x.status == 0 && file_has(f, "three\n"), "a folder again: writable again"))
		diag_run("write into sub again", &x);
	srt_runtime_free(rt);
	tree_remove(&t);
}

/* ---- 2. out of descriptors ------------------------------------------------------- */

struct emfile_report {
	bool started;            /* the long sandbox started before the limit */
	int tries, emfile, worked, other;
	char other_text[4096];
	char emfile_text[1024];
	int nomem_tries, nomem, nomem_worked, nomem_other;
	bool nomem_skipped;
	char nomem_text[1024];
	int long_r, long_status;
	char long_out[512];
	int after_r, after_status;
	char after_out[512];
};

struct long_job {
	srt_runtime *rt;
	struct run x;
};

/* Bytes of address space mapped now. */
static long vm_size(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * sysconf(_SC_PAGESIZE);
}

static void *long_main(void *arg)
{
	struct long_job *j = arg;
	run(j->rt, "sleep 4; echo long-alive", &j->x);
	return NULL;
}

static volatile int started_count;

static void on_event(const struct srt_event *ev, void *data)
{
	(void)data;
	if (ev->type == SRT_EVENT_SANDBOX_START)
		__atomic_add_fetch(&started_count, 1, __ATOMIC_SEQ_CST);
}

/* In a child process: the limit is the process's, and the runtime's thread
 * shares it. */
static void emfile_child(const struct tree *t, struct emfile_report *rep)
{
	const char *const aw[] = { ".", NULL };
	struct srt_runtime_options o = options_for(t);
	srt_runtime *rt = runtime_or_bail(aw, NULL, &o);
	uint64_t token = 0;
	srt_runtime_subscribe(rt, on_event, NULL, &token);
	struct long_job j = { .rt = rt };
	pthread_t th;
	if (pthread_create(&th, NULL, long_main, &j) != 0)
		_exit(3);
	int64_t end = now_ms() + 10000;
	while (__atomic_load_n(&started_count, __ATOMIC_SEQ_CST) < 1 && now_ms() < end)
		sleep_ms(10);
	rep->started = __atomic_load_n(&started_count, __ATOMIC_SEQ_CST) >= 1;

	/* Every descriptor taken but `spare`, at several levels: each new
	 * sandbox fails with -EMFILE naming the limit, or runs. */
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	static const int spares[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 24, 32, 40, 48 };
	for (size_t i = 0; i < sizeof(spares) / sizeof(spares[0]); i++) {
		int fds[2048], n = 0, fd;
		low = old;
		low.rlim_cur = 512;
		if (setrlimit(RLIMIT_NOFILE, &low) < 0)
			_exit(4);
		while (n < 2048 && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
			fds[n++] = fd;
		for (int k = 0; k < spares[i] && n > 0; k++)
			close(fds[--n]);
		struct run x;
		run(rt, "echo new", &x);
		while (n > 0)
			close(fds[--n]);
		setrlimit(RLIMIT_NOFILE, &old);
		rep->tries++;
		if (x.r == -EMFILE && strstr(x.message, "RLIMIT_NOFILE")) {
			rep->emfile++;
			snprintf(rep->emfile_text, sizeof(rep->emfile_text), "%s", x.message);
		} else if (x.r == 0 && x.status == 0 && strcmp(x.out, "new\n") == 0) {
			rep->worked++;
		} else {
			rep->other++;
			size_t used = strlen(rep->other_text);
			snprintf(rep->other_text + used, sizeof(rep->other_text) - used,
				 "spare %d: %d (%s) status %d: %.300s %.200s\n", spares[i], x.r,
				 x.r < 0 ? strerror(-x.r) : "-", x.status, x.message, x.err);
		}
	}
	/* Out of memory: the address space capped at what is mapped now (and
	 * a little more). Not under AddressSanitizer, whose shadow memory
	 * the cap would break. */
	static const long extras[] = { 0, 16384, 65536, 262144 };
	long mapped = vm_size();
	rep->nomem_skipped = mapped <= 0 || mapped > (1L << 40);
	for (size_t i = 0; !rep->nomem_skipped && i < sizeof(extras) / sizeof(extras[0]); i++) {
		struct rlimit as_old, as;
		getrlimit(RLIMIT_AS, &as_old);
		as = as_old;
		as.rlim_cur = (rlim_t)(vm_size() + extras[i]);
		if (setrlimit(RLIMIT_AS, &as) < 0)
			_exit(5);
		struct run x;
		run(rt, "echo new", &x);
		setrlimit(RLIMIT_AS, &as_old);
		rep->nomem_tries++;
		if (x.r == -ENOMEM && strstr(x.message, "RLIMIT_AS")) {
			rep->nomem++;
			snprintf(rep->nomem_text, sizeof(rep->nomem_text), "%s", x.message);
		} else if (x.r == 0 && x.status == 0 && strcmp(x.out, "new\n") == 0) {
			rep->nomem_worked++;
		} else {
			rep->nomem_other++;
			size_t used = strlen(rep->other_text);
			snprintf(rep->other_text + used, sizeof(rep->other_text) - used,
				 "address space + %ld: %d (%s) status %d: %.300s %.200s\n", extras[i], x.r,
				 x.r < 0 ? strerror(-x.r) : "-", x.status, x.message, x.err);
		}
	}
	pthread_join(th, NULL);
	rep->long_r = j.x.r;
	rep->long_status = j.x.status;
	snprintf(rep->long_out, sizeof(rep->long_out), "%s", j.x.out);
	struct run y;
	run(rt, "echo after", &y);
	rep->after_r = y.r;
	rep->after_status = y.status;
	snprintf(rep->after_out, sizeof(rep->after_out), "%s", y.out);
	srt_runtime_free(rt);
}

static void test_emfile(void)
{
	struct tree t;
	tree_make(&t);
	struct emfile_report *rep = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		die("mmap");
	memset(rep, 0, sizeof(*rep));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		alarm(120);
		emfile_child(&t, rep);
		_exit(0);
	}
	int ws = 0;
	waitpid(pid, &ws, 0);
	bool clean = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
	if (!ok(clean && rep->started, "the child ran (exit %d, signal %d), its long sandbox started first",
		WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, WIFSIGNALED(ws) ? WTERMSIG(ws) : 0))
		diag("started: %d", rep->started);
	if (!ok(rep->tries > 0 && rep->other == 0 && rep->emfile > 0,
		"out of descriptors, a new sandbox fails with -EMFILE naming RLIMIT_NOFILE, or runs (%d tries: %d "
		"-EMFILE, %d ran, %d otherwise)", rep->tries, rep->emfile, rep->worked, rep->other))
		diag("otherwise: %s", rep->other_text);
	diag("the message: %s", rep->emfile_text);
	if (rep->nomem_skipped) {
		skip(1, "under AddressSanitizer: no cap on the address space");
	} else {
		if (!ok(rep->nomem_tries > 0 && rep->nomem_other == 0 && rep->nomem > 0,
			"out of memory, a new sandbox fails with -ENOMEM naming RLIMIT_AS, or runs (%d tries: %d "
			"-ENOMEM, %d ran, %d otherwise)", rep->nomem_tries, rep->nomem, rep->nomem_worked,
			rep->nomem_other))
			diag("otherwise: %s", rep->other_text);
		diag("the message: %s", rep->nomem_text);
	}
	ok(rep->long_r == 0 && rep->long_status == 0 && strcmp(rep->long_out, "long-alive\n") == 0,
	   "the sandbox that ran meanwhile ends as its command does (%d, status %d, \"%s\")", rep->long_r,
	   rep->long_status, rep->long_out);
	ok(rep->after_r == 0 && rep->after_status == 0 && strcmp(rep->after_out, "after\n") == 0,
	   "with descriptors again, new sandboxes run (%d, status %d)", rep->after_r, rep->after_status);
	munmap(rep, sizeof(*rep));
	tree_remove(&t);
}

/* ---- 3. no thread left behind ------------------------------------------------ */

static int asked;

/* A blocking ask callback: runs on a thread of the runtime's. */
static bool ask_allow(uint64_t sandbox_id, const char *host, uint16_t port, char *reason, size_t reason_size,
		      void *data)
{
	(void)sandbox_id;
	(void)host;
	(void)port;
	(void)reason;
	(void)reason_size;
	(void)data;
	__atomic_add_fetch(&asked, 1, __ATOMIC_SEQ_CST);
	sleep_ms(50);
	return true;
}

static void test_threads(void)
{
	struct tree t;
	tree_make(&t);
	struct http_server srv;
	http_server_start(&srv, "origin-body");
	int before = count_tasks();
	const char *const aw[] = { ".", NULL };
	/* A name, so that the proxy looks it up. */
	const char *const domains[] = { "localhost", NULL };
	struct srt_runtime_options o = options_for(&t);
	srt_runtime *rt = runtime_or_bail(aw, domains, &o);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "http://localhost:%u/", srv.port);
	int fetched = 0;
	struct run x;
	for (int i = 0; i < 3; i++) {
		run(rt, cmd, &x);
		if (x.r == 0 && strstr(x.out, "origin-body") && strstr(x.out, "code=200"))
			fetched++;
		else
			diag_run("fetch", &x);
	}
	/* A host no entry lists: the blocking ask callback is asked, on a
	 * thread of the runtime's. */
	srt_runtime_set_ask(rt, ask_allow, NULL);
	snprintf(cmd, sizeof(cmd), CURL_VIA_PROXY "http://127.0.0.1:%u/", srv.port);
	run(rt, cmd, &x);
	int during = count_tasks();
	srt_runtime_free(rt);
	int after = count_tasks();
	ok(fetched == 3 && http_server_hits(&srv) >= 3,
	   "three sandboxes fetched from a loopback server by name through the proxy (%d)", fetched);
	if (!ok(__atomic_load_n(&asked, __ATOMIC_SEQ_CST) >= 1, "a fourth asked the blocking ask callback (%d)",
		asked))
		diag_run("ask", &x);
	ok(after == before, "srt_runtime_free of the last runtime leaves no thread (%d before, %d with the "
	   "runtime, %d after)", before, during, after);
	http_server_stop(&srv);
	tree_remove(&t);
}

int main(void)
{
	alarm(280);
	signal(SIGPIPE, SIG_IGN);
	plan(5 + 5 + 3);
	/* First, before any thread of ours exists: forks a child that uses
	 * a runtime. */
	test_emfile();
	test_threads();
	test_paths();
	return done_testing();
}
