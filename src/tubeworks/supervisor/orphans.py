"""``pdeathsig=``: children that die with the supervisor instead of running on unsupervised.

On Linux a child can ask the kernel for a signal when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), which works even when the supervisor is SIGKILLed or crashes.
It is set in the forked child just before exec (after any ``user=`` switch, which would
clear it), so it covers the program itself; grandchildren need their own or a process
group stop.  Elsewhere the key is accepted and does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1


def _prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    prctl: Callable[..., int] = libc.prctl
    return prctl


def death_signal_hook(signo: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get ``signo`` when the supervisor dies.

    The supervisor's pid is taken now: if it is already gone by the time the child runs the
    hook (the signal would never come), the child signals itself."""
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        if prctl(PR_SET_PDEATHSIG, signo, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os.kill(os.getpid(), signo)

    return hook
