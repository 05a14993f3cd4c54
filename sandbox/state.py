"""The sandbox's in-memory world: API keys, orgs, projects and the objects each project owns."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import not_found


def new_id(prefix: str) -> str:
    """An id shaped like OpenAI's (`file-…`, `vs_…`, `asst_…`)."""
    return f"{prefix}{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class ApiKey:
    key: str
    org_id: str
    project_id: str


@dataclass
class Project:
    """Everything one project owns. Objects of other projects are invisible to it."""

    id: str
    org_id: str
    # kind ("file", "vector_store", "assistant", "thread", ...) -> id -> the public JSON object
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # kind -> id -> data that never leaves the sandbox (file bytes, scripted outputs, timers)
    private: dict[str, dict[str, Any]] = field(default_factory=dict)
    insufficient_quota: bool = False

    def table(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.objects.setdefault(kind, {})

    def get(self, kind: str, object_id: str, *, label: str | None = None) -> dict[str, Any]:
        """The object, or OpenAI's 404 naming it."""
        try:
            return self.objects[kind][object_id]
        except KeyError:
            raise not_found(label or kind, object_id) from None

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.table(kind)[obj["id"]] = obj
        return obj

    def delete(self, kind: str, object_id: str, *, label: str | None = None) -> dict[str, Any]:
        obj = self.get(kind, object_id, label=label)
        del self.objects[kind][object_id]
        self.private.get(kind, {}).pop(object_id, None)
        return obj

    def private_of(self, kind: str) -> dict[str, Any]:
        return self.private.setdefault(kind, {})


@dataclass
class SandboxState:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)

    def add_key(self, key: str, org_id: str, project_id: str) -> ApiKey:
        api_key = ApiKey(key=key, org_id=org_id, project_id=project_id)
        self.keys[key] = api_key
        self.projects.setdefault(project_id, Project(id=project_id, org_id=org_id))
        return api_key

    def project_of(self, api_key: ApiKey) -> Project:
        return self.projects[api_key.project_id]

    def reset(self) -> None:
        """Drop every object; keys, orgs and projects stay."""
        for project_id, project in list(self.projects.items()):
            self.projects[project_id] = Project(id=project_id, org_id=project.org_id)
