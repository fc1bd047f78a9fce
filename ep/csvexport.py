"""CSV for spreadsheets: UTF-8 with BOM, `;`, CRLF, formulas neutralised (CONTRACT.md)."""

import csv
import io
from datetime import date, datetime

from .text import printable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """A cell a spreadsheet will never run as a formula, without characters XML forbids."""
    if value is None:
        return ""
    # stripped first, so that "\x01=…" cannot hide a formula behind a dropped character
    text = printable(_text(value))
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _text(value):
    """Dates as `YYYY-MM-DD` (date-times to the minute), the rest as Python writes it."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def stream(header, rows):
    """Yield the CSV bytes chunk by chunk, so that large lists start at once in little memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    buffer.seek(0)
    yield "\ufeff".encode() + buffer.read().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for n, row in enumerate(rows, start=1):
        writer.writerow([cell(v) for v in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode("utf-8")
