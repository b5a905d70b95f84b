/* workers.h - a small thread pool for slow work (proof-of-work mining, file
 * hashing) so the event loop never blocks.
 *
 * work_cb runs on a worker thread and must not touch loop-owned state (the
 * store, peers, evhttp objects).  done_cb then runs on the event-loop thread
 * with the same arg.  The pool is bounded: workers_submit() fails with
 * E_NOMEM when WORKERS_MAX_QUEUE jobs are waiting.
 */
#ifndef DEX_WORKERS_H
#define DEX_WORKERS_H

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
int workers_submit(struct workers *w, workers_work_cb work,
                   workers_done_cb done, void *arg);

#endif
