/*
 * reader_vecs.c — the binary formats: fvecs, bvecs and NumPy .npy.
 *
 * Decisions:
 *  - Records are read one at a time through rd_bytes, which hands out a pointer into the
 *    read buffer (or a copy when a record straddles two refills), and converted straight
 *    into the batch. Nothing is ever mapped or read whole.
 *  - Little endian on disk, decoded with byte loads, so the host's order and alignment
 *    do not matter.
 *  - Dimensions must be 1..HK_MAX_DIM: a hostile dimension field can neither make us
 *    allocate gigabytes nor hand a collection an impossible vector.
 *  - Messages name the vector (0-based) and the byte offset where its record starts.
 *  - .npy headers are parsed as the small Python literal NumPy writes, strictly: exactly
 *    the keys descr, fortran_order and shape; anything else is an error rather than a
 *    guess. When the file size is known a short or overlong data section is reported at
 *    open, before any batch is handed out, so an importer does not load half a file.
 */
#include <inttypes.h>
#include <string.h>

#include "reader_int.h"

/* ---- fvecs / bvecs ---- */

static hk_status vecs_truncated(reader *r, uint64_t idx, uint64_t at, uint64_t expect,
                                uint64_t remain) {
    return rd_fail(r, "truncated vector %" PRIu64 " at byte %" PRIu64
                      " (expected %" PRIu64 " bytes, %" PRIu64 " remain)",
                   idx, at, expect, remain);
}

hk_status rd_vecs_next(reader *r, size_t max) {
    size_t es = r->fmt == RF_FVECS ? 4 : 1;
    while (r->n < max) {
        uint64_t idx = r->record + r->n, at = rd_offset(r);
        const uint8_t *p;
        size_t got;
        hk_status st = rd_bytes(r, 4, &p, &got);
        if (st != HK_OK) return st;
        if (got == 0) break;
        if (got < 4) return vecs_truncated(r, idx, at, 4 + (uint64_t)r->dim * es, got);
        int32_t d = (int32_t)hk_load_u32(p);
        if (d == 0)
            return rd_fail(r, "vector %" PRIu64 " at byte %" PRIu64 ": empty vector (dimension 0)",
                           idx, at);
        if (d < 0 || d > HK_MAX_DIM)
            return rd_fail(r, "vector %" PRIu64 " at byte %" PRIu64
                              ": dimension %" PRId32 " is out of range 1..%d",
                           idx, at, d, HK_MAX_DIM);
        if (r->dim && (uint32_t)d != r->dim)
            return rd_fail(r, "vector %" PRIu64 " at byte %" PRIu64
                              ": dimension %" PRId32 " differs from %u",
                           idx, at, d, r->dim);
        size_t body = (size_t)d * es;
        st = rd_bytes(r, body, &p, &got);
        if (st != HK_OK) return st;
        if (got < body) return vecs_truncated(r, idx, at, 4 + body, 4 + got);
        r->dim = (uint32_t)d;
        float *v;
        st = rd_push(r, &v);
        if (st != HK_OK) return st;
        if (es == 1) {
            for (size_t j = 0; j < body; j++) v[j] = p[j];
            continue;
        }
        for (size_t j = 0; j < (size_t)d; j++) {
            uint32_t u = hk_load_u32(p + 4 * j);
            memcpy(&v[j], &u, 4);
            const char *bad = rd_float_problem(v[j]);
            if (bad)
                return rd_fail(r, "vector %" PRIu64 " at byte %" PRIu64 ": component %zu %s", idx,
                               at, j, bad);
        }
    }
    return HK_OK;
}

/* ---- npy ---- */

enum { NPY_F4, NPY_F8, NPY_U1, NPY_I1, NPY_I4, NPY_I8 };

static const struct {
    const char *descr;
    size_t size;
} npy_types[] = {
    [NPY_F4] = {"<f4", 4}, [NPY_F8] = {"<f8", 8}, [NPY_U1] = {"|u1", 1},
    [NPY_I1] = {"|i1", 1}, [NPY_I4] = {"<i4", 4}, [NPY_I8] = {"<i8", 8},
};

/* A cursor over the header text, which is a Python dict literal. */
typedef struct npy_lex {
    const uint8_t *p, *end;
} npy_lex;

static void nl_ws(npy_lex *x) {
    while (x->p < x->end && (*x->p == ' ' || *x->p == '\t' || *x->p == '\n' || *x->p == '\r'))
        x->p++;
}

static int nl_eat(npy_lex *x, char c) {
    nl_ws(x);
    if (x->p < x->end && *x->p == (uint8_t)c) {
        x->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes (NumPy never writes any in these keys and values). */
static int nl_string(npy_lex *x, const char **s, int *n) {
    nl_ws(x);
    if (x->p == x->end || (*x->p != '\'' && *x->p != '"')) return 0;
    uint8_t q = *x->p++;
    const uint8_t *start = x->p;
    while (x->p < x->end && *x->p != q) {
        if (*x->p == '\\' || *x->p < 0x20 || x->p - start > 64) return 0;
        x->p++;
    }
    if (x->p == x->end) return 0;
    *s = (const char *)start;
    *n = (int)(x->p - start);
    x->p++;
    return 1;
}

static int nl_word(npy_lex *x, const char *w) {
    nl_ws(x);
    size_t n = strlen(w);
    if ((size_t)(x->end - x->p) < n || memcmp(x->p, w, n) != 0) return 0;
    if (x->p + n < x->end) {
        uint8_t c = x->p[n];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_')
            return 0;
    }
    x->p += n;
    return 1;
}

/* A non-negative integer, with the 'L' suffix Python 2 wrote for longs. */
static int nl_uint(npy_lex *x, uint64_t *v) {
    nl_ws(x);
    if (x->p == x->end || *x->p < '0' || *x->p > '9') return 0;
    uint64_t n = 0;
    while (x->p < x->end && *x->p >= '0' && *x->p <= '9') {
        unsigned dgt = (unsigned)(*x->p++ - '0');
        if (n > (UINT64_MAX - dgt) / 10) return 0;
        n = n * 10 + dgt;
    }
    if (x->p < x->end && *x->p == 'L') x->p++;
    *v = n;
    return 1;
}

/* "(rows, cols)" with an optional trailing comma; *ndim counts every entry. */
static hk_status npy_shape(reader *r, npy_lex *x, uint64_t *rows, uint64_t *cols) {
    nl_ws(x);
    const uint8_t *start = x->p;
    if (!nl_eat(x, '(')) return rd_fail(r, "'shape' must be a tuple of integers");
    int ndim = 0;
    uint64_t dims[2] = {0, 0};
    while (!nl_eat(x, ')')) {
        uint64_t v;
        if (!nl_uint(x, &v)) return rd_fail(r, "'shape' must be a tuple of integers");
        if (ndim < 2) dims[ndim] = v;
        if (ndim < 64) ndim++;
        if (!nl_eat(x, ',')) {
            if (!nl_eat(x, ')')) return rd_fail(r, "'shape' must be a tuple of integers");
            break;
        }
    }
    if (ndim != 2)
        return rd_fail(r, "shape %.*s is not 2-D (expected (rows, dimension))",
                       (int)(x->p - start), (const char *)start);
    *rows = dims[0];
    *cols = dims[1];
    return HK_OK;
}

static hk_status npy_truncated(reader *r, uint64_t row, uint64_t remain) {
    uint64_t rowbytes = (uint64_t)r->dim * r->npy_esize;
    return rd_fail(r, "truncated row %" PRIu64 " at byte %" PRIu64
                      " (expected %" PRIu64 " bytes, %" PRIu64 " remain)",
                   row, r->npy_data_start + row * rowbytes, rowbytes, remain);
}

static hk_status npy_header(reader *r, const uint8_t *h, size_t len) {
    npy_lex x = {h, h + len};
    int have_descr = 0, have_order = 0, have_shape = 0;
    uint64_t rows = 0, cols = 0;
    if (!nl_eat(&x, '{')) return rd_fail(r, "header is not a dict");
    while (!nl_eat(&x, '}')) {
        const char *key;
        int klen;
        if (!nl_string(&x, &key, &klen))
            return rd_fail(r, "malformed header at byte %zu: expected a quoted key",
                           (size_t)(x.p - h));
        if (!nl_eat(&x, ':'))
            return rd_fail(r, "malformed header at byte %zu: expected ':'", (size_t)(x.p - h));
        int *seen;
        if (klen == 5 && memcmp(key, "descr", 5) == 0) {
            seen = &have_descr;
            const char *d;
            int dlen;
            if (!nl_string(&x, &d, &dlen))
                return rd_fail(r, "unsupported dtype: 'descr' is not a simple type string "
                                  "(structured arrays are not supported)");
            r->npy_type = -1;
            for (int i = 0; i < (int)(sizeof npy_types / sizeof npy_types[0]); i++)
                if ((size_t)dlen == strlen(npy_types[i].descr) &&
                    memcmp(d, npy_types[i].descr, (size_t)dlen) == 0)
                    r->npy_type = i;
            if (r->npy_type < 0)
                return rd_fail(r, "unsupported dtype '%.*s' (supported: <f4, <f8, |u1, |i1, "
                                  "<i4, <i8)", dlen, d);
            r->npy_esize = npy_types[r->npy_type].size;
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
            seen = &have_order;
            if (nl_word(&x, "True"))
                return rd_fail(r, "fortran_order is True: Fortran-ordered arrays are not "
                                  "supported (save np.ascontiguousarray(a) instead)");
            if (!nl_word(&x, "False")) return rd_fail(r, "'fortran_order' must be True or False");
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
            seen = &have_shape;
            hk_status st = npy_shape(r, &x, &rows, &cols);
            if (st != HK_OK) return st;
        } else {
            return rd_fail(r, "unknown header key '%.*s' (expected descr, fortran_order, shape)",
                           klen, key);
        }
        if (*seen) return rd_fail(r, "header key '%.*s' appears twice", klen, key);
        *seen = 1;
        if (!nl_eat(&x, ',')) {
            if (!nl_eat(&x, '}'))
                return rd_fail(r, "malformed header at byte %zu: expected ',' or '}'",
                               (size_t)(x.p - h));
            break;
        }
    }
    nl_ws(&x);
    if (x.p != x.end) return rd_fail(r, "unexpected text after the header dict");
    if (!have_descr) return rd_fail(r, "header lacks 'descr'");
    if (!have_order) return rd_fail(r, "header lacks 'fortran_order'");
    if (!have_shape) return rd_fail(r, "header lacks 'shape'");
    if (cols == 0) return rd_fail(r, "empty vectors (shape (%" PRIu64 ", 0))", rows);
    if (cols > HK_MAX_DIM)
        return rd_fail(r, "dimension %" PRIu64 " is out of range 1..%d", cols, HK_MAX_DIM);
    if (rows > UINT64_MAX / (cols * r->npy_esize))
        return rd_fail(r, "shape (%" PRIu64 ", %" PRIu64 ") is too large", rows, cols);
    r->dim = (uint32_t)cols;
    r->npy_rows = rows;
    return HK_OK;
}

hk_status rd_npy_open(reader *r) {
    const uint8_t *p;
    size_t got;
    hk_status st = rd_bytes(r, 8, &p, &got);
    if (st != HK_OK) return st;
    if (got < 8 || memcmp(p, "\x93NUMPY", 6) != 0)
        return rd_fail(r, "not a NumPy .npy file (no \\x93NUMPY magic)");
    unsigned major = p[6], minor = p[7];
    if (major < 1 || major > 3 || minor != 0)
        return rd_fail(r, "unsupported .npy format version %u.%u (expected 1.0, 2.0 or 3.0)",
                       major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    st = rd_bytes(r, lenbytes, &p, &got);
    if (st != HK_OK) return st;
    if (got < lenbytes) return rd_fail(r, "truncated header length");
    uint64_t hlen = lenbytes == 2 ? (uint64_t)(p[0] | p[1] << 8) : hk_load_u32(p);
    if (hlen > RD_MAX_NPY_HEADER)
        return rd_fail(r, "header of %" PRIu64 " bytes is longer than %d", hlen,
                       RD_MAX_NPY_HEADER);
    st = rd_bytes(r, (size_t)hlen, &p, &got);
    if (st != HK_OK) return st;
    if (got < hlen)
        return rd_fail(r, "truncated header (expected %" PRIu64 " bytes, %zu remain)", hlen, got);
    st = npy_header(r, p, (size_t)hlen);
    if (st != HK_OK) return st;
    r->npy_data_start = rd_offset(r);
    if (!r->total || r->total < r->npy_data_start) return HK_OK;
    uint64_t rowbytes = (uint64_t)r->dim * r->npy_esize;
    uint64_t have = r->total - r->npy_data_start;
    if (have / rowbytes < r->npy_rows) {
        uint64_t row = have / rowbytes;
        return npy_truncated(r, row, have - row * rowbytes);
    }
    if (have > r->npy_rows * rowbytes)
        return rd_fail(
            r, "%" PRIu64 " unexpected bytes after the last row (data ends at byte %" PRIu64 ")",
            have - r->npy_rows * rowbytes, r->npy_data_start + r->npy_rows * rowbytes);
    return HK_OK;
}

static hk_status npy_bad(reader *r, uint64_t row, size_t j, const char *bad) {
    uint64_t at = r->npy_data_start + row * (uint64_t)r->dim * r->npy_esize;
    return rd_fail(r, "row %" PRIu64 " at byte %" PRIu64 ": component %zu %s", row, at, j, bad);
}

hk_status rd_npy_next(reader *r, size_t max) {
    size_t dim = r->dim, rowbytes = dim * r->npy_esize;
    while (r->n < max && r->record + r->n < r->npy_rows) {
        uint64_t row = r->record + r->n;
        const uint8_t *p;
        size_t got;
        hk_status st = rd_bytes(r, rowbytes, &p, &got);
        if (st != HK_OK) return st;
        if (got < rowbytes) return npy_truncated(r, row, got);
        float *v;
        st = rd_push(r, &v);
        if (st != HK_OK) return st;
        switch (r->npy_type) {
        case NPY_F4:
            for (size_t j = 0; j < dim; j++) {
                uint32_t u = hk_load_u32(p + 4 * j);
                memcpy(&v[j], &u, 4);
                const char *bad = rd_float_problem(v[j]);
                if (bad) return npy_bad(r, row, j, bad);
            }
            break;
        case NPY_F8:
            for (size_t j = 0; j < dim; j++) {
                uint64_t u = hk_load_u64(p + 8 * j);
                double d;
                memcpy(&d, &u, 8);
                const char *bad = rd_float_problem(d);
                if (bad) return npy_bad(r, row, j, bad);
                v[j] = (float)d;
            }
            break;
        case NPY_U1:
            for (size_t j = 0; j < dim; j++) v[j] = p[j];
            break;
        case NPY_I1:
            for (size_t j = 0; j < dim; j++) v[j] = (int8_t)p[j];
            break;
        case NPY_I4:
            for (size_t j = 0; j < dim; j++) v[j] = (float)(int32_t)hk_load_u32(p + 4 * j);
            break;
        case NPY_I8:
            for (size_t j = 0; j < dim; j++) v[j] = (float)(int64_t)hk_load_u64(p + 8 * j);
            break;
        }
    }
    if (r->n < max && r->record + r->n == r->npy_rows) {
        int c = rd_getc(r);
        if (c == RD_ERR) return HK_IO;
        if (c != RD_EOF)
            return rd_fail(r, "unexpected bytes after the last row (data ends at byte %" PRIu64 ")",
                           rd_offset(r) - 1);
    }
    return HK_OK;
}
