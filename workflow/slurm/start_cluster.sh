#!/usr/bin/env bash
# Start a real single-node SLURM cluster (slurmctld + slurmd + munged) on this machine.
#
# Idempotent: a cluster that is already up with the same config is left alone; a changed
# config restarts the daemons. Installs Debian's slurm-wlm and munge when missing.
# Exit codes: 0 cluster up and a test job ran; 3 this machine cannot host it (not root, no
# apt-get, ...: one line on stderr says why); 1 it should have worked but did not.
#
# Environment overrides: HMASD_SLURM_CPUS (default: nproc), HMASD_SLURM_MEM_MB (default:
# total memory minus max(512 MB, 10%)), HMASD_SLURM_TIMEOUT (seconds to wait, default 60).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$HERE/slurm.conf.template"
CONF=/etc/slurm/slurm.conf
TIMEOUT="${HMASD_SLURM_TIMEOUT:-60}"

say() { echo "start_cluster: $*"; }
# Environment cannot host a cluster: the caller (tests) skips on exit 3.
unsupported() { echo "start_cluster: cannot start SLURM here: $*" >&2; exit 3; }
fail() {
    echo "start_cluster: FAILED: $*" >&2
    for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log; do
        [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 5 "$f" >&2; }
    done
    exit 1
}

[ "$(id -u)" -eq 0 ] || unsupported "needs root (installs packages, starts daemons)"
[ -f "$TEMPLATE" ] || fail "missing $TEMPLATE"

# One start at a time: parallel test sessions may call this concurrently.
exec 9>/run/hmasd-slurm-start.lock
if command -v flock >/dev/null; then
    flock -w 300 9 || fail "another start_cluster.sh held /run/hmasd-slurm-start.lock for 300s"
fi

# --- packages -----------------------------------------------------------------------
need_pkgs=()
for bin in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${bin%%:*}" >/dev/null || need_pkgs+=("${bin##*:}")
done
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || unsupported "slurm/munge missing and no apt-get to install them"
    say "installing slurm-wlm munge (missing: ${need_pkgs[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || unsupported "apt-get update failed (no network?)"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 \
        || unsupported "apt-get install slurm-wlm munge failed"
fi
id slurm >/dev/null 2>&1 || fail "user 'slurm' missing after install"
id munge >/dev/null 2>&1 || fail "user 'munge' missing after install"

# --- munge --------------------------------------------------------------------------
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
    say "creating munge key"
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    say "starting munged"
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged 9>&- || fail "munged did not start (see /var/log/munge)"
    for _ in $(seq 50); do munge_ok && break; sleep 0.2; done
    munge_ok || fail "munged started but munge -n | unmunge fails"
fi

# --- slurm.conf -----------------------------------------------------------------------
node="$(hostname -s)"
[ -n "$node" ] || fail "hostname -s is empty"
cpus="${HMASD_SLURM_CPUS:-$(nproc)}"
total_mb="$(free -m | awk '/^Mem:/ {print $2}')"
margin=$(( total_mb / 10 > 512 ? total_mb / 10 : 512 ))
mem_mb="${HMASD_SLURM_MEM_MB:-$(( total_mb - margin ))}"
[ "$mem_mb" -gt 0 ] || fail "computed RealMemory=$mem_mb MB from free -m ($total_mb MB)"

mkdir -p /etc/slurm /run/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
chown slurm:slurm /run/slurm /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm
new_conf="$(sed -e "s/@NODE@/$node/g" -e "s/@CPUS@/$cpus/g" -e "s/@MEM_MB@/$mem_mb/g" "$TEMPLATE")"
conf_changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$new_conf" ]; then
    printf '%s\n' "$new_conf" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    conf_changed=1
    say "wrote $CONF (node $node, CPUs=$cpus, RealMemory=$mem_mb MB)"
fi
# No cgroup.conf: with proctrack/linuxproc and task/none, 22.05 never loads a cgroup plugin.

# --- daemons --------------------------------------------------------------------------
running() {  # running PIDFILE NAME: the pid in PIDFILE is alive and is NAME
    local pid
    pid="$(cat "$1" 2>/dev/null)" || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}
stop_daemon() {  # stop_daemon PIDFILE NAME
    local pid
    running "$1" "$2" || return 0
    pid="$(cat "$1")"
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
}
if [ "$conf_changed" -eq 1 ]; then
    stop_daemon /run/slurm/slurmd.pid slurmd
    stop_daemon /run/slurm/slurmctld.pid slurmctld
fi
t0=$(date +%s)
if ! running /run/slurm/slurmctld.pid slurmctld; then
    say "starting slurmctld"
    # 9>&-: a daemon must not inherit (and hold forever) the start lock.
    slurmctld 9>&- || fail "slurmctld did not start"
fi
if ! running /run/slurm/slurmd.pid slurmd; then
    say "starting slurmd"
    slurmd 9>&- || fail "slurmd did not start"
fi

# --- wait for the node ----------------------------------------------------------------
state=""
while :; do
    state="$(sinfo -h -n "$node" -o '%T' 2>/dev/null | head -n1 || true)"
    case "$state" in
        idle|mixed|allocated|completing) break ;;
        down*|drain*|fail*)
            # A restart can leave the node down with an old reason; give it back.
            scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    [ $(( $(date +%s) - t0 )) -lt "$TIMEOUT" ] || fail "node $node not idle after ${TIMEOUT}s (state: '${state:-no answer}')"
    sleep 1
done
say "node $node is $state after $(( $(date +%s) - t0 ))s"

# --- smoke test: a real batch job -----------------------------------------------------
out="$(timeout 60 sbatch --parsable --wait -p debug -t 1 --mem 50 -o /dev/null \
        --job-name hmasd-smoke --wrap 'hostname' 2>&1)" \
    || fail "smoke job (sbatch --wait --wrap hostname) did not succeed: $out"
say "cluster up: smoke job $out ran; slurm $(sinfo -V | awk '{print $2}')"
