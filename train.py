"""Train a meta-RL agent: `python train.py env=bandit model=snail` (every option: snail/conf/, snail/config/).

Continue an interrupted run with `python train.py resume=runs/<env>/<model>/<date-time>`. The same program is
installed as `snail-train` and runs as `python -m snail train` (snail/commands.py).
"""

from snail.commands import train_main

if __name__ == "__main__":
    train_main()
