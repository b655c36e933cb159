/*
 * http.c — the daemon: libmicrohttpd set-up, request intake (body size limit, JSON is
 * parsed by the routes), authentication, the service routes (/, /healthz, /readyz,
 * /metrics, /openapi.json), the event stream (/hektor/events), the Studio's static files
 * (/studio/), the request log, and graceful shutdown.
 *
 * Decisions:
 *  - One thread per connection (MHD_USE_THREAD_PER_CONNECTION): handlers call the library,
 *    which may block on a durable write, a request may wait for a job (?wait=true) and an
 *    event stream waits between messages; a blocked handler then holds only its own
 *    connection. Keep-alive is HTTP/1.1's default and libmicrohttpd's. A thread pool with
 *    epoll (MHD_USE_EPOLL_INTERNAL_THREAD, MHD_OPTION_THREAD_POOL_SIZE 2 or 4, with and
 *    without MHD_USE_TURBO) was measured against it with bench_server's load (searches at
 *    1, 16 and 100 connections, durable upserts at 1 and 100, three alternating runs of
 *    each on a shared 2-core VM): at 1 and 16 connections the medians differed by less
 *    than the spread between runs, in both directions; at 100 the pool's search p50 was
 *    two to three times worse and its upserts slower. And every one of those waits would
 *    block all the connections of a pool thread. The connection threads wait with poll(), not select(), so a descriptor
 *    numbered past FD_SETSIZE (1024; raised file limits, many collections) is served too.
 *  - A body over the limit is refused with 413 before it is read when Content-Length
 *    announces it, else as soon as the bytes received pass the limit (the rest is
 *    discarded unread by closing the connection after the answer).
 *  - Shutdown: SIGINT/SIGTERM have a handler that writes the signal's number into a
 *    pipe the serving thread reads. Not sigwait: threads started before the server blocks
 *    the signals (OpenBLAS starts its pool when the library loads) keep them unblocked,
 *    and the kernel may hand them one, whose default action killed the process (a rare
 *    exit by SIGINT in CI); with a handler installed any thread may take the signal. The
 *    server's own threads still start with them blocked. The serving thread then stops
 *    accepting (MHD_quiesce_daemon), answers new
 *    requests on open connections with 503 and closes them, waits for the requests in
 *    flight (at most 30 s), stops the daemon and returns so the caller closes the
 *    database, which checkpoints it.
 *  - The event stream is a response from a callback: the connection's thread writes a
 *    message, then waits for the next on a condition that shutdown signals (events.c),
 *    so a stream holds no thread of its own and never delays the shutdown; a client
 *    that left is found by the next write, after which libmicrohttpd closes it.
 *  - Studio files are sent from their descriptors, only when their real path is inside
 *    the Studio directory.
 *  - The request log's line is assembled when the response is queued and written by the
 *    completion callback, after libmicrohttpd has sent it: the write no longer sits
 *    between a search and its answer. Numbers in the envelope and the log are written
 *    without printf (its float formatting was a measurable share of a search's time).
 *  - --busy-poll-us (off by default): after a response the connection's thread peeks at
 *    its socket, without sleeping, for the next request (busy_poll below), because waking
 *    a sleeping thread on a virtual machine costs as much as a search.
 *  - Keys are compared in constant time; /healthz, /readyz, / (load balancers and Qdrant
 *    clients' version check), /openapi.json and the Studio's files (a browser loads the
 *    application before it has a key) need no key, everything else does when one is set.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs.h"
#include "route.h"

#define MAX_SEGMENTS 16

typedef struct hks_server {
    hk_db *db;
    hks_options o;
    char studio_real[PATH_MAX]; /* realpath of o.studio_dir when it holds index.html */
    atomic_int inflight;
    atomic_int stopping;
    atomic_int spinning; /* a connection thread is busy-polling (--busy-poll-us) */
} hks_server;

/* Per-request state kept by libmicrohttpd between calls of the access handler. */
typedef struct conn_state {
    hk_buf body;
    double t0;
    int too_large;
    int closing;    /* the connection closes after this response: no busy polling */
    size_t log_len; /* the request log's line, written once the response is sent */
    char log[1024];
} conn_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes x >= 0 with `places` decimals (rounded half up) into o; returns the length. Not
 * printf: its "%.6f" was a measurable share of a search's time in the server. */
static size_t fixed_point(char *o, double x, int places) {
    static const double scale[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    uint64_t v = x > 0 && x < 1e12 ? (uint64_t)(x * scale[places] + 0.5) : 0;
    char dig[32];
    int n = 0;
    do {
        dig[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n <= places);
    size_t len = 0;
    for (int i = n - 1; i >= 0; i--) {
        o[len++] = dig[i];
        if (i == places && places) o[len++] = '.';
    }
    return len;
}

static void put_time(hk_buf *b, double seconds) {
    char num[40];
    hk_buf_puts(b, ",\"time\":");
    hk_buf_append(b, num, fixed_point(num, seconds, 6));
    hk_buf_putc(b, '}');
}

void hks_ok(hks_resp *resp, int status, const char *result_json, size_t len, double seconds) {
    resp->status = status;
    hk_buf_reset(&resp->body);
    hk_buf_reserve(&resp->body, len + 64); /* the envelope in one allocation */
    hk_buf_puts(&resp->body, "{\"result\":");
    hk_buf_append(&resp->body, result_json, len);
    hk_buf_puts(&resp->body, ",\"status\":\"ok\"");
    put_time(&resp->body, seconds);
}

void hks_error(hks_resp *resp, int status, const char *msg, double seconds) {
    resp->status = status;
    resp->content_type = NULL;
    hk_buf_reset(&resp->body);
    hk_buf_puts(&resp->body, "{\"status\":{\"error\":");
    hj_write_string(&resp->body, msg, strlen(msg));
    hk_buf_puts(&resp->body, "}");
    put_time(&resp->body, seconds);
}

static int key_eq(const char *given, const char *want) {
    size_t gl = strlen(given), wl = strlen(want);
    unsigned diff = gl != wl;
    for (size_t i = 0; i < wl; i++) diff |= (unsigned)(unsigned char)want[i] ^
                                            (unsigned)(unsigned char)(i < gl ? given[i] : 0);
    return diff == 0;
}

/* 0 when allowed, else the status (401/403) with the message in resp. */
static int check_auth(hks_server *s, hks_req *r, hks_resp *resp, double t0) {
    if (!s->o.api_key && !s->o.read_only_key) return 0;
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "api-key");
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!key && auth && !strncasecmp(auth, "Bearer ", 7)) key = auth + 7;
    /* A browser's EventSource cannot send headers: the stream also takes ?api_key=. */
    if (!key && !strcmp(r->path, "/hektor/events"))
        key = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "api_key");
    if (!key) {
        hks_error(resp, 401, "Must provide an API key or an Authorization bearer token "
                             "(header 'api-key: KEY' or 'Authorization: Bearer KEY')", now_s() - t0);
        return 401;
    }
    if (s->o.api_key && key_eq(key, s->o.api_key)) return 0;
    if (s->o.read_only_key && key_eq(key, s->o.read_only_key)) {
        if (!r->is_write) return 0;
        hks_error(resp, 403, "Forbidden: the read-only API key cannot change data", now_s() - t0);
        return 403;
    }
    hks_error(resp, 401, "Invalid API key", now_s() - t0);
    return 401;
}

/* ---- service routes, the event stream, static files ---- */

#define SV HKS_CLASS_SERVICE
const hks_route hks_service_routes[] = {
    {"GET", "/", NULL, SV, 0, "Version document (browsers asking for text/html are redirected "
     "to /studio/)", NULL, "Version", NULL},
    {"GET", "/healthz", NULL, SV, 0, "Liveness: ok", NULL, "Text", NULL},
    {"GET", "/livez", NULL, SV, 0, "Liveness: ok", NULL, "Text", NULL},
    {"GET", "/readyz", NULL, SV, 0, "Readiness: ok", NULL, "Text", NULL},
    {"GET", "/metrics", NULL, SV, 0, "Prometheus metrics", NULL, "Text", NULL},
    {"GET", "/openapi.json", NULL, SV, 0, "This document", NULL, "OpenAPI", NULL},
    {"GET", "/hektor/events", NULL, SV, 0, "Server-Sent Events: one 'stats' event every "
     "interval_ms", NULL, "EventStream", "interval_ms,api_key"},
    {"GET", "/studio/{path}", NULL, SV, 0, "The Studio's static files", NULL, "File", NULL},
};
#undef SV
const size_t hks_service_nroutes = sizeof hks_service_routes / sizeof *hks_service_routes;

/* One Server-Sent Events stream: the message being sent and the pacing. */
typedef struct sse {
    hk_db *db;
    double interval;
    int first;
    hk_buf msg;
    size_t pos;
} sse;

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse *e = cls;
    if (e->pos == e->msg.len) {
        if (!e->first && hks_events_wait(e->interval)) return MHD_CONTENT_READER_END_OF_STREAM;
        if (e->first && hks_events_wait(0)) return MHD_CONTENT_READER_END_OF_STREAM;
        e->first = 0;
        hk_buf_reset(&e->msg);
        hk_buf_puts(&e->msg, "event: stats\ndata: ");
        hks_events_write(e->db, &e->msg);
        hk_buf_puts(&e->msg, "\n\n");
        e->pos = 0;
    }
    size_t n = e->msg.len - e->pos;
    if (n > max) n = max;
    memcpy(buf, e->msg.data + e->pos, n);
    e->pos += n;
    return (ssize_t)n;
}

static void sse_free(void *cls) {
    sse *e = cls;
    hk_buf_free(&e->msg);
    hk_free(e);
}

static void events_route(hks_server *s, hks_req *r, hks_resp *resp, double t0) {
    const char *iv = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "interval_ms");
    double ms = 500;
    if (iv) {
        char *end;
        ms = strtod(iv, &end);
        if (end == iv || *end || !(ms == ms)) {
            hks_error(resp, 400, "Wrong input: 'interval_ms' must be a number of milliseconds "
                                 "(100 to 10000)", now_s() - t0);
            return;
        }
        if (ms < 100) ms = 100;
        if (ms > 10000) ms = 10000;
    }
    sse *e = hk_malloc(sizeof *e);
    if (!e) {
        hks_error(resp, 500, "Service internal error: out of memory", now_s() - t0);
        return;
    }
    e->db = s->db;
    e->interval = ms / 1e3;
    e->first = 1;
    e->pos = 0;
    hk_buf_init(&e->msg);
    struct MHD_Response *mr =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, e, sse_free);
    if (!mr) {
        sse_free(e);
        hks_error(resp, 500, "Service internal error: cannot create the stream", now_s() - t0);
        return;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    resp->status = 200;
    resp->mhd = mr;
}

static const char *mime_type(const char *path) {
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"}, {".map", "application/json"},
        {".svg", "image/svg+xml"}, {".png", "image/png"}, {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".gif", "image/gif"}, {".ico", "image/x-icon"},
        {".webp", "image/webp"}, {".woff", "font/woff"}, {".woff2", "font/woff2"},
        {".ttf", "font/ttf"}, {".wasm", "application/wasm"}, {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof *types; i++)
            if (!strcasecmp(dot, types[i][0])) return types[i][1];
    return "application/octet-stream";
}

/* Opens root/rel when it is a regular file inside root (after symlinks); -1 otherwise. */
static int open_inside(const char *root_real, const char *rel, struct stat *sb) {
    char path[PATH_MAX], real[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", root_real, rel) >= sizeof path) return -1;
    if (!realpath(path, real)) return -1;
    size_t rl = strlen(root_real);
    if (strncmp(real, root_real, rl) || real[rl] != '/') return -1;
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (fstat(fd, sb) || !S_ISREG(sb->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void studio_route(hks_server *s, hks_req *r, hks_resp *resp, double t0) {
    const char *p = r->path;
    if (!strcmp(p, "/studio")) {
        resp->status = 302;
        resp->location = "/studio/";
        return;
    }
    const char *rel = p + strlen("/studio/");
    /* libmicrohttpd has decoded %2e%2e already: refuse any ".." segment outright. */
    for (const char *q = rel; *q;) {
        const char *e = strchr(q, '/');
        size_t len = e ? (size_t)(e - q) : strlen(q);
        if (len == 2 && q[0] == '.' && q[1] == '.') {
            hks_error(resp, 400, "Wrong input: '..' is not allowed in a Studio path", now_s() - t0);
            return;
        }
        q += len + (e ? 1 : 0);
    }
    if (!s->studio_real[0]) {
        char msg[PATH_MAX + 256];
        snprintf(msg, sizeof msg, "Not found: the Studio is not built%s%s (build it with "
                 "`cd studio && npm ci && npm run build`, or start the server with --studio DIR)",
                 s->o.studio_dir ? " in " : "", s->o.studio_dir ? s->o.studio_dir : "");
        hks_error(resp, 404, msg, now_s() - t0);
        return;
    }
    struct stat sb;
    const char *served = *rel ? rel : "index.html";
    int fd = open_inside(s->studio_real, served, &sb);
    if (fd < 0) {
        /* Client-side routes (no extension) get the application itself. */
        const char *last = strrchr(rel, '/');
        last = last ? last + 1 : rel;
        if (!strchr(last, '.')) fd = open_inside(s->studio_real, served = "index.html", &sb);
    }
    if (fd < 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "Not found: no Studio file %.160s", p);
        hks_error(resp, 404, msg, now_s() - t0);
        return;
    }
    struct MHD_Response *mr = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!mr) {
        close(fd);
        hks_error(resp, 500, "Service internal error: cannot send the file", now_s() - t0);
        return;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, mime_type(served));
    /* Hashed asset names may be cached; index.html must be revalidated. */
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CACHE_CONTROL,
                            strstr(served, "assets/") ? "public, max-age=31536000, immutable"
                                                      : "no-cache");
    resp->status = 200;
    resp->mhd = mr;
}

static int wants_html(hks_req *r) {
    const char *accept = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Accept");
    return accept && strstr(accept, "text/html");
}

/* The routes answered here; 1 when the path is one of them. */
static int service_route(hks_server *s, hks_req *r, hks_resp *resp, double t0) {
    const char *p = r->path;
    int get = !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
    int studio = !strcmp(p, "/studio") || !strncmp(p, "/studio/", 8);
    size_t i = 0;
    while (i < hks_service_nroutes && strcmp(p, hks_service_routes[i].path)) i++;
    if (i == hks_service_nroutes && !studio) return 0;
    r->cls = HKS_CLASS_SERVICE;
    if (!get) {
        hks_error(resp, 405, "Method not allowed: use GET", now_s() - t0);
        return 1;
    }
    if (!strcmp(p, "/")) {
        if (wants_html(r)) {
            resp->status = 302;
            resp->location = "/studio/";
            return 1;
        }
        resp->status = 200;
        hk_buf_puts(&resp->body, "{\"title\":\"hektor - vector search engine\",\"version\":\"");
        hk_buf_puts(&resp->body, HEKTOR_VERSION "\"}");
    } else if (studio) {
        studio_route(s, r, resp, t0);
    } else if (!strcmp(p, "/metrics")) {
        if (check_auth(s, r, resp, t0)) return 1;
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        hks_metrics_render(s->db, &resp->body);
        uint64_t rss, anon;
        hks_memory(&rss, &anon);
        hk_buf_printf(&resp->body,
                      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                      "# TYPE process_resident_memory_bytes gauge\n"
                      "process_resident_memory_bytes %llu\n", (unsigned long long)rss);
    } else if (!strcmp(p, "/openapi.json")) {
        resp->status = 200;
        hks_openapi_write(&resp->body);
    } else if (!strcmp(p, "/hektor/events")) {
        if (check_auth(s, r, resp, t0)) return 1;
        events_route(s, r, resp, t0);
    } else {
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        hk_buf_puts(&resp->body, "ok\n");
    }
    return 1;
}

int hks_split_path(hks_req *r) {
    static char *none[1];
    r->seg = none;
    r->nseg = 0;
    char *copy = hk_arena_strndup(&r->arena, r->path, strlen(r->path));
    char **seg = hk_arena_alloc(&r->arena, MAX_SEGMENTS * sizeof *seg);
    if (!copy || !seg) return 0;
    r->seg = seg;
    for (char *save = NULL, *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (r->nseg == MAX_SEGMENTS) return 0;
        seg[r->nseg++] = t;
    }
    return 1;
}

static void dispatch(hks_server *s, hks_req *r, hks_resp *resp, double t0) {
    if (service_route(s, r, resp, t0)) return;
    if (!hks_split_path(r)) {
        hks_error(resp, 404, "Not found: the path has too many segments", now_s() - t0);
        return;
    }
    if (!hks_route_json(r, resp, 1)) {
        char msg[256];
        snprintf(msg, sizeof msg, "Not found: no route for %s %.160s", r->method, r->path);
        hks_error(resp, 404, msg, now_s() - t0);
        return;
    }
    if (check_auth(s, r, resp, t0)) return;
    hks_route_json(r, resp, 0);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, hks_resp *resp, int close_after) {
    struct MHD_Response *mr = resp->mhd;
    resp->mhd = NULL;
    if (!mr) {
        size_t len;
        uint8_t *data = hk_buf_detach(&resp->body, &len);
        mr = MHD_create_response_from_buffer_with_free_callback(len, data, hk_free);
        if (!mr) {
            hk_free(data);
            return MHD_NO;
        }
        if (resp->status != 302)
            MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    resp->content_type ? resp->content_type : "application/json");
    }
    if (resp->location) MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, resp->location);
    if (close_after) MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* The stop signals' handler: their number into g_stop_pipe (async-signal-safe). */
static int g_stop_pipe[2] = {-1, -1};

static void on_stop_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t w = write(g_stop_pipe[1], &b, 1);
    (void)w;
    errno = saved;
}

/* The request log's line, "hektor: METHOD URL STATUS MS ms\n", into line (cap bytes);
 * its length, or 0 when it does not fit. Assembled here rather than by fprintf, whose
 * formatting of the milliseconds cost more than the rest of the line. */
static size_t log_line(char *line, size_t cap, const char *method, const char *url, int status,
                       double ms) {
    size_t ml = strlen(method), ul = strlen(url), len = 8;
    if (ml + ul + 64 > cap || status < 100 || status > 999) return 0;
    memcpy(line, "hektor: ", 8);
    memcpy(line + len, method, ml);
    len += ml;
    line[len++] = ' ';
    memcpy(line + len, url, ul);
    len += ul;
    line[len++] = ' ';
    line[len++] = (char)('0' + status / 100);
    line[len++] = (char)('0' + status / 10 % 10);
    line[len++] = (char)('0' + status % 10);
    line[len++] = ' ';
    len += fixed_point(line + len, ms, 3);
    memcpy(line + len, " ms\n", 4);
    return len + 4;
}

/* The request's line is written by on_completed, once libmicrohttpd has sent the
 * response: the write to the log (a file or a pipe) then no longer delays the answer. A
 * line too long for conn_state's buffer is written at once. */
static enum MHD_Result finish(struct MHD_Connection *conn, conn_state *cs, const char *method,
                              const char *url, hks_resp *resp, hks_class cls, int close_after) {
    double secs = now_s() - cs->t0;
    hks_metrics_observe(cls, resp->status, secs);
    hks_events_observe(cls, resp->status, secs);
    cs->log_len = log_line(cs->log, sizeof cs->log, method, url, resp->status, secs * 1e3);
    if (!cs->log_len)
        fprintf(stderr, "hektor: %s %s %d %.3f ms\n", method, url, resp->status, secs * 1e3);
    if (close_after) cs->closing = 1;
    enum MHD_Result ret = send_resp(conn, resp, close_after);
    hk_buf_free(&resp->body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    hks_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = hk_malloc(sizeof *cs))) return MHD_NO;
        memset(cs, 0, sizeof *cs);
        hk_buf_init(&cs->body);
        cs->t0 = now_s();
        if (s->o.busy_poll_us) { /* HTTP/1.0 or "Connection: close": no next request */
            const char *ch = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
            cs->closing = !version || strcmp(version, MHD_HTTP_VERSION_1_1) != 0 ||
                          (ch && strcasestr(ch, "close"));
        }
        atomic_fetch_add(&s->inflight, 1);
        *con_cls = cs;
        if (atomic_load(&s->stopping)) {
            /* New requests on kept-alive connections while stopping: refuse and close,
             * so the requests in flight drain. */
            hks_resp resp = {0};
            hks_error(&resp, 503, "Service unavailable: the server is shutting down", 0);
            return finish(conn, cs, method, url, &resp, HKS_CLASS_UNKNOWN, 1);
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        size_t max = s->o.max_body;
        if (cl && strtoull(cl, NULL, 10) > max) {
            hks_resp resp = {0};
            char msg[160];
            snprintf(msg, sizeof msg, "Payload too large: the body has %.20s bytes; the limit is %zu",
                     cl, max);
            hks_error(&resp, 413, msg, now_s() - cs->t0);
            return finish(conn, cs, method, url, &resp, HKS_CLASS_UNKNOWN, 1);
        }
        /* The announced body in one allocation (a failure here shows at the append), up
         * to 1 MiB: beyond that it grows as bytes arrive, so a header alone (before
         * authentication) cannot make the server reserve max_body per connection. */
        if (cl) {
            unsigned long long want = strtoull(cl, NULL, 10);
            hk_buf_reserve(&cs->body, (size_t)(want < (1u << 20) ? want : (1u << 20)));
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_large) {
            if (cs->body.len + *upload_data_size > s->o.max_body) {
                cs->too_large = 1;
                hk_buf_free(&cs->body);
            } else if (hk_buf_append(&cs->body, upload_data, *upload_data_size)) {
                return MHD_NO;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    hks_resp resp = {0};
    hk_buf_init(&resp.body);
    if (cs->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg, "Payload too large: the body passes the limit of %zu bytes",
                 s->o.max_body);
        hks_error(&resp, 413, msg, now_s() - cs->t0);
        return finish(conn, cs, method, url, &resp, HKS_CLASS_UNKNOWN, 1);
    }
    hks_req r = {0};
    r.db = s->db;
    r.method = method;
    r.path = url;
    r.conn = conn;
    r.body = cs->body.len ? hk_buf_cstr(&cs->body) : "";
    r.body_len = cs->body.len;
    r.body_buf = &cs->body;
    hk_arena_init(&r.arena);
    dispatch(s, &r, &resp, cs->t0);
    if (!resp.status) hks_error(&resp, 500, "Service internal error: no response", now_s() - cs->t0);
    hks_class c = r.cls;
    hk_arena_reset(&r.arena);
    return finish(conn, cs, method, url, &resp, c, 0);
}

/* --busy-poll-us: called on the connection's thread once a response is sent, before
 * libmicrohttpd goes back to poll() the connection. Peeks at the socket without blocking
 * until the next request's first bytes arrive or the time is up, so that poll() finds
 * them ready instead of putting the thread to sleep: a sleeping thread on a virtual
 * machine takes tens of microseconds to wake. Bounded twice: at most busy_poll_us per
 * response, and by one thread at a time (the others sleep as usual), so it costs at most
 * one core. The data stays in the socket for libmicrohttpd to read. */
static void busy_poll(hks_server *s, struct MHD_Connection *conn) {
    if (atomic_load(&s->stopping) || atomic_exchange(&s->spinning, 1)) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        double end = now_s() + s->o.busy_poll_us * 1e-6;
        char c;
        do {
            ssize_t r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
        } while (now_s() < end);
    }
    atomic_store(&s->spinning, 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    hks_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) return;
    if (cs->log_len) {
        ssize_t w = write(STDERR_FILENO, cs->log, cs->log_len); /* stderr is unbuffered */
        (void)w;
    }
    int closing = cs->closing;
    atomic_fetch_sub(&s->inflight, 1);
    hk_buf_free(&cs->body);
    hk_free(cs);
    *con_cls = NULL;
    if (s->o.busy_poll_us && !closing && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) busy_poll(s, conn);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("hektor: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

typedef struct requested_arg {
    hk_db *db;
    atomic_int *stop;
} requested_arg;

static void *requested_main(void *arg) {
    requested_arg *ra = arg;
    hkr_quantize_requested_all(ra->db, ra->stop);
    return NULL;
}

int hks_serve(hk_db *db, const hks_options *opt) {
    hks_server s;
    memset(&s, 0, sizeof s);
    s.db = db;
    s.o = *opt;
    if (!s.o.host) s.o.host = "127.0.0.1";
    if (!s.o.max_body) s.o.max_body = HKS_DEFAULT_MAX_BODY;
    if (!s.o.max_connections) s.o.max_connections = 1024;
    if (s.o.port > 65535) {
        fprintf(stderr, "hektor: error: port %u is out of range (0 to 65535)\n", s.o.port);
        return 1;
    }
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, s.o.host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)s.o.port);
        addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, s.o.host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)s.o.port);
        addr = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "hektor: error: --host '%s' is not an IPv4 or IPv6 address\n", s.o.host);
        return 1;
    }
    hks_metrics_init();
    hks_events_init();
    hks_jobs_init(db);
    hkr_set_quantize_min_points(s.o.quantize_min_points ? s.o.quantize_min_points
                                                        : HKS_DEFAULT_QUANTIZE_MIN_POINTS);
    if (s.o.studio_dir) {
        char index[PATH_MAX + 16];
        struct stat sb;
        if (realpath(s.o.studio_dir, s.studio_real) &&
            (size_t)snprintf(index, sizeof index, "%s/index.html", s.studio_real) < sizeof index &&
            !stat(index, &sb) && S_ISREG(sb.st_mode))
            fprintf(stderr, "hektor: serving the Studio from %s\n", s.studio_real);
        else
            s.studio_real[0] = 0;
    }
    /* The server's threads start with the stop signals blocked; the handler (see the
     * top of the file) wakes this thread through a pipe, whichever thread takes them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (g_stop_pipe[0] < 0 && pipe(g_stop_pipe)) {
        fprintf(stderr, "hektor: error: cannot make a pipe: %s\n", strerror(errno));
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
        return 1;
    }
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)s.o.port, NULL, NULL, on_request, &s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_CONNECTION_LIMIT,
        s.o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "hektor: error: cannot listen on %s port %u: %s\n", s.o.host, s.o.port,
                strerror(errno));
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
        return 1;
    }
    /* Requested quantizations are queued once the server listens, from a thread of its own
     * (it opens every collection), started while the stop signals are still blocked. */
    requested_arg ra = {db, &s.stopping};
    pthread_t rq;
    int rq_started = pthread_create(&rq, NULL, requested_main, &ra) == 0;
    if (!rq_started) requested_main(&ra);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : s.o.port;
    printf("hektor: serving http://%s%s%s:%u\n", addr->sa_family == AF_INET6 ? "[" : "",
           s.o.host, addr->sa_family == AF_INET6 ? "]" : "", port);
    fflush(stdout);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    unsigned char b = 0;
    while (read(g_stop_pipe[0], &b, 1) != 1) {}
    int sig = b;
    atomic_store(&s.stopping, 1);
    fprintf(stderr, "hektor: %s received: finishing requests in flight\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (rq_started) pthread_join(rq, NULL); /* it stops at the next collection */
    /* Event streams end and jobs stop at their next check (requests waiting for a job
     * then answer with it cancelled), so neither holds the shutdown. */
    hks_events_stop();
    hks_jobs_cancel_all();
    MHD_socket ls = MHD_quiesce_daemon(d);
    for (int i = 0; i < 3000 && atomic_load(&s.inflight) > 0; i++) usleep(10000);
    MHD_stop_daemon(d);
    hks_jobs_shutdown();
    hkr_shutdown();
    if (ls != MHD_INVALID_SOCKET) close(ls);
    /* A second signal during the shutdown only wrote into the pipe; from here the
     * defaults apply again. */
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return 0;
}
