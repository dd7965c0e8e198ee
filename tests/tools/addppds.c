/*
 * addppds: adds one queue per PPD file to a cupsd over ONE connection, the
 * way lpadmin -P adds one (CUPS-Add-Modify-Printer with the PPD as the
 * request's file, cupsDoFileRequest), each enabled and accepting, and
 * exits.  The baseline of the bulk-sync benchmark (tests/bench/bulk.sh):
 * what a guest's cupsd costs to take the PPDs, with nothing of printredir
 * on the way.
 *
 *   addppds SERVER FILE...   SERVER as cupsconn_open takes it (HOST:PORT or
 *                            a socket path); queue NAME for file NAME.ppd,
 *                            device URI printredir:NAME (as the agent sets)
 *
 * Prints "added N queues in MS ms" (connection included); exit status 0
 * when every queue was added, 1 otherwise, 2 on a usage error.
 */
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cups/cups.h>

#include "cupsconn.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	char err[256], name[256], dev[300], path[4096];
	http_t *http;
	ipp_t *req, *resp;
	double t0 = now_ms();
	int added = 0, failed = 0;
	size_t n;

	if (argc < 3) {
		fprintf(stderr, "usage: addppds SERVER FILE...\n");
		return 2;
	}
	if ((http = cupsconn_open(argv[1], 10000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "addppds: %s\n", err);
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		snprintf(path, sizeof(path), "%s", argv[i]);
		snprintf(name, sizeof(name), "%s", basename(path));
		n = strlen(name);
		if (n > 4 && strcmp(name + n - 4, ".ppd") == 0)
			name[n - 4] = '\0';
		snprintf(dev, sizeof(dev), "printredir:%s", name);
		req = cupsconn_request(IPP_OP_CUPS_ADD_MODIFY_PRINTER, name);
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_URI, "device-uri", NULL, dev);
		ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-info", NULL,
		    name);
		ippAddBoolean(req, IPP_TAG_PRINTER, "printer-is-accepting-jobs", 1);
		ippAddInteger(req, IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
		    IPP_PSTATE_IDLE);
		resp = cupsDoFileRequest(http, req, "/admin/", argv[i]);
		if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
			fprintf(stderr, "addppds: %s: %s\n", name, cupsLastErrorString());
			failed++;
		} else
			added++;
		ippDelete(resp);
	}
	httpClose(http);
	printf("added %d queues in %.0f ms\n", added, now_ms() - t0);
	return failed ? 1 : 0;
}
