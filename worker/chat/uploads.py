"""Attachments a producer kept in the blob store (`ferry run -f FILE`), uploaded for the turn."""

from __future__ import annotations

from schemas.chat import ChatAttachment
from worker.backends.files import RemoteFiles
from worker.blobs import BlobNotFound, blob_store_from_url
from worker.kinds import JobContext, JobFailure


def purpose_for(attachment: ChatAttachment, style: str) -> str:
    """What OpenAI needs the file for: images `vision`; v2 attachments `assistants`."""
    if attachment.is_image:
        return "vision"
    return "assistants" if style == "assistants" else "user_data"


async def upload_blobs(
    ctx: JobContext, profile: str, style: str, attachments: list[ChatAttachment]
) -> list[ChatAttachment]:
    """The attachments with every blob uploaded and replaced by its new file id."""
    if all(a.blob_sha256 is None for a in attachments):
        return attachments
    blobs = await blob_store_from_url(
        ctx.settings.blob_store_url, db=ctx.db, chunk_bytes=ctx.settings.blob_chunk_bytes
    )
    files = RemoteFiles(profile, lambda request: ctx.openai.call(profile, request), blobs)
    resolved = []
    try:
        for attachment in attachments:
            if attachment.blob_sha256 is None:
                resolved.append(attachment)
                continue
            blob = await blobs.stat(attachment.blob_sha256)
            if blob is None:
                raise JobFailure(
                    f"attachment {attachment.filename!r}: its bytes are not in the blob store "
                    f"({ctx.settings.blob_store_url}); upload it again",
                    detail={"code": "blob_missing", "sha256": attachment.blob_sha256},
                )
            name = attachment.filename or attachment.blob_sha256
            uploaded = await files.upload(name, blob, purpose=purpose_for(attachment, style))
            resolved.append(ChatAttachment(file_id=uploaded.id, filename=name))
    except BlobNotFound as error:
        raise JobFailure(str(error), detail={"code": "blob_missing"}) from None
    finally:
        await blobs.aclose()
    return resolved
