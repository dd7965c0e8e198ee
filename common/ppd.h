/*
 * PPD checks shared by the broker (before it offers a driver) and the agent
 * (before a driver from the wire reaches the guest's cupsd).
 */
#ifndef PRINTREDIR_PPD_H
#define PRINTREDIR_PPD_H

#include <stddef.h>

/*
 * Parses len bytes as a PPD with libcups in relaxed conformance.  Returns 0
 * or -EBADMSG with libcups' reason and line in err.  When nickname is not
 * NULL it receives the PPD's NickName (or "" when absent).  data is only
 * read; err and nickname may be NULL when their length is 0.
 */
int ppd_check_parse(const void *data, size_t len, char *nickname,
    size_t nicklen, char *err, size_t errlen);

/* What the agent lets through to the guest's cupsd.  Strings are borrowed. */
struct ppd_policy {
	size_t max_size;		/* bytes */
	const char *filter_dir;		/* the guest CUPS's filter folder, e.g. /usr/lib/cups/filter */
	const char *monitor_dir;	/* its port monitors; NULL: "monitor" next to filter_dir */
};

/*
 * Decides whether len bytes of an untrusted PPD may be installed: size, a
 * libcups parse, every program cupsd would run for it (filters, pre-filters,
 * port monitors) installed in the guest, and no command template that
 * foomatic-rip would hand to a shell, whatever it holds (ppd.c lists which
 * keywords those are, and why): nothing of a driver may run in the guest,
 * and ppd_rewrite_pdf() leaves none.  Returns 0 when it may, -EPERM with the
 * exact reason in err otherwise (the keyword, a sanitized sample of the value
 * and the line where there is one), -EINVAL when pol is unusable (no
 * filter_dir), -ENOMEM.  pol must not be NULL; err may be NULL when errlen
 * is 0.
 */
int ppd_check_safe(const void *data, size_t len, const struct ppd_policy *pol,
    char *err, size_t errlen);
/*
 * ppd_check_safe() that also hands back the PPD's *NickName (nicklen bytes
 * at nickname; "" unless it returns 0) from the check's own libcups parse:
 * the parse is most of a check, and ppd_check_parse() afterwards would do it
 * again.  nickname may be NULL when nicklen is 0.
 */
int ppd_check_safe_nick(const void *data, size_t len, const struct ppd_policy *pol,
    char *nickname, size_t nicklen, char *err, size_t errlen);

/*
 * Rewrites an untrusted PPD for a guest queue that hands its jobs over as
 * PDF: the queue keeps the print server's options (trays, duplex, media,
 * finishing) for print dialogs, and nothing of the driver may run in the
 * guest.  Every statement whose keyword makes cupsd or foomatic-rip run
 * something, or only serves the driver's own filters, is dropped whole with
 * its "*End" line (ppd.c's rules table lists them); after the first line
 * come a comment, *cupsFilter2: "application/vnd.cups-pdf application/pdf 0
 * -" and *cupsManualCopies: False.  Every other byte is kept.  The result is
 * not otherwise vouched for: check it with ppd_check_safe() before use.
 *
 * data (len bytes) is only read.  Returns 0 with a malloc'd copy in *out
 * (*outlen bytes, NUL-terminated too; the caller frees it), -EBADMSG when it
 * is not a PPD (first line not *PPD-Adobe, or the line reader refuses it)
 * with the reason in err, -EFBIG when the result would be over max_out
 * bytes, -ENOMEM.  *out is NULL on error.  err may be NULL when errlen is 0.
 */
int ppd_rewrite_pdf(const void *data, size_t len, size_t max_out, char **out,
    size_t *outlen, char *err, size_t errlen);

/*
 * The PPD choices that give a queue the defaults in defaults ("name=value"
 * lines, as the broker sends a host queue's): an IPP default mapped onto the
 * PPD's option (sides onto Duplex and its kin, media onto PageSize,
 * print-color-mode onto ColorModel), or a PPD option's own choice
 * ("Duplex=DuplexNoTumble").  Those the PPD cannot give are left out.
 * Writes "Option=Choice" lines to out (outlen bytes, "" for none).  Returns
 * 0, or the error of parsing data (len bytes).
 */
int ppd_default_choices(const void *data, size_t len, const char *defaults,
    char *out, size_t outlen);
/*
 * data (len bytes) with each "*DefaultOption:" line of an option named in
 * choices ("Option=Choice" lines) set to that choice (PageSize's PageRegion,
 * ImageableArea and PaperDimension too); every other byte kept.  0 with a
 * malloc'd copy in *out (*outlen bytes), or -ENOMEM.
 */
int ppd_set_defaults(const void *data, size_t len, const char *choices, char **out,
    size_t *outlen);

/*
 * The default choice of each option of data (len bytes, a PPD) a print
 * dialog shows (PageRegion aside: PageSize says it), as "Option=Choice"
 * lines into out (outlen bytes; those that do not fit are left out, as are
 * names codec_ppd_word_ok refuses).  Returns 0, or the
 * error of parsing data.
 */
int ppd_ui_defaults(const void *data, size_t len, char *out, size_t outlen);

#endif
