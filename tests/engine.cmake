# The engine's unit tests: edr_execute on real plans against a fake agent
# connection and fake gates (tests/unit/fake_agent.h); no root, no network.
# ARCHITECTURE.md says how to add one.
add_executable(test_engine ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine.c
                           ${CMAKE_CURRENT_SOURCE_DIR}/unit/fake_agent.c)
target_include_directories(test_engine PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_compile_definitions(test_engine PRIVATE
  EDR_PLAYBOOK_DIR="${CMAKE_SOURCE_DIR}/playbooks")
target_link_libraries(test_engine PRIVATE edr_engine edr_plan edr_ui edr_transport)
add_test(NAME test_engine COMMAND test_engine)
set_tests_properties(test_engine PROPERTIES LABELS unit TIMEOUT 60)
# prune's plan through the engine: its decide and fill hooks.
add_executable(test_engine_prune ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_engine_prune.c
                                 ${CMAKE_CURRENT_SOURCE_DIR}/unit/fake_agent.c)
target_include_directories(test_engine_prune PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_link_libraries(test_engine_prune PRIVATE edr_engine edr_plan edr_ui edr_transport)
add_test(NAME test_engine_prune COMMAND test_engine_prune)
set_tests_properties(test_engine_prune PROPERTIES LABELS unit TIMEOUT 60)
