/* Benchmark backend: one thread, epoll, non-blocking. Echoes on one port and discards on
 * another (the bulk sink when iperf3 is missing). Prints "ready ECHO_PORT SINK_PORT" once
 * listening. Built by bench/run.ts with gcc -O2 into bench/.build/.
 *
 *   echo [ECHO_PORT [SINK_PORT [FIRST COUNT]...]]
 *
 * Each FIRST COUNT pair adds echo listeners on ports FIRST .. FIRST+COUNT-1 (the churn
 * benchmark gives each of its thousands of listeners a backend port of its own). */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { K_LECHO = 1, K_LSINK = 2, K_ECHO = 3, K_SINK = 4 };
typedef struct { char *buf; int len, off; } pend_t;

static int ep;
static pend_t *pend;
static char rbuf[65536];

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, (void *)&a, sizeof a) || listen(fd, 4096)) {
    fprintf(stderr, "port %d: ", port);
    perror("bind/listen");
    exit(1);
  }
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in a; socklen_t l = sizeof a;
  getsockname(fd, (void *)&a, &l);
  return ntohs(a.sin_port);
}

static void add(int fd, int kind, unsigned ev) {
  struct epoll_event e = { .events = ev, .data.u64 = ((unsigned long long)kind << 32) | (unsigned)fd };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static void mod(int fd, int kind, unsigned ev) {
  struct epoll_event e = { .events = ev, .data.u64 = ((unsigned long long)kind << 32) | (unsigned)fd };
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

static void drop(int fd) {
  free(pend[fd].buf);
  pend[fd].buf = NULL;
  close(fd);
}

/* Write what is pending; returns 1 when all is out. */
static int flush(int fd) {
  pend_t *p = &pend[fd];
  while (p->off < p->len) {
    ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
    if (w < 0) return errno == EAGAIN ? 0 : -1;
    p->off += w;
  }
  free(p->buf);
  p->buf = NULL;
  return 1;
}

int main(int argc, char **argv) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  signal(SIGPIPE, SIG_IGN);
  pend = calloc(rl.rlim_max + 16, sizeof *pend);
  int pe = argc > 1 ? atoi(argv[1]) : 0, ps = argc > 2 ? atoi(argv[2]) : 0;
  ep = epoll_create1(0);
  int le = listen_on(pe), ls = listen_on(ps);
  add(le, K_LECHO, EPOLLIN);
  add(ls, K_LSINK, EPOLLIN);
  for (int a = 3; a + 1 < argc; a += 2) {
    int first = atoi(argv[a]), count = atoi(argv[a + 1]);
    for (int p = first; p < first + count; p++) add(listen_on(p), K_LECHO, EPOLLIN);
  }
  printf("ready %d %d\n", port_of(le), port_of(ls));
  fflush(stdout);
  struct epoll_event evs[512];
  for (;;) {
    int n = epoll_wait(ep, evs, 512, -1);
    for (int i = 0; i < n; i++) {
      int fd = (int)(evs[i].data.u64 & 0xffffffff), kind = (int)(evs[i].data.u64 >> 32);
      if (kind == K_LECHO || kind == K_LSINK) {
        /* TCP_NODELAY: a message that reaches us in two pieces must not have its second
         * echo held by Nagle until the proxy's delayed ACK. */
        for (int c; (c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
          int one = 1;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          add(c, kind == K_LECHO ? K_ECHO : K_SINK, EPOLLIN);
        }
        continue;
      }
      if (kind == K_SINK) {
        ssize_t r;
        while ((r = read(fd, rbuf, sizeof rbuf)) > 0) {}
        if (r == 0 || errno != EAGAIN) drop(fd);
        continue;
      }
      if (pend[fd].buf) { /* waiting for EPOLLOUT */
        int f = flush(fd);
        if (f < 0) drop(fd);
        else if (f > 0) mod(fd, K_ECHO, EPOLLIN);
        continue;
      }
      ssize_t r = read(fd, rbuf, sizeof rbuf);
      if (r == 0 || (r < 0 && errno != EAGAIN)) { drop(fd); continue; }
      if (r < 0) continue;
      ssize_t w = write(fd, rbuf, r);
      if (w < 0 && errno != EAGAIN) { drop(fd); continue; }
      if (w < 0) w = 0;
      if (w < r) {
        pend[fd].buf = malloc(r - w);
        memcpy(pend[fd].buf, rbuf + w, r - w);
        pend[fd].len = r - w;
        pend[fd].off = 0;
        mod(fd, K_ECHO, EPOLLOUT);
      }
    }
  }
}
