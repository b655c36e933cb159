/*
 * tcp_pingpong.c — the transport floor under `hektor serve`: one TCP connection on
 * loopback, a client that sends a request of --req bytes and waits for a response of
 * --resp bytes, a server that waits for the request and sends the response, one after
 * another for --seconds. Prints one JSON object: the sizes, the round trips timed and
 * their p50/p99 in milliseconds.
 *
 *   tcp_pingpong [--req 1600] [--resp 900] [--seconds 3] [--warmup 200]
 *
 * bench/bench_server.py runs it with the byte counts of a real search request and its
 * answer, beside wrk against the server, so the block shows what loopback TCP alone costs
 * on the machine at that moment: a server whose own work took no time at all would still
 * be this slow at one connection.
 *
 * Decisions:
 *  - Both sides block in recv()/send() like `hektor serve`'s connection threads and wrk's
 *    event loop waiting in epoll: the round trip includes the two wake-ups of a sleeping
 *    thread, which on a virtual machine are most of it. No busy polling.
 *  - Client and server are two threads of this process: the wake-up path is the kernel's
 *    either way, and a single program needs nothing else to run.
 *  - TCP_NODELAY on both sides, as wrk and libmicrohttpd use it, so Nagle's algorithm does
 *    not hold back a response written in one piece.
 *  - Each round trip is timed on the client from the first byte sent to the last byte
 *    received (CLOCK_MONOTONIC); a warm-up is not timed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_MESSAGE (16u << 20)

typedef struct side {
    int fd;
    size_t req, resp;
} side;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "tcp_pingpong: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* 0 when n bytes were sent / received, -1 when the peer closed or on an error. */
static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, char *p, size_t n) {
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void nodelay(int fd) {
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one)) die("TCP_NODELAY");
}

/* The server: answers every request of s->req bytes with s->resp bytes until the client
 * closes the connection. */
static void *serve(void *arg) {
    side *s = arg;
    char *in = malloc(s->req), *out = malloc(s->resp);
    if (!in || !out) {
        fprintf(stderr, "tcp_pingpong: out of memory\n");
        exit(1);
    }
    memset(out, 'r', s->resp);
    while (!recv_all(s->fd, in, s->req))
        if (send_all(s->fd, out, s->resp)) break;
    free(in);
    free(out);
    close(s->fd);
    return NULL;
}

static size_t size_arg(const char *flag, const char *v) {
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || n == 0 || n > MAX_MESSAGE) {
        fprintf(stderr, "tcp_pingpong: %s must be a byte count from 1 to %u, got '%s'\n", flag,
                MAX_MESSAGE, v);
        exit(2);
    }
    return (size_t)n;
}

int main(int argc, char **argv) {
    size_t req = 1600, resp = 900, warmup = 200;
    double seconds = 3;
    for (int i = 1; i < argc; i += 2) { /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "tcp_pingpong: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--req")) req = size_arg(a, v);
        else if (!strcmp(a, "--resp")) resp = size_arg(a, v);
        else if (!strcmp(a, "--warmup")) warmup = size_arg(a, v);
        else if (!strcmp(a, "--seconds")) {
            char *end;
            seconds = strtod(v, &end);
            if (end == v || *end || !(seconds > 0 && seconds <= 3600)) {
                fprintf(stderr, "tcp_pingpong: --seconds must be from 0 to 3600, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: tcp_pingpong [--req BYTES] [--resp BYTES] [--seconds S] "
                            "[--warmup N]\n");
            return 2;
        }
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ls < 0) die("socket");
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1) ||
        getsockname(ls, (struct sockaddr *)&a, &alen))
        die("listen on 127.0.0.1");
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cfd < 0 || connect(cfd, (struct sockaddr *)&a, sizeof a)) die("connect");
    side s = {accept(ls, NULL, NULL), req, resp};
    if (s.fd < 0) die("accept");
    close(ls);
    nodelay(cfd);
    nodelay(s.fd);
    pthread_t th;
    if (pthread_create(&th, NULL, serve, &s)) {
        fprintf(stderr, "tcp_pingpong: cannot start the server thread\n");
        return 1;
    }
    char *out = malloc(req), *in = malloc(resp);
    size_t cap = 1 << 16, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    if (!out || !in || !lat) {
        fprintf(stderr, "tcp_pingpong: out of memory\n");
        return 1;
    }
    memset(out, 'q', req);
    for (size_t i = 0; i < warmup; i++)
        if (send_all(cfd, out, req) || recv_all(cfd, in, resp)) die("warm-up round trip");
    double start = now(), t = start;
    while (t - start < seconds) {
        double t0 = now();
        if (send_all(cfd, out, req) || recv_all(cfd, in, resp)) die("round trip");
        t = now();
        if (n == cap) {
            double *grown = realloc(lat, 2 * cap * sizeof *lat);
            if (!grown) {
                fprintf(stderr, "tcp_pingpong: out of memory\n");
                return 1;
            }
            lat = grown;
            cap *= 2;
        }
        lat[n++] = (t - t0) * 1e3;
    }
    close(cfd);
    pthread_join(th, NULL);
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("{\"req_bytes\":%zu,\"resp_bytes\":%zu,\"round_trips\":%zu,\"seconds\":%.3f,"
           "\"p50_ms\":%.4f,\"p99_ms\":%.4f}\n",
           req, resp, n, t - start, percentile(lat, n, 50), percentile(lat, n, 99));
    free(out);
    free(in);
    free(lat);
    return 0;
}
