/*
 * Generic drivers (driverless_fallback): a PPD written from a printer's
 * IPP attributes (its Get-Printer-Attributes answer), for a printer whose
 * print server has no driver and whose host queue has no PPD either.
 *
 * libcups has no public function for this (Debian 12's libcups2 exports
 * only the private _ppdCreateFromIPP), and libcupsfilters' ppdCreateFromIPP
 * (what cups-browsed uses) was tried and left: Debian 12's (1.28.17) writes
 * the printer's values into the PPD unescaped (a make-and-model with a
 * quote and a newline adds a *cupsFilter line: CVE-2024-47175), fetches the
 * printer's printer-strings-uri over HTTP, keeps its state in globals and
 * ignores sides-default; made safe it needed a checked copy of the answer
 * as long as most of this file.  So this is a small one of our own.
 * The answer comes from the network: only keywords from a short list, or
 * checked against PPD keyword rules, and numbers within bounds, reach the
 * PPD; a printer that names a thousand media sizes gets GENERIC_MAX_MEDIA.
 * Nothing of it is run anywhere: the guest's queue hands its jobs on as PDF
 * (ppd_rewrite_pdf) and the host's queue delivers them, so the PPD only
 * gives print dialogs the printer's sizes, sides, colour and resolutions.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cups/cups.h>

#include "broker.h"

#define GENERIC_MAX_MEDIA 64
#define GENERIC_MAX_RES 8
#define GENERIC_MAX_KEYWORD 63		/* bytes of one PWG media name */
#define GENERIC_MAX_NAME 40		/* bytes of a PPD option choice */
#define GENERIC_MAX_NICK 60		/* bytes of the model in *NickName */
#define GENERIC_MIN_SIZE 2540		/* hundredths of mm: 1 inch */
#define GENERIC_MAX_SIZE 1000000	/* hundredths of mm: 10 m */
/* CUPS's own margins when a printer names none: 1/4 inch left and
 * right, 1/2 inch top and bottom. */
#define MARGIN_LR 635
#define MARGIN_TB 1270

/* A growing text: every append is checked once, at the end. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *nb;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		if ((nb = realloc(t->buf, t->cap * 2 + (size_t)n)) == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

/* 1 when s is 1-max bytes of [A-Za-z0-9._-] (plus '+' for PPD names):
 * a PWG keyword, or a PPD choice name that breaks no PPD line. */
static int
plain_word(const char *s, size_t max, int ppd)
{
	size_t n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++, n++) {
		unsigned char c = (unsigned char)*s;

		if (n >= max)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-' ||
		    (ppd && ((c >= 'A' && c <= 'Z') || c == '+'))))
			return 0;
	}
	return 1;
}

/* Hundredths of a millimetre as PostScript points, "%d.%02d" (no locale). */
static void
points(long hmm, char *out, size_t len)
{
	long p = (hmm * 7200 + 1270) / 2540;

	snprintf(out, len, "%ld.%02ld", p / 100, p % 100);
}

struct media {
	char name[GENERIC_MAX_NAME + 1];	/* the PPD's PageSize choice */
	char pwg[GENERIC_MAX_KEYWORD + 1];
	int width, length;			/* hundredths of mm */
};

/* Adds PWG media name kw to m (*n entries) unless unusable or of a size
 * already there (the borderless variants of a size). */
static void
media_add(struct media *m, size_t *n, const char *kw)
{
	pwg_media_t *pm;

	if (*n >= GENERIC_MAX_MEDIA || !plain_word(kw, GENERIC_MAX_KEYWORD, 0) ||
	    strncmp(kw, "custom_min", 10) == 0 || strncmp(kw, "custom_max", 10) == 0)
		return;
	if ((pm = pwgMediaForPWG(kw)) == NULL || pm->ppd == NULL ||
	    !plain_word(pm->ppd, GENERIC_MAX_NAME, 1) ||
	    pm->width < GENERIC_MIN_SIZE || pm->width > GENERIC_MAX_SIZE ||
	    pm->length < GENERIC_MIN_SIZE || pm->length > GENERIC_MAX_SIZE)
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(m[i].name, pm->ppd) == 0 ||
		    (abs(m[i].width - pm->width) <= 2 && abs(m[i].length - pm->length) <= 2))
			return;
	snprintf(m[*n].name, sizeof(m[*n].name), "%s", pm->ppd);
	snprintf(m[*n].pwg, sizeof(m[*n].pwg), "%s", kw);
	m[*n].width = pm->width;
	m[*n].length = pm->length;
	(*n)++;
}

/* The value of keyword attribute name in attrs that is one of want
 * (NULL-terminated), its index there; -1 when none.  Used for the
 * defaults. */
static int
keyword_of(ipp_t *attrs, const char *name, const char *const *want)
{
	ipp_attribute_t *a = ippFindAttribute(attrs, name, IPP_TAG_KEYWORD);
	const char *v = a && ippGetCount(a) == 1 ? ippGetString(a, 0, NULL) : NULL;

	for (int i = 0; v && want[i]; i++)
		if (strcmp(v, want[i]) == 0)
			return i;
	return -1;
}

/* Bit i set when keyword attribute name lists want[i]. */
static unsigned
keywords_in(ipp_t *attrs, const char *name, const char *const *want)
{
	ipp_attribute_t *a = ippFindAttribute(attrs, name, IPP_TAG_KEYWORD);
	unsigned bits = 0;
	int n = a ? ippGetCount(a) : 0;

	for (int k = 0; k < n && k < 1000; k++) {
		const char *v = ippGetString(a, k, NULL);

		for (int i = 0; v && want[i]; i++)
			if (strcmp(v, want[i]) == 0)
				bits |= 1u << i;
	}
	return bits;
}

/* A resolution value in dpi; 0 when unusable. */
static int
dpi_of(ipp_attribute_t *a, int i, int *y)
{
	ipp_res_t units;
	int x = ippGetResolution(a, i, y, &units);

	if (units == IPP_RES_PER_CM) {
		x = (int)((x * 254L + 50) / 100);
		*y = (int)((*y * 254L + 50) / 100);
	}
	if (x < 50 || x > 9600 || *y < 50 || *y > 9600)
		return 0;
	return x;
}

/* The model for *NickName: letters, digits and a few marks, any other
 * run of bytes one space, at most GENERIC_MAX_NICK bytes; "IPP Printer"
 * when nothing usable. */
static void
nick_model(ipp_t *attrs, char *out, size_t len)
{
	ipp_attribute_t *a = ippFindAttribute(attrs, "printer-make-and-model",
	    IPP_TAG_ZERO);
	const char *v = a ? ippGetString(a, 0, NULL) : NULL;
	size_t n = 0;

	for (; v && *v && n + 1 < len && n < GENERIC_MAX_NICK; v++) {
		unsigned char c = (unsigned char)*v;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._,-+()/", c) != NULL)
			out[n++] = (char)c;
		else if (n > 0 && out[n - 1] != ' ')	/* anything else: one space */
			out[n++] = ' ';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (n == 0 || strcmp(out, "Local Raw Printer") == 0 ||
	    strncmp(out, "Remote Printer", 14) == 0)
		snprintf(out, len, "IPP Printer");
}

/* Whether a document-format-supported lists PDF (or names no formats). */
static int
takes_pdf(ipp_t *attrs)
{
	ipp_attribute_t *a = ippFindAttribute(attrs, "document-format-supported",
	    IPP_TAG_MIMETYPE);
	int n = a ? ippGetCount(a) : 0;

	if (a == NULL)
		return 1;
	for (int i = 0; i < n && i < 10000; i++) {
		const char *v = ippGetString(a, i, NULL);

		if (v && strcmp(v, "application/pdf") == 0)
			return 1;
	}
	return 0;
}

int
generic_ppd_from_ipp(ipp_t *attrs, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	static const char *const sides[] = { "one-sided", "two-sided-long-edge",
	    "two-sided-short-edge", NULL };
	static const char *const sides_ppd[] = { "None", "DuplexNoTumble",
	    "DuplexTumble" };
	static const char *const sides_text[] = { "Off", "Long-Edge (Portrait)",
	    "Short-Edge (Landscape)" };
	static const char *const modes[] = { "monochrome", "color", NULL };
	struct media *m = NULL;
	struct text t = { 0 };
	ipp_attribute_t *a;
	char model[GENERIC_MAX_NICK + 1], w[32], l[32], x0[32], y0[32], x1[32], y1[32];
	int res[GENERIC_MAX_RES][2], nres = 0, def_res = 0, color, def;
	unsigned side_bits;
	size_t nm = 0, def_media = 0;
	int rc = -ENOMEM;

	*out = NULL;
	*outlen = 0;
	if (!takes_pdf(attrs)) {
		snprintf(err, errlen, "the printer does not take PDF "
		    "(document-format-supported)");
		return -ENOTSUP;
	}
	if ((m = calloc(GENERIC_MAX_MEDIA, sizeof(*m))) == NULL)
		goto out;
	a = ippFindAttribute(attrs, "media-supported", IPP_TAG_ZERO);
	for (int i = 0; a && i < ippGetCount(a) && i < 1000; i++)
		if (ippGetValueTag(a) == IPP_TAG_KEYWORD ||
		    ippGetValueTag(a) == IPP_TAG_NAME)
			media_add(m, &nm, ippGetString(a, i, NULL));
	if (nm == 0) {
		/* A printer (a raw queue) that names no sizes gets the two
		 * everyone has. */
		media_add(m, &nm, "iso_a4_210x297mm");
		media_add(m, &nm, "na_letter_8.5x11in");
	}
	if (nm == 0) {
		snprintf(err, errlen, "libcups knows no media sizes");
		rc = -EINVAL;
		goto out;
	}
	a = ippFindAttribute(attrs, "media-default", IPP_TAG_ZERO);
	if (a && ippGetCount(a) == 1 && ippGetString(a, 0, NULL) != NULL)
		for (size_t i = 0; i < nm; i++)
			if (strcmp(m[i].pwg, ippGetString(a, 0, NULL)) == 0)
				def_media = i;

	if ((a = ippFindAttribute(attrs, "printer-resolution-supported",
	    IPP_TAG_RESOLUTION)) != NULL) {
		for (int i = 0; i < ippGetCount(a) && i < 1000 && nres < GENERIC_MAX_RES; i++) {
			int y, x = dpi_of(a, i, &y), dup = 0;

			for (int k = 0; k < nres; k++)
				dup |= res[k][0] == x && res[k][1] == y;
			if (x > 0 && !dup) {
				res[nres][0] = x;
				res[nres++][1] = y;
			}
		}
	}
	if (nres > 0 && (a = ippFindAttribute(attrs, "printer-resolution-default",
	    IPP_TAG_RESOLUTION)) != NULL && ippGetCount(a) == 1) {
		int y, x = dpi_of(a, 0, &y);

		for (int k = 0; k < nres; k++)
			if (res[k][0] == x && res[k][1] == y)
				def_res = k;
	}
	side_bits = keywords_in(attrs, "sides-supported", sides);
	color = (keywords_in(attrs, "print-color-mode-supported", modes) & 2) != 0;
	if ((a = ippFindAttribute(attrs, "color-supported", IPP_TAG_BOOLEAN)) != NULL)
		color |= ippGetBoolean(a, 0);
	nick_model(attrs, model, sizeof(model));

	t.cap = 8192;
	if ((t.buf = malloc(t.cap)) == NULL)
		goto out;
	t.buf[0] = '\0';
	put(&t, "*PPD-Adobe: \"4.3\"\n"
	    "*%% A generic driver built by printredir's host-broker from the\n"
	    "*%% printer's IPP attributes (driverless_fallback): its print\n"
	    "*%% server has no driver for it.  Jobs go on as PDF.\n"
	    "*FormatVersion: \"4.3\"\n"
	    "*FileVersion: \"1.0\"\n"
	    "*LanguageVersion: English\n"
	    "*LanguageEncoding: ISOLatin1\n"
	    "*PCFileName: \"GENERIC.PPD\"\n"
	    "*Manufacturer: \"Generic\"\n"
	    "*Product: \"(Generic IPP Printer)\"\n"
	    "*ModelName: \"Generic IPP Printer\"\n"
	    "*ShortNickName: \"Generic IPP Printer\"\n"
	    "*NickName: \"%s, generic driver\"\n"
	    "*PSVersion: \"(3010.000) 0\"\n"
	    "*LanguageLevel: \"3\"\n"
	    "*ColorDevice: %s\n"
	    "*DefaultColorSpace: %s\n"
	    "*FileSystem: False\n"
	    "*Throughput: \"1\"\n"
	    "*LandscapeOrientation: Plus90\n"
	    "*TTRasterizer: Type42\n"
	    "*cupsVersion: 2.4\n"
	    "*cupsLanguages: \"en\"\n"
	    "*cupsFilter2: \"application/pdf application/vnd.cups-pdf 0 -\"\n",
	    model, color ? "True" : "False", color ? "RGB" : "Gray");

	/* Sizes: PageSize and PageRegion alike, ImageableArea, PaperDimension. */
	for (size_t k = 0; k < 2; k++) {
		const char *kw = k == 0 ? "PageSize" : "PageRegion";

		put(&t, "*OpenUI *%s/Media Size: PickOne\n"
		    "*OrderDependency: 10 AnySetup *%s\n"
		    "*Default%s: %s\n", kw, kw, kw, m[def_media].name);
		for (size_t i = 0; i < nm; i++) {
			points(m[i].width, w, sizeof(w));
			points(m[i].length, l, sizeof(l));
			put(&t, "*%s %s/%s: \"<</PageSize[%s %s]/ImagingBBox null>>"
			    "setpagedevice\"\n", kw, m[i].name, m[i].name, w, l);
		}
		put(&t, "*CloseUI: *%s\n", kw);
	}
	put(&t, "*DefaultImageableArea: %s\n", m[def_media].name);
	for (size_t i = 0; i < nm; i++) {
		points(MARGIN_LR, x0, sizeof(x0));
		points(MARGIN_TB, y0, sizeof(y0));
		points(m[i].width - MARGIN_LR, x1, sizeof(x1));
		points(m[i].length - MARGIN_TB, y1, sizeof(y1));
		put(&t, "*ImageableArea %s/%s: \"%s %s %s %s\"\n", m[i].name,
		    m[i].name, x0, y0, x1, y1);
	}
	put(&t, "*DefaultPaperDimension: %s\n", m[def_media].name);
	for (size_t i = 0; i < nm; i++) {
		points(m[i].width, w, sizeof(w));
		points(m[i].length, l, sizeof(l));
		put(&t, "*PaperDimension %s/%s: \"%s %s\"\n", m[i].name, m[i].name,
		    w, l);
	}

	/* Two-sided printing, when the printer has it. */
	if (side_bits & 6) {
		side_bits |= 1;
		def = keyword_of(attrs, "sides-default", sides);
		if (def < 0 || !(side_bits & (1u << def)))
			def = 0;
		put(&t, "*OpenUI *Duplex/2-Sided Printing: PickOne\n"
		    "*OrderDependency: 10 AnySetup *Duplex\n"
		    "*DefaultDuplex: %s\n", sides_ppd[def]);
		for (int i = 0; i < 3; i++)
			if (side_bits & (1u << i))
				put(&t, "*Duplex %s/%s: \"<</Duplex %s/Tumble %s>>"
				    "setpagedevice\"\n", sides_ppd[i], sides_text[i],
				    i ? "true" : "false", i == 2 ? "true" : "false");
		put(&t, "*CloseUI: *Duplex\n");
	}

	/* Colour, when the printer prints it: cupsd maps print-color-mode to
	 * ColorModel Gray and RGB. */
	if (color) {
		def = keyword_of(attrs, "print-color-mode-default", modes);
		put(&t, "*OpenUI *ColorModel/Color Mode: PickOne\n"
		    "*OrderDependency: 10 AnySetup *ColorModel\n"
		    "*DefaultColorModel: %s\n"
		    "*ColorModel Gray/Grayscale: \"<</ProcessColorModel /DeviceGray>>"
		    "setpagedevice\"\n"
		    "*ColorModel RGB/Color: \"<</ProcessColorModel /DeviceRGB>>"
		    "setpagedevice\"\n"
		    "*CloseUI: *ColorModel\n", def == 0 ? "Gray" : "RGB");
	}

	/* Resolutions, when the printer names any. */
	if (nres > 0) {
		char names[GENERIC_MAX_RES][32];

		for (int k = 0; k < nres; k++) {
			if (res[k][0] == res[k][1])
				snprintf(names[k], sizeof(names[k]), "%ddpi", res[k][0]);
			else
				snprintf(names[k], sizeof(names[k]), "%dx%ddpi",
				    res[k][0], res[k][1]);
		}
		put(&t, "*OpenUI *Resolution/Resolution: PickOne\n"
		    "*OrderDependency: 10 AnySetup *Resolution\n"
		    "*DefaultResolution: %s\n", names[def_res]);
		for (int k = 0; k < nres; k++)
			put(&t, "*Resolution %s/%s: \"<</HWResolution[%d %d]>>"
			    "setpagedevice\"\n", names[k], names[k], res[k][0],
			    res[k][1]);
		put(&t, "*CloseUI: *Resolution\n");
	}
	put(&t, "*DefaultFont: Courier\n*Font Courier: Standard \"(1.05)\" "
	    "Standard ROM\n*%% End of the generic driver\n");
	if (t.failed)
		goto out;
	*out = t.buf;
	*outlen = t.len;
	t.buf = NULL;
	rc = 0;
out:
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(t.buf);
	free(m);
	return rc;
}
