/* test_store.c - unit tests for src/core/store.c: put/get/dup, the DEX_list
 * matrix against a brute-force model (API.md 4.2), packets sharing an id,
 * purge at the exact lifetime boundary, index keys freed, eviction order
 * under the memory cap, order-independent fingerprints, time buckets, and
 * a randomised put/purge run checked against the model.
 *
 * Packets use txpowbits 0, so every hash is valid; where a test needs a
 * given priority it overrides pe.priority (the store trusts its caller's
 * evaluation).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"

#define T0 1767225600u

struct mp {
	uint8_t buf[160];
	size_t len;
	struct pow_eval pe;
	uint64_t seq;   /* model arrival number */
	bool live;
	const char *ta, *tb;
	const uint8_t *pk;
	uint64_t a, b;
	uint32_t ts;
};

static uint8_t pk1[33], pk2[33];

static void init_keys(void)
{
	memset(pk1, 0x11, 33);
	memset(pk2, 0x22, 33);
	pk1[0] = pk2[0] = 0x01;
}

static void mk(struct mp *m, const char *ta, const char *tb,
               const uint8_t *pk, uint64_t a, uint64_t b, uint32_t ts,
               uint32_t nonce, const char *payload)
{
	struct packet_fields f = {
		.relay = 3, .kind = PACKET_KIND_DATA, .timestamp = ts,
		.amount_a = a, .amount_b = b, .pubkey = pk,
		.tag_a = (const uint8_t *)ta, .len_a = strlen(ta),
		.tag_b = (const uint8_t *)tb, .len_b = strlen(tb),
		.payload = (const uint8_t *)payload,
		.payload_len = strlen(payload), .nonce = nonce,
	};

	memset(m, 0, sizeof(*m));
	m->len = packet_encode(m->buf, sizeof(m->buf), &f);
	assert_true(m->len > 0);
	txpow_eval(m->buf, m->len, 0, &m->pe);
	assert_true(m->pe.valid);
	m->ta = ta;
	m->tb = tb;
	m->pk = pk;
	m->a = a;
	m->b = b;
	m->ts = ts;
}

static struct store *mkstore(uint32_t purgetime, uint64_t maxmem)
{
	struct store_config c = {.purgetime = purgetime, .maxmem = maxmem};
	struct store *s = store_new(&c);

	assert_non_null(s);
	return s;
}

static uint64_t model_seq;

static int put(struct store *s, struct mp *m, uint32_t now)
{
	struct stored *sp = NULL;
	int rc = store_put(s, m->buf, m->len, &m->pe, now, &sp);

	if (rc == E_OK) {
		assert_non_null(sp);
		m->seq = ++model_seq;
		m->live = true;
	}
	return rc;
}

/* ---- query collection --------------------------------------------------- */

struct coll {
	const struct stored *v[512];
	size_t n;
	size_t limit; /* stop after this many (0 = no limit) */
};

static bool coll_cb(struct stored *sp, void *arg)
{
	struct coll *c = arg;

	assert_true(c->n < 512);
	c->v[c->n++] = sp;
	return !(c->limit && c->n >= c->limit);
}

/* API.md 4.2 by brute force over the model.  The model array is in
 * arrival order (every test puts ms[i] before ms[i+1]). */
static size_t model_query(struct mp *ms, size_t nm, const struct store_query *q,
                          const struct mp **out)
{
	size_t n = 0, i;
	uint64_t last = UINT64_MAX;

	for (i = nm; i-- > 0;) {
		const struct mp *m = &ms[i];

		if (!m->live)
			continue;
		assert_true(m->seq < last);
		last = m->seq;
		if (q->len_a && (strlen(m->ta) != q->len_a ||
		                 memcmp(m->ta, q->tag_a, q->len_a)))
			continue;
		if (q->len_b && (strlen(m->tb) != q->len_b ||
		                 memcmp(m->tb, q->tag_b, q->len_b)))
			continue;
		if (q->pubkey && (!m->pk || memcmp(m->pk, q->pubkey, 33)))
			continue;
		if (q->stopat && m->pe.id == q->stopat)
			break;
		if (q->stophash && memcmp(m->pe.hash, q->stophash, 32) == 0)
			break;
		if (m->pe.priority < q->minpriority)
			continue;
		if (m->a < q->min_a || m->a > q->max_a || m->b < q->min_b ||
		    m->b > q->max_b)
			continue;
		assert_true(n < 512);
		out[n++] = m;
	}
	return n;
}

static void check_query(struct store *s, struct mp *ms, size_t nm,
                        const struct store_query *q)
{
	const struct mp *want[512];
	struct coll c = {.n = 0};
	size_t nw = model_query(ms, nm, q, want), i, r;

	r = store_query(s, q, coll_cb, &c);
	assert_int_equal(r, c.n);
	assert_int_equal(c.n, nw);
	for (i = 0; i < nw; i++)
		assert_memory_equal(c.v[i]->hash, want[i]->pe.hash, 32);
}

static void set_tags(struct store_query *q, const char *a, const char *b,
                     const uint8_t *pk)
{
	q->tag_a = (const uint8_t *)a;
	q->len_a = strlen(a);
	q->tag_b = (const uint8_t *)b;
	q->len_b = strlen(b);
	q->pubkey = pk;
}

/* ---- basic put / get ------------------------------------------------------ */

static void test_put_get_dup(void **state)
{
	struct store *s = mkstore(3600, 1 << 30);
	struct mp m, e;
	struct stored *sp = NULL;
	struct store_stats st;
	struct packet_view pv;
	struct pow_eval neg;

	init_keys();
	mk(&m, "BTC", "KMD", pk1, 5, 6, T0, 1, "hello");
	assert_int_equal(put(s, &m, T0), E_OK);
	assert_true(store_has(s, m.pe.hash));
	sp = store_get_hash(s, m.pe.hash);
	assert_non_null(sp);
	assert_int_equal(sp->id, m.pe.id);
	assert_int_equal(sp->timestamp, T0);
	assert_int_equal(sp->recvtime, T0);
	assert_int_equal(sp->relay, 3);
	assert_int_equal(sp->len, m.len);
	assert_memory_equal(stored_bytes(sp), m.buf, m.len);
	stored_view(sp, &pv);
	assert_int_equal(pv.len_a, 3);
	assert_memory_equal(pv.tag_a, "BTC", 3);
	assert_ptr_equal(store_get_id(s, m.pe.id), sp);

	/* duplicate: E_DUP and the held record */
	struct stored *o = NULL;
	assert_int_equal(store_put(s, m.buf, m.len, &m.pe, T0 + 5, &o), E_DUP);
	assert_ptr_equal(o, sp);
	/* a relay byte change is the same packet (hash excludes it) */
	m.buf[0] = 9;
	assert_int_equal(store_put(s, m.buf, m.len, &m.pe, T0, NULL), E_DUP);

	/* expired at arrival, negative priority, far future */
	mk(&e, "BTC", "", NULL, 0, 0, T0 - 3600, 2, "x");
	assert_int_equal(store_put(s, e.buf, e.len, &e.pe, T0, NULL), E_INVAL);
	mk(&e, "BTC", "", NULL, 0, 0, T0 - 3599, 2, "x");
	assert_int_equal(store_put(s, e.buf, e.len, &e.pe, T0, NULL), E_OK);
	mk(&e, "BTC", "", NULL, 0, 0, T0 + 61, 3, "x");
	assert_int_equal(store_put(s, e.buf, e.len, &e.pe, T0, NULL), E_INVAL);
	mk(&e, "BTC", "", NULL, 0, 0, T0 + 1, 4, "x");
	neg = e.pe;
	neg.priority = -1;
	assert_int_equal(store_put(s, e.buf, e.len, &neg, T0, NULL), E_INVAL);
	assert_int_equal(store_put(s, e.buf, 10, &e.pe, T0, NULL), E_INVAL);

	/* cancel and the vstate memo */
	assert_int_equal(sp->cancelled, 0);
	store_cancel(s, sp, T0 + 7);
	store_cancel(s, sp, T0 + 9);
	assert_int_equal(sp->cancelled, T0 + 7);
	sp->vstate = VSTATE_OK;
	assert_int_equal(store_get_hash(s, m.pe.hash)->vstate, VSTATE_OK);

	store_get_stats(s, &st);
	assert_int_equal(st.count, 2);
	assert_int_equal(st.added, 2);
	assert_true(st.bytes > 0);
	store_free(s);
}

/* ---- DEX_list matrix ------------------------------------------------------ */

/* Two different small packets with the same id (txpowbits 0, L < 1 KiB:
 * id = low 32 bits of h64), found by a birthday search over nonces. */
static void find_id_pair(struct mp *x, struct mp *y, const char *ta,
                         const char *tb)
{
	const uint32_t cap = 1u << 21, n = 1u << 20;
	uint32_t *tid = calloc(cap, sizeof(uint32_t));
	uint32_t *tnon = calloc(cap, sizeof(uint32_t));
	uint32_t nonce;
	struct mp *c = malloc(sizeof(*c));

	assert_non_null(tid);
	assert_non_null(tnon);
	for (nonce = 1; nonce <= n; nonce++) {
		uint32_t pos;

		mk(c, ta, tb, NULL, 100, 200, T0, nonce, "dup");
		pos = (c->pe.id * 2654435761u) & (cap - 1);
		while (tnon[pos] && tid[pos] != c->pe.id)
			pos = (pos + 1) & (cap - 1);
		if (tnon[pos]) {
			mk(x, ta, tb, NULL, 100, 200, T0, tnon[pos], "dup");
			*y = *c;
			assert_int_equal(x->pe.id, y->pe.id);
			assert_memory_not_equal(x->pe.hash, y->pe.hash, 32);
			free(c);
			free(tid);
			free(tnon);
			return;
		}
		tid[pos] = c->pe.id;
		tnon[pos] = nonce;
	}
	fail_msg("no id collision in %u nonces", n);
}

static const char *const TAGS_A[] = {"BTC", "KMD", ""};
static const char *const TAGS_B[] = {"KMD", "LTC", ""};

static void test_list_matrix(void **state)
{
	enum { NM = 90 };
	struct store *s = mkstore(3600, 1 << 30);
	struct mp *ms = calloc(NM + 2, sizeof(*ms));
	const uint8_t *pks[] = {NULL, pk1, pk2};
	size_t nm = 0, i;
	uint32_t r = 12345;

	init_keys();
	model_seq = 0;
	/* Shared-id pair first (both BTC/KMD, no pubkey), one at each end. */
	find_id_pair(&ms[0], &ms[NM + 1], "BTC", "KMD");
	assert_int_equal(put(s, &ms[0], T0), E_OK);
	nm = 1;
	for (i = 0; i < NM; i++) {
		struct mp *m = &ms[nm];

		r = r * 1103515245u + 12345u;
		mk(m, TAGS_A[(r >> 8) % 3], TAGS_B[(r >> 12) % 3],
		   pks[(r >> 16) % 3], ((r >> 4) % 10) * 100, ((r >> 20) % 10) * 50,
		   T0 + (uint32_t)(i % 7), (uint32_t)(5000000 + i), "payload");
		/* priorities 0..5 spread over the set */
		m->pe.priority = (int)((r >> 24) % 6);
		assert_int_equal(put(s, m, T0 + 10), E_OK);
		nm++;
	}
	ms[nm] = ms[NM + 1];
	assert_int_equal(put(s, &ms[nm], T0 + 10), E_OK);
	nm++;

	/* id lookups see both, newest first */
	assert_memory_equal(store_get_id(s, ms[0].pe.id)->hash,
	                    ms[nm - 1].pe.hash, 32);
	{
		struct coll c = {.n = 0};

		store_foreach_id(s, ms[0].pe.id, coll_cb, &c);
		assert_int_equal(c.n, 2);
		assert_memory_equal(c.v[0]->hash, ms[nm - 1].pe.hash, 32);
		assert_memory_equal(c.v[1]->hash, ms[0].pe.hash, 32);
		c.n = 0;
		c.limit = 1;
		store_foreach_id(s, ms[0].pe.id, coll_cb, &c);
		assert_int_equal(c.n, 1);
	}

	const char *qa[] = {"", "BTC", "KMD", "XYZ"};
	const char *qb[] = {"", "KMD", "LTC"};
	const uint8_t *qp[] = {NULL, pk1, pk2};
	int qprio[] = {0, 3};
	uint64_t amt[][4] = {
		{0, INT64_MAX, 0, INT64_MAX},
		{200, 500, 0, INT64_MAX},    /* inclusive bounds on A */
		{0, INT64_MAX, 100, 100},    /* exact B */
		{300, 300, 150, 400},
	};
	/* stop points: none, id of a middle packet, hash of a middle packet,
	 * the shared id (newest of the pair is the last packet stored),
	 * the hash of the older of the pair, an id that is not held */
	size_t mid = nm / 2;
	uint32_t stopat[] = {0, ms[mid].pe.id, 0, ms[0].pe.id, 0, 0xdeadbeef};
	const uint8_t *stophash[] = {NULL, NULL, ms[mid].pe.hash, NULL,
	                             ms[0].pe.hash, NULL};
	size_t a, b, p, pr, am, st, nq = 0;

	for (a = 0; a < 4; a++)
		for (b = 0; b < 3; b++)
			for (p = 0; p < 3; p++)
				for (pr = 0; pr < 2; pr++)
					for (am = 0; am < 4; am++)
						for (st = 0; st < 6; st++) {
							struct store_query q = {0};

							set_tags(&q, qa[a], qb[b], qp[p]);
							q.minpriority = qprio[pr];
							q.min_a = amt[am][0];
							q.max_a = amt[am][1];
							q.min_b = amt[am][2];
							q.max_b = amt[am][3];
							q.stopat = stopat[st];
							q.stophash = stophash[st];
							check_query(s, ms, nm, &q);
							nq++;
						}
	assert_int_equal(nq, 4 * 3 * 3 * 2 * 4 * 6);

	/* Both stop points given: the first met wins (the shared id is on
	 * the newest packet); a callback returning false stops the walk. */
	{
		struct store_query q = {0};
		struct coll c = {.n = 0};

		set_tags(&q, "BTC", "KMD", NULL);
		q.max_a = q.max_b = INT64_MAX;
		q.stopat = ms[0].pe.id;
		q.stophash = ms[mid].pe.hash;
		check_query(s, ms, nm, &q);
		/* The newest packet is the shared-id one: nothing listed. */
		assert_int_equal(store_query(s, &q, coll_cb, &c), 0);
		q.stopat = 0;
		q.stophash = NULL;
		c.n = 0;
		c.limit = 2; /* cb stops early */
		assert_int_equal(store_query(s, &q, coll_cb, &c), 2);
	}
	free(ms);
	store_free(s);
}

/* ---- purge ----------------------------------------------------------------- */

static void test_purge_boundary(void **state)
{
	struct store *s = mkstore(10, 1 << 30);
	struct mp m1, m2, m3;
	struct store_stats st;
	struct store_query q = {0};
	struct coll c = {.n = 0};
	uint8_t zero[32] = {0}, fp[32];

	init_keys();
	mk(&m1, "BTC", "KMD", pk1, 1, 1, T0, 1, "a");
	mk(&m2, "BTC", "", NULL, 1, 1, T0 + 1, 2, "b");
	mk(&m3, "", "", NULL, 1, 1, T0 + 1, 3, "c");
	assert_int_equal(put(s, &m1, T0), E_OK);
	assert_int_equal(put(s, &m2, T0 + 1), E_OK);
	assert_int_equal(put(s, &m3, T0 + 1), E_OK);
	/* keys: pairs BTC/KMD and BTC/"", tagA BTC, tagB KMD, pubkey pk1 */
	assert_int_equal(store_index_keys(s), 5);

	/* held while now - timestamp < purgetime */
	assert_int_equal(store_purge(s, T0 + 9), 0);
	assert_true(store_has(s, m1.pe.hash));
	assert_int_equal(store_purge(s, T0 + 10), 1);
	assert_false(store_has(s, m1.pe.hash));
	assert_null(store_get_id(s, m1.pe.id));
	assert_true(store_has(s, m2.pe.hash));
	/* only pair BTC/"" and tagA BTC are left (m2); the others are freed */
	assert_int_equal(store_index_keys(s), 2);
	set_tags(&q, "BTC", "", NULL);
	q.max_a = q.max_b = INT64_MAX;
	assert_int_equal(store_query(s, &q, coll_cb, &c), 1);
	assert_memory_equal(c.v[0]->hash, m2.pe.hash, 32);
	/* same second again: nothing more */
	assert_int_equal(store_purge(s, T0 + 10), 0);
	/* a put expired at arrival is refused at the boundary */
	assert_int_equal(store_put(s, m1.buf, m1.len, &m1.pe, T0 + 10, NULL),
	                 E_INVAL);
	assert_int_equal(store_purge(s, T0 + 11), 2);
	assert_int_equal(store_index_keys(s), 0);
	store_get_stats(s, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.purged, 3);
	assert_int_equal(st.freed, 3);
	assert_int_equal(st.bytes, 0);
	for (int i = 0; i < 14; i++)
		assert_int_equal(st.by_priority[i], 0);
	store_fingerprint(s, fp);
	assert_memory_equal(fp, zero, 32);
	assert_int_equal(store_idxor(s), 0);

	/* a big jump in time (longer than the ring) purges everything once */
	mk(&m1, "X", "", NULL, 1, 1, T0 + 20, 4, "d");
	assert_int_equal(put(s, &m1, T0 + 20), E_OK);
	assert_int_equal(store_purge(s, T0 + 1000000), 1);
	assert_int_equal(store_index_keys(s), 0);
	store_free(s);
}

/* Lazy purge: the caller did not purge, and a new second reuses the ring
 * entry of an expired one. */
static void test_ring_reuse(void **state)
{
	struct store *s = mkstore(10, 1 << 30);
	struct mp m1, m2;
	struct store_stats st;
	uint32_t t;

	mk(&m1, "A", "", NULL, 1, 1, T0, 1, "a");
	assert_int_equal(put(s, &m1, T0), E_OK);
	/* find a later second that maps to the same ring entry */
	for (t = T0 + 1; t < T0 + 2000; t++) {
		mk(&m2, "A", "", NULL, 1, 1, t, 2, "b");
		assert_int_equal(put(s, &m2, t), E_OK);
		store_get_stats(s, &st);
		if (st.purged)
			break;
	}
	store_get_stats(s, &st);
	assert_int_equal(st.purged, 1);
	assert_false(store_has(s, m1.pe.hash));
	store_free(s);
}

/* ---- eviction ---------------------------------------------------------------- */

static void test_eviction_order(void **state)
{
	struct store *s;
	struct mp m[8], hi, lo;
	struct store_stats st;
	uint64_t one;
	int prio[8] = {2, 0, 1, 0, 2, 1, 0, 3};
	int i;

	/* measure the cost of one packet, then cap at exactly 8 of them */
	s = mkstore(3600, 1ULL << 40);
	mk(&m[0], "T", "", NULL, 0, 0, T0, 100, "same-size");
	assert_int_equal(put(s, &m[0], T0), E_OK);
	store_get_stats(s, &st);
	one = st.bytes;
	store_free(s);

	s = mkstore(3600, one * 8);
	for (i = 0; i < 8; i++) {
		mk(&m[i], "T", "", NULL, 0, 0, T0, 100 + (uint32_t)i, "same-size");
		m[i].pe.priority = prio[i];
		assert_int_equal(put(s, &m[i], T0), E_OK);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.count, 8);
	assert_int_equal(st.bytes, one * 8);
	assert_int_equal(st.by_priority[0], 3);

	/* priority 0 is the lowest held: a new priority-0 packet is refused */
	mk(&lo, "T", "", NULL, 0, 0, T0, 200, "same-size");
	lo.pe.priority = 0;
	assert_int_equal(store_put(s, lo.buf, lo.len, &lo.pe, T0, NULL), E_NOMEM);

	/* priority 1 evicts the oldest priority 0 (m[1]), then m[3], m[6] */
	int expect[] = {1, 3, 6, 2, 5};
	for (i = 0; i < 5; i++) {
		mk(&hi, "T", "", NULL, 0, 0, T0, 300 + (uint32_t)i, "same-size");
		hi.pe.priority = 3;
		assert_int_equal(store_put(s, hi.buf, hi.len, &hi.pe, T0, NULL), E_OK);
		assert_false(store_has(s, m[expect[i]].pe.hash));
		for (int j = i + 1; j < 5; j++)
			assert_true(store_has(s, m[expect[j]].pe.hash));
	}
	store_get_stats(s, &st);
	assert_int_equal(st.evicted, 5);
	assert_int_equal(st.count, 8);
	assert_int_equal(st.by_priority[0], 0);
	assert_int_equal(st.by_priority[1], 0);
	assert_int_equal(st.by_priority[3], 6);
	/* lowest now is 2 (m[0], m[4]); a priority-2 packet is refused,
	 * nothing was evicted for it */
	mk(&lo, "T", "", NULL, 0, 0, T0, 400, "same-size");
	lo.pe.priority = 2;
	assert_int_equal(store_put(s, lo.buf, lo.len, &lo.pe, T0, NULL), E_NOMEM);
	assert_true(store_has(s, m[0].pe.hash));
	assert_true(store_has(s, m[4].pe.hash));
	/* a packet bigger than the whole cap is refused */
	{
		uint8_t big[2000];
		char pay[1500];
		struct packet_fields f = {.kind = PACKET_KIND_DATA, .timestamp = T0,
		                          .payload = (const uint8_t *)pay,
		                          .payload_len = sizeof(pay)};
		struct pow_eval pe;
		size_t L;

		memset(pay, 'z', sizeof(pay));
		L = packet_encode(big, sizeof(big), &f);
		txpow_eval(big, L, 0, &pe);
		pe.priority = 60;
		struct store *s2 = mkstore(3600, 1000);
		assert_int_equal(store_put(s2, big, L, &pe, T0, NULL), E_NOMEM);
		store_free(s2);
	}
	assert_int_equal(store_index_keys(s), 2); /* pair T/"", tagA T */
	store_free(s);
}

/* on_evict sees each packet the cap removes, in eviction order, while it
 * is still held (and nothing else: purges do not call it). */
struct evict_log {
	struct store *s;
	uint8_t hash[8][32];
	int n;
	bool held_when_called;
};

static void log_evict(struct stored *sp, void *arg)
{
	struct evict_log *l = arg;

	if (l->n < 8)
		memcpy(l->hash[l->n], sp->hash, 32);
	l->n++;
	if (!l->s || store_get_hash(l->s, sp->hash) != sp)
		l->held_when_called = false;
}

static void test_eviction_hook(void **state)
{
	struct mp m[4], hi;
	struct store_stats st;
	struct evict_log log = {.held_when_called = true};
	uint64_t one;
	struct store *s = mkstore(3600, 1ULL << 40);

	mk(&m[0], "T", "", NULL, 0, 0, T0, 100, "same-size");
	assert_int_equal(put(s, &m[0], T0), E_OK);
	store_get_stats(s, &st);
	one = st.bytes;
	store_free(s);

	struct store_config c = {.purgetime = 3600, .maxmem = one * 4,
	                         .on_evict = log_evict, .evict_arg = &log};
	s = store_new(&c);
	assert_non_null(s);
	log.s = s;
	for (int i = 0; i < 4; i++) {
		mk(&m[i], "T", "", NULL, 0, 0, T0 + (uint32_t)i, 100 + (uint32_t)i,
		   "same-size");
		m[i].pe.priority = i == 1 ? 0 : 1;
		assert_int_equal(put(s, &m[i], T0 + 3), E_OK);
	}
	assert_int_equal(log.n, 0);
	/* two higher-priority packets evict m[1] (priority 0), then m[0] */
	for (int i = 0; i < 2; i++) {
		mk(&hi, "T", "", NULL, 0, 0, T0 + 3, 300 + (uint32_t)i, "same-size");
		hi.pe.priority = 5;
		assert_int_equal(store_put(s, hi.buf, hi.len, &hi.pe, T0 + 3, NULL),
		                 E_OK);
	}
	assert_int_equal(log.n, 2);
	assert_memory_equal(log.hash[0], m[1].pe.hash, 32);
	assert_memory_equal(log.hash[1], m[0].pe.hash, 32);
	assert_true(log.held_when_called);
	assert_false(store_has(s, m[1].pe.hash));
	/* expiry is not eviction */
	assert_true(store_purge(s, T0 + 3 + 3600) > 0);
	assert_int_equal(log.n, 2);
	store_get_stats(s, &st);
	assert_int_equal(st.evicted, 2);
	store_free(s);
}

/* Among equal priorities the victim is the oldest timestamp second, then
 * the oldest arrival in it; priorities >= 15 form one class. */
static void test_eviction_time(void **state)
{
	struct store *s;
	struct mp m[4], hi;
	struct store_stats st;
	uint32_t ts[4] = {T0 + 3, T0 + 1, T0 + 2, T0 + 1};
	int expect[4] = {1, 3, 2, 0}, i;
	uint64_t one;

	s = mkstore(3600, 1ULL << 40);
	mk(&m[0], "T", "U", NULL, 0, 0, T0, 100, "same");
	assert_int_equal(put(s, &m[0], T0), E_OK);
	store_get_stats(s, &st);
	one = st.bytes;
	store_free(s);

	s = mkstore(3600, one * 4);
	for (i = 0; i < 4; i++) {
		mk(&m[i], "T", "U", NULL, 0, 0, ts[i], 100 + (uint32_t)i, "same");
		m[i].pe.priority = 20 + i; /* all in the top class */
		assert_int_equal(put(s, &m[i], T0 + 5), E_OK);
	}
	/* a priority-15 packet is in the same class: refused */
	mk(&hi, "T", "U", NULL, 0, 0, T0 + 4, 200, "same");
	hi.pe.priority = 15;
	assert_int_equal(store_put(s, hi.buf, hi.len, &hi.pe, T0 + 5, NULL),
	                 E_NOMEM);
	store_free(s);

	s = mkstore(3600, one * 4);
	for (i = 0; i < 4; i++) {
		mk(&m[i], "T", "U", NULL, 0, 0, ts[i], 100 + (uint32_t)i, "same");
		m[i].pe.priority = 2;
		assert_int_equal(put(s, &m[i], T0 + 5), E_OK);
	}
	for (i = 0; i < 4; i++) {
		mk(&hi, "T", "U", NULL, 0, 0, T0 + 4, 300 + (uint32_t)i, "same");
		hi.pe.priority = 3;
		assert_int_equal(store_put(s, hi.buf, hi.len, &hi.pe, T0 + 5, NULL),
		                 E_OK);
		assert_false(store_has(s, m[expect[i]].pe.hash));
		for (int j = i + 1; j < 4; j++)
			assert_true(store_has(s, m[expect[j]].pe.hash));
	}
	store_get_stats(s, &st);
	assert_int_equal(st.evicted, 4);
	assert_int_equal(st.by_priority[3], 4);
	store_free(s);
}

struct inv {
	size_t n;
	uint8_t fp[32];
};

static bool inv_cb(struct stored *sp, void *arg)
{
	struct inv *v = arg;

	v->n++;
	for (int k = 0; k < 32; k++)
		v->fp[k] ^= sp->hash[k];
	return true;
}

/* Random puts and purges under a tight cap: the invariants hold (bytes
 * within the cap, the time walk, the global walk and the fingerprint all
 * agree with the count). */
static void test_random_cap(void **state)
{
	struct store *s = mkstore(30, 200 * 1000);
	const uint8_t *pks[] = {NULL, pk1, pk2};
	uint32_t now = T0, r = 7;
	struct store_stats st;
	struct mp m;
	int i, ok = 0, nomem = 0;

	init_keys();
	for (i = 0; i < 20000; i++) {
		int rc;

		r = r * 1103515245u + 12345u;
		if (r % 211 == 0)
			store_purge(s, ++now);
		mk(&m, TAGS_A[(r >> 8) % 3], TAGS_B[(r >> 12) % 3],
		   pks[(r >> 16) % 3], 1, 2, now - (r >> 20) % 25, (uint32_t)i,
		   (r >> 5) % 2 ? "a longer payload to vary sizes" : "s");
		m.pe.priority = (int)((r >> 24) % 20);
		rc = store_put(s, m.buf, m.len, &m.pe, now, NULL);
		assert_true(rc == E_OK || rc == E_NOMEM);
		ok += rc == E_OK;
		nomem += rc == E_NOMEM;
		if (i % 1000 == 999) {
			struct inv a = {0}, b = {0};
			struct store_query q = {0};
			uint8_t fp[32];

			store_get_stats(s, &st);
			assert_true(st.bytes <= 200 * 1000);
			store_foreach_time(s, 0, UINT32_MAX, inv_cb, &a);
			q.max_a = q.max_b = INT64_MAX;
			assert_int_equal(store_query(s, &q, inv_cb, &b), st.count);
			assert_int_equal(a.n, st.count);
			store_fingerprint(s, fp);
			assert_memory_equal(a.fp, fp, 32);
			assert_memory_equal(b.fp, fp, 32);
		}
	}
	store_get_stats(s, &st);
	assert_true(st.evicted > 0);
	assert_true(nomem > 0);
	assert_int_equal(st.added, (uint64_t)ok);
	assert_int_equal(st.added - st.purged - st.evicted, st.count);
	store_purge(s, now + 100);
	store_get_stats(s, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(store_index_keys(s), 0);
	store_free(s);
}

/* ---- fingerprints and time buckets ----------------------------------------- */

struct tcount {
	size_t n;
	uint32_t t0, t1;
};

static bool tcount_cb(struct stored *sp, void *arg)
{
	struct tcount *c = arg;

	assert_true(sp->timestamp >= c->t0 && sp->timestamp <= c->t1);
	c->n++;
	return true;
}

static void test_fingerprint_order(void **state)
{
	enum { N = 200 };
	struct store *s1 = mkstore(3600, 1 << 30), *s2 = mkstore(3600, 1 << 30);
	struct mp *m = calloc(N, sizeof(*m));
	uint8_t f1[32], f2[32], x[32] = {0};
	uint32_t idx = 0;
	int i, order[N];
	struct store_bucket b1, b2;

	for (i = 0; i < N; i++) {
		mk(&m[i], i % 2 ? "BTC" : "", "", NULL, 0, 0, T0 + (uint32_t)(i % 30),
		   (uint32_t)i, "fp");
		order[i] = i;
		for (int k = 0; k < 32; k++)
			x[k] ^= m[i].pe.hash[k];
		idx ^= m[i].pe.id;
	}
	/* deterministic shuffle */
	for (i = N - 1; i > 0; i--) {
		int j = (i * 7919 + 13) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < N; i++) {
		assert_int_equal(put(s1, &m[i], T0 + 40), E_OK);
		assert_int_equal(put(s2, &m[order[i]], T0 + 40), E_OK);
	}
	store_fingerprint(s1, f1);
	store_fingerprint(s2, f2);
	assert_memory_equal(f1, f2, 32);
	assert_memory_equal(f1, x, 32);
	assert_int_equal(store_idxor(s1), idx);
	assert_int_equal(store_idxor(s2), idx);
	for (uint32_t t = T0 - 1; t <= T0 + 31; t++) {
		store_bucket(s1, t, &b1);
		store_bucket(s2, t, &b2);
		assert_int_equal(b1.count, b2.count);
		assert_memory_equal(b1.fp, b2.fp, 32);
		assert_int_equal(b1.count, (t >= T0 && t < T0 + 30) ? (N / 30 +
		                 ((t - T0) < N % 30 ? 1 : 0)) : 0);
	}
	/* a range equals the XOR of its seconds; the whole range = store */
	store_range(s1, T0 + 3, T0 + 5, &b1);
	memset(&b2, 0, sizeof(b2));
	for (uint32_t t = T0 + 3; t <= T0 + 5; t++) {
		struct store_bucket one;

		store_bucket(s2, t, &one);
		b2.count += one.count;
		for (int k = 0; k < 32; k++)
			b2.fp[k] ^= one.fp[k];
	}
	assert_int_equal(b1.count, b2.count);
	assert_memory_equal(b1.fp, b2.fp, 32);
	store_range(s2, 0, UINT32_MAX, &b2);
	assert_int_equal(b2.count, N);
	assert_memory_equal(b2.fp, x, 32);
	{
		struct tcount c = {0, T0 + 3, T0 + 5};

		store_foreach_time(s1, T0 + 3, T0 + 5, tcount_cb, &c);
		assert_int_equal(c.n, b1.count);
		c.n = 0;
		c.t0 = 0;
		c.t1 = UINT32_MAX;
		store_foreach_time(s1, 0, UINT32_MAX, tcount_cb, &c);
		assert_int_equal(c.n, N);
	}
	/* the fingerprints diverge when one store loses packets */
	assert_int_equal(store_purge(s2, T0 + 3600), (size_t)(N / 30 + 1));
	store_fingerprint(s2, f2);
	assert_memory_not_equal(f1, f2, 32);
	free(m);
	store_free(s1);
	store_free(s2);
}

/* ---- randomised run against the model -------------------------------------- */

static void test_random_model(void **state)
{
	enum { N = 6000 };
	struct store *s = mkstore(20, 1ULL << 40);
	struct mp *m = calloc(N, sizeof(*m));
	const uint8_t *pks[] = {NULL, pk1, pk2};
	uint32_t now = T0, r = 99;
	size_t i, live = 0;
	struct store_stats st;

	init_keys();
	model_seq = 0;
	for (i = 0; i < N; i++) {
		r = r * 1103515245u + 12345u;
		if (r % 97 == 0) {
			now += 1 + (r >> 8) % 3;
			size_t purged = store_purge(s, now), want = 0;

			for (size_t j = 0; j < i; j++)
				if (m[j].live && m[j].ts + 20 <= now) {
					m[j].live = false;
					want++;
				}
			assert_int_equal(purged, want);
			live -= want;
			/* hash and id tables agree with the model after the
			 * deletions (backward-shift deletion, shrinking) */
			for (size_t j = 0; j < i; j++) {
				assert_int_equal(store_has(s, m[j].pe.hash), m[j].live);
				if (m[j].live)
					assert_non_null(store_get_id(s, m[j].pe.id));
			}
		}
		mk(&m[i], TAGS_A[(r >> 8) % 3], TAGS_B[(r >> 12) % 3],
		   pks[(r >> 16) % 3], (r >> 4) % 1000, (r >> 14) % 1000,
		   now - (r >> 20) % 15 + 1, (uint32_t)i, "rnd");
		m[i].pe.priority = (int)((r >> 26) % 4);
		assert_int_equal(put(s, &m[i], now), E_OK);
		live++;
		if (i % 500 == 499) {
			struct store_query q = {0};

			store_get_stats(s, &st);
			assert_int_equal(st.count, live);
			set_tags(&q, TAGS_A[i % 3], TAGS_B[(i / 3) % 3],
			         pks[(i / 9) % 3]);
			q.max_a = q.max_b = INT64_MAX;
			q.minpriority = (int)(i % 2);
			/* these queries may return up to a few hundred packets */
			if (q.len_a || q.len_b || q.pubkey)
				check_query(s, m, i + 1, &q);
		}
	}
	assert_int_equal(store_purge(s, now + 100), live);
	store_get_stats(s, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(store_index_keys(s), 0);
	free(m);
	store_free(s);
}

/* No tag, no pubkey: every packet, newest first across priorities. */
static uint64_t sid_of(const uint8_t *h)
{
	uint64_t v = 0;

	for (int i = 15; i >= 8; i--)
		v = v << 8 | h[i];
	return v;
}

static bool count_short_cb(struct stored *sp, void *arg)
{
	(void)sp;
	(*(int *)arg)++;
	return true;
}

/* Short id lookups (bytes 8..15 of the hash, little-endian) through the
 * hash table: every held packet found, absent ids not, colliding short ids
 * (forged hashes: the store trusts pe.hash) all visited, newest returned. */
static void test_short_id(void **state)
{
	struct store *s = mkstore(3600, 1 << 30);
	static struct mp m[3000];
	struct mp c[3];
	uint32_t i;
	int n;

	for (i = 0; i < 3000; i++) {
		char pl[16];

		snprintf(pl, sizeof(pl), "p%u", i);
		mk(&m[i], "BTC", "KMD", NULL, i, 0, T0 - i % 100, i, pl);
		assert_int_equal(put(s, &m[i], T0), E_OK);
	}
	for (i = 0; i < 3000; i++) {
		uint64_t sid = sid_of(m[i].pe.hash);

		assert_ptr_equal(store_get_short(s, sid),
		                 store_get_hash(s, m[i].pe.hash));
		assert_null(store_get_short(s, sid ^ 1));
		assert_null(store_get_short(s, sid ^ (1ULL << 63)));
		n = 0;
		store_foreach_short(s, sid, count_short_cb, &n);
		assert_int_equal(n, 1);
	}
	/* three packets whose hashes differ but share bytes 8..15 */
	for (i = 0; i < 3; i++) {
		mk(&c[i], "LTC", "", NULL, 0, 0, T0, 100000 + i, "col");
		memcpy(c[i].pe.hash + 8, m[7].pe.hash + 8, 8);
		assert_int_equal(put(s, &c[i], T0), E_OK);
	}
	n = 0;
	store_foreach_short(s, sid_of(m[7].pe.hash), count_short_cb, &n);
	assert_int_equal(n, 4);
	assert_ptr_equal(store_get_short(s, sid_of(m[7].pe.hash)),
	                 store_get_hash(s, c[2].pe.hash));
	/* purged packets are gone from the short id lookup too */
	assert_true(store_purge(s, T0 + 3600 - 99 + 50) > 0);
	for (i = 0; i < 3000; i++)
		assert_ptr_equal(store_get_short(s, sid_of(m[i].pe.hash)) != NULL,
		                 store_has(s, m[i].pe.hash) ||
		                     (i == 7 && store_has(s, c[0].pe.hash)));
	store_free(s);
}

static bool collect_seq_cb(struct stored *sp, void *arg)
{
	uint32_t *v = arg;

	v[++v[0]] = sp->seq;
	return true;
}


/* Every model packet is found by hash, id and short id exactly when it is
 * live, and the store's invariants hold. */
static void check_model_lookups(struct store *s, struct mp *m, size_t n)
{
	int line = store_debug_check(s);

	if (line)
		fail_msg("store_debug_check failed at store.c:%d", line);
	for (size_t j = 0; j < n; j++) {
		assert_int_equal(store_has(s, m[j].pe.hash), m[j].live);
		if (!m[j].live)
			continue;
		assert_non_null(store_get_id(s, m[j].pe.id));
		assert_non_null(store_get_short(s, sid_of(m[j].pe.hash)));
	}
}

/* The hash and id tables resize a few entries per put: growth, tombstone
 * sweeps and a shrink each last many puts, with lookups, deletions
 * (purges) and puts all correct while both arrays are in use. */
static void test_resize_incremental(void **state)
{
	enum { N = 16000 };
	struct store *s = mkstore(20, 1ULL << 40);
	struct mp *m = calloc(N, sizeof(*m));
	uint32_t now = T0;
	size_t i, j, resizes = 0, run = 0, longest = 0, checks = 0;
	bool was = false;

	assert_non_null(m);
	model_seq = 0;
	for (i = 0; i < N; i++) {
		char pl[32];

		/* 1,000 packets a "second" (3 s apart), each held 20 s: the
		 * store grows, then holds ~7,000 with purges in between */
		if (i && i % 1000 == 0) {
			now += 3;
			store_purge(s, now);
			for (j = 0; j < i; j++)
				if (m[j].live && m[j].ts + 20 <= now)
					m[j].live = false;
			if (store_debug_resizing(s)) {
				check_model_lookups(s, m, i);
				checks++;
			}
		}
		snprintf(pl, sizeof(pl), "resize %zu", i);
		mk(&m[i], "rs", "", NULL, i, 0, now, (uint32_t)i, pl);
		assert_int_equal(put(s, &m[i], now), E_OK);
		bool is = store_debug_resizing(s);

		if (is) {
			run++;
			if (!was)
				resizes++;
		} else if (was) {
			if (run > longest)
				longest = run;
			run = 0;
		}
		/* at the start, middle and end of each resize */
		if (is != was || (is && run % 512 == 0)) {
			check_model_lookups(s, m, i + 1);
			checks++;
		}
		was = is;
	}
	/* several resizes (14 here), none done in one put: the big ones
	 * take about a thousand puts (paced to end within half the room
	 * left, at least 4 slots a put) */
	assert_true(resizes >= 5);
	assert_true(longest >= 100);
	assert_true(checks >= 2 * resizes);
	/* purge all but the newest second: a shrink starts and moves on
	 * with later puts */
	now += 19;
	store_purge(s, now);
	for (j = 0; j < N; j++)
		if (m[j].live && m[j].ts + 20 <= now)
			m[j].live = false;
	check_model_lookups(s, m, N);
	assert_true(store_debug_resizing(s));
	for (i = 0; i < 5000 && store_debug_resizing(s); i++) {
		struct mp x;

		mk(&x, "rs", "", NULL, i, 1, now, (uint32_t)(N + i), "after");
		assert_int_equal(store_put(s, x.buf, x.len, &x.pe, now, NULL),
		                 E_OK);
	}
	assert_false(store_debug_resizing(s));
	assert_true(i > 100);
	check_model_lookups(s, m, N);
	free(m);
	store_free(s);
}

/* Arrival numbers are 32 bits: at the wrap the store renumbers the held
 * packets 1..n in the same order; newest-first walks and store_get_id
 * stay right across it. */
static void test_seq_wrap(void **state)
{
	struct store *s = mkstore(3600, 1 << 30);
	struct mp m[40];
	struct store_query q = {.max_a = UINT64_MAX, .max_b = UINT64_MAX};
	uint32_t got[64], i;

	q.tag_a = (const uint8_t *)"BTC";
	q.len_a = 3;
	store_debug_set_seq(s, UINT32_MAX - 20);
	for (i = 0; i < 40; i++) {
		char pl[8];

		snprintf(pl, sizeof(pl), "w%u", i);
		mk(&m[i], "BTC", "", NULL, i, 0, T0, 500 + i, pl);
		assert_int_equal(put(s, &m[i], T0), E_OK);
		if (i == 25) /* after the wrap, older packets still found */
			assert_non_null(store_get_hash(s, m[3].pe.hash));
	}
	/* renumbered once, at the 21st put: 20 held -> 1..20, then 21..40 */
	for (i = 0; i < 40; i++)
		assert_int_equal(store_get_hash(s, m[i].pe.hash)->seq, i + 1);
	got[0] = 0;
	assert_int_equal(store_query(s, &q, collect_seq_cb, got), 40);
	for (i = 1; i <= 40; i++)
		assert_int_equal(got[i], 41 - i);
	store_free(s);
}

/* Records over the slab class limit (8 KiB) get a slab of their own;
 * mixed sizes share classes; everything reads back and frees. */
static void test_large_records(void **state)
{
	static const size_t sizes[] = {30000, 9000, 8100, 200, 8100, 40, 60000};
	struct store *s = mkstore(3600, 1 << 30);
	static uint8_t buf[7][70000];
	uint8_t hashes[7][32];
	struct store_stats st;
	size_t k;

	for (k = 0; k < 7; k++) {
		char *pl = malloc(sizes[k] + 1);
		struct packet_fields f = {
			.relay = 1, .kind = PACKET_KIND_DATA, .timestamp = T0 - (uint32_t)k,
			.tag_a = (const uint8_t *)"BTC", .len_a = 3,
			.payload = (const uint8_t *)pl, .payload_len = sizes[k],
			.nonce = (uint32_t)k,
		};
		struct pow_eval pe;
		size_t len;

		assert_non_null(pl);
		memset(pl, 'a' + (int)k, sizes[k]);
		len = packet_encode(buf[k], sizeof(buf[k]), &f);
		assert_true(len > 0);
		txpow_eval(buf[k], len, 0, &pe);
		memcpy(hashes[k], pe.hash, 32);
		pe.priority = 1; /* big packets: priority from the caller */
		assert_int_equal(store_put(s, buf[k], len, &pe, T0, NULL), E_OK);
		free(pl);
	}
	for (k = 0; k < 7; k++) {
		struct stored *sp = store_get_hash(s, hashes[k]);

		assert_non_null(sp);
		assert_memory_equal(stored_bytes(sp), buf[k], sp->len);
		assert_int_equal(sp->len, 29 + 3 + sizes[k]);
	}
	assert_int_equal(store_purge(s, T0 + 3600 - 3), 4); /* ts <= T0-3 */
	for (k = 0; k < 7; k++)
		assert_int_equal(store_has(s, hashes[k]), k < 3);
	assert_int_equal(store_purge(s, T0 + 3600), 3);
	store_get_stats(s, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	store_free(s);
}

static void test_walk_all(void **state)
{
	struct store *s = mkstore(3600, 1 << 30);
	struct mp m[40];
	struct store_query q = {0};
	size_t i;

	model_seq = 0;
	for (i = 0; i < 40; i++) {
		mk(&m[i], i % 3 ? "A" : "", i % 5 ? "" : "B", NULL, i, i,
		   T0 + (uint32_t)(39 - i), (uint32_t)i, "w");
		m[i].pe.priority = (int)(i * 7 % 11);
		assert_int_equal(put(s, &m[i], T0 + 40), E_OK);
	}
	q.max_a = q.max_b = INT64_MAX;
	check_query(s, m, 40, &q);
	q.minpriority = 5;
	q.stophash = m[3].pe.hash;
	check_query(s, m, 40, &q);
	q.minpriority = 0;
	q.stophash = NULL;
	q.min_a = 10;
	q.max_a = 20;
	check_query(s, m, 40, &q);
	store_free(s);
}

/* ---- adversarial review: invariants, eviction, clock, slabs ------------------ */

struct walk {
	size_t n;
	uint8_t fp[32];
	uint32_t idxor;
	uint64_t byp[14];
	uint32_t ts[4096]; /* distinct timestamps seen (first 4096) */
	size_t nts;
};

static bool walk_cb(struct stored *sp, void *arg)
{
	struct walk *w = arg;
	size_t i;

	w->n++;
	for (int k = 0; k < 32; k++)
		w->fp[k] ^= sp->hash[k];
	w->idxor ^= sp->id;
	w->byp[sp->priority >= 13 ? 13 : sp->priority]++;
	for (i = 0; i < w->nts && w->ts[i] != sp->timestamp; i++)
		;
	if (i == w->nts && w->nts < 4096)
		w->ts[w->nts++] = sp->timestamp;
	return true;
}

static bool bucket_cb(struct stored *sp, void *arg)
{
	struct store_bucket *b = arg;

	b->count++;
	for (int k = 0; k < 32; k++)
		b->fp[k] ^= sp->hash[k];
	return true;
}

/* The store's own full check, plus the public view recomputed from a walk
 * of every held packet: count, fingerprint, id XOR, by_priority and the
 * per-second buckets. */
static void check_inv(struct store *s)
{
	static struct walk w;
	struct store_stats st;
	uint8_t fp[32];
	int line = store_debug_check(s);

	if (line)
		fail_msg("store_debug_check failed at store.c:%d", line);
	memset(&w, 0, sizeof(w));
	store_foreach_time(s, 0, UINT32_MAX, walk_cb, &w);
	store_get_stats(s, &st);
	assert_int_equal(w.n, st.count);
	store_fingerprint(s, fp);
	assert_memory_equal(w.fp, fp, 32);
	assert_int_equal(w.idxor, store_idxor(s));
	assert_memory_equal(w.byp, st.by_priority, sizeof(w.byp));
	for (size_t i = 0; i < w.nts; i++) {
		struct store_bucket got, want = {0};

		store_bucket(s, w.ts[i], &got);
		store_foreach_time(s, w.ts[i], w.ts[i], bucket_cb, &want);
		assert_int_equal(got.count, want.count);
		assert_memory_equal(got.fp, want.fp, 32);
	}
}

/* A packet of about `size` bytes (payload size - 32), tags "S"/"", with
 * the given timestamp and priority, into buf (>= size + 64). */
static size_t mkbig(uint8_t *buf, size_t cap, size_t size, uint32_t ts,
                    uint32_t nonce, const uint8_t *pk, struct pow_eval *pe)
{
	static char pl[70000];
	struct packet_fields f = {
		.relay = 1, .kind = PACKET_KIND_DATA, .timestamp = ts,
		.tag_a = (const uint8_t *)"S", .len_a = 1, .pubkey = pk,
		.payload = (const uint8_t *)pl,
		.payload_len = size > 40 ? size - 32 : 8, .nonce = nonce,
	};
	size_t len;

	memset(pl, 'p' + (int)(nonce % 7), f.payload_len);
	len = packet_encode(buf, cap, &f);
	assert_true(len > 0);
	txpow_eval(buf, len, 0, pe);
	return len;
}

/* Eviction with adversarial priority mixes under a small cap; every
 * refusal (E_NOMEM) leaves the store exactly as it was. */
static void test_evict_adversarial(void **state)
{
	static uint8_t buf[4200];
	struct store *s = mkstore(3600, 64 * 1024);
	struct store_stats st, st2;
	struct pow_eval pe;
	uint8_t fp[32], fp2[32];
	size_t len, keys;
	uint32_t i, nonce = 1;
	int rc, nbig = 0;

	init_keys();
	/* 1. large priority-10 packets until the cap refuses one */
	for (i = 0; i < 100; i++) {
		len = mkbig(buf, sizeof(buf), 4000, T0, nonce++, i % 2 ? pk1 : NULL,
		            &pe);
		pe.priority = 10;
		rc = store_put(s, buf, len, &pe, T0, NULL);
		assert_true(rc == E_OK || rc == E_NOMEM);
		if (rc == E_NOMEM)
			break;
		nbig++;
	}
	assert_true(nbig > 5 && nbig < 100);
	/* then small priority-10 ones into what room is left */
	for (i = 0; i < 100; i++) {
		len = mkbig(buf, sizeof(buf), 60, T0, nonce++, NULL, &pe);
		pe.priority = 10;
		if (store_put(s, buf, len, &pe, T0, NULL) == E_NOMEM)
			break;
	}
	assert_true(i < 100);
	check_inv(s);
	/* 2. small low packets: all refused, nothing changes */
	store_get_stats(s, &st);
	store_fingerprint(s, fp);
	keys = store_index_keys(s);
	for (i = 0; i < 50; i++) {
		len = mkbig(buf, sizeof(buf), 60, T0 - i, nonce++, pk2, &pe);
		pe.priority = (int)(i % 10); /* 0..9: all below 10 */
		assert_int_equal(store_put(s, buf, len, &pe, T0, NULL), E_NOMEM);
		/* exactly at the lowest held priority: refused too */
		len = mkbig(buf, sizeof(buf), 60 + i, T0, nonce++, NULL, &pe);
		pe.priority = 10;
		assert_int_equal(store_put(s, buf, len, &pe, T0, NULL), E_NOMEM);
		assert_false(store_has(s, pe.hash));
	}
	/* larger than the whole cap, at top priority */
	{
		static uint8_t huge[70000];

		len = mkbig(huge, sizeof(huge), 66000, T0, nonce++, NULL, &pe);
		pe.priority = 60;
		assert_int_equal(store_put(s, huge, len, &pe, T0, NULL), E_NOMEM);
	}
	store_get_stats(s, &st2);
	store_fingerprint(s, fp2);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_memory_equal(fp, fp2, 32);
	assert_int_equal(store_index_keys(s), keys);
	check_inv(s);

	/* 3. priorities >= 15 are one class: 15, 20, 127, 300 evict the
	 * priority-10 packets but never each other; a refusal evicts nothing. */
	{
		uint64_t ntop = 0;

		for (i = 0; i < 30; i++) {
			static const int pr[] = {15, 20, 127, 300, 16};

			store_get_stats(s, &st);
			len = mkbig(buf, sizeof(buf), 3000 + 97 * (i % 5),
			            T0 - (i % 3), nonce++, i % 3 ? pk1 : pk2, &pe);
			pe.priority = pr[i % 5];
			rc = store_put(s, buf, len, &pe, T0, NULL);
			assert_true(rc == E_OK || rc == E_NOMEM);
			ntop += rc == E_OK;
			check_inv(s);
			store_get_stats(s, &st2);
			if (rc == E_NOMEM)
				assert_memory_equal(&st, &st2, sizeof(st));
			assert_int_equal(st2.by_priority[13], ntop);
		}
		store_get_stats(s, &st);
		assert_true(st.by_priority[10] < 20);
		assert_true(st.evicted >= (uint64_t)nbig);
		assert_true(ntop > 5 && ntop < 30);
	}
	/* a top-class refusal changed nothing either */
	store_fingerprint(s, fp);
	len = mkbig(buf, sizeof(buf), 3000, T0, nonce++, NULL, &pe);
	pe.priority = 15;
	assert_int_equal(store_put(s, buf, len, &pe, T0, NULL), E_NOMEM);
	store_get_stats(s, &st2);
	store_fingerprint(s, fp2);
	assert_memory_equal(&st, &st2, sizeof(st));
	assert_memory_equal(fp, fp2, 32);
	store_free(s);

	/* 4. many small low packets, then large high ones each evicting
	 * several of them (oldest second first), over many seconds. */
	s = mkstore(600, 128 * 1024);
	for (i = 0; i < 2000; i++) {
		len = mkbig(buf, sizeof(buf), 60 + i % 50, T0 + i / 10, nonce++,
		            i % 4 ? NULL : pk1, &pe);
		pe.priority = (int)(i % 3);
		rc = store_put(s, buf, len, &pe, T0 + i / 10, NULL);
		assert_true(rc == E_OK || rc == E_NOMEM);
		if (i % 97 == 0) {
			len = mkbig(buf, sizeof(buf), 4000, T0 + i / 10 - 3,
			            nonce++, pk2, &pe);
			pe.priority = 9;
			assert_int_equal(store_put(s, buf, len, &pe, T0 + i / 10,
			                           NULL), E_OK);
		}
		if (i % 50 == 0)
			check_inv(s);
	}
	check_inv(s);
	store_free(s);
}

/* The eviction cursor of a class that never emptied lags behind purge:
 * the first eviction after a long run must not scan (or assert) past the
 * ring. */
static void test_evict_after_long_run(void **state)
{
	struct store *s;
	struct mp m, hi;
	struct store_stats st;
	uint64_t one;
	uint32_t now = T0, k;

	s = mkstore(3600, 1ULL << 40);
	mk(&m, "C", "", NULL, 0, 0, T0, 1, "same");
	assert_int_equal(put(s, &m, T0), E_OK);
	store_get_stats(s, &st);
	one = st.bytes;
	store_free(s);

	s = mkstore(100, one * 4);
	/* class 0 always holds a packet, one every 50 s, for 5000 s */
	for (k = 0; k <= 100; k++) {
		now = T0 + 50 * k;
		store_purge(s, now);
		mk(&m, "C", "", NULL, 0, 0, now, 10 + k, "same");
		m.pe.priority = 0;
		assert_int_equal(put(s, &m, now), E_OK);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.count, 2);
	assert_int_equal(st.evicted, 0);
	check_inv(s);
	for (k = 0; k < 4; k++) {
		mk(&hi, "C", "", NULL, 0, 0, now, 500 + k, "same");
		hi.pe.priority = 1;
		assert_int_equal(put(s, &hi, now), E_OK);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.by_priority[0], 0);
	check_inv(s);
	store_free(s);
}

/* Held exactly while now - ts < purgetime, checked second by second. */
static void check_held(struct store *s, struct mp *ms, size_t n,
                       uint32_t now, uint32_t P)
{
	for (size_t i = 0; i < n; i++) {
		bool want = ms[i].live && (uint64_t)ms[i].ts + P > now;

		if (store_has(s, ms[i].pe.hash) != want)
			fail_msg("now=T0%+d packet ts=T0%+d held=%d want=%d",
			         (int)(now - T0), (int)(ms[i].ts - T0), !want, want);
	}
}

/* The clock steps back by minutes: packets stored under the earlier
 * clock are not dropped (no two seconds share a ring entry), packets
 * stored under the new clock expire on time (no stale bucket waits for
 * the old purge position), and every second agrees with the rule. */
static void test_clock_back_minutes(void **state)
{
	enum { P = 100, N = 2 * P + 2 };
	static struct mp ms[N];
	struct store *s = mkstore(P, 1 << 30);
	uint32_t now = T0, i, n = 0;

	/* under clock T0: one packet per second T0-P+1 .. T0+1 */
	for (i = 0; i <= P; i++, n++) {
		mk(&ms[n], "K", "", NULL, 0, 0, T0 - P + 1 + i, n, "x");
		assert_int_equal(put(s, &ms[n], T0), E_OK);
	}
	store_purge(s, T0);
	check_inv(s);
	/* the clock steps back 300 s: packets at its own extremes */
	now = T0 - 300;
	store_purge(s, now);
	for (i = 0; i <= P; i++, n++) {
		mk(&ms[n], "K", "", NULL, 0, 0, now - P + 1 + i, n, "y");
		assert_int_equal(put(s, &ms[n], now), E_OK);
		check_held(s, ms, n + 1, now, P);
	}
	check_inv(s);
	for (; now <= T0 + P + 2; now++) {
		store_purge(s, now);
		check_held(s, ms, n, now, P);
	}
	check_inv(s);
	assert_int_equal(store_index_keys(s), 0);
	store_free(s);
}

/* The clock steps back by hours, then forward by hours: invariants hold,
 * new packets are stored, a forward step expires everything in one
 * purge bounded by the ring, and nothing is left behind. */
static void test_clock_jumps_hours(void **state)
{
	enum { P = 100 };
	static struct mp ms[3 * P];
	struct store *s = mkstore(P, 1 << 30);
	struct store_stats st;
	uint32_t now = T0, i, n = 0;

	for (i = 0; i < P; i++, n++) {
		mk(&ms[n], "H", "J", i % 2 ? pk1 : NULL, 0, 0, T0 - i, n, "x");
		ms[n].pe.priority = (int)(i % 4);
		assert_int_equal(put(s, &ms[n], T0), E_OK);
	}
	store_purge(s, T0);
	now = T0 - 3 * 3600;
	store_purge(s, now);
	store_get_stats(s, &st);
	assert_int_equal(st.count, P); /* nothing dropped by a backward step */
	for (i = 0; i < P; i++, n++) {
		mk(&ms[n], "H", "J", NULL, 0, 0, now + 1 - i, n, "y");
		assert_int_equal(put(s, &ms[n], now), E_OK);
		check_inv(s);
	}
	for (i = 0; i < 2 * P; i++)
		store_purge(s, ++now);
	check_inv(s);
	for (i = P; i < 2 * P; i++) /* all the new ones expired on time */
		assert_false(store_has(s, ms[i].pe.hash));
	/* forward by 10 hours: one purge frees everything */
	now = T0 + 10 * 3600;
	store_purge(s, now);
	store_get_stats(s, &st);
	assert_int_equal(st.count, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(store_index_keys(s), 0);
	check_inv(s);
	mk(&ms[n], "H", "J", NULL, 0, 0, now, n, "z");
	assert_int_equal(put(s, &ms[n], now), E_OK);
	check_inv(s);
	store_free(s);
}

/* The clock steps back by hours, several times: a new second may need
 * the ring entry of a held second; only a second far (> 15 min) ahead of
 * the clock gives way, and every structure stays consistent. */
static void test_clock_back_alias(void **state)
{
	enum { P = 100, K = 7, N = (K + 1) * (P + 1) };
	static struct mp ms[N];
	struct store *s = mkstore(P, 1 << 30);
	struct store_stats st;
	uint32_t now, i, k, n = 0;

	for (k = 0; k <= K; k++) {
		now = k ? T0 - 3 * 3600 - 200 * k : T0;
		store_purge(s, now);
		for (i = 0; i <= P; i++, n++) {
			mk(&ms[n], "A", "", NULL, 0, 0, now - P + 1 + i, n, "a");
			assert_int_equal(put(s, &ms[n], now), E_OK);
			for (uint32_t j = 0; j <= n; j++)
				if (!store_has(s, ms[j].pe.hash) &&
				    ms[j].ts <= now + 900)
					fail_msg("k=%u ts=now%+d dropped", k,
					         (int)(ms[j].ts - now));
		}
		check_inv(s);
	}
	store_get_stats(s, &st);
	assert_true(st.purged > 0); /* some far-future seconds gave way */
	assert_true(st.count < n);
	store_free(s);
}

/* Timestamps at the extremes of the accepted window, and near 2^32. */
static void test_timestamp_extremes(void **state)
{
	enum { P = 50 };
	struct store *s = mkstore(P, 1 << 30);
	struct mp m;
	uint32_t now, i;

	now = T0;
	mk(&m, "E", "", NULL, 0, 0, now - P + 1, 1, "x");
	assert_int_equal(put(s, &m, now), E_OK);
	mk(&m, "E", "", NULL, 0, 0, now + 1, 2, "x");
	assert_int_equal(put(s, &m, now), E_OK);
	mk(&m, "E", "", NULL, 0, 0, now - P, 3, "x");
	assert_int_equal(put(s, &m, now), E_INVAL);
	mk(&m, "E", "", NULL, 0, 0, now + 61, 4, "x");
	assert_int_equal(put(s, &m, now), E_INVAL);
	assert_int_equal(store_purge(s, now + 1), 1);
	check_inv(s);
	store_free(s);

	/* up to the last u32 second (year 2106): no loop, no wrap */
	s = mkstore(P, 1 << 30);
	for (now = UINT32_MAX - 3 * P, i = 0; now != UINT32_MAX; now++, i++) {
		mk(&m, "E", "", NULL, 0, 0, now + (now < UINT32_MAX ? 1 : 0), i,
		   "w");
		m.pe.priority = (int)(i % 3);
		assert_int_equal(put(s, &m, now), E_OK);
		mk(&m, "E", "", NULL, 0, 0, now - P + 1, i, "o");
		assert_int_equal(put(s, &m, now), E_OK);
		store_purge(s, now);
		if (i % 16 == 0)
			check_inv(s);
	}
	mk(&m, "E", "", NULL, 0, 0, UINT32_MAX, 9999, "top");
	assert_int_equal(put(s, &m, UINT32_MAX - 60), E_OK);
	store_purge(s, UINT32_MAX);
	check_inv(s);
	assert_true(store_has(s, m.pe.hash));
	store_free(s);
}

/* The slab allocator under many sizes (up to 60 KB: own slabs) with
 * frees in every order; all checked by the full walk. */
static void test_slab_churn(void **state)
{
	static uint8_t buf[70000];
	struct store *s = mkstore(40, 3u << 20);
	struct pow_eval pe;
	uint32_t r = 12345, now = T0, i;
	size_t len, sz;
	int rc;

	for (i = 0; i < 6000; i++) {
		r = r * 1103515245u + 12345u;
		sz = (r >> 8) % 8 == 0 ? 8000 + (r >> 12) % 52000
		                       : 40 + (r >> 12) % 2000;
		len = mkbig(buf, sizeof(buf), sz, now - (r >> 20) % 30, i,
		            (r >> 4) % 2 ? pk1 : NULL, &pe);
		pe.priority = (int)((r >> 24) % 6);
		rc = store_put(s, buf, len, &pe, now, NULL);
		assert_true(rc == E_OK || rc == E_NOMEM);
		if (rc == E_OK) {
			struct stored *sp = store_get_hash(s, pe.hash);

			assert_non_null(sp);
			assert_memory_equal(stored_bytes(sp), buf, len);
		}
		if (i % 7 == 0)
			store_purge(s, ++now);
		if (i % 500 == 0)
			check_inv(s);
	}
	check_inv(s);
	store_purge(s, now + 100);
	check_inv(s);
	store_free(s);
}

/* Stop points outside the selection (never stop), and pubkey + tag
 * queries answered from the tag index; also across a seq renumbering. */
static void test_query_stop_outside(void **state)
{
	static struct mp m[60];
	struct store *s = mkstore(3600, 1 << 30);
	struct store_query q = {.max_a = UINT64_MAX, .max_b = UINT64_MAX};
	size_t i;

	init_keys();
	model_seq = 0;
	store_debug_set_seq(s, UINT32_MAX - 30);
	for (i = 0; i < 60; i++) {
		/* tag R is rare (8 packets); pk1 is common */
		mk(&m[i], i % 8 == 3 ? "R" : "C", i % 2 ? "D" : "",
		   i % 5 ? pk1 : pk2, i, 60 - i, T0 - (uint32_t)(i % 9),
		   (uint32_t)(i % 20), "q");
		m[i].pe.priority = (int)(i % 4);
		assert_int_equal(put(s, &m[i], T0), E_OK);
	}
	check_inv(s);
	/* pubkey + tagA R: the tag index is the smaller one */
	set_tags(&q, "R", "", pk1);
	check_query(s, m, 60, &q);
	q.stophash = m[4].pe.hash; /* tag C: outside: full walk */
	check_query(s, m, 60, &q);
	q.stophash = m[5 * 8 + 3 - 8].pe.hash; /* inside (tag R, pk1) */
	check_query(s, m, 60, &q);
	q.stophash = NULL;
	q.stopat = m[10].pe.id; /* id 10: used by a C packet and m[30] ... */
	check_query(s, m, 60, &q);
	set_tags(&q, "C", "D", pk2);
	q.stopat = m[11].pe.id;
	check_query(s, m, 60, &q);
	q.stopat = 0;
	q.stophash = m[3].pe.hash; /* tag R: outside */
	q.minpriority = 2;
	check_query(s, m, 60, &q);
	set_tags(&q, "", "D", pk2);
	check_query(s, m, 60, &q);
	store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_dup),
		cmocka_unit_test(test_list_matrix),
		cmocka_unit_test(test_purge_boundary),
		cmocka_unit_test(test_ring_reuse),
		cmocka_unit_test(test_eviction_order),
		cmocka_unit_test(test_eviction_hook),
		cmocka_unit_test(test_eviction_time),
		cmocka_unit_test(test_random_cap),
		cmocka_unit_test(test_fingerprint_order),
		cmocka_unit_test(test_random_model),
		cmocka_unit_test(test_walk_all),
		cmocka_unit_test(test_short_id),
		cmocka_unit_test(test_seq_wrap),
		cmocka_unit_test(test_large_records),
		cmocka_unit_test(test_evict_adversarial),
		cmocka_unit_test(test_evict_after_long_run),
		cmocka_unit_test(test_clock_back_minutes),
		cmocka_unit_test(test_clock_jumps_hours),
		cmocka_unit_test(test_clock_back_alias),
		cmocka_unit_test(test_timestamp_extremes),
		cmocka_unit_test(test_slab_churn),
		cmocka_unit_test(test_query_stop_outside),
		cmocka_unit_test(test_resize_incremental),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
