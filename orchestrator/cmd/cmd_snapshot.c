/*
 * cmd_snapshot.c - `etcd-dr snapshot status|verify`: look at a snapshot
 * without any etcd binary.
 *
 * `status` prints HASH, REVISION, TOTAL KEYS and TOTAL SIZE byte for byte
 * as etcd 3.4's `etcdctl snapshot status` and 3.5's `etcdutl snapshot
 * status` do (the two print the same in every format), then what etcd does
 * not tell: the SHA-256 trailer, consistent index, compaction, live keys
 * and members.  `verify` says whether a file is sound and, if not, what is
 * wrong and where.  Exit status as every command's (docs/exit-codes.md): 0
 * success / sound, 3 unsound or unreadable (a snapshot rejected), 2 usage.
 * Every message starts "etcd-dr: error: " (or "warning: ") as log.c's do;
 * this file prints its own so that tests can build it without the ui layer.
 */
#include "commands.h"

#include "bbolt.h"
#include "util.h"
#include "err.h"
#include "snapfile.h"
#include "snapshot_save.h"
#include "util.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* outcome.h's EDR_EXIT_OK, EDR_EXIT_SNAPSHOT and EDR_EXIT_USAGE */
enum { EXIT_SOUND = 0, EXIT_UNSOUND = 3, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: etcd-dr snapshot status FILE [-w table|json|simple|fields]\n"
    "                               [--skip-hash-check]\n"
    "       etcd-dr snapshot verify FILE [--skip-hash-check]\n"
    "       etcd-dr snapshot save (-o FILE | --dir DIR [--keep N]) ...  (save --help)\n";

static const char status_help[] =
    "usage: etcd-dr snapshot status FILE [-w table|json|simple|fields]\n"
    "                               [--skip-hash-check]\n"
    "\n"
    "Print what etcd's own tools print for a snapshot, byte for byte (HASH,\n"
    "REVISION, TOTAL KEYS, TOTAL SIZE, as etcdctl 3.4 and etcdutl 3.5 do), then\n"
    "what they do not: the sha-256 trailer, consistent index, raft term,\n"
    "compaction, live keys and members.  Needs no etcd binary (docs/snapshot.md).\n"
    "\n"
    "  -w, --write-out FORMAT  table (default), json, simple (etcd's one line, the\n"
    "                          etcd tools' default) or fields\n"
    "  --skip-hash-check       do not hash the file to check its sha-256 trailer\n"
    "                          (most of the time status takes)\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 printed; 2 usage; 3 the file cannot be read or is damaged.\n";

static const char verify_help[] =
    "usage: etcd-dr snapshot verify FILE [--skip-hash-check]\n"
    "\n"
    "Say whether FILE is sound: its sha-256 trailer matches its contents, both\n"
    "bbolt meta pages are valid, and every page reachable from the root is in\n"
    "range, well formed and reached once.  Each problem found is one line on\n"
    "stderr naming the file, the page and the offset (docs/snapshot.md).\n"
    "\n"
    "  --skip-hash-check       accept a file without a sha-256 trailer (a\n"
    "                          member/snap/db copied from a data dir) and check its\n"
    "                          structure only; a wrong trailer still fails\n"
    "  -h, --help\n"
    "\n"
    "Exit status: 0 sound; 2 usage; 3 unsound or unreadable.\n";

static int usage(const char *why) {
  if (why)
    fprintf(stderr, "etcd-dr: error: snapshot: %s\n", why);
  fputs(usage_text, stderr);
  return EXIT_USAGE;
}

/* go-humanize's Bytes(), which etcd uses for TOTAL SIZE: SI units, one
 * decimal below 10.  Go takes the exponent from a floating-point
 * logarithm; the integer loop here agrees with it (and needs no libm). */
static void go_humanize_bytes(uint64_t s, char *out, size_t outlen) {
  static const char *const sizes[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (s < 10) {
    snprintf(out, outlen, "%" PRIu64 " B", s);
    return;
  }
  int e = 0;
  uint64_t base = 1;
  while (e < 6 && s / base >= 1000) {
    base *= 1000;
    e++;
  }
  double x = (double)s / (double)base * 10 + 0.5;
  double val = (double)(uint64_t)x / 10; /* floor: x is positive */
  snprintf(out, outlen, val < 10 ? "%.1f %s" : "%.0f %s", val, sizes[e]);
}

/* ---- etcd's table (olekukonko/tablewriter, as etcdctl configures it) ---- */

enum { NCOL = 4 };

static void table_rule(const size_t *w) {
  for (int c = 0; c < NCOL; c++) {
    putchar('+');
    for (size_t i = 0; i < w[c] + 2; i++)
      putchar('-');
  }
  puts("+");
}

/* Headers centred (the extra space of an odd gap goes right), cells
 * right-aligned, one space of padding each side. */
static void print_table(const char *const *hdr, const char *const *row) {
  size_t w[NCOL];
  for (int c = 0; c < NCOL; c++) {
    size_t a = strlen(hdr[c]), b = strlen(row[c]);
    w[c] = a > b ? a : b;
  }
  table_rule(w);
  for (int c = 0; c < NCOL; c++) {
    size_t gap = w[c] - strlen(hdr[c]), left = gap / 2;
    printf("| %*s%s%*s ", (int)left, "", hdr[c], (int)(gap - left), "");
  }
  puts("|");
  table_rule(w);
  for (int c = 0; c < NCOL; c++)
    printf("| %*s ", (int)w[c], row[c]);
  puts("|");
  table_rule(w);
}

/* ---- status ------------------------------------------------------------- */

struct hash_job {
  const char *path;
  struct edr_snapfile sf;
  int rc;
};

static void *hash_thread(void *arg) {
  struct hash_job *j = arg;
  j->rc = edr_snapfile_check(j->path, &j->sf);
  return NULL;
}

/* A job that did not run (status --skip-hash-check) leaves size 0. */
static const char *trailer_word(const struct edr_snapfile *sf) {
  if (!sf->size)
    return "unchecked";
  return !sf->has_trailer ? "absent" : sf->trailer_ok ? "valid" : "invalid";
}

static void print_extras_json(const struct edr_etcd_status *st,
                              const struct edr_snapfile *sf) {
  printf(",\"sha256Trailer\":\"%s\"", trailer_word(sf));
  if (st->has_consistent_index)
    printf(",\"consistentIndex\":%" PRIu64, st->consistent_index);
  else
    printf(",\"consistentIndex\":null");
  if (st->has_term)
    printf(",\"term\":%" PRIu64, st->term);
  printf(",\"scheduledCompactRevision\":%" PRId64
         ",\"finishedCompactRevision\":%" PRId64,
         st->has_scheduled_compact ? st->scheduled_compact : 0,
         st->has_finished_compact ? st->finished_compact : 0);
  if (st->live_keys >= 0)
    printf(",\"liveKeys\":%" PRId64, st->live_keys);
  else
    printf(",\"liveKeys\":null");
  /* ASCII only: a crafted name cannot carry a C1 control or a bidi override */
  char *m = json_dumps(st->members, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
  printf(",\"members\":%s", m ? m : "[]");
  free(m);
}

/* A string from the file, escaped for the terminal; "-" when there is none. */
static void print_text(const json_t *s) {
  if (json_is_string(s))
    edr_fput_escaped(stdout, json_string_value(s), json_string_length(s), 0);
  else
    putchar('-');
}

static void print_extras_table(const struct edr_etcd_status *st,
                               const struct edr_snapfile *sf) {
  printf("SHA-256 TRAILER: %s\n", trailer_word(sf));
  if (st->has_consistent_index)
    printf("CONSISTENT INDEX: %" PRIu64 "\n", st->consistent_index);
  else
    printf("CONSISTENT INDEX: none\n");
  if (st->has_term)
    printf("TERM: %" PRIu64 "\n", st->term);
  if (st->has_finished_compact || st->has_scheduled_compact)
    printf("COMPACTED REVISION: %" PRId64 " (scheduled %" PRId64 ")\n",
           st->finished_compact, st->scheduled_compact);
  else
    printf("COMPACTED REVISION: none\n");
  if (st->live_keys >= 0)
    printf("LIVE KEYS: %" PRId64 "\n", st->live_keys);
  else
    printf("LIVE KEYS: unknown (a value in bucket 'key' is not a KeyValue)\n");
  printf("MEMBERS: %zu\n", json_array_size(st->members));
  size_t i;
  json_t *m;
  json_array_foreach(st->members, i, m) {
    /* what a member entry says comes from the file: printed escaped */
    fputs("  ", stdout);
    print_text(json_object_get(m, "id"));
    fputs(" name=", stdout);
    print_text(json_object_get(m, "name"));
    fputs(" peerURLs=", stdout);
    size_t j;
    json_t *u;
    json_array_foreach(json_object_get(m, "peerURLs"), j, u) {
      if (j)
        putchar(',');
      print_text(u);
    }
    if (json_is_true(json_object_get(m, "isLearner")))
      printf(" learner");
    putchar('\n');
  }
  if (st->members_skipped)
    printf("  (%" PRIu64 " more entries not shown)\n", st->members_skipped);
}

enum fmt { F_TABLE, F_JSON, F_SIMPLE, F_FIELDS };
static const struct {
  const char *name;
  enum fmt fmt;
} formats[] = {
    {"table", F_TABLE},
    {"json", F_JSON},
    {"simple", F_SIMPLE},
    {"fields", F_FIELDS},
};

static void print_status(enum fmt f, const struct edr_etcd_status *st,
                         const struct edr_snapfile *sf) {
  char hash[16], rev[24], keys[24], size[32];
  snprintf(hash, sizeof(hash), "%" PRIx32, st->hash);
  snprintf(rev, sizeof(rev), "%" PRId64, st->revision);
  snprintf(keys, sizeof(keys), "%" PRIu64, st->total_keys);
  go_humanize_bytes(st->total_size, size, sizeof(size));
  static const char *const hdr[NCOL] = {"HASH", "REVISION", "TOTAL KEYS",
                                        "TOTAL SIZE"};
  const char *row[NCOL] = {hash, rev, keys, size};

  switch (f) {
  case F_TABLE:
    print_table(hdr, row);
    print_extras_table(st, sf);
    break;
  case F_SIMPLE: /* exactly etcd's one line: scripts split it on ", " */
    printf("%s, %s, %s, %s\n", hash, rev, keys, size);
    break;
  case F_FIELDS:
    printf("\"Hash\" : %" PRIu32 "\n\"Revision\" : %s\n\"Keys\" : %s\n"
           "\"Size\" : %" PRIu64 "\n",
           st->hash, rev, keys, st->total_size);
    printf("\"SHA256Trailer\" : \"%s\"\n", trailer_word(sf));
    if (st->has_consistent_index)
      printf("\"ConsistentIndex\" : %" PRIu64 "\n", st->consistent_index);
    printf("\"CompactRevision\" : %" PRId64 "\n", st->finished_compact);
    printf("\"LiveKeys\" : %" PRId64 "\n", st->live_keys);
    printf("\"Members\" : %zu\n", json_array_size(st->members));
    break;
  case F_JSON:
    printf("{\"hash\":%" PRIu32 ",\"revision\":%s,\"totalKey\":%s,"
           "\"totalSize\":%" PRIu64,
           st->hash, rev, keys, st->total_size);
    print_extras_json(st, sf);
    puts("}");
    break;
  }
}

static int do_status(int argc, char **argv) {
  const char *file = NULL, *w = "table";
  bool skip_hash = false;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--skip-hash-check")) {
      skip_hash = true;
    } else if (!strcmp(a, "-w") || !strcmp(a, "--write-out")) {
      if (++i >= argc)
        return usage("'-w' needs a format");
      w = argv[i];
    } else if (!strncmp(a, "-w=", 3) || !strncmp(a, "--write-out=", 12)) {
      w = strchr(a, '=') + 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(status_help, stdout);
      return EXIT_SOUND;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "etcd-dr: error: snapshot status: unknown option '%s'\n", a);
      return usage(NULL);
    } else if (file) {
      return usage("status takes one FILE");
    } else {
      file = a;
    }
  }
  if (!file)
    return usage("status needs a FILE");
  int f = -1;
  for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
    if (!strcmp(w, formats[i].name))
      f = (int)formats[i].fmt;
  if (f < 0) {
    fprintf(stderr, "etcd-dr: error: snapshot status: unknown format '%s'\n", w);
    return usage(NULL);
  }

  struct edr_error err = EDR_ERROR_INIT;
  struct edr_bolt *db;
  int rc = edr_bolt_open(file, &db, &err);
  if (rc < 0) {
    fprintf(stderr, "etcd-dr: error: snapshot status: '%s': %s\n", file, err.msg.buf);
    edr_error_release(&err);
    return EXIT_UNSOUND;
  }
  /* The trailer needs every byte hashed; do it on the other core while
   * this one walks the tree. */
  struct hash_job job = {.path = file};
  pthread_t th;
  bool threaded = !skip_hash && pthread_create(&th, NULL, hash_thread, &job) == 0;
  if (!threaded && !skip_hash)
    hash_thread(&job);
  struct edr_etcd_status st;
  rc = edr_etcd_status(db, &st);
  if (threaded)
    pthread_join(th, NULL);
  int status = EXIT_SOUND;
  if (rc < 0) {
    fprintf(stderr, "etcd-dr: error: snapshot status: '%s': %s\n", file,
            rc == EDR_ECORRUPT ? edr_bolt_errmsg(db) : edr_strerror(rc));
    status = EXIT_UNSOUND;
  } else if (job.rc < 0) {
    fprintf(stderr, "etcd-dr: error: snapshot status: '%s': %s\n", file,
            edr_strerror(job.rc));
    status = EXIT_UNSOUND;
  } else {
    print_status((enum fmt)f, &st, &job.sf);
    if (job.sf.has_trailer && !job.sf.trailer_ok)
      fprintf(stderr,
              "etcd-dr: warning: snapshot status: '%s': sha-256 trailer %s does "
              "not match the image (%s); run 'etcd-dr snapshot verify'\n",
              file, job.sf.trailer_sha256, job.sf.image_sha256);
  }
  edr_etcd_status_release(&st);
  edr_bolt_close(db);
  return status;
}

/* ---- verify ------------------------------------------------------------- */

static int do_verify(int argc, char **argv) {
  const char *file = NULL;
  bool skip_hash = false;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--skip-hash-check"))
      skip_hash = true;
    else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(verify_help, stdout);
      return EXIT_SOUND;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "etcd-dr: error: snapshot verify: unknown option '%s'\n",
              argv[i]);
      return usage(NULL);
    } else if (file)
      return usage("verify takes one FILE");
    else
      file = argv[i];
  }
  if (!file)
    return usage("verify needs a FILE");

  const char *pre = "etcd-dr: error: snapshot verify";
  int bad = 0;
  /* The trailer on the other core while this one checks the structure. */
  struct hash_job job = {.path = file};
  pthread_t th;
  bool threaded = pthread_create(&th, NULL, hash_thread, &job) == 0;
  if (!threaded)
    hash_thread(&job);

  struct edr_error err = EDR_ERROR_INIT;
  struct edr_bolt *db;
  int brc = edr_bolt_open(file, &db, &err);
  int crc = brc < 0 ? 0 : edr_bolt_check(db);
  if (threaded)
    pthread_join(th, NULL);

  const struct edr_snapfile *sf = &job.sf;
  int rc = job.rc;
  if (rc < 0) {
    fprintf(stderr, "%s: cannot read '%s': %s\n", pre, file, edr_strerror(rc));
    edr_bolt_close(db);
    return EXIT_UNSOUND;
  }
  if (sf->has_trailer && !sf->trailer_ok) {
    fprintf(stderr,
            "%s: '%s': sha-256 trailer at offset %" PRIu64
            " is %s but the %" PRIu64 " bytes before it hash to %s\n",
            pre, file, sf->size - 32, sf->trailer_sha256, sf->size - 32,
            sf->image_sha256);
    bad++;
  } else if (!sf->has_trailer && !skip_hash) {
    fprintf(stderr,
            "%s: '%s': no sha-256 trailer (size %" PRIu64
            " is not a multiple of 512 plus 32): either a member/snap/db "
            "copied from a data dir, which has none, or a cut snapshot; "
            "restoring it needs --skip-hash-check, and so does checking its "
            "structure: 'etcd-dr snapshot verify --skip-hash-check %s'\n",
            pre, file, sf->size, file);
    bad++;
  }

  if (brc < 0) {
    fprintf(stderr, "%s: '%s': %s\n", pre, file, err.msg.buf);
    edr_error_release(&err);
    return EXIT_UNSOUND;
  }
  if (crc < 0) {
    const char *m = crc == EDR_ECORRUPT ? edr_bolt_errmsg(db) : edr_strerror(crc);
    /* One problem per line, each naming the file. */
    for (const char *p = m; *p;) {
      size_t n = strcspn(p, "\n");
      fprintf(stderr, "%s: '%s': %.*s\n", pre, file, (int)n, p);
      p += n + (p[n] == '\n');
    }
    bad++;
  }
  if (!bad) {
    const struct edr_bolt_info *in = edr_bolt_info(db);
    const struct edr_bolt_meta *m = &in->meta[in->meta_used];
    printf("'%s': sound: sha-256 trailer %s, %" PRIu64 " pages of %" PRIu32
           " bytes, meta page %d (txid %" PRIu64 ")\n",
           file, sf->has_trailer ? "valid" : "absent (skipped)", m->pgid,
           m->page_size, in->meta_used, m->txid);
  }
  edr_bolt_close(db);
  return bad ? EXIT_UNSOUND : EXIT_SOUND;
}

/* snapshot_save.c: from a live member over its client URL. */
static int do_save(int argc, char **argv) { return cmd_snapshot_save(argc, argv); }

static const struct {
  const char *verb;
  int (*run)(int argc, char **argv);
} verbs[] = {
    {"status", do_status},
    {"verify", do_verify},
    {"save", do_save},
};

int cmd_snapshot(int argc, char **argv) {
  if (argc < 2)
    return usage("which one: status, verify or save?");
  for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
    if (!strcmp(argv[1], verbs[i].verb))
      return verbs[i].run(argc, argv);
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    fputs(usage_text, stdout);
    fputs("\n'etcd-dr snapshot VERB --help' describes each.\n", stdout);
    return EXIT_SOUND;
  }
  /* etcdctl's and etcdutl's verbs: say where etcd-dr does that */
  if (!strcmp(argv[1], "restore")) {
    fprintf(stderr, "etcd-dr: error: 'snapshot restore' is etcdutl's; etcd-dr restores "
                    "every member at once with 'etcd-dr restore --snapshot FILE "
                    "--cluster FILE'\n");
    return EXIT_USAGE;
  }
  const char *names[] = {"status", "verify", "save"};
  const char *hint = edr_did_you_mean(argv[1], names, 3);
  if (hint)
    fprintf(stderr, "etcd-dr: error: unknown snapshot verb '%s' (did you mean '%s'?)\n",
            argv[1], hint);
  else
    fprintf(stderr, "etcd-dr: error: unknown snapshot verb '%s'\n", argv[1]);
  fputs("usage: etcd-dr snapshot status|verify|save ...; 'etcd-dr snapshot --help' "
        "describes each.\n", stderr);
  return EXIT_USAGE;
}
