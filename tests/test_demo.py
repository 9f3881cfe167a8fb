"""``tubeworks demo``: run as a user would, as a child process, and read what it prints.

The demo itself starts the queue server and the PHP producer, so these tests start nothing but
``python -m tubeworks demo`` and check its output and exit status. The pure word-count helpers
get a few direct tests at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from servers import free_port
from tubeworks.demo import report, wordcount

needs_php = pytest.mark.skipif(
    shutil.which("php") is None or not Path("/usr/share/php/Pheanstalk/autoload.php").exists(),
    reason="needs php-cli and php-pda-pheanstalk",
)


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the demo; if it hangs, SIGTERM it (so it stops its own children) and fail."""
    argv = [sys.executable, "-m", "tubeworks", "demo", *args]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as demo:
        try:
            out, err = demo.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            demo.terminate()
            try:
                out, err = demo.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                demo.kill()
                out, err = demo.communicate()
            pytest.fail(f"demo still running after 40 s; its output:\n{out}\n{err}")
    return subprocess.CompletedProcess(argv, demo.returncode, out, err)


def assert_full_run(out: str, jobs: int) -> None:
    """The steps and the summary of a successful run with ``jobs`` word-count jobs."""
    assert "[php] useTube('phpsw')" in out
    assert re.search(r"\[php\] put\('count the elephpants'\) on 'phpsw' -> job (\d+)", out)
    assert "[php] watch('phpsw')" in out
    assert re.search(r"\[php\] reserve\(\) -> job \d+ 'count the elephpants'", out)
    assert re.search(r"\[php\] bury\(job \d+\) -> state buried", out)
    assert re.search(
        r"\[php\] kick\(1\) -> kicked 1; job \d+ is ready again, body 'count the elephpants'", out
    )
    assert f"[php] put {jobs} word-count jobs on 'wordcount'" in out
    assert f"[python] consumed {jobs + 1}/{jobs + 1} jobs" in out
    assert f"jobs produced   {jobs + 1} (1 on 'phpsw' + {jobs} on 'wordcount')" in out
    assert f"jobs consumed   {jobs + 1}" in out
    assert "jobs buried     1" in out
    assert "jobs kicked     1" in out
    assert "(matches the text)" in out
    stats = re.search(r"queue stats +(.*?)\n\[server\]", out, re.DOTALL)
    assert stats is not None
    counters = dict(re.findall(r"([a-z-]+) (\d+)", stats.group(1)))
    assert counters["cmd-put"] == str(jobs + 1)
    assert counters["cmd-delete"] == str(jobs + 1)
    assert counters["cmd-bury"] == "1"
    assert counters["cmd-kick"] == "1"
    assert counters["current-jobs-ready"] == "0"


@needs_php
@pytest.mark.timeout(60)
def test_demo_against_our_server() -> None:
    proc = run_demo("--jobs", "50")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "started tubeworks queue on 127.0.0.1:" in proc.stdout
    assert_full_run(proc.stdout, 50)
    assert proc.stdout.rstrip().endswith("tubeworks queue exited with status 0")


@needs_php
@pytest.mark.timeout(60)
def test_demo_against_real_beanstalkd_on_given_port() -> None:
    port = free_port()
    proc = run_demo("--jobs", "50", "--server", "beanstalkd", "--port", str(port))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert f"started beanstalkd on 127.0.0.1:{port}" in proc.stdout
    assert_full_run(proc.stdout, 50)
    assert "[server] sent SIGTERM" in proc.stdout


@pytest.mark.timeout(30)
def test_demo_without_php_says_what_to_install(tmp_path: Path) -> None:
    proc = run_demo("--jobs", "5", env={"PATH": str(tmp_path)})
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: php not found: the demo's producer is a PHP script; "
        "install: sudo apt-get install php-cli php-pda-pheanstalk"
    )
    assert "[server] started" not in proc.stdout


@pytest.mark.timeout(30)
def test_demo_refuses_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_demo("--jobs", "3", "--port", str(port))
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        f"Error: port {port} on 127.0.0.1 is not free (Address already in use); "
        "pick another with --port or leave it out"
    )


@needs_php
@pytest.mark.timeout(30)
def test_demo_stops_its_children_on_sigterm() -> None:
    """A demo killed politely mid-run takes its queue server (and producer) down with it."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "tubeworks", "demo", "--jobs", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    server_pid = 0
    try:
        assert demo.stdout is not None
        line = demo.stdout.readline()
        while line and not line.startswith("[server] started"):
            line = demo.stdout.readline()
        server_pid = int(re.search(r"\(pid (\d+)\)", line).group(1))  # type: ignore[union-attr]
        while line and not line.startswith("[php] connected"):
            line = demo.stdout.readline()
        assert line  # the producer is running when the signal arrives
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=20)
        assert demo.returncode == 128 + signal.SIGTERM
        assert not pid_alive(server_pid)
    finally:  # if the demo failed to clean up, do it here so no process outlives the test
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
        if server_pid and pid_alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(30)
def test_demo_rejects_zero_jobs() -> None:
    proc = run_demo("--jobs", "0")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "Error: --jobs must be at least 1, got 0"


def test_count_words_ignores_case_and_punctuation() -> None:
    assert wordcount.count_words("The crate, the CARD; the tube's 3 cards!") == Counter(
        {"the": 3, "crate": 1, "card": 1, "tube's": 1, "cards": 1}
    )


def test_parse_task_accepts_tasks_and_plain_text() -> None:
    task = wordcount.parse_task('{"task": "word-count", "seq": 4, "line": 5, "text": "a b"}')
    assert (task.text, task.seq, task.line) == ("a b", 4, 5)
    plain = wordcount.parse_task("count the elephpants")
    assert (plain.text, plain.seq, plain.line) == ("count the elephpants", None, None)
    bad = r"^expected a word-count task, got '\{\"task\": \"x\"\}'$"
    with pytest.raises(ValueError, match=bad):
        wordcount.parse_task('{"task": "x"}')
    with pytest.raises(ValueError, match=r"^word-count task needs text, seq and line, got "):
        wordcount.parse_task('{"task": "word-count", "text": "a"}')


def test_expected_counts_cycles_through_lines() -> None:
    lines = ["a b", "b c", "c d"]
    # 7 jobs: lines 1,2,3,1,2,3,1 -> "a b" three times, the others twice each.
    assert wordcount.expected_counts(lines, 7, ["a"]) == Counter({"a": 4, "b": 5, "c": 4, "d": 2})
    assert wordcount.corpus_lines("x\n\n  \ny\n") == ["x", "y"]


def test_producer_events_read_as_steps() -> None:
    say = report.describe_producer_event
    assert say({"event": "use", "tube": "phpsw"}) == "[php] useTube('phpsw')"
    assert say({"event": "bury", "id": 1, "state": "buried"}) == "[php] bury(job 1) -> state buried"
    batch = {"event": "batch", "tube": "w", "count": 10, "first_id": 2, "last_id": 11, "seconds": 0}
    assert (
        say(batch)
        == "[php] put 10 word-count jobs on 'w' (ids 2..11) in 0.00 s (too quick to time)"
    )
    assert say({"event": "surprise"}) == "[php] {'event': 'surprise'}"


def test_summary_flags_word_totals_that_do_not_match() -> None:
    summary = report.Summary(
        server="tubeworks queue",
        intro_tube="phpsw",
        batch_tube="wordcount",
        batch=2,
        consumed=3,
        buried=1,
        kicked=1,
        produce_seconds=0.5,
        consume_seconds=0.0,
        words=Counter({"card": 2}),
        expected_words=Counter({"card": 3}),
        stats={"cmd-put": 3, "cmd-delete": 3, "not-shown": 7},
    )
    lines = report.summary_lines(summary)
    assert "  produce rate    4 jobs/s (php, one put per round trip)" in lines
    assert "  consume rate    too quick to time (python, reserve + delete)" in lines
    assert "  words counted   2 (DOES NOT match the text); top: card 2" in lines
    assert lines[-1] == "  queue stats     cmd-put 3, cmd-delete 3"
