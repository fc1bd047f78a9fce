"""What a public body publishes (issue 15): the accessibility statement made from the RGAA
audit, the legal notice and the personal data page, filled from the instance's settings and
linked from every page's footer."""

import re
from pathlib import Path

import pytest

from ep import accessibility, db, demo

from .conftest import PASSWORD, make_app

AUDIT = Path(__file__).parent.parent / "docs" / "accessibilite.md"
# RGAA 4.1: the number of criteria of each of the 13 themes.
THEMES = [9, 2, 3, 13, 8, 2, 5, 10, 4, 14, 13, 11, 12]
SITE = {
    "EP_PUBLISHER_NAME": "CCAS de Démo-sur-Mer",
    "EP_PUBLISHER_ADDRESS": "1 place de la Mairie, 99999 Démo-sur-Mer",
    "EP_PUBLISHER_EMAIL": "ccas@demo-sur-mer.example.org",
    "EP_PUBLISHER_SIRET": "26999999900017",
    "EP_PUBLICATION_DIRECTOR": "Mme Alice Exemple, vice-présidente du CCAS",
    "EP_HOST_NAME": "Hébergeur de Démo SAS",
    "EP_HOST_ADDRESS": "2 rue des Serveurs, 99998 Démoville",
    "EP_HOST_PHONE": "01 99 99 99 99",
    "EP_DPO_EMAIL": "dpo@demo-sur-mer.example.org",
    "EP_DPO_ADDRESS": "DPO, 1 place de la Mairie, 99999 Démo-sur-Mer",
    "EP_ACCESSIBILITY_EMAIL": "accessibilite@demo-sur-mer.example.org",
    "EP_ACCESSIBILITY_PLAN_URL": "https://demo-sur-mer.example.org/schema-accessibilite",
}


@pytest.fixture
def site(tmp_path):
    app = make_app(tmp_path, **SITE)
    with app.test_request_context():
        demo.load(PASSWORD)
    yield app
    db.database.close()


def text(response):
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def test_the_shipped_audit_grades_every_rgaa_criterion_once():
    rows = re.findall(r"^\| (\d+\.\d+) \| (?:C|NC|NA) \|", AUDIT.read_text(), re.M)
    expected = [f"{t}.{n}" for t, count in enumerate(THEMES, 1) for n in range(1, count + 1)]
    assert sorted(rows) == sorted(expected) and len(rows) == accessibility.RGAA_CRITERIA


def test_the_statement_is_made_from_the_audit(client):
    audit = accessibility.statement()
    assert audit["source"].endswith("accessibilite.md") and audit["date"]
    assert audit["status"] == "partiellement conforme"
    assert audit["met"] + audit["not_met"] + audit["not_applicable"] == 106
    page = text(client.get("/accessibilite"))
    assert "est <strong>partiellement conforme</strong>" in page
    rate = f"{round(audit['rate'] * 100, 1)}".replace(".", ",")
    assert f"<strong>{rate} %</strong> des critères" in page
    for number, _ in audit["failed"]:
        assert f"Critère {number} :" in page
    assert f"établie le {audit['date']}" in page
    assert "Libre réponse 71120" in page and "formulaire.defenseurdesdroits.fr" in page


def test_the_pages_are_filled_from_the_settings(site):
    client = site.test_client()
    statement = text(client.get("/accessibilite"))
    assert "CCAS de Démo-sur-Mer s'engage à rendre ses services en ligne accessibles" in statement
    assert "mailto:accessibilite@demo-sur-mer.example.org" in statement
    assert "https://demo-sur-mer.example.org/schema-accessibilite" in statement
    assert "1 place de la Mairie" in statement and "à compléter" not in statement
    notice = text(client.get("/mentions-legales"))
    for key in ("EP_PUBLICATION_DIRECTOR", "EP_HOST_NAME", "EP_HOST_ADDRESS", "EP_HOST_PHONE"):
        assert SITE[key] in notice
    assert "26999999900017" in notice
    assert "à compléter" not in notice
    data = text(client.get("/donnees-personnelles"))
    assert "mailto:dpo@demo-sur-mer.example.org" in data and "à compléter" not in data
    assert f"pendant {site.config['EP_TECHNICIEN_IDLE_DAYS']} jours" in data
    assert f"supprimé {site.config['EP_DELETE_AFTER_DAYS']} jours après" in data


def test_what_is_not_set_says_which_setting_to_fill_in(client):
    notice = text(client.get("/mentions-legales"))
    for key in ("EP_PUBLISHER_NAME", "EP_PUBLICATION_DIRECTOR", "EP_HOST_NAME", "EP_HOST_PHONE"):
        assert f"à compléter (réglage <code>{key}</code>)" in notice
    assert "à compléter (réglage <code>EP_DPO_EMAIL</code>)" in text(
        client.get("/donnees-personnelles")
    )


@pytest.mark.parametrize("path", ["/login", "/", "/accounts/", "/nulle-part", "/cgu"])
def test_every_page_s_footer_links_the_three_pages_and_says_the_status(client, login_as, path):
    if path != "/login":
        login_as("gestionnaire.demo")
    page = text(client.get(path))
    footer = page[page.index('<footer class="site-footer">') :]
    assert '<a href="/accessibilite">Accessibilité : partiellement conforme</a>' in footer
    assert '<a href="/mentions-legales">Mentions légales</a>' in footer
    assert '<a href="/donnees-personnelles">Données personnelles</a>' in footer


def grid(states):
    """An audit file with these states for the 106 criteria, in order."""
    numbers = [f"{t}.{n}" for t, count in enumerate(THEMES, 1) for n in range(1, count + 1)]
    rows = "\n".join(f"| {n} | {s} | relu |" for n, s in zip(numbers, states, strict=False))
    return f"## Audit\n\n- Date de l'audit : 01/12/2026\n\n## Grille\n\n{rows}\n"


@pytest.mark.parametrize(
    "states, status",
    [
        (["C"] * 106, "totalement conforme"),
        (["C"] * 100, "partiellement conforme"),  # six criteria not graded: not total
        (["C"] * 53 + ["NC"] * 53, "partiellement conforme"),
        (["C"] * 52 + ["NC"] * 54, "non conforme"),
        ([], "non conforme"),
    ],
)
def test_the_status_follows_the_official_rule(tmp_path, states, status):
    audit = tmp_path / "audit.md"
    audit.write_text(grid(states))
    app = make_app(tmp_path, EP_ACCESSIBILITY_AUDIT=str(audit))
    page = text(app.test_client().get("/accessibilite"))
    db.database.close()
    assert f"Accessibilité : {status}</a>" in page
    assert f"<strong>{status}</strong>" in page
    if not states:
        assert "aucun résultat d'audit ne permet encore de mesurer" in page


def test_a_missing_audit_means_non_conforme(tmp_path):
    app = make_app(tmp_path, EP_ACCESSIBILITY_AUDIT=str(tmp_path / "absent.md"))
    page = text(app.test_client().get("/mentions-legales"))
    db.database.close()
    assert "Accessibilité : non conforme</a>" in page
