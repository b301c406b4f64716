# Tests of the health wait and the async HTTP layer under it
# (orchestrator/transport/http.c, orchestrator/etcd/health.c).  They are built from those
# two sources plus edr_common, not from the layer libraries, so they keep working while
# other parts of the coordinator are being written.  All of them use loopback only
# and need no root; the etcd ones start real etcd processes on random high
# ports and skip (exit 77) when the etcd binary is absent.
add_library(edr_health_t STATIC ${CMAKE_SOURCE_DIR}/orchestrator/transport/http.c
                                ${CMAKE_SOURCE_DIR}/orchestrator/etcd/health.c)
target_include_directories(edr_health_t PUBLIC
  ${CMAKE_SOURCE_DIR}/orchestrator/transport ${CMAKE_SOURCE_DIR}/orchestrator/etcd ${CMAKE_SOURCE_DIR}/tests/unit)
target_link_libraries(edr_health_t PUBLIC edr_common PkgConfig::LIBUV
                      PkgConfig::LIBCURL PkgConfig::JANSSON)

edr_unit_test(test_http TEST http LIBS edr_health_t TIMEOUT 60)
edr_unit_test(test_health_unit TEST health_unit LIBS edr_health_t TIMEOUT 60)

add_executable(test_health_etcd unit/test_health_etcd.c)
target_link_libraries(test_health_etcd PRIVATE edr_health_t)
target_compile_definitions(test_health_etcd PRIVATE
  EDR_HEALTH_SCRIPTS="${CMAKE_SOURCE_DIR}/tests/health")
# etcd 3.4 from bookworm; 3.5 from scripts/get-etcd.sh's cache.
foreach(v "34:/usr/bin/etcd:/usr/bin/etcdctl"
          "35:/var/cache/etcd-dr/etcd-3.5/usr/bin/etcd:/var/cache/etcd-dr/etcd-3.5/usr/bin/etcdctl")
  string(REPLACE ":" ";" parts "${v}")
  list(GET parts 0 ver)
  list(GET parts 1 etcd)
  list(GET parts 2 etcdctl)
  add_test(NAME health_etcd${ver} COMMAND test_health_etcd cluster ${etcd} ${etcdctl})
  add_test(NAME health_tls_etcd${ver} COMMAND test_health_etcd tls ${etcd} ${etcdctl})
  set_tests_properties(health_etcd${ver} health_tls_etcd${ver} PROPERTIES
    LABELS "unit;etcd" TIMEOUT 180 SKIP_RETURN_CODE 77)
endforeach()
