#!/usr/bin/env bash
# The small-maze curriculum (BENCHMARKS.md, "A curriculum on maze size") continued on one GPU, several seeds side by
# side: each seed's 3x3-stage checkpoint starts an experiment=gpu_maze run (1024 trials per update, 16x the CPU's)
# through init_from. From the repository root of a checkout, on the GPU machine:
#   bash benchmarks/gpu_maze_curriculum.sh <out dir> <minutes> <init dir> [seeds, default "0 1 2"] [-- overrides...]
# <init dir> holds size3_s<seed>.pt, the last.pt of each seed's 3x3 stage on this CPU:
#   python train.py env=maze env.size=3 algo.gamma=0.95 seed=<s> run.total_env_steps=400000
# or is `none`: the same runs from scratch, the curriculum's control.
# carried to the GPU machine beside .whl/ (benchmarks/gpu_check.sh). Each run stops after <minutes> of wall clock
# (the learning-rate schedule spans them), bounded by `timeout` so that what it saved comes back; each seed's last.pt
# is also copied at half time unless HALF_COPIES=0. Into the out dir: log.txt; runs.tgz (every run without
# checkpoints: config, metrics.jsonl, train.log, console output, nvidia-smi samples); s<seed>_half.pt and
# s<seed>_last.pt, 13.5 MB each. The device tool brings back 8 files and about 60 MB in all: with three seeds, set
# HALF_COPIES=0 (2026-11-27: the third seed's two checkpoints stayed behind). Evaluate them here:
# `python evaluate.py run=<run folder from runs.tgz>/<file.pt> memory_ablation=true trials=1000 baseline=none`.
set -uo pipefail
out=$1 minutes=$2 init=$3 seeds=${4:-0 1 2}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
. benchmarks/gpu_setup.sh  # the log, and the wheels where there is no package index
root=runs/gpu_maze_curriculum  # git-ignored
rm -rf "$root" && mkdir -p "$root"
limit=$(python3 -c "print(int(float($minutes) * 60 + 90))")
half=$(python3 -c "print(int(float($minutes) * 30))")

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 >"$root/nvidia_smi.csv" &
    smi=$!
fi
echo "=== train ($(date +%T)): seeds $seeds, $minutes minutes each, init from $init, overrides: $*"
pids=()
for seed in $seeds; do
    start=$([ "$init" = none ] || echo "init_from=$init/size3_s$seed.pt")
    timeout --kill-after=30 "$limit" python3 train.py experiment=gpu_maze seed="$seed" $start \
        run.max_minutes="$minutes" run.progress=false run.torch_threads=2 hydra.run.dir="$root/s$seed" "$@" \
        >"$root/s$seed.out" 2>&1 &
    pids+=($!)
done
(sleep "$half"; [ "${HALF_COPIES:-1}" = 0 ] && exit
 for seed in $seeds; do cp "$root/s$seed/last.pt" "$out/s${seed}_half.pt" || echo "no s$seed half"; done
 echo "=== half-time copies ($(date +%T))") &
halfway=$!
for i in "${!pids[@]}"; do wait "${pids[$i]}"; echo "=== run $i exit $? ($(date +%T))"; done
wait "$halfway"
[ -n "${smi:-}" ] && kill "$smi"
echo "=== pack ($(date +%T))"
for seed in $seeds; do cp "$root/s$seed/last.pt" "$out/s${seed}_last.pt" || echo "no s$seed/last.pt"; done
tar czf "$out/runs.tgz" -C "$root" --exclude='*.pt' --exclude=tb .
echo "=== done ($(date +%T))"
