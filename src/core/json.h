/*
 * json.h — a strict RFC 8259 JSON parser into a read-only tree allocated in an arena,
 * a JSON string writer, and "hkb", the binary encoding payloads are stored in.
 *
 * Decisions:
 *  - Integers (no '.', 'e' or 'E', fit in int64) stay integers; every other number is a
 *    double. Non-finite numbers cannot occur in JSON and are never produced.
 *  - Strings are validated UTF-8 after unescaping (\uXXXX surrogate pairs combined; a lone
 *    surrogate is an error). They are NUL-terminated copies but may contain NUL (use len).
 *  - Nesting is limited (HJ_MAX_DEPTH) so hostile input cannot exhaust the stack.
 *  - Objects keep their members in input order; a repeated key keeps its last value only.
 *  - Errors say what was expected and the byte offset ("expected ':' at offset 17").
 *
 * hkb layout (little endian), one tag byte then:
 *   HKB_NULL/FALSE/TRUE  nothing
 *   HKB_INT              int64
 *   HKB_DOUBLE           float64
 *   HKB_STRING           u32 len, bytes
 *   HKB_ARRAY            u32 count, u32 body_bytes, elements
 *   HKB_OBJECT           u32 count, u32 body_bytes, members: (u32 keylen, key bytes, value)
 * body_bytes lets a reader skip a container without walking it. Payloads are always
 * objects at the top level.
 */
#ifndef HK_JSON_H
#define HK_JSON_H

#include "core.h"

#define HJ_MAX_DEPTH 64

typedef enum hj_type {
    HJ_NULL = 0,
    HJ_FALSE,
    HJ_TRUE,
    HJ_INT,
    HJ_DOUBLE,
    HJ_STRING,
    HJ_ARRAY,
    HJ_OBJECT
} hj_type;

typedef struct hj_value hj_value;
typedef struct hj_member hj_member;

struct hj_value {
    hj_type type;
    uint32_t n; /* string bytes, array items or object members */
    union {
        int64_t i;
        double d;
        const char *s;
        hj_value *items;
        hj_member *members;
    } u;
};

struct hj_member {
    const char *key; /* NUL-terminated */
    uint32_t key_len;
    hj_value value;
};

/* Parses text[0..len) completely (trailing non-space is an error). The tree lives in
 * arena. On failure returns HK_INVALID with an hk_fail message naming the offset. */
hk_status hj_parse(const char *text, size_t len, hk_arena *arena, hj_value **out);

/* "null", "boolean", "integer", "number", "string", "array" or "object", for messages. */
const char *hj_type_name(hj_type t);

/* Member lookup by key (NULL when absent or v is not an object). */
const hj_value *hj_get(const hj_value *obj, const char *key);
/* Numeric value of an int or double (0 for other types); is_number tells which. */
double hj_number(const hj_value *v);
int hj_is_number(const hj_value *v);

/* Length (1..4) of the well-formed UTF-8 sequence starting at p (p < end), or 0. Overlong
 * forms, surrogates and code points above U+10FFFF are not well-formed. */
size_t hj_utf8_seq(const uint8_t *p, const uint8_t *end);
/* 1 when s[0..len) is well-formed UTF-8. */
int hj_utf8_valid(const char *s, size_t len);

/* Appends v as compact JSON. */
hk_status hj_write(hk_buf *out, const hj_value *v);
/* Appends s[0..len) as a quoted, escaped JSON string (bytes that are not UTF-8 become
 * U+FFFD, so the output always parses). */
hk_status hj_write_string(hk_buf *out, const char *s, size_t len);
/* Appends a double the shortest way that reads back to the same value ("%.17g" fallback),
 * always with a '.' or exponent so it reads back as a double. */
hk_status hj_write_double(hk_buf *out, double d);
/* Appends a float as the first of "%.6g" to "%.9g" that reads back as the same float (the
 * same bytes snprintf would give, without its cost: exact integer arithmetic); null when
 * it is not finite. */
hk_status hj_write_float(hk_buf *out, float f);
/* Appends an integer in decimal (what "%llu" / "%lld" print). */
hk_status hj_write_uint(hk_buf *out, uint64_t v);
hk_status hj_write_int(hk_buf *out, int64_t v);

/* ---- hkb: binary payload values ---- */

enum { HKB_NULL = 0, HKB_FALSE = 1, HKB_TRUE = 2, HKB_INT = 3, HKB_DOUBLE = 4,
       HKB_STRING = 5, HKB_ARRAY = 6, HKB_OBJECT = 7 };

/* Appends the encoding of v. */
hk_status hkb_encode(hk_buf *out, const hj_value *v);
/* Parses JSON text that must be an object straight into hkb (payload intake). */
hk_status hkb_from_json(hk_buf *out, const char *text, size_t len);
/* Appends the JSON text of the encoded value p[0..len); HK_CORRUPT when it is not valid. */
hk_status hkb_to_json(hk_buf *out, const uint8_t *p, size_t len);
/* 1 when p[0..len) is exactly one well-formed encoded value (depth-limited, doubles finite,
 * strings and keys UTF-8), else 0. Used on everything read from disk before it is trusted.
 * hkb_encode only produces values that pass. */
int hkb_valid(const uint8_t *p, size_t len);
/* Size in bytes of the encoded value starting at p (p must be valid). */
size_t hkb_size(const uint8_t *p);

/* Accessors on a valid encoded value. */
static inline int hkb_type(const uint8_t *v) { return v[0]; }
int64_t hkb_int(const uint8_t *v);
double hkb_double(const uint8_t *v);
const char *hkb_str(const uint8_t *v, uint32_t *len);
uint32_t hkb_count(const uint8_t *v); /* array items / object members */
/* First element of an array / first member of an object, and the next one. For objects,
 * hkb_member_key reads the key at a member and hkb_member_value steps over it; the next
 * member starts at hkb_next(hkb_member_value(member)). */
const uint8_t *hkb_first(const uint8_t *container);
const uint8_t *hkb_next(const uint8_t *element); /* for arrays: p + hkb_size(p) */
const char *hkb_member_key(const uint8_t *member, uint32_t *len);
const uint8_t *hkb_member_value(const uint8_t *member);
/* Value of key in an object, or NULL. */
const uint8_t *hkb_object_get(const uint8_t *obj, const char *key, size_t key_len);

/* Calls fn for every value reached by the dotted path ("a.b.c") from the object at p.
 * Arrays met on the way are entered: "a.b" over {"a": [{"b": 1}, {"b": 2}]} visits 1 and
 * 2. The value at the end of the path is visited as it is (an array is visited once, as
 * an array; filters decide how to treat it). fn returns nonzero to stop; the return value
 * is that nonzero value or 0. */
typedef int (*hkb_visit_fn)(void *ctx, const uint8_t *value);
int hkb_path_visit(const uint8_t *obj, const char *path, size_t path_len, hkb_visit_fn fn,
                   void *ctx);

/* Payload edits, producing a new encoded object in out:
 *  merge: keys of patch replace or add to keys of base (top level, as Qdrant's set payload);
 *  delete_path: removes the member at a dotted path (no-op when absent; *changed says). */
hk_status hkb_merge(hk_buf *out, const uint8_t *base, const uint8_t *patch);
hk_status hkb_delete_path(hk_buf *out, const uint8_t *base, const char *path,
                          size_t path_len, int *changed);

/* The canonical empty object, for points without payload. */
extern const uint8_t hkb_empty_object[9];

#endif /* HK_JSON_H */
