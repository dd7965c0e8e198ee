/*
 * latency: how long a host change takes to be a guest's (make bench).
 *
 *   latency -s CONTROL -H HOST_CUPS -G GUEST_CUPS -g GUEST_ID
 *           -a URI_A -b URI_B [-n RUNS] [-p PREFIX]
 *
 * RUNS times (default 30), on queue PREFIX<i> of the host's cupsd:
 *   add     a queue with device URI_A (one CUPS-Add-Modify-Printer, accepting
 *           and idle, as `lpadmin -E` leaves it)
 *   modify  its device set to URI_B: another print-server queue, another
 *           driver
 *   delete  the queue removed
 * and for each, the milliseconds from sending the host's request until the
 * change is done in the guest: the guest's cupsd has the queue with the
 * new driver (the printer-make-and-model of the print-server queue at the
 * URI), or no longer has it, AND the broker's status (the control socket,
 * as `host-broker status --json`) has guest GUEST_ID's report of it on the
 * broker's generation: installed, or gone.  Polls every POLL_US.
 * Prints one line per change ("add 1 42.1") and exits 1 when one did not
 * happen within TIMEOUT_MS.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cups/cups.h>
#include <json-c/json.h>

#define POLL_US 2000
#define TIMEOUT_MS 10000

static const char *control, *host_spec, *guest_spec, *guest_id;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static http_t *
connect_cups(const char *spec)
{
	char host[256];
	int port = 631;
	const char *colon = strrchr(spec, ':');
	http_t *h;

	if (spec[0] == '/' || colon == NULL) {
		snprintf(host, sizeof(host), "%s", spec);
	} else {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = atoi(colon + 1);
	}
	h = httpConnect2(host, port, NULL, AF_UNSPEC, HTTP_ENCRYPTION_IF_REQUESTED,
	    1, 5000, NULL);
	if (h == NULL) {
		fprintf(stderr, "latency: cannot reach cupsd %s\n", spec);
		exit(2);
	}
	return h;
}

static ipp_t *
request(ipp_op_t op, const char *queue)
{
	char uri[512];
	ipp_t *req = ippNewRequest(op);

	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/printers/%s", queue);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, "root");
	return req;
}

static void
must(ipp_t *resp, const char *what)
{
	if (resp == NULL || ippGetStatusCode(resp) > IPP_STATUS_OK_CONFLICTING) {
		fprintf(stderr, "latency: %s: %s\n", what, cupsLastErrorString());
		exit(2);
	}
	ippDelete(resp);
}

/* The guest queue's printer-make-and-model into mm, or "" when absent. */
static void
guest_model(http_t *g, const char *queue, char *mm, size_t len)
{
	static const char *want[] = { "printer-make-and-model" };
	ipp_t *req = request(IPP_OP_GET_PRINTER_ATTRIBUTES, queue), *resp;
	ipp_attribute_t *a;

	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD,
	    "requested-attributes", 1, NULL, want);
	resp = cupsDoRequest(g, req, "/");
	mm[0] = '\0';
	if (resp && ippGetStatusCode(resp) <= IPP_STATUS_OK_CONFLICTING &&
	    (a = ippFindAttribute(resp, "printer-make-and-model", IPP_TAG_TEXT)))
		snprintf(mm, len, "%s", ippGetString(a, 0, NULL));
	ippDelete(resp);
}

static json_object *
status(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char buf[8 << 20];
	size_t len = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	json_object *doc;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", control);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    write(fd, "status\n", 7) != 7) {
		fprintf(stderr, "latency: control socket %s: %s\n", control,
		    strerror(errno));
		exit(2);
	}
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if ((doc = json_tokener_parse(buf)) == NULL) {
		fprintf(stderr, "latency: the status is not JSON\n");
		exit(2);
	}
	return doc;
}

static json_object *
field(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o != NULL && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/*
 * guest_id's report state of queue on the broker's generation, from the
 * broker's status: "gone" when not in it or removed, "" when the guest has
 * not reported on that generation yet.
 */
static void
broker_view(const char *queue, char *state, size_t slen)
{
	json_object *doc = status(), *gs;
	uint64_t gen = (uint64_t)json_object_get_uint64(
	    field(field(doc, "broker"), "generation"));

	state[0] = '\0';
	gs = field(doc, "guests");
	for (size_t i = 0; gs && i < json_object_array_length(gs); i++) {
		json_object *g = json_object_array_get_idx(gs, i), *rp;

		if (strcmp(json_object_get_string(field(g, "id")), guest_id) != 0 ||
		    (uint64_t)json_object_get_uint64(field(g, "generation")) < gen)
			continue;
		snprintf(state, slen, "gone");
		rp = field(g, "printers");
		for (size_t j = 0; rp && j < json_object_array_length(rp); j++) {
			json_object *p = json_object_array_get_idx(rp, j);

			if (strcmp(json_object_get_string(field(p, "name")), queue) == 0 &&
			    strcmp(json_object_get_string(field(p, "state")), "removed") != 0)
				snprintf(state, slen, "%s",
				    json_object_get_string(field(p, "state")));
		}
	}
	json_object_put(doc);
}

/* Waits until queue is in the guest with model want (NULL: not there);
 * the milliseconds since t0, or -1 on timeout. */
static double
wait_guest(http_t *g, const char *queue, const char *want, double t0)
{
	char mm[512], state[64];

	while (now_ms() - t0 < TIMEOUT_MS) {
		guest_model(g, queue, mm, sizeof(mm));
		if (want ? strcmp(mm, want) == 0 : mm[0] == '\0') {
			broker_view(queue, state, sizeof(state));
			if (want ? strcmp(state, "installed") == 0 :
			    strcmp(state, "gone") == 0)
				return now_ms() - t0;
		}
		usleep(POLL_US);
	}
	return -1;
}

/* The make and model of the print-server queue at uri (its driver's). */
static void
driver_model(const char *uri, char *mm, size_t len)
{
	char scheme[16], user[64], host[256], res[512], spec[300];
	int port;
	http_t *h;

	if (httpSeparateURI(HTTP_URI_CODING_ALL, uri, scheme, sizeof(scheme), user,
	    sizeof(user), host, sizeof(host), &port, res, sizeof(res)) < HTTP_URI_OK ||
	    strncmp(res, "/printers/", 10) != 0) {
		fprintf(stderr, "latency: %s is not ipp://HOST:PORT/printers/QUEUE\n", uri);
		exit(2);
	}
	snprintf(spec, sizeof(spec), "%s:%d", host, port);
	h = connect_cups(spec);
	guest_model(h, res + 10, mm, len);
	httpClose(h);
	if (mm[0] == '\0') {
		fprintf(stderr, "latency: no queue at %s\n", uri);
		exit(2);
	}
}

static void
set_queue(http_t *h, const char *queue, const char *uri)
{
	ipp_t *req = request(IPP_OP_CUPS_ADD_MODIFY_PRINTER, queue);

	ippAddString(req, IPP_TAG_PRINTER, IPP_TAG_URI, "device-uri", NULL, uri);
	ippAddBoolean(req, IPP_TAG_PRINTER, "printer-is-accepting-jobs", 1);
	ippAddInteger(req, IPP_TAG_PRINTER, IPP_TAG_ENUM, "printer-state",
	    IPP_PSTATE_IDLE);
	must(cupsDoRequest(h, req, "/admin/"), "CUPS-Add-Modify-Printer");
}

int
main(int argc, char **argv)
{
	const char *uri_a = NULL, *uri_b = NULL, *prefix = "lat_";
	char mm_a[512], mm_b[512];
	int runs = 30, c, failed = 0;
	http_t *host, *guest;

	while ((c = getopt(argc, argv, "s:H:G:g:a:b:n:p:")) != -1) {
		switch (c) {
		case 's': control = optarg; break;
		case 'H': host_spec = optarg; break;
		case 'G': guest_spec = optarg; break;
		case 'g': guest_id = optarg; break;
		case 'a': uri_a = optarg; break;
		case 'b': uri_b = optarg; break;
		case 'n': runs = atoi(optarg); break;
		case 'p': prefix = optarg; break;
		default: goto usage;
		}
	}
	if (!control || !host_spec || !guest_spec || !guest_id || !uri_a ||
	    !uri_b || runs < 1)
		goto usage;
	setvbuf(stdout, NULL, _IOLBF, 0);
	driver_model(uri_a, mm_a, sizeof(mm_a));
	driver_model(uri_b, mm_b, sizeof(mm_b));
	if (strcmp(mm_a, mm_b) == 0) {
		fprintf(stderr, "latency: %s and %s have the same driver\n", uri_a, uri_b);
		return 2;
	}
	host = connect_cups(host_spec);
	guest = connect_cups(guest_spec);
	for (int i = 1; i <= runs; i++) {
		char q[128];
		double t0, ms;

		snprintf(q, sizeof(q), "%s%d", prefix, i);
		t0 = now_ms();
		set_queue(host, q, uri_a);
		ms = wait_guest(guest, q, mm_a, t0);
		printf("add %d %.1f\n", i, ms);
		failed |= ms < 0;

		t0 = now_ms();
		set_queue(host, q, uri_b);
		ms = wait_guest(guest, q, mm_b, t0);
		printf("modify %d %.1f\n", i, ms);
		failed |= ms < 0;

		t0 = now_ms();
		must(cupsDoRequest(host, request(IPP_OP_CUPS_DELETE_PRINTER, q),
		    "/admin/"), "CUPS-Delete-Printer");
		ms = wait_guest(guest, q, NULL, t0);
		printf("delete %d %.1f\n", i, ms);
		failed |= ms < 0;
	}
	httpClose(host);
	httpClose(guest);
	return failed;
usage:
	fprintf(stderr, "Usage: latency -s CONTROL -H HOST_CUPS -G GUEST_CUPS "
	    "-g GUEST_ID -a URI_A -b URI_B [-n RUNS] [-p PREFIX]\n");
	return 2;
}
