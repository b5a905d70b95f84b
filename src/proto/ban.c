/* ban.c - the ban list and the offence policy (see ban.h). */
#include "proto/ban.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peers.h"

static uint32_t bucket(const struct bans *b, const uint8_t ip[16],
                       uint8_t bits)
{
	uint8_t k[17];
	memcpy(k, ip, 16);
	k[16] = bits;
	return (uint32_t)peers_siphash(b->k0, b->k1, k, sizeof k) &
	       (BAN_BUCKETS - 1);
}

void bans_init(struct bans *b, uint64_t k0, uint64_t k1)
{
	memset(b, 0, sizeof(*b));
	b->k0 = k0;
	b->k1 = k1;
	for (size_t i = 0; i < BAN_BUCKETS; i++)
		b->head[i] = -1;
	for (size_t i = 0; i < BAN_MAX; i++)
		b->e[i].next = -1;
}

/* "255.255.255.0" -> 24; -1 if not a contiguous mask */
static int mask_len(const uint8_t m[4])
{
	uint32_t v = ((uint32_t)m[0] << 24) | ((uint32_t)m[1] << 16) |
	             ((uint32_t)m[2] << 8) | m[3];
	int len = 0;
	while (len < 32 && (v & (0x80000000u >> len)))
		len++;
	if (len < 32 && (v << len) != 0)
		return -1;
	return len;
}

int ban_parse(const char *s, uint8_t ip[16], uint8_t *bits)
{
	char host[64];
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	uint8_t raw[16];
	long len;
	bool v4;

	if (hl == 0 || hl >= sizeof host)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, raw) == 1) {
		peers_ip4(ip, ((uint32_t)raw[0] << 24) | ((uint32_t)raw[1] << 16) |
		                  ((uint32_t)raw[2] << 8) | raw[3]);
		v4 = true;
	} else if (inet_pton(AF_INET6, host, ip) == 1) {
		v4 = peers_is_ip4(ip);
	} else {
		return -1;
	}
	if (!slash) {
		len = 128;
	} else {
		const char *m = slash + 1;
		char *end;
		uint8_t dm[4];
		if (v4 && strchr(m, '.')) {
			int l = inet_pton(AF_INET, m, dm) == 1 ? mask_len(dm) : -1;
			if (l < 0)
				return -1;
			len = 96 + l;
		} else {
			if (*m < '0' || *m > '9' || strlen(m) > 3)
				return -1;
			len = strtol(m, &end, 10);
			if (*end || len > (v4 ? 32 : 128))
				return -1;
			if (v4)
				len += 96;
		}
	}
	*bits = (uint8_t)len;
	peers_mask(ip, ip, *bits);
	return 0;
}

void ban_format(char *out, size_t cap, const uint8_t ip[16], uint8_t bits)
{
	char h[INET6_ADDRSTRLEN];
	if (peers_is_ip4(ip) && bits >= 96) {
		inet_ntop(AF_INET, ip + 12, h, sizeof h);
		snprintf(out, cap, "%s/%u", h, (unsigned)(bits - 96));
	} else {
		inet_ntop(AF_INET6, ip, h, sizeof h);
		snprintf(out, cap, "%s/%u", h, (unsigned)bits);
	}
}

struct ban_entry *ban_find(struct bans *b, const uint8_t ip[16],
                           uint8_t bits)
{
	uint8_t m[16];
	peers_mask(m, ip, bits);
	for (int32_t i = b->head[bucket(b, m, bits)]; i >= 0; i = b->e[i].next)
		if (b->e[i].bits == bits && memcmp(b->e[i].ip, m, 16) == 0)
			return &b->e[i];
	return NULL;
}

static void unlink_entry(struct bans *b, struct ban_entry *e)
{
	int32_t idx = (int32_t)(e - b->e);
	int32_t *pp = &b->head[bucket(b, e->ip, e->bits)];
	while (*pp >= 0) {
		if (*pp == idx) {
			*pp = e->next;
			break;
		}
		pp = &b->e[*pp].next;
	}
	b->nbits[e->bits]--;
	b->n--;
	memset(e, 0, sizeof(*e));
	e->next = -1;
}

int ban_add(struct bans *b, const uint8_t ip[16], uint8_t bits,
            int64_t created, int64_t until, bool automatic)
{
	uint8_t m[16];
	struct ban_entry *e;

	if (bits > 128)
		return -1;
	peers_mask(m, ip, bits);
	e = ban_find(b, m, bits);
	if (e) {
		e->created = created;
		e->until = until;
		e->automatic = automatic;
		return 0;
	}
	if (b->n >= BAN_MAX) {
		struct ban_entry *v = NULL;
		for (size_t i = 0; i < BAN_MAX; i++)
			if (b->e[i].used && b->e[i].automatic &&
			    (!v || b->e[i].until < v->until))
				v = &b->e[i];
		if (!v)
			return -1;
		unlink_entry(b, v);
	}
	for (size_t i = 0; i < BAN_MAX && !e; i++)
		if (!b->e[i].used)
			e = &b->e[i];
	uint32_t h = bucket(b, m, bits);
	memcpy(e->ip, m, 16);
	e->bits = bits;
	e->used = true;
	e->automatic = automatic;
	e->created = created;
	e->until = until;
	e->next = b->head[h];
	b->head[h] = (int32_t)(e - b->e);
	b->nbits[bits]++;
	b->n++;
	return 0;
}

int ban_del(struct bans *b, const uint8_t ip[16], uint8_t bits)
{
	struct ban_entry *e = bits <= 128 ? ban_find(b, ip, bits) : NULL;
	if (!e)
		return -1;
	unlink_entry(b, e);
	return 0;
}

void ban_clear(struct bans *b)
{
	bans_init(b, b->k0, b->k1);
}

bool ban_covers(const struct bans *b, const uint8_t ip[16], uint8_t bits,
                int64_t now)
{
	for (unsigned l = 0; l <= bits && l <= 128; l++) {
		if (!b->nbits[l])
			continue;
		const struct ban_entry *e =
			ban_find((struct bans *)b, ip, (uint8_t)l);
		if (e && e->until > now)
			return true;
	}
	return false;
}

bool ban_match(const struct bans *b, const uint8_t ip[16], int64_t now)
{
	return b->n && ban_covers(b, ip, 128, now);
}

size_t ban_sweep(struct bans *b, int64_t now)
{
	size_t k = 0;
	for (size_t i = 0; i < BAN_MAX && b->n; i++)
		if (b->e[i].used && b->e[i].until <= now) {
			unlink_entry(b, &b->e[i]);
			k++;
		}
	return k;
}

/* Count a strike against ip; returns the strikes before this one. */
static uint32_t strike(struct bans *b, const uint8_t ip[16], int64_t now)
{
	struct ban_strike *s = NULL, *old = &b->strikes[0];
	for (size_t i = 0; i < BAN_STRIKES; i++) {
		struct ban_strike *c = &b->strikes[i];
		if (c->count && memcmp(c->ip, ip, 16) == 0) {
			s = c;
			break;
		}
		if (c->last < old->last)
			old = c;
	}
	if (!s) {
		s = old;
		memset(s, 0, sizeof(*s));
		memcpy(s->ip, ip, 16);
	}
	s->last = now;
	return s->count++;
}

int ban_offence(struct bans *b, const uint8_t ip[16], int64_t now,
                uint32_t secs, uint8_t out_ip[16], uint8_t *out_bits)
{
	uint8_t net[16], lh[16];
	unsigned nb = peers_netbits(ip), same = 0;
	uint32_t before = strike(b, ip, now);
	bool local_in_net;

	peers_mask(net, ip, nb);
	peers_ip4(lh, 0x7f000001);
	local_in_net = peers_same_net(lh, ip);
	memset(lh, 0, 16);
	lh[15] = 1;
	local_in_net = local_in_net || (!peers_is_ip4(ip) &&
	                                peers_same_net(lh, ip));
	for (size_t i = 0; i < BAN_MAX; i++) {
		const struct ban_entry *e = &b->e[i];
		if (e->used && e->automatic && e->bits == 128 && e->until > now &&
		    memcmp(e->ip, ip, 16) != 0 && peers_same_net(e->ip, ip))
			same++;
	}
	if (!local_in_net && (before > 0 || same + 1 >= BAN_NET_AFTER)) {
		/* the automatic single bans inside the subnet are now
		 * redundant */
		for (size_t i = 0; i < BAN_MAX; i++) {
			struct ban_entry *e = &b->e[i];
			if (e->used && e->automatic && e->bits == 128 &&
			    peers_same_net(e->ip, ip))
				unlink_entry(b, e);
		}
		memcpy(out_ip, net, 16);
		*out_bits = (uint8_t)nb;
	} else {
		memcpy(out_ip, ip, 16);
		*out_bits = 128;
	}
	return ban_add(b, out_ip, *out_bits, now, now + (int64_t)secs, true);
}
