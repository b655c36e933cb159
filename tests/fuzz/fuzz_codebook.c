/* libFuzzer target: hk_codebook_deserialize and hk_codebook_from_json on arbitrary bytes.
 * Bit 0 of the first byte asks the harness to repair the trailing CRC32C so mutations
 * reach the structural checks behind it. A codebook that loads must serialize back byte
 * for byte, and encode/decode a vector without fault. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static void exercise(hk_codebook *cb) {
    hk_codebook_info in;
    if (hk_codebook_info_get(cb, &in) != HK_OK || in.dim == 0 || in.dim > 4096) return;
    float *v = calloc(in.dim, sizeof(float));
    uint8_t *code = calloc(in.code_bytes ? in.code_bytes : 1, 1);
    if (v && code) {
        for (uint32_t d = 0; d < in.dim; d++) v[d] = (float)(d % 7) - 3.0f;
        if (hk_codebook_encode(cb, v, 1, code) == HK_OK) hk_codebook_decode(cb, code, 1, v);
    }
    free(v);
    free(code);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fix = data[0] & 1, json = data[0] & 2;
    data++;
    size--;
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    hk_codebook *cb = NULL;
    hk_status st;
    if (json) {
        st = hk_codebook_from_json((const char *)copy, size, &cb);
        if (st == HK_OK) exercise(cb);
        else if (st != HK_INVALID && st != HK_NOMEM) abort();
    } else {
        if (fix && size >= 4) hk_store_u32(copy + size - 4, hk_crc32c(0, copy, size - 4));
        st = hk_codebook_deserialize(copy, size, &cb);
        if (st == HK_OK) {
            uint8_t *out;
            size_t len;
            if (hk_codebook_serialize(cb, &out, &len) != HK_OK || len != size || memcmp(out, copy, size))
                abort();
            hk_free(out);
            exercise(cb);
        } else if (st != HK_CORRUPT && st != HK_NOMEM) {
            abort();
        } else if (cb) {
            abort();
        }
    }
    hk_codebook_free(cb);
    free(copy);
    return 0;
}
