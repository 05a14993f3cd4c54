"""`python -m sandbox`: serve the sandbox under uvicorn (uvloop and httptools when installed)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sandbox.config import KeySpec, add_demo_key, apply_config, parse_key_flag, read_config
from sandbox.state import SandboxState


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox", description="Ferry's local OpenAI-compatible server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8787, help="port to listen on")
    parser.add_argument("--config", help="YAML/JSON file: keys → org/project, settings")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="KEY:ORG:PROJECT",
        help="an API key and the org/project it belongs to (repeatable)",
    )
    parser.add_argument("--seed", help="fixture manifest to load ('demo' for the bundled one)")
    parser.add_argument(
        "--allow-all-downloads",
        action="store_true",
        help="let every file download, whatever its purpose",
    )
    parser.add_argument(
        "--ingestion-seconds",
        type=float,
        default=None,
        help="how long vector-store files stay in_progress (default 0.5)",
    )
    parser.add_argument("--admin-token", default=None, help="guard the /_sandbox/ routes")
    parser.add_argument("--log-level", default="warning", help="uvicorn's log level")
    return parser


def build_state(args: argparse.Namespace) -> tuple[SandboxState, list[KeySpec], dict | None]:
    """The state the flags describe: keys, settings, seed (the demo key when no key is given)."""
    state = SandboxState()
    keys: list[KeySpec] = []
    if args.config:
        keys += apply_config(state, read_config(args.config))
    for flag in args.key:
        spec = parse_key_flag(flag)
        state.add_key(spec.key, spec.org_id, spec.project_id)
        keys.append(spec)
    if args.allow_all_downloads:
        state.set_allow_all_downloads(True)
    if args.ingestion_seconds is not None:
        state.set_ingestion_seconds(args.ingestion_seconds)
    if args.admin_token:
        state.admin_token = args.admin_token
    seeded = None
    if args.seed:
        from sandbox.fixtures import DEMO_MANIFEST, load_seed

        seeded = load_seed(state, DEMO_MANIFEST if args.seed == "demo" else args.seed)
    if not state.keys:
        keys.append(add_demo_key(state))
    return state, keys, seeded


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        state, keys, seeded = build_state(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from sandbox.app import create_app

    print(f"sandbox: http://{args.host}:{args.port}/v1", flush=True)
    # these are the sandbox's own fake keys: printing them is how a user learns them
    for spec in keys:
        print(f"  key {spec.key} → {spec.org_id}/{spec.project_id}", flush=True)
    for project_id, made in (seeded or {}).get("projects", {}).items():
        for key in made["keys"]:
            print(f"  seeded key {key} → {made['org_id']}/{project_id}", flush=True)
    uvicorn.run(
        create_app(state),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        lifespan="off",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
