/*
 * files.h - file helpers shared by the agent's ops (files.c).  Functions
 * taking a struct agent fail through agent_fail() and return a negative
 * EDR_E* code; the others return an EDR_E* code or set errno as documented.
 */
#ifndef EDR_AGENT_FILES_H
#define EDR_AGENT_FILES_H

#include "agent.h"

#include <stdint.h>
#include <sys/stat.h>

enum { RECV_BUF = 256 * 1024 }; /* one read or write of file contents */

/* fsync the directory holding PATH.  Returns 0 or an EDR_E* code. */
int fsync_dir_of(const char *path);

/* mkdir -p of the parent of PATH through safe_open_parent(), new
 * directories mode 0700; each one made is remembered in A->made_dirs. */
int mkdir_parents(struct agent *a, const char *path);

/* renameat2(2) that never replaces TO.  Falls back to a check-then-rename
 * where the file system lacks RENAME_NOREPLACE.  Returns 0 or -1 with errno. */
int rename_noreplace_at(int fromfd, const char *from, int tofd, const char *to);

/* SHA-256 of what FD holds (read from offset 0, named PATH in messages) as
 * 64 hex digits, and its size. */
int sha256_fd(struct agent *a, int fd, const char *path, char hex[65], uint64_t *bytes);

/* Open PATH for reading (never through a symlink where someone but root
 * could have put it, nor a final one; O_NONBLOCK so that a FIFO
 * cannot hang us), and fill *ST: a regular file, else an error.  Returns the
 * descriptor (the caller's), or a negative EDR_E* code after agent_fail(). */
int open_regular(struct agent *a, const char *path, struct stat *st);

/* Remove the tree at PATH without following symlinks or crossing into
 * another file system.  Returns 0 (also when PATH does not exist; *removed
 * tells which) or a negative EDR_E* code with the message set. */
int agent_remove_tree(struct agent *a, const char *path, bool *removed);

/* Remove NAME in directory DIRFD (PATH for messages), depth first, never
 * following a symlink nor leaving NAME's file system.  Returns 0 (also when
 * NAME does not exist) or a negative EDR_E* code with the message set. */
int agent_remove_at(struct agent *a, int dirfd, const char *name, const char *path);

/* Read kubeadm's static pod manifest at PATH (envfile.c): its text (*TEXT,
 * *LEN; the caller frees) and its command list parsed into *M (the caller
 * releases).  0, or a negative EDR_E* code after agent_fail(). */
struct edr_manifest;
int agent_read_manifest(struct agent *a, const char *path, char **text, size_t *len,
                        struct edr_manifest *m);

#endif
