/*
 * Schema-driven configuration loader on libinih.
 *
 * The caller describes every key it accepts in a table of struct conf_key;
 * the loader fills the caller's struct through the offsets in that table.
 *
 * Accepted syntax (libinih 55 as Debian builds it, with the options below
 * set by conf_load*()):
 *
 *   [section]            Section header. The name is taken as written between
 *                        the brackets, spaces included; text after ']' is
 *                        ignored. A header may appear more than once.
 *   key = value          Also "key: value". Spaces around key and value are
 *                        stripped, nothing else is: quotes are part of the
 *                        value, there are no escapes. Names are
 *                        case-sensitive. Indented lines are ordinary lines.
 *   ; comment, # comment At the start of a line, after optional spaces.
 *   key = value ; note   Inline comment: ';' preceded by a space or tab. A
 *                        '#' inside a value is part of the value, and so is
 *                        a ';' not preceded by whitespace ("a;b").
 *
 * Not accepted: keys before the first section header or under "[]", lines
 * that are neither header, key nor comment (a header without ']', a bare
 * word), continuation lines, NUL bytes, lines longer than CONF_LINE_MAX
 * bytes, values longer than CONF_VALUE_MAX bytes, files larger than
 * CONF_FILE_MAX bytes. A UTF-8 byte order mark is skipped at the very start
 * of the file only. CRLF line ends are fine. Every key may appear once.
 * Unknown sections and unknown keys are errors; an unknown section without
 * any key under it is not noticed.
 *
 * Errors are reported one at a time, the first in the file, as
 * "NAME:LINE: ..." where NAME is the path or name the caller gave, e.g.
 *   broker.conf:12: key "listen" in [broker]: expected unix:PATH,
 *   tcp:HOST:PORT, vsock:CID:PORT or virtio-serial:PATH
 * Missing required keys have no line: "broker.conf: missing required key
 * "key_file" in [broker]".
 *
 * Not thread-safe: Debian's libinih keeps its options in process-wide
 * variables (ini_max_line, ini_allow_multiline, ...), which conf_load*()
 * set for the parse and restore afterwards. Load configuration from one
 * thread, before starting others that use libinih.
 */
#ifndef PRINTREDIR_CONF_H
#define PRINTREDIR_CONF_H

#include <stddef.h>

#define CONF_VALUE_MAX	4096		/* bytes of one value */
#define CONF_LINE_MAX	8192		/* bytes of one line with its newline */
#define CONF_FILE_MAX	(1024 * 1024)	/* bytes of one file */

enum conf_type {
	CONF_STRING,	/* char *, malloc'd, owned by the struct */
	CONF_BOOL,	/* int 0/1: yes/no, true/false, on/off, 1/0, any case */
	CONF_INT,	/* long long in [min, max], decimal, optional '-' */
	CONF_DURATION,	/* long long seconds: 30, 30s, 5m, 2h, 1d */
	CONF_ADDR,	/* struct addr (addr.h), text form as in addr_parse() */
};

struct conf_key {
	const char *section;	/* "broker", "agent", "restart", ... */
	const char *name;
	enum conf_type type;
	size_t offset;		/* offsetof() the caller's field */
	const char *def;	/* default, parsed like the file; or NULL */
	/*
	 * Bounds for CONF_INT and CONF_DURATION (in seconds), inclusive;
	 * min == max == 0 means none beyond what the type holds.
	 */
	long long min, max;
	int required;		/* error if not in the file and def is NULL */
	int empty_ok;		/* CONF_STRING only: "key =" stores "" */
};

/*
 * Loads the file at path (not NULL) against keys[0..nkeys-1] into out (not
 * NULL; the struct the offsets refer to). Returns 0 or a negative errno:
 * -ENOENT, -EACCES, ... when the file cannot be read, -EFBIG when it is
 * larger than CONF_FILE_MAX, -EINVAL for anything wrong inside it or in the
 * schema, -ENOMEM. When err is not NULL it receives a one-line message
 * (truncated to errlen) naming the file, and where there is one the line,
 * the section and the key.
 *
 * On success every field named in keys is written: the value from the file,
 * else the default, else zero (NULL for strings, an all-zero struct addr
 * whose kind is 0). Fields not named in keys are not touched, nor are old
 * strings freed: conf_free() first when reusing a struct. On error out is
 * left untouched and nothing stays allocated.
 */
int conf_load(const char *path, const struct conf_key *keys, size_t nkeys,
    void *out, char *err, size_t errlen);

/*
 * As conf_load(), from len bytes at buf (buf may be NULL when len is 0;
 * need not be NUL-terminated; a NUL byte in it is an error). name (not
 * NULL) is only used in messages.
 */
int conf_load_buf(const char *name, const char *buf, size_t len,
    const struct conf_key *keys, size_t nkeys, void *out, char *err,
    size_t errlen);

/*
 * 1 when word is one of the words of list (separated by blanks, commas or
 * line ends; list may be NULL), compared exactly or, with nocase, without
 * regard to ASCII case.  The one reader of the list-valued keys
 * (apps_ignore, [guests] allow).
 */
int conf_list_has(const char *list, const char *word, int nocase);

/*
 * Frees the CONF_STRING fields of out that keys names and sets them to NULL,
 * so calling it twice is harmless. out may be NULL.
 */
void conf_free(const struct conf_key *keys, size_t nkeys, void *out);

#endif
