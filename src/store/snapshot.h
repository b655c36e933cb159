/*
 * snapshot.h — a collection's checkpoint file.
 *
 * A snapshot is written to NAME.tmp, fsynced, renamed over NAME and the directory
 * fsynced: readers and crashes see the old or the new file, never a mix. It holds only
 * live points, compacted, in sections (config, ids, vectors, norms, payloads, texts,
 * payload-index declarations, HNSW graph, quantizer, codes, text index), each with its length and CRC32C, data aligned to 64 bytes
 * so vectors load with one read straight into their final, aligned home. Loading checks
 * every checksum and validates every payload, but parses and recomputes nothing: ids,
 * vectors, norms and encoded payloads are used as stored. Byte layout: docs/FORMAT.md.
 */
#ifndef HK_SNAPSHOT_H
#define HK_SNAPSHOT_H

#include <stdint.h>

#include "core.h"

#define SNAP_MAGIC "HKSNAP\r\n"
#define SNAP_VERSION 4u /* 2 added the graph section, 3 quantizer and codes, 4 the text
                           index and text-only (dim 0) collections; 1 to 3 still load */
#define SNAP_MAX_PIDX 4096u /* payload indexes per collection */

typedef struct snap_config {
    uint32_t dim, metric, index, hnsw_m, hnsw_ef_construction, hnsw_ef_search;
    uint64_t lsn;     /* last log record included */
    uint64_t next_id;
    uint64_t count;   /* points in the file */
} snap_config;

typedef struct snap_pidx {
    char *key;
    uint32_t type;
} snap_pidx;

/* What the writer reads: slot arrays with holes (live[s] == 0 is skipped). */
typedef struct snap_source {
    snap_config cfg;
    size_t nslots;
    const uint8_t *live;
    const uint64_t *ids;
    const float *vectors;         /* nslots * dim */
    const float *norms;           /* nslots */
    const uint8_t *const *payloads; /* hkb objects or NULL */
    const char *const *texts;     /* or NULL */
    const uint32_t *text_lens;
    const snap_pidx *pidx;
    size_t npidx;
    const uint8_t *graph;         /* HNSW blob over the compacted slots (hnsw_write_remap) */
    size_t graph_len;             /* 0: no graph */
    const uint8_t *quant;         /* quantizer record (the collection's format) */
    size_t quant_len;             /* 0: no codes */
    const uint8_t *codes;         /* nslots * code_size */
    size_t code_size;
    const uint8_t *text_index;    /* TIDX section data (bm25_write) */
    size_t text_index_len;
} snap_source;

hk_status snap_write(const char *path, const snap_source *src, int nosync);

/* What the loader hands over (caller owns everything; snap_image_free). */
typedef struct snap_image {
    snap_config cfg;
    size_t n;
    uint64_t *ids;
    float *vectors;        /* hk_aligned_alloc, capacity for `n` rows */
    float *norms;
    uint8_t *payload_blob; /* concatenated hkb objects */
    uint64_t *payload_off; /* n + 1 offsets into payload_blob; empty range = no payload */
    char *text_blob;
    uint64_t *text_off;    /* n + 1; empty range = no text */
    snap_pidx *pidx;
    size_t npidx;
    uint8_t *graph;        /* HNSW blob or NULL (graph_len 0) */
    size_t graph_len;
    uint8_t *quant;        /* quantizer record or NULL (quant_len 0) */
    size_t quant_len;
    uint8_t *codes;        /* n * code size, or NULL */
    size_t codes_len;
    uint8_t *tidx;         /* text index section or NULL (versions before 4) */
    size_t tidx_len;
    uint64_t file_bytes;
    /* Between snap_open and snap_read_vectors: the file, still open, and where its
     * checked-but-unread vectors section lies. */
    int fd;
    char *path;
    uint64_t vect_at, vect_len;
    uint32_t vect_crc;
} snap_image;

/* Loads and checks every section but the vectors, whose header and padding are checked
 * and whose data is left for snap_read_vectors; the file stays open until then. */
hk_status snap_open(const char *path, snap_image *out);
/* Reads the vectors (vect_len bytes, checksum checked) into dst, or into a new aligned
 * allocation in img->vectors when dst is NULL, and closes the file. */
hk_status snap_read_vectors(snap_image *img, float *dst);
/* snap_open followed by snap_read_vectors(img, NULL). */
hk_status snap_load(const char *path, snap_image *out);
void snap_image_free(snap_image *img);

#endif
