/*
 * qdrant.c — the Qdrant-compatible REST routes: collections, points, payload, scroll,
 * count, search, batch search, recommend and payload indexes, with Qdrant's paths,
 * request and response shapes, and envelope.
 *
 * Decisions:
 *  - Recommendation is the library's (hk_query_set_examples); the server only reads ids.
 *  - Scores need no conversion: the library already returns what Qdrant does (cosine
 *    similarity and dot product, higher is better; Euclidean distance, lower is better),
 *    and score_threshold keeps what Qdrant keeps (score >= t, or distance <= t for Euclid).
 *  - Every write is synchronous and durable when it returns, so `wait` is accepted and
 *    every write answers "completed"; operation_id is the collection's log sequence
 *    number after the write. Points carry no version of their own: "version" is 0.
 *  - Ids are unsigned integers (up to 2^63 - 1). UUID strings, named and sparse vectors,
 *    and request options that would change results (order_by, lookup_from, using, the
 *    best_score strategy, vectors as recommend examples, quantization_config) are
 *    refused with a 400 naming them; options that only tune Qdrant's own storage
 *    (shard_number, optimizers_config, wal_config, on_disk, full_scan_threshold, ...)
 *    are accepted and ignored.
 *  - Request validation happens before the library is called, and the library changes
 *    nothing on failure, so a refused request leaves the database as it was.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qfilter.h"
#include "server_int.h"

typedef struct qctx {
    hks_req *r;
    hj_value *body;
    hk_buf out;
    hk_collection *c;
    hk_collection_stats stats;
    int status;
    char err[1024];
} qctx;

/* ---- errors ---- */

static int fail(qctx *q, int status, const char *fmt, ...) HK_PRINTF(3, 4);
static int fail(qctx *q, int status, const char *fmt, ...) {
    const char *prefix = status == 404 ? "Not found: " : status == 409 ? "Conflict: "
                         : status >= 500 ? "Service internal error: " : "Wrong input: ";
    size_t pl = strlen(prefix);
    memcpy(q->err, prefix, pl);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err + pl, sizeof q->err - pl, fmt, ap);
    va_end(ap);
    return q->status = status;
}

static int lib_fail(qctx *q, hk_status st) {
    int status;
    switch (st) {
    case HK_INVALID:
    case HK_DIMENSION: status = 400; break;
    case HK_NOT_FOUND: status = 404; break;
    case HK_EXISTS: status = 409; break;
    case HK_READONLY: status = 403; break;
    case HK_LOCKED: status = 409; break;
    default: status = 500; break;
    }
    return fail(q, status, "%s", hk_errmsg());
}

static int nomem(qctx *q) { return fail(q, 500, "out of memory"); }

/* ---- request reading ---- */

static int parse_body(qctx *q, int required) {
    hks_req *r = q->r;
    size_t i = 0;
    while (i < r->body_len && (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r' ||
                               r->body[i] == '\t'))
        i++;
    if (i == r->body_len) {
        if (required) return fail(q, 400, "the request needs a JSON object body");
        return 0;
    }
    hk_status st = hj_parse(r->body, r->body_len, &r->arena, &q->body);
    if (st) return fail(q, 400, "Format error in JSON body: %s", hk_errmsg());
    if (q->body->type != HJ_OBJECT)
        return fail(q, 400, "Format error in JSON body: expected an object, got %s",
                    hj_type_name(q->body->type));
    return 0;
}

/* A member that is present and not null, else NULL. */
static const hj_value *opt(const hj_value *obj, const char *key) {
    const hj_value *v = obj ? hj_get(obj, key) : NULL;
    return v && v->type != HJ_NULL ? v : NULL;
}

static int get_id(qctx *q, const hj_value *v, const char *what, uint64_t *id) {
    if (v->type == HJ_INT && v->u.i >= 0) {
        *id = (uint64_t)v->u.i;
        return 0;
    }
    if (v->type == HJ_STRING)
        return fail(q, 400, "%s: the id '%.64s' is a string; UUID ids are not supported, use "
                    "unsigned integers", what, v->u.s);
    return fail(q, 400, "%s: ids must be unsigned integers up to 9223372036854775807, got %s",
                what, v->type == HJ_INT ? "a negative number" : hj_type_name(v->type));
}

static int get_ids(qctx *q, const hj_value *v, const char *what, uint64_t **ids, size_t *n) {
    if (v->type != HJ_ARRAY) return fail(q, 400, "'%s' must be an array of ids, got %s", what,
                                         hj_type_name(v->type));
    *n = v->n;
    *ids = hk_arena_alloc(&q->r->arena, (v->n ? v->n : 1) * sizeof **ids);
    if (!*ids) return nomem(q);
    for (uint32_t i = 0; i < v->n; i++)
        if (get_id(q, &v->u.items[i], what, &(*ids)[i])) return q->status;
    return 0;
}

static int get_uint(qctx *q, const hj_value *obj, const char *key, uint64_t max, uint64_t def,
                    uint64_t *out) {
    const hj_value *v = opt(obj, key);
    *out = def;
    if (!v) return 0;
    if (v->type != HJ_INT || v->u.i < 0 || (uint64_t)v->u.i > max)
        return fail(q, 400, "'%s' must be an integer from 0 to %llu", key, (unsigned long long)max);
    *out = (uint64_t)v->u.i;
    return 0;
}

static int get_bool(qctx *q, const hj_value *obj, const char *key, int def, int *out) {
    const hj_value *v = opt(obj, key);
    *out = def;
    if (!v) return 0;
    if (v->type != HJ_TRUE && v->type != HJ_FALSE)
        return fail(q, 400, "'%s' must be true or false, got %s", key, hj_type_name(v->type));
    *out = v->type == HJ_TRUE;
    return 0;
}

/* Reads a vector of the collection's dimension into out. */
static int get_vector(qctx *q, const hj_value *v, const char *what, float *out) {
    uint32_t dim = q->stats.dim;
    if (v->type == HJ_OBJECT)
        return fail(q, 400, "%s: named vectors are not supported; give the vector as an array "
                    "of %u numbers", what, dim);
    if (v->type != HJ_ARRAY)
        return fail(q, 400, "%s: the vector must be an array of numbers, got %s", what,
                    hj_type_name(v->type));
    if (v->n != dim)
        return fail(q, 400, "%s: Vector dimension error: expected dim: %u, got %u", what, dim, v->n);
    for (uint32_t i = 0; i < dim; i++) {
        const hj_value *e = &v->u.items[i];
        if (!hj_is_number(e))
            return fail(q, 400, "%s: vector element %u must be a number, got %s", what, i,
                        hj_type_name(e->type));
        float f = (float)hj_number(e);
        if (!isfinite(f)) return fail(q, 400, "%s: vector element %u is out of float range", what, i);
        out[i] = f;
    }
    return 0;
}

static int open_coll(qctx *q) {
    hks_req *r = q->r;
    hk_status st = hk_collection_open(r->db, r->seg[1], &q->c);
    if (st == HK_NOT_FOUND) return fail(q, 404, "Collection `%s` doesn't exist!", r->seg[1]);
    if (st) return lib_fail(q, st);
    if ((st = hk_collection_stats_get(q->c, &q->stats))) return lib_fail(q, st);
    return 0;
}

static int get_filter(qctx *q, const hj_value *obj, hk_filter **f) {
    hk_status st = qf_parse(opt(obj, "filter"), f);
    return st ? fail(q, 400, "%s", hk_errmsg()) : 0;
}

/* ---- response writing ---- */

static void put_float(hk_buf *b, float v) {
    char buf[32];
    if (!isfinite(v)) {
        hk_buf_puts(b, "null");
        return;
    }
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    hk_buf_puts(b, buf);
}

/* What with_payload asks for: everything, nothing, or top-level keys in or out. */
typedef struct psel {
    int all;
    const hj_value *include, *exclude; /* arrays of strings */
} psel;

static int get_psel(qctx *q, const hj_value *obj, int def, psel *p) {
    memset(p, 0, sizeof *p);
    const hj_value *v = opt(obj, "with_payload");
    p->all = def;
    if (!v) return 0;
    if (v->type == HJ_TRUE || v->type == HJ_FALSE) {
        p->all = v->type == HJ_TRUE;
        return 0;
    }
    const hj_value *list = v;
    if (v->type == HJ_OBJECT) {
        if ((list = opt(v, "include"))) p->include = list;
        else if ((list = opt(v, "exclude"))) p->exclude = list;
        else return fail(q, 400, "'with_payload' as an object needs 'include' or 'exclude'");
    } else {
        p->include = v;
    }
    if (list->type != HJ_ARRAY)
        return fail(q, 400, "'with_payload' must be true, false, a list of keys or {include|exclude: "
                    "[keys]}, got %s", hj_type_name(list->type));
    for (uint32_t i = 0; i < list->n; i++)
        if (list->u.items[i].type != HJ_STRING)
            return fail(q, 400, "'with_payload' keys must be strings");
    p->all = 1;
    return 0;
}

static int in_list(const hj_value *list, const char *key, uint32_t len) {
    for (uint32_t i = 0; i < list->n; i++) {
        const hj_value *e = &list->u.items[i];
        if (e->n == len && !memcmp(e->u.s, key, len)) return 1;
    }
    return 0;
}

static void put_payload(qctx *q, const char *json, const psel *p) {
    hk_buf *b = &q->out;
    if (!json) json = "{}";
    if (!p->include && !p->exclude) {
        hk_buf_puts(b, json);
        return;
    }
    hj_value *v;
    if (hj_parse(json, strlen(json), &q->r->arena, &v) || v->type != HJ_OBJECT) {
        hk_buf_puts(b, json);
        return;
    }
    hk_buf_putc(b, '{');
    int first = 1;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        int keep = p->include ? in_list(p->include, m->key, m->key_len)
                              : !in_list(p->exclude, m->key, m->key_len);
        if (!keep) continue;
        if (!first) hk_buf_putc(b, ',');
        first = 0;
        hj_write_string(b, m->key, m->key_len);
        hk_buf_putc(b, ':');
        hj_write(b, &m->value);
    }
    hk_buf_putc(b, '}');
}

static void put_record(qctx *q, const hk_result *res, size_t qi, size_t i, const psel *p,
                       int with_vector, int scored) {
    hk_buf *b = &q->out;
    hk_buf_printf(b, "{\"id\":%llu", (unsigned long long)hk_result_id(res, qi, i));
    if (scored) {
        hk_buf_puts(b, ",\"version\":0,\"score\":");
        put_float(b, hk_result_score(res, qi, i));
    }
    hk_buf_puts(b, ",\"payload\":");
    if (p->all) put_payload(q, hk_result_payload(res, qi, i), p);
    else hk_buf_puts(b, "null");
    hk_buf_puts(b, ",\"vector\":");
    const float *vec = with_vector ? hk_result_vector(res, qi, i) : NULL;
    if (vec) {
        hk_buf_putc(b, '[');
        for (uint32_t d = 0; d < q->stats.dim; d++) {
            if (d) hk_buf_putc(b, ',');
            put_float(b, vec[d]);
        }
        hk_buf_putc(b, ']');
    } else {
        hk_buf_puts(b, "null");
    }
    hk_buf_putc(b, '}');
}

static int op_done(qctx *q) {
    hk_collection_stats st;
    uint64_t lsn = hk_collection_stats_get(q->c, &st) ? 0 : st.lsn;
    hk_buf_printf(&q->out, "{\"operation_id\":%llu,\"status\":\"completed\"}",
                  (unsigned long long)lsn);
    return 200;
}

/* ---- collections ---- */

static int h_list(qctx *q) {
    char **names;
    size_t n;
    hk_status st = hk_db_list(q->r->db, &names, &n);
    if (st) return lib_fail(q, st);
    hk_buf_puts(&q->out, "{\"collections\":[");
    for (size_t i = 0; i < n; i++) {
        hk_buf_puts(&q->out, i ? ",{\"name\":" : "{\"name\":");
        hj_write_string(&q->out, names[i], strlen(names[i]));
        hk_buf_putc(&q->out, '}');
    }
    hk_buf_puts(&q->out, "]}");
    hk_strings_free(names, n);
    return 200;
}

static const char *distance_name(hk_metric m) {
    return m == HK_METRIC_COSINE ? "Cosine" : m == HK_METRIC_IP ? "Dot" : "Euclid";
}

static int h_info(qctx *q) {
    if (open_coll(q)) return q->status;
    hk_collection_config cfg;
    hk_status st = hk_collection_get_config(q->c, &cfg);
    if (st) return lib_fail(q, st);
    hk_collection_stats *s = &q->stats;
    int hnsw = cfg.index == HK_INDEX_HNSW;
    hk_buf *b = &q->out;
    hk_buf_printf(b, "{\"status\":\"green\",\"optimizer_status\":\"ok\",\"indexed_vectors_count\":%llu,"
                  "\"points_count\":%llu,\"segments_count\":1,\"config\":{\"params\":{\"vectors\":"
                  "{\"size\":%u,\"distance\":\"%s\"},\"shard_number\":1,\"replication_factor\":1,"
                  "\"write_consistency_factor\":1,\"on_disk_payload\":false},\"hnsw_config\":{\"m\":%u,"
                  "\"ef_construct\":%u,\"full_scan_threshold\":10000,\"max_indexing_threads\":0,"
                  "\"on_disk\":false},\"optimizer_config\":{\"deleted_threshold\":0.2,"
                  "\"vacuum_min_vector_number\":1000,\"default_segment_number\":0,"
                  "\"max_segment_size\":null,\"memmap_threshold\":null,\"indexing_threshold\":0,"
                  "\"flush_interval_sec\":5,\"max_optimization_threads\":null},\"wal_config\":"
                  "{\"wal_capacity_mb\":64,\"wal_segments_ahead\":0},\"quantization_config\":null},"
                  "\"payload_schema\":{",
                  (unsigned long long)(hnsw ? s->count : 0), (unsigned long long)s->count, s->dim,
                  distance_name(s->metric), hnsw ? cfg.hnsw_m : 0, cfg.hnsw_ef_construction);
    for (uint32_t i = 0; i < s->payload_indexes; i++) {
        const char *key;
        hk_field_type type;
        if (hk_payload_index_get(q->c, i, &key, &type)) continue;
        if (i) hk_buf_putc(b, ',');
        hj_write_string(b, key, strlen(key));
        hk_buf_printf(b, ":{\"data_type\":\"%s\"}", hk_field_type_name(type));
    }
    hk_buf_puts(b, "}}");
    return 200;
}

static int h_exists(qctx *q) {
    hk_status st = hk_collection_open(q->r->db, q->r->seg[1], &q->c);
    if (st && st != HK_NOT_FOUND) return lib_fail(q, st);
    hk_buf_printf(&q->out, "{\"exists\":%s}", st ? "false" : "true");
    return 200;
}

static int refuse_present(qctx *q, const hj_value *obj, const char *const *keys, size_t n,
                          const char *why) {
    for (size_t i = 0; i < n; i++)
        if (opt(obj, keys[i])) return fail(q, 400, "'%s' is not supported%s", keys[i], why);
    return 0;
}

static int h_create(qctx *q) {
    if (parse_body(q, 1)) return q->status;
    const hj_value *b = q->body;
    static const char *const unsupported[] = {"sparse_vectors", "quantization_config", "init_from",
                                              "sharding_method"};
    if (refuse_present(q, b, unsupported, 4, " by this server")) return q->status;
    const hj_value *vec = opt(b, "vectors");
    if (!vec) return fail(q, 400, "'vectors' is required: {\"size\": N, \"distance\": "
                          "\"Cosine\"|\"Euclid\"|\"Dot\"}");
    if (vec->type != HJ_OBJECT) return fail(q, 400, "'vectors' must be an object, got %s",
                                            hj_type_name(vec->type));
    if (!hj_get(vec, "size"))
        return fail(q, 400, "named vectors are not supported: give 'vectors' as {\"size\": N, "
                    "\"distance\": ...}");
    static const char *const unsupported_vec[] = {"multivector_config", "quantization_config"};
    if (refuse_present(q, vec, unsupported_vec, 2, " in 'vectors'")) return q->status;
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    uint64_t u;
    if (get_uint(q, vec, "size", HK_MAX_DIM, 0, &u)) return q->status;
    if (u < 1) return fail(q, 400, "'vectors.size' must be an integer from 1 to %d", HK_MAX_DIM);
    cfg.dim = (uint32_t)u;
    const hj_value *dist = opt(vec, "distance");
    if (!dist || dist->type != HJ_STRING)
        return fail(q, 400, "'vectors.distance' is required: Cosine, Euclid or Dot");
    if (!strcmp(dist->u.s, "Cosine")) cfg.metric = HK_METRIC_COSINE;
    else if (!strcmp(dist->u.s, "Euclid")) cfg.metric = HK_METRIC_L2;
    else if (!strcmp(dist->u.s, "Dot")) cfg.metric = HK_METRIC_IP;
    else return fail(q, 400, "'vectors.distance' '%.32s' is not supported: use Cosine, Euclid or Dot",
                     dist->u.s);
    const hj_value *dt = opt(vec, "datatype");
    if (dt && (dt->type != HJ_STRING || strcmp(dt->u.s, "float32")))
        return fail(q, 400, "'vectors.datatype' must be float32");
    const hj_value *hnsw = opt(b, "hnsw_config");
    if (!hnsw) hnsw = opt(vec, "hnsw_config");
    if (hnsw) {
        if (hnsw->type != HJ_OBJECT) return fail(q, 400, "'hnsw_config' must be an object");
        if (get_uint(q, hnsw, "m", 128, cfg.hnsw_m, &u)) return q->status;
        if (u == 0) {
            cfg.index = HK_INDEX_FLAT; /* Qdrant's m = 0 means "no graph" */
        } else {
            if (u < 2) return fail(q, 400, "'hnsw_config.m' must be 0 (no graph) or 2 to 128");
            cfg.hnsw_m = (uint32_t)u;
        }
        if (get_uint(q, hnsw, "ef_construct", 65536, cfg.hnsw_ef_construction, &u)) return q->status;
        if (u < 1) return fail(q, 400, "'hnsw_config.ef_construct' must be from 1 to 65536");
        cfg.hnsw_ef_construction = (uint32_t)u;
    }
    hk_status st = hk_collection_create(q->r->db, q->r->seg[1], &cfg, NULL);
    if (st == HK_EXISTS) return fail(q, 409, "Collection `%s` already exists!", q->r->seg[1]);
    if (st) return lib_fail(q, st);
    hk_buf_puts(&q->out, "true");
    return 200;
}

static int h_drop(qctx *q) {
    hk_status st = hk_collection_drop(q->r->db, q->r->seg[1]);
    if (st == HK_NOT_FOUND) return fail(q, 404, "Collection `%s` doesn't exist!", q->r->seg[1]);
    if (st) return lib_fail(q, st);
    hk_buf_puts(&q->out, "true");
    return 200;
}

/* ---- points: writes ---- */

/* Payload value of a point: an object (written as JSON into pb at *off) or null. */
static int take_payload(qctx *q, const hj_value *v, const char *what, hk_buf *pb, size_t *off,
                        size_t *len) {
    *len = 0;
    if (!v || v->type == HJ_NULL) return 0;
    if (v->type != HJ_OBJECT)
        return fail(q, 400, "%s: the payload must be an object, got %s", what, hj_type_name(v->type));
    *off = pb->len;
    if (hj_write(pb, v)) return nomem(q);
    *len = pb->len - *off;
    return 0;
}

static int h_upsert(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *points = opt(q->body, "points"), *batch = opt(q->body, "batch");
    if (!points == !batch)
        return fail(q, 400, "give either 'points' (a list of {id, vector, payload}) or 'batch' "
                    "({ids, vectors, payloads})");
    const hj_value *ids = NULL, *vecs = NULL, *pays = NULL;
    size_t n;
    if (points) {
        if (points->type != HJ_ARRAY) return fail(q, 400, "'points' must be an array");
        n = points->n;
    } else {
        if (batch->type != HJ_OBJECT) return fail(q, 400, "'batch' must be an object");
        ids = opt(batch, "ids");
        vecs = opt(batch, "vectors");
        pays = opt(batch, "payloads");
        if (!ids || ids->type != HJ_ARRAY) return fail(q, 400, "'batch.ids' must be an array");
        if (!vecs || vecs->type != HJ_ARRAY) return fail(q, 400, "'batch.vectors' must be an array");
        if (vecs->n != ids->n)
            return fail(q, 400, "'batch.vectors' has %u entries but 'batch.ids' has %u", vecs->n, ids->n);
        if (pays && (pays->type != HJ_ARRAY || pays->n != ids->n))
            return fail(q, 400, "'batch.payloads' must be an array as long as 'batch.ids' (%u)", ids->n);
        n = ids->n;
    }
    uint32_t dim = q->stats.dim;
    hk_point *pts = hk_arena_alloc(&q->r->arena, (n ? n : 1) * sizeof *pts);
    float *fv = hk_arena_alloc(&q->r->arena, (n ? n : 1) * dim * sizeof *fv);
    size_t *offs = hk_arena_alloc(&q->r->arena, (n ? n : 1) * 2 * sizeof *offs);
    if (!pts || !fv || !offs) return nomem(q);
    hk_buf pb;
    hk_buf_init(&pb);
    char what[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "point %zu", i);
        const hj_value *id, *vec, *pay;
        if (points) {
            const hj_value *p = &points->u.items[i];
            if (p->type != HJ_OBJECT) {
                hk_buf_free(&pb);
                return fail(q, 400, "%s: must be an object {id, vector, payload}", what);
            }
            id = opt(p, "id");
            vec = opt(p, "vector");
            pay = opt(p, "payload");
            if (!vec && opt(p, "vectors")) vec = opt(p, "vectors");
        } else {
            id = &ids->u.items[i];
            vec = &vecs->u.items[i];
            pay = pays ? &pays->u.items[i] : NULL;
        }
        memset(&pts[i], 0, sizeof pts[i]);
        if (!id || !vec) {
            hk_buf_free(&pb);
            return fail(q, 400, "%s: needs an 'id' and a 'vector'", what);
        }
        if (get_id(q, id, what, &pts[i].id) || get_vector(q, vec, what, fv + i * dim) ||
            take_payload(q, pay, what, &pb, &offs[2 * i], &offs[2 * i + 1])) {
            hk_buf_free(&pb);
            return q->status;
        }
        pts[i].vector = fv + i * dim;
    }
    const char *base = hk_buf_cstr(&pb);
    for (size_t i = 0; i < n; i++)
        if (offs[2 * i + 1]) {
            pts[i].payload = base + offs[2 * i];
            pts[i].payload_len = offs[2 * i + 1];
        }
    hk_status st = hk_upsert(q->c, pts, n, NULL);
    hk_buf_free(&pb);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

/* {"points": [ids]} or {"filter": ...}: exactly one. */
static int get_selector(qctx *q, int required, uint64_t **ids, size_t *n, hk_filter **f) {
    const hj_value *pts = opt(q->body, "points"), *flt = opt(q->body, "filter");
    *ids = NULL;
    *n = 0;
    *f = NULL;
    if (pts && flt) return fail(q, 400, "give 'points' or 'filter', not both");
    if (!pts && !flt) return required ? fail(q, 400, "give 'points' (a list of ids) or 'filter'") : 0;
    if (pts) return get_ids(q, pts, "points", ids, n);
    return get_filter(q, q->body, f);
}

static int h_delete(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    uint64_t *ids;
    size_t n;
    hk_filter *f;
    if (get_selector(q, 1, &ids, &n, &f)) return q->status;
    hk_status st = f ? hk_delete_by_filter(q->c, f, NULL) : hk_delete(q->c, ids, n, NULL);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

static int h_payload_set(qctx *q, hk_payload_mode mode) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *pay = opt(q->body, "payload");
    if (!pay || pay->type != HJ_OBJECT) return fail(q, 400, "'payload' must be an object");
    if (opt(q->body, "key")) return fail(q, 400, "'key' (setting a nested payload path) is not supported");
    uint64_t *ids;
    size_t n;
    hk_filter *f;
    if (get_selector(q, 1, &ids, &n, &f)) return q->status;
    hk_buf pb;
    hk_buf_init(&pb);
    hk_status st = hj_write(&pb, pay);
    if (!st) st = hk_payload_set(q->c, f ? NULL : ids, n, f, hk_buf_cstr(&pb), mode);
    hk_buf_free(&pb);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

static int h_payload_delete(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *keys = opt(q->body, "keys");
    if (!keys || keys->type != HJ_ARRAY) return fail(q, 400, "'keys' must be an array of strings");
    const char **k = hk_arena_alloc(&q->r->arena, (keys->n ? keys->n : 1) * sizeof *k);
    if (!k) return nomem(q);
    for (uint32_t i = 0; i < keys->n; i++) {
        if (keys->u.items[i].type != HJ_STRING) return fail(q, 400, "'keys' must be an array of strings");
        k[i] = keys->u.items[i].u.s;
    }
    uint64_t *ids;
    size_t n;
    hk_filter *f;
    if (get_selector(q, 1, &ids, &n, &f)) return q->status;
    hk_status st = hk_payload_delete(q->c, f ? NULL : ids, n, f, k, keys->n);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

/* ---- points: reads ---- */

static int get_with_vector(qctx *q, const hj_value *obj, int *out) {
    const hj_value *v = opt(obj, "with_vector");
    if (!v) v = opt(obj, "with_vectors");
    *out = 0;
    if (!v) return 0;
    if (v->type == HJ_ARRAY) return fail(q, 400, "'with_vector' as a list of names: named vectors are "
                                         "not supported; use true or false");
    if (v->type != HJ_TRUE && v->type != HJ_FALSE)
        return fail(q, 400, "'with_vector' must be true or false, got %s", hj_type_name(v->type));
    *out = v->type == HJ_TRUE;
    return 0;
}

static uint32_t with_flags(const psel *p, int with_vector) {
    return (p->all ? HK_WITH_PAYLOAD : 0) | (with_vector ? HK_WITH_VECTOR : 0);
}

static int h_get_points(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *idv = opt(q->body, "ids");
    if (!idv) return fail(q, 400, "'ids' is required: a list of point ids");
    uint64_t *ids;
    size_t n;
    psel p;
    int wv;
    if (get_ids(q, idv, "ids", &ids, &n) || get_psel(q, q->body, 1, &p) || get_with_vector(q, q->body, &wv))
        return q->status;
    hk_result *res;
    hk_status st = hk_get(q->c, ids, n, with_flags(&p, wv), &res);
    if (st) return lib_fail(q, st);
    hk_buf_putc(&q->out, '[');
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        if (i) hk_buf_putc(&q->out, ',');
        put_record(q, res, 0, i, &p, wv, 0);
    }
    hk_buf_putc(&q->out, ']');
    hk_result_free(res);
    return 200;
}

static int h_get_point(qctx *q) {
    if (open_coll(q)) return q->status;
    const char *s = q->r->seg[3];
    uint64_t id = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
            return fail(q, 400, "the point id '%.64s' is not an unsigned integer (UUID ids are not "
                        "supported)", s);
        id = id * 10 + (uint64_t)(*p - '0');
    }
    hk_result *res;
    hk_status st = hk_get(q->c, &id, 1, HK_WITH_PAYLOAD | HK_WITH_VECTOR, &res);
    if (st) return lib_fail(q, st);
    if (hk_result_count(res, 0) == 0) {
        hk_result_free(res);
        return fail(q, 404, "No point with id %llu found", (unsigned long long)id);
    }
    psel p = {1, NULL, NULL};
    put_record(q, res, 0, 0, &p, 1, 0);
    hk_result_free(res);
    return 200;
}

static int h_scroll(qctx *q) {
    if (parse_body(q, 0) || open_coll(q)) return q->status;
    if (opt(q->body, "order_by")) return fail(q, 400, "'order_by' is not supported");
    hk_scroll_params sp;
    memset(&sp, 0, sizeof sp);
    uint64_t lim;
    psel p;
    int wv;
    if (get_uint(q, q->body, "limit", 100000, 10, &lim) || get_psel(q, q->body, 1, &p) ||
        get_with_vector(q, q->body, &wv))
        return q->status;
    if (lim == 0) return fail(q, 400, "'limit' must be at least 1");
    const hj_value *off = opt(q->body, "offset");
    if (off) {
        if (get_id(q, off, "offset", &sp.offset)) return q->status;
        sp.has_offset = 1;
    }
    hk_filter *f;
    if (get_filter(q, q->body, &f)) return q->status;
    sp.limit = (uint32_t)lim;
    sp.filter = f;
    sp.with = with_flags(&p, wv);
    hk_result *res;
    hk_status st = hk_scroll(q->c, &sp, &res);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    hk_buf_puts(&q->out, "{\"points\":[");
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        if (i) hk_buf_putc(&q->out, ',');
        put_record(q, res, 0, i, &p, wv, 0);
    }
    uint64_t next;
    if (hk_result_next_offset(res, &next))
        hk_buf_printf(&q->out, "],\"next_page_offset\":%llu}", (unsigned long long)next);
    else
        hk_buf_puts(&q->out, "],\"next_page_offset\":null}");
    hk_result_free(res);
    return 200;
}

static int h_count(qctx *q) {
    if (parse_body(q, 0) || open_coll(q)) return q->status;
    hk_filter *f;
    int exact;
    if (get_bool(q, q->body, "exact", 1, &exact) || get_filter(q, q->body, &f)) return q->status;
    uint64_t n;
    hk_status st = hk_count(q->c, f, &n);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    hk_buf_printf(&q->out, "{\"count\":%llu}", (unsigned long long)n);
    return 200;
}

/* ---- search ---- */

/* One search request (a SearchRequest object, or a recommend request): writes the JSON
 * array of scored points. The query is the vector, or when vector is NULL the example ids
 * (hk_query_set_examples). */
typedef struct examples {
    uint64_t *pos, *neg;
    size_t npos, nneg;
} examples;

static int run_search(qctx *q, const hj_value *req, const float *vector, const examples *ex) {
    static const char *const unsupported[] = {"using", "lookup_from", "shard_key"};
    if (refuse_present(q, req, unsupported, 3, " (named vectors and lookups are not served)"))
        return q->status;
    uint64_t limit, offset;
    psel p;
    int wv, exact = 0;
    uint64_t ef = 0;
    if (get_uint(q, req, "limit", 100000, 10, &limit) || get_uint(q, req, "offset", 1000000, 0, &offset) ||
        get_psel(q, req, 0, &p) || get_with_vector(q, req, &wv))
        return q->status;
    const hj_value *params = opt(req, "params");
    if (params) {
        if (params->type != HJ_OBJECT) return fail(q, 400, "'params' must be an object");
        if (get_uint(q, params, "hnsw_ef", 65536, 0, &ef) || get_bool(q, params, "exact", 0, &exact))
            return q->status;
    }
    const hj_value *thr = opt(req, "score_threshold");
    if (thr && !hj_is_number(thr)) return fail(q, 400, "'score_threshold' must be a number");
    hk_filter *f;
    if (get_filter(q, req, &f)) return q->status;
    if (limit == 0) {
        hk_buf_puts(&q->out, "[]");
        hk_filter_free(f);
        return 200;
    }
    hk_query *qq = NULL;
    hk_result *res = NULL;
    hk_status st;
    if (!(st = hk_query_new(&qq)) &&
        !(st = vector ? hk_query_set_vectors(qq, vector, 1, q->stats.dim)
                      : hk_query_set_examples(qq, ex->pos, ex->npos, ex->neg, ex->nneg)) &&
        !(st = hk_query_set_k(qq, (uint32_t)limit)) && !(st = hk_query_set_offset(qq, (uint32_t)offset)) &&
        !(st = hk_query_set_filter(qq, f)) && !(st = hk_query_set_exact(qq, exact)) &&
        !(st = hk_query_set_ef(qq, (uint32_t)ef)) &&
        !(st = hk_query_set_with(qq, with_flags(&p, wv))))
        st = hk_search(q->c, qq, &res);
    hk_query_free(qq);
    hk_filter_free(f);
    if (st) return lib_fail(q, st);
    /* Qdrant applies the threshold to scores (higher is better) and to Euclidean
     * distances (lower is better) alike: keep what is at least as good as it. */
    double t = thr ? hj_number(thr) : 0;
    int lower_better = q->stats.metric == HK_METRIC_L2;
    hk_buf_putc(&q->out, '[');
    int first = 1;
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        float s = hk_result_score(res, 0, i);
        if (thr && (lower_better ? (double)s > t : (double)s < t)) continue;
        if (!first) hk_buf_putc(&q->out, ',');
        first = 0;
        put_record(q, res, 0, i, &p, wv, 1);
    }
    hk_buf_putc(&q->out, ']');
    hk_result_free(res);
    return 200;
}

static int search_one(qctx *q, const hj_value *req, const char *what) {
    if (req->type != HJ_OBJECT) return fail(q, 400, "%s must be an object", what);
    const hj_value *v = opt(req, "vector");
    if (!v) return fail(q, 400, "%s: 'vector' is required", what);
    if (v->type == HJ_OBJECT)
        return fail(q, 400, "%s: named vectors ({name, vector}) are not supported; give 'vector' as "
                    "an array of %u numbers", what, q->stats.dim);
    float *vec = hk_arena_alloc(&q->r->arena, q->stats.dim * sizeof *vec);
    if (!vec) return nomem(q);
    if (get_vector(q, v, what, vec)) return q->status;
    return run_search(q, req, vec, NULL);
}

static int h_search(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    return search_one(q, q->body, "search");
}

static int h_search_batch(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *s = opt(q->body, "searches");
    if (!s || s->type != HJ_ARRAY) return fail(q, 400, "'searches' must be an array of search requests");
    /* One bad entry fails the whole batch (searches change nothing). */
    hk_buf_putc(&q->out, '[');
    char what[48];
    for (uint32_t i = 0; i < s->n; i++) {
        if (i) hk_buf_putc(&q->out, ',');
        snprintf(what, sizeof what, "searches[%u]", i);
        if (search_one(q, &s->u.items[i], what) != 200) return q->status;
    }
    hk_buf_putc(&q->out, ']');
    return 200;
}

static int get_examples(qctx *q, const char *what, uint64_t **ids, size_t *n) {
    const hj_value *list = opt(q->body, what);
    *ids = NULL;
    *n = 0;
    if (!list) return 0;
    if (list->type != HJ_ARRAY) return fail(q, 400, "'%s' must be an array of point ids", what);
    for (uint32_t i = 0; i < list->n; i++)
        if (list->u.items[i].type == HJ_ARRAY || list->u.items[i].type == HJ_OBJECT)
            return fail(q, 400, "'%s': vectors as examples are not supported; give point ids", what);
    return get_ids(q, list, what, ids, n);
}

static int h_recommend(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *strategy = opt(q->body, "strategy");
    if (strategy && (strategy->type != HJ_STRING || strcmp(strategy->u.s, "average_vector")))
        return fail(q, 400, "'strategy' %s%.32s%s is not supported: use average_vector",
                    strategy->type == HJ_STRING ? "'" : "",
                    strategy->type == HJ_STRING ? strategy->u.s : hj_type_name(strategy->type),
                    strategy->type == HJ_STRING ? "'" : "");
    examples ex;
    if (get_examples(q, "positive", &ex.pos, &ex.npos) || get_examples(q, "negative", &ex.neg, &ex.nneg))
        return q->status;
    if (!ex.npos) return fail(q, 400, "'positive' needs at least one example (average_vector strategy)");
    return run_search(q, q->body, NULL, &ex);
}

/* ---- payload indexes ---- */

static int h_index_create(qctx *q) {
    if (parse_body(q, 1) || open_coll(q)) return q->status;
    const hj_value *name = opt(q->body, "field_name"), *schema = opt(q->body, "field_schema");
    if (!name || name->type != HJ_STRING) return fail(q, 400, "'field_name' must be a string");
    if (schema && schema->type == HJ_OBJECT) schema = opt(schema, "type");
    if (!schema || schema->type != HJ_STRING)
        return fail(q, 400, "'field_schema' is required: keyword, integer, float or bool");
    hk_field_type type;
    if (hk_field_type_parse(schema->u.s, &type))
        return fail(q, 400, "payload index type '%.32s' is not supported: use keyword, integer, "
                    "float or bool", schema->u.s);
    hk_status st = hk_payload_index_create(q->c, name->u.s, type);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

static int h_index_drop(qctx *q) {
    if (open_coll(q)) return q->status;
    hk_status st = hk_payload_index_drop(q->c, q->r->seg[3]);
    if (st) return lib_fail(q, st);
    return op_done(q);
}

/* ---- routing ---- */

typedef struct route {
    const char *method;
    const char *pattern; /* segments after "collections", '*' matches one */
    int (*fn)(qctx *);
    hks_class cls;
    int write;
} route;

static int h_overwrite(qctx *q) { return h_payload_set(q, HK_PAYLOAD_OVERWRITE); }
static int h_set(qctx *q) { return h_payload_set(q, HK_PAYLOAD_SET); }

static const route k_routes[] = {
    {"GET", "", h_list, HKS_CLASS_COLLECTIONS, 0},
    {"GET", "*", h_info, HKS_CLASS_COLLECTIONS, 0},
    {"PUT", "*", h_create, HKS_CLASS_COLLECTIONS, 1},
    {"DELETE", "*", h_drop, HKS_CLASS_COLLECTIONS, 1},
    {"GET", "*/exists", h_exists, HKS_CLASS_COLLECTIONS, 0},
    {"PUT", "*/index", h_index_create, HKS_CLASS_COLLECTIONS, 1},
    {"DELETE", "*/index/*", h_index_drop, HKS_CLASS_COLLECTIONS, 1},
    {"PUT", "*/points", h_upsert, HKS_CLASS_WRITE, 1},
    {"POST", "*/points", h_get_points, HKS_CLASS_READ, 0},
    {"POST", "*/points/delete", h_delete, HKS_CLASS_WRITE, 1},
    {"POST", "*/points/payload", h_set, HKS_CLASS_WRITE, 1},
    {"PUT", "*/points/payload", h_overwrite, HKS_CLASS_WRITE, 1},
    {"POST", "*/points/payload/delete", h_payload_delete, HKS_CLASS_WRITE, 1},
    {"POST", "*/points/scroll", h_scroll, HKS_CLASS_READ, 0},
    {"POST", "*/points/count", h_count, HKS_CLASS_READ, 0},
    {"POST", "*/points/search", h_search, HKS_CLASS_SEARCH, 0},
    {"POST", "*/points/search/batch", h_search_batch, HKS_CLASS_SEARCH, 0},
    {"POST", "*/points/recommend", h_recommend, HKS_CLASS_SEARCH, 0},
    {"GET", "*/points/*", h_get_point, HKS_CLASS_READ, 0},
};

/* Segments after seg[0] == "collections" against a pattern; *path_ok says the path matched
 * with another method. */
static int match(const hks_req *r, const char *pattern) {
    int i = 1;
    const char *p = pattern;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (i >= r->nseg) return 0;
        if (!(len == 1 && *p == '*') && (strlen(r->seg[i]) != len || memcmp(r->seg[i], p, len)))
            return 0;
        i++;
        p += len + (e ? 1 : 0);
    }
    return i == r->nseg;
}

int qd_route(hks_req *r, hks_resp *resp, int classify_only) {
    if (r->nseg < 1 || strcmp(r->seg[0], "collections")) return 0;
    const route *found = NULL;
    int path_ok = 0;
    for (size_t i = 0; i < sizeof k_routes / sizeof *k_routes; i++) {
        if (!match(r, k_routes[i].pattern)) continue;
        path_ok = 1;
        if (!strcmp(k_routes[i].method, r->method)) {
            found = &k_routes[i];
            break;
        }
    }
    if (!path_ok) return 0;
    r->cls = found ? found->cls : HKS_CLASS_UNKNOWN;
    r->is_write = found ? found->write : 0;
    if (classify_only) return 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    qctx q;
    memset(&q, 0, sizeof q);
    q.r = r;
    hk_buf_init(&q.out);
    int status;
    if (!found) status = fail(&q, 405, "method %s is not allowed on %.160s", r->method, r->path);
    else status = found->fn(&q);
    hk_collection_close(q.c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (status == 200) hks_ok(resp, 200, (const char *)q.out.data ? (const char *)q.out.data : "",
                              q.out.len, secs);
    else hks_error(resp, status, q.err, secs);
    hk_buf_free(&q.out);
    return 1;
}
