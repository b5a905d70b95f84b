/* log.h - the daemon's log: <datadir>/debug.log, or stdout with
 * -printtoconsole.  Lines are "YYYY-MM-DDTHH:MM:SSZ message\n".
 * Category messages are written only when -debug enables the category;
 * LOG_INFO and LOG_WARN always are.  Thread-safe (one write per line).
 */
#ifndef DEX_LOG_H
#define DEX_LOG_H

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

/* Open the log (path NULL = stdout).  Returns E_OK or E_IO. */
int log_open(const char *path, unsigned debug_mask);
void log_close(void);
/* True if a message of this category would be written. */
int log_enabled(enum log_cat cat);
void log_msg(enum log_cat cat, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
