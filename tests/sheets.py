"""Reading spreadsheets back in tests: an XLSX's own XML (runs everywhere), and LibreOffice
headless (Debian's libreoffice-calc-nogui) where it is installed."""

import io
import re
import shutil
import subprocess
import zipfile
from collections import namedtuple
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

import pytest

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS = {"m": MAIN}
EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 is 1900-01-01, counting Excel's 29/02/1900

Cell = namedtuple("Cell", "type text bold format")


def serial(day):
    """A date as a spreadsheet stores it: days since the epoch."""
    return (day - EXCEL_EPOCH).days


def column_index(ref):
    """'A1' -> 0, 'O7' -> 14, 'AA3' -> 26."""
    n = 0
    for letter in re.match(r"[A-Z]+", ref).group():
        n = n * 26 + ord(letter) - ord("A") + 1
    return n - 1


class Workbook:
    """What a spreadsheet reads in an XLSX, from its XML parts: cells with their type, text,
    boldness and number format; the frozen pane, the autofilter and the column widths."""

    def __init__(self, data, number=1):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None
            parts = {n: ElementTree.fromstring(z.read(n)) for n in z.namelist()}
        sheet = parts[f"xl/worksheets/sheet{number}.xml"]
        styles = parts["xl/styles.xml"]
        shared = [
            "".join(t.text or "" for t in si.iter(f"{{{MAIN}}}t"))
            for si in parts.get("xl/sharedStrings.xml", ElementTree.Element("x"))
        ]
        formats = {
            int(f.get("numFmtId")): f.get("formatCode")
            for f in styles.iterfind("m:numFmts/m:numFmt", NS)
        }
        bold = [f.find("m:b", NS) is not None for f in styles.iterfind("m:fonts/m:font", NS)]
        xfs = [
            (bold[int(x.get("fontId", 0))], formats.get(int(x.get("numFmtId", 0))))
            for x in styles.iterfind("m:cellXfs/m:xf", NS)
        ]
        self.rows = []
        for row in sheet.iterfind("m:sheetData/m:row", NS):
            cells = {}
            for c in row.iterfind("m:c", NS):
                kind = c.get("t", "n")
                if kind == "inlineStr":
                    text = "".join(t.text or "" for t in c.iter(f"{{{MAIN}}}t"))
                elif kind == "s":
                    text = shared[int(c.findtext("m:v", namespaces=NS))]
                else:
                    text = c.findtext("m:v", namespaces=NS)
                assert c.find("m:f", NS) is None, "a formula cell"
                cells[column_index(c.get("r"))] = Cell(kind, text, *xfs[int(c.get("s", 0))])
            self.rows.append(cells)
        pane = sheet.find("m:sheetViews/m:sheetView/m:pane", NS)
        self.pane = dict(pane.attrib) if pane is not None else {}
        found = sheet.find("m:autoFilter", NS)
        self.autofilter = found.get("ref") if found is not None else None
        self.widths = {}
        for col in sheet.iterfind("m:cols/m:col", NS):
            for n in range(int(col.get("min")), int(col.get("max")) + 1):
                self.widths[n - 1] = float(col.get("width"))
        self.names = {
            d.get("name"): d.text
            for d in parts["xl/workbook.xml"].iterfind("m:definedNames/m:definedName", NS)
        }

    def row(self, n):
        """The cells of row n (0 is the header), as a list; None for an empty cell."""
        cells = self.rows[n]
        return [cells.get(i) for i in range(max(cells) + 1)] if cells else []


SOFFICE = shutil.which("soffice")
needs_libreoffice = pytest.mark.skipif(
    not SOFFICE,
    reason="LibreOffice absent (soffice): install Debian's libreoffice-calc-nogui to read "
    "the exports back as a spreadsheet user would",
)
CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76"  # `,` and UTF-8: what the cells show
CSV_IN = "CSV:59,34,76,1"  # our exports: `;`, `"`, UTF-8, from line 1


def libreoffice(files, to, outdir, infilter=None):
    """Open `files` in LibreOffice headless and save them as `to` into `outdir` (one process,
    a profile of its own there); return the paths written, in the order of `files`."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    command = [SOFFICE, f"-env:UserInstallation={(outdir / 'profil').as_uri()}", "--headless"]
    if infilter:
        command.append(f"--infilter={infilter}")
    command += ["--convert-to", to, "--outdir", str(outdir), *map(str, files)]
    result = subprocess.run(command, capture_output=True, timeout=180)
    assert result.returncode == 0, result.stderr
    written = [outdir / f"{Path(f).stem}.{to.split(':')[0]}" for f in files]
    missing = [str(p) for p in written if not p.exists()]
    assert not missing, (missing, result.stdout, result.stderr)
    return written
