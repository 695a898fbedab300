/* The event hub of a runtime: the violation store (a bounded ring), the subscribers, and the JSON Lines form of every event (docs/events.md). */
#include "events.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "util/util.h"

int64_t events_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

const char *violation_kind_name(enum srt_violation_kind k)
{
	switch (k) {
	case SRT_VIOLATION_FILESYSTEM: return "filesystem";
	case SRT_VIOLATION_NETWORK: return "network";
	case SRT_VIOLATION_UNIX_SOCKET: return "unix_socket";
	case SRT_VIOLATION_PROCESS: return "process";
	default: return "unknown";
	}
}

const char *violation_source_name(enum srt_violation_source s)
{
	switch (s) {
	case SRT_SOURCE_PROXY: return "proxy";
	case SRT_SOURCE_OBSERVER: return "observer";
	default: return "unknown";
	}
}

static void free_ignore(struct event_hub *h)
{
	for (size_t i = 0; i < h->n_ignore; i++) {
		free(h->ignore[i].pattern);
		for (size_t k = 0; k < h->ignore[i].n; k++)
			free(h->ignore[i].substrings[k]);
		free(h->ignore[i].substrings);
	}
	free(h->ignore);
	h->ignore = NULL;
	h->n_ignore = 0;
}

int event_hub_init(struct event_hub *h, size_t capacity)
{
	memset(h, 0, sizeof(*h));
	h->cap = capacity ? capacity : EVENTS_DEFAULT_CAPACITY;
	h->ring = calloc(h->cap, sizeof(*h->ring));
	if (!h->ring)
		return -ENOMEM;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->idle, NULL);
	h->next_token = 1;
	return 0;
}

static void violation_clear(struct srt_violation *v)
{
	free((char *)v->operation);
	free((char *)v->target);
	free((char *)v->rule);
	free((char *)v->command);
	memset(v, 0, sizeof(*v));
}

static int violation_copy(struct srt_violation *dst, const struct srt_violation *src)
{
	*dst = *src;
	dst->size = sizeof(*dst);
	dst->operation = strdup(src->operation ? src->operation : "");
	dst->target = strdup(src->target ? src->target : "");
	dst->rule = strdup(src->rule ? src->rule : "");
	dst->command = strdup(src->command ? src->command : "");
	if (!dst->operation || !dst->target || !dst->rule || !dst->command) {
		violation_clear(dst);
		return -ENOMEM;
	}
	return 0;
}

static void ring_clear(struct event_hub *h)
{
	for (size_t i = 0; i < h->n; i++)
		violation_clear(&h->ring[(h->start + i) % h->cap]);
	h->start = h->n = 0;
	h->dropped = 0;
}

void event_hub_destroy(struct event_hub *h)
{
	if (!h->ring)
		return;
	ring_clear(h);
	free(h->ring);
	h->ring = NULL;
	while (h->subs) {
		struct event_sub *x = h->subs;
		h->subs = x->next;
		free(x);
	}
	free_ignore(h);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->idle);
}

int event_hub_set_ignore(struct event_hub *h, const struct config *cfg)
{
	struct ignore_rule *v = calloc(cfg->n_ignore_violations ? cfg->n_ignore_violations : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (; n < cfg->n_ignore_violations; n++) {
		const struct config_ignore *ci = &cfg->ignore_violations[n];
		v[n].pattern = strdup(ci->command_pattern);
		v[n].substrings = calloc(ci->paths.n ? ci->paths.n : 1, sizeof(char *));
		if (!v[n].pattern || !v[n].substrings)
			goto oom;
		for (; v[n].n < ci->paths.n; v[n].n++)
			if (!(v[n].substrings[v[n].n] = strdup(ci->paths.items[v[n].n].value)))
				goto oom;
	}
	pthread_mutex_lock(&h->lock);
	free_ignore(h);
	h->ignore = v;
	h->n_ignore = n;
	pthread_mutex_unlock(&h->lock);
	return 0;
oom:
	{
		struct event_hub tmp = { .ignore = v, .n_ignore = n + 1 };
		free_ignore(&tmp);
	}
	return -ENOMEM;
}

/* Under h->lock. */
static bool ignored(const struct event_hub *h, const struct srt_violation *v)
{
	const char *cmd = v->command ? v->command : "";
	const char *target = v->target ? v->target : "";
	for (size_t i = 0; i < h->n_ignore; i++) {
		const struct ignore_rule *r = &h->ignore[i];
		if (strcmp(r->pattern, "*") != 0 && !strstr(cmd, r->pattern))
			continue;
		for (size_t k = 0; k < r->n; k++)
			if (r->substrings[k][0] && strstr(target, r->substrings[k]))
				return true;
	}
	return false;
}

/* The subscriber whose callback this thread is running, to let it
 * unsubscribe itself without waiting for itself. */
static _Thread_local const struct event_sub *in_callback;
/* The hub whose callback this thread is running: calls that would wait for
 * that callback, or free what it runs on, refuse there. */
static _Thread_local const struct event_hub *in_hub;

bool event_hub_in_callback(const struct event_hub *h)
{
	return in_hub == h;
}

/* Call every subscriber, with no lock held: a callback may call back into
 * the runtime (subscribe, unsubscribe, reload, run a sandbox). Each
 * subscriber's busy count keeps it alive while its callback runs. */
static void dispatch(struct event_hub *h, const struct srt_event *ev)
{
	pthread_mutex_lock(&h->lock);
	size_t n = 0;
	for (struct event_sub *x = h->subs; x; x = x->next)
		n++;
	struct event_sub **v = n ? malloc(n * sizeof(*v)) : NULL;
	n = 0;
	for (struct event_sub *x = h->subs; v && x; x = x->next) {
		x->busy++;
		v[n++] = x;
	}
	pthread_mutex_unlock(&h->lock);
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&h->lock);
		bool live = !v[i]->removed;
		pthread_mutex_unlock(&h->lock);
		if (live) {
			const struct event_sub *outer = in_callback;
			const struct event_hub *outer_hub = in_hub;
			in_callback = v[i];
			in_hub = h;
			v[i]->fn(ev, v[i]->data);
			in_callback = outer;
			in_hub = outer_hub;
		}
		pthread_mutex_lock(&h->lock);
		if (--v[i]->busy == 0 && v[i]->removed) {
			if (v[i]->waited)
				pthread_cond_broadcast(&h->idle);
			else
				free(v[i]);
		}
		pthread_mutex_unlock(&h->lock);
	}
	free(v);
}

/* Does anyone listen? An event nobody would get is not made (a
 * connection event per proxied request: its JSON cost more than the
 * request's own work in the proxy). A subscriber that comes a moment
 * later misses it, as it misses every event before it subscribed. */
static bool has_subscribers(struct event_hub *h)
{
	pthread_mutex_lock(&h->lock);
	bool any = h->subs != NULL;
	pthread_mutex_unlock(&h->lock);
	return any;
}

bool event_hub_violation(struct event_hub *h, const struct srt_violation *v)
{
	struct srt_violation rec;
	if (violation_copy(&rec, v) < 0)
		return false;
	if (!rec.time_ns)
		rec.time_ns = events_now_ns();
	pthread_mutex_lock(&h->lock);
	if (ignored(h, &rec)) {
		pthread_mutex_unlock(&h->lock);
		violation_clear(&rec);
		return false;
	}
	rec.seq = ++h->seq;
	if (h->n == h->cap) {
		violation_clear(&h->ring[h->start]);
		h->start = (h->start + 1) % h->cap;
		h->n--;
		h->dropped++;
	}
	struct srt_violation copy;
	int r = violation_copy(&copy, &rec);
	h->ring[(h->start + h->n) % h->cap] = rec;
	h->n++;
	pthread_mutex_unlock(&h->lock);
	if (r < 0)
		return true;
	if (!has_subscribers(h)) {
		violation_clear(&copy);
		return true;
	}
	struct srt_event ev = { .size = sizeof(ev), .type = SRT_EVENT_VIOLATION, .time_ns = copy.time_ns,
				.violation = &copy };
	char *json = event_to_json(&ev);
	ev.json = json ? json : "{}";
	dispatch(h, &ev);
	free(json);
	violation_clear(&copy);
	return true;
}

void event_hub_emit(struct event_hub *h, struct srt_event *ev)
{
	ev->size = sizeof(*ev);
	if (!ev->time_ns)
		ev->time_ns = events_now_ns();
	if (!has_subscribers(h))
		return;
	char *json = event_to_json(ev);
	ev->json = json ? json : "{}";
	dispatch(h, ev);
	ev->json = NULL;
	free(json);
}

int event_hub_subscribe(struct event_hub *h, srt_event_fn fn, void *data, uint64_t *ret_token)
{
	if (!fn)
		return -EINVAL;
	struct event_sub *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->fn = fn;
	x->data = data;
	pthread_mutex_lock(&h->lock);
	x->token = h->next_token++;
	/* At the end: subscribers are called in the order they came. */
	struct event_sub **pp = &h->subs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = x;
	pthread_mutex_unlock(&h->lock);
	if (ret_token)
		*ret_token = x->token;
	return 0;
}

/* Under h->lock: take x out of the list; wait for its running callbacks
 * unless this thread is in one of them. */
static void remove_sub(struct event_hub *h, struct event_sub **pp)
{
	struct event_sub *x = *pp;
	*pp = x->next;
	x->removed = true;
	if (x->busy == 0) {
		free(x);
		return;
	}
	if (in_callback == x)
		return; /* freed when its callback returns */
	x->waited = true;
	while (x->busy > 0)
		pthread_cond_wait(&h->idle, &h->lock);
	free(x);
}

int event_hub_unsubscribe(struct event_hub *h, uint64_t token)
{
	int r = -ENOENT;
	pthread_mutex_lock(&h->lock);
	for (struct event_sub **pp = &h->subs; *pp; pp = &(*pp)->next)
		if ((*pp)->token == token) {
			remove_sub(h, pp);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&h->lock);
	return r;
}

void event_hub_unsubscribe_all(struct event_hub *h)
{
	pthread_mutex_lock(&h->lock);
	while (h->subs)
		remove_sub(h, &h->subs);
	pthread_mutex_unlock(&h->lock);
}

void event_hub_reset(struct event_hub *h)
{
	pthread_mutex_lock(&h->lock);
	ring_clear(h);
	h->seq = 0;
	pthread_mutex_unlock(&h->lock);
}

int event_hub_list(struct event_hub *h, enum srt_violation_kind kind, struct srt_violation_list **ret)
{
	struct srt_violation_list *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	pthread_mutex_lock(&h->lock);
	l->dropped = h->dropped;
	/* Our own elements: a program walks them by stride. */
	struct srt_violation *v = calloc(h->n ? h->n : 1, sizeof(*v));
	l->v = v;
	l->stride = sizeof(*v);
	if (!v) {
		pthread_mutex_unlock(&h->lock);
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->n; i++) {
		const struct srt_violation *x = &h->ring[(h->start + i) % h->cap];
		if (kind != SRT_VIOLATION_ANY && x->kind != kind)
			continue;
		if (violation_copy(&v[l->n], x) < 0) {
			pthread_mutex_unlock(&h->lock);
			srt_violation_list_free(l);
			return -ENOMEM;
		}
		l->n++;
	}
	pthread_mutex_unlock(&h->lock);
	*ret = l;
	return 0;
}

/* The list's elements are the library's struct srt_violation, stride
 * bytes apart: a program built with a smaller struct still finds each. */
const struct srt_violation *srt_violation_at(const struct srt_violation_list *l, size_t i)
{
	if (!l || i >= l->n)
		return NULL;
	return (const struct srt_violation *)((const char *)l->v + i * l->stride);
}

void srt_violation_list_free(struct srt_violation_list *l)
{
	if (!l)
		return;
	struct srt_violation *v = (struct srt_violation *)l->v; /* ours: event_hub_list made it */
	for (size_t i = 0; i < l->n; i++)
		violation_clear(&v[i]);
	free(v);
	free(l);
}

size_t event_hub_count(struct event_hub *h)
{
	pthread_mutex_lock(&h->lock);
	size_t n = h->n;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void event_hub_clear(struct event_hub *h)
{
	pthread_mutex_lock(&h->lock);
	ring_clear(h);
	pthread_mutex_unlock(&h->lock);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *time_text(int64_t ns)
{
	time_t s = (time_t)(ns / 1000000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char buf[48];
	size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, sizeof(buf) - n, ".%06dZ", (int)((ns % 1000000000) / 1000));
	return json_string(buf);
}

/* A JSON string for text the sandbox may have chosen (a path): invalid
 * UTF-8 bytes become "\\xNN" rather than the field going missing. */
static json_t *str_or_null(const char *s)
{
	if (!s)
		return json_null();
	json_t *j = json_string(s);
	if (j)
		return j;
	char *e = str_escape_invalid(s, false);
	j = e ? json_string(e) : NULL;
	free(e);
	return j ? j : json_string("");
}

static const char *event_name(enum srt_event_type t)
{
	switch (t) {
	case SRT_EVENT_VIOLATION: return "violation";
	case SRT_EVENT_CONNECTION: return "connection";
	case SRT_EVENT_SANDBOX_START: return "sandbox.start";
	case SRT_EVENT_SANDBOX_EXIT: return "sandbox.exit";
	case SRT_EVENT_CONFIG_RELOADED: return "config.reloaded";
	case SRT_EVENT_CONFIG_REJECTED: return "config.rejected";
	}
	return "unknown";
}

char *event_to_json(const struct srt_event *ev)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "event", json_string(event_name(ev->type)));
	json_object_set_new(o, "version", json_integer(EVENTS_SCHEMA_VERSION));
	json_object_set_new(o, "time", time_text(ev->time_ns));
	if (ev->type == SRT_EVENT_VIOLATION && ev->violation) {
		const struct srt_violation *v = ev->violation;
		json_object_set_new(o, "sandbox", json_integer((json_int_t)v->sandbox_id));
		json_object_set_new(o, "kind", json_string(violation_kind_name(v->kind)));
		json_object_set_new(o, "operation", str_or_null(v->operation));
		json_object_set_new(o, "target", str_or_null(v->target));
		json_object_set_new(o, "rule", str_or_null(v->rule));
		json_object_set_new(o, "command", str_or_null(v->command));
		json_object_set_new(o, "pid", json_integer(v->pid));
		json_object_set_new(o, "source", json_string(violation_source_name(v->source)));
		json_object_set_new(o, "seq", json_integer((json_int_t)v->seq));
	} else if (ev->type == SRT_EVENT_CONNECTION && ev->connection) {
		const struct srt_connection *c = ev->connection;
		json_object_set_new(o, "sandbox", json_integer((json_int_t)c->sandbox_id));
		json_object_set_new(o, "decision", json_string(c->allowed ? "allowed" : "denied"));
		json_object_set_new(o, "host", str_or_null(c->host));
		json_object_set_new(o, "port", json_integer(c->port));
		json_object_set_new(o, "address", str_or_null(c->address));
		json_object_set_new(o, "rule", str_or_null(c->rule));
		json_object_set_new(o, "via", str_or_null(c->via));
		json_object_set_new(o, "bytes_up", json_integer((json_int_t)c->bytes_up));
		json_object_set_new(o, "bytes_down", json_integer((json_int_t)c->bytes_down));
		json_object_set_new(o, "duration_ms", json_real((double)c->duration_ns / 1e6));
		json_object_set_new(o, "error", str_or_null(c->error));
		json_object_set_new(o, "closed_by", str_or_null(c->closed_by));
		json_object_set_new(o, "timeout", str_or_null(c->timeout));
		json_object_set_new(o, "bytes_missing", json_integer((json_int_t)c->bytes_missing));
	} else if ((ev->type == SRT_EVENT_SANDBOX_START || ev->type == SRT_EVENT_SANDBOX_EXIT) && ev->sandbox) {
		const struct srt_sandbox_info *s = ev->sandbox;
		json_object_set_new(o, "sandbox", json_integer((json_int_t)s->id));
		json_object_set_new(o, "command", str_or_null(s->command));
		json_object_set_new(o, "pid", json_integer(s->pid));
		if (ev->type == SRT_EVENT_SANDBOX_EXIT) {
			json_object_set_new(o, "status", s->status >= 0 ? json_integer(s->status) : json_null());
			json_object_set_new(o, "duration_ms", json_real((double)s->duration_ns / 1e6));
		}
	} else if (ev->type == SRT_EVENT_CONFIG_RELOADED || ev->type == SRT_EVENT_CONFIG_REJECTED) {
		const struct srt_config_change *c = ev->config;
		json_object_set_new(o, "source", str_or_null(c ? c->source : NULL));
		if (ev->type == SRT_EVENT_CONFIG_REJECTED)
			json_object_set_new(o, "error", str_or_null(c ? c->error : NULL));
	}
	char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	json_decref(o);
	return text;
}
