"""The page frame: French, no inline script or style, no CDN, French error pages."""

import re
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).parent.parent / "ep" / "templates"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_templates_hold_no_inline_script_style_or_cdn(path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
    assert not re.search(r"\sstyle=|<style|hx-on|js:|hx-vars", text)
    assert not re.search(r'(src|href)="https?://', text)


@pytest.mark.parametrize(
    "user, expected",
    [
        ("caisse.demo", "Structures partenaires"),
        ("gestionnaire.demo", "Gérer les comptes"),
        ("technicien.demo", "signalez à la caisse"),
    ],
)
def test_each_profile_has_its_own_home(client, login_as, user, expected):
    login_as(user)
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert expected in page
    assert 'href="#contenu"' in page and 'aria-live="polite"' in page


def test_technicien_home_lists_the_requests_waiting_for_the_partner(client, login_as):
    login_as("technicien.demo")
    page = client.get("/").get_data(as_text=True)
    assert "une réponse de votre structure (1)" in page
    assert "Demande n° 000001" in page


def test_french_404(client, login_as):
    login_as("technicien.demo")
    response = client.get("/nulle-part")
    assert response.status_code == 404
    assert "Page introuvable" in response.get_data(as_text=True)


def test_french_403(client, login_as):
    login_as("technicien.demo")
    response = client.get("/partners/")
    assert response.status_code == 403
    assert "Accès refusé" in response.get_data(as_text=True)


def test_french_500_without_traceback(app, client, login_as):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boum")
    def boum():  # pragma: no cover - the route exists for this test only
        raise RuntimeError("secret detail")

    boum.access = "public"
    response = client.get("/boum")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Erreur technique" in page and "secret detail" not in page and "Traceback" not in page


NAMELESS_PARTS = [
    b"Content-Disposition: form-data\r\n\r\nx",
    b'Content-Disposition: form-data; filename="x.pdf"\r\n\r\nx',
]


@pytest.mark.parametrize("csrf", [True, False])
@pytest.mark.parametrize("part", NAMELESS_PARTS)
def test_a_multipart_part_without_a_name_is_a_bad_request(tmp_path, csrf, part):
    from .conftest import make_app

    app = make_app(tmp_path, WTF_CSRF_ENABLED=csrf)
    body = b"--B\r\n" + part + b'\r\n--B\r\nContent-Disposition: form-data; name="username"'
    body += b"\r\n\r\nu\r\n--B--\r\n"
    for path in ("/login", "/forgot", "/password-check"):
        response = app.test_client().post(
            path, data=body, content_type="multipart/form-data; boundary=B"
        )
        assert response.status_code == 400, path
        assert "Requête incorrecte" in response.get_data(as_text=True)


def test_vendored_htmx_is_served_locally(client):
    response = client.get("/static/vendor/htmx-2.0.11.min.js")
    assert response.status_code == 200
    response.close()


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_data_tables_scroll_in_their_own_named_focusable_region(path):
    """RGAA 10.11 (issue 15): on a narrow screen a table scrolls inside its region, not the
    page; the region is named and reachable with the keyboard (templates/_tables.html)."""
    text = path.read_text(encoding="utf-8")
    if path.name != "_tables.html":
        assert "table-wrap" not in text, "use the table_region macro"
    assert text.count("<table") == text.count("{% call table_region(")
