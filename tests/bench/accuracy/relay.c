/*
 * A UDP relay that holds every datagram for a seeded random delay, each direction on its own (the accuracy
 * bench's stand-in for tc netem, which this kernel lacks).
 *
 *   relay --listen 127.77.0.2:20001 --upstream 127.77.0.1:20000 --seed 1 \
 *         --out-base-us 100 --out-exp-us 100 --back-base-us 100 --back-exp-us 100
 *
 * Delay of one datagram = base + an exponentially distributed part with the given mean (0: none). The same
 * seed gives the same delays on every relay: the n-th request forwarded waits as long on each, and so does
 * the n-th reply. Each client address gets its own socket toward the upstream.
 *
 * Why C, and why kernel stamps: the first relay (Python) counted each delay from when it woke up to read the
 * datagram and slept until it was due. With no delay set it added 280-460 us to a round trip, and the outward
 * leg (the relay idle for a second before a request) came out 110-180 us longer than the way back (the relay
 * had just forwarded the request): a bias every client read, chronyd's included. Here a delay counts from the
 * kernel's receive timestamp (SO_TIMESTAMPNS), and the last SPIN_NS before a datagram is due are spun rather
 * than slept, so the leg lasts what was drawn whenever the relay wakes up within the base delay.
 *
 * Stops on SIGTERM/SIGINT and prints its counts on stderr. Loopback only is the bench's business, not this
 * program's.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define MAX_PENDING 4096
#define SPIN_NS 150000LL

typedef struct { int64_t due; uint64_t seq; int fd; struct sockaddr_in to; int len; uint8_t data[2048]; } Pending;
typedef struct { struct sockaddr_in addr; int fd; int64_t last; } Client;

static Pending heap[MAX_PENDING];
static int heap_n;
static Client clients[MAX_CLIENTS];
static int client_n;
static volatile sig_atomic_t stop;

static int64_t now_ns(void) { struct timespec t; clock_gettime(CLOCK_REALTIME, &t); return t.tv_sec * 1000000000LL + t.tv_nsec; }

static int before(const Pending *a, const Pending *b) { return a->due < b->due || (a->due == b->due && a->seq < b->seq); }
static void swap(int i, int j) { Pending t = heap[i]; heap[i] = heap[j]; heap[j] = t; }
static void push(const Pending *p)
{
    if (heap_n == MAX_PENDING) return; /* a bench never gets here; dropping is what a full queue does */
    heap[heap_n] = *p;
    for (int i = heap_n++; i > 0 && before(&heap[i], &heap[(i - 1) / 2]); i = (i - 1) / 2) swap(i, (i - 1) / 2);
}
static void pop(void)
{
    heap[0] = heap[--heap_n];
    for (int i = 0;;)
    {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && before(&heap[l], &heap[m])) m = l;
        if (r < heap_n && before(&heap[r], &heap[m])) m = r;
        if (m == i) break;
        swap(i, m);
        i = m;
    }
}

/* splitmix64: a seeded sequence that is the same on every relay. */
typedef struct { uint64_t s; } Rng;
static uint64_t next(Rng *r) { uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL); z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL; z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL; return z ^ (z >> 31); }
static int64_t draw(Rng *r, double base_us, double exp_us)
{
    double jitter = 0;
    if (exp_us > 0) { double u = (next(r) >> 11) * (1.0 / 9007199254740992.0); jitter = -exp_us * log1p(-u); }
    return (int64_t)((base_us + jitter) * 1000.0);
}

static int parse_endpoint(const char *text, struct sockaddr_in *out)
{
    char host[64]; const char *colon = strrchr(text, ':');
    if (!colon || colon - text >= (long)sizeof host) return -1;
    memcpy(host, text, colon - text); host[colon - text] = 0;
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)atoi(colon + 1));
    return inet_pton(AF_INET, host, &out->sin_addr) == 1 ? 0 : -1;
}

static int stamped_socket(const struct sockaddr_in *bind_to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0 || bind(fd, (const struct sockaddr *)bind_to, sizeof *bind_to) != 0)
    { perror("relay: socket"); exit(1); }
    return fd;
}

static void on_signal(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
    struct sockaddr_in listen_addr, upstream;
    int have_listen = 0, have_upstream = 0;
    long seed = -1;
    double out_base = 100, out_exp = 100, back_base = 100, back_exp = 100;
    int busy = 0;
    for (int i = 1; i < argc; i += 2)
    {
        if (!strcmp(argv[i], "--busy")) { busy = 1; i--; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "relay: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--listen")) have_listen = parse_endpoint(argv[i + 1], &listen_addr) == 0;
        else if (!strcmp(argv[i], "--upstream")) have_upstream = parse_endpoint(argv[i + 1], &upstream) == 0;
        else if (!strcmp(argv[i], "--seed")) seed = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--out-base-us")) out_base = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--out-exp-us")) out_exp = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--back-base-us")) back_base = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--back-exp-us")) back_exp = atof(argv[i + 1]);
        else { fprintf(stderr, "relay: unknown option %s\n", argv[i]); return 2; }
    }
    if (!have_listen || !have_upstream || seed < 0)
    { fprintf(stderr, "usage: relay --listen A:P --upstream A:P --seed N [--out-base-us --out-exp-us --back-base-us --back-exp-us]\n"); return 2; }
    Rng out_rng = { (uint64_t)seed * 2 }, back_rng = { (uint64_t)seed * 2 + 1 };
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int front = stamped_socket(&listen_addr);
    struct sockaddr_in any_port = listen_addr;
    any_port.sin_port = 0;
    uint64_t seq = 0, count_out = 0, count_back = 0;
    struct pollfd fds[1 + MAX_CLIENTS];
    while (!stop)
    {
        if (heap_n > 0 && heap[0].due - now_ns() <= SPIN_NS)
            while (now_ns() < heap[0].due) { }
        for (int64_t now = now_ns(); heap_n > 0 && heap[0].due <= now; now = now_ns())
        {
            sendto(heap[0].fd, heap[0].data, heap[0].len, 0, (struct sockaddr *)&heap[0].to, sizeof heap[0].to);
            pop();
        }
        fds[0] = (struct pollfd){ .fd = front, .events = POLLIN };
        for (int i = 0; i < client_n; i++) fds[1 + i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
        /* ppoll: sub-millisecond timeouts; 200 ms when nothing is pending, so a stop is seen */
        struct timespec ts = { 0, 0 };
        if (heap_n > 0)
        {
            int64_t wait = heap[0].due - now_ns() - SPIN_NS;
            if (wait > 0) { ts.tv_sec = wait / 1000000000LL; ts.tv_nsec = wait % 1000000000LL; }
        }
        else ts.tv_nsec = 200000000L;
        if (busy) ts = (struct timespec){ 0, 0 };
        int nfds = 1 + client_n;
        int ready = ppoll(fds, nfds, &ts, NULL);
        if (ready <= 0) continue;
        for (int i = 0; i < nfds; i++)
        {
            if (!(fds[i].revents & POLLIN)) continue;
            for (;;)
            {
                Pending p;
                struct sockaddr_in from;
                char control[256];
                struct iovec iov = { p.data, sizeof p.data };
                struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1,
                                      .msg_control = control, .msg_controllen = sizeof control };
                ssize_t n = recvmsg(fds[i].fd, &msg, 0);
                if (n < 0) break;
                int64_t arrived = now_ns();
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_TIMESTAMPNS)
                    { struct timespec t; memcpy(&t, CMSG_DATA(c), sizeof t); arrived = t.tv_sec * 1000000000LL + t.tv_nsec; }
                p.len = (int)n;
                p.seq = seq++;
                if (i == 0)
                {
                    int k = 0;
                    while (k < client_n && !(clients[k].addr.sin_addr.s_addr == from.sin_addr.s_addr && clients[k].addr.sin_port == from.sin_port)) k++;
                    if (k == client_n)
                    {
                        if (client_n == MAX_CLIENTS)
                        {   /* reuse the socket idle the longest */
                            k = 0;
                            for (int j = 1; j < client_n; j++) if (clients[j].last < clients[k].last) k = j;
                            close(clients[k].fd);
                        }
                        else client_n++;
                        clients[k].addr = from;
                        clients[k].fd = stamped_socket(&any_port);
                    }
                    clients[k].last = arrived;
                    p.fd = clients[k].fd;
                    p.to = upstream;
                    p.due = arrived + draw(&out_rng, out_base, out_exp);
                    count_out++;
                }
                else
                {
                    p.fd = front;
                    p.to = clients[i - 1].addr;
                    p.due = arrived + draw(&back_rng, back_base, back_exp);
                    count_back++;
                }
                push(&p);
            }
        }
    }
    fprintf(stderr, "relay %s: forwarded %llu out, %llu back\n", inet_ntoa(listen_addr.sin_addr), (unsigned long long)count_out, (unsigned long long)count_back);
    return 0;
}
