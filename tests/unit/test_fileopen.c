/* test_fileopen.c - files_open_regular() (src/node/files.c), the one open
 * of the file methods' sources and outputs (API.md 4.9 - 4.13): it opens
 * first and checks the descriptor, so what it refuses is whatever the
 * name is at open time (no check-then-open race), and a FIFO with no
 * writer is refused at once instead of blocking the event loop.  Each
 * test runs under alarm(): a blocking open fails the test (SIGALRM)
 * instead of hanging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/files.h"

static char dir[PATH_MAX];

static void path_in(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/dexp2p-fileopen-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	alarm(10);
	return 0;
}

static int teardown(void **state)
{
	static const char *names[] = { "reg", "fifo", "sym", "hard", "new" };
	char p[PATH_MAX + 16];

	(void)state;
	alarm(0);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		path_in(p, sizeof p, names[i]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

static void write_reg(const char *p, const char *bytes)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)),
	                 (ssize_t)strlen(bytes));
	close(fd);
}

/* A regular file opens, its size is reported and the descriptor is back
 * in blocking mode. */
static void test_regular(void **state)
{
	char p[PATH_MAX + 16];
	struct stat st;
	int fd;

	(void)state;
	path_in(p, sizeof p, "reg");
	write_reg(p, "hello");
	fd = files_open_regular(p, O_RDONLY, 0, true, &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* created when asked to */
	path_in(p, sizeof p, "new");
	fd = files_open_regular(p, O_RDWR | O_CREAT | O_NOFOLLOW, 0644, true,
	                        &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 0);
	close(fd);
}

/* A FIFO with no writer: refused at once, for reading (a plain open
 * would wait for a writer) and for writing. */
static void test_fifo_no_writer(void **state)
{
	char p[PATH_MAX + 16];
	struct stat st;

	(void)state;
	path_in(p, sizeof p, "fifo");
	assert_int_equal(mkfifo(p, 0644), 0);
	errno = 0;
	assert_int_equal(files_open_regular(p, O_RDONLY, 0, false, &st), -1);
	assert_int_equal(errno, FILES_ENOTREG);
	errno = 0;
	assert_int_equal(files_open_regular(p, O_RDWR | O_CREAT | O_NOFOLLOW,
	                                    0644, true, &st),
	                 -1);
	assert_int_equal(errno, FILES_ENOTREG);
}

/* Links: a symbolic link is followed unless O_NOFOLLOW is given (sources
 * are, outputs are not: docs/decisions.md); a file with a second name is
 * refused only with one_link. */
static void test_links(void **state)
{
	char reg[PATH_MAX + 16], sym[PATH_MAX + 16], hard[PATH_MAX + 16];
	struct stat st;
	int fd;

	(void)state;
	path_in(reg, sizeof reg, "reg");
	path_in(sym, sizeof sym, "sym");
	path_in(hard, sizeof hard, "hard");
	write_reg(reg, "abc");
	assert_int_equal(symlink(reg, sym), 0);
	fd = files_open_regular(sym, O_RDONLY, 0, false, &st);
	assert_true(fd >= 0);
	assert_int_equal(st.st_size, 3);
	close(fd);
	errno = 0;
	assert_int_equal(files_open_regular(sym, O_RDWR | O_NOFOLLOW, 0, true,
	                                    &st),
	                 -1);
	assert_int_equal(errno, ELOOP);

	assert_int_equal(link(reg, hard), 0);
	fd = files_open_regular(hard, O_RDONLY, 0, false, &st);
	assert_true(fd >= 0);
	close(fd);
	errno = 0;
	assert_int_equal(files_open_regular(hard, O_RDWR | O_NOFOLLOW, 0, true,
	                                    &st),
	                 -1);
	assert_int_equal(errno, FILES_ENOTREG);
	/* a directory, and a name that does not exist */
	errno = 0;
	assert_int_equal(files_open_regular(dir, O_RDONLY, 0, false, &st), -1);
	assert_int_equal(errno, FILES_ENOTREG);
	path_in(reg, sizeof reg, "absent");
	errno = 0;
	assert_int_equal(files_open_regular(reg, O_RDONLY, 0, false, &st), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_regular, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_no_writer, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
