"""Habilitation reviews (DOMAIN.md "Habilitation reviews", seeds §4.2)."""

from datetime import date, timedelta

import pytest

from ep import accounts, reviews
from ep.db import write
from ep.models import Account, AuditEvent, Convention, Partner, Review, ReviewDecision
from ep.rules import RuleError

from .conftest import account

VOISIN = "CCAS Voisin"


def voisin():
    return Partner.get(Partner.name == VOISIN)


def second_gestionnaire(app):
    with app.test_request_context():
        created = accounts.create_partner_account(
            account("caisse.demo"),
            voisin(),
            "gestionnaire",
            {
                "civilite": "Mme",
                "nom": "Second",
                "prenom": "Sophie",
                "fonction": "Adjointe",
                "telephone": "0102030405",
                "email": "second@example.org",
            },
        )
    Account.update(state="active", password_hash="x").where(Account.id == created.id).execute()
    with app.test_request_context():
        accounts.accept_cgu(Account.get_by_id(created.id), app.config["EP_CGU_VERSION"])
    return Account.get_by_id(created.id)


def test_caisse_asks_for_a_review_and_gestionnaires_are_told(ctx, outbox):
    due = date.today() + timedelta(days=30)
    review = reviews.request_review(account("caisse.demo"), voisin(), due)
    assert (review.status, review.due_on, review.caisse.name) == ("requested", due, "CPAM de Démo")
    [message] = outbox()
    assert message["To"] == "gestionnaire.voisin@example.org" and due.strftime("%d/%m/%Y") in (
        message.get_body(("plain",)).get_content()
    )
    with pytest.raises(RuleError, match="déjà ouverte"):
        reviews.request_review(account("caisse.demo"), voisin(), due)


def test_review_rows_show_facts_and_suggest_idle_accounts(ctx):
    review = reviews.start(account("gestionnaire.voisin"))
    rows = {r["account"].username: r for r in reviews.rows(review)}
    assert set(rows) == {"gestionnaire.voisin", "technicien.voisin"}
    tech = rows["technicien.voisin"]
    assert tech["requests"] == 2  # the demo requests of CCAS Voisin
    assert tech["suggest_inactivation"] is False  # created today
    Account.update(created_at=date.today() - timedelta(days=40)).where(
        Account.username == "technicien.voisin"
    ).execute()
    rows = {r["account"].username: r for r in reviews.rows(review)}
    assert rows["technicien.voisin"]["suggest_inactivation"] is True


def test_nobody_decides_on_their_own_account(ctx):
    gest = account("gestionnaire.voisin")
    review = reviews.start(gest)
    with pytest.raises(RuleError, match="propre compte"):
        reviews.decide(gest, review, gest, "keep")
    # The caisse may decide for the lone gestionnaire.
    reviews.decide(account("caisse.demo"), review, gest, "keep")


def test_kept_techniciens_need_the_attestations_again_and_inactivation_a_reason(ctx):
    gest = account("gestionnaire.voisin")
    review = reviews.start(gest)
    tech = account("technicien.voisin")
    with pytest.raises(RuleError, match="attestations"):
        reviews.decide(gest, review, tech, "keep")
    with pytest.raises(RuleError, match="motif"):
        reviews.decide(gest, review, tech, "deactivate", "")
    decision = reviews.decide(gest, review, tech, "keep", attestations=True)
    assert decision.attestations_confirmed


def test_completion_needs_every_decision_then_applies_and_freezes(ctx):
    gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
    review = reviews.start(gest)
    tech = account("technicien.voisin")
    reviews.decide(gest, review, tech, "deactivate", "A quitté le CCAS")
    assert reviews.progress(review) == (1, 2)
    with pytest.raises(RuleError, match="1 compte"):
        reviews.complete(gest, review)
    assert account("technicien.voisin").state == "active"  # nothing applied yet
    reviews.decide(caisse, review, gest, "keep")
    reviews.complete(gest, review)
    done = Review.get_by_id(review.id)
    assert done.status == "completed" and done.completed_by.username == "gestionnaire.voisin"
    assert account("technicien.voisin").state == "inactive"
    assert (
        "Revue des habilitations – A quitté le CCAS"
        == account("technicien.voisin").inactivation_reason
    )
    assert AuditEvent.select().where(AuditEvent.action == "review_deactivated").count() == 1
    with pytest.raises(RuleError, match="terminée"):
        reviews.decide(caisse, done, gest, "deactivate", "x")
    assert ReviewDecision.select().where(ReviewDecision.review == done).count() == 2


def test_completion_respects_the_last_gestionnaire_rule_atomically(ctx):
    gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
    review = reviews.start(gest)
    reviews.decide(gest, review, account("technicien.voisin"), "deactivate", "Départ")
    reviews.decide(caisse, review, gest, "deactivate", "Départ")
    with pytest.raises(RuleError, match="dernier gestionnaire"):
        reviews.complete(gest, review)
    assert account("technicien.voisin").state == "active"  # all or nothing
    assert Review.get_by_id(review.id).status == "in_progress"


def test_gestionnaire_may_start_a_review_on_their_own(client, login_as):
    login_as("gestionnaire.voisin")
    response = client.post("/reviews/start")
    assert response.status_code == 303
    review = Review.get(Review.partner == voisin())
    assert review.caisse is None and review.status == "in_progress"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "0 / 2" in page and "Tania Voisin-Exemple" in page


def test_decision_updates_row_and_progress_in_place(client, login_as):
    gest = login_as("gestionnaire.voisin")
    client.post("/reviews/start")
    review = Review.get(Review.partner == voisin())
    tech = account("technicien.voisin")
    response = client.post(
        f"/reviews/{review.id}/accounts/{tech.id}",
        data={
            "decision": "keep",
            "attest_employment": "y",
            "attest_equipment": "y",
            "attest_email": "y",
        },
        headers={"HX-Request": "true"},
    )
    page = response.get_data(as_text=True)
    assert "<html" not in page and f'id="compte-{tech.id}"' in page
    assert 'id="review-progress"' in page and 'hx-swap-oob="true"' in page and "1 / 2" in page
    refused = client.post(
        f"/reviews/{review.id}/accounts/{gest.id}",
        data={"decision": "keep"},
        headers={"HX-Request": "true"},
    )
    assert "propre compte" in refused.get_data(as_text=True)
    # Without JavaScript: a redirect back to the review, at the account.
    plain = client.post(
        f"/reviews/{review.id}/accounts/{tech.id}",
        data={"decision": "deactivate", "reason": "Départ"},
    )
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"#compte-{tech.id}")


def test_a_decision_on_an_account_outside_the_review_is_refused_in_place(client, login_as, app):
    login_as("gestionnaire.voisin")
    client.post("/reviews/start")
    review = Review.get(Review.partner == voisin())
    tech = account("technicien.voisin")
    Account.update(state="inactive").where(Account.id == tech.id).execute()  # left meanwhile
    url = f"/reviews/{review.id}/accounts/{tech.id}"
    response = client.post(url, data={"decision": "keep"}, headers={"HX-Request": "true"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page
    assert f'id="compte-{tech.id}"' in page and "ne fait pas partie de la revue" in page
    assert 'id="review-progress"' in page and "0 / 1" in page and "<form" not in page
    plain = client.post(url, data={"decision": "keep"})
    assert plain.status_code == 200 and "ne fait pas partie de la revue" in plain.get_data(
        as_text=True
    )
    # The caisse sees two partners: an account of the other one is not in this review either.
    login_as("caisse.demo")
    other = account("technicien.demo")
    url = f"/reviews/{review.id}/accounts/{other.id}"
    response = client.post(url, data={"decision": "keep"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "ne fait pas partie de la revue" in response.get_data(
        as_text=True
    )
    assert not ReviewDecision.select().exists()


def test_completed_review_is_readable_by_partner_and_caisse_and_exportable(client, login_as, app):
    with app.test_request_context():
        gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
        review = reviews.start(gest)
        reviews.decide(gest, review, account("technicien.voisin"), "keep", attestations=True)
        reviews.decide(caisse, review, gest, "keep")
        reviews.complete(gest, review)
    for user in ("gestionnaire.voisin", "caisse.demo"):
        login_as(user)
        page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
        assert "Terminée" in page and "Enregistrer la décision" not in page
        csv = client.get(f"/reviews/{review.id}/export.csv").get_data()
        assert csv.startswith(b"\xef\xbb\xbfpartenaire;revue_demandee_le;")
        assert b"technicien.voisin" in csv and b"conserver" in csv
    login_as("carsat.demo")
    assert client.get(f"/reviews/{review.id}").status_code == 404
    login_as("gestionnaire.demo")
    assert client.get(f"/reviews/{review.id}").status_code == 404


def test_xlsx_record_opens_with_openpyxl(client, login_as, app):
    import io

    from openpyxl import load_workbook

    with app.test_request_context():
        gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
        review = reviews.start(gest)
        reviews.decide(gest, review, account("technicien.voisin"), "deactivate", "=HYPERLINK(1)")
        reviews.decide(caisse, review, gest, "keep")
        reviews.complete(gest, review)
    login_as("caisse.demo")
    response = client.get(f"/reviews/{review.id}/export.xlsx")
    data = response.get_data()
    response.close()
    sheet = load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "partenaire" and len(rows) == 3
    assert "=HYPERLINK(1)" in [c for row in rows for c in row]  # text: no quote, no formula


def test_overdue_review_shows_on_both_sides(client, login_as, app):
    with app.test_request_context():
        review = reviews.request_review(
            account("caisse.demo"), voisin(), date.today() + timedelta(days=3)
        )
    Review.update(due_on=date.today() - timedelta(days=1)).where(Review.id == review.id).execute()
    login_as("caisse.demo")
    assert "En retard" in client.get("/").get_data(as_text=True)
    login_as("gestionnaire.voisin")
    assert "En retard" in client.get("/").get_data(as_text=True)


def test_periodic_review_opens_by_itself_and_reminds(ctx, outbox):
    convention = Convention.get(Convention.partner == voisin())
    reviews.set_periodicity(account("caisse.demo"), convention, 6)
    start = Convention.get_by_id(convention.id).starts_on
    due = reviews._add_months(start, 6)
    assert reviews.run_dated(due - timedelta(days=31)) == (0, 0)
    opened, _ = reviews.run_dated(due - timedelta(days=30))
    assert opened == 1
    review = reviews.open_review(voisin())
    assert review.due_on == due and review.caisse.name == "CPAM de Démo"
    assert reviews.run_dated(due - timedelta(days=8)) == (0, 0)
    assert reviews.run_dated(due - timedelta(days=7)) == (0, 1)
    assert reviews.run_dated(due - timedelta(days=6)) == (0, 0)  # reminded once
    assert reviews.run_dated(due + timedelta(days=1)) == (0, 1)  # overdue: told once
    assert reviews.run_dated(due + timedelta(days=2)) == (0, 0)
    subjects = [m["Subject"] for m in outbox()]
    assert subjects == [
        "Revue des habilitations à faire",
        "Rappel : revue des habilitations",
        "Revue des habilitations en retard",
    ]


def test_habilitation_request_tracked_against_the_deadline(client, login_as, app):
    login_as("caisse.demo")
    partner = voisin()
    response = client.post(
        f"/partners/{partner.id}/habilitation-requests",
        data={"person": "Mme Nouvelle, directrice", "received_on": "2026-11-06"},
    )
    assert response.status_code == 303
    from ep.models import HabilitationRequest

    request = HabilitationRequest.get()
    assert request.due_on == date(2026, 11, 16)  # 5 working days, 11 November is a holiday
    page = client.get("/").get_data(as_text=True)
    assert "hors délai" in page or request.due_on >= date.today()
    data = {
        "civilite": "Mme",
        "nom": "Nouvelle",
        "prenom": "Nina",
        "fonction": "Directrice",
        "telephone": "0102030405",
        "email": "nina@example.org",
        "requested_on": "2026-11-06",
    }
    response = client.post(
        f"/partners/{partner.id}/gestionnaires/new?request={request.id}", data=data
    )
    assert response.status_code == 303
    done = HabilitationRequest.get_by_id(request.id)
    assert done.done_at and done.account.prenom == "Nina"
    assert "Aucune demande en attente" in client.get(f"/partners/{partner.id}").get_data(
        as_text=True
    )


def test_bad_review_request_comes_back_with_the_message_by_the_field(client, login_as):
    login_as("caisse.demo")
    partner = voisin()
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    response = client.post(f"/reviews/ask/{partner.id}", data={"due_on": yesterday})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="due_on-error"' in page
    assert "échéance à venir" in page and not Review.select().exists()
    convention = Convention.get(Convention.partner == partner)
    page = client.post(f"/reviews/periodicity/{convention.id}", data={"months": "99"}).get_data(
        as_text=True
    )
    assert 'id="months-error"' in page and "Entre 1 et 36 mois" in page
    page = client.post(f"/partners/{partner.id}/cut-off", data={"reason": ""}).get_data(
        as_text=True
    )
    assert 'id="reason-error"' in page and Convention.get_by_id(convention.id).cut_off_at is None
    page = client.post(
        f"/partners/{partner.id}/habilitation-requests",
        data={"person": "X", "received_on": "2999-01-01"},
    ).get_data(as_text=True)
    assert 'id="received_on-error"' in page


def test_deleting_an_account_erases_the_name_in_its_habilitation_request(ctx):
    from ep.models import HabilitationRequest

    caisse = account("caisse.demo")
    request = accounts.record_habilitation_request(
        caisse, voisin(), "Mme Exemple, adjointe", date.today()
    )
    created = accounts.create_partner_account(
        caisse,
        voisin(),
        "gestionnaire",
        {
            "civilite": "Mme",
            "nom": "Exemple",
            "prenom": "Eva",
            "fonction": "Adjointe",
            "telephone": "0102030405",
            "email": "eva@example.org",
        },
        habilitation_request=request,
    )
    accounts.erase(Account.get_by_id(created.id), date.today())
    assert HabilitationRequest.get_by_id(request.id).person == ""


def test_caisse_dashboard_figures(client, login_as, app):
    with app.test_request_context():
        gest, caisse = account("gestionnaire.voisin"), account("caisse.demo")
        review = reviews.start(gest)
        reviews.decide(gest, review, account("technicien.voisin"), "keep", attestations=True)
        reviews.decide(caisse, review, gest, "keep")
        reviews.complete(gest, review)
    login_as("caisse.demo")
    page = client.get("/").get_data(as_text=True)
    row = page[page.index("CCAS Voisin") :]
    row = row[: row.index("</tr>")]
    assert "1 / 2 gestionnaires, 1 / 5 techniciens" in row
    assert date.today().strftime("%d/%m/%Y") in row  # last completed review


def test_a_reminder_that_could_not_be_sent_is_tried_again(ctx, app):
    from .conftest import free_port

    review = reviews.request_review(
        account("caisse.demo"), voisin(), date.today() + timedelta(days=5)
    )
    app.config["EP_MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"
    from ep import notices
    from ep.models import Notice

    with write():
        assert reviews.run_dated(date.today()) == (0, 1)  # the reminder is queued once
    assert Review.get_by_id(review.id).reminded_at is not None
    reminder = Notice.select().order_by(Notice.id.desc()).get()
    notices.send_due()
    assert Notice.get_by_id(reminder.id).status == "pending"
    assert Notice.get_by_id(reminder.id).attempts == 1
    with write():
        assert reviews.run_dated(date.today()) == (0, 0)  # and not queued again
    app.config["EP_MAIL_URL"] = None
    later = reminder.created_at + timedelta(hours=2)
    notices.send_due(at=later)
    assert Notice.get_by_id(reminder.id).status == "sent"


def test_a_structure_with_one_gestionnaire_finishes_its_review_with_the_caisse(
    client, login_as, app, outbox
):
    """Issue 10.6: the only gestionnaire could not decide on their own account, had no way
    to ask, and the caisse's dashboard just said "En cours"."""
    gest = account("gestionnaire.voisin")
    login_as("gestionnaire.voisin")
    review = Review.get_by_id(reviews_start(app, gest).id)
    # "Conserver tous les techniciens restants", the attestations given once.
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert "Conserver tous les techniciens restants" in page
    response = client.post(
        f"/reviews/{review.id}/keep-techniciens",
        data={"attest_employment": "y", "attest_equipment": "y", "attest_email": "y"},
    )
    assert response.status_code == 303
    kept = ReviewDecision.get(ReviewDecision.account == account("technicien.voisin"))
    assert kept.decision == "keep" and kept.attestations_confirmed
    # Their own account waits for the caisse, and they can ask for it.
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert "décision de la caisse" in page
    outbox()
    assert client.post(f"/reviews/{review.id}/ask-caisse").status_code == 303
    assert [m["To"] for m in outbox()] == ["caisse.demo@example.org"]
    # The caisse sees that a decision is expected from it, and decides.
    login_as("caisse.demo")
    dashboard = client.get("/").get_data(as_text=True)
    assert "Décision attendue de votre part" in dashboard
    assert f"/reviews/{review.id}" in dashboard
    client.post(f"/reviews/{review.id}/accounts/{gest.id}", data={"decision": "keep"})
    assert "Décision attendue de votre part" not in client.get("/").get_data(as_text=True)
    login_as("gestionnaire.voisin")
    assert client.post(f"/reviews/{review.id}/complete").status_code == 303
    assert Review.get_by_id(review.id).status == "completed"


def test_keeping_the_remaining_techniciens_needs_the_attestations(ctx):
    review = reviews.start(account("gestionnaire.voisin"))
    with pytest.raises(RuleError, match="attestations"):
        reviews.keep_remaining_techniciens(account("gestionnaire.voisin"), review, False)
    assert not ReviewDecision.select().exists()


def reviews_start(app, gest):
    with app.test_request_context():
        return reviews.start(gest)
