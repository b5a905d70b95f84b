/* test_render.c - the packet object (render.c, API.md 3.7) of stored
 * packets, checked byte for byte against the examples of API.md 4.1
 * (vectors D.2, D.3), plus inbox / wrong-sender forms and the vstate memo.
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
#include "node/crypto.h"
#include "node/mine.h"
#include "node/node.h"
#include "node/render.h"
#include "node/rpcparse.h"

/* API.md D.2 (plain, "hello world", t = 1767225610). */
static const char D2[] =
	"0a510ab9556900000000000000000000000000000000000767656e6572616c0068"
	"656c6c6f20776f726c6400a5030000";
/* API.md D.3 (signed by node A, "hello", t = 1767225605). */
static const char D3[] =
	"0a5105b95569809698000000000000e40b54020000002101d04ab232742bb4ab3a13"
	"68bd4615e4e6d0224ab71a016baf8520a332c977873703425443034b4d44"
	"d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737"
	"be117fc6e368c51ce208a4b40073ddba3c61596840a7cac70e1e1355833315a6c5"
	"55ed6c3061e7123c60252637abbbd92072e449c1303bddcd154e86f70382096865"
	"6c6c6f0091100400";

struct fixture {
	struct node n;
	struct config cfg;
	struct identity *a, *b;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct store_config sc = { .purgetime = 3600, .maxmem = 1 << 26 };
	uint8_t seed[32];

	assert_int_equal(crypto_init(), E_OK);
	memset(seed, 0x11, sizeof seed);
	f->a = identity_from_seed(seed);
	memset(seed, 0x22, sizeof seed);
	f->b = identity_from_seed(seed);
	f->cfg.txpowbits = 12;
	f->n.cfg = &f->cfg;
	f->n.ident = f->a;
	f->n.store = store_new(&sc);
	assert_non_null(f->n.store);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_free(f->n.store);
	identity_free(f->a);
	identity_free(f->b);
	free(f);
	return 0;
}

static struct stored *put_hex(struct fixture *f, const char *hex,
                              uint32_t now)
{
	size_t n = strlen(hex) / 2;
	uint8_t *pkt = malloc(n);
	struct pow_eval pe;
	struct stored *sp = NULL;

	assert_true(hex_decode(pkt, hex, n));
	txpow_eval(pkt, n, 12, &pe);
	assert_true(pe.valid);
	assert_int_equal(store_put(f->n.store, pkt, n, &pe, now, &sp), E_OK);
	free(pkt);
	return sp;
}

static void expect_render(struct fixture *f, struct stored *sp,
                          const char *want)
{
	size_t n;
	json_t *o = render_packet(&f->n, sp);
	char *s = rpc_dump(o, &n);
	assert_string_equal(s, want);
	free(s);
	json_decref(o);
}

static void test_plain_d2(void **state)
{
	struct fixture *f = *state;
	struct stored *sp = put_hex(f, D2, 1767225610);

	expect_render(f, sp,
	              "{\"timestamp\":1767225610,\"id\":2275093661,\"hash\":"
	              "\"77d7c9b279f8d386db51bc42658c1cb10b74a1d226e3b5eac87adc85"
	              "09bc91e8\",\"tagA\":\"general\",\"tagB\":\"\",\"pubkey\":"
	              "\"\",\"payload\":\"hello world\",\"hex\":0,\"senderpub\":"
	              "\"\",\"amountA\":\"0.00000000\",\"amountB\":\"0.00000000\","
	              "\"priority\":0,\"recvtime\":1767225610,\"cancelled\":0}");
	assert_int_equal(sp->vstate, VSTATE_PLAIN);
}

static const char D3_OBJ[] =
	"{\"timestamp\":1767225605,\"id\":3534964992,\"hash\":"
	"\"770790342bcd0c5062e452b6e812d895ba9b2334b6b0d4f35b0b42a2b0073f06\","
	"\"tagA\":\"BTC\",\"tagB\":\"KMD\",\"pubkey\":"
	"\"01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737\","
	"\"payload\":\"d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332"
	"c9778737be117fc6e368c51ce208a4b40073ddba3c61596840a7cac70e1e135583331"
	"5a6c555ed6c3061e7123c60252637abbbd92072e449c1303bddcd154e86f703820968"
	"656c6c6f00\",\"hex\":1,\"decrypted\":\"hello\",\"decryptedhex\":0,"
	"\"senderpub\":"
	"\"01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf8520a332c9778737\","
	"\"amountA\":\"0.10000000\",\"amountB\":\"100.00000000\",\"priority\":8,"
	"\"recvtime\":1767225605,\"cancelled\":0}";

static void test_signed_d3(void **state)
{
	struct fixture *f = *state;
	struct stored *sp = put_hex(f, D3, 1767225605);

	expect_render(f, sp, D3_OBJ);
	assert_int_equal(sp->vstate, VSTATE_OK);
	/* memoised: same object without re-verifying */
	expect_render(f, sp, D3_OBJ);
	/* any node verifies a signed packet: node B shows the same */
	f->n.ident = f->b;
	sp->vstate = VSTATE_UNKNOWN;
	expect_render(f, sp, D3_OBJ);
	f->n.ident = f->a;
}

static void test_wrong_sender(void **state)
{
	struct fixture *f = *state;
	char bad[sizeof D3];
	struct stored *sp;

	/* flip one signature byte; store_put takes the caller's evaluation,
	 * so no proof of work is needed for the changed packet */
	memcpy(bad, D3, sizeof D3);
	bad[96 * 2 + 10] = bad[96 * 2 + 10] == '0' ? '1' : '0';
	size_t n = strlen(bad) / 2;
	uint8_t *pkt = malloc(n);
	struct pow_eval pe;
	assert_true(hex_decode(pkt, bad, n));
	txpow_eval(pkt, n, 0, &pe);
	pe.priority = 0;
	assert_int_equal(store_put(f->n.store, pkt, n, &pe, 1767225605, &sp),
	                 E_OK);
	free(pkt);
	json_t *o = render_packet(&f->n, sp);
	assert_null(json_object_get(o, "decrypted"));
	assert_string_equal(json_string_value(json_object_get(o, "error")),
	                    "wrong sender");
	assert_string_equal(json_string_value(json_object_get(o, "senderpub")),
	                    "01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf85"
	                    "20a332c9778737");
	/* key order: senderpub, error, amountA */
	const char *prev = NULL, *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		if (!strcmp(key, "error"))
			assert_string_equal(prev, "senderpub");
		prev = key;
	}
	json_decref(o);
	assert_int_equal(sp->vstate, VSTATE_WRONG);
}

/* An inbox packet from A to B: B decrypts, A (the sender) does not. */
static void test_inbox(void **state)
{
	struct fixture *f = *state;
	uint8_t pkb[33], pkt[256], plain[4] = { 0xde, 0xad, 0xbe, 0xef };
	const uint32_t t = 1767225620;
	size_t h = packet_hdr_len(33, 5, 0), len = h + 4 + 136 + 4;
	struct pow_eval pe;
	struct stored *sp;

	identity_pubkey33(f->b, pkb);
	memset(pkt, 0, sizeof pkt);
	pkt[0] = 10;
	pkt[1] = PACKET_KIND_DATA;
	put_le32(pkt + 2, t);
	pkt[22] = 33;
	memcpy(pkt + 23, pkb, 33);
	pkt[56] = 5;
	memcpy(pkt + 57, "inbox", 5);
	pkt[62] = 0;
	assert_int_equal(h, 63);
	assert_int_equal(envelope_inbox(f->a, pkt + 1, h - 1, pkb + 1, NULL,
	                                plain, sizeof plain, pkt + h),
	                 E_OK);
	txpow_eval(pkt, len, 0, &pe);
	pe.priority = 0;
	assert_int_equal(store_put(f->n.store, pkt, len, &pe, t, &sp), E_OK);

	f->n.ident = f->b;
	json_t *o = render_packet(&f->n, sp);
	assert_string_equal(json_string_value(json_object_get(o, "decrypted")),
	                    "deadbeef");
	assert_int_equal(json_integer_value(json_object_get(o, "decryptedhex")),
	                 1);
	assert_int_equal(sp->vstate, VSTATE_OK);
	json_decref(o);

	f->n.ident = f->a;
	sp->vstate = VSTATE_UNKNOWN;
	o = render_packet(&f->n, sp);
	assert_null(json_object_get(o, "decrypted"));
	assert_null(json_object_get(o, "error"));
	assert_string_equal(json_string_value(json_object_get(o, "senderpub")),
	                    "01d04ab232742bb4ab3a1368bd4615e4e6d0224ab71a016baf85"
	                    "20a332c9778737");
	assert_int_equal(sp->vstate, VSTATE_OTHER);
	json_decref(o);
}

/* Tags with bytes that are not UTF-8 are escaped as \u00XX. */
static void test_tag_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t pkt[64];
	const uint32_t t = 1767225600;
	struct pow_eval pe;
	struct stored *sp;
	size_t len = 25 + 2 + 1 + 4;

	memset(pkt, 0, sizeof pkt);
	pkt[1] = PACKET_KIND_DATA;
	put_le32(pkt + 2, t);
	put_le64(pkt + 6, 123456789);
	pkt[23] = 2;
	pkt[24] = 0xff;
	pkt[25] = '"';
	pkt[26] = 0;
	pkt[27] = 0x07; /* payload: one non-printable byte -> hex */
	txpow_eval(pkt, len, 0, &pe);
	pe.priority = 0;
	assert_int_equal(store_put(f->n.store, pkt, len, &pe, t, &sp), E_OK);
	size_t n;
	json_t *o = render_packet(&f->n, sp);
	char *s = rpc_dump(o, &n);
	assert_non_null(strstr(s, "\"tagA\":\"\\u00ff\\\"\",\"tagB\":\"\""));
	assert_non_null(strstr(s, "\"payload\":\"07\",\"hex\":1"));
	assert_non_null(strstr(s, "\"amountA\":\"1.23456789\""));
	free(s);
	json_decref(o);
}

/* Packet lengths of API.md A.1 for each payload form. */
static void test_mine_packet_len(void **state)
{
	struct mine_req q;
	(void)state;

	memset(&q, 0, sizeof q);
	q.form = MINE_PLAIN;
	q.len_a = 7;          /* "general" */
	q.plain_len = 12;     /* "hello world\0" */
	assert_int_equal(mine_packet_len(&q), 48);          /* D.2 */
	q.form = MINE_SIGNED;
	q.has_pubkey = 1;
	q.len_a = 3;
	q.len_b = 3;
	q.plain_len = 6;      /* "hello\0" */
	assert_int_equal(mine_packet_len(&q), 170);         /* D.3 */
	q.form = MINE_INBOX;
	q.len_a = 5;
	q.len_b = 0;
	q.plain_len = 4;
	assert_int_equal(mine_packet_len(&q), 29 + 33 + 5 + 4 + 136);
	q.form = MINE_ANON;   /* no pubkey on the packet */
	q.len_a = 4;
	assert_int_equal(mine_packet_len(&q), 29 + 4 + 1168);
	q.form = MINE_PLAIN;
	q.has_pubkey = 0;
	q.len_a = 7;
	q.plain_len = 1048540; /* the largest plain payload with "general" */
	assert_int_equal(mine_packet_len(&q), PACKET_MAX_LEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_d2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signed_d3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_sender, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_inbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_bytes, setup, teardown),
		cmocka_unit_test(test_mine_packet_len),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
