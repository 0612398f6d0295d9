"""`python -m snail train <overrides>`, `python -m snail evaluate <overrides>` and `python -m snail report
<folders>`: the same programs as `snail-train` / `python train.py`, `snail-evaluate` / `python evaluate.py` and
`snail-report` / `python -m snail.report`."""

import sys

from snail.commands import evaluate_main, train_main


def report_main() -> None:
    from snail.report import main

    raise SystemExit(main(sys.argv[1:]))


PROGRAMS = {"train": train_main, "evaluate": evaluate_main, "report": report_main}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in PROGRAMS:
        given = repr(sys.argv[1]) if len(sys.argv) > 1 else "nothing"
        raise SystemExit(f"usage: python -m snail {{train,evaluate,report}} [arguments ...] (got {given})")
    program = sys.argv.pop(1)
    sys.argv[0] = f"snail-{program}"
    PROGRAMS[program]()


if __name__ == "__main__":
    main()
