"""`python -m api` (or `ferry api serve`): the HTTP API under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from api.app import create_app
from api.settings import ApiSettings


def main() -> None:
    settings = ApiSettings()
    parser = argparse.ArgumentParser(prog="ferry api serve", description=__doc__)
    parser.add_argument("--host", default=settings.api_host)
    parser.add_argument("--port", type=int, default=settings.api_port)
    args = parser.parse_args()
    # No access log: its lines would carry query strings; Ferry's own log says what matters.
    uvicorn.run(create_app(settings), host=args.host, port=args.port, access_log=False)


if __name__ == "__main__":
    main()
