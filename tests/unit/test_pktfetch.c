/* test_pktfetch.c - unit tests for src/proto/pktfetch.c: how keys are
 * spread over answering peers, re-asked after a miss, a timeout, a BUSY
 * answer or a peer leaving, deduplicated, bounded and forgotten; and the
 * answering side's budget.  The clock is a variable; requests go to an
 * in-memory log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "proto/pktfetch.h"

#define MAXSENT 4096

struct sent {
	int peer;
	uint32_t reqid, n;
	struct wire_pktkey k[PKTFETCH_REQ_KEYS];
};

/* the fake world: which keys are held, what was sent */
static struct {
	struct sent s[MAXSENT];
	size_t ns;
	uint8_t *held;               /* indexed by id (ids are small) */
	size_t nheld;
} W;

static bool t_have(void *ctx, struct wire_pktkey k)
{
	return k.id < W.nheld && W.held[k.id] &&
	       k.timestamp == 1000 + k.id;
}

static void t_send(void *ctx, int peer, uint32_t reqid,
                   const struct wire_pktkey *keys, uint32_t n)
{
	assert_true(n >= 1 && n <= PKTFETCH_REQ_KEYS);
	assert_true(W.ns < MAXSENT);
	struct sent *s = &W.s[W.ns++];
	s->peer = peer;
	s->reqid = reqid;
	s->n = n;
	memcpy(s->k, keys, n * sizeof(*keys));
}

static struct pktfetch *mk(size_t nheld)
{
	struct pktfetch_ops ops = {.ctx = NULL, .have = t_have,
	                           .send = t_send};
	memset(&W.s, 0, sizeof(W.s));
	W.ns = 0;
	free(W.held);
	W.held = calloc(nheld ? nheld : 1, 1);
	W.nheld = nheld;
	return pktfetch_new(&ops, 0x1234567890abcdefULL);
}

static void keys_range(struct wire_pktkey *k, uint32_t from, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		k[i].id = from + i;
		k[i].timestamp = 1000 + from + i;
	}
}

/* How many times key id was sent (to anyone), and to peer (-1: any) in
 * requests [from, W.ns). */
static unsigned asked(uint32_t id, int peer, size_t from)
{
	unsigned c = 0;
	for (size_t i = from; i < W.ns; i++)
		for (uint32_t j = 0; j < W.s[i].n; j++)
			if (W.s[i].k[j].id == id &&
			    (peer < 0 || W.s[i].peer == peer))
				c++;
	return c;
}

/* Requests outstanding per peer as seen in the log, given the reqids
 * closed so far are not tracked: the scheduler's own count is checked. */
static size_t outstanding(const struct pktfetch *pf)
{
	struct pktfetch_stats st;
	pktfetch_get_stats(pf, &st);
	return st.outstanding;
}

static void miss_all(struct pktfetch *pf, size_t idx, uint64_t now)
{
	assert_true(pktfetch_on_miss(pf, W.s[idx].peer, W.s[idx].reqid, 0,
	                             NULL, 0, now));
}

/* 1000 keys, 2 peers: requests of at most 128 keys, at most 2 per peer
 * outstanding, no key asked twice, none of another's; answering makes the
 * next requests go out until all are asked once. */
static void test_spread_and_limits(void **state)
{
	struct wire_pktkey k[1000];
	struct pktfetch *pf = mk(1000);
	uint64_t now = 5000;
	size_t mem0 = pktfetch_mem(pf);

	keys_range(k, 0, 1000);
	assert_int_equal(pktfetch_want(pf, k, 1000, now), 1000);
	assert_int_equal(W.ns, 0);           /* no peer yet */
	assert_int_equal(pktfetch_peer_add(pf, 1, now), E_OK);
	assert_int_equal(pktfetch_peer_add(pf, 1, now), E_DUP);
	assert_int_equal(pktfetch_peer_add(pf, 2, now), E_OK);
	assert_int_equal(W.ns, 4);           /* 2 peers x 2 requests */
	assert_int_equal(outstanding(pf), 4);
	for (size_t i = 0; i < W.ns; i++)
		assert_int_equal(W.s[i].n, PKTFETCH_REQ_KEYS);
	for (uint32_t id = 0; id < 1000; id++)
		assert_true(asked(id, -1, 0) <= 1);
	assert_int_equal(pktfetch_debug_check(pf), 0);
	/* asking the same keys again sends nothing new */
	assert_int_equal(pktfetch_want(pf, k, 1000, now), 1000);
	assert_int_equal(W.ns, 4);
	/* answer with everything held: next requests go out */
	size_t done = 0;
	while (done < W.ns) {
		for (uint32_t j = 0; j < W.s[done].n; j++)
			W.held[W.s[done].k[j].id] = 1;
		assert_true(pktfetch_on_reply(pf, W.s[done].peer,
		                              W.s[done].reqid, now));
		miss_all(pf, done, now);
		assert_true(outstanding(pf) <= 4);
		assert_int_equal(pktfetch_debug_check(pf), 0);
		done++;
	}
	for (uint32_t id = 0; id < 1000; id++)
		assert_int_equal(asked(id, -1, 0), 1);
	struct pktfetch_stats st;
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.delivered, 1000);
	assert_int_equal(st.keys_asked, 1000);
	assert_int_equal(st.reasked, 0);
	assert_int_equal(st.outstanding, 0);
	/* all delivered: the key table's memory is given back */
	assert_int_equal(pktfetch_mem(pf), mem0);
	pktfetch_free(pf);
}

/* A miss moves the keys to another peer at once; tried everywhere they
 * wait; a new peer gets them; the caller naming them again after
 * PKTFETCH_REASK_MS re-opens them to every peer. */
static void test_miss_reask(void **state)
{
	struct wire_pktkey k[10];
	struct pktfetch *pf = mk(10);
	uint64_t now = 1;

	keys_range(k, 0, 10);
	pktfetch_peer_add(pf, 7, now);
	pktfetch_peer_add(pf, 8, now);
	pktfetch_want(pf, k, 10, now);
	assert_int_equal(W.ns, 1);
	int first = W.s[0].peer, other = first == 7 ? 8 : 7;
	/* the peer has key 3 only */
	W.held[3] = 1;
	miss_all(pf, 0, now);
	assert_int_equal(W.ns, 2);
	assert_int_equal(W.s[1].peer, other);
	assert_int_equal(W.s[1].n, 9);
	assert_int_equal(asked(3, -1, 1), 0);
	/* the other has none: nothing left to ask */
	miss_all(pf, 1, now);
	assert_int_equal(W.ns, 2);
	pktfetch_tick(pf, now + 10);
	assert_int_equal(W.ns, 2);
	struct pktfetch_stats st;
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 9);
	assert_int_equal(st.reasked, 9);
	/* a third peer connects: asked at once */
	pktfetch_peer_add(pf, 9, now + 20);
	assert_int_equal(W.ns, 3);
	assert_int_equal(W.s[2].peer, 9);
	miss_all(pf, 2, now + 20);
	/* named again too soon: still nothing */
	pktfetch_want(pf, k, 10, now + PKTFETCH_REASK_MS - 1);
	assert_int_equal(W.ns, 3);
	/* later: every peer may be asked again */
	pktfetch_want(pf, k, 10, now + 20 + PKTFETCH_REASK_MS);
	assert_int_equal(W.ns, 4);
	assert_int_equal(W.s[3].n, 9);
	assert_int_equal(pktfetch_debug_check(pf), 0);
	pktfetch_free(pf);
}

/* No answer within PKTFETCH_TIMEOUT_MS: re-asked of another peer; a
 * peer delivering (PKTREPLY) keeps its request, up to the cap. */
static void test_timeout(void **state)
{
	struct wire_pktkey k[5];
	struct pktfetch *pf = mk(5);
	uint64_t t0 = 100000;

	keys_range(k, 0, 5);
	pktfetch_peer_add(pf, 1, t0);
	pktfetch_want(pf, k, 5, t0);
	assert_int_equal(W.ns, 1);
	pktfetch_peer_add(pf, 2, t0);
	assert_int_equal(W.ns, 1);           /* keys are being asked */
	pktfetch_tick(pf, t0 + PKTFETCH_TIMEOUT_MS - 1);
	assert_int_equal(W.ns, 1);
	/* a reply keeps it alive */
	assert_true(pktfetch_on_reply(pf, 1, W.s[0].reqid,
	                              t0 + PKTFETCH_TIMEOUT_MS - 1));
	pktfetch_tick(pf, t0 + PKTFETCH_TIMEOUT_MS + 10);
	assert_int_equal(W.ns, 1);
	/* replies keep coming but the cap ends it */
	uint64_t t;
	for (t = t0 + 1000; t < t0 + PKTFETCH_WAIT_MAX_MS + 5000; t += 1000) {
		pktfetch_on_reply(pf, 1, W.s[0].reqid, t);
		pktfetch_tick(pf, t);
		if (W.ns > 1)
			break;
	}
	assert_int_equal(W.ns, 2);
	assert_true(t >= t0 + PKTFETCH_WAIT_MAX_MS);
	assert_int_equal(W.s[1].peer, 2);
	assert_int_equal(W.s[1].n, 5);
	/* the late answer of peer 1 is no longer a request of ours */
	assert_false(pktfetch_on_miss(pf, 1, W.s[0].reqid, 0, NULL, 0, t));
	struct pktfetch_stats st;
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.timeouts, 1);
	assert_int_equal(st.unsolicited, 1);
	assert_int_equal(pktfetch_debug_check(pf), 0);
	pktfetch_free(pf);
}

/* BUSY: the listed keys go to another peer without marking the busy one
 * tried; it is not asked for PKTFETCH_BUSY_MS, then it may be again. */
static void test_busy(void **state)
{
	struct wire_pktkey k[4];
	uint8_t wk[4 * 8];
	struct pktfetch *pf = mk(4);
	uint64_t now = 50;

	keys_range(k, 0, 4);
	pktfetch_peer_add(pf, 1, now);
	pktfetch_want(pf, k, 4, now);
	assert_int_equal(W.ns, 1);
	/* served 0 and 1, BUSY for 2 and 3 */
	W.held[0] = W.held[1] = 1;
	for (int i = 0; i < 2; i++) {
		uint32_t ts = k[2 + i].timestamp, id = k[2 + i].id;
		memcpy(wk + i * 8, &ts, 4);   /* little-endian host */
		memcpy(wk + i * 8 + 4, &id, 4);
	}
	assert_true(pktfetch_on_miss(pf, 1, W.s[0].reqid, WIRE_PKTMISS_BUSY,
	                             wk, 2, now));
	/* only peer: it rests */
	assert_int_equal(W.ns, 1);
	pktfetch_peer_add(pf, 2, now + 1);
	assert_int_equal(W.ns, 2);
	assert_int_equal(W.s[1].peer, 2);
	assert_int_equal(W.s[1].n, 2);
	miss_all(pf, 1, now + 1);           /* peer 2 lacks them */
	assert_int_equal(W.ns, 2);
	pktfetch_tick(pf, now + PKTFETCH_BUSY_MS + 1);
	/* peer 1 was not marked tried: asked again after its rest */
	assert_int_equal(W.ns, 3);
	assert_int_equal(W.s[2].peer, 1);
	assert_int_equal(W.s[2].n, 2);
	struct pktfetch_stats st;
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.busy, 1);
	assert_int_equal(st.delivered, 2);
	pktfetch_free(pf);
}

/* A peer that leaves: its keys go to the others at once; its slot's
 * tried bits do not stick to the next peer in the slot. */
static void test_peer_leaves(void **state)
{
	struct wire_pktkey k[3];
	struct pktfetch *pf = mk(3);

	keys_range(k, 0, 3);
	pktfetch_peer_add(pf, 1, 0);
	pktfetch_want(pf, k, 3, 0);
	miss_all(pf, 0, 0);                 /* 1 tried them all */
	pktfetch_peer_add(pf, 2, 0);
	assert_int_equal(W.ns, 2);
	pktfetch_peer_del(pf, 2, 0);        /* leaves while asked */
	assert_int_equal(W.ns, 2);          /* 1 tried them already */
	pktfetch_peer_del(pf, 1, 0);
	pktfetch_peer_del(pf, 1, 0);        /* twice: harmless */
	assert_int_equal(pktfetch_peers(pf), 0);
	assert_int_equal(pktfetch_debug_check(pf), 0);
	/* a new peer gets the freed slot, with no tried marks */
	pktfetch_peer_add(pf, 3, 0);
	assert_int_equal(W.ns, 3);
	assert_int_equal(W.s[2].peer, 3);
	assert_int_equal(W.s[2].n, 3);
	/* the answer of a peer that left is not ours any more */
	assert_false(pktfetch_on_reply(pf, 2, W.s[1].reqid, 0));
	assert_int_equal(pktfetch_debug_check(pf), 0);
	pktfetch_free(pf);
}

/* Keys found held when about to be asked are dropped, not asked; keys
 * not named again for the TTL are forgotten; the table is capped. */
static void test_have_ttl_cap(void **state)
{
	struct wire_pktkey *k = calloc(PKTFETCH_MAX_KEYS + 100, sizeof(*k));
	struct pktfetch *pf = mk(PKTFETCH_MAX_KEYS + 100);
	struct pktfetch_stats st;

	keys_range(k, 0, 10);
	for (int i = 0; i < 10; i += 2)
		W.held[i] = 1;
	pktfetch_want(pf, k, 10, 0);
	pktfetch_peer_add(pf, 1, 0);
	assert_int_equal(W.ns, 1);
	assert_int_equal(W.s[0].n, 5);
	for (uint32_t j = 0; j < 5; j++)
		assert_int_equal(W.s[0].k[j].id % 2, 1);
	miss_all(pf, 0, 0);
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 5);
	pktfetch_tick(pf, PKTFETCH_KEY_TTL_MS - 1);
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 5);
	pktfetch_tick(pf, PKTFETCH_KEY_TTL_MS + 1000);
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.expired, 5);
	pktfetch_peer_del(pf, 1, 0);
	/* the cap */
	keys_range(k, 0, PKTFETCH_MAX_KEYS + 100);
	memset(W.held, 0, W.nheld);
	uint64_t now = 2 * PKTFETCH_KEY_TTL_MS;
	assert_int_equal(pktfetch_want(pf, k, PKTFETCH_MAX_KEYS + 100, now),
	                 PKTFETCH_MAX_KEYS);
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, PKTFETCH_MAX_KEYS);
	assert_int_equal(st.refused, 100);
	assert_true(pktfetch_wanted(pf, k[0]));
	assert_false(pktfetch_wanted(pf, k[PKTFETCH_MAX_KEYS]));
	/* about 12 MiB at most */
	assert_true(pktfetch_mem(pf) < (13u << 20));
	assert_int_equal(pktfetch_debug_check(pf), 0);
	/* all of them go out to one peer, 256 keys at a time, each once */
	size_t done = W.ns, rounds = 0;
	pktfetch_peer_add(pf, 5, now);
	while (done < W.ns && rounds < 10000) {
		if (W.ns > MAXSENT - 4) {
			memmove(W.s, W.s + done, (W.ns - done) * sizeof(W.s[0]));
			W.ns -= done;
			done = 0;
		}
		for (uint32_t j = 0; j < W.s[done].n; j++)
			W.held[W.s[done].k[j].id] = 1;
		miss_all(pf, done, now);
		done++;
		rounds++;
	}
	pktfetch_get_stats(pf, &st);
	assert_int_equal(st.keys, 0);
	assert_int_equal(st.outstanding, 0);
	assert_int_equal(st.keys_asked, 5 + PKTFETCH_MAX_KEYS);
	assert_int_equal(st.reasked, 0);
	assert_int_equal(rounds, PKTFETCH_MAX_KEYS / PKTFETCH_REQ_KEYS);
	assert_int_equal(pktfetch_debug_check(pf), 0);
	pktfetch_free(pf);
	free(k);
}

/* Random operations against the invariants (bounded: 20,000 steps). */
static void test_random_ops(void **state)
{
	struct pktfetch *pf = mk(512);
	uint64_t now = 1, rng = 42;
	struct wire_pktkey k[64];

	for (int step = 0; step < 20000; step++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		unsigned op = (unsigned)(rng % 7);
		now += rng % 300;
		if (W.ns > MAXSENT - 8)
			W.ns = 0;               /* forget the log, not the state */
		switch (op) {
		case 0: {
			uint32_t from = (uint32_t)(rng >> 8) % 448;
			keys_range(k, from, 64);
			pktfetch_want(pf, k, 64, now);
			break;
		}
		case 1:
			pktfetch_peer_add(pf, (int)(rng >> 20) % 8, now);
			break;
		case 2:
			pktfetch_peer_del(pf, (int)(rng >> 20) % 8, now);
			break;
		case 3:
		case 4:
			if (W.ns) {
				size_t i = (size_t)(rng >> 24) % W.ns;
				for (uint32_t j = 0; j < W.s[i].n; j++)
					if ((rng >> (j % 40)) & 1)
						W.held[W.s[i].k[j].id] = 1;
				pktfetch_on_miss(pf, W.s[i].peer, W.s[i].reqid,
				                 (uint8_t)(op == 4), NULL, 0,
				                 now);
			}
			break;
		case 5:
			pktfetch_tick(pf, now);
			break;
		case 6:
			memset(W.held, 0, W.nheld);
			break;
		}
		assert_int_equal(pktfetch_debug_check(pf), 0);
	}
	pktfetch_free(pf);
}

/* The answering budget: keys per second with a burst, bytes per second
 * and per answer (one packet always fits). */
static void test_serve_budget(void **state)
{
	struct pktserve s = {0};
	uint64_t t = 1000;
	unsigned ok = 0;

	/* a flood of full requests: the burst, then refused */
	for (int i = 0; i < 1000; i++)
		ok += pktserve_request(&s, WIRE_PKT_MAX_KEYS, t);
	assert_int_equal(ok, (unsigned)(PKTSERVE_KEY_BURST / WIRE_PKT_MAX_KEYS));
	assert_false(pktserve_request(&s, 1, t));
	/* refills at the rate */
	t += 1000;
	ok = 0;
	for (int i = 0; i < 1000; i++)
		ok += pktserve_request(&s, WIRE_PKT_MAX_KEYS, t);
	assert_int_equal(ok, (unsigned)(PKTSERVE_KEY_RATE / WIRE_PKT_MAX_KEYS));
	/* per answer: the first packet always, then up to the cap */
	struct pktserve b = {0};
	assert_true(pktserve_bytes(&b, 0, 1048576, t));
	assert_false(pktserve_bytes(&b, 1048576, PKTSERVE_ANSWER_MAX, t));
	assert_true(pktserve_bytes(&b, 1048576, 1048576, t));
	assert_false(pktserve_bytes(&b, 2 * 1048576, 1, t));
	/* per second: the burst, then the rate */
	size_t sent = 2 * 1048576;
	while (pktserve_bytes(&b, 0, 1048576, t))
		sent += 1048576;
	assert_int_equal(sent, (size_t)PKTSERVE_BYTE_BURST);
	assert_false(pktserve_bytes(&b, 0, 1048576, t + 10));
	assert_true(pktserve_bytes(&b, 0, 1048576, t + 40));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spread_and_limits),
		cmocka_unit_test(test_miss_reask),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_peer_leaves),
		cmocka_unit_test(test_have_ttl_cap),
		cmocka_unit_test(test_random_ops),
		cmocka_unit_test(test_serve_budget),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(W.held);
	return rc;
}
