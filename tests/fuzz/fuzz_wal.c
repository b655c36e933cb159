/* libFuzzer target: the log reader. Arbitrary bytes as wal.hkl are opened read-only and
 * replayed; every outcome must be HK_OK or a clean error, never a crash or a hang. A
 * valid header is prepended half of the time so the fuzzer reaches record parsing. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/wal.h"

static hk_status count_records(void *ctx, uint8_t type, uint64_t lsn, const uint8_t *body,
                               size_t len) {
    (void)type;
    (void)lsn;
    (void)body;
    *(size_t *)ctx += len;
    return HK_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("wal", 0);
    if (fd < 0) return 0;
    if (size && (data[0] & 1)) {
        uint8_t h[WAL_HEADER_SIZE] = {0};
        memcpy(h, WAL_MAGIC, 8);
        hk_store_u32(h + 8, WAL_VERSION);
        hk_store_u64(h + 16, data[0] >> 1);
        hk_store_u32(h + 28, hk_crc32c(0, h, 28));
        if (write(fd, h, sizeof h) != (ssize_t)sizeof h) goto out;
        data++;
        size--;
    }
    if (size && write(fd, data, size) != (ssize_t)size) goto out;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    wal *w = NULL;
    if (wal_open(path, 1, 1, &w) == HK_OK) {
        size_t total = 0;
        wal_replay_info info;
        wal_replay(w, count_records, &total, &info);
        wal_close(w);
    }
out:
    close(fd);
    return 0;
}
