#!/usr/bin/env bash
# Wheels that benchmarks/gpu_check.sh installs on a GPU machine that cannot reach a package index: what this
# package needs beyond a CUDA PyTorch image (which has torch, numpy, tensorboard, tqdm, matplotlib, pyyaml,
# joblib, pytest). Run here, where pip works, from the repository root; .whl/ is git-ignored.
#   bash benchmarks/gpu_wheels.sh [python version of the GPU machine, default 3.12]
set -euo pipefail
py=${1:-3.12}
rm -rf .whl && mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation py \
    --platform any -d .whl gymnasium==1.4.0 farama-notifications==0.0.6 hydra-core==1.3.8 omegaconf==2.3.1 \
    hydra-joblib-launcher==1.2.0 cloudpickle==3.1.3
# antlr4 (omegaconf's parser runtime) publishes only a source archive: build its pure-Python wheel here.
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls .whl
