/* test_gossip_tree.c - eager push along trees between v3 peers
 * (gossip_tree.c, docs/PROTOCOL.md 5.2): three in-memory nodes in a
 * triangle exchange frames through byte queues with a clock variable.
 * Checks that duplicates prune the tree to one copy per packet, that a
 * node the tree no longer reaches is repaired by a fetch and GRAFT, that
 * announcements from tree peers wait for the tree, that v2 peers never see
 * a v3 frame, and hostile PRUNE/GRAFT/TPACKETS input.  Catch-up with
 * scripted peers (SCRIPTED, SCRIPTED2: frames written by the test): each
 * packet sent once while an IDLIST crosses what is in flight, an owner's
 * seconds kept while it delivers and given up when it does not, a
 * joiner's first peer keeping the blocks it was asked for, no IDLIST for
 * seconds the responder holds nothing of.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/check.h"
#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "proto/gossip.h"
#include "proto/wire.h"

#define NNODES 3
#define SCRIPTED 7                   /* a peer id whose frames we write */
#define SCRIPTED2 8                  /* ... and a second one */
#define T0 1767225300u

struct tnode {
	int idx;
	struct store *store;
	struct gossip *g;
	uint64_t dups;                   /* copies received of held packets */
	uint64_t sent_type[256];         /* frames sent, by type */
	unsigned misbehave;
	struct wbuf sink;                /* what was sent to SCRIPTED */
	struct wbuf sink2;               /* ... to SCRIPTED2 */
};

static struct tnode nodes[NNODES];
static struct wbuf links[NNODES][NNODES];
static bool up[NNODES][NNODES];
static uint32_t version[NNODES];
static uint64_t now_ms;

static void count_frames(struct tnode *me, int peer, const uint8_t *buf,
                         size_t len)
{
	for (size_t off = 0; off < len;) {
		uint8_t type;
		uint32_t n;
		assert_int_equal(wire_hdr_decode(buf + off, len - off, &type,
		                                 &n), E_OK);
		/* no v3 frame to an older peer */
		if (peer < NNODES && version[peer] < WIRE_V3)
			assert_true(type < 0x10);
		me->sent_type[type]++;
		off += WIRE_HDR_LEN + n;
		assert_true(off <= len);
	}
}

static struct wbuf *out_to(struct tnode *me, int peer)
{
	if (peer == SCRIPTED)
		return &me->sink;
	if (peer == SCRIPTED2)
		return &me->sink2;
	assert_true(peer < NNODES && up[me->idx][peer]);
	return &links[me->idx][peer];
}

static void t_send(void *ctx, int peer, const uint8_t *buf, size_t len)
{
	struct tnode *me = ctx;
	count_frames(me, peer, buf, len);
	wb_bytes(out_to(me, peer), buf, len);
}

static void t_send_packet(void *ctx, int peer, const struct stored *sp,
                          uint8_t relay)
{
	struct tnode *me = ctx;
	me->sent_type[WIRE_PACKET]++;
	wire_packet_encode(out_to(me, peer), stored_bytes(sp), sp->len, relay);
}

static void t_send_packets(void *ctx, int peer,
                           const struct stored *const *sps,
                           const uint8_t *relays, size_t n)
{
	struct tnode *me = ctx;
	struct wbuf *b = out_to(me, peer);
	me->sent_type[WIRE_PACKETS]++;
	wb_begin(b, WIRE_PACKETS);
	for (size_t i = 0; i < n; i++)
		wire_packets_add(b, stored_bytes(sps[i]), sps[i]->len,
		                 relays[i]);
	wb_end(b);
}

static void t_send_tpackets(void *ctx, int peer,
                            const struct stored *const *sps,
                            const uint8_t *relays, const uint32_t *tags,
                            size_t n)
{
	struct tnode *me = ctx;
	struct wbuf *b = out_to(me, peer);
	assert_true(peer == SCRIPTED || version[peer] >= WIRE_V3);
	me->sent_type[WIRE_TPACKETS]++;
	wb_begin(b, WIRE_TPACKETS);
	for (size_t i = 0; i < n; i++)
		wire_tpackets_add(b, tags[i], stored_bytes(sps[i]),
		                  sps[i]->len, relays[i]);
	wb_end(b);
}

/* net.c's output buffer: room_cap bytes less what waits on the link */
static size_t room_cap = SIZE_MAX;

static size_t t_room(void *ctx, int peer)
{
	const struct tnode *me = ctx;
	size_t q = peer == SCRIPTED ? me->sink.len :
	           peer == SCRIPTED2 ? me->sink2.len : links[me->idx][peer].len;
	return q >= room_cap ? 0 : room_cap - q;
}

static uint32_t t_wall(void *ctx)
{
	return (uint32_t)(now_ms / 1000);
}

static int t_ingest(void *ctx, int peer, const uint8_t *pkt, size_t len,
                    struct stored **out, enum drop_reason *reason)
{
	struct tnode *me = ctx;
	struct packet_view pv;
	struct pow_eval pe;
	*reason = packet_check(pkt, len, t_wall(ctx), 0, 3600, &pv, &pe);
	if (*reason != DROP_NONE)
		return E_PROTO;
	int rc = store_put(me->store, pkt, len, &pe, t_wall(ctx), out);
	if (rc == E_DUP)
		me->dups++;
	return rc;
}

static void t_misbehave(void *ctx, int peer, unsigned score, const char *why)
{
	((struct tnode *)ctx)->misbehave += score;
}

static void setup(void)
{
	struct store_config sc = {.purgetime = 3600,
	                          .maxmem = STORE_DEFAULT_MAXMEM};
	struct gossip_cfg gc = {.purgetime = 3600, .full = true};
	struct gossip_ops ops = {
		.send = t_send, .send_packet = t_send_packet, .room = t_room,
		.ingest = t_ingest, .wall_now = t_wall,
		.misbehave = t_misbehave,
	};
	now_ms = (uint64_t)T0 * 1000;
	memset(up, 0, sizeof(up));
	for (int i = 0; i < NNODES; i++) {
		memset(&nodes[i], 0, sizeof(nodes[i]));
		nodes[i].idx = i;
		nodes[i].store = store_new(&sc);
		ops.ctx = &nodes[i];
		gc.tree_key = 100u + (uint32_t)i;
		nodes[i].g = gossip_new(nodes[i].store, &gc, &ops);
		gossip_set_send_packets(nodes[i].g, t_send_packets);
		gossip_set_send_tpackets(nodes[i].g, t_send_tpackets);
		wb_init(&nodes[i].sink);
		wb_init(&nodes[i].sink2);
		version[i] = WIRE_V3;
		for (int j = 0; j < NNODES; j++)
			wb_init(&links[i][j]);
	}
}

static void teardown(void)
{
	room_cap = SIZE_MAX;
	for (int i = 0; i < NNODES; i++) {
		assert_int_equal(gossip_debug_check(nodes[i].g), 0);
		assert_int_equal(nodes[i].misbehave, 0);
	}
	for (int i = 0; i < NNODES; i++) {
		gossip_free(nodes[i].g);
		store_free(nodes[i].store);
		wb_fini(&nodes[i].sink);
		wb_fini(&nodes[i].sink2);
		for (int j = 0; j < NNODES; j++)
			wb_fini(&links[i][j]);
	}
}

static unsigned flags_of(int peer)
{
	return GOSSIP_PEER_FULL | GOSSIP_PEER_V2 |
	       (version[peer] >= WIRE_V3 ? GOSSIP_PEER_V3 : 0);
}

static void link_nodes(int a, int b)
{
	up[a][b] = up[b][a] = true;
	assert_int_equal(gossip_peer_add(nodes[a].g, b, flags_of(b), now_ms),
	                 E_OK);
	assert_int_equal(gossip_peer_add(nodes[b].g, a, flags_of(a), now_ms),
	                 E_OK);
}

static void unlink_nodes(int a, int b)
{
	gossip_peer_del(nodes[a].g, b);
	gossip_peer_del(nodes[b].g, a);
	up[a][b] = up[b][a] = false;
	wb_reset(&links[a][b]);
	wb_reset(&links[b][a]);
}

/* Deliver every queued frame, link by link, until nothing is queued; the
 * clock does not move.  Returns the frames delivered. */
static size_t settle(void)
{
	size_t frames = 0, k;
	do {
		k = 0;
		for (int i = 0; i < NNODES; i++) {
			for (int j = 0; j < NNODES; j++) {
				if (!up[i][j] || links[i][j].len == 0)
					continue;
				struct wbuf in = links[i][j];
				wb_init(&links[i][j]);
				for (size_t off = 0; off < in.len;) {
					uint8_t type;
					uint32_t len;
					enum drop_reason why;
					assert_int_equal(wire_hdr_decode(in.p + off,
					                 in.len - off, &type, &len),
					                 E_OK);
					assert_int_equal(gossip_on_msg(nodes[j].g, i,
					                 type, in.p + off + WIRE_HDR_LEN,
					                 len, now_ms, &why), E_OK);
					off += WIRE_HDR_LEN + len;
					k++;
				}
				wb_fini(&in);
			}
		}
		frames += k;
	} while (k > 0);
	return frames;
}

/* ms of time in 20 ms ticks, everything delivered at each. */
static void run_ms(unsigned ms)
{
	for (unsigned t = 0; t < ms; t += 20) {
		settle();
		now_ms += 20;
		for (int i = 0; i < NNODES; i++)
			gossip_tick(nodes[i].g, now_ms);
	}
	settle();
}

static uint32_t seq_payload;

static struct stored *make_packet_at(int i, uint32_t ts);

static struct stored *make_packet(int i)
{
	return make_packet_at(i, (uint32_t)(now_ms / 1000));
}

static struct stored *make_packet_at(int i, uint32_t ts)
{
	uint8_t payload[64], buf[256];
	struct packet_fields f = {0};
	struct packet_view pv;
	struct pow_eval pe;
	struct stored *sp = NULL;
	uint32_t now = (uint32_t)(now_ms / 1000);

	memset(payload, 0xcd, sizeof(payload));
	put_le32(payload, ++seq_payload);
	f.kind = PACKET_KIND_DATA;
	f.timestamp = ts;
	f.tag_a = (const uint8_t *)"tree";
	f.len_a = 4;
	f.payload = payload;
	f.payload_len = sizeof(payload);
	size_t len = packet_encode(buf, sizeof(buf), &f);
	assert_true(len > 0);
	assert_int_equal(packet_check(buf, len, now, 0, 3600, &pv, &pe),
	                 DROP_NONE);
	assert_int_equal(store_put(nodes[i].store, buf, len, &pe, now, &sp),
	                 E_OK);
	gossip_on_new(nodes[i].g, sp, -1, now_ms);
	return sp;
}

static bool holds(int i, const struct stored *sp)
{
	return store_get_hash(nodes[i].store, sp->hash) != NULL;
}

static uint64_t dups_all(void)
{
	uint64_t d = 0;
	for (int i = 0; i < NNODES; i++)
		d += nodes[i].dups;
	return d;
}

static void triangle(void)
{
	link_nodes(0, 1);
	link_nodes(1, 2);
	link_nodes(0, 2);
	run_ms(100);
}

/* A triangle: the first packet of node 0 floods (duplicates at 1 and 2,
 * each prunes the other), every later one reaches both in one hop, pushed
 * (no announcement, no request, no clock), one copy each. */
static void test_prune_to_tree(void **state)
{
	setup();
	triangle();
	struct stored *sp = make_packet(0);
	settle();
	assert_true(holds(1, sp) && holds(2, sp));
	assert_true(dups_all() > 0);
	/* the PRUNEs a first packet draws wait TREE_PRUNE_DELAY_MS for
	 * others to the same peer */
	assert_int_equal(nodes[1].sent_type[WIRE_PRUNE] +
	                 nodes[2].sent_type[WIRE_PRUNE], 0);
	run_ms(200);
	assert_true(nodes[1].sent_type[WIRE_PRUNE] +
	            nodes[2].sent_type[WIRE_PRUNE] > 0);
	uint64_t d0 = dups_all();
	uint64_t req = nodes[1].sent_type[WIRE_GETBITS] +
	               nodes[2].sent_type[WIRE_GETBITS] +
	               nodes[1].sent_type[WIRE_GETDATA] +
	               nodes[2].sent_type[WIRE_GETDATA];
	for (int k = 0; k < 20; k++) {
		sp = make_packet(0);
		settle();                /* no time passes: pushed, not pulled */
		assert_true(holds(1, sp) && holds(2, sp));
	}
	run_ms(500);
	assert_int_equal(dups_all(), d0);
	assert_int_equal(nodes[1].sent_type[WIRE_GETBITS] +
	                 nodes[2].sent_type[WIRE_GETBITS] +
	                 nodes[1].sent_type[WIRE_GETDATA] +
	                 nodes[2].sent_type[WIRE_GETDATA], req);
	const struct gossip_stats *st = gossip_get_stats(nodes[0].g, now_ms);
	assert_true(st->tree_pushed >= 40);
	teardown();
}

/* Three nodes linked in a triangle, node 0's tree settled by two of its
 * packets (one to draw the PRUNEs, one along the tree). */
static void steady_triangle(void)
{
	setup();
	triangle();
	make_packet(0);
	run_ms(200);
	make_packet(0);
	run_ms(200);
}

/* The tree stops reaching node 2 (its link to the creator goes); the next
 * packet comes by announcement and fetch, which grafts 1 -> 2: the ones
 * after are pushed again. */
static void test_graft_repair(void **state)
{
	steady_triangle();           /* tree: 0 -> 1, 0 -> 2 */
	unlink_nodes(0, 2);
	struct stored *sp = make_packet(0);
	settle();
	assert_true(holds(1, sp));
	assert_false(holds(2, sp)); /* 1 had pruned 2: announced only */
	run_ms(400);                 /* INV delay, tree wait, fetch */
	assert_true(holds(2, sp));
	assert_true(gossip_get_stats(nodes[2].g, now_ms)->tree_grafted >= 1);
	for (int k = 0; k < 5; k++) {
		sp = make_packet(0);
		settle();
		assert_true(holds(2, sp)); /* pushed by 1 at once */
	}
	teardown();
}

/* The same break, but the node sees its parent go (the connection
 * closes): it grafts the peer it had pruned for that tree at once, and the
 * next packet is pushed to it through 1 with no time passing (no
 * announcement, no fetch). */
static void test_parent_gone_grafts(void **state)
{
	steady_triangle();           /* tree: 0 -> 1, 0 -> 2 */
	uint64_t g0 = gossip_get_stats(nodes[2].g, now_ms)->tree_grafted;
	unlink_nodes(0, 2);
	assert_int_equal(gossip_get_stats(nodes[2].g, now_ms)->tree_grafted,
	                 g0 + 1);
	gossip_tick(nodes[2].g, now_ms);   /* the daemon's next tick: sent */
	settle();
	struct stored *sp = make_packet(0);
	settle();
	assert_true(holds(2, sp));
	/* node 1 lost only a child: nothing to graft */
	uint64_t g1 = gossip_get_stats(nodes[1].g, now_ms)->tree_grafted;
	unlink_nodes(1, 2);
	assert_int_equal(gossip_get_stats(nodes[1].g, now_ms)->tree_grafted,
	                 g1);
	teardown();
}

/* A settled tree's lazy announcements: one packet in
 * TREE_SETTLED_ANN_EVERY (3) at each node, not every packet (1 and 2 are
 * each other's lazy peer for node 0's tree). */
static void test_settled_tree_announces_less(void **state)
{
	setup();
	triangle();
	for (int k = 0; k < 5; k++) {
		make_packet(0);
		run_ms(200);
	}
	uint64_t inv0 = nodes[1].sent_type[WIRE_INV] +
	                nodes[2].sent_type[WIRE_INV];
	for (int k = 0; k < 30; k++) {
		struct stored *sp = make_packet(0);
		run_ms(100);
		assert_true(holds(1, sp) && holds(2, sp));
	}
	uint64_t inv = nodes[1].sent_type[WIRE_INV] +
	               nodes[2].sent_type[WIRE_INV] - inv0;
	assert_true(inv >= 15);      /* 10 a node */
	assert_true(inv <= 25);      /* not 30 */
	teardown();
}

/* An announcement from a tree peer is not fetched at once: the tree's
 * copy gets TREE_FETCH_WAIT_MS (100 ms) first; if it does not come, the
 * packet is fetched. */
static void test_announce_waits(void **state)
{
	setup();
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED,
	                 GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3,
	                 now_ms), E_OK);
	wb_reset(&nodes[0].sink);
	uint64_t sid = 0x1122334455667788ull;
	struct wbuf f;
	enum drop_reason why;
	wb_init(&f);
	wire_ids_encode(&f, WIRE_INV, &sid, 1);
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_INV,
	                 f.p + WIRE_HDR_LEN, f.len - WIRE_HDR_LEN, now_ms,
	                 &why), E_OK);
	now_ms += 60;
	gossip_tick(nodes[0].g, now_ms);
	assert_int_equal(nodes[0].sent_type[WIRE_GETBITS] +
	                 nodes[0].sent_type[WIRE_GETDATA], 0);
	now_ms += 60;
	gossip_tick(nodes[0].g, now_ms);
	assert_int_equal(nodes[0].sent_type[WIRE_GETDATA], 1);
	wb_fini(&f);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	teardown();
}

/* Node 2 speaks version 2: it never gets a v3 frame (t_send asserts),
 * gets every packet, and the v3 pair 0-1 still prunes to a tree. */
static void test_mixed_v2(void **state)
{
	setup();
	version[2] = WIRE_V2;
	triangle();
	for (int k = 0; k < 10; k++) {
		make_packet(k % 3);
		run_ms(100);
	}
	run_ms(2000);
	struct store_stats a, b, c;
	store_get_stats(nodes[0].store, &a);
	store_get_stats(nodes[1].store, &b);
	store_get_stats(nodes[2].store, &c);
	assert_int_equal(a.count, 10);
	assert_int_equal(b.count, 10);
	assert_int_equal(c.count, 10);
	assert_true(nodes[0].sent_type[WIRE_TPACKETS] > 0);
	teardown();
}

/* Hostile input: malformed PRUNE/GRAFT/TPACKETS are protocol errors;
 * keys we never saw change nothing; a flood of keys is rate limited. */
static void test_hostile_tree_frames(void **state)
{
	setup();
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED,
	                 GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3,
	                 now_ms), E_OK);
	enum drop_reason why;
	uint8_t bad[8] = {0};
	/* count 0; count 1 with key 0; key with bit 31; short */
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_PRUNE, bad,
	                 2, now_ms, &why), E_PROTO);
	bad[0] = 1;
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_GRAFT, bad,
	                 6, now_ms, &why), E_PROTO);
	put_le32(bad + 2, 0x80000001u);
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_PRUNE, bad,
	                 6, now_ms, &why), E_PROTO);
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_PRUNE, bad,
	                 5, now_ms, &why), E_PROTO);
	/* TPACKETS: entry shorter than its length; a zero length */
	uint8_t tp[16] = {0};
	put_le32(tp + 4, 100);
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_TPACKETS,
	                 tp, sizeof(tp), now_ms, &why), E_PROTO);
	put_le32(tp + 4, 0);
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_TPACKETS,
	                 tp, 8, now_ms, &why), E_PROTO);
	size_t mem0 = gossip_mem(nodes[0].g);
	/* 4,096 keys never seen, 40 times: ignored, then rate limited */
	struct wbuf f;
	uint32_t keys[WIRE_MAX_KEYS];
	wb_init(&f);
	for (uint32_t k = 0; k < WIRE_MAX_KEYS; k++)
		keys[k] = 1000 + k;
	wire_keys_encode(&f, WIRE_GRAFT, keys, WIRE_MAX_KEYS);
	for (int r = 0; r < 40; r++)
		assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_GRAFT,
		                 f.p + WIRE_HDR_LEN, f.len - WIRE_HDR_LEN,
		                 now_ms, &why), E_OK);
	assert_int_equal(gossip_mem(nodes[0].g), mem0);
	assert_true(nodes[0].misbehave > 0);
	nodes[0].misbehave = 0;
	wb_fini(&f);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	teardown();
}

/* A late joiner (node 2) with two full peers that hold the same 400
 * packets over 80 seconds gets each once: its rounds list to each peer only
 * the seconds it owns (blocks of 10 s in turn) while the other is busy
 * sending its own. */
static void test_catchup_split(void **state)
{
	setup();
	link_nodes(0, 1);
	run_ms(100);
	for (int k = 0; k < 400; k++)
		make_packet_at(0, (uint32_t)(now_ms / 1000) - 100 +
		                  (uint32_t)(k / 5));
	run_ms(3000);
	struct store_stats a, b, c;
	store_get_stats(nodes[1].store, &b);
	assert_int_equal(b.count, 400);
	link_nodes(0, 2);
	link_nodes(1, 2);
	run_ms(5000);
	store_get_stats(nodes[0].store, &a);
	store_get_stats(nodes[2].store, &c);
	assert_int_equal(c.count, 400);
	assert_true(gossip_synced(nodes[2].g));
	/* each once (a few may cross while the first rounds settle) */
	assert_true(nodes[2].dups <= 20);
	teardown();
}

/* A packet that enters in a PACKET frame (from a client that injects
 * packets, or a v1/v2 peer) is pushed on along the entry node's tree: it
 * crosses the line 0 - 1 - 2 with no clock (before: announced only, each
 * hop waiting for the INV and the tree). */
static void test_untagged_entry(void **state)
{
	setup();
	link_nodes(0, 1);
	link_nodes(1, 2);
	run_ms(100);
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED,
	                 GOSSIP_PEER_V2 | GOSSIP_PEER_V3, now_ms), E_OK);
	uint8_t payload[64], buf[256];
	struct packet_fields pf = {0};
	memset(payload, 0x5a, sizeof(payload));
	pf.kind = PACKET_KIND_DATA;
	pf.timestamp = (uint32_t)(now_ms / 1000);
	pf.tag_a = (const uint8_t *)"in";
	pf.len_a = 2;
	pf.payload = payload;
	pf.payload_len = sizeof(payload);
	size_t len = packet_encode(buf, sizeof(buf), &pf);
	assert_true(len > 0);
	enum drop_reason why;
	assert_int_equal(gossip_on_msg(nodes[0].g, SCRIPTED, WIRE_PACKET, buf,
	                 len, now_ms, &why), E_OK);
	settle();
	struct store_stats a, c;
	store_get_stats(nodes[0].store, &a);
	store_get_stats(nodes[2].store, &c);
	assert_int_equal(a.count, 1);
	assert_int_equal(c.count, 1);       /* at node 2 with no clock */
	gossip_peer_del(nodes[0].g, SCRIPTED);
	teardown();
}

/* An INV from `peer` to `node` naming ids. */
static void inv_from(int node, int peer, const uint64_t *ids, uint32_t n)
{
	struct wbuf f;
	enum drop_reason why;
	wb_init(&f);
	wire_ids_encode(&f, WIRE_INV, ids, n);
	assert_int_equal(gossip_on_msg(nodes[node].g, peer, WIRE_INV,
	                 f.p + WIRE_HDR_LEN, f.len - WIRE_HDR_LEN, now_ms,
	                 &why), E_OK);
	wb_fini(&f);
}

/* Nodes 0 - 1 linked, node 0's tree past its first flood, then node 0's
 * output to node 1 backed up (room() 0). */
static void pair_backed_up(void)
{
	setup();
	link_nodes(0, 1);
	run_ms(100);
	for (int k = 0; k < 4; k++)
		make_packet(0);
	run_ms(100);
	room_cap = 0;
}

/* A drain fills the peer's output buffer and stops: what it writes is at
 * most room() plus one packet, never a whole 64 KiB batch past it (on a
 * slow link that batch, spam, held the next honest packets back for
 * seconds). */
static void test_drain_within_room(void **state)
{
	pair_backed_up();
	for (int k = 0; k < 100; k++)
		make_packet(0);
	assert_true(gossip_queued_bytes(nodes[0].g, 1) > 8000);
	assert_int_equal(links[0][1].len, 0);
	room_cap = 2000;
	gossip_drain(nodes[0].g, 1);
	size_t one = links[0][1].len;
	assert_true(one > 0);
	assert_true(one <= 2000 + 300);     /* room + one packet's entry */
	/* the rest leaves as the buffer empties, nothing lost */
	for (int k = 0; k < 200 && gossip_queued_bytes(nodes[0].g, 1); k++) {
		settle();
		gossip_drain(nodes[0].g, 1);
		assert_true(links[0][1].len <= 2000 + 300);
	}
	settle();
	struct store_stats c;
	store_get_stats(nodes[1].store, &c);
	assert_int_equal(c.count, 104);
	teardown();
}

/* A tree's first TREE_FRESH (3) packets flood; onto a link whose output
 * is backed up they go as announcements instead (a copy would be a
 * duplicate the link cannot afford).  A peer announced the first packet
 * so stays lazy while its link is backed up (it had no copy to PRUNE:
 * later packets would be pushed to it whatever the tree), and is pushed
 * to again once the link is not; nothing is lost. */
static void test_fresh_tree_backed(void **state)
{
	setup();
	triangle();
	struct stored *a = make_packet(0);  /* steady the first tree */
	run_ms(300);
	assert_true(holds(1, a) && holds(2, a));
	room_cap = 0;                       /* every output backed up */
	/* a second creator: its tree is new */
	struct stored *p1 = make_packet(1);
	struct stored *p2 = make_packet(1);
	struct stored *p3 = make_packet(1);
	/* at most the first was pushed (before the link looked backed up:
	 * room() had not been seen larger), the others announced */
	size_t q0 = gossip_queued_bytes(nodes[1].g, 0);
	size_t q2 = gossip_queued_bytes(nodes[1].g, 2);
	assert_true(q0 <= p1->len && q2 <= p1->len);
	/* p1 was announced to both (nothing queued): they stay lazy for
	 * the tree while the links are backed up, past TREE_FRESH too */
	assert_int_equal(q0, 0);
	assert_int_equal(q2, 0);
	struct stored *p4 = make_packet(1);
	assert_int_equal(gossip_queued_bytes(nodes[1].g, 0), 0);
	assert_int_equal(gossip_queued_bytes(nodes[1].g, 2), 0);
	/* the links take packets again: the next one is pushed to both (in
	 * the frames settle() delivers without the clock moving: no fetch,
	 * which waits for the tree, could have brought it) */
	room_cap = SIZE_MAX;
	struct stored *p5 = make_packet(1);
	settle();
	assert_true(holds(0, p5) && holds(2, p5));
	for (int i = 0; i < NNODES; i++)
		for (int j = 0; j < NNODES; j++)
			if (up[i][j])
				gossip_drain(nodes[i].g, j);
	run_ms(1000);
	const struct stored *all[] = {p1, p2, p3, p4, p5};
	for (int k = 0; k < 5; k++)
		assert_true(holds(0, all[k]) && holds(2, all[k]));
	teardown();
}

/* A peer left lazy for a tree because its link was backed up at the
 * tree's first packet, which then fetches that packet from us, GRAFTs:
 * the tree's later packets are pushed to it even on a link still backed
 * up (the tree needs that link). */
static void test_backed_lazy_grafted(void **state)
{
	setup();
	link_nodes(0, 1);
	run_ms(100);
	struct stored *a = make_packet(0);  /* room() seen on the link */
	run_ms(300);
	assert_true(holds(1, a));
	room_cap = 0;
	struct stored *p1 = make_packet(1); /* a new tree: announced */
	assert_int_equal(gossip_queued_bytes(nodes[1].g, 0), 0);
	room_cap = SIZE_MAX;
	run_ms(1000);                       /* 0 fetches it, and grafts */
	assert_true(holds(0, p1));
	uint64_t grafted = gossip_get_stats(nodes[0].g, now_ms)->tree_grafted;
	assert_true(grafted >= 1);
	room_cap = 0;
	make_packet(1);
	make_packet(1);
	struct stored *p4 = make_packet(1); /* past TREE_FRESH */
	assert_true(gossip_queued_bytes(nodes[1].g, 0) >= p4->len);
	room_cap = SIZE_MAX;
	gossip_drain(nodes[1].g, 0);
	run_ms(500);
	assert_true(holds(0, p4));
	teardown();
}

/* ---- catch-up with scripted peers ---- */

/* A frame from a scripted peer to node i. */
static void script(int i, int from, uint8_t type, const struct wbuf *f)
{
	enum drop_reason why;
	assert_int_equal(gossip_on_msg(nodes[i].g, from, type,
	                 f->p + WIRE_HDR_LEN, f->len - WIRE_HDR_LEN, now_ms,
	                 &why), E_OK);
}

/* SUMMARY of an empty store over [t0, t1]. */
static void script_summary(int i, int from, uint32_t t0, uint32_t t1)
{
	struct wbuf f;
	uint32_t nb = wire_minutes(t0, t1);
	wb_init(&f);
	wb_begin(&f, WIRE_SUMMARY);
	wb_u32(&f, t0);
	wb_u32(&f, t1);
	wb_u16(&f, (uint16_t)nb);
	for (uint32_t k = 0; k < nb; k++) {
		wb_u32(&f, 0);
		wb_u64(&f, 0);
	}
	wb_end(&f);
	script(i, from, WIRE_SUMMARY, &f);
	wb_fini(&f);
}

struct sinkread {
	uint64_t *sids;                  /* packets received, in order */
	size_t n, cap;
	bool sec;                        /* a SUMMARY_SEC was met */
	uint32_t sum_t0, sum_t1;         /* the last SUMMARY met */
	bool sum;
	uint32_t idl_t[256];             /* seconds of the last IDLIST met */
	uint32_t idl_n;
	bool idl;
};

/* Read the frames of sink b in order, recording the packets (short ids),
 * the last SUMMARY and IDLIST; stop_at_sec: stop after the first
 * SUMMARY_SEC, the rest stays in b.  What was read leaves b. */
static void sink_read(struct wbuf *b, struct sinkread *r, bool stop_at_sec)
{
	size_t off = 0;
	r->sec = false;
	while (off < b->len) {
		uint8_t type;
		uint32_t n;
		assert_int_equal(wire_hdr_decode(b->p + off, b->len - off,
		                                 &type, &n), E_OK);
		const uint8_t *pl = b->p + off + WIRE_HDR_LEN;
		off += WIRE_HDR_LEN + n;
		if (type == WIRE_TPACKETS || type == WIRE_PACKETS) {
			size_t k = 0;
			while (k < n) {
				uint32_t len;
				if (type == WIRE_TPACKETS)
					k += 4;  /* tag */
				len = le32(pl + k);
				k += 4;
				uint8_t h[32];
				txpow_hash(pl + k, len, h);
				if (r->n == r->cap) {
					r->cap = r->cap ? 2 * r->cap : 1024;
					r->sids = xrealloc(r->sids,
					                   r->cap * sizeof(uint64_t));
				}
				r->sids[r->n++] = wire_sid(h);
				k += len;
			}
		} else if (type == WIRE_SUMMARY) {
			r->sum = true;
			r->sum_t0 = le32(pl);
			r->sum_t1 = le32(pl + 4);
		} else if (type == WIRE_IDLIST) {
			struct wire_idlist l;
			uint32_t t, c;
			const uint8_t *ids;
			assert_int_equal(wire_idlist_decode(pl, n, &l), E_OK);
			r->idl = true;
			r->idl_n = 0;
			while (wire_idlist_next(&l, &t, &c, &ids))
				if (r->idl_n < 256)
					r->idl_t[r->idl_n++] = t;
		} else if (type == WIRE_SUMMARY_SEC) {
			r->sec = true;
			if (stop_at_sec)
				break;
		}
	}
	memmove(b->p, b->p + off, b->len - off);
	b->len -= off;
}

/* Tick node 0 by 100 ms steps (at most `steps`) until its frames to
 * SCRIPTED hold a SUMMARY (r->sum). */
static void tick_until_summary(struct sinkread *r, int steps)
{
	for (int k = 0; k < steps && !r->sum; k++) {
		now_ms += 100;
		gossip_tick(nodes[0].g, now_ms);
		sink_read(&nodes[0].sink, r, false);
	}
}

/* Scripted peer `from` answers node 0's last SUMMARY (r) with a
 * SUMMARY_SEC of n seconds: sec[k] holding cnt[k] packets of fingerprint
 * fp[k]. */
static void script_summary_list(int from, const struct sinkread *r,
                                const uint32_t *sec, const uint32_t *cnt,
                                const uint64_t *fp, uint32_t n)
{
	struct wbuf f;
	wb_init(&f);
	wb_begin(&f, WIRE_SUMMARY_SEC);
	wb_u32(&f, r->sum_t0);
	wb_u32(&f, r->sum_t1);
	wb_u32(&f, n);
	for (uint32_t k = 0; k < n; k++) {
		wb_u32(&f, sec[k]);
		wb_u32(&f, cnt[k]);
		wb_u64(&f, fp[k]);
	}
	wb_end(&f);
	script(0, from, WIRE_SUMMARY_SEC, &f);
	wb_fini(&f);
}

static int cmp_sid(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* A responder serving a catch-up sends each packet once even when the
 * next IDLIST comes while thousands are still queued or in flight: what
 * it queued after the SUMMARY_SEC the IDLIST answers is not sent again
 * (the known-set could not tell: 20,000 ids against its 32,768 slots and
 * the IDLIST's own ids marked in them, it re-sent hundreds). */
static void test_catchup_once_in_flight(void **state)
{
	setup();
	const uint32_t npk = 20000, per_s = 500;
	uint32_t now = (uint32_t)(now_ms / 1000), base = now - 200;
	for (uint32_t k = 0; k < npk; k++)
		make_packet_at(0, base + k / per_s);
	uint32_t secs = npk / per_s;
	room_cap = 64u << 10;
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED,
	                 GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3,
	                 now_ms), E_OK);
	struct sinkread r = {0};
	/* round 1: the joiner holds nothing */
	uint32_t t0 = now - 3600 + 5, t1 = now - 2;
	script_summary(0, SCRIPTED, t0, t1);
	sink_read(&nodes[0].sink, &r, false);
	assert_true(r.sec);
	struct wbuf f;
	wb_init(&f);
	wb_begin(&f, WIRE_IDLIST);
	wb_u32(&f, secs);
	for (uint32_t t = 0; t < secs; t++) {
		wb_u32(&f, base + t);
		wb_u32(&f, 0);
	}
	wb_end(&f);
	script(0, SCRIPTED, WIRE_IDLIST, &f);
	/* the joiner takes part of it; 64 KiB more waits in its buffer */
	for (int k = 0; k < 6; k++) {
		sink_read(&nodes[0].sink, &r, false);
		gossip_drain(nodes[0].g, SCRIPTED);
	}
	size_t before = r.n;
	assert_true(before > 2000 && before < npk / 2);
	assert_true(gossip_queued_bytes(nodes[0].g, SCRIPTED) > 0);
	/* round 2: its IDLIST lists what reached it before the SUMMARY_SEC */
	now_ms += 1000;
	now = (uint32_t)(now_ms / 1000);
	script_summary(0, SCRIPTED, now - 3600 + 5, now - 2);
	sink_read(&nodes[0].sink, &r, true);
	assert_true(r.sec);
	qsort(r.sids, r.n, sizeof(uint64_t), cmp_sid);
	wb_reset(&f);
	wb_begin(&f, WIRE_IDLIST);
	wb_u32(&f, secs);
	for (uint32_t t = 0; t < secs; t++) {
		uint32_t c = 0;
		for (size_t k = 0; k < r.n; k++)
			c += store_get_short(nodes[0].store, r.sids[k])->timestamp ==
			     base + t;
		wb_u32(&f, base + t);
		wb_u32(&f, c);
		for (size_t k = 0; k < r.n; k++)
			if (store_get_short(nodes[0].store, r.sids[k])->timestamp ==
			    base + t)
				wb_u64(&f, r.sids[k]);
	}
	wb_end(&f);
	script(0, SCRIPTED, WIRE_IDLIST, &f);
	wb_fini(&f);
	/* the rest: everything once */
	for (int k = 0; k < 5000 && (nodes[0].sink.len ||
	     gossip_queued_bytes(nodes[0].g, SCRIPTED) ||
	     gossip_catchup_backlog(nodes[0].g, SCRIPTED)); k++) {
		sink_read(&nodes[0].sink, &r, false);
		gossip_drain(nodes[0].g, SCRIPTED);
	}
	qsort(r.sids, r.n, sizeof(uint64_t), cmp_sid);
	size_t dups = 0;
	for (size_t k = 1; k < r.n; k++)
		dups += r.sids[k] == r.sids[k - 1];
	assert_int_equal(dups, 0);
	assert_int_equal(r.n, npk);
	free(r.sids);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	teardown();
}

/* Answer the open round of node 0 with scripted peer `from`: a SUMMARY_SEC
 * of node 1's store (the full store) for the seconds [a, b]. */
static void script_summary_sec(int from, const struct sinkread *r,
                               uint32_t a, uint32_t b)
{
	struct wbuf f;
	wb_init(&f);
	wb_begin(&f, WIRE_SUMMARY_SEC);
	wb_u32(&f, r->sum_t0);
	wb_u32(&f, r->sum_t1);
	wb_u32(&f, b - a + 1);
	for (uint32_t t = a; t <= b; t++) {
		struct store_bucket sb;
		store_bucket(nodes[1].store, t, &sb);
		wb_u32(&f, t);
		wb_u32(&f, sb.count);
		wb_u64(&f, le64(sb.fp + 16));
	}
	wb_end(&f);
	script(0, from, WIRE_SUMMARY_SEC, &f);
	wb_fini(&f);
}

struct cu_owner {
	uint32_t base;                   /* first second (a multiple of 10) */
	const struct stored *pk[4000];
	uint32_t n;
};

static bool owned_by_8(uint32_t t)
{
	return (t / 10) % 2 == 1;        /* 7 has rank 0, 8 rank 1 */
}

/* A joiner (node 0) with two full peers, SCRIPTED (7) and SCRIPTED2 (8),
 * each owning every other block of 10 s of the 40 s node 1 holds.  8 never
 * answers a round; if it sends its seconds (deliver: 24 packets a second,
 * above 16 KiB per 10 s) they stay its own past CU_OWNER_MAX_MS and past
 * every round with it that timed out; if it sends nothing they go to 7
 * once its 60 s are over, not at the first time-out (10 s).  Returns how
 * many of 8's seconds the IDLIST to 7 listed at 15 s and at 75 s. */
static void owner_run(int deliver, uint32_t *at15, uint32_t *at75)
{
	static struct cu_owner o;
	uint32_t now = (uint32_t)(now_ms / 1000);
	o.base = (now - 200) / 10 * 10;
	o.n = 0;
	for (uint32_t k = 0; k < 4000; k++)
		o.pk[o.n++] = make_packet_at(1, o.base + k / 100);
	unsigned fl = GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3;
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED, fl, now_ms),
	                 E_OK);
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED2, fl, now_ms),
	                 E_OK);
	struct sinkread r7 = {0}, r8 = {0};
	uint32_t next = 0;               /* 8's next packet to send */
	*at15 = *at75 = UINT32_MAX;
	for (uint32_t ms = 0; ms <= 76000; ms += 100) {
		sink_read(&nodes[0].sink, &r7, false);
		sink_read(&nodes[0].sink2, &r8, false);
		if (ms == 0 || ms == 15000 || ms == 75000) {
			/* 7 answers the open round: all 40 s differ */
			assert_true(r7.sum);
			r7.idl = false;
			script_summary_sec(SCRIPTED, &r7, o.base, o.base + 39);
			sink_read(&nodes[0].sink, &r7, false);
			assert_true(r7.idl);
			uint32_t of8 = 0;
			for (uint32_t k = 0; k < r7.idl_n; k++)
				of8 += owned_by_8(r7.idl_t[k]);
			if (ms == 15000)
				*at15 = of8;
			if (ms == 75000)
				*at75 = of8;
		}
		if (deliver == 2 && ms % 1000 == 0) {
			/* 24 live packets (new, of this second): not its
			 * seconds, not progress */
			struct wbuf f;
			wb_init(&f);
			wb_begin(&f, WIRE_PACKETS);
			for (int c = 0; c < 24; c++) {
				const struct stored *sp = make_packet_at(1,
					(uint32_t)(now_ms / 1000));
				wire_packets_add(&f, stored_bytes(sp), sp->len, 0);
			}
			wb_end(&f);
			script(0, SCRIPTED2, WIRE_PACKETS, &f);
			wb_fini(&f);
		}
		if (deliver == 1 && ms % 1000 == 0) {
			/* 24 of its own packets (2.4 kB: above 16 KiB in
			 * 10 s) */
			struct wbuf f;
			wb_init(&f);
			wb_begin(&f, WIRE_PACKETS);
			for (int c = 0; c < 24 && next < o.n; next++) {
				const struct stored *sp = o.pk[next];
				if (!owned_by_8(sp->timestamp))
					continue;
				wire_packets_add(&f, stored_bytes(sp), sp->len, 0);
				c++;
			}
			wb_end(&f);
			script(0, SCRIPTED2, WIRE_PACKETS, &f);
			wb_fini(&f);
		}
		now_ms += 100;
		gossip_tick(nodes[0].g, now_ms);
	}
	free(r7.sids);
	free(r8.sids);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	gossip_peer_del(nodes[0].g, SCRIPTED2);
}

static void test_catchup_owner_delivering(void **state)
{
	uint32_t at15, at75;
	setup();
	owner_run(1, &at15, &at75);
	assert_int_equal(at15, 0);
	assert_int_equal(at75, 0);       /* past 60 s: still its own */
	teardown();
}

static void test_catchup_owner_silent(void **state)
{
	uint32_t at15, at75;
	setup();
	owner_run(0, &at15, &at75);
	assert_int_equal(at15, 0);       /* its round timed out: still its */
	assert_true(at75 >= 19);         /* 60 s without progress: to 7 */
	teardown();
}

/* Hostile: an owner that relays live packets but keeps its seconds is not
 * making progress: they go to the other peer after 60 s all the same. */
static void test_catchup_owner_live_only(void **state)
{
	uint32_t at15, at75;
	setup();
	owner_run(2, &at15, &at75);
	assert_int_equal(at15, 0);
	assert_true(at75 >= 19);
	teardown();
}

/* A full node's round with a peer that holds nothing in the seconds that
 * differ sends no IDLIST (its ids would only tell the peer what it lacks:
 * a late joiner's full peers sent it all their ids each round) and counts
 * the peer synced; a second the peer holds part of is listed, unless the
 * peer runs rounds with us (it pulls what it lacks first). */
static void test_round_skips_empty_seconds(void **state)
{
	setup();
	uint32_t now = (uint32_t)(now_ms / 1000), base = now - 100;
	for (uint32_t k = 0; k < 200; k++)
		make_packet_at(0, base + k / 20);
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED,
	                 GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3,
	                 now_ms), E_OK);
	struct sinkread r = {0};
	sink_read(&nodes[0].sink, &r, false);
	assert_true(r.sum);
	/* the peer's seconds: all empty */
	struct wbuf f;
	wb_init(&f);
	wb_begin(&f, WIRE_SUMMARY_SEC);
	wb_u32(&f, r.sum_t0);
	wb_u32(&f, r.sum_t1);
	wb_u32(&f, 10);
	for (uint32_t t = 0; t < 10; t++) {
		wb_u32(&f, base + t);
		wb_u32(&f, 0);
		wb_u64(&f, 0);
	}
	wb_end(&f);
	script(0, SCRIPTED, WIRE_SUMMARY_SEC, &f);
	sink_read(&nodes[0].sink, &r, false);
	assert_false(r.idl);
	assert_true(gossip_peer_synced(nodes[0].g, SCRIPTED));
	/* next round: one second where it holds one packet of its own */
	tick_until_summary(&r, 100);
	r.sum = false;
	tick_until_summary(&r, 30);
	assert_true(r.sum);
	script_summary_list(SCRIPTED, &r, (const uint32_t[]){base + 3, base + 4},
	                    (const uint32_t[]){1, 0}, (const uint64_t[]){0x1234, 0},
	                    2);
	sink_read(&nodes[0].sink, &r, false);
	assert_true(r.idl);
	assert_int_equal(r.idl_n, 1);
	assert_int_equal(r.idl_t[0], base + 3);
	/* once it runs rounds with us (a SUMMARY), a second where it holds
	 * fewer than we do waits: it pulls from us first */
	now = (uint32_t)(now_ms / 1000);
	script_summary(0, SCRIPTED, now - 3600 + 5, now - 2);
	r.sum = r.idl = false;
	tick_until_summary(&r, 30);
	assert_true(r.sum);
	script_summary_list(SCRIPTED, &r, (const uint32_t[]){base + 3},
	                    (const uint32_t[]){1}, (const uint64_t[]){0x1234}, 1);
	sink_read(&nodes[0].sink, &r, false);
	assert_false(r.idl);
	assert_false(gossip_peer_synced(nodes[0].g, SCRIPTED));
	wb_fini(&f);
	free(r.sids);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	teardown();
}

/* A joiner whose first full peer (7) is up before the second (8) asks
 * the first for every second; the second, up later, is asked for none of
 * them while the first delivers (by rank it would own every other block,
 * and what the first had queued or written for those would come twice). */
static void test_catchup_first_peer_keeps_blocks(void **state)
{
	setup();
	uint32_t now = (uint32_t)(now_ms / 1000);
	uint32_t base = (now - 200) / 10 * 10;
	for (uint32_t k = 0; k < 400; k++)
		make_packet_at(1, base + k / 10);
	unsigned fl = GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3;
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED, fl, now_ms),
	                 E_OK);
	struct sinkread r7 = {0}, r8 = {0};
	sink_read(&nodes[0].sink, &r7, false);
	script_summary_sec(SCRIPTED, &r7, base, base + 39);
	sink_read(&nodes[0].sink, &r7, false);
	assert_true(r7.idl);
	assert_int_equal(r7.idl_n, 40);      /* alone: every second */
	now_ms += 200;
	gossip_tick(nodes[0].g, now_ms);
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED2, fl, now_ms),
	                 E_OK);
	sink_read(&nodes[0].sink2, &r8, false);
	assert_true(r8.sum);
	script_summary_sec(SCRIPTED2, &r8, base, base + 39);
	sink_read(&nodes[0].sink2, &r8, false);
	assert_false(r8.idl && r8.idl_n > 0);
	assert_false(gossip_peer_synced(nodes[0].g, SCRIPTED2));
	free(r7.sids);
	free(r8.sids);
	gossip_peer_del(nodes[0].g, SCRIPTED);
	gossip_peer_del(nodes[0].g, SCRIPTED2);
	teardown();
}

/* A packet waiting in a peer's send queue (its output backed up) that
 * the peer meanwhile announces to us is not sent to it: the copy would
 * be a duplicate on the link that can least afford one.  One it did not
 * announce still goes. */
static void test_queued_copy_skipped(void **state)
{
	pair_backed_up();
	struct stored *a = make_packet(0);
	struct stored *b = make_packet(0);
	assert_int_equal(gossip_queued_bytes(nodes[0].g, 1), a->len + b->len);
	assert_int_equal(links[0][1].len, 0);
	uint64_t sid = wire_sid(a->hash);
	inv_from(0, 1, &sid, 1);
	uint64_t sent0 = gossip_get_stats(nodes[0].g, now_ms)->sent;
	room_cap = SIZE_MAX;
	gossip_drain(nodes[0].g, 1);
	const struct gossip_stats *st = gossip_get_stats(nodes[0].g, now_ms);
	assert_int_equal(st->queue_skipped, 1);
	assert_int_equal(st->sent, sent0 + 1);
	assert_int_equal(gossip_queued_bytes(nodes[0].g, 1), 0);
	settle();
	assert_true(holds(1, b));
	assert_false(holds(1, a));          /* it said it had it: not sent */
	teardown();
}

/* Does b hold a GETDATA frame naming sid? */
static bool getdata_names(const struct wbuf *b, uint64_t sid)
{
	for (size_t off = 0; off < b->len;) {
		uint8_t type;
		uint32_t n;
		assert_int_equal(wire_hdr_decode(b->p + off, b->len - off, &type,
		                                 &n), E_OK);
		const uint8_t *ids;
		uint32_t c;
		if (type == WIRE_GETDATA &&
		    wire_ids_decode(b->p + off + WIRE_HDR_LEN, n, &ids, &c) ==
		            E_OK)
			for (uint32_t k = 0; k < c; k++)
				if (wire_ids_at(ids, k) == sid)
					return true;
		off += WIRE_HDR_LEN + n;
	}
	return false;
}

/* A packet two tree peers announced is fetched, once the tree wait is
 * over, from the one with fewer fetches pending: the first announcer is
 * often a node whose links are backed up (it announces instead of
 * pushing), and sending it every fetch queued them all on its uplink. */
static void test_fetch_least_asked(void **state)
{
	setup();
	unsigned fl = GOSSIP_PEER_FULL | GOSSIP_PEER_V2 | GOSSIP_PEER_V3;
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED, fl, now_ms),
	                 E_OK);
	assert_int_equal(gossip_peer_add(nodes[0].g, SCRIPTED2, fl, now_ms),
	                 E_OK);
	uint64_t busy[5] = {0x1001, 0x1002, 0x1003, 0x1004, 0x1005};
	uint64_t x = 0x2002;
	inv_from(0, SCRIPTED, busy, 5);     /* five fetches wait for it */
	inv_from(0, SCRIPTED, &x, 1);       /* first to announce x */
	inv_from(0, SCRIPTED2, &x, 1);
	wb_reset(&nodes[0].sink);
	wb_reset(&nodes[0].sink2);
	now_ms += 120;                      /* past TREE_FETCH_WAIT_MS */
	gossip_tick(nodes[0].g, now_ms);
	assert_true(getdata_names(&nodes[0].sink2, x));
	assert_false(getdata_names(&nodes[0].sink, x));
	for (int k = 0; k < 5; k++)         /* only SCRIPTED has those */
		assert_true(getdata_names(&nodes[0].sink, busy[k]));
	gossip_peer_del(nodes[0].g, SCRIPTED);
	gossip_peer_del(nodes[0].g, SCRIPTED2);
	teardown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prune_to_tree),
		cmocka_unit_test(test_graft_repair),
		cmocka_unit_test(test_parent_gone_grafts),
		cmocka_unit_test(test_settled_tree_announces_less),
		cmocka_unit_test(test_announce_waits),
		cmocka_unit_test(test_mixed_v2),
		cmocka_unit_test(test_hostile_tree_frames),
		cmocka_unit_test(test_catchup_split),
		cmocka_unit_test(test_untagged_entry),
		cmocka_unit_test(test_drain_within_room),
		cmocka_unit_test(test_fresh_tree_backed),
		cmocka_unit_test(test_backed_lazy_grafted),
		cmocka_unit_test(test_catchup_once_in_flight),
		cmocka_unit_test(test_catchup_owner_delivering),
		cmocka_unit_test(test_catchup_owner_silent),
		cmocka_unit_test(test_catchup_owner_live_only),
		cmocka_unit_test(test_round_skips_empty_seconds),
		cmocka_unit_test(test_catchup_first_peer_keeps_blocks),
		cmocka_unit_test(test_queued_copy_skipped),
		cmocka_unit_test(test_fetch_least_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
