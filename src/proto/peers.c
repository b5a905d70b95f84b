/* peers.c - peer epochs and the address book (see peers.h).
 *
 * Epochs: SEED.md "the epochs are every 5 minutes and it maps each peer it
 * sees to a unique bit position, max of 1024 peers per epoch".  The map is a
 * flat array searched linearly: it is consulted once per handshake, and
 * 1024 compares are cheaper than any hashing bookkeeping at that rate.
 */
#include "proto/peers.h"

#include <string.h>

void peers_epoch_init(struct peers_epoch *pe, uint32_t now)
{
	pe->epoch = now / PEERS_EPOCH_SECS;
	pe->n = 0;
}

bool peers_epoch_roll(struct peers_epoch *pe, uint32_t now)
{
	uint32_t e = now / PEERS_EPOCH_SECS;
	if (e <= pe->epoch)
		return false;
	pe->epoch = e;
	pe->n = 0;
	return true;
}

int peers_epoch_bit(struct peers_epoch *pe, uint64_t key, uint32_t now)
{
	peers_epoch_roll(pe, now);
	for (uint32_t i = 0; i < pe->n; i++)
		if (pe->keys[i] == key)
			return (int)i;
	if (pe->n >= PEERS_EPOCH_MAX)
		return -1;
	pe->keys[pe->n] = key;
	return (int)pe->n++;
}

void peers_book_init(struct peers_book *b)
{
	memset(b, 0, sizeof(*b));
}

struct peer_addr *peers_book_find(struct peers_book *b, const uint8_t ip[16],
                                  uint16_t port)
{
	for (size_t i = 0; i < PEERS_BOOK_MAX; i++)
		if (b->a[i].used && b->a[i].port == port &&
		    memcmp(b->a[i].ip, ip, 16) == 0)
			return &b->a[i];
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

struct peer_addr *peers_book_add(struct peers_book *b, const uint8_t ip[16],
                                 uint16_t port, uint8_t flags,
                                 uint16_t services, uint32_t last_seen,
                                 const char *name)
{
	struct peer_addr *e = peers_book_find(b, ip, port);
	if (e) {
		e->flags |= flags;
		if (services)
			e->services = services;
		if (last_seen > e->last_seen)
			e->last_seen = last_seen;
		if (name && name[0] && !e->name[0])
			set_name(e, name);
		return e;
	}
	for (size_t i = 0; i < PEERS_BOOK_MAX && !e; i++)
		if (!b->a[i].used)
			e = &b->a[i];
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
		b->n--;
	}
	memset(e, 0, sizeof(*e));
	e->used = true;
	memcpy(e->ip, ip, 16);
	e->port = port;
	e->flags = flags;
	e->services = services;
	e->last_seen = last_seen;
	b->n++;
	if (name && name[0])
		set_name(e, name);
	return e;
}

void peers_book_remove(struct peers_book *b, struct peer_addr *e)
{
	if (!e->used)
		return;
	memset(e, 0, sizeof(*e));
	b->n--;
}

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
	e->last_seen = now;
}

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
