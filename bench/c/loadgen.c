/* Benchmark load generator: one thread, epoll, non-blocking, so that it costs far less CPU than
 * the proxy under test. Prints one JSON line. Built by bench/run.ts with gcc -O2.
 *   loadgen conn     HOST PORT CONC SECS WARMUP SIZE   connect, SIZE bytes echoed, close
 *   loadgen pingpong HOST PORT CONC SECS WARMUP SIZE   SIZE-byte messages over CONC connections
 *   loadgen bulk     HOST PORT CONC SECS WARMUP        write 64 KiB chunks to a sink
 *   loadgen idle     HOST PORT COUNT TIMEOUT           open COUNT connections (1 byte echoed on
 *                    each), print {"ready":..}, hold them until stdin closes
 *   loadgen sweep    HOST PORTMIN PORTMAX TIMEOUT T0_EPOCH_MS
 *                    connect to every port until each has accepted once; times from T0 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 1000000 /* 1 us buckets up to 1 s */
static uint32_t *hist;
static uint64_t hist_n, hist_over;
static int ep;
static struct sockaddr_in dst;
static char buf[65536];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static double epoch_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void record(double secs) {
  uint64_t us = (uint64_t)(secs * 1e6);
  if (us >= HIST_US) hist_over++;
  else hist[us]++;
  hist_n++;
}

static double pct(double p) {
  if (!hist_n) return 0;
  uint64_t want = (uint64_t)(p * hist_n), acc = 0;
  for (int i = 0; i < HIST_US; i++) {
    acc += hist[i];
    if (acc > want) return i + 0.5;
  }
  return HIST_US;
}

static void set_addr(const char *host, int port) {
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, host, &dst.sin_addr);
}

static int nodelay = 1;

/* Non-blocking connect; returns fd (connect in progress or done) or -1. */
static int start_connect(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  if (fd < 0) return -1;
  /* conn mode skips it: one write per connection is never held back by Nagle. */
  if (nodelay) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (void *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static void ep_set(int op, int fd, unsigned ev, uint32_t slot) {
  struct epoll_event e = { .events = ev, .data.u64 = slot };
  epoll_ctl(ep, op, fd, &e);
}

typedef struct { int fd, phase, got; double t0; } slot_t;
enum { P_CONNECTING = 1, P_WAIT = 2 };

static int sock_error(int fd) {
  int err = 0;
  socklen_t l = sizeof err;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
  return err;
}

/* conn and pingpong share one loop; `renew` = close and reconnect after each echo. */
static void run_echo(int renew, int conc, double secs, double warm, int size) {
  slot_t *s = calloc(conc, sizeof *s);
  char *msg = malloc(size);
  memset(msg, 'x', size);
  uint64_t done = 0, errors = 0;
  double start = now(), t_meas = start + warm, t_end = t_meas + secs;
  int measuring = 0;
  for (int i = 0; i < conc; i++) {
    s[i].fd = start_connect();
    if (s[i].fd < 0) { fprintf(stderr, "connect failed: %s\n", strerror(errno)); exit(1); }
    s[i].phase = P_CONNECTING;
    s[i].t0 = now();
    ep_set(EPOLL_CTL_ADD, s[i].fd, EPOLLOUT, i);
  }
  struct epoll_event evs[256];
  for (;;) {
    double t = now();
    if (!measuring && t >= t_meas) { measuring = 1; done = 0; errors = 0; hist_n = hist_over = 0; memset(hist, 0, HIST_US * sizeof *hist); }
    if (t >= t_end) break;
    int n = epoll_wait(ep, evs, 256, 50);
    for (int k = 0; k < n; k++) {
      slot_t *c = &s[evs[k].data.u64];
      int i = (int)evs[k].data.u64, fail = 0;
      if (c->phase == P_CONNECTING) {
        if (evs[k].events & (EPOLLERR | EPOLLHUP)) fail = 1;
        else {
          if (!renew) c->t0 = now();
          if (write(c->fd, msg, size) != size) fail = 1;
          else { c->phase = P_WAIT; c->got = 0; ep_set(EPOLL_CTL_MOD, c->fd, EPOLLIN, i); }
        }
      } else {
        ssize_t r = read(c->fd, buf, sizeof buf);
        if (r < 0 && errno == EAGAIN) continue;
        if (r <= 0) fail = 1;
        else if ((c->got += r) >= size) {
          double t1 = now();
          record(t1 - c->t0);
          done++;
          if (renew) {
            close(c->fd);
            c->fd = start_connect();
            if (c->fd < 0) fail = 2;
            else { c->phase = P_CONNECTING; c->t0 = t1; ep_set(EPOLL_CTL_ADD, c->fd, EPOLLOUT, i); }
          } else {
            c->t0 = t1;
            c->got = 0;
            if (write(c->fd, msg, size) != size) fail = 1;
          }
        }
      }
      if (fail) {
        errors++;
        if (fail == 1) close(c->fd);
        /* Reconnect after a failure, in both modes, so the load stays at CONC. */
        c->fd = start_connect();
        if (c->fd < 0) { usleep(1000); c->fd = start_connect(); }
        if (c->fd < 0) { fprintf(stderr, "reconnect failed: %s\n", strerror(errno)); exit(1); }
        c->phase = P_CONNECTING;
        c->t0 = now();
        ep_set(EPOLL_CTL_ADD, c->fd, EPOLLOUT, i);
      }
    }
  }
  double el = now() - t_meas;
  printf("{\"mode\":\"%s\",\"ops\":%llu,\"seconds\":%.3f,\"rate\":%.1f,\"errors\":%llu,"
         "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f}\n",
         renew ? "conn" : "pingpong", (unsigned long long)done, el, done / el,
         (unsigned long long)errors, pct(0.5), pct(0.99), pct(0.999));
}

static void run_bulk(int conc, double secs, double warm) {
  int *fds = calloc(conc, sizeof *fds);
  memset(buf, 'b', sizeof buf);
  for (int i = 0; i < conc; i++) {
    fds[i] = start_connect();
    ep_set(EPOLL_CTL_ADD, fds[i], EPOLLOUT, i);
  }
  uint64_t bytes = 0;
  double start = now(), t_meas = start + warm, t_end = t_meas + secs;
  int measuring = 0;
  struct epoll_event evs[64];
  while (now() < t_end) {
    if (!measuring && now() >= t_meas) { measuring = 1; bytes = 0; }
    int n = epoll_wait(ep, evs, 64, 50);
    for (int k = 0; k < n; k++) {
      ssize_t w = write(fds[evs[k].data.u64], buf, sizeof buf);
      if (w > 0) bytes += w;
      else if (w < 0 && errno != EAGAIN) { fprintf(stderr, "bulk write: %s\n", strerror(errno)); exit(1); }
    }
  }
  double el = now() - t_meas;
  printf("{\"mode\":\"bulk\",\"bytes\":%llu,\"seconds\":%.3f,\"gbps\":%.3f}\n",
         (unsigned long long)bytes, el, bytes * 8 / el / 1e9);
}

static void run_idle(int count, double timeout) {
  int *fds = calloc(count, sizeof *fds);
  int ready = 0, failed = 0, inflight = 0, next = 0;
  char one = 'i';
  double t_end = now() + timeout;
  struct epoll_event evs[256];
  /* At most 256 handshakes in flight: a burst of thousands overflows accept queues. */
  while (ready + failed < count && now() < t_end) {
    while (inflight < 256 && next < count) {
      int fd = start_connect();
      if (fd < 0) { failed++; next++; continue; }
      fds[next] = fd;
      ep_set(EPOLL_CTL_ADD, fd, EPOLLOUT, next);
      next++;
      inflight++;
    }
    int n = epoll_wait(ep, evs, 256, 50);
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u64, fd = fds[i];
      if (evs[k].events & EPOLLOUT) {
        if (sock_error(fd) || write(fd, &one, 1) != 1) { failed++; inflight--; close(fd); fds[i] = -1; continue; }
        ep_set(EPOLL_CTL_MOD, fd, EPOLLIN, i);
      } else {
        ssize_t r = read(fd, buf, 1);
        if (r < 0 && errno == EAGAIN) continue;
        inflight--;
        epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
        if (r == 1) ready++;
        else { failed++; close(fd); fds[i] = -1; }
      }
    }
  }
  printf("{\"mode\":\"idle\",\"ready\":%d,\"failed\":%d,\"asked\":%d}\n", ready, failed, count);
  fflush(stdout);
  /* Hold until stdin closes (or the bounded timeout passes). */
  struct pollfd p = { .fd = 0, .events = POLLIN };
  double hold_end = now() + 600;
  while (now() < hold_end) {
    if (poll(&p, 1, 1000) > 0) {
      if (read(0, buf, sizeof buf) <= 0) break;
    }
  }
  for (int i = 0; i < next; i++) if (fds[i] > 0) close(fds[i]);
}

static void run_sweep(const char *host, int pmin, int pmax, double timeout, double t0) {
  int n = pmax - pmin + 1, left = n, rounds = 0;
  char *ok = calloc(n, 1);
  int *fds = malloc(n * sizeof *fds);
  double t_end = now() + timeout, last_ok = 0, first_ok = 0;
  struct epoll_event evs[512];
  while (left > 0 && now() < t_end) {
    rounds++;
    int inflight = 0;
    for (int i = 0; i < n; i++) {
      fds[i] = -1;
      if (ok[i]) continue;
      set_addr(host, pmin + i);
      int fd = start_connect();
      if (fd < 0) continue;
      fds[i] = fd;
      inflight++;
      ep_set(EPOLL_CTL_ADD, fd, EPOLLOUT, i);
    }
    double round_end = now() + 1.0;
    while (inflight > 0 && now() < round_end) {
      int m = epoll_wait(ep, evs, 512, 50);
      for (int k = 0; k < m; k++) {
        int i = (int)evs[k].data.u64;
        if (!sock_error(fds[i])) {
          ok[i] = 1;
          left--;
          last_ok = epoch_ms();
          if (!first_ok) first_ok = last_ok;
        }
        close(fds[i]);
        fds[i] = -1;
        inflight--;
      }
    }
    for (int i = 0; i < n; i++) if (fds[i] >= 0) close(fds[i]);
    if (left > 0) usleep(n < 10 ? 200 : 2000); /* a single port is polled finely */
  }
  printf("{\"mode\":\"sweep\",\"ports\":%d,\"accepted\":%d,\"rounds\":%d,\"first_ms\":%.1f,"
         "\"all_ms\":%.1f}\n",
         n, n - left, rounds, first_ok ? first_ok - t0 : -1.0, left == 0 ? last_ok - t0 : -1.0);
}

int main(int argc, char **argv) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);
  if (argc < 4) { fprintf(stderr, "usage: see the header of loadgen.c\n"); return 2; }
  hist = calloc(HIST_US, sizeof *hist);
  ep = epoll_create1(0);
  const char *mode = argv[1];
  if (!strcmp(mode, "sweep")) {
    if (argc < 7) return 2;
    run_sweep(argv[2], atoi(argv[3]), atoi(argv[4]), atof(argv[5]), atof(argv[6]));
    return 0;
  }
  set_addr(argv[2], atoi(argv[3]));
  if (!strcmp(mode, "conn") || !strcmp(mode, "pingpong")) {
    if (argc < 8) return 2;
    nodelay = strcmp(mode, "conn") != 0;
    run_echo(!strcmp(mode, "conn"), atoi(argv[4]), atof(argv[5]), atof(argv[6]), atoi(argv[7]));
  } else if (!strcmp(mode, "bulk")) {
    if (argc < 7) return 2;
    run_bulk(atoi(argv[4]), atof(argv[5]), atof(argv[6]));
  } else if (!strcmp(mode, "idle")) {
    if (argc < 6) return 2;
    run_idle(atoi(argv[4]), atof(argv[5]));
  } else return 2;
  return 0;
}
