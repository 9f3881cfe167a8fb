"""``tubeworks up``: one config file runs the queue server and autoscaled worker pools.

* :mod:`~tubeworks.stack.config` turns the config (supervisord's INI plus ``[up]``,
  ``[queue]``, ``[pool:x]``) into supervisor records;
* :mod:`~tubeworks.stack.scaling` decides pool sizes from the queue's backlog (pure);
* :mod:`~tubeworks.stack.runner` runs the supervisor, waits for the queue, starts the pools
  and the autoscalers;
* :mod:`~tubeworks.stack.command` holds the ``up`` and ``init`` commands.
"""

from tubeworks.stack.config import PoolSpec, QueueSpec, StackConfig, parse_stack
from tubeworks.stack.scaling import Decision, ScaleState, decide

__all__ = [
    "Decision",
    "PoolSpec",
    "QueueSpec",
    "ScaleState",
    "StackConfig",
    "decide",
    "parse_stack",
]
