/* test_txpow.c - unit tests for src/core/txpow.c: golden vectors from
 * tests/vectors/pow.txt (made by gen_vectors.py with hashlib), the size
 * penalty table, evaluation edge cases, and mining with a fake clock
 * (priority reached, timestamp refresh with rebuild, cancel, errors).
 *
 * Run from the repository root (make test does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/packet.h"
#include "core/txpow.h"
#include "core/util.h"

#define VECTORS "tests/vectors/pow.txt"
#define LINE_MAX_LEN 8192

static void test_vectors(void **state)
{
	FILE *f = fopen(VECTORS, "r");
	char *line = xmalloc(LINE_MAX_LEN);
	int n = 0, nvalid = 0, nbig = 0;

	if (!f)
		fail_msg("cannot open %s (run from the repository root)", VECTORS);
	while (fgets(line, LINE_MAX_LEN, f)) {
		char pre[LINE_MAX_LEN], suf[64], hash[65], want_hex[65];
		unsigned fill;
		unsigned long fill_len, id;
		int prio, valid, bits;
		size_t plen, slen, len;
		uint8_t *pkt;
		struct pow_eval pe;
		struct packet_view pv;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		if (sscanf(line, "%8191s %x %lu %63s %64s %lu %d %d %d", pre, &fill,
		           &fill_len, suf, want_hex, &id, &prio, &valid,
		           &bits) != 9)
			fail_msg("bad vector line: %s", line);
		plen = strlen(pre) / 2;
		slen = strcmp(suf, "-") ? strlen(suf) / 2 : 0;
		len = plen + fill_len + slen;
		assert_true(len <= PACKET_MAX_LEN);
		pkt = xmalloc(len);
		assert_true(hex_decode(pkt, pre, plen));
		memset(pkt + plen, (int)fill, fill_len);
		assert_true(hex_decode(pkt + plen + fill_len, suf, slen));

		assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
		assert_int_equal(pv.len, len);
		txpow_eval(pkt, len, bits, &pe);
		hex_encode(hash, pe.hash, 32);
		if (strcmp(hash, want_hex))
			print_message("vector %d (L=%zu bits=%d)\n", n, len, bits);
		assert_string_equal(hash, want_hex);
		assert_int_equal(pe.id, id);
		assert_int_equal(pe.priority, prio);
		assert_int_equal(pe.valid, valid);
		assert_int_equal(pe.h64, le64(pe.hash));
		n++;
		nvalid += valid;
		nbig += len == PACKET_MAX_LEN;
		free(pkt);
	}
	fclose(f);
	free(line);
	/* The file really was read: D.2/D.3 at four txpowbits, 26 sizes. */
	assert_true(n >= 80);
	assert_true(nvalid >= 40);
	assert_true(nbig >= 1);
}

/* API.md D.2 and D.3 compiled in too, so a broken vectors file cannot
 * hide a broken hash. */
static void test_api_examples(void **state)
{
	static const char d2[] =
	    "0a510ab9556900000000000000000000000000000000000767656e6572616c00"
	    "68656c6c6f20776f726c6400a5030000";
	uint8_t pkt[48];
	struct pow_eval pe;
	char h[65];

	assert_true(hex_decode(pkt, d2, 48));
	txpow_eval(pkt, 48, 12, &pe);
	hex_encode(h, pe.hash, 32);
	assert_string_equal(h, "77d7c9b279f8d386db51bc42658c1cb10b74a1d226e3b5"
	                       "eac87adc8509bc91e8");
	assert_int_equal(pe.h64, 0x86d3f879b2c9d777ULL);
	assert_true(pe.valid);
	assert_int_equal(pe.priority, 0);
	assert_int_equal(pe.id, 2275093661u);
	/* the relay byte is not hashed */
	pkt[0] = 3;
	txpow_eval(pkt, 48, 12, &pe);
	assert_int_equal(pe.id, 2275093661u);
	/* any other byte is */
	pkt[47] ^= 1;
	txpow_eval(pkt, 48, 12, &pe);
	assert_int_not_equal(pe.id, 2275093661u);
}

static void test_penalty(void **state)
{
	struct { size_t len; int pen; } c[] = {
		{0, 0}, {30, 0}, {1023, 0}, {1024, 1}, {2047, 1}, {2048, 2},
		{4095, 2}, {4096, 3}, {8191, 3}, {8192, 4}, {16383, 4},
		{16384, 5}, {32767, 5}, {32768, 6}, {65535, 6}, {65536, 7},
		{131071, 7}, {131072, 8}, {262143, 8}, {262144, 9},
		{524287, 9}, {524288, 10}, {1048575, 10}, {1048576, 11},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		if (txpow_penalty(c[i].len) != c[i].pen)
			print_message("len %zu\n", c[i].len);
		assert_int_equal(txpow_penalty(c[i].len), c[i].pen);
	}
}

static void test_eval_edges(void **state)
{
	uint8_t h[32] = {0};
	struct pow_eval pe;

	/* h64 = 0x777: rest is 0, so z = 64 - txpowbits */
	h[0] = 0x77;
	h[1] = 0x07;
	txpow_eval_hash(h, 100, 12, &pe);
	assert_true(pe.valid);
	assert_int_equal(pe.priority, 52);
	assert_int_equal(pe.id, 0);
	txpow_eval_hash(h, 1048576, 12, &pe);
	assert_int_equal(pe.priority, 52 - 11);
	/* txpowbits 0: always valid, z counts from bit 0 */
	txpow_eval_hash(h, 100, 0, &pe);
	assert_true(pe.valid);
	assert_int_equal(pe.priority, 0);
	assert_int_equal(pe.id, 0x777);
	/* 0x1777: bit 12 set, priority 0; id shifts by bits + pen */
	h[1] = 0x17;
	txpow_eval_hash(h, 100, 12, &pe);
	assert_int_equal(pe.priority, 0);
	assert_int_equal(pe.id, 1);
	txpow_eval_hash(h, 1024, 12, &pe);
	assert_int_equal(pe.priority, -1);
	assert_int_equal(pe.id, 0);
	/* wrong low bits */
	h[0] = 0x76;
	txpow_eval_hash(h, 100, 12, &pe);
	assert_false(pe.valid);
	txpow_eval_hash(h, 100, 4, &pe);
	assert_false(pe.valid);
	txpow_eval_hash(h, 100, 1, &pe);
	assert_false(pe.valid);
	h[0] = 0x77;
	txpow_eval_hash(h, 100, 24, &pe); /* 0x001777 vs 0x000777 */
	assert_false(pe.valid);
}

/* ---- mining ---- */

struct fake_clock {
	uint64_t ms;
	uint64_t step;  /* added after each read */
	int calls;
	int cancel_after; /* set *cancel at this call (0 = never) */
	_Atomic int *cancel;
};

static uint64_t fake_now(void *arg)
{
	struct fake_clock *c = arg;
	uint64_t v = c->ms;
	c->ms += c->step;
	c->calls++;
	if (c->cancel_after && c->calls >= c->cancel_after)
		*c->cancel = 1;
	return v;
}

static size_t make_packet(uint8_t *buf, size_t cap, size_t payload_len)
{
	static uint8_t payload[PACKET_MAX_LEN];
	struct packet_fields f = {
		.relay = 10, .kind = PACKET_KIND_DATA, .amount_a = 5,
		.tag_a = (const uint8_t *)"general", .len_a = 7,
		.payload = payload, .payload_len = payload_len,
	};
	for (size_t i = 0; i < payload_len; i++)
		payload[i] = (uint8_t)(i * 7);
	return packet_encode(buf, cap, &f);
}

static void check_mined(const uint8_t *pkt, size_t len, int bits, int req,
                        const struct pow_eval *out)
{
	struct pow_eval pe;
	txpow_eval(pkt, len, bits, &pe);
	assert_memory_equal(pe.hash, out->hash, 32);
	assert_true(pe.valid);
	assert_true(pe.priority >= req);
	assert_int_equal(pe.priority, out->priority);
	assert_int_equal(pe.id, out->id);
}

static void test_mine_priorities(void **state)
{
	uint8_t pkt[256];
	size_t len = make_packet(pkt, sizeof(pkt), 70);
	int reqs[] = {0, 1, 4, 8};

	assert_int_equal(len, 7 + 29 + 70);
	for (size_t i = 0; i < 4; i++) {
		struct fake_clock fc = {.ms = 1767225610123ULL};
		struct txpow_job job = {
			.pkt = pkt, .len = len, .txpowbits = 12,
			.requested = reqs[i], .clock = fake_now, .clock_arg = &fc,
			.nonce_start = 1000u * (unsigned)i,
		};
		struct pow_eval out;
		assert_int_equal(txpow_mine(&job, &out), E_OK);
		check_mined(pkt, len, 12, reqs[i], &out);
		assert_int_equal(le32(pkt + PACKET_OFF_TIME), 1767225610u);
		assert_true(job.hashes >= 1);
		/* the nonce found is the hashes-th one tried */
		assert_int_equal(le32(pkt + len - 4),
		                 (uint32_t)(job.nonce_start + job.hashes - 1));
	}
}

static void test_mine_sizes(void **state)
{
	/* Midstate with the nonce at every position in its block, and
	 * across the 1 KiB penalty step (target = requested + pen). */
	uint8_t *pkt = xmalloc(4096);
	for (size_t d = 1; d < 140; d += 7) {
		struct fake_clock fc = {.ms = 5000};
		size_t len = make_packet(pkt, 4096, d);
		struct txpow_job job = {
			.pkt = pkt, .len = len, .txpowbits = 8, .requested = 1,
			.clock = fake_now, .clock_arg = &fc,
		};
		struct pow_eval out;
		assert_int_equal(txpow_mine(&job, &out), E_OK);
		check_mined(pkt, len, 8, 1, &out);
	}
	size_t len = make_packet(pkt, 4096, 2100); /* L = 2136, pen 2 */
	struct fake_clock fc = {.ms = 5000};
	struct txpow_job job = {
		.pkt = pkt, .len = len, .txpowbits = 12, .requested = 0,
		.clock = fake_now, .clock_arg = &fc,
	};
	struct pow_eval out;
	assert_int_equal(txpow_penalty(len), 2);
	assert_int_equal(txpow_mine(&job, &out), E_OK);
	check_mined(pkt, len, 12, 0, &out);
	free(pkt);
}

struct rebuild_log {
	int calls;
	uint32_t last_t;
	uint32_t first_t;
};

/* Writes t into the timestamp and also into the first payload bytes, as a
 * signed payload would change with t. */
static int rebuild(uint8_t *pkt, size_t len, uint32_t t, void *arg)
{
	struct rebuild_log *l = arg;
	struct packet_view pv;
	put_le32(pkt + PACKET_OFF_TIME, t);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	put_le32((uint8_t *)pv.payload, t ^ 0x5a5a5a5a);
	if (l->calls++ == 0)
		l->first_t = t;
	l->last_t = t;
	return E_OK;
}

static void test_mine_refresh(void **state)
{
	uint8_t pkt[256];
	size_t len = make_packet(pkt, sizeof(pkt), 90);
	/* The clock moves 250 ms per read: every 4 reads a new second.  At
	 * requested priority 8 the search takes ~2^20 attempts, ~256 reads
	 * (this nonce_start needs well over 4 reads: checked below). */
	struct fake_clock fc = {.ms = 1000000, .step = 250};
	struct rebuild_log log = {0};
	struct txpow_job job = {
		.pkt = pkt, .len = len, .txpowbits = 12, .requested = 8,
		.rebuild = rebuild, .rebuild_arg = &log,
		.clock = fake_now, .clock_arg = &fc, .nonce_start = 7,
	};
	struct pow_eval out;
	struct packet_view pv;

	assert_int_equal(txpow_mine(&job, &out), E_OK);
	check_mined(pkt, len, 12, 8, &out);
	assert_int_equal(log.first_t, 1000);
	assert_true(log.calls >= 2);
	assert_true(log.last_t > log.first_t);
	/* one rebuild per new second: calls = seconds seen */
	assert_int_equal(log.calls, (int)(log.last_t - log.first_t) + 1);
	/* the packet carries the second its nonce was found, and the payload
	 * written for that second (so the midstate was recomputed) */
	assert_int_equal(le32(pkt + PACKET_OFF_TIME), log.last_t);
	assert_int_equal(packet_decode(pkt, len, &pv), E_OK);
	assert_int_equal(le32(pv.payload), log.last_t ^ 0x5a5a5a5a);
	/* the clock is read about every 4096 attempts, never much less */
	assert_true(job.hashes / 4096 + 2 >= (uint64_t)fc.calls);
	assert_true(job.hashes / 4096 <= (uint64_t)fc.calls);

	/* without a rebuild callback the timestamp field alone is updated */
	struct fake_clock fc2 = {.ms = 2000000, .step = 300};
	job.rebuild = NULL;
	job.clock_arg = &fc2;
	assert_int_equal(txpow_mine(&job, &out), E_OK);
	check_mined(pkt, len, 12, 8, &out);
	assert_true(le32(pkt + PACKET_OFF_TIME) >= 2000);
	assert_int_equal(le32(pkt + PACKET_OFF_TIME),
	                 (uint32_t)((fc2.ms - fc2.step) / 1000));
}

static void test_mine_cancel(void **state)
{
	uint8_t pkt[256];
	size_t len = make_packet(pkt, sizeof(pkt), 50);
	_Atomic int cancel = 1;
	struct fake_clock fc = {.ms = 1000, .cancel = &cancel};
	struct txpow_job job = {
		.pkt = pkt, .len = len, .txpowbits = 12, .requested = 40,
		.clock = fake_now, .clock_arg = &fc, .cancel = &cancel,
	};
	struct pow_eval out;

	/* already cancelled: no attempt */
	assert_int_equal(txpow_mine(&job, &out), E_CANCELLED);
	assert_int_equal(job.hashes, 0);
	/* cancelled while searching (by the 3rd clock read); priority 40
	 * would otherwise take ~2^52 attempts */
	cancel = 0;
	fc.cancel_after = 3;
	assert_int_equal(txpow_mine(&job, &out), E_CANCELLED);
	assert_true(job.hashes >= 2 * 4096);
	assert_true(job.hashes <= 4 * 4096);
}

static int failing_rebuild(uint8_t *pkt, size_t len, uint32_t t, void *arg)
{
	return E_CRYPTO;
}

static void test_mine_errors(void **state)
{
	uint8_t pkt[256];
	size_t len = make_packet(pkt, sizeof(pkt), 50);
	struct fake_clock fc = {.ms = 1000};
	struct txpow_job job = {
		.pkt = pkt, .len = len, .txpowbits = 12, .requested = 0,
		.rebuild = failing_rebuild, .clock = fake_now, .clock_arg = &fc,
	};
	struct pow_eval out;

	assert_int_equal(txpow_mine(&job, &out), E_CRYPTO);
	job.rebuild = NULL;
	job.requested = -1;
	assert_int_equal(txpow_mine(&job, &out), E_INVAL);
	job.requested = 53; /* 64 - 12 = 52 is the most a hash can show */
	assert_int_equal(txpow_mine(&job, &out), E_INVAL);
	job.requested = 0;
	job.txpowbits = TXPOW_MAX_BITS + 1;
	assert_int_equal(txpow_mine(&job, &out), E_INVAL);
	job.txpowbits = 12;
	job.clock = NULL;
	assert_int_equal(txpow_mine(&job, &out), E_INVAL);
	job.clock = fake_now;
	job.len = 29;
	assert_int_equal(txpow_mine(&job, &out), E_INVAL);
	/* txpowbits 0, priority 0: the first nonce is accepted */
	job.len = len;
	job.txpowbits = 0;
	assert_int_equal(txpow_mine(&job, &out), E_OK);
	assert_int_equal(job.hashes, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_api_examples),
		cmocka_unit_test(test_penalty),
		cmocka_unit_test(test_eval_edges),
		cmocka_unit_test(test_mine_priorities),
		cmocka_unit_test(test_mine_sizes),
		cmocka_unit_test(test_mine_refresh),
		cmocka_unit_test(test_mine_cancel),
		cmocka_unit_test(test_mine_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
