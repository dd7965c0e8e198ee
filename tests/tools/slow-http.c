/*
 * slow-http: a print server that answers every HTTP request with a body of
 * its own choosing, at its own pace, for the hostile cases of tests/hostile
 * (a server that trickles its answer, or sends far more than a PPD).
 *
 *   slow-http -n BYTES [-i INTERVAL_MS]
 *
 * Listens on a free port of 127.0.0.1 and prints "port N".  Each
 * connection (one process each) gets "200 OK" with a Content-Length of
 * BYTES, then BYTES bytes of a PPD comment: all at once, or one byte every
 * INTERVAL_MS.  Runs until killed.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
serve(int fd, long long bytes, int interval_ms)
{
	char req[4096], hdr[256], chunk[65536];
	size_t got = 0;
	ssize_t n;
	int len;

	/* The request up to its blank line; what it asks does not matter. */
	while (got < sizeof(req) - 1 && (n = read(fd, req + got, sizeof(req) - 1 - got)) > 0) {
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	len = snprintf(hdr, sizeof(hdr), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/vnd.cups-ppd\r\nContent-Length: %lld\r\n\r\n*%%", bytes);
	if (write(fd, hdr, (size_t)len) != len)
		return;
	bytes -= 2;
	memset(chunk, 'x', sizeof(chunk));
	while (bytes > 0) {
		size_t take = interval_ms > 0 ? 1 :
		    bytes < (long long)sizeof(chunk) ? (size_t)bytes : sizeof(chunk);

		if (write(fd, chunk, take) != (ssize_t)take)
			return;
		bytes -= (long long)take;
		if (interval_ms > 0)
			usleep((useconds_t)interval_ms * 1000);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	long long bytes = -1;
	int c, interval_ms = 0, s;

	while ((c = getopt(argc, argv, "n:i:")) != -1) {
		switch (c) {
		case 'n': bytes = atoll(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: slow-http -n BYTES [-i INTERVAL_MS]\n");
			return 2;
		}
	}
	if (bytes < 2)
		return 2;
	signal(SIGCHLD, SIG_IGN);	/* no zombies */
	signal(SIGPIPE, SIG_IGN);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0 ||
	    getsockname(s, (struct sockaddr *)&sa, &sl) != 0) {
		perror("slow-http");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);

		if (fd < 0)
			continue;
		if (fork() == 0) {
			close(s);
			serve(fd, bytes, interval_ms);
			_exit(0);
		}
		close(fd);
	}
}
