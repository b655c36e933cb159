/*
 * wal.h — the write-ahead log of one collection.
 *
 * File: a 32-byte header (magic "HKWAL\r\n\x1a", version, base LSN = the LSN of the
 * snapshot it follows, checksum), then records: u32 body length, u8 type, u64 LSN,
 * u32 CRC32C of (length, type, LSN, body), body. LSNs are consecutive from base + 1.
 * Layout byte by byte in docs/FORMAT.md.
 *
 * Durability: wal_append() writes a record with one write(); wal_sync() makes every
 * record up to an LSN durable with fdatasync. Writers that arrive while a sync runs wait
 * for it and, if it did not cover them, one of them syncs for all: group commit.
 *
 * Recovery: the first record that fails its checks ends replay. If a valid record
 * follows it anywhere later in the file, that is corruption in the middle of the log:
 * HK_CORRUPT naming the file and offset. Otherwise it is a torn tail left by a crash
 * during an unacknowledged write: it is dropped (a writer truncates it) and reported.
 */
#ifndef HK_WAL_H
#define HK_WAL_H

#include <pthread.h>
#include <stdint.h>

#include "core.h"

#define WAL_MAGIC "HKWAL\r\n\x1a"
#define WAL_VERSION 1u
#define WAL_HEADER_SIZE 32u
#define WAL_RECORD_HEADER 17u
#define WAL_MAX_RECORD (1u << 30) /* 1 GiB body */

typedef struct wal wal;

/* Creates a new log file (replacing any) whose records will follow base_lsn. */
hk_status wal_create(const char *path, uint64_t base_lsn, int nosync, wal **out);
/* Opens an existing log. read_only: no truncation of a torn tail, no appends. */
hk_status wal_open(const char *path, int read_only, int nosync, wal **out);
void wal_close(wal *w);

uint64_t wal_base_lsn(const wal *w);
uint64_t wal_last_lsn(const wal *w); /* last appended or replayed */
uint64_t wal_bytes(const wal *w);    /* file size */

typedef hk_status (*wal_apply_fn)(void *ctx, uint8_t type, uint64_t lsn, const uint8_t *body,
                                  size_t len);
typedef struct wal_replay_info {
    uint64_t records;
    uint64_t torn_offset; /* where a dropped torn tail began (0 = none) */
    uint64_t torn_bytes;
} wal_replay_info;

/* Calls fn for each valid record in order. Must be called once after wal_open and
 * before any append. */
hk_status wal_replay(wal *w, wal_apply_fn fn, void *ctx, wal_replay_info *info);

/* Appends one record; *lsn receives its LSN. Callers serialize appends. */
hk_status wal_append(wal *w, uint8_t type, const void *body, size_t len, uint64_t *lsn);
/* Returns when every record up to lsn is durable. Thread-safe. */
hk_status wal_sync(wal *w, uint64_t lsn);
/* Starts the log over after a checkpoint at base_lsn: truncates to a fresh header. */
hk_status wal_reset(wal *w, uint64_t base_lsn);

#endif
