"""Random and extreme input on every route, as every user who may use it (and some who may
not): never a 500, and a refused request writes nothing.

Three tests share one app and one check per request:
- hypothesis builds random requests: the route's own form fields (from the form classes of
  ep/forms.py) and stray ones, missing, repeated, empty, huge, with control characters, odd
  Unicode, impossible dates and numbers, often a valid submission with a field or two spoilt
  so that the rule behind the form is reached too; as a query string, a urlencoded body, a
  multipart body with files (some parts nameless), a malformed body, now and then with a
  method the route does not take. Derandomized, so CI replays the same examples;
  FUZZ_SCALE=10 FUZZ_RANDOM=1 hunts further;
- each odd value of a short list, in turn, in each field of a valid submission (a single bad
  value is found by luck only at random);
- the valid submission by every user, on every real object of the URL, with and without htmx.
CSRF protection is on, as in production: most POSTs carry a valid token (field or htmx
header), some none. The check:
- the status is below 500 (exceptions propagate in tests, so a crash fails the example);
- a refusal (any GET; a POST answered 200 without htmx, 400, 401, 403, 404, 405, 410 or 413)
  leaves the database and the uploads folder as they were; only a redirect (303) or an htmx
  fragment may have written. Failed logins and reads traced in the journal are writes a
  refusal may make;
- what was written fits its columns as PostgreSQL enforces them (SQLite does not);
- the database is then restored for the next request.
"""

import hashlib
import itertools
import os
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import peewee
import pytest
import wtforms
from flask import session
from flask_wtf.csrf import generate_csrf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

from ep import db, forms, tokens
from ep.catalogue import OFFERS, TARGET_HOURS
from ep.departements import DEPARTEMENTS
from ep.models import ALL_MODELS, Caisse, Motif, Offer

from .conftest import account, connected, on_postgresql, table_names, table_rows
from .test_access import EXPECTED, OK, PASSWORD, USERS, build_world, routes

# Random examples per route, forms getting most. What they look for is in our input handling,
# the same on both engines: on PostgreSQL, where each request costs three times more, a
# smaller share of them; the sweep of odd values and the valid submissions in every context
# (below) still prove there what only PostgreSQL enforces (columns' lengths and types).
SCALE = float(os.environ.get("FUZZ_SCALE", 0.4 if on_postgresql() else 1))
FORM_EXAMPLES, PAGE_EXAMPLES = int(50 * SCALE), int(15 * SCALE)


def names(form_class):
    return sorted(n for n in dir(form_class) if isinstance(getattr(form_class, n), UnboundField))


EVALUATION_FIELDS = [f"q1_{code}" for code, *_ in OFFERS] + ["q2", "q3", "q4"]

# What each view reads: its form class, and the raw names it reads besides.
FORMS = {
    "auth.login": (forms.LoginForm, ["next"]),
    "auth.set_password": (forms.SetPasswordForm, []),
    "auth.reset_password": (forms.SetPasswordForm, []),
    "auth.cgu": (forms.CguForm, ["next"]),
    "auth.change_password": (forms.ChangePasswordForm, []),
    "auth.forgot": (forms.ForgotForm, []),
    "auth.password_check": (None, ["token", "password"]),
    "auth.preferences": (forms.PreferencesForm, []),
    "partners.create": (forms.PartnerForm, []),
    "partners.edit_convention": (forms.ConventionForm, [f"target_{c}" for c in TARGET_HOURS]),
    "partners.habilitate": (forms.HabilitateForm, ["request"]),
    "partners.record_request": (forms.HabilitationRequestForm, []),
    "partners.cut_off": (forms.FraudForm, []),
    "accounts.index": (forms.AccountFilterForm, []),
    "accounts.create": (forms.TechnicienForm, []),
    "accounts.deactivate": (forms.DeactivateForm, ["back"]),
    "accounts.fraud": (forms.FraudForm, ["back"]),
    "accounts.schedule": (forms.ScheduleForm, ["back"]),
    "accounts.reactivate": (None, ["back"]),
    "accounts.invite": (None, ["back"]),
    "accounts.edit": (forms.IdentityForm, ["confirm_email"]),
    "demandes.create": (forms.DemandeForm, ["refresh"]),
    "demandes.index": (forms.DemandeFilterForm, ["page"]),
    "demandes.queue": (forms.DemandeFilterForm, ["page", "partner"]),
    "demandes.reply": (forms.MessageForm, []),
    "demandes.ask": (forms.MessageForm, []),
    "demandes.close": (forms.MessageForm, []),
    "reviews.decide": (forms.ReviewDecisionForm, []),
    "reviews.keep_techniciens": (forms.ReviewDecisionForm, []),
    "reviews.ask": (forms.ReviewRequestForm, []),
    "reviews.periodicity": (forms.PeriodicityForm, []),
    "exports.users_csv": (None, ["partner", "statut"]),
    "exports.users_xlsx": (None, ["partner", "statut"]),
    "exports.structure_csv": (None, ["partner", "statut"]),
    "exports.structure_xlsx": (None, ["partner", "statut"]),
    "audit.index": (forms.JournalFilterForm, ["avant", "apres"]),
    "main.index": (None, ["page", "structure", "attente"]),
    "statistics.index": (forms.StatisticsForm, []),
    "statistics.demandes_csv": (forms.StatisticsForm, []),
    "statistics.demandes_xlsx": (forms.StatisticsForm, []),
    "publications.create": (forms.PublicationForm, ["held", "remove_upload"]),
    "publications.index": (forms.PublicationFilterForm, ["page"]),
    "publications.manage": (forms.PublicationFilterForm, ["page"]),
    "contacts.create": (forms.ReferentForm, []),
    "contacts.edit": (forms.ReferentForm, []),
    "contacts.departement": (forms.DepartementForm, []),
    "conventions.add_training": (forms.TrainingForm, []),
    "threads.index": (forms.ThreadFilterForm, ["page"]),
    "threads.create": (forms.ThreadForm, []),
    "threads.reply": (forms.ThreadMessageForm, []),
    "threads.close": (forms.ThreadMessageForm, []),
    "evaluations.index": (None, ["annee"]),
    "evaluations.create": (forms.EvaluationOpenForm, ["annee"]),
    # The questionnaire's fields are the evaluation's own questions (build_world's: the
    # default questionnaire, every offer active in Voisin's convention) and the button.
    "evaluations.answer": (forms.EvaluationAnswerForm, [*EVALUATION_FIELDS, "action"]),
    "evaluations.questions": (forms.EvaluationQuestionForm, []),
    "evaluations.edit_question": (forms.EvaluationQuestionForm, []),
    "audit.export": (forms.JournalFilterForm, []),
    "catalogue.create_offer": (forms.OfferForm, []),
    "catalogue.edit_offer": (forms.OfferForm, []),
    "catalogue.create_motif": (forms.MotifForm, []),
    "catalogue.edit_motif": (forms.MotifForm, []),
    "rgpd.index": (forms.PersonForm, []),
    "rgpd.export": (forms.PersonForm, []),
    "rgpd.limit": (forms.PersonForm, []),
    "rgpd.erase": (forms.PersonForm, []),
    "rgpd.rectify": (forms.RectifyForm, []),
    "breaches.create": (forms.BreachForm, ["refresh"]),
}
# Read from the address even when the form is posted.
QUERY_ARGS = {"auth.login": ["next"], "auth.cgu": ["next"], "partners.habilitate": ["request"]}
STRAY = ["next", "page", "q", "csrf_token", "", "x" * 300, "pieces_jointes", "é\u202e"]


def fields_of(endpoint):
    form_class, extra = FORMS.get(endpoint, (None, []))
    return (names(form_class) if form_class else []) + extra


KIND_OF_NAME = {
    "next": "next",
    "page": "int",
    "partner": "int",
    "request": "int",
    "avant": "int",
    "apres": "int",
    "which": "int",
    "annee": "int",
    "year": "int",
}
KIND_OF_NAME.update({f"target_{c}": "int" for c in TARGET_HOURS})


def kinds_of(endpoint):
    """What sort of value each field of the route holds: date, int, next or text."""
    form_class, _ = FORMS.get(endpoint, (None, []))
    kinds = {}
    for name in names(form_class) if form_class else []:
        field_class = getattr(form_class, name).field_class
        if issubclass(field_class, wtforms.DateField):
            kinds[name] = "date"
        elif issubclass(field_class, wtforms.IntegerField):
            kinds[name] = "int"
    return {**KIND_OF_NAME, **kinds}


def baseline(endpoint, real):
    """A valid submission of the route's form, which examples then spoil a field or two of:
    random values alone rarely get past the form to the rule behind it."""
    today = date.today()
    identity = {
        "civilite": "Mme",
        "nom": "Durand",
        "prenom": "Alice",
        "fonction": "Agente d'accueil",
        "telephone": "01 02 03 04 05",
        "email": "alice.durand@example.org",
    }
    convention = {
        "headcount": "40",
        "signed_on": (today - timedelta(days=10)).isoformat(),
        "starts_on": (today - timedelta(days=5)).isoformat(),
        "habilitation_deadline_days": "5",
        "offers": ["contact", "document"],
        "motifs": ["contact:autre", "document:ceam"],
        "motifs_listed": "1",
        "may_receive_documents": "y",
    }
    attest = {f"attest_{k}": "y" for k in ("employment", "equipment", "email")}
    new_password = "une phrase de passe assez longue 2026"
    message = {"body": "Voici le document demandé.", "confirm_health": "y"}
    return {
        "auth.login": {"username": "technicien.voisin", "password": PASSWORD, "next": "/aide"},
        "auth.set_password": {"password": new_password, "password_confirm": new_password},
        "auth.reset_password": {"password": new_password, "password_confirm": new_password},
        "auth.cgu": {"accept": "y", "next": "/aide"},
        "auth.change_password": {
            "current_password": PASSWORD,
            "password": new_password,
            "password_confirm": new_password,
        },
        "auth.forgot": {"username": "technicien.voisin"},
        "auth.password_check": {"token": real["token"][1], "password": "court"},
        "auth.preferences": {"notify_by_email": "y"},
        "partners.create": {"name": "CCAS Nouveau", **convention},
        "partners.edit_convention": {**convention, **{f"target_{c}": "48" for c in TARGET_HOURS}},
        "partners.habilitate": {**identity, "requested_on": today.isoformat()},
        "partners.record_request": {"person": "Jean Martin", "received_on": today.isoformat()},
        "partners.cut_off": {"reason": "Fraude"},
        "accounts.create": {**identity, **attest},
        "accounts.deactivate": {"reason": "depart", "detail": "Parti", "back": "list"},
        "accounts.fraud": {"reason": "Vol des identifiants"},
        "accounts.schedule": {"on_date": (today + timedelta(days=20)).isoformat()},
        "accounts.edit": identity,
        "demandes.create": {
            "caisse": real["ids"][0],
            "offer": "document",
            "motif": "attestation_droits",
            "civilite": "M.",
            "nom": "Martin",
            "prenom": "Paul",
            "date_naissance": "1980-02-29",
            "departement": "75",
            "informed": "y",
            "commentaire": "Attestation demandée pour un dossier.",
        },
        "demandes.index": {"status": "open", "date_from": "2020-01-01", "date_to": "2100-12-31"},
        "demandes.queue": {"status": "open", "date_from": "2020-01-01", "date_to": "2100-12-31"},
        "demandes.reply": message,
        "demandes.ask": message,
        "demandes.close": message,
        "reviews.decide": {"decision": "keep", **attest},
        "reviews.keep_techniciens": attest,
        "reviews.ask": {"due_on": (today + timedelta(days=20)).isoformat()},
        "reviews.periodicity": {"months": "12"},
        "publications.create": {
            "titre": "Permanence d'été",
            "texte": "L'accueil des partenaires ferme à 16 h en août.",
            "audience": "all",
            "ends_on": (today + timedelta(days=30)).isoformat(),
            "pinned": "y",
        },
        "publications.index": {"q": "réunion"},
        "publications.manage": {"q": "réunion"},
        "contacts.create": {"role": "dpo", "name": "Jean Martin", "email": "dpo@example.org"},
        "contacts.edit": {"role": "referent", "name": "Jean Martin", "phone": "01 99 00 00 01"},
        "contacts.departement": {"departement": "974"},
        "conventions.add_training": {
            "given_on": (today - timedelta(days=3)).isoformat(),
            "subject": "Les offres de prévention",
            "attendees": "3",
            "audience": "Travailleurs sociaux",
        },
        "threads.index": {"activity": "unread"},
        "threads.create": {
            "partner": real["voisin"],
            "audience": "all",
            "subject": "Réunion des partenaires",
            "body": "Une réunion aura lieu le mois prochain.",
        },
        "threads.reply": message,
        "threads.close": message,
        "evaluations.create": {
            "year": str(today.year),  # build_world's is open: refused by the rule
            "due_on": (today + timedelta(days=20)).isoformat(),
        },
        "evaluations.answer": {
            **{name: "4" for name in EVALUATION_FIELDS if name.startswith("q1_")},
            "q2": "Des délais parfois longs.",
            "q3": "Un point trimestriel.",
            "action": "envoyer",
        },
        "evaluations.questions": {"text": "Votre avis sur l'accueil", "kind": "text"},
        "evaluations.edit_question": {
            "text": "Votre satisfaction",
            "kind": "rating",
            "active": "y",
        },
        "catalogue.create_offer": {"label": "Accompagnement renforcé", "target_hours": "72"},
        "catalogue.edit_offer": {"label": "Obtenir un document", "target_hours": "48"},
        "catalogue.create_motif": {"label": "Relevé de prestations", "concerns_assure": "y"},
        "catalogue.edit_motif": {"label": "CEAM", "concerns_assure": "y", "active": "y"},
        # The person of build_world's request (the demo's Voisin request to the CPAM).
        "rgpd.index": PERSON,
        "rgpd.export": {**PERSON, "demandes": real["ids"][-1]},
        "rgpd.limit": {**PERSON, "demandes": real["ids"][-1], "motif": "Courrier du 20/11."},
        "rgpd.erase": {
            **PERSON,
            "demandes": real["ids"][-1],
            "motif": "Courrier du 20/11.",
            "confirm_erase": "y",
        },
        "rgpd.rectify": {**PERSON, "civilite": "M.", "departement": "68"},
        "breaches.create": {
            "noticed_on": today.isoformat(),
            "noticed_time": "00:05",
            "happened_on": (today - timedelta(days=1)).isoformat(),
            "happened_time": "22:00",
            "description": "Un poste de la structure a été volé.",
            "measures": "Mots de passe changés.",
            "accounts": [str(i) for i in real["account_id"][:2]],
            "caisses": real["ids"][0],
        },
    }.get(endpoint, {})


ROUTES = sorted(EXPECTED)

EXTREMES = [
    "",
    " ",
    "0",
    "-1",
    "1",
    "+1",
    "1e9",
    "0x1f",
    "９",
    "١٢",
    "²",
    "99999999999999999999999",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 5000,
    "2026-02-30",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "99999-01-01",
    "1899-12-31",
    "1900-01-01",
    "2100-12-31",
    "２０２６-０１-０１",
    "2026-1-1",
    "31/12/2026",
    "\u202eevil\u202c",
    "مرحبا",
    "👩\u200d👩\u200d👧",
    "\ufeff",
    "\u200b",
    "e\u0301",
    "ǅİß",
    "\U0010ffff",
    "\ufffd",
    "\r\n",
    "\t",
    "\x1b[31m",
    "\x7f",
    "\u2028",
    "\x00",
    "/%0d%0aX",
    "//evil.example.org",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "{{7*7}}",
    "x" * 70_000,
    "\ufdfa" * 100,
    "01" + " ." * 40 + "02030405",
]
DATES = [
    "2026-02-30",
    "2026-02-29",
    "2028-02-29",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "99999-01-01",
    "-2026-01-01",
    "1899-12-31",
    "1900-01-01",
    "2100-12-31",
    "２０２６-０１-０１",
    "2026-1-1",
    "31/12/2026",
    "2026-01-01T00:00",
    "",
]
INTEGERS = [
    "0",
    "-1",
    " 5 ",
    "5.0",
    "1e9",
    "NaN",
    "９",
    "١٢",
    "²",
    str(2**63),
    str(-(2**63) - 1),
    "9" * 5000,
    "",
]
NEXTS = [
    "/\r\nSet-Cookie: x=1",
    "/\nX",
    "/a\r",
    "/\x0bx",
    "//evil.example.org",
    "/\\evil.example.org",
    "/\t/evil.example.org",
    "javascript:alert(1)",
    "https://evil.example.org",
    "/" + "x" * 5000,
    "/é",
]
# Raw fragments put as they are into a query string or a urlencoded body: invalid UTF-8,
# an encoded surrogate, overlong forms, a lone percent.
RAW = ["%FF", "%ED%A0%80", "%C0%AF", "%", "%zz", "%E2%80"]

# The demo's Voisin request to the CPAM (build_world's `demande_id`).
PERSON = {"nom": "Exemplaire", "prenom": "Paul", "date_naissance": "1990-07-07"}

ALLOWED_ON_REFUSAL = {
    "login_failed",
    "demande_viewed",
    "attachment_downloaded",
    "users_exported",
    "review_exported",
    "journal_exported",
    # A référent RGPD's search and export (issue 14.2) are reads traced in the journal.
    "rgpd_searched",
    "rgpd_exported",
}

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40

MALFORMED = [
    # (content type, body)
    ("multipart/form-data", b"--B\r\n\r\nx\r\n--B--\r\n"),  # no boundary parameter
    ("multipart/form-data; boundary=B", b"--B\r\nContent-Disposition: form-data\r\n\r\nx"),
    ("multipart/form-data; boundary=B", b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--"),
    ("multipart/form-data; boundary=B", b"--B\r\n\r\nno headers at all\r\n--B--\r\n"),
    ("multipart/form-data; boundary=B", b'--B\r\nContent-Disposition: form-data; name="q"\r\n'),
    ("multipart/form-data; boundary=B", b"--C\r\nnonsense\r\n--C--\r\n"),
    ("multipart/form-data; boundary=B", b"--B\r\n" + b"X-H: " + b"h" * 20_000 + b"\r\n\r\n--B--"),
    (
        "multipart/form-data; boundary=B",
        b'--B\r\nContent-Disposition: form-data; name="pieces_jointes"; filename="a\r\nb.pdf"'
        b"\r\n\r\n" + PDF + b"\r\n--B--\r\n",
    ),
    ("multipart/form-data; boundary=" + "B" * 300, b"--" + b"B" * 300 + b"--\r\n"),
    ("application/x-www-form-urlencoded", b"\xff\xfe=\xff&a=%FF&&=&==&q"),
    ("application/json", b'{"username": ["x"], "password": {"a": 1}}'),
    ("text/plain", b"username=x"),
    ("application/x-www-form-urlencoded; charset=latin-1", "nom=Zoé".encode("latin-1")),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    app, values, ids, restore = build_world(tmp_path_factory.mktemp("fuzz"))
    db.bind(app)
    uploads = Path(app.instance_path) / "uploads"
    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context():
        csrf = generate_csrf()
        raw_csrf = session["csrf_token"]
        real = {
            "csrf": csrf,
            "raw_csrf": raw_csrf,
            "token": [
                values["token"],
                tokens.make(account("technicien.voisin"), "set-password"),
                tokens.make(account("gestionnaire.voisin"), "reset"),
            ],
            # The other partner's accounts are in the caisse's scope, not in Voisin's review.
            "account_id": [
                account(name).id
                for name in (
                    "gestionnaire.voisin",
                    "technicien.voisin",
                    "technicien.demo",
                    "gestionnaire.demo",
                )
            ],
            "voisin": str(values["partner_id"]),
            # Each caisse's own offer and motif: the other caisse's must stay out of reach.
            "offer_id": [o.id for o in Offer.select().where(Offer.code == "document")],
            "motif_id": [
                m.id for m in Motif.select().join(Offer).where(Offer.code == "document").limit(4)
            ],
            "ids": [str(c.id) for c in Caisse.select()]
            + [str(values[k]) for k in ("partner_id", "account_id", "demande_id")],
        }
    db.database.close()
    kept = set(uploads.iterdir()) if uploads.exists() else set()

    refusal_tables = (
        "login_failure",
        "demande_read",
        "publication_read",
        "publication_opening",
        "thread_read",
    )
    with connected():
        tables = table_names()
    if not db.is_sqlite():
        # The server hashes each table: one query, not one per table and every row sent.
        def table_hash(table, where=""):
            rows = "string_agg(t::text, ',' ORDER BY t::text)"
            return f"(SELECT md5(coalesce({rows}, '')) FROM \"{table}\" AS t {where})"

        refused = ", ".join(f"'{a}'" for a in sorted(ALLOWED_ON_REFUSAL))
        hashes = "SELECT " + ", ".join(
            f"{table_hash(t)}, "
            + (
                "''"
                if t in refusal_tables
                else table_hash(t, f"WHERE t.action NOT IN ({refused})")
                if t == "audit_event"
                else table_hash(t)
            )
            for t in tables
        )

    def state():
        """Digests of the data: of everything, and of everything but failed logins and traced
        reads (writes a refused request may make)."""
        everything, digest = hashlib.sha256(), hashlib.sha256()
        with connected():
            if db.is_sqlite():
                for table in tables:
                    columns, rows = table_rows(table)
                    for row in rows:
                        line = repr((table, row)).encode()
                        everything.update(line)
                        allowed = table in refusal_tables or (
                            table == "audit_event"
                            and row[columns.index("action")] in ALLOWED_ON_REFUSAL
                        )
                        if not allowed:
                            digest.update(line)
            else:
                row = db.database.execute_sql(hashes).fetchone()
                everything.update(repr(row[0::2]).encode())
                digest.update(repr(row[1::2]).encode())
        for file in sorted(uploads.iterdir()) if uploads.exists() else []:
            everything.update(file.name.encode())
            digest.update(file.name.encode())
        return everything.hexdigest(), digest.hexdigest()

    def overlong():
        """Texts longer than their column: PostgreSQL refuses them (a 500), SQLite does not."""
        found = []
        with connected():
            for model in ALL_MODELS:
                table = model._meta.table_name
                bounded = [
                    (f.column_name, f.max_length)
                    for f in model._meta.sorted_fields
                    if isinstance(f, peewee.CharField) and f.max_length
                ]
                if not bounded:
                    continue
                lengths = ", ".join(f'max(length("{column}"))' for column, _ in bounded)
                longest = db.database.execute_sql(f'SELECT {lengths} FROM "{table}"').fetchone()
                for (column, limit), n in zip(bounded, longest, strict=True):
                    if (n or 0) > limit:
                        found.append(f"{table}.{column}: {n} > {limit}")
        return found

    # An erasure by a référent RGPD (issue 14.2) removes files: they are put back too.
    kept_bytes = {file: file.read_bytes() for file in kept}

    def reset():
        restore()
        for file in set(uploads.iterdir()) - kept if uploads.exists() else ():
            file.unlink()
        for file, data in kept_bytes.items():
            if not file.exists():
                file.write_bytes(data)

    reset()
    return app, values, ids, real, state, reset, state(), overlong


text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
value = st.one_of(
    st.sampled_from(EXTREMES),
    text,
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(date.isoformat),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Mn", "Nd"]), max_size=8),
)
BY_KIND = {
    "date": st.one_of(st.sampled_from(DATES), st.dates().map(date.isoformat), value),
    "int": st.one_of(st.sampled_from(INTEGERS), st.integers().map(str), value),
    "next": st.one_of(st.sampled_from(NEXTS), value),
}


def real_values(real):
    today = date.today()
    return st.sampled_from(
        [
            *real["ids"],
            "keep",
            "deactivate",
            "y",
            "on",
            "Mme",
            "M.",
            "gestionnaire",
            "technicien",
            "active",
            "inactive",
            "open",
            "closed",
            "depart",
            "autre",
            "list",
            "fin",
            "référent",
            "enregistrer",
            "envoyer",
            "rating",
            "text",
            "prenom.nom@example.org",
            "01 02 03 04 05",
            "Dupont",
            "Un message ordinaire pour la caisse.",
            "12",
            "5",
            today.isoformat(),
            (today + timedelta(days=20)).isoformat(),
            (today - timedelta(days=3)).isoformat(),
            *(code for code, *_ in OFFERS),
            *(m for _, _, motifs in OFFERS for m, *_ in motifs),
            *(f"{o}:{m}" for o, _, motifs in OFFERS for m, *_ in motifs),
            *(code for code, _ in DEPARTEMENTS[:5]),
        ]
    )


@st.composite
def requests(draw, world, method, rule):
    """(user, url, headers, content type, body) for one request to `rule`."""
    app, values, ids, real, *_ = world
    endpoint = rule.endpoint
    allowed = [u for u in USERS if EXPECTED[(method, endpoint)][u] == OK]
    if len(allowed) == len(USERS):  # a public page: mostly without a session
        allowed = ["anonyme"]
    others = list(USERS) if draw(st.integers(0, 3)) == 0 else allowed
    user = draw(st.sampled_from(others))
    url_values = {}
    for arg in rule.arguments:
        choices = real.get(arg, [values[arg]])
        if draw(st.integers(0, 7)) == 0:  # now and then, nothing real
            choices = {"filename": ["../ep/__init__.py", "%00", "x" * 400]}.get(arg, [0, 10**25])
        url_values[arg] = draw(st.sampled_from(choices))
    path = rule.build(url_values, append_unknown=False)[1]
    own = fields_of(endpoint)
    kinds = kinds_of(endpoint)
    reals = real_values(real)

    def anything(name):
        return st.one_of(BY_KIND.get(kinds.get(name), value), reals)

    pairs = []
    if draw(st.booleans()):  # a valid submission with a field or two spoilt
        valid = baseline(endpoint, real)
        spoilt = draw(st.lists(st.sampled_from(own or STRAY), min_size=1, max_size=2))
        if draw(st.integers(0, 3)) == 0:
            spoilt.append(draw(st.sampled_from(STRAY)))
        for name in own:
            if name not in spoilt:
                given = valid.get(name, [])
                pairs += [(name, v) for v in ([given] if isinstance(given, str) else given)]
        for name in spoilt:
            pairs += [(name, draw(anything(name))) for _ in range(draw(st.integers(0, 3)))]
    else:  # anything at all in any field
        for name in draw(st.lists(st.sampled_from(own + STRAY), max_size=len(own) + 2)):
            pairs += [(name, draw(anything(name))) for _ in range(draw(st.integers(0, 3)))]
    headers = {}
    csrf = draw(st.sampled_from(["field"] * 5 + ["header", "none"]))
    if csrf == "field":
        pairs.insert(0, ("csrf_token", real["csrf"]))
    if draw(st.booleans()):
        headers["HX-Request"] = "true"
        if draw(st.booleans()):
            headers[draw(st.sampled_from(["HX-Boosted", "HX-History-Restore-Request"]))] = "true"
    if csrf == "header":
        headers["X-CSRFToken"] = real["csrf"]

    def encoded(pairs):
        parts = []
        for name, v in pairs:
            raw = draw(st.sampled_from([None] * 6 + RAW))
            parts.append(f"{quote(name, safe='')}={raw or quote(v, safe='')}")
        return "&".join(parts)

    if method == "GET":
        query = encoded(pairs)
        return user, path + ("?" + query if query else ""), headers, None, None
    in_url = [(n, v) for n, v in pairs if n in QUERY_ARGS.get(endpoint, ())]
    pairs = [(n, v) for n, v in pairs if n not in QUERY_ARGS.get(endpoint, ())]
    if in_url:
        path += "?" + encoded(in_url)
    kind = draw(st.sampled_from(["urlencoded", "urlencoded", "multipart", "malformed"]))
    if kind == "urlencoded":
        body = encoded(pairs).encode("ascii")
        return user, path, headers, "application/x-www-form-urlencoded", body
    if kind == "malformed":
        content_type, body = draw(st.sampled_from(MALFORMED))
        return user, path, headers, content_type, body
    boundary = "fuzz-boundary-7f3a"
    body = b""
    for name, v in pairs:
        named = f'; name="{name}"' if draw(st.integers(0, 40)) else ""  # now and then none
        body += f"--{boundary}\r\nContent-Disposition: form-data{named}\r\n\r\n".encode()
        body += v.encode("utf-8") + b"\r\n"
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        filename = draw(st.one_of(st.sampled_from(["a.pdf", "", "../x.png", "é.PDF"]), text))
        content = draw(st.sampled_from([PDF, PNG, b"", b"MZ\x90\x00", b"%PDF" + b"\x00" * 50]))
        name = draw(st.sampled_from(["pieces_jointes", "pieces_jointes", "autre", "fichier"]))
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '.encode()
        body += f'filename="{filename}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
        body += content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return user, path, headers, f"multipart/form-data; boundary={boundary}", body


# Forms that share a route with another one (the view picks by profile): their fields must
# be among that route's.
SHARING = {forms.ContactForm: "accounts.edit"}


def test_every_form_class_is_fuzzed():
    used = {form_class for form_class, _ in FORMS.values() if form_class}
    for form_class, endpoint in SHARING.items():
        assert set(names(form_class)) <= set(fields_of(endpoint))
        used.add(form_class)
    declared = {
        cls
        for cls in vars(forms).values()
        if isinstance(cls, type) and issubclass(cls, forms.Form) and names(cls)
    }
    assert declared - used == set()
    assert set(FORMS) <= {endpoint for _, endpoint in EXPECTED}


FORM_ROUTES = [r for r in ROUTES if r[1] in FORMS]
PAGE_ROUTES = [r for r in ROUTES if r[1] not in FORMS]
SETTINGS = dict(
    deadline=None,
    derandomize=not os.environ.get("FUZZ_RANDOM"),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def ids_of(routes_):
    return [f"{m} {e}" for m, e in routes_]


@pytest.mark.parametrize("method, endpoint", FORM_ROUTES, ids=ids_of(FORM_ROUTES))
@settings(max_examples=FORM_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_random_forms_never_give_a_500_nor_a_partial_write(world, method, endpoint, data):
    check_one_request(world, method, endpoint, data)


@pytest.mark.parametrize("method, endpoint", PAGE_ROUTES, ids=ids_of(PAGE_ROUTES))
@settings(max_examples=PAGE_EXAMPLES, **SETTINGS)
@given(data=st.data())
def test_random_input_elsewhere_never_gives_a_500_nor_a_partial_write(
    world, method, endpoint, data
):
    check_one_request(world, method, endpoint, data)


def check_one_request(world, method, endpoint, data):
    app, *_ = world
    rule = next(r for m, r in routes(app) if m == method and r.endpoint == endpoint)
    request = data.draw(requests(world, method, rule))
    sent = data.draw(st.sampled_from([method] * 12 + ["PUT", "DELETE", "PATCH", "OPTIONS"]))
    send_and_check(world, sent, *request)


def send_and_check(world, method, user, url, headers, content_type, body):
    """Send one request as `user`; no 500, and no write unless a redirect or htmx success."""
    app, values, ids, real, state, reset, pristine, overlong = world
    db.bind(app)
    client = app.test_client()
    with client.session_transaction() as session_:
        session_["csrf_token"] = real["raw_csrf"]
        if ids[user]:
            session_["_user_id"] = ids[user]
    try:
        response = client.open(
            url, method=method, headers=headers, content_type=content_type, data=body
        )
        response.get_data()  # a streamed download runs to its end
        response.close()
    finally:
        if db.is_sqlite():
            db.database.close()
        everything, business = state()
        too_long = overlong() if everything != pristine[0] else []
        if everything != pristine[0]:
            reset()  # the next request starts from the same data (failed logins included)
    wrote = business != pristine[1]
    status = response.status_code
    assert status < 500, f"{method} {url}"
    assert not too_long, f"{method} {url} stored {too_long}"
    if not wrote:
        return
    may_write = method == "POST" and (status == 303 or (status == 200 and "HX-Request" in headers))
    assert may_write, f"{method} {url} answered {status} yet wrote"


# Each field of a valid submission replaced, in turn, by each of these; the random examples
# above would meet a single bad value only by luck.
SWEEP = {
    "date": DATES,
    "int": INTEGERS,
    "next": NEXTS,
    None: [
        "",
        " ",
        "x" * 70_000,
        "\r\n",
        "\u202e",
        "\x7f",
        "-1",
        "9999-12-31",
        "Ａ１",
        "\ufdfa" * 100,  # 100 characters, 1 800 once decomposed (NFKD) for the search keys
        "01" + " ." * 40 + "02030405",  # a valid phone number, 90 characters long
    ],
}
if on_postgresql():
    # There, the values whose fate could depend on the engine: lengths (decomposed ones
    # too), extreme dates and numbers. Blanks, control characters and the redirect targets
    # test our input handling, the same on both engines: swept in the SQLite run.
    ENGINE_FREE = {"", " ", "\r\n", "\u202e", "\x7f"}
    SWEEP = {
        **SWEEP,
        None: [v for v in SWEEP[None] if v not in ENGINE_FREE],
        "next": NEXTS[-2:],
    }


@pytest.mark.parametrize("method, endpoint", FORM_ROUTES, ids=ids_of(FORM_ROUTES))
def test_each_odd_value_in_each_field_of_a_valid_submission(world, method, endpoint):
    app, values, ids, real, *_ = world
    rule = next(r for m, r in routes(app) if m == method and r.endpoint == endpoint)
    user = next(u for u in USERS if EXPECTED[(method, endpoint)][u] == OK)
    url = rule.build({a: real.get(a, [values[a]])[0] for a in rule.arguments})[1]
    valid = baseline(endpoint, real)
    kinds = kinds_of(endpoint)
    for name in fields_of(endpoint):
        for odd in SWEEP[kinds.get(name)]:
            fields = {**valid, name: odd, "csrf_token": real["csrf"]}
            pairs = [
                (k, v) for k, vs in fields.items() for v in ([vs] if isinstance(vs, str) else vs)
            ]
            in_url = [(k, v) for k, v in pairs if k in QUERY_ARGS.get(endpoint, ())]
            if method == "GET":
                send_and_check(world, method, user, f"{url}?{encode(pairs)}", {}, None, None)
            else:
                body = encode([p for p in pairs if p not in in_url]).encode()
                form = "application/x-www-form-urlencoded"
                send_and_check(world, method, user, f"{url}?{encode(in_url)}", {}, form, body)


# With and without htmx: the same rows written, a page or a fragment answered; on PostgreSQL
# the rows are what matters (the SQLite run checks both answers).
CONTEXT_HEADERS = ({},) if on_postgresql() else ({}, {"HX-Request": "true"})


@pytest.mark.parametrize("method, endpoint", FORM_ROUTES, ids=ids_of(FORM_ROUTES))
def test_a_valid_submission_in_every_context(world, method, endpoint):
    """The valid submission by every user, on every real object of the URL, with and without
    htmx: a fragment for an object the page does not list must not break either."""
    app, values, ids, real, *_ = world
    rule = next(r for m, r in routes(app) if m == method and r.endpoint == endpoint)
    fields = {**baseline(endpoint, real), "csrf_token": real["csrf"]}
    pairs = [(k, v) for k, vs in fields.items() for v in ([vs] if isinstance(vs, str) else vs)]
    in_url = [(k, v) for k, v in pairs if k in QUERY_ARGS.get(endpoint, ())]
    body = encode([p for p in pairs if p not in in_url]).encode()
    for combination in itertools.product(*(real.get(a, [values[a]]) for a in rule.arguments)):
        path = rule.build(dict(zip(rule.arguments, combination, strict=True)))[1]
        for user in USERS:
            for headers in CONTEXT_HEADERS:
                if method == "GET":
                    url = f"{path}?{encode(pairs)}"
                    send_and_check(world, method, user, url, headers, None, None)
                else:
                    form = "application/x-www-form-urlencoded"
                    url = f"{path}?{encode(in_url)}"
                    send_and_check(world, method, user, url, headers, form, body)


def encode(pairs):
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
