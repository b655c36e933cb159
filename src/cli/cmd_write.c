/*
 * cmd_write.c — commands that change a database: create, import, delete, drop, index,
 * restore, checkpoint. Each opens the database for writing (taking its lock), makes one
 * library call (or a stream of them for import) and reports.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int create_collection(cli_ctx *ctx, const char *name, hk_collection_config *in,
                             hk_vector_storage storage);

int cmd_create(cli_ctx *ctx, int argc, char **argv) {
    const char *dim_s = NULL, *metric_s = NULL, *index_s = NULL, *m_s = NULL, *efc_s = NULL,
               *ef_s = NULL, *lang_s = NULL, *k1_s = NULL, *b_s = NULL, *vectors_s = NULL;
    int text_only = 0, no_stem = 0, no_stop = 0;
    cli_opt opts[] = {{"--dim", &dim_s, NULL},   {"--metric", &metric_s, NULL},
                      {"--vectors", &vectors_s, NULL},
                      {"--index", &index_s, NULL}, {"--m", &m_s, NULL},
                      {"--ef-construction", &efc_s, NULL}, {"--ef", &ef_s, NULL},
                      {"--language", &lang_s, NULL}, {"--k1", &k1_s, NULL}, {"--b", &b_s, NULL},
                      {"--text-only", NULL, &text_only}, {"--no-stem", NULL, &no_stem},
                      {"--no-stopwords", NULL, &no_stop},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("create", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("create", "expected a collection NAME");
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    if (lang_s && hk_language_parse(lang_s, &cfg.text_language)) return cli_usage("create", "%s", hk_errmsg());
    if (no_stem) cfg.text_flags |= HK_TEXT_NO_STEM;
    if (no_stop) cfg.text_flags |= HK_TEXT_NO_STOPWORDS;
    if (k1_s && (!cli_parse_float(k1_s, &cfg.bm25_k1) || !(cfg.bm25_k1 > 0 && cfg.bm25_k1 <= 100)))
        return cli_usage("create", "--k1 must be a number in (0, 100], not '%s'", k1_s);
    if (b_s && (!cli_parse_float(b_s, &cfg.bm25_b) || !(cfg.bm25_b >= 0 && cfg.bm25_b <= 1)))
        return cli_usage("create", "--b must be a number in [0, 1], not '%s'", b_s);
    if (b_s && cfg.bm25_b == 0) cfg.text_flags |= HK_TEXT_BM25_B_ZERO;
    if (text_only) {
        if (dim_s || metric_s || index_s || m_s || efc_s || ef_s || vectors_s)
            return cli_usage("create", "--text-only collections have no vectors: --dim, --metric, "
                             "--index, --m, --ef-construction, --ef and --vectors do not apply");
        cfg.text_flags |= HK_TEXT_ONLY;
        cfg.dim = 0;
        return create_collection(ctx, pos[0], &cfg, HK_VECTORS_MEMORY);
    }
    if (!metric_s) metric_s = "l2";
    if (!index_s) index_s = "hnsw";
    if (!dim_s) return cli_usage("create", "--dim is required (or --text-only for a collection without vectors)");
    if (!cli_parse_u32(dim_s, &cfg.dim) || cfg.dim < 1 || cfg.dim > HK_MAX_DIM)
        return cli_usage("create", "--dim must be an integer from 1 to %d, not '%s'", HK_MAX_DIM, dim_s);
    if (hk_metric_parse(metric_s, &cfg.metric)) return cli_usage("create", "%s", hk_errmsg());
    if (!strcmp(index_s, "flat")) cfg.index = HK_INDEX_FLAT;
    else if (!strcmp(index_s, "hnsw")) cfg.index = HK_INDEX_HNSW;
    else return cli_usage("create", "unknown index '%s' (use hnsw or flat)", index_s);
    if (cfg.index == HK_INDEX_FLAT && (m_s || efc_s || ef_s))
        return cli_usage("create", "--m, --ef-construction and --ef apply to --index hnsw only");
    if (m_s && (!cli_parse_u32(m_s, &cfg.hnsw_m) || cfg.hnsw_m < 2 || cfg.hnsw_m > 128))
        return cli_usage("create", "--m must be an integer from 2 to 128, not '%s'", m_s);
    if (efc_s && (!cli_parse_u32(efc_s, &cfg.hnsw_ef_construction) || cfg.hnsw_ef_construction < 1 ||
                  cfg.hnsw_ef_construction > 65536))
        return cli_usage("create", "--ef-construction must be an integer from 1 to 65536, not '%s'", efc_s);
    if (ef_s && (!cli_parse_u32(ef_s, &cfg.hnsw_ef_search) || cfg.hnsw_ef_search < 1 ||
                 cfg.hnsw_ef_search > 65536))
        return cli_usage("create", "--ef must be an integer from 1 to 65536, not '%s'", ef_s);
    hk_vector_storage storage = HK_VECTORS_MEMORY;
    if (vectors_s && (rc = cli_parse_storage("create", vectors_s, &storage))) return rc;
    return create_collection(ctx, pos[0], &cfg, storage);
}

/* Creates the collection and prints what was created (with defaults filled in). */
static int create_collection(cli_ctx *ctx, const char *name, hk_collection_config *in,
                             hk_vector_storage storage) {
    hk_db *db;
    hk_status st = cli_open_db(ctx, 1, 1, &db);
    if (st) return cli_hk_fail(st);
    hk_collection *c = NULL;
    st = hk_collection_create(db, name, in, &c);
    if (!st && storage != HK_VECTORS_MEMORY && (st = hk_collection_set_vector_storage(c, storage))) {
        int r = cli_hk_fail(st); /* leave nothing half made */
        hk_collection_close(c);
        hk_collection_drop(db, name);
        hk_db_close(db);
        return r;
    }
    if (st) {
        int r = cli_hk_fail(st);
        hk_db_close(db);
        return r;
    }
    hk_collection_config cfg;
    hk_collection_get_config(c, &cfg);
    if (cli_done(db, c)) return EXIT_FAIL;
    char text[160];
    snprintf(text, sizeof text, "text %s%s%s, k1 %g, b %g", hk_language_name(cfg.text_language),
             cfg.text_flags & HK_TEXT_NO_STEM ? ", no stemming" : "",
             cfg.text_flags & HK_TEXT_NO_STOPWORDS ? ", no stop words" : "", (double)cfg.bm25_k1,
             (double)cfg.bm25_b);
    if (cfg.text_flags & HK_TEXT_ONLY) {
        printf("created collection '%s' (text only, %s)\n", name, text);
        return EXIT_OK;
    }
    /* Vector collections mention text settings only when they are not the defaults. */
    int custom = cfg.text_language || cfg.text_flags || cfg.bm25_k1 != 1.2f || cfg.bm25_b != 0.75f;
    printf("created collection '%s' (dim %u, metric %s, index %s", name, cfg.dim,
           hk_metric_name(cfg.metric), cfg.index == HK_INDEX_HNSW ? "hnsw" : "flat");
    if (cfg.index == HK_INDEX_HNSW)
        printf(", m %u, ef_construction %u, ef %u", cfg.hnsw_m, cfg.hnsw_ef_construction,
               cfg.hnsw_ef_search);
    printf("%s%s)\n", custom ? ", " : "", custom ? text : "");
    if (storage == HK_VECTORS_DISK) printf("its vectors are kept on disk and mapped\n");
    return EXIT_OK;
}

int cli_parse_storage(const char *cmd, const char *s, hk_vector_storage *out) {
    if (!strcmp(s, "memory")) *out = HK_VECTORS_MEMORY;
    else if (!strcmp(s, "disk")) *out = HK_VECTORS_DISK;
    else return cli_usage(cmd, "--vectors must be memory or disk, not '%s'", s);
    return 0;
}

int cmd_storage(cli_ctx *ctx, int argc, char **argv) {
    const char *vectors_s = NULL;
    cli_opt opts[] = {{"--vectors", &vectors_s, NULL}, {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("storage", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("storage", "expected a collection NAME");
    if (!vectors_s) return cli_usage("storage", "--vectors memory|disk is required");
    hk_vector_storage storage = HK_VECTORS_MEMORY;
    if ((rc = cli_parse_storage("storage", vectors_s, &storage))) return rc;
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 1, &db, &c);
    if (st) return cli_hk_fail(st);
    st = hk_collection_set_vector_storage(c, storage);
    hk_collection_stats s;
    if (!st) st = hk_collection_stats_get(c, &s);
    if (!st)
        printf("the vectors of '%s' (%llu bytes) are kept %s\n", pos[0],
               (unsigned long long)s.bytes_vectors,
               storage == HK_VECTORS_DISK ? "on disk and mapped" : "in memory");
    rc = st ? cli_hk_fail(st) : 0;
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

typedef struct progress {
    int enabled;
    uint64_t t0;
} progress;

static int show_progress(void *ud, uint64_t done, uint64_t total, uint64_t points) {
    progress *p = ud;
    if (!p->enabled) return 0;
    double secs = (double)(cli_now_ns() - p->t0) / 1e9;
    double rate = secs > 0 ? (double)points / secs : 0;
    if (total) {
        int width = 30, fill = (int)((double)done / (double)total * width);
        if (fill > width) fill = width;
        fprintf(stderr, "\r[%.*s%*s] %3d%%  %llu points  %.0f points/s ", fill,
                "##############################", width - fill, "",
                (int)(100.0 * (double)done / (double)total), (unsigned long long)points, rate);
    } else {
        fprintf(stderr, "\r%llu points  %.0f points/s ", (unsigned long long)points, rate);
    }
    fflush(stderr);
    return 0;
}

/* import --embed into a collection that does not exist yet creates it for the
 * embedder's vectors: their dimension, cosine, the default index. */
static hk_status open_or_create_embedded(cli_ctx *ctx, const char *name, uint32_t dim,
                                         hk_db **db, hk_collection **c, int *created) {
    hk_status st = cli_open_db(ctx, 1, 1, db);
    if (st) return st;
    st = hk_collection_open(*db, name, c);
    if (st == HK_NOT_FOUND) {
        hk_collection_config cfg;
        hk_collection_config_init(&cfg);
        cfg.dim = dim;
        cfg.metric = HK_METRIC_COSINE;
        if (!(st = hk_collection_create(*db, name, &cfg, c))) {
            *created = 1;
            fprintf(stderr, "hektor: notice: created collection '%s' (dimension %u, cosine) "
                    "for the embedded vectors\n", name, dim);
        }
    }
    if (st) {
        hk_db_close(*db);
        *db = NULL;
    }
    return st;
}

int cmd_import(cli_ctx *ctx, int argc, char **argv) {
    hk_import_options o;
    hk_import_options_init(&o);
    const char *batch_s = NULL, *start_s = NULL, *table_s = NULL;
    int quiet = 0, embed = 0, skip = 0;
    cli_opt opts[] = {{"--format", &o.format, NULL},
                      {"--embed", NULL, &embed},
                      {"--embeddings", &table_s, NULL},
                      {"--skip-unembeddable", NULL, &skip},
                      {"--batch", &batch_s, NULL},
                      {"--start-id", &start_s, NULL},
                      {"--id-column", &o.id_column, NULL},
                      {"--vector-column", &o.vector_column, NULL},
                      {"--text-column", &o.text_column, NULL},
                      {"--text-field", &o.text_field, NULL},
                      {"--quiet", NULL, &quiet},
                      {NULL, NULL, NULL}};
    char *pos[2];
    int npos, rc = cli_parse("import", argc, argv, opts, pos, &npos, 2);
    if (rc) return rc;
    if (npos != 2) return cli_usage("import", "expected NAME and FILE");
    if (batch_s && (!cli_parse_u32(batch_s, &o.batch) || o.batch == 0))
        return cli_usage("import", "--batch must be a positive integer, not '%s'", batch_s);
    if (start_s && !cli_parse_u64(start_s, &o.start_id))
        return cli_usage("import", "--start-id must be a non-negative integer, not '%s'", start_s);
    if (access(pos[1], R_OK) != 0 && strcmp(pos[1], "-") != 0)
        return cli_fail("cannot read '%s': %s", pos[1], strerror(errno));
    if ((table_s || skip) && !embed)
        return cli_usage("import", "--embeddings and --skip-unembeddable need --embed");
    o.skip_unembeddable = skip;
    hk_db *db;
    hk_collection *c;
    hk_embedder *emb = NULL;
    if (embed && (rc = cli_open_embedder(table_s, &emb))) return rc;
    o.embedder = emb;
    int created = 0;
    hk_status st = embed ? open_or_create_embedded(ctx, pos[0], hk_embedder_dim(emb), &db, &c,
                                                   &created)
                         : cli_open_collection(ctx, pos[0], 1, &db, &c);
    if (st) {
        hk_embedder_close(emb);
        return cli_hk_fail(st);
    }
    progress p = {!quiet && isatty(2), cli_now_ns()};
    o.progress = show_progress;
    o.ud = &p;
    hk_import_stats stats;
    st = hk_import(c, pos[1], &o, &stats);
    if (p.enabled) fputc('\n', stderr);
    int ret = EXIT_OK;
    if (st) {
        ret = cli_fail("%s; %llu points before it were imported%s", hk_errmsg(),
                       (unsigned long long)stats.points,
                       created && !stats.points ? " (the collection it created is dropped)" : "");
        if (created && !stats.points) {
            hk_collection_close(c);
            c = NULL;
            hk_collection_drop(db, pos[0]);
        }
    } else {
        printf("imported %llu points into '%s' in %.2f s (%.0f points/s)\n",
               (unsigned long long)stats.points, pos[0], stats.seconds,
               stats.seconds > 0 ? (double)stats.points / stats.seconds : 0.0);
        if (stats.skipped)
            printf("left out %llu records whose text has no word in the embedding's "
                   "vocabulary\n", (unsigned long long)stats.skipped);
    }
    if (cli_done(db, c) && !ret) ret = EXIT_FAIL;
    hk_embedder_close(emb);
    return ret;
}

int cmd_delete(cli_ctx *ctx, int argc, char **argv) {
    const char *filter_s = NULL;
    cli_opt opts[] = {{"--filter", &filter_s, NULL}, {NULL, NULL, NULL}};
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) return cli_fail("out of memory");
    int npos, rc = cli_parse("delete", argc, argv, opts, pos, &npos, argc);
    uint64_t *ids = NULL;
    if (!rc && npos < 1) rc = cli_usage("delete", "expected a collection NAME");
    if (!rc && npos == 1 && !filter_s) rc = cli_usage("delete", "give ids or --filter");
    if (!rc && npos > 1 && filter_s) rc = cli_usage("delete", "give ids or --filter, not both");
    if (!rc && !(ids = calloc((size_t)npos, sizeof *ids))) rc = cli_fail("out of memory");
    for (int i = 1; !rc && i < npos; i++)
        if (!cli_parse_u64(pos[i], &ids[i - 1])) rc = cli_usage("delete", "'%s' is not an id", pos[i]);
    hk_filter *f = NULL;
    if (!rc && filter_s && hk_filter_parse(filter_s, strlen(filter_s), &f)) rc = cli_fail("%s", hk_errmsg());
    hk_db *db = NULL;
    hk_collection *c = NULL;
    hk_status st;
    uint64_t deleted = 0;
    if (!rc && (st = cli_open_collection(ctx, pos[0], 1, &db, &c))) rc = cli_hk_fail(st);
    if (!rc) {
        st = f ? hk_delete_by_filter(c, f, &deleted) : hk_delete(c, ids, (size_t)npos - 1, &deleted);
        if (st) rc = cli_hk_fail(st);
        else printf("deleted %llu points\n", (unsigned long long)deleted);
        if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    }
    hk_filter_free(f);
    free(ids);
    free(pos);
    return rc;
}

int cmd_drop(cli_ctx *ctx, int argc, char **argv) {
    char *pos[1];
    int npos, rc = cli_parse("drop", argc, argv, NULL, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("drop", "expected a collection NAME");
    hk_db *db;
    hk_status st = cli_open_db(ctx, 1, 0, &db);
    if (st) return cli_hk_fail(st);
    st = hk_collection_drop(db, pos[0]);
    if (st) rc = cli_hk_fail(st);
    else printf("dropped collection '%s'\n", pos[0]);
    if (cli_done(db, NULL) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_index(cli_ctx *ctx, int argc, char **argv) {
    const char *type_s = NULL;
    int drop = 0;
    cli_opt opts[] = {{"--type", &type_s, NULL}, {"--drop", NULL, &drop}, {NULL, NULL, NULL}};
    char *pos[2];
    int npos, rc = cli_parse("index", argc, argv, opts, pos, &npos, 2);
    if (rc) return rc;
    if (npos != 2) return cli_usage("index", "expected NAME and KEY");
    if (!drop && !type_s) return cli_usage("index", "give --type or --drop");
    hk_field_type type = HK_FIELD_KEYWORD;
    if (!drop && hk_field_type_parse(type_s, &type)) return cli_usage("index", "%s", hk_errmsg());
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 1, &db, &c);
    if (st) return cli_hk_fail(st);
    st = drop ? hk_payload_index_drop(c, pos[1]) : hk_payload_index_create(c, pos[1], type);
    if (st) rc = cli_hk_fail(st);
    else if (drop) printf("dropped the index on '%s'\n", pos[1]);
    else printf("indexed '%s' as %s\n", pos[1], hk_field_type_name(type));
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

int cmd_restore(cli_ctx *ctx, int argc, char **argv) {
    char *pos[1];
    int npos, rc = cli_parse("restore", argc, argv, NULL, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("restore", "expected the backup directory SRC");
    hk_status st = hk_db_restore(pos[0], ctx->db_path);
    if (st) return cli_hk_fail(st);
    printf("restored '%s' into '%s'\n", pos[0], ctx->db_path);
    return EXIT_OK;
}

int cmd_checkpoint(cli_ctx *ctx, int argc, char **argv) {
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) return cli_fail("out of memory");
    int npos, rc = cli_parse("checkpoint", argc, argv, NULL, pos, &npos, argc);
    hk_db *db = NULL;
    hk_status st;
    if (!rc && (st = cli_open_db(ctx, 1, 0, &db))) rc = cli_hk_fail(st);
    char **names = NULL;
    size_t n = 0;
    if (!rc && npos == 0) {
        if ((st = hk_db_list(db, &names, &n))) rc = cli_hk_fail(st);
    }
    size_t total = npos ? (size_t)npos : n;
    for (size_t i = 0; !rc && i < total; i++) {
        const char *name = npos ? pos[i] : names[i];
        hk_collection *c;
        if ((st = hk_collection_open(db, name, &c)) || (st = hk_collection_checkpoint(c))) rc = cli_hk_fail(st);
        else printf("checkpointed '%s'\n", name);
        hk_collection_close(c);
    }
    hk_strings_free(names, n);
    if (db && cli_done(db, NULL) && !rc) rc = EXIT_FAIL;
    free(pos);
    return rc;
}

/* Reads a whole file (or stdin for "-") into a malloc'd buffer. */
static int read_all(const char *path, char **out, size_t *len) {
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return cli_fail("cannot open '%s': %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf) return cli_fail("out of memory reading '%s'", path);
    if (err) {
        free(buf);
        return cli_fail("reading '%s' failed", path);
    }
    *out = buf;
    *len = n;
    return 0;
}

int cmd_synonyms(cli_ctx *ctx, int argc, char **argv) {
    char *pos[3];
    int npos, rc = cli_parse("synonyms", argc, argv, NULL, pos, &npos, 3);
    if (rc) return rc;
    if (npos < 2) return cli_usage("synonyms", "expected NAME and set FILE, list or clear");
    int set = !strcmp(pos[1], "set"), list = !strcmp(pos[1], "list"), clear = !strcmp(pos[1], "clear");
    if (!set && !list && !clear)
        return cli_usage("synonyms", "unknown action '%s' (set FILE, list or clear)", pos[1]);
    if (set != (npos == 3)) return cli_usage("synonyms", set ? "set needs a FILE (or - for stdin)" :
                                             "%s takes no FILE", pos[1]);
    char *text = NULL;
    size_t len = 0;
    if (set && (rc = read_all(pos[2], &text, &len))) return rc;
    if (set && !len) {
        free(text);
        return cli_fail("'%s' is empty; use 'synonyms %s clear' to remove the list", pos[2], pos[0]);
    }
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], !list, &db, &c);
    if (st) {
        free(text);
        return cli_hk_fail(st);
    }
    if (list) {
        char *cur = NULL;
        if ((st = hk_collection_synonyms(c, &cur, &len))) rc = cli_hk_fail(st);
        else if (cur) {
            fwrite(cur, 1, len, stdout);
            if (len && cur[len - 1] != '\n') putchar('\n');
        }
        hk_free(cur);
    } else {
        st = hk_collection_set_synonyms(c, text, len);
        if (st) rc = cli_hk_fail(st);
        else if (set) printf("set the synonym list of '%s' (%zu bytes)\n", pos[0], len);
        else printf("cleared the synonym list of '%s'\n", pos[0]);
    }
    free(text);
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}

typedef struct reindex_prog {
    int show;
    int last; /* percent last printed */
} reindex_prog;

static int reindex_progress(void *ud, const char *phase, double fraction) {
    reindex_prog *p = ud;
    int pct = (int)(fraction * 100);
    if (p->show && pct != p->last) {
        fprintf(stderr, "\r%s: %3d%%", phase, pct);
        p->last = pct;
    }
    return 0;
}

int cmd_reindex(cli_ctx *ctx, int argc, char **argv) {
    const char *kind_s = NULL, *m_s = NULL, *efc_s = NULL;
    int quiet = 0;
    cli_opt opts[] = {{"--index", &kind_s, NULL},
                      {"--m", &m_s, NULL},
                      {"--ef-construction", &efc_s, NULL},
                      {"--quiet", NULL, &quiet},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("reindex", argc, argv, opts, pos, &npos, 1);
    if (rc) return rc;
    if (npos != 1) return cli_usage("reindex", "expected a collection NAME");
    if (!kind_s) return cli_usage("reindex", "--index hnsw|flat is required");
    hk_index_kind kind;
    if (!strcmp(kind_s, "hnsw")) kind = HK_INDEX_HNSW;
    else if (!strcmp(kind_s, "flat")) kind = HK_INDEX_FLAT;
    else return cli_usage("reindex", "--index must be hnsw or flat, not '%s'", kind_s);
    uint32_t m = 0, efc = 0;
    if (m_s && !cli_parse_u32(m_s, &m))
        return cli_usage("reindex", "--m must be a non-negative integer, not '%s'", m_s);
    if (efc_s && !cli_parse_u32(efc_s, &efc))
        return cli_usage("reindex", "--ef-construction must be a non-negative integer, not '%s'",
                         efc_s);
    if (kind == HK_INDEX_FLAT && (m_s || efc_s))
        return cli_usage("reindex", "--m and --ef-construction go with --index hnsw");
    hk_db *db;
    hk_collection *c;
    hk_status st = cli_open_collection(ctx, pos[0], 1, &db, &c);
    if (st) return cli_hk_fail(st);
    reindex_prog prog = {!quiet && isatty(2), -1};
    uint64_t t0 = cli_now_ns();
    st = hk_collection_reindex(c, kind, m, efc, reindex_progress, &prog);
    if (prog.show) fputc('\n', stderr);
    if (!st) {
        hk_collection_config cfg;
        hk_collection_get_config(c, &cfg);
        if (kind == HK_INDEX_HNSW)
            printf("reindexed '%s': hnsw, m %u, ef_construction %u (%.2f s)\n", pos[0], cfg.hnsw_m,
                   cfg.hnsw_ef_construction, (double)(cli_now_ns() - t0) / 1e9);
        else
            printf("reindexed '%s': flat (%.2f s)\n", pos[0], (double)(cli_now_ns() - t0) / 1e9);
    }
    rc = st ? cli_hk_fail(st) : EXIT_OK;
    if (cli_done(db, c) && !rc) rc = EXIT_FAIL;
    return rc;
}
