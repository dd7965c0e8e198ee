/*
 * printredir notifier: CUPS runs it, as the scheduler's User, for the
 * broker's push subscription (notify-recipient-uri printredir:SOCKET), and
 * writes that subscription's events to its standard input as IPP
 * messages.  It connects to the broker's events socket SOCKET, says hello
 * with the subscription's token (notify-user-data, argv[2]), and passes
 * each event on as one line:
 *
 *   printredir-notifier 1 TOKEN
 *   event SEQUENCE NAME
 *
 * Nothing else: the broker lists the host's queues itself, so an event
 * only wakes it.  The notifier exits when CUPS closes its input (the
 * subscription ended) or the broker closes the socket; CUPS starts it
 * again at the subscription's next event.  Installed as
 * SERVERBIN/notifier/printredir.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cups/cups.h>

#define SCHEME "printredir:"
#define TOKEN_MAX 63		/* notify-user-data is at most 63 octets */

/* Writes all of s; 0 or -1. */
static int
send_line(int fd, const char *s)
{
	size_t len = strlen(s);

	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A token or event name worth passing on: short, [A-Za-z0-9-]. */
static int
is_word(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (n >= max || !(s[n] == '-' || (s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9')))
			return 0;
	return n > 0;
}

static int
connect_broker(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ERROR: printredir notifier: %s is not an absolute "
		    "socket path\n", path);
		return -1;
	}
	if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "ERROR: printredir notifier: no broker socket at %s\n",
		    path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "ERROR: printredir notifier: cannot connect to %s: %s\n",
		    path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	char line[160], token[TOKEN_MAX + 1];
	int fd, len = (int)sizeof(token) - 1;

	setbuf(stderr, NULL);
	if (argc != 3 || strncmp(argv[1], SCHEME, strlen(SCHEME)) != 0) {
		fprintf(stderr, "Usage: %s printredir:SOCKET TOKEN\n"
		    "The CUPS notifier of printredir's host broker: CUPS runs it for\n"
		    "the broker's subscription and writes the events to its input.\n",
		    argc > 0 ? argv[0] : "printredir");
		return 1;
	}
	if (strlen(argv[2]) > 4 * ((TOKEN_MAX + 2) / 3) ||
	    httpDecode64_2(token, &len, argv[2]) == NULL ||
	    (token[len] = '\0', !is_word(token, TOKEN_MAX))) {
		fputs("ERROR: printredir notifier: the subscription has no valid "
		    "token\n", stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((fd = connect_broker(argv[1] + strlen(SCHEME))) < 0)
		return 1;
	snprintf(line, sizeof(line), "printredir-notifier 1 %s\n", token);
	if (send_line(fd, line) != 0)
		return 0;
	for (;;) {
		ipp_t *event = ippNew();
		ipp_state_t state;
		ipp_attribute_t *a;
		const char *name;
		int seq;

		while ((state = ippReadFile(0, event)) != IPP_STATE_DATA)
			if (state <= IPP_STATE_IDLE)
				break;
		if (state <= IPP_STATE_IDLE) {	/* end of input, or garbage */
			ippDelete(event);
			break;
		}
		a = ippFindAttribute(event, "notify-sequence-number", IPP_TAG_INTEGER);
		seq = a ? ippGetInteger(a, 0) : 0;
		a = ippFindAttribute(event, "notify-subscribed-event", IPP_TAG_KEYWORD);
		name = a ? ippGetString(a, 0, NULL) : NULL;
		snprintf(line, sizeof(line), "event %d %s\n", seq,
		    name && is_word(name, 64) ? name : "unknown");
		ippDelete(event);
		if (send_line(fd, line) != 0)
			break;		/* the broker went away */
	}
	close(fd);
	return 0;
}
