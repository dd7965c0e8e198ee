/*
 * Applications: which user programs are running in the guest, read from
 * /proc.  A restart is silent only when there are none.  A process counts
 * when its real uid is at least apps_uid_min and its name is not in
 * apps_ignore (the session's own shells, daemons and the tray itself).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"

static int
read_status(const char *root, const char *pid, char *name, size_t namelen,
    long *uid)
{
	char path[512], line[256];
	FILE *f;
	int got = 0;

	snprintf(path, sizeof(path), "%s/%s/status", root, pid);
	if ((f = fopen(path, "r")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) && got < 2) {
		if (strncmp(line, "Name:", 5) == 0) {
			char *v = line + 5;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(name, namelen, "%s", v);
			got++;
		} else if (strncmp(line, "Uid:", 4) == 0) {
			*uid = strtol(line + 4, NULL, 10);
			got++;
		}
	}
	fclose(f);
	return got == 2 ? 0 : -EINVAL;
}

static int
by_name_uid(const void *x, const void *y)
{
	const struct app *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	return c != 0 ? c : (a->uid > b->uid) - (a->uid < b->uid);
}

int
apps_running(const char *proc_root, long uid_min, const char *ignore,
    struct app **apps, size_t *n)
{
	DIR *d;
	struct dirent *e;
	struct app *v = NULL, *nv;
	size_t count = 0;

	*apps = NULL;
	*n = 0;
	if ((d = opendir(proc_root)) == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		char name[64];
		long uid = -1;
		int dup = 0;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		if (read_status(proc_root, e->d_name, name, sizeof(name), &uid) != 0)
			continue;	/* gone meanwhile, or a kernel thread */
		if (uid < uid_min || conf_list_has(ignore, name, 0))
			continue;
		for (size_t i = 0; i < count && !dup; i++)
			dup = v[i].uid == uid && strcmp(v[i].name, name) == 0;
		if (dup)
			continue;
		if ((nv = realloc(v, (count + 1) * sizeof(*v))) == NULL)
			break;
		v = nv;
		v[count].uid = uid;
		if ((v[count].name = strdup(name)) != NULL)
			count++;
	}
	closedir(d);
	if (count > 1)
		qsort(v, count, sizeof(*v), by_name_uid);
	*apps = v;
	*n = count;
	return 0;
}

void
apps_free(struct app *apps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(apps[i].name);
	free(apps);
}
