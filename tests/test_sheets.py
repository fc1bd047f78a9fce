"""Issue 13.5, spreadsheets people can use: the users export and the review record, in XLSX
(typed cells, bold frozen header, autofilter, widths, text as it is) and in CSV (CONTRACT.md's
conventions), read back from their XML everywhere and by LibreOffice where it is installed."""

import csv
import io
from datetime import date, datetime

from openpyxl import load_workbook

from ep import reviews
from ep.exports import REVIEW_HEADER, USER_HEADER
from ep.models import Account, Review

from .conftest import account
from .sheets import CSV_IN, CSV_OUT, Workbook, libreoffice, needs_libreoffice, serial

CREATED = datetime(2026, 11, 25, 9, 30)
TRICKY = {"nom": "=1+1", "prenom": "+33", "fonction": "-2", "telephone": "+41223456789"}


def col(name):
    return USER_HEADER.index(name)


def tricky_technicien():
    """technicien.demo, created on 25/11/2026, with cells a spreadsheet could take for
    formulas or numbers."""
    Account.update(created_at=CREATED, last_login_at=None, **TRICKY).where(
        Account.username == "technicien.demo"
    ).execute()


def download(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    data = response.get_data()
    response.close()
    return data


def completed_review(app):
    with app.test_request_context():
        gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
        review = reviews.start(gest)
        reviews.decide(gest, review, account("technicien.voisin"), "deactivate", "=HYPERLINK(1)")
        reviews.decide(caisse, review, gest, "keep")
        reviews.complete(gest, review)
    return Review.get_by_id(review.id)


def test_users_export_xlsx_cells_header_filter_widths(client, login_as):
    tricky_technicien()
    login_as("caisse.demo")
    sheet = Workbook(download(client, "/caisse/export/utilisateurs.xlsx"))
    header = sheet.row(0)
    assert [c.text for c in header] == USER_HEADER and all(c.bold for c in header)
    assert sheet.pane["state"] == "frozen" and sheet.pane["topLeftCell"] == "A2"
    assert len(sheet.rows) == 5 and sheet.autofilter == "A1:O5"  # the 4 partner accounts
    assert set(sheet.widths) == set(range(len(USER_HEADER)))
    assert all(10 <= w <= 60 for w in sheet.widths.values())
    assert sheet.widths[col("email")] > len("gestionnaire.voisin@example.org")
    tech = next(r for r in sheet.rows[1:] if r[col("identifiant")].text == "technicien.demo")
    created = tech[col("cree_le")]
    assert (created.type, created.text) == ("n", str(serial(date(2026, 11, 25))))
    assert created.format == "dd/mm/yyyy" and not created.bold
    assert col("derniere_connexion") not in tech  # no date: an empty cell
    for name, text in [
        ("nom", "=1+1"),
        ("prenom", "+33"),
        ("fonction", "-2"),
        ("telephone", "+41 22 345 67 89"),
        ("statut", "actif"),
    ]:
        assert (tech[col(name)].type, tech[col(name)].text) == ("inlineStr", text), name
    # every date column holds dates, every other column text
    for row in sheet.rows[1:]:
        for n, cell in row.items():
            dated = USER_HEADER[n] in ("cree_le", "derniere_connexion", "inactive_le")
            assert cell.format == ("dd/mm/yyyy" if dated else None), USER_HEADER[n]
            assert cell.type == ("n" if dated else "inlineStr"), USER_HEADER[n]


def test_gestionnaire_structure_export_is_the_same_sheet(client, login_as):
    login_as("gestionnaire.voisin")
    sheet = Workbook(download(client, "/accounts/export/utilisateurs.xlsx"))
    assert sheet.pane["topLeftCell"] == "A2" and sheet.autofilter == "A1:O3"
    assert sheet.row(1)[col("cree_le")].format == "dd/mm/yyyy"


def test_review_record_xlsx_has_dates_and_minutes(client, login_as, app):
    review = completed_review(app)
    login_as("gestionnaire.voisin")
    sheet = Workbook(download(client, f"/reviews/{review.id}/export.xlsx"))
    assert [c.text for c in sheet.row(0)] == REVIEW_HEADER and sheet.autofilter == "A1:M3"
    row = sheet.row(1)
    requested = row[REVIEW_HEADER.index("revue_demandee_le")]
    assert requested.format == "dd/mm/yyyy"
    assert requested.text == str(serial(review.requested_at.date()))
    assert row[REVIEW_HEADER.index("decide_le")].format == "dd/mm/yyyy hh:mm"
    reasons = [r.get(REVIEW_HEADER.index("motif")) for r in sheet.rows[1:]]
    assert ("inlineStr", "=HYPERLINK(1)") in [(c.type, c.text) for c in reasons if c]


@needs_libreoffice
def test_libreoffice_reads_the_users_exports_back(client, login_as, tmp_path):
    """The XLSX shows 25/11/2026 and the texts as they are; the CSV's ISO dates are read as
    dates and its neutralised cells as text, never as formulas or numbers."""
    tricky_technicien()
    login_as("caisse.demo")
    (tmp_path / "u.xlsx").write_bytes(download(client, "/caisse/export/utilisateurs.xlsx"))
    (tmp_path / "u.csv").write_bytes(download(client, "/caisse/export/utilisateurs.csv"))
    (shown,) = libreoffice([tmp_path / "u.xlsx"], CSV_OUT, tmp_path / "xlsx-lu")
    rows = list(csv.reader(io.StringIO(shown.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == USER_HEADER and len(rows) == 5
    tech = next(r for r in rows if r[col("identifiant")] == "technicien.demo")
    assert tech[col("cree_le")] == "25/11/2026" and tech[col("derniere_connexion")] == ""
    assert [tech[col(n)] for n in ("nom", "prenom", "fonction", "telephone")] == [
        "=1+1",
        "+33",
        "-2",
        "+41 22 345 67 89",
    ]
    (read,) = libreoffice([tmp_path / "u.csv"], "xlsx", tmp_path / "csv-lu", infilter=CSV_IN)
    sheet = load_workbook(read).active
    assert [c.value for c in sheet[1]] == USER_HEADER and sheet.max_row == 5
    tech = next(
        r for r in sheet.iter_rows(min_row=2) if r[col("identifiant")].value == ("technicien.demo")
    )
    assert tech[col("cree_le")].value == datetime(2026, 11, 25)  # a date, not a text
    for name, text in [("nom", "'=1+1"), ("prenom", "'+33"), ("fonction", "'-2")]:
        assert (tech[col(name)].data_type, tech[col(name)].value) == ("s", text), name


@needs_libreoffice
def test_libreoffice_reads_the_review_record_and_journal_back(client, login_as, app, tmp_path):
    review = completed_review(app)
    login_as("caisse.demo")
    (tmp_path / "r.xlsx").write_bytes(download(client, f"/reviews/{review.id}/export.xlsx"))
    (tmp_path / "r.csv").write_bytes(download(client, f"/reviews/{review.id}/export.csv"))
    (tmp_path / "j.csv").write_bytes(download(client, "/audit/export.csv"))
    (shown,) = libreoffice([tmp_path / "r.xlsx"], CSV_OUT, tmp_path / "xlsx-lu")
    rows = list(csv.reader(io.StringIO(shown.read_text(encoding="utf-8"), newline="")))
    assert rows[0] == REVIEW_HEADER and len(rows) == 3
    decided = Review.get_by_id(review.id).decisions.first().decided_at
    assert rows[1][1] == review.requested_at.strftime("%d/%m/%Y")
    assert rows[1][12] == decided.strftime("%d/%m/%Y %H:%M")
    assert "=HYPERLINK(1)" in [r[REVIEW_HEADER.index("motif")] for r in rows]
    record, journal = libreoffice(
        [tmp_path / "r.csv", tmp_path / "j.csv"], "xlsx", tmp_path / "csv-lu", infilter=CSV_IN
    )
    sheet = load_workbook(record).active
    assert [c.value for c in sheet[1]] == REVIEW_HEADER and sheet.max_row == 3
    assert sheet.cell(2, 2).value == datetime.combine(
        review.requested_at.date(), datetime.min.time()
    )
    assert isinstance(sheet.cell(2, 13).value, datetime)
    motifs = [r[REVIEW_HEADER.index("motif")] for r in sheet.iter_rows(min_row=2)]
    assert ("s", "'=HYPERLINK(1)") in [(c.data_type, c.value) for c in motifs]
    sheet = load_workbook(journal).active
    assert sheet.cell(1, 1).value == "date" and sheet.max_row > 1
    assert isinstance(sheet.cell(2, 1).value, datetime)
