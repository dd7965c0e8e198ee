/* Safe terminal tables of json-c rows; see table.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "table.h"

/* Characters between columns. */
#define GAP 2

size_t
table_putn(const char *text, size_t len, size_t cap, char *buf)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t total = 0, keep, o = 0, w = 0, i, n;
	uint32_t cp;

	if (cap > TABLE_CELL_MAX)
		cap = TABLE_CELL_MAX;
	if (cap < 4)
		cap = 4;	/* room for one character and "..." */
	for (i = 0; i < len; i += n, total++)
		if ((n = log_utf8_next(s + i, len - i, &cp)) == 0)
			n = 1;
	keep = total > cap ? cap - 3 : total;
	for (i = 0; w < keep; i += n, w++) {
		n = log_utf8_next(s + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			buf[o++] = '?';
			n = n == 0 ? 1 : n;
		} else {
			memcpy(buf + o, s + i, n);
			o += n;
		}
	}
	if (keep < total) {
		memcpy(buf + o, "...", 3);
		o += 3;
		w += 3;
	}
	buf[o] = '\0';
	return w;
}

size_t
table_put(const char *text, size_t cap, char *buf)
{
	return table_putn(text, text != NULL ? strlen(text) : 0, cap, buf);
}

void
table_local_time(int64_t n, const char *fmt, char *buf, size_t len)
{
	time_t t = (time_t)n;
	struct tm tm;

	buf[0] = '\0';
	if (n <= 0)
		return;
	if (localtime_r(&t, &tm) == NULL || strftime(buf, len, fmt, &tm) == 0)
		snprintf(buf, len, "%" PRId64, n);
}

size_t
table_cell(json_object *row, const struct table_col *col, char *buf)
{
	json_object *v = NULL;
	char tmp[TABLE_CELL_BYTES];
	const char *s = NULL;
	size_t len = 0;
	int64_t n;

	if (col->text != NULL) {
		tmp[0] = '\0';
		col->text(row, col, tmp, sizeof(tmp));
		s = tmp;
		len = strlen(s);
	} else if (json_object_object_get_ex(row, col->key, &v)) {
		switch (json_object_get_type(v)) {
		case json_type_boolean:
			s = json_object_get_boolean(v) ? "yes" : "no";
			len = strlen(s);
			break;
		case json_type_int:
			n = json_object_get_int64(v);
			if (col->kind == TABLE_TIME)
				table_local_time(n, "%Y-%m-%d %H:%M:%S", tmp,
				    sizeof(tmp));
			else
				snprintf(tmp, sizeof(tmp), "%" PRId64, n);
			s = tmp;
			len = strlen(s);
			break;
		case json_type_double:
			snprintf(tmp, sizeof(tmp), "%g",
			    json_object_get_double(v));
			s = tmp;
			len = strlen(s);
			break;
		case json_type_string:
			s = json_object_get_string(v);
			len = (size_t)json_object_get_string_len(v);
			break;
		default:
			/* null, or an object or array where none belongs */
			break;
		}
	}
	if (s == NULL || len == 0) {
		s = col->omit_missing ? "" : "-";
		len = strlen(s);
	}
	return table_putn(s, len, col->cap, buf);
}

void
table_init(struct table *t, const struct table_col *cols, size_t ncols)
{
	char buf[TABLE_CELL_BYTES];

	memset(t, 0, sizeof(*t));
	if (ncols > TABLE_COLS_MAX)
		ncols = TABLE_COLS_MAX;
	t->cols = cols;
	t->ncols = ncols;
	for (size_t i = 0; i < ncols; i++)
		t->widths[i] = table_put(cols[i].head, TABLE_CELL_MAX, buf);
}

void
table_fit(struct table *t, json_object *row)
{
	char buf[TABLE_CELL_BYTES];
	size_t w;

	for (size_t i = 0; i < t->ncols; i++) {
		w = table_cell(row, &t->cols[i], buf);
		if (w > t->widths[i])
			t->widths[i] = w;
	}
}

/*
 * Prints one line: each cell padded to its column's width, no padding
 * after the last non-empty cell, so that lines carry no trailing blanks.
 */
static void
print_cells(const struct table *t, FILE *out, const char *indent,
    char cells[][TABLE_CELL_BYTES], const size_t *cw)
{
	size_t last = t->ncols;

	while (last > 0 && cells[last - 1][0] == '\0')
		last--;
	fputs(indent, out);
	for (size_t i = 0; i < last; i++) {
		fputs(cells[i], out);
		if (i + 1 < last)
			fprintf(out, "%*s", (int)(t->widths[i] - cw[i] + GAP),
			    "");
	}
	fputc('\n', out);
}

void
table_print_head(const struct table *t, FILE *out)
{
	char cells[TABLE_COLS_MAX][TABLE_CELL_BYTES];
	size_t cw[TABLE_COLS_MAX];

	for (size_t i = 0; i < t->ncols; i++)
		cw[i] = table_put(t->cols[i].head, TABLE_CELL_MAX, cells[i]);
	print_cells(t, out, "", cells, cw);
}

void
table_print_row(const struct table *t, FILE *out, const char *indent,
    json_object *row)
{
	char cells[TABLE_COLS_MAX][TABLE_CELL_BYTES];
	size_t cw[TABLE_COLS_MAX];

	for (size_t i = 0; i < t->ncols; i++)
		cw[i] = table_cell(row, &t->cols[i], cells[i]);
	print_cells(t, out, indent, cells, cw);
}
