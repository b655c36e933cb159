/*
 * jobs.h — the server's background jobs (jobs.c): a registry with ids "j-N", states,
 * progress and cancellation, run one at a time by a worker thread.
 */
#ifndef HK_SERVER_JOBS_H
#define HK_SERVER_JOBS_H

#include "server_int.h"

typedef enum hks_job_state {
    HKS_JOB_QUEUED = 0,
    HKS_JOB_RUNNING,
    HKS_JOB_DONE,
    HKS_JOB_FAILED,
    HKS_JOB_CANCELLED
} hks_job_state;

typedef struct hks_job hks_job;

/* Runs the job in the worker thread; returns its final state with a message in msg and,
 * for HKS_JOB_DONE, a JSON result in *result (hk_malloc'd; the job takes it). */
typedef hks_job_state (*hks_job_fn)(hks_job *j, void *arg, hk_db *db, char *msg, size_t msg_size,
                                    char **result);

void hks_jobs_init(hk_db *db);
/* Queues a job; the registry owns arg from here on (free_arg frees it, also on failure). */
hk_status hks_job_submit(const char *kind, const char *collection, hks_job_fn fn, void *arg,
                         void (*free_arg)(void *), uint64_t *id);
/* The same, unless a job of this kind for this collection is queued (unique 1) or queued
 * or running (unique 2): then HK_EXISTS with that job's id in *id (arg is freed). */
hk_status hks_job_submit_unique(const char *kind, const char *collection, int unique,
                                hks_job_fn fn, void *arg, void (*free_arg)(void *),
                                uint64_t *id);
/* Reports progress from the job; returns nonzero when the job should stop (cancelled). */
int hks_job_progress(hks_job *j, uint64_t done, uint64_t total, const char *message);

/* "j-N" -> N; -1 when malformed. */
int hks_job_parse_id(const char *s, uint64_t *id);
/* The job as JSON (after it ends, with wait); -1 when unknown. */
int hks_job_write(hk_buf *b, uint64_t id, int wait);
/* Every job, or with recent_s > 0 the unfinished ones and those finished in the last
 * recent_s seconds, as a JSON array. */
void hks_jobs_write(hk_buf *b, double recent_s);
/* Asks the job to stop and writes it as it is then; -1 when unknown. */
int hks_job_cancel(uint64_t id, hk_buf *b);
/* Cancels the unfinished jobs of this kind for this collection whose arg match accepts
 * (match NULL: all): queued ones end at once with the message why, running ones stop at
 * their next progress check. Returns how many were asked to stop. */
size_t hks_jobs_cancel_where(const char *kind, const char *collection, int (*match)(void *arg),
                             const char *why);
/* At shutdown: refuse new jobs and cancel the others (waiters wake as they end)... */
void hks_jobs_cancel_all(void);
/* ...then wait for the worker and free the registry. */
void hks_jobs_shutdown(void);

#endif
