/*
 * textquery.c — what a text query becomes before BM25 runs: the synonym list, Rocchio
 * relevance feedback, RM3 pseudo-relevance feedback, and phrase matching.
 *
 * Decisions:
 *  - A query is a list of weighted terms. The analyzed query gives each term its count;
 *    synonyms, Rocchio and RM3 change the weights or add terms, and BM25 multiplies each
 *    term's contribution by its weight (bm25.h).
 *  - The index keeps no forward lists: the terms of a feedback document come from
 *    analyzing its stored text again (texts are at most a few KB; fb_docs is small).
 *  - Phrases are verified on the candidates' stored texts: the documents holding every
 *    phrase term come from the index, best BM25 first, and each is analyzed again and
 *    kept when the phrase's terms occur consecutively, until k are found. The postings
 *    hold no positions, so old snapshots stay as they are; the price is a re-analysis per
 *    candidate, paid only by phrase queries. Positions count analyzed terms, so stop
 *    words between two phrase words are skipped on both sides ("flow of air" matches
 *    "flow in air" in English).
 *  - Synonyms, RM3 and Rocchio change which documents match, so they apply to "any"
 *    matching only: all-terms and phrase queries use the query's own terms.
 *
 * Synonym list format (hk_collection_set_synonyms): one group per line, words separated by
 * commas, each analyzed like the texts and required to give exactly one term; blank lines
 * and lines starting with '#' are skipped. A query term in a group brings in the group's
 * other terms with the same weight (a term already in the query keeps its own).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collection.h"

/* ---- weighted term lists ---- */

typedef struct wterm {
    char *term; /* hk_malloc'd */
    double w;
} wterm;

typedef struct wlist {
    wterm *t;
    size_t n, cap;
} wlist;

static void wl_free(wlist *l) {
    for (size_t i = 0; i < l->n; i++) hk_free(l->t[i].term);
    hk_free(l->t);
    memset(l, 0, sizeof *l);
}

static hk_status wl_add(wlist *l, const char *term, double w) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        wterm *t = hk_realloc(l->t, cap * sizeof *t);
        if (!t) return hk_fail(HK_NOMEM, "out of memory");
        l->t = t;
        l->cap = cap;
    }
    char *copy = hk_strndup(term, strlen(term));
    if (!copy) return hk_fail(HK_NOMEM, "out of memory");
    l->t[l->n++] = (wterm){copy, w};
    return HK_OK;
}

static int cmp_wterm_term(const void *a, const void *b) {
    return strcmp(((const wterm *)a)->term, ((const wterm *)b)->term);
}

static int cmp_wterm_w(const void *a, const void *b) {
    const wterm *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return strcmp(x->term, y->term);
}

/* Sums the weights of equal terms. */
static void wl_merge(wlist *l) {
    if (!l->n) return;
    qsort(l->t, l->n, sizeof *l->t, cmp_wterm_term);
    size_t m = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (m && !strcmp(l->t[m - 1].term, l->t[i].term)) {
            l->t[m - 1].w += l->t[i].w;
            hk_free(l->t[i].term);
        } else {
            l->t[m++] = l->t[i];
        }
    }
    l->n = m;
}

static const wterm *wl_find(const wlist *l, const char *term) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].term, term)) return &l->t[i];
    return NULL;
}

/* Scales the weights to sum to 1 (a no-op for an empty or all-zero list). */
static void wl_normalize(wlist *l) {
    double s = 0;
    for (size_t i = 0; i < l->n; i++) s += l->t[i].w;
    if (s > 0)
        for (size_t i = 0; i < l->n; i++) l->t[i].w /= s;
}

/* Keeps terms with a positive weight, and of those at most keep (0: all), heaviest first. */
static void wl_keep_top(wlist *l, size_t keep) {
    qsort(l->t, l->n, sizeof *l->t, cmp_wterm_w);
    size_t m = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->t[i].w > 0 && (!keep || m < keep)) l->t[m++] = l->t[i];
        else hk_free(l->t[i].term);
    }
    l->n = m;
}

/* Adds scale * tf / len for every term of a text (its L1-normalized term vector). */
static hk_status add_text_terms(hk_collection *c, uint32_t slot, double scale, wlist *out) {
    if (!c->texts[slot]) return HK_OK;
    bm25_doc d;
    hk_status st = coll_text_analyze(c, c->texts[slot], c->text_lens[slot], &d);
    for (uint32_t i = 0; i < d.nterms && !st; i++)
        st = wl_add(out, d.terms[i], scale * d.tf[i] / (double)d.len);
    bm25_doc_free(&d);
    return st;
}

static hk_status wl_to_doc(const wlist *l, bm25_doc *out) {
    const char **terms = hk_malloc((l->n ? l->n : 1) * sizeof *terms);
    double *w = hk_malloc((l->n ? l->n : 1) * sizeof *w);
    hk_status st = (!terms || !w) ? hk_fail(HK_NOMEM, "out of memory") : HK_OK;
    for (size_t i = 0; i < l->n && !st; i++) {
        terms[i] = l->t[i].term;
        w[i] = l->t[i].w;
    }
    if (!st) st = bm25_doc_weighted(terms, w, l->n, out);
    hk_free(terms);
    hk_free(w);
    return st;
}

/* ---- synonyms ---- */

typedef struct syn_entry {
    const char *term;
    uint32_t group;
} syn_entry;

struct syn_table {
    char **terms;     /* every group's terms, group after group */
    uint32_t *group;  /* group of terms[i] */
    size_t nterms;
    size_t *start;    /* group g is terms[start[g] .. start[g + 1]) */
    size_t ngroups;
    syn_entry *by_term; /* every term with its group, sorted by term */
};

void syn_table_free(syn_table *s) {
    if (!s) return;
    for (size_t i = 0; i < s->nterms; i++) hk_free(s->terms[i]);
    hk_free(s->terms);
    hk_free(s->group);
    hk_free(s->start);
    hk_free(s->by_term);
    hk_free(s);
}

static int cmp_entry_term(const void *a, const void *b) {
    const syn_entry *x = a, *y = b;
    int c = strcmp(x->term, y->term);
    return c ? c : (x->group > y->group) - (x->group < y->group);
}

static hk_status syn_push(syn_table *s, size_t *cap, char *term) {
    if (s->nterms == *cap) {
        size_t nc = *cap ? 2 * *cap : 32;
        char **t = hk_realloc(s->terms, nc * sizeof *t);
        if (t) s->terms = t;
        uint32_t *g = t ? hk_realloc(s->group, nc * sizeof *g) : NULL;
        if (g) s->group = g;
        if (!t || !g) return hk_fail(HK_NOMEM, "out of memory");
        *cap = nc;
    }
    s->group[s->nterms] = (uint32_t)s->ngroups;
    s->terms[s->nterms++] = term;
    return HK_OK;
}

hk_status syn_table_parse(txt_analyzer *a, const char *text, size_t len, syn_table **out) {
    *out = NULL;
    syn_table *s = hk_calloc(1, sizeof *s);
    if (!s) return hk_fail(HK_NOMEM, "out of memory");
    size_t cap = 0, gcap = 0, line = 0;
    hk_status st = HK_OK;
    const char *p = text, *end = text + len;
    while (p < end && !st) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        const char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r')) q++;
        if (q == eol || *q == '#') {
            p = eol + 1;
            continue;
        }
        size_t first = s->nterms;
        for (const char *w = q; w <= eol && !st;) {
            const char *comma = memchr(w, ',', (size_t)(eol - w));
            if (!comma) comma = eol;
            txt_terms t;
            if ((st = txt_analyze(a, w, (size_t)(comma - w), &t))) {
                st = hk_fail_prefix(st, "synonyms, line %zu", line);
                break;
            }
            int blank = 1;
            for (const char *x = w; x < comma; x++) blank &= *x == ' ' || *x == '\t' || *x == '\r';
            if (t.n != 1 && !blank) {
                st = hk_fail(HK_INVALID, "synonyms, line %zu: '%.*s' gives %zu index terms; each "
                             "entry must be one word that is not a stop word", line,
                             (int)(comma - w), w, t.n);
            } else if (t.n == 1) {
                char *term = hk_strndup(t.terms[0], strlen(t.terms[0]));
                if (!term) st = hk_fail(HK_NOMEM, "out of memory");
                else if ((st = syn_push(s, &cap, term))) hk_free(term);
            }
            txt_terms_free(&t);
            w = comma + 1;
        }
        if (!st && s->nterms - first < 2)
            st = hk_fail(HK_INVALID, "synonyms, line %zu: a group needs at least two words "
                         "separated by commas", line);
        if (!st) {
            if (s->ngroups + 2 > gcap) {
                size_t nc = gcap ? 2 * gcap : 16;
                size_t *g = hk_realloc(s->start, nc * sizeof *g);
                if (!g) st = hk_fail(HK_NOMEM, "out of memory");
                else {
                    s->start = g;
                    gcap = nc;
                }
            }
            if (!st) s->start[s->ngroups++] = first;
        }
        p = eol + 1;
    }
    if (!st && !(s->start = s->start ? s->start : hk_malloc(sizeof *s->start)))
        st = hk_fail(HK_NOMEM, "out of memory");
    if (!st) s->start[s->ngroups] = s->nterms;
    if (!st && !(s->by_term = hk_malloc((s->nterms ? s->nterms : 1) * sizeof *s->by_term)))
        st = hk_fail(HK_NOMEM, "out of memory");
    if (st) {
        syn_table_free(s);
        return st;
    }
    for (size_t i = 0; i < s->nterms; i++) s->by_term[i] = (syn_entry){s->terms[i], s->group[i]};
    qsort(s->by_term, s->nterms, sizeof *s->by_term, cmp_entry_term);
    *out = s;
    return HK_OK;
}


/* Adds, for each term of q in a group, the group's other terms with the term's weight. */
static hk_status syn_expand(const syn_table *s, wlist *q) {
    size_t n0 = q->n;
    hk_status st = HK_OK;
    for (size_t i = 0; i < n0 && !st; i++) {
        /* binary search for the first entry equal to the term */
        size_t lo = 0, hi = s->nterms;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(s->by_term[mid].term, q->t[i].term) < 0) lo = mid + 1;
            else hi = mid;
        }
        for (; lo < s->nterms && !st && !strcmp(s->by_term[lo].term, q->t[i].term); lo++) {
            uint32_t g = s->by_term[lo].group;
            for (size_t j = s->start[g]; j < s->start[g + 1] && !st; j++)
                if (!wl_find(q, s->terms[j])) st = wl_add(q, s->terms[j], q->t[i].w);
        }
    }
    return st;
}

/* ---- phrase ---- */

/* Whether the terms of phrase occur consecutively in the slot's analyzed text. */
static hk_status phrase_in(hk_collection *c, uint32_t slot, const txt_terms *phrase, int *found) {
    *found = 0;
    txt_terms t;
    hk_status st = txt_analyze(c->analyzer, c->texts[slot], c->text_lens[slot], &t);
    if (st) return st;
    for (size_t i = 0; i + phrase->n <= t.n && !*found; i++) {
        size_t j = 0;
        while (j < phrase->n && !strcmp(t.terms[i + j], phrase->terms[j])) j++;
        *found = j == phrase->n;
    }
    txt_terms_free(&t);
    return HK_OK;
}

/* ---- the query ---- */

static hk_status resolve(hk_collection *c, const uint64_t *ids, size_t n, const char *what,
                         uint32_t *slots) {
    for (size_t i = 0; i < n; i++)
        if (!u64map_get(&c->map, ids[i], &slots[i]))
            return hk_fail(HK_NOT_FOUND, "no point with id %llu (a %s example) in collection '%s'",
                           (unsigned long long)ids[i], what, c->name);
    return HK_OK;
}

/* Rocchio on the weighted terms q (slots: the nrel relevant, then the non-relevant
 * examples): alpha * q + beta * mean(relevant) - gamma * mean(non-relevant), each over
 * L1-normalized term vectors; the query's terms stay while positive, and at most
 * rocchio_terms new ones (the heaviest) join them. */
static hk_status rocchio_terms(hk_collection *c, const text_request *r, const uint32_t *slots,
                               wlist *q) {
    wlist fb = {0}, keep = {0}, extra = {0};
    hk_status st = HK_OK;
    wl_normalize(q);
    for (size_t i = 0; i < q->n && !st; i++) st = wl_add(&fb, q->t[i].term, r->alpha * q->t[i].w);
    for (size_t i = 0; i < r->nrel && !st; i++)
        st = add_text_terms(c, slots[i], r->beta / (double)r->nrel, &fb);
    for (size_t i = 0; i < r->nnonrel && !st; i++)
        st = add_text_terms(c, slots[r->nrel + i], -r->gamma / (double)r->nnonrel, &fb);
    if (!st) wl_merge(&fb);
    for (size_t i = 0; i < fb.n && !st; i++)
        st = wl_add(wl_find(q, fb.t[i].term) ? &keep : &extra, fb.t[i].term, fb.t[i].w);
    if (!st) {
        wl_keep_top(&keep, 0);
        if (r->rocchio_terms) wl_keep_top(&extra, r->rocchio_terms);
        else wl_free(&extra);
    }
    for (size_t i = 0; i < extra.n && !st; i++) st = wl_add(&keep, extra.t[i].term, extra.t[i].w);
    wl_free(&fb);
    wl_free(&extra);
    if (st) {
        wl_free(&keep);
        return st;
    }
    wl_free(q);
    *q = keep;
    return HK_OK;
}

/* RM3 on the weighted terms q: the first pass's top fb_docs documents D, weighted by their
 * share of the scores, give P(t) = sum_D w_D * tf(t, D) / |D|; the fb_terms heaviest
 * terms, normalized to sum 1, mix with the query normalized to sum 1:
 * lambda * q + (1 - lambda) * P. */
static hk_status rm3_terms(hk_collection *c, const text_request *r, const roaring_bitmap_t *allow,
                           wlist *q) {
    bm25_hit *first = NULL;
    size_t nfirst = 0;
    bm25_doc d;
    hk_status st = wl_to_doc(q, &d);
    if (!st) st = coll_text_search(c, &d, r->fb_docs, 0, allow, &first, &nfirst);
    bm25_doc_free(&d);
    wlist fb = {0}, mix = {0};
    double total = 0;
    for (size_t i = 0; i < nfirst; i++) total += first[i].score;
    for (size_t i = 0; i < nfirst && !st && total > 0; i++)
        st = add_text_terms(c, first[i].slot, first[i].score / total, &fb);
    hk_free(first);
    if (!st) {
        wl_merge(&fb);
        wl_keep_top(&fb, r->fb_terms);
        wl_normalize(&fb);
        wl_normalize(q);
    }
    for (size_t i = 0; i < q->n && !st; i++) st = wl_add(&mix, q->t[i].term, r->rm3_weight * q->t[i].w);
    for (size_t i = 0; i < fb.n && !st; i++) st = wl_add(&mix, fb.t[i].term, (1 - r->rm3_weight) * fb.t[i].w);
    wl_free(&fb);
    if (st) {
        wl_free(&mix);
        return st;
    }
    wl_merge(&mix);
    wl_keep_top(&mix, 0);
    wl_free(q);
    *q = mix;
    return HK_OK;
}

/* Documents holding every term of d, best first, kept when their analyzed text holds the
 * phrase, until want (0: all) are found. */
static hk_status phrase_search(hk_collection *c, const bm25_doc *d, const txt_terms *phrase,
                               const roaring_bitmap_t *allow, size_t want, bm25_hit **hits,
                               size_t *nhits) {
    bm25_hit *cand = NULL;
    size_t ncand = 0, m = 0;
    hk_status st = coll_text_search(c, d, 0, 1, allow, &cand, &ncand);
    for (size_t i = 0; i < ncand && !st && (!want || m < want); i++) {
        int found;
        st = phrase_in(c, cand[i].slot, phrase, &found);
        if (!st && found) cand[m++] = cand[i];
    }
    if (st) {
        hk_free(cand);
        return st;
    }
    *hits = cand;
    *nhits = m;
    return HK_OK;
}

hk_status coll_text_query(hk_collection *c, const text_request *r, const roaring_bitmap_t *allow,
                          size_t want, bm25_hit **hits, size_t *nhits) {
    *hits = NULL;
    *nhits = 0;
    int feedback = r->rm3 || r->nrel || r->nnonrel;
    if (feedback && r->match != HK_TEXT_MATCH_ANY)
        return hk_fail(HK_INVALID, "search: query expansion (rm3) and relevance feedback apply to "
                       "match any, not to all-terms or phrase matching");
    txt_terms phrase;
    hk_status st = txt_analyze(c->analyzer, r->text, r->len, &phrase);
    if (st) return hk_fail_prefix(st, "search: query text");
    wlist q = {0};
    bm25_doc d = {0};
    roaring_bitmap_t *own = NULL;
    uint32_t *slots = NULL;
    for (size_t i = 0; i < phrase.n && !st; i++) st = wl_add(&q, phrase.terms[i], 1);
    if (!st) wl_merge(&q);
    if (!st && r->match == HK_TEXT_MATCH_ANY && c->syn) st = syn_expand(c->syn, &q);
    if (!st && (r->nrel || r->nnonrel)) {
        /* The examples' terms move the query; the examples leave the results. */
        if (!(slots = hk_malloc((r->nrel + r->nnonrel + 1) * sizeof *slots))) st = hk_fail(HK_NOMEM, "out of memory");
        if (!st) st = resolve(c, r->rel, r->nrel, "relevant", slots);
        if (!st) st = resolve(c, r->nonrel, r->nnonrel, "non-relevant", slots + r->nrel);
        if (!st) st = rocchio_terms(c, r, slots, &q);
        if (!st && !(own = roaring_bitmap_copy(allow ? allow : c->live_bm))) st = hk_fail(HK_NOMEM, "out of memory");
        for (size_t i = 0; i < r->nrel + r->nnonrel && !st; i++) roaring_bitmap_remove(own, slots[i]);
        if (own) allow = own;
    }
    if (!st && r->rm3 && q.n) st = rm3_terms(c, r, allow, &q);
    if (!st) st = wl_to_doc(&q, &d);
    if (!st && r->match == HK_TEXT_MATCH_PHRASE && phrase.n > 1)
        st = phrase_search(c, &d, &phrase, allow, want, hits, nhits);
    else if (!st)
        st = coll_text_search(c, &d, want, r->match != HK_TEXT_MATCH_ANY, allow, hits, nhits);
    bm25_doc_free(&d);
    wl_free(&q);
    txt_terms_free(&phrase);
    hk_free(slots);
    if (own) roaring_bitmap_free(own);
    return st;
}
