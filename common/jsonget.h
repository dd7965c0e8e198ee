/*
 * Typed reads of a json-c object's members for files the daemons wrote
 * themselves and may find damaged: a member that is missing or of another
 * type reads as "absent", never as an error.
 */
#ifndef PRINTREDIR_JSONGET_H
#define PRINTREDIR_JSONGET_H

#include <stdint.h>
#include <json-c/json.h>

/* The string value of o[key], or NULL when it is missing or not a string. */
const char *jget_str(json_object *o, const char *key);

/* The integer value of o[key] (json-c's conversion), or 0 when missing. */
int64_t jget_int(json_object *o, const char *key);

#endif
