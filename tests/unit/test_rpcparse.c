/* test_rpcparse.c - pure pieces of the RPC server: number pre-scan,
 * request checks, serializer, Basic credentials, allow list, perfstats,
 * and the DEX parameter validators (params.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/params.h"
#include "node/rpc.h"
#include "node/rpcparse.h"

/* Serialize v (stolen) and compare with want. */
static void expect_dump(json_t *v, const char *want)
{
	size_t n;
	char *s = rpc_dump(v, &n);
	assert_string_equal(s, want);
	assert_int_equal(n, strlen(want));
	free(s);
	json_decref(v);
}

static void expect_prescan(const char *in, const char *want)
{
	size_t n;
	char *s = rpc_prescan(in, strlen(in), &n);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(s, want, n);
	free(s);
}

static void test_prescan_numbers(void **st)
{
	(void)st;
	expect_prescan("{\"method\":\"x\",\"params\":[0.1,1e-8,5,-0,\"7\"],"
	               "\"id\":1}",
	               "{\"method\":\"x\",\"params\":[\"0.1\",\"1e-8\",\"5\","
	               "\"-0\",\"7\"],\"id\":1}");
	/* the id and nested values are left alone */
	expect_prescan("{\"id\":2.50,\"params\":[[1],{\"a\":2},3]}",
	               "{\"id\":2.50,\"params\":[[1],{\"a\":2},\"3\"]}");
	/* batches: each element is a request */
	expect_prescan("[{\"params\":[1]},{\"params\" : [ 2E+3 ]}]",
	               "[{\"params\":[\"1\"]},{\"params\" : [ \"2E+3\" ]}]");
	/* escaped key */
	expect_prescan("{\"par\\u0061ms\":[12]}", "{\"par\\u0061ms\":[\"12\"]}");
	/* "params" as a value, or inside a string, is not a key */
	expect_prescan("{\"a\":\"params\",\"b\":[1]}",
	               "{\"a\":\"params\",\"b\":[1]}");
	expect_prescan("{\"x\":{\"params\":[1]}}", "{\"x\":{\"params\":[1]}}");
	expect_prescan("{\"m\":\"a\\\"],\\\"params\\\":[1\"}",
	               "{\"m\":\"a\\\"],\\\"params\\\":[1\"}");
	/* invalid numbers stay invalid */
	expect_prescan("{\"params\":[01,1.,.5]}", "{\"params\":[01,1.,.5]}");
	/* garbage does not crash */
	expect_prescan("{\"params\":[1,\"unterminated",
	               "{\"params\":[\"1\",\"unterminated");
	expect_prescan("]]]}}}", "]]]}}}");
}

/* Pre-scan with ids: the rewritten body must be want, and the recorded
 * ids "req:text" joined by spaces must be want_ids. */
static void expect_ids(const char *in, const char *want,
                       const char *want_ids)
{
	size_t n;
	struct rpc_rawids ids;
	char *s = rpc_prescan_ex(in, strlen(in), &n, &ids);
	char got[512] = "";
	size_t gl = 0;

	assert_int_equal(n, strlen(want));
	assert_memory_equal(s, want, n);
	for (size_t i = 0; i < ids.n; i++) {
		assert_true(ids.v[i].off + ids.v[i].len <= strlen(in));
		if (i)
			assert_true(ids.v[i].req > ids.v[i - 1].req);
		gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%zu:%.*s",
		                       i ? " " : "", ids.v[i].req,
		                       (int)ids.v[i].len, in + ids.v[i].off);
		assert_true(gl < sizeof got);
	}
	assert_string_equal(got, want_ids);
	assert_true(ids.n > 0 || ids.v == NULL);
	rpc_rawids_free(&ids);
	free(s);
}

static void test_prescan_ids(void **st)
{
	(void)st;
	/* single requests: numbers taken out exactly as written */
	expect_ids("{\"method\":\"ping\",\"id\":123456789012345678901234567890}",
	           "{\"method\":\"ping\",\"id\":null}",
	           "0:123456789012345678901234567890");
	expect_ids("{\"id\":1e2}", "{\"id\":null}", "0:1e2");
	expect_ids("{\"id\" : 2.50 ,\"method\":\"x\"}",
	           "{\"id\" : null ,\"method\":\"x\"}", "0:2.50");
	expect_ids("{\"id\":-0}", "{\"id\":null}", "0:-0");
	expect_ids("{\"id\":-1.5E+300}", "{\"id\":null}", "0:-1.5E+300");
	expect_ids("{\"id\":1e999}", "{\"id\":null}", "0:1e999");
	expect_ids("{\"\\u0069d\":7}", "{\"\\u0069d\":null}", "0:7");
	/* parameters still quoted alongside */
	expect_ids("{\"method\":\"x\",\"params\":[1.0],\"id\":3}",
	           "{\"method\":\"x\",\"params\":[\"1.0\"],\"id\":null}", "0:3");
	/* ids that are not numbers are unchanged and not recorded */
	expect_ids("{\"id\":\"12\"}", "{\"id\":\"12\"}", "");
	expect_ids("{\"id\":null}", "{\"id\":null}", "");
	expect_ids("{\"id\":true}", "{\"id\":true}", "");
	expect_ids("{\"id\":{\"id\":5}}", "{\"id\":{\"id\":5}}", "");
	expect_ids("{\"id\":[5]}", "{\"id\":[5]}", "");
	expect_ids("{\"method\":\"x\"}", "{\"method\":\"x\"}", "");
	/* duplicate keys: the last one is the id; every number is nulled */
	expect_ids("{\"id\":1,\"id\":2}", "{\"id\":null,\"id\":null}", "0:2");
	expect_ids("{\"id\":1,\"id\":\"s\"}", "{\"id\":null,\"id\":\"s\"}",
	           "");
	expect_ids("{\"id\":\"s\",\"id\":1.0}", "{\"id\":\"s\",\"id\":null}",
	           "0:1.0");
	expect_ids("{\"id\":1,\"id\":[2]}", "{\"id\":null,\"id\":[2]}", "");
	/* nested "id" keys and "id" as a value are not the request's id */
	expect_ids("{\"params\":[{\"id\":1}],\"x\":{\"id\":2},\"y\":[{\"id\":3}],"
	           "\"z\":\"id\",\"w\":4}",
	           "{\"params\":[{\"id\":1}],\"x\":{\"id\":2},\"y\":[{\"id\":3}],"
	           "\"z\":\"id\",\"w\":4}", "");
	expect_ids("{\"ids\":1,\"i\":2,\"Id\":3}", "{\"ids\":1,\"i\":2,\"Id\":3}",
	           "");
	expect_ids("{\"m\":\"\\\"id\\\":1\"}", "{\"m\":\"\\\"id\\\":1\"}", "");
	/* batches: element indices count non-object elements too */
	expect_ids("[{\"id\":1},5,\"x\",[{\"id\":9}],{\"method\":\"a\"},"
	           "{\"id\":\"s\"},{\"params\":[2],\"id\":-0.0e0},{\"id\":1,"
	           "\"id\":null},{\"id\":{\"id\":8}},{\"id\":10}]",
	           "[{\"id\":null},5,\"x\",[{\"id\":9}],{\"method\":\"a\"},"
	           "{\"id\":\"s\"},{\"params\":[\"2\"],\"id\":null},{\"id\":null,"
	           "\"id\":null},{\"id\":{\"id\":8}},{\"id\":null}]",
	           "0:1 6:-0.0e0 9:10");
	/* top-level numbers and strings are no requests */
	expect_ids("7", "7", "");
	expect_ids("[7,8]", "[7,8]", "");
	/* invalid bodies stay invalid, unterminated requests record nothing */
	expect_ids("{\"id\":01}", "{\"id\":01}", "");
	expect_ids("{\"id\":.5}", "{\"id\":.5}", "");
	expect_ids("{\"id\":1", "{\"id\":null", "");
	expect_ids("{\"id\":1}}}]]", "{\"id\":null}}}]]", "0:1");
	/* the plain pre-scan leaves ids alone */
	expect_prescan("{\"id\":2.50}", "{\"id\":2.50}");
}

/* The rewritten body parses with the number ids as null and everything
 * else kept. */
static void test_prescan_ids_parse(void **st)
{
	(void)st;
	const char *body = "[{\"method\":\"ping\",\"id\":"
	                   "123456789012345678901234567890},"
	                   "{\"method\":\"ping\",\"id\":\"a\"},"
	                   "{\"method\":\"ping\",\"id\":1e400,\"id\":[1]}]";
	json_error_t e;
	size_t n;
	struct rpc_rawids ids;
	assert_null(json_loadb(body, strlen(body), JSON_DECODE_ANY, &e));
	char *s = rpc_prescan_ex(body, strlen(body), &n, &ids);
	json_t *doc = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	assert_non_null(doc);
	assert_int_equal(json_array_size(doc), 3);
	assert_true(json_is_null(json_object_get(json_array_get(doc, 0), "id")));
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(doc, 1), "id")), "a");
	assert_true(json_is_array(json_object_get(json_array_get(doc, 2),
	                                          "id")));
	assert_int_equal(ids.n, 1);
	assert_int_equal(ids.v[0].req, 0);
	assert_int_equal(ids.v[0].len, 30);
	json_decref(doc);
	rpc_rawids_free(&ids);
	rpc_rawids_free(&ids); /* twice is harmless */
	free(s);
}

static void test_prescan_then_parse(void **st)
{
	(void)st;
	const char *body = "{\"method\":\"DEX_list\",\"params\":[0, 1e-8, null,"
	                   " \"a\\u0000b\"],\"id\":[1]}";
	size_t n;
	char *s = rpc_prescan(body, strlen(body), &n);
	json_error_t e;
	json_t *req = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	assert_non_null(req);
	const char *m, *msg = NULL;
	size_t ml;
	const json_t *params;
	assert_int_equal(rpc_request_check(req, &m, &ml, &params, &msg), 0);
	assert_string_equal(m, "DEX_list");
	assert_int_equal(json_array_size(params), 4);
	char buf[64];
	const char *p;
	size_t pl;
	assert_int_equal(rpc_param_text(json_array_get(params, 0), buf, &p,
	                                &pl), 0);
	assert_string_equal(p, "0");
	assert_int_equal(rpc_param_text(json_array_get(params, 1), buf, &p,
	                                &pl), 0);
	assert_string_equal(p, "1e-8");
	assert_int_equal(rpc_param_text(json_array_get(params, 2), buf, &p,
	                                &pl), 0);
	assert_int_equal(pl, 0);
	assert_int_equal(rpc_param_text(json_array_get(params, 3), buf, &p,
	                                &pl), 0);
	assert_int_equal(pl, 3);
	assert_memory_equal(p, "a\0b", 3);
	json_t *t = json_true();
	assert_int_equal(rpc_param_text(t, buf, &p, &pl), -3);
	json_t *arr = json_array();
	assert_int_equal(rpc_param_text(arr, buf, &p, &pl), -3);
	json_decref(arr);
	json_decref(req);
	free(s);
}

static void check_req(const char *txt, int code, const char *msg)
{
	json_t *req = json_loads(txt, 0, NULL);
	const char *m, *got = NULL;
	size_t ml;
	const json_t *params;
	assert_non_null(req);
	assert_int_equal(rpc_request_check(req, &m, &ml, &params, &got), code);
	if (msg)
		assert_string_equal(got, msg);
	json_decref(req);
}

static void test_request_check(void **st)
{
	(void)st;
	check_req("{}", -32600, "Missing method");
	check_req("{\"method\":1}", -32600, "Method must be a string");
	check_req("{\"method\":\"a\",\"params\":{}}", -32600,
	          "Params must be an array");
	check_req("{\"method\":\"a\",\"params\":\"x\"}", -32600,
	          "Params must be an array");
	check_req("{\"method\":\"a\",\"params\":null}", 0, NULL);
	check_req("{\"method\":\"a\"}", 0, NULL);
}

static void test_dump(void **st)
{
	(void)st;
	json_t *o = json_object();
	json_object_set_new(o, "result", json_string("x"));
	json_object_set_new(o, "error", json_null());
	json_object_set_new(o, "id", json_integer(-5));
	json_object_set_new(o, "a", json_real(0.0));
	json_object_set_new(o, "b", json_real(12.3));
	json_object_set_new(o, "c", json_real(0.000214));
	json_object_set_new(o, "d", json_pack("[bb]", 1, 0));
	json_object_set_new(o, "e", json_real(0.000088));
	json_object_set_new(o, "f", json_real(100.0));
	expect_dump(o, "{\"result\":\"x\",\"error\":null,\"id\":-5,\"a\":0.0,"
	               "\"b\":12.3,\"c\":0.000214,\"d\":[true,false],"
	               "\"e\":0.000088,\"f\":100.0}");
	/* bytes: controls, DEL, valid UTF-8, invalid bytes as Latin-1 */
	static const uint8_t raw[] = { 'a', '"', '\\', '\n', 0x01, 0x00, 0x7f,
	                               0xc3, 0xa9, 0xff, 0xc3, 'z', 0xed,
	                               0xa0, 0x80 };
	expect_dump(json_bytes(raw, sizeof raw),
	            "\"a\\\"\\\\\\n\\u0001\\u0000\\u007f\xc3\xa9\\u00ff"
	            "\\u00c3z\\u00ed\\u00a0\\u0080\"");
	expect_dump(json_array(), "[]");
	expect_dump(json_object(), "{}");
}

static void test_basic(void **st)
{
	(void)st;
	uint8_t out[64];
	size_t n;
	/* "user:pass" */
	assert_true(rpc_basic_decode("Basic dXNlcjpwYXNz", out, sizeof out,
	                             &n));
	assert_int_equal(n, 9);
	assert_memory_equal(out, "user:pass", 9);
	/* ":p" with padding, lower-case scheme */
	assert_true(rpc_basic_decode("basic OnA=", out, sizeof out, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(out, ":p", 2);
	assert_false(rpc_basic_decode("Bearer abc", out, sizeof out, &n));
	assert_false(rpc_basic_decode("Basic a*b", out, sizeof out, &n));
	assert_false(rpc_basic_decode("Basic dXNlcjpwYXNz", out, 4, &n));
	assert_false(rpc_basic_decode(NULL, out, sizeof out, &n));
}

static void test_allow(void **st)
{
	(void)st;
	struct rpc_allow a[3];
	assert_true(rpc_allow_parse("10.1.0.0/16", &a[0]));
	assert_true(rpc_allow_parse("192.168.1.7", &a[1]));
	assert_true(rpc_allow_parse("fd00::/8", &a[2]));
	assert_true(rpc_allow_match(NULL, 0, "127.0.0.1"));
	assert_true(rpc_allow_match(NULL, 0, "::1"));
	assert_false(rpc_allow_match(NULL, 0, "127.0.0.2"));
	assert_true(rpc_allow_match(a, 3, "10.1.200.3"));
	assert_true(rpc_allow_match(a, 3, "::ffff:10.1.0.9"));
	assert_false(rpc_allow_match(a, 3, "10.2.0.1"));
	assert_true(rpc_allow_match(a, 3, "192.168.1.7"));
	assert_false(rpc_allow_match(a, 3, "192.168.1.8"));
	assert_true(rpc_allow_match(a, 3, "fdab::1"));
	assert_false(rpc_allow_match(a, 3, "fe80::1"));
	assert_true(rpc_allow_parse("10.0.0.0/255.0.0.0", &a[0]));
	assert_true(rpc_allow_match(a, 1, "10.9.9.9"));
	assert_false(rpc_allow_match(a, 1, "11.0.0.1"));
	assert_true(rpc_allow_parse("0.0.0.0/0", &a[0]));
	assert_true(rpc_allow_match(a, 1, "8.8.8.8"));
	assert_false(rpc_allow_parse("10.0.0.0/33", &a[0]));
	assert_false(rpc_allow_parse("nonsense", &a[0]));
	assert_false(rpc_allow_parse("/8", &a[0]));
}

static void test_perfstats(void **st)
{
	(void)st;
	struct perfstats_in p = { 0 };
	char buf[512];
	p.ram = 3;
	p.idxor = 3534964992u ^ 2275093661u ^ 3700018785u;
	p.sent = 3;
	p.added = 3;
	p.by_priority[8] = 1;
	p.by_priority[0] = 2;
	perfstats_format(buf, sizeof buf, &p);
	assert_string_equal(buf,
	                    "RAM.3 89a1abfc R.0 S.3 A.3 dup.0 | L.0 A.0 coll.0 "
	                    "| lag (0.0000 0.0000 0.0000) err.0 pend.0 T/F 0/0 "
	                    "| 0 0 0 0 0 1 0 0 0 0 0 0 0 2  0/sec");
	p.overloaded = true;
	p.rate_floor = 12;
	p.lag[0] = 1.23456;
	p.by_priority[13] = 4;
	perfstats_format(buf, sizeof buf, &p);
	assert_non_null(strstr(buf, "lag (1.2346 0.0000 0.0000)"));
	assert_non_null(strstr(buf, "| 4 0 0 0 0 1 "));
	assert_non_null(strstr(buf, " 2 LAG 12/sec"));
	/* truncation is safe */
	perfstats_format(buf, 10, &p);
	assert_int_equal(strlen(buf), 9);
}

/* Serialize an error object and compare. */
static void expect_err(json_t *e, const char *want)
{
	assert_non_null(e);
	expect_dump(e, want);
}

static void expect_fail(json_t *e)
{
	assert_non_null(e);
	json_decref(e);
}

static void test_params(void **st)
{
	(void)st;
	int pr;
	uint8_t tag[15], pk[33], h[32];
	size_t tl;
	bool has, given;
	uint64_t amt;
	uint32_t id;

	assert_null(param_priority("", 0, &pr));
	assert_int_equal(pr, 0);
	assert_null(param_priority("032", 3, &pr));
	assert_int_equal(pr, 32);
	expect_err(param_priority("33", 2, &pr),
	           "{\"result\":\"error\",\"error\":\"priority must be an "
	           "integer from 0 to 32\",\"priority\":\"33\"}");
	expect_fail(param_priority("1.0", 3, &pr));
	expect_fail(param_priority("-1", 2, &pr));
	expect_fail(param_priority("5\0", 2, &pr));

	assert_null(param_tag("tagA", "BTC", 3, tag, &tl));
	assert_int_equal(tl, 3);
	expect_err(param_tag("tagB", "0123456789abcdef", 16, tag, &tl),
	           "{\"result\":\"error\",\"error\":\"tagB longer than 15 "
	           "bytes\",\"tagB\":\"0123456789abcdef\"}");
	expect_err(param_tag("tagA", "a\0b", 3, tag, &tl),
	           "{\"result\":\"error\",\"error\":\"tagA contains a NUL "
	           "byte\",\"tagA\":\"a\\u0000b\"}");

	assert_null(param_pubkey33("", 0, pk, &has));
	assert_false(has);
	const char *k = "01D04AB232742BB4AB3A1368BD4615E4E6D0224AB71A016BAF85"
	                "20A332C9778737";
	assert_null(param_pubkey33(k, 66, pk, &has));
	assert_true(has);
	assert_int_equal(pk[0], 1);
	assert_int_equal(pk[1], 0xd0);
	expect_err(param_pubkey33("02d04a", 6, pk, &has),
	           "{\"result\":\"error\",\"error\":\"pubkey33 must be 66 hex "
	           "characters starting with 01\",\"pubkey33\":\"02d04a\"}");

	assert_null(param_amount("volA", "", 0, 7, &amt, &given));
	assert_int_equal(amt, 7);
	assert_false(given);
	assert_null(param_amount("volA", "1e-8", 4, 0, &amt, &given));
	assert_int_equal(amt, 1);
	assert_true(given);
	expect_err(param_amount("volA", "-1", 2, 0, &amt, &given),
	           "{\"result\":\"error\",\"error\":\"negative volA\","
	           "\"volA\":\"-1\"}");
	expect_err(param_amount("maxB", "abc", 3, 0, &amt, &given),
	           "{\"result\":\"error\",\"error\":\"invalid maxB\","
	           "\"maxB\":\"abc\"}");
	expect_err(param_amount("minA", "92233720368.54775808", 20, 0, &amt,
	                        &given),
	           "{\"result\":\"error\",\"error\":\"invalid minA\","
	           "\"minA\":\"92233720368.54775808\"}");

	assert_null(param_range("minA", "1", 1, "maxA", "", 0, 100, 0));
	assert_null(param_range("minA", "1", 1, "maxA", "1.0", 3, 100, 100));
	expect_err(param_range("minA", "2", 1, "maxA", "1", 1, 200, 100),
	           "{\"result\":\"error\",\"error\":\"minA greater than maxA\","
	           "\"minA\":\"2\",\"maxA\":\"1\"}");

	assert_null(param_minpriority("99999999999", 11, &pr));
	assert_int_equal(pr, INT32_MAX);
	expect_err(param_minpriority("-1", 2, &pr),
	           "{\"result\":\"error\",\"error\":\"minpriority must be a "
	           "non-negative integer\",\"minpriority\":\"-1\"}");

	assert_null(param_id("stopat", "", 0, true, &id));
	assert_int_equal(id, 0);
	assert_null(param_id("id", "4294967295", 10, false, &id));
	assert_int_equal(id, 4294967295u);
	expect_err(param_id("id", "", 0, false, &id),
	           "{\"result\":\"error\",\"error\":\"invalid id\",\"id\":\"\"}");
	expect_err(param_id("stopat", "4294967296", 10, true, &id),
	           "{\"result\":\"error\",\"error\":\"invalid stopat\","
	           "\"stopat\":\"4294967296\"}");

	assert_null(param_stophash("", 0, h, &has));
	assert_false(has);
	char hh[65];
	memset(hh, 'A', 64);
	hh[64] = 0;
	assert_null(param_stophash(hh, 64, h, &has));
	assert_true(has);
	assert_int_equal(h[0], 0xaa);
	hh[63] = 'g';
	expect_err(param_stophash(hh, 64, h, &has),
	           "{\"result\":\"error\",\"error\":\"stophash must be 64 hex "
	           "characters\",\"stophash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAg\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prescan_numbers),
		cmocka_unit_test(test_prescan_then_parse),
		cmocka_unit_test(test_prescan_ids),
		cmocka_unit_test(test_prescan_ids_parse),
		cmocka_unit_test(test_request_check),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_allow),
		cmocka_unit_test(test_perfstats),
		cmocka_unit_test(test_params),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
