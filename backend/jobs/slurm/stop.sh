#!/bin/bash
# Stops only the daemons single-node.sh started, by the PIDs it recorded.
D=${SLURM_DIR:?set SLURM_DIR to a scratch folder}
for f in $D/slurmd.bgpid $D/slurmctld.bgpid $D/munge/munged.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f"); kill "$p" 2>/dev/null && echo "killed $p ($f)"
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
done
