"""The port's knowledge operations: a profile's files and vector stores, and the blob store.

Files and vector stores are one API in both styles (Responses' `file_search` uses the same
objects the Assistants API did), so both adapters carry the same `Knowledge`; jobs reach it
as `backend.knowledge`.
"""

from __future__ import annotations

from openai import AsyncOpenAI

from worker.backends.calls import Caller, direct
from worker.backends.files import RemoteFiles
from worker.backends.vector_stores import RemoteVectorStores
from worker.blobs import BlobStore


class Knowledge:
    """One profile's files (uploads kept in `blobs`) and vector stores.

    `via` is the profile's client (each request sent once, as is) or a caller that wraps
    it, such as the OpenAI call layer's (see `worker.backends.calls`).
    """

    def __init__(self, profile: str, via: AsyncOpenAI | Caller, blobs: BlobStore) -> None:
        call = direct(via) if isinstance(via, AsyncOpenAI) else via
        self.profile = profile
        self.blobs = blobs
        self.files = RemoteFiles(profile, call, blobs)
        self.vector_stores = RemoteVectorStores(call)


def required(knowledge: Knowledge | None, style: str) -> Knowledge:
    """An adapter's knowledge; an adapter built without a blob store cannot have any."""
    if knowledge is None:
        raise RuntimeError(
            f"this {style} backend was made without knowledge (no blob store): "
            "make backends with worker.backends.factory.backend_for"
        )
    return knowledge
