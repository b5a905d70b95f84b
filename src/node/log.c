/* log.c - the daemon's log (log.h): one line per message,
 * "YYYY-MM-DDTHH:MM:SSZ message\n", to <datadir>/debug.log or stdout.
 *
 * Owns the log FILE, its path (for log_reopen), the category mask and the
 * rate limiter of info and warning lines.  A mutex serialises writers (the
 * loop and worker threads) and each line is flushed at once, so a crash or
 * a tail -f never sees half a line.  Reads the wall clock for the
 * timestamp and the monotonic clock for the rate limiter.
 */
#include "node/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#define LOG_LINE_MAX 2048 /* longer messages are truncated */
#define LOG_LIMIT_PROBE 8 /* slots looked at per key */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_fp;       /* NULL before log_open: stderr */
static int log_own;        /* log_fp was opened here */
static char *log_path;     /* for log_reopen; NULL = stdout */
static unsigned log_mask;
static struct log_limit log_lim;
static int log_lim_ready;

/* ---- rate limiter ---- */

void log_limit_init(struct log_limit *l, unsigned burst, unsigned per_sec)
{
	memset(l, 0, sizeof *l);
	l->burst = burst ? burst : 1;
	l->per_sec = per_sec;
}

static size_t key_hash(const void *key)
{
	uint64_t x = (uint64_t)(uintptr_t)key;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)(x % LOG_LIMIT_SLOTS);
}

int log_limit_take(struct log_limit *l, const void *key, uint64_t now_ms,
                   uint64_t *suppressed)
{
	size_t h = key_hash(key);
	struct log_limit_slot *s = NULL, *oldest = NULL;
	uint64_t cap = (uint64_t)l->burst * 1000;

	*suppressed = 0;
	for (size_t i = 0; i < LOG_LIMIT_PROBE; i++) {
		struct log_limit_slot *c = &l->slot[(h + i) % LOG_LIMIT_SLOTS];
		if (c->key == key) {
			s = c;
			break;
		}
		if (!c->key) {
			if (!s)
				s = c;
			continue;
		}
		if (!oldest || c->last_ms < oldest->last_ms)
			oldest = c;
	}
	if (!s || s->key != key) {
		/* A new key: a free slot, else the least recently used of
		 * those probed (its pending count is lost). */
		if (!s)
			s = oldest;
		s->key = key;
		s->tokens_m = cap;
		s->last_ms = now_ms;
		s->suppressed = 0;
	}
	if (now_ms > s->last_ms) {
		uint64_t add = (now_ms - s->last_ms) * l->per_sec;
		s->tokens_m = cap - s->tokens_m < add ? cap : s->tokens_m + add;
		s->last_ms = now_ms;
	}
	if (s->tokens_m < 1000) {
		s->suppressed++;
		return 0;
	}
	s->tokens_m -= 1000;
	*suppressed = s->suppressed;
	s->suppressed = 0;
	return 1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the file ---- */

/* Open path for appending, mode 0600 whatever the umask; an existing file
 * is set to 0600 too (fchmod fails harmlessly on a file not ours). */
static FILE *open_private(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	(void)fchmod(fd, 0600);
	f = fdopen(fd, "a");
	if (!f) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return f;
}

int log_open(const char *path, unsigned debug_mask)
{
	FILE *f = stdout;
	char *p = NULL;

	if (path) {
		f = open_private(path);
		if (!f)
			return E_IO;
		p = strdup(path);
		if (!p) {
			fclose(f);
			errno = ENOMEM;
			return E_IO;
		}
	}
	pthread_mutex_lock(&log_mu);
	if (log_own && log_fp)
		fclose(log_fp);
	free(log_path);
	log_path = p;
	log_fp = f;
	log_own = path != NULL;
	if (!log_lim_ready) {
		log_limit_init(&log_lim, LOG_LIMIT_BURST, LOG_LIMIT_RATE);
		log_lim_ready = 1;
	}
	__atomic_store_n(&log_mask, debug_mask | (1u << LOG_INFO) |
	                 (1u << LOG_WARN), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&log_mu);
	return E_OK;
}

int log_reopen(void)
{
	FILE *f;
	int rc = E_OK;

	pthread_mutex_lock(&log_mu);
	if (log_own && log_path) {
		f = open_private(log_path);
		if (f) {
			fclose(log_fp);
			log_fp = f;
		} else {
			rc = E_IO;
		}
	}
	pthread_mutex_unlock(&log_mu);
	return rc;
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
	free(log_path);
	log_path = NULL;
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
	uint64_t suppressed = 0;

	if (!log_enabled(cat))
		return;
	/* Info and warning lines are rate-limited per format string; the
	 * -debug categories are asked for and are not. */
	if (cat == LOG_INFO || cat == LOG_WARN) {
		int ok;

		pthread_mutex_lock(&log_mu);
		if (!log_lim_ready) {
			log_limit_init(&log_lim, LOG_LIMIT_BURST,
			               LOG_LIMIT_RATE);
			log_lim_ready = 1;
		}
		ok = log_limit_take(&log_lim, fmt, mono_ms(), &suppressed);
		pthread_mutex_unlock(&log_mu);
		if (!ok)
			return;
	}
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
	if (suppressed)
		fprintf(f, "%s %s%llu similar messages suppressed\n", ts,
		        prefix[cat] ? prefix[cat] : "",
		        (unsigned long long)suppressed);
	fprintf(f, "%s %s%s\n", ts, prefix[cat] ? prefix[cat] : "", msg);
	fflush(f);
	pthread_mutex_unlock(&log_mu);
}
