# End-to-end tests: real sshd and real etcd on a lab of network namespaces
# (tests/lab/lab.sh).  They need root; without it they report "skipped".
set(EDR_E2E_ENV "ETCD_DR=$<TARGET_FILE:etcd-dr>")
function(edr_e2e name)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/${ARGN})
  set_tests_properties(${name} PROPERTIES LABELS e2e RUN_SERIAL TRUE
                       SKIP_RETURN_CODE 77 TIMEOUT 600
                       ENVIRONMENT "${EDR_E2E_ENV}")
endfunction()
edr_e2e(e2e_restore_etcd34 restore.sh 3.4)
edr_e2e(e2e_restore_etcd35 restore.sh 3.5)
edr_e2e(e2e_refuse refuse.sh)
edr_e2e(e2e_variants variants.sh)
edr_e2e(e2e_safety safety.sh)
edr_e2e(e2e_resume resume.sh)
edr_e2e(e2e_tls tls.sh)
edr_e2e(e2e_waldir waldir.sh)
edr_e2e(e2e_apply_faults apply_faults.sh)
edr_e2e(e2e_bastion bastion.sh)
edr_e2e(e2e_sshconfig sshconfig.sh)
edr_e2e(e2e_confirm confirm.sh)
edr_e2e(e2e_partition partition.sh)
edr_e2e(e2e_prune prune.sh)
edr_e2e(e2e_yaml yaml.sh)    # a restore from a YAML cluster spec
# A host whose `uname -m` is aarch64 gets the cross-built agent, run there
# through binfmt_misc and qemu-user (cmake/agent-aarch64.cmake).
if(EDR_AGENT_AARCH64)
  edr_e2e(e2e_arch arch.sh)
endif()
# Playbooks (docs/playbooks.md, playbooks/): one test per shipped playbook,
# plus the checks `etcd-dr run` makes before it connects anywhere (no root).
edr_e2e(e2e_playbook_validate playbook_validate.sh)
edr_e2e(e2e_playbook_restore playbook_restore.sh 3.5)
edr_e2e(e2e_playbook_k8s playbook_k8s.sh 3.5)
edr_e2e(e2e_playbook_rebuild_etcd34 playbook_rebuild.sh 3.4)
edr_e2e(e2e_playbook_rebuild_etcd35 playbook_rebuild.sh 3.5)
edr_e2e(e2e_playbook_replace_etcd34 playbook_replace.sh 3.4)
edr_e2e(e2e_playbook_replace_etcd35 playbook_replace.sh 3.5)
edr_e2e(e2e_playbook_rotate playbook_rotate.sh 3.4)
edr_e2e(e2e_save_ssh_etcd34 save_ssh.sh 3.4)
edr_e2e(e2e_save_ssh_etcd35 save_ssh.sh 3.5)
edr_e2e(e2e_status_agent_etcd34 status_agent.sh 3.4)
edr_e2e(e2e_status_agent_etcd35 status_agent.sh 3.5)
# etcd with authentication enabled (docs/auth.md): snapshot save with and
# without a user, restore and status with ETCDCTL_USER, the password nowhere
edr_e2e(e2e_auth_etcd34 auth.sh 3.4)
edr_e2e(e2e_auth_etcd35 auth.sh 3.5)
# User keys against OpenSSH 9.2: RSA (rsa-sha2-512), an encrypted ed25519 key
# asked on a pty or through SSH_ASKPASS, a wrong passphrase; and a second
# build linking the system's libssh2 1.10, whose RSA refusal must say why.
edr_e2e(e2e_keys keys.sh --system-build ${CMAKE_SOURCE_DIR}
        ${CMAKE_BINARY_DIR}/libssh2-system)
set_tests_properties(e2e_keys PROPERTIES TIMEOUT 900)
# The relay between hosts, snapshots already on a host (docs/transfer.md).
edr_e2e(e2e_relay_etcd34 relay.sh 3.4 3)
edr_e2e(e2e_relay_etcd35 relay.sh 3.5 5)
# The kubeadm preset on a kubeadm-style lab (tests/e2e/kubeadm_lib.sh):
# restore, replace-member and rebuild-from-one on static pods.
edr_e2e(e2e_kubeadm_etcd34 kubeadm.sh 3.4)
edr_e2e(e2e_kubeadm_etcd35 kubeadm.sh 3.5)
# Compressed pushes (--compress): forced on, auto through a capped link, auto.
edr_e2e(e2e_compress compress.sh 3.5)
# How the runs ask a member this machine cannot reach (--health-via): auto
# moves it to its host, here stops before anything stops; a member change
# through a host; a leader lookup that finds nobody (quorum lost).
edr_e2e(e2e_route_etcd34 route.sh 3.4)
edr_e2e(e2e_route_etcd35 route.sh 3.5)
# discover on lab clusters started four ways; the printed spec restores them.
edr_e2e(e2e_discover_etcd34 discover.sh 3.4)
edr_e2e(e2e_discover_etcd35 discover.sh 3.5)
