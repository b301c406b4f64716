/*
 * plan_prune.c - the prune plan (EDR_PLAN_PRUNE): on every host, list the
 * dirs earlier runs moved aside and, unless it is a dry run, remove those of
 * the runs the keep policy chooses, under the host lock.  Which runs that
 * is depends on what each host has, so the prune step's request leaves
 * "runs" empty: `etcd-dr prune` fills it in (prune.c) once every host has
 * listed, after the operator has seen the list and confirmed.
 */
#include "plan.h"

#include "err.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

int edr_plan_prune_host(struct edr_plan *p, struct edr_host_plan *h) {
  const struct edr_member *m = h->member;
  const size_t check = EDR_PHASE_CHECK, apply = EDR_PHASE_APPLY, cleanup = EDR_PHASE_CLEANUP;
  h->phase_stage[EDR_PHASE_CHECK] = check;
  if (edr_plan_connect_step(h) ||
      !edr_plan_add_step(h, check, EDR_STEP_PUSH_AGENT, NULL, NULL,
                         "check the architecture, push etcd-dr-agent, start it%s",
                         m->sudo ? " with sudo -n" : ""))
    return EDR_ENOMEM;
  if (!p->check_only &&
      !edr_plan_add_step(h, check, EDR_STEP_LOCK, edr_plan_lock_request(p, h, true), NULL,
                         "take the host lock %s (refused while another run holds it; "
                         "released when the prune ends or its connection is lost)",
                         h->lock_path))
    return EDR_ENOMEM;
  if (!edr_plan_add_step(h, check, EDR_STEP_LIST_ASIDE,
                         json_pack("{s:s, s:s, s:s?}", "op", "list-aside", "data_dir",
                                   m->data_dir, "wal_dir", m->wal_dir),
                         NULL, "list what earlier runs moved aside: %s/member.etcd-dr-RUN"
                         "[-restored]%s%s%s, with sizes and ages",
                         m->data_dir, m->wal_dir ? ", " : "", m->wal_dir ? m->wal_dir : "",
                         m->wal_dir ? ".etcd-dr-RUN[-restored]" : ""))
    return EDR_ENOMEM;
  if (p->check_only)
    return 0;
  if (!edr_plan_add_step(h, apply, EDR_STEP_PRUNE,
                         json_pack("{s:s, s:s, s:s?, s:s, s:[]}", "op", "prune-aside",
                                   "data_dir", m->data_dir, "wal_dir", m->wal_dir,
                                   "lock_run", p->run_id, "runs"),
                         NULL, "remove those dirs of the runs the keep policy chose (each "
                         "renamed to .etcd-dr-pruning-NAME first, then removed)") ||
      !edr_plan_add_step(h, cleanup, EDR_STEP_UNLOCK,
                         json_pack("{s:s, s:s, s:s}", "op", "unlock", "path", h->lock_path,
                                   "run_id", p->run_id),
                         NULL, "release the host lock"))
    return EDR_ENOMEM;
  return 0;
}

/* The policy in words, into OUT. */
static void policy_words(const struct edr_prune_policy *pol, char *out, size_t len) {
  long keep = pol->keep < 0 ? 1 : pol->keep;
  char age[32] = "";
  if (pol->older_than_s >= 0)
    edr_human_age(pol->older_than_s, age, sizeof age);
  snprintf(out, len, "keep the newest %ld run%s on each host%s%s%s", keep, keep == 1 ? "" : "s",
           age[0] ? " and every run younger than " : "", age, keep == 0 ? " (--keep 0: the "
           "newest run too may go, and with it the way back to the data it replaced)" : "");
}

void edr_plan_prune_print(const struct edr_plan *p, FILE *out) {
  char pol[300];
  policy_words(&p->prune, pol, sizeof pol);
  fprintf(out, "etcd-dr prune plan, run %s%s\n", p->run_id,
          p->check_only ? " (dry run: lists, removes nothing)" : "");
  fprintf(out, "  cluster spec:   %s (%zu members)\n", p->spec->source, p->n_hosts);
  fprintf(out, "  keep policy:    %s\n", pol);
  fprintf(out, "  never removed:  a run whose marker (.etcd-dr-RUN.done) or staging dir "
               "(.etcd-dr-RUN) is on the host, or that holds its lock; any name but "
               "member.etcd-dr-RUN[-restored] and WAL_DIR.etcd-dr-RUN[-restored] with RUN as "
               "etcd-dr makes run ids (YYYYMMDD-HHMMSS-xxxx); symlinks; dirs on another file "
               "system\n");
  for (size_t i = 0; i < p->spec->warnings.n; i++)
    fprintf(out, "  warning: %s\n", p->spec->warnings.v[i]);
  for (size_t i = 0; i < p->n_hosts; i++) {
    const struct edr_host_plan *h = &p->hosts[i];
    edr_plan_print_member(h->member, out);
    for (size_t j = 0; j < h->n_steps; j++) {
      const struct edr_step *s = &h->steps[j];
      fprintf(out, "    %2zu. %-14s %s\n", j + 1, edr_step_kinds[s->kind].name, s->title);
    }
  }
  if (!p->check_only)
    fprintf(out, "\nOnce every host has listed, the dirs to remove are shown with their "
                 "sizes and ages%s.\n", p->confirm ? " and, on a terminal, confirmed" : "");
}
