# Tests of orchestrator/etcd/members.c (member list/add/remove over etcd's JSON
# gateway).  members_cli is a command-line face on it, built from members.c
# (and auth.c) and health.cmake's edr_health_t (http.c + health.c), so it keeps building
# while other parts of the coordinator change; tests/e2e/playbook_members.sh drives
# it against a real 3-member lab cluster and checks it with etcdctl.
add_executable(members_cli members/members_cli.c
               ${CMAKE_SOURCE_DIR}/orchestrator/etcd/members.c
               ${CMAKE_SOURCE_DIR}/orchestrator/etcd/auth.c)
target_include_directories(members_cli PRIVATE ${CMAKE_SOURCE_DIR}/orchestrator/plan)
target_link_libraries(members_cli PRIVATE edr_health_t)

# The operation on a caller's loop (what the gates use): callback, bad
# request and cancel, against a loopback port that never answers (unit).
edr_unit_test(test_members_async TEST members_async LIBS edr_etcd edr_transport edr_plan
  TIMEOUT 60)
# The same asked through the hosts (an edr_members_asker, as the gates ask
# when this machine has no certificate the members accept): etcd 3.4's and
# 3.5's gateway answers, member by member in turn, cancel (unit).
edr_unit_test(test_members_via TEST members_via LIBS edr_etcd edr_transport edr_plan
  TIMEOUT 60)

foreach(v 3.4 3.5)
  string(REPLACE "." "" vv ${v})
  add_test(NAME e2e_members_etcd${vv}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/playbook_members.sh ${v})
  set_tests_properties(e2e_members_etcd${vv} PROPERTIES LABELS e2e
    RUN_SERIAL TRUE SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "MEMBERS_CLI=$<TARGET_FILE:members_cli>")
endforeach()
