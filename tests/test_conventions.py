"""The convention as both sides see it (issue 12.5): the structure's page of its conventions,
the yearly renewal and the notice window (`002_…` art. 11), the caisse's reminders, and the
trainings the caisse gave to the structure's staff (`002_…` art. 3.2, annexe 2 §2.2)."""

from datetime import date, timedelta

import pytest

from ep import conventions, quotas
from ep.models import AuditEvent, Caisse, Convention, ConventionOffer, Offer, Partner, Training
from ep.rules import RuleError

from .conftest import account


def voisin_convention():
    return Convention.get(Convention.partner == Partner.get(Partner.name == "CCAS Voisin"))


def make(signed_on, ends_on=None):
    return Convention(signed_on=signed_on, starts_on=signed_on, ends_on=ends_on)


# The yearly renewal (`002_…` art. 11: renewed at each anniversary of the signature; notice
# by registered letter within the two months before it).


@pytest.mark.parametrize(
    ("signed_on", "today", "renewal", "notice_by"),
    [
        (date(2026, 3, 15), date(2026, 11, 26), date(2027, 3, 15), date(2027, 1, 15)),
        (date(2025, 12, 10), date(2026, 11, 26), date(2026, 12, 10), date(2026, 10, 10)),
        # on the anniversary itself, it is renewed that day
        (date(2025, 11, 26), date(2026, 11, 26), date(2026, 11, 26), date(2026, 9, 26)),
        # signed this year: the first renewal is a year after the signature
        (date(2026, 11, 1), date(2026, 11, 26), date(2027, 11, 1), date(2027, 9, 1)),
        # signed a 29 February: the 28th in other years
        (date(2024, 2, 29), date(2026, 11, 26), date(2027, 2, 28), date(2026, 12, 28)),
        # two months before 30 April or 31 December: the last day of that month
        (date(2025, 4, 30), date(2026, 1, 1), date(2026, 4, 30), date(2026, 2, 28)),
        (date(2025, 12, 31), date(2026, 1, 1), date(2026, 12, 31), date(2026, 10, 31)),
    ],
)
def test_the_renewal_is_the_anniversary_of_the_signature(signed_on, today, renewal, notice_by):
    due = conventions.renewal(make(signed_on), today)
    assert (due.on, due.notice_by) == (renewal, notice_by)
    assert due.notice_open is (today <= notice_by)


def test_a_terminated_convention_is_not_renewed():
    assert (
        conventions.renewal(make(date(2025, 3, 1), ends_on=date(2027, 3, 1)), date(2026, 11, 26))
        is None
    )


def test_the_caisse_is_reminded_of_the_renewals_and_notices_to_come(ctx):
    """Within the next 60 days: a notice deadline (the caisse may still give notice) or a
    renewal whose notice time has passed."""
    cpam = Caisse.get(Caisse.name == "CPAM de Démo")
    today = date(2026, 11, 26)
    names = {}
    for name, signed_on in (
        ("Notice soon", date(2025, 2, 10)),  # notice by 10/12/2026, renewal 10/02/2027
        ("Renewal soon", date(2025, 12, 20)),  # renewal 20/12/2026, notice passed
        ("Far away", date(2025, 6, 1)),  # renewal 01/06/2027
        ("Just after", date(2025, 3, 27)),  # notice by 27/01/2027: 62 days, not yet
    ):
        p = Partner.create(name=name, headcount=3)
        names[name] = Convention.create(
            partner=p, caisse=cpam, signed_on=signed_on, starts_on=signed_on
        )
    ended = Partner.create(name="Ended", headcount=3)
    Convention.create(
        partner=ended,
        caisse=cpam,
        signed_on=date(2025, 2, 10),
        starts_on=date(2025, 2, 10),
        ends_on=date(2027, 1, 1),
    )
    pending = Partner.create(name="Pending", headcount=3)
    Convention.create(
        partner=pending,
        caisse=cpam,
        signed_on=date(2025, 2, 10),
        starts_on=date(2025, 2, 10),
        state="pending",
    )
    Convention.update(signed_on=date(2020, 6, 1)).where(Convention.caisse == cpam).where(
        Convention.partner.in_(Partner.select(Partner.id).where(Partner.name.startswith("CCAS")))
    ).execute()
    rows = conventions.upcoming(cpam.id, today)
    assert [(r.partner.name, r.renewal.on, r.renewal.notice_open) for r in rows] == [
        ("Notice soon", date(2027, 2, 10), True),
        ("Renewal soon", date(2026, 12, 20), False),
    ]
    assert conventions.upcoming(Caisse.get(Caisse.name == "CARSAT de Démo").id, today) == []


# The structure's page


def test_the_gestionnaire_sees_its_conventions_with_current_figures(client, login_as):
    login_as("gestionnaire.demo")
    page = client.get("/conventions/").get_data(as_text=True)
    assert "CPAM de Démo" in page and "CARSAT de Démo" in page
    demo = Partner.get(Partner.name == "CCAS de Démo")
    cpam = Convention.get(
        (Convention.partner == demo)
        & (Convention.caisse == Caisse.get(Caisse.name == "CPAM de Démo"))
    )
    assert cpam.signed_on.strftime("%d/%m/%Y") in page
    renewal = conventions.renewal(cpam, date.today())
    assert renewal.on.strftime("%d/%m/%Y") in page
    assert renewal.notice_by.strftime("%d/%m/%Y") in page
    used, quota = quotas.usage(demo, "technicien")
    assert f"{used} / {quota}" in page
    assert "Attestation de droits" in page  # a motif of an active offer
    assert "Prise en main de l" in page  # a training of the CPAM
    # Figures are current: an offer switched off leaves the page; the end date shows.
    ConventionOffer.delete().where(
        (ConventionOffer.convention == cpam)
        & (ConventionOffer.offer == Offer.of(cpam.caisse_id, "document"))
    ).execute()
    carsat = Convention.get((Convention.partner == demo) & (Convention.caisse != cpam.caisse))
    ConventionOffer.delete().where(
        (ConventionOffer.convention == carsat)
        & (ConventionOffer.offer == Offer.of(carsat.caisse_id, "document"))
    ).execute()
    Convention.update(ends_on=date.today() + timedelta(days=40)).where(
        Convention.id == cpam.id
    ).execute()
    page = client.get("/conventions/").get_data(as_text=True)
    assert "Attestation de droits" not in page
    assert (date.today() + timedelta(days=40)).strftime("%d/%m/%Y") in page
    # An ended convention drops off.
    Convention.update(ends_on=date.today()).where(Convention.id == cpam.id).execute()
    page = client.get("/conventions/").get_data(as_text=True)
    assert "CPAM de Démo" not in page and "CARSAT de Démo" in page


def test_the_technicien_sees_what_it_may_ask_not_the_management(client, login_as):
    login_as("technicien.voisin")
    page = client.get("/conventions/").get_data(as_text=True)
    assert "CPAM de Démo" in page and "Attestation de droits" in page
    assert "Préavis" not in page and "Formations" not in page and "quota" not in page.lower()
    assert "CARSAT" not in page


def test_the_next_review_shows_on_the_convention_page(client, login_as):
    from ep import reviews

    convention = voisin_convention()
    Convention.update(review_every_months=12).where(Convention.id == convention.id).execute()
    login_as("gestionnaire.voisin")
    due = reviews.periodic_due(Convention.get_by_id(convention.id))
    page = client.get("/conventions/").get_data(as_text=True)
    assert due.strftime("%d/%m/%Y") in page and "tous les 12 mois" in page


def test_the_caisse_dashboard_reminds_the_notice_to_give(client, login_as):
    """The demo's CCAS de Démo × CPAM convention has its notice deadline within 60 days."""
    login_as("caisse.demo")
    page = client.get("/").get_data(as_text=True)
    assert "/conventions/echeances" in page and "préavis" in page
    listing = client.get("/conventions/echeances").get_data(as_text=True)
    assert "CCAS de Démo" in listing
    login_as("carsat.demo")
    assert "CCAS de Démo" not in client.get("/conventions/echeances").get_data(as_text=True)


# Trainings


def test_the_caisse_records_a_training_shown_to_the_structure(client, login_as):
    convention = voisin_convention()
    login_as("caisse.demo")
    response = client.post(
        f"/conventions/{convention.id}/formations",
        data={
            "given_on": "2026-10-05",
            "subject": "Les offres de prévention",
            "attendees": "4",
            "audience": "Travailleurs sociaux et bénévoles de l'accueil",
        },
    )
    assert response.status_code == 303
    training = Training.get(Training.subject == "Les offres de prévention")
    assert (training.attendees, training.recorded_by.username) == (4, "caisse.demo")
    assert AuditEvent.select().where(AuditEvent.action == "training_recorded").exists()
    page = client.get(f"/partners/{convention.partner_id}").get_data(as_text=True)
    assert "Les offres de prévention" in page and "05/10/2026" in page
    login_as("gestionnaire.voisin")
    page = client.get("/conventions/").get_data(as_text=True)
    assert "Les offres de prévention" in page and "Travailleurs sociaux et bénévoles" in page
    login_as("carsat.demo")
    assert client.post(f"/conventions/formations/{training.id}/delete").status_code == 404
    login_as("caisse.demo")
    assert client.post(f"/conventions/formations/{training.id}/delete").status_code == 303
    assert not Training.select().where(Training.id == training.id).exists()
    assert AuditEvent.select().where(AuditEvent.action == "training_deleted").exists()


def test_a_training_is_checked_by_the_field(client, login_as):
    convention = voisin_convention()
    login_as("caisse.demo")
    before = Training.select().count()
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    url = f"/conventions/{convention.id}/formations"
    response = client.post(url, data={"given_on": "", "subject": "", "attendees": "0"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for field in ("given_on", "subject", "attendees"):
        assert f'id="{field}-error"' in page, field
    response = client.post(url, data={"given_on": tomorrow, "subject": "C2S", "attendees": "2"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="given_on-error"' in page
    assert "une fois donnée" in page
    assert Training.select().count() == before


def test_training_rules(ctx):
    agent = account("caisse.demo")
    convention = voisin_convention()
    with pytest.raises(RuleError) as refused:
        conventions.record_training(
            agent,
            convention,
            {"given_on": date(2026, 12, 1), "subject": "X", "attendees": 1},
            today=date(2026, 11, 26),
        )
    assert refused.value.field == "given_on"
    with pytest.raises(RuleError):
        conventions.record_training(
            account("carsat.demo"),
            convention,
            {"given_on": date(2026, 11, 1), "subject": "X", "attendees": 1},
        )
    training = conventions.record_training(
        agent, convention, {"given_on": date(2026, 11, 1), "subject": "  X  ", "attendees": 2}
    )
    assert (training.subject, training.audience) == ("X", "")
    with pytest.raises(RuleError):
        conventions.delete_training(account("carsat.demo"), training)


def test_the_end_of_convention_purge_erases_the_names_of_the_people_trained(ctx):
    """Which staff was trained goes with the convention's other personal data (a name may
    have been typed there); the date, subject and number of people stay."""
    from ep.housekeeping import purge_convention

    convention = voisin_convention()
    training = conventions.record_training(
        account("caisse.demo"),
        convention,
        {"given_on": date(2026, 11, 1), "subject": "C2S", "attendees": 2, "audience": "A. et B."},
    )
    purge_convention(convention, date.today())
    training = Training.get_by_id(training.id)
    assert (training.audience, training.subject, training.attendees) == ("", "C2S", 2)
