/* TLS termination for the proxies (network.tlsTerminate): the CA (given or made per runtime), leaf certificates minted per server name, and a TLS engine over memory buffers that the libuv loop drives; OpenSSL 3. */
#ifndef SRT_PROXY_TLS_H
#define SRT_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_policy;

/* Leaves kept per CA (the least recently used one goes first). */
#define TLS_LEAF_CACHE_MAX 256
/* Defaults of network.tlsTerminate. */
#define TLS_DEFAULT_MAX_TUNNELS 1024
#define TLS_DEFAULT_HANDSHAKE_TIMEOUT_MS 10000

/* The CA that signs the leaves, with its leaf key, leaf cache, and the
 * OpenSSL contexts of both legs. */
struct tls_ca;

/* A new CA made now (EC P-256, valid from an hour ago for 30 days); its
 * key exists only in this process's memory. Returns 0 or -errno, with a
 * reason in err. */
int tls_ca_new_ephemeral(struct tls_ca **ret, char *err, size_t err_size);

/* The CA from PEM files (certificate and its private key, which must
 * match; the certificate must be a CA: basicConstraints CA:TRUE when the
 * extension is present). Returns 0 or -errno, with a reason in err that
 * names the file. */
int tls_ca_load(const char *cert_path, const char *key_path, struct tls_ca **ret, char *err, size_t err_size);

void tls_ca_free(struct tls_ca *ca);

/* The CA certificate as PEM (malloc'd, NUL-terminated). */
char *tls_ca_cert_pem(const struct tls_ca *ca);

/* The leaf for a server name or IP literal (SAN DNS:name or IP:addr),
 * minted on first use and cached; returns an X509 * (opaque here) owned by
 * the cache, valid until the next call, or NULL. Counts: *minted is set
 * to whether it was made now (may be NULL). For tests. */
void *tls_ca_leaf(struct tls_ca *ca, const char *name, bool *minted);
size_t tls_ca_cached(const struct tls_ca *ca);

/* Who decides what; owned by the caller, outlives the proxy server. */
struct tls_terminate {
	struct tls_ca *ca;
	const struct net_policy *exclude; /* excludeDomains: an allow list; NULL: none */
	unsigned max_tunnels;             /* terminated tunnels at once */
	unsigned handshake_timeout_ms;    /* each handshake, client's and server's */
	bool refuse_opaque;               /* non-TLS bytes in a tunnel that would be terminated */
	bool require_host_match;          /* Host must name the tunnel's host */
};

/* One TLS connection over buffers: bytes from the peer go in with
 * tls_io_feed, bytes for the peer come out with tls_io_take. */
struct tls_io;

/* The client's leg: we are the server, with the leaf for name. */
struct tls_io *tls_io_server(struct tls_ca *ca, const char *name);
/* The server's leg: we are the client to host (a name or IP literal),
 * verified against the host's trust store. */
struct tls_io *tls_io_client(struct tls_ca *ca, const char *host);
void tls_io_free(struct tls_io *io);

/* Bytes from the peer (kept until consumed). */
int tls_io_feed(struct tls_io *io, const void *p, size_t n);
/* 1: the handshake is done; 0: it needs more bytes; -1: it failed
 * (tls_io_error says why). */
int tls_io_handshake(struct tls_io *io);
bool tls_io_ready(const struct tls_io *io);
bool tls_io_failed(const struct tls_io *io);
/* Decrypted bytes into buf[0..cap): > 0 bytes, 0 nothing more until more
 * input, -1 the peer ended the TLS session (close_notify), -2 an error. */
long tls_io_read(struct tls_io *io, void *buf, size_t cap);
/* Encrypt n bytes (handshake done). 0 or -1. */
int tls_io_write(struct tls_io *io, const void *p, size_t n);
/* A close_notify for the peer (once). */
void tls_io_close_notify(struct tls_io *io);
/* The bytes produced for the peer so far: a malloc'd buffer that the
 * caller frees, or NULL when there are none. */
char *tls_io_take(struct tls_io *io, size_t *len);
size_t tls_io_pending_out(const struct tls_io *io);
/* Why the handshake or the session failed: "certificate has expired",
 * "hostname mismatch", ... (static or owned by io). */
const char *tls_io_error(const struct tls_io *io);
/* Keep the rest of the bytes fed last (the caller's buffer goes away). */
int tls_io_keep(struct tls_io *io);

/*
 * The trust bundle for the sandbox: the CA's certificate, then the host's
 * roots (the file OpenSSL reads by default, or SSL_CERT_FILE), then the
 * CERTIFICATE blocks of each extra file (missing or unreadable ones are
 * skipped; each skipped path is appended to *skipped, one per line, when
 * skipped is not NULL). malloc'd text.
 */
char *tls_bundle_text(const struct tls_ca *ca, const char *const *extra, size_t n_extra, char **skipped);

#endif
