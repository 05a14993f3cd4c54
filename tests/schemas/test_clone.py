"""`--threads-from` CSV rows: parsed with a header or without; every bad line named."""

from __future__ import annotations

import pytest

from schemas.clone import CloneOptions, ThreadRow, ThreadRowsError, parse_thread_rows


def test_rows_are_read_with_or_without_a_header() -> None:
    text = (
        "user_id,assistant_id,thread_id\n"
        "alice, asst_1 ,thread_a\n"
        "\n"
        "# a comment\n"
        "bob,asst_1,thread_b\n"
        "alice,asst_1,thread_a\n"  # the same row again: kept once
    )
    assert parse_thread_rows(text) == [
        ThreadRow(user_id="alice", assistant_id="asst_1", thread_id="thread_a", line=2),
        ThreadRow(user_id="bob", assistant_id="asst_1", thread_id="thread_b", line=5),
    ]
    assert parse_thread_rows("carol,asst_2,thread_c\n") == [
        ThreadRow(user_id="carol", assistant_id="asst_2", thread_id="thread_c", line=1)
    ]


def test_every_bad_line_is_named() -> None:
    text = (
        "alice,asst_1,thread_a\n"
        "bob,asst_1\n"
        ",asst_1,thread_b\n"
        "carol,thread_c,asst_1\n"
        "dave,asst_1,msg_1\n"
        "erin,asst_2,thread_a\n"
    )
    with pytest.raises(ThreadRowsError) as raised:
        parse_thread_rows(text, "teams.csv")
    assert raised.value.problems == [
        "line 2: 2 field(s), expected 3 (user_id,assistant_id,thread_id)",
        "line 3: user_id is empty",
        "line 4: assistant_id 'thread_c' is not an assistant id (asst_…)",
        "line 5: thread_id 'msg_1' is not a thread id (thread_…)",
        "line 6: thread thread_a is already given to user 'alice' with asst_1 on line 1",
    ]
    assert str(raised.value).startswith("teams.csv: line 2:")


def test_rows_mean_threads() -> None:
    row = ThreadRow(user_id="a", assistant_id="asst_1", thread_id="thread_1", line=1)
    assert CloneOptions(thread_rows=[row]).threads is True
    assert CloneOptions().threads is False
