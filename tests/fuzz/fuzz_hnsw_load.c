/* libFuzzer target: hnsw_load on arbitrary bytes. The first two bytes give the
 * collection's slot count; bit 0 of the third asks the harness to repair the trailing
 * CRC32C, so mutations reach the structural checks behind the checksum. A blob that loads
 * must then write back byte for byte (the format has one encoding per graph). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/hnsw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    uint32_t nslots = (uint32_t)data[0] | (uint32_t)data[1] << 8;
    int fix = data[2] & 1;
    data += 3;
    size -= 3;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (fix && size >= 4) hk_store_u32(copy + size - 4, hk_crc32c(0, copy, size - 4));
    hnsw *g = NULL;
    hk_status st = hnsw_load(copy, size, nslots, &g);
    if (st == HK_OK) {
        hk_buf out;
        hk_buf_init(&out);
        if (hnsw_write(g, &out) != HK_OK || out.len != size || memcmp(out.data, copy, size) != 0) abort();
        hk_buf_free(&out);
        hnsw_free(g);
    } else if (st != HK_CORRUPT && st != HK_NOMEM) {
        abort();
    } else if (g) {
        abort();
    }
    free(copy);
    return 0;
}
