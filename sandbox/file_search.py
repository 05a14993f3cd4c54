"""file_search for the scripted model: a query over the caller's vector stores."""

from __future__ import annotations

from typing import Any

from sandbox.model import Search, Searcher, SearchHit
from sandbox.routes import vector_stores
from sandbox.state import Project, new_id

DEFAULT_MAX_RESULTS = 10


def searcher(
    project: Project, store_ids: list[str], *, max_results: int = DEFAULT_MAX_RESULTS
) -> Searcher:
    """A search over `store_ids` (stores deleted since are skipped, as they hold nothing)."""

    def search(query: str) -> list[SearchHit]:
        """The best chunks for `query`."""
        live = [s for s in store_ids if s in project.table(vector_stores.KIND)]
        found = vector_stores.search_chunks(project, live, query, max_results=max_results)
        return [
            SearchHit(
                file_id=hit["file_id"],
                filename=hit["filename"],
                text=hit["content"][0]["text"],
                score=hit["score"],
                attributes=hit.get("attributes"),
            )
            for hit in found
        ]

    return search


def call_item(search: Search, *, with_results: bool) -> dict[str, Any]:
    """The Responses `file_search_call` output item of one search."""
    results = [
        {
            "file_id": hit.file_id,
            "filename": hit.filename,
            "text": hit.text,
            "score": hit.score,
            "attributes": hit.attributes or {},
        }
        for hit in search.hits
    ]
    return {
        "id": new_id("fs_"),
        "type": "file_search_call",
        "status": "completed",
        "queries": [search.query],
        "results": results if with_results else None,
    }
