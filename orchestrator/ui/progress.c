/*
 * progress.c - live progress on a terminal, JSON events otherwise
 * (progress.h).  The terminal block is redrawn at most ten times a second
 * from a timer that does not keep the loop alive.  The run owns its
 * struct edr_progress; while a terminal block is shown it lends log.c the
 * hooks that take it off the screen around a message.
 */
#include "progress.h"

#include "log.h"
#include "util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum mode { M_OFF, M_TTY, M_JSON };

struct hline {
  const char *name;
  char step[32];
  char detail[96];
  uint64_t sent, total, push_start_ms;
  bool failed, finished;
};

struct edr_progress {
  enum mode mode;
  size_t n;
  struct hline *h;
  char cluster[160];
  uv_timer_t timer;
  bool timer_on, shown, dirty;
  size_t lines_drawn;
};

static FILE *events_out; /* NULL: stdout */

static void draw(struct edr_progress *p);

void edr_progress_events_to(FILE *f) { events_out = f; }

static void tick(uv_timer_t *t) {
  struct edr_progress *p = t->data;
  if (p->dirty)
    draw(p);
}

static void log_before(void *arg) { edr_progress_hide(arg); }
static void log_after(void *arg) { edr_progress_show(arg); }

struct edr_progress *edr_progress_begin(uv_loop_t *loop, size_t n, const char *const *names) {
  const char *env = getenv("ETCD_DR_PROGRESS");
  struct edr_progress *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  if (edr_verbosity < 0)
    p->mode = M_OFF;
  else if (env && !strcmp(env, "tty"))
    p->mode = M_TTY;
  else if (env && !strcmp(env, "json"))
    p->mode = M_JSON;
  else
    p->mode = isatty(STDERR_FILENO) ? M_TTY : M_JSON;
  if (p->mode == M_OFF)
    return p;
  p->h = calloc(n, sizeof(*p->h));
  if (!p->h) {
    p->mode = M_OFF;
    return p;
  }
  p->n = n;
  for (size_t i = 0; i < n; i++) {
    p->h[i].name = names[i];
    snprintf(p->h[i].step, sizeof p->h[i].step, "waiting");
  }
  if (p->mode == M_TTY) {
    edr_log_set_hooks(log_before, log_after, p);
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, tick, 100, 100);
    uv_unref((uv_handle_t *)&p->timer);
    p->timer_on = true;
    p->shown = true;
    draw(p);
  }
  return p;
}

static void emit_json(json_t *o) {
  char stamp[40];
  edr_iso_now(stamp, sizeof stamp);
  json_object_set_new(o, "t", json_string(stamp));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (s) {
    FILE *out = events_out ? events_out : stdout;
    fprintf(out, "%s\n", s);
    fflush(out);
    free(s);
  }
  json_decref(o);
}

static void bar(char *out, size_t len, const struct hline *h) {
  int width = 20, fill = h->total ? (int)((h->sent * (uint64_t)width) / h->total) : 0;
  char b[32];
  for (int i = 0; i < width; i++)
    b[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
  b[width] = '\0';
  uint64_t ms = edr_now_ms() - h->push_start_ms;
  double rate = ms ? (double)h->sent / 1e3 / (double)ms : 0; /* MB/s */
  double left = rate > 0 ? (double)(h->total - h->sent) / 1e6 / rate : 0;
  snprintf(out, len, "[%s] %3d%%  %6.1f MB/s  %4.1fs left", b,
           h->total ? (int)(h->sent * 100 / h->total) : 0, rate, left);
}

static void draw(struct edr_progress *p) {
  if (p->mode != M_TTY || !p->shown)
    return;
  if (p->lines_drawn)
    fprintf(stderr, "\033[%zuA", p->lines_drawn);
  size_t lines = 0;
  for (size_t i = 0; i < p->n; i++) {
    const struct hline *h = &p->h[i];
    char extra[128] = "";
    if (h->total && h->sent < h->total && !h->finished)
      bar(extra, sizeof extra, h);
    else
      snprintf(extra, sizeof extra, "%s", h->detail);
    fprintf(stderr, "\033[2K  %-10s %-15s %s%s\n", h->name, h->step, h->failed ? "FAILED " : "",
            extra);
    lines++;
  }
  if (p->cluster[0]) {
    fprintf(stderr, "\033[2K  %-10s %s\n", "cluster", p->cluster);
    lines++;
  }
  /* a line fewer than before: clear what is left below */
  for (size_t k = lines; k < p->lines_drawn; k++)
    fprintf(stderr, "\033[2K\n");
  if (p->lines_drawn > lines)
    fprintf(stderr, "\033[%zuA", p->lines_drawn - lines);
  p->lines_drawn = lines;
  p->dirty = false;
  fflush(stderr);
}

void edr_progress_hide(struct edr_progress *p) {
  if (!p || p->mode != M_TTY || !p->shown || !p->lines_drawn)
    return;
  fprintf(stderr, "\033[%zuA", p->lines_drawn);
  for (size_t k = 0; k < p->lines_drawn; k++)
    fprintf(stderr, "\033[2K\n");
  fprintf(stderr, "\033[%zuA", p->lines_drawn);
  p->lines_drawn = 0;
}

void edr_progress_show(struct edr_progress *p) {
  if (p && p->mode == M_TTY && p->shown)
    draw(p);
}

void edr_progress_step(struct edr_progress *p, size_t i, const char *step, const char *event,
                       uint64_t duration_ms, uint64_t bytes, const char *detail) {
  if (!p || p->mode == M_OFF || i >= p->n)
    return;
  struct hline *h = &p->h[i];
  if (p->mode == M_JSON) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "host", h->name, "step", step, "event", event);
    if (o && strcmp(event, "start")) {
      json_object_set_new(o, "duration_ms", json_integer((json_int_t)duration_ms));
      if (bytes)
        json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    }
    if (o && detail)
      json_object_set_new(o, "detail", json_string(detail));
    if (o)
      emit_json(o);
    return;
  }
  snprintf(h->step, sizeof h->step, "%s", step);
  h->failed = !strcmp(event, "failed");
  if (!strcmp(event, "start")) {
    h->detail[0] = '\0';
    h->sent = h->total = 0;
  } else {
    char esc[sizeof h->detail]; /* a host's words: escaped for the terminal */
    snprintf(h->detail, sizeof h->detail, "%s %.2fs%s%s", h->failed ? "" : "ok",
             (double)duration_ms / 1000.0, detail ? ", " : "",
             detail ? edr_escape(esc, sizeof esc, detail, 0) : "");
    h->sent = h->total = 0;
    if (edr_verbosity >= 1) { /* -v: keep a line per finished step */
      edr_progress_hide(p);
      fprintf(stderr, "  %-10s %-15s %s\n", h->name, step, h->detail);
    }
  }
  draw(p);
}

void edr_progress_bytes(struct edr_progress *p, size_t i, uint64_t sent, uint64_t total) {
  if (!p || p->mode != M_TTY || i >= p->n)
    return;
  struct hline *h = &p->h[i];
  if (!h->total)
    h->push_start_ms = edr_now_ms();
  h->sent = sent;
  h->total = total;
  p->dirty = true;
}

void edr_progress_cluster(struct edr_progress *p, const char *event, const char *text) {
  edr_progress_gate(p, NULL, event, text);
}

void edr_progress_gate(struct edr_progress *p, const char *step, const char *event,
                       const char *text) {
  if (!p || p->mode == M_OFF)
    return;
  if (p->mode == M_JSON) {
    json_t *o = json_pack("{s:s, s:s?, s:s, s:s}", "host", "cluster", "step", step, "event",
                          event, "detail", text);
    if (o)
      emit_json(o);
    return;
  }
  snprintf(p->cluster, sizeof p->cluster, "%s", text);
  draw(p);
}

static void timer_closed(uv_handle_t *t) {
  free(t->data);
}

void edr_progress_end(struct edr_progress *p) {
  if (!p)
    return;
  if (p->mode == M_TTY) {
    edr_log_set_hooks(NULL, NULL, NULL);
    p->h[0].finished = true;
    draw(p);
    p->shown = false;
  }
  free(p->h);
  p->h = NULL;
  p->mode = M_OFF;
  if (p->timer_on)
    uv_close((uv_handle_t *)&p->timer, timer_closed);  /* frees P */
  else
    free(p);
}
