/*
 * sd_notify(3) for the daemons.  NOTIFY_SOCKET is left in the environment
 * (unset_environment = 0): the broker's other threads may be reading the
 * environment (libcups does), and unsetenv() is not safe beside them.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "notify.h"

static int ready_sent;

void
notify_ready(const char *fmt, ...)
{
	char status[256], msg[300];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", ready_sent ? "" : "READY=1\n",
	    status);
	/* 0: no NOTIFY_SOCKET (not under systemd), > 0: sent. */
	if ((rc = sd_notify(0, msg)) < 0)
		log_debug("sd_notify: %s", strerror(-rc));
	else if (rc > 0 && !ready_sent)
		log_debug("told the service manager: ready");
	ready_sent = 1;
}

void
notify_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}
