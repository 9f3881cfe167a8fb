"""Fixtures for the supervisor tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from svtranscript import Transcript, transcript


@pytest.fixture(scope="session")
def transcripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Transcript]:
    """The scripted session three ways, run concurrently: supervisorctl against ours and
    against the real supervisord, and ``tubeworks ctl`` against ours."""
    runs = {
        "ours": ("tubeworks", "supervisorctl"),
        "real": ("supervisord", "supervisorctl"),
        "ours_ctl": ("tubeworks", "tubeworks"),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {
            name: pool.submit(transcript, kind, tmp_path_factory.mktemp(name), client)
            for name, (kind, client) in runs.items()
        }
        return {name: f.result() for name, f in futures.items()}
