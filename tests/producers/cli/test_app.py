from __future__ import annotations

import asyncio
import secrets
import signal
import sys

import asyncpg

from producers.client import FerryClient
from tests.conftest import DATABASE_URL
from tests.pipeline import ProbeJob, running_worker
from tests.producers.cli.conftest import FerryCLI
from worker.settings import Settings


async def test_db_migrate_applies_once_then_reports_up_to_date(
    ferry_cli: FerryCLI, db_schema: str
) -> None:
    first = await ferry_cli("db", "migrate")
    second = await ferry_cli("db", "migrate")
    assert first.code == 0 and "applied 0001_ledger" in first.out
    assert second.code == 0 and "up to date" in second.out


async def test_jobs_list_show_and_wait(
    ferry_cli: FerryCLI, ferry: FerryClient, settings: Settings
) -> None:
    async with running_worker(settings):
        ok = await ferry.enqueue(ProbeJob(message="listed"))
        bad = await ferry.enqueue(ProbeJob(message="broken", action="fail"))
        await ok.result(timeout=10)
        await bad.outcome(timeout=10)  # both finished before the worker stops
    pending = await ferry.enqueue(ProbeJob(message="nobody runs me"))

    # Seven processes that only read: started together, not one after another.
    ran = await asyncio.gather(
        ferry_cli("jobs", "list"),
        ferry_cli("jobs", "list", "--status", "failed"),
        ferry_cli("jobs", "show", ok.job_id),
        ferry_cli("jobs", "wait", ok.job_id),
        ferry_cli("jobs", "wait", bad.job_id, "--timeout", "10"),
        ferry_cli("jobs", "wait", pending.job_id, "--timeout", "0.3"),
        ferry_cli("jobs", "show", "no-such-job"),
    )
    listed, failed_only, shown, waited_ok, waited_bad, waited_pending, missing = ran

    assert listed.code == 0 and "3 job(s)" in listed.out
    assert ok.job_id in listed.out and pending.job_id in listed.out
    assert (
        failed_only.code == 0 and bad.job_id in failed_only.out and ok.job_id not in failed_only.out
    )
    assert shown.code == 0 and '"listed"' in shown.out and "succeeded" in shown.out
    assert waited_ok.code == 0
    assert waited_bad.code == 1 and "asked to fail: broken" in waited_bad.out
    assert waited_pending.code == 2 and "did not finish" in waited_pending.out
    assert missing.code == 1 and "no job 'no-such-job'" in missing.out


async def test_doctor_passes_with_a_reachable_profile_and_fails_naming_a_bad_one(
    ferry_cli: FerryCLI, db: object, sandbox_project
) -> None:
    ferry_cli.env.update(
        OPENAI_SRC_API_KEY=sandbox_project.api_key, OPENAI_SRC_BASE_URL=sandbox_project.base_url
    )
    healthy = await ferry_cli("doctor")
    ferry_cli.env.update(OPENAI_SRC_ORGID="org-typo")
    typo = await ferry_cli("doctor")
    del ferry_cli.env["OPENAI_SRC_ORGID"]
    ferry_cli.env.update(
        OPENAI_DST_API_KEY="sk-proj-" + "x" * 40, OPENAI_DST_BASE_URL=sandbox_project.base_url
    )
    refused = await ferry_cli("doctor")
    ferry_cli.env.update(OPENAI_DST_API_KEY="not-a-key")
    malformed = await ferry_cli("doctor")

    assert healthy.code == 0, healthy.out
    assert "profile src" in healthy.out and "reachable" in healthy.out
    assert "OPENAI_SRC_ORGID" not in healthy.out
    # a typo is said, not failed: the worker runs without it
    assert typo.code == 0, typo.out
    assert "setting OPENAI_SRC_ORGID" in typo.out and "nothing reads it" in typo.out
    assert (
        refused.code == 1 and "key refused" in refused.out and "OPENAI_DST_API_KEY" in refused.out
    )
    assert malformed.code == 1 and "OPENAI_DST_API_KEY does not look like" in malformed.out
    assert sandbox_project.api_key not in healthy.out + refused.out + malformed.out


async def test_ferry_worker_serves_jobs_and_stops_cleanly_on_sigterm(
    cli_env: dict[str, str], ferry: FerryClient
) -> None:
    # `ferry worker` execs `python -m worker`; start it as the console script would.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; sys.argv[0] = 'ferry'; from producers.cli.app import main; main()",
        "worker",
        "--queue",
        "chat",
        env={**cli_env, "OPENAI_SRC_BASEURL": "http://127.0.0.1:9/v1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    # A chat turn with an empty payload is refused, naming the fields it lacks.
    await ferry.redis.enqueue_job(
        "chat.run",
        {"kind": "chat.run", "schema_version": 1, "payload": {}},
        _job_id=ferry.keys.arq_job_id("first"),
        _queue_name=ferry.keys.queue("chat"),
    )
    outcome = await ferry.handle("first").outcome(timeout=20)
    doctor = await FerryCLI(cli_env)("doctor")
    process.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(process.communicate(), 20)
    assert outcome.error is not None and outcome.error.message == "invalid chat.run payload"
    assert [f.loc for f in outcome.error.fields] == [
        "payload.message_id",
        "payload.user_id",
        "payload.assistant",
        "payload.text",
    ]
    assert process.returncode == 0, out.decode()
    assert b"worker stopped" in out
    # it started despite the typo, and said so
    assert b"a setting nothing reads" in out and b"OPENAI_SRC_BASEURL" in out
    # The doctor sees the live worker through arq's health check of its queue.
    chat_row = next(line for line in doctor.out.splitlines() if ":chat " in line)
    assert "j_complete=" in chat_row and "queued=" in chat_row


async def test_db_migrate_creates_a_missing_schema(ferry_cli: FerryCLI) -> None:
    schema = f"fresh_{secrets.token_hex(4)}"
    ferry_cli.env["DATABASE_SCHEMA"] = schema
    ran = await ferry_cli("db", "migrate")
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema
        )
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()
    assert ran.code == 0 and "applied 0001_ledger" in ran.out
    assert tables >= 1


async def test_ferry_sandbox_help_lists_the_sandboxs_options(ferry_cli: FerryCLI) -> None:
    ran = await ferry_cli("sandbox", "--help")
    assert ran.code == 0, ran.out
    for option in ("--port", "--config", "--key", "--seed", "--admin-token", "--log-level"):
        assert option in ran.out
