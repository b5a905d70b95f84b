/* test_cancel.c - unit tests for src/node/cancel.c (API.md 4.6, B.6):
 * cancels by id, pubkey and pair on a real store; ownership, the 10-second
 * rule, invalid commands (bad signature, low priority, tagB disagreeing with
 * the plaintext), remembered cancels reaching later packets, and purge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/store.h"
#include "core/txpow.h"
#include "core/util.h"
#include "node/cancel.h"
#include "node/crypto.h"
#include "node/node.h"

#define T0 1767225700u
#define BITS 0 /* cheap proof of work: priority 7 = 2^7 tries */

static struct identity *ida, *idb;
static uint8_t pka[33], pkb[33];
static struct node nd;

struct spec {
	uint8_t kind;
	uint32_t ts;
	const char *tag_a, *tag_b;
	const struct identity *signer; /* NULL: plain */
	const uint8_t *pubkey;         /* packet pubkey (NULL: none) */
	const uint8_t *plain;
	size_t plain_len;
	int priority;
	uint32_t nonce0; /* first nonce tried */
};

/* Build, sign and mine a packet, store it and run cancel_on_stored. */
static struct stored *put(const struct spec *s)
{
	uint8_t buf[512];
	uint8_t payload[400];
	size_t plen = s->signer ? s->plain_len + ENVELOPE_SIGNED_OVERHEAD
	                        : s->plain_len;
	struct packet_fields f = {
		.relay = 10, .kind = s->kind, .timestamp = s->ts,
		.pubkey = s->pubkey,
		.tag_a = (const uint8_t *)s->tag_a, .len_a = strlen(s->tag_a),
		.tag_b = (const uint8_t *)s->tag_b, .len_b = strlen(s->tag_b),
		.payload = payload, .payload_len = plen,
	};
	struct pow_eval pe;
	struct stored *sp = NULL;
	size_t len, h;

	memset(payload, 0, sizeof(payload));
	memcpy(payload, s->plain, s->plain_len);
	len = packet_encode(buf, sizeof(buf), &f);
	assert_true(len > 0);
	h = packet_hdr_len(s->pubkey ? 33 : 0, f.len_a, f.len_b);
	if (s->signer)
		assert_int_equal(envelope_signed(s->signer, buf + 1, h - 1,
						 s->plain, s->plain_len,
						 buf + h), E_OK);
	for (uint32_t nonce = s->nonce0;; nonce++) {
		put_le32(buf + len - 4, nonce);
		txpow_eval(buf, len, BITS, &pe);
		if (pe.priority >= s->priority &&
		    (s->priority >= 7 || pe.priority < 7))
			break;
		assert_true(nonce - s->nonce0 < 1000000);
	}
	assert_int_equal(store_put(nd.store, buf, len, &pe, T0, &sp), E_OK);
	cancel_on_stored(&nd, sp);
	return sp;
}

static struct stored *order(const uint8_t *pk, const struct identity *id,
                            const char *a, const char *b, uint32_t ts)
{
	struct spec s = { PACKET_KIND_DATA, ts, a, b, id, pk,
			  (const uint8_t *)"order", 6, 0, 0 };
	return put(&s);
}

static struct stored *cancel_pkt(const struct identity *signer,
                                 const uint8_t *pk, const char *mode,
                                 const uint8_t *cmd, size_t n, uint32_t ts,
                                 int prio)
{
	struct spec s = { PACKET_KIND_CANCEL, ts, "cancel", mode, signer, pk,
			  cmd, n, prio, 0 };
	return put(&s);
}

static int setup(void **state)
{
	uint8_t seed[32];
	struct store_config cfg = { .purgetime = 3600, .maxmem = 1 << 26 };

	assert_int_equal(crypto_init(), E_OK);
	memset(seed, 0x11, 32);
	ida = identity_from_seed(seed);
	memset(seed, 0x22, 32);
	idb = identity_from_seed(seed);
	identity_pubkey33(ida, pka);
	identity_pubkey33(idb, pkb);
	nd.ident = ida;
	nd.store = store_new(&cfg);
	nd.cancels = cancels_new();
	return 0;
}

static int teardown(void **state)
{
	cancels_free(nd.cancels);
	store_free(nd.store);
	identity_free(ida);
	identity_free(idb);
	return 0;
}

static void test_pair_and_id(void **state)
{
	struct stored *o1 = order(pka, ida, "BTC", "KMD", T0 - 100);
	struct stored *o2 = order(pka, ida, "KMD", "BTC", T0 - 100);
	struct stored *o3 = order(pka, ida, "BTC", "KMD", T0 - 5);
	struct stored *ob = order(pkb, idb, "BTC", "KMD", T0 - 100);
	struct spec plain = { PACKET_KIND_DATA, T0 - 100, "BTC", "KMD", NULL,
			      NULL, (const uint8_t *)"x", 2, 0, 0 };
	struct stored *op = put(&plain);
	uint8_t pair[] = { 3, 'B', 'T', 'C', 3, 'K', 'M', 'D' };
	uint8_t idc[4];

	/* signed by B with A's pubkey: not a valid cancel */
	cancel_pkt(idb, pka, "pair", pair, sizeof(pair), T0, 7);
	assert_int_equal(o1->cancelled, 0);
	/* priority below 7 */
	cancel_pkt(ida, pka, "pair", pair, sizeof(pair), T0, 6);
	assert_int_equal(o1->cancelled, 0);
	/* tagB disagrees with the plaintext */
	cancel_pkt(ida, pka, "id", pair, sizeof(pair), T0, 7);
	cancel_pkt(ida, pka, "pubkey", pair, sizeof(pair), T0, 7);
	assert_int_equal(o1->cancelled, 0);
	assert_int_equal(o2->cancelled, 0);

	/* valid pair cancel: only A's old BTC/KMD order */
	cancel_pkt(ida, pka, "pair", pair, sizeof(pair), T0, 7);
	assert_int_equal(o1->cancelled, T0);
	assert_int_equal(o2->cancelled, 0);
	assert_int_equal(o3->cancelled, 0);  /* newer than T - 10 */
	assert_int_equal(ob->cancelled, 0);  /* owned by B */
	assert_int_equal(op->cancelled, 0);  /* no pubkey */

	/* by id: the recent order too, whatever its age */
	put_le32(idc, o3->id);
	cancel_pkt(ida, pka, "id", idc, 4, T0 + 1, 7);
	assert_int_equal(o3->cancelled, T0 + 1);
	assert_int_equal(o1->cancelled, T0); /* never changes */
	/* by id with B's id signed by A: B's order untouched */
	put_le32(idc, ob->id);
	cancel_pkt(ida, pka, "id", idc, 4, T0 + 1, 7);
	assert_int_equal(ob->cancelled, 0);
}

static void test_pubkey_and_later(void **state)
{
	struct stored *o2 = order(pka, ida, "LTC", "DOGE", T0 - 200);
	struct spec inbox = { PACKET_KIND_DATA, T0 - 200, "inbox", "", NULL,
			      pka, (const uint8_t *)"secret-ish", 11, 0, 0 };
	struct stored *oi = put(&inbox);
	struct stored *ob = order(pkb, idb, "LTC", "DOGE", T0 - 200);
	struct stored *c;

	/* pubkey command must be the packet's own pubkey */
	cancel_pkt(ida, pka, "pubkey", pkb, 33, T0 + 2, 7);
	assert_int_equal(o2->cancelled, 0);
	c = cancel_pkt(ida, pka, "pubkey", pka, 33, T0 + 2, 7);
	assert_int_equal(o2->cancelled, T0 + 2);
	assert_int_equal(oi->cancelled, 0);  /* inbox is not owned */
	assert_int_equal(ob->cancelled, 0);
	assert_int_equal(c->cancelled, 0);   /* itself: not older */

	/* remembered: an old order arriving later is cancelled at once,
	 * with the earliest matching T; a recent one survives */
	struct stored *late = order(pka, ida, "BTC", "KMD", T0 - 300);
	assert_int_equal(late->cancelled, T0); /* pair cancel of T0 */
	struct stored *late2 = order(pka, ida, "XYZ", "KMD", T0 - 50);
	assert_int_equal(late2->cancelled, T0 + 2);
	struct stored *fresh = order(pka, ida, "XYZ", "KMD", T0 - 3);
	assert_int_equal(fresh->cancelled, 0);
	struct stored *lateb = order(pkb, idb, "XYZ", "KMD", T0 - 50);
	assert_int_equal(lateb->cancelled, 0);

	/* after the cancels expire they are forgotten */
	cancels_purge(nd.cancels, T0 + 3600 + 3, 3600);
	struct stored *after = order(pka, ida, "QQQ", "KMD", T0 - 60);
	assert_int_equal(after->cancelled, 0);
}

/* A cancel re-mined with another nonce (anyone can do that: the nonce is
 * not signed) is a new packet but the same command: it is not remembered
 * twice, so copies cannot exhaust the owner's quota. */
static void test_remined_copy_not_remembered_twice(void **state)
{
	uint8_t cmd[8] = { 3, 'R', 'M', 'X', 3, 'K', 'M', 'D' };
	struct spec s = { PACKET_KIND_CANCEL, T0 + 5, "cancel", "pair", ida,
			  pka, cmd, sizeof cmd, 7, 0 };
	struct stored *c1, *c2;
	size_t n0 = cancels_count(nd.cancels);

	c1 = put(&s);
	assert_int_equal(cancels_count(nd.cancels), n0 + 1);
	s.nonce0 = le32(stored_bytes(c1) + c1->len - 4) + 1;
	c2 = put(&s);
	assert_memory_not_equal(c1->hash, c2->hash, 32);
	assert_int_equal(cancels_count(nd.cancels), n0 + 1);
	/* a different command of the same key is remembered */
	s.ts = T0 + 6;
	s.nonce0 = 0;
	put(&s);
	assert_int_equal(cancels_count(nd.cancels), n0 + 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_and_id),
		cmocka_unit_test(test_pubkey_and_later),
		cmocka_unit_test(test_remined_copy_not_remembered_twice),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
