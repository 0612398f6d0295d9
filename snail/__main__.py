"""`python -m snail train <overrides>` and `python -m snail evaluate <overrides>`: the same programs as
`snail-train` / `python train.py` and `snail-evaluate` / `python evaluate.py`."""

import sys

from snail.commands import evaluate_main, train_main

PROGRAMS = {"train": train_main, "evaluate": evaluate_main}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in PROGRAMS:
        given = repr(sys.argv[1]) if len(sys.argv) > 1 else "nothing"
        raise SystemExit(f"usage: python -m snail {{train,evaluate}} [overrides ...] (got {given})")
    program = sys.argv.pop(1)
    sys.argv[0] = f"snail-{program}"
    PROGRAMS[program]()


if __name__ == "__main__":
    main()
