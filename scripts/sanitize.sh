#!/usr/bin/env bash
# Builds and runs the C++ tests under sanitizers:
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, clang: the build
#         scripts/fuzz.sh adds the libFuzzer targets to, see scripts/configure_asan.sh): the unit
#         and API tests (tokenizer, kernels, model, runtime, api, server, hub), every error fatal;
#   tsan  ThreadSanitizer (build-tsan/): the concurrency tests, Embedder called from several
#         threads and a batch run from another's checkpoint, the embedding cache, the adaptive
#         tuner, the server's batch scheduler and its express lane, the transport.
#
#   scripts/sanitize.sh [asan|tsan|all]      (default all; fixtures from scripts/make_test_data.sh)
#
# Tests that measure resident memory or encode thousands of MiniLM texts are left out of the ASan
# run: shadow memory and redzones change the first, and the second take minutes each instrumented
# while exercising no code the smaller API tests do not.
# OpenMP under TSan: Debian's libgomp is not built with TSan, so the barriers of a parallel region
# are invisible to it and every hand-over between a region's threads would look like a race. The
# TSan run sets OMP_THREAD_LIMIT=1: each parallel region (embedrt's and oneDNN's) runs on the
# thread that reaches it, and TSan sees every race between the callers' own threads, which is
# what the concurrency tests are about.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-all}"
case "${mode}" in asan | tsan | all) ;; *) echo "usage: scripts/sanitize.sh [asan|tsan|all]" >&2; exit 2 ;; esac
jobs="$(nproc)"
supp="${PWD}/tests/sanitizers"  # suppressions, each with its reason
started=${SECONDS}

configure_tsan() {  # configure_tsan DIR
  # -O1 -g1: line numbers in every report at about half the compile time of -O2 -g.
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O1 -g1" \
    -DEMBEDRT_BUILD_BENCH=OFF -DEMBEDRT_SANITIZE=thread >/dev/null
}

# run_suite DIR BINARY [GTEST_FILTER]: runs one gtest binary; fails on any test or sanitizer error.
run_suite() {
  local dir="$1" binary="$2" filter="${3:-*}" suite_started=${SECONDS}
  echo "== ${dir}: ${binary} --gtest_filter='${filter}'"
  if ! "${dir}/tests/${binary}" --gtest_filter="${filter}" --gtest_brief=1 >"${dir}/${binary}.log" 2>&1; then
    tail -n 60 "${dir}/${binary}.log"
    echo "sanitize: ${binary} failed under ${dir} (full log: ${dir}/${binary}.log)" >&2
    return 1
  fi
  grep -E "^\[  (PASSED|SKIPPED) " "${dir}/${binary}.log" | head -n 2 | sed 's/^/  /'
  echo "  $((SECONDS - suite_started)) s"
}

# run_suites DIR BINARY FILTER [BINARY FILTER...]: run_suite for each, ${jobs} at a time (most
# suites keep to one core, so one after another left the others idle; the longest goes first),
# then prints their reports in the order given; fails when any failed.
run_suites() {
  local dir="$1" running=0 failed=0 i
  shift
  local -a specs=("$@")
  for ((i = 0; i < ${#specs[@]}; i += 2)); do
    rm -f "${dir}/${specs[i]}.rc"
  done
  for ((i = 0; i < ${#specs[@]}; i += 2)); do
    if ((running >= jobs)); then
      wait -n || true
      running=$((running - 1))
    fi
    (
      set +e
      run_suite "${dir}" "${specs[i]}" "${specs[i + 1]}" >"${dir}/${specs[i]}.report" 2>&1
      echo $? >"${dir}/${specs[i]}.rc"
    ) &
    running=$((running + 1))
  done
  wait
  for ((i = 0; i < ${#specs[@]}; i += 2)); do
    cat "${dir}/${specs[i]}.report"
    [[ "$(cat "${dir}/${specs[i]}.rc" 2>/dev/null)" == 0 ]] || failed=1
  done
  return "${failed}"
}

if [[ "${mode}" == asan || "${mode}" == all ]]; then
  bash scripts/configure_asan.sh build-asan
  cmake --build build-asan -j"${jobs}" --target tokenizer_tests kernels_tests model_tests \
    runtime_tests api_tests server_tests hub_tests
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:suppressions=${supp}/asan.supp"
  export LSAN_OPTIONS="suppressions=${supp}/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # Left out: resident-memory measurements, and the API tests that encode thousands of MiniLM
  # texts (minutes each under ASan) to check what the smaller API tests check on the same code.
  heavy="MemoryModel.*:*StsBenchmark*:Gates/PrecisionGate.*:Pipeline.TokenBudgetAndBatchSize*"
  heavy+=":Pipeline.CacheHitsAreBitIdentical*:Pipeline.ProfileStagesAddUp*:Precisions/BatchInvariance.*"
  run_suites build-asan api_tests "-${heavy}" tokenizer_tests "-${heavy}" kernels_tests "-${heavy}" \
    model_tests "-${heavy}" runtime_tests "-${heavy}" server_tests "-${heavy}" hub_tests "-${heavy}"
  unset ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS
fi

if [[ "${mode}" == tsan || "${mode}" == all ]]; then
  configure_tsan build-tsan
  cmake --build build-tsan -j"${jobs}" --target api_tests runtime_tests server_tests
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4"
  export OMP_THREAD_LIMIT=1
  run_suite build-tsan api_tests \
    "Embedder.Concurrent*:Pipeline.ABatchRunFromACheckpoint*:Pipeline.PrepareAndEmbedBatchMix*"
  run_suite build-tsan runtime_tests "EmbeddingCache.*:AdaptiveTuner.*"
  run_suite build-tsan server_tests "*"
  unset OMP_THREAD_LIMIT
  unset TSAN_OPTIONS
fi
echo "sanitize: ${mode} passed in $((SECONDS - started)) s"
