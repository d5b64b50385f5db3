#!/usr/bin/env bash
# run_at_isa.sh LEVEL COMMAND...: runs COMMAND with EMBEDRT_ISA=LEVEL (scalar or avx2), so the
# kernels, and oneDNN through the cap embedrt puts on it, take the paths a CPU of that level takes.
# Exits 77 (skipped) when LEVEL is not below this CPU's own level: above it cannot run, and the
# CPU's own level is what the rest of the suite runs. EMBEDRT_CLI names the embedrt binary.
set -euo pipefail
level="$1"
shift
rank() { case "$1" in scalar) echo 0 ;; avx2) echo 1 ;; avx512) echo 2 ;; *) echo "run_at_isa: unknown level '$1'" >&2; exit 2 ;; esac; }
cpu="$(env -u EMBEDRT_ISA "${EMBEDRT_CLI}" info | sed -n 's/^isa .*(CPU: \([a-z0-9]*\);.*/\1/p')"
if [[ -z "${cpu}" ]]; then
  echo "run_at_isa: could not read the CPU's level from '${EMBEDRT_CLI} info'" >&2
  exit 1
fi
if (( $(rank "${level}") >= $(rank "${cpu}") )); then
  echo "skipped: this CPU's level is ${cpu}; the ISA matrix runs the levels below it"
  exit 77
fi
export EMBEDRT_ISA="${level}"
echo "EMBEDRT_ISA=${level} (CPU: ${cpu}): $*"
exec "$@"
