/* peers.c - peer epochs, the address book and its ADDR sample, token
 * buckets (see peers.h).
 *
 * Epochs: SEED.md "the epochs are every 5 minutes and it maps each peer it
 * sees to a unique bit position, max of 1024 peers per epoch".  The map is a
 * flat array searched linearly: it is consulted once per handshake, and
 * 1024 compares are cheaper than any hashing bookkeeping at that rate.  The
 * key a peer gives is unauthenticated, so one address could take every
 * position with fresh nonces: limited (inbound) positions are capped per
 * address and per subnet, and quick leavers give theirs back.
 *
 * Book: 1024 entries with a chained hash index keyed by a secret SipHash
 * key, so lookups and inserts from ADDR are O(1) (a linear search per
 * entry let one ADDR flood stall the event loop).
 */
#include "proto/peers.h"

#include <stdlib.h>
#include <string.h>

/* ---- addresses ---- */

void peers_ip4(uint8_t ip[16], uint32_t v4)
{
	memset(ip, 0, 16);
	ip[10] = ip[11] = 0xff;
	ip[12] = (uint8_t)(v4 >> 24);
	ip[13] = (uint8_t)(v4 >> 16);
	ip[14] = (uint8_t)(v4 >> 8);
	ip[15] = (uint8_t)v4;
}

bool peers_is_ip4(const uint8_t ip[16])
{
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	                                0xff, 0xff};
	return memcmp(ip, pre, 12) == 0;
}

void peers_mask(uint8_t out[16], const uint8_t ip[16], unsigned bits)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;
		uint8_t m;
		if (bits >= lo + 8)
			m = 0xff;
		else if (bits <= lo)
			m = 0;
		else
			m = (uint8_t)(0xff << (8 - (bits - lo)));
		out[i] = ip[i] & m;
	}
}

unsigned peers_netbits(const uint8_t ip[16])
{
	return peers_is_ip4(ip) ? 96 + 24 : 48;
}

bool peers_same_net(const uint8_t a[16], const uint8_t b[16])
{
	uint8_t x[16], y[16];
	unsigned bits = peers_netbits(a);

	if (bits != peers_netbits(b))
		return false;
	peers_mask(x, a, bits);
	peers_mask(y, b, bits);
	return memcmp(x, y, 16) == 0;
}

bool peers_is_localhost(const uint8_t ip[16])
{
	static const uint8_t v6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
	                               0, 0, 0, 0, 0, 0, 0, 1};
	uint8_t v4[16];

	peers_ip4(v4, 0x7f000001);
	return memcmp(ip, v4, 16) == 0 || memcmp(ip, v6, 16) == 0;
}

/* ---- SipHash-2-4 (Aumasson, Bernstein) ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                       \
	do {                                                           \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                 \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                 \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

uint64_t peers_siphash(uint64_t k0, uint64_t k1, const void *data,
                       size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = 0;
		for (int j = 7; j >= 0; j--)
			m = (m << 8) | p[i + (size_t)j];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- epochs ---- */

void peers_epoch_init(struct peers_epoch *pe, uint32_t now)
{
	memset(pe, 0, sizeof(*pe));
	pe->epoch = now / PEERS_EPOCH_SECS;
}

bool peers_epoch_roll(struct peers_epoch *pe, uint32_t now)
{
	uint32_t e = now / PEERS_EPOCH_SECS;
	if (e <= pe->epoch)
		return false;
	pe->epoch = e;
	pe->n = 0;
	memset(pe->s, 0, sizeof(pe->s));
	return true;
}

int peers_epoch_take(struct peers_epoch *pe, uint64_t key,
                     const uint8_t ip[16], bool limited, uint32_t now)
{
	unsigned same_addr = 0, same_net = 0;
	int free_slot = -1;

	peers_epoch_roll(pe, now);
	for (uint32_t i = 0; i < PEERS_EPOCH_MAX; i++) {
		const struct peers_epoch_slot *s = &pe->s[i];
		if (!s->used) {
			if (free_slot < 0)
				free_slot = (int)i;
			continue;
		}
		if (s->key == key)
			return (int)i;
		if (!limited || !s->limited)
			continue;
		if (memcmp(s->ip, ip, 16) == 0)
			same_addr++;
		if (peers_same_net(s->ip, ip))
			same_net++;
	}
	if (free_slot < 0)
		return PEERS_EPOCH_FULL;
	if (limited && pe->per_addr && same_addr >= pe->per_addr)
		return PEERS_EPOCH_ADDR;
	if (limited && pe->per_net && same_net >= pe->per_net)
		return PEERS_EPOCH_NET;
	struct peers_epoch_slot *s = &pe->s[free_slot];
	s->used = true;
	s->limited = limited;
	s->key = key;
	memcpy(s->ip, ip, 16);
	pe->n++;
	return free_slot;
}

int peers_epoch_bit(struct peers_epoch *pe, uint64_t key, uint32_t now)
{
	static const uint8_t none[16];
	return peers_epoch_take(pe, key, none, false, now);
}

bool peers_epoch_left(struct peers_epoch *pe, uint64_t key,
                      uint32_t ready_secs)
{
	if (ready_secs >= PEERS_EPOCH_QUICK_SECS)
		return false;
	for (uint32_t i = 0; i < PEERS_EPOCH_MAX; i++) {
		struct peers_epoch_slot *s = &pe->s[i];
		if (s->used && s->key == key) {
			memset(s, 0, sizeof(*s));
			pe->n--;
			return true;
		}
	}
	return false;
}

/* ---- address book ---- */

static uint32_t book_bucket(const struct peers_book *b, const uint8_t ip[16],
                            uint16_t port)
{
	uint8_t k[18];
	memcpy(k, ip, 16);
	k[16] = (uint8_t)port;
	k[17] = (uint8_t)(port >> 8);
	return (uint32_t)peers_siphash(b->k0, b->k1, k, sizeof k) &
	       (PEERS_BOOK_BUCKETS - 1);
}

void peers_book_init(struct peers_book *b)
{
	memset(b, 0, sizeof(*b));
	for (size_t i = 0; i < PEERS_BOOK_BUCKETS; i++)
		b->head[i] = -1;
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
		b->a[i].hnext = -1;
}

void peers_book_seed(struct peers_book *b, uint64_t k0, uint64_t k1)
{
	b->k0 = k0;
	b->k1 = k1;
}

struct peer_addr *peers_book_find(struct peers_book *b, const uint8_t ip[16],
                                  uint16_t port)
{
	for (int16_t i = b->head[book_bucket(b, ip, port)]; i >= 0;
	     i = b->a[i].hnext) {
		struct peer_addr *e = &b->a[i];
		if (e->port == port && memcmp(e->ip, ip, 16) == 0)
			return e;
	}
	return NULL;
}

struct peer_addr *peers_book_find_name(struct peers_book *b,
                                       const char *name)
{
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
		if (b->a[i].used && b->a[i].name[0] &&
		    strcmp(b->a[i].name, name) == 0)
			return &b->a[i];
	return NULL;
}

static void set_name(struct peer_addr *e, const char *name)
{
	size_t l = strlen(name);
	if (l >= PEERS_NAME_MAX)
		l = PEERS_NAME_MAX - 1;
	memcpy(e->name, name, l);
	e->name[l] = '\0';
}

static void book_unlink(struct peers_book *b, struct peer_addr *e)
{
	int16_t idx = (int16_t)(e - b->a);
	int16_t *pp = &b->head[book_bucket(b, e->ip, e->port)];
	while (*pp >= 0) {
		if (*pp == idx) {
			*pp = e->hnext;
			break;
		}
		pp = &b->a[*pp].hnext;
	}
	e->hnext = -1;
}

/* Take slot e (free) for ip:port and link it into the index. */
static void book_fill(struct peers_book *b, struct peer_addr *e,
                      const uint8_t ip[16], uint16_t port, uint8_t flags,
                      uint16_t services, uint32_t last_seen)
{
	uint32_t h = book_bucket(b, ip, port);
	memset(e, 0, sizeof(*e));
	e->used = true;
	memcpy(e->ip, ip, 16);
	e->port = port;
	e->flags = flags;
	e->services = services;
	e->last_seen = last_seen;
	e->hnext = b->head[h];
	b->head[h] = (int16_t)(e - b->a);
	b->n++;
}

static void book_drop(struct peers_book *b, struct peer_addr *e)
{
	book_unlink(b, e);
	memset(e, 0, sizeof(*e));
	e->hnext = -1;
	b->n--;
}

static struct peer_addr *book_free_slot(struct peers_book *b)
{
	if (b->n >= PEERS_BOOK_MAX)
		return NULL;
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
		if (!b->a[i].used)
			return &b->a[i];
	return NULL;
}

static void merge(struct peer_addr *e, uint8_t flags, uint16_t services,
                  uint32_t last_seen)
{
	e->flags |= flags;
	if (services)
		e->services = services;
	if (last_seen > e->last_seen)
		e->last_seen = last_seen;
}

struct peer_addr *peers_book_add(struct peers_book *b, const uint8_t ip[16],
                                 uint16_t port, uint8_t flags,
                                 uint16_t services, uint32_t last_seen,
                                 const char *name)
{
	struct peer_addr *e = peers_book_find(b, ip, port);
	if (e) {
		merge(e, flags, services, last_seen);
		if (name && name[0] && !e->name[0])
			set_name(e, name);
		return e;
	}
	e = book_free_slot(b);
	if (!e) {
		/* replace the oldest learned, unconnected entry */
		for (size_t i = 0; i < PEERS_BOOK_MAX; i++) {
			struct peer_addr *c = &b->a[i];
			if (c->flags != PEERS_LEARNED || c->connected)
				continue;
			if (!e || c->last_seen < e->last_seen)
				e = c;
		}
		if (!e)
			return NULL;
		book_drop(b, e);
	}
	book_fill(b, e, ip, port, flags, services, last_seen);
	if (name && name[0])
		set_name(e, name);
	return e;
}

void peers_book_remove(struct peers_book *b, struct peer_addr *e)
{
	if (!e->used)
		return;
	book_drop(b, e);
}

/* ---- learning from ADDR ---- */

static uint32_t src_key(const struct peers_book *b, const uint8_t ip[16],
                        unsigned bits)
{
	uint8_t m[17];
	peers_mask(m, ip, bits);
	m[16] = (uint8_t)bits;
	return (uint32_t)peers_siphash(b->k0 ^ 0x5352, b->k1, m, sizeof m) | 1u;
}

void peers_book_src(const struct peers_book *b, const uint8_t src_ip[16],
                    struct peers_src *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->src = src_key(b, src_ip, 128);
	ps->srcnet = src_key(b, src_ip, peers_is_ip4(src_ip) ? 96 + 16 : 32);
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++) {
		const struct peer_addr *e = &b->a[i];
		if (!e->used || !e->src)
			continue;
		ps->n_src += e->src == ps->src;
		ps->n_net += e->srcnet == ps->srcnet;
	}
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* A learned entry to give up for a new one: the worst of a few random
 * slots (never tried first, then oldest seen); NULL if none of them may
 * go. */
static struct peer_addr *book_victim(struct peers_book *b, uint64_t *rnd)
{
	struct peer_addr *v = NULL;
	for (unsigned k = 0; k < PEERS_BOOK_SAMPLE; k++) {
		struct peer_addr *c = &b->a[xorshift(rnd) % PEERS_BOOK_MAX];
		if (!c->used || c->flags != PEERS_LEARNED || c->connected)
			continue;
		if (!v || (v->tried && !c->tried) ||
		    (v->tried == c->tried && c->last_seen < v->last_seen))
			v = c;
	}
	return v;
}

int peers_book_learn(struct peers_book *b, struct peers_src *ps,
                     const uint8_t ip[16], uint16_t port, uint16_t services,
                     uint32_t last_seen, uint64_t rnd)
{
	struct peer_addr *e = peers_book_find(b, ip, port);
	if (e) {
		merge(e, PEERS_LEARNED, services, last_seen);
		return 0;
	}
	if (ps->n_src >= PEERS_BOOK_PER_SRC || ps->n_net >= PEERS_BOOK_PER_SRCNET)
		return -1;
	e = book_free_slot(b);
	if (!e) {
		e = book_victim(b, &rnd);
		if (!e)
			return -1;
		if (e->src == ps->src && ps->n_src)
			ps->n_src--;
		if (e->srcnet == ps->srcnet && ps->n_net)
			ps->n_net--;
		book_drop(b, e);
	}
	book_fill(b, e, ip, port, PEERS_LEARNED, services, last_seen);
	e->src = ps->src;
	e->srcnet = ps->srcnet;
	ps->n_src++;
	ps->n_net++;
	return 0;
}

/* ---- the ADDR sample ---- */

struct pick {
	uint32_t src;
	uint32_t r;       /* random order */
	uint16_t idx;
};

static int cmp_pick(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;
	if (x->src != y->src)
		return x->src < y->src ? -1 : 1;
	return x->r < y->r ? -1 : x->r > y->r;
}

size_t peers_book_pick(const struct peers_book *b, uint32_t now,
                       size_t n_verified_extra, uint64_t rnd, size_t *out,
                       size_t cap)
{
	static struct pick un[PEERS_BOOK_MAX];
	size_t k = 0, nu = 0, verified;
	unsigned counts[PEERS_BOOK_MAX];
	size_t nsrc = 0;

	for (size_t i = 0; i < PEERS_BOOK_MAX; i++) {
		const struct peer_addr *e = &b->a[i];
		if (!e->used || !(e->flags & PEERS_LEARNED) || e->connected ||
		    e->last_seen + PEERS_ADDR_FRESH_SECS < now)
			continue;
		if (e->tried || !e->src) {
			if (k < cap)
				out[k++] = i;
			continue;
		}
		un[nu].src = e->src;
		un[nu].r = (uint32_t)xorshift(&rnd);
		un[nu++].idx = (uint16_t)i;
	}
	/* verified ones in random order */
	for (size_t i = k; i > 1; i--) {
		size_t j = xorshift(&rnd) % i;
		size_t t = out[i - 1];
		out[i - 1] = out[j];
		out[j] = t;
	}
	verified = k + n_verified_extra;
	if (!nu || k >= cap)
		return k;
	qsort(un, nu, sizeof(un[0]), cmp_pick);
	for (size_t i = 0; i < nu; i++) {
		if (i == 0 || un[i].src != un[i - 1].src)
			counts[nsrc++] = 0;
		counts[nsrc - 1]++;
	}
	/* the largest q with q * SHARE <= verified + sum(min(count, q)) */
	size_t q = 0, total = verified;
	for (;;) {
		size_t grow = 0;
		for (size_t s = 0; s < nsrc; s++)
			grow += counts[s] > q;
		if (!grow || (q + 1) * PEERS_ADDR_SHARE > total + grow)
			break;
		q++;
		total += grow;
		if (total >= cap + n_verified_extra)
			break;
	}
	size_t taken = 0;
	for (size_t i = 0; i < nu && k < cap; i++) {
		taken = (i == 0 || un[i].src != un[i - 1].src) ? 0 : taken;
		if (taken < q) {
			out[k++] = un[i].idx;
			taken++;
		}
	}
	/* mix the unverified ones in among the verified */
	for (size_t i = k; i > 1; i--) {
		size_t j = xorshift(&rnd) % i;
		size_t t = out[i - 1];
		out[i - 1] = out[j];
		out[j] = t;
	}
	return k;
}

/* ---- dialing ---- */

uint64_t peers_backoff_ms(unsigned attempts)
{
	uint64_t ms = PEERS_BACKOFF_MIN_MS;
	for (unsigned i = 0; i < attempts && ms < PEERS_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms > PEERS_BACKOFF_MAX_MS ? PEERS_BACKOFF_MAX_MS : ms;
}

struct peer_addr *peers_book_next(struct peers_book *b, uint64_t now_ms,
                                  uint8_t mask)
{
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++) {
		struct peer_addr *e = &b->a[i];
		if (!e->used || e->connected || !(e->flags & mask) ||
		    e->next_try_ms > now_ms)
			continue;
		e->next_try_ms = now_ms + peers_backoff_ms(e->attempts);
		return e;
	}
	return NULL;
}

void peers_book_failed(struct peer_addr *e, uint64_t now_ms)
{
	if (e->attempts < 30)
		e->attempts++;
	e->connected = false;
	e->next_try_ms = now_ms + peers_backoff_ms(e->attempts);
}

void peers_book_succeeded(struct peer_addr *e, uint32_t now)
{
	e->attempts = 0;
	e->connected = true;
	e->tried = true;
	e->last_seen = now;
}

/* ---- token bucket ---- */

bool peers_bucket_take(struct peers_bucket *tb, uint64_t now_ms, double rate,
                       double burst)
{
	if (!tb->init) {
		tb->init = true;
		tb->tokens = burst;
		tb->last_ms = now_ms;
	}
	if (now_ms > tb->last_ms) {
		tb->tokens += (double)(now_ms - tb->last_ms) * rate / 1000.0;
		if (tb->tokens > burst)
			tb->tokens = burst;
		tb->last_ms = now_ms;
	}
	if (tb->tokens < 1.0)
		return false;
	tb->tokens -= 1.0;
	return true;
}
