"""Process and daemon states, with the numeric codes supervisord publishes over XML-RPC.

No dependencies on purpose: the state machine, the daemon, the RPC layer and the control
command all import from here, and clients compare these codes on the wire.
"""

from __future__ import annotations

from enum import IntEnum


class ProcessState(IntEnum):
    """Life-cycle of one supervised process (codes as in supervisord's API 3.0)."""

    STOPPED = 0  # never started, or stopped by request
    STARTING = 10  # spawned, not yet up for startsecs
    RUNNING = 20  # stayed up longer than startsecs
    BACKOFF = 30  # a start failed; a retry is scheduled
    STOPPING = 40  # stop signal sent, waiting for the exit
    EXITED = 100  # exited by itself from RUNNING
    FATAL = 200  # too many failed starts; only a manual start leaves this
    UNKNOWN = 1000  # signalling failed in an unexpected way


class SupervisorState(IntEnum):
    """State of the daemon itself, as returned by ``supervisor.getState``."""

    FATAL = 2
    RUNNING = 1
    RESTARTING = 0
    SHUTDOWN = -1


# "stopped" for status exit codes and for removing a group
STOPPED_STATES = frozenset(
    {ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL, ProcessState.UNKNOWN}
)
# eligible for stop, not eligible for start
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
# a pid exists that a signal can reach
SIGNALLABLE_STATES = frozenset({ProcessState.RUNNING, ProcessState.STARTING, ProcessState.STOPPING})
