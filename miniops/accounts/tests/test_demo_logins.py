"""The demo logins ``make demo`` prints: English role names (the README's), the
console's own beside them, and columns that line up in a terminal even with
Chinese text (two columns per character)."""

from __future__ import annotations

from typing import Any

from miniops.accounts.demo import DEMO_OPERATORS, describe_logins, display_width
from miniops.members.demo import describe_logins as describe_member_logins


def test_display_width_counts_terminal_columns() -> None:
    assert display_width("admin") == 5
    assert display_width("超级管理员") == 10
    assert display_width("数据分析师（只读）") == 18  # full-width brackets
    assert display_width("Ａ") == 2  # a full-width Latin letter
    assert display_width("e\u0301") == 1  # a combining accent takes no column


def _rows(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("username"))
    return lines[start : start + 1 + len(DEMO_OPERATORS)]


def _column_starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each of ``cells`` starts in ``line``."""
    starts, position = [], 0
    for cell in cells:
        position = line.index(cell, position)
        starts.append(display_width(line[:position]))
        position += len(cell)
    return starts


def test_roles_in_english_and_as_the_console_shows_them_aligned(settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"
    lines = describe_logins()
    rows = _rows(lines)
    assert rows[0].split() == ["username", "role", "角色", "second", "factor"]
    admin = next(row for row in rows if row.strip().startswith("admin "))
    assert "Super admin" in admin
    assert "超级管理员" in admin
    assert "TOTP key" in admin
    analyst = next(row for row in rows if row.strip().startswith("analyst "))
    assert "Analyst (read-only)" in analyst
    assert "数据分析师（只读）" in analyst
    # every column starts at the same terminal column on every row
    starts = {
        tuple(_column_starts(admin, ["admin", "Super admin", "超级管理员", "TOTP key"])),
        tuple(_column_starts(analyst, ["analyst", "Analyst (read-only)", "数据分析师", "none"])),
        tuple(_column_starts(rows[0], ["username", "role", "角色", "second factor"])),
    }
    assert len(starts) == 1, starts
    assert all(not row.endswith(" ") for row in rows)
    assert any("totp_code" in line for line in lines)


def test_an_english_console_shows_one_role_column(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"
    rows = _rows(describe_logins())
    assert rows[0].split() == ["username", "role", "second", "factor"]
    assert all(display_width(row) == len(row) for row in rows)


def test_the_member_login_names_codes_the_simulator_knows() -> None:
    text = "\n".join(describe_member_logins())
    assert '{"code": "demo-1"}' in text
    assert "demo-20000" in text
