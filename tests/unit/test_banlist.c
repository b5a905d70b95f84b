/* test_banlist.c - unit tests for src/node/banlist.c: the ban list
 * survives a save and load, expired bans are dropped at load, the file is
 * 0600 whatever the umask, a missing file is empty, a malformed one an
 * error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "node/banlist.h"
#include "proto/ban.h"
#include "proto/peers.h"

static struct bans A, B;

static void test_roundtrip(void **state)
{
	char dir[] = "/tmp/banlist-XXXXXX", path[64], err[256];
	uint8_t ip[16], bits;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/banlist.json", dir);
	bans_init(&A, 1, 2);
	bans_init(&B, 3, 4);
	/* missing file: nothing, no error */
	assert_int_equal(banlist_load(&B, path, 100, err, sizeof err), E_OK);
	assert_int_equal(B.n, 0);
	ban_parse("10.1.2.0/24", ip, &bits);
	ban_add(&A, ip, bits, 50, 1000, false);
	ban_parse("2001:db8::/32", ip, &bits);
	ban_add(&A, ip, bits, 60, 2000, true);
	ban_parse("10.9.9.9", ip, &bits);
	ban_add(&A, ip, bits, 70, 500, true);     /* expired at load */
	mode_t old = umask(0);
	assert_int_equal(banlist_save(&A, path, err, sizeof err), E_OK);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(banlist_load(&B, path, 600, err, sizeof err), E_OK);
	assert_int_equal(B.n, 2);
	ban_parse("10.1.2.0/24", ip, &bits);
	struct ban_entry *e = ban_find(&B, ip, bits);
	assert_non_null(e);
	assert_int_equal(e->created, 50);
	assert_int_equal(e->until, 1000);
	assert_false(e->automatic);
	ban_parse("2001:db8::/32", ip, &bits);
	assert_non_null(ban_find(&B, ip, bits));
	ban_parse("10.9.9.9", ip, &bits);
	assert_null(ban_find(&B, ip, bits));

	/* malformed */
	FILE *f = fopen(path, "w");
	fputs("{\"banned_nets\":[{\"address\":\"x\"}]}", f);
	fclose(f);
	bans_init(&B, 3, 4);
	assert_int_equal(banlist_load(&B, path, 600, err, sizeof err), E_PARSE);
	f = fopen(path, "w");
	fputs("not json", f);
	fclose(f);
	assert_int_equal(banlist_load(&B, path, 600, err, sizeof err), E_PARSE);
	assert_int_equal(B.n, 0);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
