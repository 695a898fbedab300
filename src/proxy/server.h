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
	unsigned idle_timeout_ms;    /* a kept-alive HTTP connection between requests: 120 s */
	unsigned connect_timeout_ms; /* to connect upstream, all addresses together: 30 s */
	unsigned max_connections;    /* per server (one server per sandbox): 16384 */
	size_t buffer_size;          /* per direction, only while data moves: 256 KiB */
};

void proxy_limits_default(struct proxy_limits *l);

struct proxy_options {
	const struct net_policy *policy; /* must outlive the server */
	struct proxy_limits limits;
	bool debug;                      /* one line per decision on stderr */
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
