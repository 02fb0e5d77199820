"""GitHub-flavoured markdown tables for the `.md` files written beside result CSVs."""

from __future__ import annotations

import pandas as pd


def markdown_cell(value: object) -> str:
    """One table cell: the value as text with `|` escaped and line breaks flattened."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of a data frame (index not shown, values as text)."""
    header = "| " + " | ".join(markdown_cell(c) for c in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(markdown_cell(v) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body]) + "\n"
