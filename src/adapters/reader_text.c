/*
 * reader_text.c — the text formats: JSON lines and CSV.
 *
 * Decisions:
 *  - jsonl: one line at a time is parsed by hj_parse into an arena that is reset before
 *    every line, so memory is bounded by the longest line, not the batch. Fields are
 *    strict: id, vector, payload and the text field (default "text"); any other key is an
 *    error naming it, because a typo ("vectors", "payloads") would otherwise silently
 *    drop data. null payload or text means none.
 *  - jsonl ids: hj keeps integers as int64, and larger ones become doubles that have lost
 *    digits, so ids above INT64_MAX are rejected with a message saying why rather than
 *    imported wrong. (CSV ids are parsed here and cover the whole uint64 range.)
 *  - Either every record has an id or none does; the first record decides, since a batch
 *    has one has_id flag and an importer must not mix assigned and given ids.
 *  - csv: RFC 4180 with one tolerance: blank lines are skipped. A stray quote inside an
 *    unquoted field is an error (it usually means a broken export). Lines count physical
 *    lines, so a record whose quoted field spans lines is named by the line it starts on.
 *  - csv payload cells: JSON-grammar integers that fit int64 become integers, other JSON
 *    numbers floats (written as they appear), true/false (any of three casings) booleans,
 *    everything else strings. Numbers outside those forms — "007", "1e999", 20-digit
 *    integers — stay strings so no digit is lost.
 *  - Numbers are parsed with strtod_l in the "C" locale: a host that set a locale with a
 *    decimal comma must not change what "0.5" means.
 *  - Strings handed out (text, payload string values, column names) must be valid UTF-8
 *    and text must not contain NUL; bad bytes are an error, never silently replaced.
 */
#include <inttypes.h>
#include <math.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "reader_int.h"

static const char *kind_name(const hj_value *v) {
    switch (v->type) {
    case HJ_NULL: return "null";
    case HJ_FALSE:
    case HJ_TRUE: return "a boolean";
    case HJ_INT:
    case HJ_DOUBLE: return "a number";
    case HJ_STRING: return "a string";
    case HJ_ARRAY: return "an array";
    case HJ_OBJECT: return "an object";
    }
    return "a value";
}

static int key_is(const hj_member *m, const char *name) {
    size_t n = strlen(name);
    return m->key_len == n && memcmp(m->key, name, n) == 0;
}

void rd_text_free(reader *r) {
    hk_buf_free(&r->jline);
    hk_arena_reset(&r->arena);
    hk_free(r->text_field);
    for (size_t i = 0; r->csv_names && i < r->csv_ncols; i++) hk_free(r->csv_names[i]);
    hk_free(r->csv_names);
    hk_buf_free(&r->csv_keys);
    hk_free(r->csv_key_off);
    hk_buf_free(&r->csv_rec);
    hk_free(r->csv_foff);
    if (r->cloc) freelocale(r->cloc);
}

/* ---- jsonl ---- */

hk_status rd_jsonl_open(reader *r, const reader_options *opt) {
    const char *tf = opt && opt->text_field ? opt->text_field : "text";
    if (!strcmp(tf, "id") || !strcmp(tf, "vector") || !strcmp(tf, "payload") || !*tf)
        return rd_fail(r, "text field '%s' clashes with id, vector or payload", tf);
    r->text_field = hk_strdup(tf);
    if (!r->text_field) return hk_fail(HK_NOMEM, "out of memory");
    return rd_skip_bom(r);
}

/* Reads the next line (without its '\n') into r->jline; *got = 0 at end of file. */
static hk_status jl_line(reader *r, int *got) {
    hk_buf_reset(&r->jline);
    *got = 0;
    for (;;) {
        if (r->bpos == r->blen) {
            if (r->io_failed) return HK_IO;
            if (r->eof) return HK_OK;
            hk_status st = rd_refill(r);
            if (st != HK_OK) return st;
            continue;
        }
        *got = 1;
        const uint8_t *s = r->buf + r->bpos;
        size_t avail = r->blen - r->bpos;
        const uint8_t *nl = memchr(s, '\n', avail);
        size_t k = nl ? (size_t)(nl - s) : avail;
        if (r->jline.len + k > RD_MAX_RECORD)
            return rd_fail(r, "line %" PRIu64 ": longer than %u MiB", r->line, RD_MAX_RECORD >> 20);
        hk_status st = hk_buf_append(&r->jline, s, k);
        if (st != HK_OK) return st;
        r->bpos += k + (nl != NULL);
        if (nl) return HK_OK;
    }
}

static hk_status jl_id(reader *r, uint64_t ln, const hj_value *id, uint64_t *out) {
    if (id->type == HJ_INT && id->u.i >= 0) {
        *out = (uint64_t)id->u.i;
        return HK_OK;
    }
    if (id->type == HJ_DOUBLE && id->u.d >= 9223372036854775808.0 &&
        id->u.d < 18446744073709551616.0 && id->u.d == floor(id->u.d))
        return rd_fail(r,
                       "line %" PRIu64 ": 'id' %.0f is above 9223372036854775807, the largest id "
                       "JSON lines can carry exactly (use CSV for larger ids)",
                       ln, id->u.d);
    return rd_fail(r, "line %" PRIu64 ": 'id' must be an integer from 0 to 9223372036854775807 "
                      "(got %s)", ln,
                   id->type == HJ_INT ? "a negative number"
                   : id->type == HJ_DOUBLE ? "a non-integer or out-of-range number"
                                           : kind_name(id));
}

static hk_status jl_ids_agree(reader *r, uint64_t ln, int has) {
    if (r->ids == RD_IDS_UNKNOWN) {
        r->ids = has ? RD_IDS_YES : RD_IDS_NO;
        r->ids_where = ln;
        return HK_OK;
    }
    if ((r->ids == RD_IDS_YES) == has) return HK_OK;
    return rd_fail(
        r, "line %" PRIu64 ": %s an 'id' but line %" PRIu64 " %s; give every line an id or none",
        ln, has ? "has" : "lacks", r->ids_where, has ? "has none" : "has one");
}

static hk_status jl_vector(reader *r, uint64_t ln, const hj_value *vec) {
    if (!vec) return rd_fail(r, "line %" PRIu64 ": missing 'vector'", ln);
    if (vec->type != HJ_ARRAY)
        return rd_fail(r, "line %" PRIu64 ": 'vector' must be an array of numbers (got %s)", ln,
                       kind_name(vec));
    if (vec->n == 0) return rd_fail(r, "line %" PRIu64 ": 'vector' is empty", ln);
    if (vec->n > HK_MAX_DIM)
        return rd_fail(r, "line %" PRIu64 ": 'vector' has %u numbers, more than %d", ln, vec->n,
                       HK_MAX_DIM);
    if (r->dim && vec->n != r->dim)
        return rd_fail(r, "line %" PRIu64 ": dimension %u differs from %u (line %" PRIu64 ")", ln,
                       vec->n, r->dim, r->dim_where);
    if (!r->dim) {
        r->dim = vec->n;
        r->dim_where = ln;
    }
    float *v;
    hk_status st = rd_push(r, &v);
    if (st != HK_OK) return st;
    for (uint32_t j = 0; j < vec->n; j++) {
        const hj_value *x = &vec->u.items[j];
        if (x->type == HJ_INT) {
            v[j] = (float)x->u.i;
        } else if (x->type == HJ_DOUBLE) {
            const char *bad = rd_float_problem(x->u.d);
            if (bad)
                return rd_fail(r, "line %" PRIu64 ": 'vector' item %u (%g) %s", ln, j, x->u.d, bad);
            v[j] = (float)x->u.d;
        } else {
            return rd_fail(r,
                           "line %" PRIu64 ": 'vector' must be an array of numbers (item %u is %s)",
                           ln, j, kind_name(x));
        }
    }
    return HK_OK;
}

static hk_status jl_record(reader *r, uint64_t ln, const hj_value *root) {
    if (root->type != HJ_OBJECT)
        return rd_fail(r, "line %" PRIu64 ": expected a JSON object, found %s", ln,
                       kind_name(root));
    const hj_value *id = NULL, *vec = NULL, *pay = NULL, *txt = NULL;
    for (uint32_t i = 0; i < root->n; i++) {
        const hj_member *m = &root->u.members[i];
        if (key_is(m, "vector")) vec = &m->value;
        else if (key_is(m, "id")) id = &m->value;
        else if (key_is(m, "payload")) pay = &m->value;
        else if (key_is(m, r->text_field)) txt = &m->value;
        else
            return rd_fail(
                r, "line %" PRIu64 ": unknown field '%.*s' (expected id, vector, payload or %s)",
                ln, m->key_len > 64 ? 64 : (int)m->key_len, m->key, r->text_field);
    }
    hk_status st = jl_ids_agree(r, ln, id != NULL);
    float *none;
    if (st == HK_OK && r->no_vectors && vec)
        st = rd_fail(r, "line %" PRIu64 ": has a 'vector', but the collection is text-only", ln);
    else if (st == HK_OK && r->no_vectors) st = rd_push(r, &none);
    else if (st == HK_OK) st = jl_vector(r, ln, vec);
    if (st != HK_OK) return st;
    size_t i = r->n - 1;
    if (id && (st = jl_id(r, ln, id, &r->idv[i])) != HK_OK) return st;
    if (pay && pay->type != HJ_NULL) {
        if (pay->type != HJ_OBJECT)
            return rd_fail(r, "line %" PRIu64 ": 'payload' must be an object (got %s)", ln,
                           kind_name(pay));
        r->pay_off[i] = r->strs.len;
        st = hj_write(&r->strs, pay);
        if (st == HK_OK) st = hk_buf_putc(&r->strs, 0);
        if (st != HK_OK) return st;
        r->any_payload = 1;
    }
    if (txt && txt->type != HJ_NULL) {
        if (txt->type != HJ_STRING)
            return rd_fail(r, "line %" PRIu64 ": '%s' must be a string (got %s)", ln, r->text_field,
                           kind_name(txt));
        if (memchr(txt->u.s, 0, txt->n))
            return rd_fail(r, "line %" PRIu64 ": '%s' contains a NUL character", ln, r->text_field);
        st = rd_put_str(r, txt->u.s, txt->n, &r->text_off[i]);
        if (st != HK_OK) return st;
        r->any_text = 1;
    }
    return HK_OK;
}

hk_status rd_jsonl_next(reader *r, size_t max) {
    while (r->n < max) {
        int got;
        hk_status st = jl_line(r, &got);
        if (st != HK_OK || !got) return st;
        uint64_t ln = r->line++;
        const char *s = (const char *)r->jline.data;
        size_t len = r->jline.len, k = 0;
        while (k < len && (s[k] == ' ' || s[k] == '\t' || s[k] == '\r')) k++;
        if (k == len) continue;
        hk_arena_reset(&r->arena);
        hj_value *root;
        st = hj_parse(s, len, &r->arena, &root);
        if (st != HK_OK) return hk_fail_prefix(st, "%s: line %" PRIu64, r->name, ln);
        st = jl_record(r, ln, root);
        if (st != HK_OK) return st;
    }
    return HK_OK;
}

/* ---- csv: records ---- */

static hk_status csv_putc(reader *r, int c) {
    hk_buf *b = &r->csv_rec;
    if (HK_UNLIKELY(b->len + 1 >= b->cap)) {
        if (b->len >= RD_MAX_RECORD)
            return rd_fail(r, "line %" PRIu64 ": record is longer than %u MiB", r->csv_rec_line,
                           RD_MAX_RECORD >> 20);
        hk_status st = hk_buf_reserve(b, 1);
        if (st != HK_OK) return st;
    }
    b->data[b->len++] = (uint8_t)c;
    return HK_OK;
}

static hk_status csv_field_start(reader *r, size_t n) {
    if (n >= RD_MAX_CSV_COLUMNS)
        return rd_fail(r, "line %" PRIu64 ": more than %d fields", r->csv_rec_line,
                       RD_MAX_CSV_COLUMNS);
    if (n + 1 >= r->csv_fcap) {
        size_t cap = r->csv_fcap ? r->csv_fcap * 2 : 16;
        size_t *f = hk_realloc(r->csv_foff, cap * sizeof *f);
        if (!f) return hk_fail(HK_NOMEM, "out of memory");
        r->csv_foff = f;
        r->csv_fcap = cap;
    }
    r->csv_foff[n] = r->csv_rec.len;
    return HK_OK;
}

/* One quoted field; on return *c is the character after the closing quote. */
static hk_status csv_quoted(reader *r, int *c) {
    for (;;) {
        int ch = rd_getc(r);
        if (ch == RD_ERR) return HK_IO;
        if (ch == RD_EOF)
            return rd_fail(r, "line %" PRIu64 ": quoted field is never closed", r->csv_rec_line);
        if (ch == '"') {
            ch = rd_getc(r);
            if (ch != '"') {
                *c = ch;
                return HK_OK;
            }
        } else if (ch == '\n') {
            r->line++;
        }
        hk_status st = csv_putc(r, ch);
        if (st != HK_OK) return st;
    }
}

/* Reads one record into csv_rec / csv_foff (nf fields, foff[nf] = end). Skips blank lines;
 * *eof = 1 when no record is left. */
static hk_status csv_record(reader *r, size_t *nf, int *eof) {
    *eof = 0;
    for (;;) {
        hk_buf_reset(&r->csv_rec);
        r->csv_rec_line = r->line;
        int c = rd_getc(r), quoted = 0;
        if (c == RD_ERR) return HK_IO;
        if (c == RD_EOF) {
            *eof = 1;
            return HK_OK;
        }
        size_t n = 0;
        hk_status st;
        for (;;) {
            if ((st = csv_field_start(r, n++)) != HK_OK) return st;
            if (c == '"') {
                quoted = 1;
                if ((st = csv_quoted(r, &c)) != HK_OK) return st;
                if (c == '\r' && rd_peekc(r) == '\n') c = rd_getc(r);
                if (c == RD_ERR) return HK_IO;
                if (c != ',' && c != '\n' && c != RD_EOF)
                    return rd_fail(r,
                                   "line %" PRIu64 ": unexpected character after a closing quote "
                                   "(a quote inside a quoted field is written \"\")",
                                   r->line);
            } else {
                while (c >= 0 && c != ',' && c != '\n') {
                    if (c == '"')
                        return rd_fail(r, "line %" PRIu64 ": quote inside an unquoted field (quote "
                                          "the whole field and write the quote as \"\")", r->line);
                    if (c == '\r' && rd_peekc(r) == '\n') {
                        c = rd_getc(r);
                        break;
                    }
                    if ((st = csv_putc(r, c)) != HK_OK) return st;
                    c = rd_getc(r);
                }
                if (c == RD_ERR) return HK_IO;
            }
            if ((st = csv_putc(r, 0)) != HK_OK) return st;
            if (c != ',') break;
            c = rd_getc(r);
            if (c == RD_ERR) return HK_IO;
        }
        if (c == '\n') r->line++;
        if (n == 1 && !quoted && r->csv_rec.len == 1) continue; /* blank line */
        r->csv_foff[n] = r->csv_rec.len;
        *nf = n;
        return HK_OK;
    }
}

static const char *csv_field(const reader *r, size_t i, size_t *len) {
    *len = r->csv_foff[i + 1] - r->csv_foff[i] - 1;
    return (const char *)r->csv_rec.data + r->csv_foff[i];
}

/* ---- csv: header ---- */

static int csv_find(const reader *r, const char *name) {
    for (size_t i = 0; i < r->csv_ncols; i++)
        if (strcmp(r->csv_names[i], name) == 0) return (int)i;
    return -1;
}

static hk_status csv_missing(reader *r, const char *what, const char *name) {
    hk_buf cols;
    hk_buf_init(&cols);
    for (size_t i = 0; i < r->csv_ncols && cols.len < 200; i++)
        hk_buf_printf(&cols, "%s'%s'", i ? ", " : "", r->csv_names[i]);
    hk_status st = rd_fail(r, "no %s column '%s' (columns: %s)", what, name,
                           cols.len ? hk_buf_cstr(&cols) : "");
    hk_buf_free(&cols);
    return st;
}

hk_status rd_csv_open(reader *r, const reader_options *opt) {
    r->cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!r->cloc) return hk_fail(HK_NOMEM, "out of memory (locale)");
    hk_status st = rd_skip_bom(r);
    size_t nf = 0;
    int eof;
    if (st == HK_OK) st = csv_record(r, &nf, &eof);
    if (st != HK_OK) return st;
    if (eof) return rd_fail(r, "empty file: expected a header row naming the columns");
    r->csv_names = hk_calloc(nf, sizeof(char *));
    r->csv_key_off = hk_calloc(nf + 1, sizeof(size_t));
    if (!r->csv_names || !r->csv_key_off) return hk_fail(HK_NOMEM, "out of memory");
    r->csv_ncols = nf;
    for (size_t i = 0; i < nf; i++) {
        size_t len;
        const char *s = csv_field(r, i, &len);
        if (len == 0)
            return rd_fail(r, "header column %zu has no name (from pandas, write with "
                              "to_csv(index=False))", i + 1);
        if (memchr(s, 0, len) || !rd_utf8_valid(s, len))
            return rd_fail(r, "header column %zu: name is not valid UTF-8 text", i + 1);
        r->csv_names[i] = hk_strndup(s, len);
        if (!r->csv_names[i]) return hk_fail(HK_NOMEM, "out of memory");
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->csv_names[j], r->csv_names[i]) == 0)
                return rd_fail(r, "header columns %zu and %zu are both named '%s'", j + 1, i + 1,
                               r->csv_names[i]);
        r->csv_key_off[i] = r->csv_keys.len;
        st = hj_write_string(&r->csv_keys, s, len);
        if (st == HK_OK) st = hk_buf_putc(&r->csv_keys, ':');
        if (st != HK_OK) return st;
    }
    r->csv_key_off[nf] = r->csv_keys.len;

    const char *vn = opt && opt->vector_column ? opt->vector_column : "vector";
    const char *in = opt && opt->id_column ? opt->id_column : "id";
    const char *tn = opt && opt->text_column ? opt->text_column : "text";
    r->csv_vec = csv_find(r, vn);
    r->csv_id = csv_find(r, in);
    r->csv_text = csv_find(r, tn);
    if (r->no_vectors && r->csv_vec >= 0)
        return rd_fail(r, "has a vector column '%s', but the collection is text-only", vn);
    if (r->no_vectors && r->csv_text < 0) return csv_missing(r, "text", tn);
    if (r->no_vectors) r->csv_vec = -2; /* no role; keeps the clash check below quiet */
    else if (r->csv_vec < 0) return csv_missing(r, "vector", vn);
    if (r->csv_id < 0 && opt && opt->id_column) return csv_missing(r, "id", in);
    if (r->csv_text < 0 && opt && opt->text_column) return csv_missing(r, "text", tn);
    if (r->csv_id == r->csv_vec || r->csv_text == r->csv_vec ||
        (r->csv_id >= 0 && r->csv_id == r->csv_text))
        return rd_fail(r, "one column cannot serve two of the id, vector and text roles");
    r->ids = r->csv_id >= 0 ? RD_IDS_YES : RD_IDS_NO;
    return HK_OK;
}

/* ---- csv: cells ---- */

/* JSON number grammar; *is_int when there is no fraction or exponent. */
static int json_number(const char *s, size_t n, int *is_int) {
    size_t i = 0;
    if (i < n && s[i] == '-') i++;
    if (i == n) return 0;
    if (s[i] == '0') i++;
    else if (s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    else return 0;
    *is_int = 1;
    if (i < n && s[i] == '.') {
        *is_int = 0;
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *is_int = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == d) return 0;
    }
    return i == n;
}

/* Decimal digits only; 0 when empty, not digits or above max. */
static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
    uint64_t v = 0;
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* A decimal number token (digits, sign, point, exponent); 0 when it is none. */
static int csv_number(const reader *r, const char *s, size_t n, double *out) {
    char tmp[128];
    if (n == 0 || n >= sizeof tmp) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789+-.eE", s[i]) || !s[i]) return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    *out = strtod_l(tmp, &end, r->cloc);
    return end == tmp + n;
}

static hk_status csv_vector(reader *r, const char *s, size_t len, size_t *dim) {
    uint64_t ln = r->csv_rec_line;
    const char *col = r->csv_names[r->csv_vec];
    const char *p = s, *end = s + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    int open = p < end && *p == '[', close = end > p && end[-1] == ']';
    if (open != close || (open && end - p < 2))
        return rd_fail(r, "line %" PRIu64 ": column '%s': unbalanced '[' ']'", ln, col);
    if (open) p++, end--;
    size_t n = 0;
    int after_sep = 0;
    for (;;) {
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (p == end) {
            if (after_sep)
                return rd_fail(r, "line %" PRIu64 ": column '%s': separator after the last number",
                               ln, col);
            break;
        }
        const char *t = p;
        while (p < end && *p != ' ' && *p != '\t' && *p != ',' && *p != ';') p++;
        if (t == p)
            return rd_fail(r, "line %" PRIu64 ": column '%s': item %zu is empty", ln, col, n);
        double d;
        if (!csv_number(r, t, (size_t)(p - t), &d))
            return rd_fail(r, "line %" PRIu64 ": column '%s': item %zu '%.*s' is not a number", ln,
                           col, n, (int)(p - t > 40 ? 40 : p - t), t);
        if (!(fabs(d) <= FLT_MAX))
            return rd_fail(r,
                           "line %" PRIu64 ": column '%s': item %zu (%.*s) is out of float32 range",
                           ln, col, n, (int)(p - t > 40 ? 40 : p - t), t);
        if (n == HK_MAX_DIM)
            return rd_fail(r, "line %" PRIu64 ": column '%s' has more than %d numbers", ln, col,
                           HK_MAX_DIM);
        hk_status st = rd_tmpv(r, n + 1);
        if (st != HK_OK) return st;
        r->tmpv[n++] = (float)d;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        after_sep = p < end && (*p == ',' || *p == ';');
        if (after_sep) p++;
    }
    if (n == 0) return rd_fail(r, "line %" PRIu64 ": column '%s': empty vector", ln, col);
    *dim = n;
    return HK_OK;
}

static hk_status csv_id(reader *r, const char *s, size_t len, uint64_t *id) {
    const char *p = s, *end = s + len;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) end--;
    if (parse_u64(p, (size_t)(end - p), UINT64_MAX, id)) return HK_OK;
    int n = (int)(end - p > 40 ? 40 : end - p);
    return rd_fail(r, "line %" PRIu64 ": column '%s' must hold an unsigned integer up to "
                      "18446744073709551615 (got '%.*s')",
                   r->csv_rec_line, r->csv_names[r->csv_id], n, p);
}

static hk_status csv_value(reader *r, size_t col, const char *s, size_t n) {
    int is_int = 0;
    uint64_t u;
    double d;
    if (json_number(s, n, &is_int)) {
        int neg = s[0] == '-';
        if (is_int ? parse_u64(s + neg, n - (size_t)neg, (uint64_t)INT64_MAX + (uint64_t)neg, &u)
                   : csv_number(r, s, n, &d) && isfinite(d))
            return hk_buf_append(&r->strs, s, n);
    }
    static const char *const words[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (int i = 0; i < 6; i++)
        if (n == strlen(words[i]) && memcmp(s, words[i], n) == 0)
            return hk_buf_puts(&r->strs, i < 3 ? "true" : "false");
    if (!rd_utf8_valid(s, n))
        return rd_fail(r, "line %" PRIu64 ": column '%s' is not valid UTF-8", r->csv_rec_line,
                       r->csv_names[col]);
    return hj_write_string(&r->strs, s, n);
}

static hk_status csv_payload(reader *r, size_t i) {
    size_t off = r->strs.len;
    int any = 0;
    hk_status st = HK_OK;
    for (size_t c = 0; st == HK_OK && c < r->csv_ncols; c++) {
        if ((int)c == r->csv_vec || (int)c == r->csv_id || (int)c == r->csv_text) continue;
        size_t len;
        const char *s = csv_field(r, c, &len);
        if (len == 0) continue;
        st = hk_buf_putc(&r->strs, any ? ',' : '{');
        if (st == HK_OK)
            st = hk_buf_append(&r->strs, r->csv_keys.data + r->csv_key_off[c],
                               r->csv_key_off[c + 1] - r->csv_key_off[c]);
        if (st == HK_OK) st = csv_value(r, c, s, len);
        any = 1;
    }
    if (st != HK_OK || !any) return st;
    st = hk_buf_putc(&r->strs, '}');
    if (st == HK_OK) st = hk_buf_putc(&r->strs, 0);
    r->pay_off[i] = off;
    r->any_payload = 1;
    return st;
}

static hk_status csv_row(reader *r) {
    uint64_t ln = r->csv_rec_line;
    size_t len, dim = 0;
    const char *s;
    hk_status st = HK_OK;
    if (!r->no_vectors) {
        s = csv_field(r, (size_t)r->csv_vec, &len);
        st = csv_vector(r, s, len, &dim);
    }
    if (st != HK_OK) return st;
    if (r->dim && dim != r->dim)
        return rd_fail(r, "line %" PRIu64 ": dimension %zu differs from %u (line %" PRIu64 ")", ln,
                       dim, r->dim, r->dim_where);
    if (!r->dim) {
        r->dim = (uint32_t)dim;
        r->dim_where = ln;
    }
    float *v;
    if ((st = rd_push(r, &v)) != HK_OK) return st;
    if (dim) memcpy(v, r->tmpv, dim * sizeof(float));
    size_t i = r->n - 1;
    if (r->csv_id >= 0) {
        s = csv_field(r, (size_t)r->csv_id, &len);
        if ((st = csv_id(r, s, len, &r->idv[i])) != HK_OK) return st;
    }
    if (r->csv_text >= 0) {
        s = csv_field(r, (size_t)r->csv_text, &len);
        if (len) {
            if (memchr(s, 0, len) || !rd_utf8_valid(s, len))
                return rd_fail(r, "line %" PRIu64 ": column '%s' is not valid UTF-8 text", ln,
                               r->csv_names[r->csv_text]);
            if ((st = rd_put_str(r, s, len, &r->text_off[i])) != HK_OK) return st;
            r->any_text = 1;
        }
    }
    return csv_payload(r, i);
}

hk_status rd_csv_next(reader *r, size_t max) {
    while (r->n < max) {
        size_t nf;
        int eof;
        hk_status st = csv_record(r, &nf, &eof);
        if (st != HK_OK || eof) return st;
        if (nf != r->csv_ncols)
            return rd_fail(r, "line %" PRIu64 ": %zu fields, header has %zu", r->csv_rec_line, nf,
                           r->csv_ncols);
        if ((st = csv_row(r)) != HK_OK) return st;
    }
    return HK_OK;
}
