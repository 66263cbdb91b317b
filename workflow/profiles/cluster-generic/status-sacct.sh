#!/usr/bin/env bash
# Job status for snakemake-executor-plugin-cluster-generic: prints running, success or failed.
# Usage: status-sacct.sh JOBID   (JOBID as printed by `sbatch --parsable`: "id" or "id;cluster")
set -euo pipefail
job="${1%%;*}"
state="$(sacct --jobs "$job" --allocations --noheader --parsable2 --format=State | head -n 1)"
case "${state%% *}" in  # "CANCELLED by 123" -> CANCELLED
  COMPLETED) echo success ;;
  "" | PENDING | CONFIGURING | RUNNING | COMPLETING | REQUEUED | RESIZING | SUSPENDED) echo running ;;
  *) echo failed ;;     # FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE
esac
