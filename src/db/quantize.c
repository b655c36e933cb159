/*
 * quantize.c — codes in collections (hk_collection_quantize and friends) and the
 * database's codebook store (DIR/codebooks/NAME.hkcb).
 *
 * A collection holds its own copy of the codebook: the snapshot's QNTZ section carries it
 * (record below) and the CODE section the codes of the live points, so opening loads the
 * codes as stored. Quantizing or dropping codes writes a snapshot at once (and resets
 * the log), so the change is durable when the call returns and no log record is needed;
 * later upserts encode their vectors in prepare, so replay recomputes the same codes.
 *
 * QNTZ record (little endian): u32 version (3), u32 rerank, u32 flags (bit 0: the float
 * vectors are kept on disk and mapped; bit 1: a quantization is requested), u32 name
 * length, name bytes, u64 codebook length (0: no codes), codebook (the HKCB file form, with
 * its own checksum), then with flag bit 1 the request (40 bytes): u32 method, u32 pq_m,
 * u32 pq_bits, u32 curve, f64 curve_param, f64 sq_quantile, u32 train_size, u32 rerank.
 * Version 4 adds flag bit 2: the codes were made for that request (it is met); it needs bit
 * 1 and a codebook. Version 5 adds flag bit 3 (with bit 1): the request's training
 * settings, 16 more bytes after its 40: u32 iterations, u32 opq_iterations, u64 seed;
 * written only when one of them is not 0 (the default). Version 1 had no flags word and
 * always a codebook; version 2 no request; version 3 no bit 2; version 4 no bit 3. Each
 * record is written with the lowest version that holds it, so databases without a request
 * stay readable by the builds that predate it.
 *
 * Request generations (memory only, unique in the process): want_gen changes with every
 * request set or cleared (and at load); met_gen is the generation the codes were made for
 * (hk_collection_quantize_requested), 0 for codes made by hand. The request is met when
 * codes exist and met_gen == want_gen; that is what bit 2 keeps across a reopen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/fsutil.h"
#include "collection.h"

#define QREC_VERSION 5u
#define QREC_ON_DISK 1u
#define QREC_WANT 2u
#define QREC_MET 4u
#define QREC_TRAIN 8u
#define QREC_WANT_LEN 40u
#define QREC_TRAIN_LEN 16u

/* ---- the snapshot record ----------------------------------------------------------- */

/* Generations are unique in the process (not only per collection), so a front end may key
 * what it remembers about a request (a failed training, say) by the generation alone. */
static _Atomic uint64_t g_req_gen;
uint64_t coll_quant_next_gen(void) { return atomic_fetch_add(&g_req_gen, 1) + 1; }

hk_status coll_quant_encode(const hk_collection *c, hk_buf *out) {
    uint8_t *cbdata = NULL;
    size_t cblen = 0;
    hk_status st = c->cb ? hk_codebook_serialize(c->cb, &cbdata, &cblen) : HK_OK;
    if (st) return st;
    uint32_t nl = c->cb && c->cb_name ? (uint32_t)strlen(c->cb_name) : 0;
    int train = c->want && (c->want_p.iterations || c->want_p.opq_iterations || c->want_p.seed);
    uint32_t flags = (coll_vectors_disk(c) ? QREC_ON_DISK : 0) | (c->want ? QREC_WANT : 0) |
                     (coll_quant_met(c) ? QREC_MET : 0) | (train ? QREC_TRAIN : 0);
    /* Without flags the record is written as version 1, which builds that predate
     * version 2 read: quantizing never makes a database unreadable to them. */
    st = hk_buf_put_u32(out, (flags & QREC_TRAIN) ? 5u
                             : (flags & QREC_MET) ? 4u : (flags & QREC_WANT) ? 3u : flags ? 2u : 1u);
    if (!st) st = hk_buf_put_u32(out, c->cb ? c->rerank : 0);
    if (!st && flags) st = hk_buf_put_u32(out, flags);
    if (!st) st = hk_buf_put_u32(out, nl);
    if (!st && nl) st = hk_buf_append(out, c->cb_name, nl);
    if (!st) st = hk_buf_put_u64(out, cblen);
    if (!st && cblen) st = hk_buf_append(out, cbdata, cblen);
    hk_free(cbdata);
    if (!st && c->want) {
        const hk_quant_params *p = &c->want_p;
        uint8_t w[QREC_WANT_LEN];
        uint64_t bits;
        hk_store_u32(w, (uint32_t)p->method);
        hk_store_u32(w + 4, p->pq_m);
        hk_store_u32(w + 8, p->pq_bits);
        hk_store_u32(w + 12, (uint32_t)p->curve);
        memcpy(&bits, &p->curve_param, 8);
        hk_store_u64(w + 16, bits);
        memcpy(&bits, &p->sq_quantile, 8);
        hk_store_u64(w + 24, bits);
        hk_store_u32(w + 32, p->train_size);
        hk_store_u32(w + 36, c->want_rerank);
        st = hk_buf_append(out, w, sizeof w);
        if (!st && train) {
            uint8_t t[QREC_TRAIN_LEN];
            hk_store_u32(t, p->iterations);
            hk_store_u32(t + 4, p->opq_iterations);
            hk_store_u64(t + 8, p->seed);
            st = hk_buf_append(out, t, sizeof t);
        }
    }
    return st;
}

/* The record's fields after its version word; -1 when it is malformed. */
typedef struct qrec {
    uint32_t rerank, flags, nl;
    const uint8_t *name, *cb, *want; /* want: QREC_WANT_LEN bytes or NULL */
    const uint8_t *train;            /* QREC_TRAIN_LEN bytes after want, or NULL */
    uint64_t cblen;
} qrec;

static hk_status qrec_parse(const uint8_t *rec, size_t len, qrec *q) {
    memset(q, 0, sizeof *q);
    uint32_t ver = len >= 4 ? hk_load_u32(rec) : 0;
    size_t head = ver == 1 ? 12 : 16; /* version, rerank, [flags,] name length */
    if (ver < 1 || ver > QREC_VERSION || len < head + 8)
        return hk_fail(HK_CORRUPT, "quantizer section: unknown record version or too short");
    q->rerank = hk_load_u32(rec + 4);
    q->flags = ver == 1 ? 0 : hk_load_u32(rec + 8);
    q->nl = hk_load_u32(rec + head - 4);
    uint32_t known = ver == 5   ? QREC_ON_DISK | QREC_WANT | QREC_MET | QREC_TRAIN
                     : ver == 4 ? QREC_ON_DISK | QREC_WANT | QREC_MET
                     : ver == 3 ? QREC_ON_DISK | QREC_WANT : QREC_ON_DISK;
    if (q->flags & ~known)
        return hk_fail(HK_CORRUPT, "quantizer section: unknown flags %#x", q->flags);
    if ((ver >= 3) != !!(q->flags & QREC_WANT))
        return hk_fail(HK_CORRUPT, "quantizer section: version %u record %s a request", ver,
                       ver >= 3 ? "without" : "with");
    if (ver <= 4 && (ver == 4) != !!(q->flags & QREC_MET))
        return hk_fail(HK_CORRUPT, "quantizer section: version %u record %s the met flag", ver,
                       ver == 4 ? "without" : "with");
    if ((ver == 5) != !!(q->flags & QREC_TRAIN))
        return hk_fail(HK_CORRUPT, "quantizer section: version %u record %s training settings",
                       ver, ver == 5 ? "without" : "with");
    size_t wl = (q->flags & QREC_WANT) ? QREC_WANT_LEN : 0;
    size_t tl = (q->flags & QREC_TRAIN) ? QREC_TRAIN_LEN : 0;
    if (len < head + 8 + wl + tl)
        return hk_fail(HK_CORRUPT, "quantizer section: too short for its request");
    len -= wl + tl;
    if (wl) q->want = rec + len;
    if (tl) q->train = rec + len + wl;
    if (q->nl > HK_MAX_NAME || head + (size_t)q->nl + 8 > len)
        return hk_fail(HK_CORRUPT, "quantizer section: codebook name length %u is invalid", q->nl);
    q->name = rec + head;
    q->cblen = hk_load_u64(rec + head + q->nl);
    q->cb = rec + head + q->nl + 8;
    if (q->cblen != len - head - q->nl - 8)
        return hk_fail(HK_CORRUPT, "quantizer section: codebook length %llu does not match the "
                       "section", (unsigned long long)q->cblen);
    if ((ver == 1 || (q->flags & QREC_MET)) && !q->cblen)
        return hk_fail(HK_CORRUPT, "quantizer section: version %u record without a codebook", ver);
    if (ver == 2 && !q->flags)
        return hk_fail(HK_CORRUPT, "quantizer section: a version 2 record without flags (written "
                       "as version 1)");
    if (!q->cblen && (q->nl || q->rerank))
        return hk_fail(HK_CORRUPT, "quantizer section: a codebook name or re-rank depth without "
                       "a codebook");
    return HK_OK;
}

int coll_quant_on_disk(const uint8_t *rec, size_t len) {
    qrec q;
    return len && qrec_parse(rec, len, &q) == HK_OK && (q.flags & QREC_ON_DISK);
}

hk_status coll_quant_adopt(hk_collection *c, const uint8_t *rec, size_t len, uint8_t *codes,
                           size_t codes_len) {
    hk_codebook *cb = NULL;
    char *name = NULL;
    qrec q;
    hk_status st = qrec_parse(rec, len, &q);
    if (st) goto fail;
    if (q.want) {
        hk_quant_params p;
        hk_quant_params_init(&p);
        uint64_t bits;
        p.method = (hk_quant_method)hk_load_u32(q.want);
        p.pq_m = hk_load_u32(q.want + 4);
        p.pq_bits = hk_load_u32(q.want + 8);
        p.curve = (hk_curve)hk_load_u32(q.want + 12);
        bits = hk_load_u64(q.want + 16);
        memcpy(&p.curve_param, &bits, 8);
        bits = hk_load_u64(q.want + 24);
        memcpy(&p.sq_quantile, &bits, 8);
        p.train_size = hk_load_u32(q.want + 32);
        if (q.train) {
            p.iterations = hk_load_u32(q.train);
            p.opq_iterations = hk_load_u32(q.train + 4);
            p.seed = hk_load_u64(q.train + 8);
        }
        if ((st = cb_params_check(&p, c->cfg.dim))) {
            st = hk_fail_prefix(HK_CORRUPT, "quantizer section: the requested quantization");
            goto fail;
        }
        c->want = 1;
        c->want_p = p;
        c->want_rerank = hk_load_u32(q.want + 36);
    }
    if (!q.cblen) { /* vectors on disk or a request, no codes */
        if (codes_len) {
            st = hk_fail(HK_CORRUPT, "codes section without a codebook");
            goto fail;
        }
        hk_free(codes);
        return HK_OK;
    }
    if (q.nl && !(name = hk_strndup((const char *)q.name, q.nl))) {
        st = hk_fail(HK_NOMEM, "out of memory");
        goto fail;
    }
    if (name && db_check_name(name, "codebook")) {
        st = hk_fail(HK_CORRUPT, "quantizer section: %s", hk_errmsg());
        goto fail;
    }
    if ((st = hk_codebook_deserialize(q.cb, (size_t)q.cblen, &cb))) {
        st = hk_fail_prefix(HK_CORRUPT, "quantizer section");
        goto fail;
    }
    if (cb->dim != c->cfg.dim || cb->metric != c->cfg.metric) {
        st = hk_fail(HK_CORRUPT, "quantizer section: codebook for dimension %u / %s in a "
                     "collection of dimension %u / %s", cb->dim, hk_metric_name(cb->metric),
                     c->cfg.dim, hk_metric_name(c->cfg.metric));
        goto fail;
    }
    size_t cs = cb_code_size(cb), n = c->nslots;
    if (codes_len != n * cs) {
        st = hk_fail(HK_CORRUPT, "codes section holds %zu bytes; %zu points of %zu bytes need %zu",
                     codes_len, n, cs, n * cs);
        goto fail;
    }
    if (!codes && !(codes = hk_malloc(1))) {
        st = hk_fail(HK_NOMEM, "out of memory");
        goto fail;
    }
    if (cb_has_fs(cb)) {
        if (!(c->fs = hk_calloc(1, cb_fs_size(cb, n ? n : 1)))) {
            st = hk_fail(HK_NOMEM, "out of memory");
            goto fail;
        }
        if (n) cb_fs_pack(cb, codes, n, c->fs);
    }
    c->cb = cb;
    c->cb_name = name;
    c->rerank = q.rerank;
    c->codes = codes;
    c->code_size = cs;
    c->met_gen = (q.flags & QREC_MET) ? c->want_gen : 0;
    return HK_OK;
fail:
    hk_codebook_free(cb);
    hk_free(name);
    hk_free(codes);
    return st;
}

/* ---- search views ------------------------------------------------------------------ */

static void v_prepare(const void *ctx, const float *q, float *buf, float *bias) {
    cb_prepare(ctx, q, buf, bias);
}
static float v_dist(const void *ctx, const float *buf, float bias, const uint8_t *code) {
    return cb_dist(ctx, buf, bias, code);
}
static void v_dist_many(const void *ctx, const float *buf, float bias, const uint8_t *codes,
                        size_t n, float *out) {
    cb_dist_many(ctx, buf, bias, codes, n, out);
}

static float v_sym(const void *ctx, const uint8_t *a, const uint8_t *b) {
    return cb_sym(ctx, a, b);
}

static void v_fs_prepare(const void *ctx, const float *buf, float bias, uint8_t *qlut,
                         float *scale, float *fbias) {
    cb_fs_prepare(ctx, buf, bias, qlut, scale, fbias);
}

static void v_fs_scan(const void *ctx, const uint8_t *qlut, float scale, float fbias,
                      const uint8_t *packed, size_t n, float *out) {
    cb_fs_scan(ctx, qlut, scale, fbias, packed, n, out);
}

vec_codes coll_codes_view(const hk_collection *c) {
    float step2 = 0;
    int ip = 0;
    if (cb_is_int8(c->cb)) cb_int8_form(c->cb, &step2, &ip);
    return (vec_codes){.u8 = cb_is_int8(c->cb) ? vec_u8_best() : NULL, .u8_dim = c->cfg.dim,
                       .u8_step2 = step2, .u8_ip = ip,.codes = c->codes, .code_size = c->code_size,
                       .qfloats = cb_query_floats(c->cb), .ctx = c->cb, .prepare = v_prepare,
                       .dist = v_dist, .dist_many = v_dist_many,
                       .sym = cb_has_sym(c->cb) ? v_sym : NULL,
                       .fs_packed = c->fs,
                       .fs_lut_bytes = c->fs ? cb_fs_lut_size(c->cb) : 0,
                       .fs_block_bytes = c->fs ? cb_fs_size(c->cb, FS_BLOCK) : 0,
                       .fs_prepare = v_fs_prepare, .fs_scan = v_fs_scan};
}

size_t coll_rerank_depth(const hk_collection *c, uint32_t override, size_t want) {
    size_t d = override ? override : c->rerank;
    if (!d) d = 4 * want > 40 ? 4 * want : 40;
    return d < want ? want : d;
}

/* ---- quantize / dequantize --------------------------------------------------------- */

typedef struct enc_job {
    const hk_codebook *cb;
    const float *rows;
    size_t dim, n, cs;
    uint8_t *codes;
    hk_status st;
} enc_job;

#define ENC_BLOCK 4096

static void enc_task(void *arg, size_t task, unsigned worker) {
    (void)worker;
    enc_job *j = arg;
    size_t i0 = task * ENC_BLOCK, cnt = j->n - i0 < ENC_BLOCK ? j->n - i0 : ENC_BLOCK;
    if (cb_encode_rows(j->cb, j->rows + i0 * j->dim, cnt, j->codes + i0 * j->cs))
        __atomic_store_n(&j->st, HK_NOMEM, __ATOMIC_RELAXED);
}

/* gen NULL: codes by hand; else codes for request generation *gen, made only while that
 * is still the collection's request (checked under write_mu, which every request change
 * takes, and held until the codes are installed). */
static hk_status quantize_impl(hk_collection *c, const hk_codebook *src, const char *name,
                               uint32_t rerank, const uint64_t *gen) {
    if (!c || !src) return hk_fail(HK_INVALID, "quantize: NULL argument");
    if (name && db_check_name(name, "codebook")) return HK_INVALID;
    if (!c->cfg.dim) return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to quantize", c->name);
    if (src->dim != c->cfg.dim)
        return hk_fail(HK_DIMENSION, "the codebook is for dimension %u but collection '%s' has "
                       "dimension %u", src->dim, c->name, c->cfg.dim);
    if (src->metric != c->cfg.metric)
        return hk_fail(HK_INVALID, "the codebook was trained for the %s metric but collection "
                       "'%s' uses %s", hk_metric_name(src->metric), c->name,
                       hk_metric_name(c->cfg.metric));
    hk_codebook *cb;
    hk_status st = cb_clone(src, &cb);
    if (st) return st;
    char *nm = name ? hk_strdup(name) : NULL;
    if (name && !nm) {
        hk_codebook_free(cb);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    if ((st = coll_write_begin(c))) {
        hk_codebook_free(cb);
        hk_free(nm);
        return st;
    }
    if (gen && (!c->want || c->want_gen != *gen)) {
        hk_codebook_free(cb);
        hk_free(nm);
        pthread_mutex_unlock(&c->write_mu);
        return hk_fail(HK_CANCELLED, "the quantization request of collection '%s' was %s after "
                       "this training began; the collection is unchanged", c->name,
                       c->want ? "changed" : "cleared");
    }
    /* Writers hold write_mu, so the vectors stay as they are while we encode them beside
     * readers; the swap takes the write side of rw. */
    size_t cs = cb_code_size(cb);
    uint8_t *codes = hk_malloc((c->cap ? c->cap : 1) * cs);
    if (!codes) st = hk_fail(HK_NOMEM, "out of memory for the codes of %zu points", c->cap);
    else hk_advise_huge(codes, (c->cap ? c->cap : 1) * cs);
    if (!st && c->nslots) {
        enc_job j = {cb, c->vectors, c->cfg.dim, c->nslots, cs, codes, HK_OK};
        hk_pool_run((c->nslots + ENC_BLOCK - 1) / ENC_BLOCK, enc_task, &j);
        if (j.st) st = hk_fail(HK_NOMEM, "out of memory while encoding");
    }
    uint8_t *fs = NULL;
    if (!st && cb_has_fs(cb)) {
        /* zeroed: the room past nslots, and the unused nibbles of the last group when m is
         * not a multiple of 4, stay zero as reserve_slots and cb_fs_set expect */
        size_t fb = cb_fs_size(cb, c->cap ? c->cap : 1);
        if (!(fs = hk_calloc(1, fb))) st = hk_fail(HK_NOMEM, "out of memory for the fast-scan codes");
        else if (c->nslots) cb_fs_pack(cb, codes, c->nslots, fs);
    }
    if (st) {
        hk_free(codes);
        hk_codebook_free(cb);
        hk_free(nm);
        pthread_mutex_unlock(&c->write_mu);
        return st;
    }
    pthread_rwlock_wrlock(&c->rw);
    hk_codebook *old_cb = c->cb;
    char *old_name = c->cb_name;
    uint8_t *old_codes = c->codes, *old_fs = c->fs;
    size_t old_cs = c->code_size;
    uint32_t old_rerank = c->rerank;
    uint64_t old_met = c->met_gen;
    c->cb = cb;
    c->cb_name = nm;
    c->codes = codes;
    c->fs = fs;
    c->code_size = cs;
    c->rerank = rerank;
    c->met_gen = gen ? *gen : 0;
    pthread_rwlock_unlock(&c->rw);
    st = coll_checkpoint_force(c);
    pthread_rwlock_wrlock(&c->rw);
    if (st) { /* not durable: put everything back */
        c->met_gen = old_met;
        c->cb = old_cb;
        c->cb_name = old_name;
        c->codes = old_codes;
        c->fs = old_fs;
        c->code_size = old_cs;
        c->rerank = old_rerank;
        old_cb = cb;
        old_name = nm;
        old_codes = codes;
        old_fs = fs;
    }
    pthread_rwlock_unlock(&c->rw);
    if (!st && c->vf) vecfile_advise(c->vf, 1); /* re-ranking reads rows at random */
    pthread_mutex_unlock(&c->write_mu);
    hk_codebook_free(old_cb);
    hk_free(old_name);
    hk_free(old_codes);
    hk_free(old_fs);
    return st;
}

hk_status hk_collection_quantize(hk_collection *c, const hk_codebook *src, const char *name,
                                 uint32_t rerank) {
    return quantize_impl(c, src, name, rerank, NULL);
}

hk_status hk_collection_quantize_requested(hk_collection *c, const hk_codebook *cb,
                                           const char *codebook_name, uint32_t rerank,
                                           uint64_t generation) {
    if (!generation) return hk_fail(HK_INVALID, "quantize_requested: generation 0 is no request");
    return quantize_impl(c, cb, codebook_name, rerank, &generation);
}

hk_status hk_collection_dequantize(hk_collection *c) {
    if (!c) return hk_fail(HK_INVALID, "dequantize: NULL collection");
    hk_status st = coll_write_begin(c);
    if (st) return st;
    if (!c->cb) {
        pthread_mutex_unlock(&c->write_mu);
        return hk_fail(HK_NOT_FOUND, "collection '%s' has no codes", c->name);
    }
    pthread_rwlock_wrlock(&c->rw);
    hk_codebook *cb = c->cb;
    char *nm = c->cb_name;
    uint8_t *codes = c->codes, *fs = c->fs;
    c->cb = NULL;
    c->cb_name = NULL;
    c->codes = NULL;
    c->fs = NULL;
    pthread_rwlock_unlock(&c->rw);
    st = coll_checkpoint_force(c);
    if (st) {
        pthread_rwlock_wrlock(&c->rw);
        c->cb = cb;
        c->cb_name = nm;
        c->codes = codes;
        c->fs = fs;
        pthread_rwlock_unlock(&c->rw);
    } else {
        if (c->vf) vecfile_advise(c->vf, 0); /* scans read rows in order again */
        hk_codebook_free(cb);
        hk_free(nm);
        hk_free(codes);
        hk_free(fs);
    }
    pthread_mutex_unlock(&c->write_mu);
    return st;
}

/* ---- the requested quantization ---------------------------------------------------- */

hk_status hk_collection_set_quant_request(hk_collection *c, const hk_quant_params *p,
                                          uint32_t rerank) {
    if (!c) return hk_fail(HK_INVALID, "set_quant_request: NULL collection");
    if (p && c->cfg.dim == 0)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to quantize",
                       c->name);
    if (p) {
        if (p->method == HK_QUANT_NONE)
            return hk_fail(HK_INVALID, "quantization request: method 'none' (pass NULL to clear)");
        hk_status st = cb_params_check(p, c->cfg.dim);
        if (st) return st;
    }
    hk_status st = coll_write_begin(c);
    if (st) return st;
    pthread_rwlock_wrlock(&c->rw);
    int old = c->want;
    hk_quant_params old_p = c->want_p;
    uint32_t old_rerank = c->want_rerank;
    uint64_t old_gen = c->want_gen;
    c->want = p != NULL;
    if (p) c->want_p = *p;
    c->want_rerank = p ? rerank : 0;
    c->want_gen = coll_quant_next_gen(); /* a training begun for the old request may not install its codes */
    pthread_rwlock_unlock(&c->rw);
    st = coll_checkpoint_force(c);
    if (st) { /* not durable: as it was */
        pthread_rwlock_wrlock(&c->rw);
        c->want = old;
        c->want_p = old_p;
        c->want_rerank = old_rerank;
        c->want_gen = old_gen;
        pthread_rwlock_unlock(&c->rw);
    }
    pthread_mutex_unlock(&c->write_mu);
    return st;
}

hk_status hk_collection_quant_request(hk_collection *c, hk_quant_params *p, uint32_t *rerank) {
    if (!c || !p) return hk_fail(HK_INVALID, "quant_request: NULL argument");
    hk_status st = coll_read_begin(c);
    if (st) return st;
    if (!c->want) {
        st = hk_fail(HK_NOT_FOUND, "collection '%s' requests no quantization", c->name);
    } else {
        *p = c->want_p;
        if (rerank) *rerank = c->want_rerank;
    }
    coll_read_end(c);
    return st;
}

hk_status hk_collection_quant_state(hk_collection *c, hk_quant_state *out) {
    if (!c || !out) return hk_fail(HK_INVALID, "quant_state: NULL argument");
    memset(out, 0, sizeof *out);
    hk_status st = coll_read_begin(c);
    if (st) return st;
    out->count = c->count;
    out->method = c->cb ? c->cb->method : HK_QUANT_NONE;
    out->code_bytes = c->cb ? (uint32_t)c->code_size : 0;
    out->requested = c->want;
    if (c->want) {
        out->request = c->want_p;
        out->request_rerank = c->want_rerank;
        out->generation = c->want_gen;
        out->met = coll_quant_met(c);
    }
    coll_read_end(c);
    return HK_OK;
}

/* ---- vector storage ---------------------------------------------------------------- */

hk_status hk_collection_set_vector_storage(hk_collection *c, hk_vector_storage storage) {
    if (!c) return hk_fail(HK_INVALID, "set_vector_storage: NULL collection");
    if (storage != HK_VECTORS_MEMORY && storage != HK_VECTORS_DISK)
        return hk_fail(HK_INVALID, "unknown vector storage %d (memory or disk)", (int)storage);
    if (c->cfg.dim == 0)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to store",
                       c->name);
    hk_status st = coll_write_begin(c);
    if (st) return st;
    if (storage == HK_VECTORS_MEMORY && !c->vf && c->disk_wanted) {
        /* on the heap already (the file could not be made at open): forget the setting */
        c->disk_wanted = 0;
        st = coll_checkpoint_force(c);
        if (st) c->disk_wanted = 1;
        pthread_mutex_unlock(&c->write_mu);
        return st;
    }
    if ((storage == HK_VECTORS_DISK) == (c->vf != NULL)) {
        pthread_mutex_unlock(&c->write_mu);
        return HK_OK;
    }
    /* Writers hold write_mu, so the vectors stay as they are while we copy them beside
     * readers; the swap takes the write side of rw. */
    size_t bytes = c->cap * c->cfg.dim * sizeof(float), used = c->nslots * c->cfg.dim * sizeof(float);
    vecfile *vf = NULL;
    float *heap = NULL;
    if (storage == HK_VECTORS_DISK) {
        st = vecfile_create(c->dir, &vf);
        if (!st) st = vecfile_reserve(vf, bytes);
        if (!st && used) memcpy(vf->base, c->vectors, used);
        if (!st && c->cb) vecfile_advise(vf, 1);
    } else {
        heap = hk_aligned_alloc(bytes ? bytes : 1);
        if (!heap) st = hk_fail(HK_NOMEM, "out of memory for %zu bytes of vectors", bytes);
        else if (used) memcpy(heap, c->vectors, used);
    }
    if (st) {
        vecfile_free(vf);
        pthread_mutex_unlock(&c->write_mu);
        return st;
    }
    pthread_rwlock_wrlock(&c->rw);
    vecfile *old_vf = c->vf;
    float *old_vectors = c->vectors;
    int old_wanted = c->disk_wanted;
    c->vf = vf;
    c->vectors = vf ? vf->base : heap;
    c->disk_wanted = 0;
    pthread_rwlock_unlock(&c->rw);
    st = coll_checkpoint_force(c);
    pthread_rwlock_wrlock(&c->rw);
    if (st) { /* not durable: put everything back */
        c->vf = old_vf;
        c->vectors = old_vectors;
        c->disk_wanted = old_wanted;
        old_vf = vf;
        old_vectors = heap;
    }
    pthread_rwlock_unlock(&c->rw);
    pthread_mutex_unlock(&c->write_mu);
    if (old_vf) vecfile_free(old_vf);
    else hk_aligned_free(old_vectors);
    return st;
}

hk_status hk_collection_codebook(hk_collection *c, hk_codebook **out, char **name) {
    if (!c || !out) return hk_fail(HK_INVALID, "collection_codebook: NULL argument");
    if (name) *name = NULL;
    hk_status st = coll_read_begin(c);
    if (st) return st;
    if (!c->cb) st = hk_fail(HK_NOT_FOUND, "collection '%s' has no codes", c->name);
    else st = cb_clone(c->cb, out);
    if (!st && name && c->cb_name && !(*name = hk_strdup(c->cb_name))) {
        hk_codebook_free(*out);
        st = hk_fail(HK_NOMEM, "out of memory");
    }
    coll_read_end(c);
    return st;
}

static uint64_t mix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

hk_status hk_collection_sample(hk_collection *c, size_t n, uint64_t seed, float **vectors,
                               size_t *got) {
    if (!c || !vectors || !got) return hk_fail(HK_INVALID, "collection_sample: NULL argument");
    *vectors = NULL;
    *got = 0;
    if (!c->cfg.dim) return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors", c->name);
    hk_status st = coll_read_begin(c);
    if (st) return st;
    size_t live_n = (size_t)c->count, dim = c->cfg.dim, take = live_n < n ? live_n : n;
    float *x = hk_malloc((take ? take : 1) * dim * sizeof(float));
    uint32_t *live = hk_malloc((live_n ? live_n : 1) * sizeof(uint32_t));
    if (!x || !live) {
        coll_read_end(c);
        hk_free(x);
        hk_free(live);
        return hk_fail(HK_NOMEM, "out of memory for a sample of %zu vectors", take);
    }
    roaring_bitmap_to_uint32_array(c->live_bm, live);
    /* partial Fisher-Yates over the live slots */
    uint64_t rs = seed ^ 0xD1B54A32D192ED03ull;
    for (size_t i = 0; i < take && take < live_n; i++) {
        size_t r = i + (size_t)(mix64(&rs) % (live_n - i));
        uint32_t t = live[i];
        live[i] = live[r];
        live[r] = t;
    }
    for (size_t i = 0; i < take; i++)
        memcpy(x + i * dim, c->vectors + (size_t)live[i] * dim, dim * sizeof(float));
    coll_read_end(c);
    hk_free(live);
    *vectors = x;
    *got = take;
    return HK_OK;
}

hk_status hk_collection_train(hk_collection *c, const hk_quant_params *p, hk_progress_fn progress,
                              void *ud, hk_codebook **out) {
    if (!c || !p || !out) return hk_fail(HK_INVALID, "collection_train: NULL argument");
    float *x;
    size_t n;
    hk_status st = hk_collection_sample(c, p->train_size ? p->train_size : 65536, p->seed, &x, &n);
    if (st) return st;
    if (n == 0) {
        hk_free(x);
        return hk_fail(HK_INVALID, "collection '%s' is empty: there is nothing to train on", c->name);
    }
    st = hk_codebook_train(x, n, c->cfg.dim, c->cfg.metric, p, progress, ud, out);
    hk_free(x);
    return st;
}

hk_status hk_collection_quant_auto(hk_collection *c, const hk_quant_target *target,
                                   size_t sample, size_t nq, const hk_quality_options *o,
                                   hk_progress_fn progress, void *ud, hk_quant_params **params_out,
                                   hk_quality **table, size_t *ntable, size_t *chosen) {
    if (!c || !target || !params_out || !table || !ntable || !chosen)
        return hk_fail(HK_INVALID, "collection_quant_auto: NULL argument");
    *params_out = NULL;
    *table = NULL;
    *ntable = 0;
    if (c->cfg.dim == 0)
        return hk_fail(HK_INVALID, "collection '%s' is text-only: it has no vectors to quantize",
                       c->name);
    if (!sample) sample = 10000;
    float *all;
    size_t got;
    hk_status st = hk_collection_sample(c, sample + nq, 7, &all, &got);
    if (st) return st;
    /* The first nq vectors of the random sample are the queries, held out of the rest
     * (at most half of a small collection). */
    size_t hq = got > 2 * nq ? nq : got / 2, dim = c->cfg.dim;
    if (got - hq == 0)
        st = hk_fail(HK_INVALID, "collection '%s' is empty: there is nothing to evaluate on", c->name);
    else
        st = hk_quant_auto(all + hq * dim, got - hq, c->cfg.dim, c->cfg.metric, target,
                           hq ? all : NULL, hq, o, progress, ud, params_out, table, ntable, chosen);
    hk_free(all);
    return st;
}

/* ---- the codebook store ------------------------------------------------------------ */

#define CB_DIR "codebooks"
#define CB_EXT ".hkcb"

static char *cb_path(hk_db *db, const char *name) {
    char *dir = fs_join(db->path, CB_DIR);
    if (!dir) return NULL;
    size_t n = strlen(name);
    char *file = hk_malloc(n + sizeof CB_EXT);
    char *p = NULL;
    if (file) {
        memcpy(file, name, n);
        memcpy(file + n, CB_EXT, sizeof CB_EXT);
        p = fs_join(dir, file);
    }
    hk_free(file);
    hk_free(dir);
    return p;
}

/* Writes cb as ROOT/codebooks/NAME.hkcb (temporary file, fsync, rename, fsync dir). */
static hk_status cb_write(const char *root, int nosync, const char *name, const hk_codebook *cb,
                          int replace) {
    hk_status st = HK_OK;
    char *dir = fs_join(root, CB_DIR), *path = NULL, *tmp = NULL;
    if (dir) {
        size_t n = strlen(name);
        char *file = hk_malloc(n + sizeof CB_EXT);
        if (file) {
            memcpy(file, name, n);
            memcpy(file + n, CB_EXT, sizeof CB_EXT);
            path = fs_join(dir, file);
        }
        hk_free(file);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if (!dir || !path) {
        st = hk_fail(HK_NOMEM, "out of memory");
        goto done;
    }
    if (!replace && fs_exists(path)) {
        st = hk_fail(HK_EXISTS, "codebook '%s' already exists", name);
        goto done;
    }
    if ((st = fs_mkdir(dir))) goto done;
    if ((st = hk_codebook_serialize(cb, &data, &len))) goto done;
    /* A temporary name of its own (two writers never share one), renamed into place; without
     * replace, linked into place instead, which fails when the name exists, so of two
     * writers racing for a new name exactly one succeeds. */
    size_t pl = strlen(path);
    static const char suffix[] = ".tmp-XXXXXX";
    if (!(tmp = hk_malloc(pl + sizeof suffix))) {
        st = hk_fail(HK_NOMEM, "out of memory");
        goto done;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, suffix, sizeof suffix);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        st = hk_fail(HK_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    if (fchmod(fd, 0644) != 0) st = hk_fail(HK_IO, "%s: cannot chmod: %s", tmp, strerror(errno));
    if (!st) st = fs_write_all(fd, data, len, tmp);
    if (!st && !nosync) st = fs_fsync(fd, tmp);
    close(fd);
    if (!st && !replace) {
        if (link(tmp, path) != 0) {
            int e = errno;
            if (e == EEXIST)
                st = hk_fail(HK_EXISTS, "codebook '%s' already exists", name);
            else if (e != EPERM && e != ENOTSUP && e != ENOSYS)
                st = hk_fail(HK_IO, "%s: cannot link into place: %s", path, strerror(e));
            else if (fs_exists(path)) /* no hard links here: check, then rename */
                st = hk_fail(HK_EXISTS, "codebook '%s' already exists", name);
            else if (rename(tmp, path) != 0)
                st = hk_fail(HK_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        }
        unlink(tmp); /* linked (or failed): the temporary name goes either way */
    } else if (!st && rename(tmp, path) != 0) {
        st = hk_fail(HK_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    }
    if (st) unlink(tmp);
    if (!st && !nosync) st = fs_fsync_dir(dir);
done:
    hk_free(data);
    hk_free(tmp);
    hk_free(path);
    hk_free(dir);
    return st;
}

hk_status hk_db_codebook_save(hk_db *db, const char *name, const hk_codebook *cb, int replace) {
    if (!db || !cb) return hk_fail(HK_INVALID, "codebook_save: NULL argument");
    hk_status st = db_check_name(name, "codebook");
    if (st) return st;
    if (db->flags & HK_OPEN_READONLY) return hk_fail(HK_READONLY, "database is open read-only");
    return cb_write(db->path, (db->flags & HK_OPEN_NOSYNC) != 0, name, cb, replace);
}

hk_status db_codebooks_copy(hk_db *db, const char *dest) {
    char **names;
    size_t n;
    hk_status st = hk_db_codebook_list(db, &names, &n);
    if (st) return st;
    for (size_t i = 0; i < n && !st; i++) {
        hk_codebook *cb;
        if ((st = hk_db_codebook_load(db, names[i], &cb))) break; /* checks it */
        st = cb_write(dest, (db->flags & HK_OPEN_NOSYNC) != 0, names[i], cb, 0);
        hk_codebook_free(cb);
    }
    hk_strings_free(names, n);
    return st;
}

hk_status hk_db_codebook_load(hk_db *db, const char *name, hk_codebook **out) {
    if (!db || !out) return hk_fail(HK_INVALID, "codebook_load: NULL argument");
    hk_status st = db_check_name(name, "codebook");
    if (st) return st;
    char *path = cb_path(db, name);
    if (!path) return hk_fail(HK_NOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        st = errno == ENOENT ? hk_fail(HK_NOT_FOUND, "codebook '%s' does not exist", name)
                             : hk_fail(HK_IO, "%s: cannot open: %s", path, strerror(errno));
        hk_free(path);
        return st;
    }
    struct stat sb;
    uint8_t *data = NULL;
    if (fstat(fd, &sb) != 0) st = hk_fail(HK_IO, "%s: %s", path, strerror(errno));
    else if (sb.st_size > (off_t)1 << 34) st = hk_fail(HK_CORRUPT, "%s: implausibly large codebook", path);
    else if (!(data = hk_malloc((size_t)sb.st_size + 1))) st = hk_fail(HK_NOMEM, "out of memory");
    else st = fs_pread_all(fd, data, (size_t)sb.st_size, 0, path);
    close(fd);
    if (!st) {
        st = hk_codebook_deserialize(data, (size_t)sb.st_size, out);
        if (st) hk_fail_prefix(st, "%s", path);
    }
    hk_free(data);
    hk_free(path);
    return st;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

hk_status hk_db_codebook_list(hk_db *db, char ***names, size_t *n) {
    if (!db || !names || !n) return hk_fail(HK_INVALID, "codebook_list: NULL argument");
    *names = NULL;
    *n = 0;
    char *dir = fs_join(db->path, CB_DIR);
    if (!dir) return hk_fail(HK_NOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (!d) {
        hk_status st = errno == ENOENT ? HK_OK : hk_fail(HK_IO, "%s: cannot list: %s", dir, strerror(errno));
        hk_free(dir);
        return st;
    }
    char **out = NULL;
    size_t cnt = 0, cap = 0;
    hk_status st = HK_OK;
    struct dirent *e;
    while (!st && (e = readdir(d))) {
        size_t l = strlen(e->d_name), el = strlen(CB_EXT);
        if (l <= el || strcmp(e->d_name + l - el, CB_EXT)) continue;
        char *nm = hk_strndup(e->d_name, l - el);
        if (!nm) {
            st = hk_fail(HK_NOMEM, "out of memory");
            break;
        }
        if (db_check_name(nm, "codebook")) {
            hk_free(nm);
            hk_clear_error();
            continue;
        }
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **g = hk_realloc(out, nc * sizeof *g);
            if (!g) {
                hk_free(nm);
                st = hk_fail(HK_NOMEM, "out of memory");
                break;
            }
            out = g;
            cap = nc;
        }
        out[cnt++] = nm;
    }
    closedir(d);
    hk_free(dir);
    if (st) {
        hk_strings_free(out, cnt);
        return st;
    }
    if (cnt) qsort(out, cnt, sizeof *out, cmp_name);
    *names = out;
    *n = cnt;
    return HK_OK;
}

hk_status hk_db_codebook_remove(hk_db *db, const char *name) {
    if (!db) return hk_fail(HK_INVALID, "codebook_remove: NULL database");
    hk_status st = db_check_name(name, "codebook");
    if (st) return st;
    if (db->flags & HK_OPEN_READONLY) return hk_fail(HK_READONLY, "database is open read-only");
    char *path = cb_path(db, name), *dir = fs_join(db->path, CB_DIR);
    if (!path || !dir) st = hk_fail(HK_NOMEM, "out of memory");
    else if (unlink(path) != 0)
        st = errno == ENOENT ? hk_fail(HK_NOT_FOUND, "codebook '%s' does not exist", name)
                             : hk_fail(HK_IO, "%s: cannot remove: %s", path, strerror(errno));
    else if (!(db->flags & HK_OPEN_NOSYNC)) st = fs_fsync_dir(dir);
    hk_free(path);
    hk_free(dir);
    return st;
}
