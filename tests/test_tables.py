"""Result tables: the one 'mean ± std' precision rule, display columns, CSV + markdown writer."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from neurodiff.markdown import markdown_table
from neurodiff.tables import (
    format_mean_std,
    format_values,
    mean_std,
    mean_std_columns,
    table_markdown,
    write_table,
)


@pytest.mark.parametrize(
    ("mean", "std", "text"),
    [
        # the std to two significant digits, the mean to the same decimal place
        (0.00379, 0.00044, "0.00379 ± 0.00044"),
        (0.0386, 0.003, "0.0386 ± 0.0030"),
        (0.002514, 1e-5, "0.002514 ± 0.000010"),
        (0.5, 0.1414213, "0.50 ± 0.14"),
        (12.346, 0.61, "12.35 ± 0.61"),
        (456.7, 12.3, "457 ± 12"),
        (45678.0, 1234.0, "45678 ± 1234"),  # never rounded to tens or above
        (-3.14159, 0.25, "-3.14 ± 0.25"),
        (0.123456, 0.0996, "0.12 ± 0.10"),  # the std rounds up to 0.10: two digits, not 0.100
        (0.123456, 0.0994, "0.123 ± 0.099"),
        # no spread: the mean to three significant digits
        (12.345, 0.0, "12.3 ± 0.0"),
        (0.000123456, 0.0, "0.000123 ± 0.000000"),
        (0.0, 0.0, "0 ± 0"),
        # round-off of identical values over seeds is no spread, not 17 digits
        (0.87156640180171896, 1.2e-16, "0.872 ± 0.000"),
        (1e-12, 1e-13, "0.00000000000100 ± 0.00000000000010"),
        (0.7, float("nan"), "0.700 ± —"),
        # undefined mean, and a mean that rounds to zero loses its sign
        (float("nan"), 0.1, "—"),
        (float("inf"), 0.1, "—"),
        (-0.0004, 0.01, "0.000 ± 0.010"),
    ],
)
def test_format_mean_std_known_answers(mean, std, text):
    assert format_mean_std(mean, std) == text


def test_format_mean_std_takes_numpy_scalars_and_rejects_a_negative_std():
    assert format_mean_std(np.float32(0.25), np.float64(0.05)) == "0.250 ± 0.050"
    with pytest.raises(ValueError, match="negative"):
        format_mean_std(1.0, -0.1)


def test_mean_std_is_the_sample_std_and_zero_for_one_value():
    mean, std = mean_std([0.4, 0.6])
    assert mean == pytest.approx(0.5) and std == pytest.approx(math.sqrt(0.02))
    assert mean_std([0.3]) == (0.3, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        mean_std([])
    assert format_values([0.0, 0.1]) == "0.050 ± 0.071"
    assert format_values([]) == "n/a"


def test_mean_std_columns_replace_each_pair_by_one_text_column():
    table = pd.DataFrame(
        {
            "method": ["a", "b"],
            "x_mean": [1.0, 2.0],
            "x_std": [0.1, 0.0],
            "n": [3, 3],
            "y_mean": [0.5, float("nan")],
            "y_std": [0.05, 0.0],
        }
    )
    display = mean_std_columns(table, ["x", "y"], {"x": "X (s)"})
    assert list(display.columns) == ["method", "n", "X (s)", "y"]
    assert display["X (s)"].tolist() == ["1.00 ± 0.10", "2.00 ± 0.00"]
    assert display["y"].tolist() == ["0.500 ± 0.050", "—"]
    assert list(table.columns) == ["method", "x_mean", "x_std", "n", "y_mean", "y_std"]
    with pytest.raises(ValueError, match="z_mean"):
        mean_std_columns(table, ["z"])


def test_markdown_table_escapes_cells():
    frame = pd.DataFrame({"method": ["a|b", "c"], "value": [1, 2]})
    assert markdown_table(frame) == "| method | value |\n|---|---|\n| a\\|b | 1 |\n| c | 2 |\n"
    assert markdown_table(pd.DataFrame({"why": ["two\nlines"]})).endswith("| two lines |\n")


def test_table_markdown_page():
    frame = pd.DataFrame({"m": ["a"]})
    assert table_markdown(frame, "T", "\nSome caption.\n") == (
        "# T\n\nSome caption.\n\n| m |\n|---|\n| a |\n"
    )
    assert table_markdown(frame, "T") == "# T\n\n| m |\n|---|\n| a |\n"


def test_write_table_csv_keeps_full_precision_and_markdown_shows_the_display(tmp_path):
    numbers = pd.DataFrame(
        {"method": ["a|b", "c"], "value_mean": [1 / 3, 2.0], "value_std": [0.0123456789, 0.5]}
    )
    display = mean_std_columns(numbers, ["value"])
    write_table(tmp_path / "t.csv", numbers, display, title="Table 1", caption="caption")
    assert pd.read_csv(tmp_path / "t.csv").equals(numbers)
    assert "0.3333333333333333" in (tmp_path / "t.csv").read_text()
    page = (tmp_path / "t.md").read_text()
    assert page.startswith("# Table 1\n\ncaption\n\n| method | value |")
    assert "| a\\|b | 0.333 ± 0.012 |" in page
    write_table(
        tmp_path / "u.csv", numbers, title="U", md_path=tmp_path / "page.md", float_format="%.6g"
    )
    assert (tmp_path / "u.csv").read_text().splitlines()[1] == "a|b,0.333333,0.0123457"
    assert "| a\\|b | 0.3333333333333333 |" in (tmp_path / "page.md").read_text()
    assert not (tmp_path / "u.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md", "t.csv", "t.md", "u.csv"]
