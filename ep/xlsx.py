"""A streamed XLSX writer: one sheet of text cells, sent while it is being written.

openpyxl writes a whole workbook before its first byte can leave; a user list of tens of
thousands of rows must start downloading at once (issue: exports). An XLSX file is a zip of
a few XML parts; zipfile writes to a stream that cannot seek (data descriptors), so each
chunk leaves as soon as it is compressed. Every cell is an inline string.
"""

import io
import zipfile
from xml.sax.saxutils import escape

from .text import printable

XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
PKG = "http://schemas.openxmlformats.org/package/2006"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"

CONTENT_TYPES = (
    f'{XML}<Types xmlns="{PKG}/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{SML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{SML}.styles+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{SML}.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK_RELS = (
    f'{XML}<Relationships xmlns="{PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
STYLES = (
    f'{XML}<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _workbook(title):
    return (
        f'{XML}<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        f'xmlns:r="{REL}">'
        f'<sheets><sheet name="{escape(title[:31])}" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    )


def _row(values):
    cells = "".join(
        f'<c t="inlineStr"><is><t xml:space="preserve">{_text(v)}</t></is></c>' for v in values
    )
    return f"<row>{cells}</row>"


def _text(value):
    return escape(printable("" if value is None else str(value)))


class _Pipe(io.RawIOBase):
    """A write-only, unseekable stream whose written bytes are collected for yielding."""

    def __init__(self):
        self.chunks = []

    def writable(self):
        return True

    def write(self, data):
        self.chunks.append(bytes(data))
        return len(data)

    def take(self):
        data = b"".join(self.chunks)
        self.chunks = []
        return data


def stream(header, rows, title="Feuille", flush_every=500):
    """Yield the bytes of an XLSX file with `header` then `rows`, chunk by chunk."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as book:
        book.writestr("[Content_Types].xml", CONTENT_TYPES)
        book.writestr("_rels/.rels", ROOT_RELS)
        book.writestr("xl/workbook.xml", _workbook(title))
        book.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        book.writestr("xl/styles.xml", STYLES)
        yield pipe.take()
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                (
                    f'{XML}<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                    f'2006/main"><sheetData>{_row(header)}'
                ).encode()
            )
            for n, row in enumerate(rows, start=1):
                sheet.write(_row(row).encode())
                if n % flush_every == 0:
                    yield pipe.take()
            sheet.write(b"</sheetData></worksheet>")
    yield pipe.take()
