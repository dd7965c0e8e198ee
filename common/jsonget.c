/* Typed reads of json-c object members; see jsonget.h. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"

json_object *
jget_parse(const char *buf, size_t len, json_type t, char *err, size_t errlen)
{
	json_tokener *tok = NULL;
	json_object *o = NULL;
	char *text = NULL;
	const char *why = NULL;

	/* The NUL tells json-c that the input ends here ("12" is not cut). */
	if (len >= INT_MAX || (text = malloc(len + 1)) == NULL ||
	    (tok = json_tokener_new()) == NULL) {
		why = len >= INT_MAX ? "too large" : "out of memory";
		goto out;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	o = json_tokener_parse_ex(tok, text, (int)len + 1);
	if (json_tokener_get_error(tok) == json_tokener_continue)
		why = "cut short";
	else if (json_tokener_get_error(tok) != json_tokener_success)
		why = json_tokener_error_desc(json_tokener_get_error(tok));
	else if (json_tokener_get_parse_end(tok) + strspn(text +
	    json_tokener_get_parse_end(tok), " \t\r\n") < len)
		why = "bytes after the JSON value";
	else if (!json_object_is_type(o, t))
		why = t == json_type_object ? "not a JSON object" : "not of the expected type";
out:
	if (why) {
		snprintf(err, errlen, "%s", why);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	free(text);
	return o;
}

/* o[key] when it is of type t; NULL otherwise (json-c answers 0 for a NULL
 * or non-object o). */
static json_object *
member(json_object *o, const char *key, json_type t)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

const char *
jget_str(json_object *o, const char *key)
{
	json_object *v = member(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

int
jget_i64(json_object *o, const char *key, int64_t *out)
{
	json_object *v = member(o, key, json_type_int);

	if (v == NULL)
		return 0;
	*out = json_object_get_int64(v);
	return 1;
}

int
jget_u64(json_object *o, const char *key, uint64_t *out)
{
	json_object *v = member(o, key, json_type_int);

	/* json-c keeps values above INT64_MAX unsigned; get_int64 then
	 * saturates, so a negative one is negative for real. */
	if (v == NULL || json_object_get_int64(v) < 0)
		return 0;
	*out = json_object_get_uint64(v);
	return 1;
}

int64_t
jget_int(json_object *o, const char *key, int64_t dflt)
{
	int64_t v = dflt;

	jget_i64(o, key, &v);
	return v;
}

int
jget_bool(json_object *o, const char *key, int dflt)
{
	json_object *v = member(o, key, json_type_boolean);

	return v ? json_object_get_boolean(v) : dflt;
}

json_object *
jget_obj(json_object *o, const char *key)
{
	return member(o, key, json_type_object);
}

json_object *
jget_arr(json_object *o, const char *key)
{
	return member(o, key, json_type_array);
}
