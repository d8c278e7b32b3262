#!/bin/bash
# Example SLURM job array: one task per (dataset, trial) = 2 x 10 = 20 tasks, one GPU each.
# Each task runs every row of Tables 2-5 for its dataset and trial; rows share the trained
# Deep RCN of that trial through the cache in $RESULTS (which must be on a shared filesystem).
#
#   sbatch experiments/slurm_array.sh                       # real data, paper profile
#   sbatch --export=ALL,PROFILE=quick experiments/slurm_array.sh
#   # when all tasks are done (or at any time, for the finished part):
#   .venv/bin/python experiments/collect.py --data real --profile paper --results results
#   # or chain it:  jid=$(sbatch --parsable experiments/slurm_array.sh)
#   #               sbatch --dependency=afterany:$jid --wrap ".venv/bin/python experiments/collect.py"
#
# A failed or pre-empted task can simply be resubmitted (sbatch --array=K ...): finished units are
# skipped and an interrupted training resumes from its last checkpoint.
#
#SBATCH --job-name=rcnreid
#SBATCH --array=0-19
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=24:00:00
#SBATCH --output=slurm-rcnreid-%A_%a.out

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"

DATA=${DATA:-real}
PROFILE=${PROFILE:-paper}
READING=${READING:-default}
RESULTS=${RESULTS:-results}
ILIDSVID_H5=${ILIDSVID_H5:-data/ilidsvid.h5}
PRID_H5=${PRID_H5:-data/prid2011.h5}
PY=${PY:-.venv/bin/python}
TASK=${SLURM_ARRAY_TASK_ID:?run this through sbatch (or set SLURM_ARRAY_TASK_ID=0..19)}

DATASETS=(ilidsvid prid2011)
DATASET=${DATASETS[$((TASK / 10))]}
TRIAL=$((TASK % 10))

# One Theano compile cache per task: no lock contention between tasks on a shared home.
export THEANO_FLAGS="${THEANO_FLAGS:+$THEANO_FLAGS,}device=cuda,floatX=float32,base_compiledir=${TMPDIR:-/tmp}/rcnreid-theano-$TASK"

for TABLE in table2 table3 table4 table5; do
    "$PY" experiments/$TABLE.py --data "$DATA" --profile "$PROFILE" --reading "$READING" \
        --trial "$TRIAL" \
        --dataset "$DATASET" --results "$RESULTS" --ilidsvid "$ILIDSVID_H5" --prid "$PRID_H5"
done
