/*
 * hroutes.c — HEKTOR's own JSON routes under /hektor/: collection statistics, text,
 * vector and hybrid search, file import as a background job, and the jobs themselves.
 * (/hektor/events, a stream, is answered by http.c with the figures of events.c.)
 *
 * Decisions:
 *  - An import is all or nothing for a rejected file: the library checks every record
 *    before it writes the first batch (HK_IMPORT_CHECK_FIRST). A cancel during the
 *    writing pass keeps the batches written before it (a prefix of the file, in file
 *    order), except in a collection the import itself created, which is dropped again.
 *  - The upload is the request body, handed to the job without a copy.
 *  - Search takes HEKTOR's own names (k, ef, exact, match, fusion, expand, embed) and
 *    answers {"points": [...], "took_ms"}; fusion methods are named through the library
 *    (hk_fusion_from_name), so the server learns new methods without changes.
 *  - The built-in text embedding (search's embed, import's embed, POST /hektor/embed) is
 *    one embedder opened at its first use from hk_embedder_open(NULL) ($HEKTOR_EMBEDDINGS,
 *    else the build's table) and shared by every request (it only reads its mapped
 *    table); without a table those requests get a 503 saying how to make one.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs.h"
#include "route.h"

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the text embedding ---- */

static pthread_mutex_t emb_mu = PTHREAD_MUTEX_INITIALIZER;
static hk_embedder *emb;

static int get_embedder(qctx *q, hk_embedder **out) {
    pthread_mutex_lock(&emb_mu);
    hk_status st = emb ? HK_OK : hk_embedder_open(NULL, &emb);
    *out = emb;
    pthread_mutex_unlock(&emb_mu);
    if (st)
        return hr_fail(q, 503, "the built-in text embedding is unavailable: %s (scripts/setup.sh "
                       "makes the table; HEKTOR_EMBEDDINGS names another)", hk_errmsg());
    return 0;
}

void hkr_shutdown(void) {
    pthread_mutex_lock(&emb_mu);
    hk_embedder_close(emb);
    emb = NULL;
    pthread_mutex_unlock(&emb_mu);
    hkr_projection_shutdown();
}

static int h_embed(qctx *q) {
    if (hr_parse_body(q, 1)) return q->status;
    const hj_value *b = q->body, *texts = hr_opt(b, "texts");
    static const char *const members[] = {"texts"};
    if (hr_known_members(q, b, members, 1, "embed")) return q->status;
    if (!texts || texts->type != HJ_ARRAY || texts->n == 0 || texts->n > 10000)
        return hr_fail(q, 400, "'texts' must be an array of 1 to 10000 strings");
    const char **t = hk_arena_alloc(&q->r->arena, texts->n * sizeof *t);
    size_t *lens = hk_arena_alloc(&q->r->arena, texts->n * sizeof *lens);
    if (!t || !lens) return hr_nomem(q);
    for (uint32_t i = 0; i < texts->n; i++) {
        const hj_value *v = &texts->u.items[i];
        if (v->type != HJ_STRING) return hr_fail(q, 400, "texts[%u] must be a string", i);
        t[i] = v->u.s;
        lens[i] = v->n;
    }
    hk_embedder *e;
    if (get_embedder(q, &e)) return q->status;
    uint32_t dim = hk_embedder_dim(e);
    float *out = hk_malloc((size_t)texts->n * dim * sizeof *out);
    uint32_t *known = hk_malloc(texts->n * sizeof *known);
    hk_status st = !out || !known ? hk_fail(HK_NOMEM, "out of memory")
                                  : hk_embed(e, t, lens, texts->n, out, known);
    if (!st) {
        hk_buf *o = &q->out;
        hk_buf_printf(o, "{\"dim\":%u,\"vectors\":[", dim);
        for (uint32_t i = 0; i < texts->n; i++) {
            hk_buf_puts(o, i ? ",[" : "[");
            for (uint32_t d = 0; d < dim; d++) {
                if (d) hk_buf_putc(o, ',');
                hr_put_float(o, out[(size_t)i * dim + d]);
            }
            hk_buf_putc(o, ']');
        }
        hk_buf_puts(o, "],\"known_words\":[");
        for (uint32_t i = 0; i < texts->n; i++) hk_buf_printf(o, "%s%u", i ? "," : "", known[i]);
        hk_buf_puts(o, "]}");
    }
    hk_free(out);
    hk_free(known);
    return st ? hr_lib_fail(q, st) : 200;
}

/* ---- statistics ---- */

static uint64_t g_quant_min_points = HKS_DEFAULT_QUANTIZE_MIN_POINTS;

void hkr_set_quantize_min_points(uint64_t n) { g_quant_min_points = n ? n : 1; }

/* Requested trainings that failed, by request generation (unique in the process): such a
 * request is not queued again on every write, only once it changes (a PATCH gives it a new
 * generation) or the server restarts. A small ring: the oldest failures are forgotten. */
#define FAILED_KEPT 64
static pthread_mutex_t g_failed_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t g_failed[FAILED_KEPT];
static size_t g_failed_next;

static void request_failed_note(uint64_t gen) {
    pthread_mutex_lock(&g_failed_mu);
    g_failed[g_failed_next++ % FAILED_KEPT] = gen;
    pthread_mutex_unlock(&g_failed_mu);
}

static int request_failed(uint64_t gen) {
    int hit = 0;
    pthread_mutex_lock(&g_failed_mu);
    for (size_t i = 0; i < FAILED_KEPT && !hit; i++) hit = gen && g_failed[i] == gen;
    pthread_mutex_unlock(&g_failed_mu);
    return hit;
}

static int h_stats(qctx *q) {
    if (hr_open_coll(q) || hr_full_stats(q)) return q->status;
    hk_collection_config cfg;
    hk_text_stats ts;
    hk_status st = hk_collection_get_config(q->c, &cfg);
    if (!st) st = hk_collection_text_stats(q->c, &ts);
    if (st) return hr_lib_fail(q, st);
    const hk_collection_stats *s = &q->stats;
    hk_buf *b = &q->out;
    int hnsw = s->index == HK_INDEX_HNSW;
    hk_buf_puts(b, "{\"name\":");
    hj_write_string(b, q->r->seg[2], strlen(q->r->seg[2]));
    hk_buf_printf(b, ",\"points\":%llu,\"dim\":%u,\"metric\":\"%s\",\"index\":{\"kind\":\"%s\","
                  "\"m\":%u,\"ef_construction\":%u,\"ef_search\":%u},\"text\":",
                  (unsigned long long)s->count, s->dim, hk_metric_name(s->metric),
                  hnsw ? "hnsw" : "flat", hnsw ? cfg.hnsw_m : 0, hnsw ? cfg.hnsw_ef_construction : 0,
                  hnsw ? cfg.hnsw_ef_search : 0);
    if (s->dim == 0 || ts.docs > 0)
        hk_buf_printf(b, "{\"documents\":%llu,\"terms\":%llu,\"avg_length\":%.3f,\"bytes\":%llu}",
                      (unsigned long long)ts.docs, (unsigned long long)ts.terms,
                      ts.docs ? (double)ts.tokens / (double)ts.docs : 0.0,
                      (unsigned long long)ts.bytes_memory);
    else
        hk_buf_puts(b, "null");
    hk_buf_puts(b, ",\"quantization\":");
    if (s->quant != HK_QUANT_NONE) {
        hk_codebook *cb = NULL;
        char *name = NULL;
        hk_codebook_info info;
        memset(&info, 0, sizeof info);
        if (!hk_collection_codebook(q->c, &cb, &name)) hk_codebook_info_get(cb, &info);
        hk_buf_printf(b, "{\"method\":\"%s\",\"curve\":\"%s\",\"code_bytes\":%u,\"compression\":%.3f,"
                      "\"rerank\":%u,\"bytes_codes\":%llu,\"codebook\":",
                      hk_quant_method_name(s->quant), hk_curve_name(info.curve), s->code_bytes,
                      s->code_bytes ? 4.0 * s->dim / s->code_bytes : 0.0, s->rerank,
                      (unsigned long long)s->bytes_codes);
        if (name) hj_write_string(b, name, strlen(name));
        else hk_buf_puts(b, "null");
        hk_buf_putc(b, '}');
        hk_free(name);
        hk_codebook_free(cb);
    } else {
        hk_buf_puts(b, "null");
    }
    /* The quantization asked for (Qdrant's quantization_config), met or not yet. */
    hk_quant_state qs;
    const hk_quant_params *rp = &qs.request;
    hk_buf_puts(b, ",\"quantization_request\":");
    if (!hk_collection_quant_state(q->c, &qs) && qs.requested) {
        hk_buf_printf(b, "{\"method\":\"%s\",\"pq_m\":%u,\"pq_bits\":%u,\"quantile\":",
                      hk_quant_method_name(rp->method), rp->pq_m, rp->pq_bits);
        if (rp->sq_quantile > 0) hk_buf_printf(b, "%.9g", rp->sq_quantile);
        else hk_buf_puts(b, "null");
        hk_buf_printf(b, ",\"min_points\":%llu,\"met\":%s,\"failed\":%s}",
                      (unsigned long long)g_quant_min_points, qs.met ? "true" : "false",
                      !qs.met && request_failed(qs.generation) ? "true" : "false");
    } else {
        hk_buf_puts(b, "null");
    }
    hk_buf_printf(b, ",\"memory_bytes\":%llu,\"disk_bytes\":%llu,\"vectors_on_disk\":%s,"
                  "\"payload_indexes\":[",
                  (unsigned long long)s->bytes_memory, (unsigned long long)s->bytes_disk,
                  s->vectors_on_disk ? "true" : "false");
    for (uint32_t i = 0; i < s->payload_indexes; i++) {
        const char *key;
        hk_field_type type;
        if (hk_payload_index_get(q->c, i, &key, &type)) continue;
        if (i) hk_buf_putc(b, ',');
        hk_buf_puts(b, "{\"field\":");
        hj_write_string(b, key, strlen(key));
        hk_buf_printf(b, ",\"type\":\"%s\"}", hk_field_type_name(type));
    }
    hk_buf_puts(b, "]}");
    return 200;
}

/* ---- search ---- */

static int get_string(qctx *q, const hj_value *obj, const char *key, const char **out) {
    const hj_value *v = hr_opt(obj, key);
    *out = NULL;
    if (!v) return 0;
    if (v->type != HJ_STRING)
        return hr_fail(q, 400, "'%s' must be a string, got %s", key, hj_type_name(v->type));
    *out = v->u.s;
    return 0;
}

static int h_search(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const known[] = {"vector", "text", "k", "offset", "filter", "ef", "exact",
                                        "match", "fusion", "with_payload", "with_vector",
                                        "with_text", "rerank", "expand", "embed", "embed_only",
                                        "positive", "negative", "strategy", "rocchio"};
    if (hr_known_members(q, b, known, sizeof known / sizeof *known, "the search body"))
        return q->status;
    const hj_value *vec = hr_opt(b, "vector");
    const char *text, *match;
    uint64_t k, offset, ef, rerank;
    int exact, wp, wv, wt, embed, embed_only;
    if (get_string(q, b, "text", &text) || get_string(q, b, "match", &match) ||
        hr_get_bool(q, b, "embed", 0, &embed) || hr_get_bool(q, b, "embed_only", 0, &embed_only) ||
        hr_get_uint(q, b, "k", 100000, 10, &k) || hr_get_uint(q, b, "offset", 1000000, 0, &offset) ||
        hr_get_uint(q, b, "ef", 65536, 0, &ef) || hr_get_uint(q, b, "rerank", 1000000, 0, &rerank) ||
        hr_get_bool(q, b, "exact", 0, &exact) || hr_get_bool(q, b, "with_payload", 0, &wp) ||
        hr_get_bool(q, b, "with_vector", 0, &wv) || hr_get_bool(q, b, "with_text", 0, &wt))
        return q->status;
    /* examples: positive/negative ids, strategy, rocchio {alpha, beta, gamma, max_new_terms} */
    uint64_t *pos = NULL, *neg = NULL;
    size_t npos = 0, nneg = 0;
    const hj_value *pv = hr_opt(b, "positive"), *nv = hr_opt(b, "negative");
    if ((pv && hr_get_ids(q, pv, "positive", &pos, &npos)) ||
        (nv && hr_get_ids(q, nv, "negative", &neg, &nneg)))
        return q->status;
    const char *strategy;
    if (get_string(q, b, "strategy", &strategy)) return q->status;
    hk_recommend rec = HK_RECOMMEND_AVERAGE_VECTOR;
    if (strategy && hk_recommend_from_name(strategy, &rec))
        return hr_fail(q, 400, "'strategy' must be \"average_vector\", \"best_score\" or "
                       "\"rocchio\", not '%.32s'", strategy);
    if (!strategy && (vec || text)) rec = HK_RECOMMEND_ROCCHIO;
    if ((npos || nneg) && !npos)
        return hr_fail(q, 400, "'negative' examples need at least one 'positive' example");
    if (strategy && !npos)
        return hr_fail(q, 400, "'strategy' applies to a search with 'positive' examples");
    double ra = 1, rb = 0.75, rg = 0.15;
    uint64_t rnew = 10;
    const hj_value *ro = hr_opt(b, "rocchio");
    if (ro) {
        if (ro->type != HJ_OBJECT)
            return hr_fail(q, 400, "'rocchio' must be an object {\"alpha\", \"beta\", \"gamma\", "
                           "\"max_new_terms\"}");
        if (!npos || rec != HK_RECOMMEND_ROCCHIO)
            return hr_fail(q, 400, "'rocchio' applies to a search with 'positive' examples and the "
                           "rocchio strategy");
        static const char *const rk[] = {"alpha", "beta", "gamma"};
        double *rv[] = {&ra, &rb, &rg};
        for (int i = 0; i < 3; i++) {
            const hj_value *x = hr_opt(ro, rk[i]);
            if (!x) continue;
            if (!hj_is_number(x) || !(hj_number(x) >= 0) || !isfinite(hj_number(x)))
                return hr_fail(q, 400, "'rocchio.%s' must be a finite number >= 0", rk[i]);
            *rv[i] = hj_number(x);
        }
        if (hr_get_uint(q, ro, "max_new_terms", 1000, 10, &rnew)) return q->status;
    }
    if (rec == HK_RECOMMEND_ROCCHIO && npos && !vec && !text)
        return hr_fail(q, 400, "the rocchio strategy changes a query: give 'vector', 'text' or both "
                       "with the examples");
    if (rec != HK_RECOMMEND_ROCCHIO && npos && (vec || text))
        return hr_fail(q, 400, "the %s strategy makes its own query from the examples: give no "
                       "'vector' or 'text'", rec == HK_RECOMMEND_BEST_SCORE ? "best_score" : "average_vector");
    if (!vec && !text && !npos)
        return hr_fail(q, 400, "the search needs 'vector', 'text' or both (hybrid), or 'positive' "
                       "examples");
    if (k == 0) return hr_fail(q, 400, "'k' must be from 1 to 100000");
    if ((embed || embed_only) && (!text || vec))
        return hr_fail(q, 400, "'embed' and 'embed_only' make the vector from 'text': give 'text' "
                       "and no 'vector'");
    if (embed && embed_only) return hr_fail(q, 400, "give 'embed' or 'embed_only', not both");
    float *v = NULL;
    if (embed || embed_only) {
        hk_embedder *e;
        if (get_embedder(q, &e)) return q->status;
        if (hk_embedder_dim(e) != q->stats.dim)
            return hr_fail(q, 400, "the built-in embedding makes vectors of dimension %u but "
                           "collection '%s' has dimension %u", hk_embedder_dim(e), q->r->seg[2],
                           q->stats.dim);
        uint32_t nknown = 0;
        if (!(v = hk_arena_alloc(&q->r->arena, q->stats.dim * sizeof *v))) return hr_nomem(q);
        hk_status est = hk_embed(e, &text, NULL, 1, v, &nknown);
        if (est) return hr_lib_fail(q, est);
        if (!nknown)
            return hr_fail(q, 400, "no word of 'text' is in the embedding's vocabulary, so it has "
                           "no vector");
        if (embed_only) text = NULL;
    } else if (vec) {
        if (q->stats.dim == 0)
            return hr_fail(q, 400, "collection '%s' is text-only: search it with 'text'",
                           q->r->seg[2]);
        if (!(v = hk_arena_alloc(&q->r->arena, q->stats.dim * sizeof *v))) return hr_nomem(q);
        if (hr_get_vector(q, vec, "vector", v)) return q->status;
    }
    hk_text_match tm = HK_TEXT_MATCH_ANY;
    if (match) {
        if (!strcmp(match, "all")) tm = HK_TEXT_MATCH_ALL;
        else if (!strcmp(match, "phrase")) tm = HK_TEXT_MATCH_PHRASE;
        else if (strcmp(match, "any"))
            return hr_fail(q, 400, "'match' must be \"any\", \"all\" or \"phrase\", not '%.32s'",
                           match);
    }
    /* expand: {"method": "rm3", "fb_docs", "fb_terms", "weight"} */
    const hj_value *ex = hr_opt(b, "expand");
    uint64_t fb_docs = 0, fb_terms = 0;
    double rm3w = 0;
    if (ex) {
        const char *em;
        if (ex->type != HJ_OBJECT)
            return hr_fail(q, 400, "'expand' must be an object {\"method\": \"rm3\", \"fb_docs\", "
                           "\"fb_terms\", \"weight\"}");
        if (get_string(q, ex, "method", &em) || hr_get_uint(q, ex, "fb_docs", 10000, 0, &fb_docs) ||
            hr_get_uint(q, ex, "fb_terms", 10000, 0, &fb_terms))
            return q->status;
        if (!em || strcmp(em, "rm3"))
            return hr_fail(q, 400, "'expand.method' must be \"rm3\"");
        const hj_value *wv2 = hr_opt(ex, "weight");
        if (wv2 && (!hj_is_number(wv2) || !(hj_number(wv2) > 0 && hj_number(wv2) <= 1)))
            return hr_fail(q, 400, "'expand.weight' (the original query's share) must be in (0, 1]");
        if (wv2) rm3w = hj_number(wv2);
        if (!text) return hr_fail(q, 400, "'expand' applies to a search with 'text'");
    }
    const hj_value *fu = hr_opt(b, "fusion");
    hk_fusion method = HK_FUSION_RRF;
    double fk = 0;
    uint64_t depth = 0;
    if (fu) {
        if (fu->type != HJ_OBJECT)
            return hr_fail(q, 400, "'fusion' must be an object {\"method\", \"k\", \"depth\"}");
        const char *mname;
        if (get_string(q, fu, "method", &mname) || hr_get_uint(q, fu, "depth", 100000, 0, &depth))
            return q->status;
        if (mname && hk_fusion_from_name(mname, &method))
            return hr_fail(q, 400, "fusion method '%.32s' is not known to this server", mname);
        const hj_value *kv = hr_opt(fu, "k"), *wv2 = hr_opt(fu, "weight");
        if (kv && method != HK_FUSION_RRF) return hr_fail(q, 400, "'fusion.k' applies to rrf");
        if (wv2 && method != HK_FUSION_CONVEX)
            return hr_fail(q, 400, "'fusion.weight' applies to convex");
        if (kv) {
            if (!hj_is_number(kv) || hj_number(kv) < 0)
                return hr_fail(q, 400, "'fusion.k' must be a number >= 0");
            fk = hj_number(kv);
        }
        if (method == HK_FUSION_CONVEX) fk = 0.5;
        if (wv2) {
            if (!hj_is_number(wv2) || !(hj_number(wv2) >= 0 && hj_number(wv2) <= 1))
                return hr_fail(q, 400, "'fusion.weight' (the vector list's weight) must be in [0, 1]");
            fk = hj_number(wv2);
        }
    }
    hk_filter *f;
    if (hr_get_filter(q, b, &f)) return q->status;
    uint32_t with = (wp ? HK_WITH_PAYLOAD : 0) | (wv && v ? HK_WITH_VECTOR : 0) | (wt ? HK_WITH_TEXT : 0);
    double t0 = mono_ms();
    hk_query *qq = NULL;
    hk_result *res = NULL;
    hk_status st;
    if (!(st = hk_query_new(&qq)) && (!v || !(st = hk_query_set_vectors(qq, v, 1, q->stats.dim))) &&
        (!text || !(st = hk_query_set_text(qq, text, 0))) &&
        !(st = hk_query_set_text_match(qq, tm)) && !(st = hk_query_set_k(qq, (uint32_t)k)) &&
        !(st = hk_query_set_offset(qq, (uint32_t)offset)) && !(st = hk_query_set_filter(qq, f)) &&
        !(st = hk_query_set_exact(qq, exact)) && !(st = hk_query_set_ef(qq, (uint32_t)ef)) &&
        !(st = hk_query_set_rerank(qq, (uint32_t)rerank)) && !(st = hk_query_set_with(qq, with)) &&
        (!fu || !(st = hk_query_set_fusion(qq, method, fk, (uint32_t)depth))) &&
        (!ex || !(st = hk_query_set_expansion(qq, HK_EXPAND_RM3, (uint32_t)fb_docs,
                                              (uint32_t)fb_terms, rm3w))) &&
        (!npos || (!(st = hk_query_set_examples(qq, pos, npos, neg, nneg)) &&
                   !(st = hk_query_set_recommend(qq, rec)) &&
                   !(st = hk_query_set_rocchio(qq, ra, rb, rg, (uint32_t)rnew)))))
        st = hk_search(q->c, qq, &res);
    hk_query_free(qq);
    hk_filter_free(f);
    if (st) return hr_lib_fail(q, st);
    double took = mono_ms() - t0;
    hk_buf *o = &q->out;
    hk_buf_puts(o, "{\"points\":[");
    psel all = {1, NULL, NULL};
    for (size_t i = 0; i < hk_result_count(res, 0); i++) {
        if (i) hk_buf_putc(o, ',');
        hk_buf_printf(o, "{\"id\":%llu,\"score\":", (unsigned long long)hk_result_id(res, 0, i));
        hr_put_float(o, hk_result_score(res, 0, i));
        if (wp) {
            hk_buf_puts(o, ",\"payload\":");
            hr_put_payload(q, hk_result_payload(res, 0, i), &all);
        }
        const float *rv = wv ? hk_result_vector(res, 0, i) : NULL;
        if (rv) {
            hk_buf_puts(o, ",\"vector\":[");
            for (uint32_t d = 0; d < q->stats.dim; d++) {
                if (d) hk_buf_putc(o, ',');
                hr_put_float(o, rv[d]);
            }
            hk_buf_putc(o, ']');
        }
        if (wt) {
            const char *t = hk_result_text(res, 0, i);
            hk_buf_puts(o, ",\"text\":");
            if (t) hj_write_string(o, t, strlen(t));
            else hk_buf_puts(o, "null");
        }
        hk_buf_putc(o, '}');
    }
    hk_buf_printf(o, "],\"took_ms\":%.4f}", took);
    hk_result_free(res);
    return 200;
}

/* ---- synonyms ---- */

/* The list as {"text": s, "groups": [[word, ...], ...]}: groups are the text's lines that are
 * neither blank nor comments, split at commas, words trimmed (as the library reads them). */
static void put_synonyms(hk_buf *o, const char *t, size_t len) {
    hk_buf_puts(o, "{\"text\":");
    hj_write_string(o, t ? t : "", t ? len : 0);
    hk_buf_puts(o, ",\"groups\":[");
    int ng = 0;
    for (size_t i = 0; t && i < len;) {
        size_t e = i;
        while (e < len && t[e] != '\n') e++;
        size_t a = i;
        while (a < e && (t[a] == ' ' || t[a] == '\t' || t[a] == '\r')) a++;
        if (a < e && t[a] != '#') {
            hk_buf_puts(o, ng++ ? ",[" : "[");
            int nw = 0;
            for (size_t w = a; w <= e;) {
                size_t c = w;
                while (c < e && t[c] != ',') c++;
                size_t x = w, y = c;
                while (x < y && (t[x] == ' ' || t[x] == '\t')) x++;
                while (y > x && (t[y - 1] == ' ' || t[y - 1] == '\t' || t[y - 1] == '\r')) y--;
                if (y > x) {
                    if (nw++) hk_buf_putc(o, ',');
                    hj_write_string(o, t + x, y - x);
                }
                w = c + 1;
            }
            hk_buf_putc(o, ']');
        }
        i = e + 1;
    }
    hk_buf_puts(o, "]}");
}

/* Answers the list of the collection already open in q->c. */
static int synonyms_answer(qctx *q) {
    char *t = NULL;
    size_t len = 0;
    hk_status st = hk_collection_synonyms(q->c, &t, &len);
    if (st) return hr_lib_fail(q, st);
    put_synonyms(&q->out, t, len);
    hk_free(t);
    return 200;
}

static int h_synonyms_get(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    return synonyms_answer(q);
}

/* PUT {"text": "car, automobile\n..."} or {"groups": [["car", "automobile"], ...]}. */
static int h_synonyms_put(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body, *tv = hr_opt(b, "text"), *gv = hr_opt(b, "groups");
    static const char *const known[] = {"text", "groups"};
    if (hr_known_members(q, b, known, 2, "the synonyms body")) return q->status;
    if (!!tv == !!gv)
        return hr_fail(q, 400, "give the synonyms as 'text' (one group per line, words separated "
                       "by commas) or as 'groups' (an array of arrays of words), one of the two");
    hk_buf list;
    hk_buf_init(&list);
    int oom = 0;
    if (tv) {
        if (tv->type != HJ_STRING) return hr_fail(q, 400, "'text' must be a string");
        /* A NUL (\u0000) would cut the list short without a word said. */
        if (memchr(tv->u.s, 0, tv->n)) return hr_fail(q, 400, "'text' must not contain NUL characters");
        oom |= hk_buf_append(&list, tv->u.s, tv->n) != HK_OK;
    } else {
        if (gv->type != HJ_ARRAY) return hr_fail(q, 400, "'groups' must be an array of arrays of words");
        for (uint32_t g = 0; g < gv->n; g++) {
            const hj_value *grp = &gv->u.items[g];
            if (grp->type != HJ_ARRAY || grp->n < 2) {
                hk_buf_free(&list);
                return hr_fail(q, 400, "'groups[%u]' must be an array of at least two words", g);
            }
            for (uint32_t w = 0; w < grp->n; w++) {
                const hj_value *wv = &grp->u.items[w];
                if (wv->type != HJ_STRING || !wv->u.s[0] || strlen(wv->u.s) != wv->n ||
                    strpbrk(wv->u.s, ",\n\r#")) {
                    hk_buf_free(&list);
                    return hr_fail(q, 400, "'groups[%u][%u]' must be a non-empty word without "
                                   "commas, '#', NUL or line breaks", g, w);
                }
                if (w) oom |= hk_buf_puts(&list, ", ") != HK_OK;
                oom |= hk_buf_puts(&list, wv->u.s) != HK_OK;
            }
            oom |= hk_buf_putc(&list, '\n') != HK_OK;
        }
    }
    if (oom) {
        hk_buf_free(&list);
        return hr_nomem(q);
    }
    hk_status st = hk_collection_set_synonyms(q->c, (const char *)list.data, list.len);
    hk_buf_free(&list);
    if (st) return hr_lib_fail(q, st);
    return synonyms_answer(q);
}

static int h_synonyms_delete(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    hk_status st = hk_collection_set_synonyms(q->c, NULL, 0);
    if (st) return hr_lib_fail(q, st);
    hk_buf_puts(&q->out, "true");
    return 200;
}

/* ---- import ---- */

typedef struct import_job {
    char name[HK_MAX_NAME + 1];
    char format[8];
    char file[32]; /* "upload.FORMAT", for messages */
    char text_field[128], id_field[128], vector_field[128];
    int create, embed, metric_given;
    hk_metric metric;
    uint8_t *data;
    size_t len;
    hks_job *job;
} import_job;

static void import_free(void *arg) {
    import_job *ij = arg;
    if (!ij) return;
    hk_free(ij->data);
    hk_free(ij);
}

static int import_progress(void *ud, uint64_t done, uint64_t total, uint64_t points) {
    import_job *ij = ud;
    char msg[96];
    if (points) snprintf(msg, sizeof msg, "writing: %llu points", (unsigned long long)points);
    else snprintf(msg, sizeof msg, "checking the file");
    return hks_job_progress(ij->job, done, total, msg);
}

static hks_job_state import_run(hks_job *j, void *arg, hk_db *db, char *msg, size_t msg_size,
                                char **result) {
    import_job *ij = arg;
    ij->job = j;
    hk_import_options o;
    hk_import_options_init(&o);
    o.format = ij->format;
    o.flags = HK_IMPORT_CHECK_FIRST;
    if (ij->text_field[0]) o.text_field = o.text_column = ij->text_field;
    if (ij->id_field[0]) o.id_column = ij->id_field;
    if (ij->vector_field[0]) o.vector_column = ij->vector_field;
    o.progress = import_progress;
    o.ud = ij;
    if (ij->embed) {
        pthread_mutex_lock(&emb_mu);
        hk_status est = emb ? HK_OK : hk_embedder_open(NULL, &emb);
        o.embedder = emb;
        pthread_mutex_unlock(&emb_mu);
        if (est) {
            snprintf(msg, msg_size, "the built-in text embedding is unavailable: %s", hk_errmsg());
            return HKS_JOB_FAILED;
        }
    }
    hks_job_progress(j, 0, 2 * (uint64_t)ij->len, "checking the file");
    hk_collection *c = NULL;
    int created = 0;
    hk_status st = hk_collection_open(db, ij->name, &c);
    if (st == HK_NOT_FOUND && ij->create) {
        uint32_t dim = 0;
        hk_collection_config cfg;
        hk_collection_config_init(&cfg);
        if (o.embedder || !(st = hk_import_probe(ij->data, ij->len, ij->file, &o, &dim))) {
            cfg.dim = o.embedder ? hk_embedder_dim(o.embedder) : dim;
            cfg.metric = o.embedder && !ij->metric_given ? HK_METRIC_COSINE : ij->metric;
            if (cfg.dim == 0) cfg.text_flags |= HK_TEXT_ONLY;
            st = hk_collection_create(db, ij->name, &cfg, &c);
            created = !st;
        }
    } else if (st == HK_NOT_FOUND) {
        hk_fail(HK_NOT_FOUND, "collection '%s' does not exist (add create=true to create it)",
                ij->name);
    }
    hk_import_stats stats;
    memset(&stats, 0, sizeof stats);
    if (!st) st = hk_import_mem(c, ij->data, ij->len, ij->file, &o, &stats);
    hk_collection_close(c);
    if (st && created) {
        /* The collection was made for this import: nothing of it stays. */
        const char *why = hk_errmsg();
        snprintf(msg, msg_size, "%s; the collection it created was dropped", why);
        hk_collection_drop(db, ij->name);
    } else if (st) {
        snprintf(msg, msg_size, "%s", hk_errmsg());
    }
    if (st == HK_CANCELLED) {
        if (!created)
            snprintf(msg, msg_size, "cancelled after %llu points: the batches written before the "
                     "cancel stay in the collection", (unsigned long long)stats.points);
        return HKS_JOB_CANCELLED;
    }
    if (st) return HKS_JOB_FAILED;
    hk_buf r;
    hk_buf_init(&r);
    hk_buf_printf(&r, "{\"points\":%llu,\"batches\":%llu,\"seconds\":%.3f,\"created\":%s}",
                  (unsigned long long)stats.points, (unsigned long long)stats.batches, stats.seconds,
                  created ? "true" : "false");
    hk_buf_putc(&r, 0);
    *result = (char *)hk_buf_detach(&r, NULL);
    hks_job_progress(j, 2 * (uint64_t)ij->len, 2 * (uint64_t)ij->len, NULL);
    snprintf(msg, msg_size, "imported %llu points", (unsigned long long)stats.points);
    /* enough points now for a requested quantization: its job runs after this one */
    hkr_quantize_requested(db, ij->name, 0);
    return HKS_JOB_DONE;
}

static int copy_arg(qctx *q, const char *name, char *out, size_t size) {
    const char *v = hr_arg(q, name);
    out[0] = 0;
    if (!v) return 0;
    if (!*v || strlen(v) >= size)
        return hr_fail(q, 400, "query parameter '%s' must be 1 to %zu characters", name, size - 1);
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int arg_bool(qctx *q, const char *name, int *out) {
    const char *v = hr_arg(q, name);
    *out = 0;
    if (!v) return 0;
    if (!strcmp(v, "true") || !strcmp(v, "1")) *out = 1;
    else if (strcmp(v, "false") && strcmp(v, "0"))
        return hr_fail(q, 400, "query parameter '%s' must be true or false, not '%.32s'", name, v);
    return 0;
}

static int write_job_or_404(qctx *q, uint64_t id, int wait) {
    hk_buf_puts(&q->out, "{\"job\":");
    if (hks_job_write(&q->out, id, wait))
        return hr_fail(q, 404, "job j-%llu is not known (finished jobs are kept for a while)",
                       (unsigned long long)id);
    hk_buf_putc(&q->out, '}');
    return 200;
}

static int h_import(qctx *q) {
    const char *name = q->r->seg[2];
    import_job *ij = hk_malloc(sizeof *ij);
    if (!ij) return hr_nomem(q);
    memset(ij, 0, sizeof *ij);
    int wait = 0;
    const char *fmt = hr_arg(q, "format"), *metric = hr_arg(q, "metric");
    if (strlen(name) > HK_MAX_NAME) hr_fail(q, 400, "collection name is longer than %d", HK_MAX_NAME);
    else if (!fmt) hr_fail(q, 400, "query parameter 'format' is required: fvecs, bvecs, npy, jsonl or csv");
    else if (strcmp(fmt, "fvecs") && strcmp(fmt, "bvecs") && strcmp(fmt, "npy") &&
             strcmp(fmt, "jsonl") && strcmp(fmt, "csv"))
        hr_fail(q, 400, "format '%.32s' is not one of fvecs, bvecs, npy, jsonl, csv", fmt);
    else if (!copy_arg(q, "text_field", ij->text_field, sizeof ij->text_field) &&
             !copy_arg(q, "id_field", ij->id_field, sizeof ij->id_field) &&
             !copy_arg(q, "vector_field", ij->vector_field, sizeof ij->vector_field) &&
             !arg_bool(q, "create", &ij->create) && !arg_bool(q, "wait", &wait) &&
             !arg_bool(q, "embed", &ij->embed)) {
        ij->metric_given = metric != NULL;
        if (metric && hk_metric_parse(metric, &ij->metric))
            hr_fail(q, 400, "metric '%.32s' is not one of l2, ip, cosine", metric);
        else if (metric && !ij->create)
            hr_fail(q, 400, "'metric' applies only with create=true");
        else if (q->r->body_len == 0)
            hr_fail(q, 400, "the request body must hold the file to import");
        else if (strcmp(fmt, "csv") && (ij->id_field[0] || ij->vector_field[0]))
            hr_fail(q, 400, "'id_field' and 'vector_field' name csv columns; %s records %s", fmt,
                    strcmp(fmt, "jsonl") ? "have no named fields" : "use the fields id and vector");
        else if (strcmp(fmt, "csv") && strcmp(fmt, "jsonl") && ij->text_field[0])
            hr_fail(q, 400, "'text_field' applies to jsonl and csv, not %s", fmt);
        else if (strcmp(fmt, "csv") && strcmp(fmt, "jsonl") && ij->embed)
            hr_fail(q, 400, "'embed' needs text, which only jsonl and csv carry, not %s", fmt);
    }
    if (q->status) {
        hk_free(ij);
        return q->status;
    }
    hk_collection *c;
    hk_status st = hk_collection_open(q->r->db, name, &c);
    uint32_t have_dim = 0;
    if (!st) {
        hk_collection_config cfg;
        if (!hk_collection_get_config(c, &cfg)) have_dim = cfg.dim;
    }
    hk_collection_close(c);
    /* embed=true: the table must be there, and fit a collection that exists. */
    hk_embedder *e = NULL;
    if (ij->embed && (st == HK_OK || st == HK_NOT_FOUND) && get_embedder(q, &e)) {
        hk_free(ij);
        return q->status;
    }
    if (e && st == HK_OK && hk_embedder_dim(e) != have_dim) {
        hk_free(ij);
        return hr_fail(q, 400, "the built-in embedding makes vectors of dimension %u but "
                       "collection '%s' has dimension %u", hk_embedder_dim(e), name, have_dim);
    }
    if (st == HK_NOT_FOUND && !ij->create) {
        hk_free(ij);
        return hr_fail(q, 404, "Collection `%s` doesn't exist! (add create=true to create it from "
                       "the file)", name);
    }
    if (st && st != HK_NOT_FOUND) {
        hk_free(ij);
        return hr_lib_fail(q, st);
    }
    snprintf(ij->name, sizeof ij->name, "%s", name);
    snprintf(ij->format, sizeof ij->format, "%s", fmt);
    snprintf(ij->file, sizeof ij->file, "upload.%s", fmt);
    /* The job takes the body as it is. */
    ij->len = q->r->body_buf->len;
    ij->data = hk_buf_detach(q->r->body_buf, NULL);
    q->r->body = "";
    q->r->body_len = 0;
    uint64_t id;
    if ((st = hks_job_submit("import", name, import_run, ij, import_free, &id)))
        return hr_fail(q, 503, "cannot start the import: %s", hk_errmsg());
    return write_job_or_404(q, id, wait);
}

/* ---- jobs ---- */

static int job_id(qctx *q, uint64_t *id) {
    if (hks_job_parse_id(q->r->seg[2], id))
        return hr_fail(q, 404, "job '%.64s' is not known: job ids look like j-1", q->r->seg[2]);
    return 0;
}

static int h_jobs(qctx *q) {
    hks_jobs_write(&q->out, 0);
    return 200;
}

static int h_job(qctx *q) {
    uint64_t id;
    int wait;
    if (job_id(q, &id) || arg_bool(q, "wait", &wait)) return q->status;
    return write_job_or_404(q, id, wait);
}

static int h_job_cancel(qctx *q) {
    uint64_t id;
    int wait;
    if (job_id(q, &id) || arg_bool(q, "wait", &wait)) return q->status;
    hk_buf_puts(&q->out, "{\"job\":");
    if (hks_job_cancel(id, &q->out))
        return hr_fail(q, 404, "job j-%llu is not known", (unsigned long long)id);
    if (wait) {
        /* The job as it ends (cancelled, or done when the cancel came too late). */
        hk_buf_reset(&q->out);
        return write_job_or_404(q, id, 1);
    }
    hk_buf_putc(&q->out, '}');
    return 200;
}

/* ---- quantization ---- */

typedef struct quant_job {
    char name[HK_MAX_NAME + 1];
    char codebook[HK_MAX_NAME + 1]; /* save the codebook under this name; "" = do not */
    hk_quant_params p;
    uint32_t rerank;
    int replace;
    int requested; /* train what the collection requests (read when the job runs) */
    int autosel;   /* "auto": choose the method first (hk_collection_quant_auto) */
    hk_quant_target target;
    uint32_t sample, nq, k;
    double base, span; /* the part of the job's progress (per mille) of the current stage */
    const char *stage; /* "choosing the method", "training" */
    hks_job *job;
} quant_job;


static void quant_free(void *arg) { hk_free(arg); }

static int quant_progress(void *ud, const char *phase, double fraction) {
    quant_job *qj = ud;
    char msg[64];
    snprintf(msg, sizeof msg, "%s: %s", qj->stage, phase);
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    /* Training is the first 9/10 of the job (after choosing the method with "auto", which
     * takes the first 6/10), encoding the points the last. */
    return hks_job_progress(qj->job, (uint64_t)(qj->base + fraction * qj->span), 1000, msg);
}

static const char *params_label(const hk_quant_params *p, char *buf, size_t len) {
    return hk_quant_label(p->method, p->pq_m, p->pq_bits, p->curve, buf, len);
}

/* "auto": every candidate evaluated on the collection, the chosen one's parameters (with
 * the request's training options) into qj->p, and the table as JSON into *table. */
static hk_status quant_choose(quant_job *qj, hk_collection *c, hk_buf *table) {
    hk_quant_params *cands = NULL;
    hk_quality *tab = NULL;
    size_t nt = 0, chosen = 0;
    hk_quality_options o = {.k = qj->k, .rerank = qj->rerank};
    qj->base = 0;
    qj->span = 600;
    qj->stage = "choosing the method";
    hk_status st = hk_collection_quant_auto(c, &qj->target, qj->sample, qj->nq, &o, quant_progress,
                                            qj, &cands, &tab, &nt, &chosen);
    hk_buf_puts(table, "[");
    size_t best = nt;
    for (size_t i = 0; i < nt; i++) {
        char label[48];
        hk_buf_puts(table, i ? ",{\"label\":\"" : "{\"label\":\"");
        hk_buf_puts(table, params_label(&cands[i], label, sizeof label));
        if (!tab[i].code_bytes) {
            hk_buf_puts(table, "\",\"trained\":false}");
            continue;
        }
        if (best == nt || tab[i].recall_rerank > tab[best].recall_rerank) best = i;
        hk_buf_printf(table, "\",\"trained\":true,\"code_bytes\":%u,\"mse\":%.9g,\"recall\":%.6g,"
                      "\"recall_rerank\":%.6g,\"chosen\":%s}", tab[i].code_bytes, tab[i].mse,
                      tab[i].recall, tab[i].recall_rerank, !st && i == chosen ? "true" : "false");
    }
    hk_buf_puts(table, "]");
    if (!st) {
        hk_quant_params pick = cands[chosen];
        pick.train_size = qj->p.train_size;
        pick.iterations = qj->p.iterations;
        pick.opq_iterations = qj->p.opq_iterations;
        pick.seed = qj->p.seed;
        qj->p = pick;
    } else if (st == HK_NOT_FOUND && qj->target.min_recall > 0 && best < nt) {
        char label[48];
        st = hk_fail(HK_NOT_FOUND, "no candidate reaches recall@%u %.4g after re-ranking: the best, "
                     "%s, reaches %.4g", tab[best].k, qj->target.min_recall,
                     params_label(&cands[best], label, sizeof label), tab[best].recall_rerank);
    }
    for (size_t i = 0; i < nt; i++) hk_quality_free(&tab[i]);
    hk_free(cands);
    hk_free(tab);
    qj->base = 600;
    qj->span = 300;
    qj->stage = "training";
    return st;
}

static hks_job_state quant_run(hks_job *j, void *arg, hk_db *db, char *msg, size_t msg_size,
                               char **result) {
    quant_job *qj = arg;
    qj->job = j;
    qj->base = 0;
    qj->span = 900;
    qj->stage = "training";
    hk_collection *c = NULL;
    hk_codebook *cb = NULL;
    hk_status st = hk_collection_open(db, qj->name, &c);
    uint64_t gen = 0;
    if (!st && qj->requested) {
        /* The request as it is now: a PATCH may have changed or dropped it since. Its
         * generation goes with the codes: they are installed only if it is still current. */
        hk_quant_state qs;
        st = hk_collection_quant_state(c, &qs);
        const char *skip = !st && !qs.requested ? "the collection requests no quantization any more"
                           : !st && qs.met ? "the collection has the requested codes already"
                                           : NULL;
        qj->p = qs.request;
        qj->rerank = qs.request_rerank;
        gen = qs.generation;
        if (skip) {
            hk_collection_close(c);
            snprintf(msg, msg_size, "%s", skip);
            hks_job_progress(j, 1000, 1000, NULL);
            return HKS_JOB_DONE;
        }
    }
    hk_buf table;
    hk_buf_init(&table);
    if (!st && qj->autosel) st = quant_choose(qj, c, &table);
    if (!st) st = hk_collection_train(c, &qj->p, quant_progress, qj, &cb);
    if (!st && qj->codebook[0]) st = hk_db_codebook_save(db, qj->codebook, cb, qj->replace);
    if (!st && hks_job_progress(j, 900, 1000, "encoding the points"))
        st = hk_fail(HK_CANCELLED, "cancelled after training; the collection is unchanged");
    if (!st && gen) st = hk_collection_quantize_requested(c, cb, NULL, qj->rerank, gen);
    else if (!st) st = hk_collection_quantize(c, cb, qj->codebook[0] ? qj->codebook : NULL, qj->rerank);
    if (st && st != HK_CANCELLED && gen) request_failed_note(gen);
    hk_codebook_info info;
    if (!st) st = hk_codebook_info_get(cb, &info);
    hk_codebook_free(cb);
    hk_collection_close(c);
    if (st) {
        snprintf(msg, msg_size, "%s", hk_errmsg());
        hk_buf_free(&table);
        return st == HK_CANCELLED ? HKS_JOB_CANCELLED : HKS_JOB_FAILED;
    }
    hk_buf r;
    hk_buf_init(&r);
    hk_buf_printf(&r, "{\"method\":\"%s\",\"curve\":\"%s\",\"curve_param\":%.6g,\"code_bytes\":%u,"
                  "\"compression\":%.4g,\"trained_on\":%llu,\"train_seconds\":%.3f,\"codebook\":",
                  hk_quant_method_name(info.method), hk_curve_name(info.curve), info.curve_param,
                  info.code_bytes, info.compression, (unsigned long long)info.trained_on,
                  info.train_seconds);
    if (qj->codebook[0]) hj_write_string(&r, qj->codebook, strlen(qj->codebook));
    else hk_buf_puts(&r, "null");
    hk_buf_printf(&r, ",\"pq_m\":%u,\"pq_bits\":%u", info.pq_m, info.pq_bits);
    if (qj->autosel) {
        hk_buf_puts(&r, ",\"candidates\":");
        hk_buf_append(&r, table.data, table.len);
    }
    hk_buf_free(&table);
    hk_buf_puts(&r, "}");
    hk_buf_putc(&r, 0);
    *result = (char *)hk_buf_detach(&r, NULL);
    hks_job_progress(j, 1000, 1000, NULL);
    snprintf(msg, msg_size, "quantized with %s: %u bytes per point", hk_quant_method_name(info.method),
             info.code_bytes);
    return HKS_JOB_DONE;
}

uint64_t hkr_quantize_requested(hk_db *db, const char *name, int force) {
    hk_collection *c;
    if (hk_collection_open(db, name, &c)) return 0;
    hk_quant_state qs;
    int due = !hk_collection_quant_state(c, &qs) && qs.requested && !qs.met &&
              qs.count >= g_quant_min_points && !request_failed(qs.generation);
    hk_collection_close(c);
    if (!due) return 0;
    quant_job *qj = hk_malloc(sizeof *qj);
    if (!qj) return 0;
    memset(qj, 0, sizeof *qj);
    snprintf(qj->name, sizeof qj->name, "%s", name);
    qj->requested = 1;
    /* A queued requested job reads the request when it runs, so joining it is enough; a
     * running one may have begun from an older request (it then installs nothing), so
     * after a request change (force) a new one is queued behind it. */
    uint64_t id = 0;
    hk_status st = hks_job_submit_unique("quantize", qj->name, force ? 1 : 2, quant_run, qj,
                                         quant_free, &id);
    return st && st != HK_EXISTS ? 0 : id;
}

static int is_requested_job(void *arg) { return arg && ((quant_job *)arg)->requested; }

size_t hkr_quantize_requested_cancel(const char *name, const char *why) {
    return hks_jobs_cancel_where("quantize", name, is_requested_job, why);
}

void hkr_quantize_requested_all(hk_db *db, atomic_int *stop) {
    char **names;
    size_t n;
    if (hk_db_list(db, &names, &n)) return;
    for (size_t i = 0; i < n && !atomic_load(stop); i++) hkr_quantize_requested(db, names[i], 0);
    hk_strings_free(names, n);
}

/* Clears the collection's requested quantization, if any, and stops its jobs. */
static hk_status clear_request(qctx *q) {
    hk_quant_state qs;
    hk_status st = hk_collection_quant_state(q->c, &qs);
    if (st || !qs.requested) return st;
    st = hk_collection_set_quant_request(q->c, NULL, 0);
    if (!st)
        hkr_quantize_requested_cancel(q->r->seg[2], "cancelled: the quantization request was "
                                      "cleared by an explicit quantize or dequantize");
    return st;
}

static int h_quantize(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const known[] = {"method", "pq_m", "pq_bits", "curve", "curve_param",
                                        "train_size", "iterations", "opq_iterations", "seed",
                                        "rerank", "codebook", "replace", "target_recall",
                                        "max_bytes", "sample", "queries", "k"};
    if (hr_known_members(q, b, known, sizeof known / sizeof *known, "quantize")) return q->status;
    if (q->stats.dim == 0)
        return hr_fail(q, 400, "collection '%s' is text-only: it has no vectors to quantize",
                       q->r->seg[2]);
    quant_job *qj = hk_malloc(sizeof *qj);
    if (!qj) return hr_nomem(q);
    memset(qj, 0, sizeof *qj);
    hk_quant_params_init(&qj->p);
    const char *method, *curve, *cbname;
    uint64_t m, bits, train, iters, opq_iters, seed, rerank, sample, nq, k;
    int wait, replace;
    if (get_string(q, b, "method", &method) || get_string(q, b, "curve", &curve) ||
        get_string(q, b, "codebook", &cbname) || hr_get_uint(q, b, "pq_m", HK_MAX_DIM, 0, &m) ||
        hr_get_uint(q, b, "pq_bits", 8, 0, &bits) ||
        hr_get_uint(q, b, "train_size", 100000000, 0, &train) ||
        hr_get_uint(q, b, "iterations", 10000, 0, &iters) ||
        hr_get_uint(q, b, "opq_iterations", 10000, 0, &opq_iters) ||
        hr_get_uint(q, b, "seed", UINT64_MAX >> 1, qj->p.seed, &seed) ||
        hr_get_uint(q, b, "rerank", 1000000, 0, &rerank) || hr_get_bool(q, b, "replace", 0, &replace) ||
        hr_get_uint(q, b, "sample", 1000000, 10000, &sample) ||
        hr_get_uint(q, b, "queries", 10000, 100, &nq) || hr_get_uint(q, b, "k", 1000, 10, &k) ||
        arg_bool(q, "wait", &wait)) {
        hk_free(qj);
        return q->status;
    }
    const hj_value *tr = hr_opt(b, "target_recall"), *mb = hr_opt(b, "max_bytes");
    qj->autosel = method && !strcmp(method, "auto");
    static const char *const auto_only[] = {"target_recall", "max_bytes", "sample", "queries", "k"};
    static const char *const not_auto[] = {"pq_m", "pq_bits", "curve", "curve_param"};
    if (qj->autosel) {
        if (!tr == !mb)
            hr_fail(q, 400, "method 'auto' needs exactly one of 'target_recall' (the smallest code "
                    "reaching it) and 'max_bytes' (the best code within it)");
        else if (tr && (!hj_is_number(tr) || !(hj_number(tr) > 0 && hj_number(tr) <= 1)))
            hr_fail(q, 400, "'target_recall' must be a number in (0, 1]");
        else if (mb && (!hj_is_number(mb) || !(hj_number(mb) >= 1)))
            hr_fail(q, 400, "'max_bytes' must be a number of at least 1");
        else if (sample < 10)
            hr_fail(q, 400, "'sample' must be an integer from 10 to 1000000");
        else if (k < 1)
            hr_fail(q, 400, "'k' must be an integer from 1 to 1000");
        else
            hr_refuse_present(q, b, not_auto, 4, " with method 'auto', which chooses them");
    } else {
        for (size_t i = 0; i < 5 && !q->status; i++)
            if (hr_opt(b, auto_only[i]))
                hr_fail(q, 400, "'%s' belongs to method 'auto'", auto_only[i]);
    }
    if (q->status) {
        hk_free(qj);
        return q->status;
    }
    if (qj->autosel) {
        qj->target.min_recall = tr ? hj_number(tr) : 0;
        qj->target.max_bytes = mb ? hj_number(mb) : 0;
        qj->sample = (uint32_t)sample;
        qj->nq = (uint32_t)nq;
        qj->k = (uint32_t)k;
        if (cbname && strlen(cbname) > HK_MAX_NAME)
            hr_fail(q, 400, "'codebook' is longer than %d characters", HK_MAX_NAME);
    } else if (method && hk_quant_method_parse(method, &qj->p.method)) {
        hr_fail(q, 400, "%s", hk_errmsg());
    } else if (!method) {
        hr_fail(q, 400, "'method' is required: sq8, sq4, pq, opq, int8 or auto");
    } else if (qj->p.method == HK_QUANT_NONE)
        hr_fail(q, 400, "method 'none': to drop the codes, DELETE this route");
    else if (curve && hk_curve_parse(curve, &qj->p.curve)) hr_fail(q, 400, "%s", hk_errmsg());
    else if (cbname && strlen(cbname) > HK_MAX_NAME)
        hr_fail(q, 400, "'codebook' is longer than %d characters", HK_MAX_NAME);
    const hj_value *cp = hr_opt(b, "curve_param");
    if (!q->status && cp && !hj_is_number(cp)) hr_fail(q, 400, "'curve_param' must be a number");
    if (q->status) {
        hk_free(qj);
        return q->status;
    }
    if (cp) qj->p.curve_param = hj_number(cp);
    qj->p.pq_m = (uint32_t)m;
    qj->p.pq_bits = (uint32_t)bits;
    qj->p.train_size = (uint32_t)train;
    qj->p.iterations = (uint32_t)iters;
    qj->p.opq_iterations = (uint32_t)opq_iters;
    qj->p.seed = seed;
    qj->rerank = (uint32_t)rerank;
    qj->replace = replace;
    snprintf(qj->name, sizeof qj->name, "%s", q->r->seg[2]);
    if (cbname) snprintf(qj->codebook, sizeof qj->codebook, "%s", cbname);
    /* Codes asked for by hand are the user's last word: the collection's request (Qdrant's
     * quantization_config) is cleared, so no later write or restart trains it again. */
    hk_status st = clear_request(q);
    if (st) {
        hk_free(qj);
        return hr_lib_fail(q, st);
    }
    uint64_t id;
    if (hks_job_submit("quantize", qj->name, quant_run, qj, quant_free, &id))
        return hr_fail(q, 503, "cannot start the quantization: %s", hk_errmsg());
    return write_job_or_404(q, id, wait);
}

/* DELETE drops the codes and the request alike (see h_quantize). */
static int h_dequantize(qctx *q) {
    if (hr_open_coll(q) || hr_full_stats(q)) return q->status;
    hk_quant_state qs;
    hk_status st = hk_collection_quant_state(q->c, &qs);
    if (st) return hr_lib_fail(q, st);
    if (q->stats.quant == HK_QUANT_NONE && !qs.requested)
        return hr_fail(q, 404, "collection '%s' has no codes and requests none", q->r->seg[2]);
    if ((st = clear_request(q))) return hr_lib_fail(q, st);
    if (q->stats.quant != HK_QUANT_NONE && (st = hk_collection_dequantize(q->c)) &&
        st != HK_NOT_FOUND)
        return hr_lib_fail(q, st);
    hk_buf_puts(&q->out, "true");
    return 200;
}

static void put_codebook_info(hk_buf *b, const hk_codebook_info *ci) {
    hk_buf_printf(b, "\"method\":\"%s\",\"curve\":\"%s\",\"curve_param\":%.6g,\"dim\":%u,"
                  "\"metric\":\"%s\",\"pq_m\":%u,\"pq_bits\":%u,\"bits\":%u,\"code_bytes\":%u,"
                  "\"compression\":%.4g,\"trained_on\":%llu,\"train_seconds\":%.3f,\"created\":%llu,"
                  "\"model_bytes\":%llu",
                  hk_quant_method_name(ci->method), hk_curve_name(ci->curve), ci->curve_param, ci->dim,
                  hk_metric_name(ci->metric), ci->pq_m, ci->pq_bits, ci->bits, ci->code_bytes,
                  ci->compression, (unsigned long long)ci->trained_on, ci->train_seconds,
                  (unsigned long long)ci->created, (unsigned long long)ci->model_bytes);
}

static int h_codebooks(qctx *q) {
    char **names;
    size_t n;
    hk_status st = hk_db_codebook_list(q->r->db, &names, &n);
    if (st) return hr_lib_fail(q, st);
    hk_buf_putc(&q->out, '[');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        hk_codebook *cb;
        hk_codebook_info ci;
        if (hk_db_codebook_load(q->r->db, names[i], &cb)) continue;
        st = hk_codebook_info_get(cb, &ci);
        hk_codebook_free(cb);
        if (st) continue;
        if (!first) hk_buf_putc(&q->out, ',');
        first = 0;
        hk_buf_puts(&q->out, "{\"name\":");
        hj_write_string(&q->out, names[i], strlen(names[i]));
        hk_buf_putc(&q->out, ',');
        put_codebook_info(&q->out, &ci);
        hk_buf_putc(&q->out, '}');
    }
    hk_buf_putc(&q->out, ']');
    hk_strings_free(names, n);
    return 200;
}

/* GET /hektor/codebooks/{name}: the description (as `hektor codebook show --json`), with
 * arrays=true every table too (the form PUT takes back), with format=binary the HKCB file. */
static int h_codebook_get(qctx *q) {
    const char *format = hr_arg(q, "format");
    int arrays;
    if (arg_bool(q, "arrays", &arrays)) return q->status;
    if (format && strcmp(format, "json") && strcmp(format, "binary"))
        return hr_fail(q, 400, "query parameter 'format' must be json or binary, not '%.32s'", format);
    int binary = format && !strcmp(format, "binary");
    if (binary && arrays) return hr_fail(q, 400, "'arrays' belongs to the JSON form, not format=binary");
    hk_codebook *cb;
    hk_status st = hk_db_codebook_load(q->r->db, q->r->seg[2], &cb);
    if (st) return hr_lib_fail(q, st);
    if (binary) {
        uint8_t *data;
        size_t len;
        if (!(st = hk_codebook_serialize(cb, &data, &len))) {
            st = hk_buf_append(&q->out, data, len);
            hk_free(data);
        }
        q->raw_type = "application/octet-stream";
    } else {
        char *js;
        if (!(st = hk_codebook_to_json(cb, arrays, &js))) {
            hk_buf_puts(&q->out, js);
            hk_free(js);
        }
    }
    hk_codebook_free(cb);
    return st ? hr_lib_fail(q, st) : 200;
}

/* PUT /hektor/codebooks/{name}[?replace=true]: the body is an HKCB file or the JSON with
 * arrays, checked by the library's readers before anything is stored. */
static int h_codebook_put(qctx *q) {
    int replace;
    if (arg_bool(q, "replace", &replace)) return q->status;
    const char *body = q->r->body;
    size_t len = q->r->body_len;
    if (!len) return hr_fail(q, 400, "the body must be a codebook: an HKCB file or its JSON with arrays");
    hk_codebook *cb = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t')) i++;
    hk_status st;
    if (len >= 4 && !memcmp(body, "HKCB", 4))
        st = hk_codebook_deserialize((const uint8_t *)body, len, &cb);
    else if (i < len && body[i] == '{')
        st = hk_codebook_from_json(body, len, &cb);
    else
        return hr_fail(q, 400, "the body is neither an HKCB codebook (it starts with the magic "
                       "'HKCB') nor its JSON form (an object)");
    if (st) return hr_fail(q, 400, "the codebook is not valid: %s", hk_errmsg());
    st = hk_db_codebook_save(q->r->db, q->r->seg[2], cb, replace);
    hk_codebook_info ci;
    if (!st) st = hk_codebook_info_get(cb, &ci);
    hk_codebook_free(cb);
    if (st == HK_EXISTS)
        return hr_fail(q, 409, "codebook '%s' exists: PUT with ?replace=true to replace it",
                       q->r->seg[2]);
    if (st) return hr_lib_fail(q, st);
    hk_buf_puts(&q->out, "{\"name\":");
    hj_write_string(&q->out, q->r->seg[2], strlen(q->r->seg[2]));
    hk_buf_putc(&q->out, ',');
    put_codebook_info(&q->out, &ci);
    hk_buf_putc(&q->out, '}');
    return 200;
}

static int h_codebook_delete(qctx *q) {
    hk_status st = hk_db_codebook_remove(q->r->db, q->r->seg[2]);
    if (st) return hr_lib_fail(q, st);
    hk_buf_puts(&q->out, "true");
    return 200;
}

static int arg_uint(qctx *q, const char *name, uint64_t lo, uint64_t hi, uint64_t def, uint64_t *out) {
    const char *v = hr_arg(q, name);
    *out = def;
    if (!v) return 0;
    char *end;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || *v == '-' || x < lo || x > hi)
        return hr_fail(q, 400, "query parameter '%s' must be an integer from %llu to %llu, not "
                       "'%.32s'", name, (unsigned long long)lo, (unsigned long long)hi, v);
    *out = x;
    return 0;
}

static int h_quality(qctx *q) {
    if (hr_open_coll(q)) return q->status;
    uint64_t sample, nq, k, rerank;
    int per_dim;
    if (arg_uint(q, "sample", 2, 1000000, 2000, &sample) || arg_uint(q, "queries", 0, 10000, 100, &nq) ||
        arg_uint(q, "k", 1, 1000, 10, &k) || arg_uint(q, "rerank", 0, 100000, 0, &rerank) ||
        arg_bool(q, "per_dim", &per_dim))
        return q->status;
    hk_codebook *cb = NULL;
    char *cbname = NULL;
    hk_status st = hk_collection_codebook(q->c, &cb, &cbname);
    if (st == HK_NOT_FOUND)
        return hr_fail(q, 404, "collection '%s' has no codes: quantize it first", q->r->seg[2]);
    if (st) return hr_lib_fail(q, st);
    /* A random sample; its first queries are held out of the evaluated vectors. */
    float *all = NULL;
    size_t got = 0;
    hk_quality ql;
    memset(&ql, 0, sizeof ql);
    if (!(st = hk_collection_sample(q->c, (size_t)(sample + nq), 7, &all, &got))) {
        size_t hq = got > 2 * nq ? nq : got / 2, dim = q->stats.dim;
        hk_quality_options o = {.k = (uint32_t)k, .rerank = (uint32_t)rerank};
        if (got - hq == 0) st = hk_fail(HK_INVALID, "the collection is too small to evaluate");
        else st = hk_codebook_evaluate(cb, all + hq * dim, got - hq, hq ? all : NULL, hq, &o, &ql);
    }
    hk_codebook_info ci;
    memset(&ci, 0, sizeof ci);
    if (!st) st = hk_codebook_info_get(cb, &ci);
    hk_free(all);
    hk_codebook_free(cb);
    if (st) {
        hk_free(cbname);
        hk_quality_free(&ql);
        return hr_lib_fail(q, st);
    }
    hk_buf *o = &q->out;
    hk_buf_puts(o, "{\"codebook\":");
    if (cbname) hj_write_string(o, cbname, strlen(cbname));
    else hk_buf_puts(o, "null");
    hk_free(cbname);
    hk_buf_printf(o, ",\"method\":\"%s\",\"curve\":\"%s\",\"code_bytes\":%u,\"compression\":%.4g,"
                  "\"mse\":%.9g,\"psnr\":%.6g,\"ssim\":%.9g,\"cosine_distortion\":%.9g,"
                  "\"encode_per_s\":%.6g,\"vectors\":%llu,\"queries\":%llu,\"k\":%u,\"recall\":%.6g,"
                  "\"rerank\":%u,\"recall_rerank\":%.6g,\"search_per_s\":%.6g,\"float_search_per_s\":%.6g",
                  hk_quant_method_name(ql.method), hk_curve_name(ql.curve), ql.code_bytes,
                  ql.compression, ql.mse, ql.psnr > 1e300 ? 1e300 : ql.psnr, ql.ssim,
                  ql.cosine_distortion, ql.encode_per_s, (unsigned long long)ql.vectors,
                  (unsigned long long)ql.queries, ql.k, ql.recall, ql.rerank, ql.recall_rerank,
                  ql.search_per_s, ql.float_search_per_s);
    if (per_dim && ql.per_dim_mse) {
        hk_buf_puts(o, ",\"per_dim_mse\":[");
        for (uint32_t d = 0; d < ql.dim; d++) hk_buf_printf(o, "%s%.6g", d ? "," : "", ql.per_dim_mse[d]);
        hk_buf_putc(o, ']');
    }
    hk_buf_putc(o, '}');
    hk_quality_free(&ql);
    return 200;
}


/* ---- index builds (a job of kind "build") ---- */

typedef struct build_job {
    char name[HK_MAX_NAME + 1];
    hk_index_kind kind;
    uint32_t m, efc;
    hks_job *job;
} build_job;

static void build_free(void *arg) { hk_free(arg); }

static int build_progress(void *ud, const char *phase, double fraction) {
    build_job *bj = ud;
    char msg[64];
    snprintf(msg, sizeof msg, "%s: linking the points", phase);
    if (fraction < 0) fraction = 0;
    if (fraction > 1) fraction = 1;
    return hks_job_progress(bj->job, (uint64_t)(fraction * 1000), 1000, msg);
}

static hks_job_state build_run(hks_job *j, void *arg, hk_db *db, char *msg, size_t msg_size,
                               char **result) {
    build_job *bj = arg;
    bj->job = j;
    hk_collection *c = NULL;
    double t0 = mono_ms();
    hk_status st = hk_collection_open(db, bj->name, &c);
    if (!st) st = hk_collection_reindex(c, bj->kind, bj->m, bj->efc, build_progress, bj);
    hk_collection_config cfg;
    if (!st) st = hk_collection_get_config(c, &cfg);
    hk_collection_close(c);
    if (st) {
        snprintf(msg, msg_size, "%s", hk_errmsg());
        return st == HK_CANCELLED ? HKS_JOB_CANCELLED : HKS_JOB_FAILED;
    }
    hk_buf r;
    hk_buf_init(&r);
    if (cfg.index == HK_INDEX_HNSW)
        hk_buf_printf(&r, "{\"kind\":\"hnsw\",\"m\":%u,\"ef_construction\":%u,\"ef\":%u,\"seconds\":%.3f}",
                      cfg.hnsw_m, cfg.hnsw_ef_construction, cfg.hnsw_ef_search, (mono_ms() - t0) / 1e3);
    else
        hk_buf_printf(&r, "{\"kind\":\"flat\",\"seconds\":%.3f}", (mono_ms() - t0) / 1e3);
    hk_buf_putc(&r, 0);
    *result = (char *)hk_buf_detach(&r, NULL);
    hks_job_progress(j, 1000, 1000, NULL);
    if (cfg.index == HK_INDEX_HNSW)
        snprintf(msg, msg_size, "built an hnsw index (m %u, ef_construction %u)", cfg.hnsw_m,
                 cfg.hnsw_ef_construction);
    else
        snprintf(msg, msg_size, "switched to a flat index");
    return HKS_JOB_DONE;
}

static int h_build_index(qctx *q) {
    if (hr_parse_body(q, 1) || hr_open_coll(q)) return q->status;
    const hj_value *b = q->body;
    static const char *const known[] = {"kind", "m", "ef_construction"};
    if (hr_known_members(q, b, known, 3, "index")) return q->status;
    if (q->stats.dim == 0)
        return hr_fail(q, 400, "collection '%s' is text-only: it has no vectors to index", q->r->seg[2]);
    const char *kind;
    uint64_t m, efc;
    int wait;
    if (get_string(q, b, "kind", &kind) || hr_get_uint(q, b, "m", 128, 0, &m) ||
        hr_get_uint(q, b, "ef_construction", 65536, 0, &efc) || arg_bool(q, "wait", &wait))
        return q->status;
    if (!kind) return hr_fail(q, 400, "'kind' is required: hnsw or flat");
    hk_index_kind k;
    if (!strcmp(kind, "hnsw")) k = HK_INDEX_HNSW;
    else if (!strcmp(kind, "flat")) k = HK_INDEX_FLAT;
    else return hr_fail(q, 400, "'kind' must be hnsw or flat, not '%.32s'", kind);
    if (k == HK_INDEX_FLAT && (hr_opt(b, "m") || hr_opt(b, "ef_construction")))
        return hr_fail(q, 400, "a flat index takes no 'm' or 'ef_construction'");
    if (k == HK_INDEX_HNSW && hr_opt(b, "m") && m < 2)
        return hr_fail(q, 400, "'m' must be an integer from 2 to 128");
    if (k == HK_INDEX_HNSW && hr_opt(b, "ef_construction") && efc < 1)
        return hr_fail(q, 400, "'ef_construction' must be an integer from 1 to 65536");
    build_job *bj = hk_malloc(sizeof *bj);
    if (!bj) return hr_nomem(q);
    memset(bj, 0, sizeof *bj);
    snprintf(bj->name, sizeof bj->name, "%s", q->r->seg[2]);
    bj->kind = k;
    bj->m = (uint32_t)m;
    bj->efc = (uint32_t)efc;
    uint64_t id;
    if (hks_job_submit("build", bj->name, build_run, bj, build_free, &id))
        return hr_fail(q, 503, "cannot start the index build: %s", hk_errmsg());
    return write_job_or_404(q, id, wait);
}

/* ---- routing ---- */

#define C HKS_CLASS_COLLECTIONS
#define W HKS_CLASS_WRITE
#define R HKS_CLASS_READ
#define S HKS_CLASS_SEARCH
const hks_route hkr_routes[] = {
    {"GET", "/hektor/collections/{collection_name}/stats", h_stats, R, 0,
     "Collection statistics", NULL, "CollectionStats", NULL},
    {"POST", "/hektor/collections/{collection_name}/search", h_search, S, 0,
     "Text, vector or hybrid search", "HektorSearch", "HektorSearchResult", NULL},
    {"POST", "/hektor/collections/{collection_name}/import", h_import, W, 1,
     "Import a file (the body) as a background job", "ImportFile", "JobEnvelope", "format,create,metric,text_field,id_field,vector_field,embed,wait"},
    {"POST", "/hektor/embed", h_embed, S, 0, "Embed texts with the built-in text embedding",
     "EmbedTexts", "Embeddings", NULL},
    {"POST", "/hektor/collections/{collection_name}/quantize", h_quantize, W, 1,
     "Train a quantizer on the collection and give it codes, as a background job", "Quantize",
     "JobEnvelope", "wait"},
    {"DELETE", "/hektor/collections/{collection_name}/quantize", h_dequantize, W, 1,
     "Drop the collection's codes", NULL, "Bool", NULL},
    {"POST", "/hektor/collections/{collection_name}/index", h_build_index, W, 1,
     "Rebuild the collection's vector index (hnsw or flat) as a background job", "BuildIndex",
     "JobEnvelope", "wait"},
    {"GET", "/hektor/collections/{collection_name}/quality", h_quality, R, 0,
     "Quality of the collection's codes on a sample", NULL, "Quality",
     "sample,queries,k,rerank,per_dim"},
    {"GET", "/hektor/codebooks", h_codebooks, R, 0, "The database's stored codebooks", NULL,
     "CodebookList", NULL},
    {"GET", "/hektor/codebooks/{codebook_name}", h_codebook_get, R, 0,
     "A stored codebook: its description (JSON, with arrays=true every table), or with "
     "format=binary its HKCB file", NULL, "CodebookJson", "format,arrays"},
    {"PUT", "/hektor/codebooks/{codebook_name}", h_codebook_put, C, 1,
     "Store a codebook: the body is an HKCB file or the JSON with arrays; 409 when it exists "
     "without replace=true", "CodebookUpload", "Codebook", "replace"},
    {"DELETE", "/hektor/codebooks/{codebook_name}", h_codebook_delete, C, 1,
     "Remove a stored codebook (collections keep their own copies)", NULL, "Bool", NULL},
    {"GET", "/hektor/collections/{collection_name}/synonyms", h_synonyms_get, R, 0,
     "The collection's synonym list", NULL, "Synonyms", NULL},
    {"PUT", "/hektor/collections/{collection_name}/synonyms", h_synonyms_put, W, 1,
     "Replace the collection's synonym list (durable)", "SetSynonyms", "Synonyms", NULL},
    {"DELETE", "/hektor/collections/{collection_name}/synonyms", h_synonyms_delete, W, 1,
     "Clear the collection's synonym list", NULL, "Bool", NULL},
    {"GET", "/hektor/jobs", h_jobs, R, 0, "List background jobs", NULL, "JobList", NULL},
    {"GET", "/hektor/jobs/{job_id}", h_job, R, 0, "One background job", NULL, "JobEnvelope", "wait"},
    {"DELETE", "/hektor/jobs/{job_id}", h_job_cancel, W, 1, "Cancel a background job", NULL,
     "JobEnvelope", "wait"},
    /* the 3-D vector space (projection.c) */
    {"POST", "/hektor/collections/{collection_name}/projection", hkr_h_project, W, 1,
     "Project the collection's vectors to 3-D (PCA or UMAP) with a k-NN graph, as a background "
     "job", "ProjectionRequest", "JobEnvelope", "wait"},
    {"GET", "/hektor/collections/{collection_name}/projection", hkr_h_projection, R, 0,
     "The current projection's metadata", NULL, "Projection", "method"},
    {"GET", "/hektor/collections/{collection_name}/projection/coords", hkr_h_projection_coords, R,
     0, "The projection's coordinates: float32 little-endian, x y z per point", NULL, "File",
     "method"},
    {"GET", "/hektor/collections/{collection_name}/projection/ids", hkr_h_projection_ids, R, 0,
     "The projected points' ids: uint64 little-endian, in coordinate order", NULL, "File",
     "method"},
    {"GET", "/hektor/collections/{collection_name}/projection/neighbors",
     hkr_h_projection_neighbors, R, 0,
     "A projected point's nearest neighbours in the original space (the k-NN graph)", NULL,
     "ProjectionNeighbors", "method,index,k"},
    {"GET", "/hektor/collections/{collection_name}/projection/field", hkr_h_projection_field, R, 0,
     "A payload field's values over the projected points, for colouring", NULL,
     "ProjectionField", "method,name"},
};
#undef C
#undef W
#undef R
#undef S
const size_t hkr_nroutes = sizeof hkr_routes / sizeof *hkr_routes;
