/* Unit tests for srt --control-fd: the line framing, the settings that may not change while a command runs, the descriptor checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/control.h"
#include "cli/control_line.h"
#include "config/config.h"
#include "events.h"

/* ---- framing ------------------------------------------------------------- */

struct got {
	char text[16][64];
	size_t len[16];
	bool too_long[16];
	unsigned long number[16];
	size_t n;
};

static void collect(void *data, unsigned long number, const char *text, size_t len, bool too_long)
{
	struct got *g = data;
	assert_true(g->n < 16);
	g->number[g->n] = number;
	g->too_long[g->n] = too_long;
	if (!too_long) {
		assert_true(len < sizeof(g->text[0]));
		assert_int_equal(text[len], '\0');
		memcpy(g->text[g->n], text, len);
		g->len[g->n] = len;
	} else {
		assert_null(text);
	}
	g->n++;
}

static void feed(struct control_lines *cl, const char *s, struct got *g)
{
	assert_int_equal(control_lines_feed(cl, s, strlen(s), collect, g), 0);
}

static void test_lines(void **state)
{
	(void)state;
	struct control_lines cl;
	struct got g = { 0 };
	control_lines_init(&cl, 8);
	feed(&cl, "ab\ncd\r\n\n", &g);
	assert_int_equal(g.n, 3);
	assert_string_equal(g.text[0], "ab");
	assert_string_equal(g.text[1], "cd");
	assert_int_equal(g.len[2], 0);
	assert_int_equal(g.number[2], 3);
	/* A line in pieces, a '\r' in its middle kept. */
	feed(&cl, "x\ry", &g);
	feed(&cl, "z", &g);
	assert_int_equal(g.n, 3);
	feed(&cl, "\n", &g);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.text[3], "x\ryz");
	assert_int_equal(g.number[3], 4);
	/* The last line without a newline, at the end. */
	feed(&cl, "end", &g);
	control_lines_end(&cl, collect, &g);
	assert_int_equal(g.n, 5);
	assert_string_equal(g.text[4], "end");
	control_lines_end(&cl, collect, &g);
	assert_int_equal(g.n, 5);
	control_lines_free(&cl);
}

static void test_too_long(void **state)
{
	(void)state;
	struct control_lines cl;
	struct got g = { 0 };
	control_lines_init(&cl, 4);
	feed(&cl, "1234\n", &g);       /* exactly max */
	feed(&cl, "1234\r\n", &g);     /* max and the '\r' */
	feed(&cl, "12345\n", &g);      /* one past */
	feed(&cl, "ok\n", &g);         /* the next line is whole again */
	feed(&cl, "123", &g);
	feed(&cl, "4\r", &g);
	feed(&cl, "\r\n", &g);         /* "1234\r\r": one past */
	feed(&cl, "12", &g);
	feed(&cl, "345", &g);
	feed(&cl, "678\nlast", &g);
	assert_int_equal(g.n, 6);
	assert_string_equal(g.text[0], "1234");
	assert_string_equal(g.text[1], "1234");
	assert_true(g.too_long[2]);
	assert_string_equal(g.text[3], "ok");
	assert_true(g.too_long[4]);
	assert_true(g.too_long[5]);
	assert_int_equal(g.number[5], 6);
	control_lines_end(&cl, collect, &g);
	assert_int_equal(g.n, 7);
	assert_string_equal(g.text[6], "last");
	/* Too long at the end of input, and "1234\r" at the end (fits). */
	feed(&cl, "123456", &g);
	control_lines_end(&cl, collect, &g);
	assert_true(g.too_long[7]);
	feed(&cl, "1234\r", &g);
	control_lines_end(&cl, collect, &g);
	assert_string_equal(g.text[8], "1234");
	control_lines_free(&cl);
}

static void test_nul_kept(void **state)
{
	(void)state;
	struct control_lines cl;
	struct got g = { 0 };
	control_lines_init(&cl, 8);
	assert_int_equal(control_lines_feed(&cl, "a\0b\n", 4, collect, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len[0], 3);
	assert_memory_equal(g.text[0], "a\0b", 3);
	control_lines_free(&cl);
}

/* ---- settings that cannot change ----------------------------------------- */

static void load(struct config *c, const char *text)
{
	config_init(c);
	struct srt_error err = { 0 };
	int r = config_parse_text(c, "t.json", text, strlen(text), CONFIG_ORIGIN_USER, true, &err);
	if (r < 0)
		fail_msg("%s", err.message);
}

static const char *changed(const char *a, const char *b)
{
	struct config x, y;
	load(&x, a);
	load(&y, b);
	const char *k = control_fixed_key_changed(&x, &y);
	config_free(&x);
	config_free(&y);
	return k;
}

static void test_fixed_keys(void **state)
{
	(void)state;
	const char *base = "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"network\":{\"allowedDomains\":[\"a.test\"]}}";
	assert_null(changed(base, base));
	/* The lists a line may change. */
	assert_null(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"network\":{\"allowedDomains\":[],"
				  "\"deniedDomains\":[\"a.test\"],\"deniedResolvedAddresses\":[\"10.0.0.0/8\"],"
				  "\"deniedDomainReasons\":{\"a.test\":\"no\"},\"strictAllowlist\":true},"
				  "\"ignoreViolations\":{\"*\":[\"/x\"]}}"));
	/* The same settings in the other format. */
	assert_null(changed(base, "{\"permissions\":{\"allow\":[\"Edit(/w)\",\"WebFetch(domain:b.test)\"]}}"));
	assert_string_equal(changed(base, "{\"network\":{}}"), "filesystem.allowWrite");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[{\"path\":\"/w\",\"literal\":true}]}}"),
			    "filesystem.allowWrite");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"],\"denyRead\":[\"/r\"]}}"),
			    "filesystem.denyRead");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"],\"allowGitConfig\":true}}"),
			    "filesystem.allowGitConfig");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"mandatoryDenySearchDepth\":5}"),
			    "mandatoryDenySearchDepth");
	const char *w = "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"network\":";
	char buf[256];
#define NET(x) (snprintf(buf, sizeof(buf), "%s%s}", w, x), buf)
	assert_string_equal(changed(base, NET("{\"allowUnixSockets\":[\"/s\"]}")), "network.allowUnixSockets");
	assert_string_equal(changed(base, NET("{\"allowAllUnixSockets\":true}")), "network.allowAllUnixSockets");
	assert_string_equal(changed(base, NET("{\"allowLocalBinding\":true}")), "network.allowLocalBinding");
	assert_string_equal(changed(base, NET("{\"httpProxyPort\":8080}")), "network.httpProxyPort");
	assert_string_equal(changed(base, NET("{\"socksProxyPort\":8080}")), "network.socksProxyPort");
	assert_string_equal(changed(base, NET("{\"mode\":\"transparent\"}")), "network.mode");
	assert_string_equal(changed(base, NET("{\"timeouts\":{\"tunnelIdle\":0}}")), "network.timeouts.tunnelIdle");
	assert_string_equal(changed(base, NET("{\"timeouts\":{\"connect\":2}}")), "network.timeouts.connect");
#undef NET
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"sandbox\":{\"network\":"
					  "{\"httpProxyPort\":3129}}}"),
			    "sandbox.network.httpProxyPort");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"bwrapPath\":\"/usr/bin/bwrap\"}"),
			    "bwrapPath");
	assert_string_equal(changed(base, "{\"filesystem\":{\"allowWrite\":[\"/w\"]},\"allowNestedUserNamespaces\":true}"),
			    "allowNestedUserNamespaces");
	/* A timeout given as its value is unchanged only when it was given. */
	assert_null(changed("{\"network\":{\"timeouts\":{\"connect\":2}}}", "{\"network\":{\"timeouts\":{\"connect\":2}}}"));
	assert_string_equal(changed("{\"network\":{\"timeouts\":{\"connect\":2}}}", "{}"), "network.timeouts.connect");
}

/* ---- sections compared as JSON ------------------------------------------- */

static const char *jchanged(const char *a, const char *b)
{
	return control_json_key_changed(a, a ? strlen(a) : 0, b, b ? strlen(b) : 0);
}

static void test_json_sections(void **state)
{
	(void)state;
	assert_null(jchanged(NULL, NULL));
	assert_null(jchanged("{\"network\":{\"allowedDomains\":[]}}", "{\"network\":{\"allowedDomains\":[\"x\"]}}"));
	const char *tls = "{\"network\":{\"tlsTerminate\":{\"caCertPath\":\"/c\",\"caKeyPath\":\"/k\","
			  "\"excludeDomains\":[\"a.test\"]}}}";
	assert_null(jchanged(tls, tls));
	/* excludeDomains may change, the CA may not, nor may the section go. */
	assert_null(jchanged(tls, "{\"network\":{\"tlsTerminate\":{\"caKeyPath\":\"/k\",\"caCertPath\":\"/c\"}}}"));
	assert_string_equal(jchanged(tls, "{\"network\":{\"tlsTerminate\":{\"caCertPath\":\"/d\",\"caKeyPath\":\"/k\"}}}"),
			    "network.tlsTerminate");
	assert_string_equal(jchanged(tls, "{}"), "network.tlsTerminate");
	assert_string_equal(jchanged(NULL, tls), "network.tlsTerminate");
	const char *cred = "{\"credentials\":{\"envVars\":[{\"name\":\"T\",\"mode\":\"mask\",\"injectHosts\":[\"a.test\"]}]}}";
	assert_null(jchanged(cred, "{\"credentials\":{\"envVars\":[{\"name\":\"T\",\"mode\":\"mask\",\"injectHosts\":[\"b.test\"]}]}}"));
	assert_null(jchanged(cred, "{\"credentials\":{\"envVars\":[{\"name\":\"T\",\"mode\":\"mask\"}]}}"));
	assert_string_equal(jchanged(cred, "{\"credentials\":{\"envVars\":[{\"name\":\"T\",\"mode\":\"deny\"}]}}"),
			    "credentials");
	assert_string_equal(jchanged(cred, "{\"credentials\":{\"envVars\":[]}}"), "credentials");
	assert_string_equal(jchanged(NULL, "{\"credentials\":{\"files\":[{\"path\":\"/s\",\"mode\":\"deny\"}]}}"),
			    "credentials");
	assert_string_equal(jchanged(NULL, "{\"network\":{\"parentProxy\":{\"http\":\"http://127.0.0.1:1\"}}}"),
			    "network.parentProxy");
	assert_string_equal(jchanged("{\"network\":{\"mitmProxy\":{\"socketPath\":\"/s\",\"domains\":[\"a\"]}}}", "{}"),
			    "network.mitmProxy");
	/* Not JSON at the start: any section in the line counts as changed. */
	assert_string_equal(jchanged("{", cred), "credentials");
}

/* ---- the descriptor ------------------------------------------------------ */

static void test_fd_parse(void **state)
{
	(void)state;
	char msg[256];
	int fd = -1;
	assert_int_equal(control_fd_parse("abc", &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "descriptor number"));
	assert_int_equal(control_fd_parse("", &fd, msg, sizeof(msg)), -1);
	assert_int_equal(control_fd_parse("+5", &fd, msg, sizeof(msg)), -1);
	assert_int_equal(control_fd_parse("2", &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "standard"));
	assert_int_equal(control_fd_parse("99999999999", &fd, msg, sizeof(msg)), -1);
	assert_int_equal(control_fd_parse("999999", &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "not started with that descriptor open"));
	int p[2];
	assert_int_equal(pipe(p), 0);
	char n[16];
	snprintf(n, sizeof(n), "%d", p[1]);
	assert_int_equal(control_fd_parse(n, &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "not open for reading"));
	snprintf(n, sizeof(n), "%d", p[0]);
	assert_int_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
	assert_int_equal(control_fd_parse(n, &fd, msg, sizeof(msg)), 0);
	assert_int_equal(fd, p[0]);
	assert_int_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* The open file's flags are the caller's: still blocking. */
	assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	close(p[0]);
	close(p[1]);
	int d = open("/", O_RDONLY | O_DIRECTORY);
	assert_true(d >= 3);
	snprintf(n, sizeof(n), "%d", d);
	assert_int_equal(control_fd_parse(n, &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "folder"));
	close(d);
	/* A device that cannot be watched would be read in a busy loop for
	 * the whole run (endless zeros); a regular file is read at once. */
	d = open("/dev/zero", O_RDONLY);
	assert_true(d >= 3);
	snprintf(n, sizeof(n), "%d", d);
	assert_int_equal(control_fd_parse(n, &fd, msg, sizeof(msg)), -1);
	assert_non_null(strstr(msg, "cannot be watched"));
	close(d);
	d = open("/proc/self/status", O_RDONLY);
	assert_true(d >= 3);
	snprintf(n, sizeof(n), "%d", d);
	assert_int_equal(control_fd_parse(n, &fd, msg, sizeof(msg)), 0);
	close(d);
}


/* ---- lines applied on a loop --------------------------------------------- */

struct run {
	char dir[64], file[96];
	uv_loop_t loop;
	uv_idle_t alive;        /* the channel keeps no loop running: this does */
	struct runtime rt;
	struct settings_source src;
	struct control *c;
	int rfd, w;
	unsigned reloaded, rejected;
	char last_error[512];
};

static void count_event(const struct srt_event *ev, void *data)
{
	struct run *r = data;
	if (ev->type == SRT_EVENT_CONFIG_RELOADED)
		r->reloaded++;
	if (ev->type == SRT_EVENT_CONFIG_REJECTED) {
		r->rejected++;
		snprintf(r->last_error, sizeof(r->last_error), "%s", ev->config->error);
	}
}

static void idle_nothing(uv_idle_t *h)
{
	(void)h;
}

/* srt's runtime with the settings file text, and a control channel on a pipe (r->w its writing end). */
static void run_start(struct run *r, const char *settings, const char *extra)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "/tmp/srt-test-control.XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	snprintf(r->file, sizeof(r->file), "%s/settings.json", r->dir);
	FILE *f = fopen(r->file, "w");
	assert_non_null(f);
	fputs(settings, f);
	fclose(f);
	r->src = (struct settings_source){ .path = r->file, .home = r->dir, .cwd = r->dir, .cli = true,
					   .extra = extra, .extra_name = extra ? "--events" : NULL };
	struct srt_error err = { 0 };
	struct settings *s = NULL;
	if (settings_load(&r->src, &s, &err) < 0)
		fail_msg("%s", err.message);
	assert_int_equal(uv_loop_init(&r->loop), 0);
	assert_int_equal(runtime_init(&r->rt, NULL, s, &err), 0);
	r->rt.loop = &r->loop;
	uv_idle_init(&r->loop, &r->alive);
	uv_idle_start(&r->alive, idle_nothing);
	assert_int_equal(event_hub_subscribe(&r->rt.hub, count_event, r, NULL), 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	if (control_start(&r->loop, &r->rt, p[0], &r->src, false, &r->c, &err) < 0)
		fail_msg("%s", err.message);
	r->rfd = p[0];
	r->w = p[1];
}

/* Write text and run the loop until n more lines were taken. */
static void run_lines(struct run *r, const char *text, unsigned n)
{
	unsigned want = r->reloaded + r->rejected + n;
	size_t len = strlen(text), off = 0;
	for (int i = 0; i < 100000 && r->reloaded + r->rejected < want; i++) {
		if (off < len) {
			ssize_t k = write(r->w, text + off, len - off > 4096 ? 4096 : len - off);
			assert_true(k > 0);
			off += (size_t)k;
		}
		uv_run(&r->loop, UV_RUN_NOWAIT);
	}
	assert_int_equal(r->reloaded + r->rejected, want);
}

static size_t generations(struct run *r)
{
	size_t n = 0;
	for (struct settings *s = r->rt.cur; s; s = s->older)
		n++;
	return n;
}

static void run_end(struct run *r)
{
	close(r->w);
	control_stop(r->c);
	close(r->rfd);
	uv_close((uv_handle_t *)&r->alive, NULL);
	uv_run(&r->loop, UV_RUN_DEFAULT);
	runtime_destroy(&r->rt);
	assert_int_equal(uv_loop_close(&r->loop), 0);
	unlink(r->file);
	rmdir(r->dir);
}

/* A long-lived command gets a line now and then, for days: the
 * generations nothing uses any more are freed, not kept until srt exits. */
static void test_generations_do_not_pile_up(void **state)
{
	(void)state;
	struct run r;
	run_start(&r, "{\"network\":{\"allowedDomains\":[\"a.test\"]}}", NULL);
	char line[128];
	for (unsigned i = 0; i < 200; i++) {
		snprintf(line, sizeof(line), "{\"network\":{\"allowedDomains\":[\"a.test\",\"b%u.test\"]}}\n", i);
		run_lines(&r, line, 1);
	}
	assert_int_equal(r.reloaded, 200);
	/* The one in force and the one the command started with. */
	assert_true(generations(&r) <= 2);
	run_end(&r);
}

/* A refusal names the line, whatever was read on top of it (the command
 * line's additions, a project file). */
static void test_refusal_names_the_line(void **state)
{
	(void)state;
	struct run r;
	run_start(&r, "{}", "{\"filesystem\":{\"denyWrite\":[{\"path\":\"/tmp/events\",\"literal\":true}]}}");
	run_lines(&r, "{\"filesystem\":{\"allowWrite\":[\"/tmp\"]}}\n", 1);
	assert_int_equal(r.rejected, 1);
	char want[64];
	snprintf(want, sizeof(want), "control fd %d line 1: filesystem.allowWrite differs", r.rfd);
	if (strncmp(r.last_error, want, strlen(want)) != 0)
		fail_msg("%s", r.last_error);
	run_end(&r);
}

/* What a line holds reaches stderr (and the event) without its control
 * characters: no escape sequence for the terminal, no line of its own
 * that looks like srt's. */
static void test_refusal_has_no_control_characters(void **state)
{
	(void)state;
	struct run r;
	run_start(&r, "{}", NULL);
	run_lines(&r, "{\"network\":{\"allowedDomains\":[\"a\\u001b[2Jb\\nsrt: forged\\u0085x\"]}}\n", 1);
	assert_int_equal(r.rejected, 1);
	assert_non_null(strstr(r.last_error, "invalid domain"));
	for (const unsigned char *p = (const unsigned char *)r.last_error; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			fail_msg("control character 0x%02x in: %s", *p, r.last_error);
	run_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_nul_kept),
		cmocka_unit_test(test_fixed_keys),
		cmocka_unit_test(test_json_sections),
		cmocka_unit_test(test_fd_parse),
		cmocka_unit_test(test_generations_do_not_pile_up),
		cmocka_unit_test(test_refusal_names_the_line),
		cmocka_unit_test(test_refusal_has_no_control_characters),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
