/* test_config.c - dexp2pd option parsing (config.c, API.md 6.1, 6.2):
 * every option form, defaults, conf file merge, errors, -help. */
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
#include "node/config.h"
#include "node/log.h"

static char tmpdir[256];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	setenv("HOME", tmpdir, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* Parse a NULL-terminated list of arguments (argv[0] added). */
static int parse(struct config *c, bool *help, char *err, size_t errlen, ...)
{
	char *argv[64];
	int argc = 0;
	va_list ap;
	const char *a;

	argv[argc++] = "dexp2pd";
	va_start(ap, errlen);
	while ((a = va_arg(ap, const char *)) != NULL && argc < 63)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	return config_parse(c, argc, argv, help, err, errlen);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_defaults(void **state)
{
	struct config c;
	char err[256], want[512];
	bool help = true;

	assert_int_equal(parse(&c, &help, err, sizeof(err), NULL), E_OK);
	assert_false(help);
	snprintf(want, sizeof(want), "%s/.dexp2p", tmpdir);
	assert_string_equal(c.datadir, want);
	snprintf(want, sizeof(want), "%s/.dexp2p/dexp2p.conf", tmpdir);
	assert_string_equal(c.conf, want);
	snprintf(want, sizeof(want), "%s/.dexp2p/dexp2p.key", tmpdir);
	assert_string_equal(c.dexkeyfile, want);
	assert_int_equal(c.port, 7770);
	assert_true(c.listen);
	assert_int_equal(c.addnode.n, 0);
	assert_int_equal(c.connect.n, 0);
	assert_int_equal(c.maxconnections, 125);
	assert_int_equal(c.rpcport, 7771);
	assert_int_equal(c.rpcbind.n, 1);
	assert_string_equal(c.rpcbind.v[0], "127.0.0.1");
	assert_int_equal(c.rpcallowip.n, 0);
	assert_string_equal(c.rpcuser, "");
	assert_null(c.rpcpassword);
	assert_int_equal(c.dexp2p, 2);
	assert_string_equal(c.handle, "");
	assert_string_equal(c.recvtaddr, "");
	assert_string_equal(c.recvzaddr, "");
	assert_int_equal(c.txpowbits, 12);
	assert_int_equal(c.purgetime, 3600);
	assert_null(c.filesdir);
	assert_false(c.daemon);
	assert_false(c.printtoconsole);
	assert_int_equal(c.debug, 0);
	assert_int_equal(c.maxmem, 4096ULL << 20);
	assert_int_equal(c.rpcmaxconnections, 64);
	assert_int_equal(c.rpcservertimeout, 30);
	config_fini(&c);
}

static void test_forms(void **state)
{
	struct config c;
	char err[256];
	bool help;

	assert_int_equal(parse(&c, &help, err, sizeof(err),
	                       "-port=1234", "--rpcport=2345", "-nolisten",
	                       "-daemon", "--printtoconsole=1",
	                       "-addnode=a:1", "--addnode=b", "-connect=c:7",
	                       "-rpcbind=0.0.0.0", "-rpcbind=::1",
	                       "-rpcallowip=10.0.0.0/8", "-rpcuser=alice",
	                       "-rpcpassword=pw", "-dexp2p=1", "-handle=h x",
	                       "-recvTaddr=RT", "-recvZaddr=zs", "-txpowbits=0",
	                       "-purgetime=10", "-maxconnections=0",
	                       "-dexkeyfile=/tmp/k", "-maxmem=16",
	                       "-filesdir=/tmp", NULL), E_OK);
	assert_int_equal(c.port, 1234);
	assert_int_equal(c.rpcport, 2345);
	assert_false(c.listen);
	assert_true(c.daemon);
	assert_true(c.printtoconsole);
	assert_int_equal(c.addnode.n, 2);
	assert_string_equal(c.addnode.v[0], "a:1");
	assert_string_equal(c.addnode.v[1], "b");
	assert_int_equal(c.connect.n, 1);
	assert_int_equal(c.rpcbind.n, 2);
	assert_string_equal(c.rpcbind.v[1], "::1");
	assert_string_equal(c.rpcallowip.v[0], "10.0.0.0/8");
	assert_string_equal(c.rpcuser, "alice");
	assert_string_equal(c.rpcpassword, "pw");
	assert_int_equal(c.dexp2p, 1);
	assert_string_equal(c.handle, "h x");
	assert_string_equal(c.recvtaddr, "RT");
	assert_string_equal(c.recvzaddr, "zs");
	assert_int_equal(c.txpowbits, 0);
	assert_int_equal(c.purgetime, 10);
	assert_int_equal(c.maxconnections, 0);
	assert_string_equal(c.dexkeyfile, "/tmp/k");
	assert_int_equal(c.maxmem, 16ULL << 20);
	assert_string_equal(c.filesdir, "/tmp");
	config_fini(&c);

	/* -listen=0, -nolisten=0 (= 1), -daemon=0 */
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-listen=0",
	                       "-daemon=1", "-daemon=0", NULL), E_OK);
	assert_false(c.listen);
	assert_false(c.daemon);
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-nolisten=0",
	                       NULL), E_OK);
	assert_true(c.listen);
	config_fini(&c);

	/* datadir relocates conf and key */
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-datadir=/x/y",
	                       "-conf=other.conf", NULL), E_OK);
	assert_string_equal(c.datadir, "/x/y");
	assert_string_equal(c.conf, "/x/y/other.conf");
	assert_string_equal(c.dexkeyfile, "/x/y/dexp2p.key");
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-datadir=/x/y",
	                       "-conf=/abs.conf", NULL), E_OK);
	assert_string_equal(c.conf, "/abs.conf");
	config_fini(&c);
}

static void test_debug(void **state)
{
	struct config c;
	char err[256];
	bool help;
	unsigned all = (1u << LOG_NET) | (1u << LOG_RPC) | (1u << LOG_DEX) |
	               (1u << LOG_FILES) | (1u << LOG_POW);

	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug", NULL),
	                 E_OK);
	assert_int_equal(c.debug, all);
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug=1", NULL),
	                 E_OK);
	assert_int_equal(c.debug, all);
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug=all",
	                       NULL), E_OK);
	assert_int_equal(c.debug, all);
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug=net",
	                       "-debug=pow", NULL), E_OK);
	assert_int_equal(c.debug, (1u << LOG_NET) | (1u << LOG_POW));
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug=rpc",
	                       "-debug=dex", "-debug=files", NULL), E_OK);
	assert_int_equal(c.debug, (1u << LOG_RPC) | (1u << LOG_DEX) |
	                          (1u << LOG_FILES));
	config_fini(&c);
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-debug=bogus",
	                       NULL), E_INVAL);
	assert_non_null(strstr(err, "bogus"));
	config_fini(&c);
}

static void expect_error(const char *arg, const char *needle)
{
	struct config c;
	char err[256] = "";
	bool help;

	assert_int_equal(parse(&c, &help, err, sizeof(err), arg, NULL),
	                 E_INVAL);
	if (!strstr(err, needle))
		fail_msg("arg %s: message '%s' lacks '%s'", arg, err, needle);
	config_fini(&c);
}

static void test_errors(void **state)
{
	expect_error("-bogus=1", "unknown option -bogus");
	expect_error("--nosuch", "unknown option");
	expect_error("-port=abc", "-port");
	expect_error("-port=0", "-port");
	expect_error("-port=65536", "-port");
	expect_error("-port=", "-port");
	expect_error("-port", "-port");
	expect_error("-port=12x", "-port");
	expect_error("-rpcport=-1", "-rpcport");
	expect_error("-txpowbits=25", "-txpowbits");
	expect_error("-txpowbits=-1", "-txpowbits");
	expect_error("-purgetime=9", "-purgetime");
	expect_error("-purgetime=86401", "-purgetime");
	expect_error("-dexp2p=0", "-dexp2p");
	expect_error("-dexp2p=3", "-dexp2p");
	expect_error("-maxmem=0", "-maxmem");
	expect_error("-rpcmaxconnections=0", "-rpcmaxconnections");
	expect_error("-rpcservertimeout=0", "-rpcservertimeout");
	expect_error("-listen=2", "-listen");
	expect_error("-listen=yes", "-listen");
	expect_error("-noport", "-noport");
	expect_error("-addnode", "-addnode");
	expect_error("-addnode=bad host!", "expected host[:port]");
	expect_error("-connect=127.0.0.1:0", "-connect");
	expect_error("-connect=127.0.0.1:70000", "-connect");
	expect_error("-connect=::1", "-connect");
	expect_error("-addnode=[::1", "-addnode");
	expect_error("-filesdir=/nonexistent/dir/x", "-filesdir");
	expect_error("stray", "stray");
	expect_error("-datadir", "-datadir");
}

static void test_list_cap(void **state)
{
	struct config c;
	char err[256];
	char *argv[CONFIG_MAX_LIST + 3];
	char bufs[CONFIG_MAX_LIST + 1][32];
	bool help;
	int argc = 0;

	argv[argc++] = "dexp2pd";
	for (int i = 0; i <= CONFIG_MAX_LIST; i++) {
		snprintf(bufs[i], sizeof(bufs[i]), "-addnode=h%d", i);
		argv[argc++] = bufs[i];
	}
	assert_int_equal(config_parse(&c, argc, argv, &help, err, sizeof(err)),
	                 E_INVAL);
	assert_non_null(strstr(err, "addnode"));
	config_fini(&c);
	assert_int_equal(config_parse(&c, argc - 1, argv, &help, err,
	                              sizeof(err)), E_OK);
	assert_int_equal(c.addnode.n, CONFIG_MAX_LIST);
	config_fini(&c);
}

static void test_conf_file(void **state)
{
	struct config c;
	char err[256], dd[300], path[400], arg[320];
	bool help;

	snprintf(dd, sizeof(dd), "%s/dd", tmpdir);
	assert_int_equal(mkdir(dd, 0700), 0);
	snprintf(path, sizeof(path), "%s/dexp2p.conf", dd);
	write_file(path,
	           "# a comment\n"
	           "\n"
	           "rpcuser=alice\n"
	           "rpcpassword = secret\n"
	           "port=1111\n"
	           "addnode=fileA\n"
	           "  # indented comment\n"
	           "handle=from file\r\n"
	           "nolisten\n"
	           "debug=net\n");
	snprintf(arg, sizeof(arg), "-datadir=%s", dd);
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg, "-port=2222",
	                       "-addnode=cmdB", "-debug=rpc", NULL), E_OK);
	assert_string_equal(c.rpcuser, "alice");
	assert_string_equal(c.rpcpassword, "secret");
	assert_int_equal(c.port, 2222); /* command line wins */
	assert_int_equal(c.addnode.n, 2); /* combined */
	assert_string_equal(c.addnode.v[0], "fileA");
	assert_string_equal(c.addnode.v[1], "cmdB");
	assert_string_equal(c.handle, "from file");
	assert_false(c.listen);
	assert_int_equal(c.debug, (1u << LOG_NET) | (1u << LOG_RPC));
	assert_string_equal(c.conf, path);
	config_fini(&c);

	/* Other name via -conf, relative to datadir. */
	snprintf(path, sizeof(path), "%s/other.conf", dd);
	write_file(path, "rpcport=3333\n");
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg,
	                       "--conf=other.conf", NULL), E_OK);
	assert_int_equal(c.rpcport, 3333);
	assert_int_equal(c.port, 7770);
	config_fini(&c);

	/* Errors in the file name the line. */
	write_file(path, "rpcport=3333\nbogus=1\n");
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg,
	                       "-conf=other.conf", NULL), E_INVAL);
	assert_non_null(strstr(err, "bogus"));
	assert_non_null(strstr(err, ":2"));
	config_fini(&c);
	write_file(path, "txpowbits=99\n");
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg,
	                       "-conf=other.conf", NULL), E_INVAL);
	assert_non_null(strstr(err, "txpowbits"));
	config_fini(&c);
	write_file(path, "datadir=/elsewhere\n");
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg,
	                       "-conf=other.conf", NULL), E_INVAL);
	assert_non_null(strstr(err, "datadir"));
	config_fini(&c);

	/* A missing file is fine. */
	assert_int_equal(parse(&c, &help, err, sizeof(err), arg,
	                       "-conf=missing.conf", NULL), E_OK);
	config_fini(&c);
}

static void test_help(void **state)
{
	static const char *const names[] = {
		"-datadir", "-conf", "-port", "-listen", "-addnode",
		"-connect", "-maxconnections", "-rpcport", "-rpcbind",
		"-rpcallowip", "-rpcuser", "-rpcpassword", "-dexp2p",
		"-handle", "-recvTaddr", "-recvZaddr", "-txpowbits",
		"-purgetime", "-filesdir", "-dexkeyfile", "-daemon",
		"-printtoconsole", "-debug", "-maxmem",
	};
	const char *h = config_help();
	struct config c;
	char err[256];
	bool help = false;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char key[40];
		const char *p;

		snprintf(key, sizeof(key), "  %s", names[i]);
		p = strstr(h, key);
		if (!p)
			fail_msg("-help lacks %s", names[i]);
		/* one line each, with its default */
		{
			const char *eol = strchr(p, '\n');
			const char *d = strstr(p, "(default: ");

			assert_non_null(eol);
			assert_non_null(d);
			assert_true(d < eol);
		}
	}
	assert_non_null(strstr(h, "(default: 7770)"));
	assert_non_null(strstr(h, "(default: 4096)"));
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-port=1", "-help",
	                       NULL), E_OK);
	assert_true(help);
	config_fini(&c);
	help = false;
	assert_int_equal(parse(&c, &help, err, sizeof(err), "-?", NULL), E_OK);
	assert_true(help);
	config_fini(&c);
	help = false;
	assert_int_equal(parse(&c, &help, err, sizeof(err), "--help", NULL),
	                 E_OK);
	assert_true(help);
	config_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_debug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_help, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
