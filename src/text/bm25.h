/*
 * bm25.h — the inverted index of one collection and BM25 top-k search over it.
 *
 * Documents are numbered by arrival (docno); each remembers the collection slot it
 * belongs to. A text that changes or goes away leaves a tombstone (its docno maps to no
 * slot) and the new text gets a fresh docno, so postings only ever grow at their end:
 * doc ids are strictly increasing and compress as deltas. Tombstones are dropped when
 * the index is written to a snapshot (bm25_write renumbers the live documents to the
 * snapshot's rows), and document frequencies, the document count and the total length
 * always count live documents only (a removed text is analyzed again to find its terms),
 * so scores do not drift with updates.
 *
 * Postings of a term: sealed blocks of BM25_BLOCK documents, each variable-byte encoded
 * (doc deltas, then term frequencies) with its last doc id, its largest term frequency and
 * its shortest document length beside it, plus an uncompressed tail of fewer than
 * BM25_BLOCK. A block's (largest tf, shortest length) bounds the BM25 score of any
 * document in it under the collection statistics of the moment, so bounds stay valid as
 * those change. Search is MaxScore (Turtle & Flood) with block-max bounds on the
 * non-essential lists; it returns exactly the exhaustive top-k, ties broken by docno.
 *
 * Scores: sum over query terms t (with multiplicity, or the query's weight for t) of
 *   idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
 *   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))  (Lucene's non-negative idf),
 * N = live documents with at least one term, avgdl their mean length in terms.
 *
 * Not thread-safe by itself: the collection changes it under its write lock and searches
 * it under its read lock.
 */
#ifndef HK_TEXT_BM25_H
#define HK_TEXT_BM25_H

#include <roaring/roaring.h>
#include <stddef.h>
#include <stdint.h>

#include "analyzer.h"
#include "core.h"

#define BM25_BLOCK 128u
#define BM25_NONE UINT32_MAX
#define BM25_DEFAULT_K1 1.2f
#define BM25_DEFAULT_B 0.75f
#define BM25_MAX_K1 100.0f

typedef struct bm25_index bm25_index;

/* The text settings of a collection, as resolved (defaults applied). */
typedef struct bm25_params {
    uint32_t language; /* analyzer language */
    uint32_t flags;    /* HK_TEXT_NO_STEM, HK_TEXT_NO_STOPWORDS (others are not stored here) */
    float k1, b;
} bm25_params;

/* A document's distinct terms with their frequencies, and its length in terms. */
typedef struct bm25_doc {
    char **terms; /* into block */
    uint32_t *tf;
    uint32_t nterms;
    uint32_t len;
    char *block;
    double *qw; /* queries only: a weight per term used instead of tf, or NULL */
} bm25_doc;

/* Counts analyzed terms into a document (or a query: repeated terms count as weight). */
hk_status bm25_doc_from_terms(txt_terms *t, bm25_doc *out); /* takes t's memory */
/* A weighted query from n distinct terms (copied) and their weights (> 0). */
hk_status bm25_doc_weighted(const char *const *terms, const double *w, size_t n, bm25_doc *out);
void bm25_doc_free(bm25_doc *d);

hk_status bm25_new(const bm25_params *p, bm25_index **out);
void bm25_free(bm25_index *ix);
const bm25_params *bm25_get_params(const bm25_index *ix);

/* Indexes d as the text of slot (which must hold none). A document without terms is not
 * indexed. On HK_NOMEM the index may hold part of the document: callers poison. */
hk_status bm25_add(bm25_index *ix, uint32_t slot, const bm25_doc *d);
/* Removes slot's document; d must be its terms (the same text analyzed again). */
void bm25_remove(bm25_index *ix, uint32_t slot, const bm25_doc *d);
int bm25_has(const bm25_index *ix, uint32_t slot);

typedef struct bm25_hit {
    uint32_t slot;
    float score;
} bm25_hit;

typedef struct bm25_stats {
    uint64_t scored;      /* documents fully scored */
    uint64_t blocks_read; /* blocks decoded */
} bm25_stats;

/* The best k documents for the query's terms (k = 0: every matching document), best
 * first, restricted to slots in allow when it is not NULL. hits must hold k entries (or,
 * for k = 0, bm25_max_hits). exhaustive: score every posting (the reference the fast path
 * is tested against). */
hk_status bm25_search(const bm25_index *ix, const bm25_doc *q, size_t k,
                      const roaring_bitmap_t *allow, int exhaustive, bm25_hit *hits,
                      size_t *nhits, bm25_stats *stats);
size_t bm25_max_hits(const bm25_index *ix);
/* The same, for documents holding every query term (conjunctive matching): the rarest
 * term leads and the others seek to its documents. Scores and ties as bm25_search. */
hk_status bm25_search_all(const bm25_index *ix, const bm25_doc *q, size_t k,
                          const roaring_bitmap_t *allow, bm25_hit *hits, size_t *nhits,
                          bm25_stats *stats);

typedef struct bm25_info {
    uint64_t docs;      /* live documents with terms */
    uint64_t terms;     /* distinct terms with live postings (or tombstoned ones) */
    uint64_t postings;  /* including tombstoned ones */
    uint64_t tokens;    /* total length of live documents */
    uint64_t bytes;     /* heap bytes */
} bm25_info;
void bm25_get_info(const bm25_index *ix, bm25_info *out);

/* The collection's query-time synonym list (its text, as the user gave it) rides in the
 * index so that it is written and loaded with the TIDX section. set takes ownership of
 * text (hk_malloc'd, or NULL for none) and cannot fail. */
void bm25_set_synonyms(bm25_index *ix, char *text, size_t len);
const char *bm25_synonyms(const bm25_index *ix, size_t *len); /* NULL when none */
/* Documents holding term (0 when absent). */
uint32_t bm25_df(const bm25_index *ix, const char *term);
uint64_t bm25_ndocs(const bm25_index *ix);

/* The snapshot section (docs/FORMAT.md, TIDX): live documents renumbered to rows;
 * row_of_slot[s] is slot s's row (BM25_NONE for a slot that is not written), nrows the
 * number of rows. */
hk_status bm25_write(const bm25_index *ix, const uint32_t *row_of_slot, size_t nslots,
                     size_t nrows, hk_buf *out);
/* Loads a section written by bm25_write for nrows rows; slot = row. has_text[row] says
 * whether the row has a text (documents must exist only there). HK_CORRUPT with the
 * reason and offset on any inconsistency. */
hk_status bm25_load(const uint8_t *data, size_t len, size_t nrows, const uint8_t *has_text,
                    bm25_index **out);

/* Checks the index's internal invariants (verify). */
hk_status bm25_validate(const bm25_index *ix);

#endif
