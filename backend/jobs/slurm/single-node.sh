#!/bin/bash
# Brings up a single-node Slurm cluster (Debian's slurmctld, slurmd, slurm-client, munge) without
# systemd, cgroups or slurmdbd, for the tests of the Slurm executor: make test then runs them against it.
# Everything lives under $SLURM_DIR; clients need SLURM_CONF=$SLURM_DIR/etc/slurm.conf. Needs root (apt-get,
# munge's user). stop.sh stops exactly the daemons this started, by PID.
set -euo pipefail
D=${SLURM_DIR:?set SLURM_DIR to a scratch folder}
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s%N); ms() { echo $(( ($(date +%s%N)-t0)/1000000 ))ms; }

# 1. packages (~3.3 MB download). Add slurm-wlm-jwt-plugin slurmrestd for REST/JWT.
command -v slurmctld >/dev/null || { apt-get update -qq; apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null; }
echo "packages ready $(ms)"

# 2. munge: own key + socket under $D (socket dir must be o+x, key 0600 munge-owned)
mkdir -p $D/munge $D/etc $D/state $D/spool $D/log $D/jobs
chmod 755 $D   # munge must reach its key and socket (mktemp -d makes 0700 folders)
chown munge:munge $D/munge; chmod 755 $D/munge
[ -f $D/munge/munge.key ] || runuser -u munge -- mungekey -c -k $D/munge/munge.key
runuser -u munge -- munged --key-file=$D/munge/munge.key --socket=$D/munge/munge.socket.2 \
  --pid-file=$D/munge/munged.pid --log-file=$D/munge/munged.log --seed-file=$D/munge/munged.seed

# 3. slurm.conf (node line from slurmd -C so it always matches the hardware)
H=$(hostname -s)
MEM=$(( $(free -m | awk '/^Mem:/{print $2}') * 9 / 10 ))
NODE=$(slurmd -C | head -1 | sed -E "s/RealMemory=[0-9]+/RealMemory=$MEM/")
cat > $D/etc/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/state/slurmctld.pid
SlurmdPidFile=$D/spool/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/log/jobcomp.txt
MailProg=/bin/true
ReturnToService=2
MinJobAge=300
KillWait=5
$NODE NodeAddr=127.0.0.1
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$D/etc/slurm.conf

# 4. daemons in foreground mode, backgrounded; PIDs recorded for the stop step
setsid slurmctld -D -i >$D/log/slurmctld.out 2>&1 </dev/null & echo $! >$D/slurmctld.bgpid
setsid slurmd -D >$D/log/slurmd.out 2>&1 </dev/null & echo $! >$D/slurmd.bgpid
for i in $(seq 1 120); do sinfo -h -o %T 2>/dev/null | grep -q '^idle' && break; sleep 0.25; done
sinfo -h -o %T | grep -q '^idle' || { echo "slurm did not come up"; tail -20 $D/log/*.log; exit 1; }
echo "slurm idle $(ms)"
