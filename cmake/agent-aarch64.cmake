# cmake/agent-aarch64.cmake - the aarch64 etcd-dr-agent, cross-built next to
# the x86-64 one as build/etcd-dr-agent-aarch64 and its build without TLS,
# build/etcd-dr-agent-aarch64-notls, each with its .gz (where the
# coordinator looks for them, orchestrator/engine/agents.c).  Included by the top-level
# CMakeLists.txt; owns the sub-build in build/agent-aarch64/.
#
# The sub-build is this same source tree configured with EDR_AGENT_ONLY=ON
# (the agent, its library and its unit tests only) and the toolchain file
# cmake/aarch64-linux-gnu.cmake: Debian's gcc-aarch64-linux-gnu with the
# arm64 multiarch static libjansson.a, libcrypto.a and libzstd.a (scripts/deps.sh
# installs them).  EDR_AGENT_AARCH64 is on by default when they are all
# present; asked for explicitly without them, configuring stops and names
# what is missing.
set(_edr_a64_libdir /usr/lib/aarch64-linux-gnu)
find_program(EDR_AARCH64_CC aarch64-linux-gnu-gcc)
set(_edr_a64_missing "")
if(NOT EDR_AARCH64_CC)
  list(APPEND _edr_a64_missing "aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu)")
endif()
foreach(_lib libjansson.a:libjansson-dev:arm64 libcrypto.a:libssl-dev:arm64
             libzstd.a:libzstd-dev:arm64)
  string(REPLACE ":" ";" _parts "${_lib}")
  list(GET _parts 0 _file)
  list(GET _parts 1 _pkg)
  if(NOT EXISTS ${_edr_a64_libdir}/${_file})
    list(APPEND _edr_a64_missing "${_edr_a64_libdir}/${_file} (${_pkg}:arm64)")
  endif()
endforeach()
if(_edr_a64_missing)
  set(_edr_a64_default OFF)
else()
  set(_edr_a64_default ON)
endif()
option(EDR_AGENT_AARCH64
       "Cross-build the aarch64 agent too (default: on when the cross toolchain is installed)"
       ${_edr_a64_default})

if(EDR_AGENT_AARCH64 AND _edr_a64_missing)
  string(REPLACE ";" ", " _m "${_edr_a64_missing}")
  message(FATAL_ERROR "EDR_AGENT_AARCH64 is on but the cross toolchain is incomplete: "
                      "missing ${_m}; run scripts/deps.sh, or configure with "
                      "-DEDR_AGENT_AARCH64=OFF")
endif()

if(EDR_AGENT_AARCH64)
  include(ExternalProject)
  set(EDR_AGENT_AARCH64_DIR ${CMAKE_BINARY_DIR}/agent-aarch64)
  set(EDR_AGENT_AARCH64_BIN ${CMAKE_BINARY_DIR}/etcd-dr-agent-aarch64)
  # Release-like flags whatever the coordinator's build type: sanitizers do
  # not apply to the static agent, and the sub-build has no coordinator.
  ExternalProject_Add(etcd-dr-agent-aarch64
    SOURCE_DIR ${CMAKE_SOURCE_DIR}
    BINARY_DIR ${EDR_AGENT_AARCH64_DIR}
    CMAKE_ARGS -DCMAKE_TOOLCHAIN_FILE=${CMAKE_SOURCE_DIR}/cmake/aarch64-linux-gnu.cmake
               -DEDR_AGENT_ONLY=ON
               -DCMAKE_BUILD_TYPE=RelWithDebInfo
               -DEDR_WERROR=${EDR_WERROR}
               -DBUILD_TESTING=${BUILD_TESTING}
               -DEDR_AGENT_OUTPUT=${EDR_AGENT_AARCH64_BIN}
    INSTALL_COMMAND ""
    BUILD_ALWAYS ON
    BUILD_BYPRODUCTS ${EDR_AGENT_AARCH64_BIN} ${EDR_AGENT_AARCH64_BIN}.gz
                     ${EDR_AGENT_AARCH64_BIN}-notls ${EDR_AGENT_AARCH64_BIN}-notls.gz)
  install(PROGRAMS ${EDR_AGENT_AARCH64_BIN} ${EDR_AGENT_AARCH64_BIN}-notls DESTINATION bin)
  install(FILES ${EDR_AGENT_AARCH64_BIN}.gz ${EDR_AGENT_AARCH64_BIN}-notls.gz DESTINATION bin)
endif()
