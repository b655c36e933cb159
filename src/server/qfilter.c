/*
 * qfilter.c — translation of Qdrant filters into HEKTOR filter text (see qfilter.h).
 *
 * The translator walks the request's JSON tree and writes a fresh JSON text rather than
 * handing the request text to hk_filter_parse: the walk is where Qdrant-only spellings
 * (a single condition instead of a list, null members) are normalized, and where the
 * constructs HEKTOR lacks are named in Qdrant's own vocabulary ("match.text", "nested").
 */
#include "qfilter.h"

#include <string.h>

#define QERR(...) hk_fail(HK_INVALID, "filter: " __VA_ARGS__)

static int is(const hj_member *m, const char *name) {
    return m->key_len == strlen(name) && memcmp(m->key, name, m->key_len) == 0;
}

static hk_status put(hk_buf *out, const char *s) { return hk_buf_puts(out, s); }

static hk_status tr_filter(const hj_value *v, hk_buf *out, int depth);

static hk_status tr_key(const hj_value *v, hk_buf *out) {
    if (v->type != HJ_STRING) return QERR("'key' must be a string, got %s", hj_type_name(v->type));
    hk_status st = put(out, "\"key\":");
    return st ? st : hj_write_string(out, v->u.s, v->n);
}

/* {"key": ...} inside is_empty / is_null. */
static hk_status tr_key_only(const hj_value *v, const char *what, hk_buf *out) {
    if (v->type != HJ_OBJECT) return QERR("'%s' must be an object, got %s", what, hj_type_name(v->type));
    const hj_value *key = hj_get(v, "key");
    if (!key) return QERR("'%s' needs a 'key'", what);
    for (uint32_t i = 0; i < v->n; i++)
        if (!is(&v->u.members[i], "key"))
            return QERR("unknown field '%.64s' in '%s'", v->u.members[i].key, what);
    hk_status st = hk_buf_printf(out, "{\"%s\":{", what);
    if (!st) st = tr_key(key, out);
    return st ? st : put(out, "}}");
}

static hk_status tr_match(const hj_value *v, hk_buf *out) {
    if (v->type != HJ_OBJECT) return QERR("'match' must be an object, got %s", hj_type_name(v->type));
    const hj_member *pick = NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        if (m->value.type == HJ_NULL) continue;
        if (is(m, "text") || is(m, "phrase") || is(m, "text_any"))
            return QERR("'match.%s' (full-text match) is not supported", m->key);
        if (!is(m, "value") && !is(m, "any") && !is(m, "except"))
            return QERR("unknown field '%.64s' in 'match'", m->key);
        if (pick) return QERR("'match' needs exactly one of 'value', 'any' or 'except'");
        pick = m;
    }
    if (!pick) return QERR("'match' needs one of 'value', 'any' or 'except'");
    hk_status st = hk_buf_printf(out, "\"match\":{\"%s\":", pick->key);
    if (!st) st = hj_write(out, &pick->value);
    return st ? st : put(out, "}");
}

static hk_status tr_range(const hj_value *v, hk_buf *out) {
    if (v->type != HJ_OBJECT) return QERR("'range' must be an object, got %s", hj_type_name(v->type));
    hk_status st = put(out, "\"range\":{");
    int first = 1;
    for (uint32_t i = 0; i < v->n && !st; i++) {
        const hj_member *m = &v->u.members[i];
        if (!is(m, "gt") && !is(m, "gte") && !is(m, "lt") && !is(m, "lte"))
            return QERR("unknown field '%.64s' in 'range'", m->key);
        if (m->value.type == HJ_NULL) continue;
        if (m->value.type == HJ_STRING)
            return QERR("datetime ranges ('range.%s' given as a string) are not supported", m->key);
        if (!hj_is_number(&m->value))
            return QERR("'range.%s' must be a number, got %s", m->key, hj_type_name(m->value.type));
        st = hk_buf_printf(out, "%s\"%s\":", first ? "" : ",", m->key);
        if (!st) st = hj_write(out, &m->value);
        first = 0;
    }
    return st ? st : put(out, "}");
}

static const char *const k_unsupported_field[] = {"geo_bounding_box", "geo_radius",
                                                  "geo_polygon", "values_count"};

/* {"key": K, "match" | "range": ...} */
static hk_status tr_field(const hj_value *v, hk_buf *out) {
    const hj_value *key = NULL, *match = NULL, *range = NULL;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        if (is(m, "key")) {
            key = &m->value;
            continue;
        }
        if (m->value.type == HJ_NULL) continue;
        for (size_t u = 0; u < sizeof k_unsupported_field / sizeof *k_unsupported_field; u++)
            if (is(m, k_unsupported_field[u])) return QERR("'%s' conditions are not supported", m->key);
        if (is(m, "match")) match = &m->value;
        else if (is(m, "range")) range = &m->value;
        else if (is(m, "is_empty") || is(m, "is_null"))
            return QERR("'%s' inside a field condition is not supported; use {\"%s\": {\"key\": ...}}",
                        m->key, m->key);
        else return QERR("unknown field '%.64s' in condition", m->key);
    }
    if (match && range) return QERR("a condition has both 'match' and 'range'");
    if (!match && !range) return QERR("a condition on a key needs 'match' or 'range'");
    hk_status st = put(out, "{");
    if (!st) st = tr_key(key, out);
    if (!st) st = put(out, ",");
    if (!st) st = match ? tr_match(match, out) : tr_range(range, out);
    return st ? st : put(out, "}");
}

static hk_status tr_has_id(const hj_value *v, hk_buf *out) {
    if (v->type != HJ_ARRAY) return QERR("'has_id' needs an array of ids, got %s", hj_type_name(v->type));
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_value *e = &v->u.items[i];
        if (e->type == HJ_STRING)
            return QERR("'has_id' holds the string id '%.64s'; UUID ids are not supported, "
                        "only unsigned integers", e->u.s);
        if (e->type != HJ_INT || e->u.i < 0)
            return QERR("'has_id' ids must be unsigned integers, got %s",
                        e->type == HJ_INT ? "a negative number" : hj_type_name(e->type));
    }
    hk_status st = put(out, "{\"has_id\":");
    if (!st) st = hj_write(out, v);
    return st ? st : put(out, "}");
}

static hk_status tr_cond(const hj_value *v, hk_buf *out, int depth) {
    if (v->type != HJ_OBJECT) return QERR("a condition must be an object, got %s", hj_type_name(v->type));
    if (hj_get(v, "key")) return tr_field(v, out);
    const hj_member *cond = NULL;
    int filter_like = 0;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        if (is(m, "must") || is(m, "should") || is(m, "must_not") || is(m, "min_should")) {
            filter_like = 1;
            continue;
        }
        if (m->value.type == HJ_NULL) continue;
        if (cond) return QERR("a condition object holds both '%s' and '%.64s'", cond->key, m->key);
        cond = m;
    }
    if (filter_like || !cond) {
        if (cond) return QERR("'%.64s' cannot stand beside must/should/must_not", cond->key);
        return tr_filter(v, out, depth + 1);
    }
    if (is(cond, "is_empty") || is(cond, "is_null")) return tr_key_only(&cond->value, cond->key, out);
    if (is(cond, "has_id")) return tr_has_id(&cond->value, out);
    if (is(cond, "nested")) return QERR("'nested' (object array) conditions are not supported");
    if (is(cond, "has_vector")) return QERR("'has_vector' conditions are not supported");
    if (is(cond, "match") || is(cond, "range")) return QERR("a '%s' condition needs a 'key'", cond->key);
    return QERR("unknown condition '%.64s'", cond->key);
}

static hk_status tr_clause(const hj_member *m, hk_buf *out, int depth, int *first) {
    const hj_value *v = &m->value;
    if (v->type == HJ_NULL) return HK_OK;
    if (v->type != HJ_ARRAY && v->type != HJ_OBJECT)
        return QERR("'%s' needs a condition or a list of conditions, got %s", m->key,
                    hj_type_name(v->type));
    hk_status st = hk_buf_printf(out, "%s\"%s\":[", *first ? "" : ",", m->key);
    *first = 0;
    size_t n = v->type == HJ_ARRAY ? v->n : 1;
    for (size_t i = 0; i < n && !st; i++) {
        if (i) st = put(out, ",");
        if (!st) st = tr_cond(v->type == HJ_ARRAY ? &v->u.items[i] : v, out, depth);
    }
    return st ? st : put(out, "]");
}

static hk_status tr_filter(const hj_value *v, hk_buf *out, int depth) {
    if (v->type != HJ_OBJECT) return QERR("a filter must be an object, got %s", hj_type_name(v->type));
    if (depth > 32) return QERR("filters nest deeper than 32 levels");
    hk_status st = put(out, "{");
    int first = 1;
    for (uint32_t i = 0; i < v->n && !st; i++) {
        const hj_member *m = &v->u.members[i];
        if (is(m, "must") || is(m, "should") || is(m, "must_not")) st = tr_clause(m, out, depth, &first);
        else if (is(m, "min_should")) {
            if (m->value.type != HJ_NULL) return QERR("'min_should' is not supported");
        } else return QERR("unknown field '%.64s' in filter", m->key);
    }
    return st ? st : put(out, "}");
}

hk_status qf_translate(const hj_value *qf, hk_buf *out) {
    if (!qf || qf->type == HJ_NULL) return put(out, "{}");
    return tr_filter(qf, out, 0);
}

hk_status qf_parse(const hj_value *qf, hk_filter **f) {
    *f = NULL;
    if (!qf || qf->type == HJ_NULL) return HK_OK;
    hk_buf b;
    hk_buf_init(&b);
    hk_status st = qf_translate(qf, &b);
    if (!st) st = hk_filter_parse((const char *)b.data, b.len, f);
    hk_buf_free(&b);
    return st;
}
