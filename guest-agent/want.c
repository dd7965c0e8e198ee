/*
 * The data the hub hands between modules: the printers the broker wants
 * and the results of installing them.  Copying and freeing only, so that
 * every module frees them the same way without calling another leaf.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static char *
dupz(const char *s)
{
	return strdup(s ? s : "");
}

void
want_free(struct want *w, size_t n)
{
	for (size_t i = 0; w && i < n; i++) {
		free(w[i].name);
		free(w[i].host_device_uri);
		free(w[i].make_model);
		free(w[i].info);
		free(w[i].location);
		free(w[i].detail);
		free(w[i].invalid);
		free(w[i].reasons);
		free(w[i].message);
		free(w[i].defaults);
		free(w[i].ppd_defaults);
	}
	free(w);
}

int
want_copy(const struct want *from, size_t n, struct want **out)
{
	struct want *v = calloc(n + 1, sizeof(*v));

	*out = NULL;
	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i] = from[i];
		v[i].name = dupz(from[i].name);
		v[i].host_device_uri = dupz(from[i].host_device_uri);
		v[i].make_model = dupz(from[i].make_model);
		v[i].info = dupz(from[i].info);
		v[i].location = dupz(from[i].location);
		v[i].detail = dupz(from[i].detail);
		v[i].invalid = from[i].invalid ? strdup(from[i].invalid) : NULL;
		v[i].reasons = dupz(from[i].reasons);
		v[i].message = dupz(from[i].message);
		v[i].defaults = dupz(from[i].defaults);
		v[i].ppd_defaults = dupz(from[i].ppd_defaults);
		if (!v[i].name || !v[i].host_device_uri || !v[i].make_model ||
		    !v[i].info || !v[i].location || !v[i].detail ||
		    !v[i].reasons || !v[i].message || !v[i].defaults || !v[i].ppd_defaults ||
		    (from[i].invalid && !v[i].invalid)) {
			want_free(v, i + 1);
			return -ENOMEM;
		}
	}
	*out = v;
	return 0;
}

void
result_free(struct result *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].name);
		free(r[i].detail);
		free(r[i].queue);
	}
	free(r);
}
