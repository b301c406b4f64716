# docs/playbook.schema.json and etcd-dr's own playbook checks agree: shipped
# playbooks and the docs' examples are valid, the kinds are the same, and
# playbooks broken one way each are refused by both (Debian's
# python3-jsonschema, installed by scripts/deps.sh).
add_test(NAME playbook_schema
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/playbooks/check_schema.py
                 $<TARGET_FILE:etcd-dr> ${CMAKE_SOURCE_DIR})
set_tests_properties(playbook_schema PROPERTIES LABELS unit)
