/*
 * cmd_read.c — commands that only read: search, get, count, info, list, scroll, backup.
 * They open the database read-only (no lock), so they work while another process, such
 * as a server, holds it for writing; they see its latest durable state.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parses "0.1,0.2,-3" into floats. */
static int parse_vector(const char *s, float **out, uint32_t *dim) {
    size_t cap = 16, n = 0;
    float *v = malloc(cap * sizeof *v);
    if (!v) return 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '[') p++;
        char *end;
        errno = 0;
        float x = strtof(p, &end);
        if (end == p || !isfinite(x) || (errno && errno != ERANGE)) {
            free(v);
            return 0;
        }
        if (n == cap) {
            cap *= 2;
            float *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                return 0;
            }
            v = nv;
        }
        v[n++] = x;
        p = end;
        while (*p == ' ' || *p == ']') p++;
        if (*p == 0) break;
        if (*p != ',') {
            free(v);
            return 0;
        }
        p++;
    }
    *out = v;
    *dim = (uint32_t)n;
    return 1;
}

/* Reads an .ivecs file: rows of int32 count then ids. */
static int read_ivecs(const char *path, int32_t ***rows, uint32_t **lens, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return cli_fail("cannot open '%s': %s", path, strerror(errno));
    size_t cap = 0, m = 0;
    int32_t **r = NULL;
    uint32_t *l = NULL;
    int rc = 0;
    for (;;) {
        int32_t cnt;
        size_t got = fread(&cnt, 4, 1, f);
        if (got != 1) break;
        if (cnt < 0 || cnt > (1 << 24)) {
            rc = cli_fail("%s: row %zu has an invalid length %d", path, m, cnt);
            break;
        }
        if (m == cap) {
            cap = cap ? cap * 2 : 64;
            int32_t **nr = realloc(r, cap * sizeof *nr);
            uint32_t *nl = realloc(l, cap * sizeof *nl);
            if (nr) r = nr;
            if (nl) l = nl;
            if (!nr || !nl) {
                rc = cli_fail("out of memory");
                break;
            }
        }
        r[m] = malloc((size_t)(cnt ? cnt : 1) * 4);
        if (!r[m] || fread(r[m], 4, (size_t)cnt, f) != (size_t)cnt) {
            free(r[m]);
            rc = cli_fail("%s: row %zu is truncated", path, m);
            break;
        }
        l[m++] = (uint32_t)cnt;
    }
    fclose(f);
    if (rc) {
        for (size_t i = 0; i < m; i++) free(r[i]);
        free(r);
        free(l);
        return rc;
    }
    *rows = r;
    *lens = l;
    *n = m;
    return 0;
}

static void print_hit_json(const hk_result *r, size_t q, size_t i, int with_payload) {
    printf("{\"id\":%llu,\"score\":", (unsigned long long)hk_result_id(r, q, i));
    cli_json_float(stdout, hk_result_score(r, q, i));
    const char *p = hk_result_payload(r, q, i);
    if (with_payload && p) printf(",\"payload\":%s", p);
    const char *t = hk_result_text(r, q, i);
    if (t) {
        fputs(",\"text\":", stdout);
        cli_json_string(stdout, t);
    }
    putchar('}');
}

/* "3,17,42" lists of positive then negative ids in one malloc'd array; NULL when malformed. */
static uint64_t *parse_ids(const char *pos, const char *neg, size_t *np, size_t *nn) {
    const char *lists[2] = {pos, neg};
    size_t counts[2] = {0, 0}, cap = 2;
    for (const char *p = pos; *p; p++) cap += *p == ',';
    for (const char *p = neg ? neg : ""; *p; p++) cap += *p == ',';
    uint64_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return NULL;
    size_t n = 0;
    for (int l = 0; l < 2; l++) {
        if (!lists[l]) continue;
        const char *p = lists[l];
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            char buf[32];
            if (!len || len >= sizeof buf) goto bad;
            memcpy(buf, p, len);
            buf[len] = 0;
            if (!cli_parse_u64(buf, &ids[n])) goto bad;
            n++;
            counts[l]++;
            if (!comma) break;
            p = comma + 1;
        }
    }
    *np = counts[0];
    *nn = counts[1];
    return ids;
bad:
    free(ids);
    return NULL;
}

/* The options of one search, as given (search_run checks and applies them). */
typedef struct search_args {
    const char *vec_s, *queries_s, *k_s, *filter_s, *radius_s, *out_s, *truth_s, *ef_s, *rerank_s,
        *text_s, *fusion_s, *rrfk_s, *depth_s, *match_s, *fweight_s, *expand_s, *fbdocs_s,
        *fbterms_s, *rm3w_s;
    const uint64_t *ex; /* nposx positive then nnegx negative example ids */
    size_t nposx, nnegx;
    hk_recommend strategy;
    double ralpha, rbeta, rgamma;
    int exact, json, with_payload, with_text;
    const char *embed_text, *table_s; /* --embed / --embed-only: the text to embed; the table */
} search_args;

static int search_run(cli_ctx *ctx, const char *name, const search_args *a);

int cmd_search(cli_ctx *ctx, int argc, char **argv) {
    const char *vec_s = NULL, *queries_s = NULL, *k_s = NULL, *filter_s = NULL, *radius_s = NULL,
               *out_s = NULL, *truth_s = NULL, *ef_s = NULL, *rerank_s = NULL, *text_s = NULL,
               *fusion_s = NULL, *rrfk_s = NULL, *depth_s = NULL, *match_s = NULL,
               *fweight_s = NULL, *expand_s = NULL, *fbdocs_s = NULL, *fbterms_s = NULL,
               *rm3w_s = NULL, *positive_s = NULL, *negative_s = NULL, *strategy_s = NULL,
               *rocchio_s = NULL, *table_s = NULL;
    int exact = 0, json = 0, with_payload = 0, with_text = 0, embed = 0, embed_only = 0;
    cli_opt opts[] = {{"--vector", &vec_s, NULL},    {"--queries", &queries_s, NULL},
                      {"--k", &k_s, NULL},           {"--filter", &filter_s, NULL},
                      {"--radius", &radius_s, NULL}, {"--out", &out_s, NULL},
                      {"--truth", &truth_s, NULL},   {"--ef", &ef_s, NULL},
                      {"--rerank", &rerank_s, NULL}, {"--text", &text_s, NULL},
                      {"--fusion", &fusion_s, NULL}, {"--rrf-k", &rrfk_s, NULL},
                      {"--depth", &depth_s, NULL}, {"--match", &match_s, NULL},
                      {"--fusion-weight", &fweight_s, NULL}, {"--expand", &expand_s, NULL},
                      {"--fb-docs", &fbdocs_s, NULL}, {"--fb-terms", &fbterms_s, NULL},
                      {"--rm3-weight", &rm3w_s, NULL}, {"--positive", &positive_s, NULL},
                      {"--negative", &negative_s, NULL}, {"--strategy", &strategy_s, NULL},
                      {"--rocchio", &rocchio_s, NULL},
                      {"--exact", NULL, &exact},     {"--json", NULL, &json},
                      {"--with-payload", NULL, &with_payload}, {"--with-text", NULL, &with_text},
                      {"--embed", NULL, &embed},     {"--embed-only", NULL, &embed_only},
                      {"--embeddings", &table_s, NULL},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("search", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("search", "expected a collection NAME");
    /* --embed: the text's embedding is the query vector (hybrid with the text's BM25
     * search); --embed-only: that vector alone. */
    if ((embed || embed_only || table_s) && (!text_s || vec_s || queries_s))
        return cli_usage("search", "--embed, --embed-only and --embeddings need --text and "
                         "no --vector or --queries");
    if (embed && embed_only) return cli_usage("search", "give --embed or --embed-only, not both");
    if (table_s && !embed && !embed_only) return cli_usage("search", "--embeddings needs --embed or --embed-only");
    if (embed_only && match_s)
        return cli_usage("search", "--match applies to the text search, which --embed-only leaves out");
    const char *embed_text = embed || embed_only ? text_s : NULL;
    if (embed_only) text_s = NULL;
    if ((embed || embed_only) && positive_s)
        return cli_usage("search", "--embed and --embed-only make the query vector from --text; "
                         "they do not combine with --positive");
    if ((negative_s || strategy_s || rocchio_s) && !positive_s)
        return cli_usage("search", "--negative, --strategy and --rocchio need --positive IDS");
    hk_recommend strategy = HK_RECOMMEND_AVERAGE_VECTOR;
    if (strategy_s && hk_recommend_from_name(strategy_s, &strategy))
        return cli_usage("search", "--strategy takes average_vector, best_score or rocchio, not '%s'",
                         strategy_s);
    if (rocchio_s && strategy != HK_RECOMMEND_ROCCHIO)
        return cli_usage("search", "--rocchio applies to --strategy rocchio");
    uint64_t *ex = NULL;
    size_t nposx = 0, nnegx = 0;
    if (positive_s) {
        if (strategy != HK_RECOMMEND_ROCCHIO && (vec_s || queries_s || text_s))
            return cli_usage("search", "--positive with --strategy %s makes its own query: give no "
                             "--vector, --queries or --text (--strategy rocchio moves them)",
                             strategy_s ? strategy_s : "average_vector");
        if (strategy == HK_RECOMMEND_ROCCHIO && (queries_s || (!vec_s && !text_s)))
            return cli_usage("search", "--strategy rocchio moves one query: give --vector and/or --text");
        if (!(ex = parse_ids(positive_s, negative_s, &nposx, &nnegx)))
            return cli_usage("search", "--positive and --negative take comma-separated ids, e.g. 3,17,42");
    }
    double ralpha = 1, rbeta = 0.75, rgamma = 0.15;
    int used = 0;
    if (rocchio_s && (sscanf(rocchio_s, "%lf,%lf,%lf%n", &ralpha, &rbeta, &rgamma, &used) != 3 ||
                      rocchio_s[used] || !(ralpha >= 0 && rbeta >= 0 && rgamma >= 0))) {
        free(ex);
        return cli_usage("search", "--rocchio takes ALPHA,BETA,GAMMA, numbers >= 0, e.g. 1,0.75,0.15");
    }
    search_args args = {vec_s, queries_s, k_s, filter_s, radius_s, out_s, truth_s, ef_s, rerank_s,
                        text_s, fusion_s, rrfk_s, depth_s, match_s, fweight_s, expand_s, fbdocs_s,
                        fbterms_s, rm3w_s, ex, nposx, nnegx, strategy, ralpha, rbeta, rgamma,
                        exact, json, with_payload, with_text, embed_text, table_s};
    int rc2 = search_run(ctx, pos[0], &args);
    free(ex);
    return rc2;
}

static int search_run(cli_ctx *ctx, const char *name, const search_args *a) {
    const char *vec_s = a->vec_s, *queries_s = a->queries_s, *k_s = a->k_s, *filter_s = a->filter_s,
               *radius_s = a->radius_s, *out_s = a->out_s, *truth_s = a->truth_s, *ef_s = a->ef_s,
               *rerank_s = a->rerank_s, *text_s = a->text_s, *fusion_s = a->fusion_s,
               *rrfk_s = a->rrfk_s, *depth_s = a->depth_s, *match_s = a->match_s,
               *fweight_s = a->fweight_s, *expand_s = a->expand_s, *fbdocs_s = a->fbdocs_s,
               *fbterms_s = a->fbterms_s, *rm3w_s = a->rm3w_s;
    const uint64_t *ex = a->ex;
    size_t nposx = a->nposx, nnegx = a->nnegx;
    hk_recommend strategy = a->strategy;
    int exact = a->exact, json = a->json, with_payload = a->with_payload, with_text = a->with_text;
    const char *embed_text = a->embed_text, *table_s = a->table_s;
    int rc = 0;
    int examples_only = nposx && strategy != HK_RECOMMEND_ROCCHIO;
    if (!examples_only && !vec_s == !queries_s && !(text_s && !queries_s) && !embed_text)
        return cli_usage("search", "give one of --vector, --queries and --text, or --vector "
                         "with --text for hybrid search");
    if (text_s && queries_s) return cli_usage("search", "--text takes one --vector, not --queries");
    int hybrid = text_s && (vec_s || embed_text);
    if (text_s && !hybrid && (radius_s || exact || ef_s || rerank_s))
        return cli_usage("search", "--radius, --exact, --ef and --rerank apply to vector search, not --text");
    if (hybrid && radius_s) return cli_usage("search", "--radius does not apply to hybrid search");
    if (!hybrid && (fusion_s || rrfk_s || depth_s || fweight_s))
        return cli_usage("search", "--fusion, --fusion-weight, --rrf-k and --depth apply to hybrid "
                         "search (--vector with --text)");
    hk_fusion fusion = HK_FUSION_RRF;
    if (fusion_s && hk_fusion_from_name(fusion_s, &fusion))
        return cli_usage("search", "unknown fusion '%s' (rrf, convex, dbsf, combsum, combmnz or borda)",
                         fusion_s);
    if (rrfk_s && fusion != HK_FUSION_RRF) return cli_usage("search", "--rrf-k applies to --fusion rrf");
    if (fweight_s && fusion != HK_FUSION_CONVEX)
        return cli_usage("search", "--fusion-weight applies to --fusion convex");
    double fparam = fusion == HK_FUSION_CONVEX ? 0.5 : 0;
    uint32_t depth = 0;
    float rk = 0;
    if (rrfk_s && (!cli_parse_float(rrfk_s, &rk) || !(rk > 0 && rk <= 1e9)))
        return cli_usage("search", "--rrf-k must be a positive number, not '%s'", rrfk_s);
    if (rrfk_s) fparam = rk;
    if (fweight_s && (!cli_parse_float(fweight_s, &rk) || !(rk >= 0 && rk <= 1)))
        return cli_usage("search", "--fusion-weight must be a number in [0, 1] (the vector list's "
                         "weight), not '%s'", fweight_s);
    if (fweight_s) fparam = rk;
    if (depth_s && (!cli_parse_u32(depth_s, &depth) || depth < 1))
        return cli_usage("search", "--depth must be a positive integer, not '%s'", depth_s);
    if (text_s && !*text_s) return cli_usage("search", "--text is empty");
    if (match_s && !text_s) return cli_usage("search", "--match applies to --text");
    hk_text_match match = HK_TEXT_MATCH_ANY;
    if (match_s && !strcmp(match_s, "all")) match = HK_TEXT_MATCH_ALL;
    else if (match_s && !strcmp(match_s, "phrase")) match = HK_TEXT_MATCH_PHRASE;
    else if (match_s && strcmp(match_s, "any"))
        return cli_usage("search", "--match takes any, all or phrase, not '%s'", match_s);
    if ((fbdocs_s || fbterms_s || rm3w_s) && !expand_s)
        return cli_usage("search", "--fb-docs, --fb-terms and --rm3-weight apply to --expand rm3");
    if (expand_s && strcmp(expand_s, "rm3"))
        return cli_usage("search", "--expand takes rm3, not '%s'", expand_s);
    if (expand_s && !text_s) return cli_usage("search", "--expand applies to --text");
    uint32_t fb_docs = 0, fb_terms = 0;
    float rm3w = 0;
    if (fbdocs_s && (!cli_parse_u32(fbdocs_s, &fb_docs) || fb_docs < 1))
        return cli_usage("search", "--fb-docs must be a positive integer, not '%s'", fbdocs_s);
    if (fbterms_s && (!cli_parse_u32(fbterms_s, &fb_terms) || fb_terms < 1))
        return cli_usage("search", "--fb-terms must be a positive integer, not '%s'", fbterms_s);
    if (rm3w_s && (!cli_parse_float(rm3w_s, &rm3w) || !(rm3w > 0 && rm3w <= 1)))
        return cli_usage("search", "--rm3-weight must be a number in (0, 1], not '%s'", rm3w_s);
    uint32_t k = 10, ef = 0, rerank = 0;
    float radius = 0;
    if (k_s && !cli_parse_u32(k_s, &k)) return cli_usage("search", "--k must be a non-negative integer, not '%s'", k_s);
    if (k == 0 && !radius_s) return cli_usage("search", "--k 0 is only meaningful with --radius");
    if (k == 0 && truth_s) return cli_usage("search", "--truth needs --k of at least 1");
    if (radius_s && !cli_parse_float(radius_s, &radius)) return cli_usage("search", "--radius must be a number, not '%s'", radius_s);
    if (ef_s && !cli_parse_u32(ef_s, &ef)) return cli_usage("search", "--ef must be a non-negative integer, not '%s'", ef_s);
    if (rerank_s && !cli_parse_u32(rerank_s, &rerank))
        return cli_usage("search", "--rerank must be a non-negative integer, not '%s'", rerank_s);

    float *qv = NULL;
    size_t nq = 0;
    uint32_t dim = 0;
    if (embed_text) {
        hk_embedder *e = NULL;
        if ((rc = cli_open_embedder(table_s, &e))) return rc;
        rc = cli_embed_query(e, embed_text, &qv, &dim);
        hk_embedder_close(e);
        if (rc) return rc;
        nq = 1;
    } else if (examples_only || (text_s && !vec_s)) {
        nq = 1;
    } else if (vec_s) {
        if (!parse_vector(vec_s, &qv, &dim)) return cli_usage("search", "--vector must be comma-separated numbers");
        nq = 1;
    } else {
        float *hv;
        hk_status st = hk_read_vectors(queries_s, NULL, &hv, &nq, &dim);
        if (st) return cli_hk_fail(st);
        qv = malloc(nq * dim * sizeof *qv);
        if (qv) memcpy(qv, hv, nq * dim * sizeof *qv);
        hk_free(hv);
        if (!qv) return cli_fail("out of memory");
    }
    hk_filter *f = NULL;
    hk_query *q = NULL;
    hk_result *res = NULL;
    hk_db *db = NULL;
    hk_collection *c = NULL;
    hk_status st = HK_OK;
    if (filter_s) st = hk_filter_parse(filter_s, strlen(filter_s), &f);
    if (!st) st = cli_open_collection(ctx, name, 0, &db, &c);
    if (!st) st = hk_query_new(&q);
    if (!st && text_s) st = hk_query_set_text(q, text_s, 0);
    if (!st && match) st = hk_query_set_text_match(q, match);
    if (!st && expand_s) st = hk_query_set_expansion(q, HK_EXPAND_RM3, fb_docs, fb_terms, rm3w);
    if (!st && nposx) st = hk_query_set_examples(q, ex, nposx, ex + nposx, nnegx);
    if (!st && nposx) st = hk_query_set_recommend(q, strategy);
    if (!st && nposx && strategy == HK_RECOMMEND_ROCCHIO) st = hk_query_set_rocchio(q, a->ralpha, a->rbeta, a->rgamma, 10);
    if (!st && qv) st = hk_query_set_vectors(q, qv, nq, dim);
    if (!st && hybrid) st = hk_query_set_fusion(q, fusion, fparam, depth);
    if (!st) st = hk_query_set_k(q, k);
    if (!st) st = hk_query_set_filter(q, f);
    if (!st && radius_s) st = hk_query_set_radius(q, radius);
    if (!st) st = hk_query_set_exact(q, exact);
    if (!st && ef) st = hk_query_set_ef(q, ef);
    if (!st && rerank) st = hk_query_set_rerank(q, rerank);
    if (!st) st = hk_query_set_with(q, (with_payload ? HK_WITH_PAYLOAD : 0) | (with_text ? HK_WITH_TEXT : 0));
    uint64_t t0 = cli_now_ns();
    if (!st) st = hk_search(c, q, &res);
    double secs = (double)(cli_now_ns() - t0) / 1e9;
    if (st) rc = cli_hk_fail(st);

    for (size_t qi = 0; !rc && qi < nq; qi++) {
        size_t cnt = hk_result_count(res, qi);
        if (json) {
            putchar('[');
            for (size_t i = 0; i < cnt; i++) {
                if (i) putchar(',');
                print_hit_json(res, qi, i, with_payload);
            }
            puts("]");
        } else if (!out_s && !truth_s) {
            if (nq > 1) printf("query %zu:\n", qi);
            for (size_t i = 0; i < cnt; i++) {
                printf("%s%llu\t", nq > 1 ? "  " : "", (unsigned long long)hk_result_id(res, qi, i));
                cli_json_float(stdout, hk_result_score(res, qi, i));
                const char *p = hk_result_payload(res, qi, i);
                if (with_payload && p) printf("\t%s", p);
                const char *t = hk_result_text(res, qi, i);
                if (t) {
                    putchar('\t');
                    cli_json_string(stdout, t);
                }
                putchar('\n');
            }
        }
    }
    if (!rc && out_s) {
        FILE *o = fopen(out_s, "wb");
        if (!o) rc = cli_fail("cannot create '%s': %s", out_s, strerror(errno));
        for (size_t qi = 0; !rc && qi < nq; qi++) {
            int32_t cnt = (int32_t)hk_result_count(res, qi);
            fwrite(&cnt, 4, 1, o);
            for (int32_t i = 0; i < cnt && !rc; i++) {
                uint64_t id64 = hk_result_id(res, qi, (size_t)i);
                if (id64 > INT32_MAX) {
                    rc = cli_fail("id %llu does not fit the int32 ids of .ivecs; '%s' is incomplete",
                                  (unsigned long long)id64, out_s);
                    break;
                }
                int32_t id = (int32_t)id64;
                fwrite(&id, 4, 1, o);
            }
        }
        if (o && fclose(o) != 0 && !rc) rc = cli_fail("writing '%s' failed", out_s);
    }
    if (!rc && truth_s) {
        int32_t **rows = NULL;
        uint32_t *lens = NULL;
        size_t nt = 0;
        rc = read_ivecs(truth_s, &rows, &lens, &nt);
        if (!rc && nt < nq) rc = cli_fail("%s has %zu rows but there are %zu queries", truth_s, nt, nq);
        if (!rc) {
            double sum = 0;
            for (size_t qi = 0; qi < nq; qi++) {
                size_t kk = k < lens[qi] ? k : lens[qi];
                size_t hit = 0, cnt = hk_result_count(res, qi);
                for (size_t i = 0; i < cnt && i < kk; i++)
                    for (size_t j = 0; j < kk; j++)
                        if ((uint64_t)rows[qi][j] == hk_result_id(res, qi, i)) {
                            hit++;
                            break;
                        }
                sum += kk ? (double)hit / (double)kk : 1.0;
            }
            printf("recall@%u = %.4f over %zu queries\n", k, sum / (double)nq, nq);
        }
        for (size_t i = 0; i < nt; i++) free(rows[i]);
        free(rows);
        free(lens);
    }
    if (!rc)
        fprintf(stderr, "%zu %s in %.4f s (%.1f queries/s)\n", nq, nq == 1 ? "query" : "queries",
                secs, secs > 0 ? (double)nq / secs : 0.0);
    hk_result_free(res);
    hk_query_free(q);
    hk_filter_free(f);
    free(qv);
    if (db && cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

static void print_record(const hk_result *r, size_t i, int with_vector, uint32_t dim) {
    printf("{\"id\":%llu", (unsigned long long)hk_result_id(r, 0, i));
    const float *v = hk_result_vector(r, 0, i);
    if (with_vector && v) {
        fputs(",\"vector\":[", stdout);
        for (uint32_t d = 0; d < dim; d++) {
            if (d) putchar(',');
            cli_json_float(stdout, v[d]);
        }
        putchar(']');
    }
    const char *p = hk_result_payload(r, 0, i);
    if (p) printf(",\"payload\":%s", p);
    const char *t = hk_result_text(r, 0, i);
    if (t) {
        fputs(",\"text\":", stdout);
        cli_json_string(stdout, t);
    }
    puts("}");
}

int cmd_get(cli_ctx *ctx, int argc, char **argv) {
    int no_vector = 0;
    cli_opt opts[] = {{"--no-vector", NULL, &no_vector}, {NULL, NULL, NULL}};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    uint64_t *ids = calloc((size_t)argc + 1, sizeof *ids);
    if (!pos || !ids) return cli_fail("out of memory");
    int npos, rc = cli_parse("get", argc, argv, opts, pos, &npos, argc);
    if (!rc && npos < 2) rc = cli_usage("get", "expected NAME and at least one ID");
    for (int i = 1; !rc && i < npos; i++)
        if (!cli_parse_u64(pos[i], &ids[i - 1])) rc = cli_usage("get", "'%s' is not an id", pos[i]);
    hk_db *db = NULL;
    hk_collection *c = NULL;
    hk_result *r = NULL;
    hk_status st;
    if (!rc && (st = cli_open_collection(ctx, pos[0], 0, &db, &c))) rc = cli_hk_fail(st);
    uint32_t with = HK_WITH_PAYLOAD | HK_WITH_TEXT | (no_vector ? 0 : HK_WITH_VECTOR);
    if (!rc && (st = hk_get(c, ids, (size_t)npos - 1, with, &r))) rc = cli_hk_fail(st);
    if (!rc) {
        hk_collection_config cfg;
        hk_collection_get_config(c, &cfg);
        size_t n = hk_result_count(r, 0);
        for (size_t i = 0; i < n; i++) print_record(r, i, !no_vector, cfg.dim);
        if (n < (size_t)npos - 1) {
            for (int i = 1; i < npos; i++) {
                int found = 0;
                for (size_t j = 0; j < n; j++) found |= hk_result_id(r, 0, j) == ids[i - 1];
                if (!found) {
                    rc = cli_fail("collection '%s' has no point with id %s", pos[0], pos[i]);
                    break;
                }
            }
        }
    }
    hk_result_free(r);
    if (db && cli_done(db, c) && !rc) rc = EXIT_FAIL;
    free(ids);
    free(pos);
    return rc;
}

int cmd_count(cli_ctx *ctx, int argc, char **argv) {
    const char *filter_s = NULL;
    cli_opt opts[] = {{"--filter", &filter_s, NULL}, {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("count", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("count", "expected a collection NAME");
    hk_filter *f = NULL;
    hk_status st = filter_s ? hk_filter_parse(filter_s, strlen(filter_s), &f) : HK_OK;
    if (st) return cli_hk_fail(st);
    hk_db *db = NULL;
    hk_collection *c = NULL;
    uint64_t n = 0;
    if ((st = cli_open_collection(ctx, pos[0], 0, &db, &c)) || (st = hk_count(c, f, &n)))
        rc = cli_hk_fail(st);
    else printf("%llu\n", (unsigned long long)n);
    hk_filter_free(f);
    if (db && cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_info(cli_ctx *ctx, int argc, char **argv) {
    int json = 0;
    cli_opt opts[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("info", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("info", "expected a collection NAME");
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 0, &db, &c);
    if (st) return cli_hk_fail(st);
    hk_collection_stats s;
    if ((st = hk_collection_stats_get(c, &s))) {
        rc = cli_hk_fail(st);
        if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
        return rc;
    }
    const char *index = s.index == HK_INDEX_FLAT ? "flat" : "hnsw";
    char *cb_name = NULL;
    hk_codebook_info cbi;
    hk_quant_params req;
    int has_req = !hk_collection_quant_request(c, &req, NULL);
    memset(&cbi, 0, sizeof cbi);
    if (s.quant != HK_QUANT_NONE) {
        hk_codebook *cb;
        if (!hk_collection_codebook(c, &cb, &cb_name)) {
            hk_codebook_info_get(cb, &cbi);
            hk_codebook_free(cb);
        }
    }
    hk_collection_config cfg;
    hk_collection_get_config(c, &cfg);
    hk_text_stats ts;
    memset(&ts, 0, sizeof ts);
    hk_collection_text_stats(c, &ts);
    if (json) {
        printf("{\"name\":");
        cli_json_string(stdout, pos[0]);
        printf(",\"count\":%llu,\"dim\":%u,\"metric\":\"%s\",\"index\":\"%s\",\"bytes_disk\":%llu,"
               "\"bytes_memory\":%llu,\"wal_bytes\":%llu,\"lsn\":%llu,\"next_id\":%llu,"
               "",
               (unsigned long long)s.count, s.dim, hk_metric_name(s.metric), index,
               (unsigned long long)s.bytes_disk, (unsigned long long)s.bytes_memory,
               (unsigned long long)s.wal_bytes, (unsigned long long)s.lsn,
               (unsigned long long)s.next_id);
        if (s.index == HK_INDEX_HNSW)
            printf("\"hnsw\":{\"m\":%u,\"ef_construction\":%u,\"ef\":%u},", cfg.hnsw_m,
                   cfg.hnsw_ef_construction, cfg.hnsw_ef_search);
        printf("\"bytes_vectors\":%llu,\"bytes_per_vector\":%u,\"vectors\":\"%s\","
               "\"bytes_vectors_cached\":%llu,", (unsigned long long)s.bytes_vectors, s.dim * 4,
               s.vectors_on_disk ? "disk" : "memory", (unsigned long long)s.bytes_vectors_cached);
        printf("\"text\":{\"text_only\":%s,\"language\":\"%s\",\"stemming\":%s,\"stopwords\":%s,"
               "\"k1\":%g,\"b\":%g,\"docs\":%llu,\"terms\":%llu,\"postings\":%llu,\"tokens\":%llu,"
               "\"bytes_memory\":%llu},", cfg.text_flags & HK_TEXT_ONLY ? "true" : "false",
               hk_language_name(cfg.text_language), cfg.text_flags & HK_TEXT_NO_STEM ? "false" : "true",
               cfg.text_flags & HK_TEXT_NO_STOPWORDS ? "false" : "true", (double)cfg.bm25_k1,
               (double)cfg.bm25_b, (unsigned long long)ts.docs, (unsigned long long)ts.terms,
               (unsigned long long)ts.postings, (unsigned long long)ts.tokens,
               (unsigned long long)ts.bytes_memory);
        if (s.quant != HK_QUANT_NONE) {
            printf("\"quantization\":{\"method\":\"%s\",", hk_quant_method_name(s.quant));
            if (cb_name) {
                printf("\"codebook\":");
                cli_json_string(stdout, cb_name);
                putchar(',');
            }
            printf("\"curve\":\"%s\",\"code_bytes\":%u,\"bytes_codes\":%llu,\"compression\":%.4g,"
                   "\"rerank\":%u},", hk_curve_name(cbi.curve), s.code_bytes,
                   (unsigned long long)s.bytes_codes, 4.0 * s.dim / s.code_bytes, s.rerank);
        }
        if (has_req) {
            printf("\"quantization_request\":{\"method\":\"%s\",\"pq_m\":%u,\"pq_bits\":%u,"
                   "\"quantile\":", hk_quant_method_name(req.method), req.pq_m, req.pq_bits);
            if (req.sq_quantile > 0) printf("%.9g},", req.sq_quantile);
            else printf("null},");
        }
        printf("\"payload_indexes\":[");
    } else {
        printf("name          %s\ncount         %llu\ndimension     %u\nmetric        %s\n"
               "index         %s\nbytes on disk %llu (log %llu)\nbytes in mem  %llu\n",
               pos[0], (unsigned long long)s.count, s.dim, hk_metric_name(s.metric), index,
               (unsigned long long)s.bytes_disk, (unsigned long long)s.wal_bytes,
               (unsigned long long)s.bytes_memory);
        if (s.index == HK_INDEX_HNSW)
            printf("hnsw          m %u, ef_construction %u, ef %u\n", cfg.hnsw_m,
                   cfg.hnsw_ef_construction, cfg.hnsw_ef_search);
        if (cfg.text_flags & HK_TEXT_ONLY) {
            printf("vectors       none (text only)\n");
        } else {
            printf("vectors       %u bytes per point, %llu bytes", s.dim * 4,
                   (unsigned long long)s.bytes_vectors);
            if (s.vectors_on_disk)
                printf(", on disk and mapped (%llu in the page cache now)",
                       (unsigned long long)s.bytes_vectors_cached);
            else
                printf(", in memory");
            putchar('\n');
        }
        printf("text          %s%s%s, k1 %g, b %g; %llu documents, %llu terms, %llu postings, "
               "%llu bytes\n", hk_language_name(cfg.text_language),
               cfg.text_flags & HK_TEXT_NO_STEM ? ", no stemming" : ", stemming",
               cfg.text_flags & HK_TEXT_NO_STOPWORDS ? ", no stop words" : "", (double)cfg.bm25_k1,
               (double)cfg.bm25_b, (unsigned long long)ts.docs, (unsigned long long)ts.terms,
               (unsigned long long)ts.postings, (unsigned long long)ts.bytes_memory);
        if (s.quant != HK_QUANT_NONE) {
            printf("codes         %s", hk_quant_method_name(s.quant));
            if (cbi.curve != HK_CURVE_NONE) printf(" (curve %s)", hk_curve_name(cbi.curve));
            if (cbi.pq_m) printf(" (m %u, %u bits)", cbi.pq_m, cbi.pq_bits);
            printf(", %u bytes per point (%.1fx smaller), %llu bytes", s.code_bytes,
                   4.0 * s.dim / s.code_bytes, (unsigned long long)s.bytes_codes);
            if (cb_name) printf(", codebook %s", cb_name);
            printf("\nrerank        ");
            if (s.rerank) printf("%u candidates\n", s.rerank);
            else printf("4 x k, at least 40 (default)\n");
        } else {
            printf("codes         none\n");
        }
        if (has_req) { /* a quantization asked for (Qdrant's quantization_config) */
            printf("requested     %s", hk_quant_method_name(req.method));
            if (req.pq_m) printf(" (m %u, %u bits)", req.pq_m, req.pq_bits ? req.pq_bits : 8);
            if (req.sq_quantile > 0) printf(" (quantile %g)", req.sq_quantile);
            putchar('\n');
        }
    }
    for (uint32_t i = 0; i < s.payload_indexes; i++) {
        const char *key;
        hk_field_type t;
        if (hk_payload_index_get(c, i, &key, &t)) continue;
        if (json) {
            printf("%s{\"key\":", i ? "," : "");
            cli_json_string(stdout, key);
            printf(",\"type\":\"%s\"}", hk_field_type_name(t));
        } else {
            printf("payload index %s (%s)\n", key, hk_field_type_name(t));
        }
    }
    if (json) puts("]}");
    hk_free(cb_name);
    return cli_done(db, c);
}

int cmd_list(cli_ctx *ctx, int argc, char **argv) {
    char *pos[1];
    int npos, rc = cli_parse("list", argc, argv, NULL, pos, &npos, 0);
    if (rc) return rc;
    hk_db *db;
    hk_status st = cli_open_db(ctx, 0, 0, &db);
    if (st) return cli_hk_fail(st);
    char **names;
    size_t n;
    if ((st = hk_db_list(db, &names, &n))) rc = cli_hk_fail(st);
    for (size_t i = 0; !rc && i < n; i++) puts(names[i]);
    if (!rc) hk_strings_free(names, n);
    if (cli_done(db, NULL) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_scroll(cli_ctx *ctx, int argc, char **argv) {
    const char *limit_s = NULL, *offset_s = NULL, *filter_s = NULL;
    int with_vector = 0;
    cli_opt opts[] = {{"--limit", &limit_s, NULL}, {"--offset", &offset_s, NULL},
                      {"--filter", &filter_s, NULL}, {"--with-vector", NULL, &with_vector},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("scroll", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("scroll", "expected a collection NAME");
    hk_scroll_params p = {0};
    p.limit = 10;
    p.with = HK_WITH_PAYLOAD | HK_WITH_TEXT | (with_vector ? HK_WITH_VECTOR : 0);
    if (limit_s && (!cli_parse_u32(limit_s, &p.limit) || !p.limit))
        return cli_usage("scroll", "--limit must be a positive integer");
    if (offset_s) {
        if (!cli_parse_u64(offset_s, &p.offset)) return cli_usage("scroll", "--offset must be an id");
        p.has_offset = 1;
    }
    hk_filter *f = NULL;
    hk_status st = filter_s ? hk_filter_parse(filter_s, strlen(filter_s), &f) : HK_OK;
    if (st) return cli_hk_fail(st);
    p.filter = f;
    hk_db *db = NULL;
    hk_collection *c = NULL;
    hk_result *r = NULL;
    if ((st = cli_open_collection(ctx, pos[0], 0, &db, &c)) || (st = hk_scroll(c, &p, &r))) {
        rc = cli_hk_fail(st);
    } else {
        hk_collection_config cfg;
        hk_collection_get_config(c, &cfg);
        for (size_t i = 0; i < hk_result_count(r, 0); i++) print_record(r, i, with_vector, cfg.dim);
        uint64_t next;
        if (hk_result_next_offset(r, &next)) fprintf(stderr, "next offset: %llu\n", (unsigned long long)next);
    }
    hk_result_free(r);
    hk_filter_free(f);
    if (db && cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_backup(cli_ctx *ctx, int argc, char **argv) {
    char *pos[1];
    int npos, rc = cli_parse("backup", argc, argv, NULL, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("backup", "expected the destination directory DEST");
    hk_db *db;
    hk_status st = cli_open_db(ctx, 0, 0, &db);
    if (st) return cli_hk_fail(st);
    if ((st = hk_db_backup(db, pos[0]))) rc = cli_hk_fail(st);
    else printf("backed up '%s' to '%s'\n", ctx->db_path, pos[0]);
    if (cli_done(db, NULL) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_verify(cli_ctx *ctx, int argc, char **argv) {
    cli_opt opts[] = {{NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("verify", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("verify", "expected a collection NAME");
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 0, &db, &c);
    if (st) return cli_hk_fail(st);
    hk_collection_stats s;
    st = hk_collection_verify(c);
    if (!st) st = hk_collection_stats_get(c, &s);
    if (st) {
        rc = cli_hk_fail(st);
        if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
        return rc;
    }
    printf("collection '%s' is consistent: %llu points%s\n", pos[0], (unsigned long long)s.count,
           s.index == HK_INDEX_HNSW ? ", every one linked into a valid HNSW graph" : "");
    return cli_done(db, c);
}
