"""Evaluate a trained run and the classical baselines on the same held-out trials.

    python evaluate.py run=runs/bandit/snail/<date-time>      # agent + every baseline of its env
    python evaluate.py env=bandit baseline=ucb1               # one baseline alone
    python evaluate.py run=runs/maze/... render=true attention=true

Writes evaluation.json and evaluation.md (and pictures) into the run folder; see snail/evaluation/cli.py. The
same program is installed as `snail-evaluate` and runs as `python -m snail evaluate` (snail/commands.py).
"""

from snail.commands import evaluate_main

if __name__ == "__main__":
    evaluate_main()
