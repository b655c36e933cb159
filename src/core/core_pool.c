/*
 * core_pool.c — a persistent pool of worker threads for data-parallel loops.
 *
 * Searches split their work into tasks; creating threads per query would cost more than
 * scanning a small collection, so workers live for the process and sleep on a condition
 * variable between jobs. Tasks are claimed with an atomic counter (dynamic scheduling
 * evens out uneven chunks). The caller works too, so a pool of N workers has N-1 threads.
 * One job runs at a time; a caller that finds the pool busy runs its tasks itself rather
 * than waiting, so concurrent searches never block each other on the pool.
 */
#include "core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

typedef struct pool {
    pthread_mutex_t mu;      /* guards everything below but the counters */
    pthread_cond_t wake, done;
    pthread_mutex_t job_mu;  /* held by the caller that owns the pool for a job */
    pthread_t *threads;
    unsigned nthreads;       /* helper threads (workers - 1) */
    unsigned want;           /* configured workers, 0 = cores */
    uint64_t generation;
    hk_task_fn fn;
    void *ctx;
    size_t ntasks;
    atomic_size_t next;
    unsigned active;         /* helpers still in the current job */
    int started, stopping;
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .wake = PTHREAD_COND_INITIALIZER,
                      .done = PTHREAD_COND_INITIALIZER,
                      .job_mu = PTHREAD_MUTEX_INITIALIZER};

static void run_tasks(pool *p, hk_task_fn fn, void *ctx, size_t ntasks, unsigned worker) {
    for (;;) {
        size_t t = atomic_fetch_add(&p->next, 1);
        if (t >= ntasks) break;
        fn(ctx, t, worker);
    }
}


static void *worker_main(void *arg) {
    unsigned index = (unsigned)(uintptr_t)arg;
    pool *p = &g_pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->generation == seen && !p->stopping) pthread_cond_wait(&p->wake, &p->mu);
        if (p->stopping) break;
        seen = p->generation;
        hk_task_fn fn = p->fn;
        void *ctx = p->ctx;
        size_t ntasks = p->ntasks;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p, fn, ctx, ntasks, index);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static unsigned cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

static void stop_threads(pool *p) {
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    hk_free(p->threads);
    p->threads = NULL;
    __atomic_store_n(&p->nthreads, 0, __ATOMIC_RELAXED);
    p->stopping = 0;
    p->started = 0;
}

/* Called with job_mu held. */
static void start_threads(pool *p) {
    unsigned workers = p->want ? p->want : cores();
    p->started = 1;
    if (workers <= 1) return;
    p->threads = hk_calloc(workers - 1, sizeof *p->threads);
    if (!p->threads) return; /* the caller alone does the work */
    for (unsigned i = 0; i < workers - 1; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, (void *)(uintptr_t)(i + 1)))
            break;
        __atomic_store_n(&p->nthreads, p->nthreads + 1, __ATOMIC_RELAXED);
    }
}

void hk_pool_set_workers(unsigned n) {
    pool *p = &g_pool;
    pthread_mutex_lock(&p->job_mu);
    if (p->started) stop_threads(p);
    __atomic_store_n(&p->want, n, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&p->job_mu);
}

unsigned hk_pool_workers(void) {
    pool *p = &g_pool;
    if (pthread_mutex_trylock(&p->job_mu) != 0) {
        /* A job holds the pool — perhaps the caller's own, when a task asks (nested work
         * runs inline). Waiting could deadlock; answer an upper bound instead, so arrays
         * sized by it hold every worker index a later hk_pool_run can pass. */
        unsigned want = __atomic_load_n(&p->want, __ATOMIC_RELAXED);
        unsigned have = __atomic_load_n(&p->nthreads, __ATOMIC_RELAXED) + 1;
        unsigned bound = want ? want : cores();
        return have > bound ? have : bound;
    }
    if (!p->started) start_threads(p);
    unsigned n = p->nthreads + 1;
    pthread_mutex_unlock(&p->job_mu);
    return n;
}

void hk_pool_run(size_t ntasks, hk_task_fn fn, void *ctx) {
    pool *p = &g_pool;
    if (ntasks == 0) return;
    if (pthread_mutex_trylock(&p->job_mu) != 0) {
        for (size_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    if (!p->started) start_threads(p);
    if (ntasks == 1 || p->nthreads == 0) {
        pthread_mutex_unlock(&p->job_mu);
        for (size_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    p->active = p->nthreads;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    run_tasks(p, fn, ctx, ntasks, 0);

    pthread_mutex_lock(&p->mu);
    while (p->active) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->job_mu);
}
