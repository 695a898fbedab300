/* The event hub of a runtime: the violation store (a bounded ring), the subscribers, and the JSON Lines form of every event (docs/events.md). */
#ifndef SRT_EVENTS_H
#define SRT_EVENTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox_runtime.h"

#define EVENTS_SCHEMA_VERSION 1
#define EVENTS_DEFAULT_CAPACITY 1000

struct config;

struct event_sub {
	uint64_t token;
	srt_event_fn fn;
	void *data;
	unsigned busy;             /* callbacks of it running now */
	bool removed;              /* unsubscribed: freed when busy drops to 0 */
	bool waited;               /* an unsubscribe waits for busy 0, and frees it */
	struct event_sub *next;
};

/* ignoreViolations, copied out of the settings: a violation whose command
 * contains pattern ("*": every command) and whose target contains one of
 * the substrings is not recorded. */
struct ignore_rule {
	char *pattern;
	char **substrings;
	size_t n;
};

struct event_hub {
	pthread_mutex_t lock;          /* the ring, the subscriber list, the ignore rules */
	pthread_cond_t idle;           /* a removed subscriber's last callback ended */
	struct srt_violation *ring;    /* owned strings in each */
	size_t cap, start, n;
	uint64_t dropped, seq;
	struct event_sub *subs;        /* live ones */
	uint64_t next_token;
	struct ignore_rule *ignore;
	size_t n_ignore;
};

int event_hub_init(struct event_hub *h, size_t capacity);
void event_hub_destroy(struct event_hub *h);

/* Replace the ignore rules with those of cfg. Returns 0 or -ENOMEM. */
int event_hub_set_ignore(struct event_hub *h, const struct config *cfg);

/* Record a violation (unless an ignore rule matches; then returns false):
 * copied into the ring (its seq and time are set here when 0), then an
 * SRT_EVENT_VIOLATION goes to the subscribers. */
bool event_hub_violation(struct event_hub *h, const struct srt_violation *v);

/* Send an event (not a violation) to the subscribers; ev->time_ns is
 * filled here, and ev->json while they are called. With no subscriber,
 * no JSON is made (nor, for a violation, sent: it is stored all the same). */
void event_hub_emit(struct event_hub *h, struct srt_event *ev);
/* Whether this thread is inside a callback that h dispatched. */
bool event_hub_in_callback(const struct event_hub *h);

/* Subscribers are called on the thread that caused the event, with no
 * lock held. Unsubscribing waits until running callbacks of that
 * subscriber have returned, except when called from one of them (then the
 * subscriber is freed when it returns). */
int event_hub_subscribe(struct event_hub *h, srt_event_fn fn, void *data, uint64_t *ret_token);
int event_hub_unsubscribe(struct event_hub *h, uint64_t token);
void event_hub_unsubscribe_all(struct event_hub *h);

/* Back to a new hub's state: no violations, dropped 0, seq from 1. */
void event_hub_reset(struct event_hub *h);

int event_hub_list(struct event_hub *h, enum srt_violation_kind kind, struct srt_violation_list **ret);
size_t event_hub_count(struct event_hub *h);
void event_hub_clear(struct event_hub *h);

/* The stable names used in JSON and messages. */
const char *violation_kind_name(enum srt_violation_kind k);
const char *violation_source_name(enum srt_violation_source s);

/* The event as one JSON object (no newline); malloc'd, NULL when out of
 * memory. */
char *event_to_json(const struct srt_event *ev);

int64_t events_now_ns(void);

#endif
