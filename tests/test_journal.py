"""The journal pages through a département's trail by position, newest first (issue 11):
its page never counts or skips the whole trail, and the caisse sees what its scope allows."""

import re
from datetime import datetime, timedelta

from ep import db
from ep.models import AuditEvent, Caisse, Partner


def _trail():
    """130 events the demo caisse may read (its own, and its partner's with no caisse),
    interleaved with 40 it may not (another caisse's), all at distinct times."""
    demo = Partner.get(Partner.name == "CCAS de Démo")
    cpam = Caisse.get(Caisse.name == "CPAM de Démo")
    carsat = Caisse.get(Caisse.name == "CARSAT de Démo")
    start = datetime(2026, 1, 1, 8, 0)
    visible = []
    with db.database.atomic():
        for i in sorted(range(170), key=lambda i: (i * 37) % 170):  # ids not in time order
            at = start + timedelta(minutes=i)
            if i % 17 == 5:
                AuditEvent.create(
                    at=at, action="login", partner=None, caisse=carsat, detail=f"hors champ {i}"
                )
                continue
            caisse = cpam if i % 2 else None
            event = AuditEvent.create(
                at=at, action="login", partner=demo, caisse=caisse, detail=f"evenement {i:03d}"
            )
            visible.append(event.detail)
    return sorted(visible)  # in time order: the details are numbered by time


def _details(html):
    return re.findall(r"evenement \d{3}|hors champ \d+", html)


def _link(html, label):
    match = re.search(r'<a href="([^"]+)"[^>]*>' + label, html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_the_journal_pages_through_the_whole_trail_by_position(app, client, login_as):
    with app.app_context(), db.database.connection_context():
        expected = list(reversed(_trail()))
    login_as("caisse.demo")
    seen, url, pages = [], "/audit/", []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(url)
        seen += [d for d in _details(html)]
        url = _link(html, "Événements plus anciens")
    assert [d for d in seen if d.startswith("evenement")] == expected
    assert not [d for d in seen if d.startswith("hors champ")]
    assert len(pages) >= 3
    # and back towards the newest, one page at a time
    html = client.get(pages[-1]).get_data(as_text=True)
    newer = _link(html, "Événements plus récents")
    assert newer
    back = _details(client.get(newer).get_data(as_text=True))
    assert back == [d for d in _details(client.get(pages[-2]).get_data(as_text=True))]


def test_a_position_out_of_the_trail_is_the_newest_page(client, login_as):
    login_as("caisse.demo")
    for query in ("?avant=999999999", "?avant=abc", "?apres=-1"):
        assert client.get("/audit/" + query).status_code == 200


def test_the_caisse_s_journal_holds_only_its_structures_in_force(app, client, login_as):
    """DOMAIN, conventions and scope: the caisse reads the events (naming no caisse) of the
    structures whose convention with it is accepted and not ended; not those of a structure
    that has not accepted it yet, nor of one whose convention has ended."""
    from datetime import date

    from ep.models import Convention

    cpam = Caisse.get(Caisse.name == "CPAM de Démo")
    with app.app_context(), db.database.connection_context():
        for name, state, ends_on in (
            ("Structure en attente", "pending", None),
            ("Structure partie", "accepted", date(2025, 12, 31)),
            ("Structure en cours", "accepted", None),
        ):
            partner = Partner.create(name=name, headcount=10)
            Convention.create(
                partner=partner,
                caisse=cpam,
                signed_on=date(2025, 1, 1),
                starts_on=date(2025, 1, 1),
                ends_on=ends_on,
                state=state,
            )
            AuditEvent.create(action="login", partner=partner, caisse=None, detail=f"trace {name}")
    login_as("caisse.demo")
    page = client.get("/audit/").get_data(as_text=True)
    assert "trace Structure en cours" in page
    assert "trace Structure en attente" not in page
    assert "trace Structure partie" not in page
