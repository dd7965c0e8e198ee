/*
 * relay: a man in the middle for end-to-end tests of the channel.  It
 * listens on a unix socket, connects each client to the broker's socket,
 * forwards both ways, and writes every byte it sees to a capture file.
 * With -f N it flips one byte in the body of the N-th frame the broker
 * sends, on the first connection only, as an attacker on the path would.
 * With -a AGENT_CAPTURE it also writes the bytes the agents send, alone,
 * for an attacker who replays them.
 *
 *   relay -l LISTEN_PATH -c CONNECT_PATH -w CAPTURE [-f N] [-a AGENT_CAPTURE]
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PAIRS 16

struct pair {
	int agent, broker;		/* -1 when closed */
	int flip;			/* flip in this pair's broker frames */
	/* Frame parsing of the broker -> agent direction. */
	unsigned frame;			/* frames seen so far */
	uint8_t hdr[8];
	size_t hdr_got, body_left, body_len;
};

static struct pair pairs[MAX_PAIRS];
static FILE *capture, *agent_capture;
static unsigned flip_frame;

static int
unix_socket(const char *path, int listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (listening) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0)
			goto fail;
	} else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Walks the broker's frames in buf and flips a byte of frame flip_frame. */
static void
tamper(struct pair *p, uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n; ) {
		if (p->hdr_got < 8) {
			p->hdr[p->hdr_got++] = buf[i++];
			if (p->hdr_got == 8) {
				p->body_len = p->body_left = (size_t)p->hdr[4] << 24 |
				    (size_t)p->hdr[5] << 16 | (size_t)p->hdr[6] << 8 | p->hdr[7];
				p->frame++;
			}
			continue;
		}
		if (p->flip && p->frame == flip_frame &&
		    p->body_left == p->body_len / 2 + 1) {
			buf[i] ^= 0x01;
			p->flip = 0;
			fprintf(stderr, "relay: flipped a byte of frame %u\n", p->frame);
		}
		i++;
		if (--p->body_left == 0)
			p->hdr_got = 0;
	}
}

static void
close_pair(struct pair *p)
{
	close(p->agent);
	close(p->broker);
	p->agent = p->broker = -1;
}

int
main(int argc, char **argv)
{
	const char *lpath = NULL, *cpath = NULL, *wpath = NULL, *apath = NULL;
	int c, lfd, flipped_once = 0;

	while ((c = getopt(argc, argv, "l:c:w:f:a:")) != -1) {
		switch (c) {
		case 'l': lpath = optarg; break;
		case 'c': cpath = optarg; break;
		case 'w': wpath = optarg; break;
		case 'f': flip_frame = (unsigned)atoi(optarg); break;
		case 'a': apath = optarg; break;
		default:
			fprintf(stderr, "usage: relay -l LISTEN -c CONNECT -w CAPTURE [-f N] "
			    "[-a AGENT_CAPTURE]\n");
			return 2;
		}
	}
	if (lpath == NULL || cpath == NULL || wpath == NULL ||
	    (capture = fopen(wpath, "wb")) == NULL ||
	    (apath && (agent_capture = fopen(apath, "wb")) == NULL) ||
	    (lfd = unix_socket(lpath, 1)) < 0) {
		fprintf(stderr, "relay: cannot start: %s\n", strerror(errno));
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < MAX_PAIRS; i++)
		pairs[i].agent = pairs[i].broker = -1;
	for (;;) {
		struct pollfd fds[1 + 2 * MAX_PAIRS];
		int nfds = 1;

		fds[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_PAIRS; i++) {
			fds[nfds++] = (struct pollfd){ .fd = pairs[i].agent, .events = POLLIN };
			fds[nfds++] = (struct pollfd){ .fd = pairs[i].broker, .events = POLLIN };
		}
		if (poll(fds, (nfds_t)nfds, -1) < 0 && errno != EINTR)
			return 1;
		if (fds[0].revents & POLLIN) {
			int a = accept(lfd, NULL, NULL), b = unix_socket(cpath, 0), slot = -1;

			for (int i = 0; i < MAX_PAIRS && slot < 0; i++)
				if (pairs[i].agent < 0)
					slot = i;
			if (a < 0 || b < 0 || slot < 0) {
				close(a);
				close(b);
			} else {
				memset(&pairs[slot], 0, sizeof(pairs[slot]));
				pairs[slot].agent = a;
				pairs[slot].broker = b;
				pairs[slot].flip = flip_frame > 0 && !flipped_once;
				flipped_once = 1;
			}
		}
		for (int i = 0; i < MAX_PAIRS; i++) {
			struct pair *p = &pairs[i];

			for (int dir = 0; dir < 2 && p->agent >= 0; dir++) {
				struct pollfd *f = &fds[1 + 2 * i + dir];
				int from = dir ? p->broker : p->agent, to = dir ? p->agent : p->broker;
				uint8_t buf[65536];
				ssize_t n;

				if (!(f->revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				if ((n = read(from, buf, sizeof(buf))) <= 0) {
					close_pair(p);
					break;
				}
				if (dir)
					tamper(p, buf, (size_t)n);
				fwrite(buf, 1, (size_t)n, capture);
				fflush(capture);
				if (!dir && agent_capture) {
					fwrite(buf, 1, (size_t)n, agent_capture);
					fflush(agent_capture);
				}
				if (write(to, buf, (size_t)n) != n) {
					close_pair(p);
					break;
				}
			}
		}
	}
}
