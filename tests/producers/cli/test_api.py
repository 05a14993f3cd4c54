"""`ferry api token …`, run as a real subprocess; its tokens open the API they were made for."""

from __future__ import annotations

import asyncio
import re
import socket
import sys

import asyncpg
import httpx

from tests.api.conftest import api_settings, serving
from tests.producers.cli.conftest import FerryCLI
from worker.settings import Settings


async def test_a_token_made_by_the_cli_opens_the_api_until_revoked(
    ferry_cli: FerryCLI, db: asyncpg.Pool, settings: Settings
) -> None:
    made = await ferry_cli(
        "api", "token", "create", "--scope", "read", "--scope", "jobs:write", "--name", "gw"
    )
    assert made.code == 0, made.out
    token = made.out.strip().splitlines()[-1]
    assert re.fullmatch(r"fry_[A-Za-z0-9_-]{43}", token)
    token_id = re.search(r"token gw \(([0-9a-f-]{36})\), scopes jobs:write, read", made.out)
    assert token_id is not None, made.out

    listed = await ferry_cli("api", "token", "list")
    assert listed.code == 0 and "gw" in listed.out and "jobs:write, read" in listed.out
    assert token not in listed.out

    headers = {"Authorization": f"Bearer {token}"}
    async with (
        serving(api_settings(settings), db) as api,
        httpx.AsyncClient(base_url=api.base_url, headers=headers) as http,
    ):
        assert (await http.get("/jobs")).status_code == 200
        assert (await http.post("/assistants", json={})).status_code == 403
        revoked = await ferry_cli("api", "token", "revoke", token_id[1])
        assert revoked.code == 0 and f"revoked {token_id[1]}" in revoked.out
        assert (await http.get("/jobs")).status_code == 401
    again = await ferry_cli("api", "token", "revoke", token_id[1])
    assert again.code == 1 and "no live token" in again.out


async def test_an_unknown_scope_is_refused_by_name(ferry_cli: FerryCLI) -> None:
    made = await ferry_cli("api", "token", "create", "--scope", "admin")
    assert made.code == 2
    assert "'admin' is not one of 'read', 'jobs:write', 'registry:write'" in made.out


async def test_ferry_api_serve_answers_health_and_docs(cli_env: dict[str, str]) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from producers.cli.app import main; main()",
        *("api", "serve", "--port", str(port)),
        env=cli_env,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while b"Application startup complete" not in await process.stderr.readline():
                pass
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            assert (await http.get("/docs")).status_code == 200
            assert (await http.get("/assistants")).status_code == 401
    finally:
        process.terminate()
        await process.wait()
