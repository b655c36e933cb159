/*
 * reader.h — streaming readers for the import formats: fvecs, bvecs, npy, jsonl, csv.
 *
 * A reader yields batches of records so an importer never holds the whole file. Every
 * malformed input is an HK_INVALID error whose message names the file and the record
 * (line number for jsonl/csv, vector index and byte offset for binary formats); the
 * batch in which it happened is not returned, so a caller that applies whole batches
 * leaves no half-written batch behind.
 *
 *  fvecs: per vector an int32 dimension then that many float32.
 *  bvecs: per vector an int32 dimension then that many uint8 (converted to float).
 *  npy:   NumPy format 1.0/2.0/3.0, 2-D, C order, dtype <f4, <f8, |u1, |i1, <i4 or <i8
 *         (converted to float32).
 *  jsonl: one object per line {"id": 0..2^63-1, "vector": [numbers], "payload": {...},
 *         "text": "..."}; every field optional except vector (which must be absent with
 *         no_vectors); blank lines skipped.
 *  csv:   RFC 4180 (quoted fields, "" escapes, CRLF or LF), a header row naming columns.
 *         The vector column holds numbers separated by commas, spaces or semicolons,
 *         optionally in brackets ("[0.1, 0.2]"); the id column an unsigned integer; the
 *         text column text; every other column becomes a payload key whose value is an
 *         integer, a float, true/false, or else a string (empty cells are left out).
 *
 * fvecs/bvecs/npy records have no id: has_id = 0 and the importer uses the row number.
 */
#ifndef HK_READER_H
#define HK_READER_H

#include <stdint.h>
#include <stdio.h>

#include "../core/core.h"

typedef enum reader_format {
    RF_FVECS, RF_BVECS, RF_NPY, RF_JSONL, RF_CSV
} reader_format;

/* Parses "fvecs" etc.; returns HK_INVALID for unknown names. */
hk_status reader_format_parse(const char *name, reader_format *out);
/* From the file name's extension (.fvecs .bvecs .npy .jsonl .ndjson .csv). */
hk_status reader_format_from_path(const char *path, reader_format *out);

typedef struct reader_options {
    const char *id_column;     /* csv: default "id" (absent column: no ids) */
    const char *vector_column; /* csv: default "vector" */
    const char *text_column;   /* csv: default "text" (absent column: no text) */
    const char *text_field;    /* jsonl: field holding text, default "text" */
    int no_vectors;            /* jsonl, csv: records carry no vector (text-only
                                  collections); a vector field or column is an error */
} reader_options;

/* One batch of records, valid until the next reader_next or reader_close. */
typedef struct reader_batch {
    size_t n;
    uint32_t dim;
    const float *vectors;        /* n * dim */
    const uint64_t *ids;         /* n ids when has_id, else NULL */
    int has_id;
    const char *const *payloads; /* n JSON object texts (NULL entries = none), or NULL */
    const char *const *texts;    /* n texts (NULL entries = none), or NULL */
    uint64_t first_record;       /* 0-based index of the batch's first record in file */
} reader_batch;

typedef struct reader reader;

/* Opens path (or "-" for stdin where the format allows streaming). */
hk_status reader_open(const char *path, reader_format fmt, const reader_options *opt,
                      reader **out);
/* Fills up to max records; *batch->n == 0 means end of file. */
hk_status reader_next(reader *r, size_t max, reader_batch *batch);
/* Bytes consumed so far and total file size (0 when unknown): for progress bars. */
void reader_progress(const reader *r, uint64_t *done, uint64_t *total);
void reader_close(reader *r);

/* Same readers over a memory buffer (fuzzing, uploads): data must outlive the reader. */
hk_status reader_open_mem(const void *data, size_t len, reader_format fmt,
                          const reader_options *opt, const char *name, reader **out);

#endif
