# The agent's tests: agent/agent_test.py drives the built etcd-dr-agent over
# its JSON-lines protocol in temporary directories, one ctest per area.  They
# need no root (what does is skipped with a message) and no network beyond
# loopback (the "etcd" case starts a real etcd on 127.0.0.1).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
foreach(case hello probe probe_tools receive send run files chown locks run_lock etcd eof idle
             namespaces sshd enospc envfile attack_staging attack_chmod attack_fifo
             attack_ownership aside)
  add_test(NAME agent.${case}
           COMMAND Python3::Interpreter
                   ${CMAKE_CURRENT_SOURCE_DIR}/agent/agent_test.py
                   $<TARGET_FILE:etcd-dr-agent> ${case})
  set_tests_properties(agent.${case} PROPERTIES LABELS unit TIMEOUT 180
                       SKIP_RETURN_CODE 77)
endforeach()

# The agent's pure pieces (line reader, flag/version parsing, UTF-8 scrub,
# passwd parsing), linked from the agent library the binary is built from.
add_executable(test_agent_ops ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_agent_ops.c)
target_include_directories(test_agent_ops PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_agent_ops PRIVATE edr_agent)
add_test(NAME agent.unit COMMAND test_agent_ops)
set_tests_properties(agent.unit PROPERTIES LABELS unit)
