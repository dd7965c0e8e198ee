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
 * statefile_write() without the syncs, for a file that can be made again
 * from others: a reader sees the old content or the new one whole, but
 * after a crash of the machine the file may be missing, empty or cut short.
 */
int statefile_write_nosync(const char *path, const void *data, size_t len,
    int mode);

/*
 * Many files made durable for about the price of one fsync, where
 * statefile_write() pays one each (and one for the folder): statefile_stage()
 * writes path's temporary file, and nothing waits for the disk;
 * statefile_commit() then writes each of paths[0..n-1] (staged, all in one
 * folder) to the disk, renames it over its path once it is there, and syncs
 * the folder once.  Until its commit a path is untouched, so a crash at any
 * instant leaves each path with its old content or its new one whole, as
 * statefile_write() does.  Both return 0 or a negative errno; commit goes on
 * past a path that fails (its temporary file is removed) and returns the
 * first error.
 */
int statefile_stage(const char *path, const void *data, size_t len, int mode);
int statefile_commit(const char *const *paths, size_t n);
/*
 * statefile_read() of path, or, while it is staged and not yet committed,
 * of what was staged for it.  Staged bytes are not yet durable: for a reader
 * that verifies what it reads (a content hash).
 */
int statefile_read_staged(const char *path, size_t max, char **out, size_t *len);

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
