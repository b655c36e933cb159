/*
 * import.c — hk_import and hk_import_mem: a reader feeding hk_upsert in batches.
 *
 * Each batch is one log record, so it is applied entirely or not at all; a malformed
 * record is detected by the reader before its batch reaches hk_upsert, which is what
 * lets an import stop at a bad line without leaving half a batch behind. Formats
 * without ids number rows from start_id in file order.
 *
 * HK_IMPORT_CHECK_FIRST makes a file all or nothing: a first pass reads every record
 * and puts each batch through hk_upsert's own checks (coll_check_points) without
 * writing, so a file that would fail anywhere fails before its first batch is applied.
 * It costs a second read of the input; progress then counts both passes.
 */
#include <string.h>

#include "../db/collection.h"
#include "json.h"
#include "reader.h"

void hk_import_options_init(hk_import_options *o) { memset(o, 0, sizeof *o); }

/* Where the input comes from: a path, or a buffer. */
typedef struct import_src {
    const char *path;
    const void *data;
    size_t len;
    const char *name; /* for messages */
    reader_format fmt;
} import_src;

static hk_status src_open(const import_src *src, const reader_options *ro, reader **r) {
    if (src->path) return reader_open(src->path, src->fmt, ro, r);
    return reader_open_mem(src->data, src->len, src->fmt, ro, src->name, r);
}

/* One pass over the input: with check, every batch is checked and nothing written. The
 * progress callback sees bytes offset by base and a total of total_scale times the
 * input's size. */
static hk_status import_pass(hk_collection *c, const hk_collection_config *cfg,
                             const import_src *src, const hk_import_options *o, int check,
                             int passes, int pass, hk_import_stats *stats) {
    reader_options ro = {o->id_column, o->vector_column, o->text_column, o->text_field,
                         cfg->dim == 0};
    reader *r;
    hk_status st = src_open(src, &ro, &r);
    if (st) return st;
    size_t max = o->batch ? o->batch : 4096;
    /* Keep each batch's log record well under its 1 GiB limit at any dimension. */
    size_t fit = ((size_t)256 << 20) / ((size_t)cfg->dim * sizeof(float) + 64);
    if (max > fit) max = fit ? fit : 1;
    hk_point *pts = hk_calloc(max, sizeof *pts);
    if (!pts) {
        reader_close(r);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    const char *name = src->name;
    for (;;) {
        reader_batch b;
        if ((st = reader_next(r, max, &b))) break;
        if (b.n == 0) break;
        if (b.dim != cfg->dim) {
            st = hk_fail(HK_DIMENSION, "%s: record %llu has dimension %u but collection '%s' "
                         "has dimension %u", name, (unsigned long long)b.first_record + 1,
                         b.dim, hk_collection_name(c), cfg->dim);
            break;
        }
        for (size_t i = 0; i < b.n; i++) {
            hk_point *p = &pts[i];
            memset(p, 0, sizeof *p);
            p->vector = cfg->dim ? b.vectors + i * b.dim : NULL;
            if (b.has_id) p->id = b.ids[i];
            else p->id = o->start_id + b.first_record + i;
            p->payload = b.payloads ? b.payloads[i] : NULL;
            p->text = b.texts ? b.texts[i] : NULL;
        }
        st = check ? coll_check_points(c, pts, b.n) : hk_upsert(c, pts, b.n, NULL);
        if (st) {
            /* The library numbers points within the batch: name the records. */
            hk_fail_prefix(st, "%s: records %llu to %llu", name,
                           (unsigned long long)b.first_record + 1,
                           (unsigned long long)(b.first_record + b.n));
            break;
        }
        if (!check) {
            stats->points += b.n;
            stats->batches++;
        }
        if (o->progress) {
            uint64_t done, total;
            reader_progress(r, &done, &total);
            if (o->progress(o->ud, done + (uint64_t)pass * total, total * (uint64_t)passes,
                            stats->points)) {
                st = check ? hk_fail(HK_CANCELLED, "import of %s cancelled while checking it; "
                                     "nothing was imported", name)
                           : hk_fail(HK_CANCELLED, "import of %s cancelled after %llu points",
                                     name, (unsigned long long)stats->points);
                break;
            }
        }
    }
    hk_free(pts);
    reader_close(r);
    return st;
}

static hk_status import_run(hk_collection *c, const import_src *src, const hk_import_options *o,
                            hk_import_stats *stats) {
    hk_collection_config cfg;
    hk_status st = hk_collection_get_config(c, &cfg);
    if (st) return st;
    uint64_t t0 = hk_now_ns();
    int check = (o->flags & HK_IMPORT_CHECK_FIRST) != 0;
    if (check) st = import_pass(c, &cfg, src, o, 1, 2, 0, stats);
    if (!st) st = import_pass(c, &cfg, src, o, 0, check ? 2 : 1, check, stats);
    stats->seconds = (double)(hk_now_ns() - t0) / 1e9;
    return st;
}

hk_status hk_import(hk_collection *c, const char *path, const hk_import_options *o,
                    hk_import_stats *stats) {
    hk_import_options def;
    if (!o) {
        hk_import_options_init(&def);
        o = &def;
    }
    hk_import_stats local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!c || !path) return hk_fail(HK_INVALID, "import: collection or path is NULL");
    if (o->flags & ~(uint32_t)HK_IMPORT_CHECK_FIRST)
        return hk_fail(HK_INVALID, "import: unknown flags 0x%x", o->flags);
    int is_stdin = !strcmp(path, "-");
    if (is_stdin && (o->flags & HK_IMPORT_CHECK_FIRST))
        return hk_fail(HK_INVALID, "import: HK_IMPORT_CHECK_FIRST reads the input twice, which "
                       "standard input cannot be; import from a file");
    import_src src = {path, NULL, 0, is_stdin ? "<stdin>" : path, RF_FVECS};
    hk_status st = o->format ? reader_format_parse(o->format, &src.fmt)
                             : reader_format_from_path(path, &src.fmt);
    if (st) return st;
    return import_run(c, &src, o, stats);
}

hk_status hk_import_mem(hk_collection *c, const void *data, size_t len, const char *name,
                        const hk_import_options *o, hk_import_stats *stats) {
    hk_import_options def;
    if (!o) {
        hk_import_options_init(&def);
        o = &def;
    }
    hk_import_stats local = {0};
    if (!stats) stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!c || (!data && len)) return hk_fail(HK_INVALID, "import: collection or data is NULL");
    if (o->flags & ~(uint32_t)HK_IMPORT_CHECK_FIRST)
        return hk_fail(HK_INVALID, "import: unknown flags 0x%x", o->flags);
    if (!name) name = "<memory>";
    import_src src = {NULL, data, len, name, RF_FVECS};
    hk_status st;
    if (o->format) st = reader_format_parse(o->format, &src.fmt);
    else if ((st = reader_format_from_path(name, &src.fmt)))
        hk_fail_prefix(st, "import: give the format");
    if (st) return st;
    return import_run(c, &src, o, stats);
}

hk_status hk_import_probe(const void *data, size_t len, const char *name,
                          const hk_import_options *o, uint32_t *dim) {
    if ((!data && len) || !dim) return hk_fail(HK_INVALID, "import_probe: NULL argument");
    if (!name) name = "<memory>";
    hk_import_options def;
    if (!o) {
        hk_import_options_init(&def);
        o = &def;
    }
    reader_format fmt;
    hk_status st = o->format ? reader_format_parse(o->format, &fmt)
                             : reader_format_from_path(name, &fmt);
    if (st) return st;
    /* With vectors first; records that have none fit a text-only collection. */
    for (int no_vectors = 0; no_vectors <= (fmt == RF_JSONL || fmt == RF_CSV); no_vectors++) {
        reader_options ro = {o->id_column, o->vector_column, o->text_column, o->text_field,
                             no_vectors};
        reader *r;
        reader_batch b;
        st = reader_open_mem(data, len, fmt, &ro, name, &r);
        if (!st) {
            st = reader_next(r, 1, &b);
            if (!st && b.n == 0) st = hk_fail(HK_INVALID, "%s: holds no records", name);
            if (!st) *dim = no_vectors ? 0 : b.dim;
            reader_close(r);
        }
        if (!st) return HK_OK;
    }
    return st;
}

hk_status hk_read_vectors(const char *path, const char *format, float **vectors, size_t *n,
                          uint32_t *dim) {
    if (!path || !vectors || !n || !dim) return hk_fail(HK_INVALID, "read_vectors: NULL argument");
    *vectors = NULL;
    *n = 0;
    *dim = 0;
    reader_format fmt;
    hk_status st = format ? reader_format_parse(format, &fmt) : reader_format_from_path(path, &fmt);
    if (st) return st;
    reader *r;
    if ((st = reader_open(path, fmt, NULL, &r))) return st;
    hk_buf all;
    hk_buf_init(&all);
    size_t count = 0;
    uint32_t d = 0;
    for (;;) {
        reader_batch b;
        if ((st = reader_next(r, 4096, &b)) || b.n == 0) break;
        d = b.dim;
        if ((st = hk_buf_append(&all, b.vectors, b.n * b.dim * sizeof(float)))) break;
        count += b.n;
    }
    reader_close(r);
    if (!st && count == 0) st = hk_fail(HK_INVALID, "%s: holds no vectors", path);
    if (st) {
        hk_buf_free(&all);
        return st;
    }
    *vectors = (float *)hk_buf_detach(&all, NULL);
    *n = count;
    *dim = d;
    return HK_OK;
}
