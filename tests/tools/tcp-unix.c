/*
 * tcp-unix: a TCP port on loopback in front of a unix socket, for a client
 * that only speaks TCP to a sandbox cupsd that only listens on its unix
 * socket (the benchmark's cups-browsed, whose BrowsePoll takes host:port);
 * or in front of another loopback port, as a printer's address that a
 * test can take down and bring back (kill it, start it on the same port).
 *
 *   tcp-unix UNIX_SOCKET_PATH | :TARGET_PORT [LISTEN_PORT]
 *
 * Listens on LISTEN_PORT of 127.0.0.1, or a free one, and prints "port N".  Each
 * connection (one process each, which ends with the listener) is connected
 * to UNIX_SOCKET_PATH and forwarded both ways until either side closes.
 * Runs until killed.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Copies what FROM has to TO; 0 at end of stream or on an error. */
static int
pass(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf)), off = 0;

	if (n <= 0)
		return 0;
	while (off < n) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));

		if (w <= 0)
			return 0;
		off += w;
	}
	return 1;
}

static void
forward(int client, const char *target)
{
	struct sockaddr_un su = { .sun_family = AF_UNIX };
	struct sockaddr_in si = { .sin_family = AF_INET };
	struct pollfd p[2];
	int tcp = target[0] == ':';
	int server = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);

	snprintf(su.sun_path, sizeof(su.sun_path), "%s", target);
	si.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	si.sin_port = htons((uint16_t)atoi(target + 1));
	if (server < 0 || connect(server, tcp ? (struct sockaddr *)&si :
	    (struct sockaddr *)&su, tcp ? sizeof(si) : sizeof(su)) != 0)
		return;
	p[0] = (struct pollfd){ .fd = client, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = server, .events = POLLIN };
	while (poll(p, 2, -1) > 0) {
		if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !pass(client, server))
			return;
		if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !pass(server, client))
			return;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int s, one = 1;
	pid_t self = getpid();

	if (argc < 2 || argc > 3 ||
	    strlen(argv[1]) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		fprintf(stderr, "usage: tcp-unix UNIX_SOCKET_PATH | :TARGET_PORT "
		    "[LISTEN_PORT]\n");
		return 2;
	}
	if (argc == 3)
		sa.sin_port = htons((uint16_t)atoi(argv[2]));
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
		perror("tcp-unix");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0) {
			/* Ends with the listener, even one gone before this. */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != self)
				_exit(0);
			close(s);
			forward(fd, argv[1]);
			_exit(0);
		}
		close(fd);
	}
}
