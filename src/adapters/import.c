/*
 * import.c — hk_import: a reader feeding hk_upsert in batches.
 *
 * Each batch is one log record, so it is applied entirely or not at all; a malformed
 * record is detected by the reader before its batch reaches hk_upsert, which is what
 * lets an import stop at a bad line without leaving half a batch behind. Formats
 * without ids number rows from start_id in file order.
 */
#include <string.h>

#include "json.h"
#include "reader.h"

void hk_import_options_init(hk_import_options *o) { memset(o, 0, sizeof *o); }

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
    hk_collection_config cfg;
    hk_status st = hk_collection_get_config(c, &cfg);
    if (st) return st;
    reader_format fmt;
    st = o->format ? reader_format_parse(o->format, &fmt) : reader_format_from_path(path, &fmt);
    if (st) return st;
    reader_options ro = {o->id_column, o->vector_column, o->text_column, o->text_field,
                         cfg.dim == 0};
    reader *r;
    if ((st = reader_open(path, fmt, &ro, &r))) return st;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    size_t max = o->batch ? o->batch : 4096;
    /* Keep each batch's log record well under its 1 GiB limit at any dimension. */
    size_t fit = ((size_t)256 << 20) / ((size_t)cfg.dim * sizeof(float) + 64);
    if (max > fit) max = fit ? fit : 1;
    hk_point *pts = hk_calloc(max, sizeof *pts);
    if (!pts) {
        reader_close(r);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    uint64_t t0 = hk_now_ns();
    for (;;) {
        reader_batch b;
        if ((st = reader_next(r, max, &b))) break;
        if (b.n == 0) break;
        if (b.dim != cfg.dim) {
            st = hk_fail(HK_DIMENSION, "%s: record %llu has dimension %u but collection '%s' "
                         "has dimension %u", name, (unsigned long long)b.first_record + 1,
                         b.dim, hk_collection_name(c), cfg.dim);
            break;
        }
        for (size_t i = 0; i < b.n; i++) {
            hk_point *p = &pts[i];
            memset(p, 0, sizeof *p);
            p->vector = cfg.dim ? b.vectors + i * b.dim : NULL;
            if (b.has_id) p->id = b.ids[i];
            else p->id = o->start_id + b.first_record + i;
            p->payload = b.payloads ? b.payloads[i] : NULL;
            p->text = b.texts ? b.texts[i] : NULL;
        }
        if ((st = hk_upsert(c, pts, b.n, NULL))) {
            hk_fail_prefix(st, "%s: records %llu to %llu", name,
                           (unsigned long long)b.first_record + 1,
                           (unsigned long long)(b.first_record + b.n));
            break;
        }
        stats->points += b.n;
        stats->batches++;
        if (o->progress) {
            uint64_t done, total;
            reader_progress(r, &done, &total);
            if (o->progress(o->ud, done, total, stats->points)) {
                st = hk_fail(HK_CANCELLED, "import of %s cancelled after %llu points", name,
                             (unsigned long long)stats->points);
                break;
            }
        }
    }
    stats->seconds = (double)(hk_now_ns() - t0) / 1e9;
    hk_free(pts);
    reader_close(r);
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
