# cmake/aarch64-linux-gnu.cmake - toolchain file for the aarch64 agent:
# Debian's cross compiler (gcc-aarch64-linux-gnu) and the arm64 multiarch
# static libraries (libjansson-dev:arm64, libssl-dev:arm64) under
# /usr/lib/aarch64-linux-gnu.  Used only by cmake/agent-aarch64.cmake's
# sub-build; nothing else includes it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# Libraries and headers of the target only; programs of this machine.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
