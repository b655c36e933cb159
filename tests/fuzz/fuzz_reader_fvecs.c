/*
 * fuzz_reader_fvecs.c — libFuzzer target for the fvecs import reader: any byte string must give
 * batches or a clean error, never a crash, leak or out-of-bounds read. A small batch size
 * makes every batch boundary and the sticky-error path reachable.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "adapters/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reading every value lets ASan check each byte handed out. */
static volatile float fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader *r;
    if (reader_open_mem(data, size, RF_FVECS, NULL, "fuzz.fvecs", &r) != HK_OK) return 0;
    reader_batch b;
    while (reader_next(r, 3, &b) == HK_OK && b.n) {
        for (size_t i = 0; i < b.n * b.dim; i++) fuzz_sink += b.vectors[i];
        for (size_t i = 0; i < b.n; i++) {
            if (b.ids) fuzz_sink += (float)b.ids[i];
            if (b.payloads && b.payloads[i]) fuzz_sink += (float)strlen(b.payloads[i]);
            if (b.texts && b.texts[i]) fuzz_sink += (float)strlen(b.texts[i]);
        }
    }
    reader_next(r, 3, &b);
    uint64_t done, total;
    reader_progress(r, &done, &total);
    if (done > total) __builtin_trap();
    reader_close(r);
    return 0;
}
