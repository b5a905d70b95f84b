/* workers.c - the worker pool (workers.h): N threads taking jobs from a
 * bounded FIFO, and the hand-back of finished jobs to the event loop.
 *
 * Owns the threads, the job records and one libevent event.  A finished
 * job is appended to the `done` list under the mutex and the pool's event
 * is activated with event_active(), which is safe from another thread
 * because main() calls evthread_use_pthreads() before creating the base;
 * the event's callback, on the loop thread, takes the whole list and runs
 * each done_cb.  Activating an already-active event is a no-op, and the
 * callback re-reads the list under the mutex, so no completion is lost.
 */
#include "node/workers.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/util.h"

#define WORKERS_MAX_THREADS 64

struct job {
	struct job *next;
	workers_work_cb work;
	workers_done_cb done;
	void *arg;
};

struct job_list {
	struct job *head, *tail;
	size_t n;
};

struct workers {
	struct event_base *base;
	struct event *done_ev;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job_list queue;   /* waiting to run, at most WORKERS_MAX_QUEUE */
	struct job_list done;    /* ran, done_cb not yet called */
	bool stopping;
	int nthreads;
	pthread_t threads[WORKERS_MAX_THREADS];
};

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static struct job *list_pop(struct job_list *l)
{
	struct job *j = l->head;

	if (j) {
		l->head = j->next;
		if (!l->head)
			l->tail = NULL;
		l->n--;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct workers *w = arg;
	struct job *j;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->stopping && !w->queue.head)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stopping)
			break;
		j = list_pop(&w->queue);
		pthread_mutex_unlock(&w->mu);
		j->work(j->arg);
		pthread_mutex_lock(&w->mu);
		list_push(&w->done, j);
		event_active(w->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Loop thread: deliver every finished job. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct workers *w = arg;
	struct job_list l;
	struct job *j;

	pthread_mutex_lock(&w->mu);
	l = w->done;
	w->done.head = w->done.tail = NULL;
	w->done.n = 0;
	pthread_mutex_unlock(&w->mu);
	while ((j = list_pop(&l)) != NULL) {
		if (j->done)
			j->done(j->arg);
		free(j);
	}
}

/* nthreads <= 0 means WORKERS_DEFAULT_THREADS; at most 64.  Returns NULL
 * if no thread could be started. */
struct workers *workers_new(struct event_base *base, int nthreads)
{
	struct workers *w = xcalloc(1, sizeof(*w));

	if (nthreads <= 0)
		nthreads = WORKERS_DEFAULT_THREADS;
	if (nthreads > WORKERS_MAX_THREADS)
		nthreads = WORKERS_MAX_THREADS;
	w->base = base;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done_ev = event_new(base, -1, 0, done_cb, w);
	if (!w->done_ev)
		goto fail;
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0)
		goto fail;
	return w;
fail:
	if (w->done_ev)
		event_free(w->done_ev);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	return NULL;
}

/* Queue a job.  E_OK (done will be called exactly once, on the loop
 * thread, or from workers_free), E_NOMEM when WORKERS_MAX_QUEUE jobs are
 * waiting, E_CANCELLED when the pool is stopping. */
int workers_submit(struct workers *w, workers_work_cb work,
                   workers_done_cb done, void *arg)
{
	struct job *j;
	int rc = E_OK;

	pthread_mutex_lock(&w->mu);
	if (w->stopping) {
		rc = E_CANCELLED;
		goto out;
	}
	if (w->queue.n >= WORKERS_MAX_QUEUE) {
		rc = E_NOMEM;
		goto out;
	}
	j = xmalloc(sizeof(*j));
	j->work = work;
	j->done = done;
	j->arg = arg;
	list_push(&w->queue, j);
	pthread_cond_signal(&w->cv);
out:
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* Jobs waiting now (for stats and tests). */
size_t workers_queued(struct workers *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->queue.n;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void workers_free(struct workers *w)
{
	struct job *j;

	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	/* Running jobs finish (their owners' cancel flags end them early). */
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	/* Finished jobs first, then those that never ran. */
	event_del(w->done_ev);
	done_cb(-1, 0, w);
	while ((j = list_pop(&w->queue)) != NULL) {
		if (j->done)
			j->done(j->arg);
		free(j);
	}
	event_free(w->done_ev);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
