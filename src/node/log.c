/* log.c - the daemon's log (log.h): one line per message,
 * "YYYY-MM-DDTHH:MM:SSZ message\n", to <datadir>/debug.log or stdout.
 *
 * Owns the log FILE and the category mask.  A mutex serialises writers
 * (the loop and worker threads) and each line is flushed at once, so a
 * crash or a tail -f never sees half a line.  Reads the wall clock for the
 * timestamp only (the one clock read outside node_now()).
 */
#include "node/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

#define LOG_LINE_MAX 2048 /* longer messages are truncated */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;       /* NULL before log_open: stderr */
static int log_own;        /* log_fp was opened here */
static unsigned log_mask;

int log_open(const char *path, unsigned debug_mask)
{
	FILE *f = stdout;

	if (path) {
		f = fopen(path, "a");
		if (!f)
			return E_IO;
	}
	pthread_mutex_lock(&log_mu);
	if (log_own && log_fp)
		fclose(log_fp);
	log_fp = f;
	log_own = path != NULL;
	__atomic_store_n(&log_mask, debug_mask | (1u << LOG_INFO) |
	                 (1u << LOG_WARN), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&log_mu);
	return E_OK;
}

void log_close(void)
{
	pthread_mutex_lock(&log_mu);
	if (log_own && log_fp)
		fclose(log_fp);
	else if (log_fp)
		fflush(log_fp);
	log_fp = NULL;
	log_own = 0;
	pthread_mutex_unlock(&log_mu);
}

int log_enabled(enum log_cat cat)
{
	if (cat == LOG_INFO || cat == LOG_WARN)
		return 1;
	if ((unsigned)cat >= LOG_CAT_MAX)
		return 0;
	return (__atomic_load_n(&log_mask, __ATOMIC_RELAXED) >> cat) & 1;
}

void log_msg(enum log_cat cat, const char *fmt, ...)
{
	static const char *const prefix[LOG_CAT_MAX] = {
		[LOG_INFO] = "", [LOG_WARN] = "warning: ", [LOG_NET] = "net: ",
		[LOG_RPC] = "rpc: ", [LOG_DEX] = "dex: ", [LOG_FILES] = "files: ",
		[LOG_POW] = "pow: ",
	};
	char msg[LOG_LINE_MAX];
	char ts[32];
	struct tm tm;
	time_t t;
	va_list ap;
	FILE *f;

	if (!log_enabled(cat))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One message is one line. */
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);

	pthread_mutex_lock(&log_mu);
	f = log_fp ? log_fp : stderr;
	fprintf(f, "%s %s%s\n", ts, prefix[cat] ? prefix[cat] : "", msg);
	fflush(f);
	pthread_mutex_unlock(&log_mu);
}
