/*
 * jobs.c — background jobs (import, index build, quantize, projection): an id, a state,
 * progress, cancellation.
 *
 * Decisions:
 *  - One worker thread runs the jobs one after another in the order they were queued: the
 *    library already spreads a search or a training over its own pool, and two imports at
 *    once would only fight over the same cores and the same log. The worker starts with
 *    the first job and is joined at shutdown.
 *  - Cancellation is a flag the job's progress callback returns to the library, which
 *    stops at its next check; a queued job that is cancelled never runs.
 *  - The registry keeps every running or queued job and the last HKS_JOBS_KEPT finished
 *    ones (older finished jobs are forgotten and then answer 404).
 *  - Times are wall-clock unix seconds (they are shown to people).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jobs.h"

#define HKS_JOBS_KEPT 100

struct hks_job {
    uint64_t id;
    const char *kind;
    char collection[HK_MAX_NAME + 1];
    hks_job_state state;
    uint64_t done, total;
    char message[512];
    double started, finished; /* 0 = not yet */
    char *result;             /* JSON, or NULL */
    int cancel;
    char cancel_why[160]; /* why it was cancelled (hks_jobs_cancel_where), or "" */
    hks_job_fn fn;
    void *arg;
    void (*free_arg)(void *);
    struct hks_job *next_queued;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER; /* queue changes and job ends */
static hks_job **g_jobs;   /* by id order */
static size_t g_njobs, g_cap;
static hks_job *g_queue_head, *g_queue_tail;
static uint64_t g_next_id = 1;
static pthread_t g_worker;
static int g_worker_started, g_stopping;
static hk_db *g_db;

static const char *const k_state_names[] = {"queued", "running", "done", "failed", "cancelled"};

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int finished(const hks_job *j) { return j->state >= HKS_JOB_DONE; }

static void job_free(hks_job *j) {
    if (!j) return;
    if (j->free_arg) j->free_arg(j->arg);
    hk_free(j->result);
    hk_free(j);
}

/* Forgets the oldest finished jobs beyond HKS_JOBS_KEPT. Called with g_mu held. */
static void prune(void) {
    size_t nfinished = 0;
    for (size_t i = 0; i < g_njobs; i++) nfinished += finished(g_jobs[i]);
    size_t w = 0;
    for (size_t i = 0; i < g_njobs; i++) {
        hks_job *j = g_jobs[i];
        if (finished(j) && nfinished > HKS_JOBS_KEPT) {
            nfinished--;
            job_free(j);
            continue;
        }
        g_jobs[w++] = j;
    }
    g_njobs = w;
}

static void end_job(hks_job *j, hks_job_state st, const char *msg, char *result) {
    j->state = st;
    j->finished = wall_s();
    snprintf(j->message, sizeof j->message, "%s", msg);
    hk_free(j->result);
    j->result = result;
    /* The argument (an upload, say) is not needed once the job has ended. */
    if (j->free_arg) j->free_arg(j->arg);
    j->free_arg = NULL;
    j->arg = NULL;
}

static void *worker(void *unused) {
    (void)unused;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        while (!g_queue_head && !g_stopping) pthread_cond_wait(&g_cv, &g_mu);
        hks_job *j = g_queue_head;
        if (!j) break;
        g_queue_head = j->next_queued;
        if (!g_queue_head) g_queue_tail = NULL;
        if (j->cancel) {
            end_job(j, HKS_JOB_CANCELLED, "cancelled before it started", NULL);
            pthread_cond_broadcast(&g_cv);
            continue;
        }
        j->state = HKS_JOB_RUNNING;
        j->started = wall_s();
        pthread_mutex_unlock(&g_mu);
        char msg[512] = "";
        char *result = NULL;
        hks_job_state st = j->fn(j, j->arg, g_db, msg, sizeof msg, &result);
        pthread_mutex_lock(&g_mu);
        if (st == HKS_JOB_CANCELLED && j->cancel_why[0]) {
            char full[sizeof msg];
            snprintf(full, sizeof full, "%.150s (%.350s)", j->cancel_why, msg);
            memcpy(msg, full, sizeof msg);
        }
        end_job(j, st, msg, result);
        prune();
        pthread_cond_broadcast(&g_cv);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

void hks_jobs_init(hk_db *db) {
    pthread_mutex_lock(&g_mu);
    g_db = db;
    g_stopping = 0;
    pthread_mutex_unlock(&g_mu);
}

hk_status hks_job_submit(const char *kind, const char *collection, hks_job_fn fn, void *arg,
                         void (*free_arg)(void *), uint64_t *id) {
    return hks_job_submit_unique(kind, collection, 0, fn, arg, free_arg, id);
}

hk_status hks_job_submit_unique(const char *kind, const char *collection, int unique,
                                hks_job_fn fn, void *arg, void (*free_arg)(void *),
                                uint64_t *id) {
    hks_job *j = hk_malloc(sizeof *j);
    if (!j) {
        if (free_arg) free_arg(arg);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    memset(j, 0, sizeof *j);
    j->kind = kind;
    snprintf(j->collection, sizeof j->collection, "%s", collection);
    j->fn = fn;
    j->arg = arg;
    j->free_arg = free_arg;
    snprintf(j->message, sizeof j->message, "queued");
    pthread_mutex_lock(&g_mu);
    hk_status st = HK_OK;
    if (g_stopping) st = hk_fail(HK_INVALID, "the server is shutting down");
    for (size_t i = 0; !st && unique && i < g_njobs; i++) {
        const hks_job *o = g_jobs[i];
        if ((o->state == HKS_JOB_QUEUED || (unique == 2 && o->state == HKS_JOB_RUNNING)) &&
            !o->cancel && !strcmp(o->kind, kind) && !strcmp(o->collection, j->collection)) {
            *id = o->id;
            st = HK_EXISTS;
        }
    }
    if (!st && g_njobs == g_cap) {
        size_t cap = g_cap ? 2 * g_cap : 16;
        hks_job **a = hk_realloc(g_jobs, cap * sizeof *a);
        if (!a) st = hk_fail(HK_NOMEM, "out of memory");
        else g_jobs = a, g_cap = cap;
    }
    if (!st && !g_worker_started) {
        if (pthread_create(&g_worker, NULL, worker, NULL))
            st = hk_fail(HK_ERROR, "cannot start the job thread");
        else g_worker_started = 1;
    }
    if (st) {
        pthread_mutex_unlock(&g_mu);
        job_free(j);
        return st;
    }
    j->id = g_next_id++;
    g_jobs[g_njobs++] = j;
    if (g_queue_tail) g_queue_tail->next_queued = j;
    else g_queue_head = j;
    g_queue_tail = j;
    *id = j->id;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return HK_OK;
}

int hks_job_progress(hks_job *j, uint64_t done, uint64_t total, const char *message) {
    pthread_mutex_lock(&g_mu);
    j->done = done;
    j->total = total;
    if (message) snprintf(j->message, sizeof j->message, "%s", message);
    int cancel = j->cancel;
    pthread_mutex_unlock(&g_mu);
    return cancel;
}

static hks_job *find(uint64_t id) {
    for (size_t i = 0; i < g_njobs; i++)
        if (g_jobs[i]->id == id) return g_jobs[i];
    return NULL;
}

static void put_num(hk_buf *b, double v) {
    if (v == 0) hk_buf_puts(b, "null");
    else hk_buf_printf(b, "%.3f", v);
}

static void write_job(hk_buf *b, const hks_job *j) {
    double progress = j->state == HKS_JOB_DONE ? 1
                      : j->total ? (double)j->done / (double)j->total : 0;
    if (progress > 1) progress = 1;
    hk_buf_printf(b, "{\"id\":\"j-%llu\",\"kind\":\"%s\",\"collection\":", (unsigned long long)j->id,
                  j->kind);
    hj_write_string(b, j->collection, strlen(j->collection));
    hk_buf_printf(b, ",\"state\":\"%s\",\"progress\":%.4f,\"done\":%llu,\"total\":%llu,\"message\":",
                  k_state_names[j->state], progress, (unsigned long long)j->done,
                  (unsigned long long)j->total);
    hj_write_string(b, j->message, strlen(j->message));
    hk_buf_puts(b, ",\"started\":");
    put_num(b, j->started);
    hk_buf_puts(b, ",\"finished\":");
    put_num(b, j->finished);
    hk_buf_puts(b, ",\"result\":");
    hk_buf_puts(b, j->result ? j->result : "null");
    hk_buf_putc(b, '}');
}

void hks_jobs_write(hk_buf *b, double recent_s) {
    double now = wall_s();
    pthread_mutex_lock(&g_mu);
    hk_buf_putc(b, '[');
    int first = 1;
    for (size_t i = 0; i < g_njobs; i++) {
        const hks_job *j = g_jobs[i];
        if (recent_s > 0 && finished(j) && now - j->finished > recent_s) continue;
        if (!first) hk_buf_putc(b, ',');
        first = 0;
        write_job(b, j);
    }
    hk_buf_putc(b, ']');
    pthread_mutex_unlock(&g_mu);
}

int hks_job_parse_id(const char *s, uint64_t *id) {
    if (strncmp(s, "j-", 2) || !s[2]) return -1;
    uint64_t v = 0;
    for (const char *p = s + 2; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *id = v;
    return 0;
}

int hks_job_write(hk_buf *b, uint64_t id, int wait) {
    pthread_mutex_lock(&g_mu);
    hks_job *j = find(id);
    while (j && wait && !finished(j)) {
        pthread_cond_wait(&g_cv, &g_mu);
        j = find(id);
    }
    if (j) write_job(b, j);
    pthread_mutex_unlock(&g_mu);
    return j ? 0 : -1;
}

int hks_job_cancel(uint64_t id, hk_buf *b) {
    pthread_mutex_lock(&g_mu);
    hks_job *j = find(id);
    if (j && !finished(j)) j->cancel = 1;
    /* A queued job ends at once (the worker skips it); a running one at its next check. */
    if (j && j->state == HKS_JOB_QUEUED) {
        hks_job **pp = &g_queue_head, *prev = NULL;
        while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next_queued;
        if (*pp) {
            *pp = j->next_queued;
            if (g_queue_tail == j) g_queue_tail = prev;
            end_job(j, HKS_JOB_CANCELLED, "cancelled before it started", NULL);
            pthread_cond_broadcast(&g_cv);
        }
    }
    if (j) write_job(b, j);
    pthread_mutex_unlock(&g_mu);
    return j ? 0 : -1;
}

size_t hks_jobs_cancel_where(const char *kind, const char *collection, int (*match)(void *arg),
                             const char *why) {
    size_t n = 0;
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_njobs; i++) {
        hks_job *j = g_jobs[i];
        if (finished(j) || j->cancel || strcmp(j->kind, kind) || strcmp(j->collection, collection) ||
            (match && !match(j->arg)))
            continue;
        j->cancel = 1;
        snprintf(j->cancel_why, sizeof j->cancel_why, "%s", why);
        n++;
        if (j->state != HKS_JOB_QUEUED) continue; /* running: it stops at its next check */
        hks_job **pp = &g_queue_head, *prev = NULL;
        while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next_queued;
        if (*pp) {
            *pp = j->next_queued;
            if (g_queue_tail == j) g_queue_tail = prev;
            end_job(j, HKS_JOB_CANCELLED, why, NULL);
        }
    }
    if (n) pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
    return n;
}

void hks_jobs_cancel_all(void) {
    pthread_mutex_lock(&g_mu);
    g_stopping = 1;
    for (size_t i = 0; i < g_njobs; i++)
        if (!finished(g_jobs[i])) g_jobs[i]->cancel = 1;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

void hks_jobs_shutdown(void) {
    hks_jobs_cancel_all();
    pthread_mutex_lock(&g_mu);
    int started = g_worker_started;
    g_worker_started = 0;
    pthread_mutex_unlock(&g_mu);
    if (started) pthread_join(g_worker, NULL);
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_njobs; i++) job_free(g_jobs[i]);
    hk_free(g_jobs);
    g_jobs = NULL;
    g_njobs = g_cap = 0;
    g_queue_head = g_queue_tail = NULL;
    pthread_mutex_unlock(&g_mu);
}
