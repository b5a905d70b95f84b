/* workers.h - a small thread pool for slow work (proof-of-work mining, file
 * hashing) so the event loop never blocks.
 *
 * work_cb runs on a worker thread and must not touch loop-owned state (the
 * store, peers, evhttp objects).  done_cb then runs on the event-loop thread
 * with the same arg.  The pool is bounded: workers_submit() fails with
 * E_NOMEM when WORKERS_MAX_QUEUE jobs are waiting.
 *
 * A job that was still queued when workers_free() ran gets its done_cb
 * without its work_cb: owners initialise their result to "cancelled" (e.g.
 * E_CANCELLED) and let work_cb overwrite it.
 */
#ifndef DEX_WORKERS_H
#define DEX_WORKERS_H

#include <stddef.h>

#include <event2/event.h>

#define WORKERS_DEFAULT_THREADS 2
#define WORKERS_MAX_QUEUE 256

typedef void (*workers_work_cb)(void *arg);
typedef void (*workers_done_cb)(void *arg);

struct workers;

struct workers *workers_new(struct event_base *base, int nthreads);
/* Stop the pool: jobs still queued are not run, running jobs are waited
 * for (each job watches its own cancel flag to end early), and every job's
 * done_cb is called on the calling thread so its owner can free it. */
void workers_free(struct workers *w);
/* E_OK, E_NOMEM (queue full) or E_CANCELLED (pool stopping). */
int workers_submit(struct workers *w, workers_work_cb work,
                   workers_done_cb done, void *arg);
/* Jobs waiting to run (not counting running ones). */
size_t workers_queued(struct workers *w);

#endif
