/* The network half of the policy: hash tables over allowedDomains / deniedDomains, the resolved-address guard, and CIDR parsing. */
#include "policy/netpolicy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "policy/policy.h"

/* ------------------------------------------------------------------ */
/* A fixed-size open-addressing table of keys, each with a chain head  */
/* ------------------------------------------------------------------ */

/* The table only knows keys and the index of the first item that has the
 * key; the items chain among themselves through their own "next" index.
 * Every table is sized once at build time for the number of items that may
 * go in (at most half full), so it never grows and lookups stay short. */
struct np_slot {
	const uint8_t *key;  /* NULL: empty; points into memory the items own */
	uint32_t len;
	uint32_t hash;
	int32_t head;        /* first item with this key, -1 none */
};

struct np_table {
	struct np_slot *slots;
	size_t mask;         /* slots - 1, a power of two minus one; 0 when empty */
};

static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

static int table_init(struct np_table *t, size_t items)
{
	t->slots = NULL;
	t->mask = 0;
	if (items == 0)
		return 0;
	size_t n = 8;
	while (n < items * 2)
		n *= 2;
	t->slots = calloc(n, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = n - 1;
	return 0;
}

static void table_free(struct np_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
}

/* The chain head for key, or NULL when the table has none. */
static const int32_t *table_get(const struct np_table *t, const void *key, size_t len)
{
	if (!t->slots)
		return NULL;
	uint32_t h = fnv1a(key, len);
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct np_slot *s = &t->slots[i];
		if (!s->key)
			return NULL;
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return &s->head;
	}
}

/* The chain head for key, adding an empty chain when it is new. key must
 * outlive the table. The table has room by construction. */
static int32_t *table_put(struct np_table *t, const void *key, size_t len)
{
	uint32_t h = fnv1a(key, len);
	for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
		struct np_slot *s = &t->slots[i];
		if (!s->key) {
			*s = (struct np_slot){ .key = key, .len = (uint32_t)len, .hash = h, .head = -1 };
			return &s->head;
		}
		if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
			return &s->head;
	}
}

/* ------------------------------------------------------------------ */
/* Addresses                                                            */
/* ------------------------------------------------------------------ */

/* Every address is kept as 16 bytes, IPv4 as IPv4-mapped IPv6, so that the
 * two spellings of one IPv4 address are one key and one guard decision. */
struct np_addr {
	uint8_t b[16];
};

/* The IN6_IS_ADDR_* macros want an aligned struct in6_addr; these bytes
 * may sit anywhere, so the checks here compare bytes. */
static bool bytes_v4mapped(const uint8_t *b)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(b, prefix, sizeof(prefix)) == 0;
}

static bool addr_is_v4(const struct np_addr *a)
{
	return bytes_v4mapped(a->b);
}

static void addr_from_v4(struct np_addr *a, const void *four)
{
	memset(a->b, 0, 10);
	a->b[10] = 0xff;
	a->b[11] = 0xff;
	memcpy(&a->b[12], four, 4);
}

/* Text (IPv4 dotted quad or IPv6, brackets tolerated) -> address. */
static bool addr_from_text(const char *text, struct np_addr *ret)
{
	struct in_addr a4;
	if (inet_pton(AF_INET, text, &a4) == 1) {
		addr_from_v4(ret, &a4);
		return true;
	}
	char buf[INET6_ADDRSTRLEN + 2];
	size_t n = strnlen(text, sizeof(buf));
	if (n >= sizeof(buf))
		return false;
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = '\0';
		text = buf;
	}
	return inet_pton(AF_INET6, text, ret->b) == 1;
}

static bool addr_from_sockaddr(const struct sockaddr *sa, struct np_addr *ret)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		addr_from_v4(ret, &s4->sin_addr);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		memcpy(ret->b, &s6->sin6_addr, 16);
		return true;
	}
	return false;
}

static bool v4_in(const struct np_addr *a, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, unsigned prefix)
{
	uint32_t x = (uint32_t)a->b[12] << 24 | (uint32_t)a->b[13] << 16 | (uint32_t)a->b[14] << 8 | a->b[15];
	uint32_t n = (uint32_t)b0 << 24 | (uint32_t)b1 << 16 | (uint32_t)b2 << 8 | b3;
	uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
	return (x & mask) == (n & mask);
}

static bool v6_is_loopback(const uint8_t *b)
{
	static const uint8_t lo[16] = { [15] = 1 };
	return memcmp(b, lo, sizeof(lo)) == 0;
}

static bool v6_is_unspecified(const uint8_t *b)
{
	static const uint8_t any[16] = { 0 };
	return memcmp(b, any, sizeof(any)) == 0;
}

static bool is_loopback(const struct np_addr *a)
{
	if (addr_is_v4(a))
		return v4_in(a, 127, 0, 0, 0, 8);
	return v6_is_loopback(a->b);
}

/* Do the first prefix bits of a and b (n bytes each) agree? */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	unsigned whole = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

static void clear_host_bits(uint8_t *a, size_t n, unsigned prefix)
{
	for (size_t i = 0; i < n; i++) {
		unsigned bit = (unsigned)i * 8;
		if (bit >= prefix)
			a[i] = 0;
		else if (prefix - bit < 8)
			a[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
	}
}

/* ------------------------------------------------------------------ */
/* CIDRs                                                                */
/* ------------------------------------------------------------------ */

static int cidr_refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EINVAL;
}

int net_cidr_parse(const char *text, struct net_cidr *ret, const char **why)
{
	if (!text || !*text)
		return cidr_refuse(why, "empty address range");
	for (const char *p = text; *p; p++)
		if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\v' || *p == '\f')
			return cidr_refuse(why, "whitespace in address range");

	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	char buf[INET6_ADDRSTRLEN];
	if (alen == 0)
		return cidr_refuse(why, "missing address before '/'");
	if (alen >= sizeof(buf))
		return cidr_refuse(why, "not an IPv4 or IPv6 address");
	memcpy(buf, text, alen);
	buf[alen] = '\0';

	struct net_cidr c = { 0 };
	unsigned max;
	if (memchr(buf, ':', alen)) {
		if (inet_pton(AF_INET6, buf, c.addr) != 1)
			return cidr_refuse(why, "not an IPv4 or IPv6 address");
		c.family = AF_INET6;
		max = 128;
	} else {
		if (inet_pton(AF_INET, buf, c.addr) != 1)
			return cidr_refuse(why, "not an IPv4 or IPv6 address");
		c.family = AF_INET;
		max = 32;
	}

	c.prefix = max;
	if (slash) {
		const char *p = slash + 1;
		size_t n = strlen(p);
		if (n == 0)
			return cidr_refuse(why, "missing prefix length after '/'");
		if (strchr(p, '/'))
			return cidr_refuse(why, "more than one '/'");
		/* Digits only: no sign, no spaces, no hex; "08" is refused
		 * because some tools read it as octal. */
		for (size_t i = 0; i < n; i++)
			if (p[i] < '0' || p[i] > '9')
				return cidr_refuse(why, "prefix length is not a decimal number");
		if (n > 1 && p[0] == '0')
			return cidr_refuse(why, "prefix length has a leading zero");
		if (n > 3)
			return cidr_refuse(why, "prefix length out of range");
		unsigned v = 0;
		for (size_t i = 0; i < n; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (v > max)
			return cidr_refuse(why, "prefix length out of range");
		c.prefix = v;
	}

	/* ::ffff:a.b.c.d/n with n >= 96 names IPv4 addresses only: keep it
	 * as IPv4 so it meets IPv4 addresses however they are spelled. */
	if (c.family == AF_INET6 && c.prefix >= 96 &&
	    bytes_v4mapped(c.addr)) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
	}
	clear_host_bits(c.addr, c.family == AF_INET ? 4 : 16, c.prefix);
	*ret = c;
	return 0;
}

bool net_cidr_contains(const struct net_cidr *c, const struct sockaddr *addr)
{
	struct np_addr a;
	if (!c || !addr_from_sockaddr(addr, &a))
		return false;
	int family = c->family;
	unsigned prefix = c->prefix;
	const uint8_t *net = c->addr;
	/* A mapped IPv6 range that net_cidr_parse did not make (a caller's
	 * own struct) is the same IPv4 range. */
	if (family == AF_INET6 && prefix >= 96 && prefix <= 128 &&
	    bytes_v4mapped(c->addr)) {
		family = AF_INET;
		prefix -= 96;
		net = c->addr + 12;
	}
	/* IPv4-mapped addresses are judged as IPv4: IPv6 ranges never meet
	 * them, so "::/0" refuses IPv6 and leaves IPv4 alone. */
	if (family == AF_INET)
		return prefix <= 32 && addr_is_v4(&a) && prefix_equal(a.b + 12, net, prefix);
	if (family == AF_INET6)
		return prefix <= 128 && !addr_is_v4(&a) && prefix_equal(a.b, net, prefix);
	return false;
}

/* ------------------------------------------------------------------ */
/* The built policy                                                     */
/* ------------------------------------------------------------------ */

/* One allowedDomains / deniedDomains entry, as the tables see it. */
struct np_rule {
	char *rule;          /* "deniedDomains: evil.test" */
	char *source;        /* copied from the policy rule; may be NULL */
	char *reason;        /* deny only: deniedDomainReasons text, or NULL */
	uint8_t *key;        /* name, wildcard suffix, or 16 address bytes; NULL for ANY */
	size_t key_len;
	enum domain_kind kind;
	uint16_t port;       /* 0: any port */
	int32_t next;        /* next rule with the same key, -1 none */
};

/* One list (allowedDomains or deniedDomains). */
struct np_side {
	struct np_rule *rules;
	size_t n;
	struct np_table names;   /* DOMAIN_NAME by name */
	struct np_table wilds;   /* DOMAIN_WILDCARD by the suffix after "*." */
	struct np_table ips;     /* DOMAIN_IPV4 / DOMAIN_IPV6 by np_addr */
	int32_t any;             /* chain of DOMAIN_ANY rules, -1 none */
};

/* One deniedResolvedAddresses entry. */
struct np_range {
	struct net_cidr cidr;
	char *label;             /* "deniedResolvedAddresses 10.0.0.0/8" */
	uint8_t key[18];         /* family tag, prefix, masked address */
	size_t key_len;
	int32_t next;
};

struct net_policy {
	struct np_side allow, deny;
	struct net_policy *tls_exclude; /* attached: tlsTerminate.excludeDomains */

	struct np_range *ranges;
	size_t n_ranges;
	struct np_table range_table;
	/* Which prefix lengths occur, per family: the guard probes only
	 * those, longest first. */
	bool v4_len[33];
	bool v6_len[129];

	/* This host's non-loopback addresses, sorted: listed at the first
	 * address judged (a sandbox that connects nowhere never pays for
	 * the listing), under host_lock; host_ready says they are. */
	pthread_mutex_t host_lock;
	bool host_ready;              /* atomic */
	struct np_addr *host_addrs;
	size_t n_host_addrs;

	/* allowedDomains "localhost" entries, for the guard's lift. */
	bool localhost_any_port;
	uint16_t *localhost_ports;    /* sorted, unique */
	size_t n_localhost_ports;

	uint16_t *loopback_ports;     /* sorted, unique */
	size_t n_loopback_ports;
};


/* Lower case, without one trailing dot, into buf (size n). False when it
 * does not fit. For comparing deniedDomainReasons keys with entries. */
static bool fold_domain(const char *s, char *buf, size_t n)
{
	size_t len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len >= n)
		return false;
	for (size_t i = 0; i < len; i++)
		buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
	buf[len] = '\0';
	return true;
}

static int cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return (x > y) - (x < y);
}

static size_t sort_unique_u16(uint16_t *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u16);
	size_t w = 1;
	for (size_t i = 1; i < n; i++)
		if (v[i] != v[w - 1])
			v[w++] = v[i];
	return w;
}

static int cmp_addr(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct np_addr));
}

static void side_free(struct np_side *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->rules[i].rule);
		free(s->rules[i].source);
		free(s->rules[i].reason);
		free(s->rules[i].key);
	}
	free(s->rules);
	table_free(&s->names);
	table_free(&s->wilds);
	table_free(&s->ips);
}

void net_policy_attach_tls_exclude(struct net_policy *np, struct net_policy *exclude)
{
	net_policy_free(np->tls_exclude);
	np->tls_exclude = exclude;
}

const struct net_policy *net_policy_tls_exclude(const struct net_policy *np)
{
	return np->tls_exclude;
}

void net_policy_free(struct net_policy *np)
{
	if (!np)
		return;
	net_policy_free(np->tls_exclude);
	side_free(&np->allow);
	side_free(&np->deny);
	for (size_t i = 0; i < np->n_ranges; i++)
		free(np->ranges[i].label);
	free(np->ranges);
	table_free(&np->range_table);
	free(np->host_addrs);
	pthread_mutex_destroy(&np->host_lock);
	free(np->localhost_ports);
	free(np->loopback_ports);
	free(np);
}

/* Reasons keyed by folded domain, for attaching them to deny rules. The
 * keys are built in one block of NUL-separated strings; a key's "chain"
 * is just the index of its reason. */
struct reason_map {
	struct np_table t;
	char *keys;
};

static int reasons_build(const struct config *cfg, struct reason_map *m)
{
	size_t n = cfg ? cfg->network.n_denied_domain_reasons : 0;
	memset(m, 0, sizeof(*m));
	if (n == 0)
		return 0;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(cfg->network.denied_domain_reasons[i].domain) + 1;
	m->keys = malloc(total);
	if (!m->keys || table_init(&m->t, n) < 0)
		return -ENOMEM;
	/* Later files override earlier ones, as scalars do. */
	char *k = m->keys;
	for (size_t i = 0; i < n; i++) {
		const char *d = cfg->network.denied_domain_reasons[i].domain;
		size_t len = strlen(d);
		fold_domain(d, k, len + 1);
		*table_put(&m->t, k, strlen(k)) = (int32_t)i;
		k += len + 1;
	}
	return 0;
}

static void reasons_free(struct reason_map *m)
{
	table_free(&m->t);
	free(m->keys);
}

static const char *reason_for(const struct config *cfg, const struct reason_map *m, const char *text)
{
	char buf[320];
	if (!m->t.slots || !fold_domain(text, buf, sizeof(buf)))
		return NULL;
	const int32_t *head = table_get(&m->t, buf, strlen(buf));
	return head && *head >= 0 ? cfg->network.denied_domain_reasons[*head].reason : NULL;
}

static int side_build(struct np_side *s, const struct policy_domain_rule *rules, size_t n, bool deny,
		      const struct config *cfg, const struct reason_map *reasons)
{
	s->any = -1;
	if (n == 0)
		return 0;
	s->rules = calloc(n, sizeof(*s->rules));
	if (!s->rules)
		return -ENOMEM;
	s->n = n;
	if (table_init(&s->names, n) < 0 || table_init(&s->wilds, n) < 0 || table_init(&s->ips, n) < 0)
		return -ENOMEM;
	const char *list = deny ? "deniedDomains" : "allowedDomains";
	for (size_t i = 0; i < n; i++) {
		const struct policy_domain_rule *pr = &rules[i];
		struct np_rule *r = &s->rules[i];
		r->kind = pr->pattern.kind;
		r->port = (uint16_t)pr->pattern.port;
		r->next = -1;
		r->rule = str_printf("%s: %s", list, pr->text ? pr->text : "?");
		if (!r->rule || (pr->source && !(r->source = strdup(pr->source))))
			return -ENOMEM;
		if (deny && pr->text) {
			const char *why = reason_for(cfg, reasons, pr->text);
			if (why && !(r->reason = strdup(why)))
				return -ENOMEM;
		}
		switch (r->kind) {
		case DOMAIN_NAME:
		case DOMAIN_WILDCARD:
			if (!pr->pattern.host || !(r->key = (uint8_t *)strdup(pr->pattern.host)))
				return pr->pattern.host ? -ENOMEM : -EINVAL;
			r->key_len = strlen(pr->pattern.host);
			break;
		case DOMAIN_IPV4:
		case DOMAIN_IPV6: {
			struct np_addr a;
			if (!pr->pattern.host || !addr_from_text(pr->pattern.host, &a))
				return -EINVAL;
			if (!(r->key = malloc(sizeof(a.b))))
				return -ENOMEM;
			memcpy(r->key, a.b, sizeof(a.b));
			r->key_len = sizeof(a.b);
			break;
		}
		case DOMAIN_ANY:
			break;
		}
	}
	/* Chains in the order the entries were written: insert from the last
	 * at the head. */
	for (size_t j = n; j-- > 0;) {
		struct np_rule *r = &s->rules[j];
		int32_t *head;
		switch (r->kind) {
		case DOMAIN_NAME: head = table_put(&s->names, r->key, r->key_len); break;
		case DOMAIN_WILDCARD: head = table_put(&s->wilds, r->key, r->key_len); break;
		case DOMAIN_IPV4:
		case DOMAIN_IPV6: head = table_put(&s->ips, r->key, r->key_len); break;
		default: head = &s->any; break;
		}
		r->next = *head;
		*head = (int32_t)j;
	}
	return 0;
}

static void range_key(int family, unsigned prefix, const uint8_t *addr, uint8_t key[18], size_t *len)
{
	size_t n = family == AF_INET ? 4 : 16;
	key[0] = family == AF_INET ? 4 : 6;
	key[1] = (uint8_t)prefix;
	memcpy(key + 2, addr, n);
	clear_host_bits(key + 2, n, prefix);
	*len = 2 + n;
}

static int ranges_build(struct net_policy *np, const struct config *cfg, struct srt_error *err)
{
	const struct config_list *l = cfg ? &cfg->network.denied_resolved_addresses : NULL;
	if (!l || l->n == 0)
		return 0;
	np->ranges = calloc(l->n, sizeof(*np->ranges));
	if (!np->ranges || table_init(&np->range_table, l->n) < 0)
		return srt_error_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		const struct config_entry *e = &l->items[i];
		struct np_range *g = &np->ranges[i];
		const char *why = NULL;
		int r = net_cidr_parse(e->value, &g->cidr, &why);
		if (r < 0) {
			_cleanup_free_ char *source = policy_pos_text(&e->pos);
			if (!source)
				return srt_error_set(err, -ENOMEM, "out of memory");
			return srt_error_set(err, r, "%s: invalid address range '%s': %s", source,
					     e->value ? e->value : "", why ? why : strerror(-r));
		}
		if (!(g->label = str_printf("deniedResolvedAddresses %s", e->value)))
			return srt_error_set(err, -ENOMEM, "out of memory");
		np->n_ranges = i + 1;
		range_key(g->cidr.family, g->cidr.prefix, g->cidr.addr, g->key, &g->key_len);
		if (g->cidr.family == AF_INET)
			np->v4_len[g->cidr.prefix] = true;
		else
			np->v6_len[g->cidr.prefix] = true;
	}
	for (size_t j = np->n_ranges; j-- > 0;) {
		struct np_range *g = &np->ranges[j];
		int32_t *head = table_put(&np->range_table, g->key, g->key_len);
		g->next = *head;
		*head = (int32_t)j;
	}
	return 0;
}

static int host_addrs_build(struct net_policy *np)
{
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	size_t n = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
		n++;
	np->host_addrs = calloc(n ? n : 1, sizeof(*np->host_addrs));
	if (!np->host_addrs) {
		freeifaddrs(ifa);
		return -ENOMEM;
	}
	size_t w = 0;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		struct np_addr a;
		if (!addr_from_sockaddr(i->ifa_addr, &a) || is_loopback(&a))
			continue;
		np->host_addrs[w++] = a;
	}
	freeifaddrs(ifa);
	if (w > 1) {
		qsort(np->host_addrs, w, sizeof(*np->host_addrs), cmp_addr);
		size_t u = 1;
		for (size_t i = 1; i < w; i++)
			if (memcmp(&np->host_addrs[i], &np->host_addrs[u - 1], sizeof(struct np_addr)) != 0)
				np->host_addrs[u++] = np->host_addrs[i];
		w = u;
	}
	np->n_host_addrs = w;
	return 0;
}

/* Are this host's addresses listed (at the first call)? false when they
 * cannot be (now: the next call tries again): without the list the guard
 * could not refuse them, so it refuses this address rather than guard
 * less than promised. */
static bool host_addrs_ready(const struct net_policy *cnp)
{
	struct net_policy *np = (struct net_policy *)cnp; /* the lazily filled list only */
	if (__atomic_load_n(&np->host_ready, __ATOMIC_ACQUIRE))
		return true;
	pthread_mutex_lock(&np->host_lock);
	bool ready = np->host_ready;
	if (!ready && host_addrs_build(np) == 0) {
		ready = true;
		__atomic_store_n(&np->host_ready, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&np->host_lock);
	return ready;
}

/* Is a host loopback service at port refused by a deniedDomains entry
 * (`*`, `localhost`, `127.0.0.1`...)? Its listener inside the sandbox
 * would reach it with no proxy in between, so the deny must win here. */
static bool loopback_port_denied(const struct net_policy *np, uint16_t port)
{
	static const char *const names[] = { "localhost", "127.0.0.1", "::1" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct proxy_host h;
		const char *why;
		struct net_decision d;
		if (proxy_host_canonical(names[i], strlen(names[i]), &h, &why) < 0)
			continue;
		net_policy_decide(np, &h, port, &d);
		if (d.verdict == NET_DENY && !d.by_default)
			return true;
	}
	return false;
}

/* The "localhost" lift and the host loopback services, from allowedDomains. */
static int loopback_build(struct net_policy *np, const struct policy *p)
{
	size_t n = p ? p->n_allowed_domains : 0;
	if (n == 0)
		return 0;
	np->localhost_ports = malloc(n * sizeof(uint16_t));
	np->loopback_ports = malloc(n * sizeof(uint16_t));
	if (!np->localhost_ports || !np->loopback_ports)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct domain_pattern *d = &p->allowed_domains[i].pattern;
		bool loopback = false;
		if (d->kind == DOMAIN_NAME && d->host && strcmp(d->host, "localhost") == 0) {
			loopback = true;
			if (d->port == 0)
				np->localhost_any_port = true;
			else
				np->localhost_ports[np->n_localhost_ports++] = (uint16_t)d->port;
		} else if ((d->kind == DOMAIN_IPV4 || d->kind == DOMAIN_IPV6) && d->host) {
			struct np_addr a;
			loopback = addr_from_text(d->host, &a) && is_loopback(&a);
		}
		if (loopback && d->port != 0 && !loopback_port_denied(np, (uint16_t)d->port))
			np->loopback_ports[np->n_loopback_ports++] = (uint16_t)d->port;
	}
	np->n_localhost_ports = sort_unique_u16(np->localhost_ports, np->n_localhost_ports);
	np->n_loopback_ports = sort_unique_u16(np->loopback_ports, np->n_loopback_ports);
	return 0;
}

int net_policy_build(const struct policy *p, const struct config *cfg, struct net_policy **ret,
		     struct srt_error *err)
{
	struct net_policy *np = calloc(1, sizeof(*np));
	if (!np)
		return srt_error_set(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&np->host_lock, NULL);
	np->allow.any = np->deny.any = -1;
	struct reason_map reasons;
	int r = reasons_build(cfg, &reasons);
	if (r < 0)
		goto oom;
	if (p) {
		if ((r = side_build(&np->allow, p->allowed_domains, p->n_allowed_domains, false, cfg, &reasons)) < 0 ||
		    (r = side_build(&np->deny, p->denied_domains, p->n_denied_domains, true, cfg, &reasons)) < 0) {
			if (r == -ENOMEM)
				goto oom;
			r = srt_error_set(err, r, "a domain entry was not validated by policy_build");
			goto fail;
		}
	}
	if ((r = loopback_build(np, p)) < 0)
		goto oom;
	if ((r = ranges_build(np, cfg, err)) < 0)
		goto fail;
	reasons_free(&reasons);
	*ret = np;
	return 0;
oom:
	r = srt_error_set(err, -ENOMEM, "out of memory");
fail:
	reasons_free(&reasons);
	net_policy_free(np);
	return r;
}

/* ------------------------------------------------------------------ */
/* Decisions                                                            */
/* ------------------------------------------------------------------ */

static const struct np_rule *chain_match(const struct np_side *s, int32_t i, uint16_t port)
{
	for (; i >= 0; i = s->rules[i].next)
		if (s->rules[i].port == 0 || s->rules[i].port == port)
			return &s->rules[i];
	return NULL;
}

static const struct np_rule *table_match(const struct np_side *s, const struct np_table *t,
					 const void *key, size_t len, uint16_t port)
{
	const int32_t *head = table_get(t, key, len);
	return head ? chain_match(s, *head, port) : NULL;
}

/* A name that name entries may match: no empty label, no ':'. The canonical
 * form has neither; anything else matches no name or wildcard entry (as in
 * domain_pattern_match), rather than letting ".x.example.com" reach the
 * wildcard key "x.example.com". */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == ':' || (s[i] == '.' && s[i + 1] == '.'))
			return false;
	return true;
}

/* The most specific match on one list: an exact entry, then wildcards
 * from the longest suffix to the shortest, then "*"; within one key the
 * first entry written (whose port fits). */
static const struct np_rule *side_match(const struct np_side *s, const struct proxy_host *host,
					const char *name, size_t name_len, const struct np_addr *addr,
					uint16_t port)
{
	const struct np_rule *r = NULL;
	if (s->n == 0)
		return NULL;
	if (host->kind == PROXY_HOST_NAME && name) {
		if ((r = table_match(s, &s->names, name, name_len, port)))
			return r;
		/* *.x matches a.x, never x itself: probe the suffix after each
		 * dot, never the whole name. */
		for (size_t i = 0; i < name_len; i++)
			if (name[i] == '.' && (r = table_match(s, &s->wilds, name + i + 1, name_len - i - 1, port)))
				return r;
	} else if (addr) {
		if ((r = table_match(s, &s->ips, addr->b, sizeof(addr->b), port)))
			return r;
	}
	return chain_match(s, s->any, port);
}

/* The keys a host is looked up by. */
struct np_key {
	char name[sizeof(((struct proxy_host *)0)->text)];
	size_t name_len;
	struct np_addr addr;
	bool have_name, have_addr;
};

static void host_key(const struct proxy_host *host, struct np_key *k)
{
	/* The host is canonical already; fold again anyway so that a caller
	 * that skipped proxy_host_canonical still gets one key per host. */
	char *name = k->name;
	size_t name_len = 0;
	struct np_addr addr;
	memset(&addr, 0, sizeof(addr));
	bool have_addr = false;
	bool have_name = false;
	if (host->kind == PROXY_HOST_NAME) {
		size_t n = strnlen(host->text, sizeof(host->text) - 1);
		if (n > 0 && host->text[n - 1] == '.')
			n--;
		for (size_t i = 0; i < n; i++) {
			char c = host->text[i];
			name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		name[n] = '\0';
		name_len = n;
		have_name = name_ok(name, n);
	} else {
		char buf[sizeof(host->text)];
		size_t n = strnlen(host->text, sizeof(host->text) - 1);
		memcpy(buf, host->text, n);
		buf[n] = '\0';
		have_addr = addr_from_text(buf, &addr);
	}
	k->name_len = name_len;
	k->addr = addr;
	k->have_name = have_name;
	k->have_addr = have_addr;
}

void net_policy_decide(const struct net_policy *np, const struct proxy_host *host, uint16_t port,
		       struct net_decision *out)
{
	*out = (struct net_decision){ .verdict = NET_DENY, .rule = "no allowedDomains entry matches",
				      .by_default = true };
	if (!np || !host)
		return;
	struct np_key k;
	host_key(host, &k);
	const char *name = k.have_name ? k.name : NULL;
	const struct np_addr *addr = k.have_addr ? &k.addr : NULL;
	const struct np_rule *r;
	if ((r = side_match(&np->deny, host, name, k.name_len, addr, port))) {
		*out = (struct net_decision){ .verdict = NET_DENY, .rule = r->rule, .rule_source = r->source,
					      .reason = r->reason };
		return;
	}
	if ((r = side_match(&np->allow, host, name, k.name_len, addr, port)))
		*out = (struct net_decision){ .verdict = NET_ALLOW, .rule = r->rule, .rule_source = r->source };
}

/* The first rule of the chain from i that some port lets decide: one
 * without a port (unless every port is refused, which the caller checked),
 * or one whose port no deniedDomains entry refuses. */
static const struct np_rule *chain_allows_some_port(const struct net_policy *np, const struct np_side *s,
						    int32_t i, const struct proxy_host *host,
						    const struct np_key *k)
{
	for (; i >= 0; i = s->rules[i].next) {
		const struct np_rule *r = &s->rules[i];
		if (r->port == 0 ||
		    !side_match(&np->deny, host, k->have_name ? k->name : NULL, k->name_len,
				k->have_addr ? &k->addr : NULL, r->port))
			return r;
	}
	return NULL;
}

static const struct np_rule *table_allows_some_port(const struct net_policy *np, const struct np_table *t,
						    const void *key, size_t len, const struct proxy_host *host,
						    const struct np_key *k)
{
	const int32_t *head = table_get(t, key, len);
	return head ? chain_allows_some_port(np, &np->allow, *head, host, k) : NULL;
}

void net_policy_decide_any_port(const struct net_policy *np, const struct proxy_host *host,
				struct net_decision *out)
{
	*out = (struct net_decision){ .verdict = NET_DENY, .rule = "no allowedDomains entry matches",
				      .by_default = true };
	if (!np || !host)
		return;
	struct np_key k;
	host_key(host, &k);
	const char *name = k.have_name ? k.name : NULL;
	const struct np_addr *addr = k.have_addr ? &k.addr : NULL;
	/* Port 0 matches only the entries without a port: those that refuse
	 * every port. */
	const struct np_rule *r = side_match(&np->deny, host, name, k.name_len, addr, 0);
	if (r) {
		*out = (struct net_decision){ .verdict = NET_DENY, .rule = r->rule, .rule_source = r->source,
					      .reason = r->reason };
		return;
	}
	const struct np_side *s = &np->allow;
	if (s->n == 0)
		return;
	if (host->kind == PROXY_HOST_NAME && name) {
		if ((r = table_allows_some_port(np, &s->names, name, k.name_len, host, &k)))
			goto allowed;
		for (size_t i = 0; i < k.name_len; i++)
			if (name[i] == '.' &&
			    (r = table_allows_some_port(np, &s->wilds, name + i + 1, k.name_len - i - 1, host, &k)))
				goto allowed;
	} else if (addr) {
		if ((r = table_allows_some_port(np, &s->ips, addr->b, sizeof(addr->b), host, &k)))
			goto allowed;
	}
	if (!(r = chain_allows_some_port(np, s, s->any, host, &k)))
		return;
allowed:
	*out = (struct net_decision){ .verdict = NET_ALLOW, .rule = r->rule, .rule_source = r->source };
}

/* ------------------------------------------------------------------ */
/* The resolved-address guard                                           */
/* ------------------------------------------------------------------ */

static bool port_in(const uint16_t *v, size_t n, uint16_t port)
{
	return n > 0 && bsearch(&port, v, n, sizeof(*v), cmp_u16) != NULL;
}

static const char *range_match(const struct net_policy *np, const struct np_addr *a)
{
	if (!np->range_table.slots)
		return NULL;
	uint8_t key[18];
	size_t len;
	/* Longest prefix first: the most specific range names the refusal. */
	if (addr_is_v4(a)) {
		for (unsigned l = 33; l-- > 0;) {
			if (!np->v4_len[l])
				continue;
			range_key(AF_INET, l, a->b + 12, key, &len);
			const int32_t *head = table_get(&np->range_table, key, len);
			if (head && *head >= 0)
				return np->ranges[*head].label;
		}
		return NULL; /* judged as IPv4, as net_cidr_contains does */
	}
	for (unsigned l = 129; l-- > 0;) {
		if (!np->v6_len[l])
			continue;
		range_key(AF_INET6, l, a->b, key, &len);
		const int32_t *head = table_get(&np->range_table, key, len);
		if (head && *head >= 0)
			return np->ranges[*head].label;
	}
	return NULL;
}

/*
 * Order of the checks, first answer wins:
 *   1. the lift: an allowedDomains IP entry equal to addr (its port, if it
 *      has one, equal to port), or an allowedDomains "localhost" entry when
 *      addr is 127.0.0.1 or ::1: allowed (NULL). An explicit allowance of
 *      the address beats every class below, as it beats the defaults;
 *   2. "deniedDomains IP literal" and "deniedResolvedAddresses <cidr>": the
 *      user's own refusals are named before the generic classes, so the
 *      message points at the setting;
 *   3. "cloud metadata endpoint", before link-local which contains
 *      169.254.169.254: the more telling name;
 *   4. "loopback", "unspecified", "link-local", "multicast", "broadcast";
 *   5. "an address of this host" (getifaddrs at the first address judged;
 *      loopback is left to 4).
 * IPv4-mapped IPv6 addresses are judged as IPv4 throughout.
 */
const char *net_policy_guard(const struct net_policy *np, const struct sockaddr *addr, uint16_t port)
{
	struct np_addr a;
	if (!addr_from_sockaddr(addr, &a))
		return "not an IPv4 or IPv6 address";
	bool v4 = addr_is_v4(&a);

	if (np) {
		if (table_match(&np->allow, &np->allow.ips, a.b, sizeof(a.b), port))
			return NULL;
		bool lo = v4 ? v4_in(&a, 127, 0, 0, 1, 32) : v6_is_loopback(a.b);
		if (lo && (np->localhost_any_port || port_in(np->localhost_ports, np->n_localhost_ports, port)))
			return NULL;
		if (table_match(&np->deny, &np->deny.ips, a.b, sizeof(a.b), port))
			return "deniedDomains IP literal";
		const char *range = range_match(np, &a);
		if (range)
			return range;
	}

	if (v4) {
		if (v4_in(&a, 169, 254, 169, 254, 32) || v4_in(&a, 100, 100, 100, 200, 32))
			return "cloud metadata endpoint";
		if (v4_in(&a, 127, 0, 0, 0, 8))
			return "loopback";
		if (v4_in(&a, 0, 0, 0, 0, 8))
			return "unspecified (0.0.0.0/8)";
		if (v4_in(&a, 169, 254, 0, 0, 16))
			return "link-local";
		if (v4_in(&a, 224, 0, 0, 0, 4))
			return "multicast";
		if (v4_in(&a, 255, 255, 255, 255, 32))
			return "broadcast";
	} else {
		static const uint8_t aws[16] = { 0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54 };
		if (memcmp(a.b, aws, 16) == 0)
			return "cloud metadata endpoint";
		if (v6_is_loopback(a.b))
			return "loopback";
		if (v6_is_unspecified(a.b))
			return "unspecified (::)";
		if (a.b[0] == 0xfe && (a.b[1] & 0xc0) == 0x80) /* fe80::/10 */
			return "link-local";
		if (a.b[0] == 0xff) /* ff00::/8 */
			return "multicast";
	}

	if (np && !host_addrs_ready(np))
		return "an address of this host? (this host's addresses cannot be listed)";
	if (np && np->n_host_addrs &&
	    bsearch(&a, np->host_addrs, np->n_host_addrs, sizeof(*np->host_addrs), cmp_addr))
		return "an address of this host";
	return NULL;
}

size_t net_policy_loopback_ports(const struct net_policy *np, uint16_t *ports, size_t max)
{
	if (!np)
		return 0;
	size_t n = np->n_loopback_ports < max ? np->n_loopback_ports : max;
	if (ports && n)
		memcpy(ports, np->loopback_ports, n * sizeof(*ports));
	return np->n_loopback_ports;
}

bool net_policy_loopback_port(const struct net_policy *np, uint16_t port)
{
	if (!np)
		return false;
	size_t lo = 0, hi = np->n_loopback_ports;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (np->loopback_ports[mid] == port)
			return true;
		if (np->loopback_ports[mid] < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
