/*
 * wal.c — see wal.h for the format and the recovery rule.
 *
 * Replay reads the file once into memory in chunks of whole records; logs are bounded by
 * the checkpoint threshold, so this stays small. A record is valid when its header fits,
 * its length is within WAL_MAX_RECORD and the file, its LSN is the next expected one and
 * its CRC matches. The forward search for a later valid record (to tell corruption from
 * a torn tail) only runs after a failure.
 */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fsutil.h"

struct wal {
    char *path;
    int fd;
    int read_only, nosync;
    uint64_t base_lsn;
    uint64_t last_lsn;   /* last appended */
    uint64_t size;       /* bytes in file */
    pthread_mutex_t mu;  /* guards fd swaps, last_lsn, synced_lsn, syncing, failed */
    pthread_cond_t cv;
    uint64_t synced_lsn;
    int syncing;
    int failed;          /* an fdatasync failed: nothing after it is known durable */
    hk_buf scratch;
};

static void header_encode(uint8_t h[WAL_HEADER_SIZE], uint64_t base) {
    memset(h, 0, WAL_HEADER_SIZE);
    memcpy(h, WAL_MAGIC, 8);
    hk_store_u32(h + 8, WAL_VERSION);
    hk_store_u32(h + 12, 0);
    hk_store_u64(h + 16, base);
    hk_store_u32(h + 28, hk_crc32c(0, h, 28));
}

static wal *wal_alloc(const char *path, int fd, int read_only, int nosync) {
    wal *w = hk_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->path = hk_strdup(path);
    if (!w->path) {
        hk_free(w);
        return NULL;
    }
    w->fd = fd;
    w->read_only = read_only;
    w->nosync = nosync;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    hk_buf_init(&w->scratch);
    return w;
}

hk_status wal_create(const char *path, uint64_t base_lsn, int nosync, wal **out) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return hk_fail(HK_IO, "%s: cannot create log: %s", path, strerror(errno));
    uint8_t h[WAL_HEADER_SIZE];
    header_encode(h, base_lsn);
    hk_status st = fs_write_all(fd, h, sizeof h, path);
    if (!st && !nosync) st = fs_fsync(fd, path);
    if (st) {
        close(fd);
        return st;
    }
    wal *w = wal_alloc(path, fd, 0, nosync);
    if (!w) {
        close(fd);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    w->base_lsn = w->last_lsn = w->synced_lsn = base_lsn;
    w->size = WAL_HEADER_SIZE;
    *out = w;
    return HK_OK;
}

hk_status wal_open(const char *path, int read_only, int nosync, wal **out) {
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0)
        return hk_fail(errno == ENOENT ? HK_CORRUPT : HK_IO, "%s: cannot open log: %s", path,
                       strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return hk_fail(HK_IO, "%s: %s", path, strerror(errno));
    }
    uint8_t h[WAL_HEADER_SIZE];
    if ((uint64_t)sb.st_size < WAL_HEADER_SIZE) {
        close(fd);
        return hk_fail(HK_CORRUPT, "%s: truncated log header (%lld of %u bytes)", path,
                       (long long)sb.st_size, WAL_HEADER_SIZE);
    }
    hk_status st = fs_pread_all(fd, h, sizeof h, 0, path);
    if (st) {
        close(fd);
        return st;
    }
    if (memcmp(h, WAL_MAGIC, 8) != 0) {
        close(fd);
        return hk_fail(HK_CORRUPT, "%s: not a HEKTOR log (bad magic at offset 0)", path);
    }
    if (hk_load_u32(h + 28) != hk_crc32c(0, h, 28)) {
        close(fd);
        return hk_fail(HK_CORRUPT, "%s: log header checksum mismatch at offset 0", path);
    }
    uint32_t version = hk_load_u32(h + 8);
    if (version != WAL_VERSION) {
        close(fd);
        return hk_fail(HK_CORRUPT, "%s: log format version %u is not supported (this is %u)",
                       path, version, WAL_VERSION);
    }
    wal *w = wal_alloc(path, fd, read_only, nosync);
    if (!w) {
        close(fd);
        return hk_fail(HK_NOMEM, "out of memory");
    }
    w->base_lsn = w->last_lsn = w->synced_lsn = hk_load_u64(h + 16);
    w->size = (uint64_t)sb.st_size;
    *out = w;
    return HK_OK;
}

void wal_close(wal *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    hk_buf_free(&w->scratch);
    hk_free(w->path);
    hk_free(w);
}

uint64_t wal_base_lsn(const wal *w) { return w->base_lsn; }
uint64_t wal_last_lsn(const wal *w) { return w->last_lsn; }
/* Read by statistics under a collection's read lock while a writer appends. */
uint64_t wal_bytes(const wal *w) { return __atomic_load_n(&w->size, __ATOMIC_RELAXED); }

static uint32_t record_crc(const uint8_t *rec, uint32_t len) {
    uint32_t c = hk_crc32c(0, rec, 13); /* length, type, lsn */
    return hk_crc32c(c, rec + WAL_RECORD_HEADER, len);
}

/* 1 when a valid record with LSN == expect (or any LSN > after when expect == 0) starts
 * at p within [p, end). */
static int record_ok(const uint8_t *p, const uint8_t *end, uint64_t expect, uint64_t after) {
    if ((size_t)(end - p) < WAL_RECORD_HEADER) return 0;
    uint32_t len = hk_load_u32(p);
    if (len > WAL_MAX_RECORD || (size_t)(end - p) - WAL_RECORD_HEADER < len) return 0;
    uint64_t lsn = hk_load_u64(p + 5);
    if (expect ? lsn != expect : lsn <= after) return 0;
    return hk_load_u32(p + 13) == record_crc(p, len);
}

hk_status wal_replay(wal *w, wal_apply_fn fn, void *ctx, wal_replay_info *info) {
    wal_replay_info local = {0};
    uint64_t body_bytes = w->size - WAL_HEADER_SIZE;
    hk_buf *b = &w->scratch;
    hk_buf_reset(b);
    hk_status st = hk_buf_reserve(b, (size_t)body_bytes);
    if (st) return st;
    if ((st = fs_pread_all(w->fd, b->data, (size_t)body_bytes, WAL_HEADER_SIZE, w->path)))
        return st;
    const uint8_t *base = b->data, *p = base, *end = base + body_bytes;
    uint64_t lsn = w->base_lsn;
    while (p < end) {
        if (!record_ok(p, end, lsn + 1, 0)) {
            for (const uint8_t *q = p + 1; q + WAL_RECORD_HEADER <= end; q++)
                if (record_ok(q, end, 0, lsn)) {
                    hk_buf_reset(b);
                    return hk_fail(HK_CORRUPT,
                                   "%s: log record at offset %llu is corrupt (checksum, length "
                                   "or sequence mismatch) and valid records follow it",
                                   w->path, (unsigned long long)(WAL_HEADER_SIZE + (uint64_t)(p - base)));
                }
            local.torn_offset = WAL_HEADER_SIZE + (uint64_t)(p - base);
            local.torn_bytes = (uint64_t)(end - p);
            break;
        }
        uint32_t len = hk_load_u32(p);
        lsn++;
        if ((st = fn(ctx, p[4], lsn, p + WAL_RECORD_HEADER, len))) {
            hk_buf_reset(b);
            return hk_fail_prefix(st, "%s: record at offset %llu", w->path,
                                  (unsigned long long)(WAL_HEADER_SIZE + (uint64_t)(p - base)));
        }
        local.records++;
        p += WAL_RECORD_HEADER + len;
    }
    hk_buf_free(b);
    w->last_lsn = w->synced_lsn = lsn;
    if (local.torn_bytes && !w->read_only) {
        if (ftruncate(w->fd, (off_t)local.torn_offset) != 0)
            return hk_fail(HK_IO, "%s: cannot truncate torn tail: %s", w->path, strerror(errno));
        if (!w->nosync && (st = fs_fsync(w->fd, w->path))) return st;
        w->size = local.torn_offset;
    }
    if (info) *info = local;
    return HK_OK;
}

hk_status wal_append(wal *w, uint8_t type, const void *body, size_t len, uint64_t *lsn_out) {
    if (w->read_only) return hk_fail(HK_READONLY, "%s: log is open read-only", w->path);
    if (len > WAL_MAX_RECORD)
        return hk_fail(HK_INVALID, "batch too large for one log record (%zu bytes, limit %u)",
                       len, WAL_MAX_RECORD);
    uint64_t lsn = w->last_lsn + 1;
    uint8_t h[WAL_RECORD_HEADER];
    hk_store_u32(h, (uint32_t)len);
    h[4] = type;
    hk_store_u64(h + 5, lsn);
    hk_store_u32(h + 13, hk_crc32c(hk_crc32c(0, h, 13), body, len));
    /* Header and body go out in one pwritev, without copying the body. */
    struct iovec iov[2] = {{h, sizeof h}, {(void *)body, len}};
    size_t total = WAL_RECORD_HEADER + len, done = 0;
    int err = 0;
    while (done < total) {
        struct iovec *v = iov;
        int nv = 2;
        size_t skip = done;
        while (nv && skip >= v->iov_len) {
            skip -= v->iov_len;
            v++;
            nv--;
        }
        struct iovec cur[2];
        for (int i = 0; i < nv; i++) cur[i] = v[i];
        cur[0].iov_base = (uint8_t *)cur[0].iov_base + skip;
        cur[0].iov_len -= skip;
        ssize_t wr = pwritev(w->fd, cur, nv, (off_t)(w->size + done));
        if (wr < 0 && errno == EINTR) continue;
        if (wr <= 0) {
            err = wr < 0 ? errno : EIO;
            break;
        }
        done += (size_t)wr;
    }
    if (err) {
        /* Leave no partial record behind: a later append would follow garbage. If even
         * this fails, replay treats the partial record as a torn tail. */
        (void)!ftruncate(w->fd, (off_t)w->size);
        return hk_fail(HK_IO, "%s: log write failed: %s", w->path, strerror(err));
    }
    __atomic_store_n(&w->size, w->size + total, __ATOMIC_RELAXED);
    pthread_mutex_lock(&w->mu);
    w->last_lsn = lsn;
    pthread_mutex_unlock(&w->mu);
    *lsn_out = lsn;
    return HK_OK;
}

hk_status wal_sync(wal *w, uint64_t lsn) {
    if (w->nosync) return HK_OK;
    pthread_mutex_lock(&w->mu);
    while (w->synced_lsn < lsn && !w->failed) {
        if (w->syncing) {
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        w->syncing = 1;
        uint64_t target = w->last_lsn; /* everything appended so far rides along */
        int fd = w->fd;                /* wal_reset waits for syncing == 0 before a swap */
        pthread_mutex_unlock(&w->mu);
        int rc = fdatasync(fd);
        int err = errno;
        pthread_mutex_lock(&w->mu);
        w->syncing = 0;
        if (rc != 0) {
            /* Sticky: the kernel reports a writeback error once, so a retry by a waiter
             * could "succeed" for records that were lost. Everyone fails from now on. */
            w->failed = err ? err : EIO;
        } else if (target > w->synced_lsn) {
            w->synced_lsn = target;
        }
        pthread_cond_broadcast(&w->cv);
    }
    int failed = w->synced_lsn < lsn ? w->failed : 0;
    pthread_mutex_unlock(&w->mu);
    if (failed) return hk_fail(HK_IO, "%s: fdatasync failed: %s", w->path, strerror(failed));
    return HK_OK;
}

hk_status wal_reset(wal *w, uint64_t base_lsn) {
    /* A fresh file renamed over the old one: a crash leaves either log, never a torn
     * header. Records of the old log at or below the snapshot's LSN are skipped on
     * replay, so keeping the old log after a crash is harmless. */
    size_t plen = strlen(w->path);
    char *tmp = hk_malloc(plen + 5);
    if (!tmp) return hk_fail(HK_NOMEM, "out of memory");
    memcpy(tmp, w->path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    wal *fresh = NULL;
    hk_status st = wal_create(tmp, base_lsn, w->nosync, &fresh);
    if (!st && rename(tmp, w->path) != 0)
        st = hk_fail(HK_IO, "%s: cannot replace log: %s", w->path, strerror(errno));
    if (st) {
        if (fresh) wal_close(fresh);
        unlink(tmp);
        hk_free(tmp);
        return st;
    }
    hk_free(tmp);
    char *slash = strrchr(w->path, '/');
    if (slash && !w->nosync) {
        *slash = 0;
        st = fs_fsync_dir(w->path);
        *slash = '/';
    }
    pthread_mutex_lock(&w->mu);
    while (w->syncing) pthread_cond_wait(&w->cv, &w->mu); /* its fd is about to close */
    close(w->fd);
    w->fd = fresh->fd;
    fresh->fd = -1;
    __atomic_store_n(&w->size, (uint64_t)WAL_HEADER_SIZE, __ATOMIC_RELAXED);
    w->base_lsn = w->last_lsn = w->synced_lsn = base_lsn;
    pthread_mutex_unlock(&w->mu);
    wal_close(fresh);
    return st;
}
