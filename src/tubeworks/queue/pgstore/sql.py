"""Every statement the PostgreSQL store runs, as text. No I/O.

Times (``now``, deadlines, ready times) are unix seconds passed in by the server, so all servers
on one database must keep their clocks in step (NTP), as any cluster does. A reservation belongs
to ``(owner, owner_conn)``: a server id and one of its connection numbers.
"""

from __future__ import annotations

from typing import Final

#: The best ready job among the watched tubes (an array), one indexed probe per tube, the
#: winning row taken with SKIP LOCKED so concurrent reservers never wait for each other.
RESERVE: Final = """
UPDATE jobs SET state = 2, owner = %(owner)s, owner_conn = %(conn)s,
       reserves = reserves + 1, deadline = %(now)s + ttr
WHERE id = (
    SELECT c.id FROM unnest(%(tubes)s::bytea[]) AS w(tube)
    CROSS JOIN LATERAL (
        SELECT j.id, j.pri FROM jobs j
        WHERE j.tube = w.tube AND j.state = 1
        ORDER BY j.pri, j.id LIMIT 1 FOR UPDATE SKIP LOCKED
    ) c
    WHERE NOT EXISTS (SELECT 1 FROM tubes t WHERE t.name = w.tube AND t.unpause_at > %(now)s)
    ORDER BY c.pri, c.id LIMIT 1
)
RETURNING id, deadline, body
"""

#: Reserve one named job whatever its state, unless someone holds it.
RESERVE_JOB: Final = """
UPDATE jobs SET state = 2, owner = %(owner)s, owner_conn = %(conn)s,
       reserves = reserves + 1, deadline = %(now)s + ttr
WHERE id = %(id)s AND (state <> 2 OR deadline <= %(now)s)
RETURNING id, deadline, body
"""

PUT: Final = """
INSERT INTO jobs (id, tube, state, pri, delay, ttr, body, created, ready_at)
VALUES (%(id)s, %(tube)s, %(state)s, %(pri)s, %(delay)s, %(ttr)s, %(body)s, %(now)s, %(ready_at)s)
ON CONFLICT (id) DO NOTHING
"""

#: Job ids come from a sequence, taken in blocks so one put is one round trip.
TAKE_IDS: Final = "SELECT nextval('job_ids') FROM generate_series(1, %(n)s)"

#: A reserved job can be deleted only by its holder; an expired reservation is no one's.
DELETE: Final = """
DELETE FROM jobs
WHERE id = %(id)s AND (state <> 2 OR deadline <= %(now)s
                       OR (owner = %(owner)s AND owner_conn = %(conn)s))
RETURNING tube
"""

_MINE: Final = (
    "id = %(id)s AND state = 2 AND owner = %(owner)s AND owner_conn = %(conn)s "
    "AND deadline > %(now)s"
)

RELEASE: Final = f"""
UPDATE jobs SET state = CASE WHEN %(delay)s > 0 THEN 4 ELSE 1 END, pri = %(pri)s,
       delay = %(delay)s, ready_at = CASE WHEN %(delay)s > 0 THEN %(now)s + %(delay)s ELSE 0 END,
       owner = NULL, owner_conn = NULL, releases = releases + 1
WHERE {_MINE}
RETURNING tube, ready_at
"""

BURY: Final = f"""
UPDATE jobs SET state = 3, pri = %(pri)s, owner = NULL, owner_conn = NULL,
       buries = buries + 1, bury_seq = nextval('bury_order')
WHERE {_MINE}
RETURNING tube
"""

TOUCH: Final = f"UPDATE jobs SET deadline = %(now)s + ttr WHERE {_MINE} RETURNING deadline"

#: A closed connection's reservations are ready again at once.
RELEASE_ALL: Final = """
UPDATE jobs SET state = 1, owner = NULL, owner_conn = NULL
WHERE id = ANY(%(ids)s) AND state = 2 AND owner = %(owner)s AND owner_conn = %(conn)s
RETURNING tube
"""

PEEK: Final = "SELECT id, body FROM jobs WHERE id = %(id)s"
PEEK_READY: Final = """
SELECT id, body FROM jobs WHERE tube = %(tube)s AND state = 1 ORDER BY pri, id LIMIT 1
"""
PEEK_DELAYED: Final = """
SELECT id, body FROM jobs WHERE tube = %(tube)s AND state = 4 ORDER BY ready_at, id LIMIT 1
"""
PEEK_BURIED: Final = """
SELECT id, body FROM jobs WHERE tube = %(tube)s AND state = 3 ORDER BY bury_seq LIMIT 1
"""

HAS_BURIED: Final = "SELECT 1 FROM jobs WHERE tube = %(tube)s AND state = 3 LIMIT 1"
KICK_BURIED: Final = """
WITH k AS (
    SELECT id FROM jobs WHERE tube = %(tube)s AND state = 3
    ORDER BY bury_seq LIMIT %(n)s FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET state = 1, kicks = kicks + 1 FROM k WHERE j.id = k.id
RETURNING j.id
"""
KICK_DELAYED: Final = """
WITH k AS (
    SELECT id FROM jobs WHERE tube = %(tube)s AND state = 4
    ORDER BY ready_at, id LIMIT %(n)s FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET state = 1, ready_at = 0, kicks = kicks + 1 FROM k WHERE j.id = k.id
RETURNING j.id
"""
KICK_JOB: Final = """
UPDATE jobs SET state = 1, ready_at = 0, kicks = kicks + 1
WHERE id = %(id)s AND state IN (3, 4)
RETURNING tube
"""

STATS_JOB: Final = """
SELECT id, tube, state, pri, created, delay, ttr, ready_at, deadline,
       reserves, timeouts, releases, buries, kicks
FROM jobs WHERE id = %(id)s
"""

#: Job counts by state (and urgent ready jobs) for one tube: an index-only scan.
TUBE_COUNTS: Final = """
SELECT state, count(*), count(*) FILTER (WHERE pri < 1024) FROM jobs
WHERE tube = %(tube)s GROUP BY state
"""
ALL_COUNTS: Final = """
SELECT state, count(*), count(*) FILTER (WHERE pri < 1024) FROM jobs GROUP BY state
"""

#: Tubes that hold jobs: a skip scan over jobs_by_tube (one probe per tube, not per job).
TUBES_WITH_JOBS: Final = """
WITH RECURSIVE t(tube) AS (
    (SELECT tube FROM jobs ORDER BY tube LIMIT 1)
    UNION ALL
    SELECT (SELECT j.tube FROM jobs j WHERE j.tube > t.tube ORDER BY j.tube LIMIT 1)
    FROM t WHERE t.tube IS NOT NULL
)
SELECT tube FROM t WHERE tube IS NOT NULL
"""
#: (ordered like jobs_by_tube, so the planner probes it rather than scanning for a rare tube)
TUBE_HAS_JOBS: Final = "SELECT 1 FROM jobs WHERE tube = %(tube)s ORDER BY tube, state LIMIT 1"

#: What other live servers' clients hold (their latest snapshots).
OTHERS_TUBES: Final = """
SELECT st.tube, sum(st.using_count), sum(st.watching), sum(st.waiting)
FROM server_tubes st JOIN servers s ON s.id = st.server_id
WHERE st.server_id <> %(me)s AND s.heartbeat > %(alive_after)s
GROUP BY st.tube
"""
#: Other servers' counters, and their gauges ("current-...") while they are alive.
OTHERS_COUNTERS: Final = """
SELECT c.tube, c.name, sum(c.value) FROM server_counters c
WHERE c.server_id <> %(me)s AND (c.name NOT LIKE 'current-%%' OR EXISTS (
    SELECT 1 FROM servers s WHERE s.id = c.server_id AND s.heartbeat > %(alive_after)s))
GROUP BY c.tube, c.name
"""

TUBE_PAUSE: Final = "SELECT pause, unpause_at, cmd_pause FROM tubes WHERE name = %(tube)s"
PAUSE: Final = """
INSERT INTO tubes (name, pause, unpause_at, cmd_pause) VALUES (%(tube)s, %(pause)s, %(at)s, 1)
ON CONFLICT (name) DO UPDATE SET pause = EXCLUDED.pause, unpause_at = EXCLUDED.unpause_at,
    cmd_pause = tubes.cmd_pause + 1
"""

#: Time-driven work any server may do: delays that ended, reservations whose TTR ran out (also
#: those of a server that died). Returns (kind, tube, count).
SWEEP: Final = """
WITH d AS (
    UPDATE jobs SET state = 1, ready_at = 0 WHERE state = 4 AND ready_at <= %(now)s
    RETURNING tube
), t AS (
    UPDATE jobs SET state = 1, owner = NULL, owner_conn = NULL, timeouts = timeouts + 1
    WHERE state = 2 AND deadline <= %(now)s
    RETURNING tube
)
SELECT 'd', tube, count(*) FROM d GROUP BY tube
UNION ALL
SELECT 't', tube, count(*) FROM t GROUP BY tube
"""

NOTIFY: Final = "SELECT pg_notify(%(channel)s, %(payload)s)"

REGISTER: Final = """
INSERT INTO servers (id, started_at, heartbeat, pid, hostname)
VALUES (%(id)s, %(now)s, %(now)s, %(pid)s, %(host)s)
"""
HEARTBEAT: Final = "UPDATE servers SET heartbeat = %(now)s WHERE id = %(id)s"
#: Forget servers silent for long (their counters stay: they are history).
FORGET_DEAD: Final = """
WITH gone AS (DELETE FROM servers WHERE heartbeat < %(dead_before)s RETURNING id)
DELETE FROM server_tubes WHERE server_id IN (SELECT id FROM gone)
"""
CLEAR_MY_TUBES: Final = "DELETE FROM server_tubes WHERE server_id = %(me)s"
SAVE_MY_TUBE: Final = """
INSERT INTO server_tubes VALUES (%(me)s, %(tube)s, %(using)s, %(watching)s, %(waiting)s)
"""
SAVE_COUNTER: Final = """
INSERT INTO server_counters VALUES (%(me)s, %(tube)s, %(name)s, %(value)s)
ON CONFLICT (server_id, tube, name) DO UPDATE SET value = EXCLUDED.value
"""
UNREGISTER: Final = """
WITH a AS (DELETE FROM server_tubes WHERE server_id = %(me)s),
     b AS (DELETE FROM server_counters WHERE server_id = %(me)s AND name LIKE 'current-%%')
DELETE FROM servers WHERE id = %(me)s
"""
