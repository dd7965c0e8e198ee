/*
 * statusload: asks a broker's control socket for its status at a steady
 * rate, as monitoring would, and says how it went.
 *
 *   statusload -s CONTROL_PATH [-q REQUEST] [-r PER_SECOND] [-t SECONDS]
 *              [-c THREADS]
 *
 * Each of THREADS (default 4) connects, sends REQUEST ("status", the
 * default, or "summary"), reads the answer
 * to its end and checks that it is a JSON object, at PER_SECOND / THREADS
 * a second (default 1000 in all) for SECONDS (default 30).  PER_SECOND 0
 * means as fast as it goes: each thread asks again as soon as it has its
 * answer, so the rate printed is what the broker achieves with THREADS
 * clients at once.  Prints one line:
 *
 *   requests N errors E rate R/s p50 X ms p99 Y ms max Z ms bytes B
 *
 * and exits 1 when a request failed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 64
#define MAX_SAMPLES (1 << 22)

static const char *path, *request = "status";
static double period_s, seconds = 30;
static double start_s;

struct worker {
	pthread_t t;
	double *lat;		/* milliseconds */
	size_t n, errors;
	unsigned long long bytes;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One request: 0 with the answer's size, or -1. */
static int
ask(unsigned long long *size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char buf[65536], first = 0, last = 0;
	ssize_t n;
	int fd, rc = -1;

	*size = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    dprintf(fd, "%s\n", request) != (int)strlen(request) + 1)
		goto out;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (*size == 0)
			first = buf[0];
		*size += (unsigned long long)n;
		last = buf[n - 1];
	}
	/* The answer is one JSON object and a newline. */
	if (n == 0 && first == '{' && (last == '\n' || last == '}'))
		rc = 0;
out:
	close(fd);
	return rc;
}

static void *
run(void *arg)
{
	struct worker *w = arg;
	double next = start_s;
	unsigned long long size;

	while (now_s() < start_s + seconds && w->n < MAX_SAMPLES) {
		double t0 = now_s();

		if (ask(&size) != 0)
			w->errors++;
		w->lat[w->n++] = (now_s() - t0) * 1000;
		w->bytes += size;
		next += period_s;
		if (period_s > 0 && next > now_s())
			usleep((useconds_t)((next - now_s()) * 1e6));
	}
	return NULL;
}

static int
by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	struct worker w[MAX_THREADS];
	double rate = 1000, *all, took;
	size_t total = 0, errors = 0, k = 0;
	unsigned long long bytes = 0;
	int c, threads = 4;

	while ((c = getopt(argc, argv, "s:q:r:t:c:")) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'q': request = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'c': threads = atoi(optarg); break;
		default:
			goto usage;
		}
	}
	if (path == NULL || rate < 0 || seconds <= 0 || threads < 1 ||
	    threads > MAX_THREADS)
		goto usage;
	period_s = rate > 0 ? threads / rate : 0;
	start_s = now_s();
	memset(w, 0, sizeof(w));
	for (int i = 0; i < threads; i++) {
		if ((w[i].lat = malloc(MAX_SAMPLES * sizeof(double))) == NULL ||
		    pthread_create(&w[i].t, NULL, run, &w[i]) != 0) {
			perror("statusload");
			return 2;
		}
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		total += w[i].n;
		errors += w[i].errors;
		bytes += w[i].bytes;
	}
	took = now_s() - start_s;
	if ((all = malloc((total + 1) * sizeof(double))) == NULL)
		return 2;
	for (int i = 0; i < threads; i++) {
		memcpy(all + k, w[i].lat, w[i].n * sizeof(double));
		k += w[i].n;
		free(w[i].lat);
	}
	qsort(all, total, sizeof(double), by_value);
	printf("requests %zu errors %zu rate %.0f/s p50 %.2f ms p99 %.2f ms max %.2f ms "
	    "bytes %llu\n", total, errors, total / took,
	    total ? all[total / 2] : 0.0, total ? all[total * 99 / 100] : 0.0,
	    total ? all[total - 1] : 0.0, total ? bytes / total : 0);
	free(all);
	return errors ? 1 : 0;
usage:
	fprintf(stderr, "usage: statusload -s CONTROL_PATH [-q REQUEST] [-r PER_SECOND] "
	    "[-t SECONDS] [-c THREADS]\n(-r 0: as fast as it goes)\n");
	return 2;
}
