#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for tests/test_slurm.py (needs root).
#
#   .ci/slurm.sh start   install Debian's Slurm + munge if missing, write /etc/slurm/{slurm,gres}.conf,
#                        start munged, slurmctld and slurmd, wait until the node is idle, print sinfo
#   .ci/slurm.sh stop    cancel its jobs and kill the daemons it started (by pid file); safe to repeat
#
# One node named after `hostname -s` (address 127.0.0.1), 2 CPUs, all of its memory and one fake GPU
# (gres `File=/dev/null`), partition `main`, no accounting. Two settings the Snakemake slurm plugin
# needs (shared/reference/snakemake.md §2): the config lives at the default /etc/slurm/slurm.conf
# (its job step drops SLURM_CONF), and MinJobAge=300 lets slurm/config.yaml's
# `slurm-status-command: squeue` stand (it must be >= 3 x slurm-init-seconds-before-status-checks).
set -euo pipefail

STATE=/tmp/neurodiff-slurm          # state, spool, logs and pid files; made anew by every cold start
CONF_DIR=/etc/slurm
PACKAGES=(slurmctld slurmd slurm-client munge)
IDLE_TIMEOUT=30                     # seconds to wait for the node to become idle
DAEMONS=(slurmd slurmctld munged)   # stop order

pid_file() { echo "$STATE/$1.pid"; }

# The pid of a daemon we started, if it is still that program; nothing otherwise.
live_pid() {
    local file pid
    file=$(pid_file "$1")
    [[ -s $file ]] || return 0
    pid=$(<"$file")
    if [[ -r /proc/$pid/comm && $(<"/proc/$pid/comm") == "$1" ]]; then
        echo "$pid"
    fi
}

install_if_missing() {
    if [[ -x /usr/sbin/slurmctld && -x /usr/sbin/slurmd && -x /usr/sbin/munged ]] \
        && command -v sinfo >/dev/null; then
        return 0
    fi
    if ! command -v apt-get >/dev/null; then
        echo "slurm.sh: Slurm is not installed and apt-get is not available" >&2
        return 1
    fi
    echo "slurm.sh: installing ${PACKAGES[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
}

write_config() {
    local node memory
    node=$(hostname -s)
    # What slurmd itself will detect, so that the node is not drained for "low RealMemory".
    memory=$(/usr/sbin/slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
    mkdir -p "$CONF_DIR"
    cat >"$CONF_DIR/slurm.conf" <<EOF
# Written by neurodiff .ci/slurm.sh: a single-node CI cluster.
ClusterName=neurodiff-ci
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$(pid_file slurmctld)
SlurmdPidFile=$(pid_file slurmd)
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
MpiDefault=none
MinJobAge=300
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 RealMemory=$memory Gres=gpu:fake:1 State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
EOF
    cat >"$CONF_DIR/gres.conf" <<EOF
# Written by neurodiff .ci/slurm.sh: a fake GPU; without File= slurmd drops it and drains the node.
NodeName=$node Name=gpu Type=fake File=/dev/null Count=1
EOF
}

start_munged() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged is already serving the default socket: use it, and never stop it
    fi
    mkdir -p /run/munge "$STATE/munge"
    chown munge:munge /run/munge "$STATE/munge"
    runuser -u munge -- /usr/sbin/munged --pid-file="$STATE/munge/munged.pid"
    ln -sf "$STATE/munge/munged.pid" "$(pid_file munged)"
}

wait_until_idle() {
    local node state="" deadline=$((SECONDS + IDLE_TIMEOUT))
    node=$(hostname -s)
    while ((SECONDS < deadline)); do
        state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
        if [[ $state == idle ]]; then return 0; fi
        sleep 0.2
    done
    echo "slurm.sh: node $node not idle after ${IDLE_TIMEOUT}s (state: '${state}')" >&2
    tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

running() {
    [[ -n $(live_pid slurmctld) && -n $(live_pid slurmd) ]]
}

start() {
    [[ $EUID -eq 0 ]] || { echo "slurm.sh: start needs root" >&2; return 1; }
    if ! running; then
        stop
        install_if_missing
        rm -rf "$STATE"
        mkdir -p "$STATE"/{state,spool,log}
        write_config
        start_munged
        /usr/sbin/slurmctld
        /usr/sbin/slurmd
    fi
    wait_until_idle
    sinfo
}

stop() {
    if [[ -n $(live_pid slurmctld) ]]; then
        timeout 5 scancel --user="$(id -un)" 2>/dev/null || true
    fi
    local pids=() pid
    for daemon in "${DAEMONS[@]}"; do
        pid=$(live_pid "$daemon")
        if [[ -n $pid ]]; then
            kill "$pid"
            pids+=("$pid")
        fi
    done
    for ((i = 0; i < 50; i++)); do
        local alive=()
        for pid in "${pids[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive+=("$pid"); fi
        done
        if [[ ${#alive[@]} -eq 0 ]]; then break; fi
        pids=("${alive[@]}")
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    done
    rm -f "$(pid_file slurmd)" "$(pid_file slurmctld)" "$(pid_file munged)"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
