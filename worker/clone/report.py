"""A clone run's reports: `OUTPUT_DIR/<plan id>/mapping.json` and `report.md` (seed 000's
shape), copies of both as `OUTPUT_DIR/mapping.json` / `report.md` (the latest run), and the
run's result on its Redis key.

Every assistant job rewrites them when it ends, from the plan's rows in Postgres, so the
files always say where the whole run stands, whichever job ends last.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from schemas.clone import ClonePlan
from store import clone_state
from worker.kinds import JobContext
from worker.settings import SettingsError

RESULT_TTL_S = 30 * 86_400


def mapping_document(
    plan: ClonePlan, rows: list[clone_state.AssistantCopy], sides: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The run as seed 000's `mapping.json`, with Ferry's detail per assistant."""
    names = {a.source_id: a.name for a in plan.assistants}
    mappings = []
    for row in rows:
        result = row.result or {}
        mappings.append(
            {
                "src_id": row.source_id,
                "dst_id": row.destination_id,
                "name": result.get("name") or names.get(row.source_id),
                "status": "success"
                if row.status in ("created", "updated", "unchanged")
                else row.status,
                "operation": row.status,
                "operations": result.get("operations", {}),
                "files": result.get("files", []),
                "vector_stores": result.get("vector_stores", {}),
                "validation": result.get("validation", []),
                "write_requests": result.get("write_requests", 0),
                "error": row.error,
                "retry_recommended": bool(result.get("retry_recommended")),
                "threads": result.get("threads", []),
            }
        )
    done = [m for m in mappings if m["status"] == "success"]
    threads = [t for m in mappings for t in m["threads"]]
    carried = [t for t in threads if t["status"] != "failed"]
    return {
        "plan_id": plan.plan_id,
        "cloned_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": sides["source"],
        "destination": sides["destination"],
        "mappings": mappings,
        "summary": {
            "total": len(mappings),
            "success": len(done),
            "failed": sum(m["status"] == "failed" for m in mappings),
            "pending": sum(m["status"] == "planned" for m in mappings),
            # A file several assistants use was copied once: count it once.
            "files_copied": len({f["source_id"] for m in mappings for f in m["files"]}),
            "files_flagged": len(
                {f["source_id"] for m in mappings for f in m["files"] if f.get("flagged")}
            ),
            "write_requests": sum(m["write_requests"] for m in mappings),
            "threads": {
                "copied": len(carried),
                "failed": len(threads) - len(carried),
                "messages": sum(t["messages_copied"] for t in threads),
                "annotations_dropped": sum(t["annotations_dropped"] for t in threads),
                "images_remapped": sum(t["images_remapped"] for t in threads),
                "images_dropped": sum(t["images_dropped"] for t in threads),
            },
        },
    }


def report_markdown(document: dict[str, Any]) -> str:
    """The run as seed 000's `report.md`."""
    src, dst, summary = document["source"], document["destination"], document["summary"]
    lines = [
        "# Clone Report",
        "",
        f"**Plan:** {document['plan_id']}",
        f"**Date:** {document['cloned_at']}",
        f"**Source:** {_source_line(src)}",
        f"**Destination:** {dst['profile']} ({dst['org_id']} / {dst['project_id']})",
        "",
        "## Summary",
        "",
        f"- Total: {summary['total']} assistants",
        f"- ✅ Success: {summary['success']}",
        f"- ❌ Failed: {summary['failed']}",
        f"- ⏳ Pending: {summary['pending']}",
        f"- Files copied: {summary['files_copied']} ({summary['files_flagged']} from parsed text)",
        f"- Write requests: {summary['write_requests']}",
    ]
    th = summary["threads"]
    if th["copied"] or th["failed"]:
        lines.append(
            f"- Threads: {th['copied']} copied ({th['messages']} messages, "
            f"{th['annotations_dropped']} annotations dropped, {th['images_remapped']} images "
            f"re-mapped, {th['images_dropped']} assistant images as text), {th['failed']} failed"
        )
    lines += ["", "## Details"]
    for m in document["mappings"]:
        mark = {"success": "✅", "failed": "❌"}.get(m["status"], "⏳")
        lines += ["", f"### {mark} {m['name']}", f"- **Source ID:** {m['src_id']}"]
        if m["dst_id"]:
            lines.append(f"- **Destination ID:** {m['dst_id']}")
        lines.append(f"- **Operation:** {m['operation'].capitalize()}")
        for key, value in m["operations"].items():
            if key != "assistant":
                lines.append(f"- **{key.replace('_', ' ').title()}:** {value}")
        if m["vector_stores"]:
            lines.append(f"- **Vector stores:** {len(m['vector_stores'])}")
        for f in m["files"]:
            flag = " ⚠️ parsed text, not the original bytes" if f.get("flagged") else ""
            lines.append(
                f"  - `{f['filename']}` ({f['bytes']} bytes): {f['travel']}, {f['status']}{flag}"
            )
        for t in m["threads"]:
            lines.append(
                f"  - thread `{t['thread_id']}` → `{t['conversation_id']}`: {t['status']}, "
                f"{t['messages_copied']} messages, {t['annotations_dropped']} annotations dropped, "
                f"{t['images_remapped']} images re-mapped"
                + (f" ⚠️ {t['note']}" if t.get("note") else "")
                + (f" ❌ {t['error']}" if t.get("error") else "")
            )
        failed_checks = [c["field"] for c in m["validation"] if not c["ok"]]
        if m["validation"]:
            verdict = "passed" if not failed_checks else "FAILED: " + ", ".join(failed_checks)
            lines.append(f"- **Validation:** {verdict} ({len(m['validation'])} checks)")
        if m["error"]:
            lines.append(f"- **Error:** {m['error']}")
            lines.append(
                "- **Retry:** " + ("Recommended" if m["retry_recommended"] else "Not recommended")
            )
    return "\n".join(lines) + "\n"


def _source_line(src: dict[str, Any]) -> str:
    if "export_file" in src:
        kind = (
            f"Ferry snapshot of profile {src['profile']}"
            if src["format"] == "snapshot"
            else "raw Assistants-API dump"
        )
        return f"export file {src['export_file']} ({kind}, sha256 {src['sha256'][:12]}…)"
    return f"{src['profile']} ({src['org_id']} / {src['project_id']})"


def _export_side(plan: ClonePlan) -> dict[str, Any]:
    """The source side of a clone from an export: the file, not an org and project."""
    ref = plan.source_export
    assert ref is not None
    return {
        "export_file": ref.filename,
        "format": ref.format,
        "profile": ref.profile,
        "sha256": ref.sha256,
        "bytes": ref.size,
    }


def _side(ctx: JobContext, profile: str) -> dict[str, Any]:
    try:
        p = ctx.settings.profile(profile)
    except SettingsError:
        return {"profile": profile, "org_id": None, "project_id": None}
    return {"profile": profile, "org_id": p.org_id, "project_id": p.project_id}


def _write(path: Path, text: str) -> None:
    """Replace `path` atomically: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


async def write_report(ctx: JobContext, plan: ClonePlan) -> dict[str, Any]:
    """Write the run's reports and result key from the plan's rows; the document written."""
    rows = await clone_state.plan_assistants(ctx.db, UUID(plan.plan_id))
    sides = {
        "source": _export_side(plan) if plan.source_export else _side(ctx, plan.source),
        "destination": _side(ctx, plan.destination),
    }
    document = mapping_document(plan, rows, sides)
    mapping = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    markdown = report_markdown(document)
    out = Path(ctx.settings.output_dir)
    for folder in (out / plan.plan_id, out):
        _write(folder / "mapping.json", mapping)
        _write(folder / "report.md", markdown)
    await ctx.redis.set(ctx.keys.clone_result(plan.plan_id), mapping, ex=RESULT_TTL_S)
    return document
