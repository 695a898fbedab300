/* TLS termination for the proxies (network.tlsTerminate): the CA (given or made per runtime), leaf certificates minted per server name, and a TLS engine over memory buffers that the libuv loop drives; OpenSSL 3. */
#include "proxy/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/*
 * Leaves: one EC P-256 key, made with the CA object, is the key of every
 * leaf (the leaves differ in their names only); each leaf is valid from an hour ago
 * for 30 days, and never beyond the CA. The leaf's name is the tunnel's
 * host, already canonical (proxy_host_canonical): a DNS name or an IP
 * literal, put into the subjectAltName with OpenSSL's structures, never
 * through a configuration string (where a comma would add a name).
 *
 * Both legs refuse anything below TLS 1.2; the server's leg verifies the
 * chain against OpenSSL's default trust (SSL_CERT_FILE, SSL_CERT_DIR, else
 * the distribution's bundle) and the host name or address, and sends the
 * host as SNI. The client's leg offers ALPN http/1.1 only, so HTTP/2
 * clients fall back to HTTP/1.1.
 */

#define LEAF_DAYS 30
#define CA_DAYS 30

struct leaf {
	char *name;
	X509 *cert;
	uint64_t used;
};

/* Sessions for resuming the server's leg, per host: the handshake that
 * made one verified the host's certificate. */
#define SESSION_CACHE_MAX 64

struct session {
	char *host;
	SSL_SESSION *sess;
	uint64_t used;
};

struct tls_ca {
	struct session sessions[SESSION_CACHE_MAX];
	size_t n_sessions;
	X509 *cert;
	EVP_PKEY *key;
	EVP_PKEY *leaf_key;
	SSL_CTX *server_ctx;
	SSL_CTX *client_ctx;
	struct leaf leaves[TLS_LEAF_CACHE_MAX];
	size_t n_leaves;
	uint64_t tick;
};

static void set_err(char *err, size_t size, const char *fmt, const char *arg)
{
	if (!err || !size)
		return;
	snprintf(err, size, fmt, arg);
	unsigned long e = ERR_peek_last_error();
	if (e) {
		size_t n = strlen(err);
		const char *why = ERR_reason_error_string(e);
		if (why && n + 3 < size)
			snprintf(err + n, size - n, " (%s)", why);
	}
	ERR_clear_error();
}

/* --- certificates ---------------------------------------------------------- */

static bool random_serial(X509 *x)
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof(b)) != 1)
		return false;
	b[0] &= 0x7f; /* positive */
	b[0] |= 0x01; /* and never zero */
	BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
	ASN1_INTEGER *ai = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	bool ok = ai && X509_set_serialNumber(x, ai) == 1;
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return ok;
}

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e)
		return false;
	bool ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

static EVP_PKEY *ec_key(void)
{
	return EVP_EC_gen("P-256");
}

int tls_ca_new_ephemeral(struct tls_ca **ret, char *err, size_t err_size);

static int ca_finish(struct tls_ca *ca, char *err, size_t err_size);

int tls_ca_new_ephemeral(struct tls_ca **ret, char *err, size_t err_size)
{
	struct tls_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	ca->key = ec_key();
	ca->cert = X509_new();
	unsigned char id[6];
	char cn[64];
	if (!ca->key || !ca->cert || RAND_bytes(id, sizeof(id)) != 1)
		goto fail;
	snprintf(cn, sizeof(cn), "srt ephemeral CA %02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3], id[4],
		 id[5]);
	X509_NAME *name = X509_get_subject_name(ca->cert);
	if (X509_set_version(ca->cert, 2) != 1 || !random_serial(ca->cert) ||
	    !X509_gmtime_adj(X509_getm_notBefore(ca->cert), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(ca->cert), (long)CA_DAYS * 86400) ||
	    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"sandbox-runtime", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(ca->cert, name) != 1 || X509_set_pubkey(ca->cert, ca->key) != 1 ||
	    !add_ext(ca->cert, ca->cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(ca->cert, ca->cert, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(ca->cert, ca->cert, NID_subject_key_identifier, "hash") ||
	    !add_ext(ca->cert, ca->cert, NID_authority_key_identifier, "keyid:always") ||
	    X509_sign(ca->cert, ca->key, EVP_sha256()) <= 0)
		goto fail;
	if (ca_finish(ca, err, err_size) < 0) {
		tls_ca_free(ca);
		return -EINVAL;
	}
	*ret = ca;
	return 0;
fail:
	set_err(err, err_size, "cannot make a CA%s", "");
	tls_ca_free(ca);
	return -ENOMEM;
}

int tls_ca_load(const char *cert_path, const char *key_path, struct tls_ca **ret, char *err, size_t err_size)
{
	struct tls_ca *ca = calloc(1, sizeof(*ca));
	if (!ca)
		return -ENOMEM;
	FILE *f = fopen(cert_path, "re");
	if (!f) {
		snprintf(err, err_size, "cannot read %s: %s", cert_path, strerror(errno));
		free(ca);
		return -errno ? -errno : -EIO;
	}
	ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->cert) {
		set_err(err, err_size, "%s holds no PEM certificate", cert_path);
		tls_ca_free(ca);
		return -EINVAL;
	}
	f = fopen(key_path, "re");
	if (!f) {
		snprintf(err, err_size, "cannot read %s: %s", key_path, strerror(errno));
		tls_ca_free(ca);
		return -EACCES;
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->key) {
		set_err(err, err_size, "%s holds no PEM private key (or it is encrypted)", key_path);
		tls_ca_free(ca);
		return -EINVAL;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		set_err(err, err_size, "the key in %s does not belong to the certificate", key_path);
		tls_ca_free(ca);
		return -EINVAL;
	}
	int crit = 0;
	BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(ca->cert, NID_basic_constraints, &crit, NULL);
	bool is_ca = !bc || bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (!is_ca) {
		snprintf(err, err_size, "%s is not a CA certificate (basicConstraints CA:FALSE)", cert_path);
		tls_ca_free(ca);
		return -EINVAL;
	}
	if (X509_cmp_time(X509_get0_notAfter(ca->cert), NULL) <= 0) {
		snprintf(err, err_size, "%s has expired", cert_path);
		tls_ca_free(ca);
		return -EINVAL;
	}
	if (ca_finish(ca, err, err_size) < 0) {
		tls_ca_free(ca);
		return -EINVAL;
	}
	*ret = ca;
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
		       unsigned int inlen, void *arg)
{
	(void)ssl;
	(void)arg;
	static const unsigned char h11[] = "\x08http/1.1";
	unsigned char *o = NULL;
	if (SSL_select_next_proto(&o, outlen, h11, sizeof(h11) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
		*out = o;
		return SSL_TLSEXT_ERR_OK;
	}
	/* Only other protocols (h2 alone): no ALPN, the client speaks HTTP/1.1
	 * or gives up. */
	return SSL_TLSEXT_ERR_NOACK;
}

/* SSL ex_data: the io of an SSL (for the session callback). */
static int io_index = -1;
static int ca_index = -1;
static pthread_once_t ca_index_once = PTHREAD_ONCE_INIT;

static void ca_index_make(void)
{
	io_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	ca_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static const char *io_host(const struct tls_io *io);

/* A session the server's leg can resume later (TLS 1.3 sends it after the
 * handshake). Returns 1: we keep the reference. */
static int session_new(SSL *ssl, SSL_SESSION *sess)
{
	struct tls_ca *ca = SSL_get_ex_data(ssl, ca_index);
	const struct tls_io *io = SSL_get_ex_data(ssl, io_index);
	if (!ca || !io || !io_host(io) || SSL_get_verify_result(ssl) != X509_V_OK)
		return 0;
	const char *host = io_host(io);
	ca->tick++;
	size_t slot = ca->n_sessions, oldest = 0;
	for (size_t i = 0; i < ca->n_sessions; i++) {
		if (strcmp(ca->sessions[i].host, host) == 0) {
			slot = i;
			break;
		}
		if (ca->sessions[i].used < ca->sessions[oldest].used)
			oldest = i;
	}
	if (slot == ca->n_sessions) {
		if (ca->n_sessions < SESSION_CACHE_MAX) {
			char *copy = strdup(host);
			if (!copy)
				return 0;
			ca->sessions[ca->n_sessions++] = (struct session){ copy, NULL, 0 };
		} else {
			slot = oldest;
			char *copy = strdup(host);
			if (!copy)
				return 0;
			free(ca->sessions[slot].host);
			ca->sessions[slot].host = copy;
		}
	}
	SSL_SESSION_free(ca->sessions[slot].sess);
	ca->sessions[slot].sess = sess;
	ca->sessions[slot].used = ca->tick;
	return 1;
}

static SSL_SESSION *session_find(struct tls_ca *ca, const char *host)
{
	for (size_t i = 0; i < ca->n_sessions; i++)
		if (strcmp(ca->sessions[i].host, host) == 0) {
			SSL_SESSION *s = ca->sessions[i].sess;
			if (s && !SSL_SESSION_is_resumable(s))
				return NULL;
			return s;
		}
	return NULL;
}

static int ca_finish(struct tls_ca *ca, char *err, size_t err_size)
{
	ca->leaf_key = ec_key();
	ca->server_ctx = SSL_CTX_new(TLS_server_method());
	if (ca_index < 0)
		pthread_once(&ca_index_once, ca_index_make);
	ca->client_ctx = SSL_CTX_new(TLS_client_method());
	if (!ca->leaf_key || !ca->server_ctx || !ca->client_ctx) {
		set_err(err, err_size, "cannot set up TLS%s", "");
		return -1;
	}
	SSL_CTX *s = ca->server_ctx, *c = ca->client_ctx;
	SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_alpn_select_cb(s, alpn_select, NULL);
	static const unsigned char h11[] = "\x08http/1.1";
	SSL_CTX_set_alpn_protos(c, h11, sizeof(h11) - 1);
	/* The host's trust store, as OpenSSL finds it (SSL_CERT_FILE and
	 * SSL_CERT_DIR first). */
	if (SSL_CTX_set_default_verify_paths(c) != 1) {
		set_err(err, err_size, "cannot load the host's trusted certificates%s", "");
		return -1;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	/* One ticket on the client's leg (for clients that resume): the
	 * record right after the handshake also acknowledges the client's
	 * Finished at once, which a client that writes its request in a
	 * second segment (Nagle's algorithm) waits for. The server's leg
	 * resumes what a verified handshake to the same host left. */
	SSL_CTX_set_num_tickets(s, 1);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c, session_new);
	return 0;
}

void tls_ca_free(struct tls_ca *ca)
{
	if (!ca)
		return;
	for (size_t i = 0; i < ca->n_leaves; i++) {
		free(ca->leaves[i].name);
		X509_free(ca->leaves[i].cert);
	}
	for (size_t i = 0; i < ca->n_sessions; i++) {
		free(ca->sessions[i].host);
		SSL_SESSION_free(ca->sessions[i].sess);
	}
	SSL_CTX_free(ca->server_ctx);
	SSL_CTX_free(ca->client_ctx);
	EVP_PKEY_free(ca->leaf_key);
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	free(ca);
}

char *tls_ca_cert_pem(const struct tls_ca *ca)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return NULL;
	char *out = NULL;
	if (PEM_write_bio_X509(b, ca->cert) == 1) {
		char *p;
		long n = BIO_get_mem_data(b, &p);
		out = n > 0 ? malloc((size_t)n + 1) : NULL;
		if (out) {
			memcpy(out, p, (size_t)n);
			out[n] = '\0';
		}
	}
	BIO_free(b);
	return out;
}

static X509 *mint(struct tls_ca *ca, const char *name)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	unsigned char ip[16];
	int iplen = inet_pton(AF_INET, name, ip) == 1 ? 4 : inet_pton(AF_INET6, name, ip) == 1 ? 16 : 0;
	GENERAL_NAMES *sans = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	bool ok = sans && gn;
	if (ok && iplen) {
		ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
		ok = o && ASN1_OCTET_STRING_set(o, ip, iplen) == 1;
		if (ok)
			GENERAL_NAME_set0_value(gn, GEN_IPADD, o);
		else
			ASN1_OCTET_STRING_free(o);
	} else if (ok) {
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		ok = s && ASN1_STRING_set(s, name, (int)strlen(name)) == 1;
		if (ok)
			GENERAL_NAME_set0_value(gn, GEN_DNS, s);
		else
			ASN1_IA5STRING_free(s);
	}
	if (ok) {
		ok = sk_GENERAL_NAME_push(sans, gn) > 0;
		if (ok)
			gn = NULL;
	}
	GENERAL_NAME_free(gn);
	X509_NAME *subj = X509_get_subject_name(x);
	/* A CN is at most 64 characters; the SAN is what clients check. */
	if (ok && strlen(name) <= 64)
		ok = X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0) == 1;
	else if (ok)
		ok = X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC, (const unsigned char *)"sandbox-runtime", -1,
						-1, 0) == 1;
	ok = ok && X509_set_version(x, 2) == 1 && random_serial(x) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), (long)LEAF_DAYS * 86400);
	/* Never beyond the CA. */
	if (ok && ASN1_TIME_compare(X509_get0_notAfter(x), X509_get0_notAfter(ca->cert)) > 0)
		ok = X509_set1_notAfter(x, X509_get0_notAfter(ca->cert)) == 1;
	ok = ok && X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) == 1 &&
	     X509_set_pubkey(x, ca->leaf_key) == 1 && X509_add1_ext_i2d(x, NID_subject_alt_name, sans, 0, 0) == 1 &&
	     add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") &&
	     add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
	     add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") &&
	     add_ext(x, ca->cert, NID_subject_key_identifier, "hash") &&
	     add_ext(x, ca->cert, NID_authority_key_identifier, "keyid") &&
	     X509_sign(x, ca->key, EVP_sha256()) > 0;
	GENERAL_NAMES_free(sans);
	if (!ok) {
		ERR_clear_error();
		X509_free(x);
		return NULL;
	}
	return x;
}

void *tls_ca_leaf(struct tls_ca *ca, const char *name, bool *minted)
{
	if (minted)
		*minted = false;
	ca->tick++;
	size_t oldest = 0;
	for (size_t i = 0; i < ca->n_leaves; i++) {
		if (strcmp(ca->leaves[i].name, name) == 0) {
			ca->leaves[i].used = ca->tick;
			return ca->leaves[i].cert;
		}
		if (ca->leaves[i].used < ca->leaves[oldest].used)
			oldest = i;
	}
	X509 *x = mint(ca, name);
	char *copy = x ? strdup(name) : NULL;
	if (!copy) {
		X509_free(x);
		return NULL;
	}
	size_t slot = ca->n_leaves < TLS_LEAF_CACHE_MAX ? ca->n_leaves++ : oldest;
	if (slot == oldest && ca->n_leaves == TLS_LEAF_CACHE_MAX && ca->leaves[slot].name) {
		/* An SSL using it holds its own reference. */
		free(ca->leaves[slot].name);
		X509_free(ca->leaves[slot].cert);
	}
	ca->leaves[slot] = (struct leaf){ copy, x, ca->tick };
	if (minted)
		*minted = true;
	return x;
}

size_t tls_ca_cached(const struct tls_ca *ca)
{
	return ca->n_leaves;
}

/* --- the engine ------------------------------------------------------------ */

struct tls_io {
	SSL *ssl;
	BIO *bio;
	/* Input: pend[pend_off..pend_len) first, then the window. */
	char *pend;
	size_t pend_off, pend_len, pend_cap;
	const char *win;
	size_t win_len;
	/* Output for the peer. */
	char *out;
	size_t out_len, out_cap;
	bool ready, failed, notified;
	char err[160];
	char *host;   /* the server's leg: whom it verifies */
};

static const char *io_host(const struct tls_io *io)
{
	return io->host;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static bool reserve_out(struct tls_io *io, size_t more)
{
	if (io->out_len + more <= io->out_cap)
		return true;
	size_t cap = io->out_cap ? io->out_cap : 4096;
	while (cap < io->out_len + more)
		cap *= 2;
	char *p = realloc(io->out, cap);
	if (!p)
		return false;
	io->out = p;
	io->out_cap = cap;
	return true;
}

static int bio_write(BIO *b, const char *p, int n)
{
	struct tls_io *io = BIO_get_data(b);
	if (n <= 0)
		return 0;
	if (!reserve_out(io, (size_t)n))
		return -1;
	memcpy(io->out + io->out_len, p, (size_t)n);
	io->out_len += (size_t)n;
	return n;
}

static int bio_read(BIO *b, char *p, int n)
{
	struct tls_io *io = BIO_get_data(b);
	BIO_clear_retry_flags(b);
	if (n <= 0)
		return 0;
	size_t want = (size_t)n, got = 0;
	if (io->pend_len > io->pend_off) {
		size_t k = io->pend_len - io->pend_off;
		if (k > want)
			k = want;
		memcpy(p, io->pend + io->pend_off, k);
		io->pend_off += k;
		got += k;
		if (io->pend_off == io->pend_len)
			io->pend_off = io->pend_len = 0;
	}
	if (got < want && io->win_len > 0) {
		size_t k = io->win_len < want - got ? io->win_len : want - got;
		memcpy(p + got, io->win, k);
		io->win += k;
		io->win_len -= k;
		got += k;
	}
	if (got == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	return (int)got;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b;
	(void)num;
	(void)ptr;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void bio_method_make(void)
{
	BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "srt-tls");
	if (m && BIO_meth_set_write(m, bio_write) == 1 && BIO_meth_set_read(m, bio_read) == 1 &&
	    BIO_meth_set_ctrl(m, bio_ctrl) == 1 && BIO_meth_set_create(m, bio_create) == 1)
		bio_method = m;
	else
		BIO_meth_free(m);
}

static struct tls_io *io_new(SSL_CTX *ctx)
{
	pthread_once(&bio_once, bio_method_make);
	if (!bio_method)
		return NULL;
	struct tls_io *io = calloc(1, sizeof(*io));
	if (!io)
		return NULL;
	io->ssl = SSL_new(ctx);
	io->bio = BIO_new(bio_method);
	if (!io->ssl || !io->bio) {
		SSL_free(io->ssl);
		BIO_free(io->bio);
		free(io);
		ERR_clear_error();
		return NULL;
	}
	BIO_set_data(io->bio, io);
	SSL_set_bio(io->ssl, io->bio, io->bio);
	return io;
}

struct tls_io *tls_io_server(struct tls_ca *ca, const char *name)
{
	X509 *leaf = tls_ca_leaf(ca, name, NULL);
	if (!leaf)
		return NULL;
	struct tls_io *io = io_new(ca->server_ctx);
	if (!io)
		return NULL;
	if (SSL_use_certificate(io->ssl, leaf) != 1 || SSL_use_PrivateKey(io->ssl, ca->leaf_key) != 1) {
		tls_io_free(io);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(io->ssl);
	return io;
}

struct tls_io *tls_io_client(struct tls_ca *ca, const char *host)
{
	struct tls_io *io = io_new(ca->client_ctx);
	if (!io)
		return NULL;
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	bool ok;
	if (is_ip) {
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(io->ssl), host) == 1;
	} else {
		/* The name must be among the certificate's DNS names: never
		 * matched against its subject's CN. */
		SSL_set_hostflags(io->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS | X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
		ok = SSL_set_tlsext_host_name(io->ssl, host) == 1 && SSL_set1_host(io->ssl, host) == 1;
	}
	if (!ok) {
		tls_io_free(io);
		ERR_clear_error();
		return NULL;
	}
	io->host = strdup(host);
	SSL_SESSION *sess = session_find(ca, host);
	if (!io->host || SSL_set_ex_data(io->ssl, io_index, io) != 1 || SSL_set_ex_data(io->ssl, ca_index, ca) != 1 ||
	    (sess && SSL_set_session(io->ssl, sess) != 1)) {
		tls_io_free(io);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_connect_state(io->ssl);
	return io;
}

void tls_io_free(struct tls_io *io)
{
	if (!io)
		return;
	SSL_free(io->ssl); /* frees the BIO */
	free(io->host);
	free(io->pend);
	free(io->out);
	free(io);
}

int tls_io_feed(struct tls_io *io, const void *p, size_t n)
{
	if (io->failed) {
		/* Nothing will read them: dropped, not kept. */
		io->win = NULL;
		io->win_len = 0;
		io->pend_off = io->pend_len = 0;
		return 0;
	}
	/* Keep what the last calls left of the window, then take the new
	 * bytes as the window. */
	if (io->win_len > 0) {
		size_t live = io->pend_len - io->pend_off;
		if (io->pend_off > 0) {
			memmove(io->pend, io->pend + io->pend_off, live);
			io->pend_off = 0;
			io->pend_len = live;
		}
		if (io->pend_len + io->win_len > io->pend_cap) {
			size_t cap = io->pend_len + io->win_len + 4096;
			char *q = realloc(io->pend, cap);
			if (!q)
				return -1;
			io->pend = q;
			io->pend_cap = cap;
		}
		memcpy(io->pend + io->pend_len, io->win, io->win_len);
		io->pend_len += io->win_len;
		io->win_len = 0;
	}
	io->win = p;
	io->win_len = n;
	return 0;
}

/* The window is the caller's: before it goes, keep its rest. */
static int keep_rest(struct tls_io *io)
{
	return io->win_len ? tls_io_feed(io, NULL, 0) : 0;
}

int tls_io_keep(struct tls_io *io)
{
	return keep_rest(io);
}

static void fail(struct tls_io *io)
{
	io->failed = true;
	if (io->err[0])
		return;
	long v = SSL_get_verify_result(io->ssl);
	if (v != X509_V_OK) {
		snprintf(io->err, sizeof(io->err), "certificate verify failed: %s", X509_verify_cert_error_string(v));
	} else {
		unsigned long e = ERR_peek_last_error();
		const char *why = e ? ERR_reason_error_string(e) : NULL;
		snprintf(io->err, sizeof(io->err), "%s", why ? why : "TLS protocol error");
	}
	ERR_clear_error();
}

int tls_io_handshake(struct tls_io *io)
{
	if (io->failed)
		return -1;
	if (io->ready)
		return 1;
	ERR_clear_error();
	int r = SSL_do_handshake(io->ssl);
	if (r == 1) {
		io->ready = true;
		return keep_rest(io) < 0 ? -1 : 1;
	}
	int e = SSL_get_error(io->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return keep_rest(io) < 0 ? -1 : 0;
	fail(io);
	return -1;
}

bool tls_io_ready(const struct tls_io *io)
{
	return io->ready;
}

bool tls_io_failed(const struct tls_io *io)
{
	return io->failed;
}

long tls_io_read(struct tls_io *io, void *buf, size_t cap)
{
	if (io->failed)
		return -2;
	ERR_clear_error();
	size_t n = 0;
	int r = SSL_read_ex(io->ssl, buf, cap, &n);
	if (r == 1)
		return (long)n;
	int e = SSL_get_error(io->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return keep_rest(io) < 0 ? -2 : 0;
	if (e == SSL_ERROR_ZERO_RETURN) {
		keep_rest(io);
		return -1;
	}
	fail(io);
	return -2;
}

int tls_io_write(struct tls_io *io, const void *p, size_t n)
{
	if (!io->ready || io->failed)
		return -1;
	/* Room for every record's header, tag and padding. */
	if (!reserve_out(io, n + (n / 16384 + 1) * 64))
		return -1;
	ERR_clear_error();
	size_t done = 0;
	while (done < n) {
		size_t w = 0;
		if (SSL_write_ex(io->ssl, (const char *)p + done, n - done, &w) != 1) {
			fail(io);
			return -1;
		}
		done += w;
	}
	return 0;
}

void tls_io_close_notify(struct tls_io *io)
{
	if (!io->ready || io->failed || io->notified)
		return;
	io->notified = true;
	ERR_clear_error();
	SSL_shutdown(io->ssl);
	ERR_clear_error();
}

char *tls_io_take(struct tls_io *io, size_t *len)
{
	*len = io->out_len;
	if (io->out_len == 0)
		return NULL;
	char *p = io->out;
	io->out = NULL;
	io->out_len = io->out_cap = 0;
	return p;
}

size_t tls_io_pending_out(const struct tls_io *io)
{
	return io->out_len;
}

const char *tls_io_error(const struct tls_io *io)
{
	return io->err[0] ? io->err : "TLS error";
}

/* --- the sandbox's trust bundle --------------------------------------------- */

static bool buf_add(char **out, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 65536;
		while (c < *len + n + 1)
			c *= 2;
		char *q = realloc(*out, c);
		if (!q)
			return false;
		*out = q;
		*cap = c;
	}
	memcpy(*out + *len, p, n);
	*len += n;
	(*out)[*len] = '\0';
	return true;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *out = NULL;
	size_t len = 0, cap = 0;
	char tmp[65536];
	size_t n;
	bool ok = true;
	while (ok && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		ok = buf_add(&out, &len, &cap, tmp, n) && len < 64u * 1024 * 1024;
	if (ferror(f) || !ok) {
		free(out);
		out = NULL;
	} else if (!out) {
		out = strdup("");
	}
	fclose(f);
	return out;
}

/* Append the CERTIFICATE blocks of text; returns how many. */
static int add_cert_blocks(char **out, size_t *len, size_t *cap, const char *text)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	int count = 0;
	const char *p = text;
	while ((p = strstr(p, begin))) {
		const char *e = strstr(p, end);
		if (!e)
			break;
		e += sizeof(end) - 1;
		if (!buf_add(out, len, cap, p, (size_t)(e - p)) || !buf_add(out, len, cap, "\n", 1))
			return -1;
		count++;
		p = e;
	}
	return count;
}

char *tls_bundle_text(const struct tls_ca *ca, const char *const *extra, size_t n_extra, char **skipped)
{
	char *out = NULL, *sk = NULL;
	size_t len = 0, cap = 0, sk_len = 0, sk_cap = 0;
	char *pem = tls_ca_cert_pem(ca);
	bool ok = pem && buf_add(&out, &len, &cap, pem, strlen(pem));
	free(pem);
	const char *roots = getenv(X509_get_default_cert_file_env());
	if (!roots || !roots[0])
		roots = X509_get_default_cert_file();
	char *text = ok ? read_text(roots) : NULL;
	if (text) {
		ok = add_cert_blocks(&out, &len, &cap, text) >= 0;
		free(text);
	}
	for (size_t i = 0; ok && i < n_extra; i++) {
		text = read_text(extra[i]);
		int n = text ? add_cert_blocks(&out, &len, &cap, text) : 0;
		free(text);
		if (n < 0)
			ok = false;
		else if (n == 0 && skipped)
			ok = buf_add(&sk, &sk_len, &sk_cap, extra[i], strlen(extra[i])) &&
			     buf_add(&sk, &sk_len, &sk_cap, "\n", 1);
	}
	if (!ok) {
		free(out);
		free(sk);
		return NULL;
	}
	if (skipped)
		*skipped = sk;
	else
		free(sk);
	return out;
}
