/*
 * Status: the table `host-broker status` prints, and the control socket
 * (control.c) answering real clients on a real unix socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "../host-broker/broker.h"
#include "printredir.pb-c.h"
#include "runner.h"

/* status.c; for tests only. */
extern int status_render_table(struct json_object *doc, FILE *out);

/* ---- rendering ---- */

static void
add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s != NULL ?
	    json_object_new_string(s) : NULL);
}

static struct json_object *
printer(const char *name, int net, int redir, const char *driver,
    const char *mm, const char *detail)
{
	struct json_object *p = json_object_new_object();

	add_str(p, "name", name);
	add_str(p, "device_uri", "ipp://127.0.0.1:40001/printers/x");
	json_object_object_add(p, "network", json_object_new_boolean(net));
	json_object_object_add(p, "redirected", json_object_new_boolean(redir));
	add_str(p, "driver", driver);
	add_str(p, "driver_sha256", NULL);
	add_str(p, "make_model", mm);
	add_str(p, "detail", detail);
	return p;
}

static struct json_object *
guest_printer(const char *name, const char *state, const char *detail)
{
	struct json_object *p = json_object_new_object();

	add_str(p, "name", name);
	add_str(p, "state", state);
	add_str(p, "detail", detail);
	return p;
}

/* The document of the example in the design: two guests, three printers. */
static struct json_object *
sample_doc(void)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *b = json_object_new_object();
	struct json_object *ps = json_object_new_array();
	struct json_object *gs = json_object_new_array();
	struct json_object *g, *gp;

	add_str(b, "version", "0.1-12-gabc");
	json_object_object_add(b, "generation", json_object_new_int64(4));
	add_str(b, "name", "host1");
	add_str(b, "host_cups", "default");
	add_str(b, "host_events", "push");
	add_str(b, "error", NULL);
	json_object_object_add(doc, "broker", b);

	json_object_array_add(ps, printer("Office_Laser", 1, 1, "available",
	    "HP Color LaserJet CM3530 MFP PDF",
	    "from ipp://127.0.0.1:40001/printers/Office_Laser"));
	json_object_array_add(ps, printer("Raw_Queue", 1, 1, "missing", NULL,
	    "print server has no driver: install it by hand in the guest"));
	json_object_array_add(ps, printer("Local_USB", 0, 0, NULL,
	    "Generic PDF Printer", NULL));
	json_object_object_add(doc, "printers", ps);

	g = json_object_new_object();
	add_str(g, "id", "guest-1");
	json_object_object_add(g, "connected", json_object_new_boolean(1));
	/* 2026-11-25 03:20:01 UTC */
	json_object_object_add(g, "last_seen", json_object_new_int64(1795576801));
	json_object_object_add(g, "generation", json_object_new_int64(4));
	add_str(g, "restart", "done");
	/* A stale deadline: shown only while deferred or forced. */
	json_object_object_add(g, "restart_until", json_object_new_int64(1795579200));
	add_str(g, "restart_detail", NULL);
	json_object_object_add(g, "deferrals", json_object_new_int64(0));
	gp = json_object_new_array();
	json_object_array_add(gp, guest_printer("Office_Laser", "installed",
	    NULL));
	json_object_array_add(gp, guest_printer("Raw_Queue", "driver-missing",
	    "install the driver by hand in the guest"));
	json_object_object_add(g, "printers", gp);
	json_object_array_add(gs, g);

	g = json_object_new_object();
	add_str(g, "id", "guest-22");
	json_object_object_add(g, "connected", json_object_new_boolean(0));
	json_object_object_add(g, "last_seen", NULL);
	json_object_object_add(g, "generation", json_object_new_int64(3));
	add_str(g, "restart", "deferred");
	/* 2026-11-25 04:00:00 UTC */
	json_object_object_add(g, "restart_until", json_object_new_int64(1795579200));
	add_str(g, "restart_detail", "the user chose later (2 of 3)");
	json_object_object_add(g, "deferrals", json_object_new_int64(2));
	json_object_object_add(g, "printers", json_object_new_array());
	json_object_array_add(gs, g);
	json_object_object_add(doc, "guests", gs);
	return doc;
}

/* Renders doc into a malloc'd string; the caller frees it. */
static char *
render(struct json_object *doc, int expect_rc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(status_render_table(doc, f), expect_rc);
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

START_TEST(table_matches_the_design)
{
	struct json_object *doc = sample_doc();
	char *text;

	setenv("TZ", "UTC", 1);
	tzset();
	text = render(doc, 0);
	ck_assert_str_eq(text,
	    "broker host1 (printredir 0.1-12-gabc), generation 4, host CUPS default "
	    "(changes push)\n"
	    "\n"
	    "PRINTER       NETWORK  REDIRECTED  DRIVER     MAKE AND MODEL                  DETAIL\n"
	    "Office_Laser  yes      yes         available  HP Color LaserJet CM3530 MF...  from ipp://127.0.0.1:40001/printers/Office_Laser\n"
	    "Raw_Queue     yes      yes         missing    -                               print server has no driver: install it by hand in the guest\n"
	    "Local_USB     no       no          -          Generic PDF Printer             -\n"
	    "\n"
	    "GUEST     CONNECTED  LAST SEEN            GENERATION  RESTART                          DEFERRALS\n"
	    "guest-1   yes        2026-11-25 03:20:01  4           done                             0\n"
	    "  Office_Laser  installed\n"
	    "  Raw_Queue     driver-missing  install the driver by hand in the guest\n"
	    "guest-22  no         -                    3           deferred until 2026-11-25 04:00  2\n"
	    "  restart: the user chose later (2 of 3)\n");
	free(text);
	json_object_put(doc);
}
END_TEST

/* A queue that cannot print as it should, and a guest's default printer:
 * a line under the row, hostile text neutralized. */
START_TEST(condition_and_default_under_the_row)
{
	struct json_object *doc = sample_doc(), *ps, *g, *p, *c, *r;
	char *text;

	ps = json_object_object_get(doc, "printers");
	p = json_object_array_get_idx(ps, 0);
	c = json_object_new_object();
	add_str(c, "state", "stopped");
	json_object_object_add(c, "accepting", json_object_new_boolean(0));
	r = json_object_new_array();
	json_object_array_add(r, json_object_new_string("offline-report"));
	json_object_object_add(c, "reasons", r);
	add_str(c, "message", "toner change\x1b[2J");
	json_object_object_add(p, "condition", c);
	/* A condition that is normal says nothing. */
	c = json_object_new_object();
	add_str(c, "state", "idle");
	json_object_object_add(c, "accepting", json_object_new_boolean(1));
	json_object_object_add(c, "reasons", json_object_new_array());
	json_object_object_add(json_object_array_get_idx(ps, 1), "condition", c);
	g = json_object_array_get_idx(json_object_object_get(doc, "guests"), 0);
	add_str(g, "default_printer", "Office_Laser");
	add_str(g, "default_detail", "the host's default printer");
	p = json_object_array_get_idx(json_object_object_get(g, "printers"), 0);
	c = json_object_new_object();
	add_str(c, "state", "idle");
	json_object_object_add(c, "accepting", json_object_new_boolean(1));
	r = json_object_new_array();
	json_object_array_add(r, json_object_new_string("media-empty-error"));
	json_object_object_add(c, "reasons", r);
	json_object_object_add(p, "condition", c);
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "from ipp://127.0.0.1:40001/printers/Office_Laser\n"
	    "  condition: stopped, rejecting jobs, offline-report: toner change?[2J\n"
	    "Raw_Queue "));
	ck_assert_ptr_nonnull(strstr(text, "  done                             0\n"
	    "  default printer: Office_Laser (the host's default printer)\n"
	    "  Office_Laser  installed\n"
	    "    condition: media-empty-error\n"
	    "  Raw_Queue "));
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(no_guests_and_no_printers)
{
	struct json_object *doc = sample_doc();
	char *text;

	json_object_object_add(doc, "guests", json_object_new_array());
	json_object_object_add(doc, "printers", json_object_new_array());
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "\nThe host has no printers.\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nNo guests have connected yet.\n"));
	ck_assert_ptr_null(strstr(text, "GUEST"));
	ck_assert_ptr_null(strstr(text, "PRINTER"));
	free(text);

	/* Missing arrays read the same as empty ones. */
	json_object_object_del(doc, "guests");
	json_object_object_del(doc, "printers");
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "\nNo guests have connected yet.\n"));
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(long_cells_are_cut)
{
	struct json_object *doc = sample_doc(), *ps = json_object_new_array();
	char mm[200], *text, *line;

	memset(mm, 'M', sizeof(mm) - 1);
	mm[sizeof(mm) - 1] = '\0';
	json_object_array_add(ps, printer("P", 1, 1, "available", mm, "d"));
	json_object_object_add(doc, "printers", ps);
	text = render(doc, 0);
	ck_assert_ptr_null(strstr(text, mm));
	/* 30 characters, the last three dots. */
	line = strstr(text, "\nP  ");
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(strstr(line,
	    "  MMMMMMMMMMMMMMMMMMMMMMMMMMM...  d\n"));
	ck_assert_ptr_null(strstr(line, "MMMMMMMMMMMMMMMMMMMMMMMMMMMM"));
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(null_fields_show_a_dash)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *b = json_object_new_object();
	struct json_object *ps = json_object_new_array(), *p, *gs, *g;
	char *text;

	json_object_object_add(doc, "broker", b);	/* every field missing */
	p = json_object_new_object();
	add_str(p, "name", "Q");
	json_object_object_add(p, "network", NULL);
	json_object_object_add(p, "driver", NULL);
	json_object_array_add(ps, p);
	json_object_object_add(doc, "printers", ps);
	gs = json_object_new_array();
	g = json_object_new_object();
	add_str(g, "id", "g");
	json_object_array_add(gs, g);
	json_object_object_add(doc, "guests", gs);
	text = render(doc, 0);
	ck_assert_str_eq(text,
	    "broker - (printredir -), generation -, host CUPS - (changes -)\n"
	    "\n"
	    "PRINTER  NETWORK  REDIRECTED  DRIVER  MAKE AND MODEL  DETAIL\n"
	    "Q        -        -           -       -               -\n"
	    "\n"
	    "GUEST  CONNECTED  LAST SEEN  GENERATION  RESTART  DEFERRALS\n"
	    "g      -          -          -           -        -\n");
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(hostile_text_is_neutralized)
{
	struct json_object *doc = sample_doc(), *ps = json_object_new_array();
	char *text;

	add_str(json_object_object_get(doc, "broker"), "error",
	    "cannot reach the host CUPS: Connection refused");
	/* An escape sequence, a C1 control, a stray byte, and real UTF-8. */
	json_object_array_add(ps, printer("B\xc3\xbcro", 1, 1, "available",
	    "\x1b[31mred\xc2\x9b" "1\xff", "ok"));
	json_object_array_add(ps, printer("Hall", 1, 1, "available", "m", "ok"));
	json_object_object_add(doc, "printers", ps);
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "\nerror: cannot reach the host "
	    "CUPS: Connection refused\n"));
	ck_assert_ptr_null(strchr(text, '\x1b'));
	/* "Büro" is four characters wide, so the columns still line up. */
	ck_assert_ptr_nonnull(strstr(text, "\nB\xc3\xbcro     yes"));
	ck_assert_ptr_nonnull(strstr(text, "\nHall     yes"));
	ck_assert_ptr_nonnull(strstr(text, "?[31mred?1?"));
	free(text);
	json_object_put(doc);
}
END_TEST

/* A guest's jobs: one line of counters once it printed, and its last
 * error, neutralized like any text from a guest. */
START_TEST(job_counters_and_last_error)
{
	struct json_object *doc = sample_doc(), *gs, *j;
	char *text;

	gs = json_object_object_get(doc, "guests");
	j = json_object_new_object();
	json_object_object_add(j, "accepted", json_object_new_int64(12));
	json_object_object_add(j, "bytes", json_object_new_int64(52531875));
	json_object_object_add(j, "retried", json_object_new_int64(2));
	json_object_object_add(j, "refused", json_object_new_int64(1));
	add_str(j, "last_error", "host queue Office is stopped\x1b[2J");
	json_object_object_add(json_object_array_get_idx(gs, 0), "jobs", j);
	j = json_object_new_object();
	json_object_object_add(j, "accepted", json_object_new_int64(0));
	json_object_object_add(j, "retried", json_object_new_int64(0));
	json_object_object_add(j, "refused", json_object_new_int64(0));
	add_str(j, "last_error", NULL);
	json_object_object_add(json_object_array_get_idx(gs, 1), "jobs", j);
	text = render(doc, 0);
	ck_assert_ptr_nonnull(strstr(text, "\n  jobs: 12 printed (52531875 bytes), "
	    "2 retried, 1 refused\n  last job error: host queue Office is stopped?[2J\n"));
	/* A guest that never printed has no jobs line. */
	ck_assert_ptr_null(strstr(text, "jobs: 0 printed"));
	ck_assert_ptr_null(strchr(text, '\x1b'));
	free(text);
	json_object_put(doc);
}
END_TEST

START_TEST(not_a_status_document)
{
	struct json_object *doc = json_object_new_object();
	char *text;

	add_str(doc, "error", "unknown request");
	text = render(doc, -EINVAL);
	ck_assert_str_eq(text, "");
	free(text);
	json_object_put(doc);
}
END_TEST

/* ---- the control socket ---- */

#define NCLIENTS 20

struct harness {
	uv_loop_t loop;
	struct broker b;
	struct printer printers[2];
	uv_async_t done;
	pthread_t thread;
	void (*client)(struct harness *);
	char conf_path[256];
	/* What the client thread saw, checked by the test afterwards. */
	char *answer[NCLIENTS];
	int rc[4];
	double seconds;
};

static void
on_done(uv_async_t *a)
{
	struct harness *h = a->data;

	control_stop(&h->b);
	uv_close((uv_handle_t *)a, NULL);
}

static void *
client_thread(void *arg)
{
	struct harness *h = arg;

	h->client(h);
	uv_async_send(&h->done);
	return NULL;
}

static void
harness_init(struct harness *h)
{
	char err[128];
	struct printer *p;

	memset(h, 0, sizeof(*h));
	signal(SIGPIPE, SIG_IGN);	/* as main.c does */
	ck_assert_int_eq(uv_loop_init(&h->loop), 0);
	h->b.loop = &h->loop;
	h->b.generation = 7;
	h->b.conf.name = "test-broker";
	h->b.conf.cups = "";
	h->b.conf_path = "test.conf";
	snprintf(err, sizeof(err), "unix:%s/control.sock", runner_tmpdir());
	ck_assert_int_eq(addr_parse(err, &h->b.conf.control, NULL, 0), 0);

	p = &h->printers[0];
	p->name = "Office_Laser";
	p->device_uri = "ipp://127.0.0.1:40001/printers/Office_Laser";
	p->make_model = "HP Color LaserJet CM3530 MFP PDF";
	p->network = 1;
	p->redirected = 1;
	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_AVAILABLE;
	for (int i = 0; i < HASH_LEN; i++)
		p->sha[i] = (uint8_t)i;
	p->detail = "from ipp://127.0.0.1:40001/printers/Office_Laser";
	p = &h->printers[1];
	p->name = "Raw_Queue";
	p->device_uri = "socket://127.0.0.1:9100";
	p->network = 1;
	p->redirected = 1;
	p->driver = PRINTREDIR__DRIVER_STATE__DRIVER_MISSING;
	p->detail = "print server has no driver: install it by hand in the "
	    "guest";
	h->b.current.printers = h->printers;
	h->b.current.n = 2;

	snprintf(h->conf_path, sizeof(h->conf_path), "%s/broker.conf",
	    runner_tmpdir());
	FILE *f = fopen(h->conf_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[broker]\ncontrol = unix:%s\n", h->b.conf.control.path);
	ck_assert_int_eq(fclose(f), 0);
}

/* Starts the server, runs client on a thread, then stops the server. */
static void
harness_run(struct harness *h, void (*client)(struct harness *))
{
	struct stat st;

	ck_assert_int_eq(control_start(&h->b), 0);
	ck_assert_int_eq(stat(h->b.conf.control.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);

	h->client = client;
	ck_assert_int_eq(uv_async_init(&h->loop, &h->done, on_done), 0);
	h->done.data = h;
	ck_assert_int_eq(pthread_create(&h->thread, NULL, client_thread, h), 0);
	uv_run(&h->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(pthread_join(h->thread, NULL), 0);
	/* control_stop() closed every handle and removed the socket file. */
	ck_assert_int_eq(uv_loop_close(&h->loop), 0);
	ck_assert_ptr_null(h->b.control_server);
	ck_assert_int_eq(lstat(h->b.conf.control.path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}

static void
harness_free(struct harness *h)
{
	for (int i = 0; i < NCLIENTS; i++)
		free(h->answer[i]);
}

static int
dial(const char *path)
{
	struct timeval tv = { .tv_sec = 10 };
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads until the server closes; returns what came as a malloc'd string
 * ("" when nothing did, also when the server reset the connection) or NULL
 * on a timeout.
 */
static char *
slurp(int fd)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char chunk[4096];
	ssize_t n;

	for (;;) {
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != ECONNRESET) {
			fclose(f);
			free(buf);
			return NULL;
		}
		if (n <= 0)
			break;
		fwrite(chunk, 1, (size_t)n, f);
	}
	fclose(f);
	return buf;
}

static char *
request(struct harness *h, const char *req)
{
	int fd = dial(h->b.conf.control.path);
	size_t len = strlen(req);
	char *answer;

	if (fd < 0)
		return NULL;
	if (send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return NULL;
	}
	answer = slurp(fd);
	close(fd);
	return answer;
}

/* Parses an answer: one JSON object and a newline. */
static struct json_object *
parse(const char *answer)
{
	struct json_object *doc;
	size_t len;

	ck_assert_ptr_nonnull(answer);
	len = strlen(answer);
	ck_assert_uint_gt(len, 1);
	ck_assert_int_eq(answer[len - 1], '\n');
	ck_assert_ptr_null(memchr(answer, '\n', len - 1));
	doc = json_tokener_parse(answer);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_object_is_type(doc, json_type_object));
	return doc;
}

static const char *
str_at(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_string(v);
}

static int
is_null(struct json_object *o, const char *key)
{
	struct json_object *v = (struct json_object *)1;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static void
check_status(const char *answer)
{
	struct json_object *doc = parse(answer), *b, *ps, *p, *gs;

	ck_assert(json_object_object_get_ex(doc, "broker", &b));
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(b,
	    "generation")), 7);
	ck_assert_str_eq(str_at(b, "name"), "test-broker");
	ck_assert_str_eq(str_at(b, "host_cups"), "default");
	/* No watcher runs here: only listings would tell it of changes. */
	ck_assert_str_eq(str_at(b, "host_events"), "relist");
	ck_assert_ptr_nonnull(str_at(b, "version"));
	ck_assert(is_null(b, "error"));

	ck_assert(json_object_object_get_ex(doc, "printers", &ps));
	ck_assert_uint_eq(json_object_array_length(ps), 2);
	p = json_object_array_get_idx(ps, 0);
	ck_assert_str_eq(str_at(p, "name"), "Office_Laser");
	ck_assert_str_eq(str_at(p, "device_uri"),
	    "ipp://127.0.0.1:40001/printers/Office_Laser");
	ck_assert(json_object_get_boolean(json_object_object_get(p, "network")));
	ck_assert(json_object_get_boolean(json_object_object_get(p,
	    "redirected")));
	ck_assert_str_eq(str_at(p, "driver"), "available");
	ck_assert_str_eq(str_at(p, "driver_sha256"),
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f");
	ck_assert_str_eq(str_at(p, "make_model"),
	    "HP Color LaserJet CM3530 MFP PDF");
	p = json_object_array_get_idx(ps, 1);
	ck_assert_str_eq(str_at(p, "name"), "Raw_Queue");
	ck_assert_str_eq(str_at(p, "driver"), "missing");
	ck_assert(is_null(p, "driver_sha256"));
	ck_assert(is_null(p, "make_model"));
	ck_assert_ptr_nonnull(strstr(str_at(p, "detail"), "install it by hand"));

	ck_assert(json_object_object_get_ex(doc, "guests", &gs));
	ck_assert(json_object_is_type(gs, json_type_array));
	json_object_put(doc);
}

static void
client_one_status(struct harness *h)
{
	h->answer[0] = request(h, "status\n");
	/* A CRLF line and a request without a newline before EOF also work. */
	h->answer[1] = request(h, "status\r\n");
	int fd = dial(h->b.conf.control.path);
	if (fd >= 0) {
		send(fd, "status", 6, MSG_NOSIGNAL);
		shutdown(fd, SHUT_WR);
		h->answer[2] = slurp(fd);
		close(fd);
	}
}

START_TEST(status_over_the_socket)
{
	struct harness h;

	harness_init(&h);
	harness_run(&h, client_one_status);
	check_status(h.answer[0]);
	check_status(h.answer[1]);
	check_status(h.answer[2]);
	harness_free(&h);
}
END_TEST

static void
client_summary_and_cache(struct harness *h)
{
	h->answer[0] = request(h, "summary\n");
	h->answer[1] = request(h, "status\n");
	/* Between requests the loop waits in its poll: what changes now is
	 * not seen until the broker says its state moved. */
	h->b.generation = 42;
	h->answer[2] = request(h, "status\n");
	h->b.status_rev++;
	h->answer[3] = request(h, "status\n");
}

START_TEST(summary_counts_and_answers_are_kept_until_the_state_moves)
{
	struct harness h;
	struct json_object *doc, *counts;

	harness_init(&h);
	harness_run(&h, client_summary_and_cache);
	doc = parse(h.answer[0]);
	ck_assert(json_object_object_get_ex(doc, "printer_counts", &counts));
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(counts, "host")), 2);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(counts,
	    "redirected")), 2);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(counts,
	    "missing")), 1);
	ck_assert_ptr_null(json_object_object_get(doc, "printers"));
	json_object_put(doc);
	check_status(h.answer[1]);
	ck_assert_str_eq(h.answer[2], h.answer[1]);
	doc = parse(h.answer[3]);
	ck_assert_int_eq(json_object_get_int64(json_object_object_get(
	    json_object_object_get(doc, "broker"), "generation")), 42);
	json_object_put(doc);
	harness_free(&h);
}
END_TEST

static void
client_garbage_then_good(struct harness *h)
{
	h->answer[0] = request(h, "hello \"\x1b[2J\"\n");
	h->answer[1] = request(h, "status\n");
}

START_TEST(garbage_request_gets_an_error)
{
	struct harness h;
	struct json_object *doc;
	const char *msg;

	runner_expect_log("unknown request");
	harness_init(&h);
	harness_run(&h, client_garbage_then_good);
	doc = parse(h.answer[0]);
	msg = str_at(doc, "error");
	/* The peer's quotes are escaped too: they cannot end the quoting. */
	ck_assert_ptr_nonnull(strstr(msg, "unknown request \"hello \\x22\\x1b[2J\\x22\""));
	ck_assert_ptr_null(strchr(msg, '\x1b'));
	ck_assert_ptr_null(json_object_object_get(doc, "broker"));
	json_object_put(doc);
	check_status(h.answer[1]);
	harness_free(&h);
}
END_TEST

static void
client_too_long(struct harness *h)
{
	char big[1000];
	int fd = dial(h->b.conf.control.path);

	memset(big, 'A', sizeof(big));
	if (fd >= 0) {
		if (send(fd, big, sizeof(big), MSG_NOSIGNAL) == sizeof(big))
			h->answer[0] = slurp(fd);
		close(fd);
	}
	h->answer[1] = request(h, "status\n");
}

START_TEST(overlong_request_is_dropped)
{
	struct harness h;

	runner_expect_log("over 256 bytes");
	harness_init(&h);
	harness_run(&h, client_too_long);
	ck_assert_ptr_nonnull(h.answer[0]);
	ck_assert_str_eq(h.answer[0], "");
	check_status(h.answer[1]);
	harness_free(&h);
}
END_TEST

static void
client_many(struct harness *h)
{
	int fds[NCLIENTS], idle = dial(h->b.conf.control.path);

	/* Clients that hang up before their answer: the write fails alone. */
	for (int i = 0; i < 5; i++) {
		int fd = dial(h->b.conf.control.path);

		if (fd >= 0) {
			send(fd, "status\n", 7, MSG_NOSIGNAL);
			close(fd);
		}
	}
	/* All connected at once, asking in turn, answers read at the end. */
	for (int i = 0; i < NCLIENTS; i++)
		fds[i] = dial(h->b.conf.control.path);
	for (int i = NCLIENTS - 1; i >= 0; i--)
		if (fds[i] >= 0)
			send(fds[i], "status\n", 7, MSG_NOSIGNAL);
	for (int i = 0; i < NCLIENTS; i++) {
		if (fds[i] < 0)
			continue;
		h->answer[i] = slurp(fds[i]);
		close(fds[i]);
	}
	/* The idle client is still open: control_stop() must close it. */
	h->rc[0] = idle >= 0;
	if (idle >= 0)
		send(idle, "sta", 3, MSG_NOSIGNAL);
	usleep(100 * 1000);
}

START_TEST(many_clients_at_once)
{
	struct harness h;

	harness_init(&h);
	harness_run(&h, client_many);
	ck_assert_int_eq(h.rc[0], 1);
	for (int i = 0; i < NCLIENTS; i++)
		check_status(h.answer[i]);
	harness_free(&h);
}
END_TEST

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
client_silent(struct harness *h)
{
	int fd = dial(h->b.conf.control.path);
	int lazy = dial(h->b.conf.control.path);
	double t0 = now();

	if (fd < 0 || lazy < 0)
		goto out;
	/* This one asks for an answer larger than the socket buffers, then
	 * does not read it. */
	send(lazy, "status\n", 7, MSG_NOSIGNAL);
	/* Others are served while those two wait. */
	h->answer[1] = request(h, "status\n");
	h->answer[0] = slurp(fd);
	h->seconds = now() - t0;
	usleep(500 * 1000);
	h->answer[2] = slurp(lazy);
out:
	if (fd >= 0)
		close(fd);
	if (lazy >= 0)
		close(lazy);
}

START_TEST(idle_clients_time_out)
{
	struct harness h;
	struct printer *many;
	char detail[300];
	const size_t n = 8000;	/* 4.8 MB: more than any socket buffer we ask */
	size_t full;

	runner_expect_log("sent no request");
	runner_expect_log("did not read its answer");
	harness_init(&h);
	memset(detail, 'd', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	many = calloc(n, sizeof(*many));
	ck_assert_ptr_nonnull(many);
	for (size_t i = 0; i < n; i++) {
		many[i] = h.printers[i % 2];
		many[i].detail = detail;
	}
	h.b.current.printers = many;
	h.b.current.n = n;
	harness_run(&h, client_silent);

	ck_assert_ptr_nonnull(h.answer[0]);
	ck_assert_str_eq(h.answer[0], "");
	ck_assert_double_ge(h.seconds, 4.5);
	ck_assert_double_lt(h.seconds, 8);
	/* The reader got everything; the one that did not read was cut. */
	ck_assert_ptr_nonnull(h.answer[1]);
	full = strlen(h.answer[1]);
	ck_assert_uint_gt(full, n * sizeof(detail));
	ck_assert_int_eq(h.answer[1][full - 1], '\n');
	ck_assert_ptr_nonnull(h.answer[2]);
	ck_assert_uint_lt(strlen(h.answer[2]), full);
	free(many);
	harness_free(&h);
}
END_TEST

START_TEST(only_unix_addresses)
{
	struct harness h;

	runner_expect_log("must be a local unix:PATH");
	harness_init(&h);
	ck_assert_int_eq(addr_parse("tcp:127.0.0.1:7000", &h.b.conf.control,
	    NULL, 0), 0);
	ck_assert_int_eq(control_start(&h.b), -EINVAL);
	ck_assert_ptr_null(h.b.control_server);
	control_stop(&h.b);	/* harmless when not started */
	ck_assert_int_eq(uv_run(&h.loop, UV_RUN_NOWAIT), 0);
	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
}
END_TEST

/* ---- host-broker status, end to end ---- */

/*
 * Runs status_main(argv) in a child with stdout and stderr captured into
 * malloc'd strings; returns its exit status.
 */
static int
run_status(char **argv, char **out, char **err)
{
	char opath[300], epath[300];
	FILE *f;
	pid_t pid;
	int st, argc = 0;

	while (argv[argc] != NULL)
		argc++;
	snprintf(opath, sizeof(opath), "%s/out.XXXXXX", runner_tmpdir());
	snprintf(epath, sizeof(epath), "%s/err.XXXXXX", runner_tmpdir());
	int ofd = mkstemp(opath), efd = mkstemp(epath);
	if (ofd < 0 || efd < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(ofd, 1);
		dup2(efd, 2);
		st = status_main(argc, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(st);
	}
	close(ofd);
	close(efd);
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	for (int i = 0; i < 2; i++) {
		char **dst = i == 0 ? out : err;
		size_t n = 0;

		*dst = NULL;
		f = fopen(i == 0 ? opath : epath, "r");
		if (f != NULL) {
			if (getdelim(dst, &n, '\0', f) < 0) {
				free(*dst);
				*dst = NULL;
			}
			fclose(f);
		}
		if (*dst == NULL)
			*dst = strdup("");
		unlink(i == 0 ? opath : epath);
	}
	return WEXITSTATUS(st);
}

static char *status_out[2], *status_err[2];

static void
client_status_main(struct harness *h)
{
	char *table[] = { "status", "-c", h->conf_path, NULL };
	char *json[] = { "status", "--json", "--config", h->conf_path, NULL };

	h->rc[0] = run_status(table, &status_out[0], &status_err[0]);
	h->rc[1] = run_status(json, &status_out[1], &status_err[1]);
}

START_TEST(status_command_prints_table_and_json)
{
	struct harness h;
	struct json_object *doc, *ps;

	harness_init(&h);
	harness_run(&h, client_status_main);
	ck_assert_msg(h.rc[0] == 0, "table: exit %d, %s", h.rc[0],
	    status_err[0]);
	ck_assert_str_eq(status_err[0], "");
	ck_assert_ptr_nonnull(strstr(status_out[0],
	    "broker test-broker (printredir "));
	ck_assert_ptr_nonnull(strstr(status_out[0], "generation 7, host CUPS "
	    "default (changes "));
	ck_assert_ptr_nonnull(strstr(status_out[0], "\nOffice_Laser  yes      "
	    "yes         available  HP Color LaserJet CM3530 MF...  from "));
	ck_assert_ptr_nonnull(strstr(status_out[0], "\nRaw_Queue     yes      "
	    "yes         missing    -"));
	ck_assert_ptr_nonnull(strstr(status_out[0], "No guests have connected "
	    "yet.\n"));

	ck_assert_msg(h.rc[1] == 0, "json: exit %d, %s", h.rc[1],
	    status_err[1]);
	doc = json_tokener_parse(status_out[1]);
	ck_assert_ptr_nonnull(doc);
	ck_assert(json_object_object_get_ex(doc, "printers", &ps));
	ck_assert_uint_eq(json_object_array_length(ps), 2);
	/* Pretty: one field a line. */
	ck_assert_ptr_nonnull(strstr(status_out[1], "\n  \"broker\": {\n"));
	json_object_put(doc);
	for (int i = 0; i < 2; i++) {
		free(status_out[i]);
		free(status_err[i]);
	}
	harness_free(&h);
}
END_TEST

START_TEST(status_command_errors)
{
	struct harness h;
	char *out, *err, missing[300];

	harness_init(&h);	/* writes a config naming a socket nobody serves */

	char *none[] = { "status", "-c", h.conf_path, NULL };
	ck_assert_int_eq(run_status(none, &out, &err), 3);
	ck_assert_str_eq(out, "");
	ck_assert_ptr_nonnull(strstr(err, "host-broker status: no broker "
	    "answers on unix:"));
	ck_assert_ptr_nonnull(strstr(err, "systemctl start printredir-broker"));
	free(out);
	free(err);

	char *bad[] = { "status", "--frobnicate", NULL };
	ck_assert_int_eq(run_status(bad, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "unknown option '--frobnicate'"));
	ck_assert_ptr_nonnull(strstr(err, "Try 'host-broker status --help'"));
	free(out);
	free(err);

	char *extra[] = { "status", "now", NULL };
	ck_assert_int_eq(run_status(extra, &out, &err), 2);
	free(out);
	free(err);

	char *nofile[] = { "status", "-c", NULL };
	ck_assert_int_eq(run_status(nofile, &out, &err), 2);
	free(out);
	free(err);

	snprintf(missing, sizeof(missing), "%s/nowhere.conf", runner_tmpdir());
	char *noconf[] = { "status", "-c", missing, NULL };
	ck_assert_int_eq(run_status(noconf, &out, &err), 2);
	ck_assert_ptr_nonnull(strstr(err, "nowhere.conf"));
	ck_assert_ptr_nonnull(strstr(err, "Try 'host-broker status --help'"));
	free(out);
	free(err);

	char *help[] = { "status", "--help", NULL };
	ck_assert_int_eq(run_status(help, &out, &err), 0);
	ck_assert_ptr_nonnull(strstr(out, "Usage: host-broker status"));
	ck_assert_str_eq(err, "");
	free(out);
	free(err);

	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
}
END_TEST

/* A server that answers garbage: exit 1. */
static void *
garbage_server(void *arg)
{
	int lfd = *(int *)arg, fd;

	fd = accept(lfd, NULL, NULL);
	if (fd >= 0) {
		char req[64];

		recv(fd, req, sizeof(req), 0);
		send(fd, "<html>\n", 7, MSG_NOSIGNAL);
		close(fd);
	}
	return NULL;
}

START_TEST(status_command_garbled_answer)
{
	struct harness h;
	struct sockaddr_un sun;
	pthread_t t;
	char *out, *err;
	int lfd;

	harness_init(&h);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, h.b.conf.control.path, sizeof(sun.sun_path));
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, garbage_server, &lfd), 0);

	char *argv[] = { "status", "-c", h.conf_path, NULL };
	ck_assert_int_eq(run_status(argv, &out, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "unusable answer"));
	ck_assert_ptr_nonnull(strstr(err, "check that 'control'"));
	ck_assert_str_eq(out, "");
	free(out);
	free(err);
	pthread_join(t, NULL);
	close(lfd);
	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("status");
	TCase *tc = tcase_create("render");
	TCase *sock = tcase_create("control");

	tcase_add_test(tc, table_matches_the_design);
	tcase_add_test(tc, no_guests_and_no_printers);
	tcase_add_test(tc, condition_and_default_under_the_row);
	tcase_add_test(tc, long_cells_are_cut);
	tcase_add_test(tc, null_fields_show_a_dash);
	tcase_add_test(tc, hostile_text_is_neutralized);
	tcase_add_test(tc, job_counters_and_last_error);
	tcase_add_test(tc, not_a_status_document);
	suite_add_tcase(s, tc);

	/* Idle clients wait out the 5 s timeout. */
	tcase_set_timeout(sock, 30);
	tcase_add_test(sock, status_over_the_socket);
	tcase_add_test(sock, summary_counts_and_answers_are_kept_until_the_state_moves);
	tcase_add_test(sock, garbage_request_gets_an_error);
	tcase_add_test(sock, overlong_request_is_dropped);
	tcase_add_test(sock, many_clients_at_once);
	tcase_add_test(sock, idle_clients_time_out);
	tcase_add_test(sock, only_unix_addresses);
	tcase_add_test(sock, status_command_prints_table_and_json);
	tcase_add_test(sock, status_command_errors);
	tcase_add_test(sock, status_command_garbled_answer);
	suite_add_tcase(s, sock);
	return s;
}
