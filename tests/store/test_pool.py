"""Pools that skip asyncpg's reset query on release are safe only while nothing leaves session
state on their connections: no session advisory lock, LISTEN, session SET, temporary table
or held cursor. The worker's, the ledger's and the producer's pools all skip it, so the rule
is checked over every module that runs SQL."""

from __future__ import annotations

import re
from pathlib import Path

from store.pool import create_pool
from tests.conftest import DATABASE_URL

ROOT = Path(__file__).parents[2]
PACKAGES = ("store", "worker", "producers", "api")
# What would outlive a connection's release: a regex each over the source text, case
# sensitive (Ferry writes SQL keywords in capitals, so prose saying "listen" is not SQL).
SESSION_STATE = {
    "session advisory lock": r"pg_advisory_lock\(",
    "LISTEN": r"""["']\s*LISTEN\s|add_listener\(""",
    "session SET": r"""execute\(\s*f?["']+\s*SET\s+(?!LOCAL\b)""",
    "set_config beyond the transaction": r"set_config\([^)]*,\s*false\s*\)",
    "temporary table": r"CREATE\s+TEMP",
    "held cursor": r"WITH\s+HOLD",
}
# The clone's copy lock: a session advisory lock on a connection of its own, never a pool's.
ALLOWED = {("store/clone_state.py", "session advisory lock")}


def test_no_sql_leaves_session_state_on_a_pooled_connection() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text()
            where = str(path.relative_to(ROOT))
            for what, pattern in SESSION_STATE.items():
                if re.search(pattern, text) and (where, what) not in ALLOWED:
                    found.append(f"{where}: {what}")
    assert found == []


def test_the_patterns_catch_what_they_name() -> None:
    samples = [
        ("session advisory lock", 'await conn.execute("SELECT pg_advisory_lock($1)", 1)'),
        ("LISTEN", "await conn.add_listener('jobs', callback)"),
        ("LISTEN", 'await conn.execute("LISTEN jobs")'),
        ("session SET", 'await conn.execute("SET statement_timeout = 0")'),
        ("set_config beyond the transaction", "SELECT set_config('x.y', '1', false)"),
        ("temporary table", "CREATE TEMP TABLE t (x int)"),
        ("held cursor", "DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
    ]
    for what, sample in samples:
        assert re.search(SESSION_STATE[what], sample), sample
    # What is safe is not caught: transaction-scoped settings and locks, UPDATE ... SET.
    for safe in (
        'await conn.execute("SET LOCAL synchronous_commit TO OFF")',
        "SELECT set_config('synchronous_commit', 'off', true)",
        "SELECT pg_advisory_xact_lock($1)",
        'await conn.execute("UPDATE t SET x = 1")',
        "# the listener reconnects and goes on listening",
    ):
        assert not any(re.search(p, safe) for p in SESSION_STATE.values()), safe


async def test_a_kept_session_goes_back_to_the_pool_as_it_was_left() -> None:
    """Why the rule matters: without the reset, session state reaches the next borrower."""
    for keep_session, seen_next in ((True, "left-behind"), (False, "ferry")):
        pool = await create_pool(DATABASE_URL, max_size=1, keep_session=keep_session)
        try:
            async with pool.acquire() as conn:
                await conn.execute("SET application_name TO 'left-behind'")
            async with pool.acquire() as conn:
                assert await conn.fetchval("SHOW application_name") == seen_next
        finally:
            await pool.close()
