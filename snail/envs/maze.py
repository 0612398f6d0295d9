"""Random grid mazes (a 2-D stand-in for SNAIL §5.3's first-person mazes): `snail/Maze-v0`.

A trial draws a random perfect maze of `size` x `size` cells (randomized depth-first search, the "recursive
backtracker": exactly one path between any two cells), a start cell, a different goal cell and a start
heading, all kept for the trial's `episodes` inner episodes. An inner episode ends when the agent reaches the
goal or after `episode_steps` steps; the agent then restarts at the start cell with the start heading.

Options: `preset` "small" (5x5 cells, 250-step cap, the default) or "large" (9x9, 1000); `size` and
`episode_steps` override the preset's values. (The cap is `episode_steps`, not `max_episode_steps`: that
name is taken by `gymnasium.make`, which would turn it into a TimeLimit on the whole trial.) `episodes`
(default 2), `actions`, `view_size` (default 3), `observe_position` (default False).

Actions: `actions="egocentric"` (default, as in the paper): 0 forward one cell, 1 turn left 90°, 2 turn
right 90°. `actions="cardinal"`: 0 north, 1 east, 2 south, 3 west (move one cell; the heading becomes that
direction). Headings are 0 north (up, row - 1), 1 east, 2 south, 3 west; with cardinal actions the heading
is the direction of the last move (the trial's random start heading before the first).

Rewards: every step costs -0.01, the goal step included (so reaching the goal gives +1 - 0.01 = 0.99); a move
into a wall costs -0.001 more and leaves the agent in place. An inner episode's return is thus
success - 0.01 * steps - 0.001 * wall bumps.

Observation: float32 [2 * V*V + 4 (+ 2 * size) + 1] with V = 2 * view_size + 1, in this order:
- walls [V*V] then goal [V*V]: a V x V window (row-major) of the maze drawn as a (2*size+1)^2 grid in which
  cells, the walls between them and the corners are squares alike; it covers the view_size x view_size cells
  centred on the agent plus the walls around them. 1 = wall (outside the maze counts as wall) / goal square.
  With egocentric actions the window turns with the agent: row 0 is farthest ahead, column 0 is on the
  agent's left, the agent is the centre square. With cardinal actions it is north-up (row 0 = north).
  The goal shows only once it is inside the window.
- heading one-hot [4] (north, east, south, west);
- only with `observe_position=True`: the agent's cell as a row one-hot [size] then a column one-hot [size]
  (row 0 north, column 0 west), a stand-in for the landmarks by which a first-person agent knows where it is;
- the inner-episode flag (1 on the first step of every inner episode after the first).

info (reset and trial end): `shortest_path` (int), the fewest actions from the start (cell and heading) to the
goal: moves for cardinal actions; forward moves plus turns for egocentric ones (a U-turn is two turns).
At trial end also `success` (bool [episodes]), `trial_return`, `episode_returns` [episodes] and
`episode_lengths` [episodes] (steps taken in each inner episode).
On every step where an inner episode ends (at the goal or the cap; the trial's last step too): `final_cell`
(int64 [2], row and column of the agent's cell at that moment, before it is put back at the start: the goal
cell when it reached the goal) and `final_heading` (int, 0 N .. 3 W). The vector env reports them as
[num_envs, 2] / [num_envs] arrays with `_final_cell` / `_final_heading` masks, like every key.

Code that reads observations or rewards uses this module's exports rather than the numbers above:
`MazeObsLayout` (`env.obs_layout`), the square codes, direction and turn tables, reward constants and
`reached_goal`; `grid_path` (the BFS) and `path_actions` plan paths the way the env counts `shortest_path`.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import numpy as np

from snail.envs._common import FLAG_INDEX, MetaEnv, MetaVectorEnv, check_choice, check_int

PRESETS = {"small": (5, 250), "large": (9, 1000)}  # preset -> (size, episode_steps)
ACTION_SETS = ("egocentric", "cardinal")
OPEN, WALL, GOAL = 0, 1, 2  # codes of the grid squares
STEP_REWARD, WALL_PENALTY, GOAL_REWARD = -0.01, -0.001, 1.0

# Headings and cardinal actions: 0 north (up, row - 1), 1 east, 2 south, 3 west.
NORTH, EAST, SOUTH, WEST = 0, 1, 2, 3
DR, DC = (-1, 0, 1, 0), (0, 1, 0, -1)  # row/column change of a move north, east, south, west
# Egocentric actions, and the change of heading each makes (a turn is a quarter, clockwise positive).
FORWARD, TURN_LEFT, TURN_RIGHT = 0, 1, 2
HEADING_CHANGE = (0, -1, 1)  # indexed by egocentric action
# Fewest turns that make an agent facing h face direction d, indexed by (d - h) % 4 (a U-turn is two).
TURNS_TO_FACE = (0, 1, 2, 1)


def reached_goal(reward) -> np.ndarray:
    """bool [n] (or a bool for a scalar): which step rewards are those of a step onto the goal.

    The goal step pays STEP_REWARD + GOAL_REWARD (0.99) and every other step STEP_REWARD or less (< 0), so
    half the goal reward separates them, whatever precision the reward was stored in.
    """
    return np.asarray(reward) > GOAL_REWARD / 2


def turn_towards(direction: int, heading: int) -> int:
    """The egocentric action that brings an agent facing `heading` towards `direction`: FORWARD when it faces
    it already, else a turn (TURN_RIGHT for a U-turn, which takes two)."""
    return (FORWARD, TURN_RIGHT, TURN_RIGHT, TURN_LEFT)[(direction - heading) % 4]


def path_actions(directions: list[int], heading: int, egocentric: bool) -> list[int]:
    """The actions that walk a path of cell moves (`directions`, each 0 N .. 3 W) starting with `heading`:
    the directions themselves for cardinal actions; for egocentric ones the turns to face each direction
    (fewest: TURNS_TO_FACE) followed by FORWARD."""
    if not egocentric:
        return list(directions)
    actions = []
    for d in directions:
        while heading != d:
            turn = turn_towards(d, heading)
            actions.append(turn)
            heading = (heading + HEADING_CHANGE[turn]) % 4
        actions.append(FORWARD)
    return actions


@dataclass(frozen=True)
class MazeObsLayout:
    """Where each part of a maze observation lies (float32 [obs_dim], docs/interfaces.md):

        walls [area] | goal [area] | heading one-hot [4] | (row one-hot [size] | column one-hot [size]) | flag

    with area = window * window, window = 2 * view_size + 1; the position one-hots only with
    `observe_position`. The fields are `slice`s into an observation's last axis (None for an absent part).
    `egocentric` says whether the window turns with the agent (else it is north-up).
    """

    view_size: int
    size: int
    observe_position: bool = False
    egocentric: bool = True

    @property
    def window(self) -> int:
        """Squares per side of the view window: the view_size cells around the agent and their walls."""
        return 2 * self.view_size + 1

    @property
    def area(self) -> int:
        return self.window * self.window

    @property
    def walls(self) -> slice:
        """The window's squares (row-major), 1 = wall (outside the maze counts as wall)."""
        return slice(0, self.area)

    @property
    def goal(self) -> slice:
        """The window's squares (row-major), 1 = the goal square."""
        return slice(self.area, 2 * self.area)

    @property
    def heading(self) -> slice:
        """Heading one-hot [4]: north, east, south, west."""
        return slice(2 * self.area, 2 * self.area + 4)

    @property
    def position_rows(self) -> slice | None:
        """One-hot [size] of the agent's cell's row (0 north), or None without `observe_position`."""
        first = self.heading.stop
        return slice(first, first + self.size) if self.observe_position else None

    @property
    def position_cols(self) -> slice | None:
        """One-hot [size] of the agent's cell's column (0 west), or None without `observe_position`."""
        first = self.heading.stop + self.size
        return slice(first, first + self.size) if self.observe_position else None

    @property
    def obs_dim(self) -> int:
        return 2 * self.area + 4 + (2 * self.size if self.observe_position else 0) + 1

    @property
    def flag(self) -> int:
        """Index of the inner-episode flag: the last entry (`FLAG_INDEX` counted from the front)."""
        return self.obs_dim + FLAG_INDEX

    @property
    def window_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """(row offsets, column offsets), each int64 [4, area]: for an agent facing heading h, window square k
        (row-major) is the maze square at the agent's square + (rows[h, k], cols[h, k]). Egocentric: row 0 is
        farthest ahead, column 0 on the agent's left; otherwise every heading gets the north-up window."""
        i, j = np.meshgrid(np.arange(-self.view_size, self.view_size + 1),
                           np.arange(-self.view_size, self.view_size + 1), indexing="ij")
        i, j = i.reshape(-1), j.reshape(-1)
        # (row, column) offsets facing N, E, S, W: the window (i < 0 ahead, j > 0 to the right) turned.
        turned = [(i, j), (j, -i), (-i, -j), (-j, i)] if self.egocentric else [(i, j)] * 4
        return (np.stack([t[0] for t in turned]).astype(np.int64),
                np.stack([t[1] for t in turned]).astype(np.int64))

    def headings_of(self, obs: np.ndarray) -> np.ndarray:
        """int64 [n]: the heading (0 N .. 3 W) shown in each row of observations `obs` [n, obs_dim]."""
        return np.asarray(obs)[:, self.heading].argmax(-1)


@functools.cache
def _neighbours(size: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """For each cell r * size + c: its (neighbour cell, direction) pairs inside the maze."""
    out = []
    for r in range(size):
        for c in range(size):
            out.append(tuple(((r + DR[d]) * size + c + DC[d], d) for d in range(4)
                             if 0 <= r + DR[d] < size and 0 <= c + DC[d] < size))
    return tuple(out)


def random_maze(size: int, uniforms: list[float]) -> tuple[list[tuple[int, int]], int, int, int]:
    """A random perfect maze from `size * size + 3` uniforms in [0, 1).

    uniforms[0] picks the cell where the depth-first search starts, [1] the start cell, [2] the goal cell
    (any other cell), [3] the start heading, and each further one the next passage to carve. Returns
    (passages as (cell, direction) pairs, start cell, goal cell, start heading); cells are r * size + c.
    (int(u * m) < m for every double u < 1, so the picks never run past the end.)
    """
    cells = size * size
    neighbours = _neighbours(size)
    root = int(uniforms[0] * cells)
    start = int(uniforms[1] * cells)
    goal = int(uniforms[2] * (cells - 1))
    goal += goal >= start
    heading = int(uniforms[3] * 4)
    visited = [False] * cells
    visited[root] = True
    stack = [root]
    passages = []
    k = 4
    while stack:
        cell = stack[-1]
        options = [nd for nd in neighbours[cell] if not visited[nd[0]]]
        if options:
            nxt, d = options[int(uniforms[k] * len(options))]
            k += 1
            visited[nxt] = True
            passages.append((cell, d))
            stack.append(nxt)
        else:
            stack.pop()
    return passages, start, goal, heading


def cell_square(cell) -> tuple[int, int]:
    """The square (row, column) of `grids` where cell (row, column) lies."""
    return 2 * int(cell[0]) + 1, 2 * int(cell[1]) + 1


# Colours (RGB) of `maze_image`, and the characters of `maze_text` (the agent is an arrow, "^>v<" by heading).
MAZE_COLOURS = {"open": (255, 255, 255), "wall": (40, 40, 40), "goal": (220, 50, 50), "start": (180, 225, 180),
                "seen": (255, 240, 170), "agent": (30, 90, 210)}
MAZE_CHARS = {OPEN: " ", WALL: "#", GOAL: "G", "start": "S", "agent": "^>v<"}


@functools.cache
def _arrow(scale: int, heading: int) -> np.ndarray:
    """bool [scale, scale]: a triangle pointing towards `heading` (0 N .. 3 W) inside a square."""
    u, v = np.meshgrid((np.arange(scale) + 0.5) / scale, (np.arange(scale) + 0.5) / scale, indexing="ij")
    north = (u >= 0.15) & (u <= 0.85) & (np.abs(v - 0.5) <= 0.5 * (u - 0.15))
    return np.rot90(north, k=-heading)  # clockwise quarter turns: N -> E -> S -> W


def maze_image(grid: np.ndarray, agent_cell, heading: int, start_cell=None, layout: MazeObsLayout | None = None,
               scale: int = 16) -> np.ndarray:
    """An RGB picture, uint8 [rows * scale, columns * scale, 3], of a maze drawn in squares (as in `grids`):
    walls dark, the goal red, the start cell (if given) green, the open squares of the agent's view window
    (with `layout`: what its observation shows) yellow, and the agent as a blue arrow towards `heading`."""
    grid = np.asarray(grid)
    height, width = grid.shape
    colours = np.empty((height, width, 3), np.uint8)
    colours[:] = MAZE_COLOURS["open"]
    row, col = cell_square(agent_cell)
    if layout is not None:
        rows, cols = layout.window_offsets
        seen_r, seen_c = row + rows[heading], col + cols[heading]
        inside = (seen_r >= 0) & (seen_r < height) & (seen_c >= 0) & (seen_c < width)
        colours[seen_r[inside], seen_c[inside]] = MAZE_COLOURS["seen"]
    if start_cell is not None:
        colours[cell_square(start_cell)] = MAZE_COLOURS["start"]
    colours[grid == WALL] = MAZE_COLOURS["wall"]
    colours[grid == GOAL] = MAZE_COLOURS["goal"]
    image = np.repeat(np.repeat(colours, scale, axis=0), scale, axis=1)
    image[row * scale:(row + 1) * scale, col * scale:(col + 1) * scale][_arrow(scale, int(heading))] = \
        MAZE_COLOURS["agent"]
    return image


def maze_text(grid: np.ndarray, agent_cell, heading: int, start_cell=None) -> str:
    """The maze drawn in squares as text, one character a square (`MAZE_CHARS`): walls "#", the goal "G", the
    start cell "S", the agent an arrow towards `heading`."""
    grid = np.asarray(grid)
    chars = np.full(grid.shape, MAZE_CHARS[OPEN])
    chars[grid == WALL] = MAZE_CHARS[WALL]
    chars[grid == GOAL] = MAZE_CHARS[GOAL]
    if start_cell is not None:
        chars[cell_square(start_cell)] = MAZE_CHARS["start"]
    chars[cell_square(agent_cell)] = MAZE_CHARS["agent"][int(heading)]
    return "\n".join("".join(row) for row in chars)


def grid_path(grid: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[int] | None:
    """Directions (0 N .. 3 W) of the fewest cell moves from square `start` to square `goal`, or None if no
    path joins them (breadth-first search).

    `grid` [H, W] is a maze drawn in squares as in `grids` (cells two squares apart): a move from a cell to the
    next one in direction d is open when the square between them is OPEN; any other code (WALL, or a code
    for "not seen yet" in a map being explored) blocks it. The cells' own squares are not read.
    """
    width = grid.shape[1]
    squares = grid.ravel().tolist()  # flat Python ints: list lookups cost a fraction of numpy scalar ones
    wall_offsets = [DR[d] * width + DC[d] for d in range(4)]  # flat offset of the square towards d
    first, last = start[0] * width + start[1], goal[0] * width + goal[1]
    came = {first: None}  # square -> (square it was reached from, direction of that move)
    queue = deque([first])
    while queue:
        square = queue.popleft()
        if square == last:
            break
        for d, offset in enumerate(wall_offsets):
            nxt = square + 2 * offset
            if squares[square + offset] == OPEN and nxt not in came:
                came[nxt] = (square, d)
                queue.append(nxt)
    if last not in came:
        return None
    directions = []
    square = last
    while came[square] is not None:
        square, d = came[square]
        directions.append(d)
    return directions[::-1]


def shortest_path_length(grid: np.ndarray, start: tuple[int, int], goal: tuple[int, int], heading: int,
                         egocentric: bool) -> int:
    """Fewest actions from square `start` (facing `heading`) to square `goal` of a perfect maze `grid`.

    The path between two cells of a perfect maze is unique, and any walk between them covers it, so the
    fewest egocentric actions are its moves plus the turns it needs (`path_actions`): 0, 1 or 2 to face its
    first direction, then one at each bend (a simple path never reverses).
    """
    directions = grid_path(grid, start, goal)
    if directions is None:
        raise ValueError(f"goal square {goal} is not reachable from start square {start}")
    return len(path_actions(directions, heading, egocentric))


class MazeVectorEnv(MetaVectorEnv):
    """`num_envs` maze trials; options and layouts in the module docstring.

    Exposes the current trials' layouts: `grids` (uint8 [num_envs, 2*size+1, 2*size+1]; OPEN, WALL or GOAL;
    cell (r, c) is square (2r+1, 2c+1)), `start_cells`, `goal_cells`, `agent_cells` (int [num_envs, 2],
    (row, column) of a cell), `headings` and `start_headings` (int [num_envs]); and `obs_layout` (a
    `MazeObsLayout`).
    """

    reward_bounds = (STEP_REWARD + WALL_PENALTY, STEP_REWARD + GOAL_REWARD)

    def __init__(self, num_envs: int = 1, preset: str = "small", size: int | None = None,
                 episode_steps: int | None = None, episodes: int = 2, actions: str = "egocentric",
                 view_size: int = 3, observe_position: bool = False, max_episode_steps: int | None = None):
        num_envs = check_int("num_envs", num_envs, 1)
        if max_episode_steps is not None:
            raise ValueError(f"max_episode_steps={max_episode_steps!r} is not a maze option: the inner-"
                             "episode cap is `episode_steps` (gymnasium.make takes max_episode_steps for a "
                             "TimeLimit on the whole trial)")
        preset = check_choice("preset", preset, tuple(PRESETS))
        preset_size, preset_steps = PRESETS[preset]
        self.size = check_int("size", preset_size if size is None else size, 2, " (cells per side)")
        if episode_steps is None:
            episode_steps = preset_steps
        self.episode_steps = check_int("episode_steps", episode_steps, 1)
        episodes = check_int("episodes", episodes, 1)
        self.action_set = check_choice("actions", actions, ACTION_SETS)
        self.view_size = check_int("view_size", view_size, 1, " and odd")
        if view_size % 2 == 0:
            raise ValueError(f"view_size={view_size!r} is invalid: expected an odd integer >= 1 (the agent "
                             "is the centre of the view)")
        if not isinstance(observe_position, bool):
            raise ValueError(f"observe_position={observe_position!r} is invalid: expected true or false")
        self.observe_position = observe_position
        self.egocentric = self.action_set == "egocentric"
        self.obs_layout = layout = MazeObsLayout(self.view_size, self.size, observe_position, self.egocentric)
        self._setup(num_envs, obs_dim=layout.obs_dim, num_actions=3 if self.egocentric else 4,
                    episodes=episodes, max_trial_steps=episodes * self.episode_steps)

        # The maze lives in a padded square grid, one flat row per env: cell (r, c) is square
        # (2r+1+pad, 2c+1+pad). The padding (walls) keeps every view window inside its own row, so moves and
        # views are plain flat-index lookups. Positions are stored as flat indices into all rows at once.
        n, pad = num_envs, self.view_size
        self._pad = pad
        self._width = width = 2 * self.size + 1 + 2 * pad
        self._grid = np.full((n, width * width), WALL, np.uint8)
        self._grid_flat = self._grid.reshape(-1)
        self._row_base = np.arange(n, dtype=np.int64) * (width * width)
        self._cell_square = [(2 * r + 1 + pad) * width + 2 * c + 1 + pad
                             for r in range(self.size) for c in range(self.size)]
        self._template = np.full(width * width, WALL, np.uint8)  # all cells open, all walls standing
        self._template[self._cell_square] = OPEN
        self._delta_list = [DR[d] * width + DC[d] for d in range(4)]
        self._delta = np.array(self._delta_list, np.int64)
        self._turn = np.array(HEADING_CHANGE, np.int64)
        # Indexed by bump + 2 * at_goal. Entry 3 is only read by a row that ended its trial at the goal and is
        # stepped once more before its autoreset (that step is discarded).
        self._reward_table = np.array([STEP_REWARD, STEP_REWARD + WALL_PENALTY, STEP_REWARD + GOAL_REWARD,
                                       STEP_REWARD + GOAL_REWARD])
        # Flat offsets [4, area] of the view window's squares for each heading (the padding is view_size).
        window_rows, window_cols = layout.window_offsets
        self._view_offsets = window_rows * width + window_cols
        self._eye4 = np.eye(4, dtype=np.float32)
        self._eye_size = np.eye(self.size, dtype=np.float32)
        self._idx = np.zeros((n, layout.area), np.int64)  # step buffers of _write_obs
        self._squares = np.zeros((n, layout.area), np.uint8)

        self._pos = np.zeros(n, np.int64)
        self._start = np.zeros(n, np.int64)
        self._goal = np.zeros(n, np.int64)
        self._heading = np.zeros(n, np.int64)
        self._start_heading = np.zeros(n, np.int64)
        self._shortest = np.zeros(n, np.int64)
        self._success = np.zeros((n, episodes), bool)

    # ---- layouts, for tests, evaluation and rendering ------------------------------------------------------

    @property
    def grids(self) -> np.ndarray:
        full = 2 * self.size + 1
        grids = self._grid.reshape(self.num_envs, self._width, self._width)
        return grids[:, self._pad: self._pad + full, self._pad: self._pad + full].copy()

    def _cells(self, flat: np.ndarray) -> np.ndarray:
        """(row, column) [n, 2] of the cells at flat positions of any rows (the modulo drops the row's base)."""
        local = flat % (self._width * self._width)
        return np.stack([(local // self._width - self._pad) // 2, (local % self._width - self._pad) // 2], 1)

    @property
    def start_cells(self) -> np.ndarray:
        return self._cells(self._start)

    @property
    def goal_cells(self) -> np.ndarray:
        return self._cells(self._goal)

    @property
    def agent_cells(self) -> np.ndarray:
        return self._cells(self._pos)

    @property
    def headings(self) -> np.ndarray:
        return self._heading.copy()

    @property
    def start_headings(self) -> np.ndarray:
        """The heading every inner episode of the current trials starts with."""
        return self._start_heading.copy()

    # ---- task hooks ---------------------------------------------------------------------------------------

    def _new_trials(self, rows: np.ndarray) -> None:
        size, cells, width = self.size, self.size * self.size, self._width
        squares, delta = self._cell_square, self._delta_list
        for i in rows:
            uniforms = self._rngs[i].random(cells + 3).tolist()
            passages, start, goal, heading = random_maze(size, uniforms)
            grid = self._grid[i]
            grid[:] = self._template
            grid[[squares[c] + delta[d] for c, d in passages]] = OPEN
            grid[squares[goal]] = GOAL
            base = int(self._row_base[i])
            self._start[i] = self._pos[i] = base + squares[start]
            self._goal[i] = base + squares[goal]
            self._start_heading[i] = self._heading[i] = heading
            self._shortest[i] = shortest_path_length(grid.reshape(width, width), divmod(squares[start], width),
                                                     divmod(squares[goal], width), heading, self.egocentric)
        self._success[rows] = False
        self._write_obs(rows)

    def _write_obs(self, rows: np.ndarray | None = None) -> None:
        """Write the observation (all but the flag) of `rows`, or of every row if None."""
        layout = self.obs_layout
        if rows is None:
            # Every step: preallocated buffers, as fresh ~400 kB temporaries per step cost more than the
            # arithmetic (the allocator hands them back to the OS and faults them in again).
            pos, heading, idx, squares, obs = self._pos, self._heading, self._idx, self._squares, self._obs
            if self.egocentric:
                np.take(self._view_offsets, heading, axis=0, out=idx)
            else:
                idx[:] = self._view_offsets[0]
            np.add(idx, pos[:, None], out=idx)
            np.take(self._grid_flat, idx, out=squares)
            np.equal(squares, WALL, out=obs[:, layout.walls])
            np.equal(squares, GOAL, out=obs[:, layout.goal])
            obs[:, layout.heading] = self._eye4[heading]
            if self.observe_position:
                self._write_position(slice(None), pos)
            return
        pos, heading = self._pos[rows], self._heading[rows]
        offsets = self._view_offsets[heading] if self.egocentric else self._view_offsets[0]
        squares = self._grid_flat.take(pos[:, None] + offsets)
        self._obs[rows, layout.walls] = squares == WALL
        self._obs[rows, layout.goal] = squares == GOAL
        self._obs[rows, layout.heading] = self._eye4[heading]
        if self.observe_position:
            self._write_position(rows, pos)

    def _write_position(self, rows, pos: np.ndarray) -> None:
        """The row and column one-hots of the agent's cell, after the heading."""
        cells = self._cells(pos)
        self._obs[rows, self.obs_layout.position_rows] = self._eye_size[cells[:, 0]]
        self._obs[rows, self.obs_layout.position_cols] = self._eye_size[cells[:, 1]]

    def _task_step(self, actions: np.ndarray):
        if self.egocentric:
            self._heading = heading = (self._heading + self._turn.take(actions)) & 3
            delta = self._delta.take(heading)
            forward = actions == FORWARD
            blocked = self._grid_flat.take(self._pos + delta) == WALL
            bump = forward & blocked
            self._pos += np.where(forward & ~blocked, 2 * delta, 0)
        else:
            self._heading = actions.copy()
            delta = self._delta.take(actions)
            bump = self._grid_flat.take(self._pos + delta) == WALL
            self._pos += np.where(bump, 0, 2 * delta)
        at_goal = self._pos == self._goal
        reward = self._reward_table.take(bump + 2 * at_goal)
        inner_done = at_goal | (self._ep_len >= self.episode_steps - 1)  # _ep_len: steps before this one
        self._write_obs()
        return reward, inner_done

    def _end_inner_episodes(self, rows: np.ndarray, continuing: np.ndarray) -> None:
        self._success[rows, self._ep_idx[rows]] = self._pos[rows] == self._goal[rows]
        restart = rows[continuing]
        self._pos[restart] = self._start[restart]
        self._heading[restart] = self._start_heading[restart]
        self._write_obs(restart)

    def _task_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"shortest_path": self._shortest[rows]}

    def _final_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"success": self._success[rows]}

    def _episode_end_info(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"final_cell": self._cells(self._pos[rows]), "final_heading": self._heading[rows]}


class MazeEnv(MetaEnv):
    """One maze trial per episode; see the module docstring. `render_mode`: None, "ansi" (`maze_text`) or
    "rgb_array" (`maze_image`: the maze, what the agent sees, the agent; for Gymnasium's RecordVideo)."""

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 8}
    vector_class = MazeVectorEnv

    def __init__(self, preset: str = "small", size: int | None = None, episode_steps: int | None = None,
                 episodes: int = 2, actions: str = "egocentric", view_size: int = 3,
                 observe_position: bool = False, max_episode_steps: int | None = None,
                 render_mode: str | None = None):
        super().__init__(render_mode=render_mode, preset=preset, size=size, episode_steps=episode_steps,
                         episodes=episodes, actions=actions, view_size=view_size,
                         observe_position=observe_position, max_episode_steps=max_episode_steps)

    def _drawing(self) -> dict:
        core = self._core
        return {"grid": core.grids[0], "agent_cell": core.agent_cells[0], "heading": int(core.headings[0]),
                "start_cell": core.start_cells[0]}

    def _render_text(self) -> str:
        return maze_text(**self._drawing())

    def _render_rgb(self) -> np.ndarray:
        return maze_image(**self._drawing(), layout=self.obs_layout)
