"""The streamed XLSX writer: a valid workbook, read back by openpyxl, sent while written."""

import io
import zipfile
from xml.etree import ElementTree

from openpyxl import load_workbook

from ep import xlsx


def test_valid_parts_and_cells_read_back():
    rows = [["Hélène", "a & b < c", "=1+1", None, 42], ["tab\there", "ctrl\x01gone", "", "x", ""]]
    data = b"".join(xlsx.stream(["h1", "h2", "h3", "h4", "h5"], rows, "Utilisateurs"))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.testzip() is None
        for name in z.namelist():
            ElementTree.fromstring(z.read(name))  # every part is well-formed XML
    sheet = load_workbook(io.BytesIO(data)).active
    got = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert sheet.title == "Utilisateurs"
    assert got[1] == ["Hélène", "a & b < c", "=1+1", "", "42"]  # text, never a formula
    assert got[2][1] == "ctrlgone"


def test_bytes_leave_before_the_rows_are_all_read():
    consumed = []

    def rows():
        for n in range(5000):
            consumed.append(n)
            yield [n, "texte"]

    chunks = xlsx.stream(["n", "t"], rows(), "Feuille", flush_every=500)
    first = next(chunks)
    second = next(chunks)
    assert first.startswith(b"PK") and second
    assert len(consumed) <= 500  # the second chunk left after 500 rows, not 5000
    rest = b"".join(chunks)
    assert len(consumed) == 5000
    sheet = load_workbook(io.BytesIO(first + second + rest)).active
    assert sheet.max_row == 5001
