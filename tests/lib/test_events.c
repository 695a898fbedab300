/* Events: SANDBOX_START and SANDBOX_EXIT for every sandbox, their JSON
 * form (docs/events.md), several subscribers, unsubscribe, callbacks that
 * call back into the runtime, and srt_runtime_reset. */
#include "common.h"

#include <jansson.h>

static const char *const known_events[] = { "violation", "connection", "sandbox.start", "sandbox.exit",
					     "config.reloaded", "config.rejected", NULL };

/* Check every recorded event's JSON: an object with a known "event" and,
 * for sandbox events, "sandbox" equal to the id. Returns the number of bad
 * ones, with a diagnostic for each. */
static int check_json(struct recorder *rec)
{
	int bad = 0;
	pthread_mutex_lock(&rec->lock);
	for (size_t i = 0; i < rec->n; i++) {
		struct rec_event *e = &rec->ev[i];
		if (!e->json) {
			diag("event %zu (type %d): json is NULL", i, (int)e->type);
			bad++;
			continue;
		}
		if (strchr(e->json, '\n')) {
			diag("event %zu: json has a newline: %s", i, e->json);
			bad++;
		}
		json_error_t je;
		json_t *o = json_loads(e->json, 0, &je);
		if (!o || !json_is_object(o)) {
			diag("event %zu: not a JSON object (%s): %s", i, je.text, e->json);
			bad++;
			json_decref(o);
			continue;
		}
		const char *name = json_string_value(json_object_get(o, "event"));
		bool known = false;
		for (int k = 0; name && known_events[k]; k++)
			known |= strcmp(name, known_events[k]) == 0;
		if (!known) {
			diag("event %zu: \"event\" missing or unknown: %s", i, e->json);
			bad++;
		}
		if (e->type == SRT_EVENT_SANDBOX_START || e->type == SRT_EVENT_SANDBOX_EXIT ||
		    e->type == SRT_EVENT_VIOLATION || e->type == SRT_EVENT_CONNECTION) {
			json_t *s = json_object_get(o, "sandbox");
			if (!json_is_integer(s) || (uint64_t)json_integer_value(s) != e->sandbox_id) {
				diag("event %zu: \"sandbox\" is not %llu: %s", i, (unsigned long long)e->sandbox_id,
				     e->json);
				bad++;
			}
		}
		if (e->type == SRT_EVENT_SANDBOX_EXIT) {
			json_t *st = json_object_get(o, "status");
			if (!json_is_integer(st) || json_integer_value(st) != e->status) {
				diag("event %zu: \"status\" is not %d: %s", i, e->status, e->json);
				bad++;
			}
		}
		json_decref(o);
	}
	pthread_mutex_unlock(&rec->lock);
	return bad;
}

/* A subscriber that calls into the runtime from its callback. */
struct reentrant {
	srt_runtime *rt;
	int calls;
	int list_ok;
};

static void reentrant_fn(const struct srt_event *ev, void *data)
{
	struct reentrant *re = data;
	(void)ev;
	struct srt_violation_list *l = NULL;
	size_t n = srt_runtime_violation_count(re->rt);
	if (srt_runtime_violations(re->rt, SRT_VIOLATION_ANY, &l) == 0 && l) {
		if (l->n >= n || l->n + 1 >= n) /* a violation may land in between */
			re->list_ok++;
		srt_violation_list_free(l);
	}
	(void)srt_sandboxing_enabled(re->rt);
	__atomic_add_fetch(&re->calls, 1, __ATOMIC_SEQ_CST);
}

int main(void)
{
	struct tree t;
	struct srt_error e;
	struct srt_result *res = NULL;
	srt_runtime *rt = NULL;
	int r;

	plan(21);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	memset(&e, 0, sizeof(e));
	r = srt_runtime_new_from_json("{\"filesystem\":{\"allowWrite\":[\".\"]}}", NULL, &o, &rt, &e);
	if (r < 0) {
		diag_err("srt_runtime_new_from_json", r, &e);
		printf("Bail out! no runtime\n");
		return 1;
	}
	struct recorder r1, r2;
	recorder_init(&r1);
	recorder_init(&r2);
	uint64_t t1 = 0, t2 = 0;
	int s1 = srt_runtime_subscribe(rt, recorder_fn, &r1, &t1);
	int s2 = srt_runtime_subscribe(rt, recorder_fn, &r2, &t2);
	ok(s1 == 0 && s2 == 0 && t1 && t2 && t1 != t2, "two subscriptions, distinct tokens (%llu, %llu)",
	   (unsigned long long)t1, (unsigned long long)t2);
	ok(srt_runtime_subscribe(rt, NULL, NULL, NULL) < 0, "subscribe(NULL fn) is refused");

	/* one sandbox: START then EXIT with status and duration */
	r = srt_runtime_execute_shell(rt, "sleep 0.2; exit 5", NULL, &res, &e);
	if (!ok(r == 0 && res->status == 5, "execute_shell(\"sleep 0.2; exit 5\") -> 5")) {
		diag_err("srt_runtime_execute_shell", r, &e);
		res->sandbox_id = 0;
	}
	uint64_t id = res->sandbox_id;
	recorder_wait(&r1, SRT_EVENT_SANDBOX_EXIT, id, 1, 3000);
	struct rec_event se, ee;
	bool has_start = id && recorder_find(&r1, SRT_EVENT_SANDBOX_START, id, &se);
	bool has_exit = id && recorder_find(&r1, SRT_EVENT_SANDBOX_EXIT, id, &ee);
	ok(has_start, "SANDBOX_START delivered for sandbox %llu", (unsigned long long)id);
	ok(has_exit, "SANDBOX_EXIT delivered for sandbox %llu", (unsigned long long)id);
	ok(has_exit && ee.status == 5, "SANDBOX_EXIT status 5 (got %d)", has_exit ? ee.status : -99);
	ok(has_exit && ee.duration_ns >= 150000000 && ee.duration_ns < 30000000000LL,
	   "SANDBOX_EXIT duration >= 0.15 s (got %lld ns)", has_exit ? (long long)ee.duration_ns : -1LL);
	ok(has_exit && ee.pid > 0, "SANDBOX_EXIT has the pid (got %d)", has_exit ? ee.pid : -1);
	/* order: START before EXIT */
	size_t is = SIZE_MAX, ie = SIZE_MAX;
	pthread_mutex_lock(&r1.lock);
	for (size_t i = 0; i < r1.n; i++) {
		if (r1.ev[i].sandbox_id != id)
			continue;
		if (r1.ev[i].type == SRT_EVENT_SANDBOX_START && is == SIZE_MAX)
			is = i;
		if (r1.ev[i].type == SRT_EVENT_SANDBOX_EXIT && ie == SIZE_MAX)
			ie = i;
	}
	pthread_mutex_unlock(&r1.lock);
	ok(is != SIZE_MAX && ie != SIZE_MAX && is < ie, "START comes before EXIT");
	ok(recorder_count(&r1, SRT_EVENT_SANDBOX_START, id) == 1 && recorder_count(&r1, SRT_EVENT_SANDBOX_EXIT, id) == 1,
	   "exactly one START and one EXIT");
	recorder_wait(&r2, SRT_EVENT_SANDBOX_EXIT, id, 1, 3000);
	ok(recorder_count(&r2, 0, 0) == recorder_count(&r1, 0, 0), "the second subscriber got the same events (%zu, %zu)",
	   recorder_count(&r2, 0, 0), recorder_count(&r1, 0, 0));
	if (r == 0)
		result_clear(&res);

	/* a violation event too, then every JSON */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "echo > '%s/x' 2>/dev/null; true", t.ro);
	r = srt_runtime_execute_shell(rt, cmd, NULL, &res, &e);
	uint64_t id2 = r == 0 ? res->sandbox_id : 0;
	recorder_wait(&r1, SRT_EVENT_SANDBOX_EXIT, id2, 1, 3000);
	ok(recorder_wait(&r1, SRT_EVENT_VIOLATION, id2, 1, 2000) >= 1, "VIOLATION event for a denied write");
	if (r == 0)
		result_clear(&res);
	int bad = check_json(&r1);
	ok(bad == 0 && r1.null_json == 0, "every event's json parses, with a known \"event\" (%d bad)", bad);
	if (bad)
		recorder_dump(&r1);

	/* unsubscribe: no more events there */
	r = srt_runtime_unsubscribe(rt, t2);
	ok(r == 0, "unsubscribe(second) returns 0 (%d)", r);
	ok(srt_runtime_unsubscribe(rt, t2) < 0, "unsubscribing twice is refused");
	ok(srt_runtime_unsubscribe(rt, 0xdeadbeef) < 0, "an unknown token is refused");
	size_t before2 = recorder_count(&r2, 0, 0);

	/* a subscriber that calls into the runtime from its callback */
	struct reentrant re = { .rt = rt };
	srt_runtime_subscribe(rt, reentrant_fn, &re, NULL);
	r = srt_runtime_execute_shell(rt, "true", NULL, &res, &e);
	uint64_t id3 = r == 0 ? res->sandbox_id : 0;
	recorder_wait(&r1, SRT_EVENT_SANDBOX_EXIT, id3, 1, 3000);
	ok(recorder_count(&r1, SRT_EVENT_SANDBOX_EXIT, id3) == 1, "the first subscriber still gets events");
	ok(recorder_count(&r2, 0, 0) == before2, "the unsubscribed one gets none (%zu then %zu)", before2,
	   recorder_count(&r2, 0, 0));
	int64_t t0 = now_ms();
	while (__atomic_load_n(&re.calls, __ATOMIC_SEQ_CST) < 2 && now_ms() - t0 < 3000)
		sleep_ms(10);
	ok(__atomic_load_n(&re.calls, __ATOMIC_SEQ_CST) >= 2 && re.list_ok >= 1,
	   "a callback may call violation_count/violations/sandboxing_enabled (%d calls)", re.calls);
	if (r == 0)
		result_clear(&res);

	/* reset: subscribers gone, violations cleared */
	srt_runtime_reset(rt);
	ok(srt_runtime_violation_count(rt) == 0, "reset clears the violations");
	size_t before1 = recorder_count(&r1, 0, 0);
	r = srt_runtime_execute_shell(rt, "true", NULL, &res, &e);
	sleep_ms(300);
	ok(r == 0 && recorder_count(&r1, 0, 0) == before1, "after reset no subscriber gets events (%zu then %zu)", before1,
	   recorder_count(&r1, 0, 0));
	if (r == 0)
		result_clear(&res);

	srt_runtime_free(rt);
	recorder_free(&r1);
	recorder_free(&r2);
	tree_remove(&t);
	return done_testing();
}
