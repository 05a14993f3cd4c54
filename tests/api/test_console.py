from __future__ import annotations

import pytest

from store.api_tokens import Scope
from tests.api.browser import Browser
from tests.api.conftest import RunningApi, log_in
from tests.pipeline import ProbeJob, running_worker
from worker.settings import Settings

pytestmark = pytest.mark.browser

TRADER = {
    "name": "trader",
    "model": "gpt-4o",
    "instructions": "Answer with the latest price.",
    "tools": [
        {"type": "function", "name": "get_price", "description": "The price of a symbol."},
        {"type": "file_search"},
    ],
    "tool_resources": {"file_search": {"vector_store_ids": ["vs_prices"]}},
}


async def test_a_person_logs_in_and_reads_an_assistant(browser: Browser, api: RunningApi) -> None:
    async with await api.client(Scope.registry_write) as http:
        created = await http.post("/assistants", json=TRADER)
        assistant_id = created.json()["assistant"]["id"]
        await http.patch(f"/assistants/{assistant_id}", json={"instructions": "Be brief."})
        await http.post("/assistants", json={"name": "clerk", "model": "gpt-4o-mini"})

    await browser.open("/console/assistants")
    assert browser.path == "/console/login"  # no cookie yet: sent to log in
    await browser.type("#token", "fry_wrong")
    await browser.follow("#login")
    assert await browser.text("#login-error") == "That token is not valid here."

    await log_in(browser, api)
    assert browser.path == "/console/assistants"
    rows = await browser.rows("#assistants")
    assert [row[:5] for row in rows] == [
        ["default", "clerk", "gpt-4o-mini", "—", "1"],
        ["default", "trader", "gpt-4o", "get_price, file_search", "2"],
    ]

    await browser.follow(link="trader")
    assert browser.path == f"/console/assistants/{assistant_id}"
    assert await browser.text("#name") == "trader"
    assert await browser.text("#version") == "2"
    assert await browser.text("#instructions") == "Be brief."
    assert await browser.rows("#tools") == [
        ["get_price", "function", "The price of a symbol.", ""],
        ["file_search", "file_search", "", ""],
    ]
    assert await browser.text("#knowledge") == "vector store vs_prices (file_search)"
    history = await browser.rows("#history")
    assert [row[0] for row in history] == ["2", "1"]
    assert history[0][2] == 'instructions: "Answer with the latest price." → "Be brief."'

    await browser.follow("#nav-assistants")
    assert browser.path == "/console/assistants"


async def test_the_jobs_page_shows_status_changing_live(
    browser: Browser, api: RunningApi, settings: Settings
) -> None:
    async with await api.client(Scope.jobs_write) as http:
        queued = await http.post("/jobs/test.probe", json={"payload": {"message": "live"}})
    job_id = queued.json()["id"]
    await log_in(browser, api)
    await browser.follow("#nav-jobs")
    assert browser.path == "/console/jobs"
    row = f"tr[data-job='{job_id}']"
    assert (await browser.rows("#jobs"))[0][:4] == [job_id, "test.probe", "queued", "0"]
    # the page's script follows the job's event stream: no reload
    async with running_worker(settings):
        await browser.wait_for_text(f"{row} .status", "succeeded")
    assert await browser.text(f"{row} .attempts") == "1"
    assert job_id == ProbeJob(message="live").job_id()
