/* test_node.c - the node's own logic (node.c): admission counters, drop
 * reasons, lag averages, rate ring, local packets handed to the network,
 * the tick (purge, LAG flag), overload drops and the stop request.  The
 * clock is mocked (node_set_mocktime); net functions are recording stubs
 * (weak, so the real ones win once net.c is linked for other reasons). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "core/err.h"
#include "core/fhold.h"
#include "core/packet.h"
#include "core/store.h"
#include "node/config.h"
#include "node/crypto.h"
#include "node/log.h"
#include "node/net.h"
#include "node/node.h"
#include "proto/gossip.h"

#define T0 1767225600u

static int net_calls, net_from;

__attribute__((weak)) void net_on_new_packet(struct net *net,
                                             struct stored *sp,
                                             int from_peer)
{
	net_calls++;
	net_from = from_peer;
}

__attribute__((weak)) bool net_synced(const struct net *net)
{
	return true;
}

__attribute__((weak)) size_t net_peer_count(const struct net *net)
{
	return 0;
}

struct fixture {
	struct config cfg;
	struct node n;
};

static int setup(void **state)
{
	static struct fixture f;
	static const uint8_t seed[32] = { 1 };

	memset(&f, 0, sizeof(f));
	f.cfg.txpowbits = 0; /* every hash is valid: no mining in tests */
	f.cfg.purgetime = 3600;
	f.cfg.maxmem = 64ULL << 20;
	node_set_mocktime((uint64_t)T0 * 1000);
	assert_int_equal(node_init(&f.n, NULL, &f.cfg), E_OK);
	f.n.ident = identity_from_seed(seed);
	f.n.net = (struct net *)&f; /* non-NULL: the stubs ignore it */
	net_calls = 0;
	net_from = 0;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	identity_free(f->n.ident);
	node_fini(&f->n);
	node_set_mocktime(0);
	return 0;
}

/* A plain packet with timestamp t and a payload making it unique. */
static size_t make_pkt(uint8_t *out, size_t cap, uint32_t t, uint32_t salt,
                       size_t payload_len)
{
	uint8_t payload[2048];
	struct packet_fields pf = { 0 };

	assert_true(payload_len <= sizeof(payload) && payload_len >= 4);
	memset(payload, 'x', payload_len);
	memcpy(payload, &salt, 4);
	pf.kind = PACKET_KIND_DATA;
	pf.timestamp = t;
	pf.tag_a = (const uint8_t *)"BTC";
	pf.len_a = 3;
	pf.payload = payload;
	pf.payload_len = payload_len;
	return packet_encode(out, cap, &pf);
}

static void test_ingest_counters(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	uint8_t pkt[256];
	struct stored *sp, *sp2;
	enum drop_reason r;
	size_t len = make_pkt(pkt, sizeof(pkt), T0, 1, 16);

	assert_true(len > 0);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	assert_non_null(sp);
	assert_int_equal(r, DROP_NONE);
	assert_int_equal(sp->recvtime, T0);
	assert_int_equal(n->ctr.received, 1);
	assert_int_equal(n->ctr.added, 1);
	assert_int_equal(node_ingest(n, pkt, len, &sp2, &r), E_DUP);
	assert_ptr_equal(sp2, sp);
	assert_int_equal(n->ctr.received, 2);
	assert_int_equal(n->ctr.duplicates, 1);
	assert_int_equal(n->ctr.added, 1);
	assert_int_equal(net_calls, 0); /* ingest does not gossip */

	/* Drops, each counted under its reason. */
	assert_int_equal(node_ingest(n, pkt, 10, &sp, &r), E_PROTO);
	assert_int_equal(r, DROP_MALFORMED);
	assert_null(sp);
	len = make_pkt(pkt, sizeof(pkt), T0 + DEX_FUTURE_HOLD + 1, 2, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_PROTO);
	assert_int_equal(r, DROP_FUTURE);
	len = make_pkt(pkt, sizeof(pkt), T0 - 3600, 3, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_PROTO);
	assert_int_equal(r, DROP_EXPIRED);
	assert_int_equal(n->ctr.dropped[DROP_MALFORMED], 1);
	assert_int_equal(n->ctr.dropped[DROP_FUTURE], 1);
	assert_int_equal(n->ctr.dropped[DROP_EXPIRED], 1);
	assert_int_equal(n->ctr.received, 5);
	assert_int_equal(n->ctr.added, 1);
}

/* A packet 2 s (or up to DEX_FUTURE_HOLD s) ahead is not lost: it is
 * held, not stored nor counted as dropped, and the tick at which it is
 * due (timestamp - DEX_FUTURE_SLACK) stores it and hands it to the
 * network.  (Before the hold, it was dropped as "future" for good.) */
static void test_future_hold(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	uint8_t pkt[256], far[256];
	struct stored *sp;
	enum drop_reason r;
	struct fhold_stats hs;
	size_t len = make_pkt(pkt, sizeof(pkt), T0 + 2, 1, 16);
	size_t flen = make_pkt(far, sizeof(far), T0 + 30, 2, 16);

	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_AGAIN);
	assert_int_equal(r, DROP_FUTURE);
	assert_null(sp);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_AGAIN);
	assert_int_equal(node_ingest(n, far, flen, &sp, &r), E_AGAIN);
	assert_int_equal(n->ctr.dropped[DROP_FUTURE], 0);
	assert_int_equal(n->ctr.added, 0);
	fhold_get_stats(n->fhold, &hs);
	assert_int_equal(hs.count, 2); /* the duplicate is held once */
	node_tick(n, T0);
	assert_int_equal(n->ctr.added, 0);
	assert_int_equal(net_calls, 0);
	node_set_mocktime((uint64_t)(T0 + 1) * 1000);
	node_tick(n, T0 + 1);  /* T0 + 2 is acceptable from T0 + 1 */
	assert_int_equal(n->ctr.added, 1);
	assert_int_equal(net_calls, 1);
	assert_int_equal(net_from, GOSSIP_FROM_HOLD);
	struct store_stats st;
	store_get_stats(n->store, &st);
	assert_int_equal(st.count, 1);
	node_set_mocktime((uint64_t)(T0 + 29) * 1000);
	node_tick(n, T0 + 29);
	assert_int_equal(n->ctr.added, 2);
	fhold_get_stats(n->fhold, &hs);
	assert_int_equal(hs.count, 0);
	assert_int_equal(hs.released, 2);
	assert_int_equal(n->ctr.dropped[DROP_FUTURE], 0);
}

static void test_lag(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	uint8_t pkt[256];
	struct stored *sp;
	enum drop_reason r;
	size_t len;

	/* Lag 0 and lag 60 are not samples. */
	len = make_pkt(pkt, sizeof(pkt), T0, 10, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	len = make_pkt(pkt, sizeof(pkt), T0 - 60, 11, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	assert_false(n->ctr.lag_init);
	assert_true(n->ctr.lag[0] == 0.0);
	/* First sample sets all three. */
	len = make_pkt(pkt, sizeof(pkt), T0 - 10, 12, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	assert_true(n->ctr.lag_init);
	for (int i = 0; i < 3; i++)
		assert_true(fabs(n->ctr.lag[i] - 10.0) < 1e-9);
	len = make_pkt(pkt, sizeof(pkt), T0 - 20, 13, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	assert_true(fabs(n->ctr.lag[0] - 10.01) < 1e-9);
	assert_true(fabs(n->ctr.lag[1] - 10.001) < 1e-9);
	assert_true(fabs(n->ctr.lag[2] - 10.0001) < 1e-9);
	/* Lag 59 is a sample, 1 too. */
	len = make_pkt(pkt, sizeof(pkt), T0 - 1, 14, 16);
	assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	assert_true(n->ctr.lag[0] < 10.01);
}

static void test_rate_and_tick(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	uint8_t pkt[256];
	struct stored *sp;
	enum drop_reason r;
	struct store_stats st;
	size_t len;

	assert_true(node_rate(n, T0) == 0.0);
	for (uint32_t i = 0; i < 7; i++) {
		len = make_pkt(pkt, sizeof(pkt), T0, 100 + i, 16);
		assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	}
	assert_true(fabs(node_rate(n, T0) - 0.7) < 1e-9);
	node_set_mocktime((uint64_t)(T0 + 3) * 1000);
	for (uint32_t i = 0; i < 5; i++) {
		len = make_pkt(pkt, sizeof(pkt), T0 + 3, 200 + i, 16);
		assert_int_equal(node_ingest(n, pkt, len, &sp, &r), E_OK);
	}
	assert_true(fabs(node_rate(n, T0 + 3) - 1.2) < 1e-9);
	assert_true(fabs(node_rate(n, T0 + 9) - 1.2) < 1e-9);
	/* At T0+10 the packets of T0 left the window. */
	node_tick(n, T0 + 10);
	assert_true(fabs(node_rate(n, T0 + 10) - 0.5) < 1e-9);
	node_tick(n, T0 + 13);
	assert_true(node_rate(n, T0 + 13) == 0.0);
	assert_true(node_rate(n, T0 + 100) == 0.0);

	/* Purge: after purgetime everything held expires. */
	store_get_stats(n->store, &st);
	assert_int_equal(st.count, 12);
	node_tick(n, T0 + 3600);
	store_get_stats(n->store, &st);
	assert_int_equal(st.count, 5);
	node_tick(n, T0 + 3603);
	store_get_stats(n->store, &st);
	assert_int_equal(st.count, 0);
}

static void test_add_local(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	uint8_t pkt[256];
	struct stored *sp, *sp2;
	size_t len = make_pkt(pkt, sizeof(pkt), T0, 7, 16);

	assert_int_equal(node_add_local(n, pkt, len, &sp), E_OK);
	assert_non_null(sp);
	assert_int_equal(sp->recvtime, T0);
	assert_int_equal(net_calls, 1);
	assert_int_equal(net_from, -1);
	assert_int_equal(n->ctr.added, 1);
	assert_int_equal(n->ctr.received, 0);
	assert_int_equal(node_add_local(n, pkt, len, &sp2), E_DUP);
	assert_ptr_equal(sp2, sp);
	assert_int_equal(net_calls, 1);
	assert_int_equal(n->ctr.added, 1);
}

static void test_overload(void **state)
{
	struct fixture *f = *state;
	struct node *n = &f->n;
	struct config small = f->cfg;
	struct node m;
	uint8_t pkt[2048];
	struct stored *sp;
	enum drop_reason r;
	struct store_stats st;
	uint64_t stored = 0;

	/* A 1 MiB store fed ~2.7 MB of packets sheds some as overload. */
	small.maxmem = 1ULL << 20;
	assert_int_equal(node_init(&m, NULL, &small), E_OK);
	m.ident = n->ident;
	for (uint32_t i = 0; i < 3000; i++) {
		size_t len = make_pkt(pkt, sizeof(pkt), T0, 1000 + i, 900);
		int rc = node_ingest(&m, pkt, len, &sp, &r);

		if (rc == E_OK)
			stored++;
		else
			assert_int_equal(r, DROP_OVERLOAD);
	}
	assert_true(m.ctr.dropped[DROP_OVERLOAD] > 0);
	assert_int_equal(m.ctr.dropped[DROP_OVERLOAD] + stored, 3000);
	store_get_stats(m.store, &st);
	assert_true(st.bytes <= small.maxmem);

	/* LAG: set by the tick after overload drops, held NODE_LAG_HOLD s. */
	assert_false(m.ctr.overloaded);
	node_tick(&m, T0 + 1);
	assert_true(m.ctr.overloaded);
	assert_false(node_synced(&m));
	node_tick(&m, T0 + NODE_LAG_HOLD);
	assert_true(m.ctr.overloaded);
	node_tick(&m, T0 + 1 + NODE_LAG_HOLD);
	assert_false(m.ctr.overloaded);
	m.ident = NULL;
	node_fini(&m);
}

static void test_request_stop(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct timeval limit = { 5, 0 };
	uint64_t t0;

	node_set_mocktime(0);
	f->n.base = base;
	event_base_loopexit(base, &limit); /* safety bound */
	node_request_stop(&f->n);
	node_request_stop(&f->n); /* idempotent */
	assert_int_equal(f->n.shutting_down, 1);
	t0 = node_now_ms();
	event_base_dispatch(base);
	assert_true(node_now_ms() - t0 < 2000);
	f->n.base = NULL;
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ingest_counters, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_lag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_future_hold, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_rate_and_tick, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_add_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_stop, setup,
		                                teardown),
	};

	crypto_init();
	log_open(NULL, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
