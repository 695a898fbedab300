/* AWS Signature Version 4 re-signing of requests signed with a masked key pair: head parsing, canonical requests, verification with the masked secret, signing with the real one, aws-chunked chunk signatures. See sigv4.h. */
#include "proxy/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define ALG_HMAC "AWS4-HMAC-SHA256"
#define ALG_ECDSA "AWS4-ECDSA-P256-SHA256"
#define UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define STREAMING_SIGNED "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
#define STREAMING_UNSIGNED_TRAILER "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

struct span {
	const char *p;
	size_t n;
};

/* A growable string; oom sticks, so a chain of appends checks once. */
struct sb {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_add(struct sb *b, const void *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_str(struct sb *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_span(struct sb *b, struct span s)
{
	sb_add(b, s.p, s.n);
}

static void sb_free(struct sb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool span_ieq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	if (s.n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

static bool span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool span_starts(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void to_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool is_hex64(struct span s)
{
	if (s.n != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (hexval((unsigned char)s.p[i]) < 0)
			return false;
	return true;
}

/* 64 hex digits, lowercased into out[65]. */
static void hex64_lower(struct span s, char out[65])
{
	for (size_t i = 0; i < 64; i++)
		out[i] = (char)lower((unsigned char)s.p[i]);
	out[64] = '\0';
}

static bool sha256(const void *data, size_t len, uint8_t md[32])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32;
}

void sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
	uint8_t md[32];
	if (!sha256(data, len, md))
		memset(md, 0, sizeof(md));
	to_hex(md, 32, hex);
}

static bool hmac256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
	unsigned int n = 0;
	return HMAC(EVP_sha256(), key, (int)klen, msg, mlen, out, &n) != NULL && n == 32;
}

/* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
static bool derive_key(const char *secret, struct span date, struct span region, struct span service, uint8_t key[32])
{
	struct sb k = {0};
	sb_str(&k, "AWS4");
	sb_str(&k, secret);
	bool ok = !k.oom;
	uint8_t a[32], b[32];
	ok = ok && hmac256(k.p, k.n, date.p, date.n, a);
	ok = ok && hmac256(a, 32, region.p, region.n, b);
	ok = ok && hmac256(b, 32, service.p, service.n, a);
	ok = ok && hmac256(a, 32, "aws4_request", 12, key);
	if (k.p)
		OPENSSL_cleanse(k.p, k.n);
	sb_free(&k);
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return ok;
}

/* Strict RFC 3986 encoding: unreserved kept, everything else %XX. */
static void uri_encode(struct sb *b, const char *s, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			sb_add(b, &s[i], 1);
		} else {
			char e[3] = {'%', digits[c >> 4], digits[c & 15]};
			sb_add(b, e, 3);
		}
	}
}

/* Percent-decode; a '%' without two hex digits leaves the whole text as it
 * is (what a lenient decoder does with a malformed escape). */
static void pct_decode(struct sb *b, const char *s, size_t n)
{
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0) {
				ok = false;
				break;
			}
			i += 2;
		}
	}
	if (!ok) {
		sb_add(b, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			char c = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			sb_add(b, &c, 1);
			i += 2;
		} else {
			sb_add(b, &s[i], 1);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Request heads                                                       */

struct field {
	struct span name, value;  /* value without surrounding OWS */
	struct span line;         /* the whole line with its CRLF */
};

struct head {
	struct span method, target, version;
	struct span prefix;  /* absolute-form "scheme://authority", else empty */
	struct span path;    /* before '?'; may be empty */
	struct span query;   /* after '?' */
	bool has_query;
	size_t nfields;
	struct field f[SIGV4_FIELDS_MAX];
	struct span reqline; /* the request line with its CRLF */
	size_t len;          /* bytes of the head with its final CRLF */
};

static bool is_tchar(unsigned char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* A CRLF-terminated HTTP/1.x request head; false if malformed or over
 * the limits. */
static bool parse_head(const char *buf, size_t len, struct head *h)
{
	memset(h, 0, sizeof(*h));
	if (len > SIGV4_HEAD_MAX)
		len = SIGV4_HEAD_MAX;
	size_t pos = 0;
	/* Request line. */
	size_t eol = pos;
	while (eol + 1 < len && !(buf[eol] == '\r' && buf[eol + 1] == '\n'))
		eol++;
	if (eol + 1 >= len)
		return false;
	size_t i = 0;
	while (i < eol && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == 0 || i >= eol || buf[i] != ' ')
		return false;
	h->method = (struct span){buf, i};
	size_t t0 = ++i;
	while (i < eol && buf[i] != ' ') {
		unsigned char c = (unsigned char)buf[i];
		if (c <= 0x20 || c == 0x7f)
			return false;
		i++;
	}
	if (i == t0 || i >= eol)
		return false;
	h->target = (struct span){buf + t0, i - t0};
	h->version = (struct span){buf + i + 1, eol - i - 1};
	if (!span_eq(h->version, "HTTP/1.1") && !span_eq(h->version, "HTTP/1.0"))
		return false;
	/* Target: origin-form or absolute-form. */
	struct span t = h->target;
	size_t pstart = 0;
	if (t.p[0] == '/') {
		pstart = 0;
	} else {
		size_t k = 0;
		while (k < t.n && t.p[k] != ':')
			k++;
		if (k + 2 >= t.n || t.p[k + 1] != '/' || t.p[k + 2] != '/')
			return false;
		struct span scheme = {t.p, k};
		if (!span_ieq(scheme, "http") && !span_ieq(scheme, "https"))
			return false;
		k += 3;
		while (k < t.n && t.p[k] != '/' && t.p[k] != '?')
			k++;
		h->prefix = (struct span){t.p, k};
		pstart = k;
	}
	size_t q = pstart;
	while (q < t.n && t.p[q] != '?')
		q++;
	h->path = (struct span){t.p + pstart, q - pstart};
	if (q < t.n) {
		h->has_query = true;
		h->query = (struct span){t.p + q + 1, t.n - q - 1};
	}
	pos = eol + 2;
	h->reqline = (struct span){buf, pos};
	/* Fields. */
	for (;;) {
		if (pos + 1 >= len)
			return false;
		if (buf[pos] == '\r' && buf[pos + 1] == '\n') {
			h->len = pos + 2;
			return true;
		}
		eol = pos;
		while (eol + 1 < len && !(buf[eol] == '\r' && buf[eol + 1] == '\n'))
			eol++;
		if (eol + 1 >= len || h->nfields == SIGV4_FIELDS_MAX)
			return false;
		size_t k = pos;
		while (k < eol && is_tchar((unsigned char)buf[k]))
			k++;
		if (k == pos || k >= eol || buf[k] != ':')
			return false;
		struct field *f = &h->f[h->nfields++];
		f->name = (struct span){buf + pos, k - pos};
		size_t v0 = k + 1, v1 = eol;
		for (size_t m = v0; m < v1; m++) {
			unsigned char c = (unsigned char)buf[m];
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return false;
		}
		while (v0 < v1 && (buf[v0] == ' ' || buf[v0] == '\t'))
			v0++;
		while (v1 > v0 && (buf[v1 - 1] == ' ' || buf[v1 - 1] == '\t'))
			v1--;
		f->value = (struct span){buf + v0, v1 - v0};
		f->line = (struct span){buf + pos, eol + 2 - pos};
		pos = eol + 2;
	}
}

static size_t count_fields(const struct head *h, const char *name, size_t *first)
{
	size_t n = 0;
	for (size_t i = 0; i < h->nfields; i++)
		if (span_ieq(h->f[i].name, name)) {
			if (n == 0 && first)
				*first = i;
			n++;
		}
	return n;
}

/* ------------------------------------------------------------------ */
/* Query strings                                                       */

#define PARAMS_MAX 256

struct param {
	struct span name, value;  /* raw, as sent */
	bool has_eq;              /* "name=value" or "name=", not "name" */
};

/* Split a raw query at '&' (empty parts dropped) and each part at its
 * first '='. False when there are more than PARAMS_MAX. */
static bool split_query(struct span q, struct param *out, size_t *n)
{
	*n = 0;
	size_t i = 0;
	while (i <= q.n) {
		size_t j = i;
		while (j < q.n && q.p[j] != '&')
			j++;
		if (j > i) {
			if (*n == PARAMS_MAX)
				return false;
			size_t e = i;
			while (e < j && q.p[e] != '=')
				e++;
			out[*n].name = (struct span){q.p + i, e - i};
			out[*n].value = e < j ? (struct span){q.p + e + 1, j - e - 1} : (struct span){q.p + j, 0};
			out[*n].has_eq = e < j;
			(*n)++;
		}
		i = j + 1;
	}
	return true;
}

/* The decoded name of a parameter equals lit (ASCII case-insensitive when
 * icase). */
static bool param_is(struct param p, const char *lit, bool icase)
{
	struct sb d = {0};
	pct_decode(&d, p.name.p, p.name.n);
	bool r = !d.oom && (icase ? span_ieq((struct span){d.p ? d.p : "", d.n}, lit)
				 : span_eq((struct span){d.p ? d.p : "", d.n}, lit));
	sb_free(&d);
	return r;
}

struct qpair {
	char *k, *v;
};

static int qpair_cmp(const void *a, const void *b)
{
	const struct qpair *x = a, *y = b;
	int c = strcmp(x->k, y->k);
	return c ? c : strcmp(x->v, y->v);
}

/* Canonical query: decode then encode every name and value, sort by name
 * then value, join; skip names equal to skip (NULL: none). */
static void canonical_query(struct sb *out, struct span q, const char *skip)
{
	struct param ps[PARAMS_MAX];
	size_t n;
	if (!split_query(q, ps, &n)) {
		out->oom = true;
		return;
	}
	struct qpair qs[PARAMS_MAX];
	size_t m = 0;
	bool oom = false;
	for (size_t i = 0; i < n; i++) {
		if (skip && param_is(ps[i], skip, false))
			continue;
		struct sb d = {0}, k = {0}, v = {0};
		pct_decode(&d, ps[i].name.p, ps[i].name.n);
		uri_encode(&k, d.p ? d.p : "", d.n, false);
		d.n = 0;
		pct_decode(&d, ps[i].value.p, ps[i].value.n);
		uri_encode(&v, d.p ? d.p : "", d.n, false);
		sb_add(&k, "", 0);
		sb_add(&v, "", 0);
		oom |= d.oom || k.oom || v.oom || !k.p || !v.p;
		sb_free(&d);
		qs[m].k = k.p;
		qs[m].v = v.p;
		m++;
		if (oom)
			break;
	}
	if (!oom) {
		qsort(qs, m, sizeof(qs[0]), qpair_cmp);
		for (size_t i = 0; i < m; i++) {
			if (i)
				sb_add(out, "&", 1);
			sb_str(out, qs[i].k);
			sb_add(out, "=", 1);
			sb_str(out, qs[i].v);
		}
	} else {
		out->oom = true;
	}
	for (size_t i = 0; i < m; i++) {
		free(qs[i].k);
		free(qs[i].v);
	}
}

/* ------------------------------------------------------------------ */
/* Canonical requests                                                  */

static void canonical_uri(struct sb *out, struct span path, struct span service)
{
	if (path.n == 0) {
		sb_add(out, "/", 1);
		return;
	}
	if (span_eq(service, "s3")) {
		sb_span(out, path);
		return;
	}
	/* Resolve "." and "..", drop empty segments, then encode again. */
	struct span segs[1024];
	size_t n = 0;
	size_t i = 0;
	while (i <= path.n) {
		size_t j = i;
		while (j < path.n && path.p[j] != '/')
			j++;
		struct span s = {path.p + i, j - i};
		if (s.n == 0 || span_eq(s, ".")) {
			/* skip */
		} else if (span_eq(s, "..")) {
			if (n)
				n--;
		} else {
			if (n == sizeof(segs) / sizeof(segs[0])) {
				out->oom = true;
				return;
			}
			segs[n++] = s;
		}
		i = j + 1;
	}
	struct sb norm = {0};
	sb_add(&norm, "/", 1);
	for (size_t k = 0; k < n; k++) {
		if (k)
			sb_add(&norm, "/", 1);
		sb_span(&norm, segs[k]);
	}
	if (n && path.p[path.n - 1] == '/')
		sb_add(&norm, "/", 1);
	if (norm.oom)
		out->oom = true;
	else
		uri_encode(out, norm.p, norm.n, true);
	sb_free(&norm);
}

/* A value to sign instead of the head's fields of that name. */
struct override {
	const char *name;   /* lowercase */
	const char *value;  /* NULL: no override */
};

/* Trim, collapse runs of spaces and tabs to one space. */
static void trimall(struct sb *out, struct span v)
{
	size_t a = 0, b = v.n;
	while (a < b && (v.p[a] == ' ' || v.p[a] == '\t'))
		a++;
	while (b > a && (v.p[b - 1] == ' ' || v.p[b - 1] == '\t'))
		b--;
	bool sp = false;
	for (size_t i = a; i < b; i++) {
		if (v.p[i] == ' ' || v.p[i] == '\t') {
			sp = true;
			continue;
		}
		if (sp)
			sb_add(out, " ", 1);
		sp = false;
		sb_add(out, &v.p[i], 1);
	}
}

struct names {
	size_t n;
	struct span v[SIGV4_FIELDS_MAX];  /* lowercase (in the Authorization value) */
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	if (c)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

/*
 * The canonical request. Field values come from h, except names in ov[].
 * Returns false when a signed field is absent (missing names one).
 */
static bool canonical_request(struct sb *out, const struct head *h, struct span query, const char *skip_param,
			      struct span service, const struct names *names, const struct override *ov, size_t nov,
			      const char *payload, const char **missing)
{
	sb_span(out, h->method);
	sb_add(out, "\n", 1);
	canonical_uri(out, h->path, service);
	sb_add(out, "\n", 1);
	canonical_query(out, query, skip_param);
	sb_add(out, "\n", 1);
	for (size_t i = 0; i < names->n; i++) {
		struct span nm = names->v[i];
		sb_span(out, nm);
		sb_add(out, ":", 1);
		const char *o = NULL;
		for (size_t k = 0; k < nov; k++)
			if (ov[k].value && span_eq(nm, ov[k].name))
				o = ov[k].value;
		if (o) {
			trimall(out, (struct span){o, strlen(o)});
		} else {
			size_t found = 0;
			for (size_t k = 0; k < h->nfields; k++) {
				struct span fn = h->f[k].name;
				if (fn.n != nm.n)
					continue;
				bool eq = true;
				for (size_t c = 0; c < fn.n && eq; c++)
					eq = lower((unsigned char)fn.p[c]) == (unsigned char)nm.p[c];
				if (!eq)
					continue;
				if (found++)
					sb_add(out, ",", 1);
				trimall(out, h->f[k].value);
			}
			if (!found) {
				*missing = "a signed field is missing from the request";
				return false;
			}
		}
		sb_add(out, "\n", 1);
	}
	sb_add(out, "\n", 1);
	for (size_t i = 0; i < names->n; i++) {
		if (i)
			sb_add(out, ";", 1);
		sb_span(out, names->v[i]);
	}
	sb_add(out, "\n", 1);
	sb_str(out, payload);
	return true;
}

struct scope {
	struct span akid, date, region, service;
};

/* Signature (64 lowercase hex + NUL) of a canonical request. */
static bool sign(const char *secret, const struct scope *sc, struct span amz_date, const struct sb *creq, char sig[65])
{
	char hash[65];
	sigv4_sha256_hex(creq->p, creq->n, hash);
	struct sb sts = {0};
	sb_str(&sts, ALG_HMAC "\n");
	sb_span(&sts, amz_date);
	sb_add(&sts, "\n", 1);
	sb_span(&sts, sc->date);
	sb_add(&sts, "/", 1);
	sb_span(&sts, sc->region);
	sb_add(&sts, "/", 1);
	sb_span(&sts, sc->service);
	sb_str(&sts, "/aws4_request\n");
	sb_str(&sts, hash);
	uint8_t key[32], md[32];
	bool ok = !sts.oom && derive_key(secret, sc->date, sc->region, sc->service, key) &&
		  hmac256(key, 32, sts.p, sts.n, md);
	OPENSSL_cleanse(key, sizeof(key));
	sb_free(&sts);
	if (ok)
		to_hex(md, 32, sig);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Authorization values                                                */

struct auth {
	struct scope sc;
	struct span signed_headers;
	struct span signature;
};

static bool scope_parse(struct span cred, struct scope *sc)
{
	struct span parts[5];
	size_t n = 0, i = 0;
	while (i <= cred.n) {
		size_t j = i;
		while (j < cred.n && cred.p[j] != '/')
			j++;
		if (n == 5)
			return false;
		parts[n++] = (struct span){cred.p + i, j - i};
		i = j + 1;
	}
	if (n != 5 || !span_eq(parts[4], "aws4_request"))
		return false;
	for (size_t k = 0; k < 4; k++)
		if (parts[k].n == 0)
			return false;
	if (parts[1].n != 8)
		return false;
	for (size_t k = 0; k < 8; k++)
		if (parts[1].p[k] < '0' || parts[1].p[k] > '9')
			return false;
	for (size_t k = 2; k < 4; k++)
		for (size_t c = 0; c < parts[k].n; c++) {
			unsigned char ch = (unsigned char)parts[k].p[c];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
				return false;
		}
	sc->akid = parts[0];
	sc->date = parts[1];
	sc->region = parts[2];
	sc->service = parts[3];
	return true;
}

/* "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
 * (parameters in any order, each exactly once). */
static bool auth_parse(struct span v, struct auth *a)
{
	memset(a, 0, sizeof(*a));
	if (!span_starts(v, ALG_HMAC " "))
		return false;
	size_t i = strlen(ALG_HMAC);
	struct span cred = {0};
	bool have_c = false, have_h = false, have_s = false;
	for (;;) {
		while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		size_t j = i;
		while (j < v.n && v.p[j] != ',' && v.p[j] != ' ' && v.p[j] != '\t')
			j++;
		struct span kv = {v.p + i, j - i};
		size_t e = 0;
		while (e < kv.n && kv.p[e] != '=')
			e++;
		if (e == kv.n)
			return false;
		struct span key = {kv.p, e}, val = {kv.p + e + 1, kv.n - e - 1};
		if (val.n == 0)
			return false;
		if (span_eq(key, "Credential") && !have_c) {
			cred = val;
			have_c = true;
		} else if (span_eq(key, "SignedHeaders") && !have_h) {
			a->signed_headers = val;
			have_h = true;
		} else if (span_eq(key, "Signature") && !have_s) {
			a->signature = val;
			have_s = true;
		} else {
			return false;
		}
		while (j < v.n && (v.p[j] == ' ' || v.p[j] == '\t'))
			j++;
		if (j == v.n)
			break;
		if (v.p[j] != ',')
			return false;
		i = j + 1;
	}
	return have_c && have_h && have_s && is_hex64(a->signature) && scope_parse(cred, &a->sc);
}

/* "a;b;c": lowercase tokens, no duplicates; sorted on return. */
static bool names_parse(struct span s, struct names *nm)
{
	nm->n = 0;
	size_t i = 0;
	while (i <= s.n) {
		size_t j = i;
		while (j < s.n && s.p[j] != ';')
			j++;
		if (j == i || nm->n == SIGV4_FIELDS_MAX)
			return false;
		for (size_t k = i; k < j; k++) {
			unsigned char c = (unsigned char)s.p[k];
			if (!is_tchar(c) || (c >= 'A' && c <= 'Z'))
				return false;
		}
		nm->v[nm->n++] = (struct span){s.p + i, j - i};
		i = j + 1;
	}
	qsort(nm->v, nm->n, sizeof(nm->v[0]), span_cmp);
	for (size_t k = 1; k < nm->n; k++)
		if (span_cmp(&nm->v[k - 1], &nm->v[k]) == 0)
			return false;
	return true;
}

static bool names_has(const struct names *nm, const char *name)
{
	for (size_t i = 0; i < nm->n; i++)
		if (span_eq(nm->v[i], name))
			return true;
	return false;
}

static bool names_add(struct names *nm, const char *name)
{
	if (names_has(nm, name))
		return true;
	if (nm->n == SIGV4_FIELDS_MAX)
		return false;
	nm->v[nm->n++] = (struct span){name, strlen(name)};
	qsort(nm->v, nm->n, sizeof(nm->v[0]), span_cmp);
	return true;
}

/* ------------------------------------------------------------------ */
/* Detection                                                           */

/* Index of the pair whose masked access key id is exactly akid, or -1. */
static long find_pair(struct span akid, const struct sigv4_pair *pairs, size_t npairs)
{
	for (size_t i = 0; i < npairs; i++)
		if (pairs[i].masked_akid && pairs[i].masked_akid[0] && span_eq(akid, pairs[i].masked_akid))
			return (long)i;
	return -1;
}

/* The pair whose masked access key id follows any "Credential=" in an
 * Authorization value (up to '/', ',' or whitespace), or -1. Every
 * occurrence counts: a value naming another key first is still ours. */
static long auth_pair(struct span v, const struct sigv4_pair *pairs, size_t npairs)
{
	static const char key[] = "Credential=";
	size_t kl = sizeof(key) - 1;
	for (size_t i = 0; i + kl <= v.n; i++)
		if (memcmp(v.p + i, key, kl) == 0) {
			size_t j = i + kl;
			while (j < v.n && v.p[j] != '/' && v.p[j] != ',' && v.p[j] != ' ' && v.p[j] != '\t')
				j++;
			long p = find_pair((struct span){v.p + i + kl, j - i - kl}, pairs, npairs);
			if (p >= 0)
				return p;
		}
	return -1;
}

/* Text that may go into a field value or a Credential as it is: printable
 * ASCII, no space; an access key id also without '/', ',' and '='. */
static bool safe_text(const char *s, bool akid)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (akid && (c == '/' || c == ',' || c == '=' || c == ';'))
			return false;
	}
	return true;
}

static bool contains(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	return n && memmem(buf, len, needle, n) != NULL;
}

/* ------------------------------------------------------------------ */
/* Re-signing                                                          */

static enum sigv4_result refuse(struct sigv4_out *out, const char *why)
{
	out->reason = why;
	return SIGV4_REFUSED;
}

static enum sigv4_result policy_result(struct sigv4_out *out, enum sigv4_policy p, const char *denied)
{
	if (p == SIGV4_PASSTHROUGH)
		return SIGV4_PASS;
	return refuse(out, denied);
}

/* Whether the head declares an empty body. */
static bool body_empty(const struct head *h)
{
	size_t i;
	if (count_fields(h, "transfer-encoding", NULL))
		return false;
	size_t n = count_fields(h, "content-length", &i);
	if (n == 0)
		return true;
	if (n != 1)
		return false;
	struct span v = h->f[i].value;
	for (size_t k = 0; k < v.n; k++)
		if (v.p[k] != '0')
			return false;
	return v.n > 0;
}

/* A single field value or nothing; false when repeated. */
static bool single(const struct head *h, const char *name, struct span *v, bool *present)
{
	size_t i = 0;
	size_t n = count_fields(h, name, &i);
	*present = n == 1;
	if (n == 1)
		*v = h->f[i].value;
	return n <= 1;
}

static struct sigv4_stream *stream_from_keys(const uint8_t mkey[32], const uint8_t rkey[32], const char *scope_line,
					     struct span amz_date, const char *client_seed, const char *new_seed,
					     size_t chunk_max);

enum sigv4_result sigv4_resign(const char *head, size_t head_len, const char *fwd, size_t fwd_len, const char *host,
			       const struct sigv4_pair *pairs, size_t npairs, const struct sigv4_opts *opts,
			       const struct sigv4_body *body, struct sigv4_out *out)
{
	static const struct sigv4_opts deny_all;
	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &deny_all;
	if (!head || !pairs || npairs == 0)
		return SIGV4_NOT_AWS;

	struct head *h = malloc(sizeof(*h)), *fh = malloc(sizeof(*fh));
	struct sb creq = {0}, nq = {0}, auth_v = {0}, keep = {0}, tmp = {0};
	enum sigv4_result res = SIGV4_NOT_AWS;
	if (!h || !fh) {
		res = refuse(out, "out of memory");
		goto done;
	}

	/* A head that does not parse cannot be re-signed; it is refused only
	 * when it mentions a masked key id (it may be signed with it). */
	if (!parse_head(head, head_len, h)) {
		for (size_t i = 0; i < npairs; i++)
			if (pairs[i].masked_akid && contains(head, head_len < SIGV4_HEAD_MAX ? head_len : SIGV4_HEAD_MAX, pairs[i].masked_akid)) {
				res = refuse(out, "a request naming a masked AWS access key id is malformed or too large");
				goto done;
			}
		goto done;
	}

	/* 1. Which masked key, if any, signs this request, and how. */
	long pi = -1;
	size_t nauth = 0, auth_i = 0;
	bool auth_ours = false;
	for (size_t i = 0; i < h->nfields; i++) {
		if (!span_ieq(h->f[i].name, "authorization"))
			continue;
		if (nauth++ == 0)
			auth_i = i;
		long p = auth_pair(h->f[i].value, pairs, npairs);
		if (p >= 0) {
			if (auth_ours) {
				res = refuse(out, "AWS request with more than one Authorization field");
				goto done;
			}
			pi = p;
			auth_ours = true;
			auth_i = i;
		}
	}
	struct param ps[PARAMS_MAX];
	size_t nps = 0;
	bool query_ok = !h->has_query || split_query(h->query, ps, &nps);
	long qcred = -1, qsig = -1, qalg = -1, qdate = -1, qtok = -1, qsh = -1;
	size_t ncred = 0, nsig = 0, nalg = 0, ndate = 0, ntok = 0, nsh = 0;
	long qpi = -1;
	for (size_t i = 0; i < nps; i++) {
		if (param_is(ps[i], "X-Amz-Credential", true)) {
			qcred = (long)i;
			ncred++;
			tmp.n = 0;
			pct_decode(&tmp, ps[i].value.p, ps[i].value.n);
			if (tmp.oom) {
				res = refuse(out, "out of memory");
				goto done;
			}
			size_t k = 0;
			while (k < tmp.n && tmp.p[k] != '/')
				k++;
			long p = find_pair((struct span){tmp.p ? tmp.p : "", k}, pairs, npairs);
			if (p >= 0)
				qpi = p;
		} else if (param_is(ps[i], "X-Amz-Signature", true)) {
			qsig = (long)i;
			nsig++;
		} else if (param_is(ps[i], "X-Amz-Algorithm", true)) {
			qalg = (long)i;
			nalg++;
		} else if (param_is(ps[i], "X-Amz-Date", true)) {
			qdate = (long)i;
			ndate++;
		} else if (param_is(ps[i], "X-Amz-Security-Token", true)) {
			qtok = (long)i;
			ntok++;
		} else if (param_is(ps[i], "X-Amz-SignedHeaders", true)) {
			qsh = (long)i;
			nsh++;
		}
	}
	if (!query_ok) {
		for (size_t i = 0; i < npairs; i++)
			if (pairs[i].masked_akid && contains(h->query.p, h->query.n, pairs[i].masked_akid)) {
				res = refuse(out, "a request naming a masked AWS access key id has too many query parameters");
				goto done;
			}
	}
	if (!auth_ours && qpi < 0)
		goto done; /* SIGV4_NOT_AWS */
	if (auth_ours && qpi >= 0) {
		res = refuse(out, "AWS request signed both in the Authorization field and in the query");
		goto done;
	}
	bool presigned = qpi >= 0;
	if (!presigned && nauth > 1) {
		res = refuse(out, "AWS request with more than one Authorization field");
		goto done;
	}
	if (presigned && (nauth > 0 || ncred > 1 || nsig > 1 || nalg > 1 || ndate > 1 || ntok > 1 || nsh > 1)) {
		res = refuse(out, "presigned AWS request with repeated or conflicting signature parameters");
		goto done;
	}
	pi = presigned ? qpi : pi;
	const struct sigv4_pair *pair = &pairs[pi];
	out->pair = (size_t)pi;
	if (!pair->real_akid || !pair->real_secret || !pair->masked_secret ||
	    (!pair->masked_token) != (!pair->real_token)) {
		res = refuse(out, "the AWS key pair is incomplete");
		goto done;
	}
	/* What goes into the head as it is must not break it (CR, LF, spaces). */
	if (!safe_text(pair->real_akid, true) || (pair->real_token && !safe_text(pair->real_token, false)) ||
	    (host && !safe_text(host, false))) {
		res = refuse(out, "the real AWS key id, session token or host holds characters a request head cannot carry");
		goto done;
	}
	bool have_token = pair->real_token != NULL;

	/* 2. The shape and its policy. */
	struct span alg;
	if (presigned) {
		if (qalg < 0) {
			res = refuse(out, "presigned AWS request without X-Amz-Algorithm");
			goto done;
		}
		alg = ps[qalg].value;
	} else {
		struct span v = h->f[auth_i].value;
		size_t k = 0;
		while (k < v.n && v.p[k] != ' ')
			k++;
		alg = (struct span){v.p, k};
	}
	if (span_eq(alg, ALG_ECDSA)) {
		out->kind = SIGV4_KIND_SIGV4A;
		res = policy_result(out, opts->sigv4a, opts->sigv4a == SIGV4_RESIGN
			? "AWS SigV4a (ECDSA) request with a masked key: re-signing SigV4a is not supported"
			: "AWS SigV4a (ECDSA) request with a masked key: denied by credentials.sigv4.sigv4a");
		goto done;
	}
	if (!span_eq(alg, ALG_HMAC)) {
		res = refuse(out, "AWS request with a masked key uses an unknown signing algorithm");
		goto done;
	}
	struct span csha = {0};
	bool csha_present = false;
	if (!single(h, "x-amz-content-sha256", &csha, &csha_present)) {
		res = refuse(out, "AWS request with more than one x-amz-content-sha256 field");
		goto done;
	}
	bool streaming = csha_present && span_starts(csha, "STREAMING-");
	if (presigned) {
		out->kind = SIGV4_KIND_PRESIGNED;
		if (opts->presigned != SIGV4_RESIGN) {
			res = policy_result(out, opts->presigned,
					    "presigned AWS URL with a masked key: denied by credentials.sigv4.presigned");
			goto done;
		}
		if (streaming) {
			res = refuse(out, "presigned AWS URL with a streaming payload");
			goto done;
		}
	} else if (streaming) {
		out->kind = SIGV4_KIND_STREAMING;
		if (opts->streaming != SIGV4_RESIGN) {
			res = policy_result(out, opts->streaming,
					    "streaming (aws-chunked) AWS upload with a masked key: denied by credentials.sigv4.streaming");
			goto done;
		}
		if (!span_eq(csha, STREAMING_SIGNED) && !span_eq(csha, STREAMING_UNSIGNED_TRAILER)) {
			res = refuse(out, "streaming AWS upload of a kind that cannot be re-signed (signed trailers or ECDSA)");
			goto done;
		}
	} else {
		out->kind = SIGV4_KIND_HEADER;
	}

	/* 3. Scope, signed fields, date, signature. */
	struct auth a;
	struct span amz_date = {0};
	struct names names;
	char client_sig[65];
	if (presigned) {
		if (qsig < 0 || qdate < 0 || qsh < 0) {
			res = refuse(out, "presigned AWS URL with a masked key lacks a signature parameter");
			goto done;
		}
		/* The credential, signed headers and date, decoded. */
		struct sb dec[3] = {{0}, {0}, {0}};
		pct_decode(&dec[0], ps[qcred].value.p, ps[qcred].value.n);
		pct_decode(&dec[1], ps[qsh].value.p, ps[qsh].value.n);
		pct_decode(&dec[2], ps[qdate].value.p, ps[qdate].value.n);
		bool ok = !dec[0].oom && !dec[1].oom && !dec[2].oom && dec[0].p && dec[1].p && dec[2].p;
		/* Copied into one block that keep owns until the end. */
		static const size_t nd = 3;
		size_t total = 0;
		for (size_t k = 0; k < nd; k++)
			total += dec[k].n + 1;
		if (ok) {
			char *store = malloc(total);
			if (!store) {
				ok = false;
			} else {
				size_t off = 0;
				struct span sp[3];
				for (size_t k = 0; k < nd; k++) {
					memcpy(store + off, dec[k].p, dec[k].n + 1);
					sp[k] = (struct span){store + off, dec[k].n};
					off += dec[k].n + 1;
				}
				/* keep owns the copies until done. */
				sb_free(&keep);
				keep.p = store;
				keep.cap = total;
				keep.n = 0;
				ok = scope_parse(sp[0], &a.sc) && names_parse(sp[1], &names);
				amz_date = sp[2];
				a.signature = ps[qsig].value;
			}
		}
		for (size_t k = 0; k < nd; k++)
			sb_free(&dec[k]);
		if (!ok || !is_hex64(a.signature)) {
			res = refuse(out, "presigned AWS URL with a masked key is malformed");
			goto done;
		}
	} else {
		if (!auth_parse(h->f[auth_i].value, &a) || !names_parse(a.signed_headers, &names)) {
			res = refuse(out, "AWS Authorization field with a masked key is malformed");
			goto done;
		}
		bool present;
		if (!single(h, "x-amz-date", &amz_date, &present) || !present) {
			res = refuse(out, "AWS request with a masked key needs exactly one x-amz-date field");
			goto done;
		}
	}
	hex64_lower(a.signature, client_sig);
	if (amz_date.n != 16 || amz_date.p[8] != 'T' || amz_date.p[15] != 'Z') {
		res = refuse(out, "AWS request with a masked key has a malformed x-amz-date");
		goto done;
	}
	if (!names_has(&names, "host")) {
		res = refuse(out, "AWS request with a masked key does not sign the host field");
		goto done;
	}

	/* The session token the sandbox sent must be the masked one. */
	struct span tok_v = {0};
	bool tok_present = false;
	if (presigned) {
		if (qtok >= 0) {
			tmp.n = 0;
			pct_decode(&tmp, ps[qtok].value.p, ps[qtok].value.n);
			tok_present = true;
			if (have_token && !(tmp.p && strlen(pair->masked_token) == tmp.n &&
					    memcmp(tmp.p, pair->masked_token, tmp.n) == 0)) {
				res = refuse(out, "AWS request with a masked key carries a session token that is not the masked one");
				goto done;
			}
		}
	} else {
		if (!single(h, "x-amz-security-token", &tok_v, &tok_present)) {
			res = refuse(out, "AWS request with more than one x-amz-security-token field");
			goto done;
		}
		if (tok_present && have_token && !span_eq(tok_v, pair->masked_token)) {
			res = refuse(out, "AWS request with a masked key carries a session token that is not the masked one");
			goto done;
		}
	}
	(void)tok_present;

	/* 4. The forwarded head. */
	const struct head *f = h;
	if (fwd) {
		if (!parse_head(fwd, fwd_len, fh)) {
			res = refuse(out, "the substituted AWS request head is malformed");
			goto done;
		}
		f = fh;
		size_t fa = count_fields(f, "authorization", NULL);
		if (fa != nauth || f->method.n != h->method.n || memcmp(f->method.p, h->method.p, h->method.n) != 0) {
			res = refuse(out, "the substituted AWS request head does not match the request");
			goto done;
		}
	}
	if (!host) {
		bool present;
		struct span hv;
		if (!single(f, "host", &hv, &present) || !present) {
			res = refuse(out, "AWS request with a masked key needs exactly one Host field");
			goto done;
		}
	} else if (count_fields(f, "host", NULL) > 1 || count_fields(h, "host", NULL) > 1) {
		res = refuse(out, "AWS request with more than one Host field");
		goto done;
	}

	/* 5. Payload hashes: what the sandbox signed, what we sign. */
	char vhash[65], shash[65];
	char tmp_hex[65];
	bool empty = body_empty(h);
	const uint8_t *cb = body ? body->client_sha256 : NULL;
	const uint8_t *sbh = body ? body->sent_sha256 : NULL;
	bool verbatim = body && body->verbatim;
	if (verbatim) {
		if (!cb)
			cb = sbh;
		if (!sbh)
			sbh = cb;
	}
	bool rewrite_csha = false;
	if (csha_present && (span_eq(csha, UNSIGNED_PAYLOAD) || streaming)) {
		memcpy(vhash, csha.p, csha.n);
		vhash[csha.n] = '\0';
		strcpy(shash, vhash);
	} else if (csha_present) {
		if (!is_hex64(csha)) {
			res = refuse(out, "AWS request with a masked key has a malformed x-amz-content-sha256");
			goto done;
		}
		memcpy(vhash, csha.p, 64);
		vhash[64] = '\0';
		if (sbh) {
			to_hex(sbh, 32, shash);
		} else if (empty) {
			strcpy(shash, EMPTY_SHA256);
		} else if (verbatim) {
			strcpy(shash, vhash);
		} else {
			out->reason = "the signature covers the body's SHA-256: the body is needed";
			res = SIGV4_NEED_BODY;
			goto done;
		}
		hex64_lower((struct span){vhash, 64}, tmp_hex);
		rewrite_csha = strcmp(tmp_hex, shash) != 0;
	} else if (presigned && span_eq(a.sc.service, "s3")) {
		strcpy(vhash, UNSIGNED_PAYLOAD);
		strcpy(shash, UNSIGNED_PAYLOAD);
	} else {
		if (empty) {
			strcpy(vhash, EMPTY_SHA256);
			strcpy(shash, EMPTY_SHA256);
		} else if (cb && sbh) {
			to_hex(cb, 32, vhash);
			to_hex(sbh, 32, shash);
		} else {
			out->reason = "the signature covers the body's SHA-256: the body is needed";
			res = SIGV4_NEED_BODY;
			goto done;
		}
	}

	/* 6. Verify the sandbox's signature with the masked secret. */
	const char *missing = NULL;
	struct override vov[1] = {{"host", NULL}};
	bool orig_has_host = count_fields(h, "host", NULL) == 1;
	if (!orig_has_host)
		vov[0].value = host;
	if (!vov[0].value && !orig_has_host) {
		res = refuse(out, "AWS request with a masked key needs a Host field");
		goto done;
	}
	creq.n = 0;
	if (!canonical_request(&creq, h, h->query, presigned ? "X-Amz-Signature" : NULL, a.sc.service, &names, vov, 1,
			       vhash, &missing)) {
		res = refuse(out, missing);
		goto done;
	}
	char expect[65];
	if (creq.oom || !sign(pair->masked_secret, &a.sc, amz_date, &creq, expect)) {
		res = refuse(out, "out of memory");
		goto done;
	}
	if (CRYPTO_memcmp(expect, client_sig, 64) != 0) {
		res = refuse(out, "AWS request with a masked key: its signature does not verify with the masked secret");
		goto done;
	}

	/* 7. Sign what goes upstream with the real secret. */
	struct names snames = names;
	if (have_token && !names_add(&snames, "x-amz-security-token")) {
		res = refuse(out, "too many signed fields");
		goto done;
	}
	struct scope rsc = a.sc;
	rsc.akid = (struct span){pair->real_akid, strlen(pair->real_akid)};
	struct sb scope_s = {0};
	sb_span(&scope_s, rsc.date);
	sb_add(&scope_s, "/", 1);
	sb_span(&scope_s, rsc.region);
	sb_add(&scope_s, "/", 1);
	sb_span(&scope_s, rsc.service);
	sb_str(&scope_s, "/aws4_request");
	struct span fquery = f->query;
	if (presigned) {
		/* The new query: the sandbox's parameters in their order, with
		 * the real credential and token; the signature goes last. */
		struct param fps[PARAMS_MAX];
		size_t nf = 0;
		if (!f->has_query || !split_query(f->query, fps, &nf)) {
			sb_free(&scope_s);
			res = refuse(out, "the substituted AWS request head does not match the request");
			goto done;
		}
		bool tok_done = false;
		size_t written = 0;
		for (size_t i = 0; i < nf; i++) {
			if (param_is(fps[i], "X-Amz-Signature", true))
				continue;
			if (written++)
				sb_add(&nq, "&", 1);
			if (param_is(fps[i], "X-Amz-Credential", true)) {
				sb_str(&nq, "X-Amz-Credential=");
				tmp.n = 0;
				sb_str(&tmp, pair->real_akid);
				sb_add(&tmp, "/", 1);
				sb_add(&tmp, scope_s.p, scope_s.n);
				uri_encode(&nq, tmp.p, tmp.n, false);
			} else if (have_token && param_is(fps[i], "X-Amz-Security-Token", true)) {
				sb_str(&nq, "X-Amz-Security-Token=");
				uri_encode(&nq, pair->real_token, strlen(pair->real_token), false);
				tok_done = true;
			} else {
				/* as sent ("name" and "name=" stay apart) */
				sb_span(&nq, fps[i].name);
				if (fps[i].has_eq) {
					sb_add(&nq, "=", 1);
					sb_span(&nq, fps[i].value);
				}
			}
		}
		if (have_token && !tok_done) {
			if (written++)
				sb_add(&nq, "&", 1);
			sb_str(&nq, "X-Amz-Security-Token=");
			uri_encode(&nq, pair->real_token, strlen(pair->real_token), false);
		}
		sb_add(&nq, "", 0);
		fquery = (struct span){nq.p ? nq.p : "", nq.n};
		/* The signed headers of a presigned URL are in the query, so the
		 * token cannot be added to them: it is a query parameter. */
		snames = names;
	}
	struct override sov[3] = {
		{"host", host},
		{"x-amz-security-token", (!presigned && have_token) ? pair->real_token : NULL},
		{"x-amz-content-sha256", rewrite_csha ? shash : NULL},
	};
	creq.n = 0;
	missing = NULL;
	char newsig[65];
	bool ok = canonical_request(&creq, f, fquery, NULL, a.sc.service, &snames, sov, 3, shash, &missing);
	if (!ok) {
		sb_free(&scope_s);
		res = refuse(out, missing);
		goto done;
	}
	if (creq.oom || scope_s.oom || nq.oom || !sign(pair->real_secret, &rsc, amz_date, &creq, newsig)) {
		sb_free(&scope_s);
		res = refuse(out, "out of memory");
		goto done;
	}

	/* 8. The new head. */
	struct sb nh = {0};
	if (presigned) {
		sb_span(&nh, f->method);
		sb_add(&nh, " ", 1);
		sb_span(&nh, f->prefix);
		sb_span(&nh, f->path.n ? f->path : (struct span){"/", 1});
		sb_add(&nh, "?", 1);
		sb_span(&nh, fquery);
		if (fquery.n)
			sb_add(&nh, "&", 1);
		sb_str(&nh, "X-Amz-Signature=");
		sb_str(&nh, newsig);
		sb_add(&nh, " ", 1);
		sb_span(&nh, f->version);
		sb_add(&nh, "\r\n", 2);
	} else {
		sb_span(&nh, f->reqline);
		sb_str(&auth_v, ALG_HMAC " Credential=");
		sb_str(&auth_v, pair->real_akid);
		sb_add(&auth_v, "/", 1);
		sb_add(&auth_v, scope_s.p, scope_s.n);
		sb_str(&auth_v, ", SignedHeaders=");
		for (size_t i = 0; i < snames.n; i++) {
			if (i)
				sb_add(&auth_v, ";", 1);
			sb_span(&auth_v, snames.v[i]);
		}
		sb_str(&auth_v, ", Signature=");
		sb_str(&auth_v, newsig);
	}
	sb_free(&scope_s);
	bool host_done = false, tok_written = false;
	for (size_t i = 0; i < f->nfields; i++) {
		const struct field *fl = &f->f[i];
		if (!presigned && span_ieq(fl->name, "authorization")) {
			sb_span(&nh, fl->name);
			sb_str(&nh, ": ");
			sb_add(&nh, auth_v.p, auth_v.n);
			sb_add(&nh, "\r\n", 2);
		} else if (!presigned && have_token && span_ieq(fl->name, "x-amz-security-token")) {
			sb_span(&nh, fl->name);
			sb_str(&nh, ": ");
			sb_str(&nh, pair->real_token);
			sb_add(&nh, "\r\n", 2);
			tok_written = true;
		} else if (host && span_ieq(fl->name, "host")) {
			sb_span(&nh, fl->name);
			sb_str(&nh, ": ");
			sb_str(&nh, host);
			sb_add(&nh, "\r\n", 2);
			host_done = true;
		} else if (rewrite_csha && span_ieq(fl->name, "x-amz-content-sha256")) {
			sb_span(&nh, fl->name);
			sb_str(&nh, ": ");
			sb_str(&nh, shash);
			sb_add(&nh, "\r\n", 2);
		} else {
			sb_span(&nh, fl->line);
		}
	}
	if (host && !host_done) {
		sb_str(&nh, "Host: ");
		sb_str(&nh, host);
		sb_add(&nh, "\r\n", 2);
	}
	if (!presigned && have_token && !tok_written) {
		sb_str(&nh, "X-Amz-Security-Token: ");
		sb_str(&nh, pair->real_token);
		sb_add(&nh, "\r\n", 2);
	}
	sb_add(&nh, "\r\n", 2);
	if (nh.oom || auth_v.oom) {
		sb_free(&nh);
		res = refuse(out, "out of memory");
		goto done;
	}

	/* 9. A streaming body's chunk re-signer. */
	if (streaming && span_eq(csha, STREAMING_SIGNED)) {
		uint8_t mkey[32], rkey[32];
		struct sb sl = {0};
		sb_span(&sl, a.sc.date);
		sb_add(&sl, "/", 1);
		sb_span(&sl, a.sc.region);
		sb_add(&sl, "/", 1);
		sb_span(&sl, a.sc.service);
		sb_str(&sl, "/aws4_request");
		bool kok = !sl.oom && derive_key(pair->masked_secret, a.sc.date, a.sc.region, a.sc.service, mkey) &&
			   derive_key(pair->real_secret, a.sc.date, a.sc.region, a.sc.service, rkey);
		if (kok)
			out->stream = stream_from_keys(mkey, rkey, sl.p, amz_date, client_sig, newsig,
						       opts->chunk_max ? opts->chunk_max : SIGV4_CHUNK_MAX_DEFAULT);
		OPENSSL_cleanse(mkey, sizeof(mkey));
		OPENSSL_cleanse(rkey, sizeof(rkey));
		sb_free(&sl);
		if (!out->stream) {
			sb_free(&nh);
			res = refuse(out, "out of memory");
			goto done;
		}
	}
	out->head = nh.p;
	out->head_len = nh.n;
	res = SIGV4_RESIGNED;

done:
	if (creq.p)
		OPENSSL_cleanse(creq.p, creq.n);
	sb_free(&creq);
	sb_free(&nq);
	sb_free(&auth_v);
	sb_free(&keep);
	sb_free(&tmp);
	free(h);
	free(fh);
	return res;
}

void sigv4_out_free(struct sigv4_out *out)
{
	if (!out)
		return;
	free(out->head);
	sigv4_stream_free(out->stream);
	memset(out, 0, sizeof(*out));
}

/* ------------------------------------------------------------------ */
/* aws-chunked streams                                                 */

#define CHUNK_LINE_MAX 128

enum chunk_state { ST_LINE, ST_DATA, ST_CRLF, ST_DONE, ST_ERROR };

struct sigv4_stream {
	uint8_t mkey[32], rkey[32];
	char prefix[256];          /* "AWS4-HMAC-SHA256-PAYLOAD\n<amz-date>\n<scope>\n" */
	char client_prev[65], new_prev[65];
	size_t chunk_max;
	enum chunk_state st;
	char line[CHUNK_LINE_MAX];
	size_t line_len;
	size_t sig_off;            /* where the 64 hex digits start in line */
	uint64_t size, have;
	char *data;
	size_t data_cap;
	char crlf[2];
	size_t crlf_len;
};

static struct sigv4_stream *stream_from_keys(const uint8_t mkey[32], const uint8_t rkey[32], const char *scope_line,
					     struct span amz_date, const char *client_seed, const char *new_seed,
					     size_t chunk_max)
{
	struct sigv4_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	int n = snprintf(s->prefix, sizeof(s->prefix), "AWS4-HMAC-SHA256-PAYLOAD\n%.*s\n%s\n", (int)amz_date.n,
			 amz_date.p, scope_line);
	if (n < 0 || (size_t)n >= sizeof(s->prefix) || strlen(client_seed) != 64 || strlen(new_seed) != 64) {
		free(s);
		return NULL;
	}
	memcpy(s->mkey, mkey, 32);
	memcpy(s->rkey, rkey, 32);
	memcpy(s->client_prev, client_seed, 65);
	memcpy(s->new_prev, new_seed, 65);
	s->chunk_max = chunk_max;
	s->st = ST_LINE;
	return s;
}

struct sigv4_stream *sigv4_stream_new(const char *masked_secret, const char *real_secret, const char *date,
				      const char *region, const char *service, const char *amz_date,
				      const char *client_seed, const char *new_seed, size_t chunk_max)
{
	if (!masked_secret || !real_secret || !date || !region || !service || !amz_date || !client_seed || !new_seed)
		return NULL;
	struct span d = {date, strlen(date)}, r = {region, strlen(region)}, sv = {service, strlen(service)};
	if (!is_hex64((struct span){client_seed, strlen(client_seed)}) || !is_hex64((struct span){new_seed, strlen(new_seed)}))
		return NULL;
	char cs[65], ns[65];
	hex64_lower((struct span){client_seed, 64}, cs);
	hex64_lower((struct span){new_seed, 64}, ns);
	uint8_t mk[32], rk[32];
	char scope_line[200];
	int n = snprintf(scope_line, sizeof(scope_line), "%s/%s/%s/aws4_request", date, region, service);
	struct sigv4_stream *s = NULL;
	if (n > 0 && (size_t)n < sizeof(scope_line) && derive_key(masked_secret, d, r, sv, mk) &&
	    derive_key(real_secret, d, r, sv, rk))
		s = stream_from_keys(mk, rk, scope_line, (struct span){amz_date, strlen(amz_date)}, cs, ns,
				     chunk_max ? chunk_max : SIGV4_CHUNK_MAX_DEFAULT);
	OPENSSL_cleanse(mk, sizeof(mk));
	OPENSSL_cleanse(rk, sizeof(rk));
	return s;
}

void sigv4_stream_free(struct sigv4_stream *s)
{
	if (!s)
		return;
	OPENSSL_cleanse(s->mkey, sizeof(s->mkey));
	OPENSSL_cleanse(s->rkey, sizeof(s->rkey));
	free(s->data);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

static void buf_add(struct sigv4_buf *b, const void *p, size_t n, bool *oom)
{
	if (*oom || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->data, cap);
		if (!q) {
			*oom = true;
			return;
		}
		b->data = q;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* "hex-size;chunk-signature=<64 hex>\r\n" */
static bool chunk_line_parse(struct sigv4_stream *s)
{
	static const char ext[] = ";chunk-signature=";
	size_t el = sizeof(ext) - 1;
	size_t i = 0;
	uint64_t size = 0;
	while (i < s->line_len && hexval((unsigned char)s->line[i]) >= 0) {
		if (i == 16)
			return false;
		size = size * 16 + (uint64_t)hexval((unsigned char)s->line[i]);
		i++;
	}
	if (i == 0 || s->line_len != i + el + 64 + 2 || memcmp(s->line + i, ext, el) != 0)
		return false;
	s->sig_off = i + el;
	if (!is_hex64((struct span){s->line + s->sig_off, 64}))
		return false;
	if (s->line[s->line_len - 2] != '\r' || s->line[s->line_len - 1] != '\n')
		return false;
	s->size = size;
	return true;
}

static bool chunk_sig(const uint8_t key[32], const char *prefix, const char *prev, const uint8_t data_md[32], char out[65])
{
	char dh[65];
	to_hex(data_md, 32, dh);
	char sts[256 + 64 * 3 + 8];
	int n = snprintf(sts, sizeof(sts), "%s%s\n" EMPTY_SHA256 "\n%s", prefix, prev, dh);
	if (n < 0 || (size_t)n >= sizeof(sts))
		return false;
	uint8_t md[32];
	if (!hmac256(key, 32, sts, (size_t)n, md))
		return false;
	to_hex(md, 32, out);
	return true;
}

/* A whole chunk is held: check the sandbox's signature, write it re-signed. */
static const char *chunk_finish(struct sigv4_stream *s, struct sigv4_buf *out, bool *oom)
{
	uint8_t md[32];
	if (!sha256(s->data ? s->data : "", (size_t)s->size, md))
		return "hashing failed";
	char expect[65], client[65], fresh[65];
	hex64_lower((struct span){s->line + s->sig_off, 64}, client);
	if (!chunk_sig(s->mkey, s->prefix, s->client_prev, md, expect) ||
	    !chunk_sig(s->rkey, s->prefix, s->new_prev, md, fresh))
		return "signing failed";
	if (CRYPTO_memcmp(expect, client, 64) != 0)
		return "an aws-chunked chunk signature does not verify with the masked secret";
	memcpy(s->client_prev, client, 65);
	memcpy(s->new_prev, fresh, 65);
	memcpy(s->line + s->sig_off, fresh, 64);
	buf_add(out, s->line, s->line_len, oom);
	buf_add(out, s->data, (size_t)s->size, oom);
	buf_add(out, "\r\n", 2, oom);
	return NULL;
}

enum sigv4_stream_status sigv4_stream_feed(struct sigv4_stream *s, const char *in, size_t len, struct sigv4_buf *out,
					   const char **reason)
{
	const char *why = NULL;
	bool oom = false;
	if (!s || !out) {
		if (reason)
			*reason = "no stream";
		return SIGV4_STREAM_ERROR;
	}
	if (s->st == ST_DONE || s->st == ST_ERROR) {
		if (s->st == ST_DONE && len == 0)
			return SIGV4_STREAM_DONE;
		why = s->st == ST_DONE ? "bytes after the final aws-chunked chunk" : "the aws-chunked body already failed";
		goto fail;
	}
	size_t i = 0;
	while (i < len) {
		switch (s->st) {
		case ST_LINE: {
			char c = in[i++];
			if (s->line_len == CHUNK_LINE_MAX) {
				why = "an aws-chunked chunk header is too long";
				goto fail;
			}
			s->line[s->line_len++] = c;
			if (c == '\n') {
				if (!chunk_line_parse(s)) {
					why = "a malformed aws-chunked chunk header";
					goto fail;
				}
				if (s->size > s->chunk_max) {
					why = "an aws-chunked chunk is larger than the re-signing limit";
					goto fail;
				}
				if (s->size > s->data_cap) {
					char *d = realloc(s->data, (size_t)s->size);
					if (!d) {
						why = "out of memory";
						goto fail;
					}
					s->data = d;
					s->data_cap = (size_t)s->size;
				}
				s->have = 0;
				s->crlf_len = 0;
				s->st = s->size ? ST_DATA : ST_CRLF;
			}
			break;
		}
		case ST_DATA: {
			size_t take = len - i;
			if (take > s->size - s->have)
				take = (size_t)(s->size - s->have);
			memcpy(s->data + s->have, in + i, take);
			s->have += take;
			i += take;
			if (s->have == s->size)
				s->st = ST_CRLF;
			break;
		}
		case ST_CRLF: {
			char c = in[i++];
			if (c != "\r\n"[s->crlf_len]) {
				why = "an aws-chunked chunk does not end with CRLF";
				goto fail;
			}
			if (++s->crlf_len == 2) {
				why = chunk_finish(s, out, &oom);
				if (why)
					goto fail;
				if (oom) {
					why = "out of memory";
					goto fail;
				}
				bool last = s->size == 0;
				s->line_len = 0;
				s->st = last ? ST_DONE : ST_LINE;
				if (last) {
					if (i < len) {
						why = "bytes after the final aws-chunked chunk";
						goto fail;
					}
					return SIGV4_STREAM_DONE;
				}
			}
			break;
		}
		case ST_DONE:
		case ST_ERROR:
			why = "internal state";
			goto fail;
		}
	}
	return SIGV4_STREAM_MORE;
fail:
	s->st = ST_ERROR;
	if (reason)
		*reason = why;
	return SIGV4_STREAM_ERROR;
}
