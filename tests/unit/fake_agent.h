/*
 * fake_agent.h - a stand-in for every host of a run, for the engine's unit
 * tests (test_engine.c): an agent connection (transport's agent_conn.h)
 * that opens no socket, gates (engine/gate.h) that talk to no etcd, and a
 * trace of what the engine asked of them, in order.
 *
 * A test names the plan it runs (fake_reset), scripts what goes wrong
 * (fake_rule, fake_gate_script), lends fake_agent_ops and fake_gates to
 * edr_execute through edr_exec_opts, and reads the trace afterwards.  By
 * default every host answers every request at once with a result that a
 * healthy host would give, and every gate passes.
 *
 * Time is scaled: a deadline armed for N ms fires after N/100000 ms + 1
 * (a step that never answers ends in milliseconds).  Replies come from the
 * run's loop, each on a later turn, never from inside the call that asked.
 *
 * Ownership: all state is static and belongs to this file; fake_reset
 * clears it.  Strings given to fake_rule are borrowed until the next
 * fake_reset.
 */
#ifndef EDR_FAKE_AGENT_H
#define EDR_FAKE_AGENT_H

#include "agent_conn.h"
#include "gate.h"
#include "plan.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fake_act {
  FAKE_OK,       /* answer with the default result (or RESULT_JSON) */
  FAKE_FAIL,     /* answer "ok": false with CODE and MSG */
  FAKE_HANG,     /* never answer: the engine's deadline fires */
  FAKE_LOSE,     /* the connection is lost (EDR_ECONNLOST) */
  FAKE_ASK,      /* a gate: asks every member's agent an etcd-http question
                    (edr_gate_ask) and passes when every one answered ok */
};

/* What host HOST does with WHAT: a plan step's kind name ("stop",
 * "connect", "push-agent"), or "op:NAME" for a request the plan does not
 * hold (the engine's own: op:remove, op:unlock, op:mark, op:read, op:stat). */
struct fake_rule {
  const char *host;
  const char *what;
  unsigned nth;            /* 0: every time; N: only the Nth time (from 1) */
  enum fake_act act;
  int code;                /* FAKE_FAIL: the agent's errno (EDR_E*) */
  const char *msg;         /* FAKE_FAIL: its message */
  uint64_t delay_ms;       /* the answer comes this much later (real time) */
  const char *result_json; /* FAKE_OK: this result instead of the default */
  bool interrupt;          /* raise SIGINT when the request arrives */
  bool maybe_unused;       /* the run may end before the request comes */
};

/* One line of the trace.  STEP is the plan step's index in the host's
 * plan, or -1 for a request the plan does not hold; STAGE is its stage
 * (gates: the gate's stage). */
enum fake_ev { FAKE_REQ, FAKE_REPLY, FAKE_CLOSE, FAKE_GATE_START, FAKE_GATE_DONE,
               FAKE_GATE_CANCEL, FAKE_REOPEN };
struct fake_entry {
  enum fake_ev ev;
  long host;               /* -1 for a gate */
  long step;
  long stage;
  int status;              /* replies and gate ends: 0 or the EDR_E* code */
  char text[256];          /* "m1 > stop", "m1 < stop ok", "m1 > op:remove PATH",
                              "m1 close", "m1 open again", "gate health start" ... */
};

/* What every engine test does first: quiet unless $TEST_ENGINE_VERBOSE,
 * progress as JSON events, and mkdtemp(DIR_TEMPLATE).  Returns 0 or -1. */
int fake_setup(char *dir_template);

void fake_reset(const struct edr_plan *plan);
void fake_rule(struct fake_rule r);

/* Gate attempts for gates of KIND, in order: the last one repeats.  ACTS
 * are FAKE_OK, FAKE_FAIL or FAKE_HANG (until cancelled). */
void fake_gate_script(enum edr_gate_kind kind, const enum fake_act *acts, size_t n);
/* Raise SIGINT once a gate has started (a gate that never finishes). */
void fake_gate_interrupt(bool on);
/* What the gates' leader lookup answers (an index in the plan, or -1),
 * after DELAY_MS on the run's loop while the hosts go on. */
void fake_leader(long host);
void fake_leader_delay(unsigned delay_ms);
/* ... and, before it answers, refuses host HOST (edr_leader_refuse: its
 * member cannot be checked the way the run asks it); -1: none. */
void fake_leader_refuse(long host);
/* What the last lookup was told of HOST's etcd (edr_leader_etcd_running:
 * its probe): 1 running, 0 not, -1 no lookup started since fake_reset. */
int fake_leader_saw_running(long host);
/* When host HOST's agent push ran, in ms on the fake's clock, and the
 * bytes it carried (edr_agent_ops.push_window); unset: not measured.
 * fake_push_rate: BYTES_PER_S over one second that every such host shares. */
void fake_push_window(long host, unsigned start_ms, unsigned end_ms, uint64_t bytes);
void fake_push_rate(long host, double bytes_per_s);

extern const struct edr_agent_ops fake_agent_ops;
extern const struct edr_exec_gates fake_gates;

size_t fake_trace_len(void);
const struct fake_entry *fake_trace(size_t i);
/* The index of the first (or last) entry whose text is exactly the
 * printf-formatted line, or -1. */
long fake_find(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
long fake_find_last(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Entries whose text starts with the formatted prefix. */
size_t fake_count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Broken promises of agent_conn.h seen from the engine (a request while
 * one is under way, after the connection was dropped, before the agent
 * started, a second close ...), each printed when seen. */
unsigned fake_violations(void);
/* Rules that no request matched (a misspelt .what, a step never reached),
 * each printed; rules marked maybe_unused do not count. */
unsigned fake_unused_rules(void);
void fake_dump(void);

#endif
