/* fuzz_gossip.c - stateful libFuzzer target for the gossip engine.
 *
 * Two engines A and B (each with its own store; B's wall clock skewed by
 * the input) are linked to each other in memory, and A has up to three
 * scripted peers (ids 1..3) whose frames come from the input.  The input
 * is a program of operations:
 *   - a raw frame (any type, mutated bytes) from a scripted peer to A;
 *   - a built frame from a scripted peer: INV / GETDATA / NOTFOUND of ids
 *     held by A or B or random, GETBITS of a recent INV number, SUMMARY
 *     over a window with random counts, IDLIST of seconds, a valid PACKET
 *     (possibly from the future or expired), TPACKETS of one such packet
 *     with a tree tag (A's or B's tree key or random, eager or not),
 *     PRUNE / GRAFT of tree keys;
 *   - a packet created at A or B (gossiped);
 *   - a clock tick (both engines; frames between A and B delivered);
 *   - a scripted peer disconnected or (re)connected, full or not,
 *     v1/v2/v3 (A and B are v3 to each other: trees between them);
 *   - the room A's scripted peers have (0 holds packets in the queues).
 * A frame answered with E_PROTO disconnects its peer, as net.c does.
 * Every 8 operations gossip_debug_check() must pass on both engines
 * (pending table and FIFO consistent, per-peer counts, queue sums, every
 * per-peer bound and gossip_peer_mem() <= GOSSIP_PEER_MEM_MAX), every frame
 * an engine writes must parse (wire_hdr_decode + wire_validate), and at
 * the end A and B, left to run (two minutes of clock), reach the same
 * store when no scripted peer is left and their clocks agree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/gossip.h"
#include "proto/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1767225600u
#define PURGE 600u
#define NSCRIPT 4          /* scripted peer ids 1..3 (0 unused) */
#define LINK_ID 100        /* A's id for B and B's for A */
#define MAXOPS 400

struct eng {
	struct store *s;
	struct gossip *g;
	int idx;
	int skew;
	struct wbuf to_peer;     /* frames for the other engine */
};

static struct eng E[2];
static bool script_up[NSCRIPT];
static size_t script_room = SIZE_MAX;
static uint64_t now_ms;
static uint32_t inv_out_seen[NSCRIPT];
static uint32_t seq_pkt;

static void fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_gossip: %s (%d)\n", what, line);
	abort();
}

static uint32_t wall(const struct eng *e)
{
	return (uint32_t)((int64_t)(now_ms / 1000) + e->skew);
}

/* Every frame an engine writes must parse. */
static void check_frames(const uint8_t *buf, size_t len, int peer)
{
	for (size_t off = 0; off < len;) {
		uint8_t type;
		uint32_t n;
		if (wire_hdr_decode(buf + off, len - off, &type, &n) != E_OK)
			fail("bad header written", (int)off);
		if (off + WIRE_HDR_LEN + n > len)
			fail("truncated frame written", (int)off);
		if (wire_payload_validate(type, buf + off + WIRE_HDR_LEN, n) !=
		    E_OK)
			fail("invalid frame written", type);
		if (type == WIRE_INV && peer > 0 && peer < NSCRIPT)
			inv_out_seen[peer]++;
		off += WIRE_HDR_LEN + n;
	}
}

static void f_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	struct eng *e = ctx;
	check_frames(buf, len, peer);
	if (peer == LINK_ID)
		wb_bytes(&e->to_peer, buf, len);
}

static void f_send_packet(void *ctx, int peer, const struct stored *sp,
                          uint8_t relay)
{
	struct eng *e = ctx;
	if (peer == LINK_ID)
		wire_packet_encode(&e->to_peer, stored_bytes(sp), sp->len, relay);
}

static void f_send_packets(void *ctx, int peer,
                           const struct stored *const *sps,
                           const uint8_t *relays, size_t n)
{
	struct eng *e = ctx;
	if (peer != LINK_ID)
		return;
	wb_begin(&e->to_peer, WIRE_PACKETS);
	for (size_t i = 0; i < n; i++)
		wire_packets_add(&e->to_peer, stored_bytes(sps[i]), sps[i]->len,
		                 relays[i]);
	wb_end(&e->to_peer);
}

static void f_send_tpackets(void *ctx, int peer,
                            const struct stored *const *sps,
                            const uint8_t *relays, const uint32_t *tags,
                            size_t n)
{
	struct eng *e = ctx;
	if (peer != LINK_ID)
		return;
	wb_begin(&e->to_peer, WIRE_TPACKETS);
	for (size_t i = 0; i < n; i++)
		wire_tpackets_add(&e->to_peer, tags[i], stored_bytes(sps[i]),
		                  sps[i]->len, relays[i]);
	wb_end(&e->to_peer);
}

static size_t f_room(void *ctx, int peer)
{
	return peer == LINK_ID ? SIZE_MAX : script_room;
}

static int f_ingest(void *ctx, int peer, const uint8_t *pkt, size_t len,
                    struct stored **out, enum drop_reason *reason)
{
	struct eng *e = ctx;
	struct packet_view pv;
	struct pow_eval pe;
	*out = NULL;
	*reason = packet_check(pkt, len, wall(e), 0, PURGE, &pv, &pe);
	if (*reason == DROP_FUTURE && pv.timestamp <= wall(e) + 60)
		return E_AGAIN; /* as if held (the node's hold) */
	if (*reason != DROP_NONE)
		return E_PROTO;
	int rc = store_put(e->s, pkt, len, &pe, wall(e), out);
	if (rc == E_OK || rc == E_DUP)
		return rc;
	*reason = DROP_OVERLOAD;
	return E_PROTO;
}

static uint32_t f_wall(void *ctx)
{
	return wall(ctx);
}

static void f_misbehave(void *ctx, int peer, unsigned score, const char *why)
{
	if (!why || score == 0 || score > 100)
		fail("misbehave report", (int)score);
}

/* ---- input reader ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static uint32_t u16(struct in *in)
{
	uint32_t v = u8(in);
	return v | (uint32_t)u8(in) << 8;
}

static uint64_t u64(struct in *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)u8(in) << (8 * i);
	return v;
}

/* ---- operations ---- */

static void check_all(void)
{
	for (int i = 0; i < 2; i++) {
		int line = gossip_debug_check(E[i].g);
		if (line)
			fail("gossip_debug_check", line);
	}
}

static void script_del(int k)
{
	if (script_up[k]) {
		gossip_peer_del(E[0].g, k);
		script_up[k] = false;
	}
}

static void script_frame(int k, uint8_t type, const uint8_t *p, size_t n)
{
	enum drop_reason why;
	if (!script_up[k])
		return;
	if (gossip_on_msg(E[0].g, k, type, p, n, now_ms, &why) != E_OK)
		script_del(k);
}

/* A valid packet (txpowbits 0) with timestamp ts, unique by seq_pkt. */
static size_t make_pkt(uint8_t *buf, size_t cap, uint32_t ts, size_t plen)
{
	uint8_t payload[256];
	struct packet_fields f = {0};
	if (plen < 8)
		plen = 8;
	if (plen > sizeof(payload))
		plen = sizeof(payload);
	memset(payload, 0x61, plen);
	seq_pkt++;
	memcpy(payload, &seq_pkt, 4);
	f.kind = PACKET_KIND_DATA;
	f.timestamp = ts;
	f.tag_a = (const uint8_t *)"fz";
	f.len_a = 2;
	f.payload = payload;
	f.payload_len = plen;
	f.relay = 1;
	return packet_encode(buf, cap, &f);
}

static void create_at(int i, struct in *in)
{
	uint8_t buf[512];
	struct pow_eval pe;
	struct stored *sp;
	uint32_t ts = wall(&E[i]) - (u8(in) % 200);
	size_t len = make_pkt(buf, sizeof(buf), ts, u8(in));
	if (!len)
		return;
	txpow_eval(buf, len, 0, &pe);
	if (pe.priority < 0)
		return;
	if (store_put(E[i].s, buf, len, &pe, wall(&E[i]), &sp) == E_OK)
		gossip_on_new(E[i].g, sp, -1, now_ms);
}

/* An id: one of a store's (by walking a second), one of 16 phantom ids
 * (never delivered; several peers announce the same ones, so fetches move
 * between alternates), or random. */
struct pick {
	uint64_t sid;
	uint32_t skip;
};

static bool pick_cb(struct stored *sp, void *arg)
{
	struct pick *pk = arg;
	pk->sid = wire_sid(sp->hash);
	return pk->skip-- > 0;
}

static uint64_t pick_id(struct in *in)
{
	uint8_t how = u8(in);
	if (how < 128) {
		struct pick pk = {u64(in) | 1, how % 8};
		uint32_t t = wall(&E[how & 1]) - (u8(in) % 200);
		store_foreach_time(E[how & 1].s, t, t + 3, pick_cb, &pk);
		return pk.sid;
	}
	if (how < 224)      /* a few phantom ids, shared by the peers */
		return 0xF00D000000000000ull + (how & 15);
	return u64(in);
}

static void built_frame(int k, struct in *in)
{
	struct wbuf wb;
	uint8_t kind = u8(in) % 10;
	wb_init(&wb);
	switch (kind) {
	case 0: case 1: case 2: {    /* INV, GETDATA, NOTFOUND */
		static const uint8_t types[] = {WIRE_INV, WIRE_GETDATA,
		                                WIRE_NOTFOUND};
		uint32_t c = u8(in) % 64 + 1;
		if (u8(in) == 0xff)
			c = 4096;    /* a flood */
		wb_u32(&wb, c);
		uint64_t base = pick_id(in);
		for (uint32_t i = 0; i < c; i++)
			wb_u64(&wb, i < 64 ? pick_id(in) : base + i);
		script_frame(k, types[kind], wb.p, wb.len);
		break;
	}
	case 3: {                    /* GETBITS */
		uint32_t nb = u8(in) % 32 + 1;
		wb_u32(&wb, inv_out_seen[k] - 1 - (u8(in) % 4));
		for (uint32_t i = 0; i < nb; i++)
			wb_u8(&wb, u8(in));
		script_frame(k, WIRE_GETBITS, wb.p, wb.len);
		break;
	}
	case 4: {                    /* SUMMARY */
		uint32_t t1 = wall(&E[0]) - 2 - u8(in) % 8;
		uint32_t t0 = t1 - (u16(in) % PURGE);
		uint32_t nb = wire_minutes(t0, t1);
		wb_u32(&wb, t0);
		wb_u32(&wb, t1);
		wb_u16(&wb, (uint16_t)nb);
		for (uint32_t i = 0; i < nb; i++) {
			wb_u32(&wb, u8(in) % 4);
			wb_u64(&wb, u8(in) < 200 ? 0 : u64(in));
		}
		script_frame(k, WIRE_SUMMARY, wb.p, wb.len);
		break;
	}
	case 5: {                    /* IDLIST */
		uint32_t n = u8(in) % 8;
		uint32_t t = wall(&E[0]) - 2 - (u16(in) % PURGE);
		wb_u32(&wb, n);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t c = u8(in) % 4;
			wb_u32(&wb, t + i);
			wb_u32(&wb, c);
			for (uint32_t j = 0; j < c; j++)
				wb_u64(&wb, pick_id(in));
		}
		script_frame(k, WIRE_IDLIST, wb.p, wb.len);
		break;
	}
	case 6: {                    /* SUMMARY_SEC (unsolicited or not) */
		uint32_t n = u8(in) % 4;
		wb_u32(&wb, wall(&E[0]) - 600 + 5);
		wb_u32(&wb, wall(&E[0]) - 2);
		wb_u32(&wb, n);
		for (uint32_t i = 0; i < n; i++) {
			wb_u32(&wb, wall(&E[0]) - 2 - u8(in));
			wb_u32(&wb, u8(in));
			wb_u64(&wb, u64(in));
		}
		script_frame(k, WIRE_SUMMARY_SEC, wb.p, wb.len);
		break;
	}
	case 7: {                    /* TPACKETS: one packet with a tag */
		uint8_t buf[512];
		static const uint32_t keys[4] = {100, 101, 7, 0};
		uint8_t c = u8(in);
		uint32_t tag = keys[c & 3] | (c & 4 ? WIRE_TAG_EAGER : 0);
		size_t len = make_pkt(buf, sizeof(buf), wall(&E[0]) - u8(in) % 8,
		                      u8(in));
		if (!len)
			break;
		wb_begin(&wb, WIRE_TPACKETS);
		wire_tpackets_add(&wb, tag, buf, len, buf[0]);
		wb_end(&wb);
		script_frame(k, WIRE_TPACKETS, wb.p + WIRE_HDR_LEN,
		             wb.len - WIRE_HDR_LEN);
		break;
	}
	case 8: {                    /* PRUNE / GRAFT */
		uint32_t keys[8], n = u8(in) % 8 + 1;
		uint8_t type = u8(in) & 1 ? WIRE_GRAFT : WIRE_PRUNE;
		for (uint32_t i = 0; i < n; i++) {
			uint8_t c = u8(in);
			keys[i] = c < 100 ? 100 : c < 200 ? 101 : 1u + c;
		}
		wire_keys_encode(&wb, type, keys, n);
		script_frame(k, type, wb.p + WIRE_HDR_LEN,
		             wb.len - WIRE_HDR_LEN);
		break;
	}
	default: {                   /* PACKET: fresh, future or expired */
		uint8_t buf[512];
		int32_t dt = (int32_t)(u8(in) % 128) - 64;
		if (u8(in) == 0)
			dt = -(int32_t)PURGE - 5;
		size_t len = make_pkt(buf, sizeof(buf),
		                      (uint32_t)((int64_t)wall(&E[0]) + dt),
		                      u8(in));
		if (len)
			script_frame(k, WIRE_PACKET, buf, len);
		break;
	}
	}
	wb_fini(&wb);
}

/* Deliver what each engine wrote to the other. */
static void deliver(void)
{
	for (int round = 0; round < 8; round++) {
		bool any = false;
		for (int i = 0; i < 2; i++) {
			struct wbuf q = E[i].to_peer;
			if (!q.len)
				continue;
			any = true;
			wb_init(&E[i].to_peer);
			for (size_t off = 0; off < q.len;) {
				uint8_t type;
				uint32_t n;
				enum drop_reason why;
				if (wire_hdr_decode(q.p + off, q.len - off, &type,
				                    &n) != E_OK)
					fail("link framing", (int)off);
				if (gossip_on_msg(E[1 - i].g, LINK_ID, type,
				                  q.p + off + WIRE_HDR_LEN, n, now_ms,
				                  &why) != E_OK)
					fail("engine refused an engine's frame", type);
				off += WIRE_HDR_LEN + n;
			}
			wb_fini(&q);
		}
		if (!any)
			break;
	}
}

static void tick(uint32_t ms)
{
	now_ms += ms;
	for (int i = 0; i < 2; i++)
		gossip_tick(E[i].g, now_ms);
	deliver();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct store_config sc = {.purgetime = PURGE, .maxmem = 16u << 20};
	struct gossip_cfg gc = {.purgetime = PURGE, .full = true,
	                        .queue_cap = 1u << 20};
	struct gossip_ops ops = {
		.send = f_send, .send_packet = f_send_packet, .room = f_room,
		.ingest = f_ingest, .wall_now = f_wall,
		.misbehave = f_misbehave,
	};

	now_ms = (uint64_t)T0 * 1000;
	seq_pkt = 0;
	script_room = SIZE_MAX;
	memset(script_up, 0, sizeof(script_up));
	memset(inv_out_seen, 0, sizeof(inv_out_seen));
	for (int i = 0; i < 2; i++) {
		E[i].idx = i;
		E[i].skew = 0;
		E[i].s = store_new(&sc);
		ops.ctx = &E[i];
		gc.tree_key = 100u + (uint32_t)i;
		E[i].g = gossip_new(E[i].s, &gc, &ops);
		gossip_set_send_packets(E[i].g, f_send_packets);
		gossip_set_send_tpackets(E[i].g, f_send_tpackets);
		wb_init(&E[i].to_peer);
	}
	E[1].skew = (int)(u8(&in) % 71) - 35;
	gossip_peer_add(E[0].g, LINK_ID, GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
	                GOSSIP_PEER_V3, now_ms);
	gossip_peer_add(E[1].g, LINK_ID, GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
	                GOSSIP_PEER_V3, now_ms);
	for (int k = 1; k < NSCRIPT; k++) {
		gossip_peer_add(E[0].g, k, GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
		                GOSSIP_PEER_V3, now_ms);
		script_up[k] = true;
	}
	deliver();

	for (int op = 0; op < MAXOPS && in.n > 0; op++) {
		uint8_t c = u8(&in);
		int k = 1 + (c >> 4) % (NSCRIPT - 1);
		switch (c & 7) {
		case 0: {            /* raw frame */
			uint8_t type = u8(&in);
			size_t n = u16(&in) % 2048;
			if (n > in.n)
				n = in.n;
			script_frame(k, type, in.p, n);
			in.p += n;
			in.n -= n;
			break;
		}
		case 1:
		case 2:
			built_frame(k, &in);
			break;
		case 3:
			create_at(c >> 7, &in);
			break;
		case 4:
			tick(10u * (1u + u8(&in)));
			break;
		case 5:
			if (script_up[k]) {
				script_del(k);
			} else {
				unsigned fl = (c & 8 ? GOSSIP_PEER_FULL : 0) |
				              (c & 0x80 ? 0 : GOSSIP_PEER_V2) |
				              (c & 0x40 ? GOSSIP_PEER_V3 : 0);
				if (gossip_peer_add(E[0].g, k, fl, now_ms) == E_OK)
					script_up[k] = true;
				inv_out_seen[k] = 0;
			}
			break;
		case 6:
			script_room = u8(&in) < 128 ? 0 : SIZE_MAX;
			if (script_room)
				for (int j = 1; j < NSCRIPT; j++)
					if (script_up[j])
						gossip_drain(E[0].g, j);
			break;
		default:
			tick(2000);  /* fetch timeouts, rounds */
			break;
		}
		deliver();
		if (op % 8 == 7)
			check_all();
	}
	check_all();

	/* Without the scripted peers and with the clocks equal, A and B
	 * converge: what one holds reaches the other. */
	for (int k = 1; k < NSCRIPT; k++)
		script_del(k);
	E[1].skew = 0;
	for (int s = 0; s < 60; s++)
		tick(2000);
	check_all();
	{
		uint8_t fa[32], fb[32];
		store_fingerprint(E[0].s, fa);
		store_fingerprint(E[1].s, fb);
		if (memcmp(fa, fb, 32))
			fail("A and B did not converge", 0);
	}
	for (int i = 0; i < 2; i++) {
		gossip_free(E[i].g);
		store_free(E[i].s);
		wb_fini(&E[i].to_peer);
	}
	return 0;
}
