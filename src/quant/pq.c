/*
 * pq.c — product quantization and OPQ: training, encoding, decoding and ADC.
 *
 * Decisions:
 *  - Each sub-quantizer is an independent k-means (kmeans.c) on its sub-vectors, gathered
 *    into a contiguous n x dsub array. With at least two sub-quantizers per worker, each
 *    worker trains whole sub-quantizers (no synchronization per Lloyd iteration; on 2
 *    cores this took 65,536 x 512, m = 64 from 18 s to 9 s); with fewer, they are trained
 *    one after another, each k-means on the whole pool. Sub-quantizer j's seed is mixed
 *    from the caller's seed and j, and k-means does not depend on the worker count, so
 *    both ways give the same codebooks.
 *  - OPQ (non-parametric, Ge et al. 2013) alternates codebooks and rotation. It starts
 *    from R = identity rather than a random rotation: then its first step is exactly
 *    plain PQ (same seeds and iterations), and each later step cannot raise the
 *    distortion — Procrustes minimizes ||XR - Y|| for the current reconstruction Y,
 *    re-encoding and Lloyd steps minimize it for the new R — so OPQ never ends worse than
 *    PQ. Measured against a seeded random orthogonal start (m = 16, 25 iterations, 10
 *    OPQ iterations, seeds 1-3): on 20,000 x 128 correlated gaussians both land within
 *    noise (4 bits 2.30-2.31 vs 2.30-2.44, 8 bits 0.90-0.92 vs 0.87-0.95, plain PQ 6.63
 *    and 3.32); on BIGANN 10K the identity start gives 29,900-30,000 (4 bits) and
 *    9,300-9,310 (8 bits) against plain PQ's 33,100-33,400 and 9,850-9,860, while the
 *    random start ends at 38,400-38,600 and 20,300-20,400 — worse than no rotation:
 *    SIFT's coordinates are meaningful and a random rotation smears them.
 *  - Procrustes: R = U V^T from the SVD of M = X^T Y. LAPACK is column-major, so it
 *    factors the row-major M's transpose, M^T = U' S V'^T; then M = V' S U'^T and
 *    R = V' U'^T, whose transpose U' V'^T — computed column-major — is exactly R's
 *    row-major array.
 *  - The big products (X R for the data, X^T Y) are sgemm calls split over the worker
 *    pool in fixed blocks (rows of X R, columns of X^T Y), OpenBLAS on one thread, so
 *    results do not depend on the number of workers.
 *  - Encoding splits rows among the pool; a task rotates its block with one sgemm and
 *    runs km_nearest per sub-quantizer on the strided sub-vectors, so codes are the exact
 *    nearest centroids (see kmeans.h).
 *  - decode and lut cannot fail (void) and take any model a loader accepts, whatever its
 *    dimension: lut rotates the query 4096 coordinates at a time on the stack; decode
 *    rotates blocks of rows from the heap, or when the heap refuses, builds each row as
 *    a sum of GEMVs of R's columns with the code's centroids (no scratch at all).
 */
#include "pq.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../vec/distance.h"
#include "core.h"
#include "kmeans.h"
#include "qkernels.h"

#define PQ_OPQ_REFINE_ITERS 4     /* Lloyd iterations per OPQ step after the first */
#define PQ_ROT_ROWS 1024          /* rows per task of X R */
#define PQ_MT_COLS 64             /* columns per task of X^T Y */
#define PQ_ENCODE_ROWS 1024       /* rows per encode task, at most */
#define PQ_STACK_FLOATS 4096      /* lut scratch: 16 KB */
#define PQ_ROT_BLOCK_FLOATS ((size_t)1 << 17) /* rows rotated per sgemm in encode/decode: 512 KB */

/* LAPACK (exported by libopenblas); the trailing length is gfortran's hidden argument. */
void sgesdd_(const char *jobz, const int *m, const int *n, float *a, const int *lda, float *s,
             float *u, const int *ldu, float *vt, const int *ldvt, float *work, const int *lwork,
             int *iwork, int *info, size_t jobz_len);

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

static void *alloc_array(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    return hk_malloc(count * size != 0 ? count * size : 1);
}

size_t pq_code_size(const pq_model *pq) { return pq->bits == 4 ? (pq->m + 1) / 2 : pq->m; }

void pq_free(pq_model *pq) {
    if (pq == NULL) return;
    hk_free(pq->centroids);
    hk_free(pq->rotation);
    memset(pq, 0, sizeof *pq);
}

static inline void put_code(uint8_t *code, uint32_t bits, size_t j, uint32_t c) {
    if (bits == 8) {
        code[j] = (uint8_t)c;
    } else if (j & 1) {
        code[j >> 1] = (uint8_t)((code[j >> 1] & 15u) | (c << 4));
    } else {
        code[j >> 1] = (uint8_t)c; /* the even code comes first and clears the high nibble */
    }
}

static inline uint32_t get_code(const uint8_t *code, uint32_t bits, size_t j) {
    return bits == 8 ? code[j] : (code[j >> 1] >> ((j & 1) * 4)) & 15u;
}

/* ---- parallel products ---- */

typedef struct rot_job {
    const float *x, *r;
    float *out;
    size_t n, dim;
} rot_job;

static void rot_task(void *ctx, size_t task, unsigned worker) {
    rot_job *j = ctx;
    size_t r0 = task * PQ_ROT_ROWS, nr = min_sz(PQ_ROT_ROWS, j->n - r0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)j->dim, (int)j->dim, 1.0f,
                j->x + r0 * j->dim, (int)j->dim, j->r, (int)j->dim, 0.0f, j->out + r0 * j->dim, (int)j->dim);
}

/* out = x R for n rows. */
static void rotate_rows(const float *x, size_t n, size_t dim, const float *r, float *out) {
    rot_job j = {.x = x, .r = r, .out = out, .n = n, .dim = dim};
    km_blas_init();
    hk_pool_run(div_up(n, PQ_ROT_ROWS), rot_task, &j);
}

static void xty_task(void *ctx, size_t task, unsigned worker) {
    rot_job *j = ctx; /* x = X, r = Y, out = M */
    size_t c0 = task * PQ_MT_COLS, nc = min_sz(PQ_MT_COLS, j->dim - c0);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)j->dim, (int)nc, (int)j->n, 1.0f, j->x,
                (int)j->dim, j->r + c0, (int)j->dim, 0.0f, j->out + c0, (int)j->dim);
}

/* ---- Procrustes ---- */

/* r = the orthogonal matrix nearest to m (dim x dim, row-major, destroyed): U V^T. */
static hk_status procrustes(float *m, size_t dim, float *r) {
    int n = (int)dim, lwork = -1, info = 0;
    float wq = 0;
    float *s = alloc_array(dim, sizeof(float));
    float *u = alloc_array(dim * dim, sizeof(float));
    float *vt = alloc_array(dim * dim, sizeof(float));
    int *iwork = alloc_array(8 * dim, sizeof(int));
    float *work = NULL;
    hk_status st = HK_OK;
    if (!s || !u || !vt || !iwork) goto nomem;
    sgesdd_("A", &n, &n, m, &n, s, u, &n, vt, &n, &wq, &lwork, iwork, &info, 1);
    if (info != 0) goto fail;
    lwork = (int)wq + 1;
    work = alloc_array((size_t)lwork, sizeof(float));
    if (!work) goto nomem;
    sgesdd_("A", &n, &n, m, &n, s, u, &n, vt, &n, work, &lwork, iwork, &info, 1);
    if (info != 0) goto fail;
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, u, n, vt, n, 0.0f, r, n);
    goto out;
nomem:
    st = hk_fail(HK_NOMEM, "opq: out of memory for the SVD of a %zu x %zu matrix", dim, dim);
    goto out;
fail:
    st = hk_fail(HK_ERROR, "opq: the SVD (LAPACK sgesdd) failed with info %d", info);
out:
    hk_free(s);
    hk_free(u);
    hk_free(vt);
    hk_free(iwork);
    hk_free(work);
    return st;
}

/* ---- training ---- */

static uint64_t sub_seed(uint64_t seed, size_t j) {
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * (j + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void gather_sub(const float *x, size_t n, size_t dim, size_t off, size_t dsub, float *sub) {
    for (size_t i = 0; i < n; i++) memcpy(sub + i * dsub, x + i * dim + off, dsub * sizeof(float));
}

static hk_status check_args(const float *x, size_t n, uint32_t dim, uint32_t m, uint32_t bits,
                            int opq, const pq_model *out) {
    if (!x || !out) return hk_fail(HK_INVALID, "pq: NULL training data or model");
    if (dim == 0 || dim > HK_MAX_DIM)
        return hk_fail(HK_INVALID, "pq: dimension %u is out of range 1..%u", dim, HK_MAX_DIM);
    if (m == 0 || dim % m != 0)
        return hk_fail(HK_INVALID, "pq: dimension %u is not a multiple of m = %u sub-quantizers", dim, m);
    if (bits != 4 && bits != 8) return hk_fail(HK_INVALID, "pq: bits must be 4 or 8, not %u", bits);
    if (n == 0) return hk_fail(HK_INVALID, "pq: no training rows (n = 0)");
    if (n > UINT32_MAX || n > SIZE_MAX / 4 / dim)
        return hk_fail(HK_INVALID, "pq: too many training rows (%zu)", n);
    if (opq && dim > PQ_OPQ_MAX_DIM)
        return hk_fail(HK_INVALID, "opq: dimension %u is above %u (the rotation is dim x dim floats)", dim,
                       PQ_OPQ_MAX_DIM);
    if (opq && n > INT32_MAX) /* X^T Y is one sgemm over all rows */
        return hk_fail(HK_INVALID, "opq: too many training rows (%zu; at most %d)", n, INT32_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!vec_all_finite(x + i * dim, dim))
            return hk_fail(HK_INVALID, "pq: training row %zu has a NaN or infinite component", i);
        if (!vec_magnitude_ok(x + i * dim, dim))
            return hk_fail(HK_INVALID, "pq: training row %zu is too large (squared norm above %g)", i,
                           (double)VEC_MAX_NORM_SQ);
    }
    return HK_OK;
}

typedef struct trainer {
    const float *x;
    size_t n;
    uint32_t dim, m, ksub, dsub;
    uint64_t seed;
    float *cent;          /* m * ksub * dsub */
    float *sub;           /* per worker: n * dsub */
    uint32_t *assign;     /* per worker: n */
    unsigned slices;      /* sub and assign slices: the workers when parallel, else 1 */
    int parallel;         /* each worker trains whole sub-quantizers */
    hk_progress_fn progress;
    void *ud;
} trainer;

/* One stage of codebook training: every sub-quantizer once (see train_codebooks). */
typedef struct stage {
    trainer *t;
    const float *xr;
    float *y;
    int fresh;
    uint32_t iters;
    const char *phase;
    double base, span, last; /* progress range; last: the caller's latest report */
    atomic_size_t done;      /* sub-quantizers finished */
    atomic_int stop;         /* cancelled, or another sub-quantizer failed */
    pthread_mutex_t mu;      /* guards st and msg */
    hk_status st;
    char msg[256];
} stage;

typedef struct stage_task {
    stage *s;
    unsigned worker;
} stage_task;

/* k-means progress of one sub-quantizer. Only the calling thread (worker 0) talks to the
 * caller's callback, so it is never called concurrently; it reports the stage's share
 * done, never going backwards. Every worker stops at its next report once stop is set. */
static int stage_progress(void *ud, const char *phase, double f) {
    stage_task *st = ud;
    stage *s = st->s;
    (void)phase;
    if (atomic_load(&s->stop)) return 1;
    if (st->worker != 0 || s->t->progress == NULL) return 0;
    double v = s->base + s->span * ((double)atomic_load(&s->done) + f) / s->t->m;
    if (v > s->base + s->span) v = s->base + s->span;
    if (v < s->last) v = s->last;
    s->last = v;
    if (s->t->progress(s->t->ud, s->phase, v) == 0) return 0;
    atomic_store(&s->stop, 1);
    return 1;
}

static void stage_run(void *ctx, size_t j, unsigned worker) {
    stage *s = ctx;
    trainer *t = s->t;
    size_t dsub = t->dsub, ksub = t->ksub, n = t->n;
    float *cj = t->cent + j * ksub * dsub, *sub = t->sub + worker * n * dsub;
    uint32_t *assign = t->assign + worker * n;
    stage_task me = {.s = s, .worker = worker};
    uint64_t seed = sub_seed(t->seed, j);
    hk_status st;
    gather_sub(s->xr, n, t->dim, j * dsub, dsub, sub);
    if (s->fresh && n <= ksub) {
        st = km_train(sub, n, dsub, ksub, s->iters, seed, stage_progress, &me, 0, 1, cj, NULL);
        if (!st && s->y) st = km_assign(sub, n, dsub, cj, ksub, assign, NULL);
    } else {
        st = s->fresh ? km_seed(sub, n, dsub, ksub, seed, cj) : HK_OK;
        if (!st)
            st = km_refine(sub, n, dsub, ksub, s->iters, stage_progress, &me, 0, 1, cj, s->y ? assign : NULL,
                           NULL, NULL);
    }
    if (st) {
        pthread_mutex_lock(&s->mu);
        if (s->st == HK_OK || s->st == HK_CANCELLED) {
            s->st = st;
            snprintf(s->msg, sizeof s->msg, "%s", hk_errmsg());
        }
        pthread_mutex_unlock(&s->mu);
        atomic_store(&s->stop, 1);
        return;
    }
    if (s->y)
        for (size_t i = 0; i < n; i++)
            memcpy(s->y + i * t->dim + j * dsub, cj + (size_t)assign[i] * dsub, dsub * sizeof(float));
    atomic_fetch_add(&s->done, 1);
}

/* Codebooks for the rows xr (already rotated): from seeds with iters iterations when
 * fresh, else refined from the current ones. With y, also the reconstruction. Progress
 * spans [base, base + span) under the given phase. With enough sub-quantizers to keep
 * every worker busy, each worker trains whole sub-quantizers (their k-means then run on
 * one thread: no synchronization per iteration); otherwise they are trained one after
 * another, each k-means on the whole pool. */
static hk_status train_codebooks(trainer *t, const float *xr, int fresh, uint32_t iters, float *y,
                                 const char *phase, double base, double span) {
    stage s = {.t = t, .xr = xr, .y = y, .fresh = fresh, .iters = iters, .phase = phase, .base = base,
               .span = span, .last = base};
    atomic_init(&s.done, 0);
    atomic_init(&s.stop, 0);
    pthread_mutex_init(&s.mu, NULL);
    if (t->parallel)
        hk_pool_run(t->m, stage_run, &s);
    else
        for (size_t j = 0; j < t->m && !atomic_load(&s.stop); j++) stage_run(&s, j, 0);
    pthread_mutex_destroy(&s.mu);
    if (s.st) return hk_fail(s.st, "%s", s.msg);
    if (t->progress && t->progress(t->ud, phase, base + span))
        return hk_fail(HK_CANCELLED, "pq: cancelled by the progress callback");
    return HK_OK;
}

/* Learns the rotation (opq_iters steps), leaving codebooks for it in t->cent. */
static hk_status learn_rotation(trainer *t, uint32_t iters, uint32_t opq_iters, float *r,
                                float *xr, double span) {
    size_t dim = t->dim, n = t->n;
    float *y = alloc_array(n * dim, sizeof(float));
    float *mt = alloc_array(dim * dim, sizeof(float));
    hk_status st = HK_OK;
    if (!y || !mt) {
        st = hk_fail(HK_NOMEM, "opq: out of memory for %zu x %zu reconstructions", n, dim);
        goto out;
    }
    for (uint32_t it = 0; it < opq_iters && !st; it++) {
        double base = span * it / opq_iters;
        rotate_rows(t->x, n, dim, r, xr);
        st = train_codebooks(t, xr, it == 0, it == 0 ? iters : PQ_OPQ_REFINE_ITERS, y, "opq", base,
                             span / opq_iters);
        if (st) break;
        rot_job j = {.x = t->x, .r = y, .out = mt, .n = n, .dim = dim};
        hk_pool_run(div_up(dim, PQ_MT_COLS), xty_task, &j);
        st = procrustes(mt, dim, r);
    }
out:
    hk_free(y);
    hk_free(mt);
    return st;
}

hk_status pq_train(const float *x, size_t n, uint32_t dim, uint32_t m, uint32_t bits, int opq,
                   uint32_t iters, uint32_t opq_iters, uint64_t seed,
                   hk_progress_fn progress, void *ud, pq_model *out) {
    hk_status st = check_args(x, n, dim, m, bits, opq, out);
    if (st) return st;
    trainer t = {.x = x, .n = n, .dim = dim, .m = m, .ksub = 1u << bits, .dsub = dim / m, .seed = seed,
                 .slices = hk_pool_workers(), .progress = progress, .ud = ud};
    t.parallel = t.slices > 1 && m >= 2 * t.slices;
    if (!t.parallel) t.slices = 1;
    float *r = NULL, *xr = NULL;
    t.cent = alloc_array((size_t)m * t.ksub * t.dsub, sizeof(float));
    t.sub = alloc_array((size_t)t.slices * n, t.dsub * sizeof(float));
    t.assign = alloc_array((size_t)t.slices * n, sizeof(uint32_t));
    if (!t.cent || !t.sub || !t.assign) goto nomem;
    if (opq) {
        r = alloc_array((size_t)dim * dim, sizeof(float));
        xr = alloc_array(n * dim, sizeof(float));
        if (!r || !xr) goto nomem;
        memset(r, 0, (size_t)dim * dim * sizeof(float));
        for (size_t i = 0; i < dim; i++) r[i * dim + i] = 1.0f;
        double span = opq_iters ? (double)opq_iters / (opq_iters + 1.0) : 0.0;
        st = learn_rotation(&t, iters, opq_iters, r, xr, span);
        if (!st) {
            rotate_rows(x, n, dim, r, xr);
            st = train_codebooks(&t, xr, 1, iters, NULL, "pq", span, 1.0 - span);
        }
    } else {
        st = train_codebooks(&t, x, 1, iters, NULL, "pq", 0.0, 1.0);
    }
    if (st) goto fail;
    hk_free(t.sub);
    hk_free(t.assign);
    hk_free(xr);
    *out = (pq_model){.dim = dim, .m = m, .bits = bits, .ksub = t.ksub, .dsub = t.dsub, .centroids = t.cent,
                      .rotation = r};
    return HK_OK;
nomem:
    st = hk_fail(HK_NOMEM, "pq: out of memory for training on %zu rows of %u floats", n, dim);
fail:
    hk_free(t.cent);
    hk_free(t.sub);
    hk_free(t.assign);
    hk_free(r);
    hk_free(xr);
    return st;
}

/* Rows per block of a rotation product: PQ_ROT_BLOCK_FLOATS floats, at least one row. */
static size_t rot_block_rows(size_t dim, size_t cap) {
    size_t r = PQ_ROT_BLOCK_FLOATS / dim;
    return r < 1 ? 1 : r > cap ? cap : r;
}

/* ---- encoding ---- */

typedef struct encode_job {
    const pq_model *pq;
    const float *x;
    size_t n;
    uint8_t *codes;
    km_codebook *cb;   /* m */
    uint8_t *scratch;  /* per worker: rotated rows, assignments, km_nearest scratch */
    size_t scratch_size, km_offset, assign_offset;
    size_t task_rows;
} encode_job;

static void encode_task(void *ctx, size_t task, unsigned worker) {
    encode_job *e = ctx;
    const pq_model *pq = e->pq;
    size_t dim = pq->dim, r0 = task * e->task_rows, nr = min_sz(e->task_rows, e->n - r0);
    size_t cs = pq_code_size(pq);
    uint8_t *sc = e->scratch + worker * e->scratch_size;
    uint32_t *assign = (uint32_t *)(sc + e->assign_offset);
    const float *src = e->x + r0 * dim;
    if (pq->rotation) {
        float *xr = (float *)sc;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nr, (int)dim, (int)dim, 1.0f, src, (int)dim,
                    pq->rotation, (int)dim, 0.0f, xr, (int)dim);
        src = xr;
    }
    uint8_t *codes = e->codes + r0 * cs;
    for (size_t j = 0; j < pq->m; j++) {
        km_nearest(&e->cb[j], src + j * pq->dsub, dim, nr, sc + e->km_offset, assign, NULL);
        for (size_t i = 0; i < nr; i++) put_code(codes + i * cs, pq->bits, j, assign[i]);
    }
}

hk_status pq_encode(const pq_model *pq, const float *x, size_t n, uint8_t *codes) {
    if (n == 0) return HK_OK;
    size_t m = pq->m, ksub = pq->ksub, dsub = pq->dsub;
    km_codebook *cb = hk_calloc(m, sizeof *cb);
    if (!cb) return hk_fail(HK_NOMEM, "pq encode: out of memory");
    hk_status st = HK_OK;
    for (size_t j = 0; j < m && !st; j++)
        st = km_codebook_init(&cb[j], pq->centroids + j * ksub * dsub, ksub, dsub);
    /* With a rotation, a task's rows are rotated into scratch: bounded in floats. */
    encode_job e = {.pq = pq, .x = x, .n = n, .codes = codes, .cb = cb,
                    .task_rows = pq->rotation ? rot_block_rows(pq->dim, PQ_ENCODE_ROWS) : PQ_ENCODE_ROWS};
    if (!st) {
        size_t rows = min_sz(e.task_rows, n);
        size_t rot = pq->rotation ? (rows * pq->dim * sizeof(float) + 63) & ~(size_t)63 : 0;
        e.assign_offset = rot;
        e.km_offset = rot + ((rows * sizeof(uint32_t) + 63) & ~(size_t)63);
        e.scratch_size = e.km_offset + km_scratch_size(&cb[0]);
        unsigned workers = hk_pool_workers();
        e.scratch = e.scratch_size <= SIZE_MAX / workers ? hk_aligned_alloc(e.scratch_size * workers) : NULL;
        if (!e.scratch) st = hk_fail(HK_NOMEM, "pq encode: out of memory for scratch");
    }
    if (!st) {
        km_blas_init();
        hk_pool_run(div_up(n, e.task_rows), encode_task, &e);
    }
    hk_aligned_free(e.scratch);
    for (size_t j = 0; j < m; j++) km_codebook_free(&cb[j]);
    hk_free(cb);
    return st;
}

/* ---- decoding and distances ---- */

/* x = y R^T, where y is the concatenation of the code's centroids: one GEMV per
 * sub-quantizer (R's dsub columns times the centroid), accumulated into the row. Needs
 * no scratch: the fallback when the heap refuses a block. */
static void unrotate_code(const pq_model *pq, const uint8_t *code, float *x) {
    size_t dim = pq->dim, dsub = pq->dsub;
    for (size_t j = 0; j < pq->m; j++) {
        const float *c = pq->centroids + (j * pq->ksub + get_code(code, pq->bits, j)) * dsub;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)dim, (int)dsub, 1.0f, pq->rotation + j * dsub, (int)dim, c, 1,
                    j ? 1.0f : 0.0f, x, 1);
    }
}

void pq_decode(const pq_model *pq, const uint8_t *codes, size_t n, float *x) {
    size_t dim = pq->dim, dsub = pq->dsub, cs = pq_code_size(pq);
    float *tmp = NULL;
    size_t rows = 0;
    if (pq->rotation && n > 0) {
        km_blas_init();
        /* OpenBLAS packs R for every call: blocks of many rows. */
        rows = rot_block_rows(dim, n);
        tmp = hk_malloc(rows * dim * sizeof(float));
        if (tmp == NULL) {
            for (size_t i = 0; i < n; i++) unrotate_code(pq, codes + i * cs, x + i * dim);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *code = codes + i * cs;
        for (size_t j = 0; j < pq->m; j++) {
            size_t c = get_code(code, pq->bits, j);
            memcpy(x + i * dim + j * dsub, pq->centroids + (j * pq->ksub + c) * dsub, dsub * sizeof(float));
        }
    }
    if (tmp == NULL) return;
    for (size_t r0 = 0; r0 < n; r0 += rows) {
        size_t nr = min_sz(rows, n - r0);
        memcpy(tmp, x + r0 * dim, nr * dim * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nr, (int)dim, (int)dim, 1.0f, tmp, (int)dim,
                    pq->rotation, (int)dim, 0.0f, x + r0 * dim, (int)dim);
    }
    hk_free(tmp);
}

/* The table from the rotated query q R, PQ_STACK_FLOATS of its coordinates at a time
 * (any dimension, no heap): each sub-quantizer's entries add up the parts of its
 * sub-vector that fall in a chunk. */
static void lut_rotated(const pq_model *pq, const float *q, int ip, float *lut) {
    const vec_kernels *vk = vec_best();
    float qr[PQ_STACK_FLOATS];
    size_t dim = pq->dim, dsub = pq->dsub, ksub = pq->ksub;
    km_blas_init();
    memset(lut, 0, (size_t)pq->m * ksub * sizeof(float));
    for (size_t t0 = 0; t0 < dim; t0 += PQ_STACK_FLOATS) {
        size_t t1 = min_sz(t0 + PQ_STACK_FLOATS, dim);
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)dim, (int)(t1 - t0), 1.0f, pq->rotation + t0, (int)dim, q, 1,
                    0.0f, qr, 1);
        for (size_t j = t0 / dsub; j < pq->m && j * dsub < t1; j++) {
            size_t a = j * dsub > t0 ? j * dsub : t0, b = min_sz((j + 1) * dsub, t1);
            const float *qa = qr + (a - t0), *cj = pq->centroids + j * ksub * dsub + (a - j * dsub);
            float *row = lut + j * ksub;
            for (size_t c = 0; c < ksub; c++)
                row[c] += ip ? -vk->dot(qa, cj + c * dsub, b - a) : vk->l2sq(qa, cj + c * dsub, b - a);
        }
    }
}

void pq_lut(const pq_model *pq, const float *q, int ip, float *lut) {
    const vec_kernels *vk = vec_best();
    size_t dsub = pq->dsub, ksub = pq->ksub;
    if (pq->rotation) {
        lut_rotated(pq, q, ip, lut);
        return;
    }
    for (size_t j = 0; j < pq->m; j++) {
        const float *qj = q + j * dsub, *cj = pq->centroids + j * ksub * dsub;
        float *row = lut + j * ksub;
        if (ip)
            for (size_t c = 0; c < ksub; c++) row[c] = -vk->dot(qj, cj + c * dsub, dsub);
        else
            for (size_t c = 0; c < ksub; c++) row[c] = vk->l2sq(qj, cj + c * dsub, dsub);
    }
}

float pq_adc(const pq_model *pq, const float *lut, const uint8_t *code) {
    float s = 0;
    for (size_t j = 0; j < pq->m; j++) s += lut[j * pq->ksub + get_code(code, pq->bits, j)];
    return s;
}

/* Four codes in flight: four independent sums overlap in the pipeline. Each code's sum
 * runs in sub-quantizer order, so it equals pq_adc's bit for bit. The code width is a
 * constant in each instance, so no branch per lookup. */
static inline void adc_four(const float *lut, size_t m, size_t ksub, uint32_t bits, const uint8_t *c,
                            size_t cs, float *out) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t j = 0; j < m; j++) {
        const float *t = lut + j * ksub;
        s0 += t[get_code(c, bits, j)];
        s1 += t[get_code(c + cs, bits, j)];
        s2 += t[get_code(c + 2 * cs, bits, j)];
        s3 += t[get_code(c + 3 * cs, bits, j)];
    }
    out[0] = s0;
    out[1] = s1;
    out[2] = s2;
    out[3] = s3;
}

void pq_adc_many(const pq_model *pq, const float *lut, const uint8_t *codes, size_t n, float *out) {
    size_t m = pq->m, ksub = pq->ksub, cs = pq_code_size(pq), i = 0;
    for (; i + 4 <= n; i += 4) {
        if (pq->bits == 8)
            adc_four(lut, m, ksub, 8, codes + i * cs, cs, out + i);
        else
            adc_four(lut, m, ksub, 4, codes + i * cs, cs, out + i);
    }
    for (; i < n; i++) out[i] = pq_adc(pq, lut, codes + i * cs);
}

/* ---- 4-bit fast scan (layouts in pq.h) ---- */

#define PQ_FS_CHUNK 64 /* blocks per kernel call: 4 KB of uint16 sums on the stack */

static size_t fs_groups(const pq_model *pq) { return (pq->m + 3) / 4; }

size_t pq_fs_packed_size(const pq_model *pq, size_t n) {
    return div_up(n, PQ_FS_BLOCK) * fs_groups(pq) * 64;
}

size_t pq_fs_lut_size(const pq_model *pq) { return fs_groups(pq) * 128; }

void pq_fs_pack(const pq_model *pq, const uint8_t *codes, size_t n, uint8_t *packed) {
    size_t ng = fs_groups(pq), cs = pq_code_size(pq);
    memset(packed, 0, pq_fs_packed_size(pq, n));
    for (size_t i = 0; i < n; i++) {
        uint8_t *block = packed + (i / PQ_FS_BLOCK) * ng * 64;
        size_t v = i % PQ_FS_BLOCK;
        for (size_t j = 0; j < pq->m; j++) {
            /* Sub-quantizer j: group j/4, byte half (j/2)%2, nibble j%2. */
            uint8_t *b = block + (j / 4) * 64 + ((j / 2) % 2) * 32 + v;
            *b |= (uint8_t)(get_code(codes + i * cs, 4, j) << (4 * (j % 2)));
        }
    }
}

void pq_fs_set(const pq_model *pq, uint8_t *packed, size_t i, const uint8_t *code) {
    uint8_t *block = packed + (i / PQ_FS_BLOCK) * fs_groups(pq) * 64;
    size_t v = i % PQ_FS_BLOCK;
    for (size_t j = 0; j < pq->m; j++) {
        uint8_t *b = block + (j / 4) * 64 + ((j / 2) % 2) * 32 + v;
        unsigned sh = 4 * (j % 2);
        *b = (uint8_t)((*b & ~(0xF << sh)) | (get_code(code, 4, j) << sh));
    }
}

void pq_fs_quantize(const pq_model *pq, const float *lut, uint8_t *qlut, float *scale, float *bias) {
    size_t m = pq->m;
    unsigned qmax = m > 257 ? (unsigned)(65535 / m) : 255;
    double range = 0, b = 0;
    for (size_t j = 0; j < m; j++) {
        float lo = lut[j * 16], hi = lut[j * 16];
        for (size_t c = 1; c < 16; c++) {
            if (lut[j * 16 + c] < lo) lo = lut[j * 16 + c];
            if (lut[j * 16 + c] > hi) hi = lut[j * 16 + c];
        }
        if ((double)hi - lo > range) range = (double)hi - lo;
        b += lo;
    }
    double sc = range / qmax, inv = range > 0 ? qmax / range : 0;
    memset(qlut, 0, pq_fs_lut_size(pq));
    for (size_t j = 0; j < m; j++) {
        float lo = lut[j * 16];
        for (size_t c = 1; c < 16; c++)
            if (lut[j * 16 + c] < lo) lo = lut[j * 16 + c];
        /* Sub-quantizer j's table: group j/4, low (even j) or high (odd j) half, lanes
         * (j/2)%2 * 2 and the one after. */
        uint8_t *t = qlut + (j / 4) * 128 + (j % 2) * 64 + ((j / 2) % 2) * 32;
        for (size_t c = 0; c < 16; c++) {
            double q = floor(((double)lut[j * 16 + c] - lo) * inv + 0.5);
            uint8_t v = (uint8_t)(q > qmax ? qmax : q);
            t[c] = v;
            t[16 + c] = v;
        }
    }
    *scale = (float)sc;
    *bias = (float)b;
}

static void fs_scan_with(const qk_kernels *qk, const pq_model *pq, const uint8_t *qlut, float scale,
                         float bias, const uint8_t *packed, size_t n, float *out) {
    uint16_t acc[PQ_FS_CHUNK * PQ_FS_BLOCK];
    size_t ng = fs_groups(pq), nblocks = div_up(n, PQ_FS_BLOCK);
    for (size_t b0 = 0; b0 < nblocks; b0 += PQ_FS_CHUNK) {
        size_t nb = min_sz(PQ_FS_CHUNK, nblocks - b0);
        qk->fs_scan(qlut, ng, packed + b0 * ng * 64, nb, acc);
        size_t i0 = b0 * PQ_FS_BLOCK, cnt = min_sz(nb * PQ_FS_BLOCK, n - i0), i = 0;
        /* Whole blocks in a fixed-length loop the compiler vectorizes, then the tail. */
        for (; i + PQ_FS_BLOCK <= cnt; i += PQ_FS_BLOCK)
            for (size_t v = 0; v < PQ_FS_BLOCK; v++) out[i0 + i + v] = bias + scale * (float)acc[i + v];
        for (; i < cnt; i++) out[i0 + i] = bias + scale * (float)acc[i];
    }
}

void pq_fs_scan(const pq_model *pq, const uint8_t *qlut, float scale, float bias,
                const uint8_t *packed, size_t n, float *out) {
    fs_scan_with(qk_best(), pq, qlut, scale, bias, packed, n, out);
}

int pq_fs_scan_kernel(const char *kernel, const pq_model *pq, const uint8_t *qlut, float scale,
                      float bias, const uint8_t *packed, size_t n, float *out) {
    const qk_kernels *qk = qk_by_name(kernel);
    if (qk == NULL) return 0;
    fs_scan_with(qk, pq, qlut, scale, bias, packed, n, out);
    return 1;
}
