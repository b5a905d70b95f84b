/* files.h - the file operations of DEX_publish, DEX_subscribe, DEX_stream
 * and DEX_streamsub on the event loop (API.md 4.9 - 4.13).
 *
 * A node runs one operation at a time; later calls wait in a queue in
 * arrival order.  An operation never blocks the loop: hashing a source
 * file runs on a worker thread, fragments are read one at a time with
 * pread() and mined on the worker threads (at most FILES_INFLIGHT at
 * once), subscriptions scan the store in small batches and wait for
 * fetched fragments with a timer.  The caller is answered with
 * rpc_reply() when the operation ends; node_request_stop() ends every
 * operation with {"result":"error","error":"shutting down"}.
 *
 * The parameters are validated by rpc_files.c before files_submit().
 */
#ifndef DEX_NODE_FILES_H
#define DEX_NODE_FILES_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/files.h"
#include "core/packet.h"

struct node;
struct rpc_call;
struct stat;

#define FILES_INFLIGHT 16          /* fragments being mined at once */
#define FILES_SCAN_BATCH 256       /* locators examined per loop turn */
#define FILES_POLL_MS 100          /* rescan of missing fragments */
#define FILES_REFETCH_MS 1000      /* ask peers again for the missing */
#define FILES_IDLE_MS 10000        /* wait rule: no progress for 10 s */
#define FILES_TOTAL_MS 60000       /* wait rule: 60 s in all */

enum files_op {
	FILES_OP_PUBLISH = 0,
	FILES_OP_SUBSCRIBE,
	FILES_OP_STREAM,
	FILES_OP_STREAMSUB,
};

/* A validated call. */
struct files_req {
	enum files_op op;
	char name[FILES_NAME_MAX + 1]; /* checked by files_name_check */
	size_t name_len;
	int priority;
	int64_t sliceid;               /* publish: 0 whole file, s >= 1 slice */
	uint32_t id;                   /* subscribe: 0 newest locators */
	uint8_t pub[PACKET_PUBKEY_LEN];/* subscribe, streamsub: publisher */
};

/* Queue the operation; c is answered when it ends. */
void files_submit(struct node *n, struct rpc_call *c,
                  const struct files_req *rq);
/* DEX_stats `progress`: true while an operation runs, with its percentage
 * done (0..100, two decimals). */
bool files_progress(const struct node *n, double *pct);
/* Shutdown: answer every running and queued call "shutting down" and
 * stop the work (jobs on the workers end on their own). */
void files_stop(struct node *n);
/* Free the state (after workers_free()). */
void files_free(struct node *n);

/* errno of files_open_regular() for a file that is not a regular one
 * (or, with one_link, has another name too); open() itself does not
 * return EMLINK on Linux */
#define FILES_ENOTREG EMLINK

/* Open path for the file methods without blocking the event loop and
 * without a check-then-open race: open(flags | O_NONBLOCK | O_NOCTTY |
 * O_CLOEXEC, mode) first, so a FIFO with no writer returns at once, then
 * fstat() the descriptor and refuse anything but a regular file (with
 * one_link, one with st_nlink == 1), then clear O_NONBLOCK.  Returns the
 * descriptor with *st filled, or -1 with errno (FILES_ENOTREG for a file
 * of another type or with more links; open's errno otherwise).  Pass
 * O_NOFOLLOW in flags to refuse a symbolic link (ELOOP). */
int files_open_regular(const char *path, int flags, mode_t mode,
                       bool one_link, struct stat *st);

/* The four method handlers (rpc_files.c), listed in rpc_ctl.c's table. */
void rpc_dex_publish(struct node *n, struct rpc_call *c,
                     const char *const *p, size_t np);
void rpc_dex_subscribe(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np);
void rpc_dex_stream(struct node *n, struct rpc_call *c,
                    const char *const *p, size_t np);
void rpc_dex_streamsub(struct node *n, struct rpc_call *c,
                       const char *const *p, size_t np);

#endif
