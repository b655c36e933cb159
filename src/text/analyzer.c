/*
 * analyzer.c — see analyzer.h. Normalization runs through utf8proc into a buffer of code
 * points taken from HEKTOR's allocator (utf8proc_decompose + utf8proc_normalize_utf32
 * rather than utf8proc_map, which would malloc), then segmentation walks those code
 * points once and re-encodes each term to UTF-8 for the stop list and the stemmer.
 */
#include "analyzer.h"

#include <libstemmer.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const char *const languages[] = {
    "english", "arabic", "armenian", "basque", "catalan", "danish", "dutch", "finnish",
    "french", "german", "greek", "hindi", "hungarian", "indonesian", "irish", "italian",
    "lithuanian", "nepali", "norwegian", "portuguese", "romanian", "russian", "serbian",
    "spanish", "swedish", "tamil", "turkish", "yiddish"};
#define NLANG (sizeof languages / sizeof languages[0])

/* English function words, sorted for bsearch. Chosen for retrieval: words that carry
 * no topic (articles, pronouns, auxiliaries, prepositions, conjunctions, and the
 * fragments "s" and "t" that apostrophes leave). */
static const char *const stop_en[] = {
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during",
    "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her",
    "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
    "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours",
    "ourselves", "out", "over", "own", "s", "same", "she", "should", "so", "some", "such",
    "t", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there",
    "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom",
    "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves"};

struct txt_analyzer {
    uint32_t lang, flags;
    const char *const *stop;
    size_t nstop;
    struct sb_stemmer *stemmer; /* NULL without stemming */
    pthread_mutex_t mu;         /* the stemmer keeps per-call state */
};

const char *txt_language_name(uint32_t lang) { return lang < NLANG ? languages[lang] : NULL; }
uint32_t txt_language_count(void) { return (uint32_t)NLANG; }

int txt_language_parse(const char *name, uint32_t *lang) {
    for (uint32_t i = 0; name && i < NLANG; i++)
        if (!strcmp(name, languages[i])) {
            *lang = i;
            return 1;
        }
    return 0;
}

const char *hk_language_name(uint32_t lang) { return txt_language_name(lang); }

hk_status hk_language_parse(const char *s, uint32_t *out) {
    if (!s || !out) return hk_fail(HK_INVALID, "language: argument is NULL");
    if (txt_language_parse(s, out)) return HK_OK;
    return hk_fail(HK_INVALID, "unknown language '%s' (english, french, german, spanish, "
                   "... : see hk_language_parse in hektor.h)", s);
}

hk_status txt_analyzer_new(uint32_t lang, uint32_t flags, txt_analyzer **out) {
    if (lang >= NLANG) return hk_fail(HK_INVALID, "unknown text language %u", lang);
    txt_analyzer *a = hk_calloc(1, sizeof *a);
    if (!a) return hk_fail(HK_NOMEM, "out of memory");
    a->lang = lang;
    a->flags = flags;
    if (lang == 0 && !(flags & HK_TEXT_NO_STOPWORDS)) {
        a->stop = stop_en;
        a->nstop = sizeof stop_en / sizeof stop_en[0];
    }
    if (!(flags & HK_TEXT_NO_STEM) && !(a->stemmer = sb_stemmer_new(languages[lang], "UTF_8"))) {
        hk_free(a);
        return hk_fail(HK_NOMEM, "cannot create the %s stemmer (out of memory)", languages[lang]);
    }
    pthread_mutex_init(&a->mu, NULL);
    *out = a;
    return HK_OK;
}

void txt_analyzer_free(txt_analyzer *a) {
    if (!a) return;
    if (a->stemmer) sb_stemmer_delete(a->stemmer);
    pthread_mutex_destroy(&a->mu);
    hk_free(a);
}

void txt_terms_free(txt_terms *t) {
    if (!t) return;
    hk_free(t->terms);
    hk_free(t->block);
    memset(t, 0, sizeof *t);
}

static int cmp_str(const void *k, const void *e) { return strcmp(k, *(const char *const *)e); }

static int is_stop(const txt_analyzer *a, const char *w) {
    return a->nstop && bsearch(w, a->stop, a->nstop, sizeof *a->stop, cmp_str) != NULL;
}

enum { CP_SEP, CP_WORD, CP_MARK, CP_SINGLE };

static int cp_class(utf8proc_int32_t cp) {
    if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
        (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
        (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x3134F))
        return CP_SINGLE;
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CP_WORD;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        return CP_MARK;
    default:
        return CP_SEP;
    }
}

/* Appends one term (UTF-8 in w[0..len)) after stop-word and stemming steps. */
static hk_status emit(txt_analyzer *a, hk_buf *block, hk_buf *offs, char *w, size_t len) {
    if (len > TXT_MAX_TERM) return HK_OK;
    w[len] = 0;
    if (is_stop(a, w)) return HK_OK;
    const char *t = w;
    size_t tl = len;
    if (a->stemmer) {
        const sb_symbol *s = sb_stemmer_stem(a->stemmer, (const sb_symbol *)w, (int)len);
        if (!s) return hk_fail(HK_NOMEM, "out of memory stemming");
        t = (const char *)s;
        tl = (size_t)sb_stemmer_length(a->stemmer);
        if (!tl) return HK_OK;
    }
    uint64_t at = block->len;
    hk_status st = hk_buf_append(block, t, tl);
    if (!st) st = hk_buf_putc(block, 0);
    if (!st) st = hk_buf_append(offs, &at, sizeof at);
    return st;
}

static hk_status analyze_cps(txt_analyzer *a, const utf8proc_int32_t *cp, size_t n,
                             hk_buf *block, hk_buf *offs) {
    char w[TXT_MAX_TERM + 8];
    size_t wl = 0;
    int in_word = 0, too_long = 0;
    hk_status st = HK_OK;
    for (size_t i = 0; i <= n && !st; i++) {
        int cls = i < n ? cp_class(cp[i]) : CP_SEP;
        if (cls == CP_MARK && !in_word) cls = CP_SEP;
        if (cls == CP_WORD || cls == CP_MARK) {
            uint8_t enc[4];
            utf8proc_ssize_t el = utf8proc_encode_char(cp[i], enc);
            if (wl + (size_t)el > TXT_MAX_TERM) too_long = 1;
            else {
                memcpy(w + wl, enc, (size_t)el);
                wl += (size_t)el;
            }
            in_word = 1;
            continue;
        }
        if (in_word && !too_long) st = emit(a, block, offs, w, wl);
        in_word = too_long = 0;
        wl = 0;
        if (cls == CP_SINGLE && !st) {
            uint8_t enc[4];
            utf8proc_ssize_t el = utf8proc_encode_char(cp[i], enc);
            memcpy(w, enc, (size_t)el);
            st = emit(a, block, offs, w, (size_t)el);
        }
    }
    return st;
}

hk_status txt_analyze(txt_analyzer *a, const char *text, size_t len, txt_terms *out) {
    memset(out, 0, sizeof *out);
    if (len && !text) return hk_fail(HK_INVALID, "text is NULL");
    if (len > (size_t)INT32_MAX / 4) return hk_fail(HK_INVALID, "text of %zu bytes is too long to analyze", len);
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                                  UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
    /* Normalization expands by at most a small factor; size it exactly with a first pass
     * when the guess is short. */
    size_t cap = len + 16;
    utf8proc_int32_t *cp = NULL;
    utf8proc_ssize_t n;
    for (;;) {
        cp = hk_malloc(cap * sizeof *cp);
        if (!cp) return hk_fail(HK_NOMEM, "out of memory analyzing text");
        n = utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, cp,
                               (utf8proc_ssize_t)cap, opt);
        if (n < 0) {
            hk_free(cp);
            if (n == UTF8PROC_ERROR_NOMEM) return hk_fail(HK_NOMEM, "out of memory analyzing text");
            return hk_fail(HK_INVALID, "text is not valid UTF-8: %s", utf8proc_errmsg(n));
        }
        if ((size_t)n <= cap) break;
        hk_free(cp);
        cap = (size_t)n;
    }
    n = utf8proc_normalize_utf32(cp, n, opt);
    if (n < 0) {
        hk_free(cp);
        return hk_fail(HK_INVALID, "text cannot be normalized: %s", utf8proc_errmsg(n));
    }
    hk_buf block, offs;
    hk_buf_init(&block);
    hk_buf_init(&offs);
    pthread_mutex_lock(&a->mu);
    hk_status st = analyze_cps(a, cp, (size_t)n, &block, &offs);
    pthread_mutex_unlock(&a->mu);
    hk_free(cp);
    size_t nt = offs.len / sizeof(uint64_t);
    if (!st && nt && !(out->terms = hk_malloc(nt * sizeof *out->terms)))
        st = hk_fail(HK_NOMEM, "out of memory analyzing text");
    if (!st && !block.data) st = hk_buf_putc(&block, 0);
    if (st) {
        hk_buf_free(&block);
        hk_buf_free(&offs);
        hk_free(out->terms);
        out->terms = NULL;
        return st;
    }
    out->block = (char *)hk_buf_detach(&block, NULL);
    for (size_t i = 0; i < nt; i++) {
        uint64_t at;
        memcpy(&at, offs.data + i * sizeof at, sizeof at);
        out->terms[i] = out->block + at;
    }
    out->n = nt;
    hk_buf_free(&offs);
    return HK_OK;
}
