#!/usr/bin/env bash
# Creates or updates .venv-peers, the environment of the peer benchmark (bench/bench_peers.py):
# torch, sentence-transformers, ONNX Runtime, OpenVINO (optimum-intel), NNCF and llama-cpp-python
# (bench/bench_decoder.py) from PyPI, pinned in bench/requirements-peers.txt. Kept apart from .venv (the reference tools the tests use),
# whose transformers version optimum-intel does not accept. Idempotent, as scripts/setup_python.sh
# which does the work.
#
#   EMBEDRT_PEERS_VENV  environment folder (default: .venv-peers at the repository root)
#   EMBEDRT_PYTHON      interpreter that creates it (default: python3)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
venv="${EMBEDRT_PEERS_VENV:-${repo_root}/.venv-peers}"

# llama-cpp-python (bench/bench_decoder.py) has no CPU wheel on PyPI: pip builds its vendored
# llama.cpp with CMake, CPU only (several minutes on two cores).
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
EMBEDRT_VENV="${venv}" EMBEDRT_REQUIREMENTS="${script_dir}/requirements-peers.txt" \
  bash "${repo_root}/scripts/setup_python.sh"
"${venv}/bin/python" -m pip check
