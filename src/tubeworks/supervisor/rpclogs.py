"""The log methods of the XML-RPC API: the activity log and each process's stdout/stderr.

A mixin of :class:`rpc.RPCInterface`.  Reads follow supervisord's offset/length rules, and
bytes that are not valid UTF-8 come back as U+FFFD instead of failing the call.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from tubeworks.supervisor.daemon import Process, Supervisor
from tubeworks.supervisor.faults import RPCError
from tubeworks.supervisor.reports import read_file, tail_file, to_text


class LogMethods:
    """Needs the interface's ``sv``, ``_process``, ``_for_each`` and ``_by_priority``."""

    sv: Supervisor

    def _process(self, name: str) -> Process:
        raise NotImplementedError

    def _by_priority(self) -> list[Process]:
        raise NotImplementedError

    async def _for_each(
        self,
        processes: list[Process],
        eligible: Callable[[Process], bool],
        now: Callable[[str, Process], None],
        later: Callable[[str, Process], Awaitable[Any]] | None,
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def rpc_supervisor__readLog(self, offset: int, length: int) -> str:
        """Read the activity log: length bytes from offset; offset<0 with length 0
        reads the last -offset bytes.

        @param int offset
        @param int length
        @return string result
        """
        path = self.sv.log.file.path if self.sv.log.file else None
        if path is None or not os.path.exists(path):
            raise RPCError("NO_FILE", path)
        return to_text(read_file(path, int(offset), int(length)))

    def rpc_supervisor__clearLog(self) -> bool:
        """Empty the activity log.

        @return boolean result
        """
        if self.sv.log.file is None:
            raise RPCError("NO_FILE")
        try:
            self.sv.log.file.clear()
        except OSError:
            raise RPCError("FAILED") from None
        return True

    def _log_path(self, name: str, channel: str) -> str:
        return self._process(name).log_paths[channel]

    def _read_process_log(self, name: str, offset: int, length: int, channel: str) -> str:
        path = self._log_path(name, channel)
        if not path or not os.path.exists(path):
            raise RPCError("NO_FILE", path or None)
        return to_text(read_file(path, int(offset), int(length)))

    def rpc_supervisor__readProcessStdoutLog(self, name: str, offset: int, length: int) -> str:
        """Read a process's stdout log (same offset rules as readLog).

        @param string name
        @param int offset
        @param int length
        @return string result
        """
        return self._read_process_log(name, offset, length, "stdout")

    def rpc_supervisor__readProcessStderrLog(self, name: str, offset: int, length: int) -> str:
        """Read a process's stderr log (same offset rules as readLog).

        @param string name
        @param int offset
        @param int length
        @return string result
        """
        return self._read_process_log(name, offset, length, "stderr")

    def _tail_process_log(self, name: str, offset: int, length: int, channel: str) -> list[Any]:
        path = self._log_path(name, channel)
        if not path or not os.path.exists(path):
            return ["", 0, False]
        return tail_file(path, int(offset), int(length))

    def rpc_supervisor__tailProcessStdoutLog(self, name: str, offset: int, length: int) -> Any:
        """At most length bytes ending at the end of the stdout log, the new offset
        and whether bytes were skipped.

        @param string name
        @param int offset
        @param int length
        @return array result
        """
        return self._tail_process_log(name, offset, length, "stdout")

    def rpc_supervisor__tailProcessStderrLog(self, name: str, offset: int, length: int) -> Any:
        """Like tailProcessStdoutLog, for stderr.

        @param string name
        @param int offset
        @param int length
        @return array result
        """
        return self._tail_process_log(name, offset, length, "stderr")

    def _clear_logs(self, process: Process) -> None:
        for log in process.logs.values():
            if log is not None:
                log.clear()

    def rpc_supervisor__clearProcessLogs(self, name: str) -> bool:
        """Delete and reopen a process's stdout and stderr logs.

        @param string name
        @return boolean result
        """
        process = self._process(name)
        try:
            self._clear_logs(process)
        except OSError:
            raise RPCError("FAILED", name) from None
        return True

    async def rpc_supervisor__clearAllProcessLogs(self) -> list[dict[str, Any]]:
        """Clear the logs of every process.

        @return array result
        """

        def now(name: str, p: Process) -> None:
            try:
                self._clear_logs(p)
            except OSError:
                raise RPCError("FAILED", name) from None

        return await self._for_each(self._by_priority(), lambda p: True, now, None)
