"""Fault injection: each failure of the issue "Runs that survive anything", reproduced and shown handled.

    nice -n 5 python benchmarks/faults.py [--kills 60] [--seed 0] [--work DIR]

Every training run here is the same tiny one (bandit, 10 pulls, 4 trials per update, 40 updates, one torch
thread, seed 0), started as `python train.py` would be, so each result is compared with one unbroken reference
run: metrics.jsonl without its timing keys, TensorBoard's points, and the weights of last.pt and best.pt must be
identical.

- kill -9: runs killed again and again, then resumed until they finish. Half the kills are aimed from inside
  (the child process patches os.fsync / os.replace / the metrics writer and SIGKILLs itself at the n-th
  write of last.pt, best.pt, config.yaml or the metrics.jsonl rewrite: with the temporary file half written,
  written but not renamed, or renamed; or half-way through a metrics line); the others come from outside at
  a random time (writes are slowed by 30 ms to widen their windows).
- Concurrent starts of one config; two resumes of one folder at once; a new run pointed at a finished one.
- A NaN-inducing learning rate; a full disk (a small tmpfs, or filled at a random moment) and a read-only
  folder (a tmpfs remounted read-only), both as root; without root, ENOSPC is injected through os.fsync.
- What a resume may change; a model edited in config.yaml; interpolations in a received config; one-line
  errors; exit statuses of signals; the .hydra record and stray folders of failed commands.

Prints one row per scenario (tries, handled, data lost) and exits 1 if anything was not handled. The figures
are in BENCHMARKS.md ("Fault injection").
"""

from __future__ import annotations

import argparse
import collections
import errno
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = 1600  # 40 updates of 4 trials x 10 pulls
TINY = ["env.pulls=10", "algo.num_envs=4", "algo.minibatch_trials=2", "algo.epochs=1", "run.eval_every=3",
        "run.eval_trials=4", "run.checkpoint_every=2", "run.progress=false", "run.torch_threads=1",
        f"run.total_env_steps={STEPS}"]
TIMING = ("charts/env_steps_per_s", "charts/rollout_s", "charts/update_s", "charts/wall_clock_s")
TARGETS = ("last.pt", "best.pt", "config.yaml", "metrics.jsonl")
# Where a child kills itself: <how>:<file> at the n-th write of that file, or "line" (half a metrics line).
AIMED = [f"{how}:{name}" for how in ("partial", "fsync", "replace") for name in ("last.pt", "best.pt")] + [
    "partial:config.yaml", "replace:config.yaml", "partial:metrics.jsonl", "replace:metrics.jsonl", "line"]


# ---- the child: `python train.py` with faults injected ------------------------------------------------------


def child(argv: list[str]) -> None:
    """Run train_main with the fault of $SNAIL_FAULT (`<point>@<n>`) and writes slowed by $SNAIL_FAULT_SLOW s."""
    point, _, n = os.environ.get("SNAIL_FAULT", "").partition("@")
    slow = float(os.environ.get("SNAIL_FAULT_SLOW") or 0)
    hits: collections.Counter = collections.Counter()

    def hit(name: str) -> bool:
        hits[name] += 1
        return name == point and hits[name] == int(n)

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def target(fd: int) -> str | None:
        name = Path(os.readlink(f"/proc/self/fd/{fd}")).name
        return next((t for t in TARGETS if name.startswith(f".{t}.") and name.endswith(".tmp")), None)

    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        name = target(fd)
        if name:
            time.sleep(slow)
            if hit(f"partial:{name}"):
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                die()
            if hit(f"fsync:{name}"):
                die()
            if hit(f"enospc:{name}"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(fd)

    def replace(src, dst):
        real_replace(src, dst)
        if hit(f"replace:{Path(dst).name}"):
            die()

    os.fsync, os.replace = fsync, replace

    from snail.train import Workspace

    real_log = Workspace._log

    def log(self, logged):
        if hit("line"):
            file = self.metrics_file

            class HalfLine:
                def write(self, text):
                    file.write(text[: len(text) // 2])
                    file.flush()
                    die()

            self.metrics_file = HalfLine()
        real_log(self, logged)

    Workspace._log = log
    sys.argv = [str(ROOT / "train.py"), *argv]
    from snail.commands import train_main

    train_main()


# ---- helpers of the parent --------------------------------------------------------------------------------


def launch(args, cwd=None, fault: str | None = None, slow: float = 0.0, env: dict | None = None) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "SNAIL_FAULT": fault or "", "SNAIL_FAULT_SLOW": str(slow),
               **(env or {})}
    return subprocess.Popen([sys.executable, __file__, "--child", *map(str, args)], cwd=cwd or ROOT, env=environ,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(args, **kwargs) -> tuple[int, str, str]:
    proc = launch(args, **kwargs)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err


def evaluate(*args) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), *map(str, args)], cwd=ROOT, text=True,
                          capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    return proc.returncode, proc.stdout, proc.stderr


def one_line(rc: int, err: str, needle: str) -> bool:
    """Exit status 1 and a one-line error holding `needle` (after warnings, one line each), no traceback."""
    lines = err.strip().splitlines()
    return (rc == 1 and bool(lines) and needle in lines[-1] and "error:" in lines[-1] and "Traceback" not in err
            and all(line.startswith("warning: ") for line in lines[:-1]))


def wait_for_lines(run_dir: Path, count: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    from snail.rundir import read_metrics

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if len(read_metrics(run_dir / "metrics.jsonl", lambda m: None)) >= count:
            return
        time.sleep(0.1)


def fingerprint(folder: Path) -> dict[str, str]:
    """sha256 of every file in a folder (its lock file aside, which holds the last holder's pid)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


class Reference:
    """The unbroken run, and what every other run of the same config must match."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.curve, self.tb, self.weights = curve(run_dir), tb_points(run_dir), weights(run_dir)

    def differences(self, run_dir: Path) -> list[str]:
        problems = []
        if curve(run_dir) != self.curve:
            problems.append("metrics.jsonl differs")
        if tb_points(run_dir) != self.tb:
            problems.append("TensorBoard differs")
        if weights(run_dir) != self.weights:
            problems.append("checkpoint weights differ")
        if [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]:
            problems.append("temporary files left")
        return problems


def curve(run_dir: Path) -> list[dict]:
    from snail.rundir import read_metrics

    rows = read_metrics(run_dir / "metrics.jsonl", lambda m: None)
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


def tb_points(run_dir: Path) -> dict:
    import logging

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logging.getLogger("tensorboard").setLevel(logging.ERROR)  # its notes on the purged (resumed) steps

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in sorted(acc.Tags()["scalars"])
            if tag not in TIMING}


def weights(run_dir: Path) -> dict:
    import torch

    from snail.checkpoint import load_checkpoint

    out = {}
    for name in ("last.pt", "best.pt"):
        model = load_checkpoint(run_dir / name)["model"]
        out[name] = hashlib.sha256(b"".join(v.cpu().numpy().tobytes() for v in model.values())).hexdigest()
        assert all(torch.isfinite(v).all() for v in model.values())
    return out


class Mount:
    """A tmpfs of `size` at `path` (root only); `remount(options)` changes its size or makes it read-only."""

    def __init__(self, path: Path, size: str):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                       capture_output=True)

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True, capture_output=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", str(self.path)], capture_output=True)


def can_mount(work: Path) -> bool:
    if os.geteuid() != 0:
        return False
    try:
        with Mount(work / "probe", "1m"):
            return True
    except (subprocess.CalledProcessError, OSError):
        return False


# ---- scenarios: each returns (tries, handled, notes) ----------------------------------------------------------


def kills(ref: Reference, work: Path, wanted: int, rng: random.Random) -> tuple[int, int, str, collections.Counter]:
    """Runs killed with SIGKILL `wanted` times in all, each resumed until it finishes, then compared."""
    counts: collections.Counter = collections.Counter()
    chains, handled, problems = 0, 0, []
    while sum(counts.values()) < wanted:
        run_dir = work / f"killed{chains}"
        chains += 1
        per_chain = rng.randint(5, 12)
        chain_kills = 0
        while True:
            fresh = not (run_dir / "config.yaml").exists()
            args = [*TINY, f"hydra.run.dir={run_dir}"] if fresh else [f"resume={run_dir}"]
            fault = None
            if chain_kills < per_chain and sum(counts.values()) < wanted:
                choices = [p for p in AIMED if ("config.yaml" not in p or fresh) and ("metrics.jsonl" not in p
                                                                                      or not fresh)]
                fault = "timer" if rng.random() < 0.45 else rng.choice(choices)
            # config.yaml and the metrics rewrite are written once per start; best.pt only at a new best
            n = 1 if fault and ("config" in fault or "metrics" in fault) else rng.randint(
                1, 2 if "best.pt" in (fault or "") else 4)
            proc = launch(args, fault=f"{fault}@{n}" if fault and fault != "timer" else None, slow=0.03)
            if fault == "timer":
                try:
                    proc.wait(timeout=rng.uniform(1.0, 12.0))
                except subprocess.TimeoutExpired:
                    proc.kill()
            out, err = proc.communicate(timeout=600)
            if proc.returncode == -signal.SIGKILL:
                counts[fault] += 1
                chain_kills += 1
                continue
            if proc.returncode != 0:
                problems.append(f"chain {chains}: exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
                break
            diff = ref.differences(run_dir)
            if diff:
                problems.append(f"chain {chains}: {', '.join(diff)}")
            else:
                handled += 1
            break
    note = f"{chains} runs, each resumed to the end; " + ("; ".join(problems) if problems else
                                                          "every one identical to the unbroken run")
    return chains, handled, note, counts


def concurrent_starts(ref: Reference, work: Path, n: int = 6) -> tuple[int, int, str]:
    cwd = work / "together"
    cwd.mkdir()
    procs = [launch(TINY, cwd=cwd) for _ in range(n)]
    codes = [p.wait(timeout=900) for p in procs]
    folders = sorted((cwd / "runs" / "bandit" / "snail").iterdir())
    good = sum(not ref.differences(f) for f in folders)
    return n, min(good, n) if len(folders) == n and codes == [0] * n else 0, (
        f"{len(folders)} folders for {n} starts in the same second, exit statuses {sorted(set(codes))}")


def stopped(run_dir: Path, lines: int = 8, signum=signal.SIGTERM, cwd=None) -> tuple[int, str]:
    """A new run stopped by `signum` once it has logged `lines` updates: (exit status, stderr)."""
    proc = launch([*TINY, f"hydra.run.dir={run_dir}"], cwd=cwd)
    wait_for_lines(run_dir, lines, proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=600)
    return proc.returncode, err


def signals_and_concurrent_resumes(ref: Reference, work: Path) -> list[tuple[str, int, int, str]]:
    rows = []
    ok = 0
    for signum in (signal.SIGTERM, signal.SIGINT):
        run_dir = work / f"stopped_{signum.name}"
        rc, err = stopped(run_dir, signum=signum)
        ok += rc == 128 + signum and f"resume={run_dir}" in err and f"stopped by {signum.name}" in err
    rows.append(("SIGTERM / Ctrl-C: exit 143 / 130 with the resume command", 2, ok,
                 "`done:` only for a finished run"))
    run_dir = work / f"stopped_{signal.SIGTERM.name}"
    procs = [launch([f"resume={run_dir}"]) for _ in range(2)]
    results = [(p.wait(timeout=900), p.stderr.read()) for p in procs]
    busy = [err for rc, err in results if one_line(rc, err, "in use by another training process (pid ")]
    finished = [rc for rc, _ in results if rc == 0]
    ok = len(busy) == 1 and len(finished) == 1 and not ref.differences(run_dir)
    rows.append(("two resumes of one folder at once", 1, int(ok),
                 "one ran to the end, identical to the unbroken run; the other stopped at once naming the pid"))
    return rows


def fresh_into_finished(ref: Reference) -> tuple[int, int, str]:
    before = fingerprint(ref.run_dir)
    rc, _, err = run([*TINY, f"hydra.run.dir={ref.run_dir}"])
    ok = one_line(rc, err, "already holds a run") and fingerprint(ref.run_dir) == before
    return 1, int(ok), "refused in one line; every file of the finished run unchanged"


def nan(work: Path) -> tuple[int, int, str]:
    from snail.checkpoint import load_checkpoint

    ok, tries = 0, 0
    for lr, every in (("1e8", 1), ("1e8", 2), ("1e12", 1)):
        tries += 1
        run_dir = work / f"nan_{lr}_{every}"
        rc, _, err = run([*TINY, f"algo.lr={lr}", f"run.checkpoint_every={every}", f"hydra.run.dir={run_dir}"])
        good = one_line(rc, err, "training diverged") and "learning rate" in err and "algo.lr=" in err
        load_checkpoint(run_dir / "last.pt")  # raises on non-finite weights
        good &= all(isinstance(json.loads(line), dict) for line in (run_dir / "metrics.jsonl").read_text().splitlines())
        rc, _, _ = evaluate(f"run={run_dir}", "checkpoint=last", "trials=20", "baseline=none", "num_envs=20")
        ok += good and rc == 0
    return tries, ok, ("stops in one line naming algo.lr; last.pt finite and evaluable; metrics.jsonl valid JSON "
                       "(checkpoint_every 1 and 2)")


def full_disk(ref: Reference, work: Path, mountable: bool, rng: random.Random) -> tuple[int, int, str]:
    tries, ok, notes = 0, 0, []
    if mountable:
        # Too small for the run's checkpoints, or filled up by another file once the run has logged n updates.
        for size, fill_at in (("3m", None), ("6m", None), ("64m", rng.randint(1, 35)), ("64m", rng.randint(1, 35))):
            tries += 1
            with Mount(work / f"disk{tries}", size) as disk:
                run_dir = disk.path / "run"
                proc = launch([*TINY, f"hydra.run.dir={run_dir}"])
                if fill_at is not None:
                    wait_for_lines(run_dir, fill_at, proc)
                    _fill(disk.path / "filler")
                _, err = proc.communicate(timeout=600)
                problems = [] if one_line(proc.returncode, err, "No space left on device") else [
                    f"exit {proc.returncode}: {err.strip().splitlines()[-1:]}"]
                saved = _still_readable(run_dir)
                (disk.path / "filler").unlink(missing_ok=True)
                disk.remount("size=256m")  # space freed: resume in place
                rc, _, err = run([f"resume={run_dir}"] if (run_dir / "config.yaml").exists() else
                                 [*TINY, f"hydra.run.dir={run_dir}"])
                problems += ref.differences(run_dir) if rc == 0 else [f"resume exit {rc}"]
                ok += not problems
                notes.append(f"{size}{f' filled after update {fill_at}' if fill_at else ''}: last.pt at update "
                             f"{saved} when it failed{' (' + ', '.join(problems) + ')' if problems else ''}")
    else:  # no tmpfs: ENOSPC injected at the n-th checkpoint write
        for n in (1, 3, 6):
            tries += 1
            run_dir = work / f"enospc{n}"
            rc, _, err = run([*TINY, f"hydra.run.dir={run_dir}"], fault=f"enospc:last.pt@{n}")
            good = one_line(rc, err, "No space left on device")
            saved = _still_readable(run_dir)
            rc, _, err = run([f"resume={run_dir}"])
            ok += good and rc == 0 and not ref.differences(run_dir)
            notes.append(f"ENOSPC injected at checkpoint {n}: last.pt at update {saved} when it failed")
    return tries, ok, "one-line error, then resumed in place to the same curve; " + "; ".join(notes)


def _fill(path: Path) -> None:
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
                f.flush()
        except OSError:
            pass


def _still_readable(run_dir: Path) -> int | None:
    """What the failed run had saved, read back: last.pt's update (None if it never got one); raises when a
    checkpoint or metrics.jsonl is unreadable or a temporary file was left behind."""
    from snail.checkpoint import load_checkpoint
    from snail.rundir import read_metrics

    assert not [p for p in run_dir.glob("*.tmp")], "temporary files left"
    read_metrics(run_dir / "metrics.jsonl", lambda m: None)
    if (run_dir / "best.pt").exists():
        load_checkpoint(run_dir / "best.pt")
    return load_checkpoint(run_dir / "last.pt")["counters"]["update"] if (run_dir / "last.pt").exists() else None


def read_only(ref: Reference, work: Path, mountable: bool) -> tuple[int, int, str]:
    if not mountable:
        return 0, 0, "skipped: mounting a tmpfs needs root"
    with Mount(work / "ro", "64m") as disk:
        run_dir = disk.path / "run"
        stopped(run_dir)
        before = fingerprint(run_dir)
        disk.remount("ro")
        rc, _, err = run([f"resume={run_dir}"])
        good = one_line(rc, err, "not writable")
        t0 = time.perf_counter()
        rc, _, err = evaluate(f"run={run_dir}", "trials=200", "baseline=all")
        good &= one_line(rc, err, "cannot write the evaluation report") and time.perf_counter() - t0 < 60
        rc, _, _ = evaluate(f"run={run_dir}", "trials=20", "baseline=none", "num_envs=20",
                            f"out_dir={work / 'ro_eval'}")
        good &= rc == 0 and fingerprint(run_dir) == before
        disk.remount("rw")
        rc, _, _ = run([f"resume={run_dir}"])
        good &= rc == 0 and not ref.differences(run_dir)
    return 3, 3 * good, ("resume and evaluate refused in one line before any work, evaluate with out_dir works, "
                         "nothing changed; made writable again, the resume matches the unbroken run")


def resume_rules(ref: Reference, work: Path) -> tuple[int, int, str]:
    run_dir = work / "rules"
    stopped(run_dir)
    before = fingerprint(run_dir)
    refused = [["algo.lr=0.01"], ["model=lstm"], ["seed=1"], ["env.pulls=20"], ["+foo=1"], ["overwrite=true"]]
    ok = sum(one_line(*run([f"resume={run_dir}", *args])[::2], "a resume may change only run.* and device")
             for args in refused)
    ok *= fingerprint(run_dir) == before
    cfg = run_dir / "config.yaml"
    text = cfg.read_text()
    cfg.write_text(text.replace("embed_dim: null", "embed_dim: 16"))
    ok += one_line(*run([f"resume={run_dir}"])[::2], "do not fit the model")
    cfg.write_text(text.replace("device: auto", "device: ${oc.env:SNAIL_FAULT_SECRET}"))
    rc, _, err = run([f"resume={run_dir}"], env={"SNAIL_FAULT_SECRET": "hunter2"})
    ok += one_line(rc, err, "is an interpolation")
    rc, _, err = evaluate(f"run={run_dir}", "trials=20")
    ok += one_line(rc, err, "is an interpolation") and not any(
        b"hunter2" in p.read_bytes() for p in run_dir.rglob("*") if p.is_file())
    cfg.write_text(text)
    rc, _, _ = run([f"resume={run_dir}", "run.torch_threads=1", "device=cpu"])
    ok += rc == 0 and not ref.differences(run_dir)
    return len(refused) + 4, ok, ("algo.lr, model, seed, env.*, +foo, overwrite refused naming the keys, files "
                                  "unchanged; edited model and ${oc.env:...} refused in one line (secret in no "
                                  "file); run.* and device accepted, same curve")


def commands_leave_no_trace(work: Path) -> tuple[int, int, str]:
    cwd = work / "trace"
    cwd.mkdir()
    run_dir = cwd / "run"
    stopped(run_dir, cwd=cwd)
    record = fingerprint(run_dir / ".hydra")
    ok = one_line(*run([f"resume={run_dir}", "algo.lr=0.5"], cwd=cwd)[::2], "a resume may change only")
    ok += fingerprint(run_dir / ".hydra") == record
    ok += one_line(*run([f"resume={cwd / 'typo' / 'run'}"], cwd=cwd)[::2], "is not a run folder")
    for args, needle in ((["+foo=1"], "unknown train option(s) ['foo']"), (["seed=-1"], "seed=-1 is invalid"),
                         (["algo.lr=abc"], "algo.lr='abc' is invalid"), (["env.arms=1"], "env.arms")):
        ok += one_line(*run(args, cwd=cwd)[::2], needle)
    ok += sorted(p.name for p in cwd.iterdir()) == ["run"]  # no runs/<env>/<model>/ left by the failures
    return 8, ok, ("failed resume leaves .hydra/ as it was; mistyped resume= creates nothing; +foo=1, seed=-1, "
                   "algo.lr=abc, env.arms=1 one line each and no folders left")


def partial_lines(ref: Reference, work: Path) -> tuple[int, int, str]:
    ok = 0
    cases = [lambda b: b + b'{"env_steps": 360, "upd', lambda b: b + b"\0" * 300]  # half a line; zeros
    for i, damage in enumerate(cases):
        run_dir = work / f"partial{i}"
        stopped(run_dir)
        path = run_dir / "metrics.jsonl"
        path.write_bytes(damage(path.read_bytes()))
        rc, _, err = run([f"resume={run_dir}"])
        ok += rc == 0 and "dropped its last line" in err and not ref.differences(run_dir)
    return len(cases), ok, "dropped with a warning; the resume continues the same curve"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=60, help="SIGKILLs in all (default 60)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault schedule")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="snail-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    mountable = can_mount(work)
    t0 = time.time()
    print(f"scratch folder {work}; tmpfs mounts: {'yes' if mountable else 'no (ENOSPC injected instead)'}")
    rc, _, err = run([*TINY, f"hydra.run.dir={work / 'reference'}"])
    assert rc == 0, err
    ref = Reference(work / "reference")

    rows = []
    chains, handled, note, counts = kills(ref, work, args.kills, rng)
    rows.append((f"kill -9 ({sum(counts.values())} kills)", chains, handled, note))
    rows.append(("concurrent starts of one config", *concurrent_starts(ref, work)))
    rows += signals_and_concurrent_resumes(ref, work)
    rows.append(("new run pointed at a finished run", *fresh_into_finished(ref)))
    rows.append(("NaN-inducing learning rate", *nan(work)))
    rows.append(("full disk", *full_disk(ref, work, mountable, rng)))
    rows.append(("read-only run folder", *read_only(ref, work, mountable)))
    rows.append(("resume changes, edited and received configs", *resume_rules(ref, work)))
    rows.append(("partial last line of metrics.jsonl", *partial_lines(ref, work)))
    rows.append(("failed commands: record, stray folders, one-line errors", *commands_leave_no_trace(work)))

    print("\nkills by where they landed: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("\n| scenario | tries | handled | data lost | notes |\n|---|---:|---:|---|---|")
    for name, tries, good, note in rows:
        print(f"| {name} | {tries} | {good} | {'none' if good == tries else 'SEE NOTES'} | {note} |")
    failed = [name for name, tries, good, _ in rows if good != tries]
    print(f"\n{sum(counts.values())} kills survived; {sum(r[1] for r in rows)} tries in {len(rows)} scenarios; "
          f"{'not handled: ' + ', '.join(failed) if failed else 'all handled, data lost: none'}; "
          f"{(time.time() - t0) / 60:.1f} min")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        main()
