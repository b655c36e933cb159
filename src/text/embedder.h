/*
 * embedder.h — the inside of hk_embedder: a handle that dispatches through a table of
 * functions, so that kinds other than the built-in SIF word vectors (a llama.cpp model,
 * for the RAG issue) can sit behind hk_embedder_open and hk_embed without changing the
 * public API. hk_embedder_open picks the kind from the file's first bytes.
 */
#ifndef HK_TEXT_EMBEDDER_H
#define HK_TEXT_EMBEDDER_H

#include <stddef.h>
#include <stdint.h>

#include "core.h"

typedef struct emb_vtable {
    /* texts as in hk_embed; out n * dim floats; known may be NULL. */
    hk_status (*embed)(void *impl, const char *const *texts, const size_t *lens, size_t n,
                       float *out, uint32_t *known);
    void (*close)(void *impl);
} emb_vtable;

struct hk_embedder {
    const emb_vtable *vt;
    void *impl;
    hk_embedder_info info; /* strings point into impl or into path */
    char *path;
};

#endif
