/* TLS to an https:// parent proxy: a small pump on the loop that speaks TLS on the parent's socket and plaintext on one end of a socket pair, whose other end the proxy uses as it would the parent's socket. */
#ifndef SRT_PROXY_PARENT_TLS_H
#define SRT_PROXY_PARENT_TLS_H

#include <stdbool.h>
#include <uv.h>

#include "proxy/host.h"

struct parent_tls;

/*
 * Start TLS over fd (a connected TCP socket to the parent; ours from now
 * on, also on error). The parent's certificate is verified against the
 * host's trust store (OpenSSL's default paths: SSL_CERT_FILE and
 * SSL_CERT_DIR in srt's environment are honoured), with host's name (or
 * address) checked; TLS 1.2 at least; SNI is host when it is a name.
 * Returns the plaintext end (a unix stream socket, non-blocking,
 * close-on-exec: the caller's) or a negative errno. *ret: a reference
 * for parent_tls_error, dropped with parent_tls_release; the pump itself
 * lives on until both of its sides are done. on_ready (may be NULL) is
 * called with data on the loop once the handshake is done, unless the
 * reference was released before.
 */
int parent_tls_start(uv_loop_t *loop, int fd, const struct proxy_host *host, void (*on_ready)(void *data),
		     void *data, struct parent_tls **ret);

/* Why the pump gave up ("certificate verify failed: ...", ...), or "". */
const char *parent_tls_error(const struct parent_tls *t);

/* Whether its TLS handshake is done. */
bool parent_tls_ready(const struct parent_tls *t);

void parent_tls_release(struct parent_tls *t);

#endif
