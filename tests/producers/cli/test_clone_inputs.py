"""`ferry clone`'s inputs, read before anything is enqueued: each refusal names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from producers.cli.clone_inputs import read_export, source_of, thread_rows


def test_every_bad_line_of_a_threads_csv_is_named_and_nothing_is_returned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "threads.csv"
    csv.write_text("user_id,assistant_id,thread_id\nu1,asst_1,thread_1\nu2,asst_2\n,asst_3,t3\n")
    with pytest.raises(typer.Exit) as exited:
        thread_rows(csv)
    assert exited.value.exit_code == 1
    out = capsys.readouterr().out.replace("\n", "")
    assert out.count("error:") == 2, out
    assert "fix those lines (format: user_id,assistant_id,thread_id); nothing was changed" in out


def test_a_good_threads_csv_gives_its_rows_and_an_empty_one_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "threads.csv"
    csv.write_text("\ufeffu1,asst_1,thread_1\nu2,asst_1,thread_2\n")  # a BOM, as Excel writes
    assert [(r.user_id, r.thread_id) for r in thread_rows(csv)] == [
        ("u1", "thread_1"),
        ("u2", "thread_2"),
    ]
    assert thread_rows(None) == []
    csv.write_text("")
    with pytest.raises(typer.Exit):
        thread_rows(csv)
    assert "no rows (format: user_id,assistant_id,thread_id)" in capsys.readouterr().out.replace(
        "\n", ""
    )


def test_an_export_is_read_and_checked_and_a_source_is_one_or_the_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "e.json"
    export.write_text('{"data": [{"id": "asst_1", "name": "A", "model": "m"}]}')
    read = read_export(export)
    assert read.data == export.read_bytes()
    assert read.ref.filename == "e.json"
    assert source_of("src", None) is None
    assert source_of(None, export) == read
    with pytest.raises(typer.Exit):
        source_of("src", export)
    assert "both name a source: give one" in capsys.readouterr().out.replace("\n", "")
