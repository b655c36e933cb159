/*
 * bm25.c — see bm25.h. Layout: terms live in one array, found through an open-addressing
 * table of term numbers (FNV-1a over the bytes); names are back to back in one buffer.
 * Per document: its slot and its length. Per slot: its docno.
 */
#include "bm25.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct bm25_block {
    uint32_t last;   /* last docno in the block */
    uint32_t off;    /* byte offset of the block in the term's bytes */
    uint32_t max_tf;
    uint32_t min_dl;
} bm25_block;

typedef struct bm25_term {
    uint32_t name_off, name_len;
    uint32_t df;     /* live documents holding the term */
    uint32_t npost;  /* postings, tombstoned included */
    uint32_t max_tf, min_dl;
    bm25_block *blocks;
    uint32_t nblocks, capblocks;
    uint8_t *bytes;
    uint32_t nbytes, capbytes;
    uint32_t *tail;  /* ntail pairs (docno, tf), room for captail */
    uint32_t ntail, captail;
    uint32_t tail_max_tf, tail_min_dl;
} bm25_term;

struct bm25_index {
    bm25_params p;
    bm25_term *terms;
    uint32_t nterms, capterms;
    uint32_t *table; /* term number + 1, 0 = empty */
    uint32_t tcap;   /* power of two */
    hk_buf names;
    uint32_t *doc_slot, *doc_len; /* per docno */
    uint32_t ndocnos, capdocs;
    uint32_t *slot_doc;            /* per slot */
    uint32_t nslotmap;
    uint64_t ndocs, tokens, postings;
    char *synonyms; /* the synonym list's text, or NULL */
    size_t synonyms_len;
};

/* ---- documents ---- */

static int cmp_strp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

hk_status bm25_doc_from_terms(txt_terms *t, bm25_doc *out) {
    memset(out, 0, sizeof *out);
    if (t->n > UINT32_MAX) {
        txt_terms_free(t);
        return hk_fail(HK_INVALID, "text has too many terms");
    }
    out->block = t->block;
    out->terms = t->terms;
    out->len = (uint32_t)t->n;
    t->block = NULL;
    t->terms = NULL;
    size_t n = t->n;
    t->n = 0;
    if (!n) return HK_OK;
    qsort(out->terms, n, sizeof *out->terms, cmp_strp);
    if (!(out->tf = hk_malloc(n * sizeof *out->tf))) {
        bm25_doc_free(out);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(out->terms[m - 1], out->terms[i])) {
            out->tf[m - 1]++;
            continue;
        }
        out->terms[m] = out->terms[i];
        out->tf[m++] = 1;
    }
    out->nterms = m;
    return HK_OK;
}

hk_status bm25_doc_weighted(const char *const *terms, const double *w, size_t n, bm25_doc *out) {
    memset(out, 0, sizeof *out);
    if (n > UINT32_MAX) return hk_fail(HK_INVALID, "query has too many terms");
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += strlen(terms[i]) + 1;
    out->block = hk_malloc(bytes ? bytes : 1);
    out->terms = hk_malloc((n ? n : 1) * sizeof *out->terms);
    out->tf = hk_malloc((n ? n : 1) * sizeof *out->tf);
    out->qw = hk_malloc((n ? n : 1) * sizeof *out->qw);
    if (!out->block || !out->terms || !out->tf || !out->qw) {
        bm25_doc_free(out);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(terms[i]) + 1;
        memcpy(out->block + at, terms[i], l);
        out->terms[i] = out->block + at;
        out->tf[i] = 1;
        out->qw[i] = w[i];
        at += l;
    }
    out->nterms = (uint32_t)n;
    out->len = (uint32_t)n;
    return HK_OK;
}

void bm25_doc_free(bm25_doc *d) {
    if (!d) return;
    hk_free(d->qw);
    hk_free(d->terms);
    hk_free(d->tf);
    hk_free(d->block);
    memset(d, 0, sizeof *d);
}

/* ---- life cycle and dictionary ---- */

hk_status bm25_new(const bm25_params *p, bm25_index **out) {
    bm25_index *ix = hk_calloc(1, sizeof *ix);
    if (!ix) return hk_fail(HK_NOMEM, "out of memory");
    ix->p = *p;
    hk_buf_init(&ix->names);
    *out = ix;
    return HK_OK;
}

static void term_free(bm25_term *t) {
    hk_free(t->blocks);
    hk_free(t->bytes);
    hk_free(t->tail);
}

void bm25_free(bm25_index *ix) {
    if (!ix) return;
    for (uint32_t i = 0; i < ix->nterms; i++) term_free(&ix->terms[i]);
    hk_free(ix->terms);
    hk_free(ix->table);
    hk_buf_free(&ix->names);
    hk_free(ix->doc_slot);
    hk_free(ix->doc_len);
    hk_free(ix->slot_doc);
    hk_free(ix->synonyms);
    hk_free(ix);
}

void bm25_set_synonyms(bm25_index *ix, char *text, size_t len) {
    hk_free(ix->synonyms);
    ix->synonyms = text;
    ix->synonyms_len = text ? len : 0;
}

const char *bm25_synonyms(const bm25_index *ix, size_t *len) {
    if (len) *len = ix->synonyms_len;
    return ix->synonyms;
}

uint64_t bm25_ndocs(const bm25_index *ix) { return ix->ndocs; }

const bm25_params *bm25_get_params(const bm25_index *ix) { return &ix->p; }

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static const char *term_name(const bm25_index *ix, const bm25_term *t) {
    return (const char *)ix->names.data + t->name_off;
}

/* Term number of name, or BM25_NONE. */
static uint32_t find_term(const bm25_index *ix, const char *name, size_t n) {
    if (!ix->tcap) return BM25_NONE;
    for (uint32_t h = hash_bytes(name, n) & (ix->tcap - 1);; h = (h + 1) & (ix->tcap - 1)) {
        uint32_t e = ix->table[h];
        if (!e) return BM25_NONE;
        const bm25_term *t = &ix->terms[e - 1];
        if (t->name_len == n && !memcmp(term_name(ix, t), name, n)) return e - 1;
    }
}

static hk_status grow_table(bm25_index *ix) {
    uint32_t cap = ix->tcap ? ix->tcap * 2 : 1024;
    uint32_t *tab = hk_calloc(cap, sizeof *tab);
    if (!tab) return hk_fail(HK_NOMEM, "out of memory growing the term dictionary");
    for (uint32_t i = 0; i < ix->nterms; i++) {
        const bm25_term *t = &ix->terms[i];
        uint32_t h = hash_bytes(term_name(ix, t), t->name_len) & (cap - 1);
        while (tab[h]) h = (h + 1) & (cap - 1);
        tab[h] = i + 1;
    }
    hk_free(ix->table);
    ix->table = tab;
    ix->tcap = cap;
    return HK_OK;
}

/* Term number of name, added when new. */
static hk_status intern_term(bm25_index *ix, const char *name, size_t n, uint32_t *out) {
    uint32_t id = find_term(ix, name, n);
    if (id != BM25_NONE) {
        *out = id;
        return HK_OK;
    }
    if (ix->nterms >= UINT32_MAX / 4 || ix->names.len + n + 1 > UINT32_MAX)
        return hk_fail(HK_INVALID, "the term dictionary is full");
    hk_status st;
    if ((uint64_t)(ix->nterms + 1) * 2 > ix->tcap && (st = grow_table(ix))) return st;
    if (ix->nterms == ix->capterms) {
        uint32_t cap = ix->capterms ? ix->capterms * 2 : 256;
        bm25_term *nt = hk_realloc(ix->terms, (size_t)cap * sizeof *nt);
        if (!nt) return hk_fail(HK_NOMEM, "out of memory growing the term dictionary");
        ix->terms = nt;
        ix->capterms = cap;
    }
    uint32_t off = (uint32_t)ix->names.len;
    if ((st = hk_buf_append(&ix->names, name, n)) || (st = hk_buf_putc(&ix->names, 0))) return st;
    bm25_term *t = &ix->terms[ix->nterms];
    memset(t, 0, sizeof *t);
    t->name_off = off;
    t->name_len = (uint32_t)n;
    t->min_dl = t->tail_min_dl = UINT32_MAX;
    uint32_t h = hash_bytes(name, n) & (ix->tcap - 1);
    while (ix->table[h]) h = (h + 1) & (ix->tcap - 1);
    ix->table[h] = ix->nterms + 1;
    *out = ix->nterms++;
    return HK_OK;
}

/* ---- variable-byte blocks ---- */

static size_t vb_put(uint8_t *p, uint32_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads one value; 0 on a truncated or overlong encoding. */
static size_t vb_get(const uint8_t *p, const uint8_t *end, uint32_t *v) {
    uint32_t x = 0;
    for (size_t i = 0; i < 5 && p + i < end; i++) {
        uint32_t b = p[i];
        if (i == 4 && b > 0x0F) return 0;
        x |= (b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i && !b) return 0; /* overlong: every value has one encoding */
            *v = x;
            return i + 1;
        }
    }
    return 0;
}

/* Encodes n pairs after prev_last (BM25_NONE before the first block) into buf (room for
 * 10 bytes a pair); returns the byte count. */
static size_t block_encode(const uint32_t *docs, const uint32_t *tfs, size_t stride, size_t n,
                           uint32_t prev_last, uint8_t *buf) {
    size_t len = 0;
    uint32_t prev = prev_last;
    for (size_t i = 0; i < n; i++) {
        uint32_t d = docs[i * stride];
        len += vb_put(buf + len, d - prev - 1); /* prev = NONE wraps to d */
        prev = d;
    }
    for (size_t i = 0; i < n; i++) len += vb_put(buf + len, tfs[i * stride] - 1);
    return len;
}

/* Decodes n pairs; returns the bytes read, 0 when malformed (truncated, overlong, doc
 * ids not increasing or past limit, tf overflowing). */
static size_t block_decode(const uint8_t *p, const uint8_t *end, uint32_t n, uint32_t prev_last,
                           uint32_t limit, uint32_t *docs, uint32_t *tfs) {
    const uint8_t *s = p;
    uint64_t prev = prev_last == BM25_NONE ? (uint64_t)-1 : prev_last;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v;
        size_t k = vb_get(p, end, &v);
        if (!k) return 0;
        p += k;
        uint64_t d = prev + 1 + v;
        if (d >= limit) return 0;
        docs[i] = (uint32_t)d;
        prev = d;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v;
        size_t k = vb_get(p, end, &v);
        if (!k || v == UINT32_MAX) return 0;
        p += k;
        tfs[i] = v + 1;
    }
    return (size_t)(p - s);
}

/* Seals a full tail into a block. */
static hk_status seal_tail(bm25_term *t) {
    uint8_t buf[BM25_BLOCK * 10];
    uint32_t prev = t->nblocks ? t->blocks[t->nblocks - 1].last : BM25_NONE;
    size_t len = block_encode(t->tail, t->tail + 1, 2, t->ntail, prev, buf);
    if ((uint64_t)t->nbytes + len > UINT32_MAX) return hk_fail(HK_INVALID, "a posting list is full");
    if (t->nblocks == t->capblocks) {
        uint32_t cap = t->capblocks ? t->capblocks * 2 : 4;
        bm25_block *nb = hk_realloc(t->blocks, (size_t)cap * sizeof *nb);
        if (!nb) return hk_fail(HK_NOMEM, "out of memory");
        t->blocks = nb;
        t->capblocks = cap;
    }
    if (t->nbytes + len > t->capbytes) {
        uint64_t cap = t->capbytes ? t->capbytes : 256;
        while (cap < t->nbytes + len) cap *= 2;
        if (cap > UINT32_MAX) cap = UINT32_MAX;
        uint8_t *nb = hk_realloc(t->bytes, (size_t)cap);
        if (!nb) return hk_fail(HK_NOMEM, "out of memory");
        t->bytes = nb;
        t->capbytes = (uint32_t)cap;
    }
    memcpy(t->bytes + t->nbytes, buf, len);
    t->blocks[t->nblocks++] = (bm25_block){t->tail[2 * (t->ntail - 1)], t->nbytes, t->tail_max_tf,
                                           t->tail_min_dl};
    t->nbytes += (uint32_t)len;
    t->ntail = 0;
    t->tail_max_tf = 0;
    t->tail_min_dl = UINT32_MAX;
    return HK_OK;
}

static hk_status term_append(bm25_term *t, uint32_t doc, uint32_t tf, uint32_t dl) {
    if (t->ntail == t->captail) {
        /* Most terms are rare: the tail grows from two postings up to a block. */
        uint32_t cap = t->captail ? t->captail * 4 : 2;
        if (cap > BM25_BLOCK) cap = BM25_BLOCK;
        uint32_t *nt = hk_realloc(t->tail, 2 * (size_t)cap * sizeof *nt);
        if (!nt) return hk_fail(HK_NOMEM, "out of memory");
        t->tail = nt;
        t->captail = cap;
    }
    t->tail[2 * t->ntail] = doc;
    t->tail[2 * t->ntail + 1] = tf;
    t->ntail++;
    t->npost++;
    if (tf > t->tail_max_tf) t->tail_max_tf = tf;
    if (dl < t->tail_min_dl) t->tail_min_dl = dl;
    if (tf > t->max_tf) t->max_tf = tf;
    if (dl < t->min_dl) t->min_dl = dl;
    return t->ntail == BM25_BLOCK ? seal_tail(t) : HK_OK;
}

/* ---- updates ---- */

static hk_status grow_u32(uint32_t **arr, uint32_t *cap, size_t need, uint32_t fill) {
    if (need <= *cap) return HK_OK;
    if (need > UINT32_MAX - 1) return hk_fail(HK_INVALID, "the text index is full");
    size_t c = *cap ? *cap : 64;
    while (c < need) c += c / 2 + 64;
    if (c > UINT32_MAX) c = UINT32_MAX;
    uint32_t *p = hk_realloc(*arr, c * sizeof *p);
    if (!p) return hk_fail(HK_NOMEM, "out of memory growing the text index");
    for (size_t i = *cap; i < c; i++) p[i] = fill;
    *arr = p;
    *cap = (uint32_t)c;
    return HK_OK;
}

int bm25_has(const bm25_index *ix, uint32_t slot) {
    return slot < ix->nslotmap && ix->slot_doc[slot] != BM25_NONE;
}

hk_status bm25_add(bm25_index *ix, uint32_t slot, const bm25_doc *d) {
    if (!d->len) return HK_OK;
    uint32_t capdocs = ix->capdocs;
    hk_status st = grow_u32(&ix->doc_slot, &capdocs, (size_t)ix->ndocnos + 1, BM25_NONE);
    if (!st) {
        capdocs = ix->capdocs;
        st = grow_u32(&ix->doc_len, &capdocs, (size_t)ix->ndocnos + 1, 0);
    }
    if (st) return st;
    ix->capdocs = capdocs;
    if ((st = grow_u32(&ix->slot_doc, &ix->nslotmap, (size_t)slot + 1, BM25_NONE))) return st;
    uint32_t doc = ix->ndocnos++;
    ix->doc_slot[doc] = slot;
    ix->doc_len[doc] = d->len;
    ix->slot_doc[slot] = doc;
    ix->ndocs++;
    ix->tokens += d->len;
    for (uint32_t i = 0; i < d->nterms && !st; i++) {
        uint32_t id;
        st = intern_term(ix, d->terms[i], strlen(d->terms[i]), &id);
        if (!st) st = term_append(&ix->terms[id], doc, d->tf[i], d->len);
        if (!st) {
            ix->terms[id].df++;
            ix->postings++;
        }
    }
    return st;
}

void bm25_remove(bm25_index *ix, uint32_t slot, const bm25_doc *d) {
    if (!bm25_has(ix, slot)) return;
    uint32_t doc = ix->slot_doc[slot];
    ix->slot_doc[slot] = BM25_NONE;
    ix->doc_slot[doc] = BM25_NONE;
    ix->ndocs--;
    ix->tokens -= ix->doc_len[doc];
    for (uint32_t i = 0; i < d->nterms; i++) {
        uint32_t id = find_term(ix, d->terms[i], strlen(d->terms[i]));
        if (id != BM25_NONE && ix->terms[id].df) ix->terms[id].df--;
    }
}

/* ---- search ---- */

typedef struct cursor {
    const bm25_term *t;
    uint32_t qi;       /* position of the term in the query (canonical summation order) */
    uint32_t blk;      /* current block; nblocks = the tail */
    uint32_t pos, n;
    uint32_t doc;      /* current docno, BM25_NONE at the end */
    double w;          /* qtf * idf * (k1 + 1) */
    double ub;         /* bound of any document's contribution */
    uint32_t docs[BM25_BLOCK], tfs[BM25_BLOCK];
} cursor;

typedef struct scorer {
    const bm25_index *ix;
    double k1, b, avgdl;
    bm25_stats *stats;
} scorer;

static double contrib(const scorer *s, double w, uint32_t tf, uint32_t dl) {
    double norm = s->k1 * (1.0 - s->b + s->b * (double)dl / s->avgdl);
    return w * (double)tf / ((double)tf + norm);
}

static void cur_load(const scorer *s, cursor *c) {
    const bm25_term *t = c->t;
    c->pos = 0;
    if (c->blk < t->nblocks) {
        uint32_t prev = c->blk ? t->blocks[c->blk - 1].last : BM25_NONE;
        uint32_t end = c->blk + 1 < t->nblocks ? t->blocks[c->blk + 1].off : t->nbytes;
        block_decode(t->bytes + t->blocks[c->blk].off, t->bytes + end, BM25_BLOCK, prev,
                     UINT32_MAX, c->docs, c->tfs);
        c->n = BM25_BLOCK;
        if (s->stats) s->stats->blocks_read++;
    } else if (c->blk == t->nblocks && t->ntail) {
        for (uint32_t i = 0; i < t->ntail; i++) {
            c->docs[i] = t->tail[2 * i];
            c->tfs[i] = t->tail[2 * i + 1];
        }
        c->n = t->ntail;
    } else {
        c->n = 0;
    }
    c->doc = c->n ? c->docs[0] : BM25_NONE;
}

static void cur_next(const scorer *s, cursor *c) {
    if (++c->pos < c->n) {
        c->doc = c->docs[c->pos];
        return;
    }
    c->blk++;
    cur_load(s, c);
}

/* Moves to the first posting with docno >= target, skipping blocks without decoding. */
static void cur_seek(const scorer *s, cursor *c, uint32_t target) {
    if (c->doc == BM25_NONE || c->doc >= target) return;
    const bm25_term *t = c->t;
    if (c->blk < t->nblocks && t->blocks[c->blk].last < target) {
        uint32_t b = c->blk + 1;
        while (b < t->nblocks && t->blocks[b].last < target) b++;
        c->blk = b;
        cur_load(s, c);
    }
    while (c->doc != BM25_NONE && c->doc < target) cur_next(s, c);
}

/* Bound of the contribution for target from the block that would hold it. */
static double cur_block_bound(const scorer *s, const cursor *c, uint32_t target) {
    const bm25_term *t = c->t;
    if (c->doc == BM25_NONE) return 0;
    uint32_t b = c->blk;
    while (b < t->nblocks && t->blocks[b].last < target) b++;
    if (b < t->nblocks) return contrib(s, c->w, t->blocks[b].max_tf, t->blocks[b].min_dl);
    if (!t->ntail || t->tail[2 * (t->ntail - 1)] < target) return 0;
    return contrib(s, c->w, t->tail_max_tf, t->tail_min_dl);
}

typedef struct heap_ent {
    double score;
    uint32_t doc;
} heap_ent;

/* a ranks below b: lower score, or equal score and higher docno. */
static int worse(const heap_ent *a, const heap_ent *b) {
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

static void heap_sift_down(heap_ent *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < n && worse(&h[l], &h[m])) m = l;
        if (l + 1 < n && worse(&h[l + 1], &h[m])) m = l + 1;
        if (m == i) return;
        heap_ent t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void heap_push(heap_ent *h, size_t *n, size_t k, heap_ent e) {
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = e;
        while (i && worse(&h[i], &h[(i - 1) / 2])) {
            heap_ent t = h[i];
            h[i] = h[(i - 1) / 2];
            h[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (worse(&h[0], &e)) {
        h[0] = e;
        heap_sift_down(h, *n, 0);
    }
}

static int cmp_heap(const void *a, const void *b) {
    const heap_ent *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

static int doc_ok(const bm25_index *ix, uint32_t doc, const roaring_bitmap_t *allow) {
    uint32_t slot = ix->doc_slot[doc];
    return slot != BM25_NONE && (!allow || roaring_bitmap_contains(allow, slot));
}

static int cmp_cursor_ub(const void *a, const void *b) {
    const cursor *x = *(cursor *const *)a, *y = *(cursor *const *)b;
    return x->ub < y->ub ? -1 : x->ub > y->ub ? 1 : (x->qi > y->qi) - (x->qi < y->qi);
}

/* Scores every posting into a dense accumulator, summing terms in query order. */
static void search_exhaustive(const scorer *s, cursor *cur, size_t nc, const roaring_bitmap_t *allow,
                              double *acc, uint8_t *seen, heap_ent *heap, size_t *nheap, size_t k) {
    const bm25_index *ix = s->ix;
    for (size_t i = 0; i < nc; i++)
        for (cursor *c = &cur[i]; c->doc != BM25_NONE; cur_next(s, c)) {
            if (!doc_ok(ix, c->doc, allow)) continue;
            acc[c->doc] += contrib(s, c->w, c->tfs[c->pos], ix->doc_len[c->doc]);
            seen[c->doc] = 1;
        }
    for (uint32_t d = 0; d < ix->ndocnos; d++)
        if (seen[d]) {
            if (s->stats) s->stats->scored++;
            heap_push(heap, nheap, k, (heap_ent){acc[d], d});
        }
}

/* MaxScore over cursors sorted by ascending bound, with block-max bounds on the
 * non-essential lists. */
static void search_maxscore(const scorer *s, cursor **c, size_t nc, const roaring_bitmap_t *allow,
                            double *prefix, double *parts, heap_ent *heap, size_t *nheap, size_t k) {
    const bm25_index *ix = s->ix;
    double theta = -1;
    size_t ess = 0; /* c[ess..nc) are essential */
    for (size_t i = 0; i < nc; i++) prefix[i] = (i ? prefix[i - 1] : 0) + c[i]->ub;
    for (;;) {
        /* Lists whose bounds together cannot lift a document past the k-th score alone
         * are non-essential: only visited for documents the essential lists bring up.
         * The slack absorbs rounding between sums taken in different orders. */
        while (*nheap == k && ess < nc && prefix[ess] * (1 + 1e-9) < theta) ess++;
        if (ess == nc) break;
        uint32_t d = BM25_NONE;
        for (size_t i = ess; i < nc; i++)
            if (c[i]->doc < d) d = c[i]->doc;
        if (d == BM25_NONE) break;
        double sc = 0;
        for (size_t i = 0; i < nc; i++) parts[c[i]->qi] = 0;
        int ok = doc_ok(ix, d, allow);
        uint32_t dl = ok ? ix->doc_len[d] : 0;
        for (size_t i = ess; i < nc; i++)
            if (c[i]->doc == d) {
                if (ok) {
                    double x = contrib(s, c[i]->w, c[i]->tfs[c[i]->pos], dl);
                    parts[c[i]->qi] = x;
                    sc += x;
                }
                cur_next(s, c[i]);
            }
        if (!ok) continue;
        if (*nheap == k && ess) {
            if ((sc + prefix[ess - 1]) * (1 + 1e-9) < theta) continue;
            double bb = sc;
            for (size_t i = 0; i < ess; i++) bb += cur_block_bound(s, c[i], d);
            if (bb * (1 + 1e-9) < theta) continue;
        }
        int pruned = 0;
        for (size_t i = ess; i-- > 0;) {
            if (*nheap == k && (sc + prefix[i]) * (1 + 1e-9) < theta) {
                pruned = 1;
                break;
            }
            cur_seek(s, c[i], d);
            if (c[i]->doc == d) {
                double x = contrib(s, c[i]->w, c[i]->tfs[c[i]->pos], dl);
                parts[c[i]->qi] = x;
                sc += x;
            }
        }
        if (pruned) continue;
        double total = 0;
        for (size_t i = 0; i < nc; i++) total += parts[i];
        if (s->stats) s->stats->scored++;
        heap_push(heap, nheap, k, (heap_ent){total, d});
        if (*nheap == k) theta = heap[0].score;
    }
}

size_t bm25_max_hits(const bm25_index *ix) { return (size_t)ix->ndocs; }

hk_status bm25_search(const bm25_index *ix, const bm25_doc *q, size_t k,
                      const roaring_bitmap_t *allow, int exhaustive, bm25_hit *hits,
                      size_t *nhits, bm25_stats *stats) {
    *nhits = 0;
    if (k == 0 || k > ix->ndocs) {
        k = (size_t)ix->ndocs;
        exhaustive = exhaustive || k == 0;
    }
    if (!k || !q->nterms) return HK_OK;
    scorer s = {ix, ix->p.k1, ix->p.b, (double)ix->tokens / (double)ix->ndocs, stats};
    size_t nq = q->nterms;
    cursor *cur = hk_calloc(nq, sizeof *cur);
    cursor **order = hk_calloc(nq, sizeof *order);
    double *prefix = hk_calloc(nq, sizeof *prefix), *parts = hk_calloc(nq, sizeof *parts);
    heap_ent *heap = hk_malloc(k * sizeof *heap);
    double *acc = NULL;
    uint8_t *seen = NULL;
    if (exhaustive) {
        acc = hk_calloc(ix->ndocnos ? ix->ndocnos : 1, sizeof *acc);
        seen = hk_calloc(ix->ndocnos ? ix->ndocnos : 1, 1);
    }
    if (!cur || !order || !prefix || !parts || !heap || (exhaustive && (!acc || !seen))) {
        hk_free(cur); hk_free(order); hk_free(prefix); hk_free(parts); hk_free(heap);
        hk_free(acc); hk_free(seen);
        return hk_fail(HK_NOMEM, "out of memory searching text");
    }
    size_t nc = 0;
    double n_docs = (double)ix->ndocs;
    for (size_t i = 0; i < nq; i++) {
        uint32_t id = find_term(ix, q->terms[i], strlen(q->terms[i]));
        if (id == BM25_NONE || !ix->terms[id].df) continue;
        const bm25_term *t = &ix->terms[id];
        cursor *c = &cur[nc];
        c->t = t;
        c->qi = (uint32_t)nc;
        double df = t->df;
        c->w = (q->qw ? q->qw[i] : q->tf[i]) * log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) * (s.k1 + 1.0);
        c->ub = contrib(&s, c->w, t->max_tf, t->min_dl);
        cur_load(&s, c);
        order[nc] = c;
        nc++;
    }
    size_t nh = 0;
    if (exhaustive) search_exhaustive(&s, cur, nc, allow, acc, seen, heap, &nh, k);
    else {
        qsort(order, nc, sizeof *order, cmp_cursor_ub);
        search_maxscore(&s, order, nc, allow, prefix, parts, heap, &nh, k);
    }
    qsort(heap, nh, sizeof *heap, cmp_heap);
    for (size_t i = 0; i < nh; i++) hits[i] = (bm25_hit){ix->doc_slot[heap[i].doc], (float)heap[i].score};
    *nhits = nh;
    hk_free(cur); hk_free(order); hk_free(prefix); hk_free(parts); hk_free(heap);
    hk_free(acc); hk_free(seen);
    return HK_OK;
}

static int cmp_cursor_df(const void *a, const void *b) {
    const cursor *x = *(cursor *const *)a, *y = *(cursor *const *)b;
    return (x->t->npost > y->t->npost) - (x->t->npost < y->t->npost);
}

hk_status bm25_search_all(const bm25_index *ix, const bm25_doc *q, size_t k,
                          const roaring_bitmap_t *allow, bm25_hit *hits, size_t *nhits,
                          bm25_stats *stats) {
    *nhits = 0;
    if (k == 0 || k > ix->ndocs) k = (size_t)ix->ndocs;
    size_t nq = q->nterms;
    if (!k || !nq) return HK_OK;
    for (size_t i = 0; i < nq; i++) {
        uint32_t id = find_term(ix, q->terms[i], strlen(q->terms[i]));
        if (id == BM25_NONE || !ix->terms[id].df) return HK_OK; /* a term no document has */
    }
    scorer s = {ix, ix->p.k1, ix->p.b, (double)ix->tokens / (double)ix->ndocs, stats};
    cursor *cur = hk_calloc(nq, sizeof *cur);
    cursor **order = hk_calloc(nq, sizeof *order);
    double *parts = hk_calloc(nq, sizeof *parts);
    heap_ent *heap = hk_malloc(k * sizeof *heap);
    if (!cur || !order || !parts || !heap) {
        hk_free(cur); hk_free(order); hk_free(parts); hk_free(heap);
        return hk_fail(HK_NOMEM, "out of memory searching text");
    }
    double n_docs = (double)ix->ndocs;
    for (size_t i = 0; i < nq; i++) {
        const bm25_term *t = &ix->terms[find_term(ix, q->terms[i], strlen(q->terms[i]))];
        cur[i].t = t;
        cur[i].qi = (uint32_t)i;
        double df = t->df;
        cur[i].w = (q->qw ? q->qw[i] : q->tf[i]) * log(1.0 + (n_docs - df + 0.5) / (df + 0.5)) * (s.k1 + 1.0);
        cur_load(&s, &cur[i]);
        order[i] = &cur[i];
    }
    qsort(order, nq, sizeof *order, cmp_cursor_df);
    size_t nh = 0;
    cursor *lead = order[0];
    while (lead->doc != BM25_NONE) {
        uint32_t d = lead->doc, next = d;
        for (size_t i = 1; i < nq && next == d; i++) {
            cur_seek(&s, order[i], d);
            next = order[i]->doc; /* past d (or the end): d lacks this term */
        }
        if (next != d) {
            if (next == BM25_NONE) break;
            cur_seek(&s, lead, next);
            continue;
        }
        if (doc_ok(ix, d, allow)) {
            uint32_t dl = ix->doc_len[d];
            for (size_t i = 0; i < nq; i++) parts[cur[i].qi] = contrib(&s, cur[i].w, cur[i].tfs[cur[i].pos], dl);
            double total = 0;
            for (size_t i = 0; i < nq; i++) total += parts[i];
            if (stats) stats->scored++;
            heap_push(heap, &nh, k, (heap_ent){total, d});
        }
        cur_next(&s, lead);
    }
    qsort(heap, nh, sizeof *heap, cmp_heap);
    for (size_t i = 0; i < nh; i++) hits[i] = (bm25_hit){ix->doc_slot[heap[i].doc], (float)heap[i].score};
    *nhits = nh;
    hk_free(cur); hk_free(order); hk_free(parts); hk_free(heap);
    return HK_OK;
}

void bm25_get_info(const bm25_index *ix, bm25_info *out) {
    memset(out, 0, sizeof *out);
    out->docs = ix->ndocs;
    out->tokens = ix->tokens;
    out->postings = ix->postings;
    uint64_t bytes = sizeof *ix + (uint64_t)ix->capterms * sizeof(bm25_term) +
                     (uint64_t)ix->tcap * 4 + ix->names.cap + (uint64_t)ix->capdocs * 8 +
                     (uint64_t)ix->nslotmap * 4;
    for (uint32_t i = 0; i < ix->nterms; i++) {
        const bm25_term *t = &ix->terms[i];
        if (t->df) out->terms++;
        bytes += (uint64_t)t->capblocks * sizeof(bm25_block) + t->capbytes +
                 (uint64_t)t->captail * 8;
    }
    out->bytes = bytes;
}

uint32_t bm25_df(const bm25_index *ix, const char *term) {
    uint32_t id = find_term(ix, term, strlen(term));
    return id == BM25_NONE ? 0 : ix->terms[id].df;
}

/* ---- snapshot section ---- */

#define TIDX_VERSION 2u /* 2 added the synonym list after the terms; 1 still loads */
#define TIDX_HEADER 40u
#define TIDX_MAX_NAME (4 * TXT_MAX_TERM)

typedef struct wpost {
    uint32_t row, tf;
} wpost;

static int cmp_wpost(const void *a, const void *b) {
    const wpost *x = a, *y = b;
    return (x->row > y->row) - (x->row < y->row);
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The live postings of t as (row, tf), sorted by row; returns the count. */
static size_t gather(const bm25_index *ix, const bm25_term *t, const uint32_t *row_of_slot,
                     size_t nslots, wpost *out) {
    size_t n = 0;
    uint32_t docs[BM25_BLOCK], tfs[BM25_BLOCK];
    for (uint32_t b = 0; b <= t->nblocks; b++) {
        uint32_t cnt;
        if (b < t->nblocks) {
            uint32_t end = b + 1 < t->nblocks ? t->blocks[b + 1].off : t->nbytes;
            block_decode(t->bytes + t->blocks[b].off, t->bytes + end, BM25_BLOCK,
                         b ? t->blocks[b - 1].last : BM25_NONE, UINT32_MAX, docs, tfs);
            cnt = BM25_BLOCK;
        } else {
            for (uint32_t i = 0; i < t->ntail; i++) {
                docs[i] = t->tail[2 * i];
                tfs[i] = t->tail[2 * i + 1];
            }
            cnt = t->ntail;
        }
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t slot = ix->doc_slot[docs[i]];
            if (slot == BM25_NONE || slot >= nslots || row_of_slot[slot] == BM25_NONE) continue;
            out[n++] = (wpost){row_of_slot[slot], tfs[i]};
        }
    }
    qsort(out, n, sizeof *out, cmp_wpost);
    return n;
}

hk_status bm25_write(const bm25_index *ix, const uint32_t *row_of_slot, size_t nslots,
                     size_t nrows, hk_buf *out) {
    uint32_t *dl = hk_calloc(nrows ? nrows : 1, sizeof *dl);
    uint32_t maxpost = 0;
    for (uint32_t i = 0; i < ix->nterms; i++)
        if (ix->terms[i].npost > maxpost) maxpost = ix->terms[i].npost;
    wpost *buf = hk_malloc((maxpost ? maxpost : 1) * sizeof *buf);
    if (!dl || !buf) {
        hk_free(dl);
        hk_free(buf);
        return hk_fail(HK_NOMEM, "out of memory writing the text index");
    }
    uint64_t nterms = 0;
    for (uint32_t i = 0; i < ix->nterms; i++) nterms += ix->terms[i].df > 0;
    for (size_t s = 0; s < nslots && s < ix->nslotmap; s++)
        if (ix->slot_doc[s] != BM25_NONE && row_of_slot[s] != BM25_NONE && row_of_slot[s] < nrows)
            dl[row_of_slot[s]] = ix->doc_len[ix->slot_doc[s]];
    uint8_t hdr[TIDX_HEADER];
    hk_store_u32(hdr, TIDX_VERSION);
    hk_store_u32(hdr + 4, ix->p.language);
    hk_store_u32(hdr + 8, ix->p.flags);
    hk_store_u32(hdr + 12, f32_bits(ix->p.k1));
    hk_store_u32(hdr + 16, f32_bits(ix->p.b));
    hk_store_u32(hdr + 20, BM25_BLOCK);
    hk_store_u64(hdr + 24, nrows);
    hk_store_u64(hdr + 32, nterms);
    hk_status st = hk_buf_append(out, hdr, sizeof hdr);
    for (size_t r = 0; r < nrows && !st; r++) st = hk_buf_put_u32(out, dl[r]);
    uint8_t enc[BM25_BLOCK * 10];
    for (uint32_t i = 0; i < ix->nterms && !st; i++) {
        const bm25_term *t = &ix->terms[i];
        if (!t->df) continue;
        size_t n = gather(ix, t, row_of_slot, nslots, buf);
        uint32_t nb = (uint32_t)((n + BM25_BLOCK - 1) / BM25_BLOCK);
        st = hk_buf_put_u32(out, t->name_len);
        if (!st) st = hk_buf_append(out, term_name(ix, t), t->name_len);
        if (!st) st = hk_buf_put_u32(out, (uint32_t)n);
        if (!st) st = hk_buf_put_u32(out, nb);
        /* Block descriptors first, then the encoded blocks; each descriptor's byte count
         * is known only after encoding, so encode twice (cheap next to the sort). */
        size_t desc_at = out->len;
        for (uint32_t b = 0; b < nb && !st; b++) st = hk_buf_reserve(out, 16), out->len += 16 * !st;
        uint32_t prev = BM25_NONE;
        for (uint32_t b = 0; b < nb && !st; b++) {
            size_t lo = (size_t)b * BM25_BLOCK, cnt = n - lo < BM25_BLOCK ? n - lo : BM25_BLOCK;
            uint32_t mtf = 0, mdl = UINT32_MAX;
            for (size_t j = lo; j < lo + cnt; j++) {
                if (buf[j].tf > mtf) mtf = buf[j].tf;
                if (dl[buf[j].row] < mdl) mdl = dl[buf[j].row];
            }
            size_t len = block_encode(&buf[lo].row, &buf[lo].tf, 2, cnt, prev, enc);
            prev = buf[lo + cnt - 1].row;
            uint8_t *d = out->data + desc_at + (size_t)b * 16;
            hk_store_u32(d, prev);
            hk_store_u32(d + 4, mtf);
            hk_store_u32(d + 8, mdl);
            hk_store_u32(d + 12, (uint32_t)len);
            st = hk_buf_append(out, enc, len);
        }
    }
    if (!st) st = hk_buf_put_u32(out, (uint32_t)ix->synonyms_len);
    if (!st && ix->synonyms_len) st = hk_buf_append(out, ix->synonyms, ix->synonyms_len);
    hk_free(dl);
    hk_free(buf);
    return st;
}

static hk_status corrupt(size_t off, const char *what) {
    return hk_fail(HK_CORRUPT, "text index: %s at byte %zu of the section", what, off);
}

/* Parses the header into p; returns HK_OK or HK_CORRUPT. */
static hk_status load_header(const uint8_t *data, size_t len, size_t nrows, bm25_params *p,
                             uint64_t *nterms, uint32_t *version) {
    if (len < TIDX_HEADER) return corrupt(0, "truncated header");
    *version = hk_load_u32(data);
    if (*version < 1 || *version > TIDX_VERSION) return corrupt(0, "unknown version");
    p->language = hk_load_u32(data + 4);
    p->flags = hk_load_u32(data + 8);
    p->k1 = bits_f32(hk_load_u32(data + 12));
    p->b = bits_f32(hk_load_u32(data + 16));
    if (p->language >= txt_language_count()) return corrupt(4, "unknown language");
    if (p->flags & ~(uint32_t)(HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS)) return corrupt(8, "unknown flags");
    if (!(p->k1 > 0 && p->k1 <= BM25_MAX_K1)) return corrupt(12, "k1 out of range");
    if (!(p->b >= 0 && p->b <= 1)) return corrupt(16, "b out of range");
    if (hk_load_u32(data + 20) != BM25_BLOCK) return corrupt(20, "unsupported block size");
    if (hk_load_u64(data + 24) != nrows) return corrupt(24, "row count differs from the snapshot's");
    *nterms = hk_load_u64(data + 32);
    if ((len - TIDX_HEADER) / 4 < nrows) return corrupt(TIDX_HEADER, "truncated document lengths");
    if (*nterms > (len - TIDX_HEADER - nrows * 4) / 13) return corrupt(32, "term count exceeds the section");
    return HK_OK;
}

/* Loads one term record at *at into the index (its docnos = rows). */
static hk_status load_term(bm25_index *ix, const uint8_t *data, size_t len, size_t *at,
                           size_t nrows, uint64_t *tfsum) {
    size_t o = *at;
    if (len - o < 4) return corrupt(o, "truncated term");
    uint32_t nl = hk_load_u32(data + o);
    if (nl == 0 || nl > TIDX_MAX_NAME || len - o - 4 < (size_t)nl + 8) return corrupt(o, "bad term length");
    const char *name = (const char *)data + o + 4;
    if (memchr(name, 0, nl) || !hj_utf8_valid(name, nl)) return corrupt(o + 4, "term is not UTF-8");
    if (find_term(ix, name, nl) != BM25_NONE) return corrupt(o + 4, "term appears twice");
    o += 4 + nl;
    uint32_t np = hk_load_u32(data + o), nb = hk_load_u32(data + o + 4);
    o += 8;
    if (np == 0 || np > nrows || nb != (np + BM25_BLOCK - 1) / BM25_BLOCK || (len - o) / 16 < nb)
        return corrupt(o - 8, "bad posting or block count");
    uint32_t id;
    hk_status st = intern_term(ix, name, nl, &id);
    if (st) return st;
    bm25_term *t = &ix->terms[id];
    size_t desc = o, bo = o + (size_t)nb * 16;
    uint32_t docs[BM25_BLOCK], tfs[BM25_BLOCK], prev = BM25_NONE;
    for (uint32_t b = 0; b < nb; b++) {
        const uint8_t *d = data + desc + (size_t)b * 16;
        uint32_t last = hk_load_u32(d), mtf = hk_load_u32(d + 4), mdl = hk_load_u32(d + 8),
                 bl = hk_load_u32(d + 12);
        uint32_t cnt = b + 1 < nb ? BM25_BLOCK : np - b * BM25_BLOCK;
        if (bl > len - bo) return corrupt(desc + (size_t)b * 16 + 12, "block past the end");
        size_t used = block_decode(data + bo, data + bo + bl, cnt, prev, (uint32_t)nrows, docs, tfs);
        if (!used || used != bl) return corrupt(bo, "malformed block");
        uint32_t rtf = 0, rdl = UINT32_MAX;
        for (uint32_t i = 0; i < cnt; i++) {
            uint32_t dl = ix->doc_len[docs[i]];
            if (!dl || tfs[i] > dl) return corrupt(bo, "posting of a document without that many terms");
            tfsum[docs[i]] += tfs[i];
            if (tfs[i] > rtf) rtf = tfs[i];
            if (dl < rdl) rdl = dl;
        }
        if (docs[cnt - 1] != last || rtf != mtf || rdl != mdl)
            return corrupt(desc + (size_t)b * 16, "block descriptor disagrees with its block");
        for (uint32_t i = 0; i < cnt && !st; i++) st = term_append(t, docs[i], tfs[i], ix->doc_len[docs[i]]);
        if (st) return st;
        prev = last;
        bo += bl;
    }
    t->df = np;
    ix->postings += np;
    *at = bo;
    return HK_OK;
}

hk_status bm25_load(const uint8_t *data, size_t len, size_t nrows, const uint8_t *has_text,
                    bm25_index **out) {
    bm25_params p;
    uint64_t nterms = 0;
    uint32_t version = 0;
    hk_status st = load_header(data, len, nrows, &p, &nterms, &version);
    if (st) return st;
    bm25_index *ix;
    if ((st = bm25_new(&p, &ix))) return st;
    uint64_t *tfsum = hk_calloc(nrows ? nrows : 1, sizeof *tfsum);
    uint32_t cap = 0;
    if (!tfsum) st = hk_fail(HK_NOMEM, "out of memory loading the text index");
    if (!st) st = grow_u32(&ix->doc_slot, &cap, nrows ? nrows : 1, BM25_NONE);
    if (!st) {
        cap = 0;
        st = grow_u32(&ix->doc_len, &cap, nrows ? nrows : 1, 0);
        ix->capdocs = cap;
    }
    if (!st) st = grow_u32(&ix->slot_doc, &ix->nslotmap, nrows ? nrows : 1, BM25_NONE);
    size_t at = TIDX_HEADER;
    for (size_t r = 0; r < nrows && !st; r++, at += 4) {
        uint32_t dl = hk_load_u32(data + at);
        if (dl && !has_text[r]) st = corrupt(at, "a length for a point without text");
        if (dl && !st) {
            ix->doc_len[r] = dl;
            ix->doc_slot[r] = (uint32_t)r;
            ix->slot_doc[r] = (uint32_t)r;
            ix->ndocs++;
            ix->tokens += dl;
        }
    }
    ix->ndocnos = (uint32_t)nrows;
    for (uint64_t i = 0; i < nterms && !st; i++) st = load_term(ix, data, len, &at, nrows, tfsum);
    if (!st && version >= 2) {
        /* The synonym list: u32 length, UTF-8 text. */
        uint32_t sl = len - at >= 4 ? hk_load_u32(data + at) : 0;
        if (len - at < 4 || sl > len - at - 4) st = corrupt(at, "truncated synonym list");
        else if (memchr(data + at + 4, 0, sl) || !hj_utf8_valid((const char *)data + at + 4, sl))
            st = corrupt(at + 4, "synonym list is not UTF-8");
        else if (sl) {
            char *text = hk_strndup((const char *)data + at + 4, sl);
            if (!text) st = hk_fail(HK_NOMEM, "out of memory loading the text index");
            else bm25_set_synonyms(ix, text, sl);
        }
        at += 4 + (st ? 0 : sl);
    }
    if (!st && at != len) st = corrupt(at, "trailing bytes");
    for (size_t r = 0; r < nrows && !st; r++)
        if (tfsum[r] != ix->doc_len[r]) st = corrupt(TIDX_HEADER + r * 4, "document length differs from its postings");
    hk_free(tfsum);
    if (st) {
        bm25_free(ix);
        return st;
    }
    *out = ix;
    return HK_OK;
}

hk_status bm25_validate(const bm25_index *ix) {
    uint64_t docs = 0, tokens = 0;
    for (uint32_t d = 0; d < ix->ndocnos; d++) {
        uint32_t s = ix->doc_slot[d];
        if (s == BM25_NONE) continue;
        if (s >= ix->nslotmap || ix->slot_doc[s] != d)
            return hk_fail(HK_CORRUPT, "text index: document %u and slot %u disagree", d, s);
        docs++;
        tokens += ix->doc_len[d];
    }
    if (docs != ix->ndocs || tokens != ix->tokens)
        return hk_fail(HK_CORRUPT, "text index: %llu documents of %llu terms, but counts say %llu and %llu",
                       (unsigned long long)docs, (unsigned long long)tokens,
                       (unsigned long long)ix->ndocs, (unsigned long long)ix->tokens);
    for (uint32_t i = 0; i < ix->nterms; i++)
        if (ix->terms[i].df > ix->terms[i].npost || ix->terms[i].df > docs)
            return hk_fail(HK_CORRUPT, "text index: term '%s' counts %u documents", term_name(ix, &ix->terms[i]),
                           ix->terms[i].df);
    return HK_OK;
}
