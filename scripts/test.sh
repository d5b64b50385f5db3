#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: dependencies, build, reference fixtures
# (generated with sentence-transformers / HF tokenizers in .venv), then ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBEDRT_BUILD_DIR:-build}"

bash scripts/setup.sh
bash scripts/make_test_data.sh
echo "== running the tests"
ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@"
