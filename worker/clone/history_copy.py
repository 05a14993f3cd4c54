"""Copying one thread's history into a conversation, resumably.

Per thread, under a lock of its own (two jobs never copy one thread at once):
1. the conversation is created (tagged `cloned_from` = the thread, and the user's hash) and
   journaled the moment its id is known;
2. messages are appended 20 at a time, oldest first; after each call the journal records the
   last source message copied and the destination item it became;
3. a copy that resumes (its worker died) or whose append lost its answer first lists the
   conversation's items after the journal's last one: a batch that landed is journaled, not
   appended again;
4. at the end the user's live conversation with the cloned assistant is the new one, with
   the thread it came from kept (`user_threads.cloned_from_thread`).

A conversation create whose answer was lost cannot be reconciled: OpenAI has no route that
lists conversations, so it cannot be found by its tag. The copy makes another and the
result says an empty, tagged conversation may be left at the destination.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import openai
from arq import Retry
from openai.types.beta.threads import Message

from schemas.chat import safety_identifier
from schemas.clone import CLONED_FROM_KEY, PlannedThread, ThreadCopyResult
from store import clone_state, clone_threads, user_threads
from store.clone_threads import ThreadJournal
from store.registry import Database
from worker.backends.calls import message_of
from worker.clone.history import ITEMS_PER_CALL, FileMap, messages_after, to_item
from worker.kinds import JobContext, JobFailure

# A module, not its names: worker.openai.errors imports worker.kinds.
from worker.openai import errors as call_errors

# Appends of one thread whose answers were lost before it gives up (each one reconciled).
MAX_LOST_APPENDS = 5
LOST_CREATE_NOTE = (
    "a conversation create lost its answer; OpenAI cannot list conversations, so an empty "
    "conversation tagged cloned_from={thread} may be left at the destination"
)


class ThreadCopier:
    """Copies the threads of one cloned assistant into conversations of the destination."""

    def __init__(
        self,
        ctx: JobContext,
        source: str,
        destination: str,
        file_map: FileMap,
        *,
        assistant_id: UUID,
        assistant_name: str,
    ) -> None:
        self.ctx, self.source, self.destination = ctx, source, destination
        self.file_map = file_map
        self.assistant_id, self.assistant_name = assistant_id, assistant_name

    async def copy_all(self, threads: Iterable[PlannedThread]) -> list[ThreadCopyResult]:
        """Every thread, one after another, in plan order.

        One at a time: each holds its lock's connection (and an image copy two more), so a
        job's share of the worker's pool stays what a vector-store copy takes; assistants'
        jobs run side by side up to `MAX_CONCURRENCY`.
        """
        return [await self.copy(thread) for thread in threads]

    async def copy(self, thread: PlannedThread) -> ThreadCopyResult:
        """One thread, from wherever its journal stands; a failure is its result, not raised
        (a quota stop is raised: it stops the whole run)."""
        try:
            return await self._copy(thread)
        except (call_errors.QuotaExhausted, Retry):
            raise  # the run stops (quota), or the job goes back to its queue for a long wait
        except Exception as error:
            message = (
                message_of(error) if isinstance(error, call_errors.OpenAICallError) else str(error)
            )
            retry = isinstance(error, call_errors.Retryable | call_errors.Ambiguous) or (
                not isinstance(error, JobFailure)
            )
            journal = await clone_threads.thread_journal(
                self.ctx.db, self.destination, thread.thread_id
            )
            self.ctx.log.warning("clone.thread_failed", thread=thread.thread_id, error=message)
            return ThreadCopyResult(
                thread_id=thread.thread_id,
                user_id=thread.user_id,
                conversation_id=journal.conversation_id if journal else None,
                status="failed",
                messages_copied=journal.messages_copied if journal else 0,
                error=message,
                retry_recommended=retry,
            )

    async def _copy(self, thread: PlannedThread) -> ThreadCopyResult:
        tid = thread.thread_id
        writes, note = 0, None
        db, dsn = self.ctx.db, self.ctx.settings.database_url
        async with clone_state.copy_lock(dsn, "thread", self.destination, tid):
            journal = await clone_threads.thread_journal(db, self.destination, tid)
            fresh = journal is None
            if journal is None:
                conversation_id, tries = await self._create_conversation(thread)
                writes += tries
                if tries > 1:
                    note = LOST_CREATE_NOTE.format(thread=tid)
                journal = await clone_threads.start_thread(
                    db, self.destination, tid, conversation_id
                )
            if journal.finished_at is None:
                if not fresh:
                    journal = await self._reconcile(db, journal)  # a dead predecessor's
                journal, appended = await self._append_rest(db, journal)
                writes += appended
                await clone_threads.finish_thread(db, self.destination, tid)
        await user_threads.adopt_copy(
            self.ctx.db,
            thread.user_id,
            self.assistant_id,
            self.destination,
            journal.conversation_id,
            cloned_from_thread=tid,
            assistant_name=self.assistant_name,
        )
        return ThreadCopyResult(
            thread_id=tid,
            user_id=thread.user_id,
            conversation_id=journal.conversation_id,
            status="copied" if writes else "unchanged",
            messages_copied=journal.messages_copied,
            annotations_dropped=journal.annotations_dropped,
            images_remapped=journal.images_remapped,
            images_dropped=journal.images_dropped,
            write_requests=writes,
            note=note,
        )

    async def _create_conversation(self, thread: PlannedThread) -> tuple[str, int]:
        """A new empty conversation tagged with its thread; (id, creates sent)."""
        metadata = {
            CLONED_FROM_KEY: thread.thread_id,
            "ferry_user": safety_identifier(thread.user_id),
        }
        for tries in range(1, 3):
            try:
                made = await self.ctx.openai.call(
                    self.destination, lambda c: c.conversations.create(metadata=metadata)
                )
                return made.id, tries
            except call_errors.Ambiguous:
                if tries == 2:
                    raise
                self.ctx.log.warning("clone.conversation_create_lost", thread=thread.thread_id)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _append_rest(self, db: Database, journal: ThreadJournal) -> tuple[ThreadJournal, int]:
        """Append every source message after the journal's last; (journal, appends sent)."""
        writes = 0
        for _lost in range(MAX_LOST_APPENDS + 1):
            try:
                while True:
                    page, more = await messages_after(
                        self.ctx, self.source, journal.source_thread_id, journal.last_message_id
                    )
                    for start in range(0, len(page), ITEMS_PER_CALL):
                        chunk = page[start : start + ITEMS_PER_CALL]
                        journal = await self._append(db, journal, chunk)
                        writes += 1
                    if not more or not page:
                        return journal, writes
            except call_errors.Ambiguous:
                writes += 1
                # The batch may have landed: journal whatever did, then go on after it.
                journal = await self._reconcile(db, journal)
        raise JobFailure(
            f"thread {journal.source_thread_id}: {MAX_LOST_APPENDS + 1} appends lost their "
            "answers; apply again to resume",
            detail={"code": "appends_lost", "thread": journal.source_thread_id},
        )

    async def _append(
        self, db: Database, journal: ThreadJournal, chunk: list[Message]
    ) -> ThreadJournal:
        mapped = [await to_item(m, self.file_map) for m in chunk]
        answer = await self.ctx.openai.call(
            self.destination,
            lambda c: c.conversations.items.create(
                journal.conversation_id,
                items=[m.item for m in mapped],  # type: ignore[misc]
            ),
        )
        return await clone_threads.advance_thread(
            db,
            self.destination,
            journal.source_thread_id,
            last_message_id=mapped[-1].source_id,
            copied=len(mapped),
            annotations_dropped=sum(m.annotations_dropped for m in mapped),
            last_item_id=answer.data[-1].id,
            images_remapped=sum(m.images_remapped for m in mapped),
            images_dropped=sum(m.images_dropped for m in mapped),
        )

    async def _reconcile(self, db: Database, journal: ThreadJournal) -> ThreadJournal:
        """Journal the items that landed after the journal's last one (at most one batch)."""
        after = journal.last_item_id
        listed = await self.ctx.openai.call(
            self.destination,
            lambda c: c.conversations.items.list(
                journal.conversation_id,
                order="asc",
                limit=ITEMS_PER_CALL * 5,
                after=after if after else openai.omit,
            ),
        )
        landed = [i for i in listed.data if getattr(i, "type", None) == "message"]
        if not landed:
            return journal
        sources, _ = await messages_after(
            self.ctx,
            self.source,
            journal.source_thread_id,
            journal.last_message_id,
            limit=len(landed),
        )
        if len(sources) < len(landed) or [m.role for m in sources[: len(landed)]] != [
            i.role for i in landed
        ]:
            raise JobFailure(
                f"conversation {journal.conversation_id} holds {len(landed)} item(s) after "
                f"its journal's last that do not match thread {journal.source_thread_id}; "
                "check the conversation, then delete its journal row to copy it afresh",
                detail={"code": "journal_mismatch", "thread": journal.source_thread_id},
            )
        mapped = [await to_item(m, self.file_map) for m in sources[: len(landed)]]
        self.ctx.log.info(
            "clone.thread_reconciled", thread=journal.source_thread_id, landed=len(landed)
        )
        return await clone_threads.advance_thread(
            db,
            self.destination,
            journal.source_thread_id,
            last_message_id=mapped[-1].source_id,
            copied=len(mapped),
            annotations_dropped=sum(m.annotations_dropped for m in mapped),
            last_item_id=landed[-1].id,
            images_remapped=sum(m.images_remapped for m in mapped),
            images_dropped=sum(m.images_dropped for m in mapped),
        )
