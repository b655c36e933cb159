/*
 * test_openapi.c — /openapi.json (src/server/openapi.c) against the router's own tables
 * (route.h): every route of every table is documented under its path and method, every
 * schema a route names exists, every $ref resolves, and no route is listed twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "server/route.h"

typedef struct table {
    const hks_route *routes;
    size_t n;
} table;

static void tables(table out[3]) {
    out[0] = (table){hks_service_routes, hks_service_nroutes};
    out[1] = (table){qd_routes, qd_nroutes};
    out[2] = (table){hkr_routes, hkr_nroutes};
}

static void check_refs(const hj_value *v, const hj_value *schemas, int *nrefs) {
    if (v->type == HJ_OBJECT) {
        for (uint32_t i = 0; i < v->n; i++) {
            const hj_member *m = &v->u.members[i];
            if (!strcmp(m->key, "$ref")) {
                const char *prefix = "#/components/schemas/";
                assert_int_equal(m->value.type, HJ_STRING);
                if (strncmp(m->value.u.s, prefix, strlen(prefix)) ||
                    !hj_get(schemas, m->value.u.s + strlen(prefix)))
                    fail_msg("unresolved $ref %s", m->value.u.s);
                (*nrefs)++;
            } else {
                check_refs(&m->value, schemas, nrefs);
            }
        }
    } else if (v->type == HJ_ARRAY) {
        for (uint32_t i = 0; i < v->n; i++) check_refs(&v->u.items[i], schemas, nrefs);
    }
}

static void every_route_documented(void **state) {
    (void)state;
    hk_buf b;
    hk_buf_init(&b);
    hks_openapi_write(&b);
    hk_arena a;
    hk_arena_init(&a);
    hj_value *doc;
    if (hj_parse((const char *)b.data, b.len, &a, &doc)) fail_msg("not JSON: %s", hk_errmsg());
    const hj_value *paths = hj_get(doc, "paths");
    const hj_value *comp = hj_get(doc, "components");
    assert_non_null(paths);
    assert_non_null(comp);
    const hj_value *schemas = hj_get(comp, "schemas");
    assert_non_null(schemas);
    table t[3];
    tables(t);
    size_t total = 0, ops = 0;
    for (int k = 0; k < 3; k++) {
        assert_true(t[k].n > 0);
        for (size_t i = 0; i < t[k].n; i++) {
            const hks_route *rt = &t[k].routes[i];
            total++;
            char method[16];
            size_t j = 0;
            for (; rt->method[j] && j < sizeof method - 1; j++)
                method[j] = (char)(rt->method[j] + ('a' - 'A'));
            method[j] = 0;
            const hj_value *p = hj_get(paths, rt->path);
            if (!p || !hj_get(p, method)) fail_msg("%s %s is not in /openapi.json", rt->method, rt->path);
            if (rt->request && !hj_get(schemas, rt->request))
                fail_msg("%s %s: request schema %s is missing", rt->method, rt->path, rt->request);
            if (!rt->response || !hj_get(schemas, rt->response))
                fail_msg("%s %s: response schema %s is missing", rt->method, rt->path,
                         rt->response ? rt->response : "(none)");
            if (!rt->summary || !*rt->summary) fail_msg("%s %s has no summary", rt->method, rt->path);
            /* The router takes the first route that matches: a duplicate would be dead. */
            for (int k2 = 0; k2 <= k; k2++)
                for (size_t i2 = 0; i2 < (k2 == k ? i : t[k2].n); i2++)
                    if (!strcmp(t[k2].routes[i2].path, rt->path) &&
                        !strcmp(t[k2].routes[i2].method, rt->method))
                        fail_msg("%s %s is listed twice", rt->method, rt->path);
        }
    }
    for (uint32_t i = 0; i < paths->n; i++) ops += paths->u.members[i].value.n;
    assert_int_equal(ops, total); /* and nothing documented that the router lacks */
    int nrefs = 0;
    check_refs(doc, schemas, &nrefs);
    assert_true(nrefs > (int)total);
    hk_arena_reset(&a);
    hk_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_route_documented)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
