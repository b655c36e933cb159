/*
 * qdrant.c — the Qdrant-compatible REST routes: collections, points, payload, scroll,
 * count, search, batch search, recommend, the query API, payload indexes and snapshots,
 * with Qdrant's paths, request and response shapes, and envelope (the shared helpers and
 * the router are in route.c).
 *
 * Decisions:
 *  - Recommendation is the library's (hk_query_set_examples, hk_query_set_recommend with
 *    Qdrant's average_vector and best_score strategies); the server only reads ids.
 *  - Scores need no conversion: the library already returns what Qdrant does (cosine
 *    similarity and dot product, higher is better; Euclidean distance, lower is better),
 *    and score_threshold keeps what Qdrant keeps (score >= t, or distance <= t for Euclid).
 *  - Every write is synchronous and durable when it returns, so `wait` is accepted and
 *    every write answers "completed"; operation_id is the collection's log sequence
 *    number after the write. Points carry no version of their own: "version" is 0.
 *  - Ids are unsigned integers (up to 2^63 - 1). UUID strings, named and sparse vectors,
 *    and request options that would change results (order_by, lookup_from, using,
 *    vectors as recommend examples) are refused with a 400 naming them; options that only tune Qdrant's own storage
 *    (shard_number, optimizers_config, wal_config, on_disk, full_scan_threshold, ...)
 *    are accepted and ignored.
 *  - quantization_config is a request kept by the library with the collection
 *    (hk_collection_set_quant_request): scalar int8 is sq8 (with Qdrant's quantile as the
 *    clip), product xN is 8-bit PQ with 4 * dim / N bytes per point, binary is refused.
 *    Codes need data, so the "quantize" job (hroutes.c) starts once the collection holds
 *    --quantize-min-points points: after an upsert, a PATCH, or at server start.
 *  - Request validation happens before the library is called, and the library changes
 *    nothing on failure, so a refused request leaves the database as it was.
 *  - The query API's fusion of prefetches is the library's (hk_search_fused), named by
 *    hk_fusion_from_name; the server only builds one query per prefetch.
 *  - Snapshots are files the server writes under DIR/snapshots/COLLECTION/; a request
 *    names them by name, and recovery accepts only files under that directory, so no
 *    request reads or writes a file elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "qfilter.h"
#include "route.h"

/* ---- collections ---- */

/* Qdrant's quantization_config (what names it in errors) for a collection of dim: into p,
 * or *disabled for "Disabled" where allowed (PATCH). */
static int get_quant_config(qctx *q, const hj_value *v, const char *what, uint32_t dim,
                            int allow_disabled, hk_quant_params *p, int *disabled) {
    hk_quant_params_init(p);
    *disabled = 0;
    if (allow_disabled && v->type == HJ_STRING && !strcmp(v->u.s, "Disabled")) {
        *disabled = 1;
        return 0;
    }
    if (v->type != HJ_OBJECT || v->n != 1)
        return hr_fail(q, 400, "'%s' must be an object with one of 'scalar', 'product' or "
                       "'binary'%s", what, allow_disabled ? ", or \"Disabled\"" : "");
    static const char *const kinds[] = {"scalar", "product", "binary"};
    if (hr_known_members(q, v, kinds, 3, what)) return q->status;
    const char *kind = v->u.members[0].key;
    const hj_value *o = &v->u.members[0].value;
    if (!strcmp(kind, "binary"))
        return hr_fail(q, 400, "'%s.binary': binary quantization is not supported; use scalar "
                       "or product", what);
    char sub[96];
    snprintf(sub, sizeof sub, "%s.%s", what, kind);
    if (o->type != HJ_OBJECT) return hr_fail(q, 400, "'%s' must be an object", sub);
    const hj_value *ar = hj_get(o, "always_ram");
    if (ar && ar->type != HJ_TRUE && ar->type != HJ_FALSE && ar->type != HJ_NULL)
        return hr_fail(q, 400, "'%s.always_ram' must be true or false", sub);
    if (!strcmp(kind, "scalar")) {
        static const char *const known[] = {"type", "quantile", "always_ram"};
        if (hr_known_members(q, o, known, 3, sub)) return q->status;
        const hj_value *t = hr_opt(o, "type");
        if (!t || t->type != HJ_STRING || strcmp(t->u.s, "int8"))
            return hr_fail(q, 400, "'%s.type' must be \"int8\"", sub);
        const hj_value *qu = hr_opt(o, "quantile");
        if (qu && (!hj_is_number(qu) || !(hj_number(qu) >= 0.5 && hj_number(qu) <= 1)))
            return hr_fail(q, 400, "'%s.quantile' must be a number from 0.5 to 1", sub);
        p->method = HK_QUANT_SQ8;
        if (qu) p->sq_quantile = hj_number(qu);
        return 0;
    }
    static const char *const known[] = {"compression", "always_ram"};
    if (hr_known_members(q, o, known, 2, sub)) return q->status;
    const hj_value *c = hr_opt(o, "compression");
    unsigned n = 0;
    if (c && c->type == HJ_STRING)
        for (unsigned k = 4; k <= 64; k *= 2) {
            char name[8];
            snprintf(name, sizeof name, "x%u", k);
            if (!strcmp(c->u.s, name)) n = k;
        }
    if (!n) return hr_fail(q, 400, "'%s.compression' must be one of x4, x8, x16, x32 and x64", sub);
    /* 8-bit sub-quantizers: one byte per point each, 4 * dim / n of them, each over n / 4
     * components (n is a power of two from 4, so they divide dim when the count is whole). */
    uint64_t bytes = 4ull * dim / n;
    if ((4ull * dim) % n || bytes == 0)
        return hr_fail(q, 400, "'%s.compression' x%u needs 4 * dim / %u bytes per point, and "
                       "4 * %u / %u is not a whole number", sub, n, n, dim, n);
    p->method = HK_QUANT_PQ;
    p->pq_m = (uint32_t)bytes;
    p->pq_bits = 8;
    return 0;
}

/* The collection's request in Qdrant's shape, or null (none, or a method Qdrant cannot
 * name: sq4, OPQ, 4-bit PQ, int8's one step). */
static void put_quant_config(hk_buf *b, hk_collection *c, uint32_t dim) {
    hk_quant_params p;
    if (hk_collection_quant_request(c, &p, NULL)) {
        hk_buf_puts(b, "null");
    } else if (p.method == HK_QUANT_SQ8 && p.curve == HK_CURVE_NONE) {
        hk_buf_puts(b, "{\"scalar\":{\"type\":\"int8\",\"quantile\":");
        if (p.sq_quantile > 0) hk_buf_printf(b, "%.9g", p.sq_quantile);
        else hk_buf_puts(b, "null");
        hk_buf_puts(b, ",\"always_ram\":true}}");
    } else if (p.method == HK_QUANT_PQ && p.pq_bits == 8 && p.pq_m && (4ull * dim) % p.pq_m == 0) {
        hk_buf_printf(b, "{\"product\":{\"compression\":\"x%llu\",\"always_ram\":true}}",
                      (unsigned long long)(4ull * dim / p.pq_m));
    } else {
        hk_buf_puts(b, "null");
    }
}

static int h_list(qctx *q) {
    char **names;
    size_t n;
    hk_status st = hk_db_list(q->r->db, &names, &n);
    if (st) return hr_lib_fail(q, st);
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
    if (hr_open_coll(q) || hr_full_stats(q)) return q->status;
    hk_collection_config cfg;
    hk_status st = hk_collection_get_config(q->c, &cfg);
    if (st) return hr_lib_fail(q, st);
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
                  "{\"wal_capacity_mb\":64,\"wal_segments_ahead\":0},\"quantization_config\":",
                  (unsigned long long)(hnsw ? s->count : 0), (unsigned long long)s->count, s->dim,
                  distance_name(s->metric), hnsw ? cfg.hnsw_m : 0, cfg.hnsw_ef_construction);
    put_quant_config(b, q->c, s->dim);
    hk_buf_puts(b, "},\"payload_schema\":{");
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
    if (st && st != HK_NOT_FOUND) return hr_lib_fail(q, st);
    hk_buf_printf(&q->out, "{\"exists\":%s}", st ? "false" : "true");
    return 200;
}

static int h_create(qctx *q) {
    if (hr_parse_body(q, 1)) return q->status;
    const hj_value *b = q->body;
    static const char *const unsupported[] = {"sparse_vectors", "init_from", "sharding_method"};
    if (hr_refuse_present(q, b, unsupported, 3, " by this server")) return q->status;
    const hj_value *vec = hr_opt(b, "vectors");
    if (!vec) return hr_fail(q, 400, "'vectors' is required: {\"size\": N, \"distance\": "
                          "\"Cosine\"|\"Euclid\"|\"Dot\"}");
    if (vec->type != HJ_OBJECT) return hr_fail(q, 400, "'vectors' must be an object, got %s",
                                            hj_type_name(vec->type));
    if (!hj_get(vec, "size"))
        return hr_fail(q, 400, "named vectors are not supported: give 'vectors' as {\"size\": N, "
                    "\"distance\": ...}");
    static const char *const unsupported_vec[] = {"multivector_config"};
    if (hr_refuse_present(q, vec, unsupported_vec, 1, " in 'vectors'")) return q->status;
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    uint64_t u;
    if (hr_get_uint(q, vec, "size", HK_MAX_DIM, 0, &u)) return q->status;
    if (u < 1) return hr_fail(q, 400, "'vectors.size' must be an integer from 1 to %d", HK_MAX_DIM);
    cfg.dim = (uint32_t)u;
    const hj_value *dist = hr_opt(vec, "distance");
    if (!dist || dist->type != HJ_STRING)
        return hr_fail(q, 400, "'vectors.distance' is required: Cosine, Euclid or Dot");
    if (!strcmp(dist->u.s, "Cosine")) cfg.metric = HK_METRIC_COSINE;
    else if (!strcmp(dist->u.s, "Euclid")) cfg.metric = HK_METRIC_L2;
    else if (!strcmp(dist->u.s, "Dot")) cfg.metric = HK_METRIC_IP;
    else return hr_fail(q, 400, "'vectors.distance' '%.32s' is not supported: use Cosine, Euclid or Dot",
                     dist->u.s);
    const hj_value *dt = hr_opt(vec, "datatype");
    if (dt && (dt->type != HJ_STRING || strcmp(dt->u.s, "float32")))
        return hr_fail(q, 400, "'vectors.datatype' must be float32");
    const hj_value *hnsw = hr_opt(b, "hnsw_config");
    if (!hnsw) hnsw = hr_opt(vec, "hnsw_config");
    if (hnsw) {
        if (hnsw->type != HJ_OBJECT) return hr_fail(q, 400, "'hnsw_config' must be an object");
        if (hr_get_uint(q, hnsw, "m", 128, cfg.hnsw_m, &u)) return q->status;
        if (u == 0) {
            cfg.index = HK_INDEX_FLAT; /* Qdrant's m = 0 means "no graph" */
        } else {
            if (u < 2) return hr_fail(q, 400, "'hnsw_config.m' must be 0 (no graph) or 2 to 128");
            cfg.hnsw_m = (uint32_t)u;
        }
        if (hr_get_uint(q, hnsw, "ef_construct", 65536, cfg.hnsw_ef_construction, &u)) return q->status;
        if (u < 1) return hr_fail(q, 400, "'hnsw_config.ef_construct' must be from 1 to 65536");
        cfg.hnsw_ef_construction = (uint32_t)u;
    }
    const hj_value *qc = hr_opt(vec, "quantization_config");
    const char *qwhat = "vectors.quantization_config";
    if (!qc) qc = hr_opt(b, "quantization_config"), qwhat = "quantization_config";
    hk_quant_params qp;
    int disabled;
    if (qc && get_quant_config(q, qc, qwhat, cfg.dim, 0, &qp, &disabled)) return q->status;
    hk_collection *c = NULL;
    hk_status st = hk_collection_create(q->r->db, q->r->seg[1], &cfg, qc ? &c : NULL);
    if (st == HK_EXISTS) return hr_fail(q, 409, "Collection `%s` already exists!", q->r->seg[1]);
    if (st) return hr_lib_fail(q, st);
    if (c) {
        st = hk_collection_set_quant_request(c, &qp, 0);
        hk_collection_close(c);
        if (st) { /* the collection is new: take it back rather than keep half the request */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", hk_errmsg());
            hk_collection_drop(q->r->db, q->r->seg[1]);
            return hr_fail(q, 500, "cannot keep the quantization_config: %s", msg);
        }
    }
    hk_buf_puts(&q->out, "true");
    return 200;
}

/* PATCH: Qdrant's update collection. Only quantization_config changes anything here, at
 * the top level or for the unnamed vector ({"vectors": {"": {...}}}); members Qdrant
 * allows that HEKTOR would not apply get a 400 naming them. */
static int h_update(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const known[] = {"quantization_config", "vectors", "optimizers_config",
                                        "params", "hnsw_config", "sparse_vectors",
                                        "strict_mode_config", "metadata"};
    if (hr_known_members(q, b, known, sizeof known / sizeof *known, "update collection"))
        return q->status;
    static const char *const unapplied[] = {"optimizers_config", "params", "hnsw_config",
                                            "sparse_vectors", "strict_mode_config", "metadata"};
    if (hr_refuse_present(q, b, unapplied, sizeof unapplied / sizeof *unapplied,
                          " by this server's update collection (only quantization_config is; "
                          "POST /hektor/collections/{name}/index rebuilds the graph)"))
        return q->status;
    const hj_value *qc = hr_opt(b, "quantization_config");
    const char *qwhat = "quantization_config";
    const hj_value *vecs = hr_opt(b, "vectors");
    if (vecs) {
        if (vecs->type != HJ_OBJECT) return hr_fail(q, 400, "'vectors' must be an object");
        static const char *const unnamed[] = {""};
        if (hr_known_members(q, vecs, unnamed, 1, "'vectors' (the unnamed vector is \"\")"))
            return q->status;
        const hj_value *v = hr_opt(vecs, "");
        if (v) {
            if (v->type != HJ_OBJECT) return hr_fail(q, 400, "'vectors.\"\"' must be an object");
            static const char *const vk[] = {"quantization_config", "hnsw_config", "on_disk"};
            if (hr_known_members(q, v, vk, 3, "'vectors.\"\"'")) return q->status;
            if (hr_opt(v, "hnsw_config") || hr_opt(v, "on_disk"))
                return hr_fail(q, 400, "'vectors.\"\".%s' is not supported by this server's update "
                               "collection (only quantization_config is)",
                               hr_opt(v, "hnsw_config") ? "hnsw_config" : "on_disk");
            const hj_value *vq = hr_opt(v, "quantization_config");
            if (vq && qc)
                return hr_fail(q, 400, "give 'quantization_config' once: at the top level or in "
                               "'vectors'");
            if (vq) qc = vq, qwhat = "vectors.\"\".quantization_config";
        }
    }
    if (!qc) { /* nothing to change */
        hk_buf_puts(&q->out, "true");
        return 200;
    }
    if (q->stats.dim == 0)
        return hr_fail(q, 400, "collection '%s' is text-only: it has no vectors to quantize",
                       q->r->seg[1]);
    hk_quant_params qp;
    int disabled;
    if (get_quant_config(q, qc, qwhat, q->stats.dim, 1, &qp, &disabled)) return q->status;
    hk_status st = hk_collection_set_quant_request(q->c, disabled ? NULL : &qp, 0);
    /* Jobs begun for the old request would install nothing now (their generation is not
     * current): stop them rather than let them train. */
    if (!st)
        hkr_quantize_requested_cancel(q->r->seg[1], disabled
                                      ? "cancelled: the quantization request was disabled"
                                      : "cancelled: the quantization request changed");
    if (!st && disabled) {
        st = hk_collection_dequantize(q->c);
        if (st == HK_NOT_FOUND) st = HK_OK;
    }
    if (st) return hr_lib_fail(q, st);
    if (!disabled) hkr_quantize_requested(q->r->db, q->r->seg[1], 1);
    hk_buf_puts(&q->out, "true");
    return 200;
}

static int h_drop(qctx *q) {
    hk_status st = hk_collection_drop(q->r->db, q->r->seg[1]);
    if (st == HK_NOT_FOUND) return hr_fail(q, 404, "Collection `%s` doesn't exist!", q->r->seg[1]);
    if (st) return hr_lib_fail(q, st);
    hkr_projection_forget(q->r->seg[1]);
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
        return hr_fail(q, 400, "%s: the payload must be an object, got %s", what, hj_type_name(v->type));
    *off = pb->len;
    if (hj_write(pb, v)) return hr_nomem(q);
    *len = pb->len - *off;
    return 0;
}

static int h_upsert(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *points = hr_opt(q->body, "points"), *batch = hr_opt(q->body, "batch");
    if (!points == !batch)
        return hr_fail(q, 400, "give either 'points' (a list of {id, vector, payload}) or 'batch' "
                    "({ids, vectors, payloads})");
    const hj_value *ids = NULL, *vecs = NULL, *pays = NULL;
    size_t n;
    if (points) {
        if (points->type != HJ_ARRAY) return hr_fail(q, 400, "'points' must be an array");
        n = points->n;
    } else {
        if (batch->type != HJ_OBJECT) return hr_fail(q, 400, "'batch' must be an object");
        ids = hr_opt(batch, "ids");
        vecs = hr_opt(batch, "vectors");
        pays = hr_opt(batch, "payloads");
        if (!ids || ids->type != HJ_ARRAY) return hr_fail(q, 400, "'batch.ids' must be an array");
        if (!vecs || vecs->type != HJ_ARRAY) return hr_fail(q, 400, "'batch.vectors' must be an array");
        if (vecs->n != ids->n)
            return hr_fail(q, 400, "'batch.vectors' has %u entries but 'batch.ids' has %u", vecs->n, ids->n);
        if (pays && (pays->type != HJ_ARRAY || pays->n != ids->n))
            return hr_fail(q, 400, "'batch.payloads' must be an array as long as 'batch.ids' (%u)", ids->n);
        n = ids->n;
    }
    uint32_t dim = q->stats.dim;
    hk_point *pts = hk_arena_alloc(&q->r->arena, (n ? n : 1) * sizeof *pts);
    float *fv = hk_arena_alloc(&q->r->arena, (n ? n : 1) * dim * sizeof *fv);
    size_t *offs = hk_arena_alloc(&q->r->arena, (n ? n : 1) * 2 * sizeof *offs);
    if (!pts || !fv || !offs) return hr_nomem(q);
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
                return hr_fail(q, 400, "%s: must be an object {id, vector, payload}", what);
            }
            id = hr_opt(p, "id");
            vec = hr_opt(p, "vector");
            pay = hr_opt(p, "payload");
            if (!vec && hr_opt(p, "vectors")) vec = hr_opt(p, "vectors");
        } else {
            id = &ids->u.items[i];
            vec = &vecs->u.items[i];
            pay = pays ? &pays->u.items[i] : NULL;
        }
        memset(&pts[i], 0, sizeof pts[i]);
        if (!id || !vec) {
            hk_buf_free(&pb);
            return hr_fail(q, 400, "%s: needs an 'id' and a 'vector'", what);
        }
        if (hr_get_id(q, id, what, &pts[i].id) || hr_get_vector(q, vec, what, fv + i * dim) ||
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
    if (st) return hr_lib_fail(q, st);
    hkr_quantize_requested(q->r->db, q->r->seg[1], 0);
    return hr_op_done(q);
}

/* {"points": [ids]} or {"filter": ...}: exactly one. */
static int get_selector(qctx *q, int required, uint64_t **ids, size_t *n, hk_filter **f) {
    const hj_value *pts = hr_opt(q->body, "points"), *flt = hr_opt(q->body, "filter");
    *ids = NULL;
    *n = 0;
    *f = NULL;
    if (pts && flt) return hr_fail(q, 400, "give 'points' or 'filter', not both");
    if (!pts && !flt) return required ? hr_fail(q, 400, "give 'points' (a list of ids) or 'filter'") : 0;
    if (pts) return hr_get_ids(q, pts, "points", ids, n);
    return hr_get_filter(q, q->body, f);
}

static int h_delete(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    uint64_t *ids;
    size_t n;
    hk_filter *f;
    if (get_selector(q, 1, &ids, &n, &f)) return q->status;
    hk_status st = f ? hk_delete_by_filter(q->c, f, NULL) : hk_delete(q->c, ids, n, NULL);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
    return hr_op_done(q);
}

static int h_payload_set(qctx *q, hk_payload_mode mode) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *pay = hr_opt(q->body, "payload");
    if (!pay || pay->type != HJ_OBJECT) return hr_fail(q, 400, "'payload' must be an object");
    if (hr_opt(q->body, "key")) return hr_fail(q, 400, "'key' (setting a nested payload path) is not supported");
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
    if (st) return hr_lib_fail(q, st);
    return hr_op_done(q);
}

static int h_payload_delete(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *keys = hr_opt(q->body, "keys");
    if (!keys || keys->type != HJ_ARRAY) return hr_fail(q, 400, "'keys' must be an array of strings");
    const char **k = hk_arena_alloc(&q->r->arena, (keys->n ? keys->n : 1) * sizeof *k);
    if (!k) return hr_nomem(q);
    for (uint32_t i = 0; i < keys->n; i++) {
        if (keys->u.items[i].type != HJ_STRING) return hr_fail(q, 400, "'keys' must be an array of strings");
        k[i] = keys->u.items[i].u.s;
    }
    uint64_t *ids;
    size_t n;
    hk_filter *f;
    if (get_selector(q, 1, &ids, &n, &f)) return q->status;
    hk_status st = hk_payload_delete(q->c, f ? NULL : ids, n, f, k, keys->n);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
    return hr_op_done(q);
}

/* ---- points: reads ---- */

static int h_get_points(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *idv = hr_opt(q->body, "ids");
    if (!idv) return hr_fail(q, 400, "'ids' is required: a list of point ids");
    uint64_t *ids;
    size_t n;
    psel p;
    int wv;
    if (hr_get_ids(q, idv, "ids", &ids, &n) || hr_get_psel(q, q->body, 1, &p) || hr_get_with_vector(q, q->body, &wv))
        return q->status;
    hk_result *res;
    hk_status st = hk_get(q->c, ids, n, hr_with_flags(&p, wv), &res);
    if (st) return hr_lib_fail(q, st);
    hk_buf_putc(&q->out, '[');
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        if (i) hk_buf_putc(&q->out, ',');
        hr_put_record(q, res, 0, i, &p, wv, 0);
    }
    hk_buf_putc(&q->out, ']');
    hk_result_free(res);
    return 200;
}

static int h_get_point(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    const char *s = q->r->seg[3];
    uint64_t id = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || id > (UINT64_MAX - 9) / 10)
            return hr_fail(q, 400, "the point id '%.64s' is not an unsigned integer (UUID ids are not "
                        "supported)", s);
        id = id * 10 + (uint64_t)(*p - '0');
    }
    hk_result *res;
    hk_status st = hk_get(q->c, &id, 1, HK_WITH_PAYLOAD | HK_WITH_VECTOR, &res);
    if (st) return hr_lib_fail(q, st);
    if (hk_result_count(res, 0) == 0) {
        hk_result_free(res);
        return hr_fail(q, 404, "No point with id %llu found", (unsigned long long)id);
    }
    psel p = {1, NULL, NULL};
    hr_put_record(q, res, 0, 0, &p, 1, 0);
    hk_result_free(res);
    return 200;
}

static int h_scroll(qctx *q) {
    if (hr_parse_body(q, 0) || hr_open_coll(q)) return q->status;
    if (hr_opt(q->body, "order_by")) return hr_fail(q, 400, "'order_by' is not supported");
    hk_scroll_params sp;
    memset(&sp, 0, sizeof sp);
    uint64_t lim;
    psel p;
    int wv;
    if (hr_get_uint(q, q->body, "limit", 100000, 10, &lim) || hr_get_psel(q, q->body, 1, &p) ||
        hr_get_with_vector(q, q->body, &wv))
        return q->status;
    if (lim == 0) return hr_fail(q, 400, "'limit' must be at least 1");
    const hj_value *off = hr_opt(q->body, "offset");
    if (off) {
        if (hr_get_id(q, off, "offset", &sp.offset)) return q->status;
        sp.has_offset = 1;
    }
    hk_filter *f;
    if (hr_get_filter(q, q->body, &f)) return q->status;
    sp.limit = (uint32_t)lim;
    sp.filter = f;
    sp.with = hr_with_flags(&p, wv);
    hk_result *res;
    hk_status st = hk_scroll(q->c, &sp, &res);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
    hk_buf_puts(&q->out, "{\"points\":[");
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        if (i) hk_buf_putc(&q->out, ',');
        hr_put_record(q, res, 0, i, &p, wv, 0);
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
    if (hr_parse_body(q, 0) || hr_open_coll(q)) return q->status;
    hk_filter *f;
    int exact;
    if (hr_get_bool(q, q->body, "exact", 1, &exact) || hr_get_filter(q, q->body, &f)) return q->status;
    uint64_t n;
    hk_status st = hk_count(q->c, f, &n);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
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
    hk_recommend strategy;
} examples;

/* Qdrant's search params.quantization {ignore, rescore, oversampling} for a query of want
 * results: ignore searches without the codes (exact), rescore false takes only the want
 * best candidates of the codes, oversampling re-ranks oversampling * want of them. */
static int get_quant_search(qctx *q, const hj_value *params, uint64_t want, int *exact,
                            uint32_t *rerank) {
    *rerank = 0;
    const hj_value *qp = params ? hr_opt(params, "quantization") : NULL;
    if (!qp) return 0;
    if (qp->type != HJ_OBJECT) return hr_fail(q, 400, "'params.quantization' must be an object");
    static const char *const known[] = {"ignore", "rescore", "oversampling"};
    if (hr_known_members(q, qp, known, 3, "'params.quantization'")) return q->status;
    int ignore, rescore;
    if (hr_get_bool(q, qp, "ignore", 0, &ignore) || hr_get_bool(q, qp, "rescore", 1, &rescore))
        return q->status;
    const hj_value *os = hr_opt(qp, "oversampling");
    if (os && (!hj_is_number(os) || !(hj_number(os) >= 1 && hj_number(os) <= 1000)))
        return hr_fail(q, 400, "'params.quantization.oversampling' must be a number from 1 to 1000");
    if (ignore) *exact = 1;
    if (!want) want = 1;
    if (!rescore) *rerank = (uint32_t)(want > 1000000 ? 1000000 : want);
    else if (os) {
        /* At most 1e6 (as the native route's rerank) and never more than the collection
         * holds: the re-rank buffers are sized by it, and a read-only key can ask. */
        double d = fmin(ceil(hj_number(os) * (double)want), 1e6);
        hk_quant_state qs;
        if (!hk_collection_quant_state(q->c, &qs)) d = fmin(d, (double)(qs.count ? qs.count : 1));
        *rerank = (uint32_t)d; /* the library re-ranks at least want anyway */
    }
    return 0;
}

static int run_search(qctx *q, const hj_value *req, const float *vector, const examples *ex) {
    static const char *const unsupported[] = {"using", "lookup_from", "shard_key"};
    if (hr_refuse_present(q, req, unsupported, 3, " (named vectors and lookups are not served)"))
        return q->status;
    uint64_t limit, offset;
    psel p;
    int wv, exact = 0;
    uint64_t ef = 0;
    if (hr_get_uint(q, req, "limit", 100000, 10, &limit) || hr_get_uint(q, req, "offset", 1000000, 0, &offset) ||
        hr_get_psel(q, req, 0, &p) || hr_get_with_vector(q, req, &wv))
        return q->status;
    const hj_value *params = hr_opt(req, "params");
    if (params) {
        if (params->type != HJ_OBJECT) return hr_fail(q, 400, "'params' must be an object");
        if (hr_get_uint(q, params, "hnsw_ef", 65536, 0, &ef) || hr_get_bool(q, params, "exact", 0, &exact))
            return q->status;
    }
    uint32_t rerank;
    if (get_quant_search(q, params, limit + offset, &exact, &rerank)) return q->status;
    const hj_value *thr = hr_opt(req, "score_threshold");
    if (thr && !hj_is_number(thr)) return hr_fail(q, 400, "'score_threshold' must be a number");
    hk_filter *f;
    if (hr_get_filter(q, req, &f)) return q->status;
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
        (vector || !(st = hk_query_set_recommend(qq, ex->strategy))) &&
        !(st = hk_query_set_k(qq, (uint32_t)limit)) && !(st = hk_query_set_offset(qq, (uint32_t)offset)) &&
        !(st = hk_query_set_filter(qq, f)) && !(st = hk_query_set_exact(qq, exact)) &&
        !(st = hk_query_set_ef(qq, (uint32_t)ef)) && !(st = hk_query_set_rerank(qq, rerank)) &&
        !(st = hk_query_set_with(qq, hr_with_flags(&p, wv))))
        st = hk_search(q->c, qq, &res);
    hk_query_free(qq);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
    /* Qdrant applies the threshold to scores (higher is better) and to Euclidean
     * distances (lower is better) alike: keep what is at least as good as it. */
    double t = thr ? hj_number(thr) : 0;
    int lower_better = q->stats.metric == HK_METRIC_L2 &&
                       !(!vector && ex->strategy == HK_RECOMMEND_BEST_SCORE); /* its scores rise */
    hk_buf_putc(&q->out, '[');
    int first = 1;
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        float s = hk_result_score(res, 0, i);
        if (thr && (lower_better ? (double)s > t : (double)s < t)) continue;
        if (!first) hk_buf_putc(&q->out, ',');
        first = 0;
        hr_put_record(q, res, 0, i, &p, wv, 1);
    }
    hk_buf_putc(&q->out, ']');
    hk_result_free(res);
    return 200;
}

static int search_one(qctx *q, const hj_value *req, const char *what) {
    if (req->type != HJ_OBJECT) return hr_fail(q, 400, "%s must be an object", what);
    const hj_value *v = hr_opt(req, "vector");
    if (!v) return hr_fail(q, 400, "%s: 'vector' is required", what);
    if (v->type == HJ_OBJECT)
        return hr_fail(q, 400, "%s: named vectors ({name, vector}) are not supported; give 'vector' as "
                    "an array of %u numbers", what, q->stats.dim);
    float *vec = hk_arena_alloc(&q->r->arena, q->stats.dim * sizeof *vec);
    if (!vec) return hr_nomem(q);
    if (hr_get_vector(q, v, what, vec)) return q->status;
    return run_search(q, req, vec, NULL);
}

static int h_search(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    return search_one(q, q->body, "search");
}

static int h_search_batch(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *s = hr_opt(q->body, "searches");
    if (!s || s->type != HJ_ARRAY) return hr_fail(q, 400, "'searches' must be an array of search requests");
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
    const hj_value *list = hr_opt(q->body, what);
    *ids = NULL;
    *n = 0;
    if (!list) return 0;
    if (list->type != HJ_ARRAY) return hr_fail(q, 400, "'%s' must be an array of point ids", what);
    for (uint32_t i = 0; i < list->n; i++)
        if (list->u.items[i].type == HJ_ARRAY || list->u.items[i].type == HJ_OBJECT)
            return hr_fail(q, 400, "'%s': vectors as examples are not supported; give point ids", what);
    return hr_get_ids(q, list, what, ids, n);
}

static int h_recommend(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *strategy = hr_opt(q->body, "strategy");
    examples ex;
    ex.strategy = HK_RECOMMEND_AVERAGE_VECTOR;
    /* Qdrant's two strategies (the library's Rocchio is not one of Qdrant's) */
    if (strategy && (strategy->type != HJ_STRING || hk_recommend_from_name(strategy->u.s, &ex.strategy) ||
                     ex.strategy == HK_RECOMMEND_ROCCHIO))
        return hr_fail(q, 400, "'strategy' %s%.32s%s is not supported: use average_vector or best_score",
                    strategy->type == HJ_STRING ? "'" : "",
                    strategy->type == HJ_STRING ? strategy->u.s : hj_type_name(strategy->type),
                    strategy->type == HJ_STRING ? "'" : "");
    if (get_examples(q, "positive", &ex.pos, &ex.npos) || get_examples(q, "negative", &ex.neg, &ex.nneg))
        return q->status;
    if (!ex.npos) return hr_fail(q, 400, "'positive' needs at least one example");
    return run_search(q, q->body, NULL, &ex);
}

/* ---- payload indexes ---- */

static int h_index_create(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *name = hr_opt(q->body, "field_name"), *schema = hr_opt(q->body, "field_schema");
    if (!name || name->type != HJ_STRING) return hr_fail(q, 400, "'field_name' must be a string");
    if (schema && schema->type == HJ_OBJECT) schema = hr_opt(schema, "type");
    if (!schema || schema->type != HJ_STRING)
        return hr_fail(q, 400, "'field_schema' is required: keyword, integer, float or bool");
    hk_field_type type;
    if (hk_field_type_parse(schema->u.s, &type))
        return hr_fail(q, 400, "payload index type '%.32s' is not supported: use keyword, integer, "
                    "float or bool", schema->u.s);
    hk_status st = hk_payload_index_create(q->c, name->u.s, type);
    if (st) return hr_lib_fail(q, st);
    return hr_op_done(q);
}

static int h_index_drop(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    hk_status st = hk_payload_index_drop(q->c, q->r->seg[3]);
    if (st) return hr_lib_fail(q, st);
    return hr_op_done(q);
}

/* ---- the query API ---- */

/* A query member as a vector: [numbers] or {"nearest": [numbers]}; NULL otherwise. */
static const hj_value *query_vector(const hj_value *qv) {
    if (qv->type == HJ_ARRAY) return qv;
    if (qv->type == HJ_OBJECT && qv->n == 1 && !strcmp(qv->u.members[0].key, "nearest") &&
        qv->u.members[0].value.type == HJ_ARRAY)
        return &qv->u.members[0].value;
    return NULL;
}

/* The filter of a prefetch: its own and the request's, both applying. */
static int prefetch_filter(qctx *q, const hj_value *outer, const hj_value *inner, hk_filter **f) {
    if (!outer || !inner) {
        hk_status st = qf_parse(outer ? outer : inner, f);
        return st ? hr_fail(q, 400, "%s", hk_errmsg()) : 0;
    }
    hk_buf b;
    hk_buf_init(&b);
    hk_buf_puts(&b, "{\"must\":[");
    hj_write(&b, outer);
    hk_buf_putc(&b, ',');
    hj_write(&b, inner);
    hk_buf_puts(&b, "]}");
    hj_value *both;
    hk_status st = hj_parse((const char *)b.data, b.len, &q->r->arena, &both);
    hk_buf_free(&b);
    if (!st) st = qf_parse(both, f);
    return st ? hr_fail(q, 400, "%s", hk_errmsg()) : 0;
}

static int h_query(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const unsupported[] = {"using", "lookup_from", "shard_key"};
    if (hr_refuse_present(q, b, unsupported, 3, " (named vectors and lookups are not served)"))
        return q->status;
    const hj_value *qv = hr_opt(b, "query"), *pf = hr_opt(b, "prefetch");
    const hj_value *fusion = NULL;
    if (qv && qv->type == HJ_OBJECT && qv->n == 1 && !strcmp(qv->u.members[0].key, "fusion"))
        fusion = &qv->u.members[0].value;
    const hj_value *vec = qv && !fusion ? query_vector(qv) : NULL;
    if (qv && !fusion && !vec)
        return hr_fail(q, 400, "'query' must be a vector, {\"nearest\": vector} or {\"fusion\": "
                       "\"rrf\"} with 'prefetch'; %s queries are not supported",
                       qv->type == HJ_OBJECT && qv->n ? qv->u.members[0].key
                       : qv->type == HJ_INT ? "point id" : hj_type_name(qv->type));
    if (!pf) {
        if (fusion) return hr_fail(q, 400, "'query': fusion needs 'prefetch' (the lists to fuse)");
        if (!vec) return hr_fail(q, 400, "'query' is required");
        float *v = hk_arena_alloc(&q->r->arena, (q->stats.dim ? q->stats.dim : 1) * sizeof *v);
        if (!v) return hr_nomem(q);
        if (hr_get_vector(q, vec, "query", v)) return q->status;
        hk_buf_puts(&q->out, "{\"points\":");
        if (run_search(q, b, v, NULL) != 200) return q->status;
        hk_buf_putc(&q->out, '}');
        return 200;
    }
    if (vec)
        return hr_fail(q, 400, "re-scoring prefetched points with another vector is not supported: "
                       "use {\"fusion\": \"rrf\"} as the query");
    /* One prefetch without a query is that search; several need a fusion. */
    uint32_t npf = pf->type == HJ_ARRAY ? pf->n : 1;
    const hj_value *pfs = pf->type == HJ_ARRAY ? pf->u.items : pf;
    if (npf == 0) return hr_fail(q, 400, "'prefetch' is empty");
    if (!fusion && npf > 1)
        return hr_fail(q, 400, "several prefetches need a query that fuses them: {\"fusion\": \"rrf\"}");
    hk_fusion method = HK_FUSION_RRF;
    if (fusion && (fusion->type != HJ_STRING || hk_fusion_from_name(fusion->u.s, &method)))
        return hr_fail(q, 400, "fusion method %s%.32s%s is not supported by this server",
                       fusion->type == HJ_STRING ? "'" : "",
                       fusion->type == HJ_STRING ? fusion->u.s : hj_type_name(fusion->type),
                       fusion->type == HJ_STRING ? "'" : "");
    uint64_t limit, offset;
    psel p;
    int wv;
    if (hr_get_uint(q, b, "limit", 100000, 10, &limit) || hr_get_uint(q, b, "offset", 1000000, 0, &offset) ||
        hr_get_psel(q, b, 0, &p) || hr_get_with_vector(q, b, &wv))
        return q->status;
    if (limit == 0) return hr_fail(q, 400, "'limit' must be at least 1");
    const hj_value *thr = hr_opt(b, "score_threshold");
    if (thr && !hj_is_number(thr)) return hr_fail(q, 400, "'score_threshold' must be a number");
    hk_query **qs = hk_arena_alloc(&q->r->arena, npf * sizeof *qs);
    hk_filter **fs = hk_arena_alloc(&q->r->arena, npf * sizeof *fs);
    if (!qs || !fs) return hr_nomem(q);
    memset(qs, 0, npf * sizeof *qs);
    memset(fs, 0, npf * sizeof *fs);
    int status = 0;
    for (uint32_t i = 0; i < npf && !status; i++) {
        const hj_value *e = &pfs[i];
        char what[32];
        snprintf(what, sizeof what, "prefetch[%u]", i);
        if (e->type != HJ_OBJECT) {
            status = hr_fail(q, 400, "%s must be an object", what);
            break;
        }
        if (hr_opt(e, "prefetch") || hr_opt(e, "using") || hr_opt(e, "lookup_from")) {
            status = hr_fail(q, 400, "%s: nested prefetch, 'using' and 'lookup_from' are not supported",
                             what);
            break;
        }
        const hj_value *eq = hr_opt(e, "query"), *ev = eq ? query_vector(eq) : NULL;
        const hj_value *et = eq && eq->type == HJ_OBJECT ? hr_opt(eq, "text") : NULL;
        if (!ev && !(et && et->type == HJ_STRING)) {
            status = hr_fail(q, 400, "%s: 'query' must be a vector, {\"nearest\": vector} or "
                             "{\"text\": \"...\"} (BM25)", what);
            break;
        }
        uint64_t plim, ef;
        int exact = 0;
        if (hr_get_uint(q, e, "limit", 100000, 10, &plim)) {
            status = q->status;
            break;
        }
        ef = 0;
        const hj_value *params = hr_opt(e, "params");
        if (!params) params = hr_opt(b, "params");
        if (params && (params->type != HJ_OBJECT || hr_get_uint(q, params, "hnsw_ef", 65536, 0, &ef) ||
                       hr_get_bool(q, params, "exact", 0, &exact))) {
            status = q->status ? q->status : hr_fail(q, 400, "%s: 'params' must be an object", what);
            break;
        }
        if (plim == 0) {
            status = hr_fail(q, 400, "%s: 'limit' must be at least 1", what);
            break;
        }
        uint32_t rerank;
        if (get_quant_search(q, params, plim > limit + offset ? plim : limit + offset, &exact, &rerank)) {
            status = q->status;
            break;
        }
        if (prefetch_filter(q, hr_opt(b, "filter"), hr_opt(e, "filter"), &fs[i])) {
            status = q->status;
            break;
        }
        float *v = NULL;
        if (ev) {
            if (!(v = hk_arena_alloc(&q->r->arena, (q->stats.dim ? q->stats.dim : 1) * sizeof *v))) {
                status = hr_nomem(q);
                break;
            }
            if (hr_get_vector(q, ev, what, v)) {
                status = q->status;
                break;
            }
        }
        hk_status st;
        if ((st = hk_query_new(&qs[i])) || (v && (st = hk_query_set_vectors(qs[i], v, 1, q->stats.dim))) ||
            (!v && (st = hk_query_set_text(qs[i], et->u.s, 0))) ||
            (st = hk_query_set_k(qs[i], (uint32_t)plim)) || (st = hk_query_set_filter(qs[i], fs[i])) ||
            (st = hk_query_set_ef(qs[i], (uint32_t)ef)) || (st = hk_query_set_exact(qs[i], exact)) ||
            (st = hk_query_set_rerank(qs[i], rerank)))
            status = hr_lib_fail(q, st);
    }
    hk_result *res = NULL;
    if (!status) {
        hk_status st;
        if (npf == 1 && !fusion) {
            hk_query_set_k(qs[0], (uint32_t)limit);
            hk_query_set_offset(qs[0], (uint32_t)offset);
            hk_query_set_with(qs[0], hr_with_flags(&p, wv));
            st = hk_search(q->c, qs[0], &res);
        } else {
            st = hk_search_fused(q->c, (const hk_query *const *)qs, npf, method,
                                 method == HK_FUSION_CONVEX ? 0.5 : 0, (uint32_t)limit,
                                 (uint32_t)offset, hr_with_flags(&p, wv), &res);
        }
        if (st) status = hr_lib_fail(q, st);
    }
    for (uint32_t i = 0; i < npf; i++) {
        hk_query_free(qs[i]);
        hk_filter_free(fs[i]);
    }
    if (status) return status;
    /* Fused scores are higher-is-better; a single search keeps its metric's sense. */
    int lower_better = npf == 1 && !fusion && q->stats.metric == HK_METRIC_L2 &&
                       query_vector(hr_opt(&pfs[0], "query"));
    double t = thr ? hj_number(thr) : 0;
    hk_buf_puts(&q->out, "{\"points\":[");
    int first = 1;
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        float sc = hk_result_score(res, 0, i);
        if (thr && (lower_better ? (double)sc > t : (double)sc < t)) continue;
        if (!first) hk_buf_putc(&q->out, ',');
        first = 0;
        hr_put_record(q, res, 0, i, &p, wv, 1);
    }
    hk_buf_puts(&q->out, "]}");
    hk_result_free(res);
    return 200;
}

/* ---- snapshots ---- */

/* Snapshots live in DIR/snapshots/COLLECTION/NAME.snapshot, where the server writes them;
 * a name from a request is checked against the names it writes, so no request reaches a
 * file elsewhere. */
static int snap_dir(qctx *q, const char *coll, char *out, size_t size, int create) {
    const char *root = hk_db_path(q->r->db);
    /* The library's rule for collection names: no '/', no leading '.', so no "..". */
    size_t n = strlen(coll);
    int ok = n >= 1 && n <= HK_MAX_NAME && coll[0] != '.';
    for (const char *p = coll; ok && *p; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '-' || *p == '_' || *p == '.';
    if (!ok) return hr_fail(q, 400, "'%.160s' is not a collection name", coll);
    if ((size_t)snprintf(out, size, "%s/snapshots/%s", root, coll) >= size)
        return hr_fail(q, 400, "the snapshot path is too long");
    if (create) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof parent, "%s/snapshots", root);
        if ((mkdir(parent, 0755) && errno != EEXIST) || (mkdir(out, 0755) && errno != EEXIST))
            return hr_fail(q, 500, "cannot create %s: %s", out, strerror(errno));
    }
    return 0;
}

static int snap_name_ok(const char *s) {
    size_t n = strlen(s), ext = strlen(".snapshot");
    if (n <= ext || n > HK_MAX_NAME + 64 || s[0] == '.' || strcmp(s + n - ext, ".snapshot")) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return 1;
}

static void put_snapshot(hk_buf *b, const char *name, const struct stat *sb) {
    struct tm tm;
    time_t t = sb->st_mtime;
    gmtime_r(&t, &tm);
    hk_buf_puts(b, "{\"name\":");
    hj_write_string(b, name, strlen(name));
    hk_buf_printf(b, ",\"creation_time\":\"%04d-%02d-%02dT%02d:%02d:%02d\",\"size\":%llu,"
                  "\"checksum\":null}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                  tm.tm_min, tm.tm_sec, (unsigned long long)sb->st_size);
}

static int h_snap_create(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    char dir[PATH_MAX], name[HK_MAX_NAME + 64], tmp[PATH_MAX + 256], path[PATH_MAX + 256];
    if (snap_dir(q, q->r->seg[1], dir, sizeof dir, 1)) return q->status;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(name, sizeof name, "%s-%04d-%02d-%02d-%02d-%02d-%02d-%03ld.snapshot", q->r->seg[1],
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.tmp-%s", dir, name) >= sizeof tmp ||
        (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return hr_fail(q, 400, "the snapshot path is too long");
    hk_status st = hk_collection_snapshot(q->c, tmp, NULL);
    if (st) return hr_lib_fail(q, st);
    struct stat sb;
    if (rename(tmp, path) || stat(path, &sb)) {
        unlink(tmp);
        return hr_fail(q, 500, "cannot store the snapshot %s: %s", path, strerror(errno));
    }
    put_snapshot(&q->out, name, &sb);
    return 200;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int h_snap_list(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    char dir[PATH_MAX];
    if (snap_dir(q, q->r->seg[1], dir, sizeof dir, 0)) return q->status;
    hk_buf_putc(&q->out, '[');
    DIR *d = opendir(dir);
    if (!d) {
        hk_buf_putc(&q->out, ']');
        return 200;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!snap_name_ok(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **a = hk_realloc(names, cap * sizeof *a);
            if (!a) break;
            names = a;
        }
        if (!(names[n] = hk_strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, cmp_name);
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 256];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
        if (!first) hk_buf_putc(&q->out, ',');
        first = 0;
        put_snapshot(&q->out, names[i], &sb);
    }
    hk_strings_free(names, n);
    hk_buf_putc(&q->out, ']');
    return 200;
}

/* The stored snapshot named by seg[3]: its path, or a 404 / 400. */
static int snap_path(qctx *q, char *out, size_t size) {
    const char *name = q->r->seg[3];
    char dir[PATH_MAX];
    if (!snap_name_ok(name))
        return hr_fail(q, 400, "'%.128s' is not a snapshot name: names look like "
                       "COLLECTION-YYYY-MM-DD-HH-MM-SS-mmm.snapshot", name);
    if (snap_dir(q, q->r->seg[1], dir, sizeof dir, 0)) return q->status;
    if ((size_t)snprintf(out, size, "%s/%s", dir, name) >= size)
        return hr_fail(q, 400, "the snapshot path is too long");
    struct stat sb;
    if (stat(out, &sb) || !S_ISREG(sb.st_mode))
        return hr_fail(q, 404, "Snapshot %s of collection %s not found", name, q->r->seg[1]);
    return 0;
}

static int h_snap_get(qctx *q) {
    char path[PATH_MAX + 256];
    if (snap_path(q, path, sizeof path)) return q->status;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb)) {
        if (fd >= 0) close(fd);
        return hr_fail(q, 404, "Snapshot %s not found", q->r->seg[3]);
    }
    q->fd = fd;
    q->fd_size = (uint64_t)sb.st_size;
    q->raw_type = "application/octet-stream";
    return 200;
}

static int h_snap_delete(qctx *q) {
    char path[PATH_MAX + 256];
    if (snap_path(q, path, sizeof path)) return q->status;
    if (unlink(path)) return hr_fail(q, 500, "cannot delete %s: %s", path, strerror(errno));
    hk_buf_puts(&q->out, "true");
    return 200;
}

static int h_snap_recover(qctx *q) {
    if (hr_parse_body(q, 1)) return q->status;
    const hj_value *loc = hr_opt(q->body, "location");
    if (!loc || loc->type != HJ_STRING)
        return hr_fail(q, 400, "'location' is required: the name of a snapshot of this server, or "
                       "file:///PATH of one under the database's snapshots directory");
    if (hr_opt(q->body, "checksum"))
        return hr_fail(q, 400, "'checksum' is not supported: snapshots carry their own checksums, "
                       "which recovery verifies");
    const hj_value *prio = hr_opt(q->body, "priority");
    if (prio && (prio->type != HJ_STRING || (strcmp(prio->u.s, "snapshot") &&
                                             strcmp(prio->u.s, "replica") &&
                                             strcmp(prio->u.s, "no_sync"))))
        return hr_fail(q, 400, "'priority' must be snapshot, replica or no_sync");
    const char *l = loc->u.s, *root = hk_db_path(q->r->db);
    char path[PATH_MAX + 256], real[PATH_MAX], real_root[PATH_MAX], snaps[PATH_MAX];
    if (!strncmp(l, "file://", 7)) snprintf(path, sizeof path, "%s", l + 7);
    else if (!strchr(l, '/') && snap_name_ok(l))
        snprintf(path, sizeof path, "%s/snapshots/%s/%s", root, q->r->seg[1], l);
    else
        return hr_fail(q, 400, "location '%.200s' is not a snapshot of this server: give a "
                       "snapshot's name or file:///PATH under the database's snapshots directory "
                       "(URLs are not fetched)", l);
    snprintf(snaps, sizeof snaps, "%s/snapshots", root);
    size_t rl;
    if (!realpath(snaps, real_root) || !realpath(path, real) ||
        strncmp(real, real_root, rl = strlen(real_root)) || real[rl] != '/')
        return hr_fail(q, 400, "location '%.200s' is not a snapshot this server created (they are "
                       "under the database's snapshots directory)", l);
    struct stat sb;
    if (stat(real, &sb) || !S_ISREG(sb.st_mode))
        return hr_fail(q, 400, "location '%.200s' is not a snapshot file", l);
    hk_status st = hk_collection_recover(q->r->db, q->r->seg[1], real);
    /* A snapshot that fails its checks is bad input here, not a server fault. */
    if (st == HK_CORRUPT) return hr_fail(q, 400, "%s", hk_errmsg());
    if (st) return hr_lib_fail(q, st);
    hkr_projection_forget(q->r->seg[1]);
    /* A request the snapshot carries (a new generation: a job running for the collection
     * as it was installs nothing, so queue one behind it). */
    hkr_quantize_requested(q->r->db, q->r->seg[1], 1);
    hk_buf_puts(&q->out, "true");
    return 200;
}

/* The first occurrence of needle in hay, or NULL (binary safe). */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    if (m == 0 || m > n) return NULL;
    for (const char *p = hay, *end = hay + n - m; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, m)) return p;
    }
    return NULL;
}

/* POST /collections/{name}/snapshots/upload: Qdrant's upload, a multipart/form-data body
 * whose part named "snapshot" is the file. It is stored beside the server's own snapshots
 * under a temporary name, recovered into the collection (created when absent; verified
 * entirely first, so a bad file changes nothing) and removed. */
static int h_snap_upload(qctx *q) {
    const char *coll = q->r->seg[1];
    const char *ct = hr_header(q, "Content-Type");
    if (!ct || strncasecmp(ct, "multipart/form-data", 19))
        return hr_fail(q, 400, "the upload must be multipart/form-data with the file in a part "
                       "named 'snapshot' (got Content-Type %.100s)", ct ? ct : "none");
    if (hr_arg(q, "checksum"))
        return hr_fail(q, 400, "'checksum' is not supported: snapshots carry their own checksums, "
                       "which recovery verifies");
    const char *prio = hr_arg(q, "priority");
    if (prio && strcmp(prio, "snapshot") && strcmp(prio, "replica") && strcmp(prio, "no_sync"))
        return hr_fail(q, 400, "'priority' must be snapshot, replica or no_sync");
    const char *bp = strcasestr(ct, "boundary=");
    char delim[96] = "\r\n--";
    if (bp) {
        bp += 9;
        size_t bl = 0;
        int quoted = *bp == '"';
        if (quoted) bp++;
        while (bp[bl] && (quoted ? bp[bl] != '"' : bp[bl] != ';' && bp[bl] != ' ')) bl++;
        if (bl == 0 || bl > 70) bp = NULL;
        else memcpy(delim + 4, bp, bl), delim[4 + bl] = 0;
    }
    if (!bp) return hr_fail(q, 400, "the multipart Content-Type has no valid boundary");
    size_t dl = strlen(delim);
    /* Parts follow "--boundary"; the body may start with it (no CRLF before the first). */
    const char *body = q->r->body, *end = body + q->r->body_len, *file = NULL;
    size_t file_len = 0;
    const char *p = q->r->body_len >= dl - 2 && !memcmp(body, delim + 2, dl - 2)
                        ? body + dl - 2
                        : find_bytes(body, q->r->body_len, delim, dl);
    if (p && p != body + dl - 2) p += dl;
    while (p && end - p >= 2 && memcmp(p, "--", 2)) {
        if (memcmp(p, "\r\n", 2)) break;
        const char *h = p + 2, *he = find_bytes(h, (size_t)(end - h), "\r\n\r\n", 4);
        if (!he) break;
        const char *content = he + 4;
        const char *next = find_bytes(content, (size_t)(end - content), delim, dl);
        if (!next) break;
        /* Is this the part named "snapshot"? (headers are case-insensitive) */
        int is_snap = 0;
        for (const char *l = h; l < he;) {
            const char *le = find_bytes(l, (size_t)(he - l), "\r\n", 2);
            if (!le) le = he;
            size_t ll = (size_t)(le - l);
            if (ll > 20 && !strncasecmp(l, "content-disposition:", 20)) {
                const char *nm = find_bytes(l, ll, "name=\"snapshot\"", 15);
                is_snap = nm && (nm == l || nm[-1] == ' ' || nm[-1] == ';');
            }
            l = le + 2;
        }
        if (is_snap) {
            file = content;
            file_len = (size_t)(next - content);
            break;
        }
        p = next + dl;
    }
    if (!file)
        return hr_fail(q, 400, "the multipart body has no part named 'snapshot' (the file)");
    char dir[PATH_MAX], tmp[PATH_MAX + 64];
    if (snap_dir(q, coll, dir, sizeof dir, 0)) return q->status;
    /* A refused upload leaves nothing behind: not even the directory it made. */
    struct stat dsb;
    int made = stat(dir, &dsb) != 0;
    if (snap_dir(q, coll, dir, sizeof dir, 1)) return q->status;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/.upload-%lld-%09ld", dir, (long long)ts.tv_sec,
                         ts.tv_nsec) >= sizeof tmp)
        return hr_fail(q, 400, "the snapshot path is too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        if (made) rmdir(dir);
        return hr_fail(q, 500, "cannot store the upload %s: %s", tmp, strerror(e));
    }
    for (size_t off = 0; off < file_len;) {
        ssize_t w = write(fd, file + off, file_len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            if (made) rmdir(dir);
            return hr_fail(q, 500, "cannot store the upload %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    close(fd);
    hk_status st = hk_collection_recover(q->r->db, coll, tmp);
    unlink(tmp);
    if (st && made) rmdir(dir);
    if (st == HK_CORRUPT)
        return hr_fail(q, 400, "the uploaded snapshot was refused and nothing changed: %s",
                       hk_errmsg());
    if (st) return hr_lib_fail(q, st);
    /* The collection was replaced: its projection (of the old points) goes, as on recover. */
    hkr_projection_forget(coll);
    hkr_quantize_requested(q->r->db, coll, 1); /* as for recovery above */
    hk_buf_puts(&q->out, "true");
    return 200;
}

/* ---- routing ---- */

static int h_overwrite(qctx *q) { return h_payload_set(q, HK_PAYLOAD_OVERWRITE); }
static int h_set(qctx *q) { return h_payload_set(q, HK_PAYLOAD_SET); }

#define C HKS_CLASS_COLLECTIONS
#define W HKS_CLASS_WRITE
#define R HKS_CLASS_READ
#define S HKS_CLASS_SEARCH
const hks_route qd_routes[] = {
    {"GET", "/collections", h_list, C, 0, "List collections", NULL, "CollectionsList", NULL},
    {"GET", "/collections/{collection_name}", h_info, C, 0, "Collection info", NULL, "CollectionInfo", NULL},
    {"PUT", "/collections/{collection_name}", h_create, C, 1, "Create a collection", "CreateCollection", "Bool", NULL},
    {"PATCH", "/collections/{collection_name}", h_update, C, 1, "Update a collection: its quantization_config", "UpdateCollection", "Bool", "timeout"},
    {"DELETE", "/collections/{collection_name}", h_drop, C, 1, "Delete a collection", NULL, "Bool", NULL},
    {"GET", "/collections/{collection_name}/exists", h_exists, C, 0, "Whether a collection exists", NULL, "Exists", NULL},
    {"PUT", "/collections/{collection_name}/index", h_index_create, C, 1, "Create a payload index", "CreateFieldIndex", "UpdateResult", NULL},
    {"DELETE", "/collections/{collection_name}/index/{field_name}", h_index_drop, C, 1, "Drop a payload index", NULL, "UpdateResult", NULL},
    {"PUT", "/collections/{collection_name}/points", h_upsert, W, 1, "Upsert points", "PointsUpsert", "UpdateResult", NULL},
    {"POST", "/collections/{collection_name}/points", h_get_points, R, 0, "Get points by id", "PointRequest", "RecordList", NULL},
    {"POST", "/collections/{collection_name}/points/delete", h_delete, W, 1, "Delete points", "PointsSelector", "UpdateResult", NULL},
    {"POST", "/collections/{collection_name}/points/payload", h_set, W, 1, "Set payload keys", "SetPayload", "UpdateResult", NULL},
    {"PUT", "/collections/{collection_name}/points/payload", h_overwrite, W, 1, "Overwrite payloads", "SetPayload", "UpdateResult", NULL},
    {"POST", "/collections/{collection_name}/points/payload/delete", h_payload_delete, W, 1, "Delete payload keys", "DeletePayload", "UpdateResult", NULL},
    {"POST", "/collections/{collection_name}/points/scroll", h_scroll, R, 0, "Page through points", "ScrollRequest", "ScrollResult", NULL},
    {"POST", "/collections/{collection_name}/points/count", h_count, R, 0, "Count points", "CountRequest", "CountResult", NULL},
    {"POST", "/collections/{collection_name}/points/search", h_search, S, 0, "Search by vector", "SearchRequest", "ScoredPointList", NULL},
    {"POST", "/collections/{collection_name}/points/search/batch", h_search_batch, S, 0, "Batch search", "SearchBatchRequest", "ScoredPointLists", NULL},
    {"POST", "/collections/{collection_name}/points/recommend", h_recommend, S, 0, "Recommend by example ids", "RecommendRequest", "ScoredPointList", NULL},
    {"GET", "/collections/{collection_name}/points/{id}", h_get_point, R, 0, "Get one point", NULL, "Record", NULL},
    {"POST", "/collections/{collection_name}/points/query", h_query, S, 0, "Universal query: a vector, or prefetches fused by rrf", "QueryRequest", "QueryResponse", NULL},
    {"POST", "/collections/{collection_name}/snapshots", h_snap_create, C, 1, "Create a snapshot of the collection", NULL, "SnapshotDescription", NULL},
    {"GET", "/collections/{collection_name}/snapshots", h_snap_list, C, 0, "List the collection's snapshots", NULL, "SnapshotList", NULL},
    {"POST", "/collections/{collection_name}/snapshots/upload", h_snap_upload, C, 1, "Replace the collection by an uploaded snapshot (multipart/form-data, part 'snapshot')", "SnapshotUpload", "Bool", "priority"},
    {"PUT", "/collections/{collection_name}/snapshots/recover", h_snap_recover, C, 1, "Replace the collection by a snapshot of this server", "SnapshotRecover", "Bool", NULL},
    {"GET", "/collections/{collection_name}/snapshots/{snapshot_name}", h_snap_get, C, 0, "Download a snapshot", NULL, "File", NULL},
    {"DELETE", "/collections/{collection_name}/snapshots/{snapshot_name}", h_snap_delete, C, 1, "Delete a snapshot", NULL, "Bool", NULL},
};
#undef C
#undef W
#undef R
#undef S
const size_t qd_nroutes = sizeof qd_routes / sizeof *qd_routes;
