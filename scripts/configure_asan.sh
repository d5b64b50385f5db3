#!/usr/bin/env bash
# configure_asan.sh DIR: configures DIR as the clang AddressSanitizer + UndefinedBehaviorSanitizer
# build (every error fatal) in which scripts/sanitize.sh asan runs the C++ suites and
# scripts/fuzz.sh builds the libFuzzer targets: one instrumented build of the library for both.
# -O1 -g1 (OSS-Fuzz's flags): line numbers in every report at about half the compile time of -O2 -g.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/configure_asan.sh DIR}"
# clang, its sanitizer and libFuzzer runtimes, the OpenMP runtime clang links, and what the
# build itself needs (as scripts/setup.sh installs it).
packages=(clang libclang-rt-14-dev libomp-dev cmake ninja-build pkg-config libdnnl-dev
          libutf8proc-dev nlohmann-json3-dev libpcre2-dev libcli11-dev libcpp-httplib-dev
          libgtest-dev libgmock-dev libcurl4-openssl-dev libssl-dev)
bash scripts/install_packages.sh "${packages[@]}"
cmake -S . -B "${dir}" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_FLAGS="-O1 -g1" -DEMBEDRT_FUZZ=ON -DEMBEDRT_BUILD_BENCH=OFF >/dev/null
