#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: dependencies, build, reference fixtures
# (generated with sentence-transformers / HF tokenizers in .venv), ctest (unit, parity, the ISA
# matrix, fixture determinism, end-to-end and hostile-client tests), then the sanitizer runs
# (scripts/sanitize.sh) and the fuzzers for a bounded time (scripts/fuzz.sh).
#
#   EMBEDRT_QUICK=1          ctest only (no sanitizer builds, no fuzzing)
#   EMBEDRT_FUZZ_SECONDS=N   seconds per fuzz target (default 30)
# Arguments are passed to ctest (e.g. -R Tokenizer).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBEDRT_BUILD_DIR:-build}"
started=${SECONDS}
stage() { echo "== $1 ($((SECONDS - started)) s so far)"; }

# Every build compiles through ccache (scripts/setup.sh installs it before it configures build/):
# python.test_wheel's `pip wheel .` compiles the library once more in a build folder of its own,
# with the same flags, and takes this build's objects from the cache instead.
export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
bash scripts/setup.sh
bash scripts/make_test_data.sh
# The end-to-end tests run under the reference venv's Python (pytest, numpy).
# The Python package is built too (nanobind comes from the venv) for tests/python.
cmake -S . -B "$build_dir" -DEMBEDRT_TEST_PYTHON="$PWD/.venv/bin/python" -DEMBEDRT_BUILD_PYTHON=ON \
      -DPython_EXECUTABLE="$PWD/.venv/bin/python" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
"$build_dir/embedrt" info
stage "running the tests"
# ctest runs two test processes at a time, each with an OpenMP thread per core. With libgomp's
# default spinning waits, a thread idling at a barrier burns the core the other process needs:
# on the 2-core Xeon this was measured on, the bf16/int8 batch-invariance tests took 102 s beside a
# busy neighbour against 17 s with passive (sleeping) waits, and 5 s alone. Results do not depend
# on the wait policy; users on a shared machine can set the same (README, "Threads").
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
if [[ "${EMBEDRT_QUICK:-0}" != 1 ]]; then
  stage "sanitizers"
  bash scripts/sanitize.sh all
  stage "fuzzers"
  bash scripts/fuzz.sh "${EMBEDRT_FUZZ_SECONDS:-30}"
fi
stage "done"
