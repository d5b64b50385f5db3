#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: dependencies, build, reference fixtures
# (generated with sentence-transformers / HF tokenizers in .venv), then ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBEDRT_BUILD_DIR:-build}"

bash scripts/setup.sh
bash scripts/make_test_data.sh
# The end-to-end tests run under the reference venv's Python (pytest, numpy).
cmake -S . -B "$build_dir" -DEMBEDRT_TEST_PYTHON="$PWD/.venv/bin/python" >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
echo "== running the tests"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
