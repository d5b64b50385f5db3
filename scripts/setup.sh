#!/usr/bin/env bash
# Installs the build dependencies (Debian packages), builds embedrt into build/ and fetches the
# default model (all-MiniLM-L6-v2) into $EMBEDRT_HOME/models (default ~/.cache/embedrt).
# Safe to run again: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential cmake ninja-build pkg-config libdnnl-dev libutf8proc-dev
          nlohmann-json3-dev libpcre2-dev libcli11-dev libcpp-httplib-dev libgtest-dev
          libgmock-dev libbenchmark-dev libcurl4-openssl-dev libssl-dev python3 python3-dev
          python3-venv python3-pip unzip ccache)
bash scripts/install_packages.sh "${packages[@]}"

build_dir="${EMBEDRT_BUILD_DIR:-build}"
echo "== building embedrt in $build_dir"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

echo "== fetching the default model"
python3 scripts/fetch_model.py all-MiniLM-L6-v2
