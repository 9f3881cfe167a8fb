/*
 * loadgen: a beanstalkd-protocol load generator for the tubeworks benchmarks.
 *
 * Why C: the real beanstalkd does tens of thousands of operations per second on this kind of
 * machine; a Python client would be the bottleneck and every ratio would read 1.0.
 *
 * Theory of operation. One thread, one epoll set, blocking sockets with TCP_NODELAY. Every
 * request/response connection has exactly one request in flight, so a write never blocks (the
 * send buffer is empty) and one read() after EPOLLIN never blocks either. Each connection is a
 * small state machine fed whole replies (header line, plus body for RESERVED). The pipelined mode
 * runs on a single connection with plain blocking I/O: write a batch of puts in one write, then
 * read every reply.
 *
 * The timed window starts after every connection is open (and after the untimed prefill of the
 * drain mode) and ends when the last expected reply arrives. Over that window we also sample our
 * own CPU time (getrusage) and, given -S PID, the server's (utime+stime from /proc/PID/stat), so
 * the harness can show the generator is not the limit.
 *
 * Output: one JSON object on stdout. Errors: a line on stderr and exit status 1.
 *
 * Modes:
 *   put       -c conns, -n total puts, one put in flight per connection
 *   drain     prefill -n jobs (pipelined, untimed), then -c conns each loop
 *             reserve-with-timeout 0 + delete until TIMED_OUT; ops = jobs deleted
 *   cycle     -P producers put, -C consumers reserve+delete, -n jobs in all; at most -w jobs
 *             put but not yet reserved (so latency measures the server, not an unbounded
 *             backlog); latency = put written -> RESERVED read, from a timestamp in the body
 *   pipeline  one connection, -n puts written -b per write, then each batch's replies read
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* A reply is at most a RESERVED header plus a body; bodies here are at most MAX_BODY bytes. */
#define MAX_BODY 60000
#define RBUF_SIZE (MAX_BODY + 256)
/* No reply for this long means the server is stuck or dead: fail rather than hang. */
#define REPLY_TIMEOUT_MS 30000
#define TS_DIGITS 20

enum role { PUTTER, DRAINER, PRODUCER, CONSUMER };
enum state { IDLE, AWAIT_INSERTED, AWAIT_RESERVED, AWAIT_DELETED, PARKED, FINISHED };

struct conn {
    int fd;
    enum role role;
    enum state state;
    long quota;       /* puts this connection still has to send (PUTTER, PRODUCER) */
    char *cmd;        /* the preformatted put command, body included */
    size_t cmdlen;
    char *rbuf;       /* bytes read but not yet consumed as a reply */
    size_t rlen;
};

struct reply {
    const char *line; /* the header line without CRLF, NUL-terminated in place */
    const char *body; /* RESERVED only */
    uint64_t id;      /* RESERVED only */
    size_t bodylen;   /* RESERVED only */
    size_t size;      /* bytes the whole reply took in the buffer */
};

static struct {
    const char *host;
    int port, conns, producers, consumers, window, batch;
    long count;
    size_t body;
    long server_pid;
} opt = {"127.0.0.1", 11300, 1, 4, 4, 32, 1000, 10000, 100, -1};

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* utime+stime of the server in seconds, all threads included; -1 when unknown. */
static double server_cpu(void) {
    if (opt.server_pid <= 0) return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", opt.server_pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces; fields follow the last ')' */
    if (!p) return -1;
    unsigned long utime = 0, stime = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static int dial(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1) die("bad host %s: expected an IPv4 address", opt.host);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket: %s", strerror(errno));
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect %s:%d: %s", opt.host, opt.port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
}

/* "put PRI DELAY TTR BYTES\r\n" + body + "\r\n"; the body is 'x' padding. */
static char *format_put(size_t *len) {
    char head[64];
    int h = snprintf(head, sizeof head, "put 1024 0 60 %zu\r\n", opt.body);
    char *cmd = malloc((size_t)h + opt.body + 2);
    if (!cmd) die("out of memory");
    memcpy(cmd, head, (size_t)h);
    memset(cmd + h, 'x', opt.body);
    memcpy(cmd + h + opt.body, "\r\n", 2);
    *len = (size_t)h + opt.body + 2;
    return cmd;
}

/* Overwrite the body's first TS_DIGITS bytes with the current monotonic time in ns. */
static void stamp(struct conn *c) {
    char *body = c->cmd + (c->cmdlen - opt.body - 2);
    char digits[TS_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*llu", TS_DIGITS, (unsigned long long)now_ns());
    memcpy(body, digits, TS_DIGITS);
}

/* Parse one whole reply at the start of buf[0..len) into r (r->size = its bytes on the wire);
 * 0 if more bytes are needed. Writes a NUL over the header's CR so r->line is a C string. */
static int parse_reply(char *buf, size_t len, struct reply *r) {
    char *eol = memmem(buf, len, "\r\n", 2);
    if (!eol) {
        if (len >= 224) die("reply line too long: %.40s...", buf);
        return 0;
    }
    size_t hlen = (size_t)(eol - buf) + 2;
    r->size = hlen;
    r->body = NULL;
    r->bodylen = 0;
    r->id = 0;
    if (len >= 9 && memcmp(buf, "RESERVED ", 9) == 0) {
        unsigned long long id;
        size_t blen;
        if (sscanf(buf + 9, "%llu %zu", &id, &blen) != 2) die("bad RESERVED line: %.60s", buf);
        if (blen > MAX_BODY) die("reserved body of %zu bytes; limit is %d", blen, MAX_BODY);
        r->size = hlen + blen + 2;
        if (len < r->size) return 0;
        r->id = id;
        r->body = buf + hlen;
        r->bodylen = blen;
    }
    *eol = 0;
    r->line = buf;
    return 1;
}

/* ---- request/response modes (put, drain, cycle) on one epoll set ---- */

static struct conn *conns;
static int nconns, epfd;
static long ops, target, puts_sent, reserved;
static uint64_t *lat;
static long nlat;
static struct conn **parked;
static int nparked;

static void send_put(struct conn *c) {
    if (c->role == PRODUCER) stamp(c);
    send_all(c->fd, c->cmd, c->cmdlen);
    c->quota--;
    puts_sent++;
    c->state = AWAIT_INSERTED;
}

static void send_reserve(struct conn *c) {
    if (c->role == DRAINER) send_all(c->fd, "reserve-with-timeout 0\r\n", 24);
    else send_all(c->fd, "reserve\r\n", 9);
    c->state = AWAIT_RESERVED;
}

static void send_delete(struct conn *c, uint64_t id) {
    char cmd[48];
    int n = snprintf(cmd, sizeof cmd, "delete %llu\r\n", (unsigned long long)id);
    send_all(c->fd, cmd, (size_t)n);
    c->state = AWAIT_DELETED;
}

/* A producer may put while fewer than -w jobs are put but not yet reserved. */
static void producer_next(struct conn *c) {
    if (c->quota <= 0) {
        c->state = FINISHED;
    } else if (puts_sent - reserved < opt.window) {
        send_put(c);
    } else {
        c->state = PARKED;
        parked[nparked++] = c;
    }
}

static void expect(const struct reply *r, const char *prefix) {
    if (strncmp(r->line, prefix, strlen(prefix)) != 0) die("expected %s, got %.60s", prefix, r->line);
}

static void on_reply(struct conn *c, const struct reply *r) {
    switch (c->state) {
    case AWAIT_INSERTED:
        expect(r, "INSERTED ");
        if (c->role == PUTTER) {
            ops++;
            if (c->quota > 0) send_put(c);
            else c->state = FINISHED;
        } else {
            producer_next(c);
        }
        break;
    case AWAIT_RESERVED:
        if (c->role == DRAINER && strcmp(r->line, "TIMED_OUT") == 0) {
            c->state = FINISHED;
            break;
        }
        expect(r, "RESERVED ");
        if (c->role == CONSUMER) {
            uint64_t t = now_ns();
            char digits[TS_DIGITS + 1];
            if (r->bodylen < TS_DIGITS) die("job body of %zu bytes has no timestamp", r->bodylen);
            memcpy(digits, r->body, TS_DIGITS);
            digits[TS_DIGITS] = 0;
            char *end;
            uint64_t sent = strtoull(digits, &end, 10);
            if (*end != 0) die("job body has no timestamp (a job left from another run?)");
            if (nlat < target) lat[nlat++] = t > sent ? t - sent : 0;
            reserved++;
            while (nparked > 0 && puts_sent - reserved < opt.window) send_put(parked[--nparked]);
        }
        send_delete(c, r->id);
        break;
    case AWAIT_DELETED:
        expect(r, "DELETED");
        ops++;
        if (c->role == CONSUMER && reserved >= target) c->state = FINISHED;
        else send_reserve(c);
        break;
    default:
        die("unexpected reply in state %d: %.60s", c->state, r->line);
    }
}

static int all_done(void) {
    if (target > 0 && ops >= target) return 1;
    for (int i = 0; i < nconns; i++)
        if (conns[i].state != FINISHED) return 0;
    return 1;
}

static void open_conns(int n) {
    nconns = n;
    conns = calloc((size_t)n, sizeof *conns);
    parked = calloc((size_t)n, sizeof *parked);
    epfd = epoll_create1(0);
    if (!conns || !parked || epfd < 0) die("setup failed: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        c->fd = dial();
        c->rbuf = malloc(RBUF_SIZE);
        if (!c->rbuf) die("out of memory");
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    }
}

static void event_loop(void) {
    struct epoll_event evs[64];
    while (!all_done()) {
        int n = epoll_wait(epfd, evs, 64, REPLY_TIMEOUT_MS);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        if (n == 0) die("no reply for %d ms (%ld of %ld ops done)", REPLY_TIMEOUT_MS, ops, target);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            ssize_t got = read(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) die("server closed the connection (%ld of %ld ops done)", ops, target);
            c->rlen += (size_t)got;
            struct reply r;
            size_t used = 0;
            while (parse_reply(c->rbuf + used, c->rlen - used, &r)) {
                used += r.size;
                on_reply(c, &r);
            }
            memmove(c->rbuf, c->rbuf + used, c->rlen - used);
            c->rlen -= used;
        }
    }
}

/* Close without leaving unread replies behind (that would make the kernel send RST and the
 * server log an error): half-close, then read until the server closes its side. */
static void close_gracefully(int fd) {
    char sink[4096];
    struct timeval limit = {.tv_sec = 2}; /* a server that never closes must not hang us */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    shutdown(fd, SHUT_WR);
    while (read(fd, sink, sizeof sink) > 0) {
    }
    close(fd);
}

/* ---- pipelined puts on one blocking connection ---- */

/* Put n jobs on fd, batch puts per write, reading each batch's replies before the next write. */
static void pipelined_puts(int fd, long n) {
    size_t one;
    char *cmd = format_put(&one);
    size_t cap = one * (size_t)opt.batch;
    char *buf = malloc(cap);
    char *rbuf = malloc(65536);
    if (!buf || !rbuf) die("out of memory");
    for (int i = 0; i < opt.batch; i++) memcpy(buf + (size_t)i * one, cmd, one);
    size_t rlen = 0;
    while (n > 0) {
        long k = n < opt.batch ? n : opt.batch;
        send_all(fd, buf, one * (size_t)k);
        while (k > 0) {
            ssize_t got = read(fd, rbuf + rlen, 65536 - rlen);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) die("server closed the connection during pipelined puts");
            rlen += (size_t)got;
            char *p = rbuf, *end = rbuf + rlen, *eol;
            while (k > 0 && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL) {
                if (end - p < 9 || memcmp(p, "INSERTED ", 9) != 0)
                    die("expected INSERTED, got %.*s", (int)(eol - p), p);
                p = eol + 2;
                k--;
                n--;
                ops++;
            }
            rlen = (size_t)(end - p);
            memmove(rbuf, p, rlen);
        }
    }
    free(cmd);
    free(buf);
    free(rbuf);
}

/* ---- main ---- */

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double percentile_us(double q) {
    if (nlat == 0) return -1;
    long i = (long)(q * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1000.0;
}

static void usage(void) {
    fputs("usage: loadgen put|drain|cycle|pipeline [-H host] [-p port] [-c conns] [-n count]\n"
          "               [-s body-bytes] [-b batch] [-P producers] [-C consumers] [-w window]\n"
          "               [-S server-pid]\n",
          stderr);
    exit(2);
}

static long parse_long(const char *s, const char *what, long min) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < min) die("%s: expected an integer >= %ld, got '%s'", what, min, s);
    return v;
}

int main(int argc, char **argv) {
    if (argc < 2) usage();
    const char *mode = argv[1];
    int ch;
    optind = 2;
    while ((ch = getopt(argc, argv, "H:p:c:n:s:b:P:C:w:S:")) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = (int)parse_long(optarg, "-p", 1); break;
        case 'c': opt.conns = (int)parse_long(optarg, "-c", 1); break;
        case 'n': opt.count = parse_long(optarg, "-n", 1); break;
        case 's': opt.body = (size_t)parse_long(optarg, "-s", 0); break;
        case 'b': opt.batch = (int)parse_long(optarg, "-b", 1); break;
        case 'P': opt.producers = (int)parse_long(optarg, "-P", 1); break;
        case 'C': opt.consumers = (int)parse_long(optarg, "-C", 1); break;
        case 'w': opt.window = (int)parse_long(optarg, "-w", 1); break;
        case 'S': opt.server_pid = parse_long(optarg, "-S", 1); break;
        default: usage();
        }
    }
    if (opt.body > MAX_BODY) die("-s: body of %zu bytes; limit is %d", opt.body, MAX_BODY);
    target = opt.count;
    int is_cycle = strcmp(mode, "cycle") == 0;
    if (is_cycle && opt.body < TS_DIGITS) die("-s: cycle needs a body of at least %d bytes", TS_DIGITS);

    int pipe_fd = -1;
    if (strcmp(mode, "put") == 0) {
        open_conns(opt.conns);
        for (int i = 0; i < nconns; i++) {
            conns[i].role = PUTTER;
            conns[i].quota = opt.count / opt.conns + (i < opt.count % opt.conns);
            conns[i].cmd = format_put(&conns[i].cmdlen);
        }
    } else if (strcmp(mode, "drain") == 0) {
        int fill = dial();
        pipelined_puts(fill, opt.count);
        close_gracefully(fill);
        ops = 0;
        open_conns(opt.conns);
        for (int i = 0; i < nconns; i++) conns[i].role = DRAINER;
    } else if (is_cycle) {
        open_conns(opt.producers + opt.consumers);
        lat = malloc(sizeof *lat * (size_t)opt.count);
        if (!lat) die("out of memory");
        for (int i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            if (i < opt.producers) {
                c->role = PRODUCER;
                c->quota = opt.count / opt.producers + (i < opt.count % opt.producers);
                c->cmd = format_put(&c->cmdlen);
            } else {
                c->role = CONSUMER;
            }
        }
    } else if (strcmp(mode, "pipeline") == 0) {
        pipe_fd = dial();
    } else {
        usage();
    }

    double cpu0 = self_cpu(), srv0 = server_cpu();
    uint64_t t0 = now_ns();
    if (pipe_fd >= 0) {
        pipelined_puts(pipe_fd, opt.count);
    } else {
        for (int i = 0; i < nconns; i++) {
            struct conn *c = &conns[i];
            if (c->role == PUTTER) send_put(c);
            else if (c->role == PRODUCER) producer_next(c);
            else send_reserve(c);
        }
        event_loop();
    }
    uint64_t t1 = now_ns();
    double cpu1 = self_cpu(), srv1 = server_cpu();
    double secs = (double)(t1 - t0) / 1e9;
    if (ops != opt.count) die("%ld of %ld operations completed", ops, opt.count);

    if (pipe_fd >= 0) close_gracefully(pipe_fd);
    for (int i = 0; i < nconns; i++) close_gracefully(conns[i].fd);
    if (lat) qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
    printf("{\"mode\": \"%s\", \"ops\": %ld, \"seconds\": %.6f, \"ops_per_sec\": %.1f, "
           "\"gen_cpu\": %.4f, \"server_cpu\": %.4f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
           mode, ops, secs, (double)ops / secs, (cpu1 - cpu0) / secs,
           srv0 < 0 || srv1 < 0 ? -1.0 : (srv1 - srv0) / secs, percentile_us(0.50),
           percentile_us(0.99));
    return 0;
}
