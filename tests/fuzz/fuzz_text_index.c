/* libFuzzer target: the text index section (TIDX) loader, bm25_load. Arbitrary bytes
 * must load or fail with HK_CORRUPT, never crash; an index that loads must pass
 * bm25_validate, answer a query, and write back to exactly the bytes it was read from
 * (every index has one encoding; a version-1 section writes back as version 2: the same
 * bytes with the version changed and an empty synonym list appended). The row count is taken from the section's own header
 * (clamped), and every row is allowed a text. */
#include <stdlib.h>
#include <string.h>

#include "text/bm25.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t nrows = size >= 32 ? (size_t)(hk_load_u64(data + 24) & 0xFFFF) : 0;
    uint8_t *has = malloc(nrows ? nrows : 1);
    if (!has) return 0;
    memset(has, 1, nrows ? nrows : 1);
    bm25_index *ix = NULL;
    hk_status st = bm25_load(data, size, nrows, has, &ix);
    if (st == HK_OK) {
        if (bm25_validate(ix) != HK_OK) abort();
        uint32_t *ident = malloc((nrows ? nrows : 1) * sizeof *ident);
        for (size_t i = 0; i < nrows; i++) ident[i] = (uint32_t)i;
        hk_buf out;
        hk_buf_init(&out);
        if (bm25_write(ix, ident, nrows, nrows, &out) != HK_OK) abort();
        if (hk_load_u32(data) == 1) {
            if (out.len != size + 4 || memcmp(out.data + 4, data + 4, size - 4) ||
                hk_load_u32(out.data) != 2 || hk_load_u32(out.data + size) != 0)
                abort();
        } else if (out.len != size || memcmp(out.data, data, size)) {
            abort();
        }
        /* Query with the first term of the section, if any. */
        if (hk_load_u64(data + 32) > 0) {
            size_t at = 40 + nrows * 4;
            uint32_t nl = hk_load_u32(data + at);
            char *term = malloc(nl + 1);
            memcpy(term, data + at + 4, nl);
            term[nl] = 0;
            uint32_t tf = 1;
            bm25_doc q = {.terms = &term, .tf = &tf, .nterms = 1, .len = 1};
            bm25_hit hits[10];
            size_t n;
            bm25_search(ix, &q, 10, NULL, 0, hits, &n, NULL);
            bm25_search_all(ix, &q, 10, NULL, hits, &n, NULL);
            free(term);
        }
        hk_buf_free(&out);
        free(ident);
        bm25_free(ix);
    } else if (st != HK_CORRUPT) {
        abort();
    }
    free(has);
    return 0;
}
