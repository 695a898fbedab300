/* The supervisor's proxies: accepts on listeners made inside the sandbox, decides with the network policy, dials, relays. One libuv loop, no threads of its own. */
#ifndef SRT_PROXY_SERVER_H
#define SRT_PROXY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct net_policy;

enum proxy_kind {
	PROXY_KIND_HTTP,    /* HTTP/1.1 forward proxy: CONNECT and absolute-form http:// */
	PROXY_KIND_SOCKS,   /* SOCKS5, CONNECT only */
	PROXY_KIND_FORWARD, /* every connection goes to one fixed host address (a
			     * host loopback service, or the user's own proxy) */
};

/* Defaults in proxy_limits_default(); documented in docs/network.md. */
struct proxy_limits {
	unsigned head_timeout_ms;    /* to send a request head (or the SOCKS5 exchange): 30 s */
	unsigned idle_timeout_ms;    /* a kept-alive HTTP connection between requests: 120 s; 0: never */
	unsigned connect_timeout_ms; /* to connect upstream, all addresses together: 30 s */
	/* An absolute-form HTTP request with nothing moving either way for
	 * this long: 504 before the response head, the connection cut after
	 * it. 0: never. 300 s. */
	unsigned response_timeout_ms;
	/* A tunnel (CONNECT, SOCKS5, forward) with no byte either way for this
	 * long is closed. 0: never. 600 s. */
	unsigned tunnel_idle_timeout_ms;
	unsigned max_connections;    /* per server (one server per sandbox): 16384 */
	size_t buffer_size;          /* per direction, only while data moves: 256 KiB */
};

void proxy_limits_default(struct proxy_limits *l);

/* One connection (or one request of a kept-alive HTTP connection): refused,
 * or ended after it was allowed. Every pointer is valid only during the
 * on_event call. */
struct proxy_event {
	bool allowed;
	const char *host;       /* canonical host as asked ("example.com", "127.0.0.1", "::1") */
	uint16_t port;
	const char *address;    /* numeric address dialed (the last one tried when the dial
				 * failed), "" when none */
	/* What decided: net_decision.rule, plus " (SOURCE)" when it has a
	 * rule_source (for the extra list: "allowedDomains: x (ORIGIN:
	 * allowedDomains[I])"); "asked: allowed" / "asked: REASON"; or, for
	 * refusals after an allow, "resolved address 127.0.0.1 is loopback"
	 * (the guard) and "SNI mismatch: the TLS server name (SNI) names
	 * another host (NAME)" or "SNI check failed: malformed ClientHello"
	 * (the SNI check). FORWARD listeners: "forwarded". */
	const char *rule;
	const char *via;        /* "http" (absolute-form), "connect", "socks5", "forward" */
	const char *error;      /* allowed, but it failed: "connection refused", "timed out",
				 * "name did not resolve", "reset by the client", ...; NULL
				 * when fine */
	/* Who ended an allowed connection: "client", "server" (end of
	 * stream or reset from that side first), "srt" (a timeout, a framing
	 * error, a failed dial); NULL for a kept-alive HTTP request that
	 * completed with the connection still open, and for refusals. */
	const char *closed_by;
	/* The timeout that ended it: "connect", "response", "tunnelIdle"
	 * (the names of network.timeouts' keys), or NULL. */
	const char *timeout;
	/* Bytes of a Content-Length response body that never came (the server
	 * closed early, or the connection was cut): 0 when it was whole. */
	uint64_t bytes_missing;
	uint64_t bytes_up;      /* payload bytes sandbox -> server (0 for refusals) */
	uint64_t bytes_down;    /* payload bytes server -> sandbox (0 for refusals, except
				 * SNI ones: what the server sent before the check) */
	int64_t duration_ns;    /* accept (or the start of a kept-alive request's head) to end */
};

struct proxy_hooks {
	void *data;
	/* The policy to decide with, called at each decision on the loop
	 * thread; the same policy also guards that request's resolved
	 * addresses. A reload makes it return another one; the caller keeps
	 * old policies alive until the server is freed. NULL: use
	 * proxy_options.policy. */
	const struct net_policy *(*policy)(void *data);
	/* An extra allow list for this server only (one sandbox), e.g. from
	 * net_policy_build_list: consulted when the policy's decision is the
	 * default deny (no deniedDomains and no allowedDomains entry matched).
	 * May be NULL. Must outlive the server. */
	const struct net_policy *extra;
	/* When non-NULL and the decision is still the default deny: run on
	 * libuv's thread pool while the connection waits (no timeout applies).
	 * Return true to allow (rule "asked: allowed"); false to deny, with a
	 * NUL-terminated reason in reason[0..reason_size): rule "asked:
	 * REASON" ("asked: denied" when left empty). A reason equal to the
	 * default deny's rule ("no allowedDomains entry matches": nobody to
	 * ask) leaves the default deny exactly as without an ask hook (rule,
	 * 403 body, debug line). May block for long; a
	 * connection whose client leaves meanwhile is freed only after the
	 * call has returned, and proxy_server_close waits for running calls. */
	bool (*ask)(void *data, const char *host, uint16_t port, char *reason, size_t reason_size);
	/* On the loop thread, for every refused connection or request
	 * (allowed=false, before the refusal is written) and for every allowed
	 * one when it ends, with its byte counts. May be NULL. */
	void (*on_event)(void *data, const struct proxy_event *ev);
	/* After proxy_server_close: on the loop thread, once every connection,
	 * tunnel and ask call is gone (their on_event calls made), right
	 * before the server frees itself; the hooks are not used after it.
	 * May be NULL. */
	void (*on_closed)(void *data);
};

struct proxy_options {
	const struct net_policy *policy; /* must outlive the server */
	struct proxy_limits limits;
	bool debug;                      /* one line per decision on stderr */
	const struct proxy_hooks *hooks; /* may be NULL; must outlive the server */
};

struct proxy_server;

/* Create a server on loop. Returns 0 or a negative errno. */
int proxy_server_new(uv_loop_t *loop, const struct proxy_options *o, struct proxy_server **ret);

/* Serve a listening TCP socket (any blocking mode); the server owns fd from
 * now on, also on error. target/target_len: where a FORWARD listener's
 * connections go (ignored for the other kinds). Returns 0 or a negative
 * errno. */
int proxy_server_listen(struct proxy_server *s, enum proxy_kind kind, int fd,
			const struct sockaddr *target, socklen_t target_len);

/* Close every listener and connection. The server frees itself once the
 * loop has run the close callbacks (uv_run until it returns). */
void proxy_server_close(struct proxy_server *s);

#endif
