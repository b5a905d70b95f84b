/* test_files.c - unit tests for src/core/files.c: sizes and slices, the
 * filename rules, locator encoding and the locators packet check, the
 * "counts as present" check of a fragment, hash packet candidates, the
 * result outcome and the progress percentage (API.md 4.9 - 4.13).
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
#include "core/files.h"
#include "core/packet.h"

static void test_frag_sizes(void **state)
{
	(void)state;
	assert_int_equal(files_frag_count(0), 0);
	assert_int_equal(files_frag_count(1), 1);
	assert_int_equal(files_frag_count(659), 1);
	assert_int_equal(files_frag_count(10000), 1);
	assert_int_equal(files_frag_count(10001), 2);
	assert_int_equal(files_frag_count(25000), 3);
	assert_int_equal(files_frag_count(FILES_MAX_SIZE), FILES_MAX_FRAGS);
	assert_int_equal(files_frag_len(25000, 0), 10000);
	assert_int_equal(files_frag_len(25000, 2), 5000);
	assert_int_equal(files_frag_len(25000, 3), 0);
	assert_int_equal(files_frag_len(20000, 1), 10000);
	assert_int_equal(files_frag_len(1, 0), 1);
}

static void test_slices(void **state)
{
	uint64_t o, l;

	(void)state;
	assert_int_equal(files_slice(1, 1458334, &o, &l), E_OK);
	assert_true(o == 0 && l == 1000000);
	assert_int_equal(files_slice(2, 1458334, &o, &l), E_OK);
	assert_true(o == 1000000 && l == 458334);
	assert_int_equal(files_slice(3, 1458334, &o, &l), E_NOTFOUND);
	assert_true(o == 2000000);
	assert_int_equal(files_slice(2, 1000000, &o, &l), E_NOTFOUND);
	assert_int_equal(files_slice(0, 10, &o, &l), E_RANGE);
	assert_int_equal(files_slice(-1, 10, &o, &l), E_RANGE);
	assert_int_equal(files_slice(FILES_MAX_SLICEID + 1, UINT64_MAX, &o, &l),
	                 E_RANGE);
	assert_int_equal(files_slice(FILES_MAX_SLICEID, UINT64_MAX, &o, &l),
	                 E_OK);
	assert_true(o == 92233000000ull);
	/* offset0 * 10^8 of the last slice stays below 2^63 */
	assert_true(files_slice_amount(o) < (1ull << 63));
	assert_true(files_slice_amount(1000000) == 100000000000000ull);
}

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(files_name_check("notes.txt", 9), FILES_NAME_OK);
	assert_int_equal(files_name_check("a", 1), FILES_NAME_OK);
	assert_int_equal(files_name_check("...", 3), FILES_NAME_OK);
	assert_int_equal(files_name_check("123456789012345", 15),
	                 FILES_NAME_OK);
	assert_int_equal(files_name_check("a_name_too_long.bin", 19),
	                 FILES_NAME_TOO_LONG);
	assert_int_equal(files_name_check("", 0), FILES_NAME_INVALID);
	assert_int_equal(files_name_check(".", 1), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("..", 2), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("a/b", 3), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("../x", 4), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("a\\b", 3), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("a\0b", 3), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("a\nb", 3), FILES_NAME_INVALID);
	assert_int_equal(files_name_check("a\x1f", 2), FILES_NAME_INVALID);
	/* 0x7f and UTF-8 bytes are allowed by 3.2 */
	assert_int_equal(files_name_check("a\x7f", 2), FILES_NAME_OK);
	assert_int_equal(files_name_check("caf\xc3\xa9", 5), FILES_NAME_OK);
}

static void test_offset_tag(void **state)
{
	char b[FILES_DIGITS_MAX + 1];

	(void)state;
	assert_int_equal(files_offset_tag(b, 0), 1);
	assert_string_equal(b, "0");
	assert_int_equal(files_offset_tag(b, 1000000), 7);
	assert_string_equal(b, "1000000");
	files_offset_tag(b, 92233000000ull);
	assert_string_equal(b, "92233000000");
	files_offset_tag(b, UINT64_MAX);
	assert_string_equal(b, "18446744073709551615");
}

/* The locators of API.md 4.10's example.  Its table gives fragment 2 the
 * id 1043033781 (0x3e2b6eb5) but the locators bytes name 0x3e2b6cb5 =
 * 1043033269 (docs/decisions.md): the bytes are taken as the truth. */
static const char EXAMPLE_HEX[] =
	"0000000000000000a4dd831790ba55698e8e9ab190ba5569b56c2b3e90ba5569";

static void from_hex(uint8_t *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void test_locators_example(void **state)
{
	uint64_t locs[3] = {
		files_locator(1767226000, 394517924),
		files_locator(1767226000, 2979696270u),
		files_locator(1767226000, 1043033269),
	};
	uint8_t enc[32], want[32];
	struct files_locators l;
	uint32_t ts, id;

	(void)state;
	assert_int_equal(files_locators_len(3), 32);
	files_locators_encode(enc, 0, locs, 3);
	from_hex(want, EXAMPLE_HEX, 32);
	assert_memory_equal(enc, want, 32);
	assert_int_equal(files_locators_parse(enc, 32, 25000, 3, false, 0, &l),
	                 E_OK);
	assert_true(l.size == 25000 && l.k == 3 && l.numlocators == 3);
	files_locator_get(&l, 1, &ts, &id);
	assert_int_equal(ts, 1767226000);
	assert_int_equal(id, 2979696270u);
	files_locator_get(&l, 2, &ts, &id);
	assert_int_equal(id, 1043033269);
}

static void test_locators_bad(void **state)
{
	uint8_t b[8 + 8 * 101];
	struct files_locators l;

	(void)state;
	memset(b, 0, sizeof b);
	/* truncated: 8 + 8k - 1 bytes */
	assert_int_equal(files_locators_parse(b, 31, 25000, 3, false, 0, &l),
	                 E_PARSE);
	assert_int_equal(l.numlocators, 2);
	assert_true(l.size == 25000 && l.k == 3);
	/* shorter than the header */
	assert_int_equal(files_locators_parse(b, 5, 25000, 3, false, 0, &l),
	                 E_PARSE);
	assert_int_equal(l.numlocators, 0);
	/* k does not match the size */
	assert_int_equal(files_locators_parse(b, 32, 35000, 3, false, 0, &l),
	                 E_PARSE);
	assert_int_equal(files_locators_parse(b, 32, 20000, 3, false, 0, &l),
	                 E_PARSE);
	/* k = 0, size 0 */
	assert_int_equal(files_locators_parse(b, 8, 0, 0, false, 0, &l),
	                 E_PARSE);
	/* k above the maximum */
	assert_int_equal(files_locators_parse(b, 32, 25000,
	                                      FILES_MAX_FRAGS + 1ull, false, 0,
	                                      &l),
	                 E_PARSE);
	/* huge amountB does not wrap */
	assert_int_equal(files_locators_parse(b, 32, 25000, (1ull << 32) + 3,
	                                      false, 0, &l),
	                 E_PARSE);
	/* offset0 must be the expected one */
	put_le64(b, 1000000);
	assert_int_equal(files_locators_parse(b, 32, 25000, 3, false, 0, &l),
	                 E_PARSE);
	assert_int_equal(files_locators_parse(b, 32, 25000, 3, true, 1000000,
	                                      &l),
	                 E_OK);
	/* a slice is at most 10^6 bytes */
	assert_int_equal(files_locators_parse(b, sizeof b, 1010000, 101, true,
	                                      1000000, &l),
	                 E_PARSE);
	assert_int_equal(files_locators_parse(b, sizeof b, 1010000, 101, false,
	                                      0, &l),
	                 E_PARSE); /* whole file: offset0 must be 0 */
}

/* A fragment packet view as the store would give it. */
static uint8_t PUB[PACKET_PUBKEY_LEN] = { 0x01, 7, 7, 7 };

static struct packet_view frag_view(uint8_t *payload, uint32_t plain_len)
{
	struct packet_view pv;

	memset(&pv, 0, sizeof pv);
	pv.kind = PACKET_KIND_DATA;
	pv.timestamp = 1767226000;
	pv.plen = PACKET_PUBKEY_LEN;
	pv.pubkey = PUB;
	pv.tag_a = (const uint8_t *)"notes.txt";
	pv.len_a = 9;
	pv.tag_b = (const uint8_t *)"data";
	pv.len_b = 4;
	pv.amount_a = 2;
	pv.payload = payload;
	pv.payload_len = FILES_SIGNED_OVERHEAD + plain_len;
	return pv;
}

static void test_fragment_present(void **state)
{
	static uint8_t payload[FILES_SIGNED_OVERHEAD + FILES_FRAG];
	uint8_t other[PACKET_PUBKEY_LEN] = { 0x01, 8 };
	struct packet_view pv = frag_view(payload, 5000), bad;

	(void)state;
	assert_true(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                   1767226000, 2, 25000));
	/* the signature check failed */
	assert_false(files_fragment_present(&pv, false, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	/* another publisher */
	assert_false(files_fragment_present(&pv, true, other, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	/* other name, index, timestamp, size */
	assert_false(files_fragment_present(&pv, true, PUB, "notes.tx", 8,
	                                    1767226000, 2, 25000));
	assert_false(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                    1767226000, 1, 25000));
	assert_false(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                    1767226001, 2, 25000));
	assert_false(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25001));
	assert_false(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 30000));
	/* a fragment past the end */
	assert_false(files_fragment_present(&pv, true, PUB, "notes.txt", 9,
	                                    1767226000, 3, 25000));
	bad = pv;
	bad.len_b = 3;
	assert_false(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	bad = pv;
	bad.plen = 0;
	assert_false(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	bad = pv;
	bad.amount_b = 1;
	assert_false(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	bad = pv;
	bad.kind = PACKET_KIND_CANCEL;
	assert_false(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                    1767226000, 2, 25000));
	/* a full middle fragment */
	bad = frag_view(payload, FILES_FRAG);
	bad.amount_a = 1;
	assert_true(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                   1767226000, 1, 25000));
	assert_false(files_fragment_present(&bad, true, PUB, "notes.txt", 9,
	                                    1767226000, 1, 15000));
}

static void test_hash_candidate(void **state)
{
	static uint8_t payload[FILES_SIGNED_OVERHEAD + 32];
	struct packet_view pv = frag_view(payload, 32);

	(void)state;
	pv.tag_a = (const uint8_t *)"files";
	pv.len_a = 5;
	pv.tag_b = (const uint8_t *)"notes.txt";
	pv.len_b = 9;
	pv.amount_a = 25000;
	pv.amount_b = 3;
	assert_true(files_hash_candidate(&pv, false, PUB, "notes.txt", 9, 25000,
	                                 3));
	assert_false(files_hash_candidate(&pv, true, PUB, "notes.txt", 9, 25000,
	                                  3));
	assert_false(files_hash_candidate(&pv, false, PUB, "notes.txt", 9, 25001,
	                                  3));
	assert_false(files_hash_candidate(&pv, false, PUB, "notes.txt", 9, 25000,
	                                  4));
	pv.payload_len--;
	assert_false(files_hash_candidate(&pv, false, PUB, "notes.txt", 9, 25000,
	                                  3));
	pv.payload_len++;
	pv.tag_a = (const uint8_t *)"slices";
	pv.len_a = 6;
	pv.amount_a = files_slice_amount(1000000);
	assert_true(files_hash_candidate(&pv, true, PUB, "notes.txt", 9,
	                                 files_slice_amount(1000000), 3));
}

static void test_outcome(void **state)
{
	uint8_t a[32] = { 1 }, b[32] = { 2 };

	(void)state;
	assert_int_equal(files_outcome(0, true, a, a), FILES_SUCCESS);
	assert_int_equal(files_outcome(1, true, a, a), FILES_MISSING);
	assert_int_equal(files_outcome(1, false, a, b), FILES_MISSING);
	assert_int_equal(files_outcome(0, false, a, a), FILES_NO_HASH);
	assert_int_equal(files_outcome(0, true, a, b), FILES_MISMATCH);
	assert_null(files_outcome_str(FILES_SUCCESS));
	assert_string_equal(files_outcome_str(FILES_MISSING),
	                    "missing fragments");
	assert_string_equal(files_outcome_str(FILES_NO_HASH),
	                    "file hash not found");
	assert_string_equal(files_outcome_str(FILES_MISMATCH),
	                    "file hash mismatch");
}

static void test_progress(void **state)
{
	(void)state;
	assert_true(files_progress_pct(0, 0) == 0.0);
	assert_true(files_progress_pct(0, 3) == 0.0);
	assert_true(files_progress_pct(1, 3) == 33.33);
	assert_true(files_progress_pct(2, 3) == 66.67);
	assert_true(files_progress_pct(3, 3) == 100.0);
	assert_true(files_progress_pct(5, 3) == 100.0);
	assert_true(files_progress_pct(1, 131000) == 0.0);
	assert_true(files_progress_pct(7, 131000) == 0.01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frag_sizes),
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_offset_tag),
		cmocka_unit_test(test_locators_example),
		cmocka_unit_test(test_locators_bad),
		cmocka_unit_test(test_fragment_present),
		cmocka_unit_test(test_hash_candidate),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_progress),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
