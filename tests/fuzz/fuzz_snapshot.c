/* libFuzzer target: the snapshot loader. Arbitrary bytes as snapshot.hks must load or
 * fail with HK_CORRUPT, never crash. Checksums would stop nearly every mutation at the
 * first section, so when the input's first byte is odd the harness repairs every CRC and
 * the size field before loading: that lets the fuzzer reach the structural checks behind
 * them (lengths, offsets, payload validation, duplicate-free sections). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/snapshot.h"

static void repair(uint8_t *p, size_t n) {
    if (n < 64) return;
    hk_store_u64(p + 16, n);
    hk_store_u32(p + 60, hk_crc32c(0, p, 60));
    size_t off = 64;
    while (off + 64 <= n) {
        uint8_t *h = p + off;
        uint64_t len = hk_load_u64(h + 8);
        if (len > n - off - 64) len = n - off - 64;
        hk_store_u32(h + 16, hk_crc32c(0, h + 64, (size_t)len));
        hk_store_u32(h + 60, hk_crc32c(0, h, 60));
        off += 64 + (((size_t)len + 63) & ~(size_t)63);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    int fix = data[0] & 1;
    data++;
    size--;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (fix) repair(copy, size);
    int fd = memfd_create("snap", 0);
    if (fd >= 0 && (size == 0 || write(fd, copy, size) == (ssize_t)size)) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        snap_image img;
        if (snap_load(path, &img) == HK_OK) snap_image_free(&img);
    }
    if (fd >= 0) close(fd);
    free(copy);
    return 0;
}
