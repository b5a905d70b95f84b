/* test_workers.c - the worker pool (workers.c): jobs run on worker
 * threads, done callbacks on the loop thread, the queue is bounded, and
 * workers_free() hands back queued jobs without running them. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "core/err.h"
#include "node/workers.h"

struct tjob {
	int ran;                 /* work_cb ran */
	int done;                /* done_cb ran */
	pthread_t work_thread;
	pthread_t done_thread;
	volatile int *gate;      /* block in work until *gate != 0 */
	volatile int *started;   /* set when work begins */
	int *ndone;
	struct event_base *base;
	int stop_at;             /* break the loop when *ndone reaches it */
};

static pthread_t main_thread;

static void work(void *arg)
{
	struct tjob *j = arg;

	j->work_thread = pthread_self();
	if (j->started)
		__atomic_store_n(j->started, 1, __ATOMIC_SEQ_CST);
	/* Bounded wait: 10 s at most. */
	for (int i = 0; j->gate && i < 10000 &&
	     !__atomic_load_n(j->gate, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	j->ran = 1;
}

static void done(void *arg)
{
	struct tjob *j = arg;

	j->done_thread = pthread_self();
	j->done++;
	(*j->ndone)++;
	if (j->base && *j->ndone == j->stop_at)
		event_base_loopbreak(j->base);
}

/* Run the loop until loopbreak or 10 s. */
static void run_loop(struct event_base *base)
{
	struct timeval tv = { 10, 0 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void wait_flag(volatile int *f)
{
	for (int i = 0; i < 10000 && !__atomic_load_n(f, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	assert_true(*f);
}

static void test_jobs_run(void **state)
{
	enum { N = 200 };
	static struct tjob jobs[N];
	struct event_base *base = event_base_new();
	struct workers *w = workers_new(base, 3);
	int ndone = 0;

	assert_non_null(w);
	for (int i = 0; i < N; i++) {
		jobs[i] = (struct tjob){ .ndone = &ndone, .base = base,
		                         .stop_at = N };
		assert_int_equal(workers_submit(w, work, done, &jobs[i]), E_OK);
	}
	run_loop(base);
	assert_int_equal(ndone, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(jobs[i].ran, 1);
		assert_int_equal(jobs[i].done, 1);
		assert_false(pthread_equal(jobs[i].work_thread, main_thread));
		assert_true(pthread_equal(jobs[i].done_thread, main_thread));
	}
	workers_free(w);
	assert_int_equal(ndone, N); /* nothing delivered twice */
	event_base_free(base);
}

static void test_bounded(void **state)
{
	static struct tjob jobs[WORKERS_MAX_QUEUE + 2];
	struct event_base *base = event_base_new();
	struct workers *w = workers_new(base, 1);
	volatile int gate = 0, started = 0;
	int ndone = 0;
	const int total = WORKERS_MAX_QUEUE + 1;

	assert_non_null(w);
	jobs[0] = (struct tjob){ .gate = &gate, .started = &started,
	                         .ndone = &ndone, .base = base,
	                         .stop_at = total };
	assert_int_equal(workers_submit(w, work, done, &jobs[0]), E_OK);
	wait_flag(&started);
	/* The only thread is busy: the queue fills to its cap. */
	for (int i = 1; i < total; i++) {
		jobs[i] = (struct tjob){ .ndone = &ndone, .base = base,
		                         .stop_at = total };
		assert_int_equal(workers_submit(w, work, done, &jobs[i]), E_OK);
	}
	assert_int_equal(workers_queued(w), WORKERS_MAX_QUEUE);
	jobs[total] = (struct tjob){ .ndone = &ndone };
	assert_int_equal(workers_submit(w, work, done, &jobs[total]), E_NOMEM);
	__atomic_store_n(&gate, 1, __ATOMIC_SEQ_CST);
	run_loop(base);
	assert_int_equal(ndone, total);
	assert_int_equal(jobs[total].ran, 0);
	assert_int_equal(jobs[total].done, 0);
	workers_free(w);
	event_base_free(base);
}

static void *release_later(void *arg)
{
	usleep(50000);
	__atomic_store_n((volatile int *)arg, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void test_free_with_queued(void **state)
{
	enum { Q = 10 };
	static struct tjob jobs[Q + 1];
	struct event_base *base = event_base_new();
	struct workers *w = workers_new(base, 1);
	volatile int gate = 0, started = 0;
	int ndone = 0;
	pthread_t rel;

	assert_non_null(w);
	jobs[0] = (struct tjob){ .gate = &gate, .started = &started,
	                         .ndone = &ndone };
	assert_int_equal(workers_submit(w, work, done, &jobs[0]), E_OK);
	wait_flag(&started);
	for (int i = 1; i <= Q; i++) {
		jobs[i] = (struct tjob){ .ndone = &ndone };
		assert_int_equal(workers_submit(w, work, done, &jobs[i]), E_OK);
	}
	/* The running job ends when "shutdown" releases it, 50 ms after
	 * workers_free() started waiting for it. */
	assert_int_equal(pthread_create(&rel, NULL, release_later,
	                                (void *)&gate), 0);
	workers_free(w);
	pthread_join(rel, NULL);
	assert_int_equal(ndone, Q + 1);
	assert_int_equal(jobs[0].ran, 1);
	assert_int_equal(jobs[0].done, 1);
	for (int i = 1; i <= Q; i++) {
		assert_int_equal(jobs[i].ran, 0);
		assert_int_equal(jobs[i].done, 1);
		assert_true(pthread_equal(jobs[i].done_thread, main_thread));
	}
	event_base_free(base);
}

static void test_free_idle(void **state)
{
	struct event_base *base = event_base_new();
	struct workers *w = workers_new(base, 0); /* default count */

	assert_non_null(w);
	workers_free(w);
	workers_free(NULL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_run),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_free_with_queued),
		cmocka_unit_test(test_free_idle),
	};

	main_thread = pthread_self();
	evthread_use_pthreads();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
