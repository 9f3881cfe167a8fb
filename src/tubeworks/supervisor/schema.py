"""Which sections and keys a supervisord config may contain, and warnings for the rest.

supervisord silently ignores unknown keys, so ``autorestrat=true`` does nothing and nobody
notices.  We still accept them (files must stay compatible) but warn with the file, the
line and the closest valid key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from tubeworks.supervisor.ini import Section

LEVELS = ("critical", "error", "warn", "info", "debug", "trace", "blather")
LEVEL_ALIASES = {"warning": "warn", "crit": "critical", "erro": "error", "debg": "debug"}

EVENT_TYPES = frozenset(
    [
        "EVENT",
        "PROCESS_STATE",
        "PROCESS_STATE_STOPPED",
        "PROCESS_STATE_STARTING",
        "PROCESS_STATE_RUNNING",
        "PROCESS_STATE_BACKOFF",
        "PROCESS_STATE_STOPPING",
        "PROCESS_STATE_EXITED",
        "PROCESS_STATE_FATAL",
        "PROCESS_STATE_UNKNOWN",
        "REMOTE_COMMUNICATION",
        "PROCESS_LOG",
        "PROCESS_LOG_STDOUT",
        "PROCESS_LOG_STDERR",
        "PROCESS_COMMUNICATION",
        "PROCESS_COMMUNICATION_STDOUT",
        "PROCESS_COMMUNICATION_STDERR",
        "SUPERVISOR_STATE_CHANGE",
        "SUPERVISOR_STATE_CHANGE_RUNNING",
        "SUPERVISOR_STATE_CHANGE_STOPPING",
        "TICK",
        "TICK_5",
        "TICK_60",
        "TICK_3600",
        "PROCESS_GROUP",
        "PROCESS_GROUP_ADDED",
        "PROCESS_GROUP_REMOVED",
    ]
)

# Ours, beyond supervisord (docs/supervisor.md "Beyond supervisord"); all off by default.
EXTRA_PROGRAM_KEYS = (
    "env_file",
    "pdeathsig",
    "stdout_log_timestamps",
    "stderr_log_timestamps",
    "restart_backoff",
    "backoff_max",
    "backoff_jitter",
    "retry_forever",
    "restart_delay",
    "max_age",
    "rlimit_nofile",
    "rlimit_nproc",
    "rlimit_as",
    "rlimit_core",
    "memory_limit",
    "depends_on",
    "healthcheck",
    "healthcheck_interval",
    "healthcheck_timeout",
    "healthcheck_retries",
)
_LOG_KEYS = tuple(
    f"{stream}_{key}"
    for stream in ("stdout", "stderr")
    for key in (
        "logfile",
        "logfile_maxbytes",
        "logfile_backups",
        "capture_maxbytes",
        "events_enabled",
        "syslog",
    )
)
PROGRAM_KEYS = frozenset(
    [
        "command",
        "process_name",
        "numprocs",
        "numprocs_start",
        "priority",
        "autostart",
        "autorestart",
        "startsecs",
        "startretries",
        "exitcodes",
        "stopsignal",
        "stopwaitsecs",
        "stopasgroup",
        "killasgroup",
        "user",
        "redirect_stderr",
        "environment",
        "directory",
        "umask",
        "serverurl",
        *EXTRA_PROGRAM_KEYS,
    ]
) | frozenset(_LOG_KEYS)
SECTION_KEYS: dict[str, frozenset[str]] = {
    "supervisord": frozenset(
        [
            "logfile",
            "logfile_maxbytes",
            "logfile_backups",
            "loglevel",
            "pidfile",
            "umask",
            "nodaemon",
            "silent",
            "minfds",
            "minprocs",
            "nocleanup",
            "childlogdir",
            "user",
            "directory",
            "strip_ansi",
            "environment",
            "identifier",
            "remember_manual_stops",  # ours
        ]
    ),
    "unix_http_server": frozenset({"file", "chmod", "chown", "username", "password"}),
    "inet_http_server": frozenset({"port", "username", "password"}),
    "supervisorctl": frozenset({"serverurl", "username", "password", "prompt", "history_file"}),
    "include": frozenset({"files"}),
    "program": PROGRAM_KEYS,
    "group": frozenset({"programs", "priority"}),
    "eventlistener": PROGRAM_KEYS | {"events", "buffer_size", "result_handler"},
    "fcgi-program": PROGRAM_KEYS | {"socket", "socket_backlog", "socket_owner", "socket_mode"},
}
PREFIX_SECTIONS = frozenset({"program", "group", "eventlistener", "fcgi-program"})
OPEN_SECTIONS = frozenset({"rpcinterface", "ctlplugin"})  # any keys (factory arguments)


def closest(word: str, choices: frozenset[str]) -> str:
    match = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def check_keys(sections: Mapping[str, Section]) -> list[str]:
    """Warnings for unknown sections and keys, each with file:line and a suggestion."""
    warnings: list[str] = []
    kinds = set(SECTION_KEYS) - PREFIX_SECTIONS
    for name, section in sections.items():
        kind, colon, _ = name.partition(":")
        if kind in OPEN_SECTIONS and colon:
            continue
        if kind not in SECTION_KEYS or (kind in PREFIX_SECTIONS) != bool(colon):
            known = frozenset(kinds | {f"{k}:" for k in PREFIX_SECTIONS})
            warnings.append(f"{section.loc}: unknown section [{name}]{closest(name, known)}")
            continue
        for key, value in section.values.items():
            if key not in SECTION_KEYS[kind]:
                hint = closest(key, SECTION_KEYS[kind])
                warnings.append(f"{value.loc}: [{name}] unknown key {key!r}{hint}")
    return warnings
