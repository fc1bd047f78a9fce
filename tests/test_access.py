"""Every registered route, walked with every profile and with users of another partner and
another caisse, against one table of expected outcomes. A route missing from the table fails."""

from datetime import date, datetime, timedelta

import pytest

from ep import breaches, db, evaluations, reviews, threads
from ep.accounts import accept_cgu
from ep.models import (
    Account,
    Attachment,
    Contact,
    Convention,
    Demande,
    Motif,
    Notice,
    Offer,
    Partner,
    ThreadAttachment,
    Training,
)

from .conftest import account, make_app, pristine_copy, table_names, table_rows

# Who tries. The objects in URLs belong to "CCAS Voisin" and its convention with
# "CPAM de Démo": caisse.demo and the Voisin users are in scope, the others are not.
USERS = {
    "anonyme": None,
    "caisse": "caisse.demo",
    "autre_caisse": "carsat.demo",
    "gestionnaire": "gestionnaire.voisin",
    "technicien": "technicien.voisin",
    "autre_gestionnaire": "gestionnaire.demo",
    "autre_technicien": "technicien.demo",
}

OK, LOGIN, FORBIDDEN, HIDDEN = "ok", "login", "403", "404"
PASSWORD = "matrix password 2026"


def outcome(**given):
    """Expected outcome per user; unspecified logged-in users are refused (403)."""
    row = {name: FORBIDDEN for name in USERS}
    row["anonyme"] = LOGIN
    row.update(given)
    return row


EVERYONE = outcome(**{name: OK for name in USERS if name != "anonyme"})
PUBLIC = {name: OK for name in USERS}
CAISSE_SCOPED = outcome(caisse=OK, autre_caisse=HIDDEN)
CAISSE_ONLY = outcome(caisse=OK, autre_caisse=OK)
SAME_PARTNER = outcome(caisse=OK, autre_caisse=HIDDEN, gestionnaire=OK, autre_gestionnaire=HIDDEN)
TECHNICIEN_AND_CAISSE = outcome(
    caisse=OK, autre_caisse=HIDDEN, technicien=OK, autre_technicien=HIDDEN
)
GESTIONNAIRES = outcome(gestionnaire=OK, autre_gestionnaire=OK)
MANAGERS = outcome(caisse=OK, autre_caisse=OK, gestionnaire=OK, autre_gestionnaire=OK)
THREAD_READERS = outcome(
    caisse=OK,
    autre_caisse=HIDDEN,
    gestionnaire=OK,
    technicien=OK,
    autre_gestionnaire=HIDDEN,
    autre_technicien=HIDDEN,
)
RGPD_REFERENTS = outcome(caisse=OK, autre_gestionnaire=OK)

EXPECTED = {
    ("GET", "static"): PUBLIC,
    ("GET", "health.index"): PUBLIC,
    ("GET", "auth.login"): PUBLIC,
    ("POST", "auth.login"): PUBLIC,
    ("POST", "auth.logout"): EVERYONE,
    ("POST", "auth.keep_alive"): EVERYONE,
    ("GET", "auth.set_password"): PUBLIC,
    ("POST", "auth.set_password"): PUBLIC,
    ("GET", "main.index"): EVERYONE,
    ("GET", "main.help"): EVERYONE,
    ("GET", "partners.index"): CAISSE_ONLY,
    ("GET", "partners.create"): CAISSE_ONLY,
    ("POST", "partners.create"): CAISSE_ONLY,
    ("GET", "partners.show"): outcome(
        caisse=OK, autre_caisse=HIDDEN, gestionnaire=OK, autre_gestionnaire=HIDDEN
    ),
    ("GET", "partners.edit_convention"): CAISSE_SCOPED,
    ("POST", "partners.edit_convention"): CAISSE_SCOPED,
    ("GET", "partners.habilitate"): CAISSE_SCOPED,
    ("POST", "partners.habilitate"): CAISSE_SCOPED,
    ("GET", "auth.cgu"): EVERYONE,
    ("POST", "auth.cgu"): EVERYONE,
    ("GET", "auth.change_password"): EVERYONE,
    ("POST", "auth.change_password"): EVERYONE,
    ("GET", "auth.forgot"): PUBLIC,
    ("POST", "auth.forgot"): PUBLIC,
    ("GET", "auth.reset_password"): PUBLIC,
    ("POST", "auth.reset_password"): PUBLIC,
    ("POST", "auth.password_check"): PUBLIC,
    ("GET", "auth.preferences"): EVERYONE,
    ("POST", "auth.preferences"): EVERYONE,
    ("POST", "partners.cut_off"): CAISSE_SCOPED,
    ("POST", "partners.restore"): CAISSE_SCOPED,
    # The structure's own gestionnaires answer a convention a caisse proposed (issue 9.1).
    ("POST", "partners.accept"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("POST", "partners.decline"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("GET", "accounts.index"): outcome(gestionnaire=OK, autre_gestionnaire=OK),
    ("GET", "accounts.create"): outcome(gestionnaire=OK, autre_gestionnaire=OK),
    ("POST", "accounts.create"): outcome(gestionnaire=OK, autre_gestionnaire=OK),
    ("GET", "accounts.show"): SAME_PARTNER,
    ("POST", "accounts.deactivate"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("POST", "accounts.reactivate"): SAME_PARTNER,
    # The account in the URL is a gestionnaire: only the caisse sends its link.
    ("POST", "accounts.invite"): outcome(caisse=OK, autre_caisse=HIDDEN, autre_gestionnaire=HIDDEN),
    ("POST", "accounts.fraud"): CAISSE_SCOPED,
    ("POST", "accounts.schedule"): CAISSE_SCOPED,
    # The account in the URL is a gestionnaire: the caisse edits it; a gestionnaire edits
    # only techniciens (issue 10.7), so its own structure's gets 403, another's 404.
    ("GET", "accounts.edit"): outcome(caisse=OK, autre_caisse=HIDDEN, autre_gestionnaire=HIDDEN),
    ("POST", "accounts.edit"): outcome(caisse=OK, autre_caisse=HIDDEN, autre_gestionnaire=HIDDEN),
    ("GET", "demandes.create"): outcome(technicien=OK, autre_technicien=OK),
    ("POST", "demandes.create"): outcome(technicien=OK, autre_technicien=OK),
    # Need-to-know (issue 9.5, `002_…` annexe 2 §2.2): the gestionnaire profile manages
    # accounts; it reads no request, no assuré, no document.
    ("GET", "demandes.index"): outcome(technicien=OK, autre_technicien=OK),
    ("GET", "demandes.queue"): CAISSE_ONLY,
    ("GET", "demandes.show"): TECHNICIEN_AND_CAISSE,
    ("GET", "demandes.download"): TECHNICIEN_AND_CAISSE,
    ("POST", "demandes.reply"): outcome(
        caisse=OK, autre_caisse=HIDDEN, technicien=OK, autre_technicien=HIDDEN
    ),
    ("POST", "demandes.take"): CAISSE_SCOPED,
    ("POST", "demandes.ask"): CAISSE_SCOPED,
    ("POST", "demandes.close"): CAISSE_SCOPED,
    ("GET", "reviews.index"): GESTIONNAIRES,
    ("POST", "reviews.start"): GESTIONNAIRES,
    ("GET", "reviews.show"): SAME_PARTNER,
    ("POST", "reviews.decide"): SAME_PARTNER,
    ("POST", "reviews.complete"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("POST", "reviews.keep_techniciens"): SAME_PARTNER,
    ("POST", "reviews.ask_caisse"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("GET", "reviews.export_csv"): SAME_PARTNER,
    ("GET", "reviews.export_xlsx"): SAME_PARTNER,
    ("POST", "reviews.ask"): CAISSE_SCOPED,
    ("POST", "reviews.periodicity"): CAISSE_SCOPED,
    ("POST", "partners.record_request"): CAISSE_SCOPED,
    ("GET", "exports.index"): CAISSE_ONLY,
    ("GET", "exports.users_csv"): CAISSE_ONLY,
    ("GET", "exports.users_xlsx"): CAISSE_ONLY,
    ("GET", "exports.structure_csv"): GESTIONNAIRES,
    ("GET", "exports.structure_xlsx"): GESTIONNAIRES,
    ("GET", "statistics.index"): MANAGERS,
    ("GET", "statistics.demandes_csv"): MANAGERS,
    ("GET", "statistics.demandes_xlsx"): MANAGERS,
    ("GET", "audit.index"): MANAGERS,
    ("GET", "audit.export"): MANAGERS,
    ("GET", "audit.notices"): CAISSE_ONLY,
    ("POST", "audit.retry"): CAISSE_SCOPED,
    # What a public body publishes, for anyone (issue 15).
    ("GET", "legal.accessibility_statement"): PUBLIC,
    ("GET", "legal.notice"): PUBLIC,
    ("GET", "legal.personal_data"): PUBLIC,
    # Information of the caisse (issue 12.1): the item in the URL is CPAM de Démo's, for
    # CCAS Voisin only; the other structure (a CPAM partner too) does not see it.
    ("GET", "publications.index"): outcome(
        gestionnaire=OK, technicien=OK, autre_gestionnaire=OK, autre_technicien=OK
    ),
    ("GET", "publications.manage"): CAISSE_ONLY,
    ("GET", "publications.create"): CAISSE_ONLY,
    ("POST", "publications.create"): CAISSE_ONLY,
    ("GET", "publications.show"): outcome(
        caisse=OK,
        autre_caisse=HIDDEN,
        gestionnaire=OK,
        technicien=OK,
        autre_gestionnaire=HIDDEN,
        autre_technicien=HIDDEN,
    ),
    ("GET", "publications.download"): outcome(
        caisse=OK,
        autre_caisse=HIDDEN,
        gestionnaire=OK,
        technicien=OK,
        autre_gestionnaire=HIDDEN,
        autre_technicien=HIDDEN,
    ),
    ("POST", "publications.pin"): CAISSE_SCOPED,
    ("POST", "publications.unpin"): CAISSE_SCOPED,
    ("POST", "publications.withdraw"): CAISSE_SCOPED,
    # Contacts kept by their owners (issue 12.4). The contact in the URL is one of CCAS
    # Voisin's référents: its gestionnaires keep it; no caisse, no other structure reaches it.
    ("GET", "contacts.index"): MANAGERS,
    ("POST", "contacts.create"): MANAGERS,
    ("GET", "contacts.edit"): outcome(
        gestionnaire=OK, autre_gestionnaire=HIDDEN, caisse=HIDDEN, autre_caisse=HIDDEN
    ),
    ("POST", "contacts.edit"): outcome(
        gestionnaire=OK, autre_gestionnaire=HIDDEN, caisse=HIDDEN, autre_caisse=HIDDEN
    ),
    ("POST", "contacts.delete"): outcome(
        gestionnaire=OK, autre_gestionnaire=HIDDEN, caisse=HIDDEN, autre_caisse=HIDDEN
    ),
    ("POST", "contacts.departement"): CAISSE_ONLY,
    # The convention as both sides see it (issue 12.5): each structure its own; the training
    # in the URL was given by the CPAM to CCAS Voisin.
    ("GET", "conventions.index"): outcome(
        gestionnaire=OK, autre_gestionnaire=OK, technicien=OK, autre_technicien=OK
    ),
    ("GET", "conventions.renewals"): CAISSE_ONLY,
    ("POST", "conventions.add_training"): CAISSE_SCOPED,
    ("POST", "conventions.delete_training"): CAISSE_SCOPED,
    # Exchanges opened by the caisse (issue 12.2): the thread in the URL is CPAM de Démo's
    # with CCAS Voisin, addressed to all its users.
    ("GET", "threads.index"): EVERYONE,
    ("GET", "threads.create"): CAISSE_ONLY,
    ("POST", "threads.create"): CAISSE_ONLY,
    ("GET", "threads.show"): THREAD_READERS,
    ("POST", "threads.reply"): THREAD_READERS,
    ("POST", "threads.close"): CAISSE_SCOPED,
    ("GET", "threads.download"): THREAD_READERS,
    # The yearly evaluation (issue 13.4): Voisin's of this year with CPAM de Démo; the
    # question is CPAM de Démo's.
    ("GET", "evaluations.index"): MANAGERS,
    ("GET", "evaluations.create"): CAISSE_SCOPED,
    ("POST", "evaluations.create"): CAISSE_SCOPED,
    ("GET", "evaluations.show"): SAME_PARTNER,
    ("GET", "evaluations.bilan_csv"): SAME_PARTNER,
    ("GET", "evaluations.answer"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("POST", "evaluations.answer"): outcome(gestionnaire=OK, autre_gestionnaire=HIDDEN),
    ("GET", "evaluations.questions"): CAISSE_ONLY,
    ("POST", "evaluations.questions"): CAISSE_ONLY,
    ("GET", "evaluations.edit_question"): CAISSE_SCOPED,
    ("POST", "evaluations.edit_question"): CAISSE_SCOPED,
    # Each caisse's own catalogue (issue 12.3): the offer and motif in URLs are the CPAM's.
    ("GET", "catalogue.index"): CAISSE_ONLY,
    ("POST", "catalogue.create_offer"): CAISSE_ONLY,
    ("GET", "catalogue.edit_offer"): CAISSE_SCOPED,
    ("POST", "catalogue.edit_offer"): CAISSE_SCOPED,
    ("POST", "catalogue.create_motif"): CAISSE_SCOPED,
    ("GET", "catalogue.edit_motif"): CAISSE_SCOPED,
    ("POST", "catalogue.edit_motif"): CAISSE_SCOPED,
    # The référents RGPD (issue 14.2): caisse.demo and gestionnaire.demo are, in the demo;
    # the others get 403. The request in the URL is Voisin's to the CPAM: in caisse.demo's
    # scope, not in gestionnaire.demo's (another structure). The account in the URL is
    # gestionnaire.voisin: only a gestionnaire of its structure designates it.
    ("GET", "rgpd.index"): RGPD_REFERENTS,
    ("POST", "rgpd.index"): RGPD_REFERENTS,
    ("POST", "rgpd.export"): RGPD_REFERENTS,
    ("POST", "rgpd.limit"): RGPD_REFERENTS,
    ("POST", "rgpd.erase"): RGPD_REFERENTS,
    ("GET", "rgpd.rectify"): outcome(caisse=OK, autre_gestionnaire=HIDDEN),
    ("POST", "rgpd.rectify"): outcome(caisse=OK, autre_gestionnaire=HIDDEN),
    ("POST", "rgpd.lift"): outcome(caisse=OK, autre_gestionnaire=HIDDEN),
    ("GET", "rgpd.referents"): MANAGERS,
    ("POST", "rgpd.grant"): outcome(
        caisse=HIDDEN, autre_caisse=HIDDEN, gestionnaire=OK, autre_gestionnaire=HIDDEN
    ),
    ("POST", "rgpd.revoke"): outcome(
        caisse=HIDDEN, autre_caisse=HIDDEN, gestionnaire=OK, autre_gestionnaire=HIDDEN
    ),
    # Breach reports (issue 14.3): any gestionnaire reports (access.can_report_breach); the
    # report in the URL is CCAS Voisin's to CPAM de Démo.
    ("GET", "breaches.index"): MANAGERS,
    ("GET", "breaches.create"): GESTIONNAIRES,
    ("POST", "breaches.create"): GESTIONNAIRES,
    ("GET", "breaches.show"): SAME_PARTNER,
    # The notice handed to the assuré (issue 14.5): Voisin's convention with CPAM de Démo.
    ("GET", "information.notice"): THREAD_READERS,
}


@pytest.fixture
def world(_world):
    """The module's app, its database handle bound again (another test may have built an
    app of its own meanwhile: the peewee handle is process-wide)."""
    db.bind(_world[0])
    return _world


@pytest.fixture(scope="module")
def _world(tmp_path_factory):
    return build_world(tmp_path_factory.mktemp("matrix"))


def build_world(tmp):
    """One app and a pristine copy of its database, restored before each state-changing call;
    `values` fills the URL arguments, `ids` the session of each user (tests/test_fuzz.py too)."""
    from ep import demo

    app = make_app(tmp)
    with app.test_request_context():
        demo.load(PASSWORD)
        voisin = Partner.get(Partner.name == "CCAS Voisin")
        convention = Convention.get(Convention.partner == voisin)
        values = {
            "partner_id": voisin.id,
            "convention_id": convention.id,
            "contact_id": Contact.get(
                (Contact.partner == voisin) & (Contact.role == "referent")
            ).id,
            "training_id": Training.get(Training.convention == convention).id,
            "account_id": account("gestionnaire.voisin").id,
            "demande_id": Demande.get(Demande.partner == voisin).id,
            "attachment_id": Attachment.select()
            .join(Demande)
            .where(Demande.partner == voisin)
            .get()
            .id,
            "review_id": reviews.request_review(
                account("caisse.demo"), voisin, date.today() + timedelta(days=30)
            ).id,
            "token": "jeton-invalide",
            "filename": "ep.css",
        }
        values["notice_id"] = Notice.get(Notice.partner == voisin).id
        from ep.models import Publication  # issue 12.1: the demo's item for CCAS Voisin only

        values["publication_id"] = (
            Publication.select().where(Publication.all_partners == False).get().id  # noqa: E712
        )
        thread = threads.start(
            account("caisse.demo"),
            voisin,
            "Convention",
            "La convention signée est jointe.",
            [demo.demo_file("convention-demo.pdf")],
        )
        values["thread_id"] = thread.id
        values["thread_attachment_id"] = ThreadAttachment.get(ThreadAttachment.thread == thread).id
        agent, today = account("caisse.demo"), date.today()
        evaluation, _ = evaluations.open_evaluation(
            agent, voisin, today.year, today + timedelta(days=30)
        )
        values["evaluation_id"] = evaluation.id
        values["evaluation_question_id"] = evaluations.questions(agent.caisse_id)[0].id
        values["offer_id"] = Offer.of(convention.caisse_id, "document").id
        values["motif_id"] = Motif.of(convention.caisse_id, "document", "ceam").id
        values["breach_id"] = breaches.report(
            account("gestionnaire.voisin"),
            {
                "description": "Identifiants de technicien.voisin vus sur un post-it.",
                "noticed_at": datetime.now() - timedelta(hours=2),
                "accounts": [account("technicien.voisin").id],
                "caisses": [convention.caisse_id],
            },
        ).id
        for username in filter(None, USERS.values()):
            accept_cgu(account(username), app.config["EP_CGU_VERSION"])
        ids = {name: account(u).get_id() if u else None for name, u in USERS.items()}
    db.database.close()
    restore = pristine_copy(app, tmp)
    return app, values, ids, restore


def routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule


def classify(response):
    if response.status_code in (301, 302, 303) and "/login?next=" in response.headers["Location"]:
        return LOGIN
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code == 404:
        return HIDDEN
    assert response.status_code < 500, response.status_code
    return OK


def test_every_route_is_in_the_table(world):
    app, *_ = world
    registered = {(m, r.endpoint) for m, r in routes(app)}
    missing = registered - set(EXPECTED)
    assert not missing, f"routes with no expected outcome: {sorted(missing)}"
    assert not set(EXPECTED) - registered, "the table names routes that no longer exist"


def test_every_view_declares_its_access(world):
    app, *_ = world
    undeclared = [e for e, view in app.view_functions.items() if not hasattr(view, "access")]
    assert undeclared == []


@pytest.mark.parametrize("user", list(USERS))
def test_route_profile_matrix(world, user):
    app, values, ids, restore = world
    client = app.test_client()
    failures = []
    for method, rule in routes(app):
        if method == "POST":
            restore()
        with client.session_transaction() as session:
            session.clear()
            if ids[user]:
                session["_user_id"] = ids[user]
        url = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
        response = client.open(url, method=method, data={})
        got, want = classify(response), EXPECTED[(method, rule.endpoint)][user]
        response.close()
        if got != want:
            failures.append(f"{method} {url} ({rule.endpoint}): expected {want}, got {got}")
    restore()
    assert not failures, "\n".join(failures)


def test_every_post_needs_a_csrf_token(tmp_path):
    """Logged in, a POST without its token is refused; with no session at all (a lost
    cookie), the person is told that the session expired and led to the login page."""
    from ep import demo

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        demo.load("matrix password 2026")
        user_id = account("gestionnaire.demo").get_id()
    anonymous, logged_in = app.test_client(), app.test_client()
    with logged_in.session_transaction() as session:
        session["_user_id"] = user_id
    for method, rule in routes(app):
        if method != "POST":
            continue
        url = rule.build({k: 1 for k in rule.arguments}, append_unknown=False)[1]
        if "token" in rule.arguments:
            url = rule.build({"token": "x"}, append_unknown=False)[1]
        response = logged_in.post(url, data={})
        assert response.status_code == 400, url
        assert "Formulaire expiré" in response.get_data(as_text=True)
        response = anonymous.post(url, data={})
        assert response.status_code == 303 and "/login" in response.headers["Location"], url


def test_deleted_accounts_are_out_of_everyone_s_scope(app, client, login_as):
    from ep.access import can_see_account

    target = account("technicien.voisin")
    Account.update(state="deleted").where(Account.id == target.id).execute()
    assert not can_see_account(account("gestionnaire.voisin"), Account.get_by_id(target.id))


GARBAGES = [
    "?page=abc&q=%27%22%3C%3E&date_from=pas-une-date&date_to=2026-13-45&state=zz&status=zz"
    "&profile=zz&caisse=abc&offer=zz&author=x&partner=abc&statut=zz&next=//evil.example.org",
    "?page=99999999999999999999999&caisse=99999999999999999999999&author=%C2%B2"
    "&partner=99999999999999999999999&request=99999999999999999999999&offer=contact",
    "?caisse=%C2%B2&author=99999999999999999999999&page=-3&request=%C2%B2",
]


@pytest.mark.parametrize("user", [u for u in USERS if u != "anonyme"])
def test_garbage_query_strings_never_give_a_500(world, user):
    app, values, ids, restore = world
    restore()  # whatever the previous test left (a logout ends the session it uses)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = ids[user]
    for method, rule in routes(app):
        if method != "GET":
            continue
        url = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
        for garbage in GARBAGES:
            response = client.get(url + garbage)
            assert response.status_code < 500, url + garbage
            response.close()
        if any(a.endswith("_id") for a in rule.arguments):
            huge = {k: (10**25 if k.endswith("_id") else values[k]) for k in rule.arguments}
            response = client.get(rule.build(huge, append_unknown=False)[1])
            assert response.status_code in (403, 404), rule.endpoint
            response.close()


def test_nul_bytes_are_refused_politely(world):
    app, values, ids, restore = world
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = ids["technicien"]
    response = client.post("/demandes/new", data={"commentaire": "a\x00b"})
    assert response.status_code == 400 and "Requête incorrecte" in response.get_data(as_text=True)
    restore()


def snapshot(app):
    """Every business table's rows (the audit trail and login failures aside, and the read
    markers: opening a request or an exchange records how far the reader read it, as the
    journal records that it was read; opening a caisse's information, that the account and
    its structure opened it)."""
    skipped = (
        "audit_event",
        "login_failure",
        "demande_read",
        "publication_read",
        "publication_opening",
        "thread_read",
    )
    with db.database.connection_context():
        return {t: table_rows(t)[1] for t in table_names() if t not in skipped}


@pytest.mark.parametrize("user", list(USERS))
def test_get_never_changes_state(world, user):
    app, values, ids, restore = world
    restore()
    before = snapshot(app)
    client = app.test_client()
    with client.session_transaction() as session:
        if ids[user]:
            session["_user_id"] = ids[user]
    for method, rule in routes(app):
        if method == "GET":
            url = rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
            client.get(url).close()
    db.database.close()
    assert snapshot(app) == before


@pytest.mark.parametrize("user", [u for u in USERS if u != "anonyme"])
def test_a_page_read_again_writes_nothing(world, user, writes):
    """Issue 11: no database write for a request that changes nothing. The first reading of
    a request or a document is traced in the journal; reading it again writes nothing.
    Exports are traced each time (a copy leaves): they are left out."""
    app, values, ids, restore = world
    restore()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = ids[user]
    urls = [
        rule.build({k: values[k] for k in rule.arguments}, append_unknown=False)[1]
        for method, rule in routes(app)
        if method == "GET" and "export" not in rule.endpoint
    ]
    for url in urls:
        client.get(url).close()
    writes.clear()
    for url in urls:
        client.get(url).close()
        assert writes == [], url
