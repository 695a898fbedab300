/* Thread-safety smoke test: 4 threads each run 5 sandboxes one after the
 * other (so 4 at a time), each causing one violation, while another thread
 * keeps reading the violations and a third subscribes and unsubscribes. */
#include "common.h"

#define THREADS 4
#define PER_THREAD 5

struct worker {
	srt_runtime *rt;
	const char *ro;
	int index;
	int failures;
	uint64_t ids[PER_THREAD];
	char msg[512];
};

static volatile int stop_readers;

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int k = 0; k < PER_THREAD; k++) {
		char cmd[1024], want[64];
		struct srt_result *res = NULL;
		struct srt_error e;
		snprintf(cmd, sizeof(cmd), "echo T%d-%d; echo > '%s/t%d-%d' 2>/dev/null; exit %d", w->index, k, w->ro,
			 w->index, k, 10 + k);
		snprintf(want, sizeof(want), "T%d-%d\n", w->index, k);
		int r = srt_runtime_execute_shell(w->rt, cmd, NULL, &res, &e);
		if (r < 0) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "execute_shell %d-%d: %d %.400s", w->index, k, r, e.message);
			continue;
		}
		w->ids[k] = res->sandbox_id;
		if (res->status != 10 + k || !res->out || strcmp(res->out, want) != 0) {
			w->failures++;
			snprintf(w->msg, sizeof(w->msg), "sandbox %d-%d: status %d, out \"%s\", err \"%.200s\"", w->index, k,
				 res->status, res->out ? res->out : "", res->err ? res->err : "");
		}
		result_clear(&res);
	}
	return NULL;
}

struct reader {
	srt_runtime *rt;
	long reads;
	int bad;
};

static void *read_loop(void *arg)
{
	struct reader *rd = arg;
	while (!stop_readers) {
		struct srt_violation_list *l = NULL;
		if (srt_runtime_violations(rd->rt, SRT_VIOLATION_ANY, &l) != 0 || !l) {
			rd->bad++;
		} else {
			for (size_t i = 0; i < l->n; i++) {
				const struct srt_violation *v = srt_violation_at(l, i);
				if (!v->target || !v->operation || v->kind != SRT_VIOLATION_FILESYSTEM ||
				    (i > 0 && v->seq <= srt_violation_at(l, i - 1)->seq))
					rd->bad++;
			}
			srt_violation_list_free(l);
		}
		(void)srt_runtime_violation_count(rd->rt);
		rd->reads++;
		sleep_ms(1);
	}
	return NULL;
}

struct churner {
	srt_runtime *rt;
	struct recorder rec;
	long rounds;
	int bad;
};

static void *churn(void *arg)
{
	struct churner *c = arg;
	while (!stop_readers) {
		uint64_t tok = 0;
		if (srt_runtime_subscribe(c->rt, recorder_fn, &c->rec, &tok) != 0)
			c->bad++;
		sleep_ms(5);
		if (srt_runtime_unsubscribe(c->rt, tok) != 0)
			c->bad++;
		c->rounds++;
	}
	return NULL;
}

int main(void)
{
	struct tree t;
	srt_runtime *rt = NULL;

	plan(7);
	tree_make(&t);
	struct srt_runtime_options o = tree_options(&t);
	const char *const aw[] = { ".", NULL };
	struct srt_config cfg = { .size = sizeof(cfg) };
	cfg.allow_write = aw;
	rt = runtime_new_or_bail(&cfg, &o);
	struct recorder all;
	recorder_init(&all);
	srt_runtime_subscribe(rt, recorder_fn, &all, NULL);

	struct worker w[THREADS];
	pthread_t tw[THREADS], trd, tch;
	struct reader rd = { .rt = rt };
	struct churner ch = { .rt = rt };
	recorder_init(&ch.rec);
	pthread_create(&trd, NULL, read_loop, &rd);
	pthread_create(&tch, NULL, churn, &ch);
	int64_t t0 = now_ms();
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].rt = rt;
		w[i].ro = t.ro;
		w[i].index = i;
		pthread_create(&tw[i], NULL, work, &w[i]);
	}
	int failures = 0;
	for (int i = 0; i < THREADS; i++) {
		pthread_join(tw[i], NULL);
		failures += w[i].failures;
		if (w[i].failures)
			diag("thread %d: %d failures, last: %s", i, w[i].failures, w[i].msg);
	}
	diag("%d sandboxes in %lld ms", THREADS * PER_THREAD, (long long)(now_ms() - t0));
	ok(failures == 0, "all %d sandboxes ran with the right status and output", THREADS * PER_THREAD);

	/* every violation, attributed to the right sandbox */
	char last[600];
	snprintf(last, sizeof(last), "%s/t%d-%d", t.ro, THREADS - 1, PER_THREAD - 1);
	int64_t tw0 = now_ms();
	while (srt_runtime_violation_count(rt) < THREADS * PER_THREAD && now_ms() - tw0 < 3000)
		sleep_ms(20);
	stop_readers = 1;
	pthread_join(trd, NULL);
	pthread_join(tch, NULL);
	ok(rd.bad == 0 && rd.reads > 0, "the reader saw consistent lists (%ld reads, %d bad)", rd.reads, rd.bad);
	ok(ch.bad == 0 && ch.rounds > 0, "subscribe/unsubscribe from another thread (%ld rounds, %d bad)", ch.rounds,
	   ch.bad);
	size_t n = srt_runtime_violation_count(rt);
	ok(n == THREADS * PER_THREAD, "%d violations stored (%zu)", THREADS * PER_THREAD, n);
	int misattributed = 0, missing = 0;
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < PER_THREAD; k++) {
			char target[600];
			struct found_violation fv;
			snprintf(target, sizeof(target), "%s/t%d-%d", t.ro, i, k);
			if (find_violation(rt, SRT_VIOLATION_FILESYSTEM, 0, target, 0, &fv) < 0)
				missing++;
			else if (fv.sandbox_id != w[i].ids[k]) {
				misattributed++;
				diag("%s: sandbox %llu, expected %llu", target, (unsigned long long)fv.sandbox_id,
				     (unsigned long long)w[i].ids[k]);
			}
		}
	ok(missing == 0 && misattributed == 0, "each attributed to its own sandbox (%d missing, %d wrong)", missing,
	   misattributed);
	if (missing)
		dump_violations(rt);

	/* events: one START and one EXIT per sandbox, with the right status */
	recorder_wait(&all, SRT_EVENT_SANDBOX_EXIT, 0, THREADS * PER_THREAD, 5000);
	int bad_ev = 0;
	for (int i = 0; i < THREADS; i++)
		for (int k = 0; k < PER_THREAD; k++) {
			struct rec_event ev;
			if (recorder_count(&all, SRT_EVENT_SANDBOX_START, w[i].ids[k]) != 1 ||
			    recorder_count(&all, SRT_EVENT_SANDBOX_EXIT, w[i].ids[k]) != 1 ||
			    !recorder_find(&all, SRT_EVENT_SANDBOX_EXIT, w[i].ids[k], &ev) || ev.status != 10 + k)
				bad_ev++;
		}
	ok(bad_ev == 0, "one START and one EXIT (right status) per sandbox (%d wrong)", bad_ev);
	ok(recorder_count(&all, SRT_EVENT_VIOLATION, 0) == THREADS * PER_THREAD, "%d VIOLATION events (%zu)",
	   THREADS * PER_THREAD, recorder_count(&all, SRT_EVENT_VIOLATION, 0));

	srt_runtime_free(rt);
	recorder_free(&all);
	recorder_free(&ch.rec);
	tree_remove(&t);
	return done_testing();
}
