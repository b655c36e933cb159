/*
 * fuzz_router.c — libFuzzer target for the server's JSON router (Qdrant's routes and
 * HEKTOR's own) without sockets: the input is a method byte, a path line, a query line
 * (name=value&...) and a body, answered against a small database made at start (a
 * 4-dimensional collection with points, payloads and text, and a text-only one).
 *
 * Every answer must be a status from 200 to 599 whose body is JSON in Qdrant's envelope
 * (or raw bytes for a file). Routes that start background jobs (import, quantize) are
 * left out: their work runs in another thread, and their parsers have targets of their
 * own (fuzz_reader_*).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "server/jobs.h"
#include "server/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static hk_db *g_db;
static char g_dir[] = "/tmp/fuzz_router.XXXXXX";

/* The database is scratch: removed when the fuzzer exits. */
static void cleanup(void) {
    hks_jobs_shutdown();
    hk_db_close(g_db);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz_router: could not remove %s\n", g_dir);
}

static void seed_collection(const char *name, uint32_t dim, uint32_t flags) {
    hk_collection_config cfg;
    hk_collection_config_init(&cfg);
    cfg.dim = dim;
    cfg.text_flags = flags;
    hk_collection *c;
    if (hk_collection_create(g_db, name, &cfg, &c)) abort();
    hk_point pts[64];
    float vecs[64][4];
    char pay[64][48], text[64][48];
    static const char *const words[] = {"red", "green", "blue", "black"};
    for (int i = 0; i < 64; i++) {
        for (int d = 0; d < 4; d++) vecs[i][d] = (float)((i * 7 + d * 3) % 11) - 5.0f;
        snprintf(pay[i], sizeof pay[i], "{\"group\":%d,\"tag\":\"%s\"}", i % 4, words[i % 4]);
        snprintf(text[i], sizeof text[i], "%s %s stone", words[i % 4], words[(i / 4) % 4]);
        memset(&pts[i], 0, sizeof pts[i]);
        pts[i].id = (uint64_t)i;
        pts[i].vector = dim ? vecs[i] : NULL;
        pts[i].payload = pay[i];
        pts[i].text = text[i];
    }
    if (hk_upsert(c, pts, 64, NULL)) abort();
    hk_collection_close(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (!mkdtemp(g_dir)) abort();
    hk_db_options o;
    hk_db_options_init(&o);
    o.flags = HK_OPEN_CREATE | HK_OPEN_NOSYNC;
    o.threads = 1;
    if (hk_db_open(g_dir, &o, &g_db)) abort();
    seed_collection("v", 4, 0);
    seed_collection("t", 0, HK_TEXT_ONLY);
    hks_jobs_init(g_db);
    atexit(cleanup);
    return 0;
}

static const char *take_line(const char **p, const char *end, size_t *len) {
    const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
    *len = nl ? (size_t)(nl - s) : (size_t)(end - s);
    *p = nl ? nl + 1 : end;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
    if (size < 1) return 0;
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t plen, qlen;
    const char *path = take_line(&p, end, &plen), *query = take_line(&p, end, &qlen);
    if (plen == 0 || plen > 512 || qlen > 512 || memchr(path, 0, plen) || memchr(query, 0, qlen))
        return 0;
    char pbuf[520], qbuf[520];
    memcpy(pbuf, path, plen);
    pbuf[plen] = 0;
    memcpy(qbuf, query, qlen);
    qbuf[qlen] = 0;
    if (strstr(pbuf, "import") || strstr(pbuf, "quantize")) return 0;
    /* name=value&... into pairs (at most 8). */
    const char *args[17];
    size_t na = 0;
    for (char *save = NULL, *t = strtok_r(qbuf, "&", &save); t && na < 16; t = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(t, '=');
        if (eq) *eq = 0;
        args[na++] = t;
        args[na++] = eq ? eq + 1 : "";
    }
    args[na] = NULL;
    hk_buf body;
    hk_buf_init(&body);
    if (hk_buf_append(&body, p, (size_t)(end - p))) return 0;
    hks_req r;
    memset(&r, 0, sizeof r);
    r.db = g_db;
    r.method = methods[data[0] % 5];
    r.path = pbuf;
    r.args = args;
    /* Every request carries a multipart type, so snapshot uploads parse the fuzzed body. */
    static const char *const headers[] = {"Content-Type", "multipart/form-data; boundary=b0", NULL};
    r.headers = headers;
    r.body = body.len ? hk_buf_cstr(&body) : "";
    r.body_len = body.len;
    r.body_buf = &body;
    hk_arena_init(&r.arena);
    hks_resp resp;
    memset(&resp, 0, sizeof resp);
    hk_buf_init(&resp.body);
    if (hks_split_path(&r) && hks_route_json(&r, &resp, 0)) {
        if (resp.status < 200 || resp.status > 599) abort();
        if (resp.mhd) MHD_destroy_response(resp.mhd); /* a file (snapshot download) */
        else if (!resp.content_type) {
            hj_value *v;
            hk_arena a;
            hk_arena_init(&a);
            if (hj_parse((const char *)resp.body.data, resp.body.len, &a, &v) || v->type != HJ_OBJECT ||
                !hj_get(v, "status") || !hj_get(v, "time"))
                abort();
            hk_arena_reset(&a);
        }
    }
    hk_buf_free(&resp.body);
    hk_arena_reset(&r.arena);
    hk_buf_free(&body);
    return 0;
}
