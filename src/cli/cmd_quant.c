/*
 * cmd_quant.c — `quantize`, `codebook` and `quality`: thin wrappers over the
 * quantization calls of hektor.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- shared pieces ----------------------------------------------------------------- */

/* Messages of failures found here rather than in the library (hk_errmsg holds those). */
static char q_msg[1024];

static hk_status qfail(hk_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hk_status qfail(hk_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q_msg, sizeof q_msg, fmt, ap);
    va_end(ap);
    return st;
}

/* Reports a failure: our own message when we made one, else the library's. */
static int qreport(hk_status st) {
    if (q_msg[0]) return cli_fail("%s", q_msg);
    return cli_hk_fail(st);
}

typedef struct qprog {
    int enabled;
    uint64_t t0;
    int printed;
} qprog;

static int show_qprogress(void *ud, const char *phase, double f) {
    qprog *p = ud;
    if (!p->enabled) return 0;
    int width = 30, fill = (int)(f * width);
    if (fill > width) fill = width;
    if (fill < 0) fill = 0;
    fprintf(stderr, "\r[%.*s%*s] %3d%%  %-8s %.1f s ", fill, "##############################",
            width - fill, "", (int)(100.0 * f), phase,
            (double)(cli_now_ns() - p->t0) / 1e9);
    fflush(stderr);
    p->printed = 1;
    return 0;
}

static void end_qprogress(qprog *p) {
    if (p->printed) fputc('\n', stderr);
    p->printed = 0;
}

/* Reads the quantization options shared by quantize and quality. Returns 0 or EXIT_USAGE. */
typedef struct qopts {
    const char *method, *m, *bits, *curve, *curve_param, *train_size, *iterations, *opq_iterations,
        *seed;
} qopts;

/* The options that fill a qopts, for a command's option table. */
#define QOPTS_ENTRIES(qo)                                                                   \
    {"--method", &(qo).method, NULL}, {"--m", &(qo).m, NULL}, {"--bits", &(qo).bits, NULL},  \
        {"--curve", &(qo).curve, NULL}, {"--curve-param", &(qo).curve_param, NULL},          \
        {"--train-size", &(qo).train_size, NULL}, {"--iterations", &(qo).iterations, NULL},  \
        {"--opq-iterations", &(qo).opq_iterations, NULL}, {"--seed", &(qo).seed, NULL}

static int parse_params(const char *cmd, const qopts *o, hk_quant_params *p) {
    hk_quant_params_init(p);
    if (o->method && hk_quant_method_parse(o->method, &p->method))
        return cli_usage(cmd, "%s", hk_errmsg());
    if (o->method && p->method == HK_QUANT_NONE)
        return cli_usage(cmd, "--method none is not a method (quantize --drop removes codes)");
    if (o->curve && hk_curve_parse(o->curve, &p->curve)) return cli_usage(cmd, "%s", hk_errmsg());
    float cp = 0;
    if (o->curve_param && (!cli_parse_float(o->curve_param, &cp) || cp <= 0))
        return cli_usage(cmd, "--curve-param must be a positive number, not '%s'", o->curve_param);
    p->curve_param = cp;
    uint64_t seed = 0;
    if (o->m && (!cli_parse_u32(o->m, &p->pq_m) || !p->pq_m))
        return cli_usage(cmd, "--m must be a positive integer, not '%s'", o->m);
    if (o->bits && !cli_parse_u32(o->bits, &p->pq_bits))
        return cli_usage(cmd, "--bits must be 4 or 8, not '%s'", o->bits);
    if (o->train_size && (!cli_parse_u32(o->train_size, &p->train_size) || !p->train_size))
        return cli_usage(cmd, "--train-size must be a positive integer, not '%s'", o->train_size);
    if (o->iterations && (!cli_parse_u32(o->iterations, &p->iterations) || !p->iterations))
        return cli_usage(cmd, "--iterations must be a positive integer, not '%s'", o->iterations);
    if (o->opq_iterations && (!cli_parse_u32(o->opq_iterations, &p->opq_iterations) || !p->opq_iterations))
        return cli_usage(cmd, "--opq-iterations must be a positive integer, not '%s'", o->opq_iterations);
    if (o->seed && !cli_parse_u64(o->seed, &seed))
        return cli_usage(cmd, "--seed must be a non-negative integer, not '%s'", o->seed);
    p->seed = seed;
    /* --bits 8 / 4 with sq: pick sq8 / sq4 rather than failing */
    int sq = p->method == HK_QUANT_SQ8 || p->method == HK_QUANT_SQ4 || p->method == HK_QUANT_INT8;
    if (sq && p->pq_bits) {
        if (p->pq_bits != 4 && p->pq_bits != 8) return cli_usage(cmd, "--bits must be 4 or 8");
        if ((p->pq_bits == 8) != (p->method != HK_QUANT_SQ4))
            return cli_usage(cmd, "--bits %u contradicts --method %s", p->pq_bits, o->method);
        p->pq_bits = 0;
    }
    if (sq && p->pq_m)
        return cli_usage(cmd, "--m applies to pq and opq, not %s", hk_quant_method_name(p->method));
    if ((p->method == HK_QUANT_PQ || p->method == HK_QUANT_OPQ || p->method == HK_QUANT_INT8) && p->curve)
        return cli_usage(cmd, "--curve applies to sq8 and sq4, not %s", hk_quant_method_name(p->method));
    if (o->curve_param && !p->curve) return cli_usage(cmd, "--curve-param needs --curve");
    return 0;
}

/* "sq8", "sq4-mulaw", "pq32x8", "opq16x4" */
static void method_label(const hk_codebook_info *in, char *buf, size_t len) {
    hk_quant_label(in->method, in->pq_m, in->pq_bits, in->curve, buf, len);
}

static void print_quality_row(const hk_quality *q, const char *label, int with_search) {
    printf("%-18s %6u B %6.1fx  mse %-10.4g psnr %6.2f dB  ssim %.4f  cos %.2e", label,
           q->code_bytes, q->compression, q->mse, q->psnr, q->ssim, q->cosine_distortion);
    if (with_search)
        printf("  recall@%u %.3f  rerank(%u) %.3f  %.0f q/s (float %.0f q/s)", q->k, q->recall,
               q->rerank, q->recall_rerank, q->search_per_s, q->float_search_per_s);
    putchar('\n');
}

static void print_quality_json(const hk_quality *q, const char *label, int per_dim) {
    printf("{\"label\":");
    cli_json_string(stdout, label);
    printf(",\"method\":\"%s\",\"curve\":\"%s\",\"code_bytes\":%u,\"bytes_per_vector\":%.6g,"
           "\"compression\":%.6g,\"mse\":%.9g,\"psnr\":%.6g,\"ssim\":%.9g,\"cosine_distortion\":%.9g,"
           "\"encode_per_s\":%.6g,\"vectors\":%llu,\"queries\":%llu",
           hk_quant_method_name(q->method), hk_curve_name(q->curve), q->code_bytes,
           q->bytes_per_vector, q->compression, q->mse, q->psnr > 1e300 ? 1e300 : q->psnr,
           q->ssim, q->cosine_distortion, q->encode_per_s, (unsigned long long)q->vectors,
           (unsigned long long)q->queries);
    if (q->queries)
        printf(",\"k\":%u,\"recall\":%.6g,\"rerank\":%u,\"recall_rerank\":%.6g,\"search_per_s\":%.6g,"
               "\"float_search_per_s\":%.6g",
               q->k, q->recall, q->rerank, q->recall_rerank, q->search_per_s, q->float_search_per_s);
    if (per_dim && q->per_dim_mse) {
        printf(",\"per_dim_mse\":[");
        for (uint32_t d = 0; d < q->dim; d++) printf("%s%.6g", d ? "," : "", q->per_dim_mse[d]);
        putchar(']');
    }
    putchar('}');
}

/* A held-out evaluation set: base vectors and queries from the collection (queries
 * drawn from it are not in base), or queries from a file. */
typedef struct evalset {
    float *base, *queries, *all, *qfile;
    size_t nbase, nq;
} evalset;

static void evalset_free(evalset *e) {
    hk_free(e->all);
    hk_free(e->qfile);
    memset(e, 0, sizeof *e);
}

static hk_status evalset_load(hk_collection *c, uint32_t dim, size_t sample, const char *qfile,
                              size_t default_nq, evalset *e) {
    memset(e, 0, sizeof *e);
    size_t extra = qfile ? 0 : default_nq;
    size_t got;
    hk_status st = hk_collection_sample(c, sample + extra, 7, &e->all, &got);
    if (st) return st;
    if (got == 0) return qfail(HK_INVALID, "the collection is empty");
    if (qfile) {
        uint32_t qd;
        float *qv;
        size_t nq;
        if ((st = hk_read_vectors(qfile, NULL, &qv, &nq, &qd))) return st;
        if (qd != dim) {
            hk_free(qv);
            return qfail(HK_DIMENSION, "%s: queries have dimension %u, the collection %u", qfile, qd, dim);
        }
        e->queries = e->qfile = qv;
        e->nq = nq;
        e->base = e->all;
        e->nbase = got;
        return HK_OK;
    }
    /* the first queries of the random sample are held out */
    size_t nq = got > 2 * extra ? extra : got / 2;
    e->nq = nq;
    e->base = e->all + nq * dim;
    e->nbase = got - nq;
    e->queries = nq ? e->all : NULL;
    if (e->nbase == 0) return qfail(HK_INVALID, "the collection is too small to evaluate");
    return HK_OK;
}

/* ---- quantize ---------------------------------------------------------------------- */

/* Codes made or dropped by hand are the user's last word: a requested quantization
 * (`hektor serve`'s quantization_config) is cleared so no server trains it again. */
static int had_request(hk_collection *c) {
    hk_quant_state qs;
    return !hk_collection_quant_state(c, &qs) && qs.requested;
}

static hk_status clear_request(hk_collection *c, const char *name) {
    if (!had_request(c)) return HK_OK;
    hk_status st = hk_collection_set_quant_request(c, NULL, 0);
    if (!st) printf("cleared the quantization requested for '%s' (quantization_config)\n", name);
    return st;
}

int cmd_quantize(cli_ctx *ctx, int argc, char **argv) {
    qopts qo = {0};
    const char *cb_s = NULL, *rerank_s = NULL, *save_s = NULL, *target_s = NULL,
               *maxbytes_s = NULL, *queries_s = NULL, *sample_s = NULL, *k_s = NULL,
               *vectors_s = NULL;
    int drop = 0, quiet = 0, autosel = 0, replace = 0;
    cli_opt opts[] = {QOPTS_ENTRIES(qo),
                      {"--vectors", &vectors_s, NULL},
                      {"--codebook", &cb_s, NULL},
                      {"--rerank", &rerank_s, NULL},
                      {"--save-as", &save_s, NULL},
                      {"--auto", NULL, &autosel},
                      {"--target-recall", &target_s, NULL},
                      {"--max-bytes", &maxbytes_s, NULL},
                      {"--queries", &queries_s, NULL},
                      {"--sample", &sample_s, NULL},
                      {"--k", &k_s, NULL},
                      {"--drop", NULL, &drop},
                      {"--replace", NULL, &replace},
                      {"--quiet", NULL, &quiet},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("quantize", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("quantize", "expected a collection NAME");
    int modes = (qo.method != NULL) + (cb_s != NULL) + autosel + drop;
    if (modes != 1)
        return cli_usage("quantize", "give exactly one of --method, --codebook, --auto and --drop");
    if (!qo.method && !autosel && (qo.m || qo.bits || qo.curve || qo.curve_param || qo.train_size ||
                                   qo.iterations || qo.opq_iterations))
        return cli_usage("quantize", "--m, --bits, --curve and the training options need --method");
    if (!autosel && (target_s || maxbytes_s || queries_s || sample_s || k_s))
        return cli_usage("quantize", "--target-recall, --max-bytes, --queries, --sample and --k "
                         "belong to --auto");
    if (drop && (rerank_s || save_s || replace || vectors_s))
        return cli_usage("quantize", "--drop takes no other option");
    hk_vector_storage storage = HK_VECTORS_MEMORY;
    if (vectors_s && (rc = cli_parse_storage("quantize", vectors_s, &storage))) return rc;
    if (cb_s && (save_s || replace))
        return cli_usage("quantize", "--save-as and --replace name a codebook trained now; --codebook "
                         "uses a stored one");
    if (replace && !save_s) return cli_usage("quantize", "--replace goes with --save-as");
    if (autosel && (qo.m || qo.bits || qo.curve || qo.curve_param))
        return cli_usage("quantize", "--auto chooses the method: --m, --bits, --curve and "
                         "--curve-param go with --method");
    uint32_t rerank = 0;
    if (rerank_s && !cli_parse_u32(rerank_s, &rerank))
        return cli_usage("quantize", "--rerank must be a non-negative integer, not '%s'", rerank_s);
    hk_quant_params p;
    if (qo.method && (rc = parse_params("quantize", &qo, &p))) return rc;
    hk_quant_target target = {0, 0};
    uint32_t sample = 10000, k = 10;
    if (autosel) {
        if (!target_s == !maxbytes_s)
            return cli_usage("quantize", "--auto needs exactly one of --target-recall and --max-bytes");
        float v;
        if (target_s && (!cli_parse_float(target_s, &v) || v <= 0 || v > 1))
            return cli_usage("quantize", "--target-recall must be in (0, 1], not '%s'", target_s);
        if (target_s) target.min_recall = v;
        if (maxbytes_s && (!cli_parse_float(maxbytes_s, &v) || v < 1))
            return cli_usage("quantize", "--max-bytes must be at least 1, not '%s'", maxbytes_s);
        if (maxbytes_s) target.max_bytes = v;
        if (sample_s && (!cli_parse_u32(sample_s, &sample) || sample < 10))
            return cli_usage("quantize", "--sample must be an integer of at least 10, not '%s'", sample_s);
        if (k_s && (!cli_parse_u32(k_s, &k) || !k))
            return cli_usage("quantize", "--k must be a positive integer, not '%s'", k_s);
        /* the training options shape the final training of the chosen method */
        if ((rc = parse_params("quantize", &qo, &p))) return rc;
    }

    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 1, &db, &c);
    if (st) return qreport(st);
    if (drop) {
        st = hk_collection_dequantize(c);
        if (!st) printf("dropped the codes of '%s'\n", pos[0]);
        if (st == HK_NOT_FOUND && had_request(c)) st = HK_OK; /* the request alone goes */
        if (!st) st = clear_request(c, pos[0]);
        rc = st ? qreport(st) : 0;
        if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
        return rc;
    }
    hk_collection_config cfg;
    hk_collection_get_config(c, &cfg);
    qprog prog = {!quiet && isatty(2), cli_now_ns(), 0};
    hk_codebook *cb = NULL;
    char *name = NULL;
    if (autosel) {
        /* Held-out queries of the collection (the library's hk_collection_quant_auto, which
         * the server's "auto" uses too), or the --queries file against a sample. */
        evalset es;
        memset(&es, 0, sizeof es);
        hk_quant_params *cands = NULL;
        hk_quality *table = NULL;
        size_t nt = 0, chosen = 0;
        hk_quality_options o = {.k = k, .rerank = rerank};
        if (queries_s) {
            st = evalset_load(c, cfg.dim, sample, queries_s, 100, &es);
            if (!st) {
                if (!quiet) fprintf(stderr, "evaluating candidates on %zu vectors and %zu queries...\n",
                                    es.nbase, es.nq);
                st = hk_quant_auto(es.base, es.nbase, cfg.dim, cfg.metric, &target, es.queries,
                                   es.nq, &o, show_qprogress, &prog, &cands, &table, &nt, &chosen);
            }
        } else {
            st = hk_collection_quant_auto(c, &target, sample, 100, &o, show_qprogress, &prog,
                                          &cands, &table, &nt, &chosen);
        }
        end_qprogress(&prog);
        size_t first = 0;
        while (first < nt && !table[first].code_bytes) first++;
        if (!queries_s && !quiet && first < nt)
            fprintf(stderr, "evaluating candidates on %llu vectors and %llu queries...\n",
                    (unsigned long long)table[first].vectors, (unsigned long long)table[first].queries);
        for (size_t i = 0; i < nt; i++) {
            hk_codebook_info in = {.method = cands[i].method, .curve = cands[i].curve,
                                   .pq_m = cands[i].pq_m, .pq_bits = cands[i].pq_bits};
            char label[48];
            method_label(&in, label, sizeof label);
            if (table[i].code_bytes == 0) {
                printf("  %-18s (could not be trained)\n", label);
                continue;
            }
            printf("%s ", st == HK_OK && i == chosen ? "*" : " ");
            print_quality_row(&table[i], label, table[i].queries > 0);
            hk_quality_free(&table[i]);
        }
        evalset_free(&es);
        if (!st) {
            hk_quant_params best = cands[chosen];
            best.train_size = p.train_size;
            best.iterations = p.iterations;
            best.opq_iterations = p.opq_iterations;
            best.seed = p.seed;
            p = best;
        }
        hk_free(cands);
        hk_free(table);
        if (st) {
            rc = qreport(st);
            if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
            return rc;
        }
    }
    if (cb_s) {
        st = hk_db_codebook_load(db, cb_s, &cb);
        name = cb_s ? strdup(cb_s) : NULL;
    } else {
        st = hk_collection_train(c, &p, show_qprogress, &prog, &cb);
        end_qprogress(&prog);
        if (!st) {
            hk_codebook_info in;
            hk_codebook_info_get(cb, &in);
            char label[48], nm[HK_MAX_NAME + 64];
            method_label(&in, label, sizeof label);
            snprintf(nm, sizeof nm, "%s.%s", pos[0], label);
            name = strdup(save_s ? save_s : nm);
            if (!name) st = qfail(HK_NOMEM, "out of memory");
            /* the default name is the collection's own: retraining replaces it */
            if (!st) st = hk_db_codebook_save(db, name, cb, save_s ? replace : 1);
        }
    }
    if (!st) st = hk_collection_quantize(c, cb, name, rerank);
    if (!st) st = clear_request(c, pos[0]);
    if (!st && vectors_s) st = hk_collection_set_vector_storage(c, storage);
    if (!st) {
        hk_codebook_info in;
        hk_codebook_info_get(cb, &in);
        char label[48];
        method_label(&in, label, sizeof label);
        hk_collection_stats s;
        hk_collection_stats_get(c, &s);
        printf("quantized '%s' with %s: %u bytes per point instead of %u (%.1fx smaller), "
               "%llu points, codes %llu bytes", pos[0], label, in.code_bytes, cfg.dim * 4,
               in.compression, (unsigned long long)s.count, (unsigned long long)s.bytes_codes);
        if (!cb_s) printf("; trained on %llu vectors in %.2f s", (unsigned long long)in.trained_on,
                          in.train_seconds);
        printf("; codebook '%s'\n", name);
        if (s.vectors_on_disk || vectors_s)
            printf("its vectors (%llu bytes) are kept %s\n", (unsigned long long)s.bytes_vectors,
                   s.vectors_on_disk ? "on disk and mapped" : "in memory");
    }
    rc = st ? qreport(st) : 0;
    hk_codebook_free(cb);
    free(name);
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

/* ---- quality ----------------------------------------------------------------------- */

int cmd_quality(cli_ctx *ctx, int argc, char **argv) {
    qopts qo = {0};
    const char *cb_s = NULL, *queries_s = NULL, *sample_s = NULL, *k_s = NULL, *rerank_s = NULL,
               *width_s = NULL, *nq_s = NULL;
    int json = 0, per_dim = 0, quiet = 0;
    cli_opt opts[] = {QOPTS_ENTRIES(qo),
                      {"--codebook", &cb_s, NULL},
                      {"--queries", &queries_s, NULL},
                      {"--num-queries", &nq_s, NULL},
                      {"--sample", &sample_s, NULL},
                      {"--k", &k_s, NULL},
                      {"--rerank", &rerank_s, NULL},
                      {"--image-width", &width_s, NULL},
                      {"--per-dim", NULL, &per_dim},
                      {"--json", NULL, &json},
                      {"--quiet", NULL, &quiet},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("quality", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("quality", "expected a collection NAME");
    if (qo.method && cb_s) return cli_usage("quality", "give --method or --codebook, not both");
    uint32_t sample = 10000, k = 10, rerank = 0, width = 0, nq = 100;
    if (sample_s && (!cli_parse_u32(sample_s, &sample) || sample < 2))
        return cli_usage("quality", "--sample must be an integer of at least 2, not '%s'", sample_s);
    if (k_s && (!cli_parse_u32(k_s, &k) || !k))
        return cli_usage("quality", "--k must be a positive integer, not '%s'", k_s);
    if (rerank_s && !cli_parse_u32(rerank_s, &rerank))
        return cli_usage("quality", "--rerank must be a non-negative integer, not '%s'", rerank_s);
    if (width_s && (!cli_parse_u32(width_s, &width) || !width))
        return cli_usage("quality", "--image-width must be a positive integer, not '%s'", width_s);
    if (nq_s && !cli_parse_u32(nq_s, &nq))
        return cli_usage("quality", "--num-queries must be a non-negative integer, not '%s'", nq_s);
    if (nq_s && queries_s) return cli_usage("quality", "--num-queries draws queries from the collection; --queries reads them");
    hk_quant_params p;
    if (qo.method && (rc = parse_params("quality", &qo, &p))) return rc;
    if (!qo.method && (qo.m || qo.bits || qo.curve || qo.curve_param || qo.train_size ||
                       qo.iterations || qo.opq_iterations || qo.seed))
        return cli_usage("quality", "--m, --bits, --curve and the training options need --method");

    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 0, &db, &c);
    if (st) return qreport(st);
    hk_collection_config cfg;
    hk_collection_get_config(c, &cfg);
    hk_codebook *cb = NULL;
    char *cbname = NULL;
    qprog prog = {!quiet && !json && isatty(2), cli_now_ns(), 0};
    if (cb_s) st = hk_db_codebook_load(db, cb_s, &cb);
    else if (qo.method) {
        st = hk_collection_train(c, &p, show_qprogress, &prog, &cb);
        end_qprogress(&prog);
    } else {
        st = hk_collection_codebook(c, &cb, &cbname);
        if (st == HK_NOT_FOUND)
            st = qfail(HK_NOT_FOUND, "collection '%s' has no codes: quantize it first, or "
                         "evaluate a method with --method or a stored codebook with --codebook", pos[0]);
    }
    if (!st) {
        hk_codebook_info ci;
        hk_codebook_info_get(cb, &ci);
        if (ci.dim != cfg.dim)
            st = qfail(HK_DIMENSION, "the codebook is for dimension %u but collection '%s' has "
                       "dimension %u", ci.dim, pos[0], cfg.dim);
        else if (ci.metric != cfg.metric)
            st = qfail(HK_INVALID, "the codebook was trained for the %s metric but collection "
                       "'%s' uses %s", hk_metric_name(ci.metric), pos[0], hk_metric_name(cfg.metric));
    }
    evalset es = {0};
    if (!st) st = evalset_load(c, cfg.dim, sample, queries_s, nq, &es);
    hk_quality q;
    memset(&q, 0, sizeof q);
    hk_quality_options o = {.k = k, .rerank = rerank, .image_width = width};
    if (!st) st = hk_codebook_evaluate(cb, es.base, es.nbase, es.queries, es.nq, &o, &q);
    if (!st) {
        hk_codebook_info in;
        hk_codebook_info_get(cb, &in);
        char label[48];
        method_label(&in, label, sizeof label);
        if (json) {
            print_quality_json(&q, label, per_dim);
            putchar('\n');
        } else {
            printf("collection    %s (%u dimensions, %s)\n", pos[0], cfg.dim, hk_metric_name(cfg.metric));
            printf("method        %s", label);
            if (cbname || cb_s) printf(" (codebook %s)", cbname ? cbname : cb_s);
            printf("\nevaluated on  %llu vectors, %llu queries\n", (unsigned long long)q.vectors,
                   (unsigned long long)q.queries);
            printf("code          %u bytes per vector (floats: %u), %.2fx compression\n", q.code_bytes,
                   cfg.dim * 4, q.compression);
            printf("mse           %.6g\npsnr          %.2f dB\nssim          %.5f (%s)\n"
                   "cosine dist.  %.6g\nencode        %.0f vectors/s\n", q.mse, q.psnr, q.ssim,
                   width ? "2-D, 11x11 Gaussian window" : "1-D, 11-tap Gaussian window",
                   q.cosine_distortion, q.encode_per_s);
            if (q.queries)
                printf("recall@%u     %.4f on codes alone\n"
                       "recall@%u     %.4f after re-ranking %u candidates\n"
                       "search        %.0f queries/s on codes + re-rank, %.0f queries/s exact "
                       "on floats (one thread)\n",
                       q.k, q.recall, q.k, q.recall_rerank, q.rerank, q.search_per_s,
                       q.float_search_per_s);
            if (per_dim) {
                printf("per-dimension mse:");
                for (uint32_t d = 0; d < q.dim; d++) printf("%s%.4g", d % 8 ? " " : "\n  ", q.per_dim_mse[d]);
                putchar('\n');
            }
        }
    }
    rc = st ? qreport(st) : 0;
    hk_quality_free(&q);
    evalset_free(&es);
    hk_codebook_free(cb);
    hk_free(cbname);
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

/* ---- codebook ---------------------------------------------------------------------- */

static void print_info(const char *name, const hk_codebook_info *in, int json) {
    char label[48];
    method_label(in, label, sizeof label);
    if (json) {
        printf("{\"name\":");
        cli_json_string(stdout, name);
        printf(",\"method\":\"%s\",\"label\":\"%s\",\"dim\":%u,\"metric\":\"%s\",\"bits\":%u,"
               "\"code_bytes\":%u,\"compression\":%.6g,\"curve\":\"%s\",\"curve_param\":%.9g,"
               "\"m\":%u,\"trained_on\":%llu,\"train_seconds\":%.6g,\"created\":%llu,"
               "\"model_bytes\":%llu,\"format_version\":%u}",
               hk_quant_method_name(in->method), label, in->dim, hk_metric_name(in->metric),
               in->bits, in->code_bytes, in->compression, hk_curve_name(in->curve),
               in->curve_param, in->pq_m, (unsigned long long)in->trained_on, in->train_seconds,
               (unsigned long long)in->created, (unsigned long long)in->model_bytes,
               in->format_version);
        return;
    }
    printf("%-24s %-14s dim %-5u %-6s %4u B/vector  %5.1fx  trained on %llu in %.2f s\n", name,
           label, in->dim, hk_metric_name(in->metric), in->code_bytes, in->compression,
           (unsigned long long)in->trained_on, in->train_seconds);
}

static hk_status read_file(const char *path, char **data, size_t *len) {
    FILE *f = !strcmp(path, "-") ? stdin : fopen(path, "rb");
    if (!f) return qfail(errno == ENOENT ? HK_NOT_FOUND : HK_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    hk_status st = buf ? HK_OK : qfail(HK_NOMEM, "out of memory");
    while (!st) {
        if (n == cap) {
            char *g = realloc(buf, cap *= 2);
            if (!g) {
                st = qfail(HK_NOMEM, "out of memory");
                break;
            }
            buf = g;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) st = qfail(HK_IO, "%s: read failed", path);
            break;
        }
    }
    if (f != stdin) fclose(f);
    if (st) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = n;
    return HK_OK;
}

int cmd_codebook(cli_ctx *ctx, int argc, char **argv) {
    const char *format_s = NULL;
    int json = 0, arrays = 0, replace = 0;
    cli_opt opts[] = {{"--json", NULL, &json},
                      {"--arrays", NULL, &arrays},
                      {"--format", &format_s, NULL},
                      {"--replace", NULL, &replace},
                      {NULL, NULL, NULL}};
    char *pos[3];
    int npos, rc = cli_parse("codebook", argc, argv, opts, pos, &npos, 3);
    if (rc) return rc;
    if (npos < 1) return cli_usage("codebook", "expected list, show, export, import or rm");
    const char *sub = pos[0];
    int want = !strcmp(sub, "list") ? 1 : !strcmp(sub, "show") || !strcmp(sub, "rm") ? 2
               : !strcmp(sub, "export") || !strcmp(sub, "import") ? 3 : 0;
    if (!want) return cli_usage("codebook", "unknown subcommand '%s' (use list, show, export, import or rm)", sub);
    if (npos != want)
        return cli_usage("codebook", "'codebook %s' takes %s", sub,
                         want == 1 ? "no argument" : want == 2 ? "a codebook NAME" : "a codebook NAME and a FILE");
    if (format_s && strcmp(format_s, "json") && strcmp(format_s, "binary"))
        return cli_usage("codebook", "--format must be json or binary, not '%s'", format_s);
    if (format_s && strcmp(sub, "export")) return cli_usage("codebook", "--format belongs to export");
    if (replace && strcmp(sub, "import")) return cli_usage("codebook", "--replace belongs to import");
    if (arrays && strcmp(sub, "show")) return cli_usage("codebook", "--arrays belongs to show");
    int write = !strcmp(sub, "import") || !strcmp(sub, "rm");
    hk_db *db;
    hk_status st = cli_open_db(ctx, write, 0, &db);
    if (st) return qreport(st);
    hk_codebook *cb = NULL;
    if (!strcmp(sub, "list")) {
        char **names;
        size_t n;
        if (!(st = hk_db_codebook_list(db, &names, &n))) {
            if (json) putchar('[');
            size_t shown = 0;
            for (size_t i = 0; i < n; i++) {
                hk_codebook_info in;
                hk_status s2 = hk_db_codebook_load(db, names[i], &cb);
                if (s2) {
                    if (!json) printf("%-24s (unreadable: %s)\n", names[i], hk_errmsg());
                    continue;
                }
                hk_codebook_info_get(cb, &in);
                hk_codebook_free(cb);
                cb = NULL;
                if (json && shown) putchar(',');
                print_info(names[i], &in, json);
                shown++;
            }
            if (json) puts("]");
            else if (!n) fprintf(stderr, "no codebooks\n");
            hk_strings_free(names, n);
        }
    } else if (!strcmp(sub, "show")) {
        if (!(st = hk_db_codebook_load(db, pos[1], &cb))) {
            if (json || arrays) {
                char *js;
                if (!(st = hk_codebook_to_json(cb, arrays, &js))) {
                    puts(js);
                    hk_free(js);
                }
            } else {
                hk_codebook_info in;
                hk_codebook_info_get(cb, &in);
                char label[48];
                method_label(&in, label, sizeof label);
                printf("name          %s\nmethod        %s (%s)\ndimension     %u\nmetric        %s\n"
                       "code          %u bytes per vector, %.2fx compression\n",
                       pos[1], label, hk_quant_method_name(in.method), in.dim, hk_metric_name(in.metric),
                       in.code_bytes, in.compression);
                if (in.method == HK_QUANT_SQ8 || in.method == HK_QUANT_SQ4)
                    printf("curve         %s%s", hk_curve_name(in.curve), in.curve != HK_CURVE_NONE ? "" : "\n");
                if (in.curve != HK_CURVE_NONE && in.curve != HK_CURVE_HLG) printf(" (parameter %g)\n", in.curve_param);
                else if (in.curve == HK_CURVE_HLG) putchar('\n');
                if (in.pq_m) printf("sub-quantizers %u of %u bits (%u centroids each)\n", in.pq_m, in.pq_bits, 1u << in.pq_bits);
                if (in.method == HK_QUANT_OPQ) printf("rotation      %u x %u, %u OPQ iterations\n", in.dim, in.dim, in.opq_iterations);
                printf("trained on    %llu vectors in %.2f s (seed %llu)\nmodel         %llu bytes\n"
                       "format        version %u\n",
                       (unsigned long long)in.trained_on, in.train_seconds, (unsigned long long)in.seed,
                       (unsigned long long)in.model_bytes, in.format_version);
            }
        }
    } else if (!strcmp(sub, "rm")) {
        if (!(st = hk_db_codebook_remove(db, pos[1]))) printf("removed codebook '%s'\n", pos[1]);
    } else if (!strcmp(sub, "export")) {
        const char *file = pos[2];
        size_t fl = strlen(file);
        int as_json = format_s ? !strcmp(format_s, "json") : fl > 5 && !strcmp(file + fl - 5, ".json");
        if (!(st = hk_db_codebook_load(db, pos[1], &cb))) {
            char *js = NULL;
            uint8_t *bin = NULL;
            size_t len = 0;
            if (as_json) {
                st = hk_codebook_to_json(cb, 1, &js);
                if (!st) len = strlen(js);
            } else {
                st = hk_codebook_serialize(cb, &bin, &len);
            }
            if (!st) {
                FILE *f = !strcmp(file, "-") ? stdout : fopen(file, "wb");
                if (!f) st = qfail(HK_IO, "%s: %s", file, strerror(errno));
                else {
                    if (fwrite(as_json ? (const void *)js : (const void *)bin, 1, len, f) != len ||
                        (as_json && fputc('\n', f) == EOF))
                        st = qfail(HK_IO, "%s: write failed", file);
                    if (f != stdout && fclose(f) != 0 && !st) st = qfail(HK_IO, "%s: write failed", file);
                }
            }
            if (!st && strcmp(file, "-"))
                fprintf(stderr, "exported codebook '%s' to %s (%s, %zu bytes)\n", pos[1], file,
                        as_json ? "json" : "binary", len + (as_json ? 1 : 0));
            hk_free(js);
            hk_free(bin);
        }
    } else { /* import */
        char *data = NULL;
        size_t len = 0;
        if (!(st = read_file(pos[2], &data, &len))) {
            if (len >= 4 && !memcmp(data, "HKCB", 4)) st = hk_codebook_deserialize((const uint8_t *)data, len, &cb);
            else st = hk_codebook_from_json(data, len, &cb);
            if (st) qfail(st, "%s: %s", pos[2], hk_errmsg());
            free(data);
            if (!st) st = hk_db_codebook_save(db, pos[1], cb, replace);
            if (!st) {
                hk_codebook_info in;
                hk_codebook_info_get(cb, &in);
                printf("imported codebook ");
                print_info(pos[1], &in, 0);
            }
        }
    }
    rc = st ? qreport(st) : 0;
    hk_codebook_free(cb);
    if (cli_done(db, NULL) && !rc) rc = EXIT_FAIL;
    return rc;
}
