/*
 * cmd_serve.c — `hektor serve`: opens the database for writing (creating it when absent),
 * runs the HTTP server (src/server) until SIGINT or SIGTERM, then closes the database,
 * which checkpoints every collection with unsaved log records.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "server/server.h"

/* The default Studio directory: studio/dist in the source tree the binary was built in
 * (the binary is build/hektor, so ../studio/dist from it), else in the current directory;
 * NULL when neither holds index.html. */
static const char *default_studio(char *buf, size_t size) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat sb;
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            char index[PATH_MAX + 64];
            if ((size_t)snprintf(index, sizeof index, "%s/../studio/dist/index.html", exe) <
                    sizeof index &&
                !stat(index, &sb) && strlen(index) - strlen("/index.html") < size) {
                index[strlen(index) - strlen("/index.html")] = 0;
                memcpy(buf, index, strlen(index) + 1);
                return buf;
            }
        }
    }
    if (!stat("studio/dist/index.html", &sb)) return "studio/dist";
    return NULL;
}

int cmd_serve(cli_ctx *ctx, int argc, char **argv) {
    const char *host = "127.0.0.1", *port_s = NULL, *key = NULL, *ro_key = NULL, *max_body_s = NULL,
               *studio = NULL, *qmin_s = NULL, *busy_s = NULL;
    cli_opt opts[] = {{"--host", &host, NULL},        {"--port", &port_s, NULL},
                      {"--api-key", &key, NULL},      {"--read-only-key", &ro_key, NULL},
                      {"--max-body", &max_body_s, NULL}, {"--studio", &studio, NULL},
                      {"--quantize-min-points", &qmin_s, NULL}, {"--busy-poll-us", &busy_s, NULL},
                      {NULL, NULL, NULL}};
    char *pos[1];
    int npos, rc = cli_parse("serve", argc, argv, opts, pos, &npos, 0);
    if (rc) return rc;
    hks_options o;
    memset(&o, 0, sizeof o);
    o.host = host;
    o.port = 6333;
    if (port_s && (!cli_parse_u32(port_s, &o.port) || o.port > 65535))
        return cli_usage("serve", "--port must be an integer from 0 to 65535, not '%s'", port_s);
    if (!key) key = getenv("HEKTOR_API_KEY");
    if (key && !*key) return cli_usage("serve", "--api-key must not be empty");
    if (ro_key && !*ro_key) return cli_usage("serve", "--read-only-key must not be empty");
    if (key && ro_key && !strcmp(key, ro_key))
        return cli_usage("serve", "--api-key and --read-only-key must differ");
    char studio_buf[PATH_MAX + 32];
    if (studio) {
        struct stat sb;
        if (stat(studio, &sb) || !S_ISDIR(sb.st_mode))
            return cli_usage("serve", "--studio '%s' is not a directory", studio);
    } else {
        studio = default_studio(studio_buf, sizeof studio_buf);
    }
    o.studio_dir = studio;
    o.api_key = key;
    o.read_only_key = ro_key;
    if (max_body_s) {
        uint64_t mb;
        if (!cli_parse_u64(max_body_s, &mb) || mb < 1024 || mb > (1ull << 32))
            return cli_usage("serve", "--max-body must be a byte count from 1024 to 4294967296, "
                             "not '%s'", max_body_s);
        o.max_body = (size_t)mb;
    }
    if (qmin_s) {
        uint64_t n;
        if (!cli_parse_u64(qmin_s, &n) || n < 1 || n > (1ull << 40))
            return cli_usage("serve", "--quantize-min-points must be an integer from 1 to "
                             "1099511627776, not '%s'", qmin_s);
        o.quantize_min_points = n;
    }
    if (busy_s && (!cli_parse_u32(busy_s, &o.busy_poll_us) || o.busy_poll_us > 10000))
        return cli_usage("serve", "--busy-poll-us must be a number of microseconds from 0 to "
                         "10000, not '%s'", busy_s);
    /* Block the stop signals before opening the database starts the worker pool, so the
     * server's threads start with them blocked (hks_serve takes them with a handler). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    hk_db *db;
    hk_status st = cli_open_db(ctx, 1, 1, &db);
    if (st) {
        pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
        return cli_hk_fail(st);
    }
    rc = hks_serve(db, &o) ? EXIT_FAIL : EXIT_OK;
    if (cli_done(db, NULL)) rc = EXIT_FAIL;
    else if (!rc) fprintf(stderr, "hektor: stopped; the database is closed\n");
    return rc;
}
