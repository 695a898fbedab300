/* srt --control-fd N: each line a whole settings object; the network lists it gives replace those in force for new connections. */
#include "cli/control.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/control_line.h"
#include "policy/domain.h"
#include "policy/netpolicy.h"

int control_fd_parse(const char *arg, int *ret_fd, char *msg, size_t msg_size)
{
	long v = 0;
	size_t n = strlen(arg);
	if (n == 0 || n > 9 || strspn(arg, "0123456789") != n) {
		snprintf(msg, msg_size, "--control-fd takes a descriptor number (3 or more), not '%.40s'", arg);
		return -1;
	}
	v = strtol(arg, NULL, 10);
	if (v < 3) {
		snprintf(msg, msg_size, "--control-fd %ld: 0, 1 and 2 are the command's standard input, output and error; "
			 "give srt a descriptor of its own (3 or more)", v);
		return -1;
	}
	int fd = (int)v;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		snprintf(msg, msg_size, "--control-fd %d: %s (srt was not started with that descriptor open)", fd,
			 strerror(errno));
		return -1;
	}
	if ((fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH)) {
		snprintf(msg, msg_size, "--control-fd %d: not open for reading (the writing end of a pipe?)", fd);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		snprintf(msg, msg_size, "--control-fd %d: %s", fd, S_ISDIR(st.st_mode) ? "a folder, not a stream" : strerror(errno));
		return -1;
	}
	/* The command gets srt's standard input, output and error: the same
	 * pipe, socket or terminal there would let it read the lines first
	 * (take away the one that takes a domain away), or write some. */
	static const char *const std_name[] = { "input", "output", "error" };
	for (int i = 0; i < 3; i++) {
		struct stat sst;
		if (fstat(i, &sst) == 0 && sst.st_dev == st.st_dev && sst.st_ino == st.st_ino) {
			snprintf(msg, msg_size, "--control-fd %d: the same file as srt's standard %s, which is the "
				 "command's standard %s too (it could read or write the lines): give srt a pipe "
				 "of its own", fd, std_name[i], std_name[i]);
			return -1;
		}
	}
	/* What epoll refuses is read while the loop idles, which only a
	 * regular file ends: a device such as /dev/zero would keep srt busy
	 * (and its stderr full) for the whole run. */
	if (!S_ISREG(st.st_mode)) {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN };
		int r = ep >= 0 ? epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) : -1;
		int e = errno;
		if (ep >= 0)
			close(ep);
		if (r < 0) {
			snprintf(msg, msg_size, "--control-fd %d: cannot be watched (%s): give a pipe, a socket, a FIFO "
				 "or a regular file", fd, strerror(e));
			return -1;
		}
	}
	/* The descriptor's own flag, not its open file's: whoever shares
	 * the pipe with srt is not affected. */
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		snprintf(msg, msg_size, "--control-fd %d: %s", fd, strerror(errno));
		return -1;
	}
	*ret_fd = fd;
	return 0;
}

struct control {
	char *start_text;               /* the settings file as srt started with it ("{}": none) */
	size_t start_len;
	const char *line_text;          /* the line being applied */
	size_t line_len;
	const char *line_name;          /* its name: "control fd 3 line 2" */
	uv_loop_t *loop;
	struct runtime *rt;
	struct settings *initial;       /* the generation the command started with */
	struct settings_source base;
	int fd;
	int ep;                         /* an epoll set holding fd, which the loop polls; -1: idle reads */
	bool debug;
	bool done;                      /* end of input, or a read error */
	union {
		uv_poll_t poll;
		uv_idle_t idle;
	} h;
	struct control_lines lines;
};

static bool list_eq(const struct config_list *a, const struct config_list *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->items[i].value, b->items[i].value) != 0 || a->items[i].literal != b->items[i].literal)
			return false;
	return true;
}

static bool timeout_eq(const struct config_timeout *a, const struct config_timeout *b)
{
	return a->set == b->set && (!a->set || a->ms == b->ms);
}

/*
 * What a line may change: what the proxies and the DNS responder decide
 * with at each new connection or query (network.allowedDomains,
 * deniedDomains, deniedDomainReasons, deniedResolvedAddresses,
 * strictAllowlist) and which violations are recorded (ignoreViolations).
 * Everything else was made into the sandbox when it started (mounts,
 * seccomp filter, listeners, the proxies' timeouts) and must stay as it is:
 * a line that changes one of these is refused as a whole, rather than
 * half applied. trustedProjectDirs counts by what it does: it may make the
 * project file's rules count, which are then compared as any others.
 */
const char *control_fixed_key_changed(const struct config *a, const struct config *b)
{
#define LIST(key, m) \
	if (!list_eq(&a->m, &b->m)) \
		return key;
#define SCALAR(key, m) \
	if (a->m != b->m) \
		return key;
	LIST("filesystem.denyRead", deny_read)
	LIST("filesystem.allowRead", allow_read)
	LIST("filesystem.allowWrite", allow_write)
	LIST("filesystem.denyWrite", deny_write)
	SCALAR("filesystem.allowGitConfig", allow_git_config)
	SCALAR("filesystem.allowNewRepositories", allow_new_repositories)
	SCALAR("mandatoryDenySearchDepth", mandatory_deny_search_depth)
	SCALAR("allowNestedUserNamespaces", allow_nested_user_namespaces)
	SCALAR("enableWeakerNestedSandbox", enable_weaker_nested_sandbox)
	LIST("network.allowUnixSockets", network.allow_unix_sockets)
	SCALAR("network.allowAllUnixSockets", network.allow_all_unix_sockets)
	SCALAR("network.allowLocalBinding", network.allow_local_binding)
	SCALAR("network.httpProxyPort", network.http_proxy_port)
	SCALAR("network.socksProxyPort", network.socks_proxy_port)
	SCALAR("sandbox.network.httpProxyPort", network.listen_http_port)
	SCALAR("sandbox.network.socksProxyPort", network.listen_socks_port)
	SCALAR("network.mode", network.mode)
	SCALAR("sandbox.enabled", enabled)
#undef LIST
#undef SCALAR
	if (!timeout_eq(&a->network.timeouts.request_head, &b->network.timeouts.request_head))
		return "network.timeouts.requestHead";
	if (!timeout_eq(&a->network.timeouts.connect, &b->network.timeouts.connect))
		return "network.timeouts.connect";
	if (!timeout_eq(&a->network.timeouts.keep_alive_idle, &b->network.timeouts.keep_alive_idle))
		return "network.timeouts.keepAliveIdle";
	if (!timeout_eq(&a->network.timeouts.response, &b->network.timeouts.response))
		return "network.timeouts.response";
	if (!timeout_eq(&a->network.timeouts.tunnel_idle, &b->network.timeouts.tunnel_idle))
		return "network.timeouts.tunnelIdle";
	if ((a->bwrap_path == NULL) != (b->bwrap_path == NULL) ||
	    (a->bwrap_path && strcmp(a->bwrap_path, b->bwrap_path) != 0))
		return "bwrapPath";
	return NULL;
}

/* What may change in a section compared as JSON: deleted before the
 * comparison. */
static void strip_live(json_t *v, const char *section)
{
	if (!json_is_object(v))
		return;
	if (strcmp(section, "network.tlsTerminate") == 0) {
		json_object_del(v, "excludeDomains");
		return;
	}
	if (strcmp(section, "credentials") != 0)
		return;
	/* Every credential (envVars[], files[], awsPairs[], ...) may change
	 * the hosts it is sent to. */
	const char *k;
	json_t *list;
	json_object_foreach(v, k, list) {
		size_t i;
		json_t *cred;
		json_array_foreach(list, i, cred) {
			if (json_is_object(cred))
				json_object_del(cred, "injectHosts");
		}
	}
}

static json_t *section(json_t *root, const char *a, const char *b)
{
	json_t *v = json_is_object(root) ? json_object_get(root, a) : NULL;
	return b ? (json_is_object(v) ? json_object_get(v, b) : NULL) : v;
}

const char *control_json_key_changed(const char *start, size_t start_len, const char *line, size_t line_len)
{
	static const struct {
		const char *key, *a, *b;
	} sections[] = {
		{ "credentials", "credentials", NULL },
		{ "network.tlsTerminate", "network", "tlsTerminate" },
		{ "network.parentProxy", "network", "parentProxy" },
		{ "network.mitmProxy", "network", "mitmProxy" },
	};
	json_t *s = start ? json_loadb(start, start_len, 0, NULL) : json_object();
	json_t *l = line ? json_loadb(line, line_len, 0, NULL) : json_object();
	const char *changed = NULL;
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]) && !changed; i++) {
		json_t *x = section(s, sections[i].a, sections[i].b);
		json_t *y = section(l, sections[i].a, sections[i].b);
		if (!x && !y)
			continue;
		json_t *cx = x ? json_deep_copy(x) : NULL, *cy = y ? json_deep_copy(y) : NULL;
		if (cx)
			strip_live(cx, sections[i].key);
		if (cy)
			strip_live(cy, sections[i].key);
		if (!cx || !cy || !json_equal(cx, cy))
			changed = sections[i].key;
		json_decref(cx);
		json_decref(cy);
	}
	json_decref(s);
	json_decref(l);
	return changed;
}

/* settings_load's check: before any path is resolved or made. */
static int check_fixed(const struct config *cfg, void *data, struct srt_error *err)
{
	struct control *c = data;
	/* The sections as written first: some of them add to the settings
	 * compared below (tlsTerminate.caKeyPath and denied credential files
	 * go to filesystem.denyRead), and the key named must be the one the
	 * line changed. */
	const char *key = control_json_key_changed(c->start_text, c->start_len, c->line_text, c->line_len);
	if (!key)
		key = control_fixed_key_changed(&runtime_settings(c->rt)->cfg, cfg);
	if (!key)
		return 0;
	/* The line's name, not that of the last file read (the command
	 * line's additions, the project file). */
	return srt_error_set(err, -EPERM,
			     "%s: %s differs from the settings in force and cannot change while the command runs "
			     "(a line may change only network.allowedDomains, deniedDomains, deniedDomainReasons, "
			     "deniedResolvedAddresses, strictAllowlist, ignoreViolations, "
			     "network.tlsTerminate.excludeDomains and the injectHosts of credentials; send every "
			     "other setting as it was)",
			     c->line_name, key);
}

/* A host loopback port needs a listener inside, made at the start. */
static int check_ports(struct control *c, const struct settings *s, const char *name, struct srt_error *err)
{
	size_t n = s->net ? net_policy_loopback_ports(s->net, NULL, 0) : 0;
	uint16_t *want = n ? calloc(n, sizeof(*want)) : NULL;
	if (n && !want)
		return srt_error_set(err, -ENOMEM, "%s: out of memory", name);
	if (n)
		net_policy_loopback_ports(s->net, want, n);
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		if (!net_policy_loopback_port(c->initial->net, want[i]))
			r = srt_error_set(err, -EPERM,
					  "%s: network.allowedDomains names the host port %u (127.0.0.1 or ::1), "
					  "which the sandbox was not started with: its listener inside is made at the "
					  "start, so a new host port needs a new run",
					  name, (unsigned)want[i]);
	free(want);
	return r;
}

/* A credential's injectHosts may change, so they are checked as the start
 * checks them (when it reads the secrets, which a line does not): an entry
 * that is no domain pattern refuses the line instead of matching nothing. */
static int check_inject_hosts(const struct settings *s, const char *name, struct srt_error *err)
{
	for (size_t i = 0; i < s->cfg.credentials.n; i++) {
		const struct config_credential *e = &s->cfg.credentials.items[i];
		for (size_t k = 0; e->has_inject_hosts && k < e->inject_hosts.n; k++) {
			const struct config_entry *it = &e->inject_hosts.items[k];
			struct domain_pattern dp;
			const char *why = NULL;
			int r = domain_pattern_parse(it->value, false, &dp, &why);
			if (r == 0) {
				domain_pattern_free(&dp);
				continue;
			}
			if (r == -ENOMEM)
				return srt_error_set(err, r, "%s: out of memory", name);
			return srt_error_set(err, -EINVAL, "%s: %s: '%s' is not a domain pattern: %s", name,
					     it->pos.key ? it->pos.key : "credentials", it->value, why ? why : "invalid");
		}
	}
	return 0;
}

static void reject(struct control *c, const char *name, const char *message)
{
	/* Messages quote the line (a domain as written): its control
	 * characters (C0, DEL, C1) must not reach the terminal, nor make a
	 * line of their own. */
	char text[sizeof(((struct srt_error *)0)->message)];
	snprintf(text, sizeof(text), "%s", message);
	for (unsigned char *p = (unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
		else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			p[0] = p[1] = '?';
	}
	fprintf(stderr, "srt: %s; the line is ignored, the settings in force stay\n", text);
	struct srt_config_change ch = { .source = name, .error = text };
	struct srt_event ev = { .type = SRT_EVENT_CONFIG_REJECTED, .config = &ch };
	event_hub_emit(&c->rt->hub, &ev);
}

static void on_line(void *data, unsigned long number, const char *text, size_t len, bool too_long)
{
	struct control *c = data;
	char name[64];
	snprintf(name, sizeof(name), "control fd %d line %lu", c->fd, number);
	struct srt_error err = { 0 };
	if (too_long) {
		snprintf(err.message, sizeof(err.message), "%s: longer than %u bytes", name, CONTROL_LINE_MAX);
		reject(c, name, err.message);
		return;
	}
	size_t blank = 0;
	while (blank < len && (text[blank] == ' ' || text[blank] == '\t' || text[blank] == '\r'))
		blank++;
	if (blank == len)
		return; /* an empty line says nothing */
	if (memchr(text, '\0', len)) {
		snprintf(err.message, sizeof(err.message), "%s: NUL byte in the line", name);
		reject(c, name, err.message);
		return;
	}
	struct settings_source src = c->base;
	src.user_text = text;
	src.user_text_name = name;
	src.skip_project = !c->initial->cfg.project_loaded;
	/* The project file as the start read it: the command may since have
	 * made its folder unreadable (chmod), which would refuse every line. */
	src.project_dir = c->initial->cfg.project_dir;
	src.project_text = c->initial->cfg.project_text;
	src.project_len = c->initial->cfg.project_len;
	src.live = true;
	src.check = check_fixed;
	src.check_data = c;
	c->line_text = text;
	c->line_len = len;
	c->line_name = name;
	struct settings *s = NULL;
	int lr = settings_load(&src, &s, &err);
	c->line_text = NULL;
	if (lr < 0) {
		reject(c, name, err.message[0] ? err.message : "cannot load the settings");
		return;
	}
	if (check_ports(c, s, name, &err) < 0 || check_inject_hosts(s, name, &err) < 0) {
		settings_free_chain(s);
		reject(c, name, err.message);
		return;
	}
	if (c->debug)
		fprintf(stderr, "srt: %s: settings applied (%zu allowedDomains, %zu deniedDomains entries)\n", name,
			s->cfg.network.allowed_domains.n, s->cfg.network.denied_domains.n);
	runtime_replace_settings_from(c->rt, s, name);
	/* Line after line for days: what no connection holds any more goes. */
	runtime_prune_settings(c->rt, c->initial);
}

static void finish(struct control *c, const char *why)
{
	if (c->done)
		return;
	c->done = true;
	control_lines_end(&c->lines, on_line, c);
	if (c->ep >= 0)
		uv_poll_stop(&c->h.poll);
	else
		uv_idle_stop(&c->h.idle);
	if (why)
		fprintf(stderr, "srt: control fd %d: %s; no further settings are read, those in force stay\n", c->fd,
			why);
	else if (c->debug)
		fprintf(stderr, "srt: control fd %d: end of input; the settings in force stay\n", c->fd);
}

/* One read: at most what is there (FIONREAD), so that a descriptor in
 * blocking mode never blocks the loop. */
static void read_some(struct control *c, bool known_ready)
{
	static char buf[65536];
	size_t want = sizeof(buf);
	int avail = 0;
	if (known_ready && ioctl(c->fd, FIONREAD, &avail) == 0 && avail > 0 && (size_t)avail < want)
		want = (size_t)avail;
	ssize_t n = read(c->fd, buf, want);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		char why[128];
		snprintf(why, sizeof(why), "cannot read: %s", strerror(errno));
		finish(c, why);
		return;
	}
	if (n == 0) {
		finish(c, NULL);
		return;
	}
	if (control_lines_feed(&c->lines, buf, (size_t)n, on_line, c) < 0)
		fprintf(stderr, "srt: control fd %d: out of memory\n", c->fd);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	(void)events;
	struct control *c = h->data;
	if (status < 0) {
		finish(c, uv_strerror(status));
		return;
	}
	read_some(c, true);
}

static void on_idle(uv_idle_t *h)
{
	read_some(h->data, false);
}

int control_start(uv_loop_t *loop, struct runtime *rt, int fd, const struct settings_source *base, bool debug,
		  struct control **ret, struct srt_error *err)
{
	struct control *c = calloc(1, sizeof(*c));
	if (!c)
		return srt_error_set(err, -ENOMEM, "out of memory");
	c->loop = loop;
	c->rt = rt;
	c->initial = runtime_settings(rt);
	c->base = *base;
	c->fd = fd;
	c->debug = debug;
	control_lines_init(&c->lines, CONTROL_LINE_MAX);
	/* libuv would make fd itself non-blocking, for everyone sharing its
	 * open file: it polls an epoll set holding fd instead. A regular file
	 * (which epoll refuses) never blocks: read while the loop idles. */
	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0) {
		int e = errno;
		free(c);
		return srt_error_set(err, -e, "--control-fd: epoll_create1: %s", strerror(e));
	}
	struct epoll_event ev = { .events = EPOLLIN };
	int r;
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev) == 0) {
		if ((r = uv_poll_init(loop, &c->h.poll, c->ep)) < 0) {
			close(c->ep);
			free(c);
			return srt_error_set(err, r, "--control-fd: %s", uv_strerror(r));
		}
		c->h.poll.data = c;
		uv_poll_start(&c->h.poll, UV_READABLE, on_poll);
	} else if (errno == EPERM) {
		close(c->ep);
		c->ep = -1;
		uv_idle_init(loop, &c->h.idle);
		c->h.idle.data = c;
		uv_idle_start(&c->h.idle, on_idle);
	} else {
		int e = errno;
		close(c->ep);
		free(c);
		return srt_error_set(err, -e, "--control-fd %d: cannot watch it: %s", fd, strerror(e));
	}
	/* The settings file as it is now (what config_load read a moment
	 * ago), for control_json_key_changed; none: {}. */
	char *home_file = base->path ? NULL : str_printf("%s/.srt-settings.json", base->home ? base->home : "/");
	const char *file = base->path ? base->path : home_file;
	FILE *f = file ? fopen(file, "re") : NULL;
	if (f) {
		char *buf = NULL;
		size_t cap = 0;
		ssize_t n = getdelim(&buf, &cap, '\0', f);
		if (n > 0) {
			c->start_text = buf;
			c->start_len = (size_t)n;
		} else {
			free(buf);
		}
		fclose(f);
	}
	free(home_file);
	/* The command's end ends srt, whatever the channel does. */
	uv_unref((uv_handle_t *)&c->h);
	*ret = c;
	return 0;
}

static void on_closed(uv_handle_t *h)
{
	struct control *c = h->data;
	if (c->ep >= 0)
		close(c->ep);
	control_lines_free(&c->lines);
	free(c->start_text);
	free(c);
}

void control_stop(struct control *c)
{
	if (!c)
		return;
	c->done = true; /* a last line without newline, after the command, is not applied */
	uv_close((uv_handle_t *)&c->h, on_closed);
}
