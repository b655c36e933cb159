/*
 * fuzz_qfilter.c — libFuzzer target for the server's Qdrant filter translator: arbitrary
 * bytes that parse as JSON go to qf_translate; a translation must always be JSON that
 * hk_filter_parse either accepts or refuses with HK_INVALID and a message, and a refusal
 * must leave a message too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/qfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hk_arena a;
    hk_arena_init(&a);
    hj_value *v;
    if (hj_parse((const char *)data, size, &a, &v) == HK_OK) {
        hk_buf b;
        hk_buf_init(&b);
        hk_status st = qf_translate(v, &b);
        if (st == HK_OK) {
            hj_value *check;
            if (hj_parse((const char *)b.data, b.len, &a, &check) != HK_OK) abort();
            hk_filter *f = NULL;
            st = hk_filter_parse((const char *)b.data, b.len, &f);
            if (st != HK_OK && (st != HK_INVALID || f || !*hk_errmsg())) abort();
            hk_filter_free(f);
        } else if (st != HK_INVALID || !*hk_errmsg()) {
            abort();
        }
        hk_buf_free(&b);
    }
    hk_arena_reset(&a);
    return 0;
}
