/*
 * Readiness for the service manager: sd_notify(3) from libsystemd.  Under
 * systemd (Type=notify) the unit is "active" only once the daemon says
 * READY=1; started by hand or by a test, NOTIFY_SOCKET is unset and every
 * call here is a no-op.
 */
#ifndef PRINTREDIR_NOTIFY_H
#define PRINTREDIR_NOTIFY_H

/*
 * Tells the service manager that the daemon is ready, with a one-line
 * status (printf format; not NULL) that `systemctl status` shows.  Only
 * the first call of a process sends READY=1; later ones only update the
 * status.  Call it from the loop's thread.
 */
void notify_ready(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says STOPPING=1, so that the manager shows "deactivating" at once. */
void notify_stopping(void);

#endif
