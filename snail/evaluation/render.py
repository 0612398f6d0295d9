"""Pictures of one trial: the path through a maze (PNG and animated GIF) and attention maps.

    trial = record_trial(policy, "maze", env_kwargs, seed=0, trial=0)   # any run_trials policy
    draw_maze_paths(trial, "maze_paths.png")     # one panel per inner episode: explore, then straight to goal
    animate_maze(trial, "maze_paths.gif")        # the same, step by step (matplotlib's PillowWriter)
    write_video(trial_frames(trial), "trial_0")  # the env's own pictures (rgb_array): trial_0.mp4 or .gif
    draw_attention(attention_maps(agent, trial), "attention.png", trial=trial)

`python evaluate.py run=... render=true attention=true video=true` calls these. Trial j is the task of env seed
`EVAL_SEED_OFFSET + seed + j`, the j-th trial of the evaluation table (the agent's sampled actions may
differ from the ones it took there: the picture samples with its own one-row generator).

Attention maps are read without touching the models: forward hooks on the attention modules (SNAIL's
`AttentionBlock`, the Transformer's `CausalSelfAttention`) capture their inputs during `agent.forward` on the
recorded trial, and the probabilities softmax(q k^T / sqrt(d)) (causal) are recomputed from the module's own
projections. Each recomputation is checked against the module's actual output, so a change in the models
that this code does not follow fails loudly instead of drawing wrong pictures.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from snail.blocks import AttentionBlock  # noqa: E402
from snail.envs import env_id_of, inner_episode_starts, make_vector_env  # noqa: E402
from snail.envs.maze import WALL, MazeObsLayout, maze_image  # noqa: E402
from snail.models import CausalSelfAttention  # noqa: E402
from snail.trials import EVAL_SEED_OFFSET, play_trials  # noqa: E402

# ---------------------------------------------------------------------------------------------- recording


def record_trial(policy, env_id: str, env_options: dict | None = None, seed: int = 0, trial: int = 0,
                 seed_offset: int = EVAL_SEED_OFFSET) -> dict:
    """Play one trial (the task of env seed `seed_offset + seed + trial`) with a one-row `policy` (any policy
    of the trial loop, built for num_envs=1) and record it.

    Returns a dict: `seed`, `obs` [T, D], `prev_action` [T], `prev_reward` [T] (the agent's inputs, -1 / 0 at
    the first step), `actions` [T], `rewards` [T], `episode` [T] (inner-episode index of each step); for a
    maze also `grid` (squares: 0 open, 1 wall, 2 goal), `start`, `goal` (cells), `start_heading`,
    `egocentric`, `view_size`,
    `paths` (one [n_k + 1, 2] int array of cells per inner episode that started: the start cell, then the
    cell after every step), `headings` (the same per episode, heading after each step), `success` (bool per
    inner episode), `shortest_path`.
    """
    vec_env = make_vector_env(env_id_of(env_id), 1, dict(env_options or {}))
    try:
        env_seed = int(seed_offset + seed + trial)
        maze = MazePathRecorder(vec_env.unwrapped) if hasattr(vec_env.unwrapped, "grids") else None
        trials = play_trials(policy, vec_env, env_seed, record_obs=True, on_step=maze)
    finally:
        vec_env.close()
    actions, rewards = trials.actions[0], trials.rewards[0]
    obs = trials.obs[0]
    out = {"seed": env_seed, "env_id": env_id_of(env_id), "obs": obs, "actions": actions, "rewards": rewards,
           "prev_action": np.concatenate([[-1], actions[:-1]]).astype(np.int64),
           "prev_reward": np.concatenate([[0.0], rewards[:-1]]).astype(np.float32),
           # the flag marks the first step of every inner episode after the first
           "episode": np.cumsum(inner_episode_starts(obs) & (np.arange(len(obs)) > 0))}
    if maze is not None:
        out.update(maze.recorded(), success=np.asarray(trials.end_info["success"][0], dtype=bool)[:len(maze.paths)],
                   shortest_path=int(trials.end_info["shortest_path"][0]))
    return out


class MazePathRecorder:
    """An `on_step` observer of `play_trials` on a one-row maze: the cell and heading after every step of the
    first trial, one path per inner episode (the env reports where an inner episode ended, `final_cell`, as it
    puts the agent back at the start at once)."""

    def __init__(self, maze_env):
        self.env = maze_env
        self.maze = {}  # filled on the first step, once the env has been reset
        self.paths: list[list] = []
        self.headings: list[list[int]] = []

    def _start(self) -> None:
        u = self.env
        start, heading = u.start_cells[0].copy(), int(u.start_headings[0])  # called after the first step
        self.maze = {"grid": u.grids[0], "start": start, "goal": u.goal_cells[0].copy(), "start_heading": heading,
                     "egocentric": bool(u.egocentric), "view_size": int(u.view_size)}
        self.paths, self.headings = [[start.copy()]], [[heading]]

    def __call__(self, t, action, reward, done, info, in_trial) -> None:
        if t == 0:
            self._start()
        if not in_trial[0]:
            return
        ended = bool(np.asarray(info.get("_final_cell", [False]))[0])
        if ended:
            cell, heading = np.asarray(info["final_cell"][0]).copy(), int(info["final_heading"][0])
        else:
            cell, heading = self.env.agent_cells[0].copy(), int(self.env.headings[0])
        self.paths[-1].append(cell)
        self.headings[-1].append(heading)
        if ended and not done[0]:  # the next inner episode starts
            self.paths.append([self.maze["start"].copy()])
            self.headings.append([self.maze["start_heading"]])

    def recorded(self) -> dict:
        return {**self.maze, "paths": [np.asarray(p, dtype=np.int64) for p in self.paths],
                "headings": [np.asarray(h, dtype=np.int64) for h in self.headings]}


# -------------------------------------------------------------------------------------------------- mazes


def _draw_maze(ax, trial: dict) -> None:
    grid = np.asarray(trial["grid"])
    ax.imshow(grid == WALL, cmap="Greys", vmin=0, vmax=1.4, interpolation="nearest")
    (sr, sc), (gr, gc) = trial["start"], trial["goal"]
    ax.add_patch(plt.Rectangle((2 * sc + 0.5, 2 * sr + 0.5), 1, 1, color="tab:green", alpha=0.35, lw=0))
    ax.add_patch(plt.Rectangle((2 * gc + 0.5, 2 * gr + 0.5), 1, 1, color="tab:red", alpha=0.35, lw=0))
    ax.text(2 * sc + 1, 2 * sr + 1, "S", ha="center", va="center", fontsize=9, weight="bold", color="darkgreen")
    ax.text(2 * gc + 1, 2 * gr + 1, "G", ha="center", va="center", fontsize=9, weight="bold", color="darkred")
    ax.set_xticks([])
    ax.set_yticks([])


def _path_xy(path: np.ndarray) -> np.ndarray:
    """Cells [n, 2] (row, col) -> plot coordinates [n, 2] (x, y) of the cell squares' centres."""
    path = np.asarray(path)
    return np.stack([2 * path[:, 1] + 1, 2 * path[:, 0] + 1], axis=1).astype(float)


def _episode_title(trial: dict, k: int) -> str:
    steps = len(trial["paths"][k]) - 1
    if k < len(trial["success"]):
        outcome = "reached the goal" if trial["success"][k] else "did not reach the goal"
    else:
        outcome = "trial ended"
    return f"inner episode {k + 1}: {steps} steps, {outcome}\n(shortest path {trial['shortest_path']})"


def draw_maze_paths(trial: dict, path: str | Path, episodes: tuple[int, ...] = (1, 2), title: str | None = None,
                    panel_size: float = 4.0, dpi: int = 100) -> Path:
    """One panel per inner episode in `episodes` (1-based, those that happened): the maze, start (S), goal (G)
    and the agent's path, coloured from early (light) to late (dark) steps, with a colour bar under each panel
    as the key. Figure size: panel_size * (number of panels) x (panel_size + 0.6) inches at `dpi`."""
    if "paths" not in trial:
        raise ValueError("draw_maze_paths needs a maze trial (record_trial on a maze env)")
    shown = [k - 1 for k in episodes if 0 < k <= len(trial["paths"])]
    if not shown:
        raise ValueError(f"episodes {episodes} did not happen in this trial ({len(trial['paths'])} started)")
    fig, axes = plt.subplots(1, len(shown), figsize=(panel_size * len(shown), panel_size + 0.6), dpi=dpi,
                             squeeze=False, layout="constrained")
    for ax, k in zip(axes[0], shown, strict=True):
        _draw_maze(ax, trial)
        xy = _path_xy(trial["paths"][k])
        # A small offset per step keeps back-and-forth moves along one corridor apart.
        jitter = np.linspace(-0.25, 0.25, len(xy))[:, None] if len(xy) > 1 else 0.0
        xy = xy + jitter
        if len(xy) > 1:
            segments = np.stack([xy[:-1], xy[1:]], axis=1)
            lines = LineCollection(segments, cmap="viridis_r", linewidths=2.0)
            lines.set_array(np.arange(1, len(segments) + 1))  # segment i is step i + 1 of the inner episode
            ax.add_collection(lines)
            key = fig.colorbar(lines, ax=ax, orientation="horizontal", fraction=0.05, pad=0.02, aspect=30)
            key.set_label("step of the inner episode (early → late)", fontsize=8)
            key.ax.tick_params(labelsize=7)
        ax.plot(*xy[-1], marker="o", color="black", markersize=5)
        ax.set_title(_episode_title(trial, k), fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def animate_maze(trial: dict, path: str | Path, episodes: tuple[int, ...] = (1, 2), title: str | None = None,
                 fps: int = 8, max_frames: int = 300, size: float = 4.0, dpi: int = 80) -> Path | None:
    """An animated GIF of the agent walking inner episodes `episodes` (matplotlib's PillowWriter); frames are
    subsampled to at most `max_frames`. Returns None (and writes nothing) when pillow is not installed."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    if not PillowWriter.isAvailable():
        return None
    shown = [k - 1 for k in episodes if 0 < k <= len(trial["paths"])]
    frames = [(k, i) for k in shown for i in range(len(trial["paths"][k]))]
    if len(frames) > max_frames:
        keep = np.unique(np.linspace(0, len(frames) - 1, max_frames).round().astype(int))
        frames = [frames[i] for i in keep]
    fig, ax = plt.subplots(figsize=(size, size + 0.4), dpi=dpi, layout="constrained")
    _draw_maze(ax, trial)
    (trail,) = ax.plot([], [], color="tab:blue", lw=2, alpha=0.7)
    (agent,) = ax.plot([], [], marker="o", color="tab:blue", markersize=9)
    text = ax.set_title("", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    arrows = "^>v<"

    def update(frame):
        k, i = frame
        xy = _path_xy(trial["paths"][k][: i + 1])
        trail.set_data(xy[:, 0], xy[:, 1])
        agent.set_data([xy[-1, 0]], [xy[-1, 1]])
        agent.set_marker(arrows[int(trial["headings"][k][i])])
        text.set_text(f"inner episode {k + 1}, step {i}")
        return trail, agent, text

    anim = FuncAnimation(fig, update, frames=frames, blit=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("matplotlib.animation")
    level = logger.level
    logger.setLevel(logging.WARNING)  # it logs every save at INFO
    try:
        anim.save(path, writer=PillowWriter(fps=fps))
    finally:
        logger.setLevel(level)
    plt.close(fig)
    return path


def trial_frames(trial: dict, scale: int = 16) -> list[np.ndarray]:
    """The maze trial as RGB frames (`snail.envs.maze.maze_image`, what the env's rgb_array render draws): the
    start of every inner episode, then the agent after each step; the last step of an inner episode shows where
    it got to (the goal, or where the cap stopped it) before the next episode's start frame."""
    grid = np.asarray(trial["grid"])
    layout = MazeObsLayout(trial["view_size"], (grid.shape[0] - 1) // 2, egocentric=trial["egocentric"])
    return [maze_image(grid, cell, heading, trial["start"], layout=layout, scale=scale)
            for path, headings in zip(trial["paths"], trial["headings"], strict=True)
            for cell, heading in zip(path, headings, strict=True)]


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = 8) -> Path:
    """`frames` (uint8 [H, W, 3] each) as a video at `path` without its suffix: an .mp4 when moviepy is
    installed (what Gymnasium's RecordVideo uses), else an animated .gif (pillow). Returns the file written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from moviepy.video.io.ImageSequenceClip import ImageSequenceClip
    except ImportError:
        from PIL import Image

        out = path.with_suffix(".gif")
        images = [Image.fromarray(frame) for frame in frames]
        images[0].save(out, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
        return out
    out = path.with_suffix(".mp4")
    ImageSequenceClip(list(frames), fps=fps).write_videofile(str(out), logger=None)
    return out


# ---------------------------------------------------------------------------------------------- attention


def _attention_modules(agent) -> list[tuple[str, torch.nn.Module]]:
    out = []
    for net_name in ("policy_net", "value_net"):
        net = getattr(agent, net_name, None)
        if net is None:
            continue
        count = 0
        for module in net.modules():
            if isinstance(module, (AttentionBlock, CausalSelfAttention)):
                count += 1
                kind = "attention block" if isinstance(module, AttentionBlock) else "layer"
                out.append((f"{net_name.split('_')[0]} {kind} {count}", module))
    return out


def has_attention(agent) -> bool:
    return bool(_attention_modules(agent))


def _probs(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q, k [B, H, T, d] -> causal softmax(q k^T / sqrt(d)) [B, H, T, T] (the scaling of
    F.scaled_dot_product_attention's default)."""
    T = q.shape[-2]
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(-1)


def _recompute(module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Attention probabilities [B, H, T, T] of `module` on input x [B, T, C], checked against its output y."""
    if isinstance(module, AttentionBlock):
        q, k, v = module.qkv(x).unsqueeze(1).split([module.key_size, module.key_size, module.value_size], dim=-1)
        probs = _probs(q, k)
        read = (probs @ v).squeeze(1)  # [B, T, V]
        actual = y[..., module.in_ch:]
    else:
        B, T, C = x.shape
        q, k, v = module.qkv(x).view(B, T, 3, module.n_heads, module.head_dim).permute(2, 0, 3, 1, 4)
        probs = _probs(q, k)
        read = module.proj((probs @ v).transpose(1, 2).reshape(B, T, C))
        actual = y
    if not torch.allclose(read, actual, atol=1e-4, rtol=1e-3):
        raise RuntimeError(f"the attention recomputed in snail/evaluation/render.py does not match "
                           f"{type(module).__name__}'s output: the model code changed, update _recompute")
    return probs


@torch.no_grad()
def attention_maps(agent, trial: dict) -> list[tuple[str, np.ndarray]]:
    """[(label, probs [H, T, T])] for every attention module of the agent's policy and value networks, on the
    recorded `trial` (row: the step that reads, column: the step read)."""
    modules = _attention_modules(agent)
    if not modules:
        raise ValueError("this agent has no attention modules (snail, attn_only and transformer have)")
    device = next(agent.parameters()).device
    captured: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: captured.__setitem__(i, (inp[0], out)))
             for i, (_, m) in enumerate(modules)]
    was_training = agent.training
    try:
        agent.eval()
        agent(torch.as_tensor(trial["obs"], device=device)[None],
              torch.as_tensor(trial["prev_action"], dtype=torch.int64, device=device)[None],
              torch.as_tensor(trial["prev_reward"], dtype=torch.float32, device=device)[None])
    finally:
        for h in hooks:
            h.remove()
        agent.train(was_training)
    out = []
    for i, (label, module) in enumerate(modules):
        x, y = captured[i]
        probs = _recompute(module, x.float(), y.float())[0].cpu().numpy()  # [H, T, T]
        out.append((label, probs))
    return out


def _episode_ticks(ax, starts: list[int], T: int) -> None:
    """Tick both axes of a T x T map at the first step and at every inner-episode start, labelled as such."""
    ticks = [0, *starts]
    labels = ["step 0"] + [f"episode {k + 2} starts\n(step {s})" for k, s in enumerate(starts)]
    ax.set_xticks(ticks, labels, fontsize=6)
    ax.set_yticks(ticks, [label.replace("\n", " ") for label in labels], fontsize=6)


def draw_attention(maps: list[tuple[str, np.ndarray]], path: str | Path, trial: dict | None = None,
                   title: str | None = None, panel_size: float = 4.5, max_cols: int = 4, dpi: int = 100) -> Path:
    """One T x T heatmap per attention head (row t: how step t's query spreads over steps 0..t), square-root
    colour scale with a colour bar; when `trial` is given, dashed lines mark the inner-episode starts and the
    ticks name them ("episode 2 starts"). Figure size: panel_size * columns + 1 (the colour bar) x panel_size *
    rows inches at `dpi` (columns = min(heads, max_cols))."""
    from matplotlib.colors import PowerNorm

    panels = [(f"{label}" + (f", head {h + 1}" if probs.shape[0] > 1 else ""), probs[h])
              for label, probs in maps for h in range(probs.shape[0])]
    cols = min(len(panels), max_cols)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size * cols + 1, panel_size * rows), dpi=dpi,
                             squeeze=False, layout="constrained")
    cmap = plt.get_cmap("magma").with_extremes(bad="0.9")  # future steps (never read) in light grey
    norm = PowerNorm(0.5, vmin=0, vmax=1)
    starts = []
    if trial is not None and "episode" in trial:
        starts = [int(s) for s in np.flatnonzero(np.diff(trial["episode"]) > 0) + 1]
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    image = None
    for ax, (label, probs) in zip(axes.flat, panels, strict=False):
        T = probs.shape[-1]
        probs = np.where(np.triu(np.ones((T, T), dtype=bool), 1), np.nan, probs)
        image = ax.imshow(probs, cmap=cmap, norm=norm, interpolation="nearest", extent=(-0.5, T - 0.5, T - 0.5, -0.5))
        for s in starts:
            ax.axvline(s - 0.5, color="cyan", lw=0.6, ls="--")
            ax.axhline(s - 0.5, color="cyan", lw=0.6, ls="--")
        if starts:
            _episode_ticks(ax, starts, T)
        ax.set_title(label, fontsize=8)
        ax.set_xlabel("step read", fontsize=7)
        ax.set_ylabel("step reading", fontsize=7)
        ax.tick_params(labelsize=6)
    bar = fig.colorbar(image, ax=axes, shrink=0.8, aspect=40)
    bar.set_label("attention probability (square-root scale)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(f"attention: {title}", fontsize=9)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
