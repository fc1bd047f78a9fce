"""The partnership's figures (issue 13): a known set of requests, every figure checked on the
page and in the CSV, and a purge that leaves them as they were."""

import csv
import io
from datetime import date, datetime, timedelta

import pytest

from ep import db, statistics
from ep.housekeeping import purge_convention
from ep.models import Account, Caisse, Convention, Demande, Motif, Offer, Partner, Review

YEAR = 2025  # the demo's own requests are sent today: none in this year


def _motif(offer_code, motif_code):
    offer = Offer.get(Offer.code == offer_code)
    return offer, Motif.get((Motif.offer == offer) & (Motif.code == motif_code))


def _request(
    partner,
    caisse,
    author,
    sent,
    offer_motif,
    *,
    answered_h=None,
    closed_d=None,
    status=None,
    urgent=False,
    target=120,
):
    offer, motif = offer_motif
    status = status or ("closed" if closed_d is not None else "in_progress")
    return Demande.create(
        partner=partner,
        caisse=caisse,
        author=author,
        offer=offer,
        motif=motif,
        status=status,
        urgent=urgent,
        target_hours=target,
        assure_civilite="Mme",
        assure_nom="Témoin",
        assure_prenom="Alice",
        assure_date_naissance=date(1950, 1, 1),
        assure_departement="68",
        assure_search="temoin alice",
        commentaire="Demande du jeu de chiffres connu.",
        created_at=sent,
        updated_at=sent,
        first_answer_at=sent + timedelta(hours=answered_h) if answered_h is not None else None,
        closed_at=sent + timedelta(days=closed_d) if closed_d is not None else None,
    )


@pytest.fixture
def known(app):
    """A structure with six requests to the CPAM in 2025 and one to the CARSAT:
    January: 3 to the CPAM (C2S study, answered in 10, 20 and 30 h, closed in 2, 4 and 9 days,
    one urgent signalement); March: 2 (an appointment answered in 200 h over its 120 h target,
    one unanswered); March: 1 to the CARSAT (closed in 1 day)."""
    with app.app_context(), db.database.connection_context():
        cpam = Caisse.get(Caisse.name == "CPAM de Démo")
        carsat = Caisse.get(Caisse.name == "CARSAT de Démo")
        partner = Partner.create(name="Structure chiffrée", siret="26800000900012", headcount=8)
        conventions = {
            c: Convention.create(
                partner=partner, caisse=c, signed_on=date(2024, 1, 1), starts_on=date(2024, 1, 1)
            )
            for c in (cpam, carsat)
        }
        author = Account.create(
            username="technicien.chiffres", profile="technicien", partner=partner, state="active"
        )
        Account.create(
            username="gestionnaire.chiffres",
            profile="gestionnaire",
            partner=partner,
            state="active",
            cgu_version=app.config["EP_CGU_VERSION"],
            cgu_accepted_at=datetime.now(),
        )
        c2s = _motif("etude_dossier", "c2s")
        urgence = _motif("signalement", "urgence")
        rdv = _motif("rendez_vous", "ame")
        jan = datetime(YEAR, 1, 6, 9, 0)
        _request(partner, cpam, author, jan, c2s, answered_h=10, closed_d=2)
        _request(partner, cpam, author, jan + timedelta(days=1), c2s, answered_h=20, closed_d=4)
        _request(
            partner,
            cpam,
            author,
            jan + timedelta(days=2),
            urgence,
            answered_h=30,
            closed_d=9,
            urgent=True,
            target=48,
        )
        mar = datetime(YEAR, 3, 10, 14, 0)
        _request(partner, cpam, author, mar, rdv, answered_h=200, status="waiting_partner")
        _request(partner, cpam, author, mar + timedelta(days=3), rdv)
        _request(
            partner, carsat, author, mar, _motif("etude_dossier", "puma"), answered_h=5, closed_d=1
        )
        Review.create(
            partner=partner,
            period_start=datetime(YEAR, 1, 1),
            status="completed",
            due_on=date(YEAR, 6, 30),
            completed_at=datetime(YEAR, 6, 1),
        )
        Review.create(
            partner=partner,
            period_start=datetime(YEAR, 1, 1),
            status="completed",
            due_on=date(YEAR, 9, 30),
            completed_at=datetime(YEAR, 10, 2),
        )
    # returned outside the app context: each request of the test client then has its own
    return {
        "partner": partner.id,
        "cpam": cpam.id,
        "carsat": carsat.id,
        "conventions": {c.name: v.id for c, v in conventions.items()},
    }


def _figures(scope):
    return statistics.compute(scope, date(YEAR, 1, 1), date(YEAR, 12, 31))


def test_the_figures_of_a_known_set(app, known):
    with app.app_context(), db.database.connection_context():
        f = _figures(statistics.Scope(caisse_id=known["cpam"], partner_id=known["partner"]))
        assert f.total == 5
        assert f.urgent == 1 and f.urgent_share == pytest.approx(0.2)
        assert f.closed == 3
        assert f.months[0] == (date(YEAR, 1, 1), 3)
        assert f.months[2] == (date(YEAR, 3, 1), 2)
        assert len(f.months) == 12 and sum(n for _, n in f.months) == 5
        assert f.by_offer == [  # most asked first, then by name
            ("Demander un rendez-vous pour un assuré", "AME", 2),
            ("Soumettre une demande d'étude de dossier", "Étude de C2S", 2),
            (
                "Signaler une situation de difficulté d'accès aux droits et aux soins",
                "Situation d'urgence",
                1,
            ),
        ]
        assert dict(f.by_status) == {
            "En cours de traitement": 1,
            "En attente du partenaire": 1,
            "Clôturée": 3,
        }
        assert sorted(f.first_answer.values) == [10, 20, 30, 200]
        assert f.first_answer.median == 25
        assert f.first_answer.p90 == 200  # nearest rank: the 4th of 4
        assert f.closure.median == 4 and f.closure.p90 == 9
        # within their target: 10 h and 20 h (of 120 h), 30 h (of 48 h); 200 h is late, and
        # the unanswered one sent in March 2025 is past its target too
        assert (f.within_target, f.target_due) == (3, 5)
        assert f.waiting.count == 1
        assert f.reviews_on_time == 1 and f.reviews_late == 1
        technicien = dict((label, counts) for label, counts, _ in f.accounts)["Techniciens"]
        assert technicien["active"] == 1
        quotas = {label: quota for label, _, quota in f.accounts}
        assert quotas == {"Gestionnaires": 2, "Techniciens": 5}

        both = _figures(statistics.Scope(caisse_id=None, partner_id=known["partner"]))
        assert both.total == 6
        assert dict(both.by_caisse) == {"CPAM de Démo": 5, "CARSAT de Démo": 1}


def test_the_page_and_the_csv_show_the_same_figures(app, known, client, login_as):
    login_as("gestionnaire.chiffres")
    period = f"du={YEAR}-01-01&au={YEAR}-12-31"
    page = client.get(f"/statistiques?{period}&which={known['cpam']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Du 01/01/2025 au 31/12/2025" in html
    assert "<strong>5</strong> demandes envoyées" in html
    assert "<strong>20 %</strong> urgentes" in html
    assert "25,0 h" in html and "200,0 h" in html  # first answer: median, 90th percentile
    assert "4,0 j" in html and "9,0 j" in html  # closure
    assert "<svg" in html and "<caption" in html

    response = client.get(f"/statistiques/demandes.csv?{period}")
    assert response.status_code == 200
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8-sig")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == statistics.CSV_HEADER
    table = {(r[0], r[1], r[4]): r for r in rows[1:]}
    assert len(rows) - 1 == 4  # Jan C2S, Jan urgence, Mar AME (CPAM), Mar PUMa (CARSAT)
    c2s = table[(f"{YEAR}-01", "CPAM de Démo", "Étude de C2S")]
    assert c2s[2] == "Structure chiffrée"
    assert c2s[5:] == ["2", "2", "15,0", "3,0"]
    ame = table[(f"{YEAR}-03", "CPAM de Démo", "AME")]
    assert ame[5:] == ["2", "0", "200,0", ""]
    assert sum(int(r[5]) for r in rows[1:]) == 6


def test_each_side_sees_only_its_own_figures(app, known, client, login_as):
    login_as("gestionnaire.demo")  # another structure
    period = f"du={YEAR}-01-01&au={YEAR}-12-31"
    assert "Structure chiffrée" not in client.get(f"/statistiques/demandes.csv?{period}").get_data(
        as_text=True
    )
    assert client.get(f"/statistiques?which={known['partner']}").status_code == 404
    login_as("carsat.demo")
    rows = client.get(f"/statistiques/demandes.csv?{period}").get_data(as_text=True)
    assert "CPAM de Démo" not in rows and rows.count("\r\n") == 2  # header + its one row
    login_as("caisse.demo")
    assert client.get(f"/statistiques?which={known['partner']}").status_code == 200
    voisin = Partner.get(Partner.name == "CCAS Voisin").id
    assert client.get(f"/statistiques?which={voisin}").status_code == 200
    login_as("carsat.demo")
    with app.app_context(), db.database.connection_context():
        other = Partner.create(name="Hors convention", headcount=3)
    assert client.get(f"/statistiques?which={other.id}").status_code == 404
    assert client.get(f"/statistiques/demandes.csv?which={other.id}").status_code == 404


def test_a_purge_leaves_the_figures_unchanged(app, known):
    with app.app_context(), db.database.connection_context():
        scope = statistics.Scope(caisse_id=None, partner_id=known["partner"])
        before = _figures(scope), statistics.csv_rows(scope, date(YEAR, 1, 1), date(YEAR, 12, 31))
        for convention_id in known["conventions"].values():
            purge_convention(Convention.get_by_id(convention_id), date.today())
        assert (
            not Demande.select()
            .where((Demande.partner == known["partner"]) & (Demande.assure_nom != ""))
            .exists()
        )
        after = _figures(scope), statistics.csv_rows(scope, date(YEAR, 1, 1), date(YEAR, 12, 31))
        assert after == before


def test_a_period_that_cannot_be_read_is_said_by_its_field(app, client, login_as):
    login_as("caisse.demo")
    html = client.get("/statistiques?du=2026-05-01&au=2026-01-01").get_data(as_text=True)
    assert "La fin de la période précède son début." in html
    assert f"Du 01/01/{date.today().year}" in html  # the current year instead
    html = client.get("/statistiques?du=2010-01-01&au=2026-01-01").get_data(as_text=True)
    assert "cinq ans au plus" in html
    html = client.get("/statistiques?du=31/02/2026").get_data(as_text=True)
    assert "field--error" in html
    assert client.get("/statistiques?which=abc").status_code == 404


def test_the_default_period_is_the_current_year_and_the_previous_one_is_a_click_away(
    app, client, login_as
):
    login_as("gestionnaire.demo")
    html = client.get("/statistiques").get_data(as_text=True)
    year = date.today().year
    assert f"Du 01/01/{year} au 31/12/{year}" in html
    assert f"du={year - 1}-01-01&amp;au={year - 1}-12-31" in html


def test_the_spreadsheet_holds_the_csv_s_rows_as_numbers(app, known, client, login_as, tmp_path):
    """Issue 13.5: the pivot-table rows in XLSX, numbers typed; LibreOffice reads the CSV's
    decimals as numbers too, where it is installed."""
    from openpyxl import load_workbook

    from .sheets import CSV_IN, libreoffice, needs_libreoffice  # noqa: F401

    login_as("gestionnaire.chiffres")
    period = f"du={YEAR}-01-01&au={YEAR}-12-31"
    data = client.get(f"/statistiques/demandes.xlsx?{period}").get_data()
    sheet = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == statistics.CSV_HEADER
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    rows = {(r[0].value, r[4].value): r for r in sheet.iter_rows(min_row=2)}
    c2s = rows[(f"{YEAR}-01", "Étude de C2S")]
    assert [c.value for c in c2s[5:]] == [2, 2, 15.0, 3.0]
    assert all(c.data_type == "n" for c in c2s[5:])
    assert rows[(f"{YEAR}-03", "AME")][8].value is None
    import shutil

    if not shutil.which("soffice"):
        return
    (tmp_path / "s.csv").write_bytes(client.get(f"/statistiques/demandes.csv?{period}").get_data())
    # as a French spreadsheet opens it (language 1036: the decimal comma)
    french = CSV_IN + ",,1036"
    (read,) = libreoffice([tmp_path / "s.csv"], "xlsx", tmp_path / "lu", infilter=french)
    back = load_workbook(read).active
    values = {(r[0].value, r[4].value): [c.value for c in r[5:]] for r in back.iter_rows(min_row=2)}
    assert values[(f"{YEAR}-01", "Étude de C2S")] == [2, 2, 15, 3]
