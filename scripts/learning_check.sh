#!/usr/bin/env bash
# Learning check on a CPU: trains MRS and Director (cpu_small preset) on two
# fast DMC proprio tasks with 2 seeds each, plus the random policy, then
# writes learning curves and the final scores (plots/final_*.json).
#   STEPS=15000 OUT=logdir/learning_check bash scripts/learning_check.sh
# STEPS counts agent steps; cpu_small repeats each action twice.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-15000}
OUT=${OUT:-logdir/learning_check}
TASKS=${TASKS:-"dmc_cartpole_swingup dmc_reacher_easy"}
SEEDS=${SEEDS:-"0 1"}

run() {  # task agent-or-preset seed
  local logdir="$OUT/$1/$2/seed$3"
  local agent_flags=(--configs dmc_proprio cpu_small "$2")
  if [ "$2" = random ]; then agent_flags=(--configs dmc_proprio cpu_small --agent random); fi
  echo "== $1 $2 seed $3 -> $logdir"
  local start=$SECONDS
  python train.py "${agent_flags[@]}" --task "$1" --seed "$3" \
    --run.steps "$STEPS" --logdir "$logdir" > "$logdir.log" 2>&1 \
    || { echo "FAILED: see $logdir.log"; return 1; }
  echo "   done in $((SECONDS - start)) s"
}

for task in $TASKS; do
  mkdir -p "$OUT/$task/mrs" "$OUT/$task/director" "$OUT/$task/random"
  for seed in $SEEDS; do
    run "$task" mrs "$seed"
    run "$task" director "$seed"
  done
  run "$task" random 0
done

# Final scores: the last evaluation (2 episodes at the end), and training
# episodes over the last 20% of steps.
python scripts/plot.py "$OUT"/*/*/seed*/ --out "$OUT/plots" \
  --label '/(mrs|director|random)/'
python scripts/plot.py "$OUT"/*/*/seed*/ --out "$OUT/plots" \
  --label '/(mrs|director|random)/' --metric episode/score --final 0.2
