/* libFuzzer target: the embedding table loader (hk_embedder_open on an HKEM file) and the
 * converter (hk_embedder_convert on a source JSON) on arbitrary bytes. The first byte is a
 * mode flag: bit 1 feeds the rest to the converter (and opens what it writes), otherwise
 * the rest is a table; bit 0 then repairs the trailing CRC32C so mutations reach the
 * structural checks behind it. A table that opens must embed a text without fault, and
 * every failure must be one of the documented statuses. Inputs go through a file, since
 * both calls take paths. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

static char g_in[64], g_out[64];

static void exercise(const char *path) {
    hk_embedder *e = NULL;
    hk_status st = hk_embedder_open(path, &e);
    if (st == HK_OK) {
        uint32_t dim = hk_embedder_dim(e);
        if (dim && dim <= 4096) {
            float *v = malloc(2 * (size_t)dim * sizeof *v);
            const char *texts[] = {"the cat sat on the mat", "\xC3\xA9t\xC3\xA9 wing"};
            uint32_t known[2];
            if (v && hk_embed(e, texts, NULL, 2, v, known) != HK_OK) abort();
            free(v);
        }
        hk_embedder_close(e);
    } else if (st != HK_CORRUPT && st != HK_NOMEM && st != HK_NOT_FOUND) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fix = data[0] & 1, json = data[0] & 2;
    data++;
    size--;
    if (!g_in[0]) {
        snprintf(g_in, sizeof g_in, "/tmp/hk-fuzz-embed-%ld.in", (long)getpid());
        snprintf(g_out, sizeof g_out, "/tmp/hk-fuzz-embed-%ld.hkem", (long)getpid());
    }
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    if (!json && fix && size >= 4) hk_store_u32(copy + size - 4, hk_crc32c(0, copy, size - 4));
    FILE *f = fopen(g_in, "wb");
    if (!f) abort();
    if (size) fwrite(copy, 1, size, f);
    fclose(f);
    free(copy);
    if (json) {
        unlink(g_out);
        hk_status st = hk_embedder_convert(g_in, g_out, NULL);
        if (st == HK_OK) exercise(g_out);
        else if (st != HK_INVALID && st != HK_NOMEM) abort();
        unlink(g_out);
    } else {
        exercise(g_in);
    }
    unlink(g_in);
    return 0;
}
