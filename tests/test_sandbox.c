/*
 * test_sandbox: the test world of tests/sandbox/sandbox is what the other
 * end-to-end tests rely on, so check it with libcups the way the broker and
 * the agent will see it: three cupsd instances, the print server's driver
 * queues with PPDs served over HTTP byte-identical to its own files, a raw
 * queue without a PPD, the host's network, direct and local queues, an empty
 * guest; and a stop that leaves no process and no folder behind.
 *
 * One world per program: an unchecked fixture starts it in the runner process
 * and always stops it (stop is idempotent), the checks run in forked tests,
 * the last test stops it itself and checks that nothing is left.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cups/cups.h>
#include <cups/http.h>
#include <cups/ipp.h>

#include "runner.h"
#include "world.h"

#define MAX_QUEUES 64

/* ------------------------------------------------------------ helpers -- */

/* Splits a space-separated list into words (strdup'ed); returns the count. */
static int
split(const char *list, char **words, int max)
{
	char *copy = strdup(list), *save = NULL, *w;
	int n = 0;

	for (w = strtok_r(copy, " ", &save); w != NULL && n < max;
	    w = strtok_r(NULL, " ", &save))
		words[n++] = strdup(w);
	free(copy);
	return n;
}

static void
free_words(char **words, int n)
{
	for (int i = 0; i < n; i++)
		free(words[i]);
}

/* A process is gone when it no longer exists, is a zombie waiting for its
 * reaper, or its PID now belongs to something that is not part of the world. */
static int
process_gone(long pid)
{
	char path[64], buf[4096];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	{
		char *p = strrchr(buf, ')');
		if (p != NULL && p[1] == ' ' && p[2] == 'Z')
			return 1;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return strstr(buf, world_dir()) == NULL;
}

static http_t *
connect_port(const char *port_key)
{
	const char *port = world_env_need(port_key);
	http_t *http;

	http = httpConnect2("127.0.0.1", atoi(port), NULL, AF_INET,
	    HTTP_ENCRYPTION_NEVER, 1, 30000, NULL);
	ck_assert_msg(http != NULL, "cannot connect to 127.0.0.1:%s (%s): %s",
	    port, port_key, cupsLastErrorString());
	return http;
}

struct queue {
	char name[128];
	char uri[1024];
	char make_model[256];
	int state;
	int accepting;
};

/* CUPS-Get-Printers; returns the number of queues (0 when none).  Each
 * printer is one attribute group; groups are split by separators (attributes
 * without a name), and printer-name need not come first in a group. */
static int
get_printers(http_t *http, struct queue *q, int max)
{
	static const char *const attrs[] = {"printer-name", "device-uri",
	    "printer-make-and-model", "printer-state",
	    "printer-is-accepting-jobs"};
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	int n = 0, open = 0;

	req = ippNewRequest(IPP_OP_CUPS_GET_PRINTERS);
	ippAddStrings(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD,
	    "requested-attributes", (int)(sizeof(attrs) / sizeof(attrs[0])),
	    NULL, attrs);
	resp = cupsDoRequest(http, req, "/");
	if (cupsLastError() == IPP_STATUS_ERROR_NOT_FOUND) {
		ippDelete(resp);
		return 0;
	}
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "CUPS-Get-Printers failed: %s", cupsLastErrorString());
	for (a = ippFirstAttribute(resp); a != NULL; a = ippNextAttribute(resp)) {
		const char *name = ippGetName(a);

		if (name == NULL) {
			if (open)
				n++;
			open = 0;
			continue;
		}
		if (ippGetGroupTag(a) != IPP_TAG_PRINTER)
			continue;
		if (!open) {
			ck_assert_int_lt(n, max);
			memset(&q[n], 0, sizeof(q[n]));
			q[n].state = -1;
			q[n].accepting = -1;
			open = 1;
		}
		if (strcmp(name, "printer-name") == 0)
			snprintf(q[n].name, sizeof(q[n].name), "%s",
			    ippGetString(a, 0, NULL));
		else if (strcmp(name, "device-uri") == 0)
			snprintf(q[n].uri, sizeof(q[n].uri), "%s",
			    ippGetString(a, 0, NULL));
		else if (strcmp(name, "printer-make-and-model") == 0)
			snprintf(q[n].make_model, sizeof(q[n].make_model), "%s",
			    ippGetString(a, 0, NULL));
		else if (strcmp(name, "printer-state") == 0)
			q[n].state = ippGetInteger(a, 0);
		else if (strcmp(name, "printer-is-accepting-jobs") == 0)
			q[n].accepting = ippGetBoolean(a, 0);
	}
	if (open)
		n++;
	ippDelete(resp);
	for (int i = 0; i < n; i++)
		ck_assert_msg(q[i].name[0] != '\0' && q[i].state >= 0 &&
		    q[i].accepting >= 0, "CUPS-Get-Printers: incomplete printer "
		    "#%d (%s)", i, q[i].name);
	return n;
}

static const struct queue *
find_queue(const struct queue *q, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(q[i].name, name) == 0)
			return &q[i];
	return NULL;
}

static void
assert_ready(const struct queue *q)
{
	ck_assert_msg(q->state != IPP_PSTATE_STOPPED, "queue %s is stopped",
	    q->name);
	ck_assert_msg(q->accepting == 1, "queue %s does not accept jobs",
	    q->name);
}

/* HTTP GET of RESOURCE into a malloc'ed buffer; returns the HTTP status. */
static http_status_t
http_get(http_t *http, const char *resource, char **data, size_t *len)
{
	http_status_t status;
	size_t cap = 65536;
	char *buf;

	*data = NULL;
	*len = 0;
	for (int tries = 0;; tries++) {
		httpClearFields(http);
		httpSetField(http, HTTP_FIELD_HOST, httpGetHostname(http, NULL, 0));
		if (httpGet(http, resource) == 0)
			break;
		ck_assert_msg(tries < 2 && httpReconnect2(http, 30000, NULL) == 0,
		    "GET %s: cannot send the request", resource);
	}
	while ((status = httpUpdate(http)) == HTTP_STATUS_CONTINUE)
		;
	if (status != HTTP_STATUS_OK) {
		httpFlush(http);
		return status;
	}
	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	for (;;) {
		ssize_t n;

		if (*len + 1 >= cap) {
			char *bigger = realloc(buf, cap * 2);

			ck_assert_ptr_nonnull(bigger);
			buf = bigger;
			cap *= 2;
		}
		n = httpRead2(http, buf + *len, cap - *len - 1);
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	buf[*len] = '\0';	/* room kept: callers may use it as a string */
	*data = buf;
	return status;
}

static char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	*len = fread(buf, 1, (size_t)n, fp);
	fclose(fp);
	ck_assert_int_eq((long)*len, n);
	return buf;
}

/* ------------------------------------------------------------ fixture -- */

/* The start is checked here: its exit status and a readable env file. */
static void
setup(void)
{
	world_start("sandbox");
}

/* -------------------------------------------------------------- tests -- */

START_TEST(test_env_complete)
{
	static const char *const keys[] = {"SANDBOX_DIR", "PRINTSERVER_PORT",
	    "HOST_SERVER", "GUEST_PORT", "PRINTSERVER_DIR", "HOST_DIR",
	    "GUEST_DIR", "OUTPUT_DIR", "PRINTSERVER_QUEUES",
	    "PRINTSERVER_RAW_QUEUE", "HOST_NETWORK_QUEUES",
	    "HOST_DIRECT_QUEUE", "HOST_LOCAL_QUEUE", "PRINTSERVER_PID",
	    "HOST_PID", "GUEST_PID", "JETDIRECT_PIDS", "SANDBOX_PIDS"};
	struct stat st;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = world_env_get(keys[i]);

		ck_assert_msg(v != NULL && *v, "env lacks %s", keys[i]);
	}
	ck_assert_str_eq(world_env_need("SANDBOX_DIR"), world_dir());
	ck_assert_int_eq(stat(world_env_need("OUTPUT_DIR"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_str_ne(world_env_need("PRINTSERVER_PORT"), "631");
	/* The host is on its unix socket only. */
	ck_assert_ptr_null(world_env_get("HOST_PORT"));
	ck_assert_int_eq(stat(world_env_need("HOST_SERVER"), &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_str_ne(world_env_need("GUEST_PORT"), "631");
}
END_TEST

START_TEST(test_printserver_queues)
{
	struct queue q[MAX_QUEUES];
	char *names[MAX_QUEUES], *plain[MAX_QUEUES], *foo[MAX_QUEUES];
	int n, nnames, nplain, nfoo;
	const char *raw = world_env_need("PRINTSERVER_RAW_QUEUE");
	const struct queue *r;
	http_t *http = connect_port("PRINTSERVER_PORT");

	n = get_printers(http, q, MAX_QUEUES);
	nnames = split(world_env_need("PRINTSERVER_QUEUES"), names, MAX_QUEUES);
	ck_assert_int_ge(nnames, 5);
	ck_assert_int_eq(n, nnames + 1);
	for (int i = 0; i < nnames; i++) {
		const struct queue *p = find_queue(q, n, names[i]);

		ck_assert_msg(p != NULL, "print server lacks queue %s", names[i]);
		ck_assert_msg(strncmp(p->uri, "socket://127.0.0.1:", 19) == 0,
		    "%s: device %s", p->name, p->uri);
		ck_assert_msg(p->make_model[0] != '\0', "%s: no make and model",
		    p->name);
		assert_ready(p);
	}
	r = find_queue(q, n, raw);
	ck_assert_msg(r != NULL, "print server lacks raw queue %s", raw);
	ck_assert_msg(strncmp(r->uri, "socket://127.0.0.1:", 19) == 0,
	    "%s: device %s", r->name, r->uri);
	assert_ready(r);

	/* Both kinds of PPD for later tests: >= 3 plain, >= 1 foomatic. */
	nplain = split(world_env_need("PRINTSERVER_PLAIN_QUEUES"), plain,
	    MAX_QUEUES);
	nfoo = split(world_env_need("PRINTSERVER_FOOMATIC_QUEUES"), foo,
	    MAX_QUEUES);
	ck_assert_int_ge(nplain, 3);
	ck_assert_int_ge(nfoo, 1);
	ck_assert_int_eq(nplain + nfoo, nnames);
	free_words(names, nnames);
	free_words(plain, nplain);
	free_words(foo, nfoo);
	httpClose(http);
}
END_TEST

START_TEST(test_printserver_ppds)
{
	char *names[MAX_QUEUES], *foo[MAX_QUEUES], *data, *file;
	char resource[256], path[1024];
	size_t len, flen;
	http_status_t status;
	int nnames, nfoo;
	http_t *http = connect_port("PRINTSERVER_PORT");

	nnames = split(world_env_need("PRINTSERVER_QUEUES"), names, MAX_QUEUES);
	nfoo = split(world_env_need("PRINTSERVER_FOOMATIC_QUEUES"), foo,
	    MAX_QUEUES);
	for (int i = 0; i < nnames; i++) {
		int is_foo = 0;

		snprintf(resource, sizeof(resource), "/printers/%s.ppd", names[i]);
		status = http_get(http, resource, &data, &len);
		ck_assert_msg(status == HTTP_STATUS_OK, "GET %s: HTTP %d", resource,
		    (int)status);
		snprintf(path, sizeof(path), "%s/ppd/%s.ppd",
		    world_env_need("PRINTSERVER_DIR"), names[i]);
		file = read_file(path, &flen);
		ck_assert_msg(len == flen && memcmp(data, file, len) == 0,
		    "GET %s (%zu bytes) differs from %s (%zu bytes)", resource,
		    len, path, flen);
		ck_assert_msg(len > 11 && memcmp(data, "*PPD-Adobe:", 11) == 0,
		    "%s is not a PPD", resource);
		/* The kind the env file promises. */
		for (int j = 0; j < nfoo; j++)
			if (strcmp(foo[j], names[i]) == 0)
				is_foo = 1;
		ck_assert_msg((strstr(data, "\n*FoomaticRIPCommandLine") != NULL) ==
		    is_foo, "%s: FoomaticRIPCommandLine %s expected", names[i],
		    is_foo ? "" : "not");
		free(data);
		free(file);
	}

	snprintf(resource, sizeof(resource), "/printers/%s.ppd",
	    world_env_need("PRINTSERVER_RAW_QUEUE"));
	status = http_get(http, resource, &data, &len);
	ck_assert_msg(status == HTTP_STATUS_NOT_FOUND,
	    "GET %s of the raw queue: HTTP %d, expected 404", resource,
	    (int)status);
	free(data);
	free_words(names, nnames);
	free_words(foo, nfoo);
	httpClose(http);
}
END_TEST

START_TEST(test_host_queues)
{
	struct queue q[MAX_QUEUES];
	char *net[MAX_QUEUES], *ps[MAX_QUEUES], want[1024], key[256];
	int n, nnet, nps;
	const char *psport = world_env_need("PRINTSERVER_PORT");
	const struct queue *d, *l;
	http_t *http = httpConnect2(world_env_need("HOST_SERVER"), 0, NULL,
	    AF_LOCAL, HTTP_ENCRYPTION_NEVER, 1, 30000, NULL);

	n = get_printers(http, q, MAX_QUEUES);
	nnet = split(world_env_need("HOST_NETWORK_QUEUES"), net, MAX_QUEUES);
	nps = split(world_env_need("PRINTSERVER_QUEUES"), ps, MAX_QUEUES);
	ck_assert_int_eq(nnet, nps + 1);	/* + the raw queue */
	ck_assert_int_eq(n, nnet + 2);		/* + direct + local */

	/* Every print-server queue (raw included) has exactly its network
	 * queue on the host: ipp://127.0.0.1:PSPORT/printers/NAME. */
	ps[nps++] = strdup(world_env_need("PRINTSERVER_RAW_QUEUE"));
	for (int i = 0; i < nps; i++) {
		int found = 0;

		snprintf(want, sizeof(want), "ipp://127.0.0.1:%s/printers/%s",
		    psport, ps[i]);
		for (int j = 0; j < nnet; j++) {
			const struct queue *p = find_queue(q, n, net[j]);

			ck_assert_msg(p != NULL, "host lacks queue %s", net[j]);
			assert_ready(p);
			if (strcmp(p->uri, want) == 0) {
				found++;
				snprintf(key, sizeof(key), "HOST_NETWORK_TARGET_%.200s",
				    p->name);
				ck_assert_str_eq(world_env_need(key), ps[i]);
			}
		}
		ck_assert_msg(found == 1, "%d host queues print to %s", found,
		    want);
	}

	d = find_queue(q, n, world_env_need("HOST_DIRECT_QUEUE"));
	ck_assert_msg(d != NULL, "host lacks the direct queue");
	ck_assert_str_eq(d->uri, world_env_need("HOST_DIRECT_URI"));
	ck_assert_msg(strncmp(d->uri, "socket://127.0.0.1:", 19) == 0,
	    "direct queue device %s", d->uri);
	ck_assert_str_eq(d->make_model, world_env_need("HOST_DIRECT_MODEL"));
	assert_ready(d);

	l = find_queue(q, n, world_env_need("HOST_LOCAL_QUEUE"));
	ck_assert_msg(l != NULL, "host lacks the local queue");
	ck_assert_str_eq(l->uri, world_env_need("HOST_LOCAL_URI"));
	ck_assert_msg(strncmp(l->uri, "usb:", 4) == 0, "local queue device %s",
	    l->uri);
	assert_ready(l);

	free_words(net, nnet);
	free_words(ps, nps);
	httpClose(http);
}
END_TEST

/* The direct printer's make and model is found in the print server's driver
 * database (CUPS-Get-PPDs), the way the broker looks drivers up. */
START_TEST(test_direct_model_in_printserver_database)
{
	const char *mm = world_env_need("HOST_DIRECT_MODEL");
	ipp_t *req, *resp;
	ipp_attribute_t *a;
	int found = 0;
	http_t *http = connect_port("PRINTSERVER_PORT");

	req = ippNewRequest(IPP_OP_CUPS_GET_PPDS);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_TEXT, "ppd-make-and-model",
	    NULL, mm);
	ippAddInteger(req, IPP_TAG_OPERATION, IPP_TAG_INTEGER, "limit", 5);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD,
	    "requested-attributes", NULL, "ppd-make-and-model");
	resp = cupsDoRequest(http, req, "/");
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "CUPS-Get-PPDs: %s", cupsLastErrorString());
	for (a = ippFindAttribute(resp, "ppd-make-and-model", IPP_TAG_TEXT);
	    a != NULL; a = ippFindNextAttribute(resp, "ppd-make-and-model",
	    IPP_TAG_TEXT))
		if (strcmp(ippGetString(a, 0, NULL), mm) == 0)
			found = 1;
	ippDelete(resp);
	ck_assert_msg(found, "\"%s\" not in the print server's database", mm);
	httpClose(http);
}
END_TEST

START_TEST(test_guest_empty)
{
	struct queue q[MAX_QUEUES];
	http_t *http = connect_port("GUEST_PORT");

	ck_assert_int_eq(get_printers(http, q, MAX_QUEUES), 0);
	httpClose(http);
}
END_TEST

/* Last: stop, then nothing of the world may be left. */
START_TEST(test_stop_leaves_nothing)
{
	char *pids[MAX_QUEUES];
	struct stat st;
	int n, rc;

	n = split(world_env_need("SANDBOX_PIDS"), pids, MAX_QUEUES);
	ck_assert_int_ge(n, 3);
	for (int i = 0; i < n; i++)
		ck_assert_msg(!process_gone(atol(pids[i])),
		    "pid %s of the world is not running before stop", pids[i]);

	rc = world_run("stop", "stop.log");
	if (rc != 0)
		world_show_log("stop.log");
	ck_assert_int_eq(rc, 0);
	for (int i = 0; i < n; i++)
		ck_assert_msg(process_gone(atol(pids[i])),
		    "pid %s still runs after stop", pids[i]);
	ck_assert_msg(stat(world_dir(), &st) < 0 && errno == ENOENT,
	    "%s still exists after stop", world_dir());

	/* Idempotent. */
	ck_assert_int_eq(world_run("stop", "stop.log"), 0);
	free_words(pids, n);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("sandbox");
	TCase *tc = tcase_create("world");

	world_require();

	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, setup, world_stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_env_complete);
	tcase_add_test(tc, test_printserver_queues);
	tcase_add_test(tc, test_printserver_ppds);
	tcase_add_test(tc, test_host_queues);
	tcase_add_test(tc, test_direct_model_in_printserver_database);
	tcase_add_test(tc, test_guest_empty);
	tcase_add_test(tc, test_stop_leaves_nothing);
	suite_add_tcase(s, tc);
	return s;
}
