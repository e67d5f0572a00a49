"""`values.note`: a user's several lines of text, cleaned so any record can store them."""

from __future__ import annotations

import pytest

from custom_components.printernizer.printers.values import MAX_NOTE, note


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" first\r\n\tsecond\rthird ", "first\n\tsecond\nthird"),
        ("Cube\ud800\udfff", "Cube\ufffd\ufffd"),
        ("bell\x07 and \x1b[31mred\x00", "bell and [31mred"),
        ("\n \t ", None),
        ("", None),
        (5, None),
        (None, None),
        ("x" * (MAX_NOTE + 10), "x" * MAX_NOTE),
    ],
    ids=repr,
)
def test_note(value: object, expected: str | None) -> None:
    assert note(value) == expected
