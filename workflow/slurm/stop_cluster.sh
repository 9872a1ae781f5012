#!/usr/bin/env bash
# Stop the single-node SLURM cluster started by start_cluster.sh (slurmd, slurmctld, munged).
# Idempotent: daemons that are not running are skipped. Job state in
# /var/lib/slurm/slurmctld is kept, so a later start sees the old (finished) jobs.
# Usage: stop_cluster.sh [--keep-munge]
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "stop_cluster: needs root" >&2; exit 3; }
keep_munge=0
[ "${1:-}" = "--keep-munge" ] && keep_munge=1

stop_daemon() {  # stop_daemon PIDFILE NAME: SIGTERM, wait up to 10 s, then SIGKILL
    local pid
    pid="$(cat "$1" 2>/dev/null)" || { echo "stop_cluster: $2 not running"; return 0; }
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null \
        || [ "$(cat "/proc/$pid/comm" 2>/dev/null)" != "$2" ]; then
        echo "stop_cluster: $2 not running"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || { echo "stop_cluster: stopped $2 ($pid)"; return 0; }
        sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
    echo "stop_cluster: killed $2 ($pid) after 10 s"
}

stop_daemon /run/slurm/slurmd.pid slurmd
stop_daemon /run/slurm/slurmctld.pid slurmctld
[ "$keep_munge" -eq 1 ] || stop_daemon /run/munge/munged.pid munged
