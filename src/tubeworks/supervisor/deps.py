"""``depends_on=``: start a program only once the programs it needs are RUNNING.

supervisord has only ``priority``, which orders start requests but does not wait for
anything, so a web app races its database.  A dependency is a group name (all its
processes) or a ``group:process`` name; it is ready when every process it names is
RUNNING (so ``startsecs`` is the readiness delay).  Autostarts wait; a start by hand does
not.  Cycles are a config error naming the cycle.  Pure: configs and states in, answers out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tubeworks.supervisor.records import GroupConfig, ProcessConfig


def matches(name: str, group: str, process: str) -> bool:
    spec = process if group == process else f"{group}:{process}"
    return name in (group, spec)


def unknown_names(groups: Iterable[GroupConfig]) -> list[tuple[ProcessConfig, str]]:
    """(process, dependency name) pairs that name nothing."""
    groups = list(groups)
    out = []
    for g in groups:
        for p in g.processes:
            for dep in p.depends_on:
                if not any(matches(dep, h.name, q.name) for h in groups for q in h.processes):
                    out.append((p, dep))
    return out


def group_graph(groups: Iterable[GroupConfig]) -> dict[str, set[str]]:
    """Group name → the group names its processes depend on."""
    groups = list(groups)
    graph: dict[str, set[str]] = {g.name: set() for g in groups}
    for g in groups:
        for p in g.processes:
            for dep in p.depends_on:
                for h in groups:
                    if any(matches(dep, h.name, q.name) for q in h.processes):
                        graph[g.name].add(h.name)
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle as ``[a, b, ..., a]``, or None.  Depth-first, in name order (repeatable)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            found = visit(nxt, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start, [])
        if cycle:
            return cycle
    return None


def waiting_for(depends_on: Iterable[str], states: Mapping[tuple[str, str], bool]) -> list[str]:
    """The dependencies not ready yet; ``states`` maps (group, process) → is RUNNING.

    A name that matches no process yet (its group is added later) is not ready."""
    missing = []
    for dep in depends_on:
        found = [up for (g, p), up in states.items() if matches(dep, g, p)]
        if not found or not all(found):
            missing.append(dep)
    return missing
