/* link.c - the simulator's network (sim.h, docs/bench.md "sim"): each
 * link is one direction of a TCP stream.  A send leaves when its link
 * (-bandwidth) and its node's uplink (-uplink) are free, arrives after the
 * link's latency and a jitter, no earlier than the receiver's downlink
 * (-downlink) allows, and never before bytes sent earlier; a lost IP
 * packet (-loss) delays its segment by a retransmission timeout and
 * everything behind it.  room() is net.c's output buffer. */
#include <stdlib.h>

#include "core/util.h"
#include "proto/gossip.h"
#include "proto/wire.h"

#include "sim.h"
#include "wheel.h"

struct link *link_of(const struct snode *n, int peer)
{
	for (int i = 0; i < n->npeers; i++)
		if (n->peers[i] == peer)
			return n->out[i];
	return NULL;
}

uint32_t link_index(const struct link *l)
{
	return (uint32_t)(l - links);
}

/* The rate (bytes/s) of l's bottleneck, 0 when unlimited. */
static uint64_t link_rate(const struct link *l)
{
	uint64_t r = 0;
	uint64_t v[3] = {(uint64_t)o.bandwidth, (uint64_t)o.uplink,
	                 nodes[l->to].downlink};

	for (int i = 0; i < 3; i++)
		if (v[i] && (!r || v[i] < r))
			r = v[i];
	return r;
}

/* Queue len bytes on l: they leave when the link and the sender's uplink
 * are free, arrive after the latency, a jitter and any retransmission,
 * no earlier than the receiver's downlink allows, and never before bytes
 * sent earlier (one TCP stream). */
struct wbuf *link_push(struct link *l, size_t len)
{
	struct snode *from = &nodes[l->from], *to = &nodes[l->to];
	uint64_t now_us = now_ms * 1000u, start = now_us, end, at_us, at;
	struct seg *s;

	if (o.bandwidth && l->busy_us > start)
		start = l->busy_us;
	if (o.uplink && from->up_busy_us > start)
		start = from->up_busy_us;
	end = start;
	if (o.bandwidth)
		end = start + (uint64_t)len * 1000000u / (uint64_t)o.bandwidth;
	if (o.uplink) {
		uint64_t e = start + (uint64_t)len * 1000000u / (uint64_t)o.uplink;

		end = e > end ? e : end;
		from->up_busy_us = end;
	}
	if (o.bandwidth)
		l->busy_us = end;
	at_us = end + (uint64_t)l->lat * 1000u +
	        (o.jitter ? rng() % (uint64_t)(o.jitter + 1) : 0) * 1000u;
	if (o.loss > 0) {
		size_t k = (len + SIM_MSS - 1) / SIM_MSS;

		for (size_t i = 0; i < k; i++)
			if (rng_unit() < o.loss) {
				at_us += (SIM_RTO_MS + 2u * (uint64_t)l->lat) * 1000u;
				seg_lost++;
				break;
			}
	}
	if (to->downlink) {
		if (to->down_busy_us > at_us)
			at_us = to->down_busy_us;
		at_us += (uint64_t)len * 1000000u / to->downlink;
		to->down_busy_us = at_us;
	}
	at = (at_us + 999u) / 1000u;
	if (at < l->last_at)
		at = l->last_at;
	l->last_at = at;
	if (l->qn && l->q[(l->qhead + l->qn - 1) % l->qcap].at == at)
		return &l->q[(l->qhead + l->qn - 1) % l->qcap].b;
	if (l->qn == l->qcap) {
		size_t cap = l->qcap ? 2 * l->qcap : 16;
		struct seg *q = xmalloc(cap * sizeof(*q));

		for (size_t i = 0; i < l->qn; i++)
			q[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = q;
		l->qcap = cap;
		l->qhead = 0;
	}
	s = &l->q[(l->qhead + l->qn++) % l->qcap];
	s->at = at;
	wb_init(&s->b);
	if (l->qn == 1) {
		l->ev_at = at;
		schedule(at, EV_LINK, link_index(l));
	}
	return &s->b;
}

void link_clear(struct link *l)
{
	while (l->qn) {
		wb_fini(&l->q[l->qhead].b);
		l->qhead = (l->qhead + 1) % l->qcap;
		l->qn--;
	}
	l->busy_us = l->last_at = 0;
	l->ev_at = l->drain_at = 0;  /* scheduled events are stale now */
}

/* ---- gossip callbacks --------------------------------------------------- */

void s_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	struct link *l = link_of(ctx, peer);

	if (!l || !l->up)
		return;
	wb_bytes(link_push(l, len), buf, len);
	control_bytes += len;
	if (len > 4)
		control_by_type[buf[4]] += len;
}

void s_send_packet(void *ctx, int peer, const struct stored *sp,
                          uint8_t relay)
{
	struct link *l = link_of(ctx, peer);

	if (!l || !l->up)
		return;
	wire_packet_encode(link_push(l, WIRE_HDR_LEN + sp->len),
	                   stored_bytes(sp), sp->len, relay);
	packet_bytes += sp->len;
	control_bytes += WIRE_HDR_LEN;
	control_by_type[WIRE_PACKET] += WIRE_HDR_LEN;
}

/* One PACKETS frame or, with tags, one TPACKETS frame (as net.c). */
static void send_batch(void *ctx, int peer, const struct stored *const *sps,
                       const uint8_t *relays, const uint32_t *tags, size_t n)
{
	struct link *l = link_of(ctx, peer);
	size_t total = 0, pbytes = 0;
	struct wbuf *b;

	if (!l || !l->up)
		return;
	for (size_t i = 0; i < n; i++) {
		total += tags ? wire_tpackets_entry_len(sps[i]->len)
		              : wire_packets_entry_len(sps[i]->len);
		pbytes += sps[i]->len;
	}
	b = link_push(l, WIRE_HDR_LEN + total);
	wb_begin(b, tags ? WIRE_TPACKETS : WIRE_PACKETS);
	for (size_t i = 0; i < n; i++) {
		if (tags)
			wire_tpackets_add(b, tags[i], stored_bytes(sps[i]),
			                  sps[i]->len, relays[i]);
		else
			wire_packets_add(b, stored_bytes(sps[i]), sps[i]->len,
			                 relays[i]);
	}
	wb_end(b);
	packet_bytes += pbytes;
	control_bytes += WIRE_HDR_LEN + total - pbytes; /* header, lengths */
	control_by_type[tags ? WIRE_TPACKETS : WIRE_PACKETS] +=
		WIRE_HDR_LEN + total - pbytes;
}

void s_send_packets(void *ctx, int peer, const struct stored *const *sps,
                    const uint8_t *relays, size_t n)
{
	send_batch(ctx, peer, sps, relays, NULL, n);
}

void s_send_tpackets(void *ctx, int peer, const struct stored *const *sps,
                     const uint8_t *relays, const uint32_t *tags, size_t n)
{
	send_batch(ctx, peer, sps, relays, tags, n);
}

/* ms of data queued on l beyond its propagation time (what sits in the
 * sender's buffers or in flight behind a bottleneck or a retransmission) */
static uint64_t link_queued_ms(const struct link *l)
{
	uint64_t horizon = now_ms + l->lat + (uint64_t)o.jitter;

	return l->last_at > horizon ? l->last_at - horizon : 0;
}

/* ... and as bytes at the link's bottleneck rate (1 Gbit/s when only
 * loss limits it) */
uint64_t link_queued_bytes(const struct link *l, uint64_t *rate)
{
	*rate = link_rate(l);
	if (!*rate)
		*rate = 125000000u;
	return link_queued_ms(l) * *rate / 1000u;
}

size_t s_room(void *ctx, int peer)
{
	struct link *l = link_of(ctx, peer);
	uint64_t q, rate;

	if (!l || !l->up)
		return 0;
	if (!limited)
		return SIZE_MAX;
	q = link_queued_bytes(l, &rate);
	return q >= (uint64_t)o.sndbuf ? 0 : (size_t)((uint64_t)o.sndbuf - q);
}
