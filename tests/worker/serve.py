"""A probe worker process a test can SIGKILL mid-job.

python -m tests.worker.serve --redis URL --db URL --schema S --prefix P --lease SECONDS
"""

from __future__ import annotations

import argparse

from schemas.keys import Queue
from tests.pipeline import PROBE_HANDLERS
from worker import event_loop
from worker.app import run_workers
from worker.logs import configure_logging
from worker.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser()
    for option in ("--redis", "--db", "--schema", "--prefix"):
        parser.add_argument(option, required=True)
    parser.add_argument("--lease", type=float, required=True)
    args = parser.parse_args()
    configure_logging("warning", "json")
    settings = Settings(
        _env_file=None,
        redis_url=args.redis,
        database_url=args.db,
        database_schema=args.schema,
        redis_key_prefix=args.prefix,
        job_lease_s=args.lease,
    )
    event_loop.run(run_workers([Queue.chat], settings, PROBE_HANDLERS), settings.worker_event_loop)


if __name__ == "__main__":
    main()
