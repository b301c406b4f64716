# Tests of `etcd-dr status`: the verdict and the parsers of etcd's answers
# (unit, pure: orchestrator/etcd/status.c from edr_etcd), and the command
# end to end on a lab of 3 real hosts with etcd 3.4 and 3.5 (e2e, root).
edr_unit_test(test_status TEST status_unit LIBS edr_etcd edr_transport edr_plan TIMEOUT 60)

foreach(v 3.4 3.5)
  string(REPLACE "." "" vv ${v})
  add_test(NAME e2e_status_etcd${vv}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/status.sh ${v})
  set_tests_properties(e2e_status_etcd${vv} PROPERTIES LABELS e2e RUN_SERIAL TRUE
                       SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "ETCD_DR=$<TARGET_FILE:etcd-dr>")
endforeach()

# A member that answers with terminal escape sequences: status prints them
# escaped (unit: a fake etcd gateway on loopback, tests/status/hostile.py).
add_test(NAME status_hostile
         COMMAND Python3::Interpreter ${CMAKE_CURRENT_SOURCE_DIR}/status/hostile.py
                 $<TARGET_FILE:etcd-dr>)
set_tests_properties(status_hostile PROPERTIES LABELS unit TIMEOUT 60)
