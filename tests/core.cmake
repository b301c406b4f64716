# Unit tests of the coordinator's pure logic: spec, plan, quoting (the plan
# layer), and the summary and the next command to type (ui, cmd).
edr_unit_test(test_spec LIBS edr_plan)
edr_unit_test(test_spec_yaml LIBS edr_plan)
edr_unit_test(test_plan LIBS edr_cmd edr_ui edr_plan)
edr_unit_test(test_prune LIBS edr_plan)
# The client URL names looked up here for the hosts' agents
# (orchestrator/etcd/resolve.c); names from a private /etc/hosts (root).
edr_unit_test(test_resolve LIBS edr_etcd edr_ui edr_plan)
edr_unit_test(test_sshconfig LIBS edr_cmd edr_plan)
# A host lock's dead holder: taken or explained (engine/stale_lock.h).
edr_unit_test(test_stale_lock LIBS edr_engine edr_ui edr_plan)
# Playbooks: validation messages (test_playbook), and the compiled plan's
# shape and the shipped playbooks, read from the source tree
# (test_playbook_compile); their fixtures are unit/t_playbook.h.
edr_unit_test(test_playbook LIBS edr_plan)
edr_unit_test(test_playbook_compile LIBS edr_plan
  DEFINES EDR_PLAYBOOK_DIR="${CMAKE_SOURCE_DIR}/playbooks")
# known_hosts as --accept-new-host-keys leaves it (orchestrator/transport/ssh.c).
edr_unit_test(test_known_hosts LIBS edr_transport)
# One coordinator per run: the journal's lock (orchestrator/ui/journal.c).
add_test(NAME run_lock COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/unit/run_lock.sh
                               $<TARGET_FILE:etcd-dr>)
set_tests_properties(run_lock PROPERTIES LABELS unit TIMEOUT 60)
# The engine with a fake agent connection (edr_exec_opts.agent_ops): runs
# plans with no SSH, no root and no lab.
edr_unit_test(test_engine_fake LIBS edr_engine edr_plan edr_transport TIMEOUT 60)
# Key files and their passphrases (transport/sshkey.c): keys made by
# ssh-keygen, passphrases through SSH_ASKPASS.
edr_unit_test(test_sshkey LIBS edr_transport)
# Compressed pushes, the coordinator's side (transport/zsrc.h).
edr_unit_test(test_zsrc LIBS edr_transport PkgConfig::ZSTD)
# Which local agent is for which architecture (engine/agents.c).
edr_unit_test(test_agents LIBS edr_engine edr_transport edr_plan edr_ui)
# The bootstrap that places the agent on a host, run with the local /bin/sh
# (transport/agent_boot.c): gzip or raw, and a cut gzip stream refused.
edr_unit_test(test_agent_boot LIBS edr_transport)
# kubeadm's static pod manifest: the command list read and edited (common/manifest.h).
edr_unit_test(test_manifest LIBS edr_common)
# discover: the parsers it reads a host's etcd configuration with
# (common/etcdconf.c) and the spec it makes of their findings
# (orchestrator/plan/discover_spec.c).
edr_unit_test(test_etcdconf LIBS edr_common)
edr_unit_test(test_discover_spec LIBS edr_plan)
