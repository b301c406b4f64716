# Unit tests of the coordinator's pure logic: spec, plan, quoting.
foreach(t test_spec test_plan test_prune)
  add_executable(${t} ${CMAKE_CURRENT_SOURCE_DIR}/unit/${t}.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
  target_link_libraries(${t} PRIVATE edr_core)
  add_test(NAME ${t} COMMAND ${t})
  set_tests_properties(${t} PROPERTIES LABELS unit)
endforeach()
# Playbooks: validation messages, the compiled plan's shape, and the shipped
# playbooks (read from the source tree).
add_executable(test_playbook ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_playbook.c)
target_include_directories(test_playbook PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/unit)
target_compile_definitions(test_playbook PRIVATE
  EDR_PLAYBOOK_DIR="${CMAKE_SOURCE_DIR}/playbooks")
target_link_libraries(test_playbook PRIVATE edr_core)
add_test(NAME test_playbook COMMAND test_playbook)
set_tests_properties(test_playbook PROPERTIES LABELS unit)
