/*
 * libcups marks its PPD API deprecated in favour of IPP Everywhere, but it is
 * the only PPD parser libcups has and cupsd itself still installs queues from
 * PPD files, which is what printredir redirects: silence that one warning in
 * this file only.
 */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cups/cups.h>
#include <cups/ppd.h>

#include "codec.h"
#include "log.h"
#include "ppd.h"

/*
 * A PPD from the wire makes programs run in the guest in two ways.  cupsd
 * reads it with libcups and runs the filters, pre-filters and port monitor
 * it names.  foomatic-rip, when it is one of those filters, reads the same
 * file again with its own line reader and hands command templates from it to
 * /bin/sh (CVE-2024-47177 is this, reached through cups-browsed).  The check
 * below therefore (1) makes sure both readers see the same keywords on the
 * same lines, (2) checks each program against the guest's folders, and (3)
 * refuses every command template, whatever it holds: a guest queue hands its
 * jobs over as PDF, ppd_rewrite_pdf() drops them all, and nothing of a
 * driver may run in the guest.
 *
 * The keywords that matter, one table.  The check leaves out on purpose
 * (they are RULE_DROP, which only ppd_rewrite_pdf() acts on):
 * APDialogExtension, APPrinterIconPath, APPrinterUtilityPath,
 * APAutoSetupTool, APPrinterLowInkTool (only the macOS print dialog uses
 * them); FoomaticRIPOption, ...AllowedChars, ...AllowedRegExp, ...MaxLength,
 * ...Range (they describe options, and only gate text that a job's own
 * options supply).  Not in the table at all: cupsCommands (the maintenance
 * commands a printer understands, not programs); cupsICCProfile (a data
 * file that filters read, never run).  Beyond the table, foomatic-rip also
 * pastes the choice code, the CustomNAME True code and a free-text default
 * of every option declared "CmdLine" or "Composite" by *FoomaticRIPOption
 * into the command line: walk() treats those as templates too.
 */
enum rule_kind {
	RULE_FILTER,		/* "src/type cost program" */
	RULE_FILTER2,		/* "src/type dst/type cost [maxsize(n)] program" */
	RULE_MONITOR,		/* a program in ServerBin/monitor, or "none" */
	RULE_TEMPLATE,		/* shell text for foomatic-rip */
	RULE_REFUSED,
	RULE_DROP,		/* not checked; a PDF queue has no use for it */
};

/*
 * ppd_rewrite_pdf() drops every keyword of the table; a keyword ending in
 * '*' matches every keyword it starts (only RULE_DROP ones may).
 */
static const struct rule {
	const char *keyword;
	enum rule_kind kind;
} rules[] = {
	/* cupsd runs ServerBin/filter/PROGRAM, or PROGRAM itself when it is an
	 * absolute path, and "../" is not refused. */
	{ "cupsFilter", RULE_FILTER },
	{ "cupsFilter2", RULE_FILTER2 },
	{ "cupsPreFilter", RULE_FILTER },
	/* When the device URI is set, cupsd adopts the monitor listed for its
	 * scheme without being asked and runs ServerBin/monitor/NAME for every
	 * job, again without checking NAME. */
	{ "cupsPortMonitor", RULE_MONITOR },
	/* foomatic-rip runs the renderer command line through the shell... */
	{ "FoomaticRIPCommandLine", RULE_TEMPLATE },
	{ "FoomaticRIPCommandLinePDF", RULE_TEMPLATE },
	/* ...pipes its output into this one... */
	{ "FoomaticRIPPostPipe", RULE_TEMPLATE },
	/* ...and pastes these into them at %A..%Z. */
	{ "FoomaticRIPOptionSetting", RULE_TEMPLATE },
	{ "FoomaticRIPOptionPrototype", RULE_TEMPLATE },
	/* libcups 2.4 does not follow *Include (it is a plain attribute), but
	 * the path is the sender's choice and no distribution PPD uses it:
	 * refuse it rather than rely on every reader ignoring it. */
	{ "Include", RULE_REFUSED },
	/* The rest only makes sense with the driver's own filters: foomatic's
	 * option descriptions, copies the filters would make, and the macOS
	 * dialog's plug-ins and tools. */
	{ "FoomaticRIP*", RULE_DROP },
	{ "cupsManualCopies", RULE_DROP },
	/* The job control the host's driver wraps the job in, and the
	 * prologue it sends the device: in the guest, pdftopdf would put a
	 * second PJL header before the PDF, and the host's driver adds its
	 * own.  (The JCL options stay: only their code goes unused.) */
	{ "JCLBegin", RULE_DROP },
	{ "JCLToPDFInterpreter", RULE_DROP },
	{ "JCLToPSInterpreter", RULE_DROP },
	{ "JCLEnd", RULE_DROP },
	{ "JobPatchFile", RULE_DROP },
	{ "APDialogExtension", RULE_DROP },
	{ "APPrinterIconPath", RULE_DROP },
	{ "APPrinterUtilityPath", RULE_DROP },
	{ "APAutoSetupTool", RULE_DROP },
	{ "APPrinterLowInkTool", RULE_DROP },
};

/* Choice code foomatic-rip skips: the real code is in OptionSetting. */
#define SETTING_MARK	"%% FoomaticRIPOptionSetting"

/* foomatic-rip reads a PPD 255 bytes at a time (fgets into char[256]). */
#define FOOMATIC_CHUNK	255

enum { ST_SKIP, ST_KEY, ST_CONT };	/* what a reader makes of a line */

struct rec {
	int line;			/* 1-based, where the keyword is */
	const char *keyword;		/* as libcups reads them */
	const char *spec;
	const char *value;		/* NULL without a colon */
	char *buf;			/* holds the three strings */
	int stray_quotes;		/* quoted neither whole nor not at all */
	char *fm_keyword;		/* foomatic-rip's, when it differs */
};

struct scan {
	const char *data;
	size_t len;
	size_t nlines;
	size_t *lstart;			/* byte offset of each line */
	unsigned char *lc;		/* libcups' view of each line */
	size_t *lrec;			/* record index of a ST_KEY line */
	struct rec *recs;
	size_t nrecs;
	char **opts;			/* CmdLine/Composite option names, sorted */
	size_t nopts;
	char **choices;			/* "option\1choice" of those, sorted */
	size_t nchoices;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verrf(err, errlen, fmt, ap);
	va_end(ap);
	return -EPERM;
}

static int
is_space(int c)
{
	/* libcups' _cups_isspace(); \v and \f never get this far. */
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Option names compare as foomatic-rip's find_option() does. */
static void
canon(char *out, size_t outlen, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < n && name[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	out[i] = '\0';
	if (strcmp(out, "pageregion") == 0)
		snprintf(out, outlen, "pagesize");
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
add_str(char ***arr, size_t *n, const char *a, const char *b)
{
	char **na = realloc(*arr, (*n + 1) * sizeof(**arr));
	size_t l = strlen(a) + (b ? strlen(b) + 1 : 0) + 1;

	if (na == NULL)
		return -ENOMEM;
	*arr = na;
	if ((na[*n] = malloc(l)) == NULL)
		return -ENOMEM;
	snprintf(na[*n], l, b ? "%s\1%s" : "%s", a, b ? b : "");
	(*n)++;
	return 0;
}

static int
has_str(char **arr, size_t n, const char *key)
{
	return n > 0 && bsearch(&key, arr, n, sizeof(*arr), cmp_str) != NULL;
}

static void
free_strs(char **arr, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(arr[i]);
	free(arr);
}

/*
 * What a driver may hold.  libcups' parse grows faster than the PPD (40,000
 * options took 11 s), so these are counted before it; the largest PPDs of
 * openprinting-ppds and foomatic stay far below (a few thousand lines, a
 * few hundred options, PageSize with a few hundred choices).
 */
#define PPD_MAX_LINES 200000
#define PPD_MAX_OPTIONS 1000
#define PPD_MAX_CHOICES 2000		/* of one option */
#define PPD_MAX_ALL_CHOICES 50000

/* libcups would unpack gzip without a bound on what it unpacks. */
static int
refuse_gzip(const void *data, size_t len, char *err, size_t errlen)
{
	const unsigned char *p = data;

	if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
		snprintf(err, errlen, "driver is gzip-compressed; only plain-text "
		    "PPDs are accepted");
		return -EBADMSG;
	}
	return 0;
}

/* The bounds on a PPD's bytes, before libcups reads it. */
static int
check_size(const char *p, size_t len, char *err, size_t errlen)
{
	size_t lines = 0, options = 0;
	const char *e = p + len, *nl;

	if (refuse_gzip(p, len, err, errlen) != 0)
		return -EBADMSG;
	for (; p < e; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(e - p));
		if (nl == NULL)
			nl = e;
		lines++;
		if ((size_t)(nl - p) > 7 && (memcmp(p, "*OpenUI", 7) == 0 ||
		    ((size_t)(nl - p) > 10 && memcmp(p, "*JCLOpenUI", 10) == 0)))
			options++;
	}
	if (lines > PPD_MAX_LINES) {
		snprintf(err, errlen, "driver has %zu lines, at most %d", lines,
		    PPD_MAX_LINES);
		return -EBADMSG;
	}
	if (options > PPD_MAX_OPTIONS) {
		snprintf(err, errlen, "driver has %zu options, at most %d", options,
		    PPD_MAX_OPTIONS);
		return -EBADMSG;
	}
	return 0;
}

/* What cupsd needs of a parsed PPD, and the bounds on its choices. */
static int
check_parsed(ppd_file_t *ppd, char *err, size_t errlen)
{
	size_t all = 0;

	if (ppd->nickname == NULL || ppd->nickname[0] == '\0') {
		snprintf(err, errlen, "driver has no *NickName (cupsd would take it "
		    "for a bad PPD file)");
		return -EBADMSG;
	}
	for (ppd_option_t *o = ppdFirstOption(ppd); o; o = ppdNextOption(ppd)) {
		if (o->num_choices > PPD_MAX_CHOICES) {
			snprintf(err, errlen, "driver option %.40s has %d choices, at "
			    "most %d", o->keyword, o->num_choices, PPD_MAX_CHOICES);
			return -EBADMSG;
		}
		all += (size_t)o->num_choices;
	}
	if (all > PPD_MAX_ALL_CHOICES) {
		snprintf(err, errlen, "driver has %zu choices in all, at most %d",
		    all, PPD_MAX_ALL_CHOICES);
		return -EBADMSG;
	}
	return 0;
}

/*
 * ppdOpen() on an fmemopen() stream fails without an error (libcups reads
 * the file descriptor, and such a stream has none), so the bytes go through
 * a memfd.  cupsFileOpenFd() would gunzip a compressed stream, without a
 * bound on what it unpacks: gzip is refused first, as anything past the
 * bounds above.
 */
static int
open_mem(const void *data, size_t len, ppd_file_t **ppdp, char *err,
    size_t errlen)
{
	const char *p = data;
	cups_file_t *cf;
	size_t off = 0;
	int fd, line = 0, rc;

	*ppdp = NULL;
	if (len == 0) {
		snprintf(err, errlen, "empty PPD");
		return -EBADMSG;
	}
	if ((rc = check_size(p, len, err, errlen)) != 0)
		return rc;
	if ((fd = memfd_create("ppd", MFD_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read PPD: %s", strerror(errno));
		return rc;
	}
	while (off < len) {
		ssize_t n = write(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			snprintf(err, errlen, "cannot read PPD: %s", strerror(-rc));
			close(fd);
			return rc;
		}
		off += (size_t)n;
	}
	errno = 0;
	if (lseek(fd, 0, SEEK_SET) != 0 ||
	    (cf = cupsFileOpenFd(fd, "r")) == NULL) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "cannot read PPD: %s", strerror(-rc));
		close(fd);
		return rc;
	}
	ppdSetConformance(PPD_CONFORM_RELAXED);
	*ppdp = ppdOpen2(cf);
	cupsFileClose(cf);		/* closes fd */
	if (*ppdp == NULL) {
		ppd_status_t st = ppdLastError(&line);

		snprintf(err, errlen, "PPD does not parse: %s on line %d",
		    ppdErrorString(st), line);
		return -EBADMSG;
	}
	if ((rc = check_parsed(*ppdp, err, errlen)) != 0) {
		ppdClose(*ppdp);
		*ppdp = NULL;
	}
	return rc;
}

int
ppd_check_parse(const void *data, size_t len, char *nickname, size_t nicklen,
    char *err, size_t errlen)
{
	ppd_file_t *ppd = NULL;
	int rc;

	if (nickname && nicklen)
		nickname[0] = '\0';
	if ((rc = open_mem(data, len, &ppd, err, errlen)) != 0)
		return rc;
	if (nickname && nicklen)
		snprintf(nickname, nicklen, "%s", ppd->nickname ? ppd->nickname : "");
	ppdClose(ppd);
	return 0;
}

/*
 * PPDs are text.  A lone CR ends a line for libcups but not for foomatic-rip,
 * libcups drops 0x1a, and a NUL ends foomatic-rip's strings early: each would
 * show the two readers different keywords.  None occurs in the distribution
 * PPDs (openprinting-ppds, cups-filters).
 */
static int
check_bytes(const unsigned char *p, size_t len, char *err, size_t errlen)
{
	int line = 1;

	if (refuse_gzip(p, len, err, errlen) != 0)
		return -EBADMSG;
	for (size_t i = 0; i < len; i++) {
		if (p[i] >= 0x20)	/* nearly every byte: one test */
			continue;
		if (p[i] == '\n')
			line++;
		else if (p[i] == '\0')
			return fail(err, errlen, "driver contains a NUL byte on line %d",
			    line);
		else if (p[i] == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return fail(err, errlen, "driver contains a carriage return "
			    "without a line feed on line %d", line);
		else if (p[i] < 0x20 && p[i] != '\t' && p[i] != '\r')
			return fail(err, errlen, "driver contains control character "
			    "0x%02x on line %d", p[i], line);
	}
	return 0;
}

/* End of line i without its "\n" or "\r\n". */
static size_t
line_end(const struct scan *s, size_t i)
{
	size_t e = i + 1 < s->nlines ? s->lstart[i + 1] : s->len;

	if (e > s->lstart[i] && s->data[e - 1] == '\n')
		e--;
	if (e > s->lstart[i] && s->data[e - 1] == '\r')
		e--;
	return e;
}

static int
split_lines(struct scan *s)
{
	const char *p = s->data, *e = s->data + s->len, *nl;
	size_t n = 0;

	/* A line feed ends a line unless it is the last byte. */
	for (; (nl = memchr(p, '\n', (size_t)(e - p))) != NULL && nl + 1 < e; p = nl + 1)
		n++;
	s->nlines = n + 1;
	s->lstart = calloc(s->nlines, sizeof(*s->lstart));
	s->lc = calloc(s->nlines, 1);
	s->lrec = calloc(s->nlines, sizeof(*s->lrec));
	s->recs = calloc(s->nlines, sizeof(*s->recs));
	if (!s->lstart || !s->lc || !s->lrec || !s->recs)
		return -ENOMEM;
	n = 1;
	for (p = s->data; (nl = memchr(p, '\n', (size_t)(e - p))) != NULL && nl + 1 < e;
	    p = nl + 1)
		s->lstart[n++] = (size_t)(nl + 1 - s->data);
	return 0;
}

/*
 * Builds the record of lines first..last the way libcups' ppd_read() splits
 * it: "*keyword option/text: value", the value trimmed and, when it ends with
 * a quote, stripped of its last and first characters.
 */
static int
make_rec(struct scan *s, size_t first, size_t last)
{
	struct rec *r = &s->recs[s->nrecs];
	size_t total = 0, o = 0;
	char *t, *p, *kw, *spec, *end;

	for (size_t i = first; i <= last; i++)
		total += line_end(s, i) - s->lstart[i] + 1;
	/* The joined text, then room for keyword and spec copies. */
	if ((t = calloc(1, 3 * total + 3)) == NULL)
		return -ENOMEM;
	for (size_t i = first; i <= last; i++) {
		size_t n = line_end(s, i) - s->lstart[i];

		memcpy(t + o, s->data + s->lstart[i], n);
		o += n;
		if (i < last)
			t[o++] = '\n';
	}
	t[o] = '\0';
	kw = t + o + 1;
	spec = kw + total + 1;
	p = t + 1;
	end = kw;
	while (*p != '\0' && *p != ':' && !is_space(*p))
		*end++ = *p++;
	*end = '\0';
	end = spec;
	if (is_space(*p)) {
		while (is_space(*p))
			p++;
		while (*p != '\0' && *p != ':' && *p != '/' && !is_space(*p))
			*end++ = *p++;
		while (is_space(*p))
			p++;
		if (*p == '/')
			while (*p != '\0' && *p != '\n' && *p != ':')
				p++;
	}
	*end = '\0';
	while (is_space(*p))
		p++;
	r->value = NULL;
	if (*p == ':') {
		for (p++; is_space(*p); p++)
			;
		end = p + strlen(p);
		while (end > p && is_space(end[-1]))
			*--end = '\0';
		/*
		 * libcups strips a trailing quote and the first character
		 * whatever it is, foomatic-rip a leading quote up to the last
		 * quote: the two agree only on a value that is quoted whole
		 * or not at all (*Font lines are neither, and harmless).
		 */
		r->stray_quotes = memchr(p, '"', (size_t)(end - p)) != NULL &&
		    (end - p < 2 || p[0] != '"' || end[-1] != '"' ||
		    memchr(p + 1, '"', (size_t)(end - p - 2)) != NULL);
		if (end > p && end[-1] == '"') {
			*--end = '\0';
			p++;
		}
		r->value = p;
	}
	r->line = (int)first + 1;
	r->keyword = kw;
	r->spec = spec;
	r->buf = t;
	s->lrec[first] = s->nrecs++;
	return 0;
}

/* "*End", the line that may close a quoted value, is no statement. */
static int
end_line(const char *l, size_t n)
{
	return n >= 4 && memcmp(l, "*End", 4) == 0 &&
	    (n == 4 || l[4] == ':' || is_space(l[4]));
}

/*
 * libcups' line reader: a record goes on past the end of a line while an odd
 * number of quotes follow its first colon, comment lines excepted.
 */
static int
scan_libcups(struct scan *s)
{
	size_t i = 0;
	int rc;

	while (i < s->nlines) {
		const char *l = s->data + s->lstart[i];
		size_t n = line_end(s, i) - s->lstart[i], j = i, k;
		int comment, colon = 0, quote = 0;

		if (n == 18 && memcmp(l, "*%APLWORKSET START", 18) == 0)
			/* Some libcups versions stop reading here. */
			return fail(s->err, s->errlen, "line %zu: *%%APLWORKSET "
			    "START hides the rest of the driver from libcups", i + 1);
		comment = n >= 2 && l[0] == '*' && l[1] == '%';
		for (;;) {
			const char *q = s->data + s->lstart[j], *c;
			const char *e = s->data + line_end(s, j);

			/* The quotes after the statement's first colon. */
			if (!colon && !comment &&
			    (c = memchr(q, ':', (size_t)(e - q))) != NULL) {
				colon = 1;
				q = c + 1;
			}
			while (colon && (c = memchr(q, '"', (size_t)(e - q))) != NULL) {
				quote = !quote;
				q = c + 1;
			}
			if (!quote || j + 1 >= s->nlines)
				break;
			j++;
		}
		for (k = i + 1; k <= j; k++)
			s->lc[k] = ST_CONT;
		s->lc[i] = ST_SKIP;
		/* Blank, comment, "*" and "*End" lines carry no keyword. */
		if (n > 1 && l[0] == '*' && !comment && !end_line(l, n)) {
			s->lc[i] = ST_KEY;
			if ((rc = make_rec(s, i, j)) != 0)
				return rc;
		}
		i = j + 1;
	}
	return 0;
}

/*
 * foomatic-rip's reader (read_ppd_file() in cups-filters): fgets() chunks of
 * 255 bytes; a chunk starting with '*' and holding a colon is a keyword
 * line; its value takes the next chunks while it ends in "&&" or is an
 * unclosed quote.  Every keyword line it finds must be a keyword line with
 * the same keyword for libcups, and every line it appends to a value a
 * continuation line for libcups too, so that what is checked is what runs.
 */
static int
scan_foomatic(struct scan *s)
{
	size_t pos = 0, line = 0, vlen, vcap = 2 * s->len + FOOMATIC_CHUNK + 2;
	char *v = malloc(vcap);
	int rc = 0;

	if (v == NULL)
		return -ENOMEM;
	while (pos < s->len) {
		const char *c = s->data + pos, *colon, *q, *e;
		char key[128], smp[128];
		struct rec *r;
		size_t start = pos, kl;
		int quoted_open;

		pos += FOOMATIC_CHUNK;
		if (pos > s->len)
			pos = s->len;
		if ((e = memchr(c, '\n', pos - start)) != NULL)
			pos = (size_t)(e - s->data) + 1;
		e = s->data + pos;
		if (c[0] != '*' || (e - c > 1 && c[1] == '%') ||
		    (colon = memchr(c, ':', (size_t)(e - c))) == NULL)
			goto next;
		/* sscanf("*%127s") skips blanks after the asterisk. */
		for (q = c + 1; q < colon && is_space(*q); q++)
			;
		for (kl = 0; q + kl < colon && !is_space(q[kl]) && kl < 127; kl++)
			;
		snprintf(key, sizeof(key), "%.*s", (int)kl, q);
		if (start != s->lstart[line] || s->lc[line] != ST_KEY) {
			rc = fail(s->err, s->errlen, "line %zu: foomatic-rip reads "
			    "keyword *%s here, libcups %s", line + 1,
			    log_quote(key, smp, sizeof(smp)), s->lc[line] == ST_CONT ?
			    "part of another line's value" : "no keyword");
			goto out;
		}
		/*
		 * "* Foo: x" is keyword "" for libcups, Foo for foomatic-rip
		 * (real Lexmark PPDs have one); walk() refuses it when Foo
		 * means something to foomatic-rip.
		 */
		r = &s->recs[s->lrec[line]];
		if (strcmp(r->keyword, key) != 0 && r->fm_keyword == NULL &&
		    (r->fm_keyword = strdup(key)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		/* sscanf(" %255[^\r\n]") */
		for (q = colon + 1; q < e && is_space(*q); q++)
			;
		for (vlen = 0; q < e && *q != '\r' && *q != '\n' && vlen < 255; q++)
			v[vlen++] = *q;
		quoted_open = vlen > 0 && v[0] == '"' &&
		    memchr(v + 1, '"', vlen - 1) == NULL;
		for (;;) {
			const char *n;

			if (e[-1] == '\n')
				line++;
			if (vlen >= 2 && v[vlen - 2] == '&' && v[vlen - 1] == '&')
				vlen -= 2;
			else if (quoted_open)
				v[vlen++] = '\n';
			else
				break;
			if (pos >= s->len)
				break;
			/* The next chunk joins the value. */
			n = s->data + pos;
			start = pos;
			pos += FOOMATIC_CHUNK;
			if (pos > s->len)
				pos = s->len;
			if ((e = memchr(n, '\n', pos - start)) != NULL)
				pos = (size_t)(e - s->data) + 1;
			e = s->data + pos;
			if (start == s->lstart[line] && s->lc[line] != ST_CONT) {
				rc = fail(s->err, s->errlen, "line %zu: foomatic-rip "
				    "reads this line as part of the value of *%s, "
				    "libcups does not", line + 1,
				    log_quote(key, smp, sizeof(smp)));
				goto out;
			}
			if (vlen + (size_t)(e - n) >= vcap)
				break;	/* cannot happen: vcap bounds it */
			memcpy(v + vlen, n, (size_t)(e - n));
			if (vlen == 0)
				quoted_open = n[0] == '"' &&
				    memchr(n + 1, '"', (size_t)(e - n - 1)) == NULL;
			else if (memchr(n, '"', (size_t)(e - n)) != NULL)
				quoted_open = 0;
			vlen += (size_t)(e - n);
			/* dstrremovenewline(); a CR only ever precedes a LF. */
			if (vlen > 0 && (v[vlen - 1] == '\n' || v[vlen - 1] == '\r'))
				vlen--;
		}
		continue;
next:
		if (e[-1] == '\n')
			line++;
	}
out:
	free(v);
	return rc;
}

/*
 * Whether keyword may be one of the table's: every keyword of a PPD is
 * looked up, and most start with a letter none of the table's does.
 */
static int
maybe_rule(const char *keyword)
{
	/* "| 0x20" folds the case of letters; it may match more, never less. */
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if ((rules[i].keyword[0] | 0x20) == (keyword[0] | 0x20))
			return 1;
	return 0;
}

/* The rule the check applies to keyword, if any. */
static const struct rule *
find_rule(const char *keyword)
{
	if (!maybe_rule(keyword))
		return NULL;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].kind != RULE_DROP &&
		    strcasecmp(rules[i].keyword, keyword) == 0)
			return &rules[i];
	return NULL;
}

/* Whether ppd_rewrite_pdf() drops a statement with this keyword. */
static int
pdf_drops(const char *keyword)
{
	if (!maybe_rule(keyword))
		return 0;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const char *k = rules[i].keyword;
		size_t n = strlen(k);

		if (k[n - 1] == '*' ? strncasecmp(k, keyword, n - 1) == 0 :
		    strcasecmp(k, keyword) == 0)
			return 1;
	}
	return 0;
}

/*
 * Attributes in the table must be the attributes libcups (and so cupsd)
 * reads, one for one and with the same value: a keyword line that libcups
 * files as an option's choice instead (an option named FoomaticRIPCommandLine)
 * is still read by foomatic-rip.
 */
static int
match_libcups(struct scan *s, ppd_file_t *ppd)
{
	for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
		const char *kw = rules[k].keyword;
		size_t r = 0;
		int a = 0;

		if (rules[k].kind == RULE_DROP)
			continue;
		for (;;) {
			while (a < ppd->num_attrs &&
			    strcasecmp(ppd->attrs[a]->name, kw) != 0)
				a++;
			while (r < s->nrecs && (s->recs[r].value == NULL ||
			    strcasecmp(s->recs[r].keyword, kw) != 0))
				r++;
			if (a >= ppd->num_attrs && r >= s->nrecs)
				break;
			if (r >= s->nrecs)
				return fail(s->err, s->errlen, "libcups reads a *%s "
				    "that is not on a line of its own", kw);
			if (a >= ppd->num_attrs)
				return fail(s->err, s->errlen, "*%s on line %d is "
				    "not read as an attribute by libcups", kw,
				    s->recs[r].line);
			if (strcmp(ppd->attrs[a]->spec, s->recs[r].spec) != 0 ||
			    strcmp(ppd->attrs[a]->value ? ppd->attrs[a]->value : "",
			    s->recs[r].value) != 0)
				return fail(s->err, s->errlen, "*%s on line %d is "
				    "read differently by libcups", kw, s->recs[r].line);
			a++;
			r++;
		}
	}
	return 0;
}

static void
free_scan(struct scan *s)
{
	for (size_t i = 0; i < s->nrecs; i++) {
		free(s->recs[i].buf);
		free(s->recs[i].fm_keyword);
	}
	free_strs(s->opts, s->nopts);
	free_strs(s->choices, s->nchoices);
	free(s->recs);
	free(s->lstart);
	free(s->lc);
	free(s->lrec);
}

/*
 * libcups 2.4 leaks the earlier value when one of these is repeated, and the
 * code of an option's Custom choice when the option is opened twice or its
 * CustomNAME True is repeated (all found by fuzz_ppd): a sender could grow
 * the agent with every driver it sends.  The distribution PPDs repeat none of
 * them (two Utax PPDs open Duplex twice, without a custom choice).
 */
static int
check_repeats(struct scan *s)
{
	static const char *const once[] = {
		"NickName", "LanguageEncoding", "JCLBegin", "JCLEnd",
		"JCLToPSInterpreter"
	};
	char **custom = NULL, **opened = NULL, c[2 * PPD_MAX_NAME];
	size_t ncustom = 0, nopened = 0;
	int rc = 0;

	for (size_t k = 0; k < sizeof(once) / sizeof(once[0]); k++) {
		int first = 0;

		for (size_t i = 0; i < s->nrecs; i++) {
			if (strcasecmp(s->recs[i].keyword, once[k]) != 0)
				continue;
			if (first != 0)
				return fail(s->err, s->errlen, "driver repeats *%s "
				    "(lines %d and %d)", once[k], first,
				    s->recs[i].line);
			first = s->recs[i].line;
		}
	}
	for (size_t i = 0; i < s->nrecs && rc == 0; i++) {
		const struct rec *r = &s->recs[i];

		if (strncasecmp(r->keyword, "Custom", 6) == 0 &&
		    strcasecmp(r->spec, "True") == 0) {
			canon(c, sizeof(c), r->keyword + 6, SIZE_MAX);
			rc = add_str(&custom, &ncustom, c, NULL);
		} else if (strcasecmp(r->keyword, "OpenUI") == 0 ||
		    strcasecmp(r->keyword, "JCLOpenUI") == 0) {
			/* PageRegion is an option of its own here. */
			canon(c, sizeof(c), r->spec + (r->spec[0] == '*'), SIZE_MAX);
			rc = add_str(&opened, &nopened, c, strcasecmp(r->spec +
			    (r->spec[0] == '*'), "PageRegion") == 0 ? "r" : "");
		}
	}
	if (rc != 0)
		goto out;
	if (ncustom > 0)
		qsort(custom, ncustom, sizeof(*custom), cmp_str);
	if (nopened > 0)
		qsort(opened, nopened, sizeof(*opened), cmp_str);
	for (size_t i = 1; i < ncustom && rc == 0; i++) {
		if (strcmp(custom[i - 1], custom[i]) != 0)
			continue;
		for (size_t j = s->nrecs; j-- > 0;) {
			const struct rec *r = &s->recs[j];

			if (strncasecmp(r->keyword, "Custom", 6) != 0 ||
			    strcasecmp(r->spec, "True") != 0)
				continue;
			canon(c, sizeof(c), r->keyword + 6, SIZE_MAX);
			if (strcmp(c, custom[i]) == 0) {
				rc = fail(s->err, s->errlen, "driver repeats *%s "
				    "True (line %d)", r->keyword, r->line);
				break;
			}
		}
	}
	for (size_t i = 1; i < nopened && rc == 0; i++) {
		/* "name\1" or "pagesize\1r"; the custom choice is by name. */
		snprintf(c, sizeof(c), "%.*s", (int)strcspn(opened[i], "\1"),
		    opened[i]);
		if (strcmp(opened[i - 1], opened[i]) == 0 &&
		    has_str(custom, ncustom, c))
			rc = fail(s->err, s->errlen, "driver opens option *%s "
			    "more than once and has a custom choice for it",
			    strchr(opened[i], '\1')[1] ? "PageRegion" : c);
	}
out:
	free_strs(custom, ncustom);
	free_strs(opened, nopened);
	return rc;
}

/*
 * The line reader of every entry point, so that the check and the rewrite
 * agree on where each statement starts and ends: plain text, split into
 * lines and statements as libcups does.  Returns -EPERM for bytes it
 * refuses.
 */
static int
read_lines(struct scan *s, const void *data, size_t len, char *err,
    size_t errlen)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->data = data;
	s->len = len;
	s->err = err;
	s->errlen = errlen;
	if (len == 0) {
		snprintf(err, errlen, "driver is empty");
		return -EBADMSG;
	}
	if ((rc = check_bytes(data, len, err, errlen)) != 0 ||
	    (rc = split_lines(s)) != 0)
		return rc;
	return scan_libcups(s);
}

/*
 * Everything the check needs: the statements, libcups' parse, and the
 * agreement of libcups' and foomatic-rip's readers.  The NickName comes from
 * the same parse (nickname may be NULL).
 */
static int
prepare(struct scan *s, const void *data, size_t len, char *nickname,
    size_t nicklen, char *err, size_t errlen)
{
	ppd_file_t *ppd = NULL;
	int rc;

	if ((rc = read_lines(s, data, len, err, errlen)) != 0 ||
	    (rc = check_repeats(s)) != 0 ||
	    (rc = open_mem(data, len, &ppd, err, errlen)) != 0)
		return rc;
	if ((rc = scan_foomatic(s)) == 0)
		rc = match_libcups(s, ppd);
	if (rc == 0 && nickname != NULL)
		snprintf(nickname, nicklen, "%s", ppd->nickname);
	ppdClose(ppd);
	return rc;
}

/* Whether foomatic-rip would take name for a CmdLine/Composite option. */
static int
cmdline_option(const struct scan *s, const char *name)
{
	char c[2 * PPD_MAX_NAME];

	canon(c, sizeof(c), name, SIZE_MAX);
	if (has_str(s->opts, s->nopts, c))
		return 1;
	if (strncmp(c, "no", 2) == 0 && has_str(s->opts, s->nopts, c + 2))
		return 1;
	return 0;
}

/* Whether v is one of the choices of option name. */
static int
known_choice(const struct scan *s, const char *name, const char *v)
{
	char c[2 * PPD_MAX_NAME], key[5 * PPD_MAX_NAME + 8], lv[3 * PPD_MAX_NAME];

	if (strlen(v) >= sizeof(lv))
		return 0;
	canon(lv, sizeof(lv), v, SIZE_MAX);
	canon(c, sizeof(c), name, SIZE_MAX);
	snprintf(key, sizeof(key), "%s\1%s", c, lv);
	if (has_str(s->choices, s->nchoices, key))
		return 1;
	if (strncmp(c, "no", 2) != 0)
		return 0;
	snprintf(key, sizeof(key), "%s\1%s", c + 2, lv);
	return has_str(s->choices, s->nchoices, key);
}

/*
 * Collects the options foomatic-rip puts on the command line
 * ("*FoomaticRIPOption NAME: TYPE CmdLine|Composite SPOT"), then their
 * choices, so that walk() can tell choice codes and defaults apart.
 */
static int
collect_options(struct scan *s)
{
	char c[2 * PPD_MAX_NAME], lv[3 * PPD_MAX_NAME];
	int rc;

	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *r = &s->recs[i];
		char type[32], style[32];

		if (r->value == NULL ||
		    strcasecmp(r->keyword, "FoomaticRIPOption") != 0 ||
		    sscanf(r->value, "%31s %31s", type, style) != 2 ||
		    (strcasecmp(style, "CmdLine") != 0 &&
		    strcasecmp(style, "Composite") != 0))
			continue;
		/* foomatic-rip's name ends at '=' or ')' as well. */
		canon(c, sizeof(c), r->spec, strcspn(r->spec, "=)"));
		if ((rc = add_str(&s->opts, &s->nopts, c, NULL)) != 0)
			return rc;
		if (strncmp(c, "no", 2) == 0 &&
		    (rc = add_str(&s->opts, &s->nopts, c + 2, NULL)) != 0)
			return rc;
	}
	if (s->nopts > 0)
		qsort(s->opts, s->nopts, sizeof(*s->opts), cmp_str);
	for (size_t i = 0; i < s->nrecs && s->nopts > 0; i++) {
		const struct rec *r = &s->recs[i];
		const char *eq;

		if (r->value == NULL)
			continue;
		if (cmdline_option(s, r->keyword)) {
			canon(c, sizeof(c), r->keyword, SIZE_MAX);
			canon(lv, sizeof(lv), r->spec, SIZE_MAX);
		} else if (strcasecmp(r->keyword, "FoomaticRIPOptionSetting") == 0 &&
		    (eq = strchr(r->spec, '=')) != NULL) {
			canon(c, sizeof(c), r->spec, (size_t)(eq - r->spec));
			canon(lv, sizeof(lv), eq + 1, SIZE_MAX);
		} else
			continue;
		if ((rc = add_str(&s->choices, &s->nchoices, c, lv)) != 0)
			return rc;
	}
	if (s->nchoices > 0)
		qsort(s->choices, s->nchoices, sizeof(*s->choices), cmp_str);
	return 0;
}

static int
is_number(const char *v)
{
	int digits = 0, dots = 0;

	if (*v == '+' || *v == '-')
		v++;
	for (; *v != '\0'; v++) {
		if (*v >= '0' && *v <= '9')
			digits++;
		else if (*v == '.' && dots++ == 0)
			;
		else
			return 0;
	}
	return digits > 0;
}

/* A default value foomatic-rip would paste as text rather than look up. */
static int
free_text_default(const struct scan *s, const char *option, const char *v)
{
	return *v != '\0' && strcasecmp(v, "None") != 0 &&
	    strcasecmp(v, "Unknown") != 0 && !is_number(v) &&
	    !known_choice(s, option, v);
}

/*
 * Returns the program a filter line names, as cupsd reads it: after ntypes
 * MIME types and the cost (and cupsFilter2's "maxsize(n)"), the rest of the
 * value.  NULL when cupsd would not read the line.
 */
static const char *
filter_program(const char *v, int ntypes)
{
	const char *p = v, *t;

	for (int i = 0; i < ntypes; i++) {
		for (t = p; *p != '\0' && !is_space(*p); p++)
			;
		if (p == t || memchr(t, '/', (size_t)(p - t)) == NULL)
			return NULL;
		while (is_space(*p))
			p++;
	}
	if (*p == '+' || *p == '-')
		p++;
	if (*p < '0' || *p > '9')
		return NULL;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p != ' ' && *p != '\t')
		return NULL;
	while (is_space(*p))
		p++;
	if (ntypes == 2 && strncmp(p, "maxsize(", 8) == 0 &&
	    (t = strchr(p + 8, ')')) != NULL)
		for (p = t + 1; is_space(*p); p++)
			;
	return p;
}

static int
plain_name(const char *p)
{
	if (*p == '\0' || *p == '.' || strlen(p) > NAME_MAX)
		return 0;
	for (; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-' || *p == '+'))
			return 0;
	return 1;
}

static int
plain_path(const char *p)
{
	if (*p != '/' || strlen(p) >= PATH_MAX)
		return 0;
	for (; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
			return 0;
	return 1;
}

/*
 * A program named by the PPD must be an executable regular file that stays
 * inside dir once every symbolic link is resolved.
 */
static int
check_program(struct scan *s, const struct rec *r, const char *what,
    const char *prog, const char *dir)
{
	char rdir[PATH_MAX], path[PATH_MAX], real[PATH_MAX], smp[128];
	struct stat st;
	size_t n;

	log_quote(prog, smp, sizeof(smp));
	if (realpath(dir, rdir) == NULL)
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "cannot be checked: %s: %s", what, smp, r->keyword, r->line, dir,
		    strerror(errno));
	if (prog[0] == '/' ? !plain_path(prog) : !plain_name(prog))
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "is not a plain file name", what, smp, r->keyword, r->line);
	if (prog[0] == '/')
		snprintf(path, sizeof(path), "%s", prog);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", rdir, prog) >=
	    sizeof(path))
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "is too long", what, smp, r->keyword, r->line);
	if (realpath(path, real) == NULL) {
		if (errno == ENOENT || errno == ENOTDIR)
			return fail(s->err, s->errlen, "%s \"%s\" named by *%s on "
			    "line %d is not installed in %s", what, smp, r->keyword,
			    r->line, dir);
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "cannot be checked: %s", what, smp, r->keyword, r->line,
		    strerror(errno));
	}
	n = strlen(rdir);
	if (!(n == 1 || (strncmp(real, rdir, n) == 0 && real[n] == '/'))) {
		if (prog[0] == '/')
			return fail(s->err, s->errlen, "%s \"%s\" named by *%s on "
			    "line %d is outside %s", what, smp, r->keyword, r->line,
			    dir);
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "resolves to %s, outside %s", what, smp, r->keyword, r->line,
		    real, dir);
	}
	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(real, X_OK) != 0)
		return fail(s->err, s->errlen, "%s \"%s\" named by *%s on line %d "
		    "is not an executable file in %s", what, smp, r->keyword,
		    r->line, dir);
	return 0;
}

/*
 * No command template may reach the guest, harmless or not: a guest queue's
 * PPD has been through ppd_rewrite_pdf(), which drops them all, so one here
 * means the PPD was not rewritten.  Even an empty one is refused, so that
 * what foomatic-rip would do without a command line need not be known.
 */
static int
refuse_template(struct scan *s, const struct rec *r)
{
	char smp[128];

	return fail(s->err, s->errlen, "command template *%s%s%s on line %d%s: "
	    "nothing of a driver may run in the guest: \"%s\"", r->keyword,
	    r->spec[0] ? " " : "", r->spec, r->line, r->stray_quotes ?
	    " (with stray quotes, which libcups and foomatic-rip strip "
	    "differently)" : "", log_quote(r->value, smp, sizeof(smp)));
}

/* Whether foomatic-rip makes anything of a line with this keyword. */
static int
foomatic_keyword(const struct scan *s, const char *kw)
{
	static const char *const ui[] = {
		"OpenUI", "CloseUI", "JCLOpenUI", "JCLCloseUI"
	};

	for (size_t i = 0; i < sizeof(ui) / sizeof(ui[0]); i++)
		if (strcasecmp(kw, ui[i]) == 0)
			return 1;
	return find_rule(kw) != NULL || strncasecmp(kw, "Foomatic", 8) == 0 ||
	    cmdline_option(s, kw) ||
	    (strncasecmp(kw, "Custom", 6) == 0 && cmdline_option(s, kw + 6)) ||
	    (strncasecmp(kw, "Default", 7) == 0 && cmdline_option(s, kw + 7));
}

/*
 * Goes through the records in file order: programs are checked against pol,
 * templates refused.  A value that libcups and foomatic-rip strip
 * differently cannot tell whether it is a template: it counts as one.
 */
static int
walk(struct scan *s, const struct ppd_policy *pol, const char *monitor_dir)
{
	char smp[128];
	int rc;

	if ((rc = collect_options(s)) != 0)
		return rc;
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *r = &s->recs[i];
		const struct rule *rule;
		const char *kw = r->keyword, *prog;

		if (r->fm_keyword != NULL && foomatic_keyword(s, r->fm_keyword))
			return fail(s->err, s->errlen, "line %d: foomatic-rip reads "
			    "keyword *%s here, libcups %s%s", r->line,
			    log_quote(r->fm_keyword, smp, sizeof(smp)),
			    r->keyword[0] ? "*" : "no keyword", r->keyword);
		if (r->value == NULL)
			continue;
		rc = 0;
		if ((rule = find_rule(kw)) != NULL) {
			switch (rule->kind) {
			case RULE_FILTER:
			case RULE_FILTER2:
				prog = filter_program(r->value,
				    rule->kind == RULE_FILTER2 ? 2 : 1);
				if (prog == NULL)
					rc = fail(s->err, s->errlen, "*%s on line %d "
					    "is malformed: \"%s\"", kw, r->line,
					    log_quote(r->value, smp, sizeof(smp)));
				/* "-" passes the job on as is: nothing runs.
				 * ppd_rewrite_pdf() relies on it. */
				else if (strcmp(prog, "-") != 0)
					rc = check_program(s, r, "filter", prog,
					    pol->filter_dir);
				break;
			case RULE_MONITOR:
				if (strcmp(r->value, "none") != 0)
					rc = check_program(s, r, "port monitor",
					    r->value, monitor_dir);
				break;
			case RULE_TEMPLATE:
				rc = refuse_template(s, r);
				break;
			case RULE_REFUSED:
				rc = fail(s->err, s->errlen, "*%s on line %d is "
				    "refused: \"%s\"", kw, r->line,
				    log_quote(r->value, smp, sizeof(smp)));
				break;
			case RULE_DROP:		/* find_rule() skips them */
				break;
			}
		} else if (s->nopts == 0) {
			continue;
		} else if (cmdline_option(s, kw)) {
			/* A choice of a CmdLine/Composite option. */
			if (r->stray_quotes || strncmp(r->value, SETTING_MARK,
			    strlen(SETTING_MARK)) != 0)
				rc = refuse_template(s, r);
		} else if (strncasecmp(kw, "Custom", 6) == 0 &&
		    cmdline_option(s, kw + 6) && strcasecmp(r->spec, "True") == 0) {
			rc = refuse_template(s, r);
		} else if (strncasecmp(kw, "FoomaticRIPDefault", 18) == 0 &&
		    cmdline_option(s, kw + 18)) {
			if (r->stray_quotes || free_text_default(s, kw + 18, r->value))
				rc = refuse_template(s, r);
		} else if (strncasecmp(kw, "Default", 7) == 0 &&
		    cmdline_option(s, kw + 7)) {
			if (r->stray_quotes || free_text_default(s, kw + 7, r->value))
				rc = refuse_template(s, r);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int
ppd_check_safe(const void *data, size_t len, const struct ppd_policy *pol,
    char *err, size_t errlen)
{
	return ppd_check_safe_nick(data, len, pol, NULL, 0, err, errlen);
}

int
ppd_check_safe_nick(const void *data, size_t len, const struct ppd_policy *pol,
    char *nickname, size_t nicklen, char *err, size_t errlen)
{
	struct scan s;
	char mdir[PATH_MAX];
	const char *slash;
	size_t n;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (nickname != NULL && nicklen > 0)
		nickname[0] = '\0';
	else
		nickname = NULL;
	if (pol == NULL || pol->filter_dir == NULL || pol->filter_dir[0] == '\0') {
		snprintf(err, errlen, "no filter folder to check the driver against");
		return -EINVAL;
	}
	if (pol->monitor_dir != NULL) {
		snprintf(mdir, sizeof(mdir), "%s", pol->monitor_dir);
	} else {
		/* ServerBin/filter -> ServerBin/monitor */
		for (n = strlen(pol->filter_dir); n > 1 && pol->filter_dir[n - 1] == '/'; n--)
			;
		for (slash = pol->filter_dir + n; slash > pol->filter_dir &&
		    slash[-1] != '/'; slash--)
			;
		snprintf(mdir, sizeof(mdir), "%.*smonitor",
		    (int)(slash - pol->filter_dir), pol->filter_dir);
	}
	if (len > pol->max_size)
		return fail(err, errlen, "driver is %zu bytes, over the cap of %zu",
		    len, pol->max_size);
	if ((rc = prepare(&s, data, len, nickname, nicklen, err, errlen)) == 0)
		rc = walk(&s, pol, mdir);
	free_scan(&s);
	if (rc != 0 && nickname != NULL)
		nickname[0] = '\0';
	if (rc == -EBADMSG)
		rc = -EPERM;
	return rc;
}

/* The line after the statement that starts on line i. */
static size_t
statement_end(const struct scan *s, size_t i)
{
	for (i++; i < s->nlines && s->lc[i] == ST_CONT; i++)
		;
	return i;
}

static size_t
line_offset(const struct scan *s, size_t i)
{
	return i < s->nlines ? s->lstart[i] : s->len;
}

static void
put(char *buf, size_t *o, const char *p, size_t n)
{
	memcpy(buf + *o, p, n);
	*o += n;
}

int
ppd_rewrite_pdf(const void *data, size_t len, size_t max_out, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	/*
	 * With a "-" filter for PDF, cupsd runs only the guest's own pdftopdf
	 * (page ranges, n-up) and hands its PDF to the backend.  The host
	 * queue makes the copies, so pdftopdf must not multiply the pages.
	 */
	static const char *const added[] = {
		"*% Rewritten by printredir: jobs leave this queue as PDF for "
		    "the host's driver.",
		"*cupsFilter2: \"application/vnd.cups-pdf application/pdf 0 -\"",
		"*cupsManualCopies: False",
	};
	struct scan s;
	const char *eol;
	char *buf = NULL;
	size_t i, e, next, o = 0, cap = len + 3;	/* a line end and the NUL */
	int rc;

	*out = NULL;
	*outlen = 0;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((rc = read_lines(&s, data, len, err, errlen)) != 0)
		goto out;
	if (s.nrecs == 0 || s.recs[0].line != 1 ||
	    strcmp(s.recs[0].keyword, "PPD-Adobe") != 0) {
		snprintf(err, errlen, "not a PPD: line 1 is not *PPD-Adobe");
		rc = -EBADMSG;
		goto out;
	}
	/* The added lines end as the first line does. */
	e = line_end(&s, 0);
	eol = e < s.len && s.data[e] == '\r' ? "\r\n" : "\n";
	for (i = 0; i < sizeof(added) / sizeof(added[0]); i++)
		cap += strlen(added[i]) + 2;
	if ((buf = malloc(cap)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* After the whole first statement, should its value span lines. */
	next = statement_end(&s, 0);
	put(buf, &o, s.data, line_offset(&s, next));
	if (buf[o - 1] != '\n')
		put(buf, &o, eol, strlen(eol));
	for (i = 0; i < sizeof(added) / sizeof(added[0]); i++) {
		put(buf, &o, added[i], strlen(added[i]));
		put(buf, &o, eol, strlen(eol));
	}
	for (i = next; i < s.nlines; i = next) {
		next = statement_end(&s, i);
		if (s.lc[i] != ST_KEY || !pdf_drops(s.recs[s.lrec[i]].keyword)) {
			put(buf, &o, s.data + s.lstart[i],
			    line_offset(&s, next) - s.lstart[i]);
			continue;
		}
		/* A multi-line value may be closed by "*End": it goes too. */
		if (next < s.nlines && end_line(s.data + s.lstart[next],
		    line_end(&s, next) - s.lstart[next]))
			next = statement_end(&s, next);
	}
	buf[o] = '\0';
	if (o > max_out) {
		snprintf(err, errlen, "rewritten driver is %zu bytes, over the "
		    "cap of %zu", o, max_out);
		rc = -EFBIG;
		goto out;
	}
	*out = buf;
	*outlen = o;
	buf = NULL;
out:
	if (rc == -EPERM)		/* the line reader refused the bytes */
		rc = -EBADMSG;
	else if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(buf);
	free_scan(&s);
	return rc;
}

/* --- a queue's defaults in its PPD ------------------------------------------ */

/* The first of the choices names (NULL-ended) option o has; NULL none. */
static const char *
first_choice(ppd_option_t *o, const char *const *names)
{
	ppd_choice_t *c;

	for (; *names; names++)
		if ((c = ppdFindChoice(o, *names)) != NULL)
			return c->choice;	/* as the PPD spells it */
	return NULL;
}

/* The PPD choice (option *opt) that gives the IPP default name=value. */
static const char *
ipp_choice(ppd_file_t *ppd, const char *name, const char *value, ppd_option_t **opt)
{
	static const char *const duplex[] = { "Duplex", "EFDuplex", "KD03Duplex",
		"JCLDuplex", "ARDuplex", NULL };
	static const char *const none[] = { "None", "Off", "False", "Simplex", NULL };
	static const char *const long_edge[] = { "DuplexNoTumble", "LongEdge", "On",
		"True", NULL };
	static const char *const short_edge[] = { "DuplexTumble", "ShortEdge", NULL };
	static const char *const gray[] = { "Gray", "Grayscale", "Mono", "Monochrome",
		"KGray", "Black", NULL };
	static const char *const color[] = { "RGB", "CMYK", "Color", "CMY", "KCMY", NULL };

	*opt = NULL;
	if (strcmp(name, "sides") == 0) {
		for (size_t i = 0; duplex[i] && *opt == NULL; i++)
			*opt = ppdFindOption(ppd, duplex[i]);
		if (*opt == NULL)
			return NULL;
		return first_choice(*opt, !strcmp(value, "one-sided") ? none :
		    !strcmp(value, "two-sided-long-edge") ? long_edge :
		    !strcmp(value, "two-sided-short-edge") ? short_edge : (const char *const[]){ NULL });
	}
	if (strcmp(name, "media") == 0) {
		pwg_media_t *m = pwgMediaForPWG(value);

		if ((*opt = ppdFindOption(ppd, "PageSize")) == NULL)
			return NULL;
		return first_choice(*opt, (const char *const[]){ m && m->ppd ? m->ppd : value,
		    value, NULL });
	}
	if (strcmp(name, "print-color-mode") == 0) {
		if ((*opt = ppdFindOption(ppd, "ColorModel")) == NULL)
			return NULL;
		return first_choice(*opt, !strcmp(value, "monochrome") ? gray :
		    !strcmp(value, "color") ? color : (const char *const[]){ NULL });
	}
	return NULL;
}

static const char *choice_for(const char *choices, const char *kw, size_t klen,
    size_t *clen);

int
ppd_default_choices(const void *data, size_t len, const char *defaults, char *out,
    size_t outlen)
{
	ppd_file_t *ppd = NULL;
	char err[256];
	int rc;

	out[0] = '\0';
	if ((rc = open_mem(data, len, &ppd, err, sizeof(err))) != 0)
		return rc;
	for (const char *l = defaults; l && *l; l = codec_next_item(l, '\n')) {
		char name[128], value[256];
		const char *choice;
		ppd_option_t *o;
		size_t nlen = strcspn(l, "="), vlen, clen;

		if (l[nlen] != '=' || nlen == 0 || nlen >= sizeof(name))
			continue;
		vlen = strcspn(l + nlen + 1, "\n");
		if (vlen == 0 || vlen >= sizeof(value))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)nlen, l);
		snprintf(value, sizeof(value), "%.*s", (int)vlen, l + nlen + 1);
		if ((choice = ipp_choice(ppd, name, value, &o)) == NULL) {
			/* A PPD option's own choice: Duplex=DuplexNoTumble. */
			if ((o = ppdFindOption(ppd, name)) == NULL ||
			    (choice = first_choice(o, (const char *const[]){ value, NULL })) == NULL)
				continue;
		}
		if (choice_for(out, o->keyword, strlen(o->keyword), &clen) == NULL &&
		    strlen(out) + strlen(o->keyword) + strlen(choice) + 3 < outlen)
			snprintf(out + strlen(out), outlen - strlen(out), "%s=%s\n",
			    o->keyword, choice);
	}
	ppdClose(ppd);
	return 0;
}

/* The choice choices ("Option=Choice" lines) give option kw (klen bytes). */
static const char *
choice_for(const char *choices, const char *kw, size_t klen, size_t *clen)
{
	for (const char *l = choices; l && *l; l = codec_next_item(l, '\n'))
		if (strncmp(l, kw, klen) == 0 && l[klen] == '=') {
			*clen = strcspn(l + klen + 1, "\n");
			return l + klen + 1;
		}
	return NULL;
}

int
ppd_set_defaults(const void *data, size_t len, const char *choices, char **out,
    size_t *outlen)
{
	const char *p = data, *end = p + len;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f = open_memstream(&buf, &blen);

	*out = NULL;
	*outlen = 0;
	if (f == NULL)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		const char *choice = NULL, *kw = p + 8;
		size_t klen = 0, clen = 0;

		if (n > 9 && strncmp(p, "*Default", 8) == 0) {
			klen = strcspn(kw, ": \r\n");
			if (kw[klen] == ':')
				choice = choice_for(choices, kw, klen, &clen);
			/* PageSize brings its three companions along. */
			if (choice == NULL && kw[klen] == ':' &&
			    ((klen == 10 && strncmp(kw, "PageRegion", 10) == 0) ||
			    (klen == 14 && strncmp(kw, "ImageableArea", 13) == 0) ||
			    (klen == 13 && strncmp(kw, "ImageableArea", 13) == 0) ||
			    (klen == 14 && strncmp(kw, "PaperDimension", 14) == 0)))
				choice = choice_for(choices, "PageSize", 8, &clen);
		}
		if (choice != NULL)
			fprintf(f, "*Default%.*s: %.*s\n", (int)klen, kw, (int)clen, choice);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*outlen = blen;
	return 0;
}

int
ppd_ui_defaults(const void *data, size_t len, char *out, size_t outlen)
{
	ppd_file_t *ppd = NULL;
	ppd_group_t *g;
	ppd_option_t *o;
	char err[256];
	int rc, i, k;

	out[0] = '\0';
	if ((rc = open_mem(data, len, &ppd, err, sizeof(err))) != 0)
		return rc;
	for (i = 0, g = ppd->groups; i < ppd->num_groups; i++, g++)
		for (k = 0, o = g->options; k < g->num_options; k++, o++) {
			size_t used = strlen(out);

			if (!codec_ppd_word_ok(o->keyword) || !codec_ppd_word_ok(o->defchoice) ||
			    !strcmp(o->keyword, "PageRegion"))
				continue;
			if (used + strlen(o->keyword) + strlen(o->defchoice) + 3 > outlen)
				break;
			snprintf(out + used, outlen - used, "%s=%s\n", o->keyword,
			    o->defchoice);
		}
	ppdClose(ppd);
	return 0;
}
