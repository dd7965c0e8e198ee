/*
 * printredir: the CUPS backend of the guest's redirected queues.
 *
 * A guest queue renders each job with the print server's own driver, so
 * what reaches the backend is printer-ready data.  CUPS's ipp backend would
 * label it with FINAL_CONTENT_TYPE, which for a classic driver
 * (*cupsFilter: "application/vnd.cups-raster 0 rastertopclx") is the
 * driver's *input* type: the print server would then run its driver a second
 * time on data that is already PCL, and print nothing.  This backend labels
 * the data application/vnd.cups-raw and hands the job to CUPS's own ipp
 * backend, which does the rest (retries, job monitoring, authentication).
 *
 * Device URI: printredir:ipp://HOST[:PORT]/printers/NAME (also ipps, http,
 * https).  Installed as SERVERBIN/backend/printredir, mode 0755.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "printredir:"
#define DEFAULT_SERVERBIN "/usr/lib/cups"

/* CUPS backend exit codes (cups/backend.h). */
enum { BACKEND_FAILED = 1, BACKEND_STOP = 4 };

int
main(int argc, char **argv)
{
	static const char *const schemes[] = { "ipp", "ipps", "http", "https" };
	const char *uri, *inner, *serverbin;
	char path[PATH_MAX];
	size_t i, n;

	if (argc == 1) {
		/* Device discovery: printredir queues are made by the agent. */
		return 0;
	}
	if (argc < 6 || argc > 7) {
		fprintf(stderr, "Usage: %s job-id user title copies options [file]\n",
		    argv[0]);
		return BACKEND_FAILED;
	}
	if ((uri = getenv("DEVICE_URI")) == NULL)
		uri = argv[0];
	if (strncmp(uri, PREFIX, strlen(PREFIX)) != 0) {
		fprintf(stderr, "ERROR: printredir: device URI \"%s\" does not start "
		    "with \"" PREFIX "\"\n", uri);
		return BACKEND_STOP;
	}
	inner = uri + strlen(PREFIX);
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		n = strlen(schemes[i]);
		if (strncmp(inner, schemes[i], n) == 0 && strncmp(inner + n, "://", 3) == 0)
			break;
	}
	if (i == sizeof(schemes) / sizeof(schemes[0])) {
		fprintf(stderr, "ERROR: printredir: \"%s\" is not an ipp, ipps, http "
		    "or https URI\n", inner);
		return BACKEND_STOP;
	}
	if ((serverbin = getenv("CUPS_SERVERBIN")) == NULL || *serverbin != '/')
		serverbin = DEFAULT_SERVERBIN;
	if ((size_t)snprintf(path, sizeof(path), "%s/backend/%s", serverbin,
	    schemes[i]) >= sizeof(path)) {
		fprintf(stderr, "ERROR: printredir: CUPS_SERVERBIN is too long\n");
		return BACKEND_STOP;
	}
	if (setenv("DEVICE_URI", inner, 1) != 0 ||
	    setenv("FINAL_CONTENT_TYPE", "application/vnd.cups-raw", 1) != 0) {
		fprintf(stderr, "ERROR: printredir: %s\n", strerror(errno));
		return BACKEND_FAILED;
	}
	argv[0] = (char *)inner;
	execv(path, argv);
	fprintf(stderr, "ERROR: printredir: cannot run %s: %s\n", path, strerror(errno));
	return BACKEND_STOP;
}
