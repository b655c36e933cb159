/*
 * snapshot.c — see snapshot.h. Written through a 1 MiB buffer with running CRCs, so a
 * snapshot of any size costs one pass and constant extra memory; section headers are
 * patched in place once their length and checksum are known.
 */
#include "snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "json.h"

#define SNAP_HEADER 64u
#define SEC_HEADER 64u
#define ALIGN64(x) (((x) + 63u) & ~(uint64_t)63u)

enum { TAG_CONF = 0x464E4F43, TAG_IDS = 0x00534449, TAG_VECT = 0x54434556,
       TAG_NORM = 0x4D524F4E, TAG_PAYL = 0x4C594150, TAG_TEXT = 0x54584554,
       TAG_PIDX = 0x58444950, TAG_GRPH = 0x48505247, TAG_QNTZ = 0x5A544E51,
       TAG_CODE = 0x45444F43, TAG_TIDX = 0x58444954 };

/* CONF, IDS, VECT, NORM, PAYL, TEXT, PIDX, GRPH, QNTZ, CODE, TIDX, in this order (version
 * 1 files end after PIDX, version 2 after GRPH, version 3 after CODE) */
#define NSECTIONS 11u

static const char *tag_name(uint32_t tag) {
    switch (tag) {
    case TAG_CONF: return "config";
    case TAG_IDS: return "ids";
    case TAG_VECT: return "vectors";
    case TAG_NORM: return "norms";
    case TAG_PAYL: return "payloads";
    case TAG_TEXT: return "texts";
    case TAG_PIDX: return "payload indexes";
    case TAG_GRPH: return "graph";
    case TAG_QNTZ: return "quantizer";
    case TAG_CODE: return "codes";
    case TAG_TIDX: return "text index";
    }
    return "unknown";
}

/* ---- writer ---- */

typedef struct swriter {
    int fd;
    const char *path;
    uint64_t off;       /* file offset of buf[0] */
    hk_buf buf;
    uint32_t crc;       /* running CRC of the current section's data */
    uint64_t sec_len;
    uint64_t sec_start; /* offset of the current section header */
    hk_status st;
} swriter;

static void sw_flush(swriter *w) {
    if (w->st || !w->buf.len) return;
    w->st = fs_write_all(w->fd, w->buf.data, w->buf.len, w->path);
    w->off += w->buf.len;
    hk_buf_reset(&w->buf);
}

static void sw_raw(swriter *w, const void *p, size_t n) {
    if (w->st) return;
    if (w->buf.len + n > (1u << 20)) sw_flush(w);
    if (n >= (1u << 20)) {
        if (!w->st) w->st = fs_write_all(w->fd, p, n, w->path);
        w->off += n;
        return;
    }
    if (!w->st) w->st = hk_buf_append(&w->buf, p, n);
}

static void sw_data(swriter *w, const void *p, size_t n) {
    w->crc = hk_crc32c(w->crc, p, n);
    w->sec_len += n;
    sw_raw(w, p, n);
}

static void sw_u32(swriter *w, uint32_t v) {
    uint8_t t[4];
    hk_store_u32(t, v);
    sw_data(w, t, 4);
}

static void sw_u64(swriter *w, uint64_t v) {
    uint8_t t[8];
    hk_store_u64(t, v);
    sw_data(w, t, 8);
}

static void sw_pad(swriter *w) {
    static const uint8_t zeros[64];
    uint64_t pos = w->off + w->buf.len;
    sw_raw(w, zeros, (size_t)(ALIGN64(pos) - pos));
}

static void sw_begin(swriter *w) {
    static const uint8_t zeros[SEC_HEADER];
    sw_pad(w);
    w->sec_start = w->off + w->buf.len;
    sw_raw(w, zeros, SEC_HEADER);
    w->crc = 0;
    w->sec_len = 0;
}

static void sec_header_encode(uint8_t h[SEC_HEADER], uint32_t tag, uint64_t len, uint32_t crc) {
    memset(h, 0, SEC_HEADER);
    hk_store_u32(h, tag);
    hk_store_u64(h + 8, len);
    hk_store_u32(h + 16, crc);
    hk_store_u32(h + 60, hk_crc32c(0, h, 60));
}

static void sw_end(swriter *w, uint32_t tag) {
    if (w->st) return;
    uint8_t h[SEC_HEADER];
    sec_header_encode(h, tag, w->sec_len, w->crc);
    if (w->sec_start >= w->off) {
        memcpy(w->buf.data + (w->sec_start - w->off), h, SEC_HEADER);
    } else if (!w->st && pwrite(w->fd, h, SEC_HEADER, (off_t)w->sec_start) != SEC_HEADER) {
        w->st = hk_fail(HK_IO, "%s: write failed: %s", w->path, strerror(errno));
    }
}

static void write_sections(swriter *w, const snap_source *s) {
    const snap_config *c = &s->cfg;
    size_t dim = c->dim;

    sw_begin(w);
    sw_u32(w, c->dim);
    sw_u32(w, c->metric);
    sw_u32(w, c->index);
    sw_u32(w, c->hnsw_m);
    sw_u32(w, c->hnsw_ef_construction);
    sw_u32(w, c->hnsw_ef_search);
    sw_u64(w, c->lsn);
    sw_u64(w, c->next_id);
    sw_u64(w, c->count);
    sw_end(w, TAG_CONF);

    sw_begin(w);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i]) sw_u64(w, s->ids[i]);
    sw_end(w, TAG_IDS);

    sw_begin(w);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i]) sw_data(w, s->vectors + i * dim, dim * sizeof(float));
    sw_end(w, TAG_VECT);

    sw_begin(w);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i]) sw_data(w, &s->norms[i], sizeof(float));
    sw_end(w, TAG_NORM);

    /* Offsets first (so the loader can size and check everything), then the blob. */
    sw_begin(w);
    uint64_t off = 0;
    sw_u64(w, 0);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i]) {
            if (s->payloads[i]) off += hkb_size(s->payloads[i]);
            sw_u64(w, off);
        }
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i] && s->payloads[i]) sw_data(w, s->payloads[i], hkb_size(s->payloads[i]));
    sw_end(w, TAG_PAYL);

    sw_begin(w);
    off = 0;
    sw_u64(w, 0);
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i]) {
            if (s->texts[i]) off += s->text_lens[i];
            sw_u64(w, off);
        }
    for (size_t i = 0; i < s->nslots; i++)
        if (s->live[i] && s->texts[i]) sw_data(w, s->texts[i], s->text_lens[i]);
    sw_end(w, TAG_TEXT);

    sw_begin(w);
    sw_u32(w, (uint32_t)s->npidx);
    for (size_t i = 0; i < s->npidx; i++) {
        uint32_t kl = (uint32_t)strlen(s->pidx[i].key);
        sw_u32(w, s->pidx[i].type);
        sw_u32(w, kl);
        sw_data(w, s->pidx[i].key, kl);
    }
    sw_end(w, TAG_PIDX);

    sw_begin(w);
    if (s->graph_len) sw_data(w, s->graph, s->graph_len);
    sw_end(w, TAG_GRPH);

    sw_begin(w);
    if (s->quant_len) sw_data(w, s->quant, s->quant_len);
    sw_end(w, TAG_QNTZ);

    sw_begin(w);
    if (s->quant_len && s->code_size)
        for (size_t i = 0; i < s->nslots; i++)
            if (s->live[i]) sw_data(w, s->codes + i * s->code_size, s->code_size);
    sw_end(w, TAG_CODE);

    sw_begin(w);
    if (s->text_index_len) sw_data(w, s->text_index, s->text_index_len);
    sw_end(w, TAG_TIDX);
    sw_pad(w);
    sw_flush(w);
}

hk_status snap_write(const char *path, const snap_source *src, int nosync) {
    size_t plen = strlen(path);
    char *tmp = hk_malloc(plen + 5);
    if (!tmp) return hk_fail(HK_NOMEM, "out of memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        hk_status st = hk_fail(HK_IO, "%s: cannot create: %s", tmp, strerror(errno));
        hk_free(tmp);
        return st;
    }
    swriter w = {.fd = fd, .path = tmp};
    hk_buf_init(&w.buf);
    static const uint8_t zeros[SNAP_HEADER];
    sw_raw(&w, zeros, SNAP_HEADER);
    write_sections(&w, src);
    uint64_t size = w.off;
    if (!w.st) {
        uint8_t h[SNAP_HEADER] = {0};
        memcpy(h, SNAP_MAGIC, 8);
        hk_store_u32(h + 8, SNAP_VERSION);
        hk_store_u32(h + 12, (uint32_t)NSECTIONS);
        hk_store_u64(h + 16, size);
        hk_store_u32(h + 60, hk_crc32c(0, h, 60));
        if (pwrite(fd, h, SNAP_HEADER, 0) != SNAP_HEADER)
            w.st = hk_fail(HK_IO, "%s: write failed: %s", tmp, strerror(errno));
    }
    if (!w.st && !nosync) w.st = fs_fsync(fd, tmp);
    close(fd);
    hk_buf_free(&w.buf);
    if (!w.st && rename(tmp, path) != 0)
        w.st = hk_fail(HK_IO, "%s: cannot rename into place: %s", path, strerror(errno));
    if (w.st) unlink(tmp);
    hk_free(tmp);
    if (!w.st && !nosync) {
        char *dir = hk_strdup(path);
        if (!dir) return hk_fail(HK_NOMEM, "out of memory");
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            w.st = fs_fsync_dir(dir);
        }
        hk_free(dir);
    }
    return w.st;
}

/* ---- loader ---- */

void snap_image_free(snap_image *img) {
    if (!img) return;
    hk_free(img->ids);
    hk_aligned_free(img->vectors);
    hk_free(img->norms);
    hk_free(img->payload_blob);
    hk_free(img->payload_off);
    hk_free(img->text_blob);
    hk_free(img->text_off);
    for (size_t i = 0; i < img->npidx; i++) hk_free(img->pidx[i].key);
    hk_free(img->pidx);
    hk_free(img->graph);
    hk_free(img->quant);
    hk_free(img->codes);
    hk_free(img->tidx);
    if (img->fd >= 0) close(img->fd);
    hk_free(img->path);
    memset(img, 0, sizeof *img);
    img->fd = -1;
}

typedef struct sreader {
    int fd;
    const char *path;
    uint64_t size;
} sreader;

/* Checks the section header at `at` (checksum, tag, length against expect_len) and the
 * zero padding after its data, leaving the data itself unread: *len_out is its length,
 * *crc_out its stored checksum, *next the offset of the following section. */
static hk_status section_head(sreader *r, uint64_t at, uint32_t tag, uint64_t expect_len,
                              int exact, uint64_t *len_out, uint32_t *crc_out, uint64_t *next) {
    uint8_t h[SEC_HEADER];
    if (at + SEC_HEADER > r->size)
        return hk_fail(HK_CORRUPT, "%s: truncated: %s section header at offset %llu is past "
                       "the end", r->path, tag_name(tag), (unsigned long long)at);
    hk_status st = fs_pread_all(r->fd, h, SEC_HEADER, at, r->path);
    if (st) return st;
    if (hk_load_u32(h + 60) != hk_crc32c(0, h, 60))
        return hk_fail(HK_CORRUPT, "%s: section header checksum mismatch at offset %llu",
                       r->path, (unsigned long long)at);
    if (hk_load_u32(h) != tag)
        return hk_fail(HK_CORRUPT, "%s: expected the %s section at offset %llu", r->path,
                       tag_name(tag), (unsigned long long)at);
    uint64_t len = hk_load_u64(h + 8);
    if (len > r->size - at - SEC_HEADER)
        return hk_fail(HK_CORRUPT, "%s: %s section at offset %llu claims %llu bytes, past the "
                       "end of the file", r->path, tag_name(tag), (unsigned long long)at,
                       (unsigned long long)len);
    if (exact ? len != expect_len : len < expect_len)
        return hk_fail(HK_CORRUPT, "%s: %s section at offset %llu has %llu bytes, expected %s%llu",
                       r->path, tag_name(tag), (unsigned long long)at, (unsigned long long)len,
                       exact ? "" : "at least ", (unsigned long long)expect_len);
    /* Padding up to the next section must be zero: no byte of the file goes unchecked. */
    uint64_t end = at + SEC_HEADER + len, padded = ALIGN64(end);
    uint8_t pad[64] = {0}, zeros[64] = {0};
    if (padded > r->size)
        return hk_fail(HK_CORRUPT, "%s: truncated: %s section at offset %llu lacks its padding",
                       r->path, tag_name(tag), (unsigned long long)at);
    if (padded > end && (st = fs_pread_all(r->fd, pad, (size_t)(padded - end), end, r->path)))
        return st;
    if (memcmp(pad, zeros, sizeof pad) != 0)
        return hk_fail(HK_CORRUPT, "%s: nonzero padding after the %s section at offset %llu",
                       r->path, tag_name(tag), (unsigned long long)end);
    *len_out = len;
    *crc_out = hk_load_u32(h + 16);
    *next = padded;
    return HK_OK;
}

/* Reads len bytes of section data at `at` into p and checks them against crc. */
static hk_status section_data(int fd, const char *path, uint32_t tag, uint64_t at, void *p,
                              uint64_t len, uint32_t crc) {
    hk_status st = fs_pread_all(fd, p, len, at + SEC_HEADER, path);
    if (!st && hk_crc32c(0, p, len) != crc)
        st = hk_fail(HK_CORRUPT, "%s: %s section at offset %llu: checksum mismatch", path,
                     tag_name(tag), (unsigned long long)at);
    return st;
}

/* Reads the section at *off into a new allocation (aligned on request) and moves *off on. */
static hk_status read_section(sreader *r, uint64_t *off, uint32_t tag, uint64_t expect_len,
                              int exact, void **data, uint64_t *len_out, int aligned) {
    uint64_t len, next;
    uint32_t crc;
    hk_status st = section_head(r, *off, tag, expect_len, exact, &len, &crc, &next);
    if (st) return st;
    void *p = aligned ? hk_aligned_alloc(len ? len : 1) : hk_malloc(len ? len : 1);
    if (!p) return hk_fail(HK_NOMEM, "out of memory loading %s (%llu bytes)", r->path,
                           (unsigned long long)len);
    hk_advise_huge(p, len);
    if ((st = section_data(r->fd, r->path, tag, *off, p, len, crc))) {
        if (aligned) hk_aligned_free(p);
        else hk_free(p);
        return st;
    }
    *data = p;
    *len_out = len;
    *off = next;
    return HK_OK;
}

/* Splits an offsets+blob section into two allocations and checks the offsets. */
static hk_status split_blob(sreader *r, const char *what, uint8_t *sec, uint64_t len,
                            size_t n, uint64_t **offs_out, uint8_t **blob_out) {
    uint64_t head = (uint64_t)(n + 1) * 8;
    uint64_t *offs = hk_malloc((size_t)head);
    uint64_t blen = len - head;
    uint8_t *blob = hk_malloc((size_t)(blen ? blen : 1));
    if (!offs || !blob) {
        hk_free(offs);
        hk_free(blob);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    for (size_t i = 0; i <= n; i++) offs[i] = hk_load_u64(sec + i * 8);
    memcpy(blob, sec + head, (size_t)blen);
    hk_status st = HK_OK;
    if (offs[0] != 0 || offs[n] != blen)
        st = hk_fail(HK_CORRUPT, "%s: %s offsets do not span the data", r->path, what);
    for (size_t i = 0; !st && i < n; i++)
        if (offs[i + 1] < offs[i])
            st = hk_fail(HK_CORRUPT, "%s: %s offset %zu decreases", r->path, what, i);
    if (st) {
        hk_free(offs);
        hk_free(blob);
        return st;
    }
    *offs_out = offs;
    *blob_out = blob;
    return HK_OK;
}

static hk_status load_sections(sreader *r, snap_image *img, uint32_t version) {
    uint64_t off = SNAP_HEADER, len;
    void *p;
    hk_status st = read_section(r, &off, TAG_CONF, 48, 1, &p, &len, 0);
    if (st) return st;
    uint8_t *c = p;
    snap_config *cfg = &img->cfg;
    cfg->dim = hk_load_u32(c);
    cfg->metric = hk_load_u32(c + 4);
    cfg->index = hk_load_u32(c + 8);
    cfg->hnsw_m = hk_load_u32(c + 12);
    cfg->hnsw_ef_construction = hk_load_u32(c + 16);
    cfg->hnsw_ef_search = hk_load_u32(c + 20);
    cfg->lsn = hk_load_u64(c + 24);
    cfg->next_id = hk_load_u64(c + 32);
    cfg->count = hk_load_u64(c + 40);
    hk_free(p);
    /* Text-only collections (version 4 on) have no vectors: dim 0, flat. */
    int text_only = version >= 4 && cfg->dim == 0 && cfg->index == HK_INDEX_FLAT;
    if ((cfg->dim < 1 && !text_only) || cfg->dim > HK_MAX_DIM || cfg->metric > HK_METRIC_COSINE ||
        cfg->index > HK_INDEX_HNSW)
        return hk_fail(HK_CORRUPT, "%s: config section holds invalid values (dim %u, metric "
                       "%u, index %u)", r->path, cfg->dim, cfg->metric, cfg->index);
    uint64_t n = cfg->count;
    if (n > r->size / 8)
        return hk_fail(HK_CORRUPT, "%s: point count %llu exceeds what the file can hold",
                       r->path, (unsigned long long)n);
    img->n = (size_t)n;
    if ((st = read_section(r, &off, TAG_IDS, n * 8, 1, &p, &len, 0))) return st;
    img->ids = p;
    /* The vectors are read last, by snap_read_vectors, into memory the caller chooses. */
    img->vect_at = off;
    if ((st = section_head(r, off, TAG_VECT, n * cfg->dim * 4, 1, &img->vect_len, &img->vect_crc, &off)))
        return st;
    if ((st = read_section(r, &off, TAG_NORM, n * 4, 1, &p, &len, 0))) return st;
    img->norms = p;

    if ((st = read_section(r, &off, TAG_PAYL, (n + 1) * 8, 0, &p, &len, 0))) return st;
    st = split_blob(r, "payload", p, len, img->n, &img->payload_off, &img->payload_blob);
    hk_free(p);
    if (st) return st;
    for (size_t i = 0; i < img->n; i++) {
        uint64_t a = img->payload_off[i], b = img->payload_off[i + 1];
        if (b > a && (!hkb_valid(img->payload_blob + a, (size_t)(b - a)) ||
                      img->payload_blob[a] != HKB_OBJECT))
            return hk_fail(HK_CORRUPT, "%s: payload of point %zu is malformed", r->path, i);
    }
    if ((st = read_section(r, &off, TAG_TEXT, (n + 1) * 8, 0, &p, &len, 0))) return st;
    st = split_blob(r, "text", p, len, img->n, &img->text_off, (uint8_t **)&img->text_blob);
    hk_free(p);
    if (st) return st;

    if ((st = read_section(r, &off, TAG_PIDX, 4, 0, &p, &len, 0))) return st;
    uint8_t *x = p, *end = x + len;
    uint32_t np = hk_load_u32(x);
    x += 4;
    if (np > SNAP_MAX_PIDX)
        st = hk_fail(HK_CORRUPT, "%s: %u payload indexes exceed the limit of %u", r->path, np, SNAP_MAX_PIDX);
    if (!st && np && !(img->pidx = hk_calloc(np, sizeof *img->pidx))) st = hk_fail(HK_NOMEM, "out of memory");
    for (uint32_t i = 0; !st && i < np; i++) {
        if (end - x < 8) {
            st = hk_fail(HK_CORRUPT, "%s: payload index list is truncated", r->path);
            break;
        }
        uint32_t type = hk_load_u32(x), kl = hk_load_u32(x + 4);
        x += 8;
        if (type > HK_FIELD_BOOL || kl == 0 || kl > (uint64_t)(end - x)) {
            st = hk_fail(HK_CORRUPT, "%s: payload index %u is malformed", r->path, i);
            break;
        }
        img->pidx[i].type = type;
        if (!(img->pidx[i].key = hk_strndup((const char *)x, kl))) st = hk_fail(HK_NOMEM, "out of memory");
        else img->npidx++;
        x += kl;
    }
    hk_free(p);
    if (!st && version >= 2) {
        if ((st = read_section(r, &off, TAG_GRPH, 0, 0, &p, &len, 0))) return st;
        if (len) {
            img->graph = p;
            img->graph_len = (size_t)len;
        } else {
            hk_free(p);
        }
    }
    if (!st && version >= 3) {
        if ((st = read_section(r, &off, TAG_QNTZ, 0, 0, &p, &len, 0))) return st;
        if (len) {
            img->quant = p;
            img->quant_len = (size_t)len;
        } else {
            hk_free(p);
        }
        if ((st = read_section(r, &off, TAG_CODE, 0, 0, &p, &len, 0))) return st;
        if (len && !img->quant_len)
            st = hk_fail(HK_CORRUPT, "%s: codes section without a quantizer", r->path);
        if (len && !st) {
            img->codes = p;
            img->codes_len = (size_t)len;
        } else {
            hk_free(p);
        }
    }
    if (!st && version >= 4) {
        if ((st = read_section(r, &off, TAG_TIDX, 1, 0, &p, &len, 0))) return st;
        img->tidx = p;
        img->tidx_len = (size_t)len;
    }
    if (!st && off != r->size)
        st = hk_fail(HK_CORRUPT, "%s: %llu unexpected bytes after the last section at offset %llu",
                     r->path, (unsigned long long)(r->size - off), (unsigned long long)off);
    return st;
}

hk_status snap_open(const char *path, snap_image *out) {
    memset(out, 0, sizeof *out);
    out->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hk_fail(errno == ENOENT ? HK_CORRUPT : HK_IO, "%s: cannot open snapshot: %s",
                       path, strerror(errno));
    struct stat sb;
    hk_status st = HK_OK;
    uint8_t h[SNAP_HEADER];
    if (fstat(fd, &sb) != 0) st = hk_fail(HK_IO, "%s: %s", path, strerror(errno));
    else if ((uint64_t)sb.st_size < SNAP_HEADER)
        st = hk_fail(HK_CORRUPT, "%s: truncated: %lld bytes, a snapshot header alone is %u",
                     path, (long long)sb.st_size, SNAP_HEADER);
    else st = fs_pread_all(fd, h, SNAP_HEADER, 0, path);
    if (!st) {
        if (memcmp(h, SNAP_MAGIC, 8) != 0)
            st = hk_fail(HK_CORRUPT, "%s: not a HEKTOR snapshot (bad magic at offset 0)", path);
        else if (hk_load_u32(h + 60) != hk_crc32c(0, h, 60))
            st = hk_fail(HK_CORRUPT, "%s: snapshot header checksum mismatch at offset 0", path);
        else if (hk_load_u32(h + 8) < 1 || hk_load_u32(h + 8) > SNAP_VERSION)
            st = hk_fail(HK_CORRUPT, "%s: snapshot format version %u is not supported (this "
                         "build reads 1 to %u)", path, hk_load_u32(h + 8), SNAP_VERSION);
        else if (hk_load_u64(h + 16) != (uint64_t)sb.st_size)
            st = hk_fail(HK_CORRUPT, "%s: truncated or extended: header says %llu bytes, file "
                         "has %lld", path, (unsigned long long)hk_load_u64(h + 16),
                         (long long)sb.st_size);
    }
    if (!st) {
        sreader r = {fd, path, (uint64_t)sb.st_size};
        st = load_sections(&r, out, hk_load_u32(h + 8));
        out->file_bytes = r.size;
    }
    if (!st && !(out->path = hk_strdup(path))) st = hk_fail(HK_NOMEM, "out of memory");
    if (st) {
        close(fd);
        snap_image_free(out);
    } else {
        out->fd = fd;
    }
    return st;
}

hk_status snap_read_vectors(snap_image *img, float *dst) {
    if (img->fd < 0) return hk_fail(HK_ERROR, "snapshot vectors were already read");
    float *p = dst ? dst : hk_aligned_alloc(img->vect_len ? img->vect_len : 1);
    if (!p) return hk_fail(HK_NOMEM, "out of memory loading %s (%llu bytes of vectors)", img->path,
                           (unsigned long long)img->vect_len);
    if (!dst) hk_advise_huge(p, img->vect_len);
    hk_status st = section_data(img->fd, img->path, TAG_VECT, img->vect_at, p, img->vect_len,
                                img->vect_crc);
    if (st) {
        if (!dst) hk_aligned_free(p);
        return st;
    }
    if (!dst) img->vectors = p;
    close(img->fd);
    img->fd = -1;
    return HK_OK;
}

hk_status snap_load(const char *path, snap_image *out) {
    hk_status st = snap_open(path, out);
    if (!st && (st = snap_read_vectors(out, NULL))) snap_image_free(out);
    return st;
}
