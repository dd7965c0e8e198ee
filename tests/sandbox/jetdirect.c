/*
 * jetdirect - a tiny JetDirect-style (AppSocket, "socket://") printer for the
 * printredir test sandbox.
 *
 * Usage: jetdirect PORT OUTDIR [PIDFILE [LABEL]]
 *
 * Listens on 127.0.0.1:PORT.  Every accepted TCP connection is one job: its
 * bytes are written to OUTDIR/.job-<n>-<LABEL>.prn.tmp and, when the peer
 * closes its side, the file is fsync'ed and linked to its final name
 * OUTDIR/job-<n>-<LABEL>.prn (never overwriting an existing file: <n> is
 * bumped instead).  A reader therefore sees a job-*.prn file only once it is
 * complete.  LABEL defaults to PORT; the sandbox passes the queue name.
 * <n> counts from 1 per listener (continuing above files already present).
 *
 * PIDFILE, when given, is written once the socket listens (so its existence
 * means "ready") and removed on SIGTERM/SIGINT.  Exit status: 0 on
 * SIGTERM/SIGINT, 2 on usage errors, 3 when the port cannot be bound (the
 * caller may retry with another port), 1 on other errors.
 *
 * POSIX only; connections are served one at a time, which is what a real
 * AppSocket printer does too (the CUPS socket backend retries while busy).
 */

#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
  (void)sig;
  stop_requested = 1;
}

static int valid_label(const char *s)
{
  if (!*s || strlen(s) > 128)
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
      return 0;
  return 1;
}

static int write_all(int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Receive one job from client socket cfd. */
static void serve(int cfd, const char *outdir, const char *label,
                  unsigned long *counter)
{
  char tmp[PATH_MAX], final[PATH_MAX], buf[65536];
  int fd, ok = 1;
  unsigned long long total = 0;

  snprintf(tmp, sizeof(tmp), "%s/.job-%lu-%s.prn.tmp", outdir, *counter,
           label);
  unlink(tmp);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fprintf(stderr, "jetdirect: %s: %s\n", tmp, strerror(errno));
    return;
  }

  for (;;) {
    ssize_t n = read(cfd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) {
        if (stop_requested)
          break;
        continue;
      }
      fprintf(stderr, "jetdirect: read: %s\n", strerror(errno));
      break; /* keep what we got: a reset peer still produced a job */
    }
    if (n == 0)
      break;
    if (write_all(fd, buf, (size_t)n) < 0) {
      fprintf(stderr, "jetdirect: write %s: %s\n", tmp, strerror(errno));
      ok = 0;
      break;
    }
    total += (unsigned long long)n;
  }

  if (fsync(fd) < 0 || close(fd) < 0)
    ok = 0;
  if (!ok) {
    unlink(tmp);
    return;
  }

  for (;;) {
    snprintf(final, sizeof(final), "%s/job-%lu-%s.prn", outdir, *counter,
             label);
    (*counter)++;
    if (link(tmp, final) == 0)
      break;
    if (errno != EEXIST) {
      fprintf(stderr, "jetdirect: link %s: %s\n", final, strerror(errno));
      unlink(tmp);
      return;
    }
  }
  unlink(tmp);
  fprintf(stderr, "jetdirect: %s: %llu bytes\n", final, total);
}

int main(int argc, char **argv)
{
  const char *outdir, *pidfile = NULL, *label;
  char *end;
  long port;
  int lfd, one = 1;
  unsigned long counter = 1;
  struct sockaddr_in sin;
  struct sigaction sa;
  struct stat st;

  if (argc < 3 || argc > 5) {
    fprintf(stderr, "usage: jetdirect PORT OUTDIR [PIDFILE [LABEL]]\n");
    return 2;
  }
  errno = 0;
  port = strtol(argv[1], &end, 10);
  if (errno || *end || port < 1 || port > 65535) {
    fprintf(stderr, "jetdirect: bad port '%s'\n", argv[1]);
    return 2;
  }
  outdir = argv[2];
  if (stat(outdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
    fprintf(stderr, "jetdirect: %s is not a directory\n", outdir);
    return 2;
  }
  if (argc >= 4 && argv[3][0])
    pidfile = argv[3];
  label = argc >= 5 ? argv[4] : argv[1];
  if (!valid_label(label)) {
    fprintf(stderr, "jetdirect: bad label '%s' (use [A-Za-z0-9_.-])\n",
            label);
    return 2;
  }

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal; /* no SA_RESTART: accept()/read() return EINTR */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);

  lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) {
    fprintf(stderr, "jetdirect: socket: %s\n", strerror(errno));
    return 1;
  }
  fcntl(lfd, F_SETFD, FD_CLOEXEC);
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons((unsigned short)port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
    fprintf(stderr, "jetdirect: bind 127.0.0.1:%ld: %s\n", port,
            strerror(errno));
    return 3;
  }
  if (listen(lfd, 16) < 0) {
    fprintf(stderr, "jetdirect: listen: %s\n", strerror(errno));
    return 3;
  }

  if (pidfile) {
    char tmp[PATH_MAX];
    FILE *fp;
    snprintf(tmp, sizeof(tmp), "%s.tmp", pidfile);
    fp = fopen(tmp, "w");
    if (!fp || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0 ||
        rename(tmp, pidfile) < 0) {
      fprintf(stderr, "jetdirect: cannot write %s: %s\n", pidfile,
              strerror(errno));
      return 1;
    }
  }

  while (!stop_requested) {
    int cfd = accept(lfd, NULL, NULL);
    if (cfd < 0) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      fprintf(stderr, "jetdirect: accept: %s\n", strerror(errno));
      sleep(1);
      continue;
    }
    fcntl(cfd, F_SETFD, FD_CLOEXEC);
    serve(cfd, outdir, label, &counter);
    close(cfd);
  }

  close(lfd);
  if (pidfile)
    unlink(pidfile);
  return 0;
}
