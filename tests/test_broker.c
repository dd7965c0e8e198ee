/* Broker units: classification, guest URIs, configuration, generation
 * diffing, and what a new snapshot does to the generation. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../host-broker/broker.h"
#include "ppd.h"
#include "runner.h"

START_TEST(network_and_local_schemes)
{
	static const char *net[] = {
		"ipp://ps:631/printers/A", "ipps://ps/printers/A", "http://x/p",
		"https://x/p", "socket://10.0.0.5:9100", "lpd://ps/queue",
		"smb://server/share", "dnssd://Foo._ipp._tcp.local/",
		"IPP://upper/case", "beh:/1/3/5/socket://10.0.0.5:9100",
		"hp:/net/HP_LaserJet?ip=10.0.0.9",
	};
	static const char *local[] = {
		"usb://HP/LaserJet?serial=1", "parallel:/dev/lp0", "serial:/dev/ttyS0",
		"file:///tmp/out", "cups-pdf:/", "hp:/usb/HP_LaserJet?serial=1",
		"beh:/1/3/5/usb://HP/LaserJet", "", "noscheme", "weird-scheme://x",
		"beh:/1/3", ":",
	};

	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++)
		ck_assert_msg(watch_uri_is_network(net[i]), "%s should be network", net[i]);
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		ck_assert_msg(!watch_uri_is_network(local[i]), "%s should be local", local[i]);
}
END_TEST

static int
load(const char *text, struct broker_conf *c, char *err, size_t errlen)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/broker.conf", runner_tmpdir());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return broker_load_conf(path, c, err, errlen);
}

START_TEST(config_defaults_and_errors)
{
	struct broker_conf c;
	char err[1024];

	ck_assert_int_eq(load("[broker]\nkey_file = /k\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.job_user_mode, JOB_USER_AS_IS);
	ck_assert_int_eq(c.jobs_per_guest, 4);
	ck_assert_int_eq(c.redirect_local, 0);
	ck_assert_int_eq(c.listen.kind, ADDR_UNIX);
	ck_assert_str_eq(c.listen.path, "/run/printredir/broker.sock");
	ck_assert_int_eq(c.relist_interval, 30);
	ck_assert_str_ne(c.name, "");	/* defaults to the host name */
	broker_free_conf(&c);

	/* Retired with the IPP print path: an old setting is named, not ignored. */
	ck_assert_int_eq(load("[broker]\nguest_printer_uri = ipp://h/printers/%s\n",
	    &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "guest_printer_uri"));
	ck_assert_int_eq(load("[jobs]\nuser = prefixed\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.job_user_mode, JOB_USER_PREFIXED);
	broker_free_conf(&c);
	ck_assert_int_eq(load("[jobs]\nuser = account\naccount = printing\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.job_user_mode, JOB_USER_ACCOUNT);
	ck_assert_str_eq(c.job_account, "printing");
	broker_free_conf(&c);
	ck_assert_int_eq(load("[jobs]\nuser = account\n", &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "account = NAME"));
	ck_assert_int_eq(load("[jobs]\nuser = somebody\n", &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "as-is, prefixed or account"));
	ck_assert_int_eq(load("[broker]\ncontrol = tcp:127.0.0.1:5000\n",
	    &c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "control must be a unix:PATH"));
	ck_assert_int_eq(load("[broker]\nredirect_locale = yes\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "redirect_locale"));
	ck_assert_ptr_nonnull(strstr(err, ":2"));
}
END_TEST

START_TEST(copied_config_is_independent)
{
	struct broker_conf c, d;
	char err[1024];

	ck_assert_int_eq(load("[broker]\nprint_server = 127.0.0.1:631\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(broker_copy_conf(&c, &d), 0);
	ck_assert_ptr_ne(c.print_server, d.print_server);
	ck_assert_str_eq(d.print_server, "127.0.0.1:631");
	broker_free_conf(&c);
	ck_assert_str_eq(d.print_server, "127.0.0.1:631");	/* ASan: no UAF */
	broker_free_conf(&d);
}
END_TEST

static void
one(struct snapshot *s, const char *name, const char *uri, int driver, uint8_t h)
{
	s->printers = realloc(s->printers, (s->n + 1) * sizeof(*s->printers));
	memset(&s->printers[s->n], 0, sizeof(struct printer));
	s->printers[s->n].name = strdup(name);
	s->printers[s->n].device_uri = strdup(uri);
	s->printers[s->n].driver = driver;
	s->printers[s->n].redirected = 1;
	s->printers[s->n].sha[0] = h;
	s->n++;
}

START_TEST(snapshot_diffing)
{
	struct snapshot a = { 0 }, b = { 0 };

	one(&a, "A", "ipp://ps/printers/A", 1, 1);
	one(&a, "B", "socket://x", 2, 0);
	one(&b, "A", "ipp://ps/printers/A", 1, 1);
	one(&b, "B", "socket://x", 2, 0);
	ck_assert(snapshot_equal(&a, &b));
	b.printers[0].sha[0] = 2;		/* a new driver */
	ck_assert(!snapshot_equal(&a, &b));
	b.printers[0].sha[0] = 1;
	free(b.printers[1].device_uri);	/* a new device */
	b.printers[1].device_uri = strdup("socket://y");
	ck_assert(!snapshot_equal(&a, &b));
	snapshot_free(&b);
	one(&b, "A", "ipp://ps/printers/A", 1, 1);
	ck_assert(!snapshot_equal(&a, &b));	/* one removed */
	ck_assert(!snapshot_offered_equal(&a, &b));
	b.printers[0].redirected = 0;
	one(&b, "B", "socket://x", 2, 0);
	a.printers[0].redirected = 0;		/* A offered by neither, */
	a.printers[0].sha[0] = 9;		/* and otherwise changed */
	ck_assert(!snapshot_equal(&a, &b));
	ck_assert(snapshot_offered_equal(&a, &b));
	snapshot_free(&a);
	snapshot_free(&b);
}
END_TEST

/* A heap snapshot, as the watcher hands them over. */
static struct snapshot *
snap(const char *uri_b, const char *error)
{
	struct snapshot *s = calloc(1, sizeof(*s));

	if (error) {
		s->error = strdup(error);
		return s;
	}
	one(s, "A", "ipp://ps/printers/A", 1, 1);
	one(s, "B", uri_b, 2, 0);
	return s;
}

/* The generation broker.json holds now. */
static uint64_t
saved_generation(void)
{
	char path[512];
	unsigned long long g = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/broker.json", runner_tmpdir());
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "{\"generation\": %llu}", &g), 1);
	fclose(f);
	return g;
}

START_TEST(a_new_generation_only_for_a_change)
{
	struct broker b = { 0 };
	struct snapshot *s;

	b.conf.state_dir = (char *)runner_tmpdir();
	b.generation = 41;		/* as broker.json said at start */

	broker_on_snapshot(&b, snap("socket://x", NULL));
	ck_assert_int_eq(b.generation, 42);
	ck_assert(b.have_snapshot);
	ck_assert_uint_eq(b.current.n, 2);
	ck_assert_uint_eq(saved_generation(), 42);

	/* The same host again: nothing new for the guests. */
	broker_on_snapshot(&b, snap("socket://x", NULL));
	ck_assert_int_eq(b.generation, 42);

	/* Host CUPS unreachable: keep offering what we had, say why. */
	broker_on_snapshot(&b, snap(NULL, "host CUPS is down"));
	ck_assert_int_eq(b.generation, 42);
	ck_assert_uint_eq(b.current.n, 2);
	ck_assert_str_eq(b.current.printers[1].device_uri, "socket://x");
	ck_assert_str_eq(b.current.error, "host CUPS is down");

	/* Back, unchanged: the error goes, the generation stays. */
	broker_on_snapshot(&b, snap("socket://x", NULL));
	ck_assert_int_eq(b.generation, 42);
	ck_assert_ptr_null(b.current.error);

	/* A printer the guests are not offered (a local queue, one whose
	 * driver is being fetched): status has it, the generation stays. */
	s = snap("socket://x", NULL);
	one(s, "C", "usb://x", 0, 0);
	s->printers[2].redirected = 0;
	broker_on_snapshot(&b, s);
	ck_assert_int_eq(b.generation, 42);
	ck_assert_uint_eq(b.current.n, 3);

	/* A real change: a new generation, saved. */
	broker_on_snapshot(&b, snap("socket://y", NULL));
	ck_assert_int_eq(b.generation, 43);
	ck_assert_str_eq(b.current.printers[1].device_uri, "socket://y");
	ck_assert_uint_eq(saved_generation(), 43);
	snapshot_free(&b.current);
}
END_TEST

START_TEST(an_error_first_is_no_generation)
{
	struct broker b = { 0 };

	b.conf.state_dir = (char *)runner_tmpdir();
	broker_on_snapshot(&b, snap(NULL, "host CUPS is down"));
	ck_assert_int_eq(b.generation, 0);
	ck_assert(!b.have_snapshot);
	ck_assert_str_eq(b.current.error, "host CUPS is down");
	/* An empty host is a set like any other: generation 1. */
	broker_on_snapshot(&b, calloc(1, sizeof(struct snapshot)));
	ck_assert_int_eq(b.generation, 1);
	ck_assert(b.have_snapshot);
	ck_assert_ptr_null(b.current.error);
	snapshot_free(&b.current);
}
END_TEST

START_TEST(guests_allow_list)
{
	struct broker_conf c = { .allow = (char *)"" };

	ck_assert_int_eq(broker_guest_allowed(&c, "anyone"), 1);
	c.allow = (char *)"vm1 vm2,vm-3\tlab";
	ck_assert_int_eq(broker_guest_allowed(&c, "vm1"), 1);
	ck_assert_int_eq(broker_guest_allowed(&c, "vm2"), 1);
	ck_assert_int_eq(broker_guest_allowed(&c, "vm-3"), 1);
	ck_assert_int_eq(broker_guest_allowed(&c, "lab"), 1);
	ck_assert_int_eq(broker_guest_allowed(&c, "vm"), 0);	/* no prefixes */
	ck_assert_int_eq(broker_guest_allowed(&c, "vm12"), 0);
	ck_assert_int_eq(broker_guest_allowed(&c, "la"), 0);
	ck_assert_int_eq(broker_guest_allowed(&c, "intruder"), 0);
}
END_TEST

/* [broker] printers: all, the host's default only, or the queues named
 * (as CUPS compares names); anything else is refused, naming what. */
START_TEST(printers_chosen)
{
	struct broker_conf c;
	char err[1024];

	ck_assert_int_eq(load("[broker]\nkey_file = /k\n", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.printers, "all");
	ck_assert_int_eq(c.max_printers, 0);
	ck_assert_int_eq(broker_printer_chosen(&c, "any", 0), 1);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\nprinters = default-only\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(broker_printer_chosen(&c, "office", 1), 1);
	ck_assert_int_eq(broker_printer_chosen(&c, "office", 0), 0);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\nprinters = Office, lab_2\tplotter\n"
	    "max_printers = 2\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_printers, 2);
	ck_assert_int_eq(broker_printer_chosen(&c, "office", 0), 1);
	ck_assert_int_eq(broker_printer_chosen(&c, "LAB_2", 1), 1);
	ck_assert_int_eq(broker_printer_chosen(&c, "plotter", 0), 1);
	ck_assert_int_eq(broker_printer_chosen(&c, "lab", 1), 0);	/* no prefixes */
	ck_assert_int_eq(broker_printer_chosen(&c, "offices", 0), 0);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\nprinters = office -rm\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "\"-rm\" is not one"));
	ck_assert_int_eq(load("[broker]\nprinters = office all\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "say all, default-only, or the names"));
	ck_assert_int_eq(load("[broker]\nprinters = ,\n", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "printers is empty"));
	ck_assert_int_eq(load("[broker]\nmax_printers = -1\n", &c, err, sizeof(err)),
	    -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "max_printers"));
}
END_TEST

/* [broker] driverless_fallback: off unless asked for, a boolean, kept by a
 * copy (the fetcher's threads work on copies). */
START_TEST(driverless_fallback_key)
{
	struct broker_conf c, copy;
	char err[1024];

	ck_assert_int_eq(load("[broker]\nkey_file = /k\n", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.driverless_fallback, 0);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\ndriverless_fallback = yes\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.driverless_fallback, 1);
	ck_assert_int_eq(broker_copy_conf(&c, &copy), 0);
	ck_assert_int_eq(copy.driverless_fallback, 1);
	broker_free_conf(&copy);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\ndriverless_fallback = off\n", &c, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(c.driverless_fallback, 0);
	broker_free_conf(&c);

	ck_assert_int_eq(load("[broker]\ndriverless_fallback = generic\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "driverless_fallback"));
	ck_assert_ptr_nonnull(strstr(err, "expected yes/no"));
	ck_assert_int_eq(load("[broker]\ndriverless_fallback =\n", &c, err,
	    sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "driverless_fallback"));
	/* It belongs to [broker]: elsewhere it is an unknown key. */
	ck_assert_int_eq(load("[jobs]\ndriverless_fallback = yes\n", &c, err,
	    sizeof(err)), -EINVAL);
}
END_TEST

/* Lines of text that start with prefix. */
static int
count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += strncmp(l, prefix, strlen(prefix)) == 0;
	return n;
}

/* A generic driver from a printer's IPP attributes: what the printer
 * offers, within bounds, and nothing of a hostile value in the PPD. */
START_TEST(generic_ppd_from_attributes)
{
	static const char *media[] = { "na_letter_8.5x11in", "iso_a4_210x297mm",
	    "oe_letter-fullbleed_8.5x11in", "iso_a5\"\n*FoomaticRIPCommandLine: x",
	    "custom_min_1x1in", "na_legal_8.5x14in" };
	static const char *sides[] = { "one-sided", "two-sided-long-edge" };
	static const char *modes[] = { "monochrome", "color" };
	static const char *raster[] = { "image/pwg-raster" };
	ipp_t *a = ippNew();
	ipp_attribute_t *r;
	char *ppd = NULL, err[256], nick[128], many[100][40];
	const char *manyp[100];
	size_t len;

	ippAddStrings(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "media-supported",
	    6, NULL, media);
	ippAddString(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "media-default", NULL,
	    "iso_a4_210x297mm");
	ippAddStrings(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "sides-supported", 2,
	    NULL, sides);
	ippAddString(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "sides-default", NULL,
	    "two-sided-long-edge");
	ippAddStrings(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD,
	    "print-color-mode-supported", 2, NULL, modes);
	ippAddString(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "print-color-mode-default",
	    NULL, "monochrome");
	r = ippAddResolution(a, IPP_TAG_PRINTER, "printer-resolution-supported",
	    IPP_RES_PER_INCH, 300, 300);
	ippSetResolution(a, &r, 1, IPP_RES_PER_INCH, 600, 600);
	ippSetResolution(a, &r, 2, IPP_RES_PER_INCH, 99999, 600);
	ippAddResolution(a, IPP_TAG_PRINTER, "printer-resolution-default",
	    IPP_RES_PER_INCH, 600, 600);
	ippAddString(a, IPP_TAG_PRINTER, IPP_TAG_TEXT, "printer-make-and-model",
	    NULL, "Acme \"Laser\"\n*cupsFilter: x");

	ck_assert_int_eq(generic_ppd_from_ipp(a, &ppd, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(ppd), len);
	ck_assert_int_eq(ppd_check_parse(ppd, len, nick, sizeof(nick), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(nick, "Acme Laser cupsFilter x, generic driver");
	/* Letter, A4 and Legal; the borderless Letter, the broken name and
	 * the custom range are left out. */
	ck_assert_int_eq(count_lines(ppd, "*PageSize "), 3);
	ck_assert_ptr_nonnull(strstr(ppd, "\n*DefaultPageSize: A4\n"));
	ck_assert_ptr_nonnull(strstr(ppd, "\n*PageSize Legal/Legal: \"<</PageSize[612.00 1008.00]"));
	ck_assert_ptr_nonnull(strstr(ppd, "\n*DefaultDuplex: DuplexNoTumble\n"));
	ck_assert_int_eq(count_lines(ppd, "*Duplex "), 2);
	ck_assert_ptr_nonnull(strstr(ppd, "\n*ColorDevice: True\n"));
	ck_assert_ptr_nonnull(strstr(ppd, "\n*DefaultColorModel: Gray\n"));
	ck_assert_ptr_nonnull(strstr(ppd, "\n*DefaultResolution: 600dpi\n"));
	ck_assert_int_eq(count_lines(ppd, "*Resolution "), 2);
	ck_assert_int_eq(count_lines(ppd, "*Foomatic"), 0);
	ck_assert_int_eq(count_lines(ppd, "*cupsFilter:"), 0);
	ck_assert_int_eq(count_lines(ppd, "*cupsFilter2:"), 1);
	free(ppd);
	ippDelete(a);

	/* Nothing named: A4 and Letter, one-sided, grey. */
	a = ippNew();
	ck_assert_int_eq(generic_ppd_from_ipp(a, &ppd, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ppd_check_parse(ppd, len, nick, sizeof(nick), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(nick, "IPP Printer, generic driver");
	ck_assert_int_eq(count_lines(ppd, "*PageSize "), 2);
	ck_assert_int_eq(count_lines(ppd, "*OpenUI *Duplex"), 0);
	ck_assert_int_eq(count_lines(ppd, "*OpenUI *ColorModel"), 0);
	ck_assert_ptr_nonnull(strstr(ppd, "\n*ColorDevice: False\n"));
	free(ppd);

	/* A hundred sizes: the first 64 (the cap). */
	for (int i = 0; i < 100; i++) {
		snprintf(many[i], sizeof(many[i]), "custom_%dx%dmm_%dx%dmm", 100 + i,
		    200, 100 + i, 200);
		manyp[i] = many[i];
	}
	ippAddStrings(a, IPP_TAG_PRINTER, IPP_TAG_KEYWORD, "media-supported", 100,
	    NULL, manyp);
	ck_assert_int_eq(generic_ppd_from_ipp(a, &ppd, &len, err, sizeof(err)), 0);
	ck_assert_int_eq(count_lines(ppd, "*PageSize "), 64);
	ck_assert_int_eq(ppd_check_parse(ppd, len, NULL, 0, err, sizeof(err)), 0);
	free(ppd);
	ippDelete(a);

	/* A printer that does not take PDF gets none. */
	a = ippNew();
	ippAddStrings(a, IPP_TAG_PRINTER, IPP_TAG_MIMETYPE,
	    "document-format-supported", 1, NULL, raster);
	ck_assert_int_eq(generic_ppd_from_ipp(a, &ppd, &len, err, sizeof(err)),
	    -ENOTSUP);
	ck_assert_ptr_null(ppd);
	ck_assert_ptr_nonnull(strstr(err, "does not take PDF"));
	ippDelete(a);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("broker");
	TCase *tc = tcase_create("broker");

	tcase_add_test(tc, network_and_local_schemes);
	tcase_add_test(tc, config_defaults_and_errors);
	tcase_add_test(tc, copied_config_is_independent);
	tcase_add_test(tc, snapshot_diffing);
	tcase_add_test(tc, a_new_generation_only_for_a_change);
	tcase_add_test(tc, an_error_first_is_no_generation);
	tcase_add_test(tc, guests_allow_list);
	tcase_add_test(tc, printers_chosen);
	tcase_add_test(tc, driverless_fallback_key);
	tcase_add_test(tc, generic_ppd_from_attributes);
	suite_add_tcase(s, tc);
	return s;
}
