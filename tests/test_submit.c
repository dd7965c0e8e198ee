/*
 * test_submit: the job journal, the filter on a guest's job options, and
 * guests' jobs printed on the real host cupsd of tests/sandbox/sandbox:
 * attributes, printing once per UUID (also across a crash between
 * Create-Job and the document), stopped and missing queues, credit, a
 * withdrawal in the middle of a document, and a 20 MB document streamed
 * within the window, compared byte for byte at the print server's device;
 * and cupsconn_query, the buffered reading of an answer, against libcups's.
 *
 * The world is started once in the runner process (an unchecked fixture)
 * and inherited by the forked tests; each test uses a journal of its own.
 * The host cupsd listens on its unix socket only, as the broker reaches it.
 * spaces_never_reach_the_host_scheduler is the regression test of a crash
 * of Debian's cupsd 2.4.2 found here (see encodes_safely in submit.c).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cups/cups.h>
#include <uv.h>

#include "../host-broker/broker.h"
#include "cupsconn.h"
#include "runner.h"
#include "world.h"

/* ================================================= the journal ======== */

static char *
journal_path(void)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/jobs.journal", runner_tmpdir());
	return path;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static size_t
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;

	ck_assert_ptr_nonnull(f);
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void
assert_state(struct joblog *l, const char *uuid, enum joblog_state want,
    int want_id)
{
	enum joblog_state st;
	int id;
	int rc = joblog_get(l, uuid, &st, &id, NULL);

	ck_assert_msg(rc == (want == JOBLOG_NONE ? -ENOENT : 0),
	    "joblog_get(%s) = %d", uuid, rc);
	ck_assert_msg(st == want && id == want_id, "%s: state %d job %d, "
	    "expected state %d job %d", uuid, st, id, want, want_id);
}

START_TEST(journal_survives_reopen)
{
	char err[256];
	struct joblog *l = joblog_open(journal_path(), 3600, err, sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 0);
	ck_assert_int_eq(joblog_put(l, "urn:uuid:a", JOBLOG_CREATED, 7), 0);
	ck_assert_int_eq(joblog_put(l, "urn:uuid:a", JOBLOG_DONE, 7), 0);
	ck_assert_int_eq(joblog_put(l, "urn:uuid:b", JOBLOG_CREATED, 8), 0);
	ck_assert_int_eq(joblog_put(l, "urn:uuid:c", JOBLOG_CREATED, 9), 0);
	ck_assert_int_eq(joblog_put(l, "urn:uuid:c", JOBLOG_CANCELLED, 9), 0);
	assert_state(l, "urn:uuid:a", JOBLOG_DONE, 7);
	ck_assert_int_eq(joblog_count(l), 3);
	/* Appended, not rewritten, while open. */
	ck_assert_int_eq(count_lines(journal_path()), 5);
	joblog_close(l);

	l = joblog_open(journal_path(), 3600, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 3);
	assert_state(l, "urn:uuid:a", JOBLOG_DONE, 7);
	assert_state(l, "urn:uuid:b", JOBLOG_CREATED, 8);
	assert_state(l, "urn:uuid:c", JOBLOG_CANCELLED, 9);
	assert_state(l, "urn:uuid:d", JOBLOG_NONE, 0);
	/* Compacted at open: one record per UUID. */
	ck_assert_int_eq(count_lines(journal_path()), 3);
	joblog_close(l);
}
END_TEST

START_TEST(journal_rejects_bad_uuids)
{
	char err[256], long_uuid[130];
	struct joblog *l = joblog_open(journal_path(), 0, err, sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	memset(long_uuid, 'u', 128);
	long_uuid[128] = '\0';
	ck_assert_int_eq(joblog_put(l, "has space", JOBLOG_DONE, 1), -EINVAL);
	ck_assert_int_eq(joblog_put(l, "line\nbreak", JOBLOG_DONE, 1), -EINVAL);
	ck_assert_int_eq(joblog_put(l, "", JOBLOG_DONE, 1), -EINVAL);
	ck_assert_int_eq(joblog_put(l, long_uuid, JOBLOG_DONE, 1), -EINVAL);
	ck_assert_int_eq(joblog_get(l, long_uuid, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(joblog_put(l, "ok", JOBLOG_NONE, 1), -EINVAL);
	ck_assert_int_eq(joblog_put(l, "ok", JOBLOG_DONE, -1), -EINVAL);
	long_uuid[127] = '\0';
	ck_assert_int_eq(joblog_put(l, long_uuid, JOBLOG_DONE, 1), 0);
	ck_assert_int_eq(joblog_count(l), 1);
	ck_assert_int_eq(count_lines(journal_path()), 1);
	joblog_close(l);
}
END_TEST

/* A crash in the middle of an append leaves a torn last line; garbage in
 * the middle is skipped too; neither stops the journal. */
START_TEST(journal_skips_torn_and_bad_lines)
{
	char err[256], text[1024];
	long long now = (long long)time(NULL);
	struct joblog *l;

	snprintf(text, sizeof(text),
	    "good-1 done 11 %lld\n"
	    "this is not a record\n"
	    "good-2 created 12 %lld\n"
	    "good-3 printed 13 %lld\n"		/* no such state */
	    "good-4 done 14 %lld extra\n"
	    "good-5 done -1 %lld\n"
	    "good-6 done 99999999999 %lld\n"
	    "torn-7 done 15 %lld",		/* no newline: torn */
	    now, now, now, now, now, now, now);
	write_text(journal_path(), text);
	runner_expect_log("unreadable record");
	runner_expect_log("torn last record");
	l = joblog_open(journal_path(), 3600, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 2);
	assert_state(l, "good-1", JOBLOG_DONE, 11);
	assert_state(l, "good-2", JOBLOG_CREATED, 12);
	assert_state(l, "good-3", JOBLOG_NONE, 0);
	assert_state(l, "good-4", JOBLOG_NONE, 0);
	assert_state(l, "torn-7", JOBLOG_NONE, 0);
	/* The rewrite dropped the torn line: a new record is a line of its
	 * own and survives. */
	ck_assert_int_eq(count_lines(journal_path()), 2);
	ck_assert_int_eq(joblog_put(l, "after", JOBLOG_DONE, 16), 0);
	joblog_close(l);
	l = joblog_open(journal_path(), 3600, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 3);
	assert_state(l, "after", JOBLOG_DONE, 16);
	joblog_close(l);
}
END_TEST

START_TEST(journal_compaction_drops_old_entries)
{
	char err[256], text[1024];
	long long now = (long long)time(NULL);
	struct joblog *l;

	snprintf(text, sizeof(text),
	    "old done 1 %lld\n"
	    "renewed created 2 %lld\n"
	    "young done 3 %lld\n"
	    "renewed done 2 %lld\n",
	    now - 5000, now - 5000, now - 10, now - 20);
	write_text(journal_path(), text);
	l = joblog_open(journal_path(), 1000, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 2);
	assert_state(l, "old", JOBLOG_NONE, 0);
	assert_state(l, "renewed", JOBLOG_DONE, 2);	/* the last record counts */
	assert_state(l, "young", JOBLOG_DONE, 3);
	ck_assert_int_eq(count_lines(journal_path()), 2);
	joblog_close(l);

	/* keep_s <= 0 keeps everything. */
	write_text(journal_path(), text);
	l = joblog_open(journal_path(), 0, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), 3);
	joblog_close(l);
}
END_TEST

/* Appends only grow the file: it is rewritten while open, too. */
START_TEST(journal_compacts_while_open)
{
	char err[256];
	struct joblog *l = joblog_open(journal_path(), 0, err, sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	for (int i = 0; i < 1500; i++)
		ck_assert_int_eq(joblog_put(l, "busy", i % 2 ? JOBLOG_DONE :
		    JOBLOG_CREATED, i), 0);
	ck_assert_int_le(count_lines(journal_path()), 1100);
	assert_state(l, "busy", JOBLOG_DONE, 1499);
	joblog_close(l);
	l = joblog_open(journal_path(), 0, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	assert_state(l, "busy", JOBLOG_DONE, 1499);
	joblog_close(l);
}
END_TEST

START_TEST(journal_is_capped)
{
	const int extra = 5;
	long long now = (long long)time(NULL);
	char err[256], uuid[64];
	struct joblog *l;
	FILE *f = fopen(journal_path(), "w");

	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < JOBLOG_MAX_ENTRIES + extra; i++)
		fprintf(f, "uuid-%d done %d %lld\n", i, i + 1, now);
	ck_assert_int_eq(fclose(f), 0);

	l = joblog_open(journal_path(), 3600, err, sizeof(err));
	ck_assert_msg(l != NULL, "%s", err);
	ck_assert_int_eq(joblog_count(l), JOBLOG_MAX_ENTRIES);
	/* The oldest went. */
	for (int i = 0; i < extra; i++) {
		snprintf(uuid, sizeof(uuid), "uuid-%d", i);
		assert_state(l, uuid, JOBLOG_NONE, 0);
	}
	assert_state(l, "uuid-5", JOBLOG_DONE, 6);
	snprintf(uuid, sizeof(uuid), "uuid-%d", JOBLOG_MAX_ENTRIES + extra - 1);
	assert_state(l, uuid, JOBLOG_DONE, JOBLOG_MAX_ENTRIES + extra);
	ck_assert_int_eq(count_lines(journal_path()), JOBLOG_MAX_ENTRIES);

	/* Also while open: a new UUID pushes the oldest out, a known one
	 * written again becomes the youngest. */
	ck_assert_int_eq(joblog_put(l, "uuid-5", JOBLOG_DONE, 6), 0);
	ck_assert_int_eq(joblog_put(l, "newcomer", JOBLOG_CREATED, 1), 0);
	ck_assert_int_eq(joblog_count(l), JOBLOG_MAX_ENTRIES);
	assert_state(l, "uuid-5", JOBLOG_DONE, 6);
	assert_state(l, "uuid-6", JOBLOG_NONE, 0);
	assert_state(l, "newcomer", JOBLOG_CREATED, 1);
	joblog_close(l);
}
END_TEST

/* ================================================= job options ======== */

struct optset {
	Printredir__JobStart js;
	Printredir__JobOption o[80], *p[80];
};

static void
optset_add(struct optset *os, const char *name, const char *value)
{
	size_t i = os->js.n_options;

	ck_assert_int_lt(i, 80);
	printredir__job_option__init(&os->o[i]);
	os->o[i].name = (char *)name;
	os->o[i].value = (char *)value;
	os->p[i] = &os->o[i];
	os->js.options = os->p;
	os->js.n_options = i + 1;
}

START_TEST(options_filtered)
{
	static const char *const keep[][2] = {
		{"media", "A4"}, {"sides", "two-sided-long-edge"},
		{"InputSlot", "Tray2"}, {"Duplex", "DuplexNoTumble"},
		{"print-color-mode", "monochrome"}, {"finishings", "4"},
		{"output-bin", "face-down"}, {"collate", "true"},
		{"HPOption_500_Sheet_Feeder_Tray3", "True"}, {"job-name-x.y_z", "ok"},
		{"print-quality", "5"}, {"job-cancel-after", "3600"},
		{"Custom.Value", "Ünïcode✓"},
		/* collections may hold spaces */
		{"media-col", "{media-size={x-dimension=21000 y-dimension=29700}}"},
		{"job-error-sheet", "{job-error-sheet-type=standard job-error-sheet-when=always}"},
	};
	static const char *const drop[][2] = {
		/* the broker's own */
		{"requesting-user-name", "root"}, {"job-originating-user-name", "root"},
		{"job-name", "x"}, {"job-uuid", "urn:uuid:1"}, {"copies", "99"},
		{"document-format", "application/pdf"}, {"printer-uri", "ipp://x/"},
		{"job-id", "3"}, {"auth-info", "secret"},
		{"job-authorization-uri", "http://x"},
		{"job-hold-until", "indefinite"}, {"job-priority", "100"},
		{"job-sheets", "classified,none"}, {"notify-recipient-uri", "mailto:x"},
		{"job-originating-host-name", "evil"}, {"time-at-creation", "1"},
		{"job-impressions", "9"}, {"document-name-supplied", "x"},
		/* applied in the guest already */
		{"page-ranges", "1-3"}, {"number-up", "4"}, {"number-up-layout", "lrtb"},
		{"fit-to-page", "true"}, {"fitplot", "true"}, {"print-scaling", "fill"},
		{"orientation-requested", "4"}, {"landscape", "true"},
		{"OutputOrder", "Reverse"}, {"outputorder", "reverse"},
		{"page-set", "odd"}, {"mirror", "true"}, {"page-left", "36"},
		{"cpi", "12"}, {"prettyprint", "true"}, {"Number-Up", "2"},
		/* bad names and values */
		{"", "x"}, {"1abc", "x"}, {"-abc", "x"}, {"a b", "x"},
		{"name=value", "x"}, {"naïve", "x"}, {"a/b", "x"},
		{"ctrl", "a\nb"}, {"ctrl2", "a\033[31m"}, {"empty", ""},
		{"badutf8", "\xc3\x28"},
		/* a space in a string value would crash Debian's cupsd 2.4.2 */
		{"job-message-to-operator", "please staple"}, {"Quoted", "'b c'"},
		{"Escaped", "b\\ c"}, {"media-type", "{plain x}"},
	};
	struct optset os;
	cups_option_t *out = NULL;
	char big[1025], fits[1024], name41[42], name40[41];
	int n;

	memset(&os, 0, sizeof(os));
	printredir__job_start__init(&os.js);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		optset_add(&os, keep[i][0], keep[i][1]);
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		optset_add(&os, drop[i][0], drop[i][1]);
	ck_assert_int_lt(os.js.n_options, 80 - 4);
	memset(big, 'v', sizeof(big) - 1);	/* 1024 bytes: one too many */
	big[sizeof(big) - 1] = '\0';
	optset_add(&os, "toolong", big);
	memset(fits, 'v', sizeof(fits) - 1);	/* 1023: fine */
	fits[sizeof(fits) - 1] = '\0';
	optset_add(&os, "justright", fits);
	memset(name41, 'n', sizeof(name41) - 1);
	name41[sizeof(name41) - 1] = '\0';
	optset_add(&os, name41, "too long a name");
	memset(name40, 'n', sizeof(name40) - 1);
	name40[sizeof(name40) - 1] = '\0';
	optset_add(&os, name40, "fine");

	n = submit_options(&os.js, &out);
	ck_assert_int_eq(n, (int)(sizeof(keep) / sizeof(keep[0])) + 2);
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = cupsGetOption(keep[i][0], n, out);

		ck_assert_msg(v != NULL, "%s was dropped", keep[i][0]);
		ck_assert_str_eq(v, keep[i][1]);
	}
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		for (int k = 0; k < n; k++)
			ck_assert_msg(strcmp(out[k].name, drop[i][0]) != 0,
			    "%s was kept", drop[i][0]);
	ck_assert_ptr_null(cupsGetOption("toolong", n, out));
	ck_assert_ptr_null(cupsGetOption(name41, n, out));
	ck_assert_str_eq(cupsGetOption(name40, n, out), "fine");
	ck_assert_int_eq(strlen(cupsGetOption("justright", n, out)), 1023);
	cupsFreeOptions(n, out);

	/* None at all. */
	printredir__job_start__init(&os.js);
	ck_assert_int_eq(submit_options(&os.js, &out), 0);
	cupsFreeOptions(0, out);
}
END_TEST

/* ==================================================== the world ======= */

/* Started once in the runner process and inherited by the forked tests. */
static void
setup(void)
{
	world_start("submit");
}

/* ----------------------------------------------- IPP from the test ---- */

/* The host cupsd listens on its unix socket only, as a broker reaches it. */
static http_t *
host_http(void)
{
	char err[512];
	http_t *http = cupsconn_open(world_env_need("HOST_SERVER"), 30000, err,
	    sizeof(err));

	ck_assert_msg(http != NULL, "%s", err);
	return http;
}

static ipp_t *
printer_request(ipp_op_t op, const char *queue, const char *user)
{
	char uri[HTTP_MAX_URI];
	ipp_t *req = ippNewRequest(op);

	httpAssembleURIf(HTTP_URI_CODING_ALL, uri, sizeof(uri), "ipp", NULL,
	    "localhost", 0, "/printers/%s", queue);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "printer-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, user);
	return req;
}

/* The printers of a CUPS-Get-Printers answer and their attributes. */
static void
count_printers(ipp_t *resp, int *printers, int *attrs)
{
	*printers = *attrs = 0;
	for (ipp_attribute_t *a = ippFirstAttribute(resp); a; a = ippNextAttribute(resp)) {
		if (ippGetGroupTag(a) != IPP_TAG_PRINTER)
			continue;
		*attrs += 1;
		if (ippGetName(a) != NULL && strcmp(ippGetName(a), "printer-name") == 0)
			*printers += 1;
	}
}

/* cupsconn_query reads the answer cupsDoRequest reads, every printer and
 * attribute of a full listing, and leaves the connection for the next. */
START_TEST(query_reads_what_cups_reads)
{
	http_t *http = host_http();
	ipp_status_t st = IPP_STATUS_OK;
	int np, na, qp, qa;
	char err[256];
	ipp_t *resp;

	resp = cupsDoRequest(http, ippNewRequest(IPP_OP_CUPS_GET_PRINTERS), "/");
	ck_assert_ptr_nonnull(resp);
	count_printers(resp, &np, &na);
	ippDelete(resp);
	ck_assert_int_ge(np, 5);
	for (int i = 0; i < 3; i++) {
		resp = cupsconn_query(http, ippNewRequest(IPP_OP_CUPS_GET_PRINTERS), "/",
		    &st, err, sizeof(err));
		ck_assert_msg(resp != NULL, "query %d: %s", i, err);
		ck_assert_int_eq(st, IPP_STATUS_OK);
		count_printers(resp, &qp, &qa);
		ippDelete(resp);
		ck_assert_int_eq(qp, np);
		ck_assert_int_eq(qa, na);
	}
	httpClose(http);
}
END_TEST

/* An answer's own status, not an earlier request's: a missing queue is
 * "not found" after a good answer, in cupsd's words. */
START_TEST(query_says_the_answers_status)
{
	http_t *http = host_http();
	ipp_status_t st = IPP_STATUS_OK;
	char err[256];
	ipp_t *resp;

	ippDelete(cupsDoRequest(http, ippNewRequest(IPP_OP_CUPS_GET_PRINTERS), "/"));
	ck_assert_int_eq(cupsLastError(), IPP_STATUS_OK);
	resp = cupsconn_query(http, printer_request(IPP_OP_GET_PRINTER_ATTRIBUTES,
	    "no_such_queue", "root"), "/", &st, err, sizeof(err));
	ck_assert_ptr_nonnull(resp);
	ck_assert_int_eq(st, IPP_STATUS_ERROR_NOT_FOUND);
	ck_assert_msg(strstr(err, "does not exist") != NULL, "%s", err);
	ippDelete(resp);
	httpClose(http);
}
END_TEST

/* Every job the queue ever had (completed ones included). */
static int
count_jobs(const char *queue)
{
	http_t *http = host_http();
	ipp_t *req = printer_request(IPP_OP_GET_JOBS, queue, "root"), *resp;
	ipp_attribute_t *a;
	int n = 0;

	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "which-jobs", NULL, "all");
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    NULL, "job-id");
	resp = cupsDoRequest(http, req, "/");
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "Get-Jobs %s: %s", queue, cupsLastErrorString());
	for (a = ippFindAttribute(resp, "job-id", IPP_TAG_INTEGER); a;
	    a = ippFindNextAttribute(resp, "job-id", IPP_TAG_INTEGER))
		n++;
	ippDelete(resp);
	httpClose(http);
	return n;
}

static ipp_t *
job_attrs(int job_id)
{
	char uri[HTTP_MAX_URI];
	http_t *http = host_http();
	ipp_t *req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES), *resp;

	snprintf(uri, sizeof(uri), "ipp://localhost/jobs/%d", job_id);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, "root");
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_KEYWORD, "requested-attributes",
	    NULL, "all");
	resp = cupsDoRequest(http, req, "/");
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "Get-Job-Attributes %d: %s", job_id, cupsLastErrorString());
	httpClose(http);
	return resp;
}

static int
job_state(int job_id)
{
	ipp_t *resp = job_attrs(job_id);
	ipp_attribute_t *a = ippFindAttribute(resp, "job-state", IPP_TAG_ENUM);
	int st;

	ck_assert_ptr_nonnull(a);
	st = ippGetInteger(a, 0);
	ippDelete(resp);
	return st;
}

/* The state of a job the host's cupsd may not know: 0 then. */
static int
known_job_state(int job_id)
{
	char uri[HTTP_MAX_URI];
	http_t *http = host_http();
	ipp_t *req = ippNewRequest(IPP_OP_GET_JOB_ATTRIBUTES), *resp;
	ipp_attribute_t *a;
	int st = 0;

	snprintf(uri, sizeof(uri), "ipp://localhost/jobs/%d", job_id);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_URI, "job-uri", NULL, uri);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_NAME, "requesting-user-name",
	    NULL, "root");
	resp = cupsDoRequest(http, req, "/");
	if (cupsLastError() != IPP_STATUS_ERROR_NOT_FOUND) {
		ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
		    "Get-Job-Attributes %d: %s", job_id, cupsLastErrorString());
		if ((a = ippFindAttribute(resp, "job-state", IPP_TAG_ENUM)) != NULL)
			st = ippGetInteger(a, 0);
	}
	ippDelete(resp);
	httpClose(http);
	return st;
}

/* Waits up to 60 s for the host job to finish; returns its last state.
 * (The host's ipp backend waits for the print server's job before the
 * queue takes the next: a job behind another may wait 20 s and more.) */
static int
wait_job_finished(int job_id)
{
	int st = 0;

	for (int i = 0; i < 600; i++) {
		if ((st = job_state(job_id)) >= IPP_JSTATE_CANCELED)
			break;
		usleep(100000);
	}
	return st;
}

static const char *
attr_string(ipp_t *resp, const char *name)
{
	ipp_attribute_t *a = ippFindAttribute(resp, name, IPP_TAG_ZERO);

	ck_assert_msg(a != NULL, "host job has no %s", name);
	return ippGetString(a, 0, NULL);
}

static int
attr_int(ipp_t *resp, const char *name)
{
	ipp_attribute_t *a = ippFindAttribute(resp, name, IPP_TAG_ZERO);

	ck_assert_msg(a != NULL, "host job has no %s", name);
	return ippGetInteger(a, 0);
}

static void
printer_op(ipp_op_t op, const char *queue, const char *message)
{
	http_t *http = host_http();
	ipp_t *req = printer_request(op, queue, "root");

	if (message)
		ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_TEXT,
		    "printer-state-message", NULL, message);
	ippDelete(cupsDoRequest(http, req, "/admin/"));
	ck_assert_msg(cupsLastError() <= IPP_STATUS_OK_CONFLICTING, "%s on %s: %s",
	    ippOpString(op), queue, cupsLastErrorString());
	httpClose(http);
}

/* A host job without a document, as a broker crash right after Create-Job
 * leaves it. */
/* A host job waiting for its document, made as the broker makes it for the
 * journal key uuid (its printredir-job attribute), or, with uuid NULL, as
 * another client of the host's cupsd makes one. */
static int
create_empty_job(const char *queue, const char *uuid)
{
	http_t *http = host_http();
	ipp_t *req = printer_request(IPP_OP_CREATE_JOB, queue, "alice"), *resp;
	char resource[256];
	int id;

	if (uuid != NULL)
		ippAddString(req, IPP_TAG_JOB, IPP_TAG_NAME, "printredir-job", NULL, uuid);
	snprintf(resource, sizeof(resource), "/printers/%s", queue);
	resp = cupsDoRequest(http, req, resource);
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "Create-Job: %s", cupsLastErrorString());
	id = attr_int(resp, "job-id");
	ippDelete(resp);
	httpClose(http);
	return id;
}

/* ------------------------------------------- the guest's side ---------- */

/* A tiny but complete PDF: one empty A4 page. */
static const char tiny_pdf[] =
    "%PDF-1.4\n"
    "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
    "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >> endobj\n"
    "trailer << /Root 1 0 R >>\n"
    "%%EOF\n";

/* A job another client of the host's cupsd printed (tiny_pdf): its id. */
static int
print_other_job(const char *queue)
{
	http_t *http = host_http();
	ipp_t *req = printer_request(IPP_OP_PRINT_JOB, queue, "bob"), *resp;
	char resource[256], path[] = "/tmp/printredir-other-XXXXXX";
	int id, fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, tiny_pdf, sizeof(tiny_pdf) - 1), (ssize_t)sizeof(tiny_pdf) - 1);
	close(fd);
	ippAddString(req, IPP_TAG_OPERATION, IPP_TAG_MIMETYPE, "document-format", NULL,
	    "application/pdf");
	snprintf(resource, sizeof(resource), "/printers/%s", queue);
	resp = cupsDoFileRequest(http, req, resource, path);
	unlink(path);
	ck_assert_msg(resp != NULL && cupsLastError() <= IPP_STATUS_OK_CONFLICTING,
	    "Print-Job: %s", cupsLastErrorString());
	id = attr_int(resp, "job-id");
	ippDelete(resp);
	httpClose(http);
	return id;
}

/*
 * The agent's part, on the test's loop: it pushes the document as credit
 * comes, in chunks of `chunk` bytes, checks the window, and can withdraw
 * the job after a number of chunks.
 */
struct agent {
	uv_loop_t loop;
	struct submit *s;
	const unsigned char *doc;
	size_t len, off, chunk;
	unsigned credit;		/* granted, not yet used */
	unsigned long credit_total;
	unsigned pushes;
	int sent_last;
	int abort_after;		/* withdraw after this many pushes; 0 = no */
	int aborted;
	int push_beyond;		/* try one push past the credit, once */
	int got_enobufs;
	int hold;			/* do not push (yet) */
	size_t max_held;
	int credits;			/* on_credit calls */
	int first_push;			/* submit_push at once, before credit */
	/* the end */
	int done;
	enum submit_outcome o;
	int host_id;
	int host_state;			/* the host job's at on_done, 0 none */
	char detail[512];
	uint64_t abort_at, done_at;
	void (*on_first_credit)(struct agent *a);
	struct agent *release;		/* on_done lets this one push */
};

static void
feed(struct agent *a)
{
	while (!a->hold && !a->sent_last && !a->aborted) {
		size_t n;
		int last, rc;

		if (a->credit == 0) {
			if (a->push_beyond) {
				static const char byte = 'x';

				a->push_beyond = 0;
				rc = submit_push(a->s, &byte, 1, 0);
				ck_assert_msg(rc == -ENOBUFS, "push past the credit: %d", rc);
				a->got_enobufs = 1;
			}
			break;
		}
		n = a->len - a->off < a->chunk ? a->len - a->off : a->chunk;
		last = a->off + n == a->len;
		rc = submit_push(a->s, a->doc + a->off, n, last);
		ck_assert_msg(rc == 0, "submit_push: %d", rc);
		a->credit--;
		a->off += n;
		a->pushes++;
		a->sent_last = last;
		if (submit_queued_bytes(a->s) > a->max_held)
			a->max_held = submit_queued_bytes(a->s);
		if (a->abort_after > 0 && a->pushes == (unsigned)a->abort_after) {
			submit_abort(a->s);
			submit_abort(a->s);	/* twice is fine */
			a->aborted = 1;
			a->abort_at = uv_hrtime();
			ck_assert_int_eq(submit_push(a->s, "x", 1, 0), -EPIPE);
		}
	}
}

static void
agent_credit(struct submit *s, unsigned chunks, void *data)
{
	struct agent *a = data;

	ck_assert_ptr_eq(s, a->s);
	ck_assert_int_gt(chunks, 0);
	a->credits++;
	a->credit += chunks;
	a->credit_total += chunks;
	/* Never more in flight than the window: the chunks the submitter
	 * holds and those we may still send.  (What it holds only shrinks
	 * meanwhile, so this cannot fail by a race.) */
	ck_assert_msg(submit_queued_bytes(s) / CODEC_JOB_CHUNK + a->credit <=
	    CODEC_JOB_WINDOW, "%zu bytes held and %u chunks of credit",
	    submit_queued_bytes(s), a->credit);
	if (a->credits == 1 && a->on_first_credit)
		a->on_first_credit(a);
	feed(a);
}

static void
agent_done(struct submit *s, enum submit_outcome o, int host_id,
    const char *detail, void *data)
{
	struct agent *a = data;

	ck_assert_ptr_eq(s, a->s);
	ck_assert_msg(!a->done, "on_done twice");
	ck_assert_ptr_nonnull(detail);
	a->done = 1;
	a->o = o;
	a->host_id = host_id;
	a->done_at = uv_hrtime();
	snprintf(a->detail, sizeof(a->detail), "%s", detail);
	if (o == SUBMIT_ACCEPTED && host_id > 0)
		a->host_state = known_job_state(host_id);
	if (a->release) {
		a->release->hold = 0;
		feed(a->release);
	}
}

static const struct submit_ops agent_ops = {
	.on_credit = agent_credit, .on_done = agent_done,
};

/* The broker's one sentinel (each test is a process of its own). */
static struct sentinel *
sentinel(void)
{
	static struct sentinel *sn;

	if (sn == NULL)
		ck_assert_ptr_nonnull(sn = sentinel_new());
	return sn;
}

static void
job_defaults(struct submit_job *j, struct joblog *l, const char *uuid,
    const char *queue)
{
	memset(j, 0, sizeof(*j));
	j->cups = world_env_need("HOST_SERVER");
	j->log = l;
	j->sentinel = sentinel();
	j->uuid = uuid;
	j->printer = queue;
	j->user = "alice";
	j->title = "test job";
	j->copies = 1;
	j->format = "application/pdf";
}

static void
agent_init(struct agent *a, const void *doc, size_t len)
{
	memset(a, 0, sizeof(*a));
	ck_assert_int_eq(uv_loop_init(&a->loop), 0);
	a->doc = doc;
	a->len = len;
	a->chunk = CODEC_JOB_CHUNK;
}

/* Runs the job to its end: the loop ends when the submit's handle closed. */
static void
agent_run(struct agent *a, const struct submit_job *j)
{
	a->s = submit_start(&a->loop, j, &agent_ops, a);
	ck_assert_ptr_nonnull(a->s);
	/* No credit yet: nothing may be pushed (unless the job ended). */
	a->first_push = submit_push(a->s, "x", 1, 0);
	ck_assert_msg(a->first_push == -ENOBUFS || a->first_push == -EPIPE,
	    "push before credit: %d", a->first_push);
	ck_assert_int_eq(uv_run(&a->loop, UV_RUN_DEFAULT), 0);
	ck_assert_msg(a->done, "the loop ended without on_done");
	ck_assert_int_eq(uv_loop_close(&a->loop), 0);
}

static struct joblog *
open_journal(void)
{
	char err[256];
	struct joblog *l = joblog_open(journal_path(), 86400, err, sizeof(err));

	ck_assert_msg(l != NULL, "%s", err);
	return l;
}

/* ============================================================ jobs ==== */

START_TEST(pdf_printed_once_with_its_attributes)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:pdf-once";
	struct joblog *l = open_journal();
	struct optset os;
	struct submit_job j;
	struct agent a;
	cups_option_t *opts;
	ipp_t *attrs;
	int before, n, first;

	memset(&os, 0, sizeof(os));
	printredir__job_start__init(&os.js);
	optset_add(&os, "sides", "two-sided-long-edge");
	optset_add(&os, "media", "A4");
	optset_add(&os, "page-ranges", "2-3");	/* applied in the guest */
	optset_add(&os, "job-priority", "100");	/* not the guest's */
	ck_assert_int_eq(n = submit_options(&os.js, &opts), 2);

	before = count_jobs(q);
	job_defaults(&j, l, uuid, q);
	j.title = "Rapport mensuel";
	j.copies = 2;
	j.num_options = n;
	j.options = opts;
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_gt(a.host_id, 0);
	ck_assert_int_eq(a.pushes, 1);
	ck_assert_int_eq(count_jobs(q), before + 1);
	assert_state(l, uuid, JOBLOG_DONE, a.host_id);

	attrs = job_attrs(a.host_id);
	ck_assert_str_eq(attr_string(attrs, "job-name"), "Rapport mensuel");
	ck_assert_str_eq(attr_string(attrs, "job-originating-user-name"), "alice");
	ck_assert_int_eq(attr_int(attrs, "copies"), 2);
	ck_assert_str_eq(attr_string(attrs, "sides"), "two-sided-long-edge");
	ck_assert_str_eq(attr_string(attrs, "media"), "A4");
	ck_assert_int_eq(attr_int(attrs, "number-of-documents"), 1);
	ck_assert_int_eq(attr_int(attrs, "job-priority"), 50);
	ck_assert_ptr_null(ippFindAttribute(attrs, "page-ranges", IPP_TAG_ZERO));
	ippDelete(attrs);
	first = a.host_id;
	/* Answered once the host printed it on to the print server, not when
	 * it had the document: a host cupsd killed in between forgets it. */
	ck_assert_int_eq(a.host_state, IPP_JSTATE_COMPLETED);

	/* The same UUID again (the guest retried after a lost verdict):
	 * accepted at once, nothing new on the host, no credit asked. */
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(a.host_id, first);
	ck_assert_ptr_nonnull(strstr(a.detail, "already printed"));
	ck_assert_int_eq(a.credits, 0);
	ck_assert_int_eq(count_jobs(q), before + 1);

	/* Also after the broker restarted. */
	joblog_close(l);
	j.log = l = open_journal();
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_int_eq(a.o, SUBMIT_ACCEPTED);
	ck_assert_int_eq(a.host_id, first);
	ck_assert_int_eq(count_jobs(q), before + 1);
	cupsFreeOptions(n, opts);
	joblog_close(l);
}
END_TEST

/*
 * Debian's cupsd 2.4.2 crashes starting a job with a space in a string
 * attribute it hands its filters (the user, document-name, an option): none
 * may reach it, and the job prints.
 */
START_TEST(spaces_never_reach_the_host_scheduler)
{
	const char *q = "net_raw_passthrough";
	struct joblog *l = open_journal();
	struct optset os;
	struct submit_job j;
	struct agent a;
	cups_option_t *opts;
	ipp_t *attrs;
	int n, st;

	memset(&os, 0, sizeof(os));
	printredir__job_start__init(&os.js);
	optset_add(&os, "job-message-to-operator", "please staple");
	optset_add(&os, "Custom", "'two words'");
	optset_add(&os, "media-col", "{media-size={x-dimension=21000 y-dimension=29700}}");
	ck_assert_int_eq(n = submit_options(&os.js, &opts), 1);

	job_defaults(&j, l, "urn:uuid:spaces", q);
	j.user = "john doe";
	j.title = "Rapport\tmensuel de mars";
	j.num_options = n;
	j.options = opts;
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	st = wait_job_finished(a.host_id);
	ck_assert_msg(st == IPP_JSTATE_COMPLETED, "host job state %d", st);
	attrs = job_attrs(a.host_id);
	ck_assert_str_eq(attr_string(attrs, "job-originating-user-name"), "john_doe");
	ck_assert_ptr_nonnull(ippFindAttribute(attrs, "media-col", IPP_TAG_BEGIN_COLLECTION));
	ck_assert_ptr_null(ippFindAttribute(attrs, "job-message-to-operator", IPP_TAG_ZERO));
	ippDelete(attrs);

	/* A title that is no IPP name (not UTF-8, too long) is made one. */
	{
		char title[400];

		memset(title, 'x', sizeof(title) - 1);
		title[sizeof(title) - 1] = '\0';
		memcpy(title, "\xff\xfe\xc3\xa9t\xc3\xa9 ", 8);
		job_defaults(&j, l, "urn:uuid:long-title", q);
		j.title = title;
		agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
		agent_run(&a, &j);
		ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
		attrs = job_attrs(a.host_id);
		ck_assert_int_eq(strlen(attr_string(attrs, "job-name")), 255);
		ck_assert_int_eq(strncmp(attr_string(attrs, "job-name"),
		    "??\xc3\xa9t\xc3\xa9 xxx", 11), 0);
		ippDelete(attrs);
	}

	/* A format that is no MIME type never reaches cupsd. */
	job_defaults(&j, l, "urn:uuid:format", q);
	j.format = "application/pdf version=2";
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_REFUSED, "outcome %d: %s", a.o, a.detail);
	cupsFreeOptions(n, opts);
	joblog_close(l);
}
END_TEST

/* The broker crashed between Create-Job and the document: the journal says
 * "created" for a host job that holds nothing.  That job is cancelled and
 * the job printed once. */
START_TEST(created_without_document_is_cancelled_and_printed_anew)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:crashed";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;
	int stale, before;

	stale = create_empty_job(q, uuid);
	ck_assert_int_eq(job_state(stale), IPP_JSTATE_HELD);	/* job-incoming */
	ck_assert_int_eq(joblog_put(l, uuid, JOBLOG_CREATED, stale), 0);
	before = count_jobs(q);

	job_defaults(&j, l, uuid, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_ne(a.host_id, stale);
	ck_assert_int_eq(job_state(stale), IPP_JSTATE_CANCELED);
	ck_assert_int_eq(count_jobs(q), before + 1);
	assert_state(l, uuid, JOBLOG_DONE, a.host_id);
	joblog_close(l);
}
END_TEST

/* The host's cupsd was killed while the broker sent a document: it never
 * saved that job, and after its restart gave the same id to another job
 * (fault-check, SEED=9: a guest job "already printed as host job 1" that
 * never printed).  The journal's "created" id is not taken for this job's:
 * the other job is neither claimed nor cancelled, and this one prints. */
START_TEST(reused_host_job_id_is_not_taken_for_ours)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:host-forgot";
	const char *uuid2 = "urn:uuid:host-forgot-2";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;
	int other, before;

	runner_expect_log("is not the one created for job");
	other = create_empty_job(q, NULL);
	ck_assert_int_eq(joblog_put(l, uuid, JOBLOG_CREATED, other), 0);
	before = count_jobs(q);

	job_defaults(&j, l, uuid, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_ne(a.host_id, other);
	ck_assert_int_eq(a.credits > 0, 1);	/* its document was sent */
	ck_assert_int_eq(job_state(other), IPP_JSTATE_HELD);	/* untouched */
	ck_assert_int_eq(count_jobs(q), before + 1);
	assert_state(l, uuid, JOBLOG_DONE, a.host_id);

	/* The id went to a job that printed: not "already printed" either. */
	other = print_other_job(q);
	ck_assert_int_eq(wait_job_finished(other), IPP_JSTATE_COMPLETED);
	ck_assert_int_eq(joblog_put(l, uuid2, JOBLOG_CREATED, other), 0);
	before = count_jobs(q);
	job_defaults(&j, l, uuid2, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_ne(a.host_id, other);
	ck_assert_int_eq(a.credits > 0, 1);
	ck_assert_int_eq(count_jobs(q), before + 1);
	assert_state(l, uuid2, JOBLOG_DONE, a.host_id);
	joblog_close(l);
}
END_TEST

/* The same crash, but the host job did get its whole document: it is not
 * printed again. */
START_TEST(created_with_document_is_accepted)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:crashed-late";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;
	int id, before;

	job_defaults(&j, l, uuid, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	id = a.host_id;
	/* As if "done" had never reached the disk. */
	ck_assert_int_eq(joblog_put(l, uuid, JOBLOG_CREATED, id), 0);
	before = count_jobs(q);

	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(a.host_id, id);
	ck_assert_int_eq(a.credits, 0);
	ck_assert_int_eq(count_jobs(q), before);
	ck_assert_int_ne(job_state(id), IPP_JSTATE_CANCELED);
	assert_state(l, uuid, JOBLOG_DONE, id);
	joblog_close(l);
}
END_TEST

/* A journal holding one record, as a broker that stopped while it
 * followed a host job left it. */
static struct joblog *
journal_with(const char *uuid, const char *state, int id, long long when)
{
	char line[256];

	snprintf(line, sizeof(line), "%s %s %d %lld\n", uuid, state, id, when);
	write_text(journal_path(), line);
	return open_journal();
}

/* The sentinel, made by a job of this process, then a second later: jobs
 * made from now on are younger than it. */
static void
make_sentinel(void)
{
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;

	job_defaults(&j, l, "urn:uuid:sentinel", "net_generic_pdf");
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	joblog_close(l);
	sleep(1);
}

/*
 * A host job handed over whole (journal: sent) that the host's cupsd no
 * longer knows, while it has not started again since: printed, and dropped
 * from a history cupsd does not keep (PreserveJobHistory No, MaxJobs).  It
 * is not printed again.
 */
START_TEST(sent_job_the_host_keeps_no_record_of_is_not_printed_again)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:purged";
	struct joblog *l;
	struct submit_job j;
	struct agent a;
	int before;

	make_sentinel();
	l = journal_with(uuid, "sent", 999999, (long long)time(NULL));
	before = count_jobs(q);
	job_defaults(&j, l, uuid, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(a.host_id, 999999);
	ck_assert_ptr_nonnull(strstr(a.detail, "keeps no record"));
	ck_assert_int_eq(a.host_state, 0);	/* unknown to cupsd indeed */
	ck_assert_int_eq(a.credits, 0);
	ck_assert_int_eq(count_jobs(q), before);
	assert_state(l, uuid, JOBLOG_DONE, 999999);
	joblog_close(l);
}
END_TEST

/*
 * The same, but the job is older than the sentinel: cupsd started again
 * since (the sentinel is made anew at each start it sees), before it saved
 * the job, which never started printing.  The guest is told to retry, and
 * its next attempt prints the job once.
 */
START_TEST(sent_job_forgotten_by_a_restarted_host_is_sent_again)
{
	const char *q = "net_generic_pdf", *uuid = "urn:uuid:forgotten";
	struct joblog *l;
	struct submit_job j;
	struct agent a;
	int before;

	runner_expect_log("forgot host job 999998 before printing it");
	make_sentinel();
	l = journal_with(uuid, "sent", 999998, (long long)time(NULL) - 3600);
	before = count_jobs(q);
	job_defaults(&j, l, uuid, q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_ptr_nonnull(strstr(a.detail, "restarted and lost host job 999998"));
	ck_assert_int_eq(a.credits, 0);
	assert_state(l, uuid, JOBLOG_CANCELLED, 999998);

	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_gt(a.credits, 0);
	ck_assert_int_eq(a.host_state, IPP_JSTATE_COMPLETED);
	ck_assert_int_eq(count_jobs(q), before + 1);
	assert_state(l, uuid, JOBLOG_DONE, a.host_id);
	joblog_close(l);
}
END_TEST

static struct agent *second;
static struct submit_job second_job;

/* Starts the second job on the first one's loop. */
static void
start_second(struct agent *a)
{
	second->s = submit_start(&a->loop, &second_job, &agent_ops, second);
	ck_assert_ptr_nonnull(second->s);
}

/* Two submits of one UUID at once: the second waits for the first. */
START_TEST(same_uuid_at_once_is_refused_for_now)
{
	const char *q = "net_raw_passthrough", *uuid = "urn:uuid:twice";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a, b;
	int before = count_jobs(q);

	job_defaults(&j, l, uuid, q);
	j.format = "application/octet-stream";
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	memset(&b, 0, sizeof(b));
	second = &b;
	second_job = j;
	/* The first holds the UUID once it has credit (its host job exists);
	 * only then does the second start, on the same loop, and the first
	 * sends its document once the second has ended. */
	a.on_first_credit = start_second;
	a.hold = 1;
	b.release = &a;
	a.s = submit_start(&a.loop, &j, &agent_ops, &a);
	ck_assert_ptr_nonnull(a.s);
	ck_assert_int_eq(uv_run(&a.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&a.loop), 0);
	ck_assert(a.done && b.done);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "first: %d %s", a.o, a.detail);
	ck_assert_msg(b.o == SUBMIT_RETRY, "second: %d %s", b.o, b.detail);
	ck_assert_ptr_nonnull(strstr(b.detail, "being printed"));
	ck_assert_int_eq(b.host_id, 0);
	ck_assert_int_eq(count_jobs(q), before + 1);
	joblog_close(l);
}
END_TEST

START_TEST(stopped_or_rejecting_queue_is_retried)
{
	const char *paused = "net_brother_hl5250dn", *rejecting = "net_hp_designjet_t790";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;
	int before_p = count_jobs(paused), before_r = count_jobs(rejecting);

	printer_op(IPP_OP_PAUSE_PRINTER, paused, NULL);
	job_defaults(&j, l, "urn:uuid:paused", paused);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	printer_op(IPP_OP_RESUME_PRINTER, paused, NULL);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_msg(strstr(a.detail, paused) && strstr(a.detail, "stopped") &&
	    strstr(a.detail, "paused"), "detail: %s", a.detail);
	ck_assert_int_eq(a.host_id, 0);
	ck_assert_int_eq(a.credits, 0);
	ck_assert_int_eq(count_jobs(paused), before_p);
	assert_state(l, "urn:uuid:paused", JOBLOG_NONE, 0);

	printer_op(IPP_OP_CUPS_REJECT_JOBS, rejecting, "closed for maintenance");
	job_defaults(&j, l, "urn:uuid:rejected", rejecting);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	printer_op(IPP_OP_CUPS_ACCEPT_JOBS, rejecting, NULL);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_msg(strstr(a.detail, rejecting) &&
	    strstr(a.detail, "does not accept jobs") &&
	    strstr(a.detail, "closed for maintenance"), "detail: %s", a.detail);
	ck_assert_int_eq(count_jobs(rejecting), before_r);

	/* Back in service, the same job prints. */
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(count_jobs(rejecting), before_r + 1);
	joblog_close(l);
}
END_TEST

START_TEST(missing_queue_is_refused_and_cupsd_down_retried)
{
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;

	job_defaults(&j, l, "urn:uuid:nowhere", "no_such_queue");
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_REFUSED, "outcome %d: %s", a.o, a.detail);
	ck_assert_str_eq(a.detail, "no host queue no_such_queue");
	ck_assert_int_eq(a.host_id, 0);

	job_defaults(&j, l, "urn:uuid:bad name", "net_generic_pdf");
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_int_eq(a.o, SUBMIT_REFUSED);

	/* Nothing listens on port 1 of loopback. */
	job_defaults(&j, l, "urn:uuid:down", "net_generic_pdf");
	j.cups = "127.0.0.1:1";
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_ptr_nonnull(strstr(a.detail, "unreachable"));
	assert_state(l, "urn:uuid:down", JOBLOG_NONE, 0);
	joblog_close(l);
}
END_TEST

/* The guest pushes past its credit (refused), then withdraws the job in the
 * middle of its document: RETRY, and the host job is cancelled. */
START_TEST(credit_enforced_and_abort_cancels_host_job)
{
	const char *q = "net_raw_passthrough", *uuid = "urn:uuid:withdrawn";
	const size_t len = 8u << 20;
	struct joblog *l = open_journal();
	unsigned char *doc = malloc(len);
	struct submit_job j;
	struct agent a;
	int st;

	ck_assert_ptr_nonnull(doc);
	memset(doc, 'A', len);
	job_defaults(&j, l, uuid, q);
	j.format = "application/octet-stream";
	agent_init(&a, doc, len);
	a.push_beyond = 1;
	a.abort_after = CODEC_JOB_WINDOW + 4;	/* after credit came back */
	agent_run(&a, &j);
	ck_assert_int_eq(a.first_push, -ENOBUFS);
	ck_assert(a.got_enobufs);
	ck_assert(a.aborted);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_str_eq(a.detail, "withdrawn");
	ck_assert_int_gt(a.host_id, 0);
	ck_assert_msg(a.done_at - a.abort_at < 5000000000ull,
	    "on_done %.1f s after the withdrawal",
	    (double)(a.done_at - a.abort_at) / 1e9);
	st = job_state(a.host_id);
	ck_assert_msg(st == IPP_JSTATE_CANCELED || st == IPP_JSTATE_ABORTED,
	    "host job %d is in state %d", a.host_id, st);
	assert_state(l, uuid, JOBLOG_CANCELLED, a.host_id);
	free(doc);
	joblog_close(l);
}
END_TEST

/* Withdrawn before any credit came: no host job may be left behind. */
START_TEST(abort_at_once)
{
	const char *q = "net_raw_passthrough";
	struct joblog *l = open_journal();
	struct submit_job j;
	struct agent a;
	int before = count_jobs(q), st;

	job_defaults(&j, l, "urn:uuid:never-mind", q);
	agent_init(&a, tiny_pdf, sizeof(tiny_pdf) - 1);
	a.s = submit_start(&a.loop, &j, &agent_ops, &a);
	ck_assert_ptr_nonnull(a.s);
	submit_abort(a.s);
	ck_assert_int_eq(submit_push(a.s, "x", 1, 1), -EPIPE);
	ck_assert_int_eq(uv_run(&a.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&a.loop), 0);
	ck_assert(a.done);
	ck_assert_msg(a.o == SUBMIT_RETRY, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(a.credits, 0);
	/* The thread may have created the host job before it noticed: then
	 * that job must be cancelled. */
	if (count_jobs(q) != before) {
		ck_assert_int_eq(count_jobs(q), before + 1);
		ck_assert_int_gt(a.host_id, 0);
		st = job_state(a.host_id);
		ck_assert(st == IPP_JSTATE_CANCELED || st == IPP_JSTATE_ABORTED);
	}
	joblog_close(l);
}
END_TEST

/* Reads the print server's device output that starts with head, waiting up
 * to 30 s for it; NULL when none came. */
static unsigned char *
find_output(const char *dir, const char *suffix, const unsigned char *head,
    size_t headlen, size_t *len)
{
	for (int tries = 0; tries < 300; tries++) {
		DIR *d = opendir(dir);
		struct dirent *e;

		ck_assert_ptr_nonnull(d);
		while ((e = readdir(d)) != NULL) {
			char path[1024];
			unsigned char *buf;
			struct stat st;
			size_t n = strlen(e->d_name);
			FILE *f;

			if (strncmp(e->d_name, "job-", 4) != 0 || n < strlen(suffix) ||
			    strcmp(e->d_name + n - strlen(suffix), suffix) != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (stat(path, &st) != 0 || (size_t)st.st_size < headlen)
				continue;
			ck_assert_ptr_nonnull(f = fopen(path, "rb"));
			ck_assert_ptr_nonnull(buf = malloc((size_t)st.st_size + 1));
			*len = fread(buf, 1, (size_t)st.st_size, f);
			fclose(f);
			if (*len >= headlen && memcmp(buf, head, headlen) == 0) {
				closedir(d);
				return buf;
			}
			free(buf);
		}
		closedir(d);
		usleep(100000);
	}
	return NULL;
}

/* 20 MB in 128 KiB chunks through the host to the print server's device:
 * complete and unchanged, with never more than the window held. */
START_TEST(large_document_streams_within_the_window)
{
	const char *q = "net_raw_passthrough", *uuid = "urn:uuid:large";
	const size_t len = 20u << 20;
	struct joblog *l = open_journal();
	unsigned char *doc = malloc(len), *out;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char head[64];
	struct submit_job j;
	struct agent a;
	size_t outlen = 0;
	ipp_t *attrs;
	int n;

	ck_assert_ptr_nonnull(doc);
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		doc[i] = (unsigned char)x;
	}
	n = snprintf(head, sizeof(head), "printredir test %d %lld\n", (int)getpid(),
	    (long long)time(NULL));
	memcpy(doc, head, (size_t)n);

	job_defaults(&j, l, uuid, q);
	j.format = "application/octet-stream";
	agent_init(&a, doc, len);
	agent_run(&a, &j);
	ck_assert_msg(a.o == SUBMIT_ACCEPTED, "outcome %d: %s", a.o, a.detail);
	ck_assert_int_eq(a.pushes, len / CODEC_JOB_CHUNK);
	ck_assert_int_gt(a.credits, 1);
	ck_assert_msg(a.max_held <= (size_t)CODEC_JOB_WINDOW * CODEC_JOB_CHUNK,
	    "held %zu bytes", a.max_held);
	ck_assert_int_gt(a.max_held, 0);
	/* Every chunk had its credit, and no more was granted than the
	 * window beyond the chunks written. */
	ck_assert_int_ge(a.credit_total, a.pushes);
	ck_assert_int_le(a.credit_total, a.pushes + CODEC_JOB_WINDOW);
	attrs = job_attrs(a.host_id);
	ck_assert_int_eq(attr_int(attrs, "job-k-octets"), (int)(len / 1024));
	ippDelete(attrs);

	out = find_output(world_env_need("OUTPUT_DIR"), "-raw_passthrough.prn",
	    (const unsigned char *)head, (size_t)n, &outlen);
	ck_assert_msg(out != NULL, "the document never reached the print server");
	ck_assert_int_eq(outlen, len);
	ck_assert_msg(memcmp(out, doc, len) == 0, "the document arrived changed");
	free(out);
	free(doc);
	joblog_close(l);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("submit");
	TCase *tj = tcase_create("journal"), *to = tcase_create("options");
	TCase *tc = tcase_create("jobs");

	tcase_add_test(tj, journal_survives_reopen);
	tcase_add_test(tj, journal_rejects_bad_uuids);
	tcase_add_test(tj, journal_skips_torn_and_bad_lines);
	tcase_add_test(tj, journal_compaction_drops_old_entries);
	tcase_add_test(tj, journal_compacts_while_open);
	tcase_add_test(tj, journal_is_capped);
	tcase_set_timeout(tj, 30);
	suite_add_tcase(s, tj);
	tcase_add_test(to, options_filtered);
	suite_add_tcase(s, to);

	world_require();
	signal(SIGPIPE, SIG_IGN);
	tcase_add_unchecked_fixture(tc, setup, world_stop);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, query_reads_what_cups_reads);
	tcase_add_test(tc, query_says_the_answers_status);
	tcase_add_test(tc, pdf_printed_once_with_its_attributes);
	tcase_add_test(tc, spaces_never_reach_the_host_scheduler);
	tcase_add_test(tc, created_without_document_is_cancelled_and_printed_anew);
	tcase_add_test(tc, created_with_document_is_accepted);
	tcase_add_test(tc, reused_host_job_id_is_not_taken_for_ours);
	tcase_add_test(tc, sent_job_the_host_keeps_no_record_of_is_not_printed_again);
	tcase_add_test(tc, sent_job_forgotten_by_a_restarted_host_is_sent_again);
	tcase_add_test(tc, same_uuid_at_once_is_refused_for_now);
	tcase_add_test(tc, stopped_or_rejecting_queue_is_retried);
	tcase_add_test(tc, missing_queue_is_refused_and_cupsd_down_retried);
	tcase_add_test(tc, credit_enforced_and_abort_cancels_host_job);
	tcase_add_test(tc, abort_at_once);
	tcase_add_test(tc, large_document_streams_within_the_window);
	suite_add_tcase(s, tc);
	return s;
}
