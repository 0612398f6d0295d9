from envs.maze import *  # noqa: F401,F403  TEMPORARY shim
