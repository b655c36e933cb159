/*
 * hnsw.h — a Hierarchical Navigable Small World graph (Malkov & Yashunin, 2016/2018)
 * over the slots of a collection's vector matrix.
 *
 * The graph stores links only. Vectors stay in the collection's flat_matrix, passed to
 * every call (its pointer may change as the collection grows; the rows of slots in the
 * graph must not change while they are in it). Distances are the same "smaller is better"
 * internal distances as flat.h: squared L2 for l2, negative dot for ip and cosine (cosine
 * rows and queries already normalized).
 *
 * Threading: searches may run concurrently with each other; every mutation (insert,
 * batch insert, delete, load) needs the graph to itself. hnsw_insert_batch parallelizes
 * internally on the worker pool.
 *
 * Errors: functions return hk_status with the message in the thread's error slot
 * (hk_fail). A failed call leaves the graph valid.
 */
#ifndef HK_HNSW_H
#define HK_HNSW_H

#include <roaring/roaring.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "hektor.h"
#include "flat.h"

#define HNSW_DEFAULT_M 16
#define HNSW_DEFAULT_EF_CONSTRUCTION 200
#define HNSW_DEFAULT_EF_SEARCH 64
#define HNSW_MIN_M 2
#define HNSW_MAX_M 128           /* level 0 keeps up to 2M links */
#define HNSW_MAX_EF 65536        /* ef_construction and search ef are clamped here */
#define HNSW_MAX_LEVEL 16        /* levels are drawn with mL = 1/ln(M), capped here */
/* A filter whose allowed count is below count / HNSW_EXACT_DIVISOR, or below ef * M, is
 * answered by an exact scan of the allowed slots instead of a graph walk. */
#define HNSW_EXACT_DIVISOR 50

typedef struct hnsw hnsw;

/* A new empty graph. seed fixes the level draws (and so the graph, for sequential
 * inserts). */
hk_status hnsw_new(size_t dim, hk_metric metric, uint32_t M, uint32_t ef_construction,
                   uint64_t seed, hnsw **out);
void hnsw_free(hnsw *g); /* NULL is fine */

/* Adds slot (row m->rows[slot * dim], live in m, not yet in the graph). */
hk_status hnsw_insert(hnsw *g, const flat_matrix *m, uint32_t slot);
/* Adds n distinct slots, in parallel on the worker pool. All are checked before any is
 * added; on HK_NOMEM during the parallel phase some may be linked poorly. */
hk_status hnsw_insert_batch(hnsw *g, const flat_matrix *m, const uint32_t *slots, size_t n);
/* Removes slot: its links go, every node that linked to it is reconnected among the
 * removed node's neighbours, and the slot may later be inserted again as a new node. The
 * removed node's row is not read, so the collection may clear it first. */
hk_status hnsw_delete(hnsw *g, const flat_matrix *m, uint32_t slot);
/* Removes n distinct slots at once: one scan of the lists finds every node that linked
 * to any of them, and those are repaired in parallel. Much cheaper than n single deletes.
 * Fails (changing nothing) when a slot is not a node or appears twice. */
hk_status hnsw_delete_batch(hnsw *g, const flat_matrix *m, const uint32_t *slots, size_t n);

/* Top-k of query (dim floats) among the graph's nodes, or among those in allow (slots
 * that are live in m). hits has room for k; *n receives the count, sorted by (dist,
 * slot). ef is raised to k. Whenever the candidates hold at least k live nodes, k are
 * returned (small filters and graph walks that come up short are answered exactly). */
hk_status hnsw_search(const hnsw *g, const flat_matrix *m, const float *query, size_t k,
                      size_t ef, const roaring_bitmap_t *allow, flat_hit *hits, size_t *n);

/* Links made and dropped while inserting and deleting can leave a node, or a small group
 * (exact duplicates, typically), with no path from the entry point at level 0: no search
 * can then find it. hnsw_unreachable counts such nodes (a breadth-first pass over level 0);
 * hnsw_connect gives each an in-link from its nearest reachable node (one with room in
 * its list, else the nearest, in place of its farthest link) until every node is
 * reachable. Both cost a pass over the level-0 lists; connect also a search per orphan. */
hk_status hnsw_unreachable(const hnsw *g, size_t *count);
hk_status hnsw_connect(hnsw *g, const flat_matrix *m, size_t *relinked);

/* Structural check against m: 0 when valid, else -1 with a description in err. */
int hnsw_validate(const hnsw *g, const flat_matrix *m, char *err, size_t errlen);

/* Appends the graph as a self-describing little-endian blob (see hnsw.c). */
hk_status hnsw_write(const hnsw *g, hk_buf *out);
/* The same, with slots renumbered: node s is written as remap[s] (< nnew); remap has nold
 * entries, and slots with remap[s] == UINT32_MAX or beyond nold must not be nodes; and remap must be increasing over the slots it
 * maps (the collection's snapshot compaction is). The blob describes nnew slots. */
hk_status hnsw_write_remap(const hnsw *g, const uint32_t *remap, size_t nold, uint32_t nnew,
                           hk_buf *out);
/* Rebuilds a graph from a blob for a collection of nslots slots. Every count and index is
 * checked; any inconsistency is HK_CORRUPT with the offset. Check liveness against the
 * collection's matrix with hnsw_validate afterwards. */
hk_status hnsw_load(const uint8_t *p, size_t len, uint32_t nslots, hnsw **out);

void hnsw_params(const hnsw *g, uint32_t *M, uint32_t *ef_construction);
size_t hnsw_memory(const hnsw *g);               /* heap bytes held */
size_t hnsw_count(const hnsw *g);                /* nodes in the graph */
int hnsw_contains(const hnsw *g, uint32_t slot); /* 1 when slot is a node */

#endif
