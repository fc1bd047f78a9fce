"""Form fields shared by every form: the one NIR check (issue 9.2) on every text field of
every form, no form escaping the base class that carries it; dates within 1900-2100."""

import pytest
import wtforms
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import PasswordField, StringField
from wtforms.fields.core import UnboundField

from ep import forms, nir
from ep.models import Account, AuditEvent, Contact, HabilitationRequest, Partner, Training

NIR = "NIR 1 85 05 78 006 084 91"


def all_form_classes():
    import ep.blueprints  # noqa: F401  (every view module, so every form, is imported)

    found, todo = set(), [FlaskForm]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted((c for c in found if c.__module__.startswith("ep.")), key=lambda c: c.__name__)


def test_every_form_of_the_app_derives_from_the_checking_base(app):
    classes = all_form_classes()
    assert len(classes) > 20
    assert [c.__name__ for c in classes if not issubclass(c, forms.Form)] == []


@pytest.mark.parametrize("form_class", all_form_classes(), ids=lambda c: c.__name__)
def test_every_free_text_field_refuses_a_nir(app, form_class):
    with app.test_request_context(method="POST"):
        form = form_class(formdata=MultiDict())
        text_fields = [
            f.name
            for f in form
            if isinstance(f, StringField)
            and not isinstance(f, PasswordField)
            and f.name != "csrf_token"
        ]
        assert {f.name for f in forms.free_text_fields(form)} == set(text_fields)
        for name in text_fields:
            form = form_class(formdata=MultiDict({name: NIR}))
            form.validate()
            assert nir.REFUSED in form[name].errors, f"{form_class.__name__}.{name}"


def login_and_post(client, login_as, user, url, data):
    login_as(user)
    return client.post(url, data=data)


def test_nir_refused_through_the_views_and_nothing_stored(client, login_as, app):
    """The fields the attack test found unchecked, through their real views."""
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    tech = Account.get(Account.username == "technicien.voisin")
    before = AuditEvent.select().count()
    cases = [
        (
            "gestionnaire.voisin",
            "/accounts/new",
            {
                "civilite": "Mme",
                "nom": "Durand",
                "prenom": "Anne",
                "fonction": NIR,
                "telephone": "0102030405",
                "email": "a.durand@example.org",
                "attest_employment": "y",
                "attest_equipment": "y",
                "attest_email": "y",
            },
            "fonction",
        ),
        (
            "gestionnaire.voisin",
            f"/accounts/{tech.id}/deactivate",
            {"reason": "autre", "detail": NIR},
            "detail",
        ),
        (
            "caisse.demo",
            f"/partners/{voisin.id}/habilitation-requests",
            {"person": f"Jean Martin {NIR}", "received_on": "2026-11-20"},
            "person",
        ),
        (
            "caisse.demo",
            "/partners/new",
            {
                "name": f"CCAS {NIR}",
                "siret": "26800002300013",
                "headcount": "10",
                "signed_on": "2026-11-01",
                "starts_on": "2026-11-15",
                "habilitation_deadline_days": "5",
                "offers": ["contact"],
            },
            "name",
        ),
        ("caisse.demo", f"/partners/{voisin.id}/cut-off", {"reason": NIR}, "reason"),
    ]
    for user, url, data, field in cases:
        response = login_and_post(client, login_as, user, url, data)
        if response.status_code == 303:  # inline forms answer with a message on the page
            response = client.get(response.headers["Location"])
            field = None
        page = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "numéro de sécurité sociale" in page, url
        assert field is None or f'id="{field}-error"' in page, url
    assert not Account.select().where(Account.nom == "Durand").exists()
    assert not HabilitationRequest.select().exists()
    assert Partner.select().count() == 2
    assert Account.get_by_id(tech.id).state == "active"
    assert not Contact.select().where(Contact.name.contains("85")).exists()
    stored = " ".join(e.detail for e in AuditEvent.select().where(AuditEvent.id > before))
    assert not nir.contains_nir(stored)


def test_nir_refused_in_a_contact_a_training_and_a_review_reason(client, login_as, app):
    from ep import reviews

    voisin = Partner.get(Partner.name == "CCAS Voisin")
    convention = voisin.conventions.get()
    login_as("caisse.demo")
    page = client.post(
        "/contacts/new",
        data={"role": "referent", "name": "Paul Exemple", "function": NIR, "phone": "0199000001"},
    ).get_data(as_text=True)
    assert "numéro de sécurité sociale" in page
    assert not Contact.select().where(Contact.name == "Paul Exemple").exists()
    page = client.post(
        f"/conventions/{convention.id}/formations",
        data={"given_on": "2026-11-02", "subject": "C2S", "attendees": "2", "audience": NIR},
    ).get_data(as_text=True)
    assert "numéro de sécurité sociale" in page and 'id="audience-error"' in page
    assert not Training.select().where(Training.subject == "C2S").exists()
    gest = Account.get(Account.username == "gestionnaire.voisin")
    tech = Account.get(Account.username == "technicien.voisin")
    with app.test_request_context():
        review = reviews.start(gest, voisin)
    login_as("gestionnaire.voisin")
    page = client.post(
        f"/reviews/{review.id}/accounts/{tech.id}",
        data={"decision": "deactivate", "reason": NIR},
    ).get_data(as_text=True)
    assert "numéro de sécurité sociale" in page
    assert not reviews.ReviewDecision.select().exists()


def date_fields():
    """(form class, field name) for every date field of every form of the app."""
    for cls in vars(forms).values():
        if isinstance(cls, type) and issubclass(cls, forms.Form):
            for name in dir(cls):
                unbound = getattr(cls, name)
                if isinstance(unbound, UnboundField) and issubclass(
                    unbound.field_class, wtforms.DateField
                ):
                    yield cls, name


DATE_FIELDS = sorted(date_fields(), key=lambda pair: (pair[0].__name__, pair[1]))


def test_every_date_field_is_found():
    assert len(DATE_FIELDS) >= 13  # this test's enumeration keeps working
    assert all(issubclass(cls, forms.Form) for cls, _ in DATE_FIELDS)


ACCEPTED = ["1900-01-01", "2100-12-31"]
REFUSED = ["1899-12-31", "2101-01-01", "0001-01-01", "9999-12-31"]


@pytest.mark.parametrize(
    "form_class, name", DATE_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in DATE_FIELDS]
)
def test_dates_outside_1900_2100_are_refused_by_every_date_field(ctx, form_class, name):
    for value in ACCEPTED + REFUSED:
        form = form_class(formdata=MultiDict({name: value}))
        form.validate()
        field = form[name]
        if value in ACCEPTED:
            assert field.data is not None and field.data.isoformat() == value
            assert not field.errors
        else:
            assert field.data is None, value
            assert field.errors == ["Saisissez une date entre 1900 et 2100."], value
