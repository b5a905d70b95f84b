/* test_webui.c - webui_origin_ok (src/node/webui.c): only a request whose
 * Origin is http://<its Host> may use the RPC port from a browser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "node/rpc.h"

static void test_origin(void **state)
{
	assert_true(webui_origin_ok("http://127.0.0.1:7771", "127.0.0.1:7771"));
	assert_true(webui_origin_ok("HTTP://LocalHost:7771", "localhost:7771"));
	assert_true(webui_origin_ok("http://[::1]:7771", "[::1]:7771"));
	/* another site, scheme, port, or a longer host with our prefix */
	assert_false(webui_origin_ok("http://evil.example", "127.0.0.1:7771"));
	assert_false(webui_origin_ok("https://127.0.0.1:7771", "127.0.0.1:7771"));
	assert_false(webui_origin_ok("http://127.0.0.1:7772", "127.0.0.1:7771"));
	assert_false(webui_origin_ok("http://127.0.0.1", "127.0.0.1:7771"));
	assert_false(webui_origin_ok("http://127.0.0.1:7771.evil.example",
	                             "127.0.0.1:7771"));
	assert_false(webui_origin_ok("http://127.0.0.1:7771/", "127.0.0.1:7771"));
	/* sandboxed pages and file:// send "null"; no or empty Host */
	assert_false(webui_origin_ok("null", "127.0.0.1:7771"));
	assert_false(webui_origin_ok("http://", ""));
	assert_false(webui_origin_ok("http://127.0.0.1:7771", NULL));
	assert_false(webui_origin_ok(NULL, "127.0.0.1:7771"));
	assert_false(webui_origin_ok("", "127.0.0.1:7771"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
