/*
 * flood: opens many idle connections to a unix socket and holds them, as a
 * keyless attacker would, for tests of the broker's pre-handshake budget.
 *
 *   flood -s PATH -n COUNT -t SECONDS
 *
 * Prints how many connections it opened, then holds them for SECONDS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL;
	int c, n = 1000, secs = 10, opened = 0;
	struct rlimit rl;

	while ((c = getopt(argc, argv, "s:n:t:")) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: flood -s PATH -n COUNT -t SECONDS\n");
			return 2;
		}
	}
	if (path == NULL || n <= 0)
		return 2;
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 64;
	(void)setrlimit(RLIMIT_NOFILE, &rl);	/* as root; else as many as allowed */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		opened++;
	}
	printf("opened %d\n", opened);
	fflush(stdout);
	sleep((unsigned)secs);
	return 0;
}
