/*
 * outcome.c - releasing a run's result (outcome.h).
 */
#include "outcome.h"

#include <stdlib.h>
#include <string.h>

void edr_run_result_release(struct edr_run_result *res) {
  for (size_t i = 0; i < res->n_hosts; i++) {
    struct edr_host_result *hr = &res->hosts[i];
    for (size_t j = 0; hr->steps && j < hr->n_steps; j++) {
      free(hr->steps[j].message);
      json_decref(hr->steps[j].result);
    }
    free(hr->steps);
    free(hr->message);
  }
  free(res->hosts);
  for (size_t k = 0; k < res->n_stages; k++)
    free(res->gates[k].message);
  free(res->gates);
  free(res->message);
  json_decref(res->compression);
  memset(res, 0, sizeof(*res));
}
