/* The process-wide worker pool (csrc/include/int8rt/threadpool.h, docs/PLAN.md "Threads").
 *
 * Job protocol. `state` packs (generation, task count n, next unclaimed task) in one 64-bit
 * atomic (24 + 20 + 20 bits). The caller publishes a job by storing fn / ctx / threads, zeroing
 * `done`, then storing a new generation with the job's n and next = 0. Every participant claims
 * a range by compare-and-swap on `state`; a CAS that succeeds proves the job is still the
 * current one, and the job cannot end (so its fields cannot change) before that range is added
 * to `done`: so fields read after a successful claim are that job's. n lives in the state word
 * because the "anything left?" test must use the same snapshot as the CAS: with n in a field of
 * its own, a worker that read the old state (all claimed) and then the *next* job's larger n
 * could claim task n_old of the finished job in the instant before the new state was stored,
 * and its stray `done` increment then overshot the next job's count (a hang: CI caught it). The caller claims ranges like any worker, then waits until
 * `done` reaches n. A worker that wakes up late sees a newer generation or nothing left to
 * claim and goes back to waiting; nobody ever waits for a thread that has not started work.
 *
 * Waiting. Workers spin for up to SPIN_NS (checking `state`, with a CPU pause) and then sleep
 * on `wake`; the caller broadcasts only when some worker sleeps. The caller waits for `done`
 * the same way (spin, then `done_cv`). Every flag that decides whether to sleep or to signal is
 * a sequentially consistent atomic, read on one side after the other side's store, so a wakeup
 * is never lost (the sleeper re-checks under the mutex the signaller takes). */
#define _POSIX_C_SOURCE 200809L

#include "int8rt/threadpool.h"

#include <pthread.h>
#include <sched.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Between two ops of one run the workers are idle for microseconds; after the run, they should
 * stop using a core soon. 200 us covers the gaps inside a run with a wide margin (measured:
 * docs/PLAN.md) and costs at most that much CPU after the last run. */
#define SPIN_NS 200000

/* Guided claims: each takes 1/(CLAIM_DIV * threads) of the unclaimed tasks, at most
 * CLAIM_MAX. A claimed range cannot be taken over, so on a busy machine a thread preempted in
 * the middle of its range delays the whole op by what is left of that range. The kernels size
 * one task at about 10-20 us of work (kernels/gemm/split.h, plan/split.h), so a claim of one
 * task costs one uncontended-ish CAS per 10 us, and a preempted thread holds up at most one
 * task. Measured on this shared 2-vCPU box (docs/PLAN.md): larger claims (1/8 of an op) made 2
 * threads slower than 1 under load; single-task claims did not. */
#define CLAIM_DIV 4
#define CLAIM_MAX 1

/* A spinning waiter yields the CPU (sched_yield) after SPIN_PURE_NS, so that on a loaded
 * machine the thread it waits for (or anyone else) can run; on an idle core sched_yield
 * returns at once and the spin stays hot. */
#define SPIN_PURE_NS 20000

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__) || (defined(__arm__) && __ARM_ARCH >= 7)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

typedef struct {
    i8_pool *pool;
    int32_t index;      /* thread index, 1.. (0 is the caller) */
    uint32_t start_gen; /* generation current when the worker was started */
} worker_arg;

struct i8_pool {
    _Atomic uint64_t state; /* generation (24 bits) | n (20 bits) | next unclaimed task (20) */
    _Atomic(i8_task_fn) fn;
    _Atomic(void *) ctx;
    _Atomic int32_t threads;  /* threads of the current job, caller included */
    _Atomic uint32_t done;    /* tasks finished in the current job */
    _Atomic int32_t sleepers; /* workers waiting on `wake` */
    _Atomic int32_t caller_sleeping;
    _Atomic int32_t stop;
    _Atomic int32_t busy; /* held by a run (acquire / release) */
    pthread_mutex_t mu;
    pthread_cond_t wake, done_cv;
    int32_t n_workers; /* started; written under g_mu by the holder only */
    pthread_t tid[I8_POOL_MAX_THREADS];
    worker_arg args[I8_POOL_MAX_THREADS];
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER; /* guards g_pool */
static i8_pool *g_pool;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The generation wraps after 2^24 jobs; a worker would have to stall through all of them
 * between two loads for a stale snapshot to compare equal. */
#define STATE_TASK_BITS 20
#define STATE_TASK_MASK ((1u << STATE_TASK_BITS) - 1)
#define STATE_GEN_MASK ((1u << 24) - 1)

static uint32_t gen_of(uint64_t s) { return (uint32_t)(s >> (2 * STATE_TASK_BITS)); }
static uint32_t n_of(uint64_t s) { return (uint32_t)(s >> STATE_TASK_BITS) & STATE_TASK_MASK; }
static uint32_t next_of(uint64_t s) { return (uint32_t)s & STATE_TASK_MASK; }
static uint64_t make_state(uint32_t gen, uint32_t n) {
    return ((uint64_t)(gen & STATE_GEN_MASK) << (2 * STATE_TASK_BITS)) |
           ((uint64_t)n << STATE_TASK_BITS);
}

/* One step of a bounded spin: returns 0 once the caller should sleep instead. */
typedef struct {
    int64_t t0;
    unsigned i;
} spin_state;

static int spin(spin_state *s) {
    CPU_RELAX();
    if ((++s->i & 63) != 0) return 1;
    const int64_t t = now_ns();
    if (!s->t0) s->t0 = t;
    const int64_t spent = t - s->t0;
    if (spent > SPIN_NS) return 0;
    if (spent > SPIN_PURE_NS) sched_yield();
    return 1;
}

/* Claims and runs ranges of job `gen` until none is left. */
static void work(i8_pool *p, uint32_t gen, int32_t index) {
    uint64_t s = atomic_load_explicit(&p->state, memory_order_acquire);
    for (;;) {
        if (gen_of(s) != gen) return;
        const uint32_t next = next_of(s), n = n_of(s); /* one snapshot (see the top) */
        if (next >= n) return;
        const uint32_t threads = (uint32_t)atomic_load_explicit(&p->threads, memory_order_relaxed);
        uint32_t chunk = (n - next) / (CLAIM_DIV * (threads ? threads : 1));
        if (chunk > CLAIM_MAX) chunk = CLAIM_MAX;
        if (chunk < 1) chunk = 1;
        if (!atomic_compare_exchange_weak_explicit(&p->state, &s, s + chunk,
                                                   memory_order_acq_rel, memory_order_acquire))
            continue; /* s was reloaded */
        const i8_task_fn fn = atomic_load_explicit(&p->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&p->ctx, memory_order_relaxed);
        fn(ctx, next, (size_t)next + chunk, index);
        if (atomic_fetch_add(&p->done, chunk) + chunk == n && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    }
}

static void *worker_main(void *varg) {
    const worker_arg *arg = varg;
    i8_pool *p = arg->pool;
    const int32_t index = arg->index;
    uint32_t seen = arg->start_gen;
#if defined(__linux__)
    /* a name for `top -H`, debuggers and tests/test_threads.py (which counts pool threads) */
    prctl(PR_SET_NAME, "int8rt-worker", 0, 0, 0);
#endif
    for (;;) {
        /* spin, then sleep, until a new generation or stop */
        spin_state sp = {0, 0};
        while (gen_of(atomic_load(&p->state)) == seen && !atomic_load(&p->stop) && spin(&sp)) {
        }
        if (gen_of(atomic_load(&p->state)) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (gen_of(atomic_load(&p->state)) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = gen_of(atomic_load_explicit(&p->state, memory_order_acquire));
        if (index < atomic_load_explicit(&p->threads, memory_order_relaxed))
            work(p, seen, index);
    }
}

/* ---- fork: the child has no workers, so it must not use the parent's pool ---------------- */
static void atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
static void atfork_parent(void) { pthread_mutex_unlock(&g_mu); }
static void atfork_child(void) {
    /* The parent's pool (its mutex possibly held by a thread that does not exist here) is
     * abandoned, not freed: a few KB in the child. The next threaded run builds a new pool. */
    g_pool = NULL;
    pthread_mutex_unlock(&g_mu); /* locked by this very thread in atfork_prepare */
}
static void register_atfork(void) { pthread_atfork(atfork_prepare, atfork_parent, atfork_child); }

static i8_pool *pool_new(void) {
    i8_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    if (pthread_mutex_init(&p->mu, NULL)) goto fail_mu;
    if (pthread_cond_init(&p->wake, NULL)) goto fail_wake;
    if (pthread_cond_init(&p->done_cv, NULL)) goto fail_done;
    atomic_init(&p->state, 0);
    atomic_init(&p->fn, NULL);
    atomic_init(&p->ctx, NULL);
    atomic_init(&p->threads, 1);
    atomic_init(&p->done, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->caller_sleeping, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->busy, 0);
    return p;
fail_done:
    pthread_cond_destroy(&p->wake);
fail_wake:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    free(p);
    return NULL;
}

/* Starts workers until the pool has `want` (the caller holds `busy`, so no job is running). */
static void pool_grow(i8_pool *p, int32_t want) {
    if (want > I8_POOL_MAX_THREADS - 1) want = I8_POOL_MAX_THREADS - 1;
    if (p->n_workers >= want) return;
    /* workers take no signals: Python (and most hosts) expect them on their own threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->n_workers < want) {
        worker_arg *a = &p->args[p->n_workers];
        a->pool = p;
        a->index = p->n_workers + 1;
        a->start_gen = gen_of(atomic_load(&p->state));
        if (pthread_create(&p->tid[p->n_workers], NULL, worker_main, a)) break;
        p->n_workers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

i8_pool *i8_pool_acquire(int32_t threads, int32_t *got) {
    if (got) *got = 1;
    if (threads <= 1) return NULL;
    if (threads > I8_POOL_MAX_THREADS) threads = I8_POOL_MAX_THREADS;
    pthread_once(&g_once, register_atfork);
    pthread_mutex_lock(&g_mu);
    if (!g_pool) g_pool = pool_new();
    i8_pool *p = g_pool;
    int32_t idle = 0;
    if (!p || !atomic_compare_exchange_strong(&p->busy, &idle, 1)) {
        pthread_mutex_unlock(&g_mu);
        return NULL;
    }
    pool_grow(p, threads - 1);
    const int32_t n = p->n_workers + 1 < threads ? p->n_workers + 1 : threads;
    pthread_mutex_unlock(&g_mu);
    if (n <= 1) {
        atomic_store(&p->busy, 0);
        return NULL;
    }
    atomic_store_explicit(&p->threads, n, memory_order_relaxed);
    if (got) *got = n;
    return p;
}

void i8_pool_release(i8_pool *pool) {
    if (pool) atomic_store_explicit(&pool->busy, 0, memory_order_release);
}

void i8_pool_run(i8_pool *p, size_t n, i8_task_fn fn, void *ctx) {
    if (!p || n <= 1 || n > STATE_TASK_MASK) { /* more tasks than the state word holds */
        if (n) fn(ctx, 0, n, 0);
        return;
    }
    atomic_store_explicit(&p->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&p->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    /* publishes the fields above (seq_cst store: also ordered before the sleepers check) */
    const uint32_t gen = (gen_of(atomic_load_explicit(&p->state, memory_order_relaxed)) + 1) &
                         STATE_GEN_MASK;
    atomic_store(&p->state, make_state(gen, (uint32_t)n));
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    work(p, gen, 0);
    /* everything is claimed: wait for the ranges other threads are still running */
    const uint32_t total = (uint32_t)n;
    spin_state sp = {0, 0};
    while (atomic_load(&p->done) != total && spin(&sp)) {
    }
    if (atomic_load(&p->done) != total) {
        pthread_mutex_lock(&p->mu);
        atomic_store(&p->caller_sleeping, 1);
        while (atomic_load(&p->done) != total) pthread_cond_wait(&p->done_cv, &p->mu);
        atomic_store(&p->caller_sleeping, 0);
        pthread_mutex_unlock(&p->mu);
    }
    /* the workers' results are visible: `done` was raised after each range (seq_cst) */
}

void i8_pool_shutdown(void) {
    pthread_once(&g_once, register_atfork);
    pthread_mutex_lock(&g_mu);
    i8_pool *p = g_pool;
    g_pool = NULL;
    pthread_mutex_unlock(&g_mu);
    if (!p) return;
    /* a run that acquired the pool before it was unlinked finishes first (one inference) */
    for (;;) {
        int32_t idle = 0;
        if (atomic_compare_exchange_strong(&p->busy, &idle, 1)) break;
        const struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&p->stop, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int32_t i = 0; i < p->n_workers; i++) pthread_join(p->tid[i], NULL);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int32_t i8_pool_workers(void) {
    pthread_mutex_lock(&g_mu);
    const int32_t n = g_pool ? g_pool->n_workers : 0;
    pthread_mutex_unlock(&g_mu);
    return n;
}
