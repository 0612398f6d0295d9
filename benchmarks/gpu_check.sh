#!/usr/bin/env bash
# Every GPU figure of the scaling issue in one go (about 8 minutes on one H100/H200), for whenever a GPU is at
# hand. From the repository root of a checkout, on the GPU machine:
#   bash benchmarks/gpu_check.sh [out dir, default $OUT or results/gpu_check] [training minutes, default 3]
# On a machine that cannot reach a package index, first run benchmarks/gpu_wheels.sh where pip works and bring
# .whl/ along (it is git-ignored: the device tool needs `carry: [".whl"]`): the wheels go into /tmp/site.
# Each step goes on when an earlier one fails. Into the out dir (6 files; the device tool brings back 8):
# log.txt (everything printed), speed_bandit.json, speed_bandit_large.json, speed_maze.json,
# bandit_metrics.jsonl and bandit_summary.json (time to the targets, then the held-out evaluation).
#   1. the machine (nvidia-smi, torch, the GPU)
#   2. the CUDA tests (captured step == eager step, a CUDA-graph rollout == the eager one, training on cuda)
#   3. where a bf16 maze update goes non-finite (benchmarks/bf16_nonfinite.py: per attention backend)
#   4. benchmarks/train_speed.py on cuda: bandit (4096 trials/update) SNAIL / Transformer / LSTM, eager vs graph
#      step, fp32 vs bf16 update; SNAIL at 16384 trials (minibatch 2048); small maze SNAIL (1024 trials)
#   5. experiment=gpu_bandit for N minutes: when the validation return passes Thompson sampling (75.0) and
#      Gittins (78.6), env steps/s of the whole loop; then 1000 held-out trials of its best checkpoint
# Measured on an H100 and an H200 on 2026-11-26: BENCHMARKS.md, "GPU and scaling".
set -uo pipefail
out=${1:-${OUT:-results/gpu_check}}
minutes=${2:-3}
. benchmarks/gpu_setup.sh  # the log, and the wheels where there is no package index
step() { echo; echo "=== $1 ($(date +%T))"; }

step "1. machine"
nvidia-smi
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')"

step "2. CUDA tests"
python3 -m pytest -q -p no:cacheprovider tests/test_fast_step.py tests/test_train.py -k "cuda or graph" 2>&1 \
    | tail -n 30

step "3. bf16 maze update, per attention backend"
timeout 240 python3 benchmarks/bf16_nonfinite.py env=maze algo.num_envs=256 algo.minibatch_trials=128 2>&1 \
    | grep -v -i warn | tail -n 40

step "4. training throughput"
python3 benchmarks/train_speed.py --devices cuda --models snail transformer lstm --step-modes eager graph \
    --precisions fp32 bf16 --updates 2 --json "$out/speed_bandit.json" \
    algo.num_envs=4096 algo.minibatch_trials=512
python3 benchmarks/train_speed.py --devices cuda --models snail --step-modes graph --precisions fp32 bf16 \
    --updates 2 --json "$out/speed_bandit_large.json" algo.num_envs=16384 algo.minibatch_trials=2048
python3 benchmarks/train_speed.py --devices cuda --models snail --step-modes eager graph --precisions fp32 bf16 \
    --updates 2 --json "$out/speed_maze.json" env=maze algo.num_envs=1024 algo.minibatch_trials=128

step "5. experiment=gpu_bandit for $minutes minutes"
run_dir=runs/gpu_check_bandit  # git-ignored
rm -rf "$run_dir"
python3 train.py experiment=gpu_bandit run.max_minutes="$minutes" run.progress=false hydra.run.dir="$run_dir" \
    2>&1 | tail -n 12
cp "$run_dir/metrics.jsonl" "$out/bandit_metrics.jsonl"
python3 benchmarks/time_to_return.py "$run_dir" --targets 75.0 78.6 --json "$out/bandit_summary.json"
python3 evaluate.py run="$run_dir" trials=1000 baseline=none 2>&1 | tail -n 8
python3 - "$run_dir/evaluation.json" "$out/bandit_summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[2]))
summary["held_out_evaluation"] = json.load(open(sys.argv[1]))
json.dump(summary, open(sys.argv[2], "w"), indent=1)
PY
step "done"
