/*
 * server.h — `hektor serve`: an HTTP/1.1 front end over one open database.
 *
 * The server is thin: it parses requests, calls hektor.h and writes responses. What
 * another front end would also need lives in the library. Internals shared by the files
 * of src/server are in server_int.h.
 */
#ifndef HK_SERVER_H
#define HK_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "hektor.h"

#define HKS_DEFAULT_MAX_BODY (64u << 20) /* bytes of one request body */
/* Points a collection needs before its requested quantization is trained: 8-bit PQ fits
 * 256 centroids per sub-quantizer, and k-means wants about 39 points per centroid
 * (9,984) to place them well; scalar ranges are clipped at quantiles of the sample. */
#define HKS_DEFAULT_QUANTIZE_MIN_POINTS 10000u

typedef struct hks_options {
    const char *host;          /* IPv4 or IPv6 address to listen on; NULL = 127.0.0.1 */
    unsigned port;             /* 0 = a free port chosen by the system */
    const char *api_key;       /* NULL = no authentication */
    const char *read_only_key; /* NULL = none; allows the routes that change nothing */
    size_t max_body;           /* 0 = HKS_DEFAULT_MAX_BODY */
    unsigned max_connections;  /* 0 = 1024 */
    const char *studio_dir;    /* the Studio's built files, served under /studio/; NULL or a
                                  directory without index.html = none (404 saying so) */
    uint64_t quantize_min_points; /* points before a requested quantization is trained;
                                     0 = HKS_DEFAULT_QUANTIZE_MIN_POINTS */
    unsigned busy_poll_us;     /* 0 = off. Else after sending a response the connection's
                                  thread waits for that connection's next request spinning
                                  (non-blocking peeks) for at most this many microseconds
                                  before it sleeps; one thread spins at a time */
} hks_options;

/* Serves db until SIGINT or SIGTERM, then stops accepting, lets the requests in flight
 * finish and returns 0 (the caller closes db). Prints "hektor: serving http://HOST:PORT"
 * on stdout once it listens, and one line per request on stderr. Returns nonzero after
 * printing why when it cannot start. */
int hks_serve(hk_db *db, const hks_options *o);

#endif
