/*
 * fake-tray: a scripted tray helper for restart tests.  It speaks the
 * agent's tray protocol (guest-agent/tray.c) over the real socket, prints
 * every line the agent sends, and answers each prompt as told.
 *
 *   fake-tray -s PATH [-a now|later|none] [-n COUNT] [-x LINE]... [-y LINE]...
 *
 *   -a   the answer to every prompt (none: never answer)
 *   -n   exit after this many prompts (default: run until killed)
 *   -x   send LINE as it is before the hello (a hostile tray; repeatable)
 *   -y   send LINE as it is after the hello (repeatable)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = NULL, *answer = "none";
	char line[8192];
	const char *raw[16], *after[16];
	int c, fd, limit = -1, prompts = 0, nraw = 0, nafter = 0;
	FILE *in;

	while ((c = getopt(argc, argv, "s:a:n:x:y:")) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'a': answer = optarg; break;
		case 'n': limit = atoi(optarg); break;
		case 'x':
			if (nraw < 16)
				raw[nraw++] = optarg;
			break;
		case 'y':
			if (nafter < 16)
				after[nafter++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: fake-tray -s PATH [-a now|later|none] [-n COUNT] "
			    "[-x LINE]... [-y LINE]...\n");
			return 2;
		}
	}
	if (path == NULL)
		return 2;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	for (int i = 0; ; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		if (i == 100) {
			perror("fake-tray: connect");
			return 1;
		}
		usleep(100000);
	}
	for (int i = 0; i < nraw; i++)
		dprintf(fd, "%s\n", raw[i]);
	dprintf(fd, "{\"type\":\"hello\",\"notifications\":true}\n");
	for (int i = 0; i < nafter; i++)
		dprintf(fd, "%s\n", after[i]);
	in = fdopen(fd, "r");
	while (fgets(line, sizeof(line), in)) {
		char *id;

		printf("%s", line);
		fflush(stdout);
		if (strstr(line, "\"type\":\"prompt\"") == NULL)
			continue;
		prompts++;
		if (strcmp(answer, "none") != 0 && (id = strstr(line, "\"id\":")) != NULL)
			dprintf(fd, "{\"type\":\"answer\",\"id\":%lld,\"choice\":\"%s\"}\n",
			    atoll(id + 5), answer);
		if (limit > 0 && prompts >= limit)
			break;
	}
	fclose(in);
	return 0;
}
