/*
 * reindex.c — hk_collection_reindex: a collection's index replaced by another kind or
 * another HNSW shape.
 *
 * Decisions:
 *  - The new graph is built beside the old one while write_mu is held: writers wait (the
 *    vectors must not change under the build), readers keep searching the old index. The
 *    swap takes the write side of rw for a moment.
 *  - The build inserts the live slots in chunks on the worker pool (hnsw_insert_batch)
 *    and reports progress after each chunk, so a cancellation is seen within one chunk;
 *    a cancelled or failed build frees the new graph and changes nothing.
 *  - Durability is a forced checkpoint (the snapshot records the index kind, M,
 *    ef_construction and the graph); if it fails, the old index is put back.
 */
#include <string.h>

#include "collection.h"

#define REINDEX_CHUNK 2048
#define REINDEX_SEED 0x9E3779B97F4A7C15ull

/* Builds a graph over every live slot; HK_CANCELLED when progress asks. */
static hk_status build_graph(hk_collection *c, const hk_collection_config *cfg,
                             hk_progress_fn progress, void *ud, hnsw **out) {
    hnsw *g = NULL;
    hk_status st = hnsw_new(cfg->dim, cfg->metric, cfg->hnsw_m, cfg->hnsw_ef_construction,
                            REINDEX_SEED, &g);
    if (st) return st;
    size_t n = (size_t)roaring_bitmap_get_cardinality(c->live_bm);
    uint32_t *slots = hk_malloc((n ? n : 1) * sizeof *slots);
    if (!slots) {
        hnsw_free(g);
        return hk_fail(HK_NOMEM, "out of memory for the slots of %zu points", n);
    }
    roaring_bitmap_to_uint32_array(c->live_bm, slots);
    vec_codes view;
    flat_matrix m = coll_graph_matrix(c, &view);
    if (progress && progress(ud, "build", 0))
        st = hk_fail(HK_CANCELLED, "index build cancelled; the old index is unchanged");
    for (size_t done = 0; !st && done < n;) {
        size_t k = n - done < REINDEX_CHUNK ? n - done : REINDEX_CHUNK;
        st = hnsw_insert_batch(g, &m, slots + done, k);
        done += k;
        if (!st && progress && progress(ud, "build", (double)done / (double)n))
            st = hk_fail(HK_CANCELLED, "index build cancelled after %zu of %zu points; the old "
                         "index is unchanged", done, n);
    }
    size_t fixed = 0;
    if (!st) st = hnsw_connect(g, &m, &fixed);
    hk_free(slots);
    if (st) {
        hnsw_free(g);
        return st;
    }
    *out = g;
    return HK_OK;
}

typedef struct graph_state {
    hk_collection_config cfg;
    hnsw *graph;
    roaring_bitmap_t *pending, *relink;
    size_t unchecked;
    int stale;
} graph_state;

static void swap_state(hk_collection *c, graph_state *s) {
    graph_state old = {c->cfg, c->graph, c->pending, c->relink, c->graph_unchecked, c->graph_stale};
    c->cfg = s->cfg;
    c->graph = s->graph;
    c->pending = s->pending;
    c->relink = s->relink;
    c->graph_unchecked = s->unchecked;
    c->graph_stale = s->stale;
    if (c->graph) c->graph_chunk = 256;
    *s = old;
}

static void free_state(graph_state *s) {
    hnsw_free(s->graph);
    if (s->pending) roaring_bitmap_free(s->pending);
    if (s->relink) roaring_bitmap_free(s->relink);
}

hk_status hk_collection_reindex(hk_collection *c, hk_index_kind kind, uint32_t m,
                                uint32_t ef_construction, hk_progress_fn progress, void *ud) {
    if (!c) return hk_fail(HK_INVALID, "reindex: collection handle is NULL");
    if (!c->cfg.dim)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to index", c->name);
    if (kind != HK_INDEX_FLAT && kind != HK_INDEX_HNSW)
        return hk_fail(HK_INVALID, "unknown index kind %d (flat or hnsw)", (int)kind);
    if (kind == HK_INDEX_FLAT && (m || ef_construction))
        return hk_fail(HK_INVALID, "a flat index takes no m or ef_construction");
    graph_state s;
    memset(&s, 0, sizeof s);
    s.cfg = c->cfg;
    s.cfg.index = kind;
    s.cfg.hnsw_m = m;
    s.cfg.hnsw_ef_construction = ef_construction;
    if (c->cfg.index != HK_INDEX_HNSW) s.cfg.hnsw_ef_search = 0;
    hk_status st = coll_config_normalize(&s.cfg);
    if (st) return st;
    if ((st = coll_write_begin(c))) return st;
    if (kind == HK_INDEX_HNSW) {
        st = build_graph(c, &s.cfg, progress, ud, &s.graph);
        if (!st && (!(s.pending = roaring_bitmap_create()) || !(s.relink = roaring_bitmap_create())))
            st = hk_fail(HK_NOMEM, "out of memory");
    } else if (progress && progress(ud, "build", 1)) {
        st = hk_fail(HK_CANCELLED, "index change cancelled; the old index is unchanged");
    }
    if (st) {
        free_state(&s);
        pthread_mutex_unlock(&c->write_mu);
        return st;
    }
    pthread_rwlock_wrlock(&c->rw);
    swap_state(c, &s); /* s now holds the old index */
    pthread_rwlock_unlock(&c->rw);
    st = coll_checkpoint_force(c);
    if (st) { /* not durable: put the old index back */
        pthread_rwlock_wrlock(&c->rw);
        swap_state(c, &s);
        pthread_rwlock_unlock(&c->rw);
    }
    pthread_mutex_unlock(&c->write_mu);
    free_state(&s);
    return st;
}
