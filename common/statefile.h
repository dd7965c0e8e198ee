/*
 * Atomic state files: a reader sees either the old content or the new one,
 * never a mix, whatever instant the writer crashes at.
 */
#ifndef PRINTREDIR_STATEFILE_H
#define PRINTREDIR_STATEFILE_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * Writes len bytes to path with mode: a temporary file in the same folder,
 * write, fsync, rename over path, fsync the folder.  A temporary file left
 * by an earlier crash is replaced.  Returns 0 or a negative errno; path is
 * untouched on error.
 */
int statefile_write(const char *path, const void *data, size_t len, int mode);

/*
 * Reads the whole of path into a new NUL-terminated buffer owned by the
 * caller (free()).  Returns 0, -ENOENT when there is no such file, -EFBIG
 * when it is over max bytes, or another negative errno.
 */
int statefile_read(const char *path, size_t max, char **out, size_t *len);
/* The same, with what fstat said of the file read in *st (set whenever it
 * was opened): its owner and mode are those of the very bytes read. */
int statefile_read_st(const char *path, size_t max, char **out, size_t *len,
    struct stat *st);

/*
 * Creates dir and any missing parents (parents 0755, dir itself with mode).
 * An existing folder is fine.  Returns 0 or a negative errno.
 */
int statefile_mkdirs(const char *dir, int mode);

/*
 * Test hook: when set, called with the temporary path after it was written
 * and synced but before the rename, so a test can simulate a crash there.
 */
extern void (*statefile_test_hook)(const char *tmp_path);

#endif
