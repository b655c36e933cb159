/*
 * vecfile.c — see vecfile.h.
 */
#include "vecfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int open_unnamed(const char *dir) {
#ifdef O_TMPFILE
    int tfd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (tfd >= 0) return tfd;
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return -1;
#endif
    size_t n = strlen(dir) + 32;
    char *path = malloc(n);
    if (!path) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(path, n, "%s/.vectors.XXXXXX", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0) unlink(path);
    free(path);
    return fd;
}

hk_status vecfile_create(const char *dir, vecfile **out) {
    vecfile *vf = hk_calloc(1, sizeof *vf);
    if (!vf) return hk_fail(HK_NOMEM, "out of memory");
    vf->fd = open_unnamed(dir);
    if (vf->fd < 0) {
        hk_status st = hk_fail(HK_IO, "%s: cannot create the file that holds the vectors on "
                               "disk: %s", dir, strerror(errno));
        hk_free(vf);
        return st;
    }
    *out = vf;
    return HK_OK;
}

hk_status vecfile_reserve(vecfile *vf, size_t bytes) {
    if (bytes <= vf->bytes) return HK_OK;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    bytes = (bytes + page - 1) / page * page;
    /* fallocate reserves the blocks now, so a full disk is an error here and never a
     * SIGBUS when a page is first written through the mapping. */
    int e = posix_fallocate(vf->fd, 0, (off_t)bytes);
    if (e == EOPNOTSUPP || e == EINVAL) e = ftruncate(vf->fd, (off_t)bytes) ? errno : 0;
    if (e)
        return hk_fail(HK_IO, "cannot grow the vectors file to %zu bytes: %s",
                       bytes, strerror(e));
    void *p = vf->base ? mremap(vf->base, vf->bytes, bytes, MREMAP_MAYMOVE)
                       : mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vf->fd, 0);
    if (p == MAP_FAILED)
        return hk_fail(HK_NOMEM, "cannot map %zu bytes of vectors: %s", bytes, strerror(errno));
    vf->base = p;
    vf->bytes = bytes;
    return HK_OK;
}

void vecfile_advise(vecfile *vf, int random) {
    if (vf->base) madvise(vf->base, vf->bytes, random ? MADV_RANDOM : MADV_NORMAL);
}

size_t vecfile_cached(const vecfile *vf) {
    if (!vf->base) return 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = vf->bytes / page, got = 0;
    unsigned char vec[4096];
    for (size_t p0 = 0; p0 < pages; p0 += sizeof vec) {
        size_t np = pages - p0 < sizeof vec ? pages - p0 : sizeof vec;
        if (mincore((char *)vf->base + p0 * page, np * page, vec) != 0) return 0;
        for (size_t i = 0; i < np; i++) got += vec[i] & 1;
    }
    return got * page;
}

void vecfile_free(vecfile *vf) {
    if (!vf) return;
    if (vf->base) munmap(vf->base, vf->bytes);
    if (vf->fd >= 0) close(vf->fd);
    hk_free(vf);
}
