/*
 * ops.h - the agent's op handlers, one per request "op", and the file that
 * defines each.  Every handler has the shape of struct agent_op's run: it
 * validates REQ's fields, acts, fills RES (not its own) and returns 0 or a
 * negative EDR_E* code after agent_fail().  The table is in ops.c.
 */
#ifndef EDR_AGENT_OPS_H
#define EDR_AGENT_OPS_H

#include "agent.h"

/* probe.c: what the host is and has */
int op_hello(struct agent *a, json_t *req, json_t *res);
int op_probe(struct agent *a, json_t *req, json_t *res);
int op_check_stopped(struct agent *a, json_t *req, json_t *res);
/* proc.c */
int op_run(struct agent *a, json_t *req, json_t *res);
/* transfer.c: file contents in and out */
int op_receive(struct agent *a, json_t *req, json_t *res);
int op_send(struct agent *a, json_t *req, json_t *res);
int op_hash(struct agent *a, json_t *req, json_t *res);
int op_read(struct agent *a, json_t *req, json_t *res);
int op_db_info(struct agent *a, json_t *req, json_t *res);
int op_snapshot_check(struct agent *a, json_t *req, json_t *res);
/* relay_io.c: the relay between hosts */
int op_relay_listen(struct agent *a, json_t *req, json_t *res);
int op_relay_check(struct agent *a, json_t *req, json_t *res);
/* files.c */
int op_rename(struct agent *a, json_t *req, json_t *res);
int op_remove(struct agent *a, json_t *req, json_t *res);
int op_mark(struct agent *a, json_t *req, json_t *res);
int op_stat(struct agent *a, json_t *req, json_t *res);
int op_mkdir(struct agent *a, json_t *req, json_t *res);
/* owner.c */
int op_chown(struct agent *a, json_t *req, json_t *res);
/* lock.c */
int op_lock(struct agent *a, json_t *req, json_t *res);
int op_unlock(struct agent *a, json_t *req, json_t *res);
/* envfile.c */
int op_envfile(struct agent *a, json_t *req, json_t *res);
/* discover.c: how etcd is started here, its members from its own db */
int op_discover(struct agent *a, json_t *req, json_t *res);
/* etcdask.c: one HTTP(S) request to the member's client URL from here */
int op_etcd_http(struct agent *a, json_t *req, json_t *res);
/* etcdsnap.c: the member's snapshot, streamed from its client URL to a file */
int op_etcd_snapshot(struct agent *a, json_t *req, json_t *res);
/* aside.c: the moved-aside dirs of earlier runs (etcd-dr prune) */
int op_list_aside(struct agent *a, json_t *req, json_t *res);
int op_prune_aside(struct agent *a, json_t *req, json_t *res);

#endif
