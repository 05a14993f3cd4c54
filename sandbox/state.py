"""The sandbox's in-memory world: API keys, orgs, projects and the objects each project owns."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sandbox.errors import not_found
from sandbox.faults import Fault, FaultTable
from sandbox.limits import Limits, RateLimiter
from sandbox.models import catalogue_of, default_catalogue


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
    # the `code` of the quota 429 (OpenAI also answers e.g. `billing_hard_limit_reached`)
    quota_code: str = "insufficient_quota"
    # OpenAI refuses to download `assistants`/`user_data` files; compatible servers may not
    allow_all_downloads: bool = False
    # how long a vector-store file stays `in_progress` before it is `completed`/`failed`
    ingestion_seconds: float = 0.5
    limiter: RateLimiter = field(default_factory=RateLimiter)
    # the models the project may use (id -> Model object), the defaults unless set
    models: dict[str, dict[str, Any]] = field(default_factory=default_catalogue)
    # model id -> the family whose rate limit it shares (beyond the snapshot rule)
    model_families: dict[str, str] = field(default_factory=dict)
    # family -> its own limits, checked on top of the project's (only where configured)
    model_limiters: dict[str, RateLimiter] = field(default_factory=dict)

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

    def clear(self) -> None:
        """Drop every object and its private data; settings and limits stay."""
        self.objects.clear()
        self.private.clear()

    def object_counts(self) -> dict[str, int]:
        """How many objects of each kind the project holds."""
        return {kind: len(table) for kind, table in self.objects.items() if table}


@dataclass
class Counters:
    """Requests seen, per route (ids folded to `{id}`) and status; 429s by type."""

    requests: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": [
                {"method": m, "route": r, "status": s, "count": n}
                for (m, r, s), n in sorted(self.requests.items())
            ],
            "total": sum(self.requests.values()),
            "rate_limited": dict(self.rate_limited),
        }

    def clear(self) -> None:
        self.requests.clear()
        self.rate_limited.clear()


@dataclass
class SandboxState:
    keys: dict[str, ApiKey] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    faults: FaultTable = field(default_factory=FaultTable)
    counters: Counters = field(default_factory=Counters)
    # defaults given to projects created from now on
    default_limits: Limits = field(default_factory=Limits)
    allow_all_downloads: bool = False
    ingestion_seconds: float = 0.5
    # None: the admin routes need no token; else `Authorization: Bearer <admin_token>`
    admin_token: str | None = None
    # model ids every project created from now on has besides the defaults
    extra_models: tuple[str, ...] = ()

    def add_key(self, key: str, org_id: str, project_id: str) -> ApiKey:
        api_key = ApiKey(key=key, org_id=org_id, project_id=project_id)
        self.keys[key] = api_key
        self.add_project(project_id, org_id)
        return api_key

    def add_project(self, project_id: str, org_id: str) -> Project:
        """The project, created with the sandbox's defaults unless it exists already."""
        project = self.projects.get(project_id)
        if project is None:
            project = Project(
                id=project_id,
                org_id=org_id,
                allow_all_downloads=self.allow_all_downloads,
                ingestion_seconds=self.ingestion_seconds,
                limiter=RateLimiter(self.default_limits),
                models=default_catalogue(self.extra_models),
            )
            self.projects[project_id] = project
        return project

    def project_of(self, api_key: ApiKey) -> Project:
        return self.projects[api_key.project_id]

    def project(self, project_id: str) -> Project:
        """The project by id (KeyError for an unknown one)."""
        return self.projects[project_id]

    def reset(self) -> None:
        """Drop every object, fault and counter; keys, orgs, projects and their settings stay."""
        for project in self.projects.values():
            project.clear()
            project.limiter.refill()
            for limiter in project.model_limiters.values():
                limiter.refill()
            project.insufficient_quota = False
        self.faults.clear()
        self.counters.clear()

    def set_limits(
        self,
        project_id: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> Limits:
        """Change a project's limits (None keeps one); its buckets start full."""
        project = self.project(project_id)
        project.limiter.configure(
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        return project.limiter.limits

    def set_models(self, project_id: str, model_ids: list[str], *, replace: bool = True) -> list:
        """The models a project may use: exactly `model_ids`, or the current ones plus them."""
        project = self.project(project_id)
        table = catalogue_of(model_ids)
        project.models = table if replace else {**project.models, **table}
        return list(project.models)

    def remove_models(self, project_id: str, model_ids: list[str]) -> list[str]:
        """Take models away from a project (a cross-project clone then meets model_not_found)."""
        project = self.project(project_id)
        for model_id in model_ids:
            project.models.pop(model_id, None)
        return list(project.models)

    def set_model_limits(
        self,
        project_id: str,
        family: str,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        models: list[str] | None = None,
    ) -> Limits:
        """Per-model limits (a family: a model and its snapshots, plus `models` mapped to it),
        checked on top of the project's; the buckets start full."""
        project = self.project(project_id)
        limiter = project.model_limiters.setdefault(family, RateLimiter(self.default_limits))
        limiter.configure(
            requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute
        )
        for model_id in models or []:
            project.model_families[model_id] = family
        return limiter.limits

    def set_insufficient_quota(
        self, project_id: str, exceeded: bool = True, *, code: str = "insufficient_quota"
    ) -> None:
        """Make every /v1 call of the project answer OpenAI's quota 429 (or stop doing so)."""
        project = self.project(project_id)
        project.insufficient_quota = exceeded
        project.quota_code = code

    def set_allow_all_downloads(self, allowed: bool, project_id: str | None = None) -> None:
        """Let one project (or every project, now and later) download any file's content."""
        if project_id is None:
            self.allow_all_downloads = allowed
            for project in self.projects.values():
                project.allow_all_downloads = allowed
        else:
            self.project(project_id).allow_all_downloads = allowed

    def set_ingestion_seconds(self, seconds: float, project_id: str | None = None) -> None:
        """How long vector-store files stay `in_progress` (one project, or all)."""
        if project_id is None:
            self.ingestion_seconds = seconds
            for project in self.projects.values():
                project.ingestion_seconds = seconds
        else:
            self.project(project_id).ingestion_seconds = seconds

    def add_fault(self, fault: Fault) -> Fault:
        """Inject a fault (see `sandbox.faults.Fault`); it applies from the next request on."""
        return self.faults.add(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def object_counts(self) -> dict[str, dict[str, int]]:
        return {pid: p.object_counts() for pid, p in self.projects.items()}
