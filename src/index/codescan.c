/*
 * codescan.c — top-depth candidates by approximate distance on codes (see flat.h).
 *
 * Each (query, chunk) task keeps a bounded max-heap; chunks are merged by (dist, slot)
 * so the outcome does not depend on which thread ran what. Codes are scored in blocks of
 * CS_BLOCK contiguous slots through dist_many (dead or filtered slots in a block are
 * scored and dropped: cheaper than breaking the run); filters with few slots are scored
 * one by one.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "flat.h"
#include "core.h"

#define CS_BLOCK 256
#define CS_CHUNK 65536 /* slots per task for a single query */

typedef struct cs_heap {
    flat_hit *h;
    size_t n, cap;
} cs_heap;

static inline int cs_less(flat_hit a, flat_hit b) {
    return a.dist < b.dist || (a.dist == b.dist && a.slot < b.slot);
}

static void cs_offer(cs_heap *hp, float d, uint32_t slot) {
    flat_hit x = {d, slot};
    if (hp->n < hp->cap) {
        size_t i = hp->n++;
        while (i) {
            size_t p = (i - 1) / 2;
            if (!cs_less(hp->h[p], x)) break;
            hp->h[i] = hp->h[p];
            i = p;
        }
        hp->h[i] = x;
        return;
    }
    if (!cs_less(x, hp->h[0])) return;
    size_t i = 0, n = hp->n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, b = i;
        flat_hit big = x;
        if (l < n && cs_less(big, hp->h[l])) b = l, big = hp->h[l];
        if (r < n && cs_less(big, hp->h[r])) b = r;
        if (b == i) break;
        hp->h[i] = hp->h[b];
        i = b;
    }
    hp->h[i] = x;
}

static int cs_cmp(const void *a, const void *b) {
    flat_hit x = *(const flat_hit *)a, y = *(const flat_hit *)b;
    return cs_less(x, y) ? -1 : cs_less(y, x) ? 1 : 0;
}

typedef struct cs_job {
    const flat_matrix *m;
    const vec_codes *vc;
    const float *queries;
    size_t nq, depth;
    const uint32_t *slots;  /* allowed slots (sorted) or NULL: every slot */
    size_t nslots;          /* of slots, or m->nslots */
    size_t nchunks;         /* per query */
    cs_heap *heaps;         /* nq * nchunks */
    atomic_int nomem;
} cs_job;

static void cs_task(void *arg, size_t task, unsigned worker) {
    (void)worker;
    cs_job *j = arg;
    size_t qi = task / j->nchunks, ch = task % j->nchunks;
    const vec_codes *vc = j->vc;
    cs_heap *hp = &j->heaps[task];
    hp->cap = j->depth;
    if (!(hp->h = hk_malloc(hp->cap * sizeof *hp->h))) {
        atomic_store(&j->nomem, 1);
        return;
    }
    float *buf = hk_malloc((vc->qfloats ? vc->qfloats : 1) * sizeof(float));
    if (!buf) {
        atomic_store(&j->nomem, 1);
        return;
    }
    float bias;
    vc->prepare(vc->ctx, j->queries + qi * j->m->dim, buf, &bias);
    /* chunks start on a block boundary (fast-scan blocks divide CS_BLOCK) */
    size_t per = (j->nslots + j->nchunks - 1) / j->nchunks;
    per = (per + CS_BLOCK - 1) / CS_BLOCK * CS_BLOCK;
    size_t i0 = ch * per, i1 = i0 + per > j->nslots ? j->nslots : i0 + per;
    if (i0 > i1) i0 = i1;
    const uint8_t *live = j->m->live;
    size_t cs = vc->code_size;
    if (!j->slots && vc->fs_packed) {
        uint8_t *qlut = hk_malloc(vc->fs_lut_bytes);
        if (!qlut) {
            hk_free(buf);
            atomic_store(&j->nomem, 1);
            return;
        }
        float scale, fbias, d[CS_BLOCK];
        vc->fs_prepare(vc->ctx, buf, bias, qlut, &scale, &fbias);
        for (size_t b = i0; b < i1; b += CS_BLOCK) {
            size_t n = i1 - b < CS_BLOCK ? i1 - b : CS_BLOCK;
            vc->fs_scan(vc->ctx, qlut, scale, fbias, vc->fs_packed + b / FS_BLOCK * vc->fs_block_bytes,
                        n, d);
            for (size_t i = 0; i < n; i++)
                if (live[b + i]) cs_offer(hp, d[i], (uint32_t)(b + i));
        }
        hk_free(qlut);
    } else if (!j->slots) {
        float d[CS_BLOCK];
        for (size_t b = i0; b < i1; b += CS_BLOCK) {
            size_t n = i1 - b < CS_BLOCK ? i1 - b : CS_BLOCK;
            vc->dist_many(vc->ctx, buf, bias, vc->codes + b * cs, n, d);
            for (size_t i = 0; i < n; i++)
                if (live[b + i]) cs_offer(hp, d[i], (uint32_t)(b + i));
        }
    } else {
        for (size_t i = i0; i < i1; i++) {
            uint32_t s = j->slots[i];
            cs_offer(hp, vc->dist(vc->ctx, buf, bias, vc->codes + (size_t)s * cs), s);
        }
    }
    hk_free(buf);
}

hk_status codes_search(const flat_matrix *m, const vec_codes *vc, const float *queries,
                       size_t nq, size_t depth, const roaring_bitmap_t *allow, flat_hit **hits,
                       size_t *counts) {
    if (!nq) return HK_OK;
    cs_job j = {.m = m, .vc = vc, .queries = queries, .nq = nq, .depth = depth ? depth : 1};
    atomic_init(&j.nomem, 0);
    uint32_t *slots = NULL;
    if (allow) {
        uint64_t card = roaring_bitmap_get_cardinality(allow);
        if (!(slots = hk_malloc((card ? card : 1) * sizeof *slots)))
            return hk_fail(HK_NOMEM, "out of memory");
        roaring_bitmap_to_uint32_array(allow, slots);
        j.slots = slots;
        j.nslots = (size_t)card;
    } else {
        j.nslots = m->nslots;
    }
    j.nchunks = nq == 1 ? (j.nslots + CS_CHUNK - 1) / CS_CHUNK : 1;
    unsigned workers = hk_pool_workers();
    if (nq == 1 && j.nchunks > 4 * (size_t)workers) j.nchunks = 4 * (size_t)workers;
    if (!j.nchunks) j.nchunks = 1;
    size_t ntasks = nq * j.nchunks;
    if (!(j.heaps = hk_calloc(ntasks, sizeof *j.heaps))) {
        hk_free(slots);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    hk_pool_run(ntasks, cs_task, &j);
    hk_status st = atomic_load(&j.nomem) ? hk_fail(HK_NOMEM, "out of memory scanning codes") : HK_OK;
    for (size_t q = 0; q < nq && !st; q++) {
        size_t total = 0;
        for (size_t c = 0; c < j.nchunks; c++) total += j.heaps[q * j.nchunks + c].n;
        flat_hit *all = hk_malloc((total ? total : 1) * sizeof *all);
        if (!all) {
            st = hk_fail(HK_NOMEM, "out of memory");
            break;
        }
        size_t o = 0;
        for (size_t c = 0; c < j.nchunks; c++) {
            cs_heap *hp = &j.heaps[q * j.nchunks + c];
            memcpy(all + o, hp->h, hp->n * sizeof *all);
            o += hp->n;
        }
        qsort(all, total, sizeof *all, cs_cmp);
        hits[q] = all;
        counts[q] = total < j.depth ? total : j.depth;
    }
    for (size_t t = 0; t < ntasks; t++) hk_free(j.heaps[t].h);
    hk_free(j.heaps);
    hk_free(slots);
    return st;
}
