"""Plain-text tables for the terminal: columns as wide as their content, so no name is ever cut.

Cells often hold names and texts from the database (sources, owners, error messages), so each is
printed through `terminal_safe`: one cell never breaks its line or sends the terminal a control.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

from mentionwatch.terminal import terminal_safe


def table_lines(rows: Sequence[Sequence[object]], right: Collection[int] = (), indent: str = "") -> list[str]:
    """The rows (the header first) as aligned lines; `right` holds the indexes of right-aligned
    columns (numbers), every other column is left-aligned."""
    cells = [[terminal_safe(cell) for cell in row] for row in rows]
    if not cells:
        return []
    widths = [max(len(column_cell) for column_cell in column) for column in zip(*cells)]
    return [indent + "  ".join(cell.rjust(width) if i in right else cell.ljust(width)
                               for i, (cell, width) in enumerate(zip(row, widths))).rstrip()
            for row in cells]
