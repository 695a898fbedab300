/* credentials: deny and mask for environment variables and files; see creds.h. */
#include "creds.h"
#include "policy/policy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "config/credregex.h"
#include "policy/domain.h"
#include "policy/netpolicy.h"
#include "policy/path.h"
#include "proxy/host.h"

struct cred {
	char *label;                   /* "envVars[0] NAME" */
	const struct config_credential *cfg;
	struct domain_pattern *hosts;  /* injectHosts, parsed */
	size_t n_hosts;
};

struct creds {
	const struct config *cfg;
	struct cred *creds;
	size_t n_creds;
	struct credsub_pat *pats;
	size_t n_pats;
	bool *head_ok;                 /* per pattern: the real value may go in a head */
	struct strv strip, set, unset, hide;
	struct creds_cover *covers;
	size_t n_covers;
	bool plaintext;
	struct creds_aws *aws;         /* AWS key pairs (creds_aws_pairs) */
	size_t n_aws;
};

/* ---- memory that holds secrets ---- */

static void wipe_free(void *p, size_t n)
{
	if (p) {
		explicit_bzero(p, n);
		free(p);
	}
}

static char *secret_dup(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* ---- stand-ins ---- */

static int random_alnum(char *out, size_t n)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	size_t done = 0;
	while (done < n) {
		unsigned char buf[64];
		ssize_t got = getrandom(buf, sizeof(buf), 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		/* 36 symbols: drop bytes >= 252 so that each is uniform. */
		for (ssize_t i = 0; i < got && done < n; i++)
			if (buf[i] < 252)
				out[done++] = alphabet[buf[i] % 36];
	}
	return 0;
}

/* A stand-in at least as long as real_len (see creds.h). */
static char *mint_standin(size_t real_len)
{
	size_t base = strlen(CREDS_STANDIN_PREFIX) + CREDS_STANDIN_RANDOM;
	size_t len = real_len > base ? real_len : base;
	char *s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, CREDS_STANDIN_PREFIX, strlen(CREDS_STANDIN_PREFIX));
	if (random_alnum(s + strlen(CREDS_STANDIN_PREFIX), len - strlen(CREDS_STANDIN_PREFIX)) < 0) {
		free(s);
		return NULL;
	}
	s[len] = '\0';
	return s;
}

static int add_pattern(struct creds *c, int cred, char *standin, size_t standin_len, char *real, size_t real_len)
{
	struct credsub_pat *v = realloc(c->pats, (c->n_pats + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->pats = v;
	bool *h = realloc(c->head_ok, (c->n_pats + 1) * sizeof(*h));
	if (!h)
		return -ENOMEM;
	c->head_ok = h;
	bool ok = true;
	for (size_t i = 0; i < real_len; i++)
		if (real[i] == '\r' || real[i] == '\n' || real[i] == '\0')
			ok = false;
	c->head_ok[c->n_pats] = ok;
	c->pats[c->n_pats++] = (struct credsub_pat){
		.standin = (const uint8_t *)standin, .standin_len = standin_len,
		.real = (const uint8_t *)real, .real_len = real_len, .cred = cred,
	};
	return 0;
}

/* A stand-in for real[0..len) of credential cred (the same value twice in
 * one credential gets one stand-in); NULL on allocation failure. */
static const char *standin_for(struct creds *c, int cred, const char *real, size_t len)
{
	for (size_t i = 0; i < c->n_pats; i++)
		if (c->pats[i].cred == cred && c->pats[i].real_len == len && memcmp(c->pats[i].real, real, len) == 0)
			return (const char *)c->pats[i].standin;
	char *s = mint_standin(len);
	char *r = secret_dup(real, len);
	if (!s || !r || add_pattern(c, cred, s, strlen(s), r, len) < 0) {
		free(s);
		wipe_free(r, len);
		return NULL;
	}
	return s;
}

/* ---- JWT (decode: "jwt") ---- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const unsigned char *in, size_t n)
{
	char *out = malloc(n / 3 * 4 + 5);
	if (!out)
		return NULL;
	size_t o = 0, i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
		out[o++] = B64URL[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = B64URL[v >> 18 & 63];
		out[o++] = B64URL[v >> 12 & 63];
		out[o++] = B64URL[v >> 6 & 63];
	}
	out[o] = '\0';
	return out;
}

/* Decode base64url without padding; NULL when it is not that. */
static unsigned char *b64url_decode(const char *in, size_t n, size_t *out_len)
{
	if (n % 4 == 1)
		return NULL;
	unsigned char *out = malloc(n / 4 * 3 + 3);
	if (!out)
		return NULL;
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = memchr(B64URL, in[i], 64);
		if (!p || !in[i]) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t)(p - B64URL);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	*out_len = o;
	return out;
}

static json_t *segment_json(const char *seg, size_t n)
{
	size_t len;
	unsigned char *raw = b64url_decode(seg, n, &len);
	if (!raw)
		return NULL;
	json_t *j = json_loadb((const char *)raw, len, JSON_DECODE_ANY, NULL);
	wipe_free(raw, len);
	return j;
}

/* Is tok[0..n) a JWT: three base64url segments, a JSON object header with
 * "alg", a JSON payload? */
static bool jwt_verify(const char *tok, size_t n, size_t *dot1, size_t *dot2)
{
	const char *a = memchr(tok, '.', n);
	if (!a)
		return false;
	const char *b = memchr(a + 1, '.', n - (size_t)(a + 1 - tok));
	if (!b || memchr(b + 1, '.', n - (size_t)(b + 1 - tok)))
		return false;
	*dot1 = (size_t)(a - tok);
	*dot2 = (size_t)(b - tok);
	json_t *h = segment_json(tok, *dot1);
	bool ok = json_is_object(h) && json_object_get(h, "alg");
	json_decref(h);
	if (!ok)
		return false;
	json_t *p = segment_json(a + 1, *dot2 - *dot1 - 1);
	ok = p != NULL;
	json_decref(p);
	return ok;
}

/* A fake signature: 43 random base64url characters, as long as HS256's. */
static char *fake_signature(void)
{
	char *s = malloc(44);
	if (!s || random_alnum(s, 43) < 0) {
		free(s);
		return NULL;
	}
	s[43] = '\0';
	return s;
}

/* The stand-in of a JWT (tok[0..n), verified): without claims, a fake
 * token {"alg":"HS256","typ":"JWT"}.{"sub":STAND-IN,"exp":9999999999}.SIG
 * swapped whole for the real one; with claims, the real header, the real
 * payload with each named string claim replaced by a stand-in of its own,
 * and a fake signature. Returns the fake token (owned by its pattern in
 * c), or NULL with
 * *masked false when no named claim is there. */
static const char *jwt_standin(struct creds *c, int cred, const char *tok, size_t n, size_t dot1, size_t dot2,
			 const struct strv *claims, bool *masked)
{
	*masked = false;
	char *sig = fake_signature();
	if (!sig)
		return NULL;
	char *fake = NULL;
	if (!claims || claims->n == 0) {
		char *sub = mint_standin(0);
		json_t *h = json_pack("{s:s,s:s}", "alg", "HS256", "typ", "JWT");
		json_t *p = sub ? json_pack("{s:s,s:I}", "sub", sub, "exp", (json_int_t)9999999999LL) : NULL;
		char *hs = h ? json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		char *ps = p ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		char *he = hs ? b64url_encode((unsigned char *)hs, strlen(hs)) : NULL;
		char *pe = ps ? b64url_encode((unsigned char *)ps, strlen(ps)) : NULL;
		fake = he && pe ? str_printf("%s.%s.%s", he, pe, sig) : NULL;
		free(sub);
		json_decref(h);
		json_decref(p);
		free(hs);
		free(ps);
		free(he);
		free(pe);
		*masked = fake != NULL;
	} else {
		json_t *p = segment_json(tok + dot1 + 1, dot2 - dot1 - 1);
		bool any = false;
		for (size_t i = 0; p && json_is_object(p) && i < claims->n; i++) {
			json_t *v = json_object_get(p, claims->v[i]);
			if (!json_is_string(v))
				continue;
			const char *s = standin_for(c, cred, json_string_value(v), json_string_length(v));
			if (!s) {
				json_decref(p);
				free(sig);
				return NULL;
			}
			json_object_set_new(p, claims->v[i], json_string(s));
			any = true;
		}
		char *ps = any ? json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
		char *pe = ps ? b64url_encode((unsigned char *)ps, strlen(ps)) : NULL;
		fake = pe ? str_printf("%.*s.%s.%s", (int)dot1, tok, pe, sig) : NULL;
		json_decref(p);
		free(ps);
		free(pe);
		*masked = any && fake;
		if (!any) {
			free(sig);
			return NULL;
		}
	}
	free(sig);
	if (!fake)
		return NULL;
	char *real = secret_dup(tok, n);
	if (!real || add_pattern(c, cred, fake, strlen(fake), real, n) < 0) {
		wipe_free(real, n);
		free(fake);
		*masked = false;
		return NULL;
	}
	return fake;
}

/* ---- an extract pattern's time budget ---- */

/*
 * glibc's regexec can take time quadratic in the text and worse for some
 * patterns ("(a*)c" on 100 KB of "a": over 20 s), and an untrusted
 * project's settings may bring both the pattern and the file. srt would
 * hang at its start, deaf to SIGTERM. So the scan runs first in a child,
 * which walks the text as mask_text does (never fewer regexec calls), and
 * is killed when it takes more than EXTRACT_BUDGET_MS: the entry is then
 * refused with a clear error. Returns 0, -ETIME or a negative errno.
 */
#define EXTRACT_BUDGET_MS 3000
#define EXTRACT_BUDGET_TEXT "3 s"

static int extract_in_time(const struct config_credential *e, const char *text, size_t len)
{
	if (!e->extract)
		return 0; /* srt's own JWT pattern: linear */
	regex_t re;
	const char *why;
	char buf[256];
	if (credregex_compile(e->extract, &re, &why, buf, sizeof(buf)) < 0)
		return -EINVAL;
	char *z = secret_dup(text, len);
	if (!z) {
		regfree(&re);
		return -ENOMEM;
	}
	pid_t pid = fork();
	if (pid == 0) {
		size_t pos = 0;
		while (pos <= len) {
			regmatch_t m[2];
			if (regexec(&re, z + pos, 2, m, pos > 0 ? REG_NOTBOL : 0) != 0)
				break;
			size_t ms = pos + (size_t)m[0].rm_so, me = pos + (size_t)m[0].rm_eo;
			size_t next = me > ms && !e->decode_jwt ? me : ms + 1;
			pos = next > pos ? next : pos + 1;
		}
		_exit(0);
	}
	int saved = errno;
	regfree(&re);
	wipe_free(z, len + 1);
	if (pid < 0)
		return -saved;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned sleep_us = 50;; sleep_us = sleep_us < 5000 ? sleep_us * 2 : 5000) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD))
			return 0;
		if (w < 0 && errno != EINTR)
			return -errno;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= EXTRACT_BUDGET_MS) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return -ETIME;
		}
		usleep(sleep_us);
	}
}

/* ---- masking one text (a variable's value, a file's content) ---- */

/* Masked text of text[0..len) for credential cred, or NULL with *matched
 * false when extract/decode found nothing. -ENOMEM as NULL with
 * *oom true. */
static char *mask_text(struct creds *c, int cred, const char *text, size_t len, bool is_file, bool *matched, bool *oom)
{
	const struct config_credential *e = c->creds[cred].cfg;
	*matched = false;
	*oom = false;
	char *result = NULL;
	if (!e->extract && !e->decode_jwt) {
		/* Whole value. A file keeps its trailing line ends outside the
		 * secret, so that `$(cat file)` gives the whole stand-in and the
		 * real value put in its place holds no line end. */
		size_t n = len;
		if (is_file)
			while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
				n--;
		if (n == 0)
			return NULL;
		const char *s = standin_for(c, cred, text, n);
		if (!s) {
			*oom = true;
			return NULL;
		}
		*matched = true;
		result = str_printf("%s%.*s", s, (int)(len - n), text + n);
		if (!result)
			*oom = true;
		return result;
	}
	regex_t re;
	const char *why;
	char buf[256];
	const char *pattern = e->extract ? e->extract : "(eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+)";
	if (credregex_compile(pattern, &re, &why, buf, sizeof(buf)) < 0) {
		*oom = true;
		return NULL;
	}
	/* regexec needs a string: a NUL in the text ends the scan there. */
	char *z = secret_dup(text, len);
	if (!z) {
		regfree(&re);
		*oom = true;
		return NULL;
	}
	size_t acc_cap = len + 64, acc_len = 0;
	char *acc = malloc(acc_cap);
	size_t pos = 0;
	bool failed = !acc;
#define ACC(p, n) do { size_t n_ = (n); if (acc_len + n_ + 1 > acc_cap) { size_t nc = (acc_len + n_ + 1) * 2; \
	char *q = malloc(nc); if (!q) { failed = true; break; } memcpy(q, acc, acc_len); wipe_free(acc, acc_cap); \
	acc = q; acc_cap = nc; } memcpy(acc + acc_len, (p), n_); acc_len += n_; } while (0)
	while (!failed && pos <= len) {
		regmatch_t m[2];
		if (regexec(&re, z + pos, 2, m, pos > 0 ? REG_NOTBOL : 0) != 0)
			break;
		size_t ms = pos + (size_t)m[0].rm_so, me = pos + (size_t)m[0].rm_eo;
		if (m[1].rm_so >= 0 && m[1].rm_eo > m[1].rm_so) {
			size_t s0 = pos + (size_t)m[1].rm_so, s1 = pos + (size_t)m[1].rm_eo;
			const char *standin = NULL;
			const char *jwt = NULL; /* owned by its pattern */
			if (e->decode_jwt) {
				size_t d1, d2;
				bool masked = false;
				if (jwt_verify(z + s0, s1 - s0, &d1, &d2)) {
					jwt = jwt_standin(c, cred, z + s0, s1 - s0, d1, d2,
							  e->has_mask_claims ? &e->mask_claims : NULL, &masked);
					standin = jwt;
				}
				(void)masked;
			} else {
				standin = standin_for(c, cred, z + s0, s1 - s0);
				if (!standin)
					failed = true;
			}
			if (standin) {
				ACC(z + pos, s0 - pos);
				ACC(standin, strlen(standin));
				pos = s1;
				*matched = true;
			}
		}
		/* On past the match (one byte on for an empty one). A decode
		 * candidate that is no JWT may hide one inside it (a token glued
		 * to other text): look again one byte on. */
		size_t next = me > ms ? me : ms + 1;
		if (e->decode_jwt && pos <= ms)
			next = ms + 1;
		if (next > pos) {
			ACC(z + pos, (next > len ? len : next) - pos);
			pos = next;
		}
	}
	if (!failed && pos < len)
		ACC(z + pos, len - pos);
#undef ACC
	regfree(&re);
	wipe_free(z, len + 1);
	if (failed) {
		wipe_free(acc, acc_cap);
		*oom = true;
		return NULL;
	}
	if (!*matched) {
		wipe_free(acc, acc_cap);
		return NULL;
	}
	if (is_file && e->mask_duplicates) {
		/* Copies of a captured secret outside the matches: the scanner
		 * the other way round (real -> stand-in), leftmost-longest. */
		size_t n = 0;
		struct credsub_pat *inv = calloc(c->n_pats ? c->n_pats : 1, sizeof(*inv));
		bool *all = calloc(c->n_pats ? c->n_pats : 1, sizeof(*all));
		for (size_t i = 0; inv && all && i < c->n_pats; i++)
			if (c->pats[i].cred == cred && c->pats[i].real_len > 0) {
				inv[n] = (struct credsub_pat){ .standin = c->pats[i].real, .standin_len = c->pats[i].real_len,
							       .real = c->pats[i].standin,
							       .real_len = c->pats[i].standin_len, .cred = cred };
				all[n++] = true;
			}
		struct credsub_out o = { 0 };
		if (!inv || !all || credsub_oneshot(inv, n, all, (const uint8_t *)acc, acc_len, &o, NULL) < 0) {
			free(inv);
			free(all);
			credsub_out_free(&o);
			wipe_free(acc, acc_cap);
			*oom = true;
			return NULL;
		}
		free(inv);
		free(all);
		result = secret_dup(o.p ? (const char *)o.p : "", o.len);
		credsub_out_free(&o);
	} else {
		result = secret_dup(acc, acc_len);
	}
	wipe_free(acc, acc_cap);
	if (!result)
		*oom = true;
	return result;
}

/* ---- building ---- */

static int pos_error(struct srt_error *err, int code, const struct config_pos *pos, const char *fmt, const char *a,
		     const char *b)
{
	char text[600];
	snprintf(text, sizeof(text), fmt, a ? a : "", b ? b : "");
	if (pos && pos->file && pos->line > 0)
		return srt_error_set(err, code, "%s:%d:%d: %s: %s", pos->file, pos->line, pos->column,
				     pos->key ? pos->key : "credentials", text);
	if (pos && pos->file)
		return srt_error_set(err, code, "%s: %s: %s", pos->file, pos->key ? pos->key : "credentials", text);
	return srt_error_set(err, code, "credentials: %s", text);
}

static int read_small_file(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		return e;
	}
	if ((uint64_t)st.st_size > CREDS_FILE_MAX) {
		close(fd);
		return -EFBIG;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			/* grown since fstat: refuse rather than chase it */
			wipe_free(buf, cap + 1);
			close(fd);
			return -EFBIG;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			wipe_free(buf, cap + 1);
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

static const struct config_credential *find_env(const struct config *cfg, const char *name)
{
	const struct config_credential *found = NULL;
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		const struct config_credential *e = &cfg->credentials.items[i];
		if (!e->is_file && strcmp(e->name, name) == 0) {
			if (e->mode == CONFIG_CRED_DENY)
				return e;
			if (!found)
				found = e;
		}
	}
	return found;
}

/* Does some allowedDomains entry of cfg cover every host of pattern h
 * (ports aside)? A name: an entry matches it; *.x: an entry *.y with x
 * equal to y or below it. */
static bool host_in_list(const struct config_list *list, const struct domain_pattern *h)
{
	for (size_t i = 0; i < list->n; i++) {
		struct domain_pattern a;
		const char *why;
		if (domain_pattern_parse(list->items[i].value, false, &a, &why) < 0)
			continue;
		bool ok = false;
		if (h->kind == DOMAIN_WILDCARD) {
			size_t hl = strlen(h->host), al = a.host ? strlen(a.host) : 0;
			ok = a.kind == DOMAIN_WILDCARD &&
			     (strcmp(h->host, a.host) == 0 ||
			      (hl > al && h->host[hl - al - 1] == '.' && strcmp(h->host + hl - al, a.host) == 0));
		} else if (h->host) {
			ok = domain_pattern_match(&a, h->host, a.port ? a.port : (h->port ? h->port : 443));
		}
		domain_pattern_free(&a);
		if (ok)
			return true;
	}
	return false;
}

static bool host_reachable(const struct config *cfg, const struct domain_pattern *h)
{
	return host_in_list(&cfg->network.allowed_domains, h);
}

/* Is TLS termination on? Without it (and without allowPlaintextInject) a
 * masked credential could never be injected anywhere. */
static inline bool creds_tls_terminate_on(const struct config *cfg)
{
	return cfg->network.tls.enabled;
}

/* ---- AWS key pairs (SigV4 re-signing) ---- */

#define AWS_AKID_VAR "AWS_ACCESS_KEY_ID"
#define AWS_SECRET_VAR "AWS_SECRET_ACCESS_KEY"
#define AWS_TOKEN_VAR "AWS_SESSION_TOKEN"

static bool aws_names_conventional(const struct config_aws_pair *p)
{
	const char *v[3] = { p->access_key_id_var, p->secret_access_key_var, p->session_token_var };
	for (int k = 0; k < 3; k++)
		if (v[k] && (strcmp(v[k], AWS_AKID_VAR) == 0 || strcmp(v[k], AWS_SECRET_VAR) == 0 ||
			     strcmp(v[k], AWS_TOKEN_VAR) == 0))
			return true;
	return false;
}

/* One pair from three variable names; -ENOMEM or 0 (added or skipped). */
static int aws_pair_add(struct creds *c, const char *akid, const char *secret, const char *token,
			struct strv *warnings)
{
	size_t ia, is, it = 0;
	bool a = creds_env_pattern(c, akid, &ia), s = creds_env_pattern(c, secret, &is);
	bool t = token && creds_env_pattern(c, token, &it);
	if (!a || !s) {
		if (s && !a &&
		    strv_pushf(warnings, "credentials: %s is masked but %s is not: no AWS key pair, so requests "
				   "signed with the stand-in secret are not re-signed (and fail upstream); mask both",
			       secret, akid) < 0)
			return -ENOMEM;
		return 0;
	}
	struct creds_aws *v = realloc(c->aws, (c->n_aws + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->aws = v;
	struct creds_aws *p = &c->aws[c->n_aws];
	memset(p, 0, sizeof(*p));
	p->akid_pat = ia;
	const struct credsub_pat *x = c->pats;
	p->pair.masked_akid = secret_dup(x[ia].standin, x[ia].standin_len);
	p->pair.real_akid = secret_dup(x[ia].real, x[ia].real_len);
	p->pair.masked_secret = secret_dup(x[is].standin, x[is].standin_len);
	p->pair.real_secret = secret_dup(x[is].real, x[is].real_len);
	if (t) {
		p->pair.masked_token = secret_dup(x[it].standin, x[it].standin_len);
		p->pair.real_token = secret_dup(x[it].real, x[it].real_len);
	}
	c->n_aws++;
	if (!p->pair.masked_akid || !p->pair.real_akid || !p->pair.masked_secret || !p->pair.real_secret ||
	    (t && (!p->pair.masked_token || !p->pair.real_token)))
		return -ENOMEM;
	return 0;
}

static int aws_pairs_build(struct creds *c, struct strv *warnings)
{
	const struct config *cfg = c->cfg;
	bool conventional = false;
	for (size_t i = 0; i < cfg->credentials.n_aws_pairs; i++) {
		const struct config_aws_pair *p = &cfg->credentials.aws_pairs[i];
		conventional = conventional || aws_names_conventional(p);
		if (aws_pair_add(c, p->access_key_id_var, p->secret_access_key_var, p->session_token_var, warnings) < 0)
			return -ENOMEM;
	}
	if (!conventional && aws_pair_add(c, AWS_AKID_VAR, AWS_SECRET_VAR, AWS_TOKEN_VAR, warnings) < 0)
		return -ENOMEM;
	return 0;
}

static void aws_pairs_free(struct creds *c)
{
	for (size_t i = 0; i < c->n_aws; i++) {
		struct sigv4_pair *p = &c->aws[i].pair;
		const char *v[6] = { p->masked_akid, p->real_akid, p->masked_secret, p->real_secret, p->masked_token,
				     p->real_token };
		for (int k = 0; k < 6; k++)
			if (v[k])
				wipe_free((void *)v[k], strlen(v[k]));
	}
	free(c->aws);
	c->aws = NULL;
	c->n_aws = 0;
}

const struct creds_aws *creds_aws_pairs(const struct creds *c, size_t *n)
{
	*n = c ? c->n_aws : 0;
	return c ? c->aws : NULL;
}

static enum sigv4_policy sigv4_policy_of(enum config_sigv4 v)
{
	return v == CONFIG_SIGV4_PASSTHROUGH ? SIGV4_PASSTHROUGH : v == CONFIG_SIGV4_RESIGN ? SIGV4_RESIGN : SIGV4_DENY;
}

void creds_sigv4_opts(const struct config *cfg, struct sigv4_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (!cfg)
		return;
	o->streaming = sigv4_policy_of(cfg->credentials.sigv4_streaming);
	o->presigned = sigv4_policy_of(cfg->credentials.sigv4_presigned);
	o->sigv4a = cfg->credentials.sigv4a == CONFIG_SIGV4_PASSTHROUGH ? SIGV4_PASSTHROUGH : SIGV4_DENY;
}

int creds_build(const struct config *cfg, const char *home, const char *cwd, struct creds **ret,
		struct strv *warnings, struct srt_error *err)
{
	*ret = NULL;
	if (cfg->credentials.n == 0 && cfg->credentials.n_aws_pairs == 0)
		return 0;
	struct creds *c = calloc(1, sizeof(*c));
	if (!c)
		return srt_error_set(err, -ENOMEM, "out of memory");
	c->plaintext = cfg->credentials.allow_plaintext_inject;
	c->cfg = cfg;
	int r = 0;
	bool any_mask = false;
	c->creds = calloc(cfg->credentials.n ? cfg->credentials.n : 1, sizeof(*c->creds));
	if (!c->creds)
		goto oom;
	size_t n_env = 0, n_file = 0;
	for (size_t i = 0; i < cfg->credentials.n; i++) {
		const struct config_credential *e = &cfg->credentials.items[i];
		struct cred *cr = &c->creds[c->n_creds++];
		cr->cfg = e;
		if (!(cr->label = str_printf("%s[%zu] %s", e->is_file ? "files" : "envVars", e->is_file ? n_file : n_env,
					     e->name)))
			goto oom;
		e->is_file ? n_file++ : n_env++;
		if (e->mode == CONFIG_CRED_MASK)
			any_mask = true;
		if (e->has_inject_hosts) {
			cr->hosts = calloc(e->inject_hosts.n ? e->inject_hosts.n : 1, sizeof(*cr->hosts));
			if (!cr->hosts)
				goto oom;
			for (size_t k = 0; k < e->inject_hosts.n; k++) {
				const char *why = NULL;
				int pr = domain_pattern_parse(e->inject_hosts.items[k].value, false, &cr->hosts[k], &why);
				if (pr == -ENOMEM)
					goto oom;
				if (pr < 0) {
					r = pos_error(err, -EINVAL, &e->inject_hosts.items[k].pos,
						      "'%s' is not a domain pattern: %s", e->inject_hosts.items[k].value, why);
					goto fail;
				}
				cr->n_hosts++;
				if (e->mode == CONFIG_CRED_MASK && !host_reachable(cfg, &cr->hosts[k]) &&
				    strv_pushf(warnings, "credentials: %s: injectHosts entry '%s' is not reachable through "
						   "network.allowedDomains: nothing is injected there unless this sandbox's "
						   "own allow list or an answer lets it through", cr->label,
						   e->inject_hosts.items[k].value) < 0)
					goto oom;
				/* Its tunnels stay opaque: only plain HTTP could carry it. */
				if (e->mode == CONFIG_CRED_MASK && !c->plaintext && cfg->network.tls.enabled &&
				    host_in_list(&cfg->network.tls.exclude_domains, &cr->hosts[k]) &&
				    strv_pushf(warnings, "credentials: %s: injectHosts entry '%s' is in "
						   "network.tlsTerminate.excludeDomains: srt does not terminate its tunnels, so "
						   "the stand-in is not replaced in them", cr->label, e->inject_hosts.items[k].value) < 0)
					goto oom;
			}
		}
	}
	/* awsPairs name masked, whole-value variables (re-signing is a module
	 * of its own; here only the settings are checked). */
	for (size_t i = 0; i < cfg->credentials.n_aws_pairs; i++) {
		const struct config_aws_pair *p = &cfg->credentials.aws_pairs[i];
		const char *names[3] = { p->access_key_id_var, p->secret_access_key_var, p->session_token_var };
		for (int k = 0; k < 3; k++) {
			if (!names[k])
				continue;
			const struct config_credential *e = find_env(cfg, names[k]);
			if (!e || e->mode != CONFIG_CRED_MASK) {
				r = pos_error(err, -EINVAL, &p->pos,
					      "'%s' is not a credentials.envVars entry with mode \"mask\"%s", names[k], "");
				goto fail;
			}
			if (e->extract || e->decode_jwt) {
				r = pos_error(err, -EINVAL, &p->pos,
					      "'%s' uses extract or decode; an AWS pair's variables are masked whole%s",
					      names[k], "");
				goto fail;
			}
		}
	}
	if (any_mask && !c->plaintext && !creds_tls_terminate_on(cfg)) {
		const struct config_credential *e = NULL;
		for (size_t i = 0; i < cfg->credentials.n && !e; i++)
			if (cfg->credentials.items[i].mode == CONFIG_CRED_MASK)
				e = &cfg->credentials.items[i];
		r = pos_error(err, -EOPNOTSUPP, &e->pos,
			      "mode \"mask\" needs TLS termination (network.tlsTerminate) so that the real value is "
			      "sent over a connection srt verified; set credentials.allowPlaintextInject: true to "
			      "inject over plain HTTP instead%s%s", "", "");
		goto fail;
	}

	for (size_t i = 0; i < c->n_creds; i++) {
		const struct config_credential *e = c->creds[i].cfg;
		if (!e->is_file) {
			if (!strv_contains(&c->strip, e->name) && strv_push(&c->strip, e->name) < 0)
				goto oom;
			const struct config_credential *win = find_env(cfg, e->name);
			if (win != e)
				continue; /* one entry decides for a name: deny first, else the first mask */
			const char *val = getenv(e->name);
			if (e->mode == CONFIG_CRED_DENY || !val) {
				if (strv_push(&c->unset, e->name) < 0)
					goto oom;
				continue;
			}
			int tr = extract_in_time(e, val, strlen(val));
			if (tr < 0) {
				r = tr == -ETIME ? pos_error(err, -EINVAL, &e->pos,
							     "extract pattern takes more than " EXTRACT_BUDGET_TEXT
							     " on the variable's value: refused (make the pattern "
							     "simpler)%s%s", NULL, NULL)
						 : pos_error(err, tr, &e->pos, "cannot check the extract pattern: %s%s",
							     strerror(-tr), NULL);
				goto fail;
			}
			bool matched, oom;
			char *masked = mask_text(c, (int)i, val, strlen(val), false, &matched, &oom);
			if (oom)
				goto oom;
			if (!matched) {
				if (e->on_no_match == CONFIG_NOMATCH_ERROR) {
					r = pos_error(err, -EINVAL, &e->pos, "%s %s matches nothing in the variable's value",
						      e->decode_jwt && !e->extract ? "decode \"jwt\"" : "extract",
						      e->decode_jwt && !e->extract ? "" : "pattern");
					goto fail;
				}
				if (e->on_no_match == CONFIG_NOMATCH_DENY) {
					if (strv_push(&c->unset, e->name) < 0)
						goto oom;
					continue;
				}
				/* warn: the value passes as it is */
				if (strv_pushf(warnings, "credentials: %s: %s found nothing to mask; the variable "
						"is passed unmasked (onExtractNoMatch: \"deny\" withholds it)",
					       c->creds[i].label, e->extract ? "extract" : "decode \"jwt\"") < 0 ||
				    strv_push(&c->set, e->name) < 0 || strv_push(&c->set, val) < 0)
					goto oom;
				continue;
			}
			int pr = strv_push(&c->set, e->name);
			if (pr == 0)
				pr = strv_push(&c->set, masked);
			wipe_free(masked, strlen(masked));
			if (pr < 0)
				goto oom;
		} else if (e->mode == CONFIG_CRED_MASK) {
			const char *why = NULL;
			char *path = path_normalize(e->name, home, cwd, &why);
			if (!path) {
				if (!why)
					goto oom;
				r = pos_error(err, -EINVAL, &e->pos, "invalid path '%s': %s", e->name, why);
				goto fail;
			}
			char *text = NULL;
			size_t len = 0;
			int rr = read_small_file(path, &text, &len);
			if (rr == -ENOENT) {
				/* nothing to protect */
				free(path);
				continue;
			}
			if (rr < 0) {
				r = pos_error(err, rr, &e->pos, "cannot read '%s' to mask it: %s", path,
					      rr == -EFBIG ? "larger than 1 MiB" :
					      rr == -EISDIR ? "a folder (mask applies to one file; use deny)" : strerror(-rr));
				free(path);
				goto fail;
			}
			int tr = extract_in_time(e, text, len);
			if (tr < 0) {
				r = tr == -ETIME ? pos_error(err, -EINVAL, &e->pos,
							     "extract pattern takes more than " EXTRACT_BUDGET_TEXT
							     " on '%s': refused (make the pattern simpler)%s", path, NULL)
						 : pos_error(err, tr, &e->pos, "cannot check the extract pattern: %s%s",
							     strerror(-tr), NULL);
				wipe_free(text, len + 1);
				free(path);
				goto fail;
			}
			bool matched, oom;
			char *masked = mask_text(c, (int)i, text, len, true, &matched, &oom);
			wipe_free(text, len + 1);
			if (oom) {
				free(path);
				goto oom;
			}
			if (!matched) {
				if (e->on_no_match == CONFIG_NOMATCH_ERROR) {
					r = pos_error(err, -EINVAL, &e->pos, "nothing to mask in '%s'%s", path, "");
					free(path);
					goto fail;
				}
				if (e->on_no_match == CONFIG_NOMATCH_DENY) {
					int pr = strv_push(&c->hide, path);
					free(path);
					if (pr < 0)
						goto oom;
					continue;
				}
				int pr = strv_pushf(warnings, "credentials: %s: nothing to mask in '%s'; the file is "
						    "readable as it is (onExtractNoMatch: \"deny\" hides it)",
						    c->creds[i].label, path);
				free(path);
				if (pr < 0)
					goto oom;
				continue;
			}
			struct creds_cover *v = realloc(c->covers, (c->n_covers + 1) * sizeof(*v));
			if (!v) {
				free(masked);
				free(path);
				goto oom;
			}
			c->covers = v;
			c->covers[c->n_covers++] = (struct creds_cover){ .path = path, .data = masked, .len = strlen(masked),
									 .cred = (int)i };
			/* A link is covered itself; what it leads to as well. */
			char *real = realpath(path, NULL);
			if (real && strcmp(real, path) != 0) {
				v = realloc(c->covers, (c->n_covers + 1) * sizeof(*v));
				char *copy = v ? strdup(masked) : NULL;
				if (!copy) {
					if (v)
						c->covers = v;
					free(real);
					goto oom;
				}
				c->covers = v;
				c->covers[c->n_covers++] = (struct creds_cover){ .path = real, .data = copy, .len = strlen(copy),
										 .cred = (int)i };
			} else {
				free(real);
			}
		}
	}
	if (aws_pairs_build(c, warnings) < 0)
		goto oom;
	*ret = c;
	return 0;
oom:
	r = srt_error_set(err, -ENOMEM, "out of memory");
fail:
	creds_free(c);
	return r;
}

void creds_free(struct creds *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_creds; i++) {
		free(c->creds[i].label);
		for (size_t k = 0; k < c->creds[i].n_hosts; k++)
			domain_pattern_free(&c->creds[i].hosts[k]);
		free(c->creds[i].hosts);
	}
	free(c->creds);
	for (size_t i = 0; i < c->n_pats; i++) {
		free((void *)c->pats[i].standin);
		wipe_free((void *)c->pats[i].real, c->pats[i].real_len);
	}
	free(c->pats);
	free(c->head_ok);
	/* set may hold a value passed unmasked (onExtractNoMatch warn) */
	for (size_t i = 0; i < c->set.n; i++)
		explicit_bzero(c->set.v[i], strlen(c->set.v[i]));
	strv_clear(&c->strip);
	strv_clear(&c->set);
	strv_clear(&c->unset);
	strv_clear(&c->hide);
	for (size_t i = 0; i < c->n_covers; i++) {
		free(c->covers[i].path);
		free(c->covers[i].data);
	}
	free(c->covers);
	aws_pairs_free(c);
	free(c);
}

const char *const *creds_env_strip(const struct creds *c)
{
	return (const char *const *)c->strip.v;
}

char *const *creds_env_set(const struct creds *c)
{
	return c->set.v;
}

const char *const *creds_env_unset(const struct creds *c)
{
	return (const char *const *)c->unset.v;
}

const struct creds_cover *creds_covers(const struct creds *c, size_t *n)
{
	*n = c->n_covers;
	return c->covers;
}

int creds_check_covers(const struct creds *c, const struct policy *p, struct srt_error *err)
{
	for (size_t i = 0; c && i < c->n_covers; i++) {
		const struct creds_cover *v = &c->covers[i];
		const struct config_credential *e = c->creds[v->cred].cfg;
		if (p && !policy_path_readable(p, v->path))
			return pos_error(err, -EACCES, &e->pos,
					 "'%s' leads to '%s', which the sandbox may not read: masking it would hand the "
					 "proxy a secret the sandbox may not see (remove the link, or the entry)",
					 e->name, v->path);
		for (size_t k = 0; k < i; k++)
			if (c->covers[k].cred != v->cred && strcmp(c->covers[k].path, v->path) == 0)
				return pos_error(err, -EACCES, &e->pos,
						 "'%s' is masked by %s as well (through a link): one file, one entry",
						 v->path, c->creds[c->covers[k].cred].label);
	}
	return 0;
}

const char *const *creds_file_hide(const struct creds *c)
{
	return (const char *const *)c->hide.v;
}

const struct credsub_pat *creds_patterns(const struct creds *c, size_t *n)
{
	*n = c ? c->n_pats : 0;
	return c ? c->pats : NULL;
}

const char *creds_name(const struct creds *c, int cred)
{
	return cred >= 0 && (size_t)cred < c->n_creds ? c->creds[cred].label : "?";
}

bool creds_may_inject(const struct creds *c, size_t i, const struct proxy_host *host, uint16_t port,
		      const struct net_policy *np, bool in_head)
{
	if (i >= c->n_pats || (in_head && !c->head_ok[i]))
		return false;
	const struct cred *cr = &c->creds[c->pats[i].cred];
	if (cr->cfg->has_inject_hosts) {
		for (size_t k = 0; k < cr->n_hosts; k++)
			if (domain_pattern_match(&cr->hosts[k], host->text, port))
				return true;
		return false;
	}
	if (!np)
		return false;
	struct net_decision d;
	net_policy_decide(np, host, port, &d);
	return d.verdict == NET_ALLOW;
}

bool creds_plaintext_ok(const struct creds *c)
{
	return c && c->plaintext;
}

size_t creds_count(const struct creds *c)
{
	return c ? c->n_creds : 0;
}

bool creds_env_pattern(const struct creds *c, const char *name, size_t *ret)
{
	for (size_t i = 0; c && i < c->n_pats; i++) {
		const struct config_credential *e = c->creds[c->pats[i].cred].cfg;
		if (!e->is_file && e->mode == CONFIG_CRED_MASK && !e->extract && !e->decode_jwt &&
		    strcmp(e->name, name) == 0) {
			*ret = i;
			return true;
		}
	}
	return false;
}

const struct config *creds_config(const struct creds *c)
{
	return c ? c->cfg : NULL;
}

bool creds_may_inject_now(const struct creds *c, size_t i, const struct config *now, const struct proxy_host *host,
			  uint16_t port, const struct net_policy *np, bool in_head)
{
	if (!now || now == c->cfg)
		return creds_may_inject(c, i, host, port, np, in_head);
	if (i >= c->n_pats || (in_head && !c->head_ok[i]))
		return false;
	const struct config_credential *was = c->creds[c->pats[i].cred].cfg;
	const struct config_credential *e = NULL;
	for (size_t k = 0; k < now->credentials.n; k++) {
		const struct config_credential *x = &now->credentials.items[k];
		if (x->is_file != was->is_file || strcmp(x->name, was->name) != 0)
			continue;
		if (x->mode == CONFIG_CRED_DENY)
			return false; /* denied now: never sent */
		if (!e)
			e = x;
	}
	if (!e)
		return false;
	if (e->has_inject_hosts) {
		for (size_t k = 0; k < e->inject_hosts.n; k++) {
			struct domain_pattern dp;
			const char *why;
			if (domain_pattern_parse(e->inject_hosts.items[k].value, false, &dp, &why) < 0)
				continue;
			bool m = domain_pattern_match(&dp, host->text, port);
			domain_pattern_free(&dp);
			if (m)
				return true;
		}
		return false;
	}
	if (!np)
		return false;
	struct net_decision d;
	net_policy_decide(np, host, port, &d);
	return d.verdict == NET_ALLOW;
}
