/*
 * collection.h — private layout of a collection and of the database that owns it.
 *
 * Points live in slots: dense row numbers into flat arrays (vectors 64-byte aligned,
 * contiguous; norms; ids; live flags; payload and text pointers). Deleted slots are
 * recycled through a free list, so memory is reused and row numbers stay small enough
 * for 32-bit roaring bitmaps. An id map turns ids into slots.
 *
 * Concurrency: write_mu serializes writers (and checkpoints); rw is taken for reading by
 * queries and for writing only for the short commit step, so readers run beside a writer
 * that is busy validating, logging and syncing.
 *
 * Every write is one log record. The same apply code runs for a live write and for log
 * replay, in three steps: prepare (validates, builds the new values in private memory;
 * may fail, touches nothing shared), reserve (grows the shared arrays so commit cannot
 * fail; runs under the write side of rw because it moves memory readers use, but changes
 * nothing visible) and commit (cannot fail short of memory exhaustion in bitmaps or
 * indexes, which poisons the handle). A live write logs the record between reserve and
 * commit.
 */
#ifndef HK_COLLECTION_H
#define HK_COLLECTION_H

#include <pthread.h>
#include <roaring/roaring.h>
#include <stdatomic.h>

#include "core.h"
#include "u64map.h"
#include "../index/hnsw.h"
#include "../index/payload_index.h"
#include "../quant/quant.h"
#include "../store/vecfile.h"
#include "../store/wal.h"
#include "../text/bm25.h"

enum { REC_UPSERT = 1, REC_DELETE = 2, REC_SET_PAYLOAD = 3, REC_DELETE_PAYLOAD = 4,
       REC_CREATE_INDEX = 5, REC_DROP_INDEX = 6, REC_SET_SYNONYMS = 7 };

struct hk_db {
    char *path;
    char *coll_dir;
    uint32_t flags;
    int lock_fd;
    uint64_t checkpoint_bytes;
    pthread_mutex_t mu; /* guards the cache below and refcounts */
    hk_collection **cache;
    size_t ncache, capcache;
    size_t handles; /* collection handles given out and not yet closed */
    void (*notice)(void *ud, const char *msg);
    void *notice_ud;
};

struct hk_collection {
    hk_db *db;
    char *name, *dir, *snap_path, *wal_path;
    hk_collection_config cfg;
    int refs;         /* guarded by db->mu */
    atomic_int dropped;
    int poisoned;
    int read_only, nosync;

    pthread_rwlock_t rw;
    pthread_mutex_t write_mu;

    wal *wal;
    uint64_t lsn;      /* last applied record */
    uint64_t snap_lsn; /* LSN the snapshot on disk includes */
    uint64_t snap_bytes;

    size_t nslots, cap;
    float *vectors;  /* heap (hk_aligned_alloc), or vf's mapping when vf is set */
    float *pre_vectors; /* a grown copy made outside rw (pregrow_vectors), pre_cap slots */
    size_t pre_cap;
    vecfile *vf;     /* vectors kept on disk and mapped (hk_collection_set_vector_storage) */
    int disk_wanted; /* the snapshot says on disk but the file could not be made at open:
                        the vectors are on the heap this time, the setting is kept */
    float *norms;
    uint64_t *ids;
    uint8_t *live;
    uint8_t **payloads;  /* hkb objects or NULL */
    char **texts;
    uint32_t *text_lens;
    uint8_t *payload_base; /* snapshot blobs that payload/text pointers may point into */
    size_t payload_base_len;
    char *text_base;
    size_t text_base_len;

    roaring_bitmap_t *live_bm;
    uint32_t *free_slots;
    size_t nfree, free_cap;
    u64map map;
    uint64_t count, next_id;
    uint64_t payload_bytes, text_bytes;

    payload_index **pidx;
    size_t npidx;

    /* HK_INDEX_HNSW: links over the slots. Writers change it under write_mu, in steps
     * under the write side of rw (deletes within the commit, inserts afterwards in
     * chunks, so readers wait for one chunk at most). pending holds the live slots not
     * yet linked (new or with a replaced vector): searches scan those exactly and keep
     * them out of the walk, so a point is found from the moment it is committed. */
    hnsw *graph;
    roaring_bitmap_t *pending;
    roaring_bitmap_t *relink; /* pending slots that are still nodes: their vector changed
                                 and they wait to be unlinked in a batch (graph_sync) */
    size_t graph_chunk;
    int graph_stale; /* an unlink failed: the graph may hold dead slots, walks filter them */
    /* Graph changes since every node was last made reachable (hnsw_connect): checked
     * after each write while the graph is small, amortized (1/32 of the nodes) above
     * that, and always before a snapshot is written. */
    size_t graph_unchecked;

    /* Codes (hk_collection_quantize): cb encodes every live slot's vector into codes
     * (cap * code_size bytes), computed in prepare and copied in at commit. Searches
     * scan or walk the codes and re-rank rerank candidates with the vectors. Set and
     * cleared under write_mu plus the write side of rw. */
    hk_codebook *cb;
    char *cb_name;
    uint32_t rerank;
    /* The quantization asked for (hk_collection_set_quant_request), with or without codes
     * yet; kept in the QNTZ record. Under write_mu plus the write side of rw. */
    int want;
    hk_quant_params want_p;
    uint32_t want_rerank;
    /* Memory only (quantize.c, "Request generations"): want_gen changes whenever the
     * request does; met_gen is the generation the codes were made for (0: by hand). */
    uint64_t want_gen, met_gen;
    uint8_t *codes;
    uint8_t *fs;      /* 4-bit PQ: the codes again in the fast-scan layout (cb_fs_size(cap)) */
    size_t code_size;

    /* Text search (textindex.c): the analyzer is fixed at load; the index changes in
     * commits like the payload indexes. */
    txt_analyzer *analyzer;
    bm25_index *text_ix;
    struct syn_table *syn; /* the parsed synonym list (textquery.c), or NULL */

    pthread_mutex_t sort_mu;
    uint64_t *sorted;  /* live ids ascending, rebuilt lazily for scroll */
    size_t nsorted;
    atomic_int sorted_dirty;
};

/* db.c */
void db_notice(hk_db *db, const char *fmt, ...) HK_PRINTF(2, 3);
/* Names of collections and codebooks: 1..HK_MAX_NAME of [A-Za-z0-9_.-], no leading '.'. */
hk_status db_check_name(const char *name, const char *what);
/* 1 when some process holds the database's writer lock (probed without waiting). */
int db_writer_active(const hk_db *db);

/* collection.c */
/* Checks a create-time config and fills defaults (0 = default for the HNSW settings). */
hk_status coll_config_normalize(hk_collection_config *cfg);
hk_status coll_load(hk_db *db, const char *name, hk_collection **out);
void coll_free(hk_collection *c);
hk_status coll_write_snapshot(hk_collection *c, const char *path, uint64_t *bytes);
/* Writes a snapshot even when nothing was logged since the last (the quantizer changed)
 * and resets the log. Called with write_mu held. */
hk_status coll_checkpoint_force(hk_collection *c);
/* The matrix graphs are built on (the vectors, or symmetric codes when quantized). */
/* The matrix the graph is built on; view is the caller's storage for its codes view (the
 * graph is built on codes that have a symmetric distance), so concurrent readers never
 * write shared state. */
flat_matrix coll_graph_matrix(hk_collection *c, vec_codes *view);
/* Checks the handle for a write and takes write_mu (released by the caller). */
hk_status coll_write_begin(hk_collection *c);
/* The checks hk_upsert makes on a batch, without writing it (HK_OK when it would be
 * accepted, else its error): lets an import reject a whole file before its first batch. */
hk_status coll_check_points(hk_collection *c, const hk_point *pts, size_t n);

/* quantize.c */
/* The record of the snapshot's QNTZ section (rerank, storage flags, name, codebook, the
 * requested quantization); written when the collection has codes, keeps its vectors on
 * disk or asks for a quantization. */
hk_status coll_quant_encode(const hk_collection *c, hk_buf *out);
/* 1 when the collection keeps (or wants to keep) its vectors on disk. */
static inline int coll_vectors_disk(const hk_collection *c) { return c->vf || c->disk_wanted; }
/* A request generation never handed out before in this process (never 0). */
uint64_t coll_quant_next_gen(void);
/* 1 when the collection has codes made for its current request. */
static inline int coll_quant_met(const hk_collection *c) {
    return c->want && c->cb && c->met_gen && c->met_gen == c->want_gen;
}
/* 1 when a QNTZ record says the vectors are kept on disk (checked again on adoption). */
int coll_quant_on_disk(const uint8_t *rec, size_t len);
/* Parses a QNTZ record and adopts codes (n * code size bytes, or NULL to encode the
 * vectors anew) for a collection of n slots just loaded. codes is taken over. */
hk_status coll_quant_adopt(hk_collection *c, const uint8_t *rec, size_t len, uint8_t *codes,
                           size_t codes_len);
/* The approximate-distance view of the collection's codes for the index layer. */
vec_codes coll_codes_view(const hk_collection *c);
/* Re-rank depth for a query wanting k results. */
size_t coll_rerank_depth(const hk_collection *c, uint32_t override, size_t want);

/* textindex.c */
struct snap_image;
/* Checks and fills the text settings of a create-time config (and dim 0 for text-only). */
hk_status coll_text_config_normalize(hk_collection_config *cfg);
/* The TIDX section of an empty collection with cfg's settings. */
hk_status coll_text_empty_section(const hk_collection_config *cfg, hk_buf *out);
/* Loads the snapshot's index (or builds one from the texts of an older snapshot). */
hk_status coll_text_load(hk_collection *c, const struct snap_image *img);
void coll_text_free(hk_collection *c);
/* Analyzes a text with the collection's analyzer (no lock needed). */
hk_status coll_text_analyze(hk_collection *c, const char *text, size_t len, bm25_doc *out);
/* In a commit: take slot's current text out of the index / index d as its new text. */
void coll_text_unindex(hk_collection *c, uint32_t slot);
void coll_text_index(hk_collection *c, uint32_t slot, const bm25_doc *d);
hk_status coll_text_encode(const hk_collection *c, hk_buf *out);
uint64_t coll_text_memory(const hk_collection *c);
hk_status coll_text_verify(const hk_collection *c);
/* A REC_SET_SYNONYMS body checked and parsed (prepare), then installed (commit, which
 * cannot fail and takes both). An empty body clears the list. */
hk_status coll_syn_prepare(hk_collection *c, const uint8_t *body, size_t len,
                           struct syn_table **syn, char **text);
void coll_syn_commit(hk_collection *c, struct syn_table *syn, char *text, size_t len);
/* Top want (0: all) BM25 hits under the read lock, of documents holding any query term
 * (or every one with match_all); *hits is freed with hk_free. */
hk_status coll_text_search(hk_collection *c, const bm25_doc *q, size_t want, int match_all,
                           const roaring_bitmap_t *allow, bm25_hit **hits, size_t *n);

/* textquery.c */
typedef struct syn_table syn_table;
/* Parses a synonym list (format in textquery.c and docs/TEXT.md) with the analyzer. */
hk_status syn_table_parse(txt_analyzer *a, const char *text, size_t len, syn_table **out);
void syn_table_free(syn_table *s);

/* A text query as query.c hands it over. */
typedef struct text_request {
    const char *text;
    size_t len;
    int match;                /* hk_text_match */
    int rm3;                  /* RM3 expansion with the three settings below */
    uint32_t fb_docs, fb_terms;
    double rm3_weight;        /* the original query's weight lambda */
    const uint64_t *rel, *nonrel; /* Rocchio examples (ids), or none */
    size_t nrel, nnonrel;
    double alpha, beta, gamma;
    uint32_t rocchio_terms;   /* new terms Rocchio may add */
} text_request;
/* Runs a text query under the read lock: top want (0: all) hits, *hits freed with hk_free. */
hk_status coll_text_query(hk_collection *c, const text_request *r, const roaring_bitmap_t *allow,
                          size_t want, bm25_hit **hits, size_t *nhits);

/* Copies every stored codebook (each checked on the way) into DEST/codebooks. */
hk_status db_codebooks_copy(hk_db *db, const char *dest);

/* Takes rw for reading and checks the handle is usable. */
hk_status coll_read_begin(hk_collection *c);
void coll_read_end(hk_collection *c);
/* The live slots matching f (NULL f: all). Called under the read lock. */
roaring_bitmap_t *coll_filter_slots(hk_collection *c, const hk_filter *f);
/* Payload of a slot as hkb (the empty object when it has none). */
const uint8_t *coll_payload(const hk_collection *c, uint32_t slot);
/* Ascending live ids (lazily sorted); call under the read lock. */
const uint64_t *coll_sorted_ids(hk_collection *c, size_t *n);

#endif
