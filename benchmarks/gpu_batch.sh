#!/usr/bin/env bash
# One device call's worth of training, five runs side by side on one GPU (its 16 cores step the envs):
#   - the small maze (the maze memory issue), experiment=gpu_maze with gamma 0.95 (the lead of the CPU runs),
#     with minibatch 128 (16 optimizer steps per update, the preset when this ran) and minibatch 32 (64 steps,
#     the preset since);
#   - the bandit's N=500 cells, K in {5, 10, 50} (the papers' table), SNAIL with experiment=gpu_bandit at 1024
#     trials per update, minibatch 128 (its measured 1024/128 point), fp32, up to the paper_bandit budget of
#     100,000 trials (50 M env steps).
# Each run stops after `minutes` of wall clock (the learning-rate schedule spans it) or its env-step budget, and
# is bounded by `timeout`, so that what it saved always comes back. From the repository root, on the GPU machine:
#   bash benchmarks/gpu_batch.sh [out dir, default $OUT or results/gpu_batch] [minutes, default 6.5] [overrides...]
# The overrides go to every run (a smoke test on a CPU: `... /tmp/gpu_batch 0.2 device=cpu algo.num_envs=8
# algo.minibatch_trials=4 run.eval_trials=8`). Into the out dir (the device tool brings back 8 files): log.txt;
# maze.tgz (both maze runs without checkpoints, every run's console output, nvidia-smi samples); the maze runs'
# last.pt; one bandit_n500_k<K>.tgz per cell (the run with last.pt, and its best.pt scored on 1000 held-out
# trials in eval_best/). Evaluate them elsewhere: `python evaluate.py run=<unpacked run> ...`.
# Measured on an H200 (2026-11-27, BENCHMARKS.md): the five runs keep the GPU at 100% and slow each other (the
# maze's rollout took 5.5 s per update against 1.5 s alone), so each got ~50 updates in 6.5 minutes.
# .whl/ as for benchmarks/gpu_check.sh.
set -uo pipefail
out=${1:-${OUT:-results/gpu_batch}}
minutes=${2:-6.5}
shift $(( $# < 2 ? $# : 2 ))
. benchmarks/gpu_setup.sh  # the log, and the wheels where there is no package index
root=runs/gpu_batch  # git-ignored
rm -rf "$root" && mkdir -p "$root"
limit=$(python3 -c "print(int(float($minutes) * 60 + 90))")

train() {  # train <name> <overrides...>: one bounded run into $root/<name>; SIGTERM at the limit saves last.pt
    local name=$1; shift
    timeout --kill-after=30 "$limit" python3 train.py run.max_minutes="$minutes" run.progress=false \
        run.torch_threads=2 hydra.run.dir="$root/$name" "$@" >"$root/$name.out" 2>&1
    echo "=== $name exit $? ($(date +%T))"
}

if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 >"$root/nvidia_smi.csv" &
    smi=$!
fi
echo "=== train ($(date +%T)): $minutes minutes each, overrides: $*"
pids=()
train maze_gamma095 experiment=gpu_maze algo.gamma=0.95 algo.minibatch_trials=128 run.eval_every=10 "$@" & pids+=($!)
train maze_gamma095_mb32 experiment=gpu_maze algo.gamma=0.95 algo.minibatch_trials=32 run.eval_every=10 "$@" & pids+=($!)
for arms in 5 10 50; do
    train bandit_n500_k$arms experiment=gpu_bandit env.pulls=500 env.arms=$arms algo.num_envs=1024 \
        algo.minibatch_trials=128 algo.precision=fp32 run.total_env_steps=50000000 "$@" & pids+=($!)
done
wait "${pids[@]}"
[ -n "${smi:-}" ] && kill "$smi"

echo "=== pack ($(date +%T))"
for name in maze_gamma095 maze_gamma095_mb32; do
    cp "$root/$name/last.pt" "$out/${name}_last.pt" || echo "no $name/last.pt"
done
tar czf "$out/maze.tgz" -C "$root" --exclude='*.pt' --exclude=tb maze_gamma095 maze_gamma095_mb32 \
    $(cd "$root" && ls *.out *.csv 2>/dev/null)
# A bandit run with both checkpoints is 22 MB, over the 16 MiB a file may have: best.pt is scored here and left.
for arms in 5 10 50; do
    timeout 120 python3 evaluate.py run="$root/bandit_n500_k$arms" checkpoint=best baseline=none trials=1000 \
        out_dir="$root/bandit_n500_k$arms/eval_best" >>"$root/bandit_n500_k$arms.out" 2>&1 || echo "no eval k$arms"
    tar czf "$out/bandit_n500_k$arms.tgz" -C "$root" --exclude=tb --exclude=best.pt "bandit_n500_k$arms"
done
ls -la "$out"
echo "=== done ($(date +%T))"
