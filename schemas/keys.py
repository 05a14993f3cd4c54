"""Every Redis key and channel name Ferry uses, in one place.

Producers and workers share these names, so they live in the contract. arq's own keys
(`arq:job:<id>`, `arq:result:<id>`, …) are arq's and are read through arq.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Queue(StrEnum):
    """Latency classes: `chat` is interactive and never waits behind bulk `clone` work."""

    chat = "chat"
    clone = "clone"
    patch = "patch"


# Queues whose workers wait on a wake list between polls (`RedisKeys.queue_wake`): the client
# pushes to it after queueing, so an idle worker starts the job at once.
WOKEN_QUEUES = frozenset({Queue.chat})


@dataclass(frozen=True)
class RedisKeys:
    """Key names under one prefix (`ferry` in production; one per test for isolation)."""

    prefix: str = "ferry"

    def queue(self, queue: Queue | str) -> str:
        """The arq queue (a sorted set) of a latency class: `ferry:chat`."""
        return f"{self.prefix}:{Queue(queue).value}"

    def queue_wake(self, queue: Queue | str) -> str:
        """A list producers push to after queueing, so an idle worker wakes at once: at most
        one entry (a wake for several jobs is one wake: the worker reads all that are due)."""
        return f"{self.queue(queue)}:new-jobs"

    def health_check(self, queue: Queue | str) -> str:
        return f"{self.queue(queue)}:health-check"

    def arq_job_id(self, job_id: str) -> str:
        """The id arq knows a job by: arq's keys are global, so Ferry's prefix goes in the id."""
        return f"{self.prefix}:{job_id}"

    def ledger_id(self, arq_job_id: str) -> str:
        """The ledger's id of a job arq handed to a worker."""
        return arq_job_id.removeprefix(f"{self.prefix}:")

    def done_channel(self, job_id: str) -> str:
        """Pub/sub channel on which a job's outcome is pushed to its waiters."""
        return f"{self.prefix}:done:{job_id}"

    def outcome(self, job_id: str) -> str:
        """A finished job's outcome, kept for a day: waiters read it before the ledger."""
        return f"{self.prefix}:outcome:{job_id}"

    def client_channel(self, client_id: str) -> str:
        """A channel no one publishes to; it keeps a producer's pub/sub connection open."""
        return f"{self.prefix}:client:{client_id}"

    def sweeper_tick(self, slot: int) -> str:
        """Taken by the first worker process to sweep in interval number `slot`."""
        return f"{self.prefix}:sweeper:tick:{slot}"

    def sweeper_unheld(self, job_id: str) -> str:
        """When the sweeper first found running job `job_id` held by no worker (ms)."""
        return f"{self.prefix}:sweeper:unheld:{job_id}"

    # --- the assistant registry's config cache (worker/registry.py, store/registry_writes.py) ---

    def assistant_config(self, profile: str, name: str) -> str:
        """A cached assistant config (JSON, with a TTL): `ferry:registry:config:<profile>:<n>`."""
        return f"{self.prefix}:registry:config:{profile}:{name}"

    def assistant_version(self, profile: str, name: str) -> str:
        """The registry version a cached config must carry to be served (`0`: deleted)."""
        return f"{self.prefix}:registry:version:{profile}:{name}"

    @property
    def registry_channel(self) -> str:
        """Pub/sub channel of registry writes: every worker drops its stale copy at once."""
        return f"{self.prefix}:registry:changed"

    # --- the OpenAI call layer (worker/openai/pacing.py, worker/openai/quota.py) ---

    def openai_pacing(self, profile: str, model: str | None) -> str:
        """A profile's shared rate budget for one model (`-`: calls that name none): a hash."""
        return f"{self.prefix}:openai:pace:{profile}:{model or '-'}"

    def openai_probe(self, profile: str, model: str | None) -> str:
        """Held by the one call that learns a budget's limits from its answer's headers."""
        return f"{self.prefix}:openai:probe:{profile}:{model or '-'}"

    def openai_quota(self, profile: str) -> str:
        """Set (with the cool-down as TTL) while a profile is out of quota: JSON of the error."""
        return f"{self.prefix}:openai:quota:{profile}"

    # --- the HTTP API (api/) ---

    def job_events(self, job_id: str) -> str:
        """A job's event stream (progress, text deltas, the outcome), read from the last id."""
        return f"{self.prefix}:events:{job_id}"

    def job_events_final(self, job_id: str) -> str:
        """The stream id of a job's outcome event, once one was appended (it is appended once)."""
        return f"{self.prefix}:events-final:{job_id}"

    def api_token_generation(self) -> str:
        """A counter every token revocation moves on: API processes drop their cached tokens."""
        return f"{self.prefix}:api-tokens:generation"

    @property
    def api_token_channel(self) -> str:
        """Pub/sub channel a revocation publishes the new generation on: caches drop at once."""
        return f"{self.prefix}:api-tokens:revoked"

    def idempotency(self, token_id: str, key: str) -> str:
        """The job an API token's `Idempotency-Key` stands for."""
        return f"{self.prefix}:idempotency:{token_id}:{key}"

    # --- chat-run jobs (worker/chat/, producers/chat.py) ---

    def chat_deltas(self, job_id: str) -> str:
        """A chat turn's stream of text deltas, ending with an `end` entry: a Redis stream."""
        return f"{self.prefix}:chat:deltas:{job_id}"

    def chat_lock(self, thread_key: str) -> str:
        """Held (with a lease) by the one turn running on a user's thread; its value: the job."""
        return f"{self.prefix}:chat:lock:{thread_key}"

    def chat_arrivals(self, thread_key: str) -> str:
        """The turns waiting for a user's thread, scored by arrival: a sorted set."""
        return f"{self.prefix}:chat:arrivals:{thread_key}"

    def chat_wake(self, job_id: str) -> str:
        """Pushed to when the turn `job_id` is next in line for its thread: a list."""
        return f"{self.prefix}:chat:wake:{job_id}"

    # --- clone jobs (worker/clone/) ---

    @property
    def clone_slots(self) -> str:
        """The clone's concurrency slots, shared by every worker: a sorted set of holders."""
        return f"{self.prefix}:clone:slots"

    def clone_result(self, plan_id: str) -> str:
        """A clone run's latest result (JSON): what `ferry clone show` prints first."""
        return f"{self.prefix}:clone:result:{plan_id}"
