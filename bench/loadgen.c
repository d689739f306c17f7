/*
 * Open-loop HTTP/1.1 load generator (a small wrk2): requests are scheduled at a
 * fixed rate, and each latency is measured from the moment the request was
 * *scheduled*, not sent, so a slow server cannot hide its queueing delay
 * (coordinated omission). Keep-alive connections, one epoll thread.
 *
 *   loadgen HOST PORT RATE SECONDS CONNECTIONS METHOD PATH [BODYFILE|-] [HEADER...]
 *
 * BODYFILE may hold several lines: request i sends line i % lines. In the path,
 * headers and bodies, "{n}" becomes the request's sequence number (unique
 * Idempotency-Keys) and "{k}" that number modulo BENCH_POOL (default 1000). With
 * BENCH_HEADER_FILE set, request i also sends line i % lines of that file as one
 * more header (e.g. one member's "Authorization: Bearer …" per line).
 *
 * Prints one JSON object: scheduled, completed, errors, status counts and
 * latency percentiles in milliseconds (p50, p90, p95, p99, p99.9, max).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 1024
#define BUFSZ 65536

typedef struct {
    int fd;
    int busy;
    double scheduled;   /* intended start of the request in flight */
    size_t sent, reqlen;
    char *req;
    char *inbuf;
    size_t inlen;
} conn_t;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct sockaddr_in addr;
#define MAXBODIES 100000
static char *bodies[MAXBODIES];
static int nbodies;
static const char *g_method, *g_path, *g_host;
static int g_port;
static char **g_headers;
static int g_nheaders;

/* Copy src into dst replacing "{n}" with seq and "{k}" with seq modulo
   BENCH_POOL (default 1000: a pool of visitors who come back); returns bytes
   written. */
static long g_pool = 1000;
static size_t subst(char *dst, size_t cap, const char *src, long seq) {
    size_t out = 0;
    for (const char *p = src; *p && out + 24 < cap; p++) {
        if (p[0] == '{' && p[1] == 'n' && p[2] == '}') {
            out += (size_t)snprintf(dst + out, cap - out, "%ld", seq);
            p += 2;
        } else if (p[0] == '{' && p[1] == 'k' && p[2] == '}') {
            out += (size_t)snprintf(dst + out, cap - out, "%ld", seq % g_pool);
            p += 2;
        } else {
            dst[out++] = *p;
        }
    }
    dst[out] = 0;
    return out;
}

static char reqbuf[MAXCONN][70000];
static char **g_extra; /* BENCH_HEADER_FILE's lines */
static long g_nextra;

static size_t build_request(char *buf, size_t cap, long seq) {
    char body[66000];
    size_t body_len = 0;
    if (nbodies) body_len = subst(body, sizeof body, bodies[seq % nbodies], seq);
    char path[4096];
    subst(path, sizeof path, g_path, seq);
    int n = snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n", g_method, path, g_host, g_port);
    for (int i = 0; i < g_nheaders; i++) {
        n += (int)subst(buf + n, cap - (size_t)n, g_headers[i], seq);
        n += snprintf(buf + n, cap - (size_t)n, "\r\n");
    }
    if (g_nextra) n += snprintf(buf + n, cap - (size_t)n, "%s\r\n", g_extra[seq % g_nextra]);
    if (nbodies) n += snprintf(buf + n, cap - (size_t)n, "Content-Length: %zu\r\n", body_len);
    n += snprintf(buf + n, cap - (size_t)n, "\r\n");
    if (nbodies) { memcpy(buf + n, body, body_len); n += (int)body_len; }
    return (size_t)n;
}

static int open_conn(int ep, conn_t *c, int idx) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    c->busy = 0;
    c->inlen = 0;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)idx};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

/* Returns response length if a full response is in buf, 0 if incomplete, -1 bad. */
static long complete_response(const char *buf, size_t len, int *status) {
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head = (size_t)(end - buf) + 4;
    if (len < 12) return 0;
    *status = atoi(buf + 9);
    long body = 0;
    const char *p = buf;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        if (strncasecmp(p, "content-length:", 15) == 0) body = atol(p + 15);
        if (strncasecmp(p, "transfer-encoding:", 18) == 0) return -1;
        p = nl + 1;
    }
    if (len < head + (size_t)body) return 0;
    return (long)(head + (size_t)body);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s HOST PORT RATE SECONDS CONNECTIONS METHOD PATH [BODYFILE] [HEADER...]\n", argv[0]);
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    double rate = atof(argv[3]);
    double seconds = atof(argv[4]);
    int nconn = atoi(argv[5]);
    const char *method = argv[6], *path = argv[7];
    if (nconn > MAXCONN) nconn = MAXCONN;

    int first_header = 8;
    nbodies = 0;
    if (argc > 8 && strcmp(argv[8], "-") != 0 && strchr(argv[8], ':') == NULL) {
        FILE *f = fopen(argv[8], "rb");
        if (!f) { perror("body"); return 2; }
        char line[65536];
        while (fgets(line, sizeof line, f) && nbodies < MAXBODIES) {
            size_t len = strlen(line);
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (!len) continue;
            bodies[nbodies++] = strdup(line);
        }
        fclose(f);
        first_header = 9;
    } else if (argc > 8 && strcmp(argv[8], "-") == 0) {
        first_header = 9;
    }
    g_method = method; g_path = path; g_host = host; g_port = port;
    if (getenv("BENCH_POOL") && atol(getenv("BENCH_POOL")) > 0) g_pool = atol(getenv("BENCH_POOL"));
    if (getenv("BENCH_HEADER_FILE")) {
        FILE *f = fopen(getenv("BENCH_HEADER_FILE"), "rb");
        if (!f) { perror("header file"); return 2; }
        char line[4096];
        long cap_lines = 0;
        while (fgets(line, sizeof line, f)) {
            size_t len = strlen(line);
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
            if (!len) continue;
            if (g_nextra == cap_lines) {
                cap_lines = cap_lines ? cap_lines * 2 : 1024;
                g_extra = realloc(g_extra, (size_t)cap_lines * sizeof *g_extra);
            }
            g_extra[g_nextra++] = strdup(line);
        }
        fclose(f);
    }
    g_headers = argv + first_header; g_nheaders = argc - first_header;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &addr.sin_addr);

    int ep = epoll_create1(0);
    conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
    for (int i = 0; i < nconn; i++) {
        conns[i].inbuf = malloc(BUFSZ);
        if (open_conn(ep, &conns[i], i) < 0) { perror("connect"); return 1; }
    }

    long total = (long)(rate * seconds);
    double *lat = malloc(sizeof(double) * (size_t)(total + 1));
    long scheduled = 0, completed = 0, errors = 0, pending_head = 0;
    long status_2xx = 0, status_3xx = 0, status_4xx = 0, status_5xx = 0;
    double start = now() + 0.05;
    double deadline = start + seconds + 10.0; /* drain time */
    struct epoll_event events[256];

    while (completed + errors < total && now() < deadline) {
        double t = now();
        /* dispatch every request whose scheduled time has come, to idle connections */
        while (pending_head < total && start + pending_head / rate <= t) {
            int idx = -1;
            for (int i = 0; i < nconn; i++) if (!conns[i].busy && conns[i].fd >= 0) { idx = i; break; }
            if (idx < 0) break; /* all busy: the request waits, its clock already running */
            conn_t *c = &conns[idx];
            c->busy = 1;
            c->scheduled = start + pending_head / rate;
            c->sent = 0;
            c->inlen = 0;
            c->req = reqbuf[idx];
            c->reqlen = build_request(c->req, sizeof reqbuf[idx], pending_head);
            ssize_t w = send(c->fd, c->req, c->reqlen, MSG_NOSIGNAL);
            if (w > 0) c->sent = (size_t)w;
            pending_head++;
            scheduled++;
        }
        double next = pending_head < total ? start + pending_head / rate : t + 0.01;
        int timeout_ms = (int)((next - t) * 1000);
        if (timeout_ms < 0) timeout_ms = 0;
        if (timeout_ms > 10) timeout_ms = 10;
        int ready = epoll_wait(ep, events, 256, timeout_ms);
        for (int e = 0; e < ready; e++) {
            conn_t *c = &conns[events[e].data.u32];
            if (c->busy && c->sent < c->reqlen && (events[e].events & EPOLLOUT)) {
                ssize_t w = send(c->fd, c->req + c->sent, c->reqlen - c->sent, MSG_NOSIGNAL);
                if (w > 0) c->sent += (size_t)w;
            }
            if (!(events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            for (;;) {
                ssize_t r = recv(c->fd, c->inbuf + c->inlen, BUFSZ - c->inlen, 0);
                if (r > 0) {
                    c->inlen += (size_t)r;
                    int status = 0;
                    long used = complete_response(c->inbuf, c->inlen, &status);
                    if (used > 0 && c->busy) {
                        lat[completed++] = (now() - c->scheduled) * 1000.0;
                        if (status < 300) status_2xx++; else if (status < 400) status_3xx++;
                        else if (status < 500) status_4xx++; else status_5xx++;
                        memmove(c->inbuf, c->inbuf + used, c->inlen - (size_t)used);
                        c->inlen -= (size_t)used;
                        c->busy = 0;
                    } else if (used < 0 || c->inlen == BUFSZ) {
                        errors++; c->busy = 0; close(c->fd); open_conn(ep, c, (int)events[e].data.u32); break;
                    }
                    continue;
                }
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                    if (c->busy) { errors++; c->busy = 0; }
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    close(c->fd);
                    open_conn(ep, c, (int)events[e].data.u32);
                }
                break;
            }
        }
    }
    double elapsed = now() - start;
    qsort(lat, (size_t)completed, sizeof(double), cmp_double);
#define PCT(p) (completed ? lat[(long)((p) * (completed - 1))] : 0.0)
    printf("{\"rate\": %.1f, \"seconds\": %.1f, \"scheduled\": %ld, \"completed\": %ld, \"errors\": %ld, "
           "\"timeouts\": %ld, \"status_2xx\": %ld, \"status_3xx\": %ld, \"status_4xx\": %ld, \"status_5xx\": %ld, "
           "\"achieved_rps\": %.1f, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p95_ms\": %.2f, \"p99_ms\": %.2f, "
           "\"p999_ms\": %.2f, \"max_ms\": %.2f}\n",
           rate, seconds, scheduled, completed, errors, total - completed - errors, status_2xx, status_3xx,
           status_4xx, status_5xx, completed / (elapsed > 0 ? elapsed : 1), PCT(0.5), PCT(0.9), PCT(0.95),
           PCT(0.99), PCT(0.999), completed ? lat[completed - 1] : 0.0);
    return 0;
}
