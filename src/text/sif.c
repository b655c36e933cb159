/*
 * sif.c — opens an HKEM table (sif.h) and embeds text with it.
 *
 * Opening maps the file read-only and checks it entirely before use: length against the
 * header, CRC32C of every byte (a whole `hektor embed` command, opening the 69 MB GloVe
 * table included, takes 30 to 60 ms), the sections' internal order (offsets ascending,
 * words strictly sorted, weights in (0, 1], a unit or zero component). A table that passes cannot send a lookup out of bounds.
 *
 * Embedding a text: the words come from the library's analyzer with case folding and
 * NFKC but without stemming or stop words (GloVe's words are unstemmed lowercase, and SIF
 * weights already shrink function words, which is its point). Each word found in the
 * table adds weight(w) * v(w); the sum is divided by the number of words found, the
 * common component c is removed (v - (v . c) c), and the result is scaled to unit length.
 * Unknown words are skipped: with 340K words they are mostly typos, numbers with units
 * and symbols.
 */
#include "sif.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer.h"
#include "embedder.h"

typedef struct sif_table {
    const uint8_t *map;
    size_t len;
    uint32_t dim, words;
    const float *component;
    int has_component;
    const float *weights;
    const uint32_t *offsets;
    const uint16_t *vectors;
    const char *strings;
    txt_analyzer *an;
    char source[SIF_SOURCE_MAX + 1];
} sif_table;

static uint64_t align8(uint64_t x) { return (x + 7) & ~(uint64_t)7; }

void sif_layout_of(uint32_t dim, uint32_t words, uint32_t strings_len, sif_layout *l) {
    l->component = SIF_HEADER;
    l->weights = align8(l->component + 4ull * dim);
    l->offsets = align8(l->weights + 4ull * words);
    l->vectors = align8(l->offsets + 4ull * ((uint64_t)words + 1));
    l->strings = align8(l->vectors + 2ull * words * dim);
    l->crc = (l->strings + strings_len + 3) & ~(uint64_t)3;
    l->file_bytes = l->crc + 4;
}

static int word_cmp(const sif_table *t, uint32_t i, const char *w, size_t wl) {
    const char *s = t->strings + t->offsets[i];
    size_t sl = t->offsets[i + 1] - t->offsets[i];
    int c = memcmp(s, w, sl < wl ? sl : wl);
    if (c) return c;
    return sl < wl ? -1 : sl > wl;
}

static int64_t lookup(const sif_table *t, const char *w, size_t wl) {
    uint32_t lo = 0, hi = t->words;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = word_cmp(t, mid, w, wl);
        if (!c) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static hk_status embed_one(sif_table *t, const char *text, size_t len, float *out,
                           uint32_t *known, double *acc) {
    txt_terms terms;
    hk_status st = txt_analyze(t->an, text, len, &terms);
    if (st) return st;
    uint32_t dim = t->dim, found = 0;
    memset(acc, 0, dim * sizeof *acc);
    for (size_t i = 0; i < terms.n; i++) {
        int64_t w = lookup(t, terms.terms[i], strlen(terms.terms[i]));
        if (w < 0) continue;
        found++;
        double wt = t->weights[w];
        const uint16_t *v = t->vectors + (size_t)w * dim;
        for (uint32_t d = 0; d < dim; d++) acc[d] += wt * sif_f16_to_f32(v[d]);
    }
    txt_terms_free(&terms);
    double norm = 0;
    if (found) {
        if (t->has_component) {
            double dot = 0;
            for (uint32_t d = 0; d < dim; d++) dot += acc[d] * t->component[d];
            for (uint32_t d = 0; d < dim; d++) acc[d] -= dot * t->component[d];
        }
        /* The division by the word count cancels in the normalization below. */
        for (uint32_t d = 0; d < dim; d++) norm += acc[d] * acc[d];
        norm = sqrt(norm);
    }
    if (norm > 0 && isfinite(norm))
        for (uint32_t d = 0; d < dim; d++) out[d] = (float)(acc[d] / norm);
    else {
        memset(out, 0, dim * sizeof *out);
        found = 0;
    }
    if (known) *known = found;
    return HK_OK;
}

static hk_status sif_embed(void *impl, const char *const *texts, const size_t *lens, size_t n,
                           float *out, uint32_t *known) {
    sif_table *t = impl;
    double *acc = hk_malloc(t->dim * sizeof *acc);
    if (!acc) return hk_fail(HK_NOMEM, "out of memory embedding text");
    hk_status st = HK_OK;
    for (size_t i = 0; i < n && !st; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        st = embed_one(t, texts[i], len, out + i * t->dim, known ? known + i : NULL, acc);
        if (st) hk_fail_prefix(st, "text %zu", i);
    }
    hk_free(acc);
    return st;
}

static void sif_close(void *impl) {
    sif_table *t = impl;
    if (!t) return;
    if (t->map) munmap((void *)t->map, t->len);
    txt_analyzer_free(t->an);
    hk_free(t);
}

static const emb_vtable sif_vt = {sif_embed, sif_close};

/* Every check of the mapped bytes; the message names the file. */
static hk_status sif_check(const char *path, sif_table *t, hk_embedder_info *info) {
    const uint8_t *m = t->map;
    size_t len = t->len;
    const char *fix = "run scripts/setup.sh to convert it again";
    if (len < SIF_HEADER + 4)
        return hk_fail(HK_CORRUPT, "embedding table '%s' is %zu bytes, shorter than its "
                       "header: the file is truncated (%s)", path, len, fix);
    if (memcmp(m, SIF_MAGIC, 4))
        return hk_fail(HK_CORRUPT, "'%s' is not an HKEM embedding table (bad magic)", path);
    uint32_t version = hk_load_u32(m + 4);
    if (version != SIF_VERSION)
        return hk_fail(HK_CORRUPT, "embedding table '%s' has format version %u; this build "
                       "reads version %u (%s)", path, version, SIF_VERSION, fix);
    uint64_t file_bytes = hk_load_u64(m + 40);
    if (file_bytes != len)
        return hk_fail(HK_CORRUPT, "embedding table '%s' is %zu bytes but its header says "
                       "%llu: the file is truncated or has bytes appended (%s)", path, len,
                       (unsigned long long)file_bytes, fix);
    uint32_t stored = hk_load_u32(m + len - 4), crc = hk_crc32c(0, m, len - 4);
    if (stored != crc)
        return hk_fail(HK_CORRUPT, "embedding table '%s' fails its checksum (CRC32C stored "
                       "%08x, computed %08x): the file is damaged (%s)", path, stored, crc, fix);
    uint32_t dim = hk_load_u32(m + 8), words = hk_load_u32(m + 12), vtype = hk_load_u32(m + 16);
    uint32_t strings_len = hk_load_u32(m + 36);
    if (dim == 0 || dim > HK_MAX_DIM || words == 0 || vtype != SIF_VEC_F16)
        return hk_fail(HK_CORRUPT, "embedding table '%s': header holds dimension %u, %u words, "
                       "vector type %u (expected 1..%u, at least 1, 1 = binary16)", path, dim,
                       words, vtype, HK_MAX_DIM);
    sif_layout l;
    sif_layout_of(dim, words, strings_len, &l);
    if (l.file_bytes != len)
        return hk_fail(HK_CORRUPT, "embedding table '%s': %u words of dimension %u and %u bytes "
                       "of strings need %llu bytes, the file has %zu", path, words, dim,
                       strings_len, (unsigned long long)l.file_bytes, len);
    t->dim = dim;
    t->words = words;
    t->component = (const float *)(m + l.component);
    t->weights = (const float *)(m + l.weights);
    t->offsets = (const uint32_t *)(m + l.offsets);
    t->vectors = (const uint16_t *)(m + l.vectors);
    t->strings = (const char *)(m + l.strings);
    double cn = 0;
    for (uint32_t d = 0; d < dim; d++) {
        if (!isfinite(t->component[d]))
            return hk_fail(HK_CORRUPT, "embedding table '%s': component %u is not finite", path, d);
        cn += (double)t->component[d] * t->component[d];
    }
    if (cn != 0 && fabs(cn - 1) > 1e-3)
        return hk_fail(HK_CORRUPT, "embedding table '%s': the common component has length %g, "
                       "not 1 (or 0)", path, sqrt(cn));
    t->has_component = cn != 0;
    if (t->offsets[0] != 0 || t->offsets[words] != strings_len)
        return hk_fail(HK_CORRUPT, "embedding table '%s': word offsets do not span the strings",
                       path);
    for (uint32_t i = 0; i < words; i++) {
        float w = t->weights[i];
        if (!(w > 0 && w <= 1))
            return hk_fail(HK_CORRUPT, "embedding table '%s': word %u has weight %g, outside "
                           "(0, 1]", path, i, (double)w);
        if (t->offsets[i + 1] <= t->offsets[i] || t->offsets[i + 1] > strings_len)
            return hk_fail(HK_CORRUPT, "embedding table '%s': word %u is empty or its offsets "
                           "go backwards or past the strings", path, i);
        if (i && word_cmp(t, i - 1, t->strings + t->offsets[i],
                          t->offsets[i + 1] - t->offsets[i]) >= 0)
            return hk_fail(HK_CORRUPT, "embedding table '%s': words %u and %u are not in "
                           "strictly ascending order", path, i - 1, i);
    }
    memcpy(t->source, m + 48, SIF_SOURCE_MAX);
    t->source[SIF_SOURCE_MAX] = 0;
    float a, zipf;
    memcpy(&a, m + 24, 4);
    memcpy(&zipf, m + 28, 4);
    memset(info, 0, sizeof *info);
    info->kind = "sif";
    info->source = t->source;
    info->format_version = version;
    info->dim = dim;
    info->words = words;
    info->source_words = hk_load_u32(m + 20);
    info->sif_a = a;
    info->component_words = t->has_component ? hk_load_u32(m + 32) : 0;
    info->file_bytes = len;
    return HK_OK;
}

hk_status sif_open(const char *path, hk_embedder **out) {
    sif_table *t = hk_calloc(1, sizeof *t);
    hk_embedder *e = hk_calloc(1, sizeof *e);
    char *p = hk_malloc(strlen(path) + 1);
    hk_status st = HK_OK;
    if (!t || !e || !p) st = hk_fail(HK_NOMEM, "out of memory opening '%s'", path);
    int fd = -1;
    if (!st && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        st = hk_fail(HK_IO, "cannot open embedding table '%s': %s", path, strerror(errno));
    struct stat sb;
    if (!st && fstat(fd, &sb) != 0)
        st = hk_fail(HK_IO, "cannot stat embedding table '%s': %s", path, strerror(errno));
    if (!st && sb.st_size < (off_t)(SIF_HEADER + 4))
        st = hk_fail(HK_CORRUPT, "embedding table '%s' is %lld bytes, shorter than its header: "
                     "the file is truncated (run scripts/setup.sh to convert it again)", path,
                     (long long)sb.st_size);
    if (!st) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) st = hk_fail(HK_IO, "cannot map embedding table '%s': %s", path, strerror(errno));
        else {
            t->map = m;
            t->len = (size_t)sb.st_size;
        }
    }
    if (fd >= 0) close(fd);
    if (!st) {
        strcpy(p, path);
        st = sif_check(path, t, &e->info);
    }
    if (!st) st = txt_analyzer_new(0, HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS, &t->an);
    if (st) {
        sif_close(t);
        hk_free(e);
        hk_free(p);
        return st;
    }
    e->vt = &sif_vt;
    e->impl = t;
    e->path = p;
    e->info.path = p;
    *out = e;
    return HK_OK;
}
