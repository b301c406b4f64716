/*
 * safepath.h - opening paths on a host where the etcd user owns the data
 * dir (safepath.c).  The etcd user may rename, replace or symlink anything
 * in a directory it can write, at any moment; the agent runs as root.  So a
 * path is walked one component at a time from "/" through directory fds:
 * a symlink is followed only where it sits in a directory that no one but
 * root (or this agent's own user) can write, and a directory of etcd-dr's
 * own (a name starting with ".etcd-dr-") is accepted only when it belongs
 * to this agent's user and no one else can write it.  Ops then act through
 * the fd with *at() calls, so a rename after the walk changes nothing.
 *
 * Every function fails through agent_fail() with a message naming the path
 * and returns a negative EDR_E* code; a descriptor returned is the caller's.
 */
#ifndef EDR_AGENT_SAFEPATH_H
#define EDR_AGENT_SAFEPATH_H

#include "agent.h"

#include <limits.h>
#include <sys/stat.h>

/* Only root or this agent's user can change entries of this directory. */
bool safe_dir_trusted(const struct stat *st);

/* ST is a directory of etcd-dr's own: owned by this agent's user and
 * writable by it alone. */
bool safe_own_dir(const struct stat *st);

/* Open the directory at the first LEN bytes of PATH (absolute).  With
 * CREATE, missing components are made (0700), each remembered in
 * A->made_dirs and its parent fsynced. */
int safe_open_dir(struct agent *a, const char *path, size_t len, bool create);

/* Open the directory holding PATH's last component, copied to NAME.  With
 * CREATE, as safe_open_dir().  *TRUSTED (may be NULL) says whether that
 * directory is one only root can change. */
int safe_open_parent(struct agent *a, const char *path, char name[NAME_MAX + 1],
                     bool create, bool *trusted);

/* Remember the directory PATH[0..LEN) (identity ST) as one this agent
 * made: later walks refuse another directory at that path. */
void safe_remember_own(struct agent *a, const char *path, size_t len,
                       const struct stat *st);

/* fsync directory fd DIRFD; 0 or an EDR_E* code (no message). */
int safe_fsync_dir(int dirfd);

#endif
