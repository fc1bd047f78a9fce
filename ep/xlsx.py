"""XLSX workbooks people can use: typed cells, a bold frozen header row with an autofilter,
columns as wide as what they hold (issue 13.5).

Written by XlsxWriter in constant-memory mode: each row goes to a temporary file as soon as
the next one starts, so memory stays flat whatever the number of rows; the workbook is
assembled into another temporary file, then sent. Text goes in as inline strings, which a
spreadsheet never runs as formulas: no leading `'` here, unlike the CSV (ep/csvexport.py).
"""

import math
import re
import tempfile
from collections import namedtuple
from datetime import date, datetime
from decimal import Decimal

import xlsxwriter

from .text import printable

Sheet = namedtuple("Sheet", "title header rows")
Sheet.__doc__ = """One sheet: its tab name, its header row, and its rows of Python values."""

MAX_ROWS = 1_048_576  # a sheet's limit, header included: XlsxWriter would drop the rest
MAX_WIDTH = 60  # characters; a longer text is still all there, the column just stops growing
FILTER_BUTTON = 3  # characters the autofilter's drop-down takes in a header cell
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"
CHUNK = 64 * 1024

OPTIONS = {
    "constant_memory": True,
    # only write_string/number/datetime are called; these guard any later write()
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "remove_timezone": True,
}


def write(out, sheets):
    """Write a workbook of `sheets` (`Sheet`s) into `out`, a path or a binary file.

    A cell's type follows its value: `date` → a date shown 25/11/2026, `datetime` → 25/11/2026
    14:05, int, float or Decimal → a number, None or "" → an empty cell, anything else → text
    (without the characters XML forbids, see `printable`)."""
    with (
        tempfile.TemporaryDirectory(prefix="ep-xlsx-") as tmpdir,
        xlsxwriter.Workbook(out, {**OPTIONS, "tmpdir": tmpdir}) as book,
    ):
        styles = {
            "header": book.add_format({"bold": True}),
            date: book.add_format({"num_format": DATE_FORMAT}),
            datetime: book.add_format({"num_format": DATETIME_FORMAT}),
        }
        for sheet in sheets:
            _write_sheet(book, styles, sheet)


def stream_sheets(sheets):
    """Yield the bytes of the workbook, written first into an unnamed temporary file."""
    with tempfile.TemporaryFile() as out:
        write(out, sheets)
        out.seek(0)
        while chunk := out.read(CHUNK):
            yield chunk


def stream(header, rows, title="Feuille"):
    """Yield the bytes of a one-sheet workbook: `header`, then `rows`."""
    return stream_sheets([Sheet(title, header, rows)])


def _write_sheet(book, styles, sheet):
    page = book.add_worksheet(_tab_name(sheet.title))
    widths = [len(str(name)) + FILTER_BUTTON for name in sheet.header]
    for col, name in enumerate(sheet.header):
        page.write_string(0, col, printable(str(name)), styles["header"])
    last = 0
    for last, values in enumerate(sheet.rows, start=1):
        if last >= MAX_ROWS:
            raise ValueError(f"more than {MAX_ROWS - 1} rows for one sheet ({sheet.title})")
        for col, value in enumerate(values):
            widths[col] = max(widths[col], _write_cell(page, styles, last, col, value))
    page.freeze_panes(1, 0)
    page.autofilter(0, 0, last, len(sheet.header) - 1)
    for col, width in enumerate(widths):
        page.set_column(col, col, min(width + 1, MAX_WIDTH))


def _write_cell(page, styles, row, col, value):
    """Write one cell typed by its value; return the width its text takes, in characters."""
    if type(value) is str:  # most cells: the quickest way first
        return _write_text(page, row, col, value)
    if value is None:
        return 0
    if isinstance(value, datetime):
        page.write_datetime(row, col, value, styles[datetime])
        return len("25/11/2026 14:05")
    if isinstance(value, date):
        page.write_datetime(row, col, value, styles[date])
        return len("25/11/2026")
    if isinstance(value, bool):
        page.write_boolean(row, col, value)
        return len("FAUX")
    if isinstance(value, int | float | Decimal):
        if not math.isfinite(value):
            return 0  # a spreadsheet has no NaN nor infinity: left empty
        page.write_number(row, col, float(value) if isinstance(value, Decimal) else value)
        return len(str(value))
    return _write_text(page, row, col, str(value))


def _write_text(page, row, col, value):
    if not value:
        return 0
    text = printable(value)
    page.write_string(row, col, text)
    return max(map(len, text.split("\n"))) if "\n" in text else len(text)


def _tab_name(title):
    """A tab name a spreadsheet accepts: 31 characters at most, none of []:*?/\\."""
    name = re.sub(r"[\[\]:*?/\\]", " ", printable(str(title))).strip(" '")[:31]
    return name or "Feuille"
