/*
 * reader.c — opening readers, the buffered byte source, the batch they fill, dispatch to
 * the formats and progress.
 *
 * Decisions:
 *  - One read buffer (256 KiB) refilled with fread; a memory reader points the buffer at
 *    the caller's bytes and never refills, so every format has one code path for both.
 *  - Every format streams, so "-" (stdin) works for all of them; total is then 0 unless
 *    stdin is a regular file.
 *  - A reader that failed stays failed: later reader_next calls repeat the first message,
 *    so a caller that loops until n == 0 cannot skip past a bad record by accident.
 *  - A failed reader_next hands back an empty batch, never a partial one.
 *  - Numbering: vectors, rows and components count from 0 (the row number is the id an
 *    importer assigns); lines count from 1, as editors show them.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "reader_int.h"

#define RD_BUF_SIZE (256u << 10)

static const struct {
    const char *name;
    reader_format fmt;
} rd_formats[] = {
    {"fvecs", RF_FVECS}, {"bvecs", RF_BVECS}, {"npy", RF_NPY},
    {"jsonl", RF_JSONL}, {"ndjson", RF_JSONL}, {"csv", RF_CSV},
};

hk_status reader_format_parse(const char *name, reader_format *out) {
    for (size_t i = 0; name && i < sizeof rd_formats / sizeof rd_formats[0]; i++) {
        if (strcasecmp(name, rd_formats[i].name) == 0) {
            *out = rd_formats[i].fmt;
            return HK_OK;
        }
    }
    return hk_fail(HK_INVALID, "unknown format '%s' (expected fvecs, bvecs, npy, jsonl or csv)",
                   name ? name : "");
}

hk_status reader_format_from_path(const char *path, reader_format *out) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    if (strcmp(path, "-") == 0)
        return hk_fail(HK_INVALID, "cannot tell the format of standard input: name the format");
    if (!dot || dot == base)
        return hk_fail(HK_INVALID, "%s: no file extension to tell the format by "
                                   "(.fvecs, .bvecs, .npy, .jsonl, .ndjson or .csv)", path);
    if (reader_format_parse(dot + 1, out) == HK_OK) return HK_OK;
    return hk_fail(HK_INVALID, "%s: unknown file extension '%s' "
                               "(expected .fvecs, .bvecs, .npy, .jsonl, .ndjson or .csv)",
                   path, dot);
}

/* ---- messages ---- */

hk_status rd_fail(const reader *r, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hk_fail(HK_INVALID, "%s: %s", r->name, msg);
}

const char *rd_float_problem(double v) {
    if (isnan(v)) return "is NaN";
    if (isinf(v)) return "is infinite";
    if (fabs(v) > FLT_MAX) return "is out of float32 range";
    return NULL;
}

int rd_utf8_valid(const char *str, size_t n) {
    const uint8_t *s = (const uint8_t *)str, *end = s + n;
    while (s < end) {
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) len = 4, cp = c & 0x07, min = 0x10000;
        else return 0;
        if ((size_t)(end - s) < len) return 0;
        for (size_t i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        s += len;
    }
    return 1;
}

/* ---- byte source ---- */

hk_status rd_refill(reader *r) {
    r->base += r->blen;
    r->bpos = r->blen = 0;
    if (r->eof) return HK_OK;
    r->blen = fread(r->buf, 1, RD_BUF_SIZE, r->fp);
    if (r->blen < RD_BUF_SIZE) {
        if (ferror(r->fp)) {
            r->eof = r->io_failed = 1;
            return hk_fail(HK_IO, "%s: read failed at byte %" PRIu64 ": %s", r->name, r->base,
                           strerror(errno));
        }
        if (r->blen == 0) r->eof = 1;
    }
    return HK_OK;
}

hk_status rd_bytes(reader *r, size_t n, const uint8_t **p, size_t *got) {
    if (r->blen - r->bpos >= n) {
        *p = r->buf + r->bpos;
        r->bpos += n;
        *got = n;
        return HK_OK;
    }
    if (n > r->scratch_cap) {
        uint8_t *s = hk_realloc(r->scratch, n);
        if (!s) return hk_fail(HK_NOMEM, "%s: out of memory (%zu bytes)", r->name, n);
        r->scratch = s;
        r->scratch_cap = n;
    }
    size_t have = 0;
    while (have < n) {
        if (r->bpos == r->blen) {
            if (r->io_failed) return HK_IO;
            if (r->eof) break;
            hk_status st = rd_refill(r);
            if (st != HK_OK) return st;
            continue;
        }
        size_t k = r->blen - r->bpos;
        if (k > n - have) k = n - have;
        memcpy(r->scratch + have, r->buf + r->bpos, k);
        r->bpos += k;
        have += k;
    }
    *p = r->scratch;
    *got = have;
    return HK_OK;
}

hk_status rd_skip_bom(reader *r) {
    /* The first refill holds the whole file or at least 3 bytes, so a BOM is always
     * visible in the buffer here. */
    if (r->blen == 0 && !r->eof) {
        hk_status st = rd_refill(r);
        if (st != HK_OK) return st;
    }
    if (r->blen - r->bpos >= 3 && memcmp(r->buf + r->bpos, "\xEF\xBB\xBF", 3) == 0) r->bpos += 3;
    return HK_OK;
}

/* ---- batch ---- */

static hk_status rd_grow(reader *r, void **p, size_t elem, size_t count) {
    void *q = hk_realloc(*p, count * elem);
    if (!q) return hk_fail(HK_NOMEM, "%s: out of memory (batch of %zu records)", r->name, count);
    *p = q;
    return HK_OK;
}

hk_status rd_push(reader *r, float **slot) {
    size_t need = (r->n + 1) * (size_t)r->dim;
    if (need > r->vec_cap) {
        size_t cap = r->vec_cap ? r->vec_cap : 1024;
        while (cap < need) cap *= 2;
        hk_status st = rd_grow(r, (void **)&r->vec, sizeof(float), cap);
        if (st != HK_OK) return st;
        r->vec_cap = cap;
    }
    if (r->n == r->rec_cap) {
        size_t cap = r->rec_cap ? r->rec_cap * 2 : 64;
        hk_status st = rd_grow(r, (void **)&r->idv, sizeof(uint64_t), cap);
        if (st == HK_OK) st = rd_grow(r, (void **)&r->pay_off, sizeof(size_t), cap);
        if (st == HK_OK) st = rd_grow(r, (void **)&r->text_off, sizeof(size_t), cap);
        if (st == HK_OK) st = rd_grow(r, (void **)&r->pay_ptr, sizeof(char *), cap);
        if (st == HK_OK) st = rd_grow(r, (void **)&r->text_ptr, sizeof(char *), cap);
        if (st != HK_OK) return st;
        r->rec_cap = cap;
    }
    r->idv[r->n] = 0;
    r->pay_off[r->n] = RD_NONE;
    r->text_off[r->n] = RD_NONE;
    *slot = r->vec + r->n * (size_t)r->dim;
    r->n++;
    return HK_OK;
}

hk_status rd_put_str(reader *r, const char *s, size_t n, size_t *off) {
    *off = r->strs.len;
    hk_status st = hk_buf_append(&r->strs, s, n);
    if (st == HK_OK) st = hk_buf_putc(&r->strs, 0);
    return st;
}

hk_status rd_tmpv(reader *r, size_t n) {
    if (n <= r->tmpv_cap) return HK_OK;
    size_t cap = r->tmpv_cap ? r->tmpv_cap : 256;
    while (cap < n) cap *= 2;
    hk_status st = rd_grow(r, (void **)&r->tmpv, sizeof(float), cap);
    if (st == HK_OK) r->tmpv_cap = cap;
    return st;
}

/* ---- open / next / close ---- */

static hk_status rd_start(reader *r, const reader_options *opt) {
    r->no_vectors = opt && opt->no_vectors;
    if (r->no_vectors && r->fmt != RF_JSONL && r->fmt != RF_CSV)
        return hk_fail(HK_INVALID, "%s: a text-only collection imports jsonl or csv (this "
                       "format holds only vectors)", r->name);
    switch (r->fmt) {
    case RF_FVECS:
    case RF_BVECS: r->next = rd_vecs_next; return HK_OK;
    case RF_NPY: r->next = rd_npy_next; return rd_npy_open(r);
    case RF_JSONL: r->next = rd_jsonl_next; return rd_jsonl_open(r, opt);
    case RF_CSV: r->next = rd_csv_next; return rd_csv_open(r, opt);
    }
    return hk_fail(HK_INVALID, "%s: unknown reader format %d", r->name, (int)r->fmt);
}

static hk_status rd_new(const char *name, reader_format fmt, reader **out) {
    reader *r = hk_calloc(1, sizeof *r);
    if (!r) return hk_fail(HK_NOMEM, "out of memory");
    r->fmt = fmt;
    r->line = 1;
    r->csv_id = r->csv_vec = r->csv_text = -1;
    hk_buf_init(&r->strs);
    hk_buf_init(&r->jline);
    hk_buf_init(&r->csv_keys);
    hk_buf_init(&r->csv_rec);
    hk_arena_init(&r->arena);
    r->name = hk_strdup(name);
    if (!r->name) {
        hk_free(r);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    *out = r;
    return HK_OK;
}

hk_status reader_open(const char *path, reader_format fmt, const reader_options *opt,
                      reader **out) {
    *out = NULL;
    int is_stdin = strcmp(path, "-") == 0;
    reader *r;
    hk_status st = rd_new(is_stdin ? "<stdin>" : path, fmt, &r);
    if (st != HK_OK) return st;
    if (is_stdin) {
        r->fp = stdin;
    } else {
        r->fp = fopen(path, "rb");
        if (!r->fp) {
            int e = errno;
            reader_close(r);
            return hk_fail(e == ENOENT ? HK_NOT_FOUND : HK_IO, "%s: %s", path, strerror(e));
        }
        r->own_fp = 1;
    }
    struct stat sb;
    if (fstat(fileno(r->fp), &sb) == 0) {
        if (S_ISDIR(sb.st_mode)) {
            reader_close(r);
            return hk_fail(HK_INVALID, "%s: is a directory", path);
        }
        if (S_ISREG(sb.st_mode)) r->total = (uint64_t)sb.st_size;
    }
    r->buf = hk_malloc(RD_BUF_SIZE);
    if (!r->buf) {
        reader_close(r);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    st = rd_start(r, opt);
    if (st != HK_OK) {
        reader_close(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

hk_status reader_open_mem(const void *data, size_t len, reader_format fmt,
                          const reader_options *opt, const char *name, reader **out) {
    *out = NULL;
    reader *r;
    hk_status st = rd_new(name ? name : "<memory>", fmt, &r);
    if (st != HK_OK) return st;
    /* The buffer is only ever read; the cast lets file and memory readers share it. */
    r->buf = (uint8_t *)(uintptr_t)data;
    r->blen = data ? len : 0;
    r->eof = 1;
    r->total = r->blen;
    st = rd_start(r, opt);
    if (st != HK_OK) {
        reader_close(r);
        return st;
    }
    *out = r;
    return HK_OK;
}

hk_status reader_next(reader *r, size_t max, reader_batch *batch) {
    memset(batch, 0, sizeof *batch);
    if (r->failed != HK_OK) return hk_fail(r->failed, "%s", r->errmsg ? r->errmsg : "");
    if (max == 0) return hk_fail(HK_INVALID, "%s: batch size must be at least 1", r->name);
    r->n = 0;
    r->any_payload = r->any_text = 0;
    hk_buf_reset(&r->strs);
    hk_status st = r->next(r, max);
    if (st != HK_OK) {
        r->failed = st;
        hk_free(r->errmsg);
        r->errmsg = hk_strdup(hk_errmsg());
        r->n = 0;
        return st;
    }
    for (size_t i = 0; i < r->n; i++) {
        const char *s = (const char *)r->strs.data;
        r->pay_ptr[i] = r->pay_off[i] == RD_NONE ? NULL : s + r->pay_off[i];
        r->text_ptr[i] = r->text_off[i] == RD_NONE ? NULL : s + r->text_off[i];
    }
    batch->n = r->n;
    batch->dim = r->dim;
    batch->vectors = r->n ? r->vec : NULL;
    batch->has_id = r->n && r->ids == RD_IDS_YES;
    batch->ids = batch->has_id ? r->idv : NULL;
    batch->payloads = r->any_payload ? r->pay_ptr : NULL;
    batch->texts = r->any_text ? r->text_ptr : NULL;
    batch->first_record = r->record;
    r->record += r->n;
    return HK_OK;
}

void reader_progress(const reader *r, uint64_t *done, uint64_t *total) {
    *done = rd_offset(r);
    *total = r->total;
}

void reader_close(reader *r) {
    if (!r) return;
    if (r->fp) {
        if (r->own_fp) fclose(r->fp);
        hk_free(r->buf);
    }
    rd_text_free(r);
    hk_free(r->scratch);
    hk_free(r->tmpv);
    hk_free(r->vec);
    hk_free(r->idv);
    hk_free(r->pay_off);
    hk_free(r->text_off);
    hk_free(r->pay_ptr);
    hk_free(r->text_ptr);
    hk_buf_free(&r->strs);
    hk_free(r->errmsg);
    hk_free(r->name);
    hk_free(r);
}
