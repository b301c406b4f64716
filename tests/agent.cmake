# The agent's tests: agent/agent_test.py (its cases in agent_cases_io.py,
# agent_cases_host.py, agent_cases_env.py and agent_attacks.py) drives the built etcd-dr-agent over
# its JSON-lines protocol in temporary directories, one ctest per area.  They
# need no root (what does is skipped with a message) and no network beyond
# loopback (the "etcd" case starts a real etcd on 127.0.0.1).
find_package(Python3 COMPONENTS Interpreter REQUIRED)
set(EDR_AGENT_CASES hello probe probe_tools receive receive_zstd relay send run files chown locks run_lock etcd eof
    idle namespaces sshd enospc envfile envfile_manifest attack_staging attack_chmod attack_fifo
    attack_ownership aside etcd_auth etcd_http etcd_snapshot etcd_tls_name)
foreach(case ${EDR_AGENT_CASES})
  add_test(NAME agent.${case}
           COMMAND Python3::Interpreter
                   ${CMAKE_CURRENT_SOURCE_DIR}/agent/agent_test.py
                   $<TARGET_FILE:etcd-dr-agent> ${case})
  set_tests_properties(agent.${case} PROPERTIES LABELS unit TIMEOUT 180
                       SKIP_RETURN_CODE 77)
endforeach()

# The agent built without TLS (etcd-dr-agent-notls): its etcd-http, and the
# hello, receive and sshd bootstrap it shares with the full one.
foreach(case hello receive sshd etcd_http)
  add_test(NAME agent.notls.${case}
           COMMAND Python3::Interpreter
                   ${CMAKE_CURRENT_SOURCE_DIR}/agent/agent_test.py
                   $<TARGET_FILE:etcd-dr-agent-notls> ${case})
  set_tests_properties(agent.notls.${case} PROPERTIES LABELS unit TIMEOUT 180
                       SKIP_RETURN_CODE 77)
endforeach()

# The agent's pure pieces (line reader, flag/version parsing, UTF-8 scrub,
# passwd parsing), linked from the agent library the binary is built from.
edr_unit_test(test_agent_ops TEST agent.unit LIBS edr_agent)

# The same tests for the cross-built aarch64 agent (cmake/agent-aarch64.cmake),
# under Debian's qemu-user-static: named agent.aarch64.*, label unit.
if(EDR_AGENT_AARCH64)
  find_program(EDR_QEMU_AARCH64 NAMES qemu-aarch64-static qemu-aarch64)
  if(NOT EDR_QEMU_AARCH64)
    message(WARNING "no qemu-aarch64-static (Debian's qemu-user-static): the aarch64 "
                    "agent is built but its tests are not registered")
  else()
    foreach(case ${EDR_AGENT_CASES})
      add_test(NAME agent.aarch64.${case}
               COMMAND Python3::Interpreter
                       ${CMAKE_CURRENT_SOURCE_DIR}/agent/agent_test.py
                       ${EDR_AGENT_AARCH64_BIN} ${case})
      set_tests_properties(agent.aarch64.${case} PROPERTIES LABELS unit TIMEOUT 300
                           SKIP_RETURN_CODE 77
                           ENVIRONMENT "EDR_AGENT_EMULATOR=${EDR_QEMU_AARCH64};EDR_AGENT_ARCH=aarch64")
    endforeach()
    add_test(NAME agent.aarch64.unit
             COMMAND ${EDR_QEMU_AARCH64} ${EDR_AGENT_AARCH64_DIR}/test_agent_ops)
    set_tests_properties(agent.aarch64.unit PROPERTIES LABELS unit)
  endif()
endif()
