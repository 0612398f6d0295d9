"""Maze baselines: a depth-first explorer that maps what it sees, a wall follower that remembers nothing, and an
oracle that walks the shortest path."""

from __future__ import annotations

import numpy as np

from snail.envs import inner_episode_starts
from snail.envs.maze import (
    DC,
    DR,
    FORWARD,
    GOAL,
    OPEN,
    TURN_LEFT,
    TURN_RIGHT,
    TURNS_TO_FACE,
    WALL,
    MazeObsLayout,
    cell_square,
    grid_path,
    path_actions,
    reached_goal,
    turn_towards,
)
from snail.evaluation.baselines.common import BatchedPolicy, RandomPolicy, action_sized

_UNKNOWN = -1


class _MazePolicy(BatchedPolicy):
    """Reads the maze env's sizes (`size`, `view_size`, `egocentric`, `observe_position`) and parses its
    observation through the env's `MazeObsLayout`."""

    def __init__(self, num_envs, num_actions, seed=0, size: int = 5, view_size: int = 3,
                 egocentric: bool = True, observe_position: bool = False):
        super().__init__(num_envs, num_actions, seed)
        self.size, self.view_size, self.egocentric = int(size), int(view_size), bool(egocentric)
        self.obs_layout = MazeObsLayout(self.view_size, self.size, bool(observe_position), self.egocentric)


class MazeOraclePolicy(_MazePolicy):
    """Knows the maze (the env's `grids`, `start_cells`, `goal_cells`, `headings`) and follows the shortest
    path from the start to the goal in every inner episode: `shortest_path` actions each."""

    def __init__(self, num_envs, num_actions, seed=0, **maze):
        super().__init__(num_envs, num_actions, seed, **maze)
        self.plans: list[list[int]] = [[] for _ in range(self.num_envs)]
        self.step = np.zeros(self.num_envs, dtype=np.int64)

    def set_task(self, info, rows, env=None):
        if env is None:
            raise ValueError("the maze oracle needs the env (set_task(info, rows, env)) to read the maze")
        grids, starts, goals, headings = env.grids, env.start_cells, env.goal_cells, env.headings
        for i in rows:
            directions = grid_path(grids[i], cell_square(starts[i]), cell_square(goals[i]))
            plan = path_actions(directions, int(headings[i]), self.egocentric)
            # After the goal (a step whose action the env ignores): turn left / step back the way it came.
            plan.append(TURN_LEFT if self.egocentric else (directions[-1] + 2) % 4)
            self.plans[i] = plan

    def _choose(self, obs, reset):
        self.step[reset | inner_episode_starts(obs)] = 0
        plans, step = self.plans, self.step
        action = np.array([plans[i][min(step[i], len(plans[i]) - 1)] for i in range(self.num_envs)])
        self.step += 1
        return action


class MazeExplorerPolicy(_MazePolicy):
    """Explores a maze it does not know by depth-first search, then goes straight to the goal.

    It keeps a map of the squares it has seen (walls, open squares, goal) in a frame fixed to its start cell:
    the heading is in the observation, the position comes from dead reckoning (a forward move succeeds unless
    the map shows a wall ahead; the view always includes the adjacent walls, so it never bumps). The map and
    its memory are kept across the trial's inner episodes (every inner episode restarts at the start cell).
    At every cell: if the goal square has been seen, it takes the fewest moves to it through known passages
    (in a perfect maze this is the shortest path, so once the goal is known every later inner episode takes
    exactly `shortest_path` actions); otherwise depth-first search over cells: move into a neighbouring branch
    (not back towards its parent) that still holds an unseen square, preferring the fewest turns; with none
    left, backtrack to the parent cell.
    """

    def __init__(self, num_envs, num_actions, seed=0, **maze):
        super().__init__(num_envs, num_actions, seed, **maze)
        self.half = 2 * self.size + self.view_size + 1
        width = 2 * self.half + 1
        self.map = np.full((self.num_envs, width, width), _UNKNOWN, dtype=np.int8)
        self.pos = np.full((self.num_envs, 2), self.half, dtype=np.int64)
        self.stack: list[list[tuple[int, int]]] = [[] for _ in range(self.num_envs)]
        self.direction = np.full(self.num_envs, -1, dtype=np.int64)  # planned move from the current cell
        self.heading = np.zeros(self.num_envs, dtype=np.int64)  # heading in the last observation
        self.arrived = np.ones(self.num_envs, dtype=bool)  # at a cell it has not planned from yet
        # Map offsets [4, area] of the view's squares for each heading.
        self.view_r, self.view_c = self.obs_layout.window_offsets

    def _restart(self, rows):
        self.pos[rows] = self.half
        for i in rows:
            self.stack[i] = [(self.half, self.half)]
        self.arrived[rows] = True

    def _reset_rows(self, rows):
        self.map[rows] = _UNKNOWN
        self._restart(rows)

    def _update(self, rows, obs, prev_action, prev_reward):
        # Direction of the last action's move: a forward move keeps the heading seen before it (the obs now
        # may be a new inner episode's, with the start heading); a cardinal move goes where it says.
        if self.egocentric:
            moving, heading = prev_action == 0, self.heading[rows]
        else:
            moving, heading = np.ones(len(rows), dtype=bool), prev_action
        dr, dc = np.take(DR, heading), np.take(DC, heading)
        r, c = self.pos[rows, 0], self.pos[rows, 1]
        moved = moving & (self.map[rows, r + dr, c + dc] != WALL)
        self.pos[rows, 0] += np.where(moved, 2 * dr, 0)
        self.pos[rows, 1] += np.where(moved, 2 * dc, 0)
        # The goal reward (+1) means that move reached the goal (with a small view it may never have been
        # seen: the episode ends on arrival).
        at_goal = rows[moved & reached_goal(prev_reward)]
        self.map[at_goal, self.pos[at_goal, 0], self.pos[at_goal, 1]] = GOAL
        self.arrived[rows[moved]] = True
        for i in rows[moved]:
            cell = (int(self.pos[i, 0]), int(self.pos[i, 1]))
            stack = self.stack[i]
            if len(stack) >= 2 and stack[-2] == cell:
                stack.pop()
            else:
                stack.append(cell)

    def _choose(self, obs, reset):
        flag = ~reset & inner_episode_starts(obs)
        if flag.any():  # a new inner episode: back at the start cell, facing the start heading
            self._restart(np.flatnonzero(flag))
        self.heading = heading = self.obs_layout.headings_of(obs)
        walls, goal = obs[:, self.obs_layout.walls] > 0.5, obs[:, self.obs_layout.goal] > 0.5
        rows = np.arange(self.num_envs)[:, None]
        seen_r = self.pos[:, :1] + self.view_r[heading]
        seen_c = self.pos[:, 1:] + self.view_c[heading]
        self.map[rows, seen_r, seen_c] = np.where(walls, WALL, np.where(goal, GOAL, OPEN))
        for i in np.flatnonzero(self.arrived | (self.direction < 0)):
            self.direction[i] = self._plan(i, int(heading[i]))
        self.arrived[:] = False
        if self.egocentric:
            return np.array([turn_towards(d, h) for d, h in zip(self.direction, heading, strict=True)])
        return self.direction.copy()

    def _plan(self, i: int, heading: int) -> int:
        """Direction of the next move of row i from its current cell."""
        grid, cell = self.map[i], (int(self.pos[i, 0]), int(self.pos[i, 1]))
        goals = np.argwhere(grid == GOAL)
        if len(goals):
            path = grid_path(grid, cell, tuple(int(x) for x in goals[0]))
            if path:
                return path[0]
        stack = self.stack[i]
        parent = stack[-2] if len(stack) >= 2 else None
        r, c = cell
        options = []
        for d in range(4):
            nxt = (r + 2 * DR[d], c + 2 * DC[d])
            if grid[r + DR[d], c + DC[d]] == OPEN and nxt != parent and self._unexplored(grid, nxt, cell):
                options.append((TURNS_TO_FACE[(d - heading) % 4], d))
        if options:
            return min(options)[1]
        if parent is not None:
            return next(d for d in range(4) if (r + 2 * DR[d], c + 2 * DC[d]) == parent)
        open_dirs = [d for d in range(4) if grid[r + DR[d], c + DC[d]] == OPEN]  # nothing left to explore
        return int(self.rng.choice(open_dirs)) if open_dirs else int(self.rng.integers(4))

    @staticmethod
    def _unexplored(grid: np.ndarray, start: tuple[int, int], came_from: tuple[int, int]) -> bool:
        """Whether the branch of cells reached from `start` through known passages, without going back
        through `came_from`, has a cell with an unseen square (itself or one of its four walls)."""
        seen, todo = {start, came_from}, [start]
        while todo:
            r, c = todo.pop()
            if grid[r, c] == _UNKNOWN:
                return True
            for d in range(4):
                wall = grid[r + DR[d], c + DC[d]]
                if wall == _UNKNOWN:
                    return True
                nxt = (r + 2 * DR[d], c + 2 * DC[d])
                if wall == OPEN and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False


class MazeWallFollowerPolicy(_MazePolicy):
    """Keeps one hand (`hand`: left or right) on the wall from the start of every inner episode: at each cell it
    goes into the first open passage of: that hand's side, ahead, the other side, behind. Our mazes are perfect
    (one path between any two cells), so it always reaches the goal, and it remembers nothing from one inner
    episode to the next: the same walk in both. The reference for a learned agent that walks without using its
    memory of earlier episodes: what episode 2 costs when nothing is remembered but the rule."""

    def __init__(self, num_envs, num_actions, seed=0, hand: str = "left", **maze):
        super().__init__(num_envs, num_actions, seed, **maze)
        if hand not in ("left", "right"):
            raise ValueError(f"hand={hand!r}: allowed: 'left' or 'right'")
        self.side = -1 if hand == "left" else 1  # the heading change of a quarter turn towards the hand
        self.towards_hand, self.away = (TURN_LEFT, TURN_RIGHT) if hand == "left" else (TURN_RIGHT, TURN_LEFT)
        rows, cols = self.obs_layout.window_offsets
        # [4 headings, 4 directions]: the window square between the agent's cell and the next one in a direction.
        self.between = np.array([[np.flatnonzero((rows[h] == DR[d]) & (cols[h] == DC[d]))[0] for d in range(4)]
                                 for h in range(4)])
        self.facing = np.zeros(self.num_envs, dtype=np.int64)  # cardinal actions: the direction of the last move
        self.turned = np.zeros(self.num_envs, dtype=bool)  # egocentric: turned towards the hand at the last step

    def _choose(self, obs, reset):
        start = reset | inner_episode_starts(obs)
        heading = self.obs_layout.headings_of(obs)
        self.turned[start] = False
        facing = heading if self.egocentric else np.where(start, heading, self.facing)
        walls = obs[:, self.obs_layout.walls] > 0.5
        order = (facing[:, None] + self.side * np.array([1, 0, -1, -2])) % 4  # [n, 4]: hand, ahead, other, behind
        blocked = np.take_along_axis(walls, self.between[facing[:, None], order], axis=1)  # [n, 4]
        direction = order[np.arange(self.num_envs), blocked.argmin(axis=1)]  # the first open one
        if not self.egocentric:
            self.facing = direction
            return direction
        # A quarter turn towards the hand is followed by the step into the passage it found there (turning again
        # where the new hand side is open too would spin in place).
        action = np.where(self.turned | (direction == heading), FORWARD,
                          np.where(direction == (heading + self.side) % 4, self.towards_hand, self.away))
        self.turned = action == self.towards_hand
        return action


def _maze(cls):
    return lambda env, num_envs, seed, **params: cls(num_envs, env.num_actions, seed, size=env.size,
                                                     view_size=env.view_size, egocentric=env.egocentric,
                                                     observe_position=env.observe_position, **params)


BUILDERS = {
    "random": action_sized(RandomPolicy),
    "explorer": _maze(MazeExplorerPolicy),
    "wall_follower": _maze(MazeWallFollowerPolicy),
    "oracle": _maze(MazeOraclePolicy),
}
