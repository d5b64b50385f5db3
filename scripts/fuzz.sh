#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp, clang with AddressSanitizer and
# UndefinedBehaviorSanitizer) in build-asan/, the build scripts/sanitize.sh asan runs the C++
# suites in (scripts/configure_asan.sh), and runs each for SECONDS_PER_TARGET (default 60),
# as many at a time as there are cores. Prints one line per target and exits non-zero when any
# found a crash, a leak, a timeout or an out-of-memory; the inputs that did are under
# build-asan/fuzz-out/artifacts/<target>/ (emptied at the start of each run), the logs under
# build-asan/fuzz-out/logs/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [MODEL_DIR...]
#
# Seeds: tests/fuzz/corpus/<target>/, plus the small files of each MODEL_DIR (by default every
# folder under $EMBEDRT_HOME/models and $EMBEDRT_TEST_DATA/tiny-models that exists): its JSON
# files, and its .safetensors files when under 1 MB, else their header and the first 4 KB of data.
# What the fuzzers add is kept in build-asan/fuzz-out/corpus/<target>/ for the next run.
# Environment: EMBEDRT_FUZZ_BUILD_DIR (build-asan), EMBEDRT_FUZZ_JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
[ $# -gt 0 ] && shift
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [MODEL_DIR...]" >&2
  exit 2
fi
build_dir="${EMBEDRT_FUZZ_BUILD_DIR:-build-asan}"
jobs="${EMBEDRT_FUZZ_JOBS:-$(nproc)}"

echo "== building the fuzz targets in $build_dir"
bash scripts/configure_asan.sh "$build_dir"
cmake --build "$build_dir" -j"$jobs" --target fuzzers

out="$build_dir/fuzz-out"
seeds="$out/seeds"
rm -rf "$seeds" "$out/logs" "$out/tmp" "$out/artifacts"
mkdir -p "$seeds" "$out/logs" "$out/tmp"
targets=()
for binary in "$build_dir"/tests/fuzz/fuzz_*; do
  [ -x "$binary" ] && [ -f "$binary" ] && targets+=("$(basename "$binary")")
done
for t in "${targets[@]}"; do mkdir -p "$seeds/$t" "$out/corpus/$t" "$out/artifacts/$t"; done

# Seeds from model folders.
if [ $# -gt 0 ]; then
  model_dirs=("$@")
else
  model_dirs=()
  home="${EMBEDRT_HOME:-$HOME/.cache/embedrt}"
  test_data="${EMBEDRT_TEST_DATA:-test-data}"
  for d in "$home"/models/*/ "$test_data"/tiny-models/*/; do
    [ -d "$d" ] && model_dirs+=("${d%/}")
  done
fi
small() { [ -f "$1" ] && [ "$(stat -c %s "$1")" -lt "$2" ]; }
config_seed() {  # config_seed SELECTOR FILE NAME: the selector byte (0-6), then the file
  if small "$2" 65536; then
    { printf '%b' "\\00$1"; cat "$2"; } > "$seeds/fuzz_model_config/$3"
  fi
}
n=0
for dir in "${model_dirs[@]}"; do
  [ -d "$dir" ] || { echo "warning: $dir: no such model folder" >&2; continue; }
  n=$((n + 1))
  tag="$n-$(basename "$dir")"
  config_seed 0 "$dir/config.json" "$tag.config.json"
  config_seed 1 "$dir/1_Pooling/config.json" "$tag.pooling.json"
  config_seed 2 "$dir/modules.json" "$tag.modules.json"
  config_seed 3 "$dir/sentence_bert_config.json" "$tag.sentence_bert_config.json"
  config_seed 4 "$dir/config_sentence_transformers.json" "$tag.config_sentence_transformers.json"
  config_seed 5 "$dir/tokenizer_config.json" "$tag.tokenizer_config.json"
  {  # the whole folder: its files in fuzz_model_config's order, separated by NUL bytes
    printf '\x06'
    first=1
    for f in modules.json sentence_bert_config.json config_sentence_transformers.json \
             tokenizer_config.json 1_Pooling/config.json config.json; do
      [ $first -eq 1 ] || printf '\0'
      first=0
      if small "$dir/$f" 65536; then cat "$dir/$f"; fi
    done
  } > "$seeds/fuzz_model_config/$tag.folder"
  if [ -d "$seeds/fuzz_tokenizer_load" ] && small "$dir/tokenizer.json" 65536; then
    cp "$dir/tokenizer.json" "$seeds/fuzz_tokenizer_load/$tag.tokenizer.json"
  fi
  for st in "$dir"/*.safetensors; do
    if [ ! -f "$st" ] || [ ! -d "$seeds/fuzz_safetensors" ]; then continue; fi
    dest="$seeds/fuzz_safetensors/$tag.$(basename "$st")"
    if small "$st" 1048576; then
      cp "$st" "$dest"
    else
      # The 8-byte little-endian header length, then the header and 4 KB of the data section.
      read -r -a bytes <<< "$(od -An -tu1 -N8 "$st")"
      header=0
      for i in 7 6 5 4 3 2 1 0; do header=$((header * 256 + ${bytes[$i]:-0})); done
      if [ "$header" -gt 0 ] && [ "$header" -lt 16777216 ]; then
        head -c $((8 + header + 4096)) "$st" > "$dest"
      fi
    fi
  done
done

run_target() {
  local t="$1" dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  local corpora=("$out/corpus/$t" "$seeds/$t")
  [ -d "tests/fuzz/corpus/$t" ] && corpora+=("tests/fuzz/corpus/$t")
  TMPDIR="$out/tmp" \
  ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
    "$build_dir/tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" "${dict[@]}" "${corpora[@]}" \
    > "$out/logs/$t.log" 2>&1
}

echo "== fuzzing ${#targets[@]} targets for ${seconds}s each, $jobs at a time" \
  "(${#model_dirs[@]} model folders as seeds)"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  (
    set +e
    run_target "$t"
    echo $? > "$out/logs/$t.rc"
  ) &
  running=$((running + 1))
done
wait

failed=0
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  rc="$(cat "$out/logs/$t.rc" 2>/dev/null || echo 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  new_units="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)"
  cov_start="$(sed -n 's/.*INITED cov: \([0-9]*\).*/\1/p' "$log" | head -1)"
  cov_end="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' "$log" | tail -1)"
  if grep -q "ERROR: libFuzzer: timeout" "$log"; then
    result="TIMEOUT"
  elif grep -q "ERROR: LeakSanitizer" "$log"; then
    result="LEAK"
  elif grep -q "ERROR: libFuzzer: out-of-memory" "$log"; then
    result="OUT-OF-MEMORY"
  elif grep -qE "ERROR: (libFuzzer|AddressSanitizer|UndefinedBehaviorSanitizer)|runtime error:" \
    "$log"; then
    result="CRASH"
  elif [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc)"
  else
    result="ok"
  fi
  line="$(printf '%-24s %-8s %10s execs  cov %s (+%s new)  %s new inputs' "$t" "$result" \
    "${execs:-?}" "${cov_end:-?}" "$(( ${cov_end:-0} - ${cov_start:-0} ))" "${new_units:-?}")"
  if [ "$result" != "ok" ]; then
    failed=1
    artifact="$(find "$out/artifacts/$t" -type f | head -1)"
    line+="  input: ${artifact:-none}  log: $log"
  fi
  echo "$line"
done
exit $failed
