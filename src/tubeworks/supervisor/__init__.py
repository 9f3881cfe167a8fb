"""tubeworks.supervisor: a supervisord-compatible process supervisor.

Layers, from pure to I/O: ``config`` (INI text → frozen records), ``machine`` (the process
state machine), ``daemon`` (the asyncio loop that runs it), ``rpc``/``httpd`` (XML-RPC),
``ctl`` (the control command).  See docs/supervisor.md.
"""

from tubeworks.supervisor.config import Config, ConfigError, load_config, parse_config
from tubeworks.supervisor.states import ProcessState, SupervisorState

__all__ = [
    "Config",
    "ConfigError",
    "ProcessState",
    "SupervisorState",
    "load_config",
    "parse_config",
]
