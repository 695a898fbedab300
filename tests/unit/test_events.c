/* Unit tests for the event hub: violations are stored whether anyone subscribed or not; events reach subscribers with their JSON; an event nobody subscribed to is not made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

struct seen {
	unsigned n;
	char last[512];
};

static void on_event(const struct srt_event *ev, void *data)
{
	struct seen *s = data;
	s->n++;
	assert_non_null(ev->json);
	snprintf(s->last, sizeof(s->last), "%s", ev->json);
}

static struct srt_violation violation(const char *target)
{
	return (struct srt_violation){ .size = sizeof(struct srt_violation), .kind = SRT_VIOLATION_NETWORK,
				       .operation = "connect", .target = target, .rule = "a rule",
				       .command = "cmd", .source = SRT_SOURCE_PROXY };
}

static void test_violations_are_stored_without_subscribers(void **state)
{
	(void)state;
	struct event_hub h;
	assert_int_equal(event_hub_init(&h, 4), 0);
	struct srt_violation v = violation("a.test:80");
	assert_true(event_hub_violation(&h, &v));
	struct srt_connection c = { .host = "a.test", .port = 80, .address = "", .allowed = true };
	struct srt_event ev = { .type = SRT_EVENT_CONNECTION, .connection = &c };
	event_hub_emit(&h, &ev); /* nobody listens: nothing made, nothing breaks */
	assert_null(ev.json);
	assert_int_equal(event_hub_count(&h), 1);
	struct srt_violation_list *l = NULL;
	assert_int_equal(event_hub_list(&h, SRT_VIOLATION_NETWORK, &l), 0);
	assert_int_equal(l->n, 1);
	assert_string_equal(l->v[0].target, "a.test:80");
	srt_violation_list_free(l);
	event_hub_destroy(&h);
}

static void test_subscribers_get_events_with_json(void **state)
{
	(void)state;
	struct event_hub h;
	assert_int_equal(event_hub_init(&h, 4), 0);
	struct seen s = { 0 };
	uint64_t token = 0;
	assert_int_equal(event_hub_subscribe(&h, on_event, &s, &token), 0);
	struct srt_violation v = violation("b.test:443");
	assert_true(event_hub_violation(&h, &v));
	assert_int_equal(s.n, 1);
	assert_non_null(strstr(s.last, "\"violation\""));
	assert_non_null(strstr(s.last, "b.test:443"));
	struct srt_connection c = { .host = "c.test", .port = 8080, .address = "127.0.0.1", .allowed = true };
	struct srt_event ev = { .type = SRT_EVENT_CONNECTION, .connection = &c };
	event_hub_emit(&h, &ev);
	assert_int_equal(s.n, 2);
	assert_non_null(strstr(s.last, "\"connection\""));
	assert_non_null(strstr(s.last, "c.test"));
	assert_true(ev.time_ns > 0);
	/* Gone again: stored, not sent. */
	assert_int_equal(event_hub_unsubscribe(&h, token), 0);
	v = violation("d.test:1");
	assert_true(event_hub_violation(&h, &v));
	event_hub_emit(&h, &ev);
	assert_int_equal(s.n, 2);
	assert_int_equal(event_hub_count(&h), 2);
	event_hub_destroy(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_violations_are_stored_without_subscribers),
		cmocka_unit_test(test_subscribers_get_events_with_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
