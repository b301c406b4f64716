# `etcd-dr snapshot save` (orchestrator/etcd/snapshot_save.c).
#   snapshot_save_unit       the gateway stream decoder fed in odd pieces,
#                            its failures, the --keep name pattern and pruning
#   snapshot_save_etcd34/35  real etcd on loopback: save -o, the file checked
#                            by etcdctl/etcdutl, restored and served; failures
#                            (unreachable, member killed or stopped mid-stream)
#                            leave no FILE and no .part; --dir --keep
#   snapshot_save_tls_etcd34/35  etcd with --client-cert-auth: certificates
#                            from ETCDCTL_*, flags winning, TLS failures
#   snapshot_save_quorum_etcd34/35  3 members, 2 killed: no healthy member
#                            without --member; --member saves from the survivor
#   snapshot_save_memory     a ~50 MB snapshot: max RSS under /usr/bin/time -v
#                            (< 20 MB; under ASan only its growth is checked)
#   snapshot_save_hostile    a fake gateway on loopback that streams past the
#                            size it announced, announces more than the disk,
#                            never ends or trickles: each bounded, nothing left
#   snapshot_save_ssh_name   --via ssh, a client URL naming a host that does
#                            not resolve here: refused before the host is asked
# The etcd tests skip (77) when that etcd is not installed.

# The edr-snapshot driver (tests/bbolt.cmake) runs cmd_snapshot(), whose
# `save` verb lives in the command layer and, for --via ssh, needs the
# executor: link the command layer (the driver's own cmd_snapshot.c comes
# first) and the layers whose headers cmd_snapshot.c includes.
target_link_libraries(edr-snapshot PRIVATE edr_cmd edr_etcd edr_transport edr_plan)

edr_unit_test(test_snapshot_save TEST snapshot_save_unit LIBS edr_etcd edr_transport edr_plan
  TIMEOUT 60)

set(EDR_SAVE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/snapshot_save)
foreach(t "etcd34:save.sh 3.4" "etcd35:save.sh 3.5" "tls_etcd34:tls.sh 3.4"
          "tls_etcd35:tls.sh 3.5" "quorum_etcd34:quorum.sh 3.4"
          "quorum_etcd35:quorum.sh 3.5" "memory:memory.sh 3.4")
  string(REPLACE ":" ";" parts "${t}")
  list(GET parts 0 name)
  list(GET parts 1 args)
  separate_arguments(args)
  add_test(NAME snapshot_save_${name}
           COMMAND bash ${EDR_SAVE_DIR}/${args} $<TARGET_FILE:etcd-dr>)
  set_tests_properties(snapshot_save_${name} PROPERTIES LABELS "unit;etcd"
                       TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()
add_test(NAME snapshot_save_hostile
         COMMAND bash ${EDR_SAVE_DIR}/hostile.sh $<TARGET_FILE:etcd-dr>)
set_tests_properties(snapshot_save_hostile PROPERTIES LABELS unit TIMEOUT 120)
add_test(NAME snapshot_save_ssh_name
         COMMAND bash ${EDR_SAVE_DIR}/ssh_name.sh $<TARGET_FILE:etcd-dr>)
set_tests_properties(snapshot_save_ssh_name PROPERTIES LABELS unit TIMEOUT 60)
