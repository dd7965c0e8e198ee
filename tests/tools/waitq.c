/*
 * waitq: how long until a CUPS server has a printer: the add latencies of
 * tests/bench/browsed.sh, measured at a few milliseconds instead of the
 * ~15 ms one lpstat costs from a shell.
 *
 *   waitq -h SERVER -p PRINTER [-s START_US] [-t TIMEOUT_MS] [-i INTERVAL_MS]
 *
 * SERVER is HOST:PORT or a unix socket path.  Every INTERVAL_MS (default 5)
 * it asks SERVER for PRINTER's attributes on one kept connection; once it
 * has it, it prints the milliseconds
 * (one decimal) from START_US (microseconds since the epoch, as bash's
 * EPOCHREALTIME; default: when it started) and exits 0; after TIMEOUT_MS
 * (default 10000) it prints "timeout" and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cups/cups.h>

static long long
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* 1 when the server answers with PRINTER's attributes. */
static int
has_printer(http_t *http, const char *printer)
{
	char uri[HTTP_MAX_URI];
	static const char *const want[] = { "printer-name" };
	ipp_t *req = ippNewRequest(IPP_OP_GET_PRINTER_ATTRIBUTES), *resp;
	int ok;

	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/printers/%s", printer);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    1, NULL, want);
	resp = cupsDoRequest(http, req, "/");
	ok = resp && ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING;
	ippDelete(resp);
	return ok;
}

int
main(int argc, char **argv)
{
	const char *server = NULL, *printer = NULL;
	char host[256];
	long long start = now_us(), timeout_ms = 10000, interval_ms = 5;
	int c, port = 0;
	http_t *http = NULL;

	while ((c = getopt(argc, argv, "h:p:s:t:i:")) != -1) {
		switch (c) {
		case 'h': server = optarg; break;
		case 'p': printer = optarg; break;
		case 's': start = atoll(optarg); break;
		case 't': timeout_ms = atoll(optarg); break;
		case 'i': interval_ms = atoll(optarg); break;
		default: server = NULL; optind = argc; break;
		}
	}
	if (!server || !printer || strlen(server) >= sizeof(host)) {
		fprintf(stderr, "usage: waitq -h SERVER -p PRINTER [-s START_US] "
		    "[-t TIMEOUT_MS] [-i INTERVAL_MS]\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%s", server);
	if (host[0] != '/') {
		char *colon = strrchr(host, ':');

		if (colon) {
			*colon = '\0';
			port = atoi(colon + 1);
		}
	}
	for (;;) {
		if (!http)
			http = httpConnect2(host, port ? port : ippPort(), NULL, AF_UNSPEC,
			    HTTP_ENCRYPTION_IF_REQUESTED, 1, 3000, NULL);
		if (http && has_printer(http, printer)) {
			printf("%.1f\n", (double)(now_us() - start) / 1000);
			return 0;
		}
		if (http && cupsLastError() >= IPP_STATUS_ERROR_INTERNAL) {
			httpClose(http);	/* reconnect on the next round */
			http = NULL;
		}
		if (now_us() - start > timeout_ms * 1000) {
			printf("timeout\n");
			return 1;
		}
		struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}
