/*
 * core.h — the private foundation every layer uses: allocation through the injectable
 * allocator, per-thread error messages, growable byte buffers, arenas, CRC32C, time and
 * a persistent worker pool. Nothing here knows about vectors or collections.
 */
#ifndef HK_CORE_H
#define HK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hektor.h"

#if defined(__GNUC__)
#define HK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define HK_LIKELY(x) __builtin_expect(!!(x), 1)
#define HK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define HK_PRINTF(a, b)
#define HK_LIKELY(x) (x)
#define HK_UNLIKELY(x) (x)
#endif

/* ---- allocation (all through hk_set_allocator's functions) ---- */
void *hk_malloc(size_t n);
void *hk_calloc(size_t count, size_t size); /* overflow-checked */
void *hk_realloc(void *p, size_t n);
/* hk_free is public (hektor.h). */
char *hk_strdup(const char *s);
char *hk_strndup(const char *s, size_t n);
/* 64-byte aligned blocks (vectors); free with hk_aligned_free. */
void *hk_aligned_alloc(size_t n);
void *hk_aligned_realloc(void *p, size_t old_n, size_t new_n);
void hk_aligned_free(void *p);
/* Asks the kernel to back a large block (vectors, codes, graph links) with huge pages,
 * for the pages not yet touched: random access to them then misses the TLB far less.
 * Advice only: blocks under 4 MiB, other systems and refusals are left as they are. */
void hk_advise_huge(void *p, size_t n);
/* Growth for such blocks: as hk_realloc / hk_aligned_realloc (old_n bytes kept), except
 * that a block of 4 MiB or more moves to a fresh block advised before the copy when the
 * machine has the memory for both (hk_huge_copy_ok). realloc
 * would remap the old pages to a new address, where Linux no longer gives the range huge
 * pages (an anonymous mapping keeps its old offset, which the new address no longer
 * matches modulo 2 MiB). Costs a copy per growth, amortized by geometric growth. */
void *hk_realloc_huge(void *p, size_t old_n, size_t new_n);
/* 1 when growing a block of old_n bytes to new_n should take the copying path: new_n is
 * 4 MiB or more and the machine has room for both blocks at once (with new_n to spare);
 * else growth remaps in place (no copy, no second block, small pages for what moved). */
int hk_huge_copy_ok(size_t old_n, size_t new_n);
void *hk_aligned_realloc_huge(void *p, size_t old_n, size_t new_n);

/* ---- errors ---- */
/* Records the calling thread's message and returns st, so callers can write
 * `return hk_fail(HK_INVALID, "dimension %u is out of range", d);` */
hk_status hk_fail(hk_status st, const char *fmt, ...) HK_PRINTF(2, 3);
hk_status hk_failv(hk_status st, const char *fmt, va_list ap);
/* Prefixes the current message: "context: previous message". Returns st. */
hk_status hk_fail_prefix(hk_status st, const char *fmt, ...) HK_PRINTF(2, 3);
void hk_clear_error(void);

/* ---- growable byte buffer ---- */
typedef struct hk_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} hk_buf;

void hk_buf_init(hk_buf *b);
void hk_buf_free(hk_buf *b);
void hk_buf_reset(hk_buf *b);                       /* len = 0, keeps memory */
hk_status hk_buf_reserve(hk_buf *b, size_t extra);  /* room for len + extra */
hk_status hk_buf_append(hk_buf *b, const void *p, size_t n);
hk_status hk_buf_putc(hk_buf *b, char c);
hk_status hk_buf_puts(hk_buf *b, const char *s);
hk_status hk_buf_printf(hk_buf *b, const char *fmt, ...) HK_PRINTF(2, 3);
hk_status hk_buf_put_u8(hk_buf *b, uint8_t v);
hk_status hk_buf_put_u32(hk_buf *b, uint32_t v);    /* little endian */
hk_status hk_buf_put_u64(hk_buf *b, uint64_t v);
/* Makes data NUL-terminated (not counted in len); returns data as char*. */
char *hk_buf_cstr(hk_buf *b);
/* Hands the memory to the caller (free with hk_free) and resets b. */
uint8_t *hk_buf_detach(hk_buf *b, size_t *len);

/* Little-endian loads/stores that are safe on unaligned memory. */
static inline uint32_t hk_load_u32(const void *p) {
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t hk_load_u64(const void *p) {
    return (uint64_t)hk_load_u32(p) | (uint64_t)hk_load_u32((const uint8_t *)p + 4) << 32;
}
static inline void hk_store_u32(void *p, uint32_t v) {
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)v; b[1] = (uint8_t)(v >> 8); b[2] = (uint8_t)(v >> 16); b[3] = (uint8_t)(v >> 24);
}
static inline void hk_store_u64(void *p, uint64_t v) {
    hk_store_u32(p, (uint32_t)v);
    hk_store_u32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* ---- arena: many small allocations freed at once ---- */
typedef struct hk_arena_block hk_arena_block;
typedef struct hk_arena {
    hk_arena_block *head;
    size_t used_total;
} hk_arena;

void hk_arena_init(hk_arena *a);
void *hk_arena_alloc(hk_arena *a, size_t n); /* 16-byte aligned; NULL on OOM */
char *hk_arena_strndup(hk_arena *a, const char *s, size_t n);
void hk_arena_reset(hk_arena *a); /* frees every block */

/* ---- checksums ---- */
/* CRC32C (Castagnoli), hardware accelerated where the CPU has it. Chain calls by passing
 * the previous result as crc (start with 0). */
uint32_t hk_crc32c(uint32_t crc, const void *data, size_t n);

/* ---- time ---- */
uint64_t hk_now_ns(void); /* monotonic */

/* ---- worker pool ---- */
/* Runs fn(ctx, task, worker) for task in [0, ntasks) on the process-wide pool and the
 * calling thread; returns when all are done. worker is in [0, hk_pool_workers()). When
 * another thread's job holds the pool, the caller runs its tasks alone (worker 0) rather
 * than wait, so concurrent searches never block each other. */
typedef void (*hk_task_fn)(void *ctx, size_t task, unsigned worker);
void hk_pool_run(size_t ntasks, hk_task_fn fn, void *ctx);
unsigned hk_pool_workers(void);
/* Sets the number of workers (0 = cores) before first use; later calls resize. */
void hk_pool_set_workers(unsigned n);

#endif /* HK_CORE_H */
