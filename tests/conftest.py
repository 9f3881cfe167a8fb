"""Shared fixtures: real queue servers on free ports (see ``tests/servers.py``).

Test directories are not packages (pytest's default "prepend" import mode), so every test
module needs a basename unique across ``tests/``: prefix it with its area (``test_queue_*``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from servers import RunningServer, running


@pytest.fixture
def beanstalkd() -> Iterator[RunningServer]:
    """The real beanstalkd (Debian package), the oracle."""
    with running("beanstalkd") as srv:
        yield srv


@pytest.fixture
def tubeworks_queue() -> Iterator[RunningServer]:
    """Our queue server, started as ``tubeworks queue``."""
    with running("tubeworks") as srv:
        yield srv


@pytest.fixture(params=["tubeworks", "beanstalkd"])
def any_server(request: pytest.FixtureRequest) -> Iterator[RunningServer]:
    """Each test using this runs once against ours and once against the real beanstalkd."""
    with running(request.param) as srv:
        yield srv


@pytest.fixture(scope="session")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> object:
    """Test CAs and certificates for TLS tests (see ``tests/tls_certs.py``)."""
    from tls_certs import make_pki

    return make_pki(tmp_path_factory.mktemp("pki"))
