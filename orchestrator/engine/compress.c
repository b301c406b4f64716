/*
 * compress.c - whether the snapshot's push is compressed, decided once per
 * run at its first push, and the one compressed stream every push then
 * reads (transport/zsrc.h).
 *
 * --compress on and off are taken as given; auto compresses only when the
 * sample of the file (plan's compress_sample, else measured here) and each
 * host's share of this machine's link, weighed from the agents' pushes
 * (weigh_link), say it saves time: edr_zsrc_pays.  A stream that cannot be
 * set up sends the snapshot plain, with a warning.  The run owns the stream and the
 * decision's record (res->compression).
 */
#include "engine.h"

#include "log.h"
#include "plan.h"
#include "zsrc.h"

#include "err.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host gets the snapshot through this machine's link: not a host the
 * relay feeds (its predecessor reached it in the check). */
static bool pushed_from_here(const struct host *h) {
  return h->hp->relay_prev < 0 || !h->relay_heard;
}

/* What the agents' pushes say of this machine's link. */
struct link_est {
  double share;        /* bytes/s each host pushed to from here gets; 0: unknown */
  double total;        /* bytes/s the link carried while any agent push ran */
  const char *slow;    /* the host whose own path bounds the share, or NULL */
  size_t measured;     /* hosts whose agent push was measured */
  size_t here;         /* hosts the snapshot is pushed to from here */
};

static int by_ns(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The share of the link each host the snapshot goes to from here will get,
 * the lower of two measures:
 * - the link in all, shared by those hosts: every agent's bytes over the
 *   time any agent push ran (pushes that ran one after another, as
 *   handshakes ending at different times make them, each had the whole
 *   link, so one push's rate does not say what several at once get);
 * - the slowest such host's path: its agent's bytes over its fair part of
 *   its push's time (a stretch that K pushes shared counts 1/K), what one
 *   push to it would reach alone; counted only under half the first
 *   measure, as TCP does not split a link evenly and the push's fixed costs
 *   (shell, gzip) weigh on 0.6 MB: within that a path is not told apart
 *   from the link.
 * A host the relay feeds takes none of this machine's link. */
static struct link_est weigh_link(const struct run *r) {
  struct link_est e = {0};
  struct pushed {
    struct edr_push_window w;
    const struct host *h;
    double fair_ns;            /* its part of the time, shared stretches split */
  } *ps = r->ops->push_window ? calloc(r->n + 1, sizeof *ps) : NULL;
  uint64_t *at = ps ? calloc(2 * r->n + 1, sizeof *at) : NULL; /* every start and end */
  if (!at)
    goto out;
  uint64_t bytes = 0;
  for (size_t i = 0; i < r->n; i++) {
    const struct host *h = &r->hosts[i];
    if (h->failed || !h->conn)
      continue;
    e.here += pushed_from_here(h);
    struct pushed *x = &ps[e.measured];
    if (!r->ops->push_window(h->conn, &x->w) || x->w.end_ns <= x->w.start_ns)
      continue;
    x->h = h;
    at[2 * e.measured] = x->w.start_ns;
    at[2 * e.measured + 1] = x->w.end_ns;
    bytes += x->w.bytes;
    e.measured++;
  }
  /* sweep the stretches between the windows' ends */
  qsort(at, 2 * e.measured, sizeof *at, by_ns);
  uint64_t busy = 0;
  for (size_t k = 0; k + 1 < 2 * e.measured; k++) {
    uint64_t a = at[k], b = at[k + 1];
    size_t sharing = 0;
    for (size_t i = 0; i < e.measured; i++)
      sharing += ps[i].w.start_ns <= a && b <= ps[i].w.end_ns;
    if (b == a || sharing == 0)
      continue;
    busy += b - a;
    for (size_t i = 0; i < e.measured; i++)
      if (ps[i].w.start_ns <= a && b <= ps[i].w.end_ns)
        ps[i].fair_ns += (double)(b - a) / (double)sharing;
  }
  if (busy == 0 || e.here == 0)
    goto out;
  e.total = (double)bytes * 1e9 / (double)busy;
  e.share = e.total / (double)e.here;
  double shared = e.share;
  for (size_t i = 0; i < e.measured; i++) {
    double alone = ps[i].fair_ns > 0 ? (double)ps[i].w.bytes * 1e9 / ps[i].fair_ns : 0;
    if (pushed_from_here(ps[i].h) && alone > 0 && alone < shared / 2 && alone < e.share) {
      e.share = alone;
      e.slow = ps[i].h->m->name;
    }
  }
out:
  free(ps);
  free(at);
  return e;
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
    struct link_est le = weigh_link(r);
    double link = le.share;
    if (rc) {
      snprintf(why, sizeof why, "cannot sample '%s': %s", p->snapshot, edr_strerror(rc));
    } else {
      on = edr_zsrc_pays(p->snapshot_size, &pr, link, why, sizeof why);
      if (link > 0)
        snprintf(why + strlen(why), sizeof why - strlen(why), " (the agent went to %zu hosts "
                 "at %.1f MB/s in all; the snapshot goes from here to %zu at once%s%s%s%s)",
                 le.measured, le.total / 1e6, le.here,
                 le.here < le.measured ? ", the relay feeds the others" : "",
                 le.slow ? "; the path to " : "", le.slow ? le.slow : "",
                 le.slow ? " is slower" : "");
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
