/* Stress check of the thread pool (csrc/threadpool.c) on its own, for native, ThreadSanitizer
 * and qemu-user (aarch64 / armv7) builds: tests/test_threads.py compiles and runs it.
 *
 *   cc -std=c11 -O2 -Icsrc/include tools/pool_check.c csrc/threadpool.c -pthread -o pool_check
 *   ./pool_check     -> prints "ok <jobs> jobs" and exits 0, or "FAIL ..." and exits 1
 *
 * Each job marks every task it runs; afterwards every task must have run exactly once, on a
 * valid thread index, with the job's own context (a stale job seen by a late worker would show
 * up as a wrong count). Three caller threads compete for the pool at once (the losers run their
 * jobs single-threaded), with varying task and thread counts, including more threads than
 * tasks; the pool is shut down and rebuilt midway. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int8rt/threadpool.h"

#define MAX_TASKS 300
#define CALLERS 3

typedef struct {
    int id;
    int threads;
    _Atomic int hits[MAX_TASKS];
    _Atomic int bad_thread;
} job;

static _Atomic int failures;
static _Atomic long jobs_run;

static void task(void *ctx, size_t t0, size_t t1, int32_t thread) {
    job *j = ctx;
    if (thread < 0 || thread >= j->threads) atomic_fetch_add(&j->bad_thread, 1);
    for (size_t t = t0; t < t1; t++) atomic_fetch_add(&j->hits[t], 1);
}

static void *caller(void *arg) {
    const int id = (int)(size_t)arg;
    unsigned seed = 12345u + (unsigned)id * 7919u;
    job *j = malloc(sizeof *j);
    for (int r = 0; r < 400; r++) {
        seed = seed * 1103515245u + 12345u;
        const size_t n = 1 + (seed >> 8) % MAX_TASKS;
        const int want = 1 + (int)((seed >> 20) % 6); /* 1..6 threads, often > tasks */
        memset(j, 0, sizeof *j);
        j->id = id;
        int32_t got = 1;
        i8_pool *pool = i8_pool_acquire(want, &got);
        j->threads = got;
        /* several jobs per acquisition, as a plan run has several ops */
        for (int k = 0; k < 3; k++) {
            for (size_t t = 0; t < n; t++) atomic_store(&j->hits[t], 0);
            i8_pool_run(pool, n, task, j);
            for (size_t t = 0; t < n; t++)
                if (atomic_load(&j->hits[t]) != 1) {
                    fprintf(stderr, "FAIL caller %d round %d: task %zu of %zu ran %d times\n", id,
                            r, t, n, atomic_load(&j->hits[t]));
                    atomic_fetch_add(&failures, 1);
                    break;
                }
            atomic_fetch_add(&jobs_run, 1);
        }
        if (atomic_load(&j->bad_thread)) {
            fprintf(stderr, "FAIL caller %d round %d: thread index out of range\n", id, r);
            atomic_fetch_add(&failures, 1);
        }
        i8_pool_release(pool);
        if (id == 0 && r == 200) i8_pool_shutdown(); /* others may hold it: waits for them */
    }
    free(j);
    return NULL;
}

/* Many short jobs in a row whose task count grows from one job to the next: the pattern of a
 * plan run (a 2-task op, then a 64-task op ...). A worker that judged "anything left?" with the
 * next job's n against the finished job's state once claimed a task of a finished job here and
 * hung the following job (its `done` overshot). A hang shows as the test's timeout. */
static int growing_jobs(void) {
    job *j = calloc(1, sizeof *j);
    int32_t got = 1;
    i8_pool *pool = i8_pool_acquire(2, &got);
    j->threads = got;
    int bad = 0;
    for (int r = 0; r < 100000 && !bad; r++) {
        const size_t n = (r & 1) ? 2 + (size_t)(r % 61) : 2;
        for (size_t t = 0; t < n; t++) atomic_store(&j->hits[t], 0);
        i8_pool_run(pool, n, task, j);
        for (size_t t = 0; t < n; t++) bad |= atomic_load(&j->hits[t]) != 1;
        atomic_fetch_add(&jobs_run, 1);
    }
    i8_pool_release(pool);
    if (bad) fprintf(stderr, "FAIL growing jobs: a task did not run exactly once\n");
    free(j);
    return bad;
}

int main(void) {
    if (growing_jobs()) return 1;
    pthread_t th[CALLERS];
    for (int i = 0; i < CALLERS; i++) pthread_create(&th[i], NULL, caller, (void *)(size_t)i);
    for (int i = 0; i < CALLERS; i++) pthread_join(th[i], NULL);
    i8_pool_shutdown();
    if (i8_pool_workers() != 0) {
        fprintf(stderr, "FAIL workers alive after shutdown\n");
        return 1;
    }
    if (atomic_load(&failures)) return 1;
    printf("ok %ld jobs\n", atomic_load(&jobs_run));
    return 0;
}
