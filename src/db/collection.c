/*
 * collection.c — a collection's life: load (snapshot + log replay), the write path
 * (validate, log, apply, sync), checkpoints, statistics.
 *
 * Every mutation is encoded as a log record body first; the live path and replay then
 * run the very same prepare/reserve/commit code on that body, so what a crash recovers is by
 * construction what the live process had. Records carry vectors already normalized (for
 * cosine) and payloads already encoded, so replay validates but recomputes nothing.
 *
 * Record bodies (little endian):
 *   UPSERT          u32 n, n x { u64 id, f32[dim], u32 plen, hkb[plen], u32 tlen, text }
 *   DELETE          u32 n, u64[n]
 *   SET_PAYLOAD     u8 mode, u32 n, u64[n], u32 plen, hkb object[plen]
 *   DELETE_PAYLOAD  u32 n, u64[n], u32 nkeys, nkeys x { u32 len, bytes }
 *   CREATE_INDEX    u32 type, u32 len, key
 *   DROP_INDEX      u32 len, key
 */
#include "collection.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/fsutil.h"
#include "../store/snapshot.h"
#include "../vec/distance.h"
#include "filter.h"
#include "json.h"

#define DEFAULT_CHECKPOINT_BYTES (64ull << 20)

/* ---- small helpers ---- */

static int is_base_payload(const hk_collection *c, const void *p) {
    const uint8_t *b = p;
    return c->payload_base && b >= c->payload_base && b < c->payload_base + c->payload_base_len;
}

static int is_base_text(const hk_collection *c, const void *p) {
    const char *b = p;
    return c->text_base && b >= c->text_base && b < c->text_base + c->text_base_len;
}

static void free_payload(hk_collection *c, uint8_t *p) {
    if (p && !is_base_payload(c, p)) hk_free(p);
}

static void free_text(hk_collection *c, char *t) {
    if (t && !is_base_text(c, t)) hk_free(t);
}

const uint8_t *coll_payload(const hk_collection *c, uint32_t slot) {
    return c->payloads[slot] ? c->payloads[slot] : hkb_empty_object;
}

/* Grows slot arrays so that `extra` more slots can be taken without allocating. */
/* The capacity slot arrays must have for `extra` more slots (c->cap when enough). */
static size_t slots_target(const hk_collection *c, size_t extra) {
    size_t reusable = c->nfree < extra ? c->nfree : extra;
    size_t need = c->nslots + (extra - reusable);
    if (need <= c->cap) return c->cap;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < need) cap += cap / 2 + 64;
    return cap;
}

/* Before an upsert takes the write side of rw: when the vectors must grow into a block
 * that moves (hk_aligned_realloc_huge copies into a fresh block, for huge pages), the copy
 * is made here, under write_mu only, so searches go on reading the old block meanwhile;
 * reserve_slots then installs it under the lock. Nothing else writes the vectors while
 * write_mu is held. Failure is not an error: reserve_slots grows as usual. */
static void pregrow_vectors(hk_collection *c, size_t extra) {
    size_t cap = slots_target(c, extra);
    if (c->vf || cap <= c->cap || cap >= UINT32_MAX) return;
    size_t dim = c->cfg.dim, bytes = cap * dim * sizeof(float);
    if (!hk_huge_copy_ok(c->cap * dim * sizeof(float), bytes)) return;
    float *v = hk_aligned_alloc(bytes);
    if (!v) return;
    hk_advise_huge(v, bytes);
    if (c->cap) memcpy(v, c->vectors, c->cap * dim * sizeof(float));
    c->pre_vectors = v;
    c->pre_cap = cap;
}

static hk_status reserve_slots(hk_collection *c, size_t extra) {
    size_t reusable = c->nfree < extra ? c->nfree : extra;
    size_t need = c->nslots + (extra - reusable);
    if (need > UINT32_MAX - 1)
        return hk_fail(HK_INVALID, "collection '%s' cannot hold more than %u points", c->name,
                       UINT32_MAX - 1);
    hk_status st = u64map_reserve(&c->map, extra);
    if (st) return st;
    if (need <= c->cap) return HK_OK;
    size_t cap = slots_target(c, extra);
    size_t dim = c->cfg.dim;
    if (c->vf) {
        hk_status vst = vecfile_reserve(c->vf, cap * dim * sizeof(float));
        if (vst) return hk_fail_prefix(vst, "growing '%s' to %zu points", c->name, cap);
        c->vectors = c->vf->base;
    } else if (c->pre_vectors && c->pre_cap == cap) {
        hk_aligned_free(c->vectors);
        c->vectors = c->pre_vectors;
        c->pre_vectors = NULL;
    } else {
        float *v = hk_aligned_realloc_huge(c->vectors, c->cap * dim * sizeof(float),
                                           cap * dim * sizeof(float));
        if (!v) return hk_fail(HK_NOMEM, "out of memory growing '%s' to %zu points", c->name, cap);
        c->vectors = v;
    }
#define GROW(field)                                                                 \
    do {                                                                            \
        void *p_ = hk_realloc(c->field, cap * sizeof *c->field);                    \
        if (!p_) return hk_fail(HK_NOMEM, "out of memory growing '%s'", c->name);   \
        c->field = p_;                                                              \
    } while (0)
    GROW(norms);
    GROW(ids);
    GROW(live);
    GROW(payloads);
    GROW(texts);
    GROW(text_lens);
#undef GROW
    if (c->cb) {
        uint8_t *nc = hk_realloc_huge(c->codes, c->cap * c->code_size, cap * c->code_size);
        if (!nc) return hk_fail(HK_NOMEM, "out of memory growing '%s'", c->name);
        c->codes = nc;
    }
    if (c->fs) {
        size_t was = cb_fs_size(c->cb, c->cap ? c->cap : 1), now = cb_fs_size(c->cb, cap);
        uint8_t *nf = hk_realloc(c->fs, now);
        if (!nf) return hk_fail(HK_NOMEM, "out of memory growing '%s'", c->name);
        if (now > was) memset(nf + was, 0, now - was);
        c->fs = nf;
    }
    memset(c->live + c->cap, 0, cap - c->cap);
    memset(c->payloads + c->cap, 0, (cap - c->cap) * sizeof *c->payloads);
    memset(c->texts + c->cap, 0, (cap - c->cap) * sizeof *c->texts);
    c->cap = cap;
    return HK_OK;
}

static hk_status reserve_free(hk_collection *c, size_t extra) {
    if (c->nfree + extra <= c->free_cap) return HK_OK;
    size_t cap = c->free_cap ? c->free_cap : 64;
    while (cap < c->nfree + extra) cap *= 2;
    uint32_t *f = hk_realloc(c->free_slots, cap * sizeof *f);
    if (!f) return hk_fail(HK_NOMEM, "out of memory");
    c->free_slots = f;
    c->free_cap = cap;
    return HK_OK;
}

static uint32_t take_slot(hk_collection *c) {
    if (c->nfree) return c->free_slots[--c->nfree];
    return (uint32_t)c->nslots++;
}

static payload_index *find_pidx(const hk_collection *c, const char *key, size_t *at) {
    for (size_t i = 0; i < c->npidx; i++)
        if (!strcmp(pidx_key(c->pidx[i]), key)) {
            if (at) *at = i;
            return c->pidx[i];
        }
    return NULL;
}

static void index_add(hk_collection *c, uint32_t slot) {
    for (size_t i = 0; i < c->npidx; i++)
        if (pidx_add(c->pidx[i], slot, coll_payload(c, slot))) c->poisoned = 1;
}

static void index_remove(hk_collection *c, uint32_t slot) {
    for (size_t i = 0; i < c->npidx; i++) pidx_remove(c->pidx[i], slot, coll_payload(c, slot));
}

/* ---- record decoding ---- */

typedef struct rd {
    const uint8_t *p, *end;
    int bad;
} rd;

static uint32_t rd_u32(rd *r) {
    if (r->end - r->p < 4) { r->bad = 1; return 0; }
    uint32_t v = hk_load_u32(r->p);
    r->p += 4;
    return v;
}

static uint64_t rd_u64(rd *r) {
    if (r->end - r->p < 8) { r->bad = 1; return 0; }
    uint64_t v = hk_load_u64(r->p);
    r->p += 8;
    return v;
}

static const uint8_t *rd_bytes(rd *r, size_t n) {
    if ((size_t)(r->end - r->p) < n) { r->bad = 1; return NULL; }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static hk_status malformed(const hk_collection *c, const char *what) {
    return hk_fail(HK_CORRUPT, "collection '%s': malformed %s record", c->name, what);
}

/* ---- upsert ---- */

typedef struct up_item {
    uint64_t id;
    const float *vec; /* into the record body */
    uint8_t *payload; /* owned copy or NULL */
    char *text;
    uint32_t text_len;
    uint8_t *code;    /* with codes: into the block it[0].code starts */
    bm25_doc tdoc;    /* the text's terms (textindex.c) */
} up_item;

static void free_items(up_item *it, size_t n) {
    for (size_t i = 0; i < n; i++) {
        hk_free(it[i].payload);
        hk_free(it[i].text);
        bm25_doc_free(&it[i].tdoc);
    }
    if (n) hk_free(it[0].code);
    hk_free(it);
}

/* The codes of the items' vectors (which may be unaligned in the record body: they are
 * copied to an aligned block first). it[0].code owns the whole n * code_size block. */
static hk_status encode_items(hk_collection *c, up_item *it, size_t n) {
    size_t dim = c->cfg.dim, cs = c->code_size, blk = 256;
    uint8_t *codes = hk_malloc(n * cs);
    float *tmp = hk_malloc((n < blk ? n : blk) * dim * sizeof(float));
    hk_status st = codes && tmp ? HK_OK : hk_fail(HK_NOMEM, "out of memory encoding vectors");
    for (size_t i = 0; i < n && !st; i += blk) {
        size_t cnt = n - i < blk ? n - i : blk;
        for (size_t j = 0; j < cnt; j++) memcpy(tmp + j * dim, it[i + j].vec, dim * sizeof(float));
        st = cb_encode_rows(c->cb, tmp, cnt, codes + i * cs);
    }
    hk_free(tmp);
    if (st) {
        hk_free(codes);
        return st;
    }
    for (size_t i = 0; i < n; i++) it[i].code = codes + i * cs;
    return HK_OK;
}

/* Vectors in the body may be unaligned; they are copied with memcpy at commit. */
static hk_status prepare_upsert(hk_collection *c, const uint8_t *body, size_t len,
                                up_item **items_out, size_t *n_out) {
    rd r = {body, body + len, 0};
    uint32_t n = rd_u32(&r);
    if (r.bad || n > len) return malformed(c, "upsert");
    up_item *it = hk_calloc(n ? n : 1, sizeof *it);
    if (!it) return hk_fail(HK_NOMEM, "out of memory");
    size_t vbytes = (size_t)c->cfg.dim * sizeof(float);
    hk_status st = HK_OK;
    for (uint32_t i = 0; i < n && !st; i++) {
        it[i].id = rd_u64(&r);
        it[i].vec = (const float *)rd_bytes(&r, vbytes);
        uint32_t plen = rd_u32(&r);
        const uint8_t *pl = rd_bytes(&r, plen);
        uint32_t tlen = rd_u32(&r);
        const uint8_t *tx = rd_bytes(&r, tlen);
        if (r.bad || (plen && (!hkb_valid(pl, plen) || pl[0] != HKB_OBJECT))) {
            st = malformed(c, "upsert");
            break;
        }
        if (plen && !(it[i].payload = hk_malloc(plen))) st = hk_fail(HK_NOMEM, "out of memory");
        else if (plen) memcpy(it[i].payload, pl, plen);
        if (!st && tlen) {
            if (!(it[i].text = hk_strndup((const char *)tx, tlen))) st = hk_fail(HK_NOMEM, "out of memory");
            it[i].text_len = tlen;
            if (!st && (st = coll_text_analyze(c, it[i].text, tlen, &it[i].tdoc)))
                st = hk_fail_prefix(st == HK_INVALID ? HK_CORRUPT : st, "collection '%s': text of point %llu",
                                    c->name, (unsigned long long)it[i].id);
        }
    }
    if (!st && r.p != r.end) st = malformed(c, "upsert");
    if (!st && c->cb && n) st = encode_items(c, it, n);
    if (st) {
        free_items(it, n);
        return st;
    }
    *items_out = it;
    *n_out = n;
    return HK_OK;
}

/* ---- the graph ---- */

/* The matrix the graph is built and repaired on: with scalar codes, construction measures
 * on the codes (a quarter of the bytes of the vectors or less per distance). */
static flat_matrix coll_matrix(hk_collection *c, vec_codes *view) {
    const vec_codes *vc = NULL;
    if (c->cb && cb_has_sym(c->cb)) {
        *view = coll_codes_view(c);
        vc = view;
    }
    return (flat_matrix){.rows = c->vectors, .norms_sq = c->norms, .live = c->live, .nslots = c->nslots,
                         .dim = c->cfg.dim, .metric = c->cfg.metric, .codes = vc};
}

flat_matrix coll_graph_matrix(hk_collection *c, vec_codes *view) { return coll_matrix(c, view); }

#define GRAPH_ALWAYS_CONNECT 100000 /* nodes up to which every write reconnects the graph */

/* Makes every node reachable again. Called under the write side of rw. */
static void graph_connect(hk_collection *c) {
    vec_codes view;
    flat_matrix m = coll_matrix(c, &view);
    size_t fixed = 0;
    if (hnsw_connect(c->graph, &m, &fixed)) {
        c->poisoned = 1;
        db_notice(c->db, "collection '%s': %s; the collection refuses writes until reopened",
                  c->name, hk_errmsg());
        return;
    }
    c->graph_unchecked = 0;
}

static int graph_connect_due(const hk_collection *c) {
    size_t n = hnsw_count(c->graph);
    return c->graph_unchecked && (n <= GRAPH_ALWAYS_CONNECT || c->graph_unchecked * 32 >= n);
}

/* Unlinks n graph nodes (slots being deleted or getting a new vector) inside a commit.
 * The graph does not read their rows, so they may already be overwritten. */
static void graph_unlink(hk_collection *c, const uint32_t *slots, size_t n) {
    if (!n) return;
    vec_codes view;
    flat_matrix m = coll_matrix(c, &view);
    if (hnsw_delete_batch(c->graph, &m, slots, n)) {
        /* The slots stay in the graph: searches must filter the walk by liveness, and
         * the slots must not be reused (no further writes: poisoned). */
        c->poisoned = 1;
        c->graph_stale = 1;
        db_notice(c->db, "collection '%s': %s; the points are deleted but the collection "
                  "refuses writes until reopened", c->name, hk_errmsg());
        return;
    }
    /* Nodes that only the removed ones linked to may be cut off now: reconnect them when
     * the changes since the last pass call for it (graph_connect_due, as for inserts). */
    c->graph_unchecked += n;
    if (graph_connect_due(c)) graph_connect(c);
}

/* Links the pending slots into the graph, a chunk at a time under the write side of rw.
 * Called with write_mu held (or while loading). Chunks adapt to take about 20 ms, so a
 * reader waits for one chunk at most while a large batch goes in. */
/* Replaced vectors of graph nodes wait in relink (and pending) until this many have
 * gathered: unlinking costs a scan of every list whatever the count, so one unlink per
 * write made a stream of overwrites cost O(nodes) each. Meanwhile they are scanned
 * exactly like any pending slot, and walks pass through them without returning them. */
#define GRAPH_RELINK_MIN 64
#define GRAPH_RELINK_DIVISOR 512

static int graph_relink_due(const hk_collection *c, int force) {
    uint64_t n = roaring_bitmap_get_cardinality(c->relink);
    if (!n) return 0;
    return force || (n >= GRAPH_RELINK_MIN && n * GRAPH_RELINK_DIVISOR >= hnsw_count(c->graph));
}

/* Unlinks the relink slots (under the write side of rw); they stay pending, to be linked
 * again with their new vectors. */
static void graph_relink(hk_collection *c) {
    size_t n = (size_t)roaring_bitmap_get_cardinality(c->relink);
    uint32_t *slots = hk_malloc(n * sizeof *slots);
    if (!slots) {
        c->poisoned = 1;
        return;
    }
    roaring_bitmap_to_uint32_array(c->relink, slots);
    roaring_bitmap_clear(c->relink);
    graph_unlink(c, slots, n);
    hk_free(slots);
}

static void graph_sync_ex(hk_collection *c, int force) {
    if (!c->graph) return;
    uint32_t *buf = NULL;
    size_t cap = 0;
    if (graph_relink_due(c, force)) {
        pthread_rwlock_wrlock(&c->rw);
        if (!c->poisoned) graph_relink(c);
        pthread_rwlock_unlock(&c->rw);
    }
    for (;;) {
        pthread_rwlock_wrlock(&c->rw);
        /* Slots waiting for a relink are still nodes: not for hnsw_insert_batch. */
        roaring_bitmap_t *todo = roaring_bitmap_is_empty(c->relink) ? NULL
                                 : roaring_bitmap_andnot(c->pending, c->relink);
        const roaring_bitmap_t *src = todo ? todo : c->pending;
        uint64_t card = roaring_bitmap_get_cardinality(src);
        if (!card || c->poisoned) {
            if (todo) roaring_bitmap_free(todo);
            pthread_rwlock_unlock(&c->rw);
            break;
        }
        size_t n = card < c->graph_chunk ? (size_t)card : c->graph_chunk;
        if (n > cap) {
            uint32_t *nb = hk_realloc(buf, n * sizeof *nb);
            if (!nb) {
                c->poisoned = 1;
                if (todo) roaring_bitmap_free(todo);
                pthread_rwlock_unlock(&c->rw);
                break;
            }
            buf = nb;
            cap = n;
        }
        roaring_bitmap_range_uint32_array(src, 0, n, buf);
        if (todo) roaring_bitmap_free(todo);
        vec_codes view;
        flat_matrix m = coll_matrix(c, &view);
        uint64_t t0 = hk_now_ns();
        hk_status st = hnsw_insert_batch(c->graph, &m, buf, n);
        uint64_t dt = hk_now_ns() - t0;
        if (st) c->poisoned = 1; /* pending stays: searches still scan those slots */
        else roaring_bitmap_remove_many(c->pending, n, buf);
        if (!st) c->graph_unchecked += n;
        pthread_rwlock_unlock(&c->rw);
        if (st) {
            db_notice(c->db, "collection '%s': %s; the collection refuses writes until reopened",
                      c->name, hk_errmsg());
            break;
        }
        if (dt < 10000000 && n == c->graph_chunk && c->graph_chunk < 65536) c->graph_chunk *= 2;
        else if (dt > 40000000 && c->graph_chunk > 16) c->graph_chunk /= 2;
    }
    hk_free(buf);
    if (!c->poisoned && graph_connect_due(c)) {
        pthread_rwlock_wrlock(&c->rw);
        graph_connect(c);
        pthread_rwlock_unlock(&c->rw);
    }
}

static void graph_sync(hk_collection *c) { graph_sync_ex(c, 0); }

static void commit_upsert(hk_collection *c, up_item *it, size_t n) {
    size_t dim = c->cfg.dim;
    for (size_t i = 0; i < n; i++) {
        uint32_t slot;
        if (u64map_get(&c->map, it[i].id, &slot)) {
            if (c->graph && !roaring_bitmap_contains(c->pending, slot) && hnsw_contains(c->graph, slot))
                roaring_bitmap_add(c->relink, slot); /* graph_sync unlinks it, in a batch */
            index_remove(c, slot);
            coll_text_unindex(c, slot);
            c->payload_bytes -= c->payloads[slot] ? hkb_size(c->payloads[slot]) : 0;
            c->text_bytes -= c->text_lens[slot];
            free_payload(c, c->payloads[slot]);
            free_text(c, c->texts[slot]);
        } else {
            slot = take_slot(c);
            c->ids[slot] = it[i].id;
            c->live[slot] = 1;
            roaring_bitmap_add(c->live_bm, slot);
            u64map_put(&c->map, it[i].id, slot); /* reserved: cannot fail */
            c->count++;
        }
        float *dst = c->vectors + (size_t)slot * dim;
        memcpy(dst, it[i].vec, dim * sizeof(float));
        c->norms[slot] = vec_norm_sq(dst, dim);
        if (c->cb && it[i].code) {
            memcpy(c->codes + (size_t)slot * c->code_size, it[i].code, c->code_size);
            if (c->fs) cb_fs_set(c->cb, c->fs, slot, it[i].code);
        }
        c->payloads[slot] = it[i].payload;
        c->texts[slot] = it[i].text;
        c->text_lens[slot] = it[i].text_len;
        c->payload_bytes += it[i].payload ? hkb_size(it[i].payload) : 0;
        c->text_bytes += it[i].text_len;
        it[i].payload = NULL;
        it[i].text = NULL;
        if (it[i].id >= c->next_id) c->next_id = it[i].id == UINT64_MAX ? UINT64_MAX : it[i].id + 1;
        index_add(c, slot);
        coll_text_index(c, slot, &it[i].tdoc);
        if (c->graph) roaring_bitmap_add(c->pending, slot);
    }
    atomic_store(&c->sorted_dirty, 1);
}

/* ---- delete ---- */

static void delete_slot(hk_collection *c, uint32_t slot) {
    index_remove(c, slot);
    coll_text_unindex(c, slot);
    u64map_del(&c->map, c->ids[slot]);
    c->payload_bytes -= c->payloads[slot] ? hkb_size(c->payloads[slot]) : 0;
    c->text_bytes -= c->text_lens[slot];
    free_payload(c, c->payloads[slot]);
    free_text(c, c->texts[slot]);
    c->payloads[slot] = NULL;
    c->texts[slot] = NULL;
    c->text_lens[slot] = 0;
    c->live[slot] = 0;
    roaring_bitmap_remove(c->live_bm, slot);
    c->free_slots[c->nfree++] = slot;
    c->count--;
}

static hk_status apply_delete(hk_collection *c, const uint8_t *body, size_t len, int commit,
                              uint32_t *gslots) {
    rd r = {body, body + len, 0};
    uint32_t n = rd_u32(&r);
    if (r.bad || (size_t)n * 8 != (size_t)(r.end - r.p)) return malformed(c, "delete");
    if (!commit) return HK_OK;
    size_t nunlink = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot;
        if (!u64map_get(&c->map, rd_u64(&r), &slot)) continue;
        if (c->graph && (!roaring_bitmap_contains(c->pending, slot) ||
                         roaring_bitmap_contains(c->relink, slot)))
            gslots[nunlink++] = slot;
        if (c->graph) {
            roaring_bitmap_remove(c->pending, slot);
            roaring_bitmap_remove(c->relink, slot);
        }
        delete_slot(c, slot);
    }
    if (c->graph) graph_unlink(c, gslots, nunlink);
    atomic_store(&c->sorted_dirty, 1);
    return HK_OK;
}

/* ---- payload edits ---- */

typedef struct pay_item {
    uint32_t slot;
    uint8_t *payload; /* new payload (owned) or NULL for none */
} pay_item;

static hk_status prepare_payload(hk_collection *c, uint8_t type, const uint8_t *body,
                                 size_t len, pay_item **out, size_t *nout) {
    rd r = {body, body + len, 0};
    uint8_t mode = 0;
    if (type == REC_SET_PAYLOAD) {
        const uint8_t *m = rd_bytes(&r, 1);
        mode = m ? *m : 0;
    }
    uint32_t n = rd_u32(&r);
    const uint8_t *ids = rd_bytes(&r, (size_t)n * 8);
    const uint8_t *patch = NULL;
    uint32_t nkeys = 0;
    const uint8_t *keys = NULL;
    if (type == REC_SET_PAYLOAD) {
        uint32_t plen = rd_u32(&r);
        patch = rd_bytes(&r, plen);
        if (!r.bad && (mode > HK_PAYLOAD_OVERWRITE || !hkb_valid(patch, plen) || patch[0] != HKB_OBJECT))
            r.bad = 1;
    } else {
        nkeys = rd_u32(&r);
        keys = r.p;
        for (uint32_t k = 0; k < nkeys && !r.bad; k++) rd_bytes(&r, rd_u32(&r));
    }
    if (r.bad || r.p != r.end) return malformed(c, "payload");
    pay_item *it = hk_calloc(n ? n : 1, sizeof *it);
    if (!it) return hk_fail(HK_NOMEM, "out of memory");
    size_t m = 0;
    hk_buf b;
    hk_buf_init(&b);
    hk_status st = HK_OK;
    for (uint32_t i = 0; i < n && !st; i++) {
        uint32_t slot;
        if (!u64map_get(&c->map, hk_load_u64(ids + (size_t)i * 8), &slot)) continue;
        const uint8_t *base = coll_payload(c, slot);
        hk_buf_reset(&b);
        if (type == REC_SET_PAYLOAD) {
            st = mode == HK_PAYLOAD_OVERWRITE ? hk_buf_append(&b, patch, hkb_size(patch))
                                              : hkb_merge(&b, base, patch);
        } else {
            st = hk_buf_append(&b, base, hkb_size(base));
            const uint8_t *kp = keys;
            hk_buf tmp;
            hk_buf_init(&tmp);
            for (uint32_t k = 0; k < nkeys && !st; k++) {
                uint32_t kl = hk_load_u32(kp);
                int changed = 0;
                hk_buf_reset(&tmp);
                st = hkb_delete_path(&tmp, b.data, (const char *)kp + 4, kl, &changed);
                if (!st && changed) {
                    hk_buf_reset(&b);
                    st = hk_buf_append(&b, tmp.data, tmp.len);
                }
                kp += 4 + kl;
            }
            hk_buf_free(&tmp);
        }
        if (st) break;
        it[m].slot = slot;
        if (b.len > sizeof hkb_empty_object || memcmp(b.data, hkb_empty_object, b.len)) {
            if (!(it[m].payload = hk_malloc(b.len))) st = hk_fail(HK_NOMEM, "out of memory");
            else memcpy(it[m].payload, b.data, b.len);
        }
        m++;
    }
    hk_buf_free(&b);
    if (st) {
        for (size_t i = 0; i < m; i++) hk_free(it[i].payload);
        hk_free(it);
        return st;
    }
    *out = it;
    *nout = m;
    return HK_OK;
}

static void commit_payload(hk_collection *c, pay_item *it, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t slot = it[i].slot;
        index_remove(c, slot);
        c->payload_bytes -= c->payloads[slot] ? hkb_size(c->payloads[slot]) : 0;
        free_payload(c, c->payloads[slot]);
        c->payloads[slot] = it[i].payload;
        c->payload_bytes += it[i].payload ? hkb_size(it[i].payload) : 0;
        it[i].payload = NULL;
        index_add(c, slot);
    }
}

/* ---- payload index declarations ---- */

static hk_status prepare_create_index(hk_collection *c, const uint8_t *body, size_t len,
                                      payload_index **out) {
    rd r = {body, body + len, 0};
    uint32_t type = rd_u32(&r), kl = rd_u32(&r);
    const uint8_t *key = rd_bytes(&r, kl);
    if (r.bad || r.p != r.end || type > HK_FIELD_BOOL || !kl) return malformed(c, "create index");
    char *k = hk_strndup((const char *)key, kl);
    if (!k) return hk_fail(HK_NOMEM, "out of memory");
    if (find_pidx(c, k, NULL)) {
        hk_status st = hk_fail(HK_EXISTS, "collection '%s' already has an index on '%s'", c->name, k);
        hk_free(k);
        return st;
    }
    if (c->npidx >= SNAP_MAX_PIDX) {
        hk_free(k);
        return hk_fail(HK_INVALID, "collection '%s' already has the maximum of %u payload indexes",
                       c->name, SNAP_MAX_PIDX);
    }
    payload_index *ix = pidx_new(k, (hk_field_type)type);
    hk_free(k);
    if (!ix) return hk_fail(HK_NOMEM, "out of memory");
    for (size_t s = 0; s < c->nslots; s++)
        if (c->live[s] && pidx_add(ix, (uint32_t)s, coll_payload(c, (uint32_t)s))) {
            pidx_free(ix);
            return hk_fail(HK_NOMEM, "out of memory building the index");
        }
    *out = ix;
    return HK_OK;
}

static hk_status apply_drop_index(hk_collection *c, const uint8_t *body, size_t len, int commit) {
    rd r = {body, body + len, 0};
    uint32_t kl = rd_u32(&r);
    const uint8_t *key = rd_bytes(&r, kl);
    if (r.bad || r.p != r.end || !kl) return malformed(c, "drop index");
    char *k = hk_strndup((const char *)key, kl);
    if (!k) return hk_fail(HK_NOMEM, "out of memory");
    size_t at = 0;
    hk_status st = HK_OK;
    if (!find_pidx(c, k, &at)) st = hk_fail(HK_NOT_FOUND, "collection '%s' has no index on '%s'", c->name, k);
    hk_free(k);
    if (st || !commit) return st;
    pidx_free(c->pidx[at]);
    memmove(c->pidx + at, c->pidx + at + 1, (c->npidx - at - 1) * sizeof *c->pidx);
    c->npidx--;
    return HK_OK;
}

/* ---- one record: prepare then commit ---- */

typedef struct prepared {
    uint8_t type;
    up_item *up;
    pay_item *pay;
    size_t n;
    payload_index *ix;
    uint32_t *gslots; /* graph nodes to unlink at commit (reserved) */
    const uint8_t *body;
    size_t len;
    struct syn_table *syn; /* REC_SET_SYNONYMS: the parsed list and its text */
    char *syntext;
} prepared;

static hk_status prepare(hk_collection *c, uint8_t type, const uint8_t *body, size_t len,
                         prepared *p) {
    memset(p, 0, sizeof *p);
    p->type = type;
    p->body = body;
    p->len = len;
    switch (type) {
    case REC_UPSERT: return prepare_upsert(c, body, len, &p->up, &p->n);
    case REC_DELETE: return apply_delete(c, body, len, 0, NULL);
    case REC_SET_PAYLOAD:
    case REC_DELETE_PAYLOAD: return prepare_payload(c, type, body, len, &p->pay, &p->n);
    case REC_CREATE_INDEX: return prepare_create_index(c, body, len, &p->ix);
    case REC_DROP_INDEX: return apply_drop_index(c, body, len, 0);
    case REC_SET_SYNONYMS: return coll_syn_prepare(c, body, len, &p->syn, &p->syntext);
    }
    return hk_fail(HK_CORRUPT, "collection '%s': unknown log record type %u", c->name, type);
}

/* Grows shared arrays so that commit cannot fail. It moves memory readers use, so it runs
 * under the write side of rw; it changes no visible state. */
static hk_status reserve(hk_collection *c, prepared *p) {
    if (c->graph && p->type == REC_DELETE) {
        size_t n = hk_load_u32(p->body);
        if (!(p->gslots = hk_malloc((n ? n : 1) * sizeof *p->gslots)))
            return hk_fail(HK_NOMEM, "out of memory");
    }
    switch (p->type) {
    case REC_UPSERT: return reserve_slots(c, p->n);
    case REC_DELETE: return reserve_free(c, hk_load_u32(p->body));
    case REC_CREATE_INDEX: {
        payload_index **arr = hk_realloc(c->pidx, (c->npidx + 1) * sizeof *arr);
        if (!arr) return hk_fail(HK_NOMEM, "out of memory");
        c->pidx = arr;
        return HK_OK;
    }
    }
    return HK_OK;
}

static void prepared_free(prepared *p) {
    if (p->up) free_items(p->up, p->n);
    if (p->pay) {
        for (size_t i = 0; i < p->n; i++) hk_free(p->pay[i].payload);
        hk_free(p->pay);
    }
    if (p->ix) pidx_free(p->ix);
    syn_table_free(p->syn);
    hk_free(p->syntext);
    hk_free(p->gslots);
    memset(p, 0, sizeof *p);
}

static void commit(hk_collection *c, prepared *p, uint64_t lsn) {
    switch (p->type) {
    case REC_UPSERT: commit_upsert(c, p->up, p->n); free_items(p->up, p->n); break;
    case REC_DELETE: apply_delete(c, p->body, p->len, 1, p->gslots); break;
    case REC_SET_PAYLOAD:
    case REC_DELETE_PAYLOAD: commit_payload(c, p->pay, p->n); hk_free(p->pay); break;
    case REC_CREATE_INDEX: c->pidx[c->npidx++] = p->ix; break;
    case REC_DROP_INDEX: apply_drop_index(c, p->body, p->len, 1); break;
    case REC_SET_SYNONYMS:
        coll_syn_commit(c, p->syn, p->syntext, p->len);
        p->syn = NULL;
        p->syntext = NULL;
        break;
    }
    hk_free(p->gslots);
    p->gslots = NULL;
    c->lsn = lsn;
}

static hk_status replay_fn(void *ctx, uint8_t type, uint64_t lsn, const uint8_t *body, size_t len) {
    hk_collection *c = ctx;
    if (lsn <= c->snap_lsn) return HK_OK; /* already in the snapshot */
    prepared p;
    hk_status st = prepare(c, type, body, len, &p);
    if (st == HK_EXISTS || st == HK_NOT_FOUND) return HK_OK; /* idempotent declarations */
    if (!st) st = reserve(c, &p);
    if (st) {
        prepared_free(&p);
        return st;
    }
    commit(c, &p, lsn);
    graph_sync(c);
    if (c->poisoned) return hk_fail(HK_NOMEM, "collection '%s': out of memory replaying the log", c->name);
    return HK_OK;
}

/* ---- checkpoints ---- */

hk_status coll_write_snapshot(hk_collection *c, const char *path, uint64_t *bytes) {
    snap_pidx *decl = NULL;
    if (c->npidx && !(decl = hk_calloc(c->npidx, sizeof *decl))) return hk_fail(HK_NOMEM, "out of memory");
    for (size_t i = 0; i < c->npidx; i++) {
        decl[i].key = (char *)pidx_key(c->pidx[i]);
        decl[i].type = (uint32_t)pidx_type(c->pidx[i]);
    }
    /* The snapshot keeps live slots only, renumbered in order: the graph is written
     * renumbered the same way. */
    hk_buf graph;
    hk_buf_init(&graph);
    /* A stored graph holds every node at its current vector. Read-only handles too: the
     * log replayed at open can leave overwrites in relink, and a backup taken from such
     * a handle would otherwise store those nodes among their old neighbours. Only the
     * graph in memory changes. */
    if (c->graph && !roaring_bitmap_is_empty(c->relink)) graph_sync_ex(c, 1);
    if (c->graph && c->graph_unchecked) {
        /* A stored graph has every node reachable, read-only handles' too (a backup from
         * one is restored as it is). (Callers hold write_mu.) */
        pthread_rwlock_wrlock(&c->rw);
        graph_connect(c);
        pthread_rwlock_unlock(&c->rw);
    }
    if (c->graph) {
        uint32_t *remap = hk_malloc((c->nslots ? c->nslots : 1) * sizeof *remap);
        if (!remap) {
            hk_free(decl);
            return hk_fail(HK_NOMEM, "out of memory");
        }
        uint32_t next = 0;
        for (size_t i = 0; i < c->nslots; i++) remap[i] = c->live[i] ? next++ : UINT32_MAX;
        hk_status st = hnsw_write_remap(c->graph, remap, c->nslots, next, &graph);
        hk_free(remap);
        if (st) {
            hk_free(decl);
            return st;
        }
    }
    hk_buf quant;
    hk_buf_init(&quant);
    if (c->cb || coll_vectors_disk(c) || c->want) {
        hk_status qst = coll_quant_encode(c, &quant);
        if (qst) {
            hk_free(decl);
            hk_buf_free(&graph);
            return qst;
        }
    }
    hk_buf tidx;
    hk_buf_init(&tidx);
    hk_status tst = coll_text_encode(c, &tidx);
    if (tst) {
        hk_free(decl);
        hk_buf_free(&graph);
        hk_buf_free(&quant);
        hk_buf_free(&tidx);
        return tst;
    }
    snap_source s = {
        .text_index = tidx.data, .text_index_len = tidx.len,
        .cfg = {c->cfg.dim, (uint32_t)c->cfg.metric, (uint32_t)c->cfg.index, c->cfg.hnsw_m,
                c->cfg.hnsw_ef_construction, c->cfg.hnsw_ef_search, c->lsn, c->next_id,
                c->count},
        .graph = graph.data, .graph_len = graph.len,
        .nslots = c->nslots, .live = c->live, .ids = c->ids, .vectors = c->vectors,
        .norms = c->norms, .payloads = (const uint8_t *const *)c->payloads,
        .texts = (const char *const *)c->texts, .text_lens = c->text_lens,
        .pidx = decl, .npidx = c->npidx,
        .quant = quant.data, .quant_len = quant.len, .codes = c->codes,
        .code_size = c->cb ? c->code_size : 0};
    hk_status st = snap_write(path, &s, c->nosync);
    hk_free(decl);
    hk_buf_free(&graph);
    hk_buf_free(&quant);
    hk_buf_free(&tidx);
    if (!st && bytes) st = fs_file_size(path, bytes);
    return st;
}

/* Called with write_mu held. */
/* *written: set when the new snapshot is in place, even if resetting the log failed. */
static hk_status checkpoint_write(hk_collection *c, int force, int *written) {
    if (c->read_only) return hk_fail(HK_READONLY, "database is open read-only");
    if (!force && c->lsn == c->snap_lsn && wal_bytes(c->wal) == WAL_HEADER_SIZE) return HK_OK;
    uint64_t bytes = 0;
    hk_status st = coll_write_snapshot(c, c->snap_path, &bytes);
    if (!st) __atomic_store_n(&c->snap_bytes, bytes, __ATOMIC_RELAXED); /* stats read it */
    if (st) return hk_fail_prefix(st, "checkpoint of '%s'", c->name);
    if (written) *written = 1;
    c->snap_lsn = c->lsn;
    st = wal_reset(c->wal, c->lsn);
    if (st) return hk_fail_prefix(st, "checkpoint of '%s'", c->name);
    return HK_OK;
}

static hk_status checkpoint_locked(hk_collection *c) { return checkpoint_write(c, 0, NULL); }

hk_status coll_checkpoint_force(hk_collection *c) {
    int written = 0;
    hk_status st = checkpoint_write(c, 1, &written);
    /* The snapshot is the change (quantizer, storage): once it is renamed into place the
     * change is durable, and a log that could not be reset afterwards only holds records
     * the snapshot covers (replay skips them). Callers then keep the new state. */
    if (st && written) {
        db_notice(c->db, "collection '%s': the snapshot was written but %s; the next checkpoint "
                  "retries", c->name, hk_errmsg());
        return HK_OK;
    }
    return st;
}

hk_status hk_collection_checkpoint(hk_collection *c) {
    if (!c) return hk_fail(HK_INVALID, "collection handle is NULL");
    pthread_mutex_lock(&c->write_mu);
    hk_status st = atomic_load(&c->dropped)
                       ? hk_fail(HK_NOT_FOUND, "collection '%s' was dropped", c->name)
                       : checkpoint_locked(c);
    pthread_mutex_unlock(&c->write_mu);
    return st;
}

/* ---- load / free ---- */

void coll_free(hk_collection *c) {
    if (!c) return;
    wal_close(c->wal);
    for (size_t s = 0; s < c->nslots; s++) {
        free_payload(c, c->payloads[s]);
        free_text(c, c->texts[s]);
    }
    for (size_t i = 0; i < c->npidx; i++) pidx_free(c->pidx[i]);
    hk_free(c->pidx);
    if (c->vf) vecfile_free(c->vf);
    else hk_aligned_free(c->vectors);
    hk_aligned_free(c->pre_vectors);
    hk_free(c->norms);
    hk_free(c->ids);
    hk_free(c->live);
    hk_free(c->payloads);
    hk_free(c->texts);
    hk_free(c->text_lens);
    hk_free(c->payload_base);
    hk_free(c->text_base);
    if (c->live_bm) roaring_bitmap_free(c->live_bm);
    hk_free(c->free_slots);
    hnsw_free(c->graph);
    hk_codebook_free(c->cb);
    hk_free(c->cb_name);
    hk_free(c->codes);
    hk_free(c->fs);
    if (c->pending) roaring_bitmap_free(c->pending);
    if (c->relink) roaring_bitmap_free(c->relink);
    u64map_free(&c->map);
    hk_free(c->sorted);
    coll_text_free(c);
    pthread_rwlock_destroy(&c->rw);
    pthread_mutex_destroy(&c->write_mu);
    pthread_mutex_destroy(&c->sort_mu);
    hk_free(c->name);
    hk_free(c->dir);
    hk_free(c->snap_path);
    hk_free(c->wal_path);
    hk_free(c);
}

/* Loads the snapshot's graph (or starts an empty one) and links any live slot it lacks. */
static hk_status adopt_graph(hk_collection *c, snap_image *img) {
    if (c->cfg.index != HK_INDEX_HNSW) {
        /* Version-1 snapshots stored the hnsw defaults for flat collections too. */
        c->cfg.hnsw_m = c->cfg.hnsw_ef_construction = c->cfg.hnsw_ef_search = 0;
        if (img->graph_len)
            return hk_fail(HK_CORRUPT, "%s: a flat collection's snapshot holds a graph", c->snap_path);
        return HK_OK;
    }
    hk_collection_config cfg = c->cfg;
    hk_status st = coll_config_normalize(&cfg);
    if (st) return hk_fail(HK_CORRUPT, "%s: %s", c->snap_path, hk_errmsg());
    if (!(c->pending = roaring_bitmap_create()) || !(c->relink = roaring_bitmap_create()))
        return hk_fail(HK_NOMEM, "out of memory");
    c->graph_chunk = 256;
    vec_codes view;
    flat_matrix m = coll_matrix(c, &view);
    if (img->graph_len) {
        st = hnsw_load(img->graph, img->graph_len, (uint32_t)c->nslots, &c->graph);
        if (st) return hk_fail_prefix(st, "%s", c->snap_path);
        uint32_t gm = 0, gefc = 0;
        hnsw_params(c->graph, &gm, &gefc);
        char err[256];
        if (gm != cfg.hnsw_m || gefc != cfg.hnsw_ef_construction)
            return hk_fail(HK_CORRUPT, "%s: the graph was built with M %u, ef_construction %u but "
                           "the collection says %u, %u", c->snap_path, gm, gefc, cfg.hnsw_m,
                           cfg.hnsw_ef_construction);
        if (hnsw_validate(c->graph, &m, err, sizeof err))
            return hk_fail(HK_CORRUPT, "%s: the HNSW graph is inconsistent: %s", c->snap_path, err);
    } else {
        st = hnsw_new(cfg.dim, cfg.metric, cfg.hnsw_m, cfg.hnsw_ef_construction, 0x9E3779B97F4A7C15ull,
                      &c->graph);
        if (st) return st;
    }
    for (size_t s = 0; s < c->nslots; s++)
        if (c->live[s] && !hnsw_contains(c->graph, (uint32_t)s)) roaring_bitmap_add(c->pending, (uint32_t)s);
    graph_sync(c);
    if (c->poisoned) return hk_fail(HK_NOMEM, "out of memory linking '%s'", c->name);
    return HK_OK;
}

/* Moves a loaded snapshot image into the collection's slot arrays. */
static hk_status adopt_image(hk_collection *c, snap_image *img) {
    c->cfg.dim = img->cfg.dim;
    c->cfg.metric = (hk_metric)img->cfg.metric;
    c->cfg.index = (hk_index_kind)img->cfg.index;
    c->cfg.hnsw_m = img->cfg.hnsw_m;
    c->cfg.hnsw_ef_construction = img->cfg.hnsw_ef_construction;
    c->cfg.hnsw_ef_search = img->cfg.hnsw_ef_search;
    c->lsn = c->snap_lsn = img->cfg.lsn;
    c->next_id = img->cfg.next_id;
    size_t n = img->n;
    if (c->vf) {
        c->vectors = c->vf->base; /* snap_read_vectors filled the mapping */
    } else {
        c->vectors = img->vectors;
        img->vectors = NULL;
    }
    c->norms = img->norms;
    img->norms = NULL;
    c->ids = img->ids;
    img->ids = NULL;
    c->cap = n;
    c->live = hk_malloc(n ? n : 1);
    c->payloads = hk_calloc(n ? n : 1, sizeof *c->payloads);
    c->texts = hk_calloc(n ? n : 1, sizeof *c->texts);
    c->text_lens = hk_calloc(n ? n : 1, sizeof *c->text_lens);
    if (!c->live || !c->payloads || !c->texts || !c->text_lens)
        return hk_fail(HK_NOMEM, "out of memory loading '%s'", c->name);
    c->nslots = n;
    memset(c->live, 1, n);
    c->payload_base = img->payload_blob;
    c->payload_base_len = (size_t)img->payload_off[n];
    img->payload_blob = NULL;
    c->text_base = img->text_blob;
    c->text_base_len = (size_t)img->text_off[n];
    img->text_blob = NULL;
    hk_status st = u64map_reserve(&c->map, n);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = img->payload_off[i], b = img->payload_off[i + 1];
        if (b > a) {
            c->payloads[i] = c->payload_base + a;
            c->payload_bytes += b - a;
        }
        a = img->text_off[i], b = img->text_off[i + 1];
        if (b > a) {
            c->texts[i] = c->text_base + a;
            c->text_lens[i] = (uint32_t)(b - a);
            c->text_bytes += b - a;
        }
        if (u64map_get(&c->map, c->ids[i], NULL))
            return hk_fail(HK_CORRUPT, "%s: id %llu appears twice", c->snap_path,
                           (unsigned long long)c->ids[i]);
        u64map_put(&c->map, c->ids[i], (uint32_t)i);
    }
    if (n) roaring_bitmap_add_range(c->live_bm, 0, n);
    c->count = n;
    if ((st = coll_text_load(c, img))) return st;
    for (size_t i = 0; i < img->npidx; i++) {
        payload_index *ix = pidx_new(img->pidx[i].key, (hk_field_type)img->pidx[i].type);
        payload_index **arr = ix ? hk_realloc(c->pidx, (c->npidx + 1) * sizeof *arr) : NULL;
        if (!arr) {
            pidx_free(ix);
            return hk_fail(HK_NOMEM, "out of memory");
        }
        c->pidx = arr;
        c->pidx[c->npidx++] = ix;
        for (size_t s = 0; s < n; s++)
            if (pidx_add(ix, (uint32_t)s, coll_payload(c, (uint32_t)s)))
                return hk_fail(HK_NOMEM, "out of memory");
    }
    atomic_store(&c->sorted_dirty, 1);
    c->want = 0;
    c->want_gen = coll_quant_next_gen(); /* whatever request the image carries is a new one to this handle */
    c->met_gen = 0;
    if (img->quant_len) {
        st = coll_quant_adopt(c, img->quant, img->quant_len, img->codes, img->codes_len);
        img->codes = NULL;
        if (st) return hk_fail_prefix(st, "%s", c->snap_path);
    } else if (img->codes_len) {
        return hk_fail(HK_CORRUPT, "%s: codes without a quantizer", c->snap_path);
    }
    return adopt_graph(c, img);
}

/* Reads the snapshot's vectors onto the heap, or into a mapped file when the snapshot
 * says they are kept on disk. */
static hk_status load_vectors(hk_collection *c, snap_image *img) {
    vecfile_free(c->vf);
    c->vf = NULL;
    c->disk_wanted = 0;
    if (!coll_quant_on_disk(img->quant, img->quant_len)) return snap_read_vectors(img, NULL);
    hk_status st = vecfile_create(c->dir, &c->vf);
    if (!st) st = vecfile_reserve(c->vf, (size_t)img->vect_len);
    if (st == HK_IO || st == HK_NOMEM) {
        /* No file (a read-only directory, a full disk): the collection still opens, its
         * vectors on the heap this time; the setting stays for the next open. */
        db_notice(c->db, "collection '%s': %s; its vectors are read into memory this time",
                  c->name, hk_errmsg());
        vecfile_free(c->vf);
        c->vf = NULL;
        c->disk_wanted = 1;
        return snap_read_vectors(img, NULL);
    }
    if (!st) st = snap_read_vectors(img, c->vf->base);
    if (st) {
        vecfile_free(c->vf);
        c->vf = NULL;
        return hk_fail_prefix(st, "loading the on-disk vectors of '%s'", c->name);
    }
    return HK_OK;
}

static hk_status load_state(hk_collection *c) {
    /* A reader in another process may race a checkpoint (new snapshot, then log reset):
     * an old snapshot with a newer log is detected by the log's base LSN and retried. */
    for (int attempt = 0;; attempt++) {
        snap_image img;
        hk_status st = snap_open(c->snap_path, &img);
        if (!st) st = load_vectors(c, &img);
        if (st) {
            snap_image_free(&img);
            return st;
        }
        wal *w = NULL;
        st = wal_open(c->wal_path, c->read_only, c->nosync, &w);
        if (st) {
            snap_image_free(&img);
            return st;
        }
        if (wal_base_lsn(w) > img.cfg.lsn) {
            uint64_t base = wal_base_lsn(w), snap = img.cfg.lsn;
            wal_close(w);
            snap_image_free(&img);
            if (c->read_only && attempt < 20) continue;
            return hk_fail(HK_CORRUPT, "%s: log starts after LSN %llu but the snapshot ends at "
                           "LSN %llu: records are missing", c->wal_path,
                           (unsigned long long)base, (unsigned long long)snap);
        }
        st = adopt_image(c, &img);
        if (!st && c->vf && c->cb) vecfile_advise(c->vf, 1); /* re-ranking reads rows at random */
        c->snap_bytes = img.file_bytes;
        snap_image_free(&img);
        if (st) {
            wal_close(w);
            return st;
        }
        c->wal = w;
        wal_replay_info info;
        st = wal_replay(w, replay_fn, c, &info);
        if (st) return st;
        if (info.torn_bytes && !c->read_only)
            db_notice(c->db, "collection '%s': dropped a torn log record at offset %llu (%llu "
                      "bytes) left by an interrupted write; it was never acknowledged",
                      c->name, (unsigned long long)info.torn_offset,
                      (unsigned long long)info.torn_bytes);
        else if (info.torn_bytes && !db_writer_active(c->db))
            /* With a writer at work an incomplete last record is a write in progress,
             * not news; without one it is a torn write the next writer will drop. */
            db_notice(c->db, "collection '%s': ignored an incomplete log record at offset %llu "
                      "(%llu bytes): a torn write that the next writer will drop",
                      c->name, (unsigned long long)info.torn_offset,
                      (unsigned long long)info.torn_bytes);
        if (wal_last_lsn(w) > c->lsn) c->lsn = wal_last_lsn(w);
        /* A crash between a checkpoint's snapshot rename and its log reset leaves a log
         * that ends before the snapshot: start it over, or the next record would reuse an
         * LSN the snapshot already covers and be skipped on replay. */
        if (!c->read_only && wal_last_lsn(w) < c->snap_lsn && (st = wal_reset(w, c->snap_lsn)))
            return st;
        return HK_OK;
    }
}

hk_status coll_load(hk_db *db, const char *name, hk_collection **out) {
    hk_collection *c = hk_calloc(1, sizeof *c);
    if (!c) return hk_fail(HK_NOMEM, "out of memory");
    c->db = db;
    c->read_only = (db->flags & HK_OPEN_READONLY) != 0;
    c->nosync = (db->flags & HK_OPEN_NOSYNC) != 0;
    /* Writers hold rw only for the commit step; prefer them so a stream of queries
     * cannot starve writes (glibc's default prefers readers). */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&c->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&c->write_mu, NULL);
    pthread_mutex_init(&c->sort_mu, NULL);
    u64map_init(&c->map);
    c->name = hk_strdup(name);
    c->dir = c->name ? fs_join(db->coll_dir, name) : NULL;
    c->snap_path = c->dir ? fs_join(c->dir, "snapshot.hks") : NULL;
    c->wal_path = c->dir ? fs_join(c->dir, "wal.hkl") : NULL;
    c->live_bm = roaring_bitmap_create();
    if (!c->wal_path || !c->live_bm) {
        coll_free(c);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    if (!c->read_only) {
        /* Remains of a checkpoint interrupted before its renames. */
        char *t1 = fs_join(c->dir, "snapshot.hks.tmp"), *t2 = fs_join(c->dir, "wal.hkl.tmp");
        if (t1) unlink(t1);
        if (t2) unlink(t2);
        hk_free(t1);
        hk_free(t2);
    }
    hk_status st = load_state(c);
    if (st) {
        coll_free(c);
        return st;
    }
    c->refs = 1;
    *out = c;
    return HK_OK;
}

/* ---- the write path ---- */

hk_status coll_write_begin(hk_collection *c) {
    pthread_mutex_lock(&c->write_mu);
    hk_status st = HK_OK;
    if (atomic_load(&c->dropped)) st = hk_fail(HK_NOT_FOUND, "collection '%s' was dropped", c->name);
    else if (c->read_only) st = hk_fail(HK_READONLY, "database is open read-only");
    else if (c->poisoned)
        st = hk_fail(HK_ERROR, "collection '%s' refuses writes after a failed log sync or "
                     "an allocation failure while applying a write; reopen the database to "
                     "recover it from its log", c->name);
    if (st) pthread_mutex_unlock(&c->write_mu);
    return st;
}

/* Logs, applies and syncs one record. Must be called between write_begin and here; this
 * releases write_mu. */
static hk_status write_record(hk_collection *c, uint8_t type, const hk_buf *body) {
    prepared p;
    hk_status st = prepare(c, type, body->data, body->len, &p);
    uint64_t lsn = 0;
    if (!st && type == REC_UPSERT) pregrow_vectors(c, p.n);
    if (!st) {
        pthread_rwlock_wrlock(&c->rw);
        st = reserve(c, &p);
        pthread_rwlock_unlock(&c->rw);
    }
    if (c->pre_vectors) { /* not installed (the growth failed elsewhere, or differed) */
        hk_aligned_free(c->pre_vectors);
        c->pre_vectors = NULL;
    }
    if (!st) st = wal_append(c->wal, type, body->data, body->len, &lsn);
    if (st) prepared_free(&p); /* nothing was applied */
    if (!st) {
        pthread_rwlock_wrlock(&c->rw);
        commit(c, &p, lsn);
        pthread_rwlock_unlock(&c->rw);
        graph_sync(c);
    }
    wal *w = c->wal;
    uint64_t limit = c->db->checkpoint_bytes ? c->db->checkpoint_bytes : DEFAULT_CHECKPOINT_BYTES;
    /* Checkpoint cost grows with the collection: let the log grow as large as the
     * snapshot so rewriting stays amortized O(1) per written byte. */
    if (limit < c->snap_bytes) limit = c->snap_bytes;
    int want_checkpoint = !st && wal_bytes(w) > limit;
    pthread_mutex_unlock(&c->write_mu);
    if (!st && (st = wal_sync(w, lsn))) {
        /* The record is applied and logged but its durability is unknown, and after a
         * failed fsync the kernel may have dropped the dirty pages: refuse further
         * writes until a reopen recovers the truth from the file. */
        pthread_mutex_lock(&c->write_mu);
        c->poisoned = 1;
        pthread_mutex_unlock(&c->write_mu);
        return hk_fail_prefix(st, "collection '%s': the write is applied but may not be "
                              "durable; reopen the database", c->name);
    }
    if (!st && want_checkpoint) {
        /* The write itself is durable; a failed checkpoint only delays log truncation. */
        pthread_mutex_lock(&c->write_mu);
        if (!atomic_load(&c->dropped) && wal_bytes(c->wal) > limit && checkpoint_locked(c))
            db_notice(c->db, "%s (the log keeps growing until a checkpoint succeeds)", hk_errmsg());
        pthread_mutex_unlock(&c->write_mu);
    }
    return st;
}

static hk_status check_handle(const hk_collection *c) {
    if (!c) return hk_fail(HK_INVALID, "collection handle is NULL");
    return HK_OK;
}

/* Validates pts and encodes them as an upsert record body (count, then per point id,
 * vector, payload, text); auto_count receives the points asking for an assigned id. */
static hk_status encode_points(hk_collection *c, const hk_point *pts, size_t n, hk_buf *body,
                               size_t *auto_count) {
    uint32_t dim = c->cfg.dim;
    hk_buf pay;
    hk_buf_init(&pay);
    float *tmp = hk_malloc((dim ? dim : 1) * sizeof(float));
    if (!tmp) return hk_fail(HK_NOMEM, "out of memory");
    /* The body is sized for the vectors up front (payloads and texts grow it). */
    hk_status st = hk_buf_reserve(body, 4 + n * (20 + (size_t)dim * sizeof(float)));
    if (!st) st = hk_buf_put_u32(body, (uint32_t)n);
    *auto_count = 0;
    for (size_t i = 0; i < n && !st; i++) {
        const hk_point *p = &pts[i];
        if (!dim && p->vector) {
            st = hk_fail(HK_INVALID, "point %zu: collection '%s' is text-only and holds no "
                         "vectors; leave the vector NULL", i, c->name);
            break;
        }
        if (dim && !p->vector) {
            st = hk_fail(HK_INVALID, "point %zu: vector is missing", i);
            break;
        }
        if (dim && !vec_all_finite(p->vector, dim)) {
            for (uint32_t d = 0; d < dim; d++)
                if (!isfinite(p->vector[d])) {
                    st = hk_fail(HK_INVALID, "point %zu (id %llu): component %u is %s", i,
                                 (unsigned long long)p->id, d,
                                 isnan(p->vector[d]) ? "NaN" : "infinite");
                    break;
                }
            break;
        }
        if (dim && c->cfg.metric != HK_METRIC_COSINE && !vec_magnitude_ok(p->vector, dim)) {
            st = hk_fail(HK_INVALID, "point %zu (id %llu): vector is too large: its squared norm "
                         "exceeds %g, beyond which distances overflow float32", i,
                         (unsigned long long)p->id, (double)VEC_MAX_NORM_SQ);
            break;
        }
        if (dim) memcpy(tmp, p->vector, dim * sizeof(float));
        if (dim && c->cfg.metric == HK_METRIC_COSINE && vec_normalize(tmp, dim) == 0) {
            st = hk_fail(HK_INVALID, "point %zu (id %llu): a zero vector has no direction, so "
                         "its cosine similarity is undefined", i, (unsigned long long)p->id);
            break;
        }
        hk_buf_reset(&pay);
        if (p->payload) {
            size_t plen = p->payload_len ? p->payload_len : strlen(p->payload);
            st = hkb_from_json(&pay, p->payload, plen);
            if (st) {
                hk_fail_prefix(st, "point %zu (id %llu): payload", i, (unsigned long long)p->id);
                break;
            }
        }
        size_t tlen = p->text ? (p->text_len ? p->text_len : strlen(p->text)) : 0;
        if (tlen > UINT32_MAX) {
            st = hk_fail(HK_INVALID, "point %zu: text is too long", i);
            break;
        }
        if (tlen && (memchr(p->text, 0, tlen) || !hj_utf8_valid(p->text, tlen))) {
            st = hk_fail(HK_INVALID, "point %zu (id %llu): text is not valid UTF-8 (or holds a "
                         "NUL byte)", i, (unsigned long long)p->id);
            break;
        }
        if (p->flags & HK_POINT_AUTO_ID) (*auto_count)++;
        if (!st) st = hk_buf_put_u64(body, p->id);
        if (!st) st = hk_buf_append(body, tmp, dim * sizeof(float));
        if (!st) st = hk_buf_put_u32(body, (uint32_t)pay.len);
        if (!st) st = hk_buf_append(body, pay.data, pay.len);
        if (!st) st = hk_buf_put_u32(body, (uint32_t)tlen);
        if (!st) st = hk_buf_append(body, p->text, tlen);
    }
    hk_free(tmp);
    hk_buf_free(&pay);
    return st;
}

/* encode_points, and the batch must fit one log record: every check hk_upsert makes
 * before it writes. */
static hk_status encode_batch(hk_collection *c, const hk_point *pts, size_t n, hk_buf *body,
                              size_t *autos) {
    hk_status st = encode_points(c, pts, n, body, autos);
    if (!st && body->len > WAL_MAX_RECORD)
        st = hk_fail(HK_INVALID, "upsert: the batch encodes to %zu bytes, over the %u-byte limit "
                     "of one log record; split it into smaller batches", body->len, WAL_MAX_RECORD);
    return st;
}

hk_status coll_check_points(hk_collection *c, const hk_point *pts, size_t n) {
    if (!c) return hk_fail(HK_INVALID, "collection handle is NULL");
    if (n && !pts) return hk_fail(HK_INVALID, "points is NULL");
    hk_buf body;
    hk_buf_init(&body);
    size_t autos;
    hk_status st = encode_batch(c, pts, n, &body, &autos);
    hk_buf_free(&body);
    return st;
}

hk_status hk_upsert(hk_collection *c, const hk_point *pts, size_t n, uint64_t *ids_out) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (n && !pts) return hk_fail(HK_INVALID, "upsert: points is NULL");
    if (n > UINT32_MAX) return hk_fail(HK_INVALID, "upsert: batch of %zu points is too large", n);
    if (n == 0) return atomic_load(&c->dropped)
                           ? hk_fail(HK_NOT_FOUND, "collection '%s' was dropped", c->name)
                           : HK_OK;
    uint32_t dim = c->cfg.dim;
    /* Validate and encode everything before taking the write lock. */
    hk_buf body;
    hk_buf_init(&body);
    size_t auto_count;
    st = encode_batch(c, pts, n, &body, &auto_count);
    if (!st) st = coll_write_begin(c);
    if (st) {
        hk_buf_free(&body);
        return st;
    }
    /* Ids are assigned under write_mu so concurrent writers never collide; they follow
     * every id used so far, including the explicit ids of this batch. */
    if (auto_count) {
        uint64_t next = c->next_id;
        for (size_t i = 0; i < n; i++)
            if (!(pts[i].flags & HK_POINT_AUTO_ID) && pts[i].id >= next && pts[i].id < UINT64_MAX)
                next = pts[i].id + 1;
        uint8_t *rec = body.data + 4;
        size_t stride = 8 + (size_t)dim * 4;
        for (size_t i = 0; i < n; i++) {
            if (pts[i].flags & HK_POINT_AUTO_ID) {
                while (u64map_get(&c->map, next, NULL)) next++;
                hk_store_u64(rec, next++);
            }
            uint32_t plen = hk_load_u32(rec + stride);
            uint32_t tlen = hk_load_u32(rec + stride + 4 + plen);
            rec += stride + 4 + plen + 4 + tlen;
        }
    }
    st = write_record(c, REC_UPSERT, &body);
    if (ids_out && !st) {
        const uint8_t *rec = body.data + 4;
        size_t stride = 8 + (size_t)dim * 4;
        for (size_t i = 0; i < n; i++) {
            ids_out[i] = hk_load_u64(rec);
            uint32_t plen = hk_load_u32(rec + stride);
            uint32_t tlen = hk_load_u32(rec + stride + 4 + plen);
            rec += stride + 4 + plen + 4 + tlen;
        }
    }
    hk_buf_free(&body);
    return st;
}

static hk_status encode_ids(hk_buf *b, const uint64_t *ids, size_t n) {
    hk_status st = hk_buf_put_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n && !st; i++) st = hk_buf_put_u64(b, ids[i]);
    return st;
}

/* Ids of the live points matching f, collected under the write lock holder's view. */
static hk_status ids_matching(hk_collection *c, const hk_filter *f, uint64_t **ids, size_t *n) {
    roaring_bitmap_t *bm = coll_filter_slots(c, f);
    if (!bm) return hk_fail(HK_NOMEM, "out of memory evaluating the filter");
    uint64_t card = roaring_bitmap_get_cardinality(bm);
    uint32_t *slots = hk_malloc((size_t)(card ? card : 1) * sizeof *slots);
    *ids = hk_malloc((size_t)(card ? card : 1) * sizeof **ids);
    if (!slots || !*ids) {
        hk_free(slots);
        hk_free(*ids);
        roaring_bitmap_free(bm);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    roaring_bitmap_to_uint32_array(bm, slots);
    for (uint64_t i = 0; i < card; i++) (*ids)[i] = c->ids[slots[i]];
    *n = (size_t)card;
    hk_free(slots);
    roaring_bitmap_free(bm);
    return HK_OK;
}

static int cmp_u64(const void *a, const void *b);

/* Called with write_mu held; releases it. */
static hk_status delete_ids_locked(hk_collection *c, const uint64_t *ids, size_t n,
                                   uint64_t *deleted) {
    uint64_t *sorted = hk_malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        pthread_mutex_unlock(&c->write_mu);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    memcpy(sorted, ids, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_u64);
    uint64_t found = 0;
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || sorted[i] != sorted[i - 1]) && u64map_get(&c->map, sorted[i], NULL)) found++;
    hk_free(sorted);
    if (deleted) *deleted = found;
    if (!found) {
        pthread_mutex_unlock(&c->write_mu);
        return HK_OK;
    }
    hk_buf body;
    hk_buf_init(&body);
    hk_status st = encode_ids(&body, ids, n);
    if (st) {
        pthread_mutex_unlock(&c->write_mu);
        hk_buf_free(&body);
        return st;
    }
    st = write_record(c, REC_DELETE, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_delete(hk_collection *c, const uint64_t *ids, size_t n, uint64_t *deleted) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (n && !ids) return hk_fail(HK_INVALID, "delete: ids is NULL");
    if (n > UINT32_MAX) return hk_fail(HK_INVALID, "delete: too many ids in one call");
    if ((st = coll_write_begin(c))) return st;
    return delete_ids_locked(c, ids, n, deleted);
}

hk_status hk_delete_by_filter(hk_collection *c, const hk_filter *f, uint64_t *deleted) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (!f) return hk_fail(HK_INVALID, "delete: filter is NULL (use an empty filter {} to delete everything)");
    if ((st = coll_write_begin(c))) return st;
    uint64_t *ids;
    size_t n;
    if ((st = ids_matching(c, f, &ids, &n))) {
        pthread_mutex_unlock(&c->write_mu);
        return st;
    }
    st = delete_ids_locked(c, ids, n, deleted);
    hk_free(ids);
    return st;
}

/* Resolves payload-edit targets (given ids must exist) under write_mu. */
static hk_status payload_targets(hk_collection *c, const uint64_t *ids, size_t n,
                                 const hk_filter *f, uint64_t **out, size_t *nout) {
    if (!ids) return ids_matching(c, f, out, nout);
    for (size_t i = 0; i < n; i++)
        if (!u64map_get(&c->map, ids[i], NULL))
            return hk_fail(HK_NOT_FOUND, "collection '%s' has no point with id %llu", c->name,
                           (unsigned long long)ids[i]);
    *out = hk_malloc((n ? n : 1) * sizeof **out);
    if (!*out) return hk_fail(HK_NOMEM, "out of memory");
    memcpy(*out, ids, n * sizeof **out);
    *nout = n;
    return HK_OK;
}

hk_status hk_payload_set(hk_collection *c, const uint64_t *ids, size_t n, const hk_filter *f,
                         const char *json_object, hk_payload_mode mode) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (!json_object) return hk_fail(HK_INVALID, "set payload: payload is NULL");
    if (mode != HK_PAYLOAD_SET && mode != HK_PAYLOAD_OVERWRITE)
        return hk_fail(HK_INVALID, "set payload: unknown mode %d", (int)mode);
    if (ids && n > UINT32_MAX) return hk_fail(HK_INVALID, "set payload: too many ids in one call");
    hk_buf patch;
    hk_buf_init(&patch);
    if ((st = hkb_from_json(&patch, json_object, strlen(json_object)))) {
        hk_buf_free(&patch);
        return hk_fail_prefix(st, "set payload");
    }
    if ((st = coll_write_begin(c))) {
        hk_buf_free(&patch);
        return st;
    }
    uint64_t *targets = NULL;
    size_t nt = 0;
    hk_buf body;
    hk_buf_init(&body);
    st = payload_targets(c, ids, n, f, &targets, &nt);
    if (!st) st = hk_buf_put_u8(&body, (uint8_t)mode);
    if (!st) st = encode_ids(&body, targets, nt);
    if (!st) st = hk_buf_put_u32(&body, (uint32_t)patch.len);
    if (!st) st = hk_buf_append(&body, patch.data, patch.len);
    hk_free(targets);
    hk_buf_free(&patch);
    if (st) pthread_mutex_unlock(&c->write_mu);
    else st = write_record(c, REC_SET_PAYLOAD, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_payload_delete(hk_collection *c, const uint64_t *ids, size_t n, const hk_filter *f,
                            const char *const *keys, size_t nkeys) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (nkeys && !keys) return hk_fail(HK_INVALID, "delete payload: keys is NULL");
    if ((ids && n > UINT32_MAX) || nkeys > UINT32_MAX)
        return hk_fail(HK_INVALID, "delete payload: too many ids or keys in one call");
    for (size_t k = 0; k < nkeys; k++)
        if (!keys[k] || !keys[k][0]) return hk_fail(HK_INVALID, "delete payload: key %zu is empty", k);
    if ((st = coll_write_begin(c))) return st;
    uint64_t *targets = NULL;
    size_t nt = 0;
    hk_buf body;
    hk_buf_init(&body);
    st = payload_targets(c, ids, n, f, &targets, &nt);
    if (!st) st = encode_ids(&body, targets, nt);
    if (!st) st = hk_buf_put_u32(&body, (uint32_t)nkeys);
    for (size_t k = 0; k < nkeys && !st; k++) {
        size_t kl = strlen(keys[k]);
        st = hk_buf_put_u32(&body, (uint32_t)kl);
        if (!st) st = hk_buf_append(&body, keys[k], kl);
    }
    hk_free(targets);
    if (st) pthread_mutex_unlock(&c->write_mu);
    else st = write_record(c, REC_DELETE_PAYLOAD, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_payload_index_create(hk_collection *c, const char *key, hk_field_type type) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (!key || !key[0]) return hk_fail(HK_INVALID, "payload index: key is empty");
    if ((unsigned)type > HK_FIELD_BOOL) return hk_fail(HK_INVALID, "payload index: unknown type %d", (int)type);
    hk_buf body;
    hk_buf_init(&body);
    size_t kl = strlen(key);
    st = hk_buf_put_u32(&body, (uint32_t)type);
    if (!st) st = hk_buf_put_u32(&body, (uint32_t)kl);
    if (!st) st = hk_buf_append(&body, key, kl);
    if (!st) st = coll_write_begin(c);
    if (!st) st = write_record(c, REC_CREATE_INDEX, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_collection_set_synonyms(hk_collection *c, const char *text, size_t len) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (!text) len = 0;
    if (len > (size_t)64 << 20) return hk_fail(HK_INVALID, "synonyms: the list is larger than 64 MiB");
    hk_buf body;
    hk_buf_init(&body);
    if (len) st = hk_buf_append(&body, text, len);
    if (!st) st = coll_write_begin(c);
    if (!st) st = write_record(c, REC_SET_SYNONYMS, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_payload_index_drop(hk_collection *c, const char *key) {
    hk_status st = check_handle(c);
    if (st) return st;
    if (!key || !key[0]) return hk_fail(HK_INVALID, "payload index: key is empty");
    hk_buf body;
    hk_buf_init(&body);
    size_t kl = strlen(key);
    st = hk_buf_put_u32(&body, (uint32_t)kl);
    if (!st) st = hk_buf_append(&body, key, kl);
    if (!st) st = coll_write_begin(c);
    if (!st) st = write_record(c, REC_DROP_INDEX, &body);
    hk_buf_free(&body);
    return st;
}

hk_status hk_payload_index_get(hk_collection *c, uint32_t i, const char **key, hk_field_type *type) {
    hk_status st = coll_read_begin(c);
    if (st) return st;
    if (i >= c->npidx) st = hk_fail(HK_NOT_FOUND, "collection '%s' has %zu payload indexes, no index %u", c->name, c->npidx, i);
    else {
        if (key) *key = pidx_key(c->pidx[i]);
        if (type) *type = pidx_type(c->pidx[i]);
    }
    coll_read_end(c);
    return st;
}

/* ---- reads shared with query.c ---- */

hk_status coll_read_begin(hk_collection *c) {
    if (!c) return hk_fail(HK_INVALID, "collection handle is NULL");
    pthread_rwlock_rdlock(&c->rw);
    if (atomic_load(&c->dropped)) {
        pthread_rwlock_unlock(&c->rw);
        return hk_fail(HK_NOT_FOUND, "collection '%s' was dropped", c->name);
    }
    return HK_OK;
}

void coll_read_end(hk_collection *c) { pthread_rwlock_unlock(&c->rw); }

static const uint8_t *src_payload(void *ctx, uint32_t slot) { return coll_payload(ctx, slot); }
static uint64_t src_id(void *ctx, uint32_t slot) { return ((hk_collection *)ctx)->ids[slot]; }
static int src_slot(void *ctx, uint64_t id, uint32_t *slot) {
    return u64map_get(&((hk_collection *)ctx)->map, id, slot);
}
static roaring_bitmap_t *src_index(void *ctx, const filter_cond *fc) {
    hk_collection *c = ctx;
    payload_index *ix = fc->key ? find_pidx(c, fc->key, NULL) : NULL;
    return ix ? pidx_lookup(ix, fc) : NULL;
}

roaring_bitmap_t *coll_filter_slots(hk_collection *c, const hk_filter *f) {
    filter_source src = {c, c->live_bm, src_payload, src_id, src_slot, src_index};
    return filter_eval(f, &src);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

const uint64_t *coll_sorted_ids(hk_collection *c, size_t *n) {
    pthread_mutex_lock(&c->sort_mu);
    if (atomic_load(&c->sorted_dirty)) {
        uint64_t *s = hk_realloc(c->sorted, (c->count ? c->count : 1) * sizeof *s);
        if (s) {
            size_t m = 0;
            for (size_t i = 0; i < c->nslots; i++)
                if (c->live[i]) s[m++] = c->ids[i];
            qsort(s, m, sizeof *s, cmp_u64);
            c->sorted = s;
            c->nsorted = m;
            atomic_store(&c->sorted_dirty, 0);
        }
    }
    const uint64_t *r = atomic_load(&c->sorted_dirty) ? NULL : c->sorted;
    *n = c->nsorted;
    pthread_mutex_unlock(&c->sort_mu);
    return r;
}

/* ---- stats ---- */

const char *hk_collection_name(const hk_collection *c) { return c ? c->name : NULL; }

hk_status hk_collection_get_config(hk_collection *c, hk_collection_config *cfg) {
    if (!c || !cfg) return hk_fail(HK_INVALID, "collection or config is NULL");
    *cfg = c->cfg;
    return HK_OK;
}

hk_status hk_collection_stats_get(hk_collection *c, hk_collection_stats *out) {
    if (!out) return hk_fail(HK_INVALID, "stats: out is NULL");
    hk_status st = coll_read_begin(c);
    if (st) return st;
    memset(out, 0, sizeof *out);
    out->count = c->count;
    out->dim = c->cfg.dim;
    out->metric = c->cfg.metric;
    out->index = c->cfg.index;
    uint64_t mem = (uint64_t)c->cap * c->cfg.dim * sizeof(float) +
                   (uint64_t)c->cap * (sizeof(float) + sizeof(uint64_t) + 1 + sizeof(uint8_t *) +
                                       sizeof(char *) + sizeof(uint32_t)) +
                   c->payload_bytes + c->text_bytes + u64map_memory(&c->map) +
                   roaring_bitmap_size_in_bytes(c->live_bm) + c->free_cap * sizeof(uint32_t) +
                   c->nsorted * sizeof(uint64_t);
    for (size_t i = 0; i < c->npidx; i++) mem += pidx_memory(c->pidx[i]);
    if (c->graph) mem += hnsw_memory(c->graph) + roaring_bitmap_size_in_bytes(c->pending);
    mem += coll_text_memory(c);
    out->bytes_vectors = (uint64_t)c->cap * c->cfg.dim * sizeof(float);
    out->bytes_vectors_cached = out->bytes_vectors;
    out->vectors_on_disk = c->vf != NULL;
    if (c->vf) {
        mem -= out->bytes_vectors;
        out->bytes_vectors_cached = vecfile_cached(c->vf);
        if (out->bytes_vectors_cached > out->bytes_vectors) out->bytes_vectors_cached = out->bytes_vectors;
    }
    if (c->cb) {
        out->quant = c->cb->method;
        out->code_bytes = (uint32_t)c->code_size;
        out->rerank = c->rerank;
        out->bytes_codes = (uint64_t)c->cap * c->code_size;
        mem += out->bytes_codes + cb_model_bytes(c->cb);
        if (c->fs) mem += cb_fs_size(c->cb, c->cap ? c->cap : 1);
    }
    out->bytes_memory = mem;
    out->wal_bytes = wal_bytes(c->wal);
    out->bytes_disk = __atomic_load_n(&c->snap_bytes, __ATOMIC_RELAXED) + out->wal_bytes +
                      (c->vf ? c->vf->bytes : 0);
    out->lsn = c->lsn;
    out->next_id = c->next_id;
    out->payload_indexes = (uint32_t)c->npidx;
    coll_read_end(c);
    return HK_OK;
}

hk_status coll_config_normalize(hk_collection_config *cfg) {
    hk_status tst = coll_text_config_normalize(cfg);
    if (tst) return tst;
    if ((cfg->dim < 1 && !(cfg->text_flags & HK_TEXT_ONLY)) || cfg->dim > HK_MAX_DIM)
        return hk_fail(HK_INVALID, "dimension %u is out of range (1 to %d)", cfg->dim, HK_MAX_DIM);
    if ((unsigned)cfg->metric > HK_METRIC_COSINE)
        return hk_fail(HK_INVALID, "unknown metric %d", (int)cfg->metric);
    if (cfg->index == HK_INDEX_FLAT) {
        cfg->hnsw_m = cfg->hnsw_ef_construction = cfg->hnsw_ef_search = 0;
        return HK_OK;
    }
    if (cfg->index != HK_INDEX_HNSW) return hk_fail(HK_INVALID, "unknown index kind %d", (int)cfg->index);
    if (!cfg->hnsw_m) cfg->hnsw_m = HNSW_DEFAULT_M;
    if (!cfg->hnsw_ef_construction) cfg->hnsw_ef_construction = HNSW_DEFAULT_EF_CONSTRUCTION;
    if (!cfg->hnsw_ef_search) cfg->hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
    if (cfg->hnsw_m < HNSW_MIN_M || cfg->hnsw_m > HNSW_MAX_M)
        return hk_fail(HK_INVALID, "HNSW M must be between %d and %d (got %u)", HNSW_MIN_M,
                       HNSW_MAX_M, cfg->hnsw_m);
    if (cfg->hnsw_ef_construction > HNSW_MAX_EF)
        return hk_fail(HK_INVALID, "HNSW ef_construction must be between 1 and %d (got %u)",
                       HNSW_MAX_EF, cfg->hnsw_ef_construction);
    if (cfg->hnsw_ef_search > HNSW_MAX_EF)
        return hk_fail(HK_INVALID, "HNSW ef must be between 1 and %d (got %u)", HNSW_MAX_EF,
                       cfg->hnsw_ef_search);
    return HK_OK;
}

hk_status hk_collection_verify(hk_collection *c) {
    hk_status st = coll_read_begin(c);
    if (st) return st;
    char err[256] = "";
    uint64_t live = 0, mapped = 0;
    for (size_t i = 0; i < c->nslots && !err[0]; i++) {
        if (!c->live[i]) continue;
        live++;
        uint32_t slot;
        if (!u64map_get(&c->map, c->ids[i], &slot) || slot != i)
            snprintf(err, sizeof err, "slot %zu (id %llu) is not in the id map", i,
                     (unsigned long long)c->ids[i]);
        else mapped++;
    }
    if (!err[0] && (live != c->count || roaring_bitmap_get_cardinality(c->live_bm) != live))
        snprintf(err, sizeof err, "%llu live slots but a count of %llu and %llu in the live set",
                 (unsigned long long)live, (unsigned long long)c->count,
                 (unsigned long long)roaring_bitmap_get_cardinality(c->live_bm));
    if (!err[0] && c->graph) {
        vec_codes view;
        flat_matrix m = coll_matrix(c, &view);
        char gerr[200];
        uint64_t pending = roaring_bitmap_get_cardinality(c->pending) -
                           roaring_bitmap_get_cardinality(c->relink); /* relink: nodes too */
        if (hnsw_validate(c->graph, &m, gerr, sizeof gerr))
            snprintf(err, sizeof err, "HNSW graph: %s", gerr);
        else if (hnsw_count(c->graph) + pending != live)
            snprintf(err, sizeof err, "HNSW graph has %zu nodes and %llu points wait to be linked, "
                     "but %llu points are live", hnsw_count(c->graph), (unsigned long long)pending,
                     (unsigned long long)live);
        size_t cut = 0;
        if (!err[0] && !c->graph_unchecked && hnsw_unreachable(c->graph, &cut))
            snprintf(err, sizeof err, "%s", hk_errmsg());
        else if (!err[0] && cut)
            snprintf(err, sizeof err, "%zu points of the HNSW graph cannot be reached from its "
                     "entry point, so no graph search can return them", cut);
    }
    if (!err[0] && coll_text_verify(c)) snprintf(err, sizeof err, "%s", hk_errmsg());
    coll_read_end(c);
    if (err[0]) return hk_fail(HK_CORRUPT, "collection '%s': %s", c->name, err);
    return HK_OK;
}
