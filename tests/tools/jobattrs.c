/*
 * jobattrs: prints the jobs of one queue of a cupsd (all of them, finished
 * ones included) with their job attributes, one job per block:
 *
 *   job 12
 *   job-name=Rapport mensuel
 *   job-originating-user-name=alice
 *   copies=2
 *   sides=two-sided-long-edge
 *   ...
 *
 * so that end-to-end tests can check what reached the host's queue.
 *
 *   jobattrs SERVER QUEUE     SERVER as cupsconn_open takes it (HOST:PORT or
 *                             a socket path)
 */
#include <stdio.h>

#include <cups/cups.h>

#include "cupsconn.h"

/* Prints every attribute of job id (Get-Job-Attributes loads a finished
 * job's attributes from its control file; Get-Jobs does not). */
static int
print_job(http_t *http, int id)
{
	char uri[HTTP_MAX_URI], value[2048];
	ipp_attribute_t *a;
	ipp_t *req, *resp;

	req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES);
	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/jobs/%d", id);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, cupsUser());
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		fprintf(stderr, "jobattrs: job %d: %s\n", id, cupsLastErrorString());
		ippDelete(resp);
		return 1;
	}
	printf("job\n");
	for (a = ippFirstAttribute(resp); a; a = ippNextAttribute(resp)) {
		if (ippGetName(a) == NULL || ippGetGroupTag(a) != IPP_TAG_JOB)
			continue;
		ippAttributeString(a, value, sizeof(value));
		printf("%s=%s\n", ippGetName(a), value);
	}
	ippDelete(resp);
	return 0;
}

int
main(int argc, char **argv)
{
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	http_t *http;
	char err[256];
	int rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: jobattrs SERVER QUEUE\n");
		return 2;
	}
	if ((http = cupsconn_open(argv[1], 10000, err, sizeof(err))) == NULL) {
		fprintf(stderr, "jobattrs: %s\n", err);
		return 1;
	}
	req = cupsconn_request(IPP_OP_GET_JOBS, argv[2]);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "which-jobs", NULL, "all");
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    NULL, "job-id");
	resp = cupsDoRequest(http, req, "/");
	if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		fprintf(stderr, "jobattrs: Get-Jobs: %s\n", cupsLastErrorString());
		ippDelete(resp);
		httpClose(http);
		return 1;
	}
	for (a = ippFindAttribute(resp, "job-id", IPP_TAG_INTEGER); a;
	    a = ippFindNextAttribute(resp, "job-id", IPP_TAG_INTEGER))
		rc |= print_job(http, ippGetInteger(a, 0));
	ippDelete(resp);
	httpClose(http);
	return rc;
}
