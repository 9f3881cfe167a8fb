"""What ``tubeworks init`` writes: a commented starter config and a sample handler module."""

from __future__ import annotations

CONFIG_NAME = "tubeworks.ini"
HANDLER_NAME = "handlers.py"

STARTER_CONFIG = """\
; tubeworks up configuration: supervisord's INI format plus [up], [queue] and [pool:NAME].
; Start everything with `tubeworks up` (this file is found in the current directory) or
; `tubeworks up -c FILE`; stop with Ctrl-C. Every [supervisord]/[program:x] key works too.

[up]
; queue log, child logs, the lock and the control socket live here
var_dir = %(here)s/var

[queue]
listen = 127.0.0.1
port = 11300
; extra `tubeworks queue` flags, e.g. --max-job-size 1048576 or --metrics-port 9127
;args =

; A worker pool: copies of `tubeworks worker APP`, started once the queue accepts connections.
[pool:hello]
app = handlers:app
tubes = hello
; jobs each process handles at once
concurrency = 1
; seconds a stopping worker may spend finishing its jobs
grace = 30
; Fixed size: numprocs = N. Or let the queue size it: the pool runs between min and max
; processes, about one per `target` jobs ready or delayed on the autoscale tubes, and changes
; at most once per `cooldown` seconds (it shrinks only after that long with less work).
autoscale = hello
min = 1
max = 4
target = 20
cooldown = 10

; The control socket, for `tubeworks ctl -c tubeworks.ini status` (shows every worker).
[supervisorctl]
serverurl = unix://%(here)s/var/up.sock
"""

SAMPLE_HANDLER = '''\
"""Sample handlers for `tubeworks up`: put a job with

    tubeworks put -t hello '{"name": "world"}'

and watch the pool's log in var/log/.
"""

from tubeworks.worker import App, Bury

app = App()  # the queue address comes from TUBEWORKS_SERVER, which `up` sets


@app.handler("hello", max_attempts=3)
def hello(payload, ctx):
    """Runs once per job; returning deletes it, raising retries it (Bury keeps it aside)."""
    if not isinstance(payload, dict) or "name" not in payload:
        raise Bury(f"expected an object with a name, got {payload!r}")
    print(f"hello, {payload['name']} (job {ctx.id}, attempt {ctx.attempt})", flush=True)
'''
