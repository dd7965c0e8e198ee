#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "statefile.h"

void (*statefile_test_hook)(const char *tmp_path);

static int
write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
sync_dir(const char *path)
{
	char copy[PATH_MAX];
	int fd, rc = 0;

	if (snprintf(copy, sizeof(copy), "%s", path) >= (int)sizeof(copy))
		return -ENAMETOOLONG;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		rc = -errno;
	close(fd);
	return rc;
}

enum { WRITE_SYNC, WRITE_NOSYNC, WRITE_STAGE };

/*
 * Writes path's temporary file; how far towards the disk depends on how:
 * synced and renamed over path (WRITE_SYNC), renamed over path without a
 * sync (WRITE_NOSYNC), or left under its temporary name (WRITE_STAGE, for
 * statefile_commit()).
 */
static int
write_file(const char *path, const void *data, size_t len, int mode, int how)
{
	char tmp[PATH_MAX];
	int fd = -1, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, (mode_t)mode) != 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = write_all(fd, data, len)) != 0)
		goto out;
	if (how == WRITE_SYNC && fsync(fd) != 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (how == WRITE_STAGE)
		return 0;
	if (statefile_test_hook)
		statefile_test_hook(tmp);
	if (rename(tmp, path) != 0) {
		rc = -errno;
		goto out;
	}
	rc = how == WRITE_SYNC ? sync_dir(path) : 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	return rc;
}

int
statefile_write(const char *path, const void *data, size_t len, int mode)
{
	return write_file(path, data, len, mode, WRITE_SYNC);
}

int
statefile_write_nosync(const char *path, const void *data, size_t len, int mode)
{
	return write_file(path, data, len, mode, WRITE_NOSYNC);
}

int
statefile_stage(const char *path, const void *data, size_t len, int mode)
{
	return write_file(path, data, len, mode, WRITE_STAGE);
}

/* Opens path's temporary file to sync it; -1 with errno on error. */
static int
open_staged(const char *path)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

int
statefile_commit(const char *const *paths, size_t n)
{
	char tmp[PATH_MAX];
	int fd, rc = 0, err;

	/* The disk takes them all at once: each fdatasync() below then waits
	 * for its own file only, and the first commits the journal for all. */
	for (size_t i = 0; i < n; i++)
		if ((fd = open_staged(paths[i])) >= 0) {
			(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
			close(fd);
		}
	for (size_t i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), "%s.tmp", paths[i]);
		err = 0;
		if ((fd = open_staged(paths[i])) < 0 || fdatasync(fd) != 0)
			err = -errno;
		if (fd >= 0)
			close(fd);
		if (err == 0 && statefile_test_hook)
			statefile_test_hook(tmp);
		if (err == 0 && rename(tmp, paths[i]) != 0)
			err = -errno;
		if (err != 0) {
			unlink(tmp);
			if (rc == 0)
				rc = err;
		}
	}
	/* One folder: one sync makes every rename durable. */
	if (n > 0 && (err = sync_dir(paths[0])) != 0 && rc == 0)
		rc = err;
	return rc;
}

int
statefile_read(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;

	return statefile_read_st(path, max, out, len, &st);
}

int
statefile_read_staged(const char *path, size_t max, char **out, size_t *len)
{
	char tmp[PATH_MAX];
	int rc;

	if ((rc = statefile_read(path, max, out, len)) != -ENOENT ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return rc;
	/* Staged; or committed between the two reads, then under its name. */
	if ((rc = statefile_read(tmp, max, out, len)) == -ENOENT)
		rc = statefile_read(path, max, out, len);
	return rc;
}

int
statefile_read_st(const char *path, size_t max, char **out, size_t *len,
    struct stat *stp)
{
	struct stat st;
	char *buf = NULL, *nb;
	size_t got = 0, cap;
	int fd, rc;

	*out = NULL;
	/* O_NONBLOCK: a FIFO is refused below, never waited on. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		goto out;
	}
	*stp = st;
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		rc = -EFBIG;
		goto out;
	}
	/* Read to the end, not st_size bytes: files of /proc, such as the
	 * boot id, say 0 and hold more.  A page to spare finds the end of a
	 * regular file without growing the buffer. */
	cap = (size_t)st.st_size + 4096;
	if ((buf = malloc(cap)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (got + 1 == cap) {
			if ((nb = realloc(buf, cap * 2)) == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > max) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[got] = '\0';
	*out = buf;
	buf = NULL;
	if (len)
		*len = got;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int
statefile_mkdirs(const char *dir, int mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}
