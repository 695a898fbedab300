/* The supervisor's proxies: accepts on listeners made inside the sandbox, decides with the network policy, dials, relays. One libuv loop; its only threads run blocking ask hooks. */
#ifndef SRT_PROXY_SERVER_H
#define SRT_PROXY_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct net_policy;
struct proxy_ask;
struct proxy_upstream;
struct tls_terminate;

/* How long a question waits for its answer unless proxy_hooks.ask_timeout
 * says otherwise. */
#define PROXY_ASK_TIMEOUT_MS 60000u

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
	/* "http" (absolute-form), "connect", "socks5", "forward", or
	 * "transparent" (proxy_server_direct: the connect broker's). A
	 * transparent connection that was allowed is reported once, when
	 * its socket is handed over (bytes 0, closed_by NULL): srt does not
	 * see its bytes; one that failed after it was allowed (refused by
	 * the server, timed out) is reported with its error as any other. */
	const char *via;
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
	/* Asking, when the decision is still the default deny: the connection
	 * waits for an answer, for at most ask_timeout (then it is denied
	 * with rule "asked: no answer in time"). Allowed: rule "asked:
	 * allowed"; denied with a reason: "asked: REASON" ("asked: denied"
	 * when empty). A reason equal to the default deny's rule ("no
	 * allowedDomains entry matches": nobody to ask) leaves the default
	 * deny exactly as without asking (rule, 403 body, debug line).
	 *
	 * ask_async is tried first, on the loop thread; it must return at
	 * once. Returning true takes q: answer it exactly once with
	 * proxy_ask_answer, from any thread, at any time, also after the
	 * connection or the server went away (the answer then only frees
	 * q). host is valid during the call. Returning false leaves the
	 * question to ask. May be NULL. */
	bool (*ask_async)(void *data, struct proxy_ask *q, const char *host, uint16_t port);
	/* Blocking: runs on a thread of the proxy's own (never libuv's pool,
	 * which resolves names), at most 64 at a time, the others queued.
	 * Return true to allow; false to deny, with a NUL-terminated reason
	 * in reason[0..reason_size). A call that has begun is waited for: its
	 * answer is dropped when the connection went away meanwhile, and the
	 * server frees itself (on_closed) only after it has returned. May be
	 * NULL: without either hook nobody is asked. */
	bool (*ask)(void *data, const char *host, uint16_t port, char *reason, size_t reason_size);
	/* Milliseconds a question may wait, read on the loop thread when it
	 * is asked; NULL or 0: PROXY_ASK_TIMEOUT_MS. */
	unsigned (*ask_timeout)(void *data);
	/* On the loop thread, for every refused connection or request
	 * (allowed=false, before the refusal is written) and for every allowed
	 * one when it ends, with its byte counts. May be NULL. */
	void (*on_event)(void *data, const struct proxy_event *ev);
	/* After proxy_server_close: on the loop thread, once every connection,
	 * tunnel and blocking ask call is gone (their on_event calls made), right
	 * before the server frees itself; the hooks are not used after it.
	 * May be NULL. */
	void (*on_closed)(void *data);
	/* credentials: a masked credential's stand-in was found in a request
	 * to host:port where it may not be injected (not one of its
	 * injectHosts, or not over a transport it may be injected over): the
	 * request went on unchanged, stand-in and all. credential names it
	 * (creds_name: "envVars[0] GITHUB_TOKEN"), never its value. where:
	 * "head" or "body"; or "sigv4": an AWS request signed with the
	 * credential's masked key was refused (why: the reason). On the loop
	 * thread; may be NULL. */
	void (*on_credential)(void *data, const char *credential, const char *host, uint16_t port,
			      const char *where, const char *why);
	/* The settings in force now, for the credentials' injectHosts after a
	 * reload (creds_may_inject_now); NULL, or returning NULL: those the
	 * credentials were built from. Loop thread. */
	const struct config *(*cred_settings)(void *data);
};

struct creds;
struct config;

struct proxy_options {
	const struct net_policy *policy; /* must outlive the server */
	/* Masked credentials (creds.h), or NULL: stand-ins in plain HTTP
	 * request heads and bodies are replaced where the credential may be
	 * injected, and reported elsewhere. Must outlive the server. */
	const struct creds *creds;
	struct proxy_limits limits;
	bool debug;                      /* one line per decision on stderr */
	const struct proxy_hooks *hooks; /* may be NULL; must outlive the server */
	/* Parent proxy and mitmProxy routes (proxy/parent.h); NULL: every
	 * connection is dialed directly. Must outlive the server. An allowed
	 * request routed to a parent is not resolved by srt (the parent gets
	 * the name; socks5:// parents excepted: srt resolves and guards, and
	 * sends the address); the parent's own address is dialed without the
	 * resolved-address guard. Its events' address is the parent's. */
	const struct proxy_upstream *upstream;
	/* network.tlsTerminate (proxy/tls.h); NULL: tunnels stay opaque.
	 * Must outlive the server. */
	const struct tls_terminate *tls;
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
/* A FORWARD listener for a host loopback service (an allowedDomains entry
 * 127.0.0.1:PORT, [::1]:PORT, localhost:PORT): each connection goes to
 * target only while the policy in force when it is accepted (the policy
 * hook, after a reload too) still names target's port
 * (net_policy_loopback_port); else it is closed at once and reported as
 * refused (rule "no allowedDomains entry matches"). */
int proxy_server_listen_service(struct proxy_server *s, int fd, const struct sockaddr *target,
				socklen_t target_len);

/* Whether a connection still holds np: decides with it, or keeps an
 * upstream that was guarded with it (loop thread). */
bool proxy_server_uses_policy(const struct proxy_server *s, const struct net_policy *np);

/* Close every listener and connection. The server frees itself once the
 * loop has run the close callbacks (uv_run until it returns). */
void proxy_server_close(struct proxy_server *s);

/*
 * One connection for the connect broker (transparent mode), decided and
 * dialed like a proxy request, on the loop thread.
 *
 * It is decided exactly as a CONNECT request to host:port: the policy,
 * the extra list, the ask hooks with their timeout; resolved on the host,
 * every address checked by the resolved-address guard (lifted by the
 * extra list as for the proxies), the candidates dialed in order within
 * limits.connect_timeout_ms. Its events have via "transparent". It counts
 * toward limits.max_connections while under way, and proxy_server_close
 * waits for it.
 */
struct proxy_direct;

/*
 * fd: the connected TCP socket (ours to take: O_CLOEXEC, O_NONBLOCK, no
 * byte read from it) with err 0, or with err EINPROGRESS when its connect
 * is still under way (proxy_direct_early); or -1 with err the errno a
 * connect() would give the
 * program: ECONNREFUSED (denied by the policy, refused by the server, the
 * server closed meanwhile, or a failure of srt's own), ETIMEDOUT (not
 * connected within limits.connect_timeout_ms; a question left without an
 * answer in time is a denial: ECONNREFUSED), ENETUNREACH, EHOSTUNREACH
 * (also: the name did not resolve on the host). rule: for a denial by the policy,
 * the question or the guard, the rule text (as in proxy_event.rule), else
 * NULL; valid during the call. Called exactly once, on the loop thread,
 * never from inside proxy_server_direct itself, unless cancelled; when
 * proxy_server_close ends a request under way, it is called from inside
 * proxy_server_close with -1, ECONNREFUSED. After it, the proxy_direct is
 * gone.
 */
typedef void (*proxy_direct_done)(void *data, int fd, int err, const char *rule);

/*
 * host: a host name (lowercase, as the sandbox asked it) or an IP literal
 * text; port: 1..65535; family: the program's socket family (AF_INET /
 * AF_INET6): addresses of that family are tried first, then the others.
 * Returns 0 with *ret (done will be called), or -EINVAL (a bad argument
 * or host), -ENOMEM, -ECONNREFUSED (the server is closing, or has
 * max_connections under way: no event, done is not called). Loop thread
 * only.
 */
int proxy_server_direct(struct proxy_server *s, const char *host, uint16_t port, int family,
			proxy_direct_done done, void *data, struct proxy_direct **ret);

/* The program gave up (killed): done is not called; what is under way
 * stops (an allowed request that was dialing is reported with error
 * "closed before the connection was made"). Loop thread only; only before
 * done was called. NULL is a no-op. */
void proxy_direct_cancel(struct proxy_direct *d);

/* For a program whose socket is non-blocking: once allowed, resolved and
 * guarded, the socket is handed over as soon as its connect is under way
 * (done: fd, err EINPROGRESS), on the first address only; the program
 * learns the outcome from the socket (SO_ERROR), as after its own
 * non-blocking connect. Call right after proxy_server_direct. */
void proxy_direct_early(struct proxy_direct *d);

/* Answer a question handed over by proxy_hooks.ask_async: exactly once,
 * from any thread. reason (may be NULL) is used only when allow is false.
 * Frees q, at once or on the loop thread. */
void proxy_ask_answer(struct proxy_ask *q, bool allow, const char *reason);

#endif
