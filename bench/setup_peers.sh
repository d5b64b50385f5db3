#!/usr/bin/env bash
# Creates or updates .venv-peers, the environment of the peer benchmark (bench/bench_peers.py):
# torch, sentence-transformers, ONNX Runtime, OpenVINO (optimum-intel) and NNCF from PyPI, pinned
# in bench/requirements-peers.txt. Kept apart from .venv (the reference tools the tests use),
# whose transformers version optimum-intel does not accept. Idempotent: pip runs only when the
# requirements file changed since the last successful install.
#
#   EMBEDRT_PEERS_VENV  environment folder (default: .venv-peers at the repository root)
#   EMBEDRT_PYTHON      interpreter that creates it (default: python3)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
venv="${EMBEDRT_PEERS_VENV:-${repo_root}/.venv-peers}"
python="${EMBEDRT_PYTHON:-python3}"
requirements="${script_dir}/requirements-peers.txt"
stamp="${venv}/.embedrt-requirements.sha256"

if ! command -v "${python}" >/dev/null 2>&1; then
  echo "setup_peers.sh: interpreter '${python}' not found (set EMBEDRT_PYTHON)" >&2
  exit 1
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  echo "setup_peers.sh: creating ${venv}"
  "${python}" -m venv "${venv}"
fi

wanted="$(sha256sum "${requirements}" | cut -d' ' -f1)"
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${wanted}" ]]; then
  echo "setup_peers.sh: ${venv} is up to date"
  exit 0
fi

echo "setup_peers.sh: installing ${requirements} into ${venv} (torch with its CUDA libraries: several GB)"
"${venv}/bin/python" -m pip install --quiet -r "${requirements}" -c "${requirements}"
"${venv}/bin/python" -m pip check
# Written last, so an interrupted install is retried on the next run.
echo "${wanted}" >"${stamp}"
echo "setup_peers.sh: ${venv} is ready"
