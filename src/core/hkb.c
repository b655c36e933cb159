/*
 * hkb.c — the binary payload encoding (layout in json.h): encoding from the JSON tree,
 * validation of untrusted bytes, conversion back to JSON, accessors, dotted-path visits and
 * the two payload edits (merge, delete path).
 *
 * Decisions:
 *  - Containers carry their body size, written by reserving the 9-byte header and patching
 *    it when the container closes; readers skip a container in O(1).
 *  - The encoder enforces what the validator checks (depth, finite doubles, UTF-8), so
 *    every value we write passes hkb_valid and round-trips through JSON unchanged.
 *  - Accessors trust their input: hkb_valid runs once where bytes enter (disk, intake),
 *    not on every read. hkb_to_json is the exception, as it is cheap next to printing.
 *  - Paths enter arrays wherever a path segment remains, at any array depth, so "a.b"
 *    reaches b in {"a": [[{"b": 1}]]} too; the final value is visited as it is.
 *  - Edits rebuild the object into a new buffer; payloads are small and immutable once
 *    stored, so copying beats in-place surgery.
 */
#include <math.h>
#include <string.h>

#include "json.h"

#define HKB_HEADER 9 /* tag, u32 count, u32 body bytes */

const uint8_t hkb_empty_object[9] = {HKB_OBJECT, 0, 0, 0, 0, 0, 0, 0, 0};

/* ---- encoding ---- */

static hk_status open_container(hk_buf *out, uint8_t tag, size_t *at) {
    uint8_t h[HKB_HEADER] = {tag};
    *at = out->len;
    return hk_buf_append(out, h, sizeof h);
}

static hk_status close_container(hk_buf *out, size_t at, size_t count) {
    size_t body = out->len - at - HKB_HEADER;
    if (body > UINT32_MAX || count > UINT32_MAX)
        return hk_fail(HK_INVALID, "payload value is larger than 4 GiB");
    hk_store_u32(out->data + at + 1, (uint32_t)count);
    hk_store_u32(out->data + at + 5, (uint32_t)body);
    return HK_OK;
}

static hk_status put_bytes32(hk_buf *out, const void *s, size_t len) {
    if (len > UINT32_MAX) return hk_fail(HK_INVALID, "payload string is longer than 4 GiB");
    hk_status st = hk_buf_put_u32(out, (uint32_t)len);
    return st ? st : hk_buf_append(out, s, len);
}

static hk_status put_member(hk_buf *out, const char *key, size_t klen, const uint8_t *v) {
    hk_status st = put_bytes32(out, key, klen);
    return st ? st : hk_buf_append(out, v, hkb_size(v));
}

static hk_status encode_value(hk_buf *out, const hj_value *v, unsigned depth) {
    hk_status st;
    size_t at;
    switch (v->type) {
    case HJ_NULL: return hk_buf_put_u8(out, HKB_NULL);
    case HJ_FALSE: return hk_buf_put_u8(out, HKB_FALSE);
    case HJ_TRUE: return hk_buf_put_u8(out, HKB_TRUE);
    case HJ_INT:
        st = hk_buf_put_u8(out, HKB_INT);
        return st ? st : hk_buf_put_u64(out, (uint64_t)v->u.i);
    case HJ_DOUBLE: {
        if (!isfinite(v->u.d)) return hk_fail(HK_INVALID, "payload numbers must be finite");
        uint64_t bits;
        memcpy(&bits, &v->u.d, sizeof bits);
        st = hk_buf_put_u8(out, HKB_DOUBLE);
        return st ? st : hk_buf_put_u64(out, bits);
    }
    case HJ_STRING:
        if (!hj_utf8_valid(v->u.s, v->n))
            return hk_fail(HK_INVALID, "payload string is not valid UTF-8");
        st = hk_buf_put_u8(out, HKB_STRING);
        return st ? st : put_bytes32(out, v->u.s, v->n);
    case HJ_ARRAY:
    case HJ_OBJECT:
        if (depth >= HJ_MAX_DEPTH)
            return hk_fail(HK_INVALID, "payload nesting is deeper than %d levels", HJ_MAX_DEPTH);
        if ((st = open_container(out, v->type == HJ_ARRAY ? HKB_ARRAY : HKB_OBJECT, &at)))
            return st;
        for (uint32_t i = 0; i < v->n; i++) {
            const hj_value *child;
            if (v->type == HJ_ARRAY) {
                child = &v->u.items[i];
            } else {
                const hj_member *m = &v->u.members[i];
                if (!hj_utf8_valid(m->key, m->key_len))
                    return hk_fail(HK_INVALID, "payload key is not valid UTF-8");
                if ((st = put_bytes32(out, m->key, m->key_len))) return st;
                child = &m->value;
            }
            if ((st = encode_value(out, child, depth + 1))) return st;
        }
        return close_container(out, at, v->n);
    }
    return hk_fail(HK_INVALID, "JSON value has unknown type %d", (int)v->type);
}

hk_status hkb_encode(hk_buf *out, const hj_value *v) {
    size_t orig = out->len;
    hk_status st = encode_value(out, v, 0);
    if (st) out->len = orig;
    return st;
}

hk_status hkb_from_json(hk_buf *out, const char *text, size_t len) {
    hk_arena arena;
    hk_arena_init(&arena);
    hj_value *root;
    hk_status st = hj_parse(text, len, &arena, &root);
    if (!st && root->type != HJ_OBJECT)
        st = hk_fail(HK_INVALID, "payload must be a JSON object, not %s", hj_type_name(root->type));
    if (!st) st = hkb_encode(out, root);
    hk_arena_reset(&arena);
    return st;
}

/* ---- validation ---- */

static const uint8_t *valid_value(const uint8_t *p, const uint8_t *end, unsigned depth) {
    if (p >= end) return NULL;
    size_t room = (size_t)(end - p);
    switch (p[0]) {
    case HKB_NULL:
    case HKB_FALSE:
    case HKB_TRUE: return p + 1;
    case HKB_INT: return room >= 9 ? p + 9 : NULL;
    case HKB_DOUBLE: {
        if (room < 9) return NULL;
        uint64_t bits = hk_load_u64(p + 1);
        double d;
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? p + 9 : NULL;
    }
    case HKB_STRING: {
        if (room < 5) return NULL;
        uint32_t len = hk_load_u32(p + 1);
        if (len > room - 5 || !hj_utf8_valid((const char *)p + 5, len)) return NULL;
        return p + 5 + len;
    }
    case HKB_ARRAY:
    case HKB_OBJECT: {
        if (depth >= HJ_MAX_DEPTH || room < HKB_HEADER) return NULL;
        uint32_t count = hk_load_u32(p + 1), body = hk_load_u32(p + 5);
        if (body > room - HKB_HEADER) return NULL;
        const uint8_t *q = p + HKB_HEADER, *bend = q + body;
        for (uint32_t i = 0; i < count; i++) {
            if (p[0] == HKB_OBJECT) {
                if (bend - q < 4) return NULL;
                uint32_t klen = hk_load_u32(q);
                if (klen > (size_t)(bend - q) - 4 || !hj_utf8_valid((const char *)q + 4, klen))
                    return NULL;
                q += 4 + klen;
            }
            if (!(q = valid_value(q, bend, depth + 1))) return NULL;
        }
        return q == bend ? bend : NULL;
    }
    default: return NULL;
    }
}

int hkb_valid(const uint8_t *p, size_t len) {
    return p && len && valid_value(p, p + len, 0) == p + len;
}

/* ---- accessors ---- */

size_t hkb_size(const uint8_t *p) {
    switch (p[0]) {
    case HKB_INT:
    case HKB_DOUBLE: return 9;
    case HKB_STRING: return 5 + (size_t)hk_load_u32(p + 1);
    case HKB_ARRAY:
    case HKB_OBJECT: return HKB_HEADER + (size_t)hk_load_u32(p + 5);
    default: return 1;
    }
}

int64_t hkb_int(const uint8_t *v) { return (int64_t)hk_load_u64(v + 1); }

double hkb_double(const uint8_t *v) {
    uint64_t bits = hk_load_u64(v + 1);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

const char *hkb_str(const uint8_t *v, uint32_t *len) {
    *len = hk_load_u32(v + 1);
    return (const char *)v + 5;
}

uint32_t hkb_count(const uint8_t *v) { return hk_load_u32(v + 1); }
const uint8_t *hkb_first(const uint8_t *container) { return container + HKB_HEADER; }
const uint8_t *hkb_next(const uint8_t *element) { return element + hkb_size(element); }

const char *hkb_member_key(const uint8_t *member, uint32_t *len) {
    *len = hk_load_u32(member);
    return (const char *)member + 4;
}

const uint8_t *hkb_member_value(const uint8_t *member) {
    return member + 4 + hk_load_u32(member);
}

const uint8_t *hkb_object_get(const uint8_t *obj, const char *key, size_t key_len) {
    if (obj[0] != HKB_OBJECT) return NULL;
    uint32_t n = hkb_count(obj);
    const uint8_t *m = hkb_first(obj);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t klen;
        const char *k = hkb_member_key(m, &klen);
        const uint8_t *v = hkb_member_value(m);
        if (klen == key_len && memcmp(k, key, klen) == 0) return v;
        m = hkb_next(v);
    }
    return NULL;
}

/* ---- JSON output ---- */

static hk_status json_value(hk_buf *out, const uint8_t *v) {
    hk_status st;
    uint32_t len;
    switch (v[0]) {
    case HKB_NULL: return hk_buf_puts(out, "null");
    case HKB_FALSE: return hk_buf_puts(out, "false");
    case HKB_TRUE: return hk_buf_puts(out, "true");
    case HKB_INT: return hj_write_int(out, hkb_int(v));
    case HKB_DOUBLE: return hj_write_double(out, hkb_double(v));
    case HKB_STRING: {
        const char *s = hkb_str(v, &len);
        return hj_write_string(out, s, len);
    }
    case HKB_ARRAY: {
        const uint8_t *e = hkb_first(v);
        st = hk_buf_putc(out, '[');
        for (uint32_t i = 0; !st && i < hkb_count(v); i++, e = hkb_next(e)) {
            if (i) st = hk_buf_putc(out, ',');
            if (!st) st = json_value(out, e);
        }
        return st ? st : hk_buf_putc(out, ']');
    }
    default: { /* HKB_OBJECT: the input was validated */
        const uint8_t *m = hkb_first(v);
        st = hk_buf_putc(out, '{');
        for (uint32_t i = 0; !st && i < hkb_count(v); i++) {
            const char *k = hkb_member_key(m, &len);
            const uint8_t *val = hkb_member_value(m);
            if (i) st = hk_buf_putc(out, ',');
            if (!st) st = hj_write_string(out, k, len);
            if (!st) st = hk_buf_putc(out, ':');
            if (!st) st = json_value(out, val);
            m = hkb_next(val);
        }
        return st ? st : hk_buf_putc(out, '}');
    }
    }
}

hk_status hkb_to_json(hk_buf *out, const uint8_t *p, size_t len) {
    if (!hkb_valid(p, len)) return hk_fail(HK_CORRUPT, "payload encoding is corrupt");
    size_t orig = out->len;
    hk_status st = json_value(out, p);
    if (st) out->len = orig;
    return st;
}

/* ---- paths ---- */

static int visit(const uint8_t *v, const char *path, size_t plen, hkb_visit_fn fn, void *ctx) {
    if (v[0] == HKB_ARRAY) {
        const uint8_t *e = hkb_first(v);
        for (uint32_t i = 0; i < hkb_count(v); i++, e = hkb_next(e)) {
            int r = visit(e, path, plen, fn, ctx);
            if (r) return r;
        }
        return 0;
    }
    const char *dot = memchr(path, '.', plen);
    size_t seg = dot ? (size_t)(dot - path) : plen;
    const uint8_t *child = hkb_object_get(v, path, seg);
    if (!child) return 0;
    if (!dot) return fn(ctx, child);
    return visit(child, dot + 1, plen - seg - 1, fn, ctx);
}

int hkb_path_visit(const uint8_t *obj, const char *path, size_t path_len, hkb_visit_fn fn,
                   void *ctx) {
    if (obj[0] != HKB_OBJECT) return 0;
    return visit(obj, path, path_len, fn, ctx);
}

/* ---- edits ---- */

hk_status hkb_merge(hk_buf *out, const uint8_t *base, const uint8_t *patch) {
    if (base[0] != HKB_OBJECT || patch[0] != HKB_OBJECT)
        return hk_fail(HK_INVALID, "payload merge needs two objects");
    size_t orig = out->len, at, count = 0;
    hk_status st = open_container(out, HKB_OBJECT, &at);
    const uint8_t *m = hkb_first(base);
    for (uint32_t i = 0; !st && i < hkb_count(base); i++, count++) {
        uint32_t klen;
        const char *k = hkb_member_key(m, &klen);
        const uint8_t *v = hkb_member_value(m), *pv = hkb_object_get(patch, k, klen);
        st = put_member(out, k, klen, pv ? pv : v);
        m = hkb_next(v);
    }
    m = hkb_first(patch);
    for (uint32_t i = 0; !st && i < hkb_count(patch); i++) {
        uint32_t klen;
        const char *k = hkb_member_key(m, &klen);
        const uint8_t *v = hkb_member_value(m);
        /* new keys only, and a key repeated in the patch once (its first value, as above) */
        if (!hkb_object_get(base, k, klen) && hkb_object_get(patch, k, klen) == v) {
            st = put_member(out, k, klen, v);
            count++;
        }
        m = hkb_next(v);
    }
    if (!st) st = close_container(out, at, count);
    if (st) out->len = orig;
    return st;
}

static hk_status delete_in(hk_buf *out, const uint8_t *v, const char *path, size_t plen,
                           int *changed) {
    size_t at, count = 0;
    hk_status st;
    if (v[0] == HKB_ARRAY) {
        const uint8_t *e = hkb_first(v);
        st = open_container(out, HKB_ARRAY, &at);
        for (uint32_t i = 0; !st && i < hkb_count(v); i++, e = hkb_next(e))
            st = delete_in(out, e, path, plen, changed);
        return st ? st : close_container(out, at, hkb_count(v));
    }
    if (v[0] != HKB_OBJECT) return hk_buf_append(out, v, hkb_size(v));
    const char *dot = memchr(path, '.', plen);
    size_t seg = dot ? (size_t)(dot - path) : plen;
    const uint8_t *m = hkb_first(v);
    st = open_container(out, HKB_OBJECT, &at);
    for (uint32_t i = 0; !st && i < hkb_count(v); i++) {
        uint32_t klen;
        const char *k = hkb_member_key(m, &klen);
        const uint8_t *val = hkb_member_value(m);
        m = hkb_next(val);
        if (klen == seg && memcmp(k, path, seg) == 0) {
            if (!dot) {
                *changed = 1;
                continue;
            }
            st = put_bytes32(out, k, klen);
            if (!st) st = delete_in(out, val, dot + 1, plen - seg - 1, changed);
        } else {
            st = put_member(out, k, klen, val);
        }
        count++;
    }
    return st ? st : close_container(out, at, count);
}

hk_status hkb_delete_path(hk_buf *out, const uint8_t *base, const char *path,
                          size_t path_len, int *changed) {
    if (base[0] != HKB_OBJECT) return hk_fail(HK_INVALID, "payload is not an object");
    size_t orig = out->len;
    int ch = 0;
    hk_status st = delete_in(out, base, path, path_len, &ch);
    if (st) out->len = orig;
    if (changed) *changed = st ? 0 : ch;
    return st;
}
