"""Account lifecycle (DOMAIN.md "Accounts and their lifecycle", "Quotas")."""

import threading
from datetime import date, timedelta

import pytest

from ep import accounts, tokens
from ep.models import Account, AuditEvent, Partner, now
from ep.rules import RuleError

from .conftest import PASSWORD, account, link_in

TECH = {
    "civilite": "Mme",
    "nom": "Durand-Exemple",
    "prenom": "Hélène",
    "fonction": "Conseillère",
    "telephone": "01 23 45 67 89",
    "email": "helene.durand@ccas-demo.example.org",
    "attest_employment": "y",
    "attest_equipment": "y",
    "attest_email": "y",
}


def identity(**changes):
    data = {k: v for k, v in TECH.items() if not k.startswith("attest")}
    data.update(changes)
    return data


def test_gestionnaire_creates_a_technicien_who_gets_a_single_use_link(client, login_as, outbox):
    login_as("gestionnaire.demo")
    response = client.post("/accounts/new", data=TECH)
    assert response.status_code == 303
    created = Account.get(Account.email == TECH["email"])
    assert (created.state, created.profile, created.created_by.username) == (
        "invited",
        "technicien",
        "gestionnaire.demo",
    )
    assert created.attested_at is not None
    [message] = outbox()
    assert message["To"] == TECH["email"]
    assert f"Identifiant : {created.username}" in message.get_body(("plain",)).get_content()
    link = link_in(message)
    assert link.startswith("/set-password/")
    client.post("/logout")
    good = "Trois petits chats blancs"
    assert client.post(link, data={"password": good, "password_confirm": good}).status_code == 303
    assert client.get(link).status_code == 410


def test_attestations_are_required_and_nothing_is_saved_without_them(client, login_as, outbox):
    login_as("gestionnaire.demo")
    data = {k: v for k, v in TECH.items() if k != "attest_equipment"}
    page = client.post("/accounts/new", data=data).get_data(as_text=True)
    assert "Cette attestation est obligatoire." in page
    assert 'id="attest_equipment-error"' in page
    assert not Account.select().where(Account.email == TECH["email"]).exists()
    assert outbox() == []


def test_link_is_useless_once_the_account_is_inactivated(ctx):
    gest = account("gestionnaire.demo")
    created = accounts.create_partner_account(gest, gest.partner, "technicien", identity())
    token = tokens.make(created, "set-password")
    assert tokens.load(token, "set-password", 72) is not None
    accounts.deactivate(gest, created, "Départ de la structure")
    assert tokens.load(token, "set-password", 72) is None


def test_link_expires(ctx, monkeypatch):
    import time

    from itsdangerous import timed

    gest = account("gestionnaire.demo")
    created = accounts.create_partner_account(gest, gest.partner, "technicien", identity())
    monkeypatch.setattr(
        timed.TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 73 * 3600
    )
    token = tokens.make(created, "set-password")
    monkeypatch.undo()
    assert tokens.load(token, "set-password", 72) is None
    assert tokens.load(token, "set-password", 74) is not None


def test_gestionnaire_can_send_a_fresh_link(client, login_as, outbox):
    gest = login_as("gestionnaire.demo")
    client.post("/accounts/new", data=TECH)
    created = Account.get(Account.email == TECH["email"])
    response = client.post(f"/accounts/{created.id}/invitation")
    assert response.status_code == 303
    assert len(outbox()) == 2
    assert (
        AuditEvent.select()
        .where((AuditEvent.action == "invitation_sent") & (AuditEvent.actor == gest))
        .count()
        == 2
    )


@pytest.mark.parametrize(
    "password, problem",
    [
        ("court", "au moins 12"),
        ("x" * 257, "dépasser 256"),
        ("azertyuiop123", "trop courant"),
        ("motdepasse2026!", "trop courant"),
        ("Helene-Durand-99", "ni votre nom"),
        ("j'adore le CCAS de Démo", "ni votre nom"),
    ],
)
def test_password_policy_refuses(ctx, password, problem):
    gest = account("gestionnaire.demo")
    created = accounts.create_partner_account(gest, gest.partner, "technicien", identity())
    with pytest.raises(RuleError, match=problem):
        accounts.set_password(created, password, password)


@pytest.mark.parametrize(
    "password", ["Trois petits chats blancs", "x" * 256, "k7#Qp9!vLm2@zR", "été à la mer 2026 !"]
)
def test_password_policy_accepts(ctx, password):
    gest = account("gestionnaire.demo")
    created = accounts.create_partner_account(gest, gest.partner, "technicien", identity())
    accounts.set_password(created, password, password)
    assert Account.get_by_id(created.id).state == "active"


def test_password_fields_allow_paste(client, login_as):
    login_as("technicien.demo")
    page = client.get("/password").get_data(as_text=True)
    assert "onpaste" not in page and "paste" not in page.lower().replace("coller", "")


def test_password_rules_are_checked_as_the_user_types(client):
    response = client.post(
        "/password-check", data={"password": "azerty"}, headers={"HX-Request": "true"}
    )
    page = response.get_data(as_text=True)
    assert "<html" not in page and 'id="password_feedback"' in page
    assert "au moins 12" in page
    ok = client.post("/password-check", data={"password": "Trois petits chats blancs"})
    assert "respecte les règles" in ok.get_data(as_text=True)


def test_technicien_quota_counts_invited_and_active(ctx):
    gest = account("gestionnaire.voisin")  # CCAS Voisin, effectif 5: 5 techniciens at most
    for i in range(4):
        accounts.create_technicien(
            gest, identity(nom=f"Exemple{i}", email=f"t{i}@example.org"), True
        )
    with pytest.raises(RuleError, match=r"au plus 5 techniciens.*\(5 aujourd'hui\)"):
        accounts.create_technicien(gest, identity(nom="Cinq", email="t5@example.org"), True)
    # Freeing a place by inactivating one makes room again; reactivating it is then refused.
    victim = Account.get(Account.nom == "Exemple0")
    accounts.deactivate(gest, victim, "Départ")
    accounts.create_technicien(gest, identity(nom="Cinq", email="t5@example.org"), True)
    with pytest.raises(RuleError, match="Quota atteint"):
        accounts.reactivate(gest, Account.get_by_id(victim.id))


def test_two_gestionnaires_cannot_both_take_the_last_place(app):
    """Real threads on the real SQLite file: exactly one creation wins."""
    with app.test_request_context(base_url="http://ep.test"):
        gest = account("gestionnaire.voisin")
        for i in range(3):
            accounts.create_technicien(gest, identity(nom=f"N{i}", email=f"n{i}@example.org"), True)
    barrier = threading.Barrier(2)
    results = []

    def attempt(n):
        with app.test_request_context(base_url="http://ep.test"):
            me = account("gestionnaire.voisin")
            barrier.wait()
            try:
                accounts.create_technicien(
                    me, identity(nom=f"Last{n}", email=f"l{n}@example.org"), True
                )
                results.append("ok")
            except RuleError:
                results.append("refused")
            finally:
                from ep.db import database

                database.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "refused"]
    partner = Partner.get(Partner.name == "CCAS Voisin")
    assert Account.counted_for_quota(partner, "technicien").count() == 5


def test_any_gestionnaire_of_the_partner_inactivates_a_technicien(client, login_as, app):
    # A second gestionnaire of CCAS de Démo, not the technicien's creator.
    with app.test_request_context(base_url="http://ep.test"):
        caisse = account("caisse.demo")
        other = accounts.create_partner_account(
            caisse,
            account("gestionnaire.demo").partner,
            "gestionnaire",
            identity(prenom="Second", email="second@example.org"),
        )
        Account.update(state="active", password_hash="x").where(Account.id == other.id).execute()
        accounts.accept_cgu(Account.get_by_id(other.id), app.config["EP_CGU_VERSION"])
    tech_client = app.test_client()
    tech_client.post("/login", data={"username": "technicien.demo", "password": PASSWORD})
    assert tech_client.get("/").status_code == 200

    login_as(other.username)
    tech = account("technicien.demo")
    response = client.post(
        f"/accounts/{tech.id}/deactivate", data={"reason": "depart", "detail": ""}
    )
    assert response.status_code == 303
    tech = account("technicien.demo")
    assert tech.state == "inactive" and tech.inactivation_reason == "Départ de la structure"
    assert tech_client.get("/").status_code == 302  # the session ended at its next request


def test_inline_deactivation_returns_the_updated_row(client, login_as):
    login_as("gestionnaire.demo")
    tech = account("technicien.demo")
    response = client.post(
        f"/accounts/{tech.id}/deactivate", data={"reason": "revue"}, headers={"HX-Request": "true"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in page
    assert f'id="account-{tech.id}"' in page and "Inactif" in page and "Réactiver" in page
    assert 'id="quota-stats" aria-label="Places occupées" hx-swap-oob="true"' in page
    assert "0 / 15" in page
    response = client.post(f"/accounts/{tech.id}/reactivate", headers={"HX-Request": "true"})
    assert "Actif" in response.get_data(as_text=True)
    assert account("technicien.demo").state == "active"


def test_deactivation_needs_a_reason_and_changes_nothing_without(ctx):
    with pytest.raises(RuleError, match="motif"):
        accounts.deactivate(account("gestionnaire.demo"), account("technicien.demo"), " ")
    assert account("technicien.demo").state == "active"


def test_gestionnaire_cannot_inactivate_a_gestionnaire(ctx):
    with pytest.raises(RuleError, match="Seule la caisse"):
        accounts.deactivate(account("gestionnaire.demo"), account("gestionnaire.demo"), "x")


def test_last_gestionnaire_cannot_be_scheduled_for_inactivation(ctx):
    with pytest.raises(RuleError, match="dernier gestionnaire actif"):
        accounts.schedule_inactivation(
            account("caisse.demo"),
            account("gestionnaire.voisin"),
            date.today() + timedelta(days=15),
            date.today(),
        )
    assert account("gestionnaire.voisin").scheduled_inactivation_on is None


def test_last_gestionnaire_is_not_inactivated_except_for_fraud(ctx, outbox):
    caisse, gest = account("caisse.demo"), account("gestionnaire.voisin")
    with pytest.raises(RuleError, match="dernier gestionnaire actif"):
        accounts.deactivate(caisse, gest, "Départ")
    accounts.deactivate(caisse, gest, "Identifiants volés", fraud=True)
    assert account("gestionnaire.voisin").state == "inactive"


def test_fraud_inactivation_notifies_the_partner_gestionnaires(ctx, outbox):
    accounts.deactivate(
        account("caisse.demo"), account("technicien.demo"), "Perte des identifiants", fraud=True
    )
    [message] = outbox()
    assert message["To"] == "gestionnaire.demo@example.org"
    assert "technicien.demo" in message.get_body(("plain",)).get_content()
    assert AuditEvent.get(AuditEvent.action == "fraud_deactivated").actor.username == "caisse.demo"


def test_a_fraud_inactivation_is_lifted_by_the_caisse_only_with_a_new_password(
    client, login_as, app, outbox
):
    """Issue 9.3: the gestionnaire's "Réactiver" brought the stolen password back."""
    tech = account("technicien.demo")
    with app.test_request_context():
        accounts.deactivate(account("caisse.demo"), tech, "Vol des identifiants", fraud=True)
    login_as("gestionnaire.demo")
    response = client.post(f"/accounts/{tech.id}/reactivate", follow_redirects=True)
    assert "seule la caisse" in response.get_data(as_text=True).lower()
    assert account("technicien.demo").state == "inactive"
    outbox()  # the fraud notice
    sent_before = len(outbox())
    login_as("caisse.demo")
    assert client.post(f"/accounts/{tech.id}/reactivate").status_code == 303
    lifted = account("technicien.demo")
    assert lifted.state == "invited" and lifted.password_hash is None
    anon = app.test_client()
    refused = anon.post("/login", data={"username": "technicien.demo", "password": PASSWORD})
    assert refused.status_code == 200  # the stolen password is dead
    new = outbox()[sent_before:]
    recipients = sorted(m["To"] for m in new)
    assert recipients == ["gestionnaire.demo@example.org", "technicien.demo@example.org"]
    assert any("/set-password/" in m.get_body(("plain",)).get_content() for m in new)


def test_caisse_modifies_a_gestionnaire_identity(client, login_as):
    login_as("caisse.demo")
    gest = account("gestionnaire.voisin")
    data = identity(nom="Nouveau-Nom", prenom="Gérard", email="g.nouveau@example.org")
    response = client.post(f"/accounts/{gest.id}/edit", data=data)
    assert response.status_code == 303
    changed = account("gestionnaire.voisin")
    assert changed.nom == "Nouveau-Nom" and changed.email == "g.nouveau@example.org"
    event = AuditEvent.get(AuditEvent.action == "identity_updated")
    assert "nom" in event.detail and "Nouveau" not in event.detail


def test_caisse_cuts_off_a_whole_partner(client, login_as, app, outbox):
    tech_client = app.test_client()
    tech_client.post("/login", data={"username": "technicien.voisin", "password": PASSWORD})
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    response = client.post(f"/partners/{voisin.id}/cut-off", data={"reason": "Fuite de données"})
    assert response.status_code == 303
    assert tech_client.get("/").status_code == 302
    refused = tech_client.post(
        "/login", data={"username": "technicien.voisin", "password": PASSWORD}
    )
    # its only convention is cut off
    assert "structure coupée par CPAM de Démo" in refused.get_data(as_text=True)
    assert [m["To"] for m in outbox()] == ["gestionnaire.voisin@example.org"]
    client.post(f"/partners/{voisin.id}/restore")
    ok = tech_client.post("/login", data={"username": "technicien.voisin", "password": PASSWORD})
    assert ok.status_code == 303


def test_search_ignores_case_and_accents(client, login_as, app):
    with app.test_request_context():
        accounts.create_technicien(account("gestionnaire.demo"), identity(), True)
    login_as("gestionnaire.demo")
    page = client.get("/accounts/?q=HELENE").get_data(as_text=True)
    assert "Hélène Durand-Exemple" in page and "Théo" not in page
    partial = client.get("/accounts/?q=theo", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="account_list"' in partial and "Théo" in partial
    filtered = client.get("/accounts/?state=invited").get_data(as_text=True)
    assert "Hélène" in filtered and "Théo" not in filtered
    gestionnaires = client.get("/accounts/?profile=gestionnaire").get_data(as_text=True)
    assert "Gaëlle Exemple" in gestionnaires and "Théo" not in gestionnaires
    assert "1 / 3" in page and "techniciens" in page
    assert " hx_" not in page and 'hx-trigger="input changed delay:300ms, search"' in page


def test_a_search_counts_ten_distinct_words_at_most(client, login_as):
    login_as("gestionnaire.demo")
    # One character that folds (NFKD) into four words: 400 words, too many for one query.
    assert client.get("/accounts/?q=" + "\ufdfa" * 100).status_code == 200
    page = client.get("/accounts/?q=" + "theo " * 18 + "exemple").get_data(as_text=True)
    assert "Théo Exemple" in page  # a repeated word counts once


def test_a_phone_number_longer_than_its_column_is_refused(client, login_as):
    login_as("gestionnaire.demo")
    long_phone = "01" + " ." * 40 + "02030405"  # valid digits, 90 characters
    page = client.post("/accounts/new", data={**TECH, "telephone": long_phone})
    assert page.status_code == 200 and 'id="telephone-error"' in page.get_data(as_text=True)
    assert not Account.select().where(Account.email == TECH["email"]).exists()


def test_the_search_key_fits_its_column_whatever_the_names_fold_into(ctx):
    created = accounts.create_technicien(
        account("gestionnaire.demo"), identity(prenom="\ufdfa" * 100), True
    )
    key = Account.get_by_id(created.id).search_key
    assert 0 < len(key) <= Account.search_key.max_length


def test_cgu_must_be_accepted_and_is_asked_again_for_a_new_version(client, login_as, app):
    user = login_as("technicien.demo")
    Account.update(cgu_version="ancienne").where(Account.id == user.id).execute()
    response = client.get("/")
    assert response.status_code == 303 and "/cgu" in response.headers["Location"]
    assert client.post("/cgu?next=/", data={}).status_code == 200  # not ticked
    response = client.post("/cgu?next=/", data={"accept": "y"})
    assert response.headers["Location"] == "/"
    again = account("technicien.demo")
    assert again.cgu_version == app.config["EP_CGU_VERSION"] and again.cgu_accepted_at
    assert client.get("/").status_code == 200


def test_old_password_must_be_changed(client, login_as):
    user = login_as("technicien.demo")
    Account.update(password_changed_at=now() - timedelta(days=400)).where(
        Account.id == user.id
    ).execute()
    response = client.get("/")
    assert response.status_code == 303 and response.headers["Location"] == "/password"
    new = "Une nouvelle phrase secrète"
    bad = client.post(
        "/password", data={"current_password": "faux", "password": new, "password_confirm": new}
    )
    assert "actuel est incorrect" in bad.get_data(as_text=True)
    ok = client.post(
        "/password", data={"current_password": PASSWORD, "password": new, "password_confirm": new}
    )
    assert ok.status_code == 303
    assert client.get("/").status_code == 200  # this session survives, others do not


@pytest.mark.parametrize("username", ["technicien.demo", "personne.inconnue"])
def test_forgot_password_answers_the_same_either_way(client, outbox, username):
    response = client.post("/forgot", data={"username": username}, follow_redirects=True)
    assert "Si cet identifiant correspond à un compte actif" in response.get_data(as_text=True)
    assert len(outbox()) == (1 if username == "technicien.demo" else 0)


def test_reset_link_sets_a_new_password_once(client, outbox):
    client.post("/forgot", data={"username": "technicien.demo"})
    link = link_in(outbox()[0])
    new = "Une toute nouvelle phrase"
    assert client.post(link, data={"password": new, "password_confirm": new}).status_code == 303
    assert client.get(link).status_code == 410
    assert (
        client.post("/login", data={"username": "technicien.demo", "password": new}).status_code
        == 303
    )


def test_audit_trail_is_scoped_and_exportable(client, login_as, app):
    with app.test_request_context():
        accounts.deactivate(account("gestionnaire.voisin"), account("technicien.voisin"), "Départ")
    login_as("gestionnaire.demo")
    page = client.get("/audit/").get_data(as_text=True)
    assert "Tania" not in page and "Compte créé" in page
    login_as("gestionnaire.voisin")
    page = client.get("/audit/").get_data(as_text=True)
    assert "Compte inactivé" in page and "Tania Voisin-Exemple" in page
    response = client.get("/audit/export.csv")
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbfdate;auteur;action;")
    assert "Compte inactivé".encode() in body
    login_as("carsat.demo")  # CARSAT has no convention with CCAS Voisin
    assert "Tania" not in client.get("/audit/").get_data(as_text=True)


def test_changing_the_password_ends_the_other_sessions(app):
    first, second = app.test_client(), app.test_client()
    for c in (first, second):
        c.post("/login", data={"username": "technicien.demo", "password": PASSWORD})
    new = "Une nouvelle phrase secrète"
    first.post(
        "/password", data={"current_password": PASSWORD, "password": new, "password_confirm": new}
    )
    assert first.get("/").status_code == 200
    assert second.get("/").status_code == 302


def test_a_deployment_may_restrict_email_domains(client, login_as, app):
    app.config["EP_ALLOWED_EMAIL_DOMAINS"] = "ccas-demo.example.org, ville.example.org"
    login_as("gestionnaire.demo")
    page = client.post("/accounts/new", data=dict(TECH, email="x@gmail.example.com"))
    assert "pas dans un domaine autorisé" in page.get_data(as_text=True)
    assert client.post("/accounts/new", data=TECH).status_code == 303


def test_caisse_agents_are_out_of_reach_of_every_view(client, login_as):
    agent = login_as("caisse.demo")
    other = account("carsat.demo")
    for target in (agent, other):
        assert client.post(f"/accounts/{target.id}/fraud", data={"reason": "x"}).status_code == 404
        assert client.post(f"/accounts/{target.id}/reactivate").status_code == 404
        assert client.get(f"/accounts/{target.id}").status_code == 404
    assert account("caisse.demo").state == "active"


def test_quota_message_says_how_to_free_a_place(ctx):
    gest = account("gestionnaire.voisin")
    for i in range(4):
        accounts.create_technicien(gest, identity(nom=f"Q{i}", email=f"q{i}@example.org"), True)
    with pytest.raises(RuleError) as exc:
        accounts.create_technicien(gest, identity(nom="Q5", email="q5@example.org"), True)
    assert "Pour libérer une place, inactivez un compte technicien" in exc.value.message
    assert "effectif" in exc.value.message


def test_techniciens_stay_active_when_their_creator_is_inactivated(ctx, app):
    caisse = account("caisse.demo")
    accounts.deactivate(caisse, account("gestionnaire.demo"), "Identifiants volés", fraud=True)
    assert account("technicien.demo").state == "active"
    assert account("technicien.demo").created_by.username == "gestionnaire.demo"


@pytest.mark.parametrize("n", [6])
def test_forgot_password_requests_are_throttled(client, outbox, n):
    for _ in range(n):
        response = client.post("/forgot", data={"username": "technicien.demo"})
        assert response.status_code == 303
    assert len(outbox()) == 5  # the sixth is silently dropped: same answer on screen


def test_audit_records_where_from_and_the_automatic_events(client, app):
    client.post(
        "/login",
        data={"username": "technicien.demo", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    event = (
        AuditEvent.select().where(AuditEvent.action == "login").order_by(AuditEvent.id.desc()).get()
    )
    assert event.ip == "10.1.2.3" and event.actor.username == "technicien.demo"
    from ep import housekeeping

    Account.update(created_at=now() - timedelta(days=100)).where(
        Account.username == "technicien.voisin"
    ).execute()
    with app.app_context():
        housekeeping.run(date.today())
    auto = AuditEvent.get(AuditEvent.action == "auto_deactivated")
    assert auto.actor is None and auto.ip == "traitement automatique"
    assert auto.account.username == "technicien.voisin"


def test_mail_failure_keeps_the_action_and_the_e_mail_waits(client, login_as, app):
    from ep.models import Notice

    from .conftest import free_port

    app.config["EP_MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nobody listens there
    login_as("gestionnaire.demo")
    response = client.post("/accounts/new", data=TECH, follow_redirects=True)
    assert response.status_code == 200
    assert Account.get(Account.email == TECH["email"]).state == "invited"
    notice = Notice.get(Notice.recipient == TECH["email"])
    assert notice.template == "invitation" and notice.status == "pending"


def test_review_decision_on_a_gestionnaire_becomes_a_scheduled_inactivation(ctx):
    from ep import reviews

    caisse = account("caisse.demo")
    ccas = account("gestionnaire.demo").partner
    second = accounts.create_partner_account(
        caisse, ccas, "gestionnaire", identity(prenom="Seconde", email="seconde@example.org")
    )
    Account.update(state="active").where(Account.id == second.id).execute()
    gest = account("gestionnaire.demo")
    review = reviews.start(gest)
    reviews.decide(gest, review, Account.get_by_id(second.id), "deactivate", "Départ")
    reviews.decide(gest, review, account("technicien.demo"), "keep", attestations=True)
    reviews.decide(caisse, review, gest, "keep")
    reviews.complete(gest, review)
    later = Account.get_by_id(second.id)
    assert later.state == "active"
    assert later.scheduled_inactivation_on == date.today() + timedelta(days=15)


def test_schedule_with_less_than_15_days_warns(client, login_as, app):
    with app.test_request_context():
        second = accounts.create_partner_account(
            account("caisse.demo"),
            account("gestionnaire.demo").partner,
            "gestionnaire",
            identity(prenom="Autre", email="autre@example.org"),
        )
    Account.update(state="active").where(Account.id == second.id).execute()
    login_as("caisse.demo")
    soon = (date.today() + timedelta(days=3)).isoformat()
    page = client.post(
        f"/accounts/{account('gestionnaire.demo').id}/schedule",
        data={"on_date": soon},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "moins de 15 jours de préavis" in page


def test_caisse_journal_keeps_out_another_caisse_s_events(client, login_as):
    from ep.models import Demande

    carsat_demande = (
        Demande.select()
        .join(Partner)
        .where(Partner.name == "CCAS de Démo")
        .where(Demande.caisse == account("carsat.demo").caisse_id)
        .get()
    )
    login_as("carsat.demo")
    client.get(f"/demandes/{carsat_demande.id}")
    login_as("caisse.demo")
    page = client.get("/audit/").get_data(as_text=True)
    assert "Karim Démo-Carsat" not in page  # the CARSAT agent's reads are not the CPAM's
    assert "Compte créé" in page  # account events of the shared partner are


def test_gestionnaire_home_shows_the_inactivations_of_the_last_30_days(client, login_as, app):
    """Issue 10.4: an inactivation (by anyone, or by the nightly rules) is seen at home."""
    with app.test_request_context():
        accounts.deactivate(account("caisse.demo"), account("technicien.demo"), "Vol", fraud=True)
        other = accounts.create_technicien(account("gestionnaire.demo"), identity(), True)
        accounts.deactivate(account("gestionnaire.demo"), other, "Départ de la structure")
    Account.update(inactivated_at=now() - timedelta(days=31)).where(
        Account.id == other.id
    ).execute()
    login_as("gestionnaire.demo")
    page = client.get("/").get_data(as_text=True)
    assert "Inactivations des 30 derniers jours" in page
    assert "Théo Exemple" in page and now().strftime("%d/%m/%Y") in page
    assert "Vol" in page and "CPAM de Démo" in page  # why, and by whom
    assert "Hélène" not in page  # 31 days ago
    assert f'href="/accounts/{account("technicien.demo").id}"' in page


# Issue 10.7: account details can be corrected, each by whoever manages the account.

CONTACT = {
    "fonction": "Conseiller numérique",
    "email": "theo.exemple@ccas-demo.example.org",
    "telephone": "03.89.00.00.00",
}


def test_gestionnaire_corrects_a_technicien_s_fonction_email_and_phone(client, login_as, outbox):
    gest = login_as("gestionnaire.demo")
    tech = account("technicien.demo")
    form = client.get(f"/accounts/{tech.id}/edit").get_data(as_text=True)
    assert 'name="fonction"' in form and 'name="nom"' not in form
    assert 'value="01 00 00 00 00"' in form  # the number as people write it
    response = client.post(f"/accounts/{tech.id}/edit", data=dict(CONTACT, nom="Autre"))
    assert response.status_code == 303
    changed = account("technicien.demo")
    assert (changed.fonction, changed.email, changed.telephone, changed.nom) == (
        "Conseiller numérique",
        "theo.exemple@ccas-demo.example.org",
        "+33389000000",
        "Exemple",  # an account is personal: its names are not the gestionnaire's to change
    )
    event = AuditEvent.get(AuditEvent.action == "identity_updated")
    assert event.actor.id == gest.id and event.detail == "fonction, téléphone, e-mail"
    page = client.get(f"/accounts/{tech.id}").get_data(as_text=True)
    assert "03 89 00 00 00" in page and "Conseiller numérique" in page
    assert outbox() == []  # an active account has its password: no link to send


def test_a_new_email_on_an_invited_account_gets_the_link_and_the_old_one_dies(
    client, login_as, outbox
):
    login_as("gestionnaire.demo")
    client.post("/accounts/new", data=TECH)
    created = Account.get(Account.email == TECH["email"])
    [first] = outbox()
    new = "helene.durand2@ccas-demo.example.org"
    data = {"fonction": TECH["fonction"], "email": new, "telephone": TECH["telephone"]}
    assert client.post(f"/accounts/{created.id}/edit", data=data).status_code == 303
    [_, second] = outbox()
    assert (
        second["To"] == new
        and f"Identifiant : {created.username}" in second.get_body(("plain",)).get_content()
    )
    assert client.get(link_in(first)).status_code == 410  # sent to the wrong address
    assert client.get(link_in(second)).status_code == 200


def test_an_email_of_another_account_of_the_structure_needs_a_confirmation(client, login_as):
    login_as("gestionnaire.demo")
    tech = account("technicien.demo")
    data = dict(CONTACT, email="gestionnaire.demo@example.org")
    page = client.post(f"/accounts/{tech.id}/edit", data=data).get_data(as_text=True)
    assert "déjà celle d" in page and "Gaëlle Exemple (gestionnaire)" in page
    assert 'name="confirm_email"' in page
    assert account("technicien.demo").email == "technicien.demo@example.org"
    response = client.post(f"/accounts/{tech.id}/edit", data=dict(data, confirm_email="y"))
    assert response.status_code == 303
    assert account("technicien.demo").email == "gestionnaire.demo@example.org"
    # Another structure's addresses are none of this structure's business: no warning.
    data = dict(CONTACT, email="technicien.voisin@example.org")
    assert client.post(f"/accounts/{tech.id}/edit", data=data).status_code == 303


def test_a_new_account_with_an_email_of_the_structure_needs_a_confirmation(client, login_as):
    login_as("gestionnaire.demo")
    data = dict(TECH, email="gestionnaire.demo@example.org")
    page = client.post("/accounts/new", data=data).get_data(as_text=True)
    assert "Gaëlle Exemple (gestionnaire)" in page and 'name="confirm_email"' in page
    assert not Account.select().where(Account.nom == TECH["nom"]).exists()
    assert client.post("/accounts/new", data=dict(data, confirm_email="y")).status_code == 303


def test_who_edits_what(ctx):
    caisse, gest = account("caisse.demo"), account("gestionnaire.demo")
    with pytest.raises(RuleError, match="Seule la caisse"):
        accounts.update_identity(gest, gest, identity())
    with pytest.raises(RuleError, match="Seuls les comptes gestionnaires"):
        accounts.update_identity(caisse, account("technicien.demo"), identity())
    with pytest.raises(RuleError, match="Numéro de téléphone invalide"):
        accounts.update_identity(gest, account("technicien.demo"), identity(telephone="12"))
    assert accounts.update_identity(gest, account("technicien.demo"), identity()) == [
        "fonction",
        "telephone",
        "email",
    ]
    assert accounts.update_identity(gest, account("technicien.demo"), identity()) == []


def test_a_gestionnaire_cannot_open_the_edit_page_of_a_gestionnaire(client, login_as):
    gest = login_as("gestionnaire.demo")
    assert client.get(f"/accounts/{gest.id}/edit").status_code == 403
    page = client.get(f"/accounts/{account('technicien.demo').id}").get_data(as_text=True)
    assert "Modifier les coordonnées" in page
