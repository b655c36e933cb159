/*
 * route.c — the router for the JSON routes (Qdrant's and HEKTOR's own) and the helpers
 * their handlers share: reading members with errors that name them, writing records.
 *
 * Decisions:
 *  - One route table per file of routes (route.h); a path is matched against templates
 *    segment by segment, so "/collections/{name}/points/{id}" and the handlers' seg[]
 *    indexes agree by construction, and /openapi.json is written from the same tables.
 *  - A path that matches with another method is a 405, one that matches nothing is not
 *    ours (the caller answers 404).
 */
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "qfilter.h"
#include "route.h"

/* ---- errors ---- */

int hr_fail(qctx *q, int status, const char *fmt, ...) {
    const char *prefix = status == 404 ? "Not found: " : status == 409 ? "Conflict: "
                         : status >= 500 ? "Service internal error: " : "Wrong input: ";
    size_t pl = strlen(prefix);
    memcpy(q->err, prefix, pl);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->err + pl, sizeof q->err - pl, fmt, ap);
    va_end(ap);
    return q->status = status;
}

int hr_lib_fail(qctx *q, hk_status st) {
    int status;
    switch (st) {
    case HK_INVALID:
    case HK_DIMENSION: status = 400; break;
    case HK_NOT_FOUND: status = 404; break;
    case HK_EXISTS: status = 409; break;
    case HK_READONLY: status = 403; break;
    case HK_LOCKED: status = 409; break;
    default: status = 500; break;
    }
    return hr_fail(q, status, "%s", hk_errmsg());
}

int hr_nomem(qctx *q) { return hr_fail(q, 500, "out of memory"); }

/* ---- request reading ---- */

int hr_parse_body(qctx *q, int required) {
    hks_req *r = q->r;
    size_t i = 0;
    while (i < r->body_len && (r->body[i] == ' ' || r->body[i] == '\n' || r->body[i] == '\r' ||
                               r->body[i] == '\t'))
        i++;
    if (i == r->body_len) {
        if (required) return hr_fail(q, 400, "the request needs a JSON object body");
        return 0;
    }
    hk_status st = hj_parse(r->body, r->body_len, &r->arena, &q->body);
    if (st) return hr_fail(q, 400, "Format error in JSON body: %s", hk_errmsg());
    if (q->body->type != HJ_OBJECT)
        return hr_fail(q, 400, "Format error in JSON body: expected an object, got %s",
                    hj_type_name(q->body->type));
    return 0;
}

/* A member that is present and not null, else NULL. */
const hj_value *hr_opt(const hj_value *obj, const char *key) {
    const hj_value *v = obj ? hj_get(obj, key) : NULL;
    return v && v->type != HJ_NULL ? v : NULL;
}

int hr_get_id(qctx *q, const hj_value *v, const char *what, uint64_t *id) {
    if (v->type == HJ_INT && v->u.i >= 0) {
        *id = (uint64_t)v->u.i;
        return 0;
    }
    if (v->type == HJ_STRING)
        return hr_fail(q, 400, "%s: the id '%.64s' is a string; UUID ids are not supported, use "
                    "unsigned integers", what, v->u.s);
    return hr_fail(q, 400, "%s: ids must be unsigned integers up to 9223372036854775807, got %s",
                what, v->type == HJ_INT ? "a negative number" : hj_type_name(v->type));
}

int hr_get_ids(qctx *q, const hj_value *v, const char *what, uint64_t **ids, size_t *n) {
    if (v->type != HJ_ARRAY) return hr_fail(q, 400, "'%s' must be an array of ids, got %s", what,
                                         hj_type_name(v->type));
    *n = v->n;
    *ids = hk_arena_alloc(&q->r->arena, (v->n ? v->n : 1) * sizeof **ids);
    if (!*ids) return hr_nomem(q);
    for (uint32_t i = 0; i < v->n; i++)
        if (hr_get_id(q, &v->u.items[i], what, &(*ids)[i])) return q->status;
    return 0;
}

int hr_known_members(qctx *q, const hj_value *obj, const char *const *known, size_t n,
                     const char *what) {
    for (uint32_t i = 0; obj && obj->type == HJ_OBJECT && i < obj->n; i++) {
        const char *key = obj->u.members[i].key;
        size_t k = 0;
        while (k < n && strcmp(known[k], key)) k++;
        if (k < n) continue;
        char list[512];
        size_t len = 0;
        list[0] = 0;
        for (size_t j = 0; j < n && len < sizeof list; j++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
                                    j == 0 ? "" : j + 1 == n ? " and " : ", ", known[j]);
        return hr_fail(q, 400, "unknown member '%.64s': %s takes %s", key, what, list);
    }
    return 0;
}

int hr_get_uint(qctx *q, const hj_value *obj, const char *key, uint64_t max, uint64_t def,
                    uint64_t *out) {
    const hj_value *v = hr_opt(obj, key);
    *out = def;
    if (!v) return 0;
    if (v->type != HJ_INT || v->u.i < 0 || (uint64_t)v->u.i > max)
        return hr_fail(q, 400, "'%s' must be an integer from 0 to %llu", key, (unsigned long long)max);
    *out = (uint64_t)v->u.i;
    return 0;
}

int hr_get_bool(qctx *q, const hj_value *obj, const char *key, int def, int *out) {
    const hj_value *v = hr_opt(obj, key);
    *out = def;
    if (!v) return 0;
    if (v->type != HJ_TRUE && v->type != HJ_FALSE)
        return hr_fail(q, 400, "'%s' must be true or false, got %s", key, hj_type_name(v->type));
    *out = v->type == HJ_TRUE;
    return 0;
}

/* Reads a vector of the collection's dimension into out. */
int hr_get_vector(qctx *q, const hj_value *v, const char *what, float *out) {
    uint32_t dim = q->stats.dim;
    if (v->type == HJ_OBJECT)
        return hr_fail(q, 400, "%s: named vectors are not supported; give the vector as an array "
                    "of %u numbers", what, dim);
    if (v->type != HJ_ARRAY)
        return hr_fail(q, 400, "%s: the vector must be an array of numbers, got %s", what,
                    hj_type_name(v->type));
    if (v->n != dim)
        return hr_fail(q, 400, "%s: Vector dimension error: expected dim: %u, got %u", what, dim, v->n);
    for (uint32_t i = 0; i < dim; i++) {
        const hj_value *e = &v->u.items[i];
        if (!hj_is_number(e))
            return hr_fail(q, 400, "%s: vector element %u must be a number, got %s", what, i,
                        hj_type_name(e->type));
        float f = (float)hj_number(e);
        if (!isfinite(f)) return hr_fail(q, 400, "%s: vector element %u is out of float range", what, i);
        out[i] = f;
    }
    return 0;
}

int hr_open_coll(qctx *q) {
    hks_req *r = q->r;
    /* /collections/{name}/... or /hektor/collections/{name}/... */
    const char *name = strcmp(r->seg[0], "hektor") ? r->seg[1] : r->seg[2];
    hk_status st = hk_collection_open(r->db, name, &q->c);
    if (st == HK_NOT_FOUND) return hr_fail(q, 404, "Collection `%s` doesn't exist!", name);
    if (st) return hr_lib_fail(q, st);
    /* Only what every route needs, from the configuration: the statistics cost more (the
     * page-cache scan of vectors kept on disk), and hr_full_stats reads them. */
    hk_collection_config cfg;
    if ((st = hk_collection_get_config(q->c, &cfg))) return hr_lib_fail(q, st);
    memset(&q->stats, 0, sizeof q->stats);
    q->stats.dim = cfg.dim;
    q->stats.metric = cfg.metric;
    q->stats.index = cfg.index;
    return 0;
}

int hr_full_stats(qctx *q) {
    hk_status st = hk_collection_stats_get(q->c, &q->stats);
    return st ? hr_lib_fail(q, st) : 0;
}

int hr_get_filter(qctx *q, const hj_value *obj, hk_filter **f) {
    hk_status st = qf_parse(hr_opt(obj, "filter"), f);
    return st ? hr_fail(q, 400, "%s", hk_errmsg()) : 0;
}

/* ---- response writing ---- */

void hr_put_float(hk_buf *b, float v) { hj_write_float(b, v); }

int hr_get_psel(qctx *q, const hj_value *obj, int def, psel *p) {
    memset(p, 0, sizeof *p);
    const hj_value *v = hr_opt(obj, "with_payload");
    p->all = def;
    if (!v) return 0;
    if (v->type == HJ_TRUE || v->type == HJ_FALSE) {
        p->all = v->type == HJ_TRUE;
        return 0;
    }
    const hj_value *list = v;
    if (v->type == HJ_OBJECT) {
        if ((list = hr_opt(v, "include"))) p->include = list;
        else if ((list = hr_opt(v, "exclude"))) p->exclude = list;
        else return hr_fail(q, 400, "'with_payload' as an object needs 'include' or 'exclude'");
    } else {
        p->include = v;
    }
    if (list->type != HJ_ARRAY)
        return hr_fail(q, 400, "'with_payload' must be true, false, a list of keys or {include|exclude: "
                    "[keys]}, got %s", hj_type_name(list->type));
    for (uint32_t i = 0; i < list->n; i++)
        if (list->u.items[i].type != HJ_STRING)
            return hr_fail(q, 400, "'with_payload' keys must be strings");
    p->all = 1;
    return 0;
}

static int in_list(const hj_value *list, const char *key, uint32_t len) {
    for (uint32_t i = 0; i < list->n; i++) {
        const hj_value *e = &list->u.items[i];
        if (e->n == len && !memcmp(e->u.s, key, len)) return 1;
    }
    return 0;
}

void hr_put_payload(qctx *q, const char *json, const psel *p) {
    hk_buf *b = &q->out;
    if (!json) json = "{}";
    if (!p->include && !p->exclude) {
        hk_buf_puts(b, json);
        return;
    }
    hj_value *v;
    if (hj_parse(json, strlen(json), &q->r->arena, &v) || v->type != HJ_OBJECT) {
        hk_buf_puts(b, json);
        return;
    }
    hk_buf_putc(b, '{');
    int first = 1;
    for (uint32_t i = 0; i < v->n; i++) {
        const hj_member *m = &v->u.members[i];
        int keep = p->include ? in_list(p->include, m->key, m->key_len)
                              : !in_list(p->exclude, m->key, m->key_len);
        if (!keep) continue;
        if (!first) hk_buf_putc(b, ',');
        first = 0;
        hj_write_string(b, m->key, m->key_len);
        hk_buf_putc(b, ':');
        hj_write(b, &m->value);
    }
    hk_buf_putc(b, '}');
}

void hr_put_record(qctx *q, const hk_result *res, size_t qi, size_t i, const psel *p,
                       int with_vector, int scored) {
    hk_buf *b = &q->out;
    hk_buf_puts(b, "{\"id\":");
    hj_write_uint(b, hk_result_id(res, qi, i));
    if (scored) {
        hk_buf_puts(b, ",\"version\":0,\"score\":");
        hr_put_float(b, hk_result_score(res, qi, i));
    }
    hk_buf_puts(b, ",\"payload\":");
    if (p->all) hr_put_payload(q, hk_result_payload(res, qi, i), p);
    else hk_buf_puts(b, "null");
    hk_buf_puts(b, ",\"vector\":");
    const float *vec = with_vector ? hk_result_vector(res, qi, i) : NULL;
    if (vec) {
        hk_buf_putc(b, '[');
        for (uint32_t d = 0; d < q->stats.dim; d++) {
            if (d) hk_buf_putc(b, ',');
            hr_put_float(b, vec[d]);
        }
        hk_buf_putc(b, ']');
    } else {
        hk_buf_puts(b, "null");
    }
    hk_buf_putc(b, '}');
}

int hr_op_done(qctx *q) {
    hk_collection_stats st;
    uint64_t lsn = hk_collection_stats_get(q->c, &st) ? 0 : st.lsn;
    hk_buf_printf(&q->out, "{\"operation_id\":%llu,\"status\":\"completed\"}",
                  (unsigned long long)lsn);
    return 200;
}

int hr_refuse_present(qctx *q, const hj_value *obj, const char *const *keys, size_t n,
                          const char *why) {
    for (size_t i = 0; i < n; i++)
        if (hr_opt(obj, keys[i])) return hr_fail(q, 400, "'%s' is not supported%s", keys[i], why);
    return 0;
}

int hr_get_with_vector(qctx *q, const hj_value *obj, int *out) {
    const hj_value *v = hr_opt(obj, "with_vector");
    if (!v) v = hr_opt(obj, "with_vectors");
    *out = 0;
    if (!v) return 0;
    if (v->type == HJ_ARRAY) return hr_fail(q, 400, "'with_vector' as a list of names: named vectors are "
                                         "not supported; use true or false");
    if (v->type != HJ_TRUE && v->type != HJ_FALSE)
        return hr_fail(q, 400, "'with_vector' must be true or false, got %s", hj_type_name(v->type));
    *out = v->type == HJ_TRUE;
    return 0;
}

uint32_t hr_with_flags(const psel *p, int with_vector) {
    return (p->all ? HK_WITH_PAYLOAD : 0) | (with_vector ? HK_WITH_VECTOR : 0);
}


const char *hr_arg(qctx *q, const char *name) {
    if (q->r->conn) return MHD_lookup_connection_value(q->r->conn, MHD_GET_ARGUMENT_KIND, name);
    for (const char *const *a = q->r->args; a && a[0]; a += 2)
        if (!strcmp(a[0], name)) return a[1];
    return NULL;
}

const char *hr_header(qctx *q, const char *name) {
    if (q->r->conn) return MHD_lookup_connection_value(q->r->conn, MHD_HEADER_KIND, name);
    for (const char *const *h = q->r->headers; h && h[0]; h += 2)
        if (!strcasecmp(h[0], name)) return h[1];
    return NULL;
}

/* ---- routing ---- */

/* The path's segments against a template's; "{x}" matches any one segment. */
static int match(const hks_req *r, const char *tmpl) {
    int i = 0;
    const char *p = tmpl;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (i >= r->nseg) return 0;
        if (!(len > 1 && p[0] == '{' && p[len - 1] == '}') &&
            (strlen(r->seg[i]) != len || memcmp(r->seg[i], p, len)))
            return 0;
        i++;
        p += len + (e ? 1 : 0);
    }
    return i == r->nseg;
}

int hks_route_json(hks_req *r, hks_resp *resp, int classify_only) {
    static const struct {
        const hks_route *routes;
        const size_t *n;
    } tables[] = {{qd_routes, &qd_nroutes}, {hkr_routes, &hkr_nroutes}};
    const hks_route *found = r->route;
    int path_ok = r->routed;
    for (size_t t = 0; !r->routed && t < sizeof tables / sizeof *tables && !found; t++)
        for (size_t i = 0; i < *tables[t].n; i++) {
            const hks_route *rt = &tables[t].routes[i];
            if (!match(r, rt->path)) continue;
            path_ok = 1;
            if (!strcmp(rt->method, r->method)) {
                found = rt;
                break;
            }
        }
    if (!path_ok) return 0;
    r->route = found;
    r->routed = 1;
    r->cls = found ? found->cls : HKS_CLASS_UNKNOWN;
    r->is_write = found ? found->write : 0;
    if (classify_only) return 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    qctx q;
    memset(&q, 0, sizeof q);
    q.r = r;
    q.fd = -1;
    hk_buf_init(&q.out);
    hk_buf_reserve(&q.out, 2048); /* a search's answer without growing (a failure shows later) */
    int status;
    if (!found) status = hr_fail(&q, 405, "method %s is not allowed on %.160s", r->method, r->path);
    else status = found->fn(&q);
    hk_collection_close(q.c);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (q.fd >= 0 && status == 200) {
        struct MHD_Response *mr = MHD_create_response_from_fd(q.fd_size, q.fd);
        if (mr) {
            MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, q.raw_type);
            resp->status = 200;
            resp->mhd = mr;
            hk_buf_free(&q.out);
            return 1;
        }
        status = hr_fail(&q, 500, "cannot send the file");
    }
    if (q.fd >= 0) close(q.fd);
    if (status == 200 && q.raw_type) {
        resp->status = 200;
        resp->content_type = q.raw_type;
        hk_buf_free(&resp->body);
        resp->body = q.out;
        return 1;
    }
    if (status == 200) hks_ok(resp, 200, (const char *)q.out.data ? (const char *)q.out.data : "",
                              q.out.len, secs);
    else hks_error(resp, status, q.err, secs);
    hk_buf_free(&q.out);
    return 1;
}
