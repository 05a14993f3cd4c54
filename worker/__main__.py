"""`python -m worker --queue chat [--queue clone]`: what `ferry worker` starts."""

from __future__ import annotations

import argparse
import sys

import structlog

from schemas.keys import Queue
from worker import event_loop
from worker.app import run_workers
from worker.logs import configure_logging
from worker.settings import Settings, SettingsError

log = structlog.get_logger("ferry.worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument(
        "--queue",
        action="append",
        choices=[q.value for q in Queue],
        help="a queue to serve (repeat for several; default: all)",
    )
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
        configure_logging(settings.log_level, settings.log_format)
        settings.profiles  # noqa: B018 - refuse to start on a bad key, naming the variable
    except (SettingsError, ValueError) as error:
        print(f"ferry worker: {error}", file=sys.stderr)
        return 2
    for variable in settings.unread_openai_variables():
        log.warning(
            "a setting nothing reads: a typo, or a profile without its API_KEY?", variable=variable
        )
    queues = [Queue(q) for q in args.queue] if args.queue else list(Queue)
    event_loop.run(run_workers(queues, settings, burst=args.burst), settings.worker_event_loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
