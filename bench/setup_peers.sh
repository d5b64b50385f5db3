#!/usr/bin/env bash
# Creates or updates .venv-peers, the environment of the peer benchmark (bench/bench_peers.py):
# torch, sentence-transformers, ONNX Runtime, OpenVINO (optimum-intel) and NNCF from PyPI, pinned
# in bench/requirements-peers.txt. Kept apart from .venv (the reference tools the tests use),
# whose transformers version optimum-intel does not accept. Idempotent, as scripts/setup_python.sh
# which does the work.
#
#   EMBEDRT_PEERS_VENV  environment folder (default: .venv-peers at the repository root)
#   EMBEDRT_PYTHON      interpreter that creates it (default: python3)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
venv="${EMBEDRT_PEERS_VENV:-${repo_root}/.venv-peers}"

EMBEDRT_VENV="${venv}" EMBEDRT_REQUIREMENTS="${script_dir}/requirements-peers.txt" \
  bash "${repo_root}/scripts/setup_python.sh"
"${venv}/bin/python" -m pip check
