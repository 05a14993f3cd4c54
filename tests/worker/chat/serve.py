"""A chat worker process a test can SIGKILL mid-turn.

python -m tests.worker.chat.serve --redis URL --db URL --schema S --prefix P
(the profile `dst` comes from the environment: OPENAI_DST_API_KEY, …)
"""

from __future__ import annotations

import argparse
from typing import Any, ClassVar

from schemas.chat import ChatRun
from schemas.keys import Queue
from worker import event_loop
from worker.app import run_workers
from worker.chat.jobs import run_chat
from worker.kinds import JobHandler
from worker.logs import configure_logging
from worker.settings import Settings


class QuickChatRun(ChatRun):
    """A chat turn with a short timeout (the worker's job lease, not this, makes a dead
    worker's turn come back in a second: see `JOB_LEASE_S`)."""

    kind: ClassVar[str] = "test.chat_quick"
    timeout_s: ClassVar[int] = 4


# The killed worker's lease: its turn runs again this long after its last heartbeat.
JOB_LEASE_S = 1.0
HANDLERS: list[JobHandler[Any]] = [JobHandler(QuickChatRun, run_chat)]


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--redis", "--db", "--schema", "--prefix"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    configure_logging("warning", "json")
    settings = Settings(
        _env_file=None,
        redis_url=args.redis,
        database_url=args.db,
        database_schema=args.schema,
        redis_key_prefix=args.prefix,
        job_lease_s=JOB_LEASE_S,
    )
    event_loop.run(run_workers([Queue.chat], settings, HANDLERS), settings.worker_event_loop)


if __name__ == "__main__":
    main()
