"""Exchanges a caisse starts with a structure about something that is not a request (issue
12.2): both sides write, documents, unread markers, e-mails, closing; and the structure's
"Contacter votre organisme" requests listed with them in one place."""

import io
import re
from datetime import date, timedelta

import pytest
from werkzeug.datastructures import FileStorage

from ep import demandes, threads
from ep.demo import DEMO_PDF
from ep.models import (
    AuditEvent,
    Caisse,
    Convention,
    Demande,
    Notice,
    Partner,
    Thread,
    ThreadAttachment,
    ThreadMessage,
    now,
)
from ep.rules import NeedsConfirmation, RuleError

from .conftest import account

NIR = "1 85 05 78 006 084 91"


def ccas():
    return Partner.get(Partner.name == "CCAS de Démo")


def voisin():
    return Partner.get(Partner.name == "CCAS Voisin")


def cpam():
    return Caisse.get(Caisse.name == "CPAM de Démo")


def pdf(name="programme.pdf"):
    return FileStorage(io.BytesIO(DEMO_PDF), filename=name)


def text_of(response):
    return response.get_data(as_text=True)


def start(partner=None, subject="Atelier prévention", body="Un atelier aura lieu en mars.", **kw):
    return threads.start(
        account(kw.pop("agent", "caisse.demo")), partner or ccas(), subject, body, **kw
    )


# The rules


def test_an_agent_opens_a_thread_with_one_of_its_structures(ctx):
    thread = start(files=[pdf()])
    assert (thread.caisse_id, thread.partner_id) == (cpam().id, ccas().id)
    assert thread.subject == "Atelier prévention" and thread.audience == "all"
    [message] = list(thread.messages)
    assert message.body == "Un atelier aura lieu en mars." and message.author.username == (
        "caisse.demo"
    )
    [doc] = list(ThreadAttachment.select().where(ThreadAttachment.message == message))
    assert doc.filename == "programme.pdf" and doc.content_type == "application/pdf"
    assert thread.last_caisse_message == message.id and thread.last_partner_message is None
    event = (
        AuditEvent.select()
        .where(
            (AuditEvent.action == "thread_started")
            & (AuditEvent.detail == f"échange {thread.reference}")
        )
        .get()
    )
    assert (event.partner_id, event.caisse_id) == (ccas().id, cpam().id)
    assert event.actor.username == "caisse.demo" and thread.reference in event.detail


def test_only_to_a_structure_whose_convention_is_in_force_and_open(ctx):
    with pytest.raises(RuleError) as refused:  # CARSAT has no convention with CCAS Voisin
        start(voisin(), agent="carsat.demo")
    assert refused.value.field == "partner"
    convention = Convention.get((Convention.partner == voisin()) & (Convention.caisse == cpam()))
    for change in (
        {"cut_off_at": now()},
        {"state": "pending"},
        {"ends_on": date.today()},
        {"starts_on": date.today() + timedelta(days=3)},
    ):
        Convention.update(**change).where(Convention.id == convention.id).execute()
        with pytest.raises(RuleError):
            start(voisin())
        Convention.update(
            cut_off_at=None, state="accepted", ends_on=None, starts_on=convention.starts_on
        ).where(Convention.id == convention.id).execute()
    assert start(voisin()).partner_id == voisin().id


@pytest.mark.parametrize(
    "subject, body, field",
    [
        ("", "Un message.", "subject"),
        ("x" * 201, "Un message.", "subject"),
        ("Objet", "", "body"),
        ("Objet", "x" * 4001, "body"),
        (f"Assuré {NIR}", "Un message.", "subject"),
        ("Objet", f"Son numéro : {NIR}", "body"),
    ],
)
def test_a_thread_needs_a_subject_and_a_message_without_nir(ctx, subject, body, field):
    with pytest.raises(RuleError) as refused:
        start(subject=subject, body=body)
    assert field in [f for f, _ in refused.value.errors]
    assert Thread.select().where(Thread.subject == subject).count() == 0


def test_health_words_need_a_confirmation_as_in_requests(ctx):
    with pytest.raises(NeedsConfirmation):
        start(body="Le diagnostic de cancer est confirmé.")
    assert start(body="Le diagnostic de cancer est confirmé.", confirmed=True)


def test_both_sides_write_until_the_caisse_closes(ctx):
    thread = start()
    threads.reply(account("technicien.demo"), thread, "Nous serons trois.", [pdf("liste.pdf")])
    threads.reply(account("gestionnaire.demo"), thread, "Et moi aussi.", [])
    threads.reply(account("caisse.demo"), thread, "Parfait, à bientôt.", [])
    thread = Thread.get_by_id(thread.id)
    kinds = [(m.author.username, m.kind) for m in thread.messages.order_by(ThreadMessage.id)]
    assert kinds == [
        ("caisse.demo", "message"),
        ("technicien.demo", "message"),
        ("gestionnaire.demo", "message"),
        ("caisse.demo", "message"),
    ]
    threads.close(account("caisse.demo"), thread, "Merci à tous.")
    thread = Thread.get_by_id(thread.id)
    assert thread.is_closed and thread.closed_by.username == "caisse.demo"
    assert thread.messages.order_by(ThreadMessage.id.desc()).first().kind == "close"
    closed = AuditEvent.select().where(AuditEvent.action == "thread_closed")
    assert [e.detail for e in closed] == [f"échange {thread.reference}"]
    for who in ("technicien.demo", "caisse.demo"):
        with pytest.raises(RuleError, match="clos"):
            threads.reply(account(who), thread, "Encore un mot.", [])
    with pytest.raises(RuleError, match="clos"):
        threads.close(account("caisse.demo"), thread)


def test_closing_needs_no_last_word(ctx):
    thread = start()
    threads.close(account("caisse.demo"), thread)
    assert Thread.get_by_id(thread.id).is_closed


def test_a_technicien_neither_sees_nor_answers_a_thread_for_the_gestionnaires(ctx):
    thread = start(audience="gestionnaires")
    assert threads.can_see(account("gestionnaire.demo"), thread)
    assert not threads.can_see(account("technicien.demo"), thread)
    with pytest.raises(RuleError):
        threads.reply(account("technicien.demo"), thread, "Je réponds.", [])
    with pytest.raises(RuleError) as refused:
        start(audience="tout le monde")
    assert refused.value.field == "audience"


@pytest.mark.parametrize(
    "user, sees",
    [
        ("caisse.demo", True),
        ("carsat.demo", False),
        ("gestionnaire.demo", True),
        ("technicien.demo", True),
        ("gestionnaire.voisin", False),
        ("technicien.voisin", False),
    ],
)
def test_nobody_else_sees_a_thread(ctx, user, sees):
    assert threads.can_see(account(user), start()) is sees


def test_the_partner_cannot_write_once_the_convention_is_over(ctx):
    thread = start()
    Convention.update(cut_off_at=now()).where(
        (Convention.partner == ccas()) & (Convention.caisse == cpam())
    ).execute()
    for who in ("technicien.demo", "caisse.demo"):
        with pytest.raises(RuleError, match="coupé|vigueur"):
            threads.reply(account(who), thread, "Un mot.", [])


def test_the_caisse_may_send_documents_even_to_a_structure_not_allowed_to_receive_them(ctx):
    """A thread concerns no assuré: the rule on documents for an assuré (sent to the
    assuré's address) does not apply; CCAS de Démo may not receive documents from CPAM."""
    convention = Convention.get((Convention.partner == ccas()) & (Convention.caisse == cpam()))
    assert not convention.may_receive_documents
    thread = start(files=[pdf()])
    assert ThreadAttachment.select().where(ThreadAttachment.thread == thread).count() == 1


def test_files_are_checked_like_any_attachment(ctx):
    bad = FileStorage(io.BytesIO(b"MZ\x90\x00 not a document"), filename="virus.exe")
    with pytest.raises(RuleError) as refused:
        start(files=[bad])
    assert refused.value.field == "pieces_jointes"
    assert not Thread.select().where(Thread.subject == "Atelier prévention").exists()


# Unread markers


def test_unread_markers_follow_each_account(ctx):
    tech, gest, agent = (
        account(u) for u in ("technicien.demo", "gestionnaire.demo", "caisse.demo")
    )
    before = {a.username: threads.unread_count(a) for a in (tech, gest, agent)}
    thread = start()
    assert threads.is_unread(tech, thread) and threads.is_unread(gest, thread)
    assert not threads.is_unread(agent, thread)  # one's own message is no news
    threads.mark_read(tech, Thread.get_by_id(thread.id))
    assert not threads.is_unread(tech, thread) and threads.is_unread(gest, thread)
    threads.reply(gest, Thread.get_by_id(thread.id), "Bien reçu.", [])
    assert threads.is_unread(agent, thread)
    assert not threads.is_unread(tech, thread)  # a colleague's message is no news
    assert not threads.is_unread(gest, thread)
    assert threads.unread_count(agent) == before["caisse.demo"] + 1
    assert threads.unread_count(tech) == before["technicien.demo"]


def test_unread_counts_stay_within_scope(ctx):
    start(audience="gestionnaires")
    assert threads.unread_count(account("technicien.demo")) == 0
    assert threads.unread_count(account("gestionnaire.demo")) >= 1
    assert threads.unread_count(account("gestionnaire.voisin")) == 0


# The end of the convention: personal data destroyed (§5)


def test_the_threads_go_with_the_end_of_the_convention(ctx):
    from pathlib import Path

    from ep import attachments, housekeeping

    thread = start(files=[pdf()])
    start(voisin())
    stored = attachments.path_of(ThreadAttachment.get(ThreadAttachment.thread == thread))
    assert Path(stored).exists()
    Convention.update(ends_on=date.today()).where(
        (Convention.partner == ccas()) & (Convention.caisse == cpam())
    ).execute()
    housekeeping.run(date.today())
    assert not Thread.select().where(Thread.partner == ccas()).exists()
    assert not Path(stored).exists()
    assert Thread.select().where(Thread.partner == voisin()).exists()


# Through the pages


def test_an_agent_writes_from_the_page_and_the_structure_reads_and_answers(client, login_as):
    login_as("caisse.demo")
    page = text_of(client.get(f"/threads/new?partner={ccas().id}"))
    assert f'<option value="{ccas().id}" selected>' in page
    assert "CCAS Voisin" in page  # its other structures
    response = client.post(
        "/threads/new",
        data={
            "partner": str(ccas().id),
            "audience": "all",
            "subject": "Nouvelle convention",
            "body": "Le projet de convention est joint.",
            "pieces_jointes": (io.BytesIO(DEMO_PDF), "projet.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    thread = Thread.get(Thread.subject == "Nouvelle convention")
    assert response.headers["Location"].endswith(f"/threads/{thread.id}")
    login_as("technicien.demo")
    listed = text_of(client.get("/threads/"))
    assert "Nouvelle convention" in row_of(listed, thread) and "Non lu" in row_of(listed, thread)
    page = text_of(client.get(f"/threads/{thread.id}"))
    assert "Le projet de convention est joint." in page and "projet.pdf" in page
    assert "Non lu" not in row_of(text_of(client.get("/threads/")), thread)
    doc = ThreadAttachment.get(ThreadAttachment.thread == thread)
    download = client.get(f"/threads/attachments/{doc.id}")
    assert download.status_code == 200 and download.data == DEMO_PDF
    assert "attachment" in download.headers["Content-Disposition"]
    download.close()
    response = client.post(
        f"/threads/{thread.id}/reply",
        data={"body": "Lu et approuvé.", "pieces_jointes": (io.BytesIO(DEMO_PDF), "signe.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    login_as("caisse.demo")
    assert "Non lu" in row_of(text_of(client.get("/threads/")), thread)
    page = text_of(client.get(f"/threads/{thread.id}"))
    assert "Lu et approuvé." in page and "signe.pdf" in page
    assert client.post(f"/threads/{thread.id}/close", data={"body": ""}).status_code == 303
    page = text_of(client.get(f"/threads/{thread.id}"))
    assert "Échange clos" in page and 'id="body"' not in page


def test_other_users_get_a_404(client, login_as, app):
    with app.test_request_context():
        thread = start(files=[pdf()])
        doc = ThreadAttachment.get(ThreadAttachment.thread == thread)
    for user in ("carsat.demo", "gestionnaire.voisin", "technicien.voisin"):
        login_as(user)
        assert client.get(f"/threads/{thread.id}").status_code == 404
        assert client.get(f"/threads/attachments/{doc.id}").status_code == 404
        assert client.post(f"/threads/{thread.id}/reply", data={"body": "x"}).status_code == 404
        assert "Atelier prévention" not in text_of(client.get("/threads/"))


def test_a_refused_reply_comes_back_with_its_text_and_its_files(client, login_as, app):
    with app.test_request_context():
        thread = start()
    login_as("technicien.demo")
    response = client.post(
        f"/threads/{thread.id}/reply",
        data={"body": f"Son NIR est {NIR}", "pieces_jointes": (io.BytesIO(DEMO_PDF), "a.pdf")},
        content_type="multipart/form-data",
    )
    page = text_of(response)
    assert response.status_code == 200 and 'id="error-summary"' in page
    assert "a.pdf" in page  # kept for the next submission
    held = re.search(r'name="held" value="([A-Za-z0-9_-]+)"', page).group(1)
    response = client.post(f"/threads/{thread.id}/reply", data={"body": "Corrigé.", "held": held})
    assert response.status_code == 303
    [doc] = list(ThreadAttachment.select().where(ThreadAttachment.thread == thread))
    assert doc.filename == "a.pdf" and doc.message.body == "Corrigé."


def test_health_words_come_back_to_confirm(client, login_as, app):
    with app.test_request_context():
        thread = start()
    login_as("technicien.demo")
    data = {"body": "Une personne a un cancer."}
    page = text_of(client.post(f"/threads/{thread.id}/reply", data=data))
    assert 'name="confirm_health"' in page and "données de santé" in page
    data["confirm_health"] = "y"
    assert client.post(f"/threads/{thread.id}/reply", data=data).status_code == 303


def test_the_new_thread_form_shows_its_errors_by_the_fields(client, login_as):
    login_as("caisse.demo")
    response = client.post("/threads/new", data={"partner": "", "subject": "", "body": ""})
    page = text_of(response)
    assert response.status_code == 200 and 'id="error-summary"' in page
    for field in ("partner", "subject", "body"):
        assert f'id="{field}-error"' in page, field


def test_an_agent_cannot_write_to_another_caisse_s_structure(client, login_as):
    login_as("carsat.demo")
    page = text_of(client.get("/threads/new"))
    assert "CCAS Voisin" not in page
    data = {"partner": str(voisin().id), "audience": "all", "subject": "S", "body": "B"}
    response = client.post("/threads/new", data=data)
    assert response.status_code == 200 and 'id="partner-error"' in text_of(response)
    assert not Thread.select().where(Thread.partner == voisin()).exists()


def row_of(page, thread):
    """The table row of a thread in a list page."""
    found = re.search(rf'<tr>(?:(?!</tr>).)*href="/threads/{thread.id}".*?</tr>', page, re.S)
    assert found, f"no row for thread {thread.id}"
    return found.group(0)


def demande_row(page, demande):
    found = re.search(rf'<tr>(?:(?!</tr>).)*href="/demandes/{demande.id}".*?</tr>', page, re.S)
    return found.group(0) if found else None


def contact_demande(app, caisse=None, who="technicien.demo"):
    with app.test_request_context():
        return demandes.submit(
            account(who),
            {
                "caisse": (caisse or cpam()).id,
                "offer": "contact",
                "motif": "convention",
                "commentaire": "Question sur la convention.",
            },
            [],
        )


def at(minutes_ago):
    return now() - timedelta(minutes=minutes_ago)


def test_the_technicien_finds_threads_and_contact_requests_in_one_place(client, login_as, app):
    old = contact_demande(app)
    with app.test_request_context():
        thread = start()
    carsat = Caisse.get(Caisse.name == "CARSAT de Démo")
    recent = contact_demande(app, carsat)
    Demande.update(updated_at=at(120)).where(Demande.id == old.id).execute()
    Thread.update(last_activity_at=at(60)).where(Thread.id == thread.id).execute()
    Demande.update(updated_at=at(30)).where(Demande.id == recent.id).execute()
    other = Demande.get(Demande.assure_nom == "Fictive")  # not a contact request
    login_as("technicien.demo")
    page = text_of(client.get("/threads/"))
    assert "<h1>Échanges avec les caisses</h1>" in page
    assert demande_row(page, old) and row_of(page, thread) and demande_row(page, recent)
    assert not demande_row(page, other)
    # newest activity first
    assert page.index(f"/demandes/{recent.id}") < page.index(f"/threads/{thread.id}")
    assert page.index(f"/threads/{thread.id}") < page.index(f"/demandes/{old.id}")
    # by caisse
    page = text_of(client.get(f"/threads/?caisse={carsat.id}"))
    assert demande_row(page, recent) and f"/threads/{thread.id}" not in page
    assert not demande_row(page, old)
    # unread only: the caisse wrote in the thread, nothing happened on the requests
    page = text_of(client.get("/threads/?activity=unread"))
    assert row_of(page, thread) and not demande_row(page, old)
    with app.test_request_context():
        demandes.reply(account("caisse.demo"), old, "Voici la réponse.", [])
    Demande.update(updated_at=at(120)).where(Demande.id == old.id).execute()
    page = text_of(client.get("/threads/?activity=unread"))
    assert demande_row(page, old) and "Non lu" in demande_row(page, old)
    # a new message puts a thread back on top
    with app.test_request_context():
        threads.reply(account("caisse.demo"), Thread.get_by_id(thread.id), "Rappel.", [])
    page = text_of(client.get("/threads/"))
    assert page.index(f"/threads/{thread.id}") < page.index(f"/demandes/{recent.id}")


def test_the_gestionnaire_sees_the_threads_but_no_request(client, login_as, app):
    contact_demande(app)
    with app.test_request_context():
        thread = start(audience="gestionnaires")
    login_as("gestionnaire.demo")
    page = text_of(client.get("/threads/"))
    assert row_of(page, thread) and "/demandes/" not in page
    login_as("technicien.demo")
    assert f"/threads/{thread.id}" not in text_of(client.get("/threads/"))
    assert client.get(f"/threads/{thread.id}").status_code == 404


def test_the_caisse_sees_its_threads_and_per_structure_the_contact_requests(client, login_as, app):
    mine = contact_demande(app)
    theirs = contact_demande(app, Caisse.get(Caisse.name == "CARSAT de Démo"))
    voisin_request = contact_demande(app, who="technicien.voisin")
    with app.test_request_context():
        ours = start()
        elsewhere = start(voisin())
        carsat_thread = start(agent="carsat.demo", subject="Retraite")
    login_as("caisse.demo")
    page = text_of(client.get("/threads/"))
    assert "<h1>Échanges avec les structures</h1>" in page
    assert row_of(page, ours) and row_of(page, elsewhere)
    assert f"/threads/{carsat_thread.id}" not in page and not demande_row(page, mine)
    page = text_of(client.get(f"/threads/?partner={ccas().id}"))
    assert row_of(page, ours) and f"/threads/{elsewhere.id}" not in page
    assert demande_row(page, mine) and not demande_row(page, theirs)
    assert not demande_row(page, voisin_request)
    assert f'href="/threads/new?partner={ccas().id}"' in page
    # the structure's page shows them and leads there
    page = text_of(client.get(f"/partners/{ccas().id}"))
    assert f'href="/threads/{ours.id}"' in page and f'href="/demandes/{mine.id}"' in page
    assert f'href="/threads/?partner={ccas().id}"' in page
    assert f'href="/threads/new?partner={ccas().id}"' in page


def test_the_list_is_paged(client, login_as, app):
    with app.test_request_context():
        made = [start(subject=f"Objet {i}") for i in range(Thread.PER_PAGE + 2)]
    login_as("gestionnaire.demo")
    first = text_of(client.get("/threads/"))
    assert f"/threads/{made[-1].id}" in first and f'/threads/{made[0].id}"' not in first
    assert "Page 1 sur 2" in first
    second = text_of(client.get("/threads/?page=2"))
    assert f'/threads/{made[0].id}"' in second


def test_the_list_answers_htmx_with_its_fragment(client, login_as, app):
    with app.test_request_context():
        thread = start()
    login_as("technicien.demo")
    full = text_of(client.get("/threads/"))
    assert "<html" in full and 'id="exchange_list"' in full
    partial = client.get("/threads/?activity=unread", headers={"HX-Request": "true"})
    text = text_of(partial)
    assert "<html" not in text and 'id="exchange_list"' in text and row_of(text, thread)
    assert partial.headers["HX-Push-Url"] == "/threads/?activity=unread"


def unread_on_home(client):
    home = text_of(client.get("/"))
    assert 'href="/threads/?activity=unread"' in home
    return int(re.search(r"(\d+) échanges? non lus?", home).group(1))


def test_homes_count_the_unread_threads(client, login_as, app):
    before = {}
    for user in ("technicien.demo", "gestionnaire.demo", "caisse.demo"):
        login_as(user)
        before[user] = unread_on_home(client)
    with app.test_request_context():
        thread = start()
    for user in ("technicien.demo", "gestionnaire.demo"):
        login_as(user)
        assert unread_on_home(client) == before[user] + 1, user
    client.get(f"/threads/{thread.id}")
    assert unread_on_home(client) == before["gestionnaire.demo"]
    with app.test_request_context():
        threads.reply(account("technicien.demo"), Thread.get_by_id(thread.id), "Merci.", [])
    login_as("caisse.demo")
    assert unread_on_home(client) == before["caisse.demo"] + 1


def test_reading_a_thread_writes_only_when_there_is_news(client, login_as, app, writes):
    with app.test_request_context():
        thread = start()
    login_as("technicien.demo")
    client.get(f"/threads/{thread.id}")
    writes.clear()
    client.get(f"/threads/{thread.id}")
    assert writes == []


# E-mails: through the notification layer, no subject nor text, a link


def test_the_structure_is_told_by_e_mail_without_the_text(client, login_as, app, outbox):
    login_as("caisse.demo")
    data = {"partner": str(ccas().id), "audience": "all", "subject": "Dossier Martin"}
    data["body"] = "Concernant M. Martin."
    assert client.post("/threads/new", data=data).status_code == 303
    thread = Thread.get(Thread.subject == "Dossier Martin")
    mails = outbox()
    assert sorted(m["To"] for m in mails) == [
        "gestionnaire.demo@example.org",
        "technicien.demo@example.org",
    ]
    for mail in mails:
        body = mail.get_body(("plain",)).get_content()
        assert f"http://ep.test/threads/{thread.id}" in body and "CPAM de Démo" in body
        assert "Martin" not in body and "Martin" not in mail["Subject"]
    login_as("technicien.demo")
    client.post(f"/threads/{thread.id}/reply", data={"body": "Bien noté."})
    [mail] = outbox()[2:]
    assert mail["To"] == "caisse.demo@example.org" and "CCAS de Démo" in mail["Subject"]
    assert "Bien noté" not in mail.get_body(("plain",)).get_content()
    login_as("caisse.demo")  # the caisse answers: who took part is told, not everybody
    client.post(f"/threads/{thread.id}/reply", data={"body": "Merci."})
    [mail] = outbox()[3:]
    assert mail["To"] == "technicien.demo@example.org"


def test_the_gestionnaires_only_thread_mails_the_gestionnaires(ctx):
    Notice.delete().execute()
    start(audience="gestionnaires")
    assert [n.recipient for n in Notice.select()] == ["gestionnaire.demo@example.org"]


def test_e_mails_can_be_turned_off(ctx):
    from ep.models import Account

    Notice.delete().execute()
    Account.update(notify_by_email=False).where(Account.username == "technicien.demo").execute()
    start()
    assert [n.recipient for n in Notice.select()] == ["gestionnaire.demo@example.org"]


def test_the_e_mail_leaves_through_a_real_smtp_server(tmp_path):
    from aiosmtpd.controller import Controller

    from ep import demo, notices

    from .conftest import PASSWORD, free_port, make_app
    from .test_mail import Inbox

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        app = make_app(tmp_path, EP_MAIL_URL=f"smtp://127.0.0.1:{controller.port}")
        with app.app_context():
            demo.load(PASSWORD)
            notices.flush()
            inbox.messages.clear()
            thread = threads.start(
                account("caisse.demo"), ccas(), "Réunion", "Réunion le 3.", audience="gestionnaires"
            )
            assert inbox.messages == []  # nothing leaves before the sender runs
            notices.flush()
    finally:
        controller.stop()
    [(recipients, content)] = inbox.messages
    assert recipients == ["gestionnaire.demo@example.org"]
    assert f"http://ep.test/threads/{thread.id}" in content
    assert "Réunion" not in content


def test_the_demo_has_a_thread_with_a_reply(ctx):
    thread = Thread.get(Thread.partner == ccas())
    assert thread.caisse_id == cpam().id
    authors = {m.author.profile for m in thread.messages}
    assert authors == {"caisse", "technicien"} or authors == {"caisse", "gestionnaire"}


def test_the_rules_refuse_whoever_is_out_of_scope_even_called_directly(ctx):
    thread = start()
    for who in ("carsat.demo", "technicien.voisin", "gestionnaire.voisin"):
        with pytest.raises(RuleError):
            threads.reply(account(who), thread, "Un mot.", [])
    for who in ("carsat.demo", "gestionnaire.demo", "technicien.demo"):
        with pytest.raises(RuleError):
            threads.close(account(who), thread)
    assert not Thread.get_by_id(thread.id).is_closed
    assert thread.messages.count() == 1


def test_an_ended_convention_with_no_exchange_left_costs_no_write(ctx):
    """An ended convention is looked at every night: with no exchange left, the exchanges
    add no write transaction to the requests' one (which finds nothing left either)."""
    from ep import db, housekeeping

    convention = Convention.get((Convention.partner == voisin()) & (Convention.caisse == cpam()))
    start(voisin())
    Convention.update(ends_on=date.today()).where(Convention.id == convention.id).execute()
    housekeeping.purge_convention(convention, date.today())
    assert not threads.of_convention(convention).exists()
    with db.timed_writes() as holds:
        housekeeping.purge_convention(convention, date.today())
    assert holds.count == 1


def test_the_unread_list_counts_what_it_shows(client, login_as, app):
    """The unread count of a list is news less what was read since: it must agree with the
    rows the filter shows."""
    with app.test_request_context():
        made = [start(subject=f"Compté {i}") for i in range(3)]
        for thread in made[:2]:
            threads.reply(account("gestionnaire.demo"), thread, "Réponse.", [])
        threads.mark_read(account("caisse.demo"), Thread.get_by_id(made[0].id))
    for user, url in (
        ("caisse.demo", "/threads/?activity=unread"),
        ("caisse.demo", f"/threads/?activity=unread&partner={ccas().id}"),
        ("technicien.demo", "/threads/?activity=unread"),
        ("gestionnaire.demo", "/threads/?activity=unread"),
    ):
        login_as(user)
        page = text_of(client.get(url))
        shown = len(re.findall(r'<tr>\s*<td data-label="Objet">', page))
        said = int(re.search(r'<p role="status">(\d+) échange', page).group(1))
        assert said == shown, (user, url, said, shown)
    login_as("caisse.demo")
    page = text_of(client.get("/threads/?activity=unread"))
    assert f"/threads/{made[1].id}" in page and f"/threads/{made[0].id}" not in page
