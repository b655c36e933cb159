/*
 * fuzz_filter.c — libFuzzer target for the filter parser: arbitrary bytes go to
 * hk_filter_parse; whatever parses is matched against a few fixed payloads, and a failure
 * must leave a message and no filter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/filter.h"
#include "json.h"

static const char *const payloads[] = {
    "{}",
    "{\"a\":1,\"b\":\"x\",\"c\":[1,2.5,null,\"y\",true],\"d\":{\"e\":[{\"f\":null},{\"f\":3}]}}",
    "{\"a\":[],\"b\":null,\"c\":9223372036854775807,\"d\":[[{\"e\":1}]],\"\":{\"\":false}}",
    "{\"a\":-0.0,\"b\":[\"x\",\"z\"],\"c\":{\"a\":1e300},\"k\":\"\\u00e9\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static hk_buf enc[sizeof payloads / sizeof payloads[0]];
    static int ready;
    size_t n = sizeof payloads / sizeof payloads[0];
    if (!ready) {
        for (size_t i = 0; i < n; i++) {
            hk_buf_init(&enc[i]);
            if (hkb_from_json(&enc[i], payloads[i], strlen(payloads[i])) != HK_OK) abort();
        }
        ready = 1;
    }
    hk_filter *f = (hk_filter *)1;
    if (hk_filter_parse((const char *)data, size, &f) != HK_OK) {
        if (f || !hk_errmsg()[0]) abort();
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int m = filter_match(f, i * 3, enc[i].data);
        if (m != 0 && m != 1) abort();
    }
    hk_filter_free(f);
    return 0;
}
