"""What a producer may catch: one exception per way a job can end badly."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.results import ErrorKind, FieldError, JobError, JobOutcome, JobStatus


class FerryError(Exception):
    """Base of everything the producer client raises."""


class ResultTimeout(FerryError, TimeoutError):
    """The job did not finish within the time the caller was willing to wait."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"job {job_id} did not finish within {timeout:g} s (it may still run)")
        self.job_id = job_id


class StoreUnavailable(FerryError, ConnectionError):
    """Redis or Postgres could not be reached (the message says which, and the cause).

    Enqueueing the same job again once it is back is safe: its id is the same, so it runs once.
    """

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(f"{what}: {type(error).__name__}: {error}")


class JobFailed(FerryError):
    """The job finished without a result; `error` says why."""

    def __init__(self, outcome: JobOutcome) -> None:
        self.outcome = outcome
        self.error: JobError = outcome.error or JobError(
            kind=ErrorKind.internal, message="failed without an error"
        )
        super().__init__(f"job {outcome.job_id} ({outcome.kind}): {self.error.message}")

    @property
    def job_id(self) -> str:
        return self.outcome.job_id

    @property
    def fields(self) -> list[FieldError]:
        return self.error.fields


class JobRejected(JobFailed):
    """The payload was invalid (`fields` name what to fix); nothing ran."""

    def __init__(self, outcome: JobOutcome) -> None:
        super().__init__(outcome)
        if self.fields:
            where = "; ".join(f"{f.loc}: {f.message}" for f in self.fields)
            self.args = (f"{self.args[0]} ({where})",)


class JobTimedOut(JobFailed):
    """The job ran past its timeout."""


class JobLost(JobFailed):
    """The job's worker vanished while running it, and the sweeper gave up on it."""


class JobCancelled(JobFailed):
    """The job was cancelled."""


_BY_KIND: dict[ErrorKind, type[JobFailed]] = {
    ErrorKind.validation: JobRejected,
    ErrorKind.timeout: JobTimedOut,
    ErrorKind.lost: JobLost,
    ErrorKind.cancelled: JobCancelled,
}


def error_for(outcome: JobOutcome) -> JobFailed:
    """The exception that matches a failed outcome."""
    kind = outcome.error.kind if outcome.error else ErrorKind.internal
    return _BY_KIND.get(kind, JobFailed)(outcome)


def refused(job_id: str, kind: str, message: str, fields: list[FieldError]) -> JobRejected:
    """A `JobRejected` for a job refused before anything was enqueued."""
    return JobRejected(
        JobOutcome(
            job_id=job_id,
            kind=kind,
            status=JobStatus.failed,
            error=JobError(kind=ErrorKind.validation, message=message, fields=fields),
            finished_at=datetime.now(UTC),
        )
    )
