/*
 * analyzer.h — turns UTF-8 text into index terms.
 *
 * Steps, in order (docs/TEXT.md describes them for users):
 *  1. Validation: text that is not well-formed UTF-8 is rejected (HK_INVALID), never
 *     repaired, so what the index holds is exactly what the caller stored.
 *  2. Normalization: NFKC with Unicode case folding and default-ignorable code points
 *     removed (utf8proc's NFKC_Casefold options): "ﬁ" -> "fi", "Straße" -> "strasse".
 *  3. Segmentation: a term is a maximal run of letters (L*), numbers (N*) and combining
 *     marks (M*, only after a letter or number). Everything else separates terms. Han,
 *     Hiragana, Katakana and Hangul syllables are emitted one code point per term,
 *     since those scripts do not separate words with spaces. Terms longer than
 *     TXT_MAX_TERM bytes are dropped (they are almost always garbage: base64, hashes).
 *  4. Stop words: the language's list (English only so far) drops function words.
 *  5. Stemming: the language's Snowball stemmer (libstemmer), unless turned off.
 *
 * An analyzer is immutable after txt_analyzer_new, except for the Snowball stemmer,
 * which keeps state per call: a mutex serializes it, so one analyzer serves every thread.
 */
#ifndef HK_TEXT_ANALYZER_H
#define HK_TEXT_ANALYZER_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

#define TXT_MAX_TERM 128u

typedef struct txt_analyzer txt_analyzer;

/* Languages a collection may name: their Snowball stemmer names, index = hk_language. */
const char *txt_language_name(uint32_t lang); /* NULL when out of range */
int txt_language_parse(const char *name, uint32_t *lang);
uint32_t txt_language_count(void);

/* flags: HK_TEXT_NO_STEM, HK_TEXT_NO_STOPWORDS (hektor.h). */
hk_status txt_analyzer_new(uint32_t lang, uint32_t flags, txt_analyzer **out);
void txt_analyzer_free(txt_analyzer *a);

/* The terms of a text in order, each NUL-terminated, back to back in one block:
 * terms[i] points into it. Free with txt_terms_free. */
typedef struct txt_terms {
    char **terms;
    size_t n;
    char *block;
} txt_terms;

hk_status txt_analyze(txt_analyzer *a, const char *text, size_t len, txt_terms *out);
void txt_terms_free(txt_terms *t);

#endif
