# Sourced by benchmarks/gpu_check.sh and benchmarks/gpu_maze.sh once they have set $out: everything printed is
# also written to $out/log.txt, and on a machine without a package index the wheels of .whl/
# (benchmarks/gpu_wheels.sh) go into /tmp/site.
mkdir -p "$out"
exec > >(tee "$out/log.txt") 2>&1
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
