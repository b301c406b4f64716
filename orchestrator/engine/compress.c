/*
 * compress.c - whether the snapshot's push is compressed, decided once per
 * run at its first push, and the one compressed stream every push then
 * reads (transport/zsrc.h).
 *
 * --compress on and off are taken as given; auto compresses only when the
 * sample of the file (plan's compress_sample, else measured here) and the
 * slowest share of the link of a host pushed to from here (the agent's push
 * rate, agent_conn.h; a host the relay feeds is not) say it saves time: edr_zsrc_pays.  A stream that cannot be set up sends
 * the snapshot plain, with a warning.  The run owns the stream and the
 * decision's record (res->compression).
 */
#include "engine.h"

#include "log.h"
#include "plan.h"
#include "zsrc.h"

#include "err.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* The host gets the snapshot through this machine's link: not a host the
 * relay feeds (its predecessor reached it in the check). */
static bool pushed_from_here(const struct host *h) {
  return h->hp->relay_prev < 0 || !h->relay_heard;
}

/* The slowest push rate the agent reached to a host the snapshot is pushed
 * to from here (a host the relay feeds takes none of this machine's link),
 * in bytes per second; 0: not measured.  *MEASURED: hosts whose agent push
 * was measured; *HERE: hosts the snapshot is pushed to from here.  The
 * agent went to every host at once, so with the relay this is a share of
 * the link among more pushes than the snapshot's: a floor, never above the
 * link (scaling it by the count of pushes overshot a capped link in
 * e2e_compress, as the agents' pushes do not run exactly together). */
static double slowest_link(const struct run *r, size_t *measured, size_t *here) {
  double link = 0;
  *measured = *here = 0;
  for (size_t i = 0; r->ops->push_rate && i < r->n; i++) {
    const struct host *h = &r->hosts[i];
    if (h->failed || !h->conn)
      continue;
    double v = r->ops->push_rate(h->conn);
    *measured += v > 0;
    if (!pushed_from_here(h))
      continue;
    (*here)++;
    if (v > 0 && (link == 0 || v < link))
      link = v;
  }
  return link;
}

static void decide(struct run *r) {
  const struct edr_plan *p = r->plan;
  r->z_decided = true;
  json_t *info = json_pack("{s:s, s:i}", "mode", edr_compress_names[p->compress], "level",
                           EDR_ZSTD_LEVEL);
  char why[512] = "--compress off";
  bool on = false;
  if (p->compress != EDR_COMPRESS_OFF) {
    struct edr_zprobe pr = {.sampled = p->compress_sample.sampled,
                            .ratio = p->compress_sample.ratio,
                            .bytes_per_s = p->compress_sample.bytes_per_s};
    int rc = pr.sampled ? 0 : edr_zsrc_probe(p->snapshot, &pr);
    size_t measured, here;
    double link = slowest_link(r, &measured, &here);
    if (rc) {
      snprintf(why, sizeof why, "cannot sample '%s': %s", p->snapshot, edr_strerror(rc));
    } else {
      on = edr_zsrc_pays(p->snapshot_size, &pr, link, why, sizeof why);
      if (link > 0 && here < measured)
        snprintf(why + strlen(why), sizeof why - strlen(why), " (measured as the agent went to "
                 "%zu hosts at once; the snapshot goes from here to %zu, the relay feeds the "
                 "others)", measured, here);
      if (p->compress == EDR_COMPRESS_ON) {
        on = true;
        char figures[sizeof why];
        memcpy(figures, why, sizeof why);
        snprintf(why, sizeof why, "--compress on (%.480s)", figures);
      }
      json_object_set_new(info, "sample_bytes", json_integer((json_int_t)pr.sampled));
      json_object_set_new(info, "sample_ratio", json_real(pr.ratio));
      json_object_set_new(info, "compress_mb_per_s", json_real(pr.bytes_per_s / 1e6));
    }
    json_object_set_new(info, "link_mb_per_s", link > 0 ? json_real(link / 1e6) : json_null());
  }
  if (on) {
    struct edr_error err = EDR_ERROR_INIT;
    if (edr_zsrc_open(p->snapshot, p->snapshot_size, &r->zsrc, &err)) {
      const char *msg = edr_error_text(&err);
      edr_warn("cannot compress the snapshot on this machine: %s; sending it as it is", msg);
      on = false;
      snprintf(why + strlen(why), sizeof why - strlen(why), "; but: %s", msg);
    }
    edr_error_release(&err);
  }
  json_object_set_new(info, "chosen", json_string(on ? "zstd" : "off"));
  json_object_set_new(info, "reason", json_string(why));
  json_decref(r->res->compression);
  r->res->compression = info;
  eng_info(r, "compression %s: %s", on ? "on" : "off", why);
}

struct edr_zsrc *eng_push_zsrc(struct host *h) {
  struct run *r = h->run;
  if (!r->z_decided)
    decide(r);
  return r->zsrc;
}

void eng_compress_end(struct run *r) {
  if (!r->zsrc)
    return;
  uint64_t raw, wire;
  bool done;
  edr_zsrc_totals(r->zsrc, &raw, &wire, &done);
  json_t *info = r->res->compression;
  json_object_set_new(info, "raw_bytes", json_integer((json_int_t)raw));
  json_object_set_new(info, "wire_bytes", json_integer((json_int_t)wire));
  if (raw && done) {
    char a[32], b[32];
    edr_human_bytes(raw, a, sizeof a);
    edr_human_bytes(wire, b, sizeof b);
    json_object_set_new(info, "ratio", json_real((double)wire / (double)raw));
    eng_info(r, "compression: the snapshot's %s went as %s (%.0f%%) to each host", a, b,
             100.0 * (double)wire / (double)raw);
  }
  edr_zsrc_free(r->zsrc);
  r->zsrc = NULL;
}
