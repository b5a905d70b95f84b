/* log.h - the daemon's log: <datadir>/debug.log, or stdout with
 * -printtoconsole.  Lines are "YYYY-MM-DDTHH:MM:SSZ message\n".
 * Category messages are written only when -debug enables the category;
 * LOG_INFO and LOG_WARN always are, but rate-limited per format string
 * (a token bucket per call site, LOG_LIMIT_BURST lines at once and
 * LOG_LIMIT_RATE per second after that), so that messages a remote host
 * can trigger cannot flood the disk.  Lines dropped by the limit are
 * counted and reported as "N similar messages suppressed" with the next
 * line of the same format.  Thread-safe (one write per line).
 */
#ifndef DEX_LOG_H
#define DEX_LOG_H

#include <stdint.h>

enum log_cat {
	LOG_INFO = 0,
	LOG_WARN,
	LOG_NET,
	LOG_RPC,
	LOG_DEX,
	LOG_FILES,
	LOG_POW,
	LOG_CAT_MAX
};

/* Open the log (path NULL = stdout).  The file is created with mode 0600
 * (and an existing one set to 0600) whatever the umask.  Returns E_OK or
 * E_IO (errno set). */
int log_open(const char *path, unsigned debug_mask);
/* Reopen the log file by its path (after it was renamed for rotation;
 * SIGHUP).  E_OK, or E_IO with the old file kept.  Nothing to do when
 * logging to stdout. */
int log_reopen(void);
void log_close(void);
/* True if a message of this category would be written. */
int log_enabled(enum log_cat cat);
void log_msg(enum log_cat cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- the rate limiter (pure: the clock is passed in; unit-tested) ---- */

#define LOG_LIMIT_BURST 30   /* lines per format string at once */
#define LOG_LIMIT_RATE 5     /* lines per second per format string after */
#define LOG_LIMIT_SLOTS 256  /* distinct formats tracked */

struct log_limit_slot {
	const void *key;         /* the format string; NULL = free */
	uint64_t tokens_m;       /* thousandths of a line */
	uint64_t last_ms;
	uint64_t suppressed;     /* dropped since the last written line */
};

struct log_limit {
	unsigned burst, per_sec;
	struct log_limit_slot slot[LOG_LIMIT_SLOTS];
};

/* Set up a limiter of `burst` lines and `per_sec` lines per second. */
void log_limit_init(struct log_limit *l, unsigned burst, unsigned per_sec);
/* May a line with this key be written at now_ms (a monotonic clock)?
 * Returns 1 and the number of lines of this key suppressed since the last
 * one written in *suppressed (then reset), or 0 (the line is counted as
 * suppressed). */
int log_limit_take(struct log_limit *l, const void *key, uint64_t now_ms,
                   uint64_t *suppressed);

#endif
