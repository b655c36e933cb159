/*
 * projection.c — the 3-D vector space routes under /hektor/collections/{name}/projection
 * (their entries are in hroutes.c's table): a background job ("project") computes a
 * projection with hk_collection_project, and the server keeps the last one per
 * collection and method in memory for the Studio to read as metadata, binary
 * coordinates and ids, k-NN neighbours and payload fields for colouring.
 *
 * Decisions:
 *  - Coordinates, never vectors, leave the server: the binary routes answer raw
 *    little-endian float32 (x, y, z per point) and uint64 ids in the same order.
 *  - The store holds at most one projection per (collection, method); a finished job
 *    replaces the older one. It is freed when the collection is dropped or recovered
 *    from a snapshot (hkr_projection_forget) and at shutdown. A projection is "stale"
 *    when the collection's live count or last log sequence number differs from those it
 *    was computed at.
 *  - Readers copy what they answer while holding the store's mutex, so a job replacing
 *    a projection never frees memory a request is still writing out.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "route.h"

typedef struct proj_entry {
    char name[HK_MAX_NAME + 1];
    hk_projection *p;
} proj_entry;

static pthread_mutex_t pj_mu = PTHREAD_MUTEX_INITIALIZER;
static proj_entry *pj_store;
static size_t pj_n, pj_cap;

/* Index of (name, method) in the store, or -1. Called with pj_mu held. */
static long pj_find(const char *name, hk_projection_method m) {
    for (size_t i = 0; i < pj_n; i++)
        if (pj_store[i].p->method == m && !strcmp(pj_store[i].name, name)) return (long)i;
    return -1;
}

/* Takes p into the store, replacing the collection's older one of the same method. */
static hk_status pj_put(const char *name, hk_projection *p) {
    pthread_mutex_lock(&pj_mu);
    long i = pj_find(name, p->method);
    hk_status st = HK_OK;
    if (i >= 0) {
        hk_projection_free(pj_store[i].p);
        pj_store[i].p = p;
    } else {
        if (pj_n == pj_cap) {
            size_t cap = pj_cap ? 2 * pj_cap : 8;
            proj_entry *a = hk_realloc(pj_store, cap * sizeof *a);
            if (!a) st = hk_fail(HK_NOMEM, "out of memory");
            else pj_store = a, pj_cap = cap;
        }
        if (!st) {
            snprintf(pj_store[pj_n].name, sizeof pj_store[pj_n].name, "%s", name);
            pj_store[pj_n++].p = p;
        }
    }
    pthread_mutex_unlock(&pj_mu);
    if (st) hk_projection_free(p);
    return st;
}

void hkr_projection_forget(const char *name) {
    pthread_mutex_lock(&pj_mu);
    size_t w = 0;
    for (size_t i = 0; i < pj_n; i++) {
        if (!strcmp(pj_store[i].name, name)) {
            hk_projection_free(pj_store[i].p);
            continue;
        }
        pj_store[w++] = pj_store[i];
    }
    pj_n = w;
    pthread_mutex_unlock(&pj_mu);
}

void hkr_projection_shutdown(void) {
    pthread_mutex_lock(&pj_mu);
    for (size_t i = 0; i < pj_n; i++) hk_projection_free(pj_store[i].p);
    hk_free(pj_store);
    pj_store = NULL;
    pj_n = pj_cap = 0;
    pthread_mutex_unlock(&pj_mu);
}

static void put_num(hk_buf *b, double v) {
    if (isfinite(v)) hk_buf_printf(b, "%.9g", v);
    else hk_buf_puts(b, "null");
}

/* The metadata object of GET .../projection (and the job's result). */
static void put_meta(hk_buf *b, const hk_projection *p, int stale) {
    hk_buf_printf(b, "{\"method\":\"%s\",\"dims\":3,\"count\":%llu,\"total\":%llu,\"sampled\":%s,"
                  "\"neighbors\":%u,\"seed\":%llu,\"created\":%llu,\"took_s\":%.3f,\"stale\":%s,"
                  "\"bounds\":{\"min\":[",
                  hk_projection_method_name(p->method), (unsigned long long)p->count,
                  (unsigned long long)p->total, p->sampled ? "true" : "false", p->neighbors,
                  (unsigned long long)p->seed, (unsigned long long)p->created, p->seconds,
                  stale ? "true" : "false");
    for (int t = 0; t < 3; t++) {
        if (t) hk_buf_putc(b, ',');
        put_num(b, p->bounds_min[t]);
    }
    hk_buf_puts(b, "],\"max\":[");
    for (int t = 0; t < 3; t++) {
        if (t) hk_buf_putc(b, ',');
        put_num(b, p->bounds_max[t]);
    }
    hk_buf_puts(b, "]},\"explained_variance\":");
    if (p->method == HK_PROJECT_PCA) {
        hk_buf_putc(b, '[');
        for (int t = 0; t < 3; t++) {
            if (t) hk_buf_putc(b, ',');
            put_num(b, p->explained_variance[t]);
        }
        hk_buf_putc(b, ']');
    } else {
        hk_buf_puts(b, "null");
    }
    hk_buf_puts(b, ",\"quality\":{\"knn_preservation\":");
    put_num(b, p->knn_preservation);
    hk_buf_printf(b, ",\"points\":%u},\"metric\":\"%s\",\"dim\":%u,\"knn_exact\":%s,"
                  "\"knn_collection_graph\":%s,\"epochs\":%u,\"min_dist\":",
                  p->quality_points, hk_metric_name(p->metric), p->dim,
                  p->knn_exact ? "true" : "false", p->knn_collection_graph ? "true" : "false",
                  p->epochs);
    if (p->method == HK_PROJECT_UMAP) put_num(b, p->min_dist);
    else hk_buf_puts(b, "null");
    hk_buf_putc(b, '}');
}

/* ---- the job ---- */

typedef struct proj_job {
    char name[HK_MAX_NAME + 1];
    hk_projection_options o;
    hks_job *job;
} proj_job;

static void proj_free(void *arg) { hk_free(arg); }

/* Share of the whole job at the start of each phase, per method. */
static double phase_base(const proj_job *pj, const char *phase, double *span) {
    static const struct {
        const char *phase;
        double pca_lo, pca_hi, umap_lo, umap_hi;
    } k[] = {{"sample", 0, 0.02, 0, 0.01},     {"knn", 0.02, 0.7, 0.01, 0.35},
             {"pca", 0.7, 0.85, 0.35, 0.4},    {"graph", 0.85, 0.85, 0.4, 0.45},
             {"umap", 0.85, 0.85, 0.45, 0.95}, {"quality", 0.85, 1, 0.95, 1},
             {"done", 1, 1, 1, 1}};
    int umap = pj->o.method == HK_PROJECT_UMAP;
    for (size_t i = 0; i < sizeof k / sizeof *k; i++)
        if (!strcmp(k[i].phase, phase)) {
            double lo = umap ? k[i].umap_lo : k[i].pca_lo, hi = umap ? k[i].umap_hi : k[i].pca_hi;
            *span = hi - lo;
            return lo;
        }
    *span = 0;
    return 0;
}

static int proj_progress(void *ud, const char *phase, double fraction) {
    proj_job *pj = ud;
    double span, base = phase_base(pj, phase, &span);
    char msg[64];
    snprintf(msg, sizeof msg, "%s", phase);
    return hks_job_progress(pj->job, (uint64_t)((base + span * fraction) * 1000), 1000, msg);
}

static hks_job_state proj_run(hks_job *j, void *arg, hk_db *db, char *msg, size_t msg_size,
                              char **result) {
    proj_job *pj = arg;
    pj->job = j;
    pj->o.progress = proj_progress;
    pj->o.ud = pj;
    hk_collection *c = NULL;
    hk_projection *p = NULL;
    hk_status st = hk_collection_open(db, pj->name, &c);
    if (!st) st = hk_collection_project(c, &pj->o, &p);
    hk_collection_close(c);
    if (!st) {
        hk_buf r;
        hk_buf_init(&r);
        put_meta(&r, p, 0);
        hk_buf_putc(&r, 0);
        snprintf(msg, msg_size, "projected %llu of %llu points with %s in %.1f s",
                 (unsigned long long)p->count, (unsigned long long)p->total,
                 hk_projection_method_name(p->method), p->seconds);
        *result = (char *)hk_buf_detach(&r, NULL);
        st = pj_put(pj->name, p);
        /* Dropped while the job ran: its drop found nothing to forget, so forget now. */
        hk_collection *again = NULL;
        if (!st && hk_collection_open(db, pj->name, &again) == HK_NOT_FOUND)
            hkr_projection_forget(pj->name);
        hk_collection_close(again);
    }
    if (st) {
        snprintf(msg, msg_size, "%s", hk_errmsg());
        hk_free(*result);
        *result = NULL;
        return st == HK_CANCELLED ? HKS_JOB_CANCELLED : HKS_JOB_FAILED;
    }
    hks_job_progress(j, 1000, 1000, NULL);
    return HKS_JOB_DONE;
}

static int arg_true(qctx *q, const char *name, int *out) {
    const char *v = hr_arg(q, name);
    *out = 0;
    if (!v) return 0;
    if (!strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (strcmp(v, "false") && strcmp(v, "0"))
        return hr_fail(q, 400, "query parameter '%s' must be true or false, not '%.32s'", name, v);
    return 0;
}

int hkr_h_project(qctx *q) {
    if (hr_parse_body(q, 0) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const known[] = {"method", "max_points", "neighbors", "seed", "epochs",
                                        "min_dist"};
    if (hr_known_members(q, b, known, sizeof known / sizeof *known, "the projection"))
        return q->status;
    if (q->stats.dim == 0)
        return hr_fail(q, 400, "collection '%s' is text-only: it has no vectors to project",
                       q->r->seg[2]);
    proj_job *pj = hk_malloc(sizeof *pj);
    if (!pj) return hr_nomem(q);
    memset(pj, 0, sizeof *pj);
    hk_projection_options_init(&pj->o);
    uint64_t maxp = pj->o.max_points, nb = pj->o.neighbors, seed = pj->o.seed, epochs = 0;
    int wait = 0;
    const hj_value *mv = b ? hr_opt(b, "method") : NULL, *md = b ? hr_opt(b, "min_dist") : NULL;
    if (b && (hr_get_uint(q, b, "max_points", UINT32_MAX - 1, maxp, &maxp) ||
              hr_get_uint(q, b, "neighbors", HK_PROJECT_MAX_NEIGHBORS, nb, &nb) ||
              hr_get_uint(q, b, "seed", UINT64_MAX >> 1, seed, &seed) ||
              hr_get_uint(q, b, "epochs", 100000, 0, &epochs)))
        ;
    else if (arg_true(q, "wait", &wait))
        ;
    else if (mv && (mv->type != HJ_STRING || hk_projection_method_parse(mv->u.s, &pj->o.method)))
        hr_fail(q, 400, "'method' must be \"pca\" or \"umap\"");
    else if (maxp < 1)
        hr_fail(q, 400, "'max_points' must be at least 1 (points projected; above it a sample is "
                "drawn)");
    else if (nb < 2)
        hr_fail(q, 400, "'neighbors' must be from 2 to %u", HK_PROJECT_MAX_NEIGHBORS);
    else if (md && (!hj_is_number(md) || !(hj_number(md) >= 0 && hj_number(md) < 3)))
        hr_fail(q, 400, "'min_dist' must be a number in [0, 3)");
    if (q->status) {
        hk_free(pj);
        return q->status;
    }
    pj->o.max_points = maxp;
    pj->o.neighbors = (uint32_t)nb;
    pj->o.seed = seed;
    pj->o.epochs = (uint32_t)epochs;
    if (md) pj->o.min_dist = (float)hj_number(md);
    snprintf(pj->name, sizeof pj->name, "%s", q->r->seg[2]);
    uint64_t id;
    if (hks_job_submit("project", pj->name, proj_run, pj, proj_free, &id))
        return hr_fail(q, 503, "cannot start the projection: %s", hk_errmsg());
    hk_buf_puts(&q->out, "{\"job\":");
    if (hks_job_write(&q->out, id, wait))
        return hr_fail(q, 404, "job j-%llu is not known", (unsigned long long)id);
    hk_buf_putc(&q->out, '}');
    return 200;
}

/* ---- reading the current projection ---- */

/* Opens the collection, reads ?method= and finds its projection; on success returns 0
 * with pj_mu HELD and *p set (the caller unlocks). */
static int current(qctx *q, hk_projection **p) {
    if (!q->c && hr_open_coll(q)) return q->status;
    const char *ms = hr_arg(q, "method");
    hk_projection_method m = HK_PROJECT_PCA;
    if (ms && hk_projection_method_parse(ms, &m))
        return hr_fail(q, 400, "query parameter 'method' must be pca or umap, not '%.32s'", ms);
    pthread_mutex_lock(&pj_mu);
    long i = pj_find(q->r->seg[2], m);
    if (i < 0) {
        pthread_mutex_unlock(&pj_mu);
        return hr_fail(q, 404, "collection '%s' has no %s projection yet: POST "
                       "/hektor/collections/%s/projection with {\"method\": \"%s\"} to compute one",
                       q->r->seg[2], hk_projection_method_name(m), q->r->seg[2],
                       hk_projection_method_name(m));
    }
    *p = pj_store[i].p;
    return 0;
}

int hkr_h_projection(qctx *q) {
    hk_projection *p;
    if (hr_open_coll(q) || hr_full_stats(q) || current(q, &p)) return q->status;
    int stale = q->stats.count != p->total || q->stats.lsn != p->lsn;
    put_meta(&q->out, p, stale);
    pthread_mutex_unlock(&pj_mu);
    return 200;
}

int hkr_h_projection_coords(qctx *q) {
    hk_projection *p;
    if (current(q, &p)) return q->status;
    hk_status st = hk_buf_append(&q->out, p->coords, (size_t)p->count * 3 * sizeof(float));
    pthread_mutex_unlock(&pj_mu);
    if (st) return hr_nomem(q);
    q->raw_type = "application/octet-stream";
    return 200;
}

int hkr_h_projection_ids(qctx *q) {
    hk_projection *p;
    if (current(q, &p)) return q->status;
    hk_status st = hk_buf_append(&q->out, p->ids, (size_t)p->count * sizeof(uint64_t));
    pthread_mutex_unlock(&pj_mu);
    if (st) return hr_nomem(q);
    q->raw_type = "application/octet-stream";
    return 200;
}

static int arg_u64(qctx *q, const char *name, uint64_t hi, int required, uint64_t *out) {
    const char *v = hr_arg(q, name);
    if (!v) {
        if (required) return hr_fail(q, 400, "query parameter '%s' is required", name);
        return 0;
    }
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || *v == '-' || x > hi)
        return hr_fail(q, 400, "query parameter '%s' must be an integer from 0 to %llu, not '%.32s'",
                       name, (unsigned long long)hi, v);
    *out = x;
    return 0;
}

int hkr_h_projection_neighbors(qctx *q) {
    hk_projection *p;
    uint64_t idx = 0, k = HK_PROJECT_MAX_NEIGHBORS;
    if (arg_u64(q, "index", UINT32_MAX, 1, &idx) || arg_u64(q, "k", HK_PROJECT_MAX_NEIGHBORS, 0, &k))
        return q->status;
    if (current(q, &p)) return q->status;
    if (idx >= p->count) {
        uint64_t n = p->count;
        pthread_mutex_unlock(&pj_mu);
        return hr_fail(q, 400, "'index' %llu is out of range: the projection has %llu points "
                       "(0 to %llu)", (unsigned long long)idx, (unsigned long long)n,
                       (unsigned long long)(n - 1));
    }
    if (k > p->neighbors) k = p->neighbors;
    hk_buf *o = &q->out;
    hk_buf_printf(o, "{\"point\":{\"index\":%llu,\"id\":%llu},\"neighbors\":[",
                  (unsigned long long)idx, (unsigned long long)p->ids[idx]);
    size_t w = 0;
    for (uint64_t j = 0; j < k; j++) {
        uint32_t nb = p->knn[idx * p->neighbors + j];
        /* Rows of tiny projections repeat their last neighbour: list each once. */
        if (nb == idx || (j && nb == p->knn[idx * p->neighbors + j - 1])) continue;
        hk_buf_printf(o, "%s{\"index\":%u,\"id\":%llu,\"distance\":", w++ ? "," : "", nb,
                      (unsigned long long)p->ids[nb]);
        put_num(o, p->knn_dist[idx * p->neighbors + j]);
        hk_buf_putc(o, '}');
    }
    hk_buf_puts(o, "]}");
    pthread_mutex_unlock(&pj_mu);
    return 200;
}

/* ---- payload fields for colouring ---- */

typedef struct cat {
    char *s;
    size_t n;    /* occurrences */
    size_t first;
} cat;

static int strcmp_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int strcmp_cat(const void *a, const void *b) {
    return strcmp(((const cat *)a)->s, ((const cat *)b)->s);
}

static int cat_cmp(const void *a, const void *b) {
    const cat *x = a, *y = b;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* The value at key in a payload object: the member itself, else a dotted path. */
static const hj_value *field_of(const hj_value *obj, const char *key) {
    const hj_value *v = hj_get(obj, key);
    if (v) return v;
    char part[256];
    const char *s = key;
    while (obj && obj->type == HJ_OBJECT) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len >= sizeof part) return NULL;
        memcpy(part, s, len);
        part[len] = 0;
        obj = hj_get(obj, part);
        if (!dot) return obj;
        s = dot + 1;
    }
    return NULL;
}

int hkr_h_projection_field(qctx *q) {
    const char *f = hr_arg(q, "name");
    if (!f || !*f) return hr_fail(q, 400, "query parameter 'name' (the payload field) is required");
    hk_projection *p;
    if (current(q, &p)) return q->status;
    size_t n = (size_t)p->count;
    uint64_t *ids = hk_malloc((n ? n : 1) * sizeof *ids);
    if (ids) memcpy(ids, p->ids, n * sizeof *ids);
    pthread_mutex_unlock(&pj_mu);
    /* Per point: kind 0 absent, 1 number (num), 2 string (str, hk_malloc'd). */
    uint8_t *kind = hk_calloc(n ? n : 1, 1);
    double *num = hk_malloc((n ? n : 1) * sizeof *num);
    char **str = hk_calloc(n ? n : 1, sizeof *str);
    hk_status st = !ids || !kind || !num || !str ? hk_fail(HK_NOMEM, "out of memory") : HK_OK;
    size_t chunk = 4096, nnum = 0, nstr = 0;
    hk_arena ar;
    hk_arena_init(&ar);
    hk_buf tmp;
    hk_buf_init(&tmp);
    for (size_t c0 = 0; !st && c0 < n; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        hk_result *res = NULL;
        if ((st = hk_get(q->c, ids + c0, cn, HK_WITH_PAYLOAD, &res))) break;
        size_t rn = hk_result_count(res, 0), r = 0;
        for (size_t i = 0; i < cn && r < rn; i++) {
            if (hk_result_id(res, 0, r) != ids[c0 + i]) continue; /* deleted since */
            const char *pl = hk_result_payload(res, 0, r++);
            hj_value *obj = NULL;
            if (!pl || hj_parse(pl, strlen(pl), &ar, &obj)) continue;
            const hj_value *v = field_of(obj, f);
            size_t at = c0 + i;
            if (!v || v->type == HJ_NULL) continue;
            if (hj_is_number(v)) {
                kind[at] = 1;
                num[at] = hj_number(v);
                nnum++;
                continue;
            }
            if (v->type == HJ_STRING) {
                str[at] = hk_strndup(v->u.s, v->n);
            } else {
                hk_buf_reset(&tmp);
                hj_write(&tmp, v);
                str[at] = hk_strndup((const char *)tmp.data, tmp.len);
            }
            if (!str[at]) {
                st = hk_fail(HK_NOMEM, "out of memory");
                break;
            }
            kind[at] = 2;
            nstr++;
        }
        hk_result_free(res);
        hk_arena_reset(&ar);
    }
    hk_buf_free(&tmp);
    hk_buf *o = &q->out;
    if (!st) {
        hk_buf_puts(o, "{\"field\":");
        hj_write_string(o, f, strlen(f));
    }
    if (!st && nnum > 0 && nstr == 0) {
        double lo = INFINITY, hi = -INFINITY;
        hk_buf_puts(o, ",\"kind\":\"number\",\"values\":[");
        for (size_t i = 0; i < n; i++) {
            if (i) hk_buf_putc(o, ',');
            if (kind[i] == 1 && isfinite(num[i])) {
                hk_buf_printf(o, "%.17g", num[i]);
                if (num[i] < lo) lo = num[i];
                if (num[i] > hi) hi = num[i];
            } else {
                hk_buf_puts(o, "null");
            }
        }
        hk_buf_puts(o, "],\"min\":");
        put_num(o, lo);
        hk_buf_puts(o, ",\"max\":");
        put_num(o, hi);
        hk_buf_putc(o, '}');
    } else if (!st) {
        /* Categories: numbers join as their text; the 64 most frequent are named. */
        for (size_t i = 0; i < n; i++)
            if (kind[i] == 1) {
                char t[40];
                snprintf(t, sizeof t, "%.17g", num[i]);
                if (!(str[i] = hk_strdup(t))) st = hk_fail(HK_NOMEM, "out of memory");
                kind[i] = 2;
            }
        size_t ncat = 0;
        cat *cats = hk_malloc((nstr + nnum + 1) * sizeof *cats);
        int32_t *code = hk_malloc((n ? n : 1) * sizeof *code);
        if (!cats || !code) st = hk_fail(HK_NOMEM, "out of memory");
        /* Distinct values by sorting pointers to them. */
        char **sorted = st ? NULL : hk_malloc((nstr + nnum + 1) * sizeof *sorted);
        if (!st && !sorted) st = hk_fail(HK_NOMEM, "out of memory");
        if (!st) {
            size_t ns = 0;
            for (size_t i = 0; i < n; i++)
                if (kind[i] == 2) sorted[ns++] = str[i];
            qsort(sorted, ns, sizeof *sorted, strcmp_ptr);
            for (size_t i = 0; i < ns;) {
                size_t j = i;
                while (j < ns && !strcmp(sorted[j], sorted[i])) j++;
                cats[ncat].s = sorted[i];
                cats[ncat].n = j - i;
                cats[ncat].first = SIZE_MAX;
                ncat++;
                i = j;
            }
            /* first occurrence in point order breaks ties */
            for (size_t i = 0; i < n; i++) {
                if (kind[i] != 2) continue;
                size_t lo = 0, hi = ncat;
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (strcmp(cats[mid].s, str[i]) < 0) lo = mid + 1;
                    else hi = mid;
                }
                if (cats[lo].first == SIZE_MAX) cats[lo].first = i;
            }
            qsort(cats, ncat, sizeof *cats, cat_cmp);
            size_t keep = ncat < 64 ? ncat : 64;
            /* codes: the kept categories sorted by string for lookup */
            cat *look = hk_malloc((keep ? keep : 1) * sizeof *look);
            if (!look) st = hk_fail(HK_NOMEM, "out of memory");
            for (size_t i = 0; !st && i < keep; i++) look[i] = cats[i], look[i].first = i;
            if (!st) {
                qsort(look, keep, sizeof *look, strcmp_cat);
                for (size_t i = 0; i < n; i++) {
                    code[i] = -1;
                    if (kind[i] != 2) continue;
                    size_t lo = 0, hi = keep;
                    while (lo < hi) {
                        size_t mid = (lo + hi) / 2;
                        if (strcmp(look[mid].s, str[i]) < 0) lo = mid + 1;
                        else hi = mid;
                    }
                    if (lo < keep && !strcmp(look[lo].s, str[i])) code[i] = (int32_t)look[lo].first;
                }
                hk_buf_puts(o, ",\"kind\":\"category\",\"categories\":[");
                for (size_t i = 0; i < keep; i++) {
                    if (i) hk_buf_putc(o, ',');
                    hj_write_string(o, cats[i].s, strlen(cats[i].s));
                }
                hk_buf_puts(o, "],\"codes\":[");
                for (size_t i = 0; i < n; i++) hk_buf_printf(o, "%s%d", i ? "," : "", code[i]);
                hk_buf_puts(o, "]}");
            }
            hk_free(look);
        }
        hk_free(sorted);
        hk_free(cats);
        hk_free(code);
    }
    for (size_t i = 0; str && i < n; i++) hk_free(str[i]);
    hk_free(str), hk_free(num), hk_free(kind), hk_free(ids);
    if (st) return hr_lib_fail(q, st);
    return 200;
}
