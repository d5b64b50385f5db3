#!/usr/bin/env bash
# Creates or updates the Python environment with the reference tools
# (scripts/requirements-reference.txt). Idempotent: pip runs only when the requirements file
# changed since the last successful install, recorded by a stamp inside the environment.
#
#   EMBEDRT_VENV          environment folder (default: .venv at the repository root)
#   EMBEDRT_PYTHON        interpreter that creates it (default: python3)
#   EMBEDRT_REQUIREMENTS  pinned requirements file (default: scripts/requirements-reference.txt);
#                         also used as constraints, so no transitive dependency floats
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"
venv="${EMBEDRT_VENV:-${repo_root}/.venv}"
python="${EMBEDRT_PYTHON:-python3}"
requirements="${EMBEDRT_REQUIREMENTS:-${script_dir}/requirements-reference.txt}"
stamp="${venv}/.embedrt-requirements.sha256"

if ! command -v "${python}" >/dev/null 2>&1; then
  echo "setup_python.sh: interpreter '${python}' not found (set EMBEDRT_PYTHON)" >&2
  exit 1
fi

if [[ ! -x "${venv}/bin/python" ]]; then
  echo "setup_python.sh: creating ${venv}"
  "${python}" -m venv "${venv}"
fi

wanted="$(sha256sum "${requirements}" | cut -d' ' -f1)"
if [[ -f "${stamp}" && "$(cat "${stamp}")" == "${wanted}" ]]; then
  echo "setup_python.sh: ${venv} is up to date"
  exit 0
fi

echo "setup_python.sh: installing ${requirements} into ${venv}"
"${venv}/bin/python" -m pip install --quiet -r "${requirements}" -c "${requirements}"
# Written last, so an interrupted install is retried on the next run.
echo "${wanted}" >"${stamp}"
echo "setup_python.sh: ${venv} is ready"
