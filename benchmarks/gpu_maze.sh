#!/usr/bin/env bash
# The small maze trained on one GPU (the maze memory issue: far more env steps than the CPU gives), for whenever
# a GPU is at hand. From the repository root of a checkout, on the GPU machine:
#   bash benchmarks/gpu_maze.sh [out dir, default $OUT or results/gpu_maze] [minutes, default 8] [overrides...]
# e.g. `bash benchmarks/gpu_maze.sh "$OUT" 10` (the preset: gamma 0.95, minibatch 32; BENCHMARKS.md, "Small maze").
# One run of experiment=gpu_maze (its train.py is bounded by `timeout`, so that what it saved always comes
# back), then its last checkpoint on 1000 held-out trials with the memory ablation. Into the out dir, written as
# it goes (the device tool brings back 8 files): log.txt, metrics.jsonl, best.pt and last.pt (about 14 MB each:
# evaluate or resume them elsewhere), eval/evaluation.json and eval/evaluation.md.
# .whl/ as for benchmarks/gpu_check.sh.
set -uo pipefail
out=${1:-${OUT:-results/gpu_maze}}
minutes=${2:-8}
shift $(( $# < 2 ? $# : 2 ))
. benchmarks/gpu_setup.sh  # the log, and the wheels where there is no package index
run_dir=runs/gpu_maze  # git-ignored
rm -rf "$run_dir"
echo "=== train ($(date +%T)): experiment=gpu_maze run.max_minutes=$minutes $*"
# SIGTERM at the limit: the trainer saves last.pt and stops cleanly.
timeout --kill-after=60 "$(python3 -c "print(int(float($minutes) * 60 + 90))")" python3 train.py experiment=gpu_maze run.max_minutes="$minutes" \
    run.progress=false hydra.run.dir="$run_dir" "$@"
for f in metrics.jsonl best.pt last.pt; do cp "$run_dir/$f" "$out/" || echo "no $f"; done
echo "=== evaluate ($(date +%T))"
timeout 300 python3 evaluate.py run="$run_dir" checkpoint=last memory_ablation=true trials=1000 baseline=none \
    out_dir="$out/eval"
echo "=== done ($(date +%T))"
