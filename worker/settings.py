"""Worker settings from the environment and `.env`, and the OpenAI connection profiles.

Every `OPENAI_<NAME>_API_KEY` defines profile `<name>` (lower case), with optional
`OPENAI_<NAME>_BASE_URL`, `_ORG_ID`, `_PROJECT_ID` and `_API_STYLE`. `OPENAI_API_KEY` alone
defines profile `default`. Keys are secrets: they never leave this module except into the
`AsyncOpenAI` client that uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from schemas.profiles import (
    RESERVED_KEY,
    defined_profiles,
    env_prefix,
    environment,
    unknown_profile,
)
from store.settings import StoreSettings

# OpenAI keys are `sk-…` (`sk-proj-…`, `sk-svcacct-…`, `sk-admin-…`); anything shorter or with
# white space is a truncated or mangled paste.
_PLAUSIBLE_KEY = re.compile(r"^sk-[A-Za-z0-9_-]{16,}$")


class ApiStyle(StrEnum):
    responses = "responses"  # today's OpenAI: Responses + Conversations
    assistants = "assistants"  # the Assistants v2 protocol: compatible servers, archives


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names the variable and the fix."""


class Profile(BaseModel):
    """One OpenAI connection: which key, which server, which org and project, which API style."""

    model_config = ConfigDict(frozen=True)

    name: str
    api_key: SecretStr
    base_url: str | None = None
    org_id: str | None = None
    project_id: str | None = None
    api_style: ApiStyle = ApiStyle.responses

    @property
    def env_prefix(self) -> str:
        return env_prefix(self.name)


class CloneMode(StrEnum):
    all = "all"
    by_id = "by_id"
    by_name = "by_name"


class Settings(StoreSettings):
    """Everything a worker (and `ferry doctor`) reads from its environment.

    `Settings(profiles={...})` takes the connection profiles as given and reads none from
    the environment: tests and programs embedding a worker do not depend on it.
    """

    def __init__(self, *args: Any, profiles: Mapping[str, Profile] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        if profiles is not None:
            for name, profile in profiles.items():
                if profile.name != name:
                    raise SettingsError(f"profile {name!r} is given as {profile.name!r}")
            # Fills the cached property: the environment is never read for profiles.
            self.__dict__["profiles"] = dict(profiles)

    log_level: Literal["debug", "info", "warn", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    openai_timeout_s: float = Field(60.0, gt=0)
    # Tries of one call (rate-limited, transient, busy) before its job fails with the error.
    openai_max_attempts: int = Field(5, ge=1, le=20)
    # A wait for the shared budget (or a retry) longer than this hands the job back to the
    # queue (`arq.Retry(defer=…)`) instead of holding a worker slot asleep.
    openai_max_inline_wait_s: float = Field(5.0, ge=0)
    # After an `insufficient_quota` answer, every worker fails jobs on that profile at once
    # for this long instead of calling again.
    openai_quota_cooldown_s: int = Field(600, ge=1)
    max_concurrency: int = Field(3, ge=1, le=64)
    output_dir: Path = Path("./out")

    # Clone defaults (seed 000's variables); a clone job may override each.
    clone_mode: CloneMode = CloneMode.all
    clone_ids: str = ""
    # The by-name filter: comma-separated, case-insensitive "contains", any of them.
    clone_names: str = ""
    clone_name_prefix: str = ""
    dry_run: bool = False
    include_file_search: bool = False
    include_code_interpreter: bool = False
    # How long a clone waits for a vector store's files to be ingested at the destination.
    clone_ingestion_deadline_s: float = Field(600.0, gt=0)
    # How long `knowledge.sync` waits for an assistant's files to be ingested.
    knowledge_ingestion_deadline_s: float = Field(600.0, gt=0)

    # The blob store (original bytes of every file Ferry uploads): `postgres:` is Ferry's
    # own database; see worker/blobs/__init__.py for the other URLs.
    blob_store_url: str = "postgres:"
    blob_chunk_bytes: int = Field(1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024)

    # Worker process.
    worker_max_jobs: int = Field(10, ge=1)
    # The process's event loop: uvloop (less CPU per socket exchange) or asyncio's own.
    worker_event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # Seconds a worker stopping on SIGTERM lets running jobs finish before handing them back.
    worker_shutdown_grace_s: int = Field(25, ge=0)
    # A started job's lease (arq's in-progress key), renewed by its worker every third of it
    # while the job runs: a job whose worker died is started again within about this long,
    # whatever its timeout. A live worker keeps its jobs through Redis or event-loop stalls
    # shorter than about two thirds of it.
    job_lease_s: float = Field(30.0, ge=1)
    # How often the sweeper repairs the ledger against Redis (once per interval per
    # deployment); a queued job Redis lost is enqueued again within about this long.
    sweeper_interval_s: int = Field(5, ge=1)
    # Seconds past a running job's timeout before the sweeper, finding no worker holding it
    # and no outcome, enqueues it again (its worker died and Redis lost its lease).
    sweeper_grace_s: int = Field(5, ge=0)
    # How long a worker keeps an assistant config without asking again; edits reach workers
    # at once through the invalidation channel, this only bounds a missed message.
    registry_cache_ttl_s: int = Field(300, ge=1)
    # The model a semantic flow patch asks to rewrite a window of a prompt.
    flow_semantic_model: str = Field("gpt-4.1-mini", min_length=1)

    # Chat-run jobs (worker/chat/). Tool executors by tool name: a Python callable by dotted
    # path (`pkg.module.function`), or a URL the arguments are POSTed to as JSON.
    chat_python_tools: dict[str, str] = Field(default_factory=dict)
    chat_http_tools: dict[str, str] = Field(default_factory=dict)
    chat_tool_timeout_s: float = Field(10.0, gt=0)
    # A tool output longer than this is cut, with a note the model sees.
    chat_tool_output_max_chars: int = Field(16_000, ge=100)
    # Model rounds that may call functions in one turn; past it the model must answer.
    chat_max_tool_rounds: int = Field(8, ge=1, le=64)
    # How deep sub-assistant turns may nest (a sub-assistant calling another counts 2).
    chat_max_depth: int = Field(2, ge=0, le=8)
    # Responses style: `background: true` turns, resumable after a worker dies. Turn off for
    # zero-data-retention projects, where OpenAI refuses background mode.
    chat_background: bool = True
    chat_truncation: Literal["auto", "disabled"] = "auto"
    # The per-thread lock's lease: a dead holder's lock frees itself after this.
    chat_lock_lease_s: float = Field(30.0, gt=0)

    @property
    def clone_id_list(self) -> list[str]:
        return [part.strip() for part in self.clone_ids.split(",") if part.strip()]

    @cached_property
    def profiles(self) -> dict[str, Profile]:
        """Every profile defined by the environment (and `.env`); raises `SettingsError`."""
        env_file = self.model_config.get("env_file")
        return load_profiles(environment(env_file if isinstance(env_file, str | Path) else None))

    def unread_openai_variables(self) -> list[str]:
        """`OPENAI_*` variables set in the environment (or `.env`) that nothing reads."""
        env_file = self.model_config.get("env_file")
        environ = environment(env_file if isinstance(env_file, str | Path) else None)
        return unread_variables(environ, type(self).model_fields)

    def profile(self, name: str) -> Profile:
        """The named profile, or an error that says which variable defines it."""
        profiles = self.profiles
        if name not in profiles:
            raise SettingsError(unknown_profile(name, profiles))
        return profiles[name]


def load_profiles(environ: dict[str, str]) -> dict[str, Profile]:
    """Build the profiles that `environ` defines, validating each key and style."""
    profiles: dict[str, Profile] = {}
    if RESERVED_KEY in environ:
        raise SettingsError(
            f"{RESERVED_KEY} is not read: profile 'default' is OPENAI_API_KEY, with "
            "OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_API_STYLE; rename the "
            "OPENAI_DEFAULT_* variables"
        )
    for name, variable in sorted(defined_profiles(environ).items()):
        prefix = env_prefix(name)
        key = environ[variable].strip()
        if not key:
            raise SettingsError(f"{variable} is empty: set it to the project's API key or unset it")
        if not _PLAUSIBLE_KEY.match(key):
            raise SettingsError(
                f"{variable} does not look like an OpenAI API key (expected 'sk-' followed by "
                "letters, digits, '-' or '_', no spaces or quotes): check for a truncated paste"
            )
        style = environ.get(f"{prefix}API_STYLE", ApiStyle.responses.value).strip().lower()
        if style not in ApiStyle.__members__:
            raise SettingsError(
                f"{prefix}API_STYLE={style!r} is not an API style: use 'responses' (today's "
                "OpenAI) or 'assistants' (the Assistants v2 protocol)"
            )
        try:
            profiles[name] = Profile(
                name=name,
                api_key=SecretStr(key),
                base_url=environ.get(f"{prefix}BASE_URL") or None,
                org_id=environ.get(f"{prefix}ORG_ID") or None,
                project_id=environ.get(f"{prefix}PROJECT_ID") or None,
                api_style=ApiStyle(style),
            )
        except ValidationError as error:  # pragma: no cover - every field is a plain string
            raise SettingsError(f"profile {name!r}: {error}") from None
    return profiles


PROFILE_SETTINGS = ("API_KEY", "BASE_URL", "ORG_ID", "PROJECT_ID", "API_STYLE")
# Read by the openai SDK itself (its log level), not by Ferry.
SDK_VARIABLES = frozenset({"OPENAI_LOG"})


def unread_variables(environ: Mapping[str, str], fields: Iterable[str]) -> list[str]:
    """The `OPENAI_*` names in `environ` that no profile and no setting reads: likely typos.

    A profile's settings are read under its own prefix only, so `OPENAI_SRC_BASEURL` (or
    `OPENAI_SRC_BASE_URL` with no `OPENAI_SRC_API_KEY`) would otherwise change nothing in
    silence.
    """
    read = {field.upper() for field in fields} | SDK_VARIABLES
    for name in defined_profiles(environ):
        read |= {f"{env_prefix(name)}{setting}" for setting in PROFILE_SETTINGS}
    return sorted(v for v in environ if v.startswith("OPENAI_") and v not in read)
