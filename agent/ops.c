/*
 * ops.c - the op table that protocol.c dispatches through: each request's
 * "op" name and the handler that serves it (ops.h says which file holds
 * which).  Every op acts with system calls or execve of an argv, never
 * through a shell.  See docs/agent-protocol.md.
 */
#include "ops.h"

static int op_bye(struct agent *a, json_t *req, json_t *res) { return 0; }

/* The coordinator's heartbeat while it has nothing else to ask. */
static int op_ping(struct agent *a, json_t *req, json_t *res) { return 0; }

const struct agent_op agent_ops[] = {
    {.name = "hello", .run = op_hello},
    {.name = "probe", .run = op_probe},
    {.name = "receive", .run = op_receive},
    {.name = "run", .run = op_run},
    {.name = "check-stopped", .run = op_check_stopped},
    {.name = "rename", .run = op_rename},
    {.name = "chown", .run = op_chown},
    {.name = "remove", .run = op_remove},
    {.name = "db-info", .run = op_db_info},
    {.name = "hash", .run = op_hash},
    {.name = "snapshot-check", .run = op_snapshot_check},
    {.name = "relay-listen", .run = op_relay_listen},
    {.name = "relay-check", .run = op_relay_check},
    {.name = "read", .run = op_read},
    {.name = "stat", .run = op_stat},
    {.name = "lock", .run = op_lock},
    {.name = "unlock", .run = op_unlock},
    {.name = "mark", .run = op_mark},
    {.name = "envfile", .run = op_envfile},
    {.name = "mkdir", .run = op_mkdir},
    {.name = "send", .run = op_send},
    {.name = "discover", .run = op_discover},
    {.name = "etcd-http", .run = op_etcd_http},
    {.name = "etcd-snapshot", .run = op_etcd_snapshot},
    {.name = "list-aside", .run = op_list_aside},
    {.name = "prune-aside", .run = op_prune_aside},
    {.name = "bye", .run = op_bye, .bye = true},
    {.name = "ping", .run = op_ping},
    {.name = NULL},
};
