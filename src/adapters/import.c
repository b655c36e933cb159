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

/* Vectors for a batch from its texts; every record needs text, and a known word unless
 * skip (known[i] = 0 then marks the records to leave out). */
static hk_status embed_batch(hk_embedder *emb, const reader_batch *b, const char *name,
                             int skip, float *out, uint32_t *known) {
    for (size_t i = 0; i < b->n; i++)
        if (!b->texts || !b->texts[i])
            return hk_fail(HK_INVALID, "%s: record %llu has no text to embed", name,
                           (unsigned long long)(b->first_record + i + 1));
    hk_status st = hk_embed(emb, b->texts, NULL, b->n, out, known);
    if (st) return hk_fail_prefix(st, "%s: embedding records %llu to %llu", name,
                                  (unsigned long long)b->first_record + 1,
                                  (unsigned long long)(b->first_record + b->n));
    for (size_t i = 0; i < b->n; i++)
        if (!known[i] && !skip)
            return hk_fail(HK_INVALID, "%s: record %llu: no word of its text is in the "
                           "embedding's vocabulary, so it has no vector", name,
                           (unsigned long long)(b->first_record + i + 1));
    return HK_OK;
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
    hk_collection_config cfg;
    hk_status st = hk_collection_get_config(c, &cfg);
    if (st) return st;
    reader_format fmt;
    st = o->format ? reader_format_parse(o->format, &fmt) : reader_format_from_path(path, &fmt);
    if (st) return st;
    hk_embedder *emb = o->embedder;
    if (emb && cfg.dim == 0)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to embed "
                       "into", hk_collection_name(c));
    if (emb && hk_embedder_dim(emb) != cfg.dim)
        return hk_fail(HK_DIMENSION, "the embedder makes vectors of dimension %u but collection "
                       "'%s' has dimension %u", hk_embedder_dim(emb), hk_collection_name(c),
                       cfg.dim);
    if (emb && fmt != RF_JSONL && fmt != RF_CSV)
        return hk_fail(HK_INVALID, "%s: embedding at import needs text, which only jsonl and csv "
                       "files carry", path);
    reader_options ro = {o->id_column, o->vector_column, o->text_column, o->text_field,
                         cfg.dim == 0 || emb != NULL};
    reader *r;
    if ((st = reader_open(path, fmt, &ro, &r))) return st;
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    size_t max = o->batch ? o->batch : 4096;
    /* Keep each batch's log record well under its 1 GiB limit at any dimension. */
    size_t fit = ((size_t)256 << 20) / ((size_t)cfg.dim * sizeof(float) + 64);
    if (max > fit) max = fit ? fit : 1;
    hk_point *pts = hk_calloc(max, sizeof *pts);
    float *evec = emb ? hk_malloc(max * cfg.dim * sizeof *evec) : NULL;
    uint32_t *known = emb ? hk_malloc(max * sizeof *known) : NULL;
    if (!pts || (emb && (!evec || !known))) {
        hk_free(pts);
        hk_free(evec);
        hk_free(known);
        reader_close(r);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    uint64_t t0 = hk_now_ns();
    for (;;) {
        reader_batch b;
        if ((st = reader_next(r, max, &b))) break;
        if (b.n == 0) break;
        if (emb && (st = embed_batch(emb, &b, name, o->skip_unembeddable, evec, known))) break;
        if (b.dim != cfg.dim && !emb) {
            st = hk_fail(HK_DIMENSION, "%s: record %llu has dimension %u but collection '%s' "
                         "has dimension %u", name, (unsigned long long)b.first_record + 1,
                         b.dim, hk_collection_name(c), cfg.dim);
            break;
        }
        size_t np = 0;
        for (size_t i = 0; i < b.n; i++) {
            if (emb && !known[i]) {
                stats->skipped++;
                continue;
            }
            hk_point *p = &pts[np++];
            memset(p, 0, sizeof *p);
            p->vector = emb ? evec + i * cfg.dim : cfg.dim ? b.vectors + i * b.dim : NULL;
            if (b.has_id) p->id = b.ids[i];
            else p->id = o->start_id + b.first_record + i;
            p->payload = b.payloads ? b.payloads[i] : NULL;
            p->text = b.texts ? b.texts[i] : NULL;
        }
        if (np && (st = hk_upsert(c, pts, np, NULL))) {
            hk_fail_prefix(st, "%s: records %llu to %llu", name,
                           (unsigned long long)b.first_record + 1,
                           (unsigned long long)(b.first_record + b.n));
            break;
        }
        stats->points += np;
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
    hk_free(evec);
    hk_free(known);
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
