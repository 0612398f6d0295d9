"""Evaluation, split by job: held-out trials of a run's agent and of the classical baselines on the same tasks.

- `runs`: loading a trained run (config + checkpoint) with one-line errors;
- `baselines`: the classical policies of each task and their registry;
- `score`: scoring an agent or a baseline on held-out trials (tuning the baselines first);
- `report`: the table (console, Markdown, JSON);
- `render`: pictures of one trial (maze paths, attention maps);
- `cli`: `python evaluate.py` (`evaluate`, `cli`).

The trial loop itself (`snail.trials`) and the metrics (`snail.metrics`) are core: training uses them too.
Nothing in the core imports this package.
"""

from snail.evaluation.cli import cli, evaluate
from snail.evaluation.runs import EvaluationError, LoadedRun, load_run

__all__ = ["EvaluationError", "LoadedRun", "cli", "evaluate", "load_run"]
