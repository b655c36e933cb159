/*
 * server_int.h — what the files of src/server share: the request being answered, the
 * response being built, Qdrant's envelope, and the routers each file exports.
 */
#ifndef HK_SERVER_INT_H
#define HK_SERVER_INT_H

#include <stdint.h>

#include "core.h"
#include "json.h"
#include "server.h"

/* Route classes, the label of the request metrics. */
typedef enum hks_class {
    HKS_CLASS_UNKNOWN = 0,
    HKS_CLASS_SERVICE,     /* /, /healthz, /readyz, /metrics */
    HKS_CLASS_COLLECTIONS, /* collection create, get, list, delete, exists, payload indexes */
    HKS_CLASS_WRITE,       /* point upsert, delete, payload edits */
    HKS_CLASS_READ,        /* get points, scroll, count */
    HKS_CLASS_SEARCH,      /* search, search/batch, recommend */
    HKS_NCLASS
} hks_class;

typedef struct hks_req {
    hk_db *db;
    const char *method; /* "GET", "POST", ... */
    const char *path;
    char **seg;         /* path segments, percent-decoded by libmicrohttpd */
    int nseg;
    const char *body;
    size_t body_len;
    hk_buf *body_buf;   /* the body's buffer: a handler may take it (hk_buf_detach) */
    void *conn;         /* struct MHD_Connection *, or NULL (tests, fuzzing) */
    const char *const *args; /* without conn: query arguments as NULL-terminated
                                name, value pairs */
    const char *const *headers; /* without conn: request headers, the same way */
    hk_arena arena;     /* the parsed body and other per-request memory */
    hks_class cls;      /* set by the router */
    const void *route;  /* set by the router's classifying call: the hks_route found, so
                           the call that runs it does not match the path again */
    int routed;         /* 1 once route is set (route may be NULL: a 405) */
    int is_write;       /* set by the router: the read-only key may not do this */
} hks_req;

typedef struct hks_resp {
    int status;
    const char *content_type; /* NULL = application/json */
    hk_buf body;
    const char *location;     /* a Location header (redirects) */
    void *mhd;                /* a prepared struct MHD_Response * (a stream, a file) that
                                 is sent instead of body */
} hks_resp;

/* Writes Qdrant's envelopes into resp->body: {"result": RESULT, "status": "ok", "time": T}
 * and {"status": {"error": MSG}, "time": T}. */
void hks_ok(hks_resp *resp, int status, const char *result_json, size_t len, double seconds);
void hks_error(hks_resp *resp, int status, const char *msg, double seconds);

/* Splits r->path into r->seg in r->arena; 0 when it has too many segments (http.c). */
int hks_split_path(hks_req *r);

/* The router of the JSON routes (route.c): 1 when a route's path matches, else 0. With
 * classify_only it only sets r->cls and r->is_write (so authentication can run first),
 * else it answers in resp. The route found is kept in r (r->route, r->routed): a request
 * is matched once, so r must start zeroed. */
int hks_route_json(hks_req *r, hks_resp *resp, int classify_only);

/* Live figures for /hektor/events (events.c). */
void hks_events_init(void);
void hks_events_observe(hks_class cls, int status, double seconds);
void hks_events_write(hk_db *db, hk_buf *out); /* one JSON object */
/* Sleeps up to seconds; returns nonzero (at once when called) once hks_events_stop ran. */
int hks_events_wait(double seconds);
void hks_events_stop(void);
void hks_memory(uint64_t *rss, uint64_t *anon);

/* The OpenAPI 3.0 document of every route (openapi.c). */
void hks_openapi_write(hk_buf *out);

/* Metrics (metrics.c). */
void hks_metrics_init(void);
void hks_metrics_observe(hks_class cls, int status, double seconds);
void hks_metrics_render(hk_db *db, hk_buf *out);
const char *hks_class_name(hks_class c);

#endif
