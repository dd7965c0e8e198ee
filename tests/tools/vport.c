/*
 * vport: a stand-in for QEMU's virtio-serial port and its chardev socket,
 * for tests without a VM.  The guest's end is a pseudo-terminal in raw mode
 * (a character device, as /dev/virtio-ports/NAME is), reached through the
 * symlink DEVICE; the host's end is a listening unix socket SOCKET, as
 * `-chardev socket,path=SOCKET,server=on,wait=off` makes.  One host client
 * at a time; bytes from the guest while no client is connected are dropped,
 * and the device stays when a client leaves.
 *
 *   vport -s SOCKET -d DEVICE
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *sock = NULL, *dev = NULL;
	struct termios t;
	int c, master, slave, lfd, client = -1;

	while ((c = getopt(argc, argv, "s:d:")) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'd': dev = optarg; break;
		default:
			fprintf(stderr, "usage: vport -s SOCKET -d DEVICE\n");
			return 2;
		}
	}
	if (sock == NULL || dev == NULL)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	if ((master = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || grantpt(master) != 0 ||
	    unlockpt(master) != 0 || (slave = open(ptsname(master), O_RDWR | O_NOCTTY)) < 0 ||
	    tcgetattr(slave, &t) != 0) {
		perror("vport: pty");
		return 1;
	}
	/* A byte stream: no echo, no line editing, no translation.  The slave
	 * stays open here so that the device lives between the guest's opens. */
	cfmakeraw(&t);
	tcsetattr(slave, TCSANOW, &t);
	unlink(dev);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	unlink(sock);
	if (symlink(ptsname(master), dev) != 0 ||
	    (lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0) {
		perror("vport: socket");
		return 1;
	}
	for (;;) {
		struct pollfd fds[3] = {
			{ .fd = lfd, .events = client < 0 ? POLLIN : 0 },
			{ .fd = master, .events = POLLIN },
			{ .fd = client, .events = POLLIN },
		};
		char buf[65536];
		ssize_t n;

		if (poll(fds, 3, -1) < 0 && errno != EINTR)
			return 1;
		if (fds[0].revents & POLLIN)
			client = accept(lfd, NULL, NULL);
		if (fds[1].revents & POLLIN) {
			n = read(master, buf, sizeof(buf));
			if (n > 0 && client >= 0 && write(client, buf, (size_t)n) != n) {
				close(client);
				client = -1;
			}
		}
		if (client >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			n = read(client, buf, sizeof(buf));
			if (n <= 0 || write(master, buf, (size_t)n) != n) {
				close(client);
				client = -1;
			}
		}
	}
}
