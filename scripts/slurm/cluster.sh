#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, from Debian packages, for testing the Slurm profile.
#
#   sudo scripts/slurm/cluster.sh start     # install slurm-wlm + munge if missing, start the daemons
#   export SLURM_CONF=/tmp/drct-slurm/slurm.conf   # (printed by start) for sbatch, squeue, snakemake
#   scripts/slurm/cluster.sh status
#   sudo scripts/slurm/cluster.sh stop      # stop the daemons, delete the run folder
#
# Why a run folder: nothing of the machine's own Slurm or munge setup is touched. The config, munge
# key and socket, state, spool, logs and pid files all live in $DRCT_SLURM_DIR (default
# /tmp/drct-slurm); clients find the cluster through SLURM_CONF, so an /etc/slurm/slurm.conf (or a
# real cluster) on the same machine is left alone. One thing lies outside: the link
# /run/slurm/conf/slurm.conf -> the run folder's slurm.conf, which `stop` removes (see NODE_CONF).
# `start` refuses to run where /etc/slurm/slurm.conf exists. The daemons run as root
# (SlurmUser=root), so `start` and `stop` need root.
#
# What the cluster is: one node named after this host with the CPUs and memory it has (nproc, free),
# one partition, select/cons_tres with cores and memory as consumable resources, no accounting
# (so `sacct` does not work: the Snakemake profile queries job states with `squeue`), and no cgroups
# (proctrack/linuxproc, task/none), which is what a container without systemd allows.
# Ports: DRCT_SLURMCTLD_PORT (default 6817) and DRCT_SLURMD_PORT (default 6818).
set -euo pipefail

RUN_DIR=${DRCT_SLURM_DIR:-/tmp/drct-slurm}
CTLD_PORT=${DRCT_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${DRCT_SLURMD_PORT:-6818}
CONF=$RUN_DIR/slurm.conf
MUNGE_SOCKET=$RUN_DIR/munge/munge.socket
PARTITION=debug
# Where Slurm clients look for the config when SLURM_CONF is unset and /etc/slurm/slurm.conf is
# absent (the cache of a "configless" slurmd). srun inside a job needs it: the Snakemake job step
# removes every SLURM_* variable, SLURM_CONF included, before it calls srun.
NODE_CONF=/run/slurm/conf/slurm.conf
NODE=$(hostname -s)

die() { echo "cluster.sh: $*" >&2; exit 1; }

install_packages() {
    # Debian: slurmctld, slurmd and the client commands come with slurm-wlm; munge signs their messages
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
        && command -v sbatch >/dev/null; then
        return
    fi
    command -v apt-get >/dev/null || die "slurmctld/slurmd/munged are missing and there is no apt-get to install them"
    [ "$(id -u)" = 0 ] || die "slurmctld/slurmd/munged are missing; installing them needs root"
    echo "installing slurm-wlm and munge with apt-get" >&2
    # policy-rc.d-style containers refuse to start services at install: that is what we want,
    # the daemons are started below with our own config
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >&2 \
        || { DEBIAN_FRONTEND=noninteractive apt-get update >&2 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge >&2; } \
        || die "apt-get could not install slurm-wlm munge"
}

write_config() {
    local cpus mem_mb
    cpus=$(nproc)
    # leave 10 % (at least 512 MB) of the memory to the system and the daemons
    mem_mb=$(free -m | awk '/^Mem:/ {print $2}')
    mem_mb=$(( mem_mb - (mem_mb / 10 > 512 ? mem_mb / 10 : 512) ))
    cat > "$CONF" <<EOF
# written by scripts/slurm/cluster.sh: a single-node test cluster; everything under $RUN_DIR
ClusterName=drct-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$RUN_DIR/state
SlurmdSpoolDir=$RUN_DIR/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$RUN_DIR/log/slurmctld.log
SlurmdLogFile=$RUN_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container without systemd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no accounting: sacct answers "accounting storage is disabled"; job states come from squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# finished jobs stay visible to squeue for 5 min (the Snakemake plugin needs >= 120 s to trust squeue)
MinJobAge=300
SlurmctldTimeout=60
SlurmdTimeout=60
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
    [ "$(id -u)" = 0 ] || die "start needs root (the daemons run as SlurmUser=root)"
    if pid_alive "$RUN_DIR/slurmctld.pid" || pid_alive "$RUN_DIR/slurmd.pid" || pid_alive "$RUN_DIR/munge/munged.pid"; then
        die "a cluster is already running from $RUN_DIR (run: $0 stop)"
    fi
    install_packages
    if [ -e /etc/slurm/slurm.conf ]; then
        die "/etc/slurm/slurm.conf exists: srun inside a job would read it instead of this cluster's config"
    fi
    # a link left by a cluster that was killed without `stop`
    if [ -L "$NODE_CONF" ] && [ ! -e "$NODE_CONF" ]; then rm -f "$NODE_CONF"; fi
    if [ -e "$NODE_CONF" ]; then
        die "$NODE_CONF exists (another Slurm on this machine?): not replacing it"
    fi
    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR"/{state,spool/slurmd,log,munge}
    chmod 0755 "$RUN_DIR"
    chmod 0700 "$RUN_DIR/munge"
    write_config
    mkdir -p "$(dirname "$NODE_CONF")"
    ln -s "$CONF" "$NODE_CONF"

    # munge: a key of our own, so the machine's /etc/munge is not needed or changed
    mungekey --create --keyfile="$RUN_DIR/munge/munge.key" --force
    chmod 0400 "$RUN_DIR/munge/munge.key"
    munged --force --socket="$MUNGE_SOCKET" --key-file="$RUN_DIR/munge/munge.key" \
        --pid-file="$RUN_DIR/munge/munged.pid" --log-file="$RUN_DIR/log/munged.log" \
        --seed-file="$RUN_DIR/munge/munged.seed" \
        || die "munged did not start: $(tail -5 "$RUN_DIR/log/munged.log" 2>/dev/null)"

    export SLURM_CONF=$CONF
    slurmctld -f "$CONF" || die "slurmctld did not start: $(tail -20 "$RUN_DIR/log/slurmctld.log" 2>/dev/null)"
    slurmd -f "$CONF" || die "slurmd did not start: $(tail -20 "$RUN_DIR/log/slurmd.log" 2>/dev/null)"

    # ready when the node is idle in the partition
    local state=""
    for _ in $(seq 1 60); do
        state=$(sinfo --noheader --partition "$PARTITION" --format '%T' 2>/dev/null | head -1 || true)
        [ "$state" = idle ] && break
        sleep 1
    done
    if [ "$state" != idle ]; then
        echo "--- slurmctld.log" >&2; tail -20 "$RUN_DIR/log/slurmctld.log" >&2 || true
        echo "--- slurmd.log" >&2; tail -20 "$RUN_DIR/log/slurmd.log" >&2 || true
        die "node $NODE not idle after 60 s (state: '${state:-no answer}')"
    fi
    echo "export SLURM_CONF=$CONF"
}

stop_daemon() {
    # the daemon named by a pid file: TERM, then KILL after 10 s
    local pidfile=$1 pid
    pid_alive "$pidfile" || return 0
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
}

stop() {
    [ -d "$RUN_DIR" ] || return 0
    if pid_alive "$RUN_DIR/slurmctld.pid"; then
        SLURM_CONF=$CONF scancel --quiet --partition "$PARTITION" 2>/dev/null || true
    fi
    stop_daemon "$RUN_DIR/slurmd.pid"
    stop_daemon "$RUN_DIR/slurmctld.pid"
    stop_daemon "$RUN_DIR/munge/munged.pid"
    # the link made by start, only if it is ours
    if [ -L "$NODE_CONF" ] && [ "$(readlink "$NODE_CONF")" = "$CONF" ]; then
        rm -f "$NODE_CONF"
        rmdir "$(dirname "$NODE_CONF")" "$(dirname "$(dirname "$NODE_CONF")")" 2>/dev/null || true
    fi
    rm -rf "$RUN_DIR"
}

status() {
    [ -f "$CONF" ] || { echo "no cluster in $RUN_DIR"; return 1; }
    local name ok=0
    for name in munge/munged slurmctld slurmd; do
        if pid_alive "$RUN_DIR/$name.pid"; then echo "${name#munge/}: running (pid $(cat "$RUN_DIR/$name.pid"))"
        else echo "${name#munge/}: not running"; ok=1; fi
    done
    SLURM_CONF=$CONF sinfo --partition "$PARTITION" || ok=1
    echo "export SLURM_CONF=$CONF"
    return $ok
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status   (run folder: \$DRCT_SLURM_DIR, default /tmp/drct-slurm)" >&2; exit 2 ;;
esac
