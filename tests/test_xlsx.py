"""The XLSX writer: typed cells, a bold frozen header with an autofilter, column widths, text
never run as a formula and without a leading quote; read from its XML, by openpyxl, and by
LibreOffice where it is installed."""

import csv
import io
import tempfile
import tracemalloc
import zipfile
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from ep import xlsx

from .sheets import CSV_OUT, Workbook, libreoffice, needs_libreoffice, serial

HEADER = ["mois", "caisse", "demandes", "delai_h_median", "cloture_le", "note"]
ROWS = [
    [date(2026, 11, 25), "CPAM de Démo", 12, 2.5, datetime(2026, 11, 25, 14, 5), "=1+1"],
    [date(2026, 12, 1), "+33 1 23", 0, None, None, "-2"],
    [date(2026, 12, 2), "@SUM(1)", 7, Decimal("1.25"), None, "a & b < c\ttab\nligne"],
]


def book(rows=ROWS, header=HEADER, title="Statistiques"):
    return b"".join(xlsx.stream(header, rows, title))


def test_cells_are_typed_in_the_xml():
    sheet = Workbook(book())
    header = sheet.row(0)
    assert [c.text for c in header] == HEADER
    assert all(c.bold and c.type == "inlineStr" for c in header)
    day, caisse, n, median, closed, note = sheet.row(1)
    assert day.type == "n" and day.text == str(serial(date(2026, 11, 25)))
    assert day.format == "dd/mm/yyyy" and not day.bold
    assert caisse.type == "inlineStr" and caisse.text == "CPAM de Démo"
    assert (n.type, n.text, n.format) == ("n", "12", None)
    assert (median.type, median.text) == ("n", "2.5")
    assert closed.format == "dd/mm/yyyy hh:mm"
    assert float(closed.text) == pytest.approx(serial(date(2026, 11, 25)) + (14 * 60 + 5) / 1440)
    assert (note.type, note.text) == ("inlineStr", "=1+1")  # no quote, and not a formula
    second = sheet.row(2)
    assert [c and c.text for c in second] == [
        str(serial(date(2026, 12, 1))),
        "+33 1 23",
        "0",
        None,  # None: an empty cell
        None,
        "-2",
    ]
    assert second[5].type == "inlineStr"  # "-2" stays the text it was
    assert sheet.row(3)[1].text == "@SUM(1)" and sheet.row(3)[3].text == "1.25"
    assert sheet.row(3)[5].text == "a & b < c\ttab\nligne"


def test_header_frozen_autofilter_and_widths():
    sheet = Workbook(book())
    assert sheet.pane["state"] == "frozen" and sheet.pane["topLeftCell"] == "A2"
    assert sheet.pane["ySplit"] == "1" and "xSplit" not in sheet.pane
    assert sheet.autofilter == "A1:F4"
    assert sheet.names["_xlnm._FilterDatabase"] == "Statistiques!$A$1:$F$4"
    widths = sheet.widths
    assert set(widths) == set(range(6))
    # wide enough for a date, for the header and its filter button, for the longest text
    assert widths[0] >= 11 and widths[2] >= len("demandes") + 3
    assert len("CPAM de Démo") < widths[1] < 20
    long = Workbook(book([[date(2026, 1, 1), "x" * 500, 1, 1, None, ""]]))
    assert long.widths[1] == pytest.approx(xlsx.MAX_WIDTH, abs=1)


def test_openpyxl_reads_values_of_their_types():
    sheet = load_workbook(io.BytesIO(book())).active
    assert sheet.title == "Statistiques" and sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == tuple(HEADER)
    assert rows[1] == (
        datetime(2026, 11, 25),
        "CPAM de Démo",
        12,
        2.5,
        datetime(2026, 11, 25, 14, 5),
        "=1+1",
    )
    assert rows[2][2] == 0 and rows[2][3] is None and rows[2][5] == "-2"
    assert rows[3][3] == 1.25


def test_characters_xml_forbids_are_dropped_and_odd_values_left_empty():
    rows = [["ctrl\x01gone\ufffe", float("nan"), float("inf"), "", "a\ud800b", True]]
    sheet = Workbook(book(rows, ["a", "b", "c", "d", "e", "f"]))
    cells = sheet.row(1)
    assert cells[0].text == "ctrlgone" and cells[4].text == "ab"
    assert cells[1] is None and cells[2] is None and cells[3] is None
    assert (cells[5].type, cells[5].text) == ("b", "1")


def test_an_empty_list_still_has_its_header_and_filter():
    sheet = Workbook(book([]))
    assert len(sheet.rows) == 1 and sheet.autofilter == "A1:F1"


def test_several_sheets_and_tab_names_a_spreadsheet_accepts():
    data = b"".join(
        xlsx.stream_sheets(
            [
                xlsx.Sheet("Demandes [2026]: par mois/offre", HEADER, ROWS),
                xlsx.Sheet("x" * 40, ["n"], ([n] for n in range(3))),
            ]
        )
    )
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Demandes  2026   par mois offre", "x" * 31]
    assert [r[0] for r in workbook.worksheets[1].iter_rows(values_only=True)] == ["n", 0, 1, 2]
    assert Workbook(data, number=2).autofilter == "A1:A4"


def test_memory_stays_flat_whatever_the_number_of_rows():
    """Constant-memory mode: rows go to a temporary file, ten times more rows take no more
    memory (the 15,000-row users export is measured in bench/run.py)."""

    def peak(n):
        rows = ([f"compte{i}", date(2026, 1, 1), i, f"nom {i}" * 3] for i in range(n))
        tracemalloc.start()
        try:
            for _ in xlsx.stream(["a", "b", "c", "d"], rows):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(500), peak(5000)
    assert large < small * 1.5 + 100_000, (small, large)


def test_temporary_files_are_removed_even_when_the_rows_fail(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def rows():
        yield ["a"]
        raise RuntimeError("la base ne répond plus")

    assert b"".join(xlsx.stream(["h"], iter([["a"]]))).startswith(b"PK")
    assert list(tmp_path.iterdir()) == []
    chunks = xlsx.stream(["h"], rows())
    with pytest.raises(RuntimeError):
        next(chunks)
    assert list(tmp_path.iterdir()) == []
    chunks = xlsx.stream(["h"], ([n] for n in range(20000)))
    next(chunks)  # the client leaves after the first chunk
    chunks.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["formula", "url"])
def test_text_is_never_turned_into_a_formula_or_a_link(kind):
    text = {"formula": '=HYPERLINK("http://x","y")', "url": "http://example.org/"}[kind]
    data = book([[None, text, None, None, None, None]])
    cell = Workbook(data).row(1)[1]
    assert (cell.type, cell.text) == ("inlineStr", text)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"<hyperlink" not in z.read("xl/worksheets/sheet1.xml")


@needs_libreoffice
def test_libreoffice_reads_dates_numbers_and_literal_text(tmp_path):
    source = tmp_path / "stats.xlsx"
    source.write_bytes(book())
    (converted,) = libreoffice([source], CSV_OUT, tmp_path / "lu")
    rows = list(csv.reader(io.StringIO(converted.read_text(encoding="utf-8"), newline="")))
    assert rows == [
        HEADER,
        ["25/11/2026", "CPAM de Démo", "12", "2.5", "25/11/2026 14:05", "=1+1"],
        ["01/12/2026", "+33 1 23", "0", "", "", "-2"],
        ["02/12/2026", "@SUM(1)", "7", "1.25", "", "a & b < c\ttab\nligne"],
    ]
