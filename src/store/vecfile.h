/*
 * vecfile.h — float vectors kept in a file and mapped, instead of on the heap.
 *
 * The file is unnamed (O_TMPFILE in the collection's directory, or a name unlinked at
 * once where the file system lacks it): it is a working copy rebuilt from the snapshot
 * and the log at every open, so a crash leaves nothing behind and two processes never
 * share one. The mapping is MAP_SHARED, so its pages are file-backed page cache the
 * kernel writes back and evicts under memory pressure, not anonymous memory. Writes are
 * never synced: durability comes from the snapshot and the log, as for heap vectors.
 */
#ifndef HK_VECFILE_H
#define HK_VECFILE_H

#include <stddef.h>

#include "core.h"

typedef struct vecfile {
    int fd;
    void *base;   /* the mapping (page aligned), NULL when bytes is 0 */
    size_t bytes; /* mapped length; the file has the same size */
} vecfile;

/* Creates an empty mapped file in directory dir. */
hk_status vecfile_create(const char *dir, vecfile **out);
/* Grows the file and the mapping to at least bytes (the mapping may move; new bytes
 * read as zero). Shrinking is never done. */
hk_status vecfile_reserve(vecfile *vf, size_t bytes);
/* Tells the kernel the rows are read at random (re-ranking) or in order (scans). */
void vecfile_advise(vecfile *vf, int random);
/* Bytes of the mapping now resident in the page cache (mincore). */
size_t vecfile_cached(const vecfile *vf);
void vecfile_free(vecfile *vf);

#endif
