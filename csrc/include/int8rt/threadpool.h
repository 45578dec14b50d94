/* The process-wide worker pool the plan executor splits ops over (docs/PLAN.md, "Threads").
 *
 * One pool per process, created lazily by the first run that asks for more than one thread and
 * grown (never shrunk) to the largest thread count asked for since. A run takes the whole pool
 * with i8_pool_acquire, hands it jobs with i8_pool_run, and gives it back with i8_pool_release.
 * Acquiring never blocks: a run that finds the pool held by another run (another Python thread,
 * another Session) gets NULL and runs single-threaded in its own thread, so concurrent runs never
 * wait for each other and the process never runs more threads than the pool plus its callers.
 *
 * A job is `n` tasks; the caller and the workers claim contiguous task ranges from one atomic
 * counter (one task per claim: csrc/threadpool.c, CLAIM_MAX) until none is left,
 * so a worker that is slow to wake simply finds less work, and the caller only ever waits for
 * ranges that some thread has started. Workers spin briefly between jobs (the next op of a run
 * follows within microseconds) and then sleep on a condition variable.
 *
 * fork: a child process starts without the pool (pthread_atfork drops it; the next threaded
 * run builds a new one). i8_pool_shutdown joins the workers (interpreter exit); a later run
 * builds a new pool. Portable C11 + POSIX threads. */
#ifndef INT8RT_THREADPOOL_H
#define INT8RT_THREADPOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Most threads one run may use (caller included). */
#define I8_POOL_MAX_THREADS 64

/* One task range: tasks [t0, t1) on thread `thread` (0 = the caller, then 1..threads - 1); a
 * thread index is the same during one range, so it may select per-thread scratch. */
typedef void (*i8_task_fn)(void *ctx, size_t t0, size_t t1, int32_t thread);

typedef struct i8_pool i8_pool;

/* The pool for one run of up to `threads` threads, or NULL (run single-threaded) when
 * threads <= 1, the pool is held by another run, or no worker thread could be started.
 * *got receives the thread count the run may use (1 with NULL). */
i8_pool *i8_pool_acquire(int32_t threads, int32_t *got);
void i8_pool_release(i8_pool *pool);

/* Runs fn over tasks [0, n) on the acquired pool and returns when all ranges are done.
 * pool == NULL or n <= 1: one call fn(ctx, 0, n, 0) in the caller. */
void i8_pool_run(i8_pool *pool, size_t n, i8_task_fn fn, void *ctx);

/* Joins every worker and frees the pool (after the run holding it, if any, has released it).
 * Safe to call any time and more than once; the next threaded run builds a new pool. */
void i8_pool_shutdown(void);

/* Worker threads alive in the pool (0 when there is none): for tests. */
int32_t i8_pool_workers(void);

#ifdef __cplusplus
}
#endif
#endif
