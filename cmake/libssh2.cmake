# cmake/libssh2.cmake - which libssh2 the coordinator links, as one target,
# edr::libssh2.  Included by the top-level CMakeLists.txt; nothing else here.
#
#   -DEDR_LIBSSH2=bundled  the static libssh2 >= 1.11 that scripts/get-libssh2.sh
#                          built from Debian trixie's source package into
#                          EDR_LIBSSH2_DIR (default /var/cache/etcd-dr/libssh2-1.11)
#   -DEDR_LIBSSH2=system   the distribution's shared libssh2 (bookworm: 1.10,
#                          which cannot sign with rsa-sha2: no RSA user keys
#                          against OpenSSH 8.8+)
#   unset                  bundled when EDR_LIBSSH2_DIR holds a build, else system
#
# The bundled archive's symbols are kept out of the executable's dynamic
# symbol table (--exclude-libs): libcurl loads the system's libssh2.so.1 and
# must keep binding to that one, never to the 1.11 copy inside etcd-dr.
set(EDR_LIBSSH2_DIR "/var/cache/etcd-dr/libssh2-1.11" CACHE PATH
    "Where scripts/get-libssh2.sh built the bundled libssh2 (holds prefix/)")
set(EDR_LIBSSH2 "" CACHE STRING "libssh2 to link: bundled (>= 1.11, static) or system")
set_property(CACHE EDR_LIBSSH2 PROPERTY STRINGS bundled system)

set(_edr_ls2_prefix "${EDR_LIBSSH2_DIR}/prefix")
set(_edr_ls2_have OFF)
if(EXISTS "${_edr_ls2_prefix}/lib/libssh2.a" AND EXISTS "${_edr_ls2_prefix}/include/libssh2.h")
  set(_edr_ls2_have ON)
endif()

set(_edr_ls2 "${EDR_LIBSSH2}")
if(_edr_ls2 STREQUAL "")
  if(_edr_ls2_have)
    set(_edr_ls2 bundled)
  else()
    set(_edr_ls2 system)
  endif()
endif()

add_library(edr_libssh2 INTERFACE)
add_library(edr::libssh2 ALIAS edr_libssh2)
if(_edr_ls2 STREQUAL "bundled")
  if(NOT _edr_ls2_have)
    message(FATAL_ERROR "EDR_LIBSSH2=bundled but ${_edr_ls2_prefix} holds no libssh2 build; "
            "run scripts/get-libssh2.sh (scripts/deps.sh does) or use -DEDR_LIBSSH2=system")
  endif()
  file(STRINGS "${_edr_ls2_prefix}/include/libssh2.h" _edr_ls2_ver
       REGEX "^#define LIBSSH2_VERSION[ \t]+\"")
  string(REGEX REPLACE ".*\"(.*)\".*" "\\1" _edr_ls2_ver "${_edr_ls2_ver}")
  if(_edr_ls2_ver VERSION_LESS 1.11)
    message(FATAL_ERROR "${_edr_ls2_prefix} holds libssh2 ${_edr_ls2_ver}; the bundled one "
            "must be >= 1.11: remove it and run scripts/get-libssh2.sh again")
  endif()
  find_package(OpenSSL 3.0 REQUIRED COMPONENTS Crypto)
  add_library(edr_libssh2_static STATIC IMPORTED)
  set_target_properties(edr_libssh2_static PROPERTIES
    IMPORTED_LOCATION "${_edr_ls2_prefix}/lib/libssh2.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_edr_ls2_prefix}/include")
  target_link_libraries(edr_libssh2 INTERFACE edr_libssh2_static OpenSSL::Crypto
                        "-Wl,--exclude-libs,libssh2.a")
else()
  if(NOT _edr_ls2 STREQUAL "system")
    message(FATAL_ERROR "EDR_LIBSSH2 must be bundled or system, not '${EDR_LIBSSH2}'")
  endif()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(LIBSSH2 REQUIRED IMPORTED_TARGET libssh2)
  set(_edr_ls2_ver "${LIBSSH2_VERSION}")
  target_link_libraries(edr_libssh2 INTERFACE PkgConfig::LIBSSH2)
endif()
message(STATUS "libssh2: ${_edr_ls2} ${_edr_ls2_ver}")
if(_edr_ls2_ver VERSION_LESS 1.11)
  message(STATUS "libssh2 ${_edr_ls2_ver} cannot sign with rsa-sha2: RSA user keys will not "
          "authenticate against OpenSSH 8.8+ (scripts/get-libssh2.sh builds 1.11)")
endif()
