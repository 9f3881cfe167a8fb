"""XML-RPC fault codes (as supervisord numbers them) and the exception that carries one."""

from __future__ import annotations

FAULTS = {
    "UNKNOWN_METHOD": 1,
    "INCORRECT_PARAMETERS": 2,
    "BAD_ARGUMENTS": 3,
    "SIGNATURE_UNSUPPORTED": 4,
    "SHUTDOWN_STATE": 6,
    "BAD_NAME": 10,
    "BAD_SIGNAL": 11,
    "NO_FILE": 20,
    "NOT_EXECUTABLE": 21,
    "FAILED": 30,
    "ABNORMAL_TERMINATION": 40,
    "SPAWN_ERROR": 50,
    "ALREADY_STARTED": 60,
    "NOT_RUNNING": 70,
    "SUCCESS": 80,
    "ALREADY_ADDED": 90,
    "STILL_RUNNING": 91,
    "CANT_REREAD": 92,
}


class RPCError(Exception):
    """A fault to return: ``faultString`` is ``NAME`` or ``NAME: text``."""

    def __init__(self, name: str, text: object = None) -> None:
        self.code = FAULTS[name]
        self.text = name if text is None else f"{name}: {text}"
        super().__init__(self.text)


def fault_name(code: int) -> str:
    return next(name for name, value in FAULTS.items() if value == code)
