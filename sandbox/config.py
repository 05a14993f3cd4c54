"""Sandbox configuration: keys → org/project from a YAML/JSON file or `KEY:ORG:PROJECT` flags.

Config file format (YAML or JSON; every field optional)::

    admin_token: s3cret            # guard /_sandbox/ routes
    allow_all_downloads: false     # let every purpose download (compatible servers do)
    ingestion_seconds: 0.5         # how long vector-store files stay in_progress
    keys:
      - {key: sk-src-…, org: org-src, project: proj_src}
    projects:
      proj_src: {requests_per_minute: 500, tokens_per_minute: 30000, insufficient_quota: false}
      proj_dst:
        models: [gpt-4o, gpt-4o-mini]          # replaces the default catalogue
        model_limits:                          # per model family, on top of the project's
          gpt-4o: {requests_per_minute: 60, tokens_per_minute: 30000}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.state import SandboxState

DEMO_KEY = "sk-sandbox-demo-key-0000000000000000000000"
DEMO_ORG = "org-sandbox-demo"
DEMO_PROJECT = "proj_sandbox_demo"


@dataclass(frozen=True)
class KeySpec:
    key: str
    org_id: str
    project_id: str


def parse_key_flag(flag: str) -> KeySpec:
    """`KEY:ORG:PROJECT` → a KeySpec (ValueError naming the expected form otherwise)."""
    parts = flag.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"expected KEY:ORG:PROJECT, got {flag!r}")
    return KeySpec(*parts)


def read_config(path: Path | str) -> dict[str, Any]:
    """The config file as a dict (`.json` as JSON, anything else as YAML)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def apply_config(state: SandboxState, config: dict[str, Any]) -> list[KeySpec]:
    """Apply a config mapping to `state`; the keys it added."""
    if "admin_token" in config:
        state.admin_token = config["admin_token"]
    if "allow_all_downloads" in config:
        state.set_allow_all_downloads(bool(config["allow_all_downloads"]))
    if "ingestion_seconds" in config:
        state.set_ingestion_seconds(float(config["ingestion_seconds"]))
    added = []
    for entry in config.get("keys", []):
        spec = KeySpec(entry["key"], entry["org"], entry["project"])
        state.add_key(spec.key, spec.org_id, spec.project_id)
        added.append(spec)
    for project_id, settings in (config.get("projects") or {}).items():
        if project_id not in state.projects:
            raise ValueError(f"project {project_id!r} has settings but no key")
        state.set_limits(
            project_id,
            requests_per_minute=settings.get("requests_per_minute"),
            tokens_per_minute=settings.get("tokens_per_minute"),
        )
        if settings.get("insufficient_quota"):
            state.set_insufficient_quota(project_id, True)
        if "allow_all_downloads" in settings:
            state.set_allow_all_downloads(bool(settings["allow_all_downloads"]), project_id)
        if "models" in settings:
            state.set_models(project_id, list(settings["models"]))
        for family, limits in (settings.get("model_limits") or {}).items():
            state.set_model_limits(
                project_id,
                family,
                requests_per_minute=limits.get("requests_per_minute"),
                tokens_per_minute=limits.get("tokens_per_minute"),
                models=limits.get("models"),
            )
    return added


def add_demo_key(state: SandboxState) -> KeySpec:
    """The fake key a bare `python -m sandbox` answers to."""
    state.add_key(DEMO_KEY, DEMO_ORG, DEMO_PROJECT)
    return KeySpec(DEMO_KEY, DEMO_ORG, DEMO_PROJECT)
