/*
 * Tables for a terminal, safe for untrusted text: `host-broker status` and
 * `guest-agent status` print what guests, print servers and state files
 * said, and none of it may reach the terminal raw.  Every cell goes through
 * table_put(): control characters (C0, DEL, C1: terminal escapes) and bytes
 * that are not UTF-8 become '?', and a cell longer than its column's cap is
 * cut to cap characters, the last three "...".  Widths count UTF-8
 * characters, so columns line up with non-ASCII names.
 *
 * A table is a list of columns, each showing one member of a json-c row
 * object:
 *
 *	static const struct table_col cols[] = {
 *		{ "PRINTER", "name", 40 },
 *		{ "STATE", "state", 24 },
 *	};
 *	struct table t;
 *
 *	table_init(&t, cols, 2);
 *	for (each row)
 *		table_fit(&t, row);
 *	table_print_head(&t, out);
 *	for (each row)
 *		table_print_row(&t, out, "", row);
 *
 * Columns are two blanks apart; a line carries no trailing blanks.
 */
#ifndef PRINTREDIR_TABLE_H
#define PRINTREDIR_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

/* The longest cell in characters, "..." included: room for the agent's
 * longest reasons, yet a bound on what a hostile string can fill. */
#define TABLE_CELL_MAX 512
/* The bytes of a cell's buffer: a character is at most 4 bytes of UTF-8. */
#define TABLE_CELL_BYTES (4 * TABLE_CELL_MAX + 1)
/* The most columns a table has. */
#define TABLE_COLS_MAX 8

enum table_kind {
	TABLE_TEXT = 0,		/* strings, numbers, booleans as yes/no */
	TABLE_TIME,		/* an integer of unix seconds, in local time */
};

struct table_col;

/*
 * Writes the text of a cell of row (not NULL; may be any json-c value) into
 * buf (len bytes, not NULL), for a column that shows more than one member
 * or needs words of its own.  The text is then capped and sanitized like
 * any other; an empty text counts as missing.
 */
typedef void table_text_fn(json_object *row, const struct table_col *col,
    char *buf, size_t len);

struct table_col {
	const char *head;	/* the heading; "" for a table without one */
	const char *key;	/* the member of the row shown */
	size_t cap;		/* characters, "..." included: 4 to TABLE_CELL_MAX */
	enum table_kind kind;
	int omit_missing;	/* show nothing rather than "-" when missing */
	table_text_fn *text;	/* NULL: the member's value as kind says */
};

struct table {
	const struct table_col *cols;
	size_t ncols;
	size_t widths[TABLE_COLS_MAX];
};

/*
 * Copies text (len bytes, untrusted, need not be NUL-terminated; NULL only
 * when len is 0) into buf (TABLE_CELL_BYTES) as at most cap characters
 * (capped at TABLE_CELL_MAX), sanitized as said above.  Returns the width
 * in characters.
 */
size_t table_putn(const char *text, size_t len, size_t cap, char *buf);

/* table_putn() of a NUL-terminated text; NULL reads as "". */
size_t table_put(const char *text, size_t cap, char *buf);

/*
 * Renders the cell of col for row into buf (TABLE_CELL_BYTES): row[col->key]
 * when it is a string, a number or a boolean ("yes"/"no"); "-" (or "" with
 * omit_missing) when it is missing, null, empty, or an object or array.
 * row may be NULL or not an object: every cell is then missing.  Returns
 * the width in characters.
 */
size_t table_cell(json_object *row, const struct table_col *col, char *buf);

/*
 * Starts a table of ncols (at most TABLE_COLS_MAX) columns: cols (not NULL)
 * must outlive t.  The widths start at those of the headings.
 */
void table_init(struct table *t, const struct table_col *cols, size_t ncols);

/* Widens the columns of t to fit row's cells (row as for table_cell()). */
void table_fit(struct table *t, json_object *row);

/* Prints the headings of t, one line. */
void table_print_head(const struct table *t, FILE *out);

/* Prints row as one line of t, after indent (not NULL; "" for none). */
void table_print_row(const struct table *t, FILE *out, const char *indent,
    json_object *row);

/*
 * Writes unix seconds n as local time with strftime format fmt into buf
 * (len bytes); "" for 0 or less, the number itself if it cannot be shown.
 */
void table_local_time(int64_t n, const char *fmt, char *buf, size_t len);

#endif
