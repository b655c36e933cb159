/*
 * query.c — the read side of the public API: query objects, search (k-NN, range,
 * batch, filtered), get, scroll, count, and the result sets they return.
 *
 * A query object collects settings through setters so later index kinds (HNSW's ef,
 * text and fusion settings) extend it without changing hk_search. Results copy what
 * they return (ids, scores, and on request payload JSON, vectors, text) into an arena
 * owned by the result, so they stay valid after the collection changes.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "../index/flat.h"
#include "../vec/distance.h"
#include "collection.h"
#include "filter.h"
#include "json.h"

struct hk_query {
    float *vectors;
    size_t nq;
    uint32_t dim;
    uint32_t k;
    const hk_filter *filter;
    int has_radius;
    float radius;
    int exact;
    uint32_t ef;
    uint32_t with;
    uint32_t offset;
    uint32_t rerank;
    char *text;      /* text query (BM25), or NULL */
    size_t text_len;
    hk_text_match match; /* any or all of the text's terms */
    hk_fusion fusion; /* with a vector and a text: how their lists are fused */
    double fusion_param;
    uint32_t fusion_depth;
    uint64_t *examples; /* npos positive ids, then nneg negative ids */
    size_t npos, nneg;
};

hk_status hk_query_new(hk_query **out) {
    if (!out) return hk_fail(HK_INVALID, "query_new: out is NULL");
    hk_query *q = hk_calloc(1, sizeof *q);
    if (!q) return hk_fail(HK_NOMEM, "out of memory");
    q->k = 10;
    *out = q;
    return HK_OK;
}

void hk_query_free(hk_query *q) {
    if (!q) return;
    hk_free(q->examples);
    hk_free(q->vectors);
    hk_free(q->text);
    hk_free(q);
}

int hk_fusion_from_name(const char *name, hk_fusion *out) {
    if (!name || !out) return -1;
    if (!strcmp(name, "rrf")) {
        *out = HK_FUSION_RRF;
        return 0;
    }
    return -1;
}

hk_status hk_query_set_fusion(hk_query *q, hk_fusion method, double param, uint32_t depth) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if (method != HK_FUSION_RRF) return hk_fail(HK_INVALID, "query: unknown fusion method %d", (int)method);
    if (!(param >= 0 && param <= 1e9)) return hk_fail(HK_INVALID, "query: RRF k must be in [0, 1e9] (got %g)", param);
    q->fusion = method;
    q->fusion_param = param;
    q->fusion_depth = depth;
    return HK_OK;
}

hk_status hk_query_set_text_match(hk_query *q, hk_text_match m) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if (m != HK_TEXT_MATCH_ANY && m != HK_TEXT_MATCH_ALL)
        return hk_fail(HK_INVALID, "query: unknown text match mode %d", (int)m);
    q->match = m;
    return HK_OK;
}

hk_status hk_query_set_text(hk_query *q, const char *text, size_t len) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if (text && !len) len = strlen(text);
    if (text && (memchr(text, 0, len) || !hj_utf8_valid(text, len)))
        return hk_fail(HK_INVALID, "query: text is not valid UTF-8 (or holds a NUL byte)");
    char *copy = NULL;
    if (text && !(copy = hk_strndup(text, len))) return hk_fail(HK_NOMEM, "out of memory");
    hk_free(q->text);
    q->text = copy;
    q->text_len = text ? len : 0;
    return HK_OK;
}

hk_status hk_query_set_vectors(hk_query *q, const float *v, size_t nq, uint32_t dim) {
    if (!q || (!v && nq)) return hk_fail(HK_INVALID, "query: vectors are NULL");
    if (dim < 1 || dim > HK_MAX_DIM) return hk_fail(HK_INVALID, "query: dimension %u is out of range", dim);
    if (nq > SIZE_MAX / dim / sizeof(float)) return hk_fail(HK_INVALID, "query: too many vectors");
    for (size_t i = 0; i < nq; i++)
        if (!vec_all_finite(v + i * dim, dim))
            return hk_fail(HK_INVALID, "query vector %zu has a NaN or infinite component", i);
    float *copy = hk_malloc(nq * dim * sizeof(float));
    if (!copy) return hk_fail(HK_NOMEM, "out of memory");
    memcpy(copy, v, nq * dim * sizeof(float));
    hk_free(q->vectors);
    q->vectors = copy;
    q->nq = nq;
    q->dim = dim;
    return HK_OK;
}

hk_status hk_query_set_k(hk_query *q, uint32_t k) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->k = k;
    return HK_OK;
}

hk_status hk_query_set_filter(hk_query *q, const hk_filter *f) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->filter = f;
    return HK_OK;
}

hk_status hk_query_set_radius(hk_query *q, float r) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if (!isfinite(r)) return hk_fail(HK_INVALID, "query: radius must be a finite number");
    q->has_radius = 1;
    q->radius = r;
    return HK_OK;
}

hk_status hk_query_set_exact(hk_query *q, int exact) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->exact = exact != 0;
    return HK_OK;
}

hk_status hk_query_set_ef(hk_query *q, uint32_t ef) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->ef = ef;
    return HK_OK;
}

hk_status hk_query_set_rerank(hk_query *q, uint32_t depth) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->rerank = depth;
    return HK_OK;
}

hk_status hk_query_set_with(hk_query *q, uint32_t with) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if (with & ~(uint32_t)(HK_WITH_PAYLOAD | HK_WITH_VECTOR | HK_WITH_TEXT))
        return hk_fail(HK_INVALID, "query: unknown HK_WITH_* flags 0x%x", with);
    q->with = with;
    return HK_OK;
}

hk_status hk_query_set_offset(hk_query *q, uint32_t offset) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    q->offset = offset;
    return HK_OK;
}

hk_status hk_query_set_examples(hk_query *q, const uint64_t *positive, size_t npos,
                                const uint64_t *negative, size_t nneg) {
    if (!q) return hk_fail(HK_INVALID, "query is NULL");
    if ((npos && !positive) || (nneg && !negative))
        return hk_fail(HK_INVALID, "query: example ids are NULL");
    if (!npos && nneg) return hk_fail(HK_INVALID, "query: a recommendation needs at least one "
                                      "positive example");
    if (npos > SIZE_MAX / 16 || nneg > SIZE_MAX / 16)
        return hk_fail(HK_INVALID, "query: too many examples");
    uint64_t *ex = NULL;
    if (npos + nneg) {
        if (!(ex = hk_malloc((npos + nneg) * sizeof *ex))) return hk_fail(HK_NOMEM, "out of memory");
        memcpy(ex, positive, npos * sizeof *ex);
        if (nneg) memcpy(ex + npos, negative, nneg * sizeof *ex);
    }
    hk_free(q->examples);
    q->examples = ex;
    q->npos = npos;
    q->nneg = nneg;
    return HK_OK;
}

/* ---- results ---- */

typedef struct hk_rec {
    uint64_t id;
    float score;
    const float *vector;
    const char *payload;
    const char *text;
} hk_rec;

struct hk_result {
    hk_arena arena;
    size_t nq;
    hk_rec **recs;
    size_t *counts;
    int has_next;
    uint64_t next;
};

static hk_result *result_new(size_t nq) {
    hk_result *r = hk_calloc(1, sizeof *r);
    if (!r) return NULL;
    hk_arena_init(&r->arena);
    r->nq = nq;
    r->recs = hk_arena_alloc(&r->arena, (nq ? nq : 1) * sizeof *r->recs);
    r->counts = hk_arena_alloc(&r->arena, (nq ? nq : 1) * sizeof *r->counts);
    if (!r->recs || !r->counts) {
        hk_result_free(r);
        return NULL;
    }
    memset(r->recs, 0, (nq ? nq : 1) * sizeof *r->recs);
    memset(r->counts, 0, (nq ? nq : 1) * sizeof *r->counts);
    return r;
}

void hk_result_free(hk_result *r) {
    if (!r) return;
    hk_arena_reset(&r->arena);
    hk_free(r);
}

size_t hk_result_queries(const hk_result *r) { return r ? r->nq : 0; }

size_t hk_result_count(const hk_result *r, size_t q) {
    return r && q < r->nq ? r->counts[q] : 0;
}

static const hk_rec *rec_at(const hk_result *r, size_t q, size_t i) {
    if (!r || q >= r->nq || i >= r->counts[q]) return NULL;
    return &r->recs[q][i];
}

uint64_t hk_result_id(const hk_result *r, size_t q, size_t i) {
    const hk_rec *x = rec_at(r, q, i);
    return x ? x->id : 0;
}

float hk_result_score(const hk_result *r, size_t q, size_t i) {
    const hk_rec *x = rec_at(r, q, i);
    return x ? x->score : NAN;
}

const float *hk_result_vector(const hk_result *r, size_t q, size_t i) {
    const hk_rec *x = rec_at(r, q, i);
    return x ? x->vector : NULL;
}

const char *hk_result_payload(const hk_result *r, size_t q, size_t i) {
    const hk_rec *x = rec_at(r, q, i);
    return x ? x->payload : NULL;
}

const char *hk_result_text(const hk_result *r, size_t q, size_t i) {
    const hk_rec *x = rec_at(r, q, i);
    return x ? x->text : NULL;
}

int hk_result_next_offset(const hk_result *r, uint64_t *next) {
    if (!r || !r->has_next) return 0;
    if (next) *next = r->next;
    return 1;
}

/* Fills one record for a slot (called under the collection's read lock). */
static hk_status fill_rec(hk_result *r, hk_collection *c, uint32_t slot, uint32_t with,
                          hk_rec *out, hk_buf *scratch) {
    out->id = c->ids[slot];
    if ((with & HK_WITH_VECTOR) && c->cfg.dim) {
        size_t bytes = (size_t)c->cfg.dim * sizeof(float);
        float *v = hk_arena_alloc(&r->arena, bytes);
        if (!v) return hk_fail(HK_NOMEM, "out of memory");
        memcpy(v, c->vectors + (size_t)slot * c->cfg.dim, bytes);
        out->vector = v;
    }
    if (with & HK_WITH_PAYLOAD) {
        hk_buf_reset(scratch);
        const uint8_t *pl = coll_payload(c, slot);
        hk_status st = hkb_to_json(scratch, pl, hkb_size(pl));
        if (st) return st;
        if (!(out->payload = hk_arena_strndup(&r->arena, (const char *)scratch->data, scratch->len)))
            return hk_fail(HK_NOMEM, "out of memory");
    }
    if ((with & HK_WITH_TEXT) && c->texts[slot]) {
        if (!(out->text = hk_arena_strndup(&r->arena, c->texts[slot], c->text_lens[slot])))
            return hk_fail(HK_NOMEM, "out of memory");
    }
    return HK_OK;
}

static float user_score(hk_metric m, float dist) {
    if (m == HK_METRIC_L2) return sqrtf(dist > 0 ? dist : 0);
    return -dist;
}

/* ---- codes: approximate candidates, exact re-ranking ---- */

static int hit_cmp(const void *a, const void *b) {
    flat_hit x = *(const flat_hit *)a, y = *(const flat_hit *)b;
    if (x.dist != y.dist) return x.dist < y.dist ? -1 : 1;
    return (x.slot > y.slot) - (x.slot < y.slot);
}

/* Replaces each candidate's approximate distance by the exact one and keeps the want best. */
static void rerank_hits(const flat_matrix *m, const float *qv, size_t nq, size_t want,
                        flat_hit **hits, size_t *counts) {
    const vec_kernels *k = vec_best();
    size_t dim = m->dim;
    for (size_t q = 0; q < nq; q++) {
        const float *qq = qv + q * dim;
        for (size_t i = 0; i < counts[q]; i++) {
            const float *row = m->rows + (size_t)hits[q][i].slot * dim;
            hits[q][i].dist = m->metric == HK_METRIC_L2 ? k->l2sq(qq, row, dim) : -k->dot(qq, row, dim);
        }
        qsort(hits[q], counts[q], sizeof(flat_hit), hit_cmp);
        if (counts[q] > want) counts[q] = want;
    }
}

/* ---- search through the graph ---- */

typedef struct gq_job {
    hk_collection *c;
    const flat_matrix *m;
    const float *qv;
    size_t want, ef;
    const roaring_bitmap_t *walk;  /* what the walk may return (NULL: every node) */
    const roaring_bitmap_t *extra; /* pending slots to scan exactly, or NULL */
    const vec_codes *codes;        /* walk on codes, re-rank depth candidates, or NULL */
    size_t depth;
    int has_radius;
    float rdist;
    flat_hit **hits;
    size_t *counts;
    atomic_int failed;
    hk_status st;
    char msg[512];
} gq_job;

/* Merges b into a (both sorted), keeping at most keep (0: all). Takes ownership of both. */
static hk_status merge_hits(flat_hit **a, size_t *na, flat_hit *b, size_t nb, size_t keep) {
    size_t n = *na + nb;
    if (keep && n > keep) n = keep;
    flat_hit *out = hk_malloc((n ? n : 1) * sizeof *out);
    if (!out) {
        hk_free(b);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    size_t i = 0, j = 0;
    for (size_t o = 0; o < n; o++) {
        int take_a = j >= nb || (i < *na && ((*a)[i].dist < b[j].dist ||
                                             ((*a)[i].dist == b[j].dist && (*a)[i].slot < b[j].slot)));
        out[o] = take_a ? (*a)[i++] : b[j++];
    }
    hk_free(*a);
    hk_free(b);
    *a = out;
    *na = n;
    return HK_OK;
}

/* One query: a graph walk (for a range, ef doubles while every candidate is in range),
 * then the pending slots exactly. */
static hk_status graph_one(gq_job *j, size_t qi) {
    hk_collection *c = j->c;
    size_t dim = j->m->dim;
    const float *q = j->qv + qi * dim;
    size_t nodes = hnsw_count(c->graph);
    size_t k = j->want, ef = j->ef;
    if (j->has_radius) k = ef > k ? ef : k;
    if (ef < k) ef = k;
    flat_hit *hits = NULL;
    size_t n = 0;
    hk_status st = HK_OK;
    if (j->codes && !j->has_radius) {
        /* walk on the codes for depth candidates, then re-rank them with the vectors */
        size_t depth = j->depth;
        float *buf = hk_malloc((j->codes->qfloats ? j->codes->qfloats : 1) * sizeof(float));
        if (!buf || !(hits = hk_malloc((depth ? depth : 1) * sizeof *hits))) {
            hk_free(buf);
            return hk_fail(HK_NOMEM, "out of memory");
        }
        flat_matrix mq = *j->m;
        mq.codes = j->codes;
        mq.qbuf = buf;
        j->codes->prepare(j->codes->ctx, q, buf, &mq.qbias);
        st = hnsw_search(c->graph, &mq, q, depth, ef > depth ? ef : depth, j->walk, hits, &n);
        hk_free(buf);
        if (st) {
            hk_free(hits);
            return st;
        }
        size_t cnt = n;
        rerank_hits(j->m, q, 1, j->want, &hits, &cnt);
        n = cnt;
        goto pending;
    }
    for (;;) {
        if (j->has_radius && k >= nodes / 4) {
            /* A range that covers much of the collection: a scan is cheaper and exact. */
            hk_free(hits);
            hits = NULL;
            st = flat_search(j->m, q, 1, j->want, j->walk, 1, j->rdist, &hits, &n);
            if (st) return st;
            break; /* pending slots (outside walk) are added below */
        }
        flat_hit *nh = hk_realloc(hits, (k ? k : 1) * sizeof *nh);
        if (!nh) {
            hk_free(hits);
            return hk_fail(HK_NOMEM, "out of memory");
        }
        hits = nh;
        if ((st = hnsw_search(c->graph, j->m, q, k, ef, j->walk, hits, &n))) {
            hk_free(hits);
            return st;
        }
        if (!j->has_radius) break;
        size_t in = 0;
        while (in < n && hits[in].dist <= j->rdist) in++;
        int more = in == n && n == k && n < nodes && (!j->want || in < j->want);
        if (!more) {
            n = j->want && in > j->want ? j->want : in;
            break;
        }
        k *= 2;
        ef = k;
    }
pending:
    if (j->extra) {
        flat_hit **ph = hk_calloc(1, sizeof *ph);
        size_t pn = 0;
        if (!ph) st = hk_fail(HK_NOMEM, "out of memory");
        if (!st) st = flat_search(j->m, q, 1, j->want, j->extra, j->has_radius, j->rdist, ph, &pn);
        if (!st) st = merge_hits(&hits, &n, ph[0], pn, j->want);
        hk_free(ph);
        if (st) {
            hk_free(hits);
            return st;
        }
    }
    j->hits[qi] = hits;
    j->counts[qi] = n;
    return HK_OK;
}

static void graph_task(void *arg, size_t qi, unsigned worker) {
    (void)worker;
    gq_job *j = arg;
    if (atomic_load(&j->failed)) return;
    hk_status st = graph_one(j, qi);
    if (st && !atomic_exchange(&j->failed, 1)) {
        j->st = st;
        snprintf(j->msg, sizeof j->msg, "%s", hk_errmsg());
    }
}

/* Called under the read lock. */
static hk_status graph_search(hk_collection *c, const flat_matrix *m, const float *qv,
                              size_t nq, size_t want, size_t ef, const roaring_bitmap_t *allow,
                              int has_radius, float rdist, const vec_codes *codes, size_t depth,
                              flat_hit **hits, size_t *counts) {
    roaring_bitmap_t *walk = NULL, *extra = NULL;
    if (c->graph_stale && roaring_bitmap_is_empty(c->pending)) {
        /* A failed unlink left dead slots in the graph: admit live ones only. */
        if (!(walk = roaring_bitmap_copy(allow ? allow : c->live_bm)))
            return hk_fail(HK_NOMEM, "out of memory");
    } else if (!roaring_bitmap_is_empty(c->pending)) {
        /* A write is linking new points: they are searched exactly, the rest by graph. */
        walk = roaring_bitmap_andnot(allow ? allow : c->live_bm, c->pending);
        extra = allow ? roaring_bitmap_and(allow, c->pending) : roaring_bitmap_copy(c->pending);
        if (!walk || !extra) {
            if (walk) roaring_bitmap_free(walk);
            if (extra) roaring_bitmap_free(extra);
            return hk_fail(HK_NOMEM, "out of memory");
        }
    }
    gq_job j = {.c = c, .m = m, .qv = qv, .want = want, .ef = ef,
                .walk = walk ? walk : allow, .extra = extra, .has_radius = has_radius,
                .codes = codes, .depth = depth,
                .rdist = rdist, .hits = hits, .counts = counts};
    atomic_init(&j.failed, 0);
    hk_status st = HK_OK;
    if (nq == 1) st = graph_one(&j, 0);
    else {
        hk_pool_run(nq, graph_task, &j);
        if (atomic_load(&j.failed)) st = hk_fail(j.st, "%s", j.msg);
    }
    if (walk) roaring_bitmap_free(walk);
    if (extra) roaring_bitmap_free(extra);
    return st;
}

/* ---- search ---- */

/* BM25 search: one result list, scores are BM25 scores (higher is better). */
static hk_status text_search(hk_collection *c, const hk_query *q, hk_result **out) {
    if (q->has_radius)
        return hk_fail(HK_INVALID, "search: a radius applies to vector search, not to text search");
    if (q->k == 0) return hk_fail(HK_INVALID, "search: k must be at least 1");
    bm25_doc d;
    hk_status st = coll_text_analyze(c, q->text, q->text_len, &d);
    if (st) return hk_fail_prefix(st, "search: query text");
    hk_result *r = result_new(1);
    if (!r) {
        bm25_doc_free(&d);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    if ((st = coll_read_begin(c))) {
        bm25_doc_free(&d);
        hk_result_free(r);
        return st;
    }
    roaring_bitmap_t *allow = NULL;
    bm25_hit *hits = NULL;
    size_t n = 0;
    if (q->filter && !(allow = coll_filter_slots(c, q->filter)))
        st = hk_fail(HK_NOMEM, "out of memory evaluating the filter");
    if (!st) st = coll_text_search(c, &d, (size_t)q->k + q->offset, q->match == HK_TEXT_MATCH_ALL,
                                   allow, &hits, &n);
    if (allow) roaring_bitmap_free(allow);
    size_t skip = q->offset < n ? q->offset : n, m = n - skip;
    if (!st && !(r->recs[0] = hk_arena_alloc(&r->arena, (m ? m : 1) * sizeof(hk_rec))))
        st = hk_fail(HK_NOMEM, "out of memory");
    hk_buf scratch;
    hk_buf_init(&scratch);
    if (!st) memset(r->recs[0], 0, (m ? m : 1) * sizeof(hk_rec));
    for (size_t j = 0; j < m && !st; j++) {
        st = fill_rec(r, c, hits[skip + j].slot, q->with, &r->recs[0][j], &scratch);
        r->recs[0][j].score = hits[skip + j].score;
    }
    if (!st) r->counts[0] = m;
    hk_buf_free(&scratch);
    coll_read_end(c);
    hk_free(hits);
    bm25_doc_free(&d);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

typedef struct fused {
    uint64_t id;
    double score;
} fused;

static int cmp_fused_id(const void *a, const void *b) {
    uint64_t x = ((const fused *)a)->id, y = ((const fused *)b)->id;
    return (x > y) - (x < y);
}

static int cmp_fused_score(const void *a, const void *b) {
    const fused *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Hybrid search: the vector search and the text search each return `depth` results
 * (same filter), and reciprocal rank fusion (Cormack et al. 2009) scores every point
 * found by sum over the lists of 1 / (rrf_k + rank), rank counted from 1. Ties go to the
 * lower id. The points are looked up again for the records, so a point deleted between
 * the searches and the lookup is left out. */
static hk_status hybrid_search(hk_collection *c, const hk_query *q, hk_result **out) {
    if (q->nq != 1)
        return hk_fail(HK_INVALID, "search: hybrid search takes one query vector (got %zu)", q->nq);
    if (q->has_radius) return hk_fail(HK_INVALID, "search: a radius does not apply to hybrid search");
    if (q->k == 0) return hk_fail(HK_INVALID, "search: k must be at least 1");
    size_t want = (size_t)q->k + q->offset;
    size_t depth = q->fusion_depth ? q->fusion_depth : (want > 100 ? want : 100);
    if (depth > UINT32_MAX) depth = UINT32_MAX;
    double rrf_k = q->fusion_param > 0 ? q->fusion_param : 60;
    hk_query sub = *q;
    sub.text = NULL;
    sub.text_len = 0;
    sub.k = (uint32_t)depth;
    sub.offset = 0;
    sub.with = 0;
    hk_result *lists[2] = {NULL, NULL};
    hk_status st = hk_search(c, &sub, &lists[0]);
    if (st) return hk_fail_prefix(st, "hybrid search, vector part");
    sub = *q;
    sub.vectors = NULL;
    sub.nq = 0;
    sub.k = (uint32_t)depth;
    sub.offset = 0;
    sub.with = 0;
    if ((st = hk_search(c, &sub, &lists[1]))) {
        hk_result_free(lists[0]);
        return hk_fail_prefix(st, "hybrid search, text part");
    }
    size_t n0 = hk_result_count(lists[0], 0), n1 = hk_result_count(lists[1], 0), n = 0;
    fused *f = hk_malloc((n0 + n1 + 1) * sizeof *f);
    hk_result *r = result_new(1);
    if (!f || !r) st = hk_fail(HK_NOMEM, "out of memory");
    for (size_t l = 0; l < 2 && !st; l++)
        for (size_t i = 0; i < hk_result_count(lists[l], 0); i++)
            f[n++] = (fused){hk_result_id(lists[l], 0, i), 1.0 / (rrf_k + (double)(i + 1))};
    hk_result_free(lists[0]);
    hk_result_free(lists[1]);
    if (!st) {
        /* Sum the entries of each id (it appears at most once per list). */
        qsort(f, n, sizeof *f, cmp_fused_id);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (m && f[m - 1].id == f[i].id) f[m - 1].score += f[i].score;
            else f[m++] = f[i];
        }
        n = m;
        qsort(f, n, sizeof *f, cmp_fused_score);
    }
    int locked = !st && !(st = coll_read_begin(c));
    size_t take = n < want ? n : want, skip = q->offset < take ? q->offset : take;
    if (!st && !(r->recs[0] = hk_arena_alloc(&r->arena, (take - skip + 1) * sizeof(hk_rec))))
        st = hk_fail(HK_NOMEM, "out of memory");
    hk_buf scratch;
    hk_buf_init(&scratch);
    size_t m = 0;
    for (size_t i = skip; i < take && !st; i++) {
        uint32_t slot;
        if (!u64map_get(&c->map, f[i].id, &slot)) continue;
        memset(&r->recs[0][m], 0, sizeof(hk_rec));
        st = fill_rec(r, c, slot, q->with, &r->recs[0][m], &scratch);
        r->recs[0][m++].score = (float)f[i].score;
    }
    if (!st) r->counts[0] = m;
    hk_buf_free(&scratch);
    if (locked) coll_read_end(c);
    hk_free(f);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

/* Several searches fused into one list (Qdrant's prefetch + fusion): each query runs as
 * given (its own k, filter, text or vector) and the lists are fused by reciprocal rank,
 * sum over the lists of 1 / (param + rank), as in hybrid_search. */
hk_status hk_search_fused(hk_collection *c, const hk_query *const *queries, size_t n,
                          hk_fusion method, double param, uint32_t k, uint32_t offset,
                          uint32_t with, hk_result **out) {
    if (!c || !out || (n && !queries)) return hk_fail(HK_INVALID, "search_fused: NULL argument");
    *out = NULL;
    if (n == 0) return hk_fail(HK_INVALID, "search_fused: no queries to fuse");
    if (method != HK_FUSION_RRF)
        return hk_fail(HK_INVALID, "search_fused: fusion method %d is not supported (rrf is)",
                       (int)method);
    if (!(param >= 0 && param <= 1e9))
        return hk_fail(HK_INVALID, "search_fused: RRF k must be in [0, 1e9] (got %g)", param);
    if (k == 0) return hk_fail(HK_INVALID, "search_fused: k must be at least 1");
    double rrf_k = param > 0 ? param : 60;
    size_t total = 0, nf = 0;
    hk_result **lists = hk_calloc(n, sizeof *lists);
    if (!lists) return hk_fail(HK_NOMEM, "out of memory");
    hk_status st = HK_OK;
    for (size_t i = 0; i < n && !st; i++) {
        if (!queries[i]) {
            st = hk_fail(HK_INVALID, "search_fused: query %zu is NULL", i);
            break;
        }
        hk_query sub = *queries[i];
        sub.with = 0;
        if (sub.nq > 1) st = hk_fail(HK_INVALID, "search_fused: query %zu has %zu vectors; each "
                                     "fused query takes one", i, sub.nq);
        if (!st && (st = hk_search(c, &sub, &lists[i]))) hk_fail_prefix(st, "search_fused: query %zu", i);
        if (!st) total += hk_result_count(lists[i], 0);
    }
    fused *f = st ? NULL : hk_malloc((total + 1) * sizeof *f);
    hk_result *r = st ? NULL : result_new(1);
    if (!st && (!f || !r)) st = hk_fail(HK_NOMEM, "out of memory");
    for (size_t l = 0; l < n && !st; l++)
        for (size_t i = 0; i < hk_result_count(lists[l], 0); i++)
            f[nf++] = (fused){hk_result_id(lists[l], 0, i), 1.0 / (rrf_k + (double)(i + 1))};
    for (size_t l = 0; l < n; l++) hk_result_free(lists[l]);
    hk_free(lists);
    if (!st) {
        qsort(f, nf, sizeof *f, cmp_fused_id);
        size_t m = 0;
        for (size_t i = 0; i < nf; i++) {
            if (m && f[m - 1].id == f[i].id) f[m - 1].score += f[i].score;
            else f[m++] = f[i];
        }
        nf = m;
        qsort(f, nf, sizeof *f, cmp_fused_score);
    }
    int locked = !st && !(st = coll_read_begin(c));
    size_t want = (size_t)k + offset, take = nf < want ? nf : want;
    size_t skip = offset < take ? offset : take;
    if (!st && !(r->recs[0] = hk_arena_alloc(&r->arena, (take - skip + 1) * sizeof(hk_rec))))
        st = hk_fail(HK_NOMEM, "out of memory");
    hk_buf scratch;
    hk_buf_init(&scratch);
    size_t m = 0;
    for (size_t i = skip; i < take && !st; i++) {
        uint32_t slot;
        if (!u64map_get(&c->map, f[i].id, &slot)) continue;
        memset(&r->recs[0][m], 0, sizeof(hk_rec));
        st = fill_rec(r, c, slot, with, &r->recs[0][m], &scratch);
        r->recs[0][m++].score = (float)f[i].score;
    }
    if (!st) r->counts[0] = m;
    hk_buf_free(&scratch);
    if (locked) coll_read_end(c);
    hk_free(f);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

/* The recommendation's query vector (Qdrant's average_vector strategy) from the stored
 * vectors of the examples: avg(positive) + (avg(positive) - avg(negative)), or
 * avg(positive) without negatives. Cosine collections store normalized vectors, so the
 * average is of directions, as in Qdrant. */
static hk_status example_vector(hk_collection *c, const hk_query *q, float **out) {
    size_t dim = c->cfg.dim;
    double *acc = hk_calloc(2 * dim, sizeof *acc);
    float *v = hk_malloc(dim * sizeof *v);
    hk_status st = (!acc || !v) ? hk_fail(HK_NOMEM, "out of memory") : coll_read_begin(c);
    if (!st) {
        for (size_t i = 0; i < q->npos + q->nneg && !st; i++) {
            uint32_t slot;
            if (!u64map_get(&c->map, q->examples[i], &slot)) {
                st = hk_fail(HK_NOT_FOUND, "no point with id %llu (a %s example) in collection '%s'",
                             (unsigned long long)q->examples[i], i < q->npos ? "positive" : "negative",
                             c->name);
                break;
            }
            const float *row = c->vectors + (size_t)slot * dim;
            double *a = acc + (i < q->npos ? 0 : dim);
            for (size_t d = 0; d < dim; d++) a[d] += row[d];
        }
        coll_read_end(c);
    }
    if (!st) {
        for (size_t d = 0; d < dim; d++) {
            double p = acc[d] / (double)q->npos;
            v[d] = (float)(q->nneg ? 2 * p - acc[dim + d] / (double)q->nneg : p);
        }
        if (!vec_all_finite(v, dim))
            st = hk_fail(HK_INVALID, "the examples' average vector is not finite");
    }
    hk_free(acc);
    if (st) {
        hk_free(v);
        return st;
    }
    *out = v;
    return HK_OK;
}

hk_status hk_search(hk_collection *c, const hk_query *q, hk_result **out) {
    if (!out) return hk_fail(HK_INVALID, "search: out is NULL");
    *out = NULL;
    if (!q) return hk_fail(HK_INVALID, "search: query is NULL");
    if (!c) return hk_fail(HK_INVALID, "collection handle is NULL");
    if (q->text && q->npos)
        return hk_fail(HK_INVALID, "search: a recommendation by examples cannot also carry a text");
    if (q->text && q->nq) return hybrid_search(c, q, out);
    if (q->text) return text_search(c, q, out);
    if (!q->nq && !q->npos)
        return hk_fail(HK_INVALID, "search: the query has neither a vector nor a text");
    if (!c->cfg.dim)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: search it with a text "
                       "(hk_query_set_text)", c->name);
    if (!q->npos && q->dim != c->cfg.dim)
        return hk_fail(HK_DIMENSION, "query vector has dimension %u but collection '%s' has "
                       "dimension %u", q->dim, c->name, c->cfg.dim);
    if (!q->has_radius && q->k == 0) return hk_fail(HK_INVALID, "search: k must be at least 1");
    if (q->has_radius && c->cfg.metric == HK_METRIC_L2 && q->radius < 0)
        return hk_fail(HK_INVALID, "search: an l2 radius must not be negative (got %g)", (double)q->radius);
    size_t dim = c->cfg.dim, nq = q->npos ? 1 : q->nq;
    float *qv = q->vectors;
    float *example = NULL;
    if (q->npos) {
        hk_status est = example_vector(c, q, &example);
        if (est) return est;
        qv = example;
    }
    if (c->cfg.metric != HK_METRIC_COSINE)
        for (size_t i = 0; i < nq; i++)
            if (!vec_magnitude_ok(qv + i * dim, dim)) {
                hk_free(example);
                return hk_fail(HK_INVALID, "query vector %zu is too large: its squared norm exceeds "
                               "%g, beyond which distances overflow float32", i, (double)VEC_MAX_NORM_SQ);
            }
    float *normed = NULL;
    if (c->cfg.metric == HK_METRIC_COSINE) {
        normed = hk_malloc(nq * dim * sizeof(float));
        if (!normed) {
            hk_free(example);
            return hk_fail(HK_NOMEM, "out of memory");
        }
        memcpy(normed, qv, nq * dim * sizeof(float));
        for (size_t i = 0; i < nq; i++)
            if (vec_normalize(normed + i * dim, dim) == 0) {
                hk_free(normed);
                hk_free(example);
                return hk_fail(HK_INVALID, q->npos ? "the examples' average vector is a zero "
                               "vector: its cosine similarity is undefined" : "query vector %zu "
                               "is a zero vector: its cosine similarity is undefined", i);
            }
        qv = normed;
    }
    size_t want = q->k ? (size_t)q->k + q->offset : 0;
    float rdist = 0;
    if (q->has_radius) rdist = c->cfg.metric == HK_METRIC_L2 ? q->radius * q->radius : -q->radius;

    flat_hit **hits = hk_calloc(nq, sizeof *hits);
    size_t *counts = hk_calloc(nq, sizeof *counts);
    hk_result *r = result_new(nq);
    hk_status st = (!hits || !counts || !r) ? hk_fail(HK_NOMEM, "out of memory") : HK_OK;
    if (st) {
        hk_free(normed);
        hk_free(example);
        hk_free(hits);
        hk_free(counts);
        hk_result_free(r);
        return st;
    }
    if ((st = coll_read_begin(c))) goto done;
    roaring_bitmap_t *allow = NULL;
    if (q->filter && !(allow = coll_filter_slots(c, q->filter))) {
        st = hk_fail(HK_NOMEM, "out of memory evaluating the filter");
    } else if (q->npos && !allow && !(allow = roaring_bitmap_copy(c->live_bm))) {
        st = hk_fail(HK_NOMEM, "out of memory");
    } else {
        /* The examples are never recommended. */
        for (size_t i = 0; i < q->npos + q->nneg; i++) {
            uint32_t slot;
            if (u64map_get(&c->map, q->examples[i], &slot)) roaring_bitmap_remove(allow, slot);
        }
        flat_matrix m = {.rows = c->vectors, .norms_sq = c->norms, .live = c->live, .nslots = c->nslots,
                         .dim = dim, .metric = c->cfg.metric};
        vec_codes vc;
        if (c->cb) vc = coll_codes_view(c);
        if (c->cb && !q->exact && !q->has_radius && !c->graph) {
            /* Range queries need exact distances at the boundary: they scan the vectors. */
            size_t depth = coll_rerank_depth(c, q->rerank, want);
            st = codes_search(&m, &vc, qv, nq, depth, allow, hits, counts);
            if (!st) rerank_hits(&m, qv, nq, want, hits, counts);
        } else if (c->graph && !q->exact) {
            size_t ef = q->ef ? q->ef : c->cfg.hnsw_ef_search;
            size_t depth = c->cb ? coll_rerank_depth(c, q->rerank, want) : 0;
            st = graph_search(c, &m, qv, nq, want, ef, allow, q->has_radius, rdist,
                              c->cb ? &vc : NULL, depth, hits, counts);
        } else {
            st = flat_search(&m, qv, nq, want, allow, q->has_radius, rdist, hits, counts);
        }
    }
    if (allow) roaring_bitmap_free(allow);
    hk_buf scratch;
    hk_buf_init(&scratch);
    for (size_t i = 0; i < nq && !st; i++) {
        size_t skip = q->offset < counts[i] ? q->offset : counts[i];
        size_t n = counts[i] - skip;
        r->recs[i] = hk_arena_alloc(&r->arena, (n ? n : 1) * sizeof(hk_rec));
        if (!r->recs[i]) {
            st = hk_fail(HK_NOMEM, "out of memory");
            break;
        }
        memset(r->recs[i], 0, (n ? n : 1) * sizeof(hk_rec));
        for (size_t j = 0; j < n && !st; j++) {
            const flat_hit *h = &hits[i][skip + j];
            st = fill_rec(r, c, h->slot, q->with, &r->recs[i][j], &scratch);
            r->recs[i][j].score = user_score(c->cfg.metric, h->dist);
        }
        r->counts[i] = n;
    }
    hk_buf_free(&scratch);
    coll_read_end(c);
done:
    for (size_t i = 0; i < nq; i++) hk_free(hits[i]);
    hk_free(hits);
    hk_free(counts);
    hk_free(normed);
    hk_free(example);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

/* ---- get / scroll / count ---- */

hk_status hk_get(hk_collection *c, const uint64_t *ids, size_t n, uint32_t with, hk_result **out) {
    if (!out) return hk_fail(HK_INVALID, "get: out is NULL");
    *out = NULL;
    if (n && !ids) return hk_fail(HK_INVALID, "get: ids is NULL");
    hk_result *r = result_new(1);
    if (!r) return hk_fail(HK_NOMEM, "out of memory");
    hk_status st = coll_read_begin(c);
    if (st) {
        hk_result_free(r);
        return st;
    }
    r->recs[0] = hk_arena_alloc(&r->arena, (n ? n : 1) * sizeof(hk_rec));
    if (!r->recs[0]) st = hk_fail(HK_NOMEM, "out of memory");
    hk_buf scratch;
    hk_buf_init(&scratch);
    size_t m = 0;
    for (size_t i = 0; i < n && !st; i++) {
        uint32_t slot;
        if (!u64map_get(&c->map, ids[i], &slot)) continue;
        memset(&r->recs[0][m], 0, sizeof(hk_rec));
        st = fill_rec(r, c, slot, with, &r->recs[0][m], &scratch);
        m++;
    }
    r->counts[0] = m;
    hk_buf_free(&scratch);
    coll_read_end(c);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

hk_status hk_scroll(hk_collection *c, const hk_scroll_params *p, hk_result **out) {
    if (!out || !p) return hk_fail(HK_INVALID, "scroll: params or out is NULL");
    *out = NULL;
    uint32_t limit = p->limit ? p->limit : 10;
    hk_result *r = result_new(1);
    if (!r) return hk_fail(HK_NOMEM, "out of memory");
    hk_status st = coll_read_begin(c);
    if (st) {
        hk_result_free(r);
        return st;
    }
    roaring_bitmap_t *allow = NULL;
    size_t nsorted = 0;
    const uint64_t *sorted = coll_sorted_ids(c, &nsorted);
    if (!sorted) st = hk_fail(HK_NOMEM, "out of memory sorting ids");
    if (!st && p->filter && !(allow = coll_filter_slots(c, p->filter)))
        st = hk_fail(HK_NOMEM, "out of memory evaluating the filter");
    size_t lo = 0;
    if (!st && p->has_offset) {
        size_t hi = nsorted;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sorted[mid] < p->offset) lo = mid + 1;
            else hi = mid;
        }
    }
    if (!st) {
        size_t cap = limit < nsorted ? limit : nsorted;
        if (!(r->recs[0] = hk_arena_alloc(&r->arena, (cap ? cap : 1) * sizeof(hk_rec))))
            st = hk_fail(HK_NOMEM, "out of memory");
    }
    hk_buf scratch;
    hk_buf_init(&scratch);
    size_t m = 0;
    for (size_t i = lo; i < nsorted && !st; i++) {
        uint32_t slot;
        u64map_get(&c->map, sorted[i], &slot);
        if (allow && !roaring_bitmap_contains(allow, slot)) continue;
        if (m == limit) {
            r->has_next = 1;
            r->next = sorted[i];
            break;
        }
        memset(&r->recs[0][m], 0, sizeof(hk_rec));
        st = fill_rec(r, c, slot, p->with, &r->recs[0][m], &scratch);
        m++;
    }
    r->counts[0] = m;
    hk_buf_free(&scratch);
    if (allow) roaring_bitmap_free(allow);
    coll_read_end(c);
    if (st) {
        hk_result_free(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

hk_status hk_count(hk_collection *c, const hk_filter *f, uint64_t *out) {
    if (!out) return hk_fail(HK_INVALID, "count: out is NULL");
    hk_status st = coll_read_begin(c);
    if (st) return st;
    if (!f) {
        *out = c->count;
    } else {
        roaring_bitmap_t *bm = coll_filter_slots(c, f);
        if (!bm) st = hk_fail(HK_NOMEM, "out of memory evaluating the filter");
        else {
            *out = roaring_bitmap_get_cardinality(bm);
            roaring_bitmap_free(bm);
        }
    }
    coll_read_end(c);
    return st;
}
