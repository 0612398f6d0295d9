"""When a run's periodic evaluation first reached given returns: wall clock and env steps.

    python benchmarks/time_to_return.py <run dir> --targets 75.0 78.6 [--json out.json]

Reads the run's metrics.jsonl (`eval/return` on the run's validation tasks, `charts/wall_clock_s`, `env_steps`);
the default targets are Thompson sampling's and Gittins' returns on the default bandit (BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def first_reached(rows: list[dict], target: float) -> dict | None:
    """The first evaluation at or above `target`: its wall clock, env steps and return (None if never)."""
    for row in rows:
        if row.get("eval/return", float("-inf")) >= target:
            return {"wall_clock_s": row["charts/wall_clock_s"], "env_steps": row["env_steps"],
                    "return": row["eval/return"]}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--targets", type=float, nargs="+", default=[75.0, 78.6])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [row for row in rows if "eval/return" in row]
    result = {"run": str(args.run), "updates": len(rows), "env_steps": rows[-1]["env_steps"] if rows else 0,
              "wall_clock_s": rows[-1]["charts/wall_clock_s"] if rows else 0.0,
              "best_eval_return": max((r["eval/return"] for r in evals), default=None),
              "reached": {str(t): first_reached(evals, t) for t in args.targets}}
    for target, hit in result["reached"].items():
        print(f"return {target}: " + (f"after {hit['wall_clock_s']:.0f} s, {hit['env_steps']:,} env steps "
                                      f"(eval {hit['return']:.2f})" if hit else "not reached"))
    print(f"whole run: {result['env_steps']:,} env steps in {result['wall_clock_s']:.0f} s "
          f"({result['env_steps'] / max(result['wall_clock_s'], 1e-9):,.0f} env steps/s), "
          f"best eval {result['best_eval_return']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
