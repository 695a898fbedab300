/* Upstream proxies: parent proxy URLs, noProxy lists, the mitmProxy route, and the client side of the handshakes srt speaks to them (HTTP CONNECT, SOCKS5). No I/O. */
#ifndef SRT_PROXY_PARENT_H
#define SRT_PROXY_PARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy/domain.h"
#include "policy/netpolicy.h"
#include "proxy/host.h"

enum parent_scheme {
	PARENT_NONE = 0,
	PARENT_HTTP,     /* http://: CONNECT in the clear */
	PARENT_HTTPS,    /* https://: TLS to the parent (parent_tls.c), CONNECT inside */
	PARENT_SOCKS5,   /* socks5://: srt resolves the name, sends the address */
	PARENT_SOCKS5H,  /* socks5h://: the parent resolves, srt sends the name */
	PARENT_UNIX,     /* network.mitmProxy: CONNECT over a unix socket */
};

#define PARENT_CRED_MAX 255 /* bytes of a decoded user name or password (RFC 1929's limit) */
#define PARENT_PATH_MAX 107 /* bytes of a unix socket path */

struct parent_url {
	enum parent_scheme scheme;
	struct proxy_host host;  /* canonical; unused for PARENT_UNIX */
	uint16_t port;
	bool has_auth;           /* userinfo was given (user may be empty) */
	char user[PARENT_CRED_MAX + 1];
	char pass[PARENT_CRED_MAX + 1];
	size_t user_len, pass_len;
	char path[PARENT_PATH_MAX + 1]; /* PARENT_UNIX */
	/* For messages: "http://proxy.example:3128" or "mitmProxy socket
	 * /run/mitm.sock"; never the user name or the password. */
	char name[PROXY_HOST_NAME_MAX + PARENT_PATH_MAX + 40];
};

/*
 * Parse a proxy URL: [scheme://][user[:password]@]host[:port][/]. The
 * scheme is http (the default, as curl takes "proxy:3128"), https,
 * socks5 or socks5h, in any case. host: a name, an IPv4 literal or a
 * bracketed IPv6 literal. The default port is 80 (http), 443 (https),
 * 1080 (socks5, socks5h). User and password are percent-decoded; a
 * decoded control character (CR, LF, NUL, ...), a ':' in the user name,
 * more than PARENT_CRED_MAX bytes, a bad %-escape, a path, query or
 * fragment, or anything else are refused.
 * Returns 0, or -EINVAL with *why (static); *ret is written only on
 * success (with all bytes of a rejected password cleared from the stack).
 */
int parent_url_parse(const char *text, struct parent_url *ret, const char **why);

/* A mitmProxy route: an absolute path shorter than PARENT_PATH_MAX. */
int parent_url_unix(const char *path, struct parent_url *ret, const char **why);

/* Wipe the credentials. */
void parent_url_clear(struct parent_url *u);

/*
 * noProxy / NO_PROXY: comma-separated entries, spaces around them
 * ignored. "*": every host. An entry with '/': a CIDR ("10.0.0.0/8").
 * An IP literal (IPv6 bracketed or not, an optional :port): that address.
 * Anything else is a name suffix, with an optional leading "*." or ".",
 * an optional :port (ignored: entries match every port), any case:
 * "example.com" and ".example.com" both match example.com and every name
 * below it. Loopback (localhost, 127.0.0.0/8, ::1) always bypasses the
 * parent, whatever the list says.
 */
#define NO_PROXY_MAX 256
struct no_proxy {
	bool all;
	size_t n_names, n_cidrs;
	char *names[NO_PROXY_MAX];      /* lower case, no leading dot, no trailing dot */
	struct net_cidr cidrs[NO_PROXY_MAX];
};

/* strict: a malformed entry is an error (-EINVAL, *why, *bad_entry the
 * index); else it is skipped. More than NO_PROXY_MAX entries: -E2BIG. */
int no_proxy_parse(const char *text, bool strict, struct no_proxy *ret, const char **why, size_t *bad_entry);
void no_proxy_free(struct no_proxy *np);
bool no_proxy_match(const struct no_proxy *np, const struct proxy_host *host);

/* Where srt's connections go instead of straight to their target. */
struct proxy_upstream {
	struct parent_url http;   /* plain-HTTP requests; scheme PARENT_NONE: direct */
	struct parent_url https;  /* CONNECT, SOCKS5, transparent; falls back to http */
	struct no_proxy no_proxy;
	struct parent_url mitm;   /* PARENT_UNIX or PARENT_NONE */
	struct domain_pattern *mitm_domains;
	size_t n_mitm_domains;
};

/* The route for host:port: the mitmProxy when a mitm domain matches, else
 * the parent (https, or http for plain HTTP requests only) unless noProxy
 * or loopback bypasses it, else NULL (direct). u may be NULL. */
const struct parent_url *proxy_upstream_route(const struct proxy_upstream *u, const struct proxy_host *host,
					      uint16_t port, bool plain_http);
void proxy_upstream_free(struct proxy_upstream *u);

/* ---- handshakes --------------------------------------------------------- */

enum parent_phase {
	PP_HTTP_RESPONSE,   /* CONNECT sent, its response awaited */
	PP_SOCKS_METHOD,    /* greeting sent */
	PP_SOCKS_AUTH,      /* RFC 1929 request sent */
	PP_SOCKS_REPLY,     /* CONNECT request sent */
	PP_DONE,
};

enum parent_result {
	PARENT_MORE = 0,      /* feed more bytes */
	PARENT_SEND = 1,      /* send *out, then feed more */
	PARENT_READY = 2,     /* the tunnel is up: the bytes after *consumed are the target's */
	PARENT_REFUSED = -1,  /* the parent said no: status (HTTP) or rep (SOCKS5) */
	PARENT_AUTH = -2,     /* authentication refused or required (407, SOCKS5 method/auth) */
	PARENT_MALFORMED = -3,/* not the protocol, or a head over PARENT_HEAD_MAX */
	PARENT_NOMEM = -4,
};

#define PARENT_HEAD_MAX 16384

struct parent_hs {
	const struct parent_url *url;
	enum parent_phase phase;
	int status;           /* HTTP status or SOCKS5 rep of the answer, 0 before */
	uint8_t atyp;         /* SOCKS5: what the request names */
	uint8_t addr[256];    /* name (atyp DOMAIN) or 4/16 address bytes */
	size_t addr_len;
	uint16_t port;
};

/* Begin: the first message in *out (malloc'd, *out_len bytes). host is the
 * target as the sandbox named it; addr, when not NULL, the address srt
 * resolved it to (socks5:// with a name: the parent gets the address). */
int parent_hs_start(struct parent_hs *hs, const struct parent_url *u, const struct proxy_host *host,
		    const struct sockaddr *addr, uint16_t port, char **out, size_t *out_len);

/* Feed what the parent sent (in[0..len)). Returns an enum parent_result;
 * *consumed: the bytes used; *out: the next message for PARENT_SEND. */
int parent_hs_feed(struct parent_hs *hs, const uint8_t *in, size_t len, size_t *consumed, char **out,
		   size_t *out_len);

/* "refused the tunnel (HTTP 403)", "requires authentication (HTTP 407)",
 * "refused: connection not allowed by ruleset (SOCKS5 2)", ... */
void parent_hs_describe(const struct parent_hs *hs, int result, char *buf, size_t size);

/* Pure helpers, exposed for tests and fuzzing. */
/* An HTTP/1.x response head: > 0 its length with *status, 0 incomplete,
 * < 0 malformed (or longer than PARENT_HEAD_MAX). */
int parent_parse_http_head(const uint8_t *in, size_t len, int *status);
/* A SOCKS5 reply: > 0 its length with *rep, 0 incomplete, < 0 malformed. */
int parent_parse_socks_reply(const uint8_t *in, size_t len, uint8_t *rep);
/* "Proxy-Authorization: Basic ...\r\n" for u's credentials into out, or
 * "" without (or for the mitmProxy); returns its length. */
#define PARENT_AUTH_FIELD_MAX (((2 * PARENT_CRED_MAX + 2) / 3 + 1) * 4 + 40)
size_t parent_auth_field(const struct parent_url *u, char *out, size_t size);
/* "CONNECT host:port HTTP/1.1" with Host and, with credentials,
 * Proxy-Authorization: Basic. malloc'd. */
char *parent_connect_request(const struct parent_url *u, const struct proxy_host *host, uint16_t port,
			     size_t *len);

#endif
