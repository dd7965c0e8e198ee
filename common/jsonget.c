/* Typed reads of json-c object members; see jsonget.h. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "jsonget.h"

/* The offset of the first byte from i on that is not JSON white space. */
static size_t
skip_space(const char *text, size_t i, size_t len)
{
	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' ||
	    text[i] == '\n'))
		i++;
	return i;
}

json_object *
jget_parse(const char *buf, size_t len, json_type t, char *err, size_t errlen)
{
	json_tokener *tok = NULL;
	json_object *o = NULL;
	size_t end;

	if (len >= INT_MAX || memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s", len >= INT_MAX ? "it is too big" :
		    "it holds a NUL byte, so it is not JSON");
		goto fail;
	}
	if ((tok = json_tokener_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	o = json_tokener_parse_ex(tok, buf, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) == json_tokener_continue) {
		/* A NUL ends what json-c would otherwise wait to see more of
		 * ("7", "null", or a value cut short). */
		o = json_tokener_parse_ex(tok, "", 1);
		end = len;
	}
	if (json_tokener_get_error(tok) != json_tokener_success) {
		if (skip_space(buf, 0, len) == len)
			snprintf(err, errlen, "it is empty");
		else
			snprintf(err, errlen, "it is not JSON: %s at byte %zu",
			    json_tokener_error_desc(json_tokener_get_error(tok)), end);
		goto fail;
	}
	if ((end = skip_space(buf, end, len)) < len) {
		snprintf(err, errlen, "it is not JSON: more follows the value at byte %zu",
		    end);
		goto fail;
	}
	if (o == NULL) {
		snprintf(err, errlen, "it holds only null");
		goto fail;
	}
	if (!json_object_is_type(o, t)) {
		snprintf(err, errlen, "it is not a JSON %s", t == json_type_object ?
		    "object" : t == json_type_array ? "array" : json_type_to_name(t));
		goto fail;
	}
	json_tokener_free(tok);
	return o;
fail:
	json_object_put(o);
	if (tok != NULL)
		json_tokener_free(tok);
	return NULL;
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
