/*
 * textindex.c — a collection's text index: the glue between the collection's write path
 * and snapshots (collection.c, snapshot.c) and the analyzer and BM25 index (src/text/).
 *
 * Decisions:
 *  - Every collection has an index; points without text cost nothing in it.
 *  - Texts are analyzed in the write's prepare step (outside the collection's lock); a
 *    text being replaced or deleted is analyzed again at commit to take its terms out of
 *    the statistics (the index keeps no forward lists: texts are already stored).
 *  - The snapshot's TIDX section holds the index with the points renumbered to rows, so
 *    opening a database reads postings instead of re-tokenizing. Snapshots older than
 *    version 4 have no section: their texts are analyzed at load, with default settings.
 *  - Text settings (language, stemming, stop words, k1, b) are fixed at create and are
 *    stored in the section's header; a collection's config reports them.
 */
#include <math.h>
#include <string.h>

#include "../store/snapshot.h"
#include "json.h"
#include "collection.h"

#define TEXT_FLAGS_KNOWN (HK_TEXT_ONLY | HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS | HK_TEXT_BM25_B_ZERO)

hk_status coll_text_config_normalize(hk_collection_config *cfg) {
    if (cfg->text_flags & ~(uint32_t)TEXT_FLAGS_KNOWN)
        return hk_fail(HK_INVALID, "unknown text flags 0x%x", cfg->text_flags & ~(uint32_t)TEXT_FLAGS_KNOWN);
    if (!txt_language_name(cfg->text_language))
        return hk_fail(HK_INVALID, "unknown text language %u", cfg->text_language);
    for (size_t i = 0; i < sizeof cfg->reserved / sizeof cfg->reserved[0]; i++)
        if (cfg->reserved[i]) return hk_fail(HK_INVALID, "config: reserved field %zu must be zero", i);
    if (cfg->bm25_k1 == 0) cfg->bm25_k1 = BM25_DEFAULT_K1;
    if (!(cfg->bm25_k1 > 0 && cfg->bm25_k1 <= BM25_MAX_K1))
        return hk_fail(HK_INVALID, "BM25 k1 must be in (0, %g] (got %g)", (double)BM25_MAX_K1,
                       (double)cfg->bm25_k1);
    if (cfg->text_flags & HK_TEXT_BM25_B_ZERO) {
        if (cfg->bm25_b != 0)
            return hk_fail(HK_INVALID, "BM25 b is %g but HK_TEXT_BM25_B_ZERO asks for 0", (double)cfg->bm25_b);
    } else {
        if (cfg->bm25_b == 0) cfg->bm25_b = BM25_DEFAULT_B;
        if (!(cfg->bm25_b > 0 && cfg->bm25_b <= 1))
            return hk_fail(HK_INVALID, "BM25 b must be in [0, 1] (got %g; for 0 set "
                           "HK_TEXT_BM25_B_ZERO)", (double)cfg->bm25_b);
    }
    if (cfg->text_flags & HK_TEXT_ONLY) {
        if (cfg->dim != 0)
            return hk_fail(HK_INVALID, "a text-only collection has no vectors: its dimension must "
                           "be 0 (got %u)", cfg->dim);
        cfg->index = HK_INDEX_FLAT;
        cfg->metric = HK_METRIC_L2;
    }
    return HK_OK;
}

static bm25_params params_of(const hk_collection_config *cfg) {
    return (bm25_params){cfg->text_language,
                         cfg->text_flags & (HK_TEXT_NO_STEM | HK_TEXT_NO_STOPWORDS), cfg->bm25_k1,
                         cfg->bm25_b};
}

hk_status coll_text_empty_section(const hk_collection_config *cfg, hk_buf *out) {
    bm25_params p = params_of(cfg);
    bm25_index *ix;
    hk_status st = bm25_new(&p, &ix);
    if (!st) st = bm25_write(ix, NULL, 0, 0, out);
    bm25_free(ix);
    return st;
}

hk_status coll_text_analyze(hk_collection *c, const char *text, size_t len, bm25_doc *out) {
    memset(out, 0, sizeof *out);
    if (!len) return HK_OK;
    txt_terms t;
    hk_status st = txt_analyze(c->analyzer, text, len, &t);
    if (st) return st;
    return bm25_doc_from_terms(&t, out);
}

static void text_failed(hk_collection *c) {
    c->poisoned = 1;
    db_notice(c->db, "collection '%s': %s while updating the text index; the collection "
              "refuses writes until reopened", c->name, hk_errmsg());
}

void coll_text_unindex(hk_collection *c, uint32_t slot) {
    if (!bm25_has(c->text_ix, slot)) return;
    bm25_doc d;
    if (coll_text_analyze(c, c->texts[slot], c->text_lens[slot], &d)) {
        text_failed(c);
        return;
    }
    bm25_remove(c->text_ix, slot, &d);
    bm25_doc_free(&d);
}

void coll_text_index(hk_collection *c, uint32_t slot, const bm25_doc *d) {
    if (d->len && bm25_add(c->text_ix, slot, d)) text_failed(c);
}

/* Sets up the analyzer and the index of a collection just loaded from img (slot = row). */
hk_status coll_text_load(hk_collection *c, const snap_image *img) {
    size_t n = img->n;
    hk_status st;
    if (img->tidx_len) {
        uint8_t *has = hk_malloc(n ? n : 1);
        if (!has) return hk_fail(HK_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) has[i] = c->texts[i] != NULL;
        st = bm25_load(img->tidx, img->tidx_len, n, has, &c->text_ix);
        hk_free(has);
        if (st) return hk_fail_prefix(st, "%s", c->snap_path);
        const bm25_params *p = bm25_get_params(c->text_ix);
        c->cfg.text_language = p->language;
        c->cfg.text_flags = p->flags | (p->b == 0 ? HK_TEXT_BM25_B_ZERO : 0);
        c->cfg.bm25_k1 = p->k1;
        c->cfg.bm25_b = p->b;
    } else {
        c->cfg.text_language = 0;
        c->cfg.text_flags = 0;
        c->cfg.bm25_k1 = BM25_DEFAULT_K1;
        c->cfg.bm25_b = BM25_DEFAULT_B;
    }
    if (c->cfg.dim == 0) c->cfg.text_flags |= HK_TEXT_ONLY;
    if ((st = txt_analyzer_new(c->cfg.text_language, c->cfg.text_flags, &c->analyzer))) return st;
    if (c->text_ix) {
        size_t sl;
        const char *syn = bm25_synonyms(c->text_ix, &sl);
        if (syn && (st = syn_table_parse(c->analyzer, syn, sl, &c->syn)))
            return hk_fail(HK_CORRUPT, "%s: the synonym list does not parse: %s", c->snap_path, hk_errmsg());
        return HK_OK;
    }
    /* An older snapshot: analyze the stored texts once. */
    bm25_params p = params_of(&c->cfg);
    if ((st = bm25_new(&p, &c->text_ix))) return st;
    for (size_t i = 0; i < n && !st; i++) {
        if (!c->texts[i]) continue;
        bm25_doc d;
        st = coll_text_analyze(c, c->texts[i], c->text_lens[i], &d);
        if (!st) st = bm25_add(c->text_ix, (uint32_t)i, &d);
        bm25_doc_free(&d);
    }
    if (st) return hk_fail_prefix(st, "%s: indexing the texts", c->snap_path);
    return HK_OK;
}

void coll_text_free(hk_collection *c) {
    syn_table_free(c->syn);
    c->syn = NULL;
    bm25_free(c->text_ix);
    txt_analyzer_free(c->analyzer);
    c->text_ix = NULL;
    c->analyzer = NULL;
}

hk_status coll_text_encode(const hk_collection *c, hk_buf *out) {
    uint32_t *row = hk_malloc((c->nslots ? c->nslots : 1) * sizeof *row);
    if (!row) return hk_fail(HK_NOMEM, "out of memory");
    uint32_t next = 0;
    for (size_t i = 0; i < c->nslots; i++) row[i] = c->live[i] ? next++ : BM25_NONE;
    hk_status st = bm25_write(c->text_ix, row, c->nslots, next, out);
    hk_free(row);
    return st;
}

uint64_t coll_text_memory(const hk_collection *c) {
    bm25_info info;
    bm25_get_info(c->text_ix, &info);
    return info.bytes;
}

hk_status coll_text_verify(const hk_collection *c) {
    hk_status st = bm25_validate(c->text_ix);
    for (size_t i = 0; i < c->nslots && !st; i++) {
        int has = c->live[i] && c->texts[i];
        if (!has && bm25_has(c->text_ix, (uint32_t)i))
            st = hk_fail(HK_CORRUPT, "text index: slot %zu has no text but is indexed", i);
    }
    return st;
}

hk_status coll_text_search(hk_collection *c, const bm25_doc *q, size_t want, int match_all,
                           const roaring_bitmap_t *allow, bm25_hit **hits, size_t *n) {
    size_t cap = want && want < bm25_max_hits(c->text_ix) ? want : bm25_max_hits(c->text_ix);
    *hits = hk_malloc((cap ? cap : 1) * sizeof **hits);
    if (!*hits) return hk_fail(HK_NOMEM, "out of memory");
    if (match_all) return bm25_search_all(c->text_ix, q, want, allow, *hits, n, NULL);
    return bm25_search(c->text_ix, q, want, allow, 0, *hits, n, NULL);
}

hk_status hk_collection_text_stats(hk_collection *c, hk_text_stats *out) {
    if (!out) return hk_fail(HK_INVALID, "text stats: out is NULL");
    hk_status st = coll_read_begin(c);
    if (st) return st;
    bm25_info info;
    bm25_get_info(c->text_ix, &info);
    coll_read_end(c);
    *out = (hk_text_stats){info.docs, info.terms, info.postings, info.tokens, info.bytes};
    return HK_OK;
}

/* ---- synonyms ---- */

hk_status coll_syn_prepare(hk_collection *c, const uint8_t *body, size_t len, syn_table **syn,
                           char **text) {
    *syn = NULL;
    *text = NULL;
    if (!len) return HK_OK;
    if (memchr(body, 0, len) || !hj_utf8_valid((const char *)body, len))
        return hk_fail(HK_INVALID, "synonyms: the list is not valid UTF-8 (or holds a NUL byte)");
    hk_status st = syn_table_parse(c->analyzer, (const char *)body, len, syn);
    if (st) return st;
    if (!(*text = hk_strndup((const char *)body, len))) {
        syn_table_free(*syn);
        *syn = NULL;
        return hk_fail(HK_NOMEM, "out of memory");
    }
    return HK_OK;
}

void coll_syn_commit(hk_collection *c, syn_table *syn, char *text, size_t len) {
    bm25_set_synonyms(c->text_ix, text, len);
    syn_table_free(c->syn);
    c->syn = syn;
}

hk_status hk_collection_synonyms(hk_collection *c, char **text, size_t *len) {
    if (!text) return hk_fail(HK_INVALID, "synonyms: text is NULL");
    *text = NULL;
    if (len) *len = 0;
    hk_status st = coll_read_begin(c);
    if (st) return st;
    size_t sl;
    const char *syn = bm25_synonyms(c->text_ix, &sl);
    if (syn && !(*text = hk_strndup(syn, sl))) st = hk_fail(HK_NOMEM, "out of memory");
    if (!st && len) *len = syn ? sl : 0;
    coll_read_end(c);
    return st;
}
