/*
 * core.c — allocation through the injectable allocator, per-thread error messages,
 * growable buffers, arenas and the monotonic clock.
 *
 * Decisions: the allocator is process-wide (installed before first use, like
 * sqlite3_config) because handles of different databases may share memory pools and
 * worker threads. Error messages are thread-local so a server calling from many threads
 * never reads another request's message; hk_errmsg() is valid until the thread's next
 * failure. Aligned blocks keep their offset in a header so any allocator can back them.
 */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static void *default_malloc(void *ud, size_t n) { (void)ud; return malloc(n); }
static void *default_realloc(void *ud, void *p, size_t n) { (void)ud; return realloc(p, n); }
static void default_free(void *ud, void *p) { (void)ud; free(p); }

static hk_allocator g_alloc = {default_malloc, default_realloc, default_free, NULL};

hk_status hk_set_allocator(const hk_allocator *a) {
    if (!a) {
        g_alloc = (hk_allocator){default_malloc, default_realloc, default_free, NULL};
        return HK_OK;
    }
    if (!a->malloc_fn || !a->realloc_fn || !a->free_fn)
        return hk_fail(HK_INVALID, "allocator: malloc_fn, realloc_fn and free_fn are all required");
    g_alloc = *a;
    return HK_OK;
}

void *hk_malloc(size_t n) { return g_alloc.malloc_fn(g_alloc.ud, n ? n : 1); }

void *hk_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = hk_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *hk_realloc(void *p, size_t n) {
    if (!p) return hk_malloc(n);
    return g_alloc.realloc_fn(g_alloc.ud, p, n ? n : 1);
}

void hk_free(void *p) {
    if (p) g_alloc.free_fn(g_alloc.ud, p);
}

char *hk_strndup(const char *s, size_t n) {
    char *d = hk_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *hk_strdup(const char *s) { return hk_strndup(s, strlen(s)); }

/* Aligned blocks: [padding][u64 offset back to raw start][64-byte aligned data]. */
#define HK_ALIGN 64
void *hk_aligned_alloc(size_t n) {
    if (n > SIZE_MAX - HK_ALIGN - sizeof(uint64_t)) return NULL;
    uint8_t *raw = hk_malloc(n + HK_ALIGN + sizeof(uint64_t));
    if (!raw) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(uint64_t));
    uintptr_t aligned = (start + HK_ALIGN - 1) & ~(uintptr_t)(HK_ALIGN - 1);
    uint64_t off = (uint64_t)(aligned - (uintptr_t)raw);
    memcpy((uint8_t *)aligned - sizeof(uint64_t), &off, sizeof off);
    return (void *)aligned;
}

void hk_aligned_free(void *p) {
    if (!p) return;
    uint64_t off;
    memcpy(&off, (uint8_t *)p - sizeof(uint64_t), sizeof off);
    hk_free((uint8_t *)p - off);
}

#define HK_HUGE_MIN ((size_t)4 << 20)

void hk_advise_huge(void *p, size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    /* The whole pages of the block, not only its 2 MiB-aligned middle: advice on part of
     * a mapping would split it, and glibc could no longer grow it with mremap. */
    const uintptr_t page = 4096;
    if (!p || n < HK_HUGE_MIN) return;
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = ((uintptr_t)p + n + page - 1) & ~(page - 1);
    (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

int hk_huge_copy_ok(size_t old_n, size_t new_n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (new_n < HK_HUGE_MIN) return 0;
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0) return 0;
    double avail = (double)pages * (double)size;
    return avail > (double)old_n + 2.0 * (double)new_n;
#else
    (void)old_n;
    (void)new_n;
    return 0;
#endif
}

void *hk_realloc_huge(void *p, size_t old_n, size_t new_n) {
    if (!hk_huge_copy_ok(p ? old_n : 0, new_n)) {
        void *q = hk_realloc(p, new_n);
        if (q && !p) hk_advise_huge(q, new_n);
        return q;
    }
    void *q = hk_malloc(new_n);
    if (!q) return NULL;
    hk_advise_huge(q, new_n);
    if (p) memcpy(q, p, old_n < new_n ? old_n : new_n);
    hk_free(p);
    return q;
}

void *hk_aligned_realloc_huge(void *p, size_t old_n, size_t new_n) {
    if (!hk_huge_copy_ok(p ? old_n : 0, new_n)) {
        void *q = hk_aligned_realloc(p, old_n, new_n);
        if (q && !p) hk_advise_huge(q, new_n);
        return q;
    }
    void *q = hk_aligned_alloc(new_n);
    if (!q) return NULL;
    hk_advise_huge(q, new_n);
    if (p) memcpy(q, p, old_n < new_n ? old_n : new_n);
    hk_aligned_free(p);
    return q;
}

void *hk_aligned_realloc(void *p, size_t old_n, size_t new_n) {
    if (!p) return hk_aligned_alloc(new_n);
    if (new_n > SIZE_MAX - HK_ALIGN - sizeof(uint64_t)) return NULL;
    /* Through realloc, so large blocks grow in place or by remapping pages instead of
     * copying; the data moves only when the new block's alignment offset differs. */
    uint64_t off;
    memcpy(&off, (uint8_t *)p - sizeof(uint64_t), sizeof off);
    uint8_t *raw = hk_realloc((uint8_t *)p - off, new_n + HK_ALIGN + sizeof(uint64_t));
    if (!raw) return NULL;
    uintptr_t start = (uintptr_t)(raw + sizeof(uint64_t));
    uintptr_t aligned = (start + HK_ALIGN - 1) & ~(uintptr_t)(HK_ALIGN - 1);
    uint64_t noff = (uint64_t)(aligned - (uintptr_t)raw);
    if (noff != off) memmove(raw + noff, raw + off, old_n < new_n ? old_n : new_n);
    memcpy(raw + noff - sizeof(uint64_t), &noff, sizeof noff);
    return raw + noff;
}

/* ---- errors ---- */

static _Thread_local char t_msg[1024];

const char *hk_errmsg(void) { return t_msg; }

void hk_clear_error(void) { t_msg[0] = 0; }

hk_status hk_failv(hk_status st, const char *fmt, va_list ap) {
    vsnprintf(t_msg, sizeof t_msg, fmt, ap);
    return st;
}

hk_status hk_fail(hk_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    hk_failv(st, fmt, ap);
    va_end(ap);
    return st;
}

hk_status hk_fail_prefix(hk_status st, const char *fmt, ...) {
    char prev[sizeof t_msg];
    memcpy(prev, t_msg, sizeof prev);
    char pre[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    size_t n = strlen(pre);
    if (n > sizeof t_msg - 3) n = sizeof t_msg - 3;
    memcpy(t_msg, pre, n);
    memcpy(t_msg + n, ": ", 2);
    size_t room = sizeof t_msg - n - 3, m = strlen(prev);
    if (m > room) m = room;
    memcpy(t_msg + n + 2, prev, m);
    t_msg[n + 2 + m] = 0;
    return st;
}

const char *hk_status_name(hk_status st) {
    switch (st) {
    case HK_OK: return "HK_OK";
    case HK_ERROR: return "HK_ERROR";
    case HK_INVALID: return "HK_INVALID";
    case HK_DIMENSION: return "HK_DIMENSION";
    case HK_NOT_FOUND: return "HK_NOT_FOUND";
    case HK_EXISTS: return "HK_EXISTS";
    case HK_LOCKED: return "HK_LOCKED";
    case HK_CORRUPT: return "HK_CORRUPT";
    case HK_IO: return "HK_IO";
    case HK_NOMEM: return "HK_NOMEM";
    case HK_READONLY: return "HK_READONLY";
    case HK_CANCELLED: return "HK_CANCELLED";
    }
    return "HK_UNKNOWN";
}

const char *hk_version(void) { return HEKTOR_VERSION; }
int hk_version_number(void) { return HEKTOR_VERSION_NUMBER; }

/* ---- buffers ---- */

void hk_buf_init(hk_buf *b) { b->data = NULL; b->len = b->cap = 0; }

void hk_buf_free(hk_buf *b) {
    hk_free(b->data);
    hk_buf_init(b);
}

void hk_buf_reset(hk_buf *b) { b->len = 0; }

hk_status hk_buf_reserve(hk_buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len - 1) return hk_fail(HK_NOMEM, "buffer size overflow");
    size_t need = b->len + extra + 1; /* +1 keeps room for hk_buf_cstr's NUL */
    if (need <= b->cap) return HK_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *d = hk_realloc(b->data, cap);
    if (!d) return hk_fail(HK_NOMEM, "out of memory (buffer of %zu bytes)", cap);
    b->data = d;
    b->cap = cap;
    return HK_OK;
}

hk_status hk_buf_append(hk_buf *b, const void *p, size_t n) {
    hk_status st = hk_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return HK_OK;
}

hk_status hk_buf_putc(hk_buf *b, char c) { return hk_buf_append(b, &c, 1); }
hk_status hk_buf_puts(hk_buf *b, const char *s) { return hk_buf_append(b, s, strlen(s)); }
hk_status hk_buf_put_u8(hk_buf *b, uint8_t v) { return hk_buf_append(b, &v, 1); }

hk_status hk_buf_put_u32(hk_buf *b, uint32_t v) {
    uint8_t t[4];
    hk_store_u32(t, v);
    return hk_buf_append(b, t, 4);
}

hk_status hk_buf_put_u64(hk_buf *b, uint64_t v) {
    uint8_t t[8];
    hk_store_u64(t, v);
    return hk_buf_append(b, t, 8);
}

hk_status hk_buf_printf(hk_buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return hk_fail(HK_ERROR, "format error");
    }
    hk_status st = hk_buf_reserve(b, (size_t)n);
    if (st) {
        va_end(ap2);
        return st;
    }
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return HK_OK;
}

char *hk_buf_cstr(hk_buf *b) {
    if (hk_buf_reserve(b, 0)) return NULL;
    b->data[b->len] = 0;
    return (char *)b->data;
}

uint8_t *hk_buf_detach(hk_buf *b, size_t *len) {
    if (!b->data && hk_buf_reserve(b, 0)) return NULL;
    b->data[b->len] = 0;
    uint8_t *d = b->data;
    if (len) *len = b->len;
    hk_buf_init(b);
    return d;
}

/* ---- arena ---- */

struct hk_arena_block {
    hk_arena_block *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

void hk_arena_init(hk_arena *a) { a->head = NULL; a->used_total = 0; }

void *hk_arena_alloc(hk_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    hk_arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = b ? b->cap * 2 : 4096;
        if (cap > (1u << 20)) cap = 1u << 20;
        if (cap < n) cap = n;
        b = hk_malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    return p;
}

char *hk_arena_strndup(hk_arena *a, const char *s, size_t n) {
    char *d = hk_arena_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void hk_arena_reset(hk_arena *a) {
    hk_arena_block *b = a->head;
    while (b) {
        hk_arena_block *n = b->next;
        hk_free(b);
        b = n;
    }
    hk_arena_init(a);
}

/* ---- time ---- */

uint64_t hk_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
