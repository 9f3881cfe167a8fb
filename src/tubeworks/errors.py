"""The root of every error tubeworks raises on purpose.

Each part keeps its own tree under :class:`TubeworksError` (the client's is drawn in
:mod:`tubeworks.client.errors`), so ``except TubeworksError`` catches anything we meant to raise
while real bugs (``TypeError``, ``KeyError``...) still surface as themselves.
"""

from __future__ import annotations

__all__ = ["TubeworksError"]


class TubeworksError(Exception):
    """Base class for all errors raised deliberately by tubeworks."""
