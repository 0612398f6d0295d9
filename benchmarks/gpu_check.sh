#!/usr/bin/env bash
# Every GPU figure of the scaling issue in one go (about 8 minutes on one H100/H200), for whenever a GPU is at
# hand. From the repository root of a checkout, on the GPU machine:
#   bash benchmarks/gpu_check.sh [out dir, default $OUT or results/gpu_check] [training minutes, default 3]
# On a machine that cannot reach a package index, first run benchmarks/gpu_wheels.sh where pip works and bring
# .whl/ along (it is git-ignored: the device tool needs `carry: [".whl"]`): the wheels go into /tmp/site. Each step goes on when an earlier one fails, and writes
# its log and JSON into the out dir (7 files; the device tool brings back 8: tee the whole output to an 8th):
#   1. the machine (nvidia-smi, torch, the GPU)
#   2. the CUDA tests (captured step == eager step, a CUDA-graph rollout == the eager one, training on cuda)
#   3. benchmarks/train_speed.py on cuda: bandit (4096 trials/update) SNAIL / Transformer / LSTM, eager vs graph
#      step, fp32 vs bf16 update; small maze SNAIL (1024 trials/update)
#   4. experiment=gpu_bandit for N minutes: when the validation return passes Thompson sampling (75.0) and
#      Gittins (78.6), env steps/s of the whole loop; then 1000 held-out trials of its best checkpoint
set -uo pipefail
out=${1:-${OUT:-results/gpu_check}}
minutes=${2:-3}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
step() { echo; echo "=== $1 ($(date +%T))"; }

step "1. machine"
{ nvidia-smi; python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'NO GPU')"; } 2>&1 | tee "$out/machine.txt"

step "2. CUDA tests"
python3 -m pytest -q -p no:cacheprovider tests/test_fast_step.py tests/test_train.py -k "cuda or graph" \
    2>&1 | tee "$out/cuda_tests.txt" | tail -n 30

step "3. training throughput"
python3 benchmarks/train_speed.py --devices cuda --models snail transformer lstm --step-modes eager graph \
    --precisions fp32 bf16 --updates 3 --json "$out/train_speed_bandit.json" \
    algo.num_envs=4096 algo.minibatch_trials=512
python3 benchmarks/train_speed.py --devices cuda --models snail --step-modes eager graph --precisions fp32 bf16 \
    --updates 2 --json "$out/train_speed_maze.json" env=maze algo.num_envs=1024 algo.minibatch_trials=128

step "4. experiment=gpu_bandit for $minutes minutes"
run_dir=runs/gpu_check_bandit  # git-ignored; its curve is copied to the out dir
rm -rf "$run_dir"
python3 train.py experiment=gpu_bandit run.max_minutes="$minutes" run.progress=false hydra.run.dir="$run_dir" \
    2>&1 | tail -n 25
python3 benchmarks/time_to_return.py "$run_dir" --targets 75.0 78.6 --json "$out/time_to_return.json"
python3 evaluate.py run="$run_dir" trials=1000 baseline=none 2>&1 | tail -n 15 | tee "$out/evaluate_best.txt"
cp "$run_dir/metrics.jsonl" "$out/gpu_bandit_metrics.jsonl"
step "done"
