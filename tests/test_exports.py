"""User-list exports: the exact CSV format of CONTRACT.md, XLSX with the same rows."""

import io
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from ep import accounts
from ep.exports import USER_HEADER
from ep.models import Account, Partner

from .conftest import account, on_postgresql
from .sheets import Workbook

HEADER = (
    "partenaire;profil;identifiant;civilite;nom;prenom;fonction;email;telephone;statut;"
    "cree_le;cree_par;derniere_connexion;inactive_le;derniere_revue"
)


def test_csv_bytes_bom_separator_header_crlf(client, login_as):
    login_as("caisse.demo")
    response = client.get("/caisse/export/utilisateurs.csv")
    body = response.get_data()
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n")
    lines = body[3:].decode("utf-8").split("\r\n")
    assert lines[-1] == ""
    rows = [line.split(";") for line in lines[1:-1]]
    assert {r[0] for r in rows} == {"CCAS de Démo", "CCAS Voisin"}
    assert all(len(r) == 15 for r in rows)
    tech = next(r for r in rows if r[2] == "technicien.demo")
    assert tech[1] == "technicien" and tech[9] == "actif" and tech[11] == "gestionnaire.demo"
    assert tech[4] == "Exemple" and tech[5] == "Théo"
    assert len(tech[10]) == 10 and tech[10][4] == "-"  # YYYY-MM-DD


def test_formula_cells_are_neutralised(client, login_as):
    Account.update(
        nom='=HYPERLINK("http://x")', prenom="+33", fonction="-2", telephone="@SUM(1)"
    ).where(Account.username == "technicien.demo").execute()
    login_as("caisse.demo")
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    row = next(line for line in body.split("\r\n") if "technicien.demo" in line)
    assert "'=HYPERLINK" in row and ";'+33;" in row and ";'-2;" in row and "'@SUM(1)" in row


def test_deleted_accounts_are_not_listed_and_other_caisse_sees_only_its_partners(
    client, login_as, app
):
    Account.update(state="deleted").where(Account.username == "technicien.voisin").execute()
    login_as("caisse.demo")
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    assert "technicien.voisin" not in body and "gestionnaire.voisin" in body
    login_as("carsat.demo")
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    assert "CCAS Voisin" not in body and "technicien.demo" in body


def test_filters_by_partner_and_state(client, login_as, app):
    with app.test_request_context():
        accounts.deactivate(account("gestionnaire.demo"), account("technicien.demo"), "Départ")
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin").id
    body = (
        client.get(f"/caisse/export/utilisateurs.csv?partner={voisin}")
        .get_data()
        .decode("utf-8-sig")
    )
    assert "CCAS de Démo" not in body and "CCAS Voisin" in body
    body = (
        client.get("/caisse/export/utilisateurs.csv?statut=inactive").get_data().decode("utf-8-sig")
    )
    lines = [line for line in body.split("\r\n")[1:] if line]
    assert len(lines) == 1 and "technicien.demo" in lines[0] and ";inactif;" in lines[0]
    assert lines[0].split(";")[13]  # inactive_le filled


def test_xlsx_has_the_same_rows(client, login_as):
    login_as("caisse.demo")
    csv_rows = [
        line.split(";")
        for line in client.get("/caisse/export/utilisateurs.csv")
        .get_data()
        .decode("utf-8-sig")
        .split("\r\n")
        if line
    ]
    response = client.get("/caisse/export/utilisateurs.xlsx")
    data = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(data)).active
    xlsx_rows = [[as_csv(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert xlsx_rows == csv_rows
    assert xlsx_rows[0] == USER_HEADER
    created = USER_HEADER.index("cree_le")
    assert all(isinstance(row[created].value, datetime) for row in sheet.iter_rows(min_row=2))


def as_csv(value):
    """An XLSX cell as the CSV writes it: dates YYYY-MM-DD, empty for none."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d")
    return "" if value is None else value


def test_gestionnaire_exports_their_own_structure(client, login_as):
    login_as("gestionnaire.voisin")
    body = client.get("/accounts/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    assert "CCAS Voisin" in body and "CCAS de Démo" not in body
    other = Partner.get(Partner.name == "CCAS de Démo").id
    body = (
        client.get(f"/accounts/export/utilisateurs.csv?partner={other}")
        .get_data()
        .decode("utf-8-sig")
    )
    assert "CCAS de Démo" not in body  # asking for another partner gives nothing of it


def test_cli_export_matches_the_web_export(app, client, login_as, tmp_path):
    login_as("caisse.demo")
    web = client.get("/caisse/export/utilisateurs.csv").get_data()
    from ep.db import database

    database.close()
    env = {
        **os.environ,
        "EP_INSTANCE_PATH": app.instance_path,
        "EP_DATABASE_URL": app.config["EP_DATABASE_URL"],
    }
    ep = str(Path(sys.executable).with_name("ep"))
    out = tmp_path / "u.csv"
    result = subprocess.run(
        [ep, "export-users", "--caisse", "CPAM de Démo", "-o", str(out)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == web
    xlsx = tmp_path / "u.xlsx"
    result = subprocess.run(
        [ep, "export-users", "--format", "xlsx", "-o", str(xlsx)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert load_workbook(xlsx).active.max_row == 5  # header + the 4 partner accounts
    sheet = Workbook(xlsx.read_bytes())  # the same sheet as the web's
    assert sheet.autofilter == "A1:O5" and sheet.pane["topLeftCell"] == "A2"
    assert sheet.row(1)[USER_HEADER.index("cree_le")].format == "dd/mm/yyyy"


# PostgreSQL stores no NUL at all (the forms refuse it before): the rest, on both engines.
XML_ILLEGAL = ("" if on_postgresql() else "\x00") + "\x01\x08\x0b\x0c\x1f\ufffe\uffff"


def test_characters_illegal_in_xml_are_stripped_from_both_exports(client, login_as):
    """Such characters, however they got into the database, break an XLSX (XML forbids
    them); both exports drop them, before neutralising formulas."""
    Account.update(
        fonction=f"Chef{XML_ILLEGAL}\tde\nservice", telephone="\x01=1+1", nom="\uffffNom"
    ).where(Account.username == "technicien.demo").execute()
    login_as("caisse.demo")
    response = client.get("/caisse/export/utilisateurs.xlsx")
    data = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(data)).active
    row = next(r for r in sheet.iter_rows(values_only=True) if r[2] == "technicien.demo")
    assert row[6] == "Chef\tde\nservice" and row[8] == "=1+1" and row[4] == "Nom"
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    assert not any(c in body for c in XML_ILLEGAL)
    assert ";'=1+1;" in body and ";Nom;" in body and '"Chef\tde\nservice"' in body


def test_lone_surrogates_are_stripped_from_both_exports():
    from ep import csvexport, xlsx

    rows = [["a\ud800b", "\udfff=2"]]
    assert [csvexport.cell(v) for v in rows[0]] == ["ab", "'=2"]
    csv_bytes = b"".join(csvexport.stream(["h1", "h2"], rows))
    assert csv_bytes.endswith(b"ab;'=2\r\n")
    sheet = load_workbook(io.BytesIO(b"".join(xlsx.stream(["h1", "h2"], rows)))).active
    assert list(sheet.iter_rows(values_only=True))[1] == ("ab", "=2")


@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice absent (soffice)")
def test_libreoffice_reads_every_row_despite_illegal_characters(client, login_as, tmp_path):
    """LibreOffice silently drops the rows after a character XML forbids: all must be there."""
    Account.update(fonction=f"Chef{XML_ILLEGAL}de service").where(
        Account.username == "technicien.demo"
    ).execute()
    login_as("caisse.demo")
    response = client.get("/caisse/export/utilisateurs.xlsx")
    (tmp_path / "u.xlsx").write_bytes(response.get_data())
    response.close()
    result = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation={(tmp_path / 'profil').as_uri()}",
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # UTF-8
            "--outdir",
            str(tmp_path),
            str(tmp_path / "u.xlsx"),
        ],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    converted = (tmp_path / "u.csv").read_text(encoding="utf-8")
    assert "Théo,Chefde service" in converted
    assert converted.count("\n") == 5  # the header and the 4 partner accounts


def test_phone_numbers_are_exported_as_displayed_text(client, login_as):
    """Issue 10.7: `03 89 00 00 00` keeps its leading zero in a spreadsheet; an international
    number starts with '+', which the CSV's formula rule prefixes like any other cell (an
    XLSX text cell is never a formula: no prefix there)."""
    Account.update(telephone="+33389000000").where(Account.username == "technicien.demo").execute()
    Account.update(telephone="+41223456789").where(
        Account.username == "gestionnaire.demo"
    ).execute()
    login_as("caisse.demo")
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    rows = {r.split(";")[2]: r.split(";") for r in body.split("\r\n")[1:] if r}
    assert rows["technicien.demo"][8] == "03 89 00 00 00"
    assert rows["gestionnaire.demo"][8] == "'+41 22 345 67 89"
    response = client.get("/caisse/export/utilisateurs.xlsx")
    data = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(data)).active
    cells = {row[2].value: row[8] for row in sheet.iter_rows(min_row=2)}
    assert cells["technicien.demo"].value == "03 89 00 00 00"
    assert cells["technicien.demo"].data_type == "s"  # text, not the number 389000000
    assert cells["gestionnaire.demo"].value == "+41 22 345 67 89"  # text needs no quote there
