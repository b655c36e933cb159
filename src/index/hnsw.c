/*
 * hnsw.c — the graph's life cycle: creation, validation, memory accounting and the
 * snapshot blob.
 *
 * Decisions:
 *  - The blob is self-describing and little-endian:
 *        off  0  u32 magic "HNSW" (0x57534E48)    off 24  u64 generator state
 *        off  4  u32 version (1)                  off 32  u32 slots recorded (n)
 *        off  8  u32 dim                          off 36  u32 node count
 *        off 12  u32 metric                       off 40  u32 entry point (~0 when empty)
 *        off 16  u32 M                            off 44  u32 top level (~0 when empty)
 *        off 20  u32 ef_construction
 *    then for each slot 0..n-1 one u8 level (0xFF: not a node) and, for a node, its
 *    lists from level 0 up, each a u32 count and that many u32 slots; last a CRC32C of
 *    everything before it. n is one past the highest node, so a graph always fits the
 *    collection it was written from; the generator state makes a loaded graph continue
 *    exactly as the written one would have.
 *  - Loading trusts nothing: the CRC, every header field, every count against its bound
 *    and the bytes left, every link against n, self links, duplicates, links to slots
 *    that are not nodes or do not reach that level, the node count, the entry point and
 *    that the last recorded slot is a node (one encoding per graph).
 *    Each failure is HK_CORRUPT naming the offset. Memory is bounded by the input: n may
 *    not exceed the bytes that follow the header.
 *  - Validation against the collection's matrix (liveness, dimension) is hnsw_validate,
 *    which checks the same invariants on a live graph; tests run it after every change.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hnsw_int.h"

#define HNSW_MAGIC 0x57534E48u
#define HNSW_VERSION 1u
#define HNSW_HEADER 48u

static hnsw *alloc_graph(size_t dim, hk_metric metric, uint32_t M, uint32_t efc, uint64_t rng) {
    hnsw *g = hk_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->stripes = hk_calloc(HNSW_STRIPES, sizeof(pthread_mutex_t));
    if (!g->stripes) {
        hk_free(g);
        return NULL;
    }
    for (uint32_t i = 0; i < HNSW_STRIPES; i++) pthread_mutex_init(&g->stripes[i], NULL);
    pthread_mutex_init(&g->entry_mu, NULL);
    g->dim = (uint32_t)dim;
    g->metric = metric;
    g->M = M;
    g->M0 = 2 * M;
    g->efc = efc;
    g->mL = 1.0 / log((double)M);
    g->rng = rng ? rng : 0x9E3779B97F4A7C15ull;
    g->entry = HNSW_NONE;
    g->max_level = -1;
    g->kern = vec_best();
    return g;
}

hk_status hnsw_new(size_t dim, hk_metric metric, uint32_t M, uint32_t ef_construction,
                   uint64_t seed, hnsw **out) {
    *out = NULL;
    if (dim == 0 || dim > HK_MAX_DIM)
        return hk_fail(HK_INVALID, "hnsw: dimension %zu is outside 1..%d", dim, HK_MAX_DIM);
    if ((unsigned)metric > HK_METRIC_COSINE) return hk_fail(HK_INVALID, "hnsw: unknown metric %d", (int)metric);
    if (M < HNSW_MIN_M || M > HNSW_MAX_M)
        return hk_fail(HK_INVALID, "hnsw: M %u is outside %d..%d (16 suits most data)", M, HNSW_MIN_M, HNSW_MAX_M);
    if (ef_construction < 1 || ef_construction > HNSW_MAX_EF)
        return hk_fail(HK_INVALID, "hnsw: ef_construction %u is outside 1..%d", ef_construction, HNSW_MAX_EF);
    /* splitmix64 of the seed: nearby seeds give unrelated level sequences */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    *out = alloc_graph(dim, metric, M, ef_construction, z ^ (z >> 31));
    return *out ? HK_OK : hk_fail(HK_NOMEM, "hnsw: out of memory creating a graph");
}

void hnsw_free(hnsw *g) {
    if (!g) return;
    for (uint32_t s = 0; s < g->cap; s++) hk_free(g->upper[s]);
    for (uint32_t i = 0; i < HNSW_STRIPES; i++) pthread_mutex_destroy(&g->stripes[i]);
    pthread_mutex_destroy(&g->entry_mu);
    hk_free(g->stripes);
    hk_free(g->l0);
    hk_free(g->level);
    hk_free(g->upper);
    hk_free(g);
}

size_t hnsw_memory(const hnsw *g) {
    if (!g) return 0;
    return sizeof *g + HNSW_STRIPES * sizeof(pthread_mutex_t) + g->upper_bytes +
           (size_t)g->cap * (((size_t)g->M0 + 1) * sizeof(uint32_t) + 1 + sizeof(uint32_t *));
}

size_t hnsw_count(const hnsw *g) { return g ? g->count : 0; }

int hnsw_contains(const hnsw *g, uint32_t slot) {
    return g && slot < g->cap && g->level[slot] != HNSW_ABSENT;
}

static int verr(char *err, size_t errlen, const char *fmt, ...) HK_PRINTF(3, 4);
static int verr(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int hnsw_validate(const hnsw *g, const flat_matrix *m, char *err, size_t errlen) {
    if (m->dim != g->dim) return verr(err, errlen, "matrix dimension %zu, graph %u", m->dim, g->dim);
    if (m->metric != g->metric)
        return verr(err, errlen, "matrix metric %d, graph %d", (int)m->metric, (int)g->metric);
    uint64_t *seen = hk_calloc(((size_t)g->cap + 63) / 64 + 1, sizeof(uint64_t));
    if (!seen) return verr(err, errlen, "out of memory");
    uint32_t nodes = 0;
    int rc = 0, top = -1;
    for (uint32_t s = 0; s < g->cap && rc == 0; s++) {
        int level = g->level[s];
        if (level == (int)HNSW_ABSENT) {
            if (hnsw_links(g, s, 0)[0] != 0) rc = verr(err, errlen, "slot %u is not a node but has links", s);
            else if (g->upper[s]) rc = verr(err, errlen, "slot %u is not a node but has upper lists", s);
            continue;
        }
        nodes++;
        if (level > top) top = level;
        if (level > HNSW_MAX_LEVEL) rc = verr(err, errlen, "node %u has level %d", s, level);
        else if (s >= m->nslots || !m->live[s]) rc = verr(err, errlen, "node %u is not a live slot", s);
        else if (level > 0 && !g->upper[s]) rc = verr(err, errlen, "node %u lacks its upper lists", s);
        for (int l = 0; l <= level && rc == 0; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            if (links[0] > hnsw_mmax(g, l)) {
                rc = verr(err, errlen, "node %u has %u links at level %d (max %u)", s, links[0], l, hnsw_mmax(g, l));
                break;
            }
            for (uint32_t i = 0; i < links[0] && rc == 0; i++) {
                uint32_t t = links[1 + i];
                if (t == s) rc = verr(err, errlen, "node %u links to itself at level %d", s, l);
                else if (t >= g->cap || g->level[t] == HNSW_ABSENT)
                    rc = verr(err, errlen, "node %u links to %u at level %d, not a node", s, t, l);
                else if (t >= m->nslots || !m->live[t])
                    rc = verr(err, errlen, "node %u links to %u at level %d, not a live slot", s, t, l);
                else if (g->level[t] < l)
                    rc = verr(err, errlen, "node %u links to %u at level %d above its level %d", s, t, l, g->level[t]);
                else if (seen[t >> 6] & (uint64_t)1 << (t & 63))
                    rc = verr(err, errlen, "node %u links to %u twice at level %d", s, t, l);
                else seen[t >> 6] |= (uint64_t)1 << (t & 63);
            }
            for (uint32_t i = 0; i < links[0]; i++)
                if (links[1 + i] < g->cap) seen[links[1 + i] >> 6] &= ~((uint64_t)1 << (links[1 + i] & 63));
        }
    }
    hk_free(seen);
    if (rc) return rc;
    if (nodes != g->count) return verr(err, errlen, "%u nodes but a count of %u", nodes, g->count);
    if (nodes == 0)
        return g->entry == HNSW_NONE && g->max_level == -1 ? 0 : verr(err, errlen, "empty graph has an entry point");
    if (g->entry >= g->cap || g->level[g->entry] == HNSW_ABSENT)
        return verr(err, errlen, "entry point %u is not a node", g->entry);
    if (g->max_level != top || g->level[g->entry] != top)
        return verr(err, errlen, "entry point %u has level %d, graph top %d, highest node %d",
                    g->entry, g->level[g->entry], g->max_level, top);
    return 0;
}

hk_status hnsw_write(const hnsw *g, hk_buf *out) { return hnsw_write_remap(g, NULL, 0, 0, out); }

hk_status hnsw_write_remap(const hnsw *g, const uint32_t *remap, size_t nold, uint32_t nnew,
                           hk_buf *out) {
    size_t start = out->len;
    uint32_t n = 0;
    uint32_t lim = remap ? (nold < g->cap ? (uint32_t)nold : g->cap) : g->cap;
    if (remap) {
        /* n is one past the highest node, as without renumbering (one encoding). */
        for (uint32_t s = 0; s < g->cap; s++) {
            if (g->level[s] == HNSW_ABSENT) continue;
            if (s >= lim || remap[s] == HNSW_NONE || remap[s] >= nnew)
                return hk_fail(HK_INVALID, "hnsw: node %u has no place in the renumbered graph", s);
            if (remap[s] + 1 > n) n = remap[s] + 1;
        }
    } else {
        for (uint32_t s = 0; s < g->cap; s++)
            if (g->level[s] != HNSW_ABSENT) n = s + 1;
    }
#define MAP(s) (remap ? remap[s] : (s))
    hk_status st = HK_OK;
    uint32_t head[] = {HNSW_MAGIC, HNSW_VERSION, g->dim, (uint32_t)g->metric, g->M, g->efc};
    for (size_t i = 0; i < sizeof head / sizeof head[0] && st == HK_OK; i++) st = hk_buf_put_u32(out, head[i]);
    if (st == HK_OK) st = hk_buf_put_u64(out, g->rng);
    uint32_t entry = g->entry == HNSW_NONE ? HNSW_NONE : MAP(g->entry);
    uint32_t tail[] = {n, g->count, entry, (uint32_t)g->max_level};
    for (size_t i = 0; i < sizeof tail / sizeof tail[0] && st == HK_OK; i++) st = hk_buf_put_u32(out, tail[i]);
    /* Renumbering keeps slot order (remap is increasing over the slots it maps), so
     * records still come out in slot order: walk the old slots and emit the mapped ones,
     * with an absent record for every new slot that is not a node. */
    uint32_t next = 0;
    for (uint32_t s = 0; st == HK_OK && s < (remap ? lim : n); s++) {
        uint32_t to = s;
        if (remap) {
            if (remap[s] == HNSW_NONE || remap[s] >= n) continue;
            to = remap[s];
            if (to < next) {
                st = hk_fail(HK_INVALID, "hnsw: a renumbering must keep slot order");
                break;
            }
            while (next < to && st == HK_OK) st = hk_buf_put_u8(out, HNSW_ABSENT), next++;
            next = to + 1;
        }
        if (st == HK_OK) st = hk_buf_put_u8(out, g->level[s]);
        for (int l = 0; g->level[s] != HNSW_ABSENT && l <= g->level[s] && st == HK_OK; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            st = hk_buf_reserve(out, ((size_t)links[0] + 1) * 4);
            if (st == HK_OK) st = hk_buf_put_u32(out, links[0]);
            for (uint32_t i = 1; i <= links[0] && st == HK_OK; i++) st = hk_buf_put_u32(out, MAP(links[i]));
        }
    }

#undef MAP
    if (st == HK_OK) st = hk_buf_put_u32(out, hk_crc32c(0, out->data + start, out->len - start));
    if (st != HK_OK) {
        out->len = start;
        if (st == HK_INVALID) return st;
        return hk_fail(st, "hnsw: out of memory writing the graph");
    }
    return HK_OK;
}

static hk_status corrupt(size_t off, const char *fmt, ...) HK_PRINTF(2, 3);
static hk_status corrupt(size_t off, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hk_fail(HK_CORRUPT, "hnsw graph: %s at offset %zu of the graph", msg, off);
}

/* Reads every node record of g (capacity n) from p[off..end); checks what one record
 * can check alone. */
static hk_status load_nodes(hnsw *g, const uint8_t *p, size_t off, size_t end, uint32_t n) {
    for (uint32_t s = 0; s < n; s++) {
        if (off >= end) return corrupt(off, "graph ends before slot %u's record", s);
        uint8_t level = p[off];
        if (level == HNSW_ABSENT) {
            off++;
            continue;
        }
        if (level > HNSW_MAX_LEVEL || (int)level > g->max_level)
            return corrupt(off, "slot %u has level %u (top %d)", s, level, g->max_level);
        g->level[s] = level;
        g->count++;
        if (level > 0) {
            size_t words = (size_t)level * (g->M + 1);
            g->upper[s] = hk_calloc(words, sizeof(uint32_t));
            if (!g->upper[s]) return hk_fail(HK_NOMEM, "hnsw: out of memory loading slot %u", s);
            g->upper_bytes += words * sizeof(uint32_t);
        }
        off++;
        for (int l = 0; l <= level; l++) {
            if (end - off < 4) return corrupt(off, "graph ends inside slot %u's level %d", s, l);
            uint32_t cnt = hk_load_u32(p + off);
            if (cnt > hnsw_mmax(g, l))
                return corrupt(off, "slot %u has %u links at level %d (max %u)", s, cnt, l, hnsw_mmax(g, l));
            if ((end - off - 4) / 4 < cnt) return corrupt(off, "slot %u's level %d list runs past the end", s, l);
            uint32_t *links = hnsw_links(g, s, l);
            links[0] = cnt;
            for (uint32_t i = 0; i < cnt; i++) {
                uint32_t t = hk_load_u32(p + off + 4 + 4 * (size_t)i);
                if (t >= n || t == s)
                    return corrupt(off + 4 + 4 * (size_t)i, "slot %u links to %u at level %d", s, t, l);
                links[1 + i] = t;
            }
            off += 4 + 4 * (size_t)cnt;
        }
    }
    if (off != end) return corrupt(off, "%zu unexpected bytes after the last slot", end - off);
    return HK_OK;
}

/* Cross-record checks: link targets reach the level, no duplicates, count, entry. */
static hk_status check_links(const hnsw *g, uint32_t n, uint32_t want_count) {
    uint64_t *seen = hk_calloc(((size_t)n + 63) / 64 + 1, sizeof(uint64_t));
    if (!seen) return hk_fail(HK_NOMEM, "hnsw: out of memory checking a loaded graph");
    hk_status st = HK_OK;
    for (uint32_t s = 0; s < n && st == HK_OK; s++) {
        for (int l = 0; g->level[s] != HNSW_ABSENT && l <= g->level[s] && st == HK_OK; l++) {
            const uint32_t *links = hnsw_links(g, s, l);
            for (uint32_t i = 0; i < links[0] && st == HK_OK; i++) {
                uint32_t t = links[1 + i];
                if (g->level[t] == HNSW_ABSENT || g->level[t] < l)
                    st = corrupt(HNSW_HEADER, "slot %u links at level %d to slot %u, which is not a node there", s, l, t);
                else if (seen[t >> 6] & (uint64_t)1 << (t & 63))
                    st = corrupt(HNSW_HEADER, "slot %u links to slot %u twice at level %d", s, t, l);
                seen[t >> 6] |= (uint64_t)1 << (t & 63);
            }
            for (uint32_t i = 0; i < links[0]; i++) seen[links[1 + i] >> 6] = 0;
        }
    }
    hk_free(seen);
    if (st != HK_OK) return st;
    if (g->count != want_count) return corrupt(36, "header counts %u nodes, records hold %u", want_count, g->count);
    if (n > 0 && g->level[n - 1] == HNSW_ABSENT)
        return corrupt(32, "%u slots recorded but slot %u, the last, is not a node", n, n - 1);
    if (g->count == 0) return HK_OK;
    if (g->entry >= n || g->level[g->entry] == HNSW_ABSENT || g->level[g->entry] != g->max_level)
        return corrupt(40, "entry point %u is not a node on the top level %d", g->entry, g->max_level);
    return HK_OK;
}

hk_status hnsw_load(const uint8_t *p, size_t len, uint32_t nslots, hnsw **out) {
    *out = NULL;
    if (len < HNSW_HEADER + 4) return corrupt(len, "graph blob of %zu bytes is shorter than its header", len);
    if (hk_load_u32(p) != HNSW_MAGIC) return corrupt(0, "bad magic");
    if (hk_load_u32(p + 4) != HNSW_VERSION)
        return corrupt(4, "unsupported version %u (this build reads %u)", hk_load_u32(p + 4), HNSW_VERSION);
    size_t end = len - 4;
    if (hk_load_u32(p + end) != hk_crc32c(0, p, end)) return corrupt(end, "checksum mismatch");
    uint32_t dim = hk_load_u32(p + 8), metric = hk_load_u32(p + 12), M = hk_load_u32(p + 16),
             efc = hk_load_u32(p + 20), n = hk_load_u32(p + 32), count = hk_load_u32(p + 36),
             entry = hk_load_u32(p + 40), top = hk_load_u32(p + 44);
    if (dim == 0 || dim > HK_MAX_DIM) return corrupt(8, "dimension %u", dim);
    if (metric > HK_METRIC_COSINE) return corrupt(12, "metric %u", metric);
    if (M < HNSW_MIN_M || M > HNSW_MAX_M) return corrupt(16, "M %u", M);
    if (efc < 1 || efc > HNSW_MAX_EF) return corrupt(20, "ef_construction %u", efc);
    if (hk_load_u64(p + 24) == 0) return corrupt(24, "generator state is zero");
    if (n > nslots) return corrupt(32, "%u slots recorded for a collection of %u", n, nslots);
    if (n > end - HNSW_HEADER) return corrupt(32, "%u slots recorded in %zu bytes", n, end - HNSW_HEADER);
    if (count > n) return corrupt(36, "%u nodes in %u slots", count, n);
    if (count == 0 ? entry != HNSW_NONE || top != HNSW_NONE : top > HNSW_MAX_LEVEL)
        return corrupt(44, "top level %u with %u nodes", top, count);
    hnsw *g = alloc_graph(dim, (hk_metric)metric, M, efc, hk_load_u64(p + 24));
    if (!g) return hk_fail(HK_NOMEM, "hnsw: out of memory loading a graph");
    size_t per = (size_t)g->M0 + 1;
    if (n) {
        g->l0 = hk_calloc((size_t)n * per, sizeof(uint32_t));
        g->level = hk_malloc(n);
        g->upper = hk_calloc(n, sizeof(uint32_t *));
        if (!g->l0 || !g->level || !g->upper) {
            hnsw_free(g);
            return hk_fail(HK_NOMEM, "hnsw: out of memory loading %u slots", n);
        }
        hk_advise_huge(g->l0, (size_t)n * per * sizeof(uint32_t));
        memset(g->level, HNSW_ABSENT, n);
        g->cap = n;
    }
    g->entry = entry;
    g->max_level = count ? (int)top : -1;
    hk_status st = load_nodes(g, p, HNSW_HEADER, end, n);
    if (st == HK_OK) st = check_links(g, n, count);
    if (st != HK_OK) {
        hnsw_free(g);
        return st;
    }
    *out = g;
    return HK_OK;
}

void hnsw_params(const hnsw *g, uint32_t *M, uint32_t *ef_construction) {
    if (M) *M = g->M;
    if (ef_construction) *ef_construction = g->efc;
}
