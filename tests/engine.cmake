# The engine's unit tests: edr_execute on real plans against a fake agent
# connection and fake gates (tests/unit/fake_agent.h); no root, no network.
# ARCHITECTURE.md says how to add one.
# Their fixtures are unit/t_engine.h.  test_engine: the commands' plans
# failing at each step, going well, resumed, the leader last.
edr_unit_test(test_engine SOURCES unit/test_engine.c unit/fake_agent.c
  LIBS edr_engine edr_plan edr_ui edr_transport
  DEFINES EDR_PLAYBOOK_DIR="${CMAKE_SOURCE_DIR}/playbooks" TIMEOUT 60)
# Gates, interrupts, timeouts, status's asks and step retries.
edr_unit_test(test_engine_gates SOURCES unit/test_engine_gates.c unit/fake_agent.c
  LIBS edr_engine edr_plan edr_ui edr_transport TIMEOUT 60)
# prune's plan through the engine: its decide and fill hooks.
edr_unit_test(test_engine_prune SOURCES unit/test_engine_prune.c unit/fake_agent.c
  LIBS edr_engine edr_plan edr_ui edr_transport TIMEOUT 60)
