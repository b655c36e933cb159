/*
 * route.h — the JSON routes' shared machinery: the request context handlers receive, the
 * route tables (one per file of routes; the router, /openapi.json and the tests all read
 * them, so there is one list of routes), and helpers that read request members and write
 * records the way every route does.
 */
#ifndef HK_SERVER_ROUTE_H
#define HK_SERVER_ROUTE_H

#include <stdatomic.h>

#include "server_int.h"

typedef struct qctx {
    hks_req *r;
    hj_value *body;
    hk_buf out;
    hk_collection *c;
    hk_collection_stats stats;
    int status;
    char err[1024];
    const char *raw_type; /* set by a handler whose 200 answer is out as is (no envelope) */
    int fd;               /* >= 0: the 200 answer is this file (raw_type), sent and closed */
    uint64_t fd_size;
} qctx;

typedef struct hks_route {
    const char *method;
    const char *path;     /* OpenAPI template: "{x}" matches one segment */
    int (*fn)(qctx *);    /* returns the status; 200 answers q->out in the envelope */
    hks_class cls;
    int write;            /* the read-only key may not call it */
    const char *summary;
    const char *request;  /* schema name of the JSON body (components), NULL = none */
    const char *response; /* schema name of "result" */
    const char *params;   /* query parameters, comma-separated; NULL = none */
} hks_route;

/* Qdrant routes (qdrant.c), HEKTOR's own (hroutes.c). */
extern const hks_route qd_routes[];
extern const size_t qd_nroutes;
extern const hks_route hkr_routes[];
extern const size_t hkr_nroutes;
/* Releases what hroutes.c keeps between requests (the text embedder); at shutdown. */
void hkr_shutdown(void);
/* Collections asking for a quantization (hk_collection_set_quant_request, Qdrant's
 * quantization_config) get a "quantize" job once they hold the minimum of points, when
 * their codes were not made for the current request (hk_quant_state.met), a training for
 * that request has not failed already, and no such job is queued (or, without force,
 * running: force is for a request just changed). Returns the job's id, 0 when none is
 * due. */
void hkr_set_quantize_min_points(uint64_t n);
uint64_t hkr_quantize_requested(hk_db *db, const char *name, int force);
/* Cancels the collection's queued and running requested "quantize" jobs (not those asked
 * for by POST .../quantize); returns how many. */
size_t hkr_quantize_requested_cancel(const char *name, const char *why);
/* The same for every collection (at server start, on a thread of its own: opening every
 * collection of a large database takes a while), until *stop becomes nonzero. */
void hkr_quantize_requested_all(hk_db *db, atomic_int *stop);
/* The projection routes (projection.c; their entries are in hkr_routes). */
int hkr_h_project(qctx *q);
int hkr_h_projection(qctx *q);
int hkr_h_projection_coords(qctx *q);
int hkr_h_projection_ids(qctx *q);
int hkr_h_projection_neighbors(qctx *q);
int hkr_h_projection_field(qctx *q);
/* Frees the collection's kept projections (it was dropped or replaced); all at shutdown. */
void hkr_projection_forget(const char *name);
void hkr_projection_shutdown(void);
/* Routes answered by http.c itself (service, stream, static files); fn is NULL. */
extern const hks_route hks_service_routes[];
extern const size_t hks_service_nroutes;

/* Errors: set q->err (prefixed the way Qdrant words them) and return the status. */
int hr_fail(qctx *q, int status, const char *fmt, ...) HK_PRINTF(3, 4);
int hr_lib_fail(qctx *q, hk_status st);
int hr_nomem(qctx *q);

/* Request reading. */
int hr_parse_body(qctx *q, int required);
const hj_value *hr_opt(const hj_value *obj, const char *key); /* present and not null */
int hr_get_id(qctx *q, const hj_value *v, const char *what, uint64_t *id);
int hr_get_ids(qctx *q, const hj_value *v, const char *what, uint64_t **ids, size_t *n);
/* 400 "unknown member 'X': WHAT takes a, b and c" for the first member of obj (an object, or
 * NULL) not among the n known names; 0 when there is none. */
int hr_known_members(qctx *q, const hj_value *obj, const char *const *known, size_t n,
                     const char *what);
int hr_get_uint(qctx *q, const hj_value *obj, const char *key, uint64_t max, uint64_t def,
                uint64_t *out);
int hr_get_bool(qctx *q, const hj_value *obj, const char *key, int def, int *out);
int hr_get_vector(qctx *q, const hj_value *v, const char *what, float *out);
/* The collection named by the path into q->c, with its dim, metric and index kind in
 * q->stats; 404 when absent. hr_full_stats fills the rest of q->stats. */
int hr_open_coll(qctx *q);
int hr_full_stats(qctx *q);
int hr_get_filter(qctx *q, const hj_value *obj, hk_filter **f);
int hr_refuse_present(qctx *q, const hj_value *obj, const char *const *keys, size_t n,
                      const char *why);
int hr_get_with_vector(qctx *q, const hj_value *obj, int *out);

/* What with_payload asks for: everything, nothing, or top-level keys in or out. */
typedef struct psel {
    int all;
    const hj_value *include, *exclude; /* arrays of strings */
} psel;

int hr_get_psel(qctx *q, const hj_value *obj, int def, psel *p);
uint32_t hr_with_flags(const psel *p, int with_vector);

/* Response writing. */
void hr_put_float(hk_buf *b, float v);
void hr_put_payload(qctx *q, const char *json, const psel *p);
void hr_put_record(qctx *q, const hk_result *res, size_t qi, size_t i, const psel *p,
                   int with_vector, int scored);
int hr_op_done(qctx *q);

/* A query-string argument of the request (NULL when absent). */
const char *hr_arg(qctx *q, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *hr_header(qctx *q, const char *name);

#endif
