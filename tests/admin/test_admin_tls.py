"""The command line over TLS with tokens: admin commands and ``tubeworks worker`` against a real
``tubeworks queue --tls-cert ... --auth-file ...`` (certificates from ``tests/tls_certs.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from servers import RunningServer, running
from tls_certs import Pki
from tubeworks.cli import cli
from tubeworks.client import Client, NotFound

pytestmark = pytest.mark.timeout(40)

RULES = """
[identity:admin]
token = admin-secret
admin = *
reserve = *
put = *

[identity:worker]
token = worker-secret
reserve = emails
"""

APP = textwrap.dedent(
    """
    import os, pathlib
    from tubeworks.worker import App

    app = App()

    @app.handler("emails")
    def send(payload):
        pathlib.Path(os.environ["DONE"]).write_text(payload["to"])
    """
)


@pytest.fixture(scope="module")
def queue(tls_pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    rules = tmp_path_factory.mktemp("rules") / "rules.ini"
    rules.write_text(RULES)
    with running("tubeworks", *tls_pki.server_flags(), "--auth-file", str(rules)) as srv:
        yield srv


@pytest.fixture
def admin(queue: RunningServer, tls_pki: Pki) -> Iterator[Client]:
    addr = f"tls://localhost:{queue.port}"
    with Client(addr, tls_ca=tls_pki.pem("ca"), token="admin-secret") as c:
        yield c
        c.use("emails")
        for peek in (c.peek_ready, c.peek_delayed, c.peek_buried):  # leave the server empty
            while True:
                try:
                    c.delete(peek())
                except NotFound:
                    break


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def test_tubes_json_over_tls_with_a_token(
    queue: RunningServer, tls_pki: Pki, admin: Client
) -> None:
    admin.use("emails")
    admin.put_many([b"a", b"b"])
    address = f"tls://localhost:{queue.port}"
    env = {"TUBEWORKS_TOKEN": "admin-secret", "TUBEWORKS_TLS_CA": tls_pki.pem("ca")}
    out = subprocess.run(
        [sys.executable, "-m", "tubeworks", "tubes", "--json", "--server", address],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (out.returncode, out.stderr) == (0, "")
    emails = [t for t in json.loads(out.stdout) if t["name"] == "emails"]
    assert [t["current-jobs-ready"] for t in emails] == [2]
    # The same with flags instead of the environment, and an address without the scheme.
    flags = ["--tls", "--tls-ca", tls_pki.pem("ca"), "--token", "admin-secret"]
    result = run("tubes", "--json", "-s", f"localhost:{queue.port}", *flags)
    assert result.exit_code == 0, result.output
    assert "emails" in [t["name"] for t in json.loads(result.stdout)]


def test_bulk_commands_use_the_same_settings(
    queue: RunningServer, tls_pki: Pki, admin: Client
) -> None:
    """clear/move/export/import work on a connection of their own: it must get TLS and auth."""
    admin.use("emails")
    admin.put_many([b"1", b"2", b"3"])
    flags = ["-s", f"tls://localhost:{queue.port}", "--tls-ca", tls_pki.pem("ca")]
    result = run("clear", "emails", "--yes", *flags, "--token", "admin-secret")
    assert result.exit_code == 0, result.output
    assert admin.stats_tube("emails").current_jobs_ready == 0


def test_refusals_have_their_exit_codes(queue: RunningServer, tls_pki: Pki) -> None:
    address = f"tls://localhost:{queue.port}"
    ca = tls_pki.pem("ca")
    result = run("tubes", "-s", address, "--tls-ca", ca, env={"TUBEWORKS_TOKEN": ""})
    assert (result.exit_code, result.stderr) == (
        1,
        "tubeworks tubes: server replied UNAUTHORIZED: not authenticated or wrong token "
        "(--token, $TUBEWORKS_TOKEN)\n",
    )
    result = run("put", "-s", address, "--tls-ca", ca, "--token", "worker-secret", "-t", "x", "y")
    assert result.exit_code == 1
    assert result.stderr.startswith("tubeworks put: server replied FORBIDDEN: this identity lacks")
    result = run("tubes", "-s", address, "--token", "admin-secret", env={"TUBEWORKS_TLS_CA": ""})
    assert (result.exit_code, result.stderr) == (
        3,
        f"tubeworks tubes: TLS handshake with {address} failed: server certificate not trusted: "
        "unable to get local issuer certificate\n",
    )
    result = run("stats", "-s", address, "--tls-ca", "/nonexistent/ca.pem")
    assert result.exit_code == 2
    assert result.stderr.startswith("tubeworks stats: cannot load TLS CA file '/nonexistent/ca")
    insecure = run("stats", "-s", address, "--tls-insecure", "--token", "admin-secret")
    assert insecure.exit_code == 0 and "current-connections:" in insecure.stdout


def spawn_worker(
    project: Path, queue: RunningServer, tls_pki: Pki, token: str
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "tubeworks", "worker", "jobs_app:app", "--max-jobs", "1"]
    argv += ["-a", f"tls://localhost:{queue.port}", "--tls-ca", tls_pki.pem("ca")]
    env = {**os.environ, "DONE": str(project / "done"), "TUBEWORKS_TOKEN": token}
    return subprocess.Popen(
        argv, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_worker_processes_a_job_over_tls_with_a_token(
    queue: RunningServer, tls_pki: Pki, admin: Client, tmp_path: Path
) -> None:
    (tmp_path / "jobs_app.py").write_text(APP)
    admin.use("emails")
    job_id = admin.put(json.dumps({"to": "a@example.com"}))
    worker = spawn_worker(tmp_path, queue, tls_pki, "worker-secret")
    _out, err = worker.communicate(timeout=30)  # --max-jobs 1: it exits after the job
    assert worker.returncode == 0, err
    assert (tmp_path / "done").read_text() == "a@example.com"
    with pytest.raises(NotFound):
        admin.peek(job_id)  # deleted after the handler returned


def test_worker_with_a_wrong_token_stops_with_status_1(
    queue: RunningServer, tls_pki: Pki, tmp_path: Path
) -> None:
    (tmp_path / "jobs_app.py").write_text(APP)
    worker = spawn_worker(tmp_path, queue, tls_pki, "not-the-token")
    _out, err = worker.communicate(timeout=30)  # stops by itself: no signal needed
    assert worker.returncode == 1
    assert f"queue tls://localhost:{queue.port} refused this worker: auth: UNAUTHORIZED" in err
