#!/bin/bash
# The SLURM batch script of one unit of work (issue 30): `python -m experiments.cluster.submit`
# submits it once per unit with the command to run as its arguments, e.g.
#
#   sbatch --requeue --signal=B:TERM@300 ... experiments/cluster/job.sh \
#       .venv/bin/python -m experiments.unit --unit rcn/deep_rcn --dataset prid2011 --trial 0 ...
#
# SLURM's stop request (the time limit's --signal, pre-emption, scancel --signal=TERM --batch)
# reaches this shell; bash defers a trap while a foreground child runs, so the command runs in
# the background and the trap passes the signal on. The training then writes a checkpoint and
# exits with 75 (experiments.interrupts.INTERRUPTED_EXIT); this script asks SLURM to requeue the
# job, and the requeued job resumes the training bit-exactly. Any other status is the job's.
set -u
export PYTHONUNBUFFERED=1       # the log shows each line as it happens, also after a SIGKILL
echo "[job.sh] job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0} on $(hostname) at $(date -u +%FT%TZ)" \
     "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-} THEANO_FLAGS=${THEANO_FLAGS:-}: $*"

child=""
pending=""
forward() { if [ -n "$child" ]; then kill -s "$1" "$child" 2>/dev/null; else pending=$1; fi; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward USR1' USR1
"$@" &
child=$!
if [ -n "$pending" ]; then forward "$pending"; fi     # a signal that came before the child

# `wait` returns early (status > 128) when a trapped signal arrives: wait until the child is gone,
# then once more for its own exit status (bash keeps it).
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
done
wait "$child"
status=$?
echo "[job.sh] exit status $status at $(date -u +%FT%TZ)"

if [ "$status" -eq 75 ] && [ -n "${SLURM_JOB_ID:-}" ]; then
    if timeout 60 scontrol requeue "$SLURM_JOB_ID"; then
        echo "[job.sh] interrupted after a checkpoint: requeued job $SLURM_JOB_ID"
        sleep 60 >/dev/null 2>&1 &     # SLURM ends this shell as it requeues the job
        sleeper=$!
        wait "$sleeper"
        kill "$sleeper" 2>/dev/null
        exit 0
    fi
    echo "[job.sh] scontrol requeue failed: resubmit (finished units are skipped)" >&2
fi
exit "$status"
