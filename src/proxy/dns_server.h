/* The DNS responder of the transparent network mode, on the supervisor's loop: listeners inside the sandbox, policy by hooks, names looked up on the host only to learn which families exist. */
#ifndef SRT_PROXY_DNS_SERVER_H
#define SRT_PROXY_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

/*
 * One server per sandbox, serving a UDP socket and a TCP listener that
 * srt-init made at 127.0.0.1:53 inside the sandbox's network namespace.
 * For each query (dns.h parses and builds):
 *
 *   malformed                 FORMERR, NOTIMP (another OPCODE), BADVERS
 *                             (EDNS version above 0), or no answer at all
 *                             (shorter than a header, or an answer)
 *   class other than IN       REFUSED
 *   name not plain, or judged 0 by the hooks
 *                             NXDOMAIN, and on_refused (a violation)
 *   otherwise                 the name is looked up on the host (resolve.c,
 *                             the proxies' own resolver: the host's
 *                             /etc/hosts counts), off the loop, only to
 *                             learn which families it has:
 *       none                  NXDOMAIN (the name does not exist: no violation)
 *       lookup failed         SERVFAIL
 *       A / AAAA              the address handed out for the name, when the
 *                             host's name has an address of that family;
 *                             else NOERROR without records
 *       any other type        NOERROR without records
 *
 * Answers carry DNS_SERVER_TTL. No query is ever sent anywhere: the host's
 * lookup goes through getaddrinfo, and the sandbox only ever learns the
 * addresses of the map (dns.h), never the host's answer.
 *
 * Bounds: at most DNS_SERVER_MAX_INFLIGHT lookups at once (a query past
 * that is answered SERVFAIL at once); at most DNS_SERVER_MAX_TCP TCP
 * connections (more are closed as they are accepted); a TCP connection is
 * closed after DNS_SERVER_TCP_IDLE_MS without a byte or an answer due, when
 * a message is longer than DNS_SERVER_QUERY_MAX, or when the client lets
 * more than DNS_SERVER_TCP_UNSENT_MAX bytes of answers pile up unread.
 * UDP answers that the socket cannot take at once are dropped, as a
 * network would drop them.
 *
 * Everything runs on the loop's thread, hooks included.
 */

#define DNS_SERVER_TTL 60
#define DNS_SERVER_MAX_INFLIGHT 64
#define DNS_SERVER_MAX_TCP 64
#define DNS_SERVER_TCP_IDLE_MS 10000
#define DNS_SERVER_QUERY_MAX 4096      /* bytes in one query, UDP or TCP */
#define DNS_SERVER_TCP_UNSENT_MAX (64 * 1024)

struct dns_server;

struct dns_server_hooks {
	void *data;
	/* May a connection to name succeed on some port? 1: yes; 0: never
	 * (fill rule: the deciding rule, as the proxies word it);
	 * 2: only a question could allow it: answered with placeholders of
	 * both families without looking the name up on the host, so that no
	 * name leaves before the question is asked (at connect time). */
	int (*judge)(void *data, const char *name, char *rule, size_t rule_size);
	/* A name refused (NXDOMAIN sent): for a violation report. May be NULL.
	 * A name that is not plain comes as printable text: bytes other than
	 * letters, digits, '-' and '_' as \DDD (as dig prints them). */
	void (*on_refused)(void *data, const char *name, const char *rule);
};

/* A server on loop with a map of its own (dns_map_new's defaults). h is
 * copied; judge is required. Returns 0 with *ret, -EINVAL, -ENOMEM, or
 * dns_map_new's error. Loop thread. */
int dns_server_new(uv_loop_t *loop, const struct dns_server_hooks *h, struct dns_server **ret);

/* Serve a bound UDP socket / a listening TCP socket (listen() done).
 * The server owns fd from the call on, on failure too (closed). Returns 0
 * or a negative errno (libuv's). At most one of each. */
int dns_server_listen_udp(struct dns_server *s, int fd);
int dns_server_listen_tcp(struct dns_server *s, int fd);

/* The name an address was handed out for (AF_INET/AF_INET6 sockaddr,
 * IPv4-mapped too), or NULL. The name lives as long as the server. */
const char *dns_server_name_of(const struct dns_server *s, const struct sockaddr *addr);

/* Whether addr lies in the handed-out ranges (handed out or not). */
bool dns_server_in_range(const struct dns_server *s, const struct sockaddr *addr);

/* Stop serving: no hook is called from here on, lookups in flight are
 * cancelled; the server frees itself once its handles are closed (the
 * loop must run). NULL is a no-op. */
void dns_server_close(struct dns_server *s);

#endif
