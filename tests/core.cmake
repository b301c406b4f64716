# Unit tests of the coordinator's pure logic: spec, plan, quoting (the plan
# layer), and the summary and the next command to type (ui, cmd).
foreach(t test_spec test_spec_yaml test_plan test_prune test_sshconfig)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES LABELS unit)
endforeach()
target_link_libraries(test_spec PRIVATE edr_plan)
target_link_libraries(test_spec_yaml PRIVATE edr_plan)
target_link_libraries(test_plan PRIVATE edr_cmd edr_ui edr_plan)
target_link_libraries(test_sshconfig PRIVATE edr_cmd edr_plan)
# A host lock's dead holder: taken or explained (engine/stale_lock.h).
add_executable(test_stale_lock ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_stale_lock.c)
target_include_directories(test_stale_lock PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_stale_lock PRIVATE edr_engine edr_ui edr_plan)
add_test(NAME test_stale_lock COMMAND test_stale_lock)
set_tests_properties(test_stale_lock PROPERTIES LABELS unit)
target_link_libraries(test_prune PRIVATE edr_plan)
# Playbooks: validation messages, the compiled plan's shape, and the shipped
# playbooks (read from the source tree).
add_executable(test_playbook ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_playbook.c)
target_include_directories(test_playbook PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_compile_definitions(test_playbook PRIVATE
  EDR_PLAYBOOK_DIR="${CMAKE_SOURCE_DIR}/playbooks")
target_link_libraries(test_playbook PRIVATE edr_plan)
add_test(NAME test_playbook COMMAND test_playbook)
set_tests_properties(test_playbook PROPERTIES LABELS unit)
# known_hosts as --accept-new-host-keys leaves it (orchestrator/transport/ssh.c).
add_executable(test_known_hosts ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_known_hosts.c)
target_include_directories(test_known_hosts PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_known_hosts PRIVATE edr_transport)
add_test(NAME test_known_hosts COMMAND test_known_hosts)
set_tests_properties(test_known_hosts PROPERTIES LABELS unit)
# One coordinator per run: the journal's lock (orchestrator/ui/journal.c).
add_test(NAME run_lock COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/unit/run_lock.sh
                               $<TARGET_FILE:etcd-dr>)
set_tests_properties(run_lock PROPERTIES LABELS unit TIMEOUT 60)
# The engine with a fake agent connection (edr_exec_opts.agent_ops): runs
# plans with no SSH, no root and no lab.
add_executable(test_engine_fake ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine_fake.c)
target_include_directories(test_engine_fake PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_engine_fake PRIVATE edr_engine edr_plan edr_transport)
add_test(NAME test_engine_fake COMMAND test_engine_fake)
set_tests_properties(test_engine_fake PROPERTIES LABELS unit TIMEOUT 60)
# Key files and their passphrases (transport/sshkey.c): keys made by
# ssh-keygen, passphrases through SSH_ASKPASS.
add_executable(test_sshkey ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_sshkey.c)
target_include_directories(test_sshkey PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_sshkey PRIVATE edr_transport)
add_test(NAME test_sshkey COMMAND test_sshkey)
set_tests_properties(test_sshkey PROPERTIES LABELS unit)
# Compressed pushes, the coordinator's side (transport/zsrc.h).
add_executable(test_zsrc ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_zsrc.c)
target_include_directories(test_zsrc PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_zsrc PRIVATE edr_transport PkgConfig::ZSTD)
add_test(NAME test_zsrc COMMAND test_zsrc)
set_tests_properties(test_zsrc PROPERTIES LABELS unit)
# Which local agent is for which architecture (engine/agents.c).
add_executable(test_agents ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_agents.c)
target_include_directories(test_agents PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_agents PRIVATE edr_engine edr_transport edr_plan edr_ui)
add_test(NAME test_agents COMMAND test_agents)
set_tests_properties(test_agents PROPERTIES LABELS unit)
# kubeadm's static pod manifest: the command list read and edited (common/manifest.h).
add_executable(test_manifest ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_manifest.c)
target_include_directories(test_manifest PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_manifest PRIVATE edr_common)
add_test(NAME test_manifest COMMAND test_manifest)
set_tests_properties(test_manifest PROPERTIES LABELS unit)
# discover: the parsers it reads a host's etcd configuration with
# (common/etcdconf.c) and the spec it makes of their findings
# (orchestrator/plan/discover_spec.c).
foreach(pair "test_etcdconf;edr_common" "test_discover_spec;edr_plan")
  list(GET pair 0 t)
  list(GET pair 1 lib)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  target_link_libraries(${t} PRIVATE ${lib})
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES LABELS unit)
endforeach()
