/*
 * reader_int.h — what the reader's source files share: the reader struct, the buffered
 * byte source (a FILE* refilled into one buffer, or a caller's memory used in place), the
 * batch being filled, and the helpers that build messages naming the file.
 *
 * The batch stores payload and text as offsets into one string buffer while it is being
 * filled (the buffer may move as it grows); reader_next turns them into pointers once the
 * batch is complete. Format-specific state sits in the struct as plain fields: one
 * concept, no vtable beyond the per-format `next` function.
 */
#ifndef HK_READER_INT_H
#define HK_READER_INT_H

#include <locale.h>
#include <stdint.h>
#include <stdio.h>

#include "../core/core.h"
#include "../core/json.h"
#include "reader.h"

#define RD_NONE SIZE_MAX               /* no payload / text for this record */
#define RD_MAX_RECORD (64u << 20)      /* longest jsonl line or csv record we accept */
#define RD_MAX_CSV_COLUMNS 4096
#define RD_MAX_NPY_HEADER 65536
#define RD_EOF (-1)
#define RD_ERR (-2)

enum { RD_IDS_UNKNOWN = 0, RD_IDS_YES, RD_IDS_NO };

typedef hk_status (*rd_next_fn)(reader *r, size_t max);

struct reader {
    reader_format fmt;
    char *name;            /* file name used in every message */
    rd_next_fn next;

    /* byte source */
    FILE *fp;              /* NULL for memory readers */
    int own_fp;            /* fclose on close (not for stdin) */
    uint8_t *buf;          /* file buffer, or the caller's memory */
    size_t blen, bpos;     /* valid bytes in buf, read position */
    uint64_t base;         /* file offset of buf[0] */
    int eof;               /* no more refills */
    int io_failed;         /* a read failed: the source reports RD_ERR from then on */
    uint64_t total;        /* file size, 0 when unknown */
    uint8_t *scratch;      /* rd_bytes copies records that straddle refills here */
    size_t scratch_cap;

    /* state shared by the formats */
    uint32_t dim;          /* 0 until the first record */
    uint64_t dim_where;    /* line of the record that set dim (text formats) */
    uint64_t record;       /* records handed out before the current batch */
    uint64_t line;         /* text formats: 1-based line of the next byte */
    int ids;               /* RD_IDS_* */
    uint64_t ids_where;    /* line of the record that decided ids */
    float *tmpv;           /* text formats: one vector before its dimension is checked */
    size_t tmpv_cap;

    /* npy */
    int npy_type;          /* index into the dtype table in reader_vecs.c */
    size_t npy_esize;
    uint64_t npy_rows, npy_data_start;

    /* jsonl */
    hk_buf jline;
    hk_arena arena;
    char *text_field;
    int no_vectors;    /* reader_options.no_vectors */

    /* csv */
    locale_t cloc;         /* "C" locale for strtod_l: the host's locale must not matter */
    size_t csv_ncols;
    int csv_id, csv_vec, csv_text; /* column indexes, -1 when absent */
    char **csv_names;
    hk_buf csv_keys;       /* per column its key as JSON text ("name":) */
    size_t *csv_key_off;   /* ncols + 1 offsets into csv_keys */
    hk_buf csv_rec;        /* the current record's fields, each NUL-terminated */
    size_t *csv_foff;      /* field start offsets into csv_rec */
    size_t csv_fcap;
    uint64_t csv_rec_line;

    /* the batch being filled */
    size_t n;
    float *vec;
    size_t vec_cap;        /* floats */
    uint64_t *idv;
    size_t *pay_off, *text_off;
    const char **pay_ptr, **text_ptr;
    size_t rec_cap;        /* records the per-record arrays hold */
    int any_payload, any_text;
    hk_buf strs;

    /* a failed reader keeps failing with its first message */
    hk_status failed;
    char *errmsg;
};

/* ---- byte source (reader.c) ---- */
/* Reads the next chunk of the file; sets eof when there is none. */
hk_status rd_refill(reader *r);
/* n contiguous bytes: *p points into the buffer or into scratch; *got < n only at EOF. */
hk_status rd_bytes(reader *r, size_t n, const uint8_t **p, size_t *got);
static inline uint64_t rd_offset(const reader *r) { return r->base + r->bpos; }
/* Next byte, RD_EOF at end, RD_ERR after a read error (message set). */
static inline int rd_getc(reader *r) {
    if (HK_LIKELY(r->bpos < r->blen)) return r->buf[r->bpos++];
    if (r->eof) return r->io_failed ? RD_ERR : RD_EOF;
    if (rd_refill(r) != HK_OK) return RD_ERR;
    return r->bpos < r->blen ? r->buf[r->bpos++] : RD_EOF;
}
static inline int rd_peekc(reader *r) {
    int c = rd_getc(r);
    if (c >= 0) r->bpos--;
    return c;
}
/* Skips a UTF-8 byte order mark at the start of a text file. */
hk_status rd_skip_bom(reader *r);

/* ---- batch (reader.c) ---- */
/* Appends a record to the batch: room for dim floats at *slot (r->dim must be set), id 0,
 * no payload, no text. */
hk_status rd_push(reader *r, float **slot);
/* Stores s[0..n) plus a NUL in the batch's strings; *off receives its offset. */
hk_status rd_put_str(reader *r, const char *s, size_t n, size_t *off);
/* Room for n floats in r->tmpv. */
hk_status rd_tmpv(reader *r, size_t n);

/* ---- messages (reader.c) ---- */
/* HK_INVALID with "name: " + the formatted text. */
hk_status rd_fail(const reader *r, const char *fmt, ...) HK_PRINTF(2, 3);
/* Describes a non-finite or out-of-float32-range value, or returns NULL when v fits. */
const char *rd_float_problem(double v);
/* 1 when s[0..n) is valid UTF-8. */
int rd_utf8_valid(const char *s, size_t n);

/* ---- formats ---- */
hk_status rd_vecs_next(reader *r, size_t max);   /* fvecs and bvecs (reader_vecs.c) */
hk_status rd_npy_open(reader *r);
hk_status rd_npy_next(reader *r, size_t max);
hk_status rd_jsonl_open(reader *r, const reader_options *opt);   /* reader_text.c */
hk_status rd_jsonl_next(reader *r, size_t max);
hk_status rd_csv_open(reader *r, const reader_options *opt);
hk_status rd_csv_next(reader *r, size_t max);
void rd_text_free(reader *r);

#endif /* HK_READER_INT_H */
