#!/usr/bin/env bash
# Learning check on a CPU: trains MRS and Director (cpu_small preset) on two
# fast DMC proprio tasks with 2 seeds each, plus the random policy, then
# evaluates every final checkpoint on FINAL_EPS fresh episodes and writes
# learning curves, the final scores (plots/final_*.json) and every run's
# curve data (plots/runs.json).
#   STEPS=25000 JOBS=2 OUT=logdir/learning_check bash scripts/learning_check.sh
# STEPS counts agent steps; cpu_small repeats each action twice. JOBS runs
# that many trainings at a time, each with an equal share of the cores.
# RUNS: runs.json files of earlier checks (e.g. other seeds, run elsewhere)
# to plot and score beside this check's runs.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-25000}
OUT=${OUT:-logdir/learning_check}
TASKS=${TASKS:-"dmc_cartpole_swingup dmc_reacher_easy"}
SEEDS=${SEEDS:-"0 1"}
AGENTS=${AGENTS:-"mrs director random"}
JOBS=${JOBS:-1}
FINAL_EPS=${FINAL_EPS:-20}
read -r -a prior_runs <<< "${RUNS:-}"

if [ "$JOBS" -gt 1 ]; then
  threads=$(( $(nproc) / JOBS > 0 ? $(nproc) / JOBS : 1 ))
  export TF_NUM_INTRAOP_THREADS=${TF_NUM_INTRAOP_THREADS:-$threads}
  export TF_NUM_INTEROP_THREADS=${TF_NUM_INTEROP_THREADS:-$threads}
fi

run() {  # task agent-or-preset seed
  local logdir="$OUT/$1/$2/seed$3"
  local agent_flags=(--configs dmc_proprio "$2" cpu_small)
  if [ "$2" = random ]; then
    agent_flags=(--configs dmc_proprio cpu_small --agent random)
  fi
  mkdir -p "$(dirname "$logdir")"
  echo "== $1 $2 seed $3 -> $logdir"
  local start=$SECONDS
  # Training, then the final checkpoint's evaluation (deterministic worker
  # actions, as in training's evaluations, on the evaluation seeds).
  local flags=("${agent_flags[@]}" --task "$1" --seed "$3" --logdir "$logdir")
  { python train.py "${flags[@]}" --run.steps "$STEPS" \
    && python train.py "${flags[@]}" --run.script eval_only \
      --run.eval_eps "$FINAL_EPS"
  } > "$logdir.log" 2>&1 \
    || { echo "FAILED: $1 $2 seed $3, see $logdir.log"
         echo "$logdir" >> "$failures"; return 1; }
  echo "   $1 $2 seed $3 done in $((SECONDS - start)) s"
}

# Seeds of one agent run side by side, longest agent (mrs) first: parallel
# jobs then take about equally long and the slots stay busy.
failures=$(mktemp)
for task in $TASKS; do
  for agent in $AGENTS; do
    for seed in $SEEDS; do
      while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 2; done
      run "$task" "$agent" "$seed" &
    done
  done
done
wait
if [ -s "$failures" ]; then
  echo "Failed runs, no plots:"; cat "$failures"; exit 1
fi

# Final scores: the evaluations of the last 10% of steps, training
# episodes over the last 20%, and the final checkpoint's FINAL_EPS episodes.
plot() {
  python scripts/plot.py "$OUT"/*/*/seed*/ ${prior_runs[@]+"${prior_runs[@]}"} \
    --out "$OUT/plots" --root "$OUT" --label '/(mrs|director|random)/' "$@"
}
plot
plot --metric episode/score --final 0.2
plot --metric eval_only_learned/score
