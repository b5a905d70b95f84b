/* link.c - the simulator's network (sim.h, docs/bench.md "sim"): each
 * link is one direction of a TCP stream.  A send leaves when its link
 * (-bandwidth) and its node's uplink (-uplink) are free, arrives after the
 * link's latency and a jitter, no earlier than the receiver's downlink
 * (-downlink) allows, and never before bytes sent earlier; a lost IP
 * packet (-loss) delays its segment by a retransmission timeout and
 * everything behind it.  room() is net.c's output buffer, sized in time
 * (proto/sendbuf.h) unless -sndtime=0. */
#include <stdlib.h>
#include <string.h>

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

/* A full ring of n elements of `size` bytes (head *head, capacity *cap)
 * moved into one twice as large (16 to start), in order from index 0. */
static void *ring_grow(void *ring, size_t size, size_t *cap, size_t *head,
                       size_t n)
{
	size_t ncap = *cap ? 2 * *cap : 16;
	char *q = xmalloc(ncap * size);

	for (size_t i = 0; i < n; i++)
		memcpy(q + i * size, (char *)ring + ((*head + i) % *cap) * size,
		       size);
	free(ring);
	*cap = ncap;
	*head = 0;
	return q;
}

/* ---- the output buffer sized in time (-sndtime, proto/sendbuf.h) ---- */

/* Bytes of dq's head entry through the bottleneck at t_us. */
static uint64_t dq_done_at(const struct dep *d, uint64_t t_us)
{
	if (t_us >= d->exit_us)
		return d->len;
	if (t_us <= d->from_us)
		return 0;
	return d->len * (t_us - d->from_us) / (d->exit_us - d->from_us);
}

/* What got through l's bottleneck up to t_us leaves its output buffer:
 * told to the buffer's rate meter as net.c tells it the evbuffer's
 * drains (whole sends at their exit time, the one under way as far as it
 * got). */
static void link_observe(struct link *l, uint64_t t_us)
{
	while (l->dn) {
		struct dep *d = &l->dq[l->dhead];
		uint64_t done = dq_done_at(d, t_us), n = done - d->done;
		uint64_t at = t_us < d->exit_us ? t_us : d->exit_us;

		if (n == 0 && done < d->len)
			break;
		d->done = done;
		l->unsent -= n;
		sendbuf_drained(&l->sb, at, (size_t)n, (size_t)l->unsent);
		if (done < d->len)
			break;
		l->dhead = (l->dhead + 1) % l->dcap;
		l->dn--;
	}
}

/* A send of len bytes at now_us whose last byte gets through the
 * bottleneck at exit_us, taking tx_us there. */
static void dq_push(struct link *l, uint64_t now_us, uint64_t tx_us,
                    uint64_t exit_us, size_t len)
{
	struct dep *d;
	uint64_t from;

	if (l->dn == l->dcap)
		l->dq = ring_grow(l->dq, sizeof(*l->dq), &l->dcap, &l->dhead,
		                  l->dn);
	from = exit_us > tx_us ? exit_us - tx_us : 0;
	if (from < now_us)
		from = now_us;
	if (l->dn) {
		uint64_t prev = l->dq[(l->dhead + l->dn - 1) % l->dcap].exit_us;

		if (exit_us < prev)
			exit_us = prev;
		if (from < prev)
			from = prev;
	}
	if (from > exit_us)
		from = exit_us;
	sendbuf_added(&l->sb, now_us, (size_t)l->unsent);
	d = &l->dq[(l->dhead + l->dn++) % l->dcap];
	*d = (struct dep){.from_us = from, .exit_us = exit_us, .len = len};
	l->unsent += len;
}

/* When l's output buffer is down to half its size again (net.c's write
 * callback): the time (ms) the sends before that get through. */
uint64_t link_drain_time(struct link *l)
{
	uint64_t now_us = now_ms * 1000u, left;
	size_t low;

	link_observe(l, now_us);
	low = sendbuf_cap(&l->sb, (unsigned)o.sndtime, SENDBUF_FLOOR,
	                  (size_t)o.sndbuf) / 2;
	left = l->unsent;
	for (size_t i = 0; i < l->dn && left > low; i++) {
		const struct dep *d = &l->dq[(l->dhead + i) % l->dcap];

		left -= d->len - d->done;
		if (left <= low)
			return (d->exit_us + 999u) / 1000u;
	}
	return now_ms + 1;
}

/* Queue len bytes on l: they leave when the link and the sender's uplink
 * are free, arrive after the latency, a jitter and any retransmission,
 * no earlier than the receiver's downlink allows, and never before bytes
 * sent earlier (one TCP stream). */
struct wbuf *link_push(struct link *l, size_t len)
{
	struct snode *from = &nodes[l->from], *to = &nodes[l->to];
	uint64_t now_us = now_ms * 1000u, start = now_us, end, at_us, at, jit_us;
	struct seg *s;

	if (o.sndtime)
		link_observe(l, now_us);

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
	jit_us = (o.jitter ? rng() % (uint64_t)(o.jitter + 1) : 0) * 1000u;
	at_us = end + (uint64_t)l->lat * 1000u + jit_us;
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
	if (o.sndtime)
		dq_push(l, now_us, end - start,
		        at_us - (uint64_t)l->lat * 1000u - jit_us, len);
	at = (at_us + 999u) / 1000u;
	if (at < l->last_at)
		at = l->last_at;
	l->last_at = at;
	if (l->qn && l->q[(l->qhead + l->qn - 1) % l->qcap].at == at)
		return &l->q[(l->qhead + l->qn - 1) % l->qcap].b;
	if (l->qn == l->qcap)
		l->q = ring_grow(l->q, sizeof(*l->q), &l->qcap, &l->qhead,
		                 l->qn);
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
	l->dhead = l->dn = 0;
	l->unsent = 0;
	sendbuf_init(&l->sb);
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
	if (o.sndtime) {
		link_observe(l, now_ms * 1000u);
		return sendbuf_room(&l->sb, (size_t)l->unsent,
		                    (unsigned)o.sndtime, SENDBUF_FLOOR,
		                    (size_t)o.sndbuf);
	}
	q = link_queued_bytes(l, &rate);
	return q >= (uint64_t)o.sndbuf ? 0 : (size_t)((uint64_t)o.sndbuf - q);
}
