from datetime import date

import pytest

from ep.models import Account, AuditEvent, Caisse, Convention, Partner

from .conftest import PASSWORD, link_in

NEW_PARTNER = {
    "name": "CCAS de Nouvelle-Ville",
    "siret": "268 000 023 00013",
    "headcount": "30",
    "signed_on": "2026-11-01",
    "starts_on": "2026-11-15",
    "ends_on": "",
    "habilitation_deadline_days": "5",
    "offers": ["contact", "document"],
}

IDENTITY = {
    "civilite": "Mme",
    "nom": "Lambert-Exemple",
    "prenom": "Hélène",
    "fonction": "Directrice",
    "telephone": "01 23 45 67 89",
    "email": "h.lambert@ccas-nouvelle.example.org",
    "requested_on": "2026-11-20",
}


def test_caisse_creates_a_partner_and_its_convention(client, login_as):
    login_as("caisse.demo")
    response = client.post("/partners/new", data=NEW_PARTNER)
    assert response.status_code == 303
    partner = Partner.get(Partner.name == "CCAS de Nouvelle-Ville")
    convention = Convention.get(Convention.partner == partner)
    assert convention.caisse.name == "CPAM de Démo"
    assert convention.starts_on == date(2026, 11, 15)
    assert convention.offer_codes() == {"contact", "document"}
    assert AuditEvent.select().where(AuditEvent.action == "partner_created").count() == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "15/11/2026" in page


def test_bad_input_comes_back_by_the_field_and_saves_nothing(client, login_as):
    login_as("caisse.demo")
    data = dict(NEW_PARTNER, headcount="beaucoup", starts_on="2026-10-01", name="")
    response = client.post("/partners/new", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="name-error"' in page and "Ce champ est obligatoire." in page
    assert 'id="headcount-error"' in page
    assert 'aria-describedby="name-error"' in page
    summary = page[page.index('id="error-summary"') :]
    assert summary.index("Nom de la structure") < summary.index("Effectif")
    assert Partner.select().count() == 2


def test_convention_cannot_start_before_signature(client, login_as):
    login_as("caisse.demo")
    response = client.post("/partners/new", data=dict(NEW_PARTNER, starts_on="2026-10-01"))
    page = response.get_data(as_text=True)
    assert "ne peut pas prendre effet avant sa signature" in page
    assert not Partner.select().where(Partner.name == NEW_PARTNER["name"]).exists()


def test_one_convention_per_caisse_and_partner(client, login_as):
    login_as("caisse.demo")
    response = client.post("/partners/new", data=dict(NEW_PARTNER, siret=VOISIN_SIRET))
    assert "déjà une convention en cours" in response.get_data(as_text=True)
    assert Convention.select().count() == 3


VOISIN_SIRET = "26800001500019"
DEMO_SIRET = "26800000700016"


def test_typing_an_existing_name_creates_another_structure_not_a_takeover(client, login_as):
    """Issue 9.1: a caisse reached a structure's accounts by typing its name."""
    login_as("carsat.demo")  # CCAS Voisin is conventioned with the CPAM only
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    response = client.post("/partners/new", data=dict(NEW_PARTNER, name="CCAS Voisin"))
    assert response.status_code == 303
    assert Convention.select().where(Convention.partner == voisin).count() == 1
    assert client.get(f"/partners/{voisin.id}").status_code == 404
    assert Partner.select().where(Partner.name == "CCAS Voisin").count() == 2


def test_siret_is_required_and_checked(client, login_as):
    login_as("caisse.demo")
    for siret, message in [
        ("", "Ce champ est obligatoire."),
        ("123", "14 chiffres"),
        ("26800002300014", "pas un SIRET valide"),  # wrong Luhn key
    ]:
        page = client.post("/partners/new", data=dict(NEW_PARTNER, siret=siret))
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and 'id="siret-error"' in text and message in text
    assert Partner.select().count() == 2


def test_an_existing_structure_must_accept_a_second_caisse(client, login_as, app, outbox):
    """Issue 9.1: until one of the structure's gestionnaires accepts, the caisse sees the
    structure's name and nothing else."""
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    gestionnaire = Account.get(Account.username == "gestionnaire.voisin")
    technicien = Account.get(Account.username == "technicien.voisin")
    login_as("carsat.demo")
    response = client.post(
        "/partners/new",
        data=dict(NEW_PARTNER, name="Autre nom", siret=VOISIN_SIRET, headcount="99"),
    )
    assert response.status_code == 303
    listing = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "CCAS Voisin" in listing and "En attente de la structure" in listing
    assert ">5<" not in listing and "effectif" not in listing.split("waiting-title")[1].lower()
    pending = Convention.get(
        (Convention.partner == voisin) & (Convention.caisse == Caisse.get(name="CARSAT de Démo"))
    )
    assert pending.state == "pending"
    assert Partner.get_by_id(voisin.id).headcount == 5 and Partner.get_by_id(voisin.id).name == (
        "CCAS Voisin"
    )
    assert [m["To"] for m in outbox()] == ["gestionnaire.voisin@example.org"]
    # Nothing of the structure is reachable yet.
    for url in [
        f"/partners/{voisin.id}",
        f"/accounts/{technicien.id}",
        f"/accounts/{gestionnaire.id}",
        f"/partners/{voisin.id}/gestionnaires/new",
        f"/partners/conventions/{pending.id}/edit",
        f"/audit/?partner={voisin.id}",
    ]:
        page = client.get(url)
        assert page.status_code in (200, 404) and "technicien.voisin" not in page.get_data(
            as_text=True
        ), url
    assert client.post(f"/partners/{voisin.id}/cut-off", data={"reason": "x"}).status_code == 404
    assert "CCAS Voisin" not in client.get("/caisse/export/utilisateurs.csv").get_data(as_text=True)
    assert "CCAS Voisin" not in client.get("/").get_data(as_text=True)
    # A second proposal is refused while the first waits.
    again = client.post("/partners/new", data=dict(NEW_PARTNER, siret=VOISIN_SIRET))
    assert "attend l'accord" in again.get_data(as_text=True)
    # Another structure's gestionnaire cannot answer for it.
    login_as("gestionnaire.demo")
    assert client.post(f"/partners/conventions/{pending.id}/accept").status_code == 404
    # The structure's gestionnaire sees the proposal and accepts it.
    login_as("gestionnaire.voisin")
    home = client.get("/").get_data(as_text=True)
    assert "Convention proposée par CARSAT de Démo" in home
    assert client.post(f"/partners/conventions/{pending.id}/accept").status_code == 303
    assert Convention.get_by_id(pending.id).state == "accepted"
    login_as("carsat.demo")
    assert client.get(f"/partners/{voisin.id}").status_code == 200


def test_a_refused_convention_keeps_the_structure_closed(client, login_as):
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    login_as("carsat.demo")
    client.post("/partners/new", data=dict(NEW_PARTNER, siret=VOISIN_SIRET))
    pending = Convention.get((Convention.partner == voisin) & (Convention.state == "pending"))
    login_as("gestionnaire.voisin")
    assert client.post(f"/partners/conventions/{pending.id}/refuse").status_code == 303
    assert Convention.get_by_id(pending.id).state == "refused"
    assert AuditEvent.select().where(AuditEvent.action == "convention_refused").count() == 1
    login_as("carsat.demo")
    assert client.get(f"/partners/{voisin.id}").status_code == 404
    assert "Refusée le" in client.get("/partners/").get_data(as_text=True)


def test_ended_convention_stops_that_caisse_only(client, login_as):
    ccas = Partner.get(Partner.name == "CCAS de Démo")
    carsat = (
        Convention.select()
        .join(Caisse)
        .where((Convention.partner == ccas) & (Caisse.name == "CARSAT de Démo"))
        .get()
    )
    Convention.update(ends_on=date(2026, 1, 1)).where(Convention.id == carsat.id).execute()
    login_as("carsat.demo")
    assert client.get(f"/partners/{ccas.id}").status_code == 404
    assert (
        client.get(f"/accounts/{Account.get(Account.username == 'technicien.demo').id}").status_code
        == 404
    )
    assert "CCAS de Démo" not in client.get("/").get_data(as_text=True)
    body = client.get("/caisse/export/utilisateurs.csv").get_data().decode("utf-8-sig")
    assert "CCAS de Démo" not in body
    login_as("caisse.demo")
    assert client.get(f"/partners/{ccas.id}").status_code == 200
    # The CARSAT may sign a new convention later: it replaces the ended one once the
    # structure accepts it.
    login_as("carsat.demo")
    assert client.post("/partners/new", data=dict(NEW_PARTNER, siret=DEMO_SIRET)).status_code == 303
    renewed = Convention.get((Convention.partner == ccas) & (Convention.caisse == carsat.caisse_id))
    assert renewed.ends_on is None and renewed.state == "pending"
    assert client.get(f"/partners/{ccas.id}").status_code == 404
    login_as("gestionnaire.demo")
    client.post(f"/partners/conventions/{renewed.id}/accept")
    login_as("carsat.demo")
    assert client.get(f"/partners/{ccas.id}").status_code == 200


def test_no_account_without_a_convention_in_force(ctx):
    from ep import accounts
    from ep.rules import RuleError

    voisin = Partner.get(Partner.name == "CCAS Voisin")
    Convention.update(ends_on=date(2026, 1, 1)).where(Convention.partner == voisin).execute()
    with pytest.raises(RuleError, match="Aucune convention en cours"):
        accounts.create_technicien(
            Account.get(Account.username == "gestionnaire.voisin"),
            {k: v for k, v in IDENTITY.items() if k != "requested_on"},
            True,
        )


def _caisse_convention(partner, caisse_name):
    return Convention.get(
        (Convention.partner == partner) & (Convention.caisse == Caisse.get(name=caisse_name))
    )


def test_a_cut_off_stops_that_caisse_s_channel_only(client, login_as, app, outbox):
    """Issue 9.1: one caisse's cut-off closed the structure to every caisse, and the other
    caisse could neither see why nor lift it."""
    from ep import demandes

    ccas = Partner.get(Partner.name == "CCAS de Démo")
    login_as("carsat.demo")
    response = client.post(f"/partners/{ccas.id}/cut-off", data={"reason": "Soupçon de fraude"})
    assert response.status_code == 303
    assert _caisse_convention(ccas, "CARSAT de Démo").cut_off_at is not None
    assert _caisse_convention(ccas, "CPAM de Démo").cut_off_at is None
    mails = outbox()
    assert mails and all("CARSAT de Démo" in m["Subject"] for m in mails)
    assert "CARSAT de Démo" in mails[0].get_body(("plain",)).get_content()
    # The structure still works with the CPAM.
    tech = app.test_client()
    ok = tech.post("/login", data={"username": "technicien.demo", "password": PASSWORD})
    assert ok.status_code == 303
    with app.test_request_context():
        names = {c.name for c in demandes.available_caisses(ccas)}
    assert names == {"CPAM de Démo"}
    # The CPAM sees no cut-off and cannot lift the CARSAT's.
    login_as("caisse.demo")
    assert "Accès coupé" not in client.get(f"/partners/{ccas.id}").get_data(as_text=True)
    client.post(f"/partners/{ccas.id}/restore")
    assert _caisse_convention(ccas, "CARSAT de Démo").cut_off_at is not None
    login_as("carsat.demo")
    client.post(f"/partners/{ccas.id}/restore")
    assert _caisse_convention(ccas, "CARSAT de Démo").cut_off_at is None


def test_caisse_habilitates_a_gestionnaire_who_sets_a_password(client, login_as, outbox):
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    response = client.post(f"/partners/{voisin.id}/gestionnaires/new", data=IDENTITY)
    assert response.status_code == 303
    created = Account.get(Account.email == IDENTITY["email"])
    assert (created.state, created.profile, created.username) == (
        "invited",
        "gestionnaire",
        "helene.lambert-exemple",
    )
    [message] = outbox()
    body = message.get_body(("plain",)).get_content()
    assert "Identifiant : helene.lambert-exemple" in body
    link = link_in(message)
    client.post("/logout")

    form_page = client.get(link).get_data(as_text=True)
    assert "password_confirm" in form_page
    assert 'hx-post="/password-check"' in form_page and " hx_" not in form_page
    weak = client.post(link, data={"password": "azerty123456", "password_confirm": "azerty123456"})
    assert "trop courant" in weak.get_data(as_text=True)
    good = "une phrase de passe assez longue"
    response = client.post(link, data={"password": good, "password_confirm": good})
    assert response.status_code == 303
    assert Account.get_by_id(created.id).state == "active"
    assert client.get(link).status_code == 410  # single use
    response = client.post("/login", data={"username": created.username, "password": good})
    assert response.status_code == 303


def test_gestionnaire_quota_refuses_with_the_rule_and_creates_nothing(client, login_as, outbox):
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")  # effectif 5: 2 gestionnaires at most
    url = f"/partners/{voisin.id}/gestionnaires/new"
    assert client.post(url, data=IDENTITY).status_code == 303
    second = dict(IDENTITY, prenom="Paul", email="paul@ccas-voisin.example.org")
    page = client.post(url, data=second).get_data(as_text=True)
    assert "Quota atteint" in page and "au plus 2 gestionnaires" in page
    assert not Account.select().where(Account.prenom == "Paul").exists()
    assert len(outbox()) == 1


def test_bad_email_and_phone_are_refused(client, login_as):
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    data = dict(IDENTITY, email="pas-une-adresse", telephone="12")
    page = client.post(f"/partners/{voisin.id}/gestionnaires/new", data=data).get_data(as_text=True)
    assert "Adresse e-mail invalide" in page and "Numéro de téléphone invalide" in page


def test_referents_show_on_the_partner_help_page(client, login_as):
    """A caisse's contact shows to the users of its partners, not to others' (issue 12.4)."""
    login_as("carsat.demo")
    response = client.post(
        "/contacts/new",
        data={"role": "support", "name": "Assistance Démo", "email": "support@example.org"},
    )
    assert response.status_code == 303
    login_as("technicien.demo")
    assert "Assistance Démo" in client.get("/aide").get_data(as_text=True)
    login_as("technicien.voisin")
    assert "Assistance Démo" not in client.get("/aide").get_data(as_text=True)


def test_a_referent_phone_longer_than_its_column_is_refused(client, login_as):
    login_as("caisse.demo")
    response = client.post(
        "/contacts/new",
        data={"role": "support", "name": "Assistance", "phone": "01" + " ." * 40 + "02030405"},
    )
    assert response.status_code == 200 and 'id="phone-error"' in response.get_data(as_text=True)


def test_other_partner_users_do_not_see_the_demo_password_users(client, login_as):
    login_as("gestionnaire.voisin")
    page = client.get("/accounts/").get_data(as_text=True)
    assert "Tania" in page and "Théo" not in page
    assert PASSWORD not in page


def test_caisse_sets_target_hours_per_offer_used_by_new_requests(client, login_as, app):
    from ep import demandes
    from ep.models import Demande

    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    convention = Convention.get(Convention.partner == voisin)
    data = {
        "headcount": "5",
        "signed_on": convention.signed_on.isoformat(),
        "starts_on": convention.starts_on.isoformat(),
        "habilitation_deadline_days": "5",
        "offers": ["document", "signalement"],
        "target_document": "24",
        "target_signalement": "12",
    }
    assert client.post(f"/partners/conventions/{convention.id}/edit", data=data).status_code == 303
    bad = client.post(
        f"/partners/conventions/{convention.id}/edit", data={**data, "target_document": "0"}
    )
    assert "entre 1 et 2000" in bad.get_data(as_text=True)
    assert 'value="24"' in client.get(f"/partners/conventions/{convention.id}/edit").get_data(
        as_text=True
    )
    with app.test_request_context():
        d = demandes.submit(
            Account.get(Account.username == "technicien.voisin"),
            {
                "caisse": convention.caisse_id,
                "offer": "document",
                "motif": "ceam",
                "civilite": "M.",
                "nom": "Délai",
                "prenom": "Test",
                "date_naissance": date(1970, 1, 1),
                "departement": "68",
                "informed": True,
                "commentaire": "CEAM pour un départ.",
            },
            [],
        )
    assert Demande.get_by_id(d.id).target_hours == 24


def test_ended_convention_closes_its_pages_to_the_caisse(client, login_as):
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    convention = Convention.get(Convention.partner == voisin)
    Convention.update(ends_on=date(2026, 1, 1)).where(Convention.id == convention.id).execute()
    login_as("caisse.demo")
    assert client.get(f"/partners/conventions/{convention.id}/edit").status_code == 404
    assert (
        client.post(f"/reviews/periodicity/{convention.id}", data={"months": "99"}).status_code
        == 404
    )


def test_renewing_a_convention_first_destroys_the_old_one_s_personal_data(client, login_as):
    from ep.models import Demande

    ccas = Partner.get(Partner.name == "CCAS de Démo")
    carsat = (
        Convention.select()
        .join(Caisse)
        .where((Convention.partner == ccas) & (Caisse.name == "CARSAT de Démo"))
        .get()
    )
    Convention.update(ends_on=date(2026, 1, 1)).where(Convention.id == carsat.id).execute()
    login_as("carsat.demo")  # no housekeeping ran since the end
    assert client.post("/partners/new", data=dict(NEW_PARTNER, siret=DEMO_SIRET)).status_code == 303
    old = Demande.get(Demande.caisse == carsat.caisse_id)
    assert old.assure_nom == "" and old.purged_at is not None


def test_a_structure_recorded_before_sirets_gets_one_from_its_caisse(client, login_as):
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    Partner.update(siret=None).where(Partner.id == voisin.id).execute()
    convention = Convention.get(Convention.partner == voisin)
    login_as("caisse.demo")
    page = client.get(f"/partners/conventions/{convention.id}/edit").get_data(as_text=True)
    assert 'name="siret"' in page
    form = {
        "headcount": "5",
        "signed_on": convention.signed_on.isoformat(),
        "starts_on": convention.starts_on.isoformat(),
        "habilitation_deadline_days": "5",
        "offers": ["contact"],
    }
    taken = client.post(
        f"/partners/conventions/{convention.id}/edit", data=dict(form, siret=DEMO_SIRET)
    )
    assert "déjà celui" in taken.get_data(as_text=True)
    ok = client.post(
        f"/partners/conventions/{convention.id}/edit", data=dict(form, siret="268 000 031 00016")
    )
    assert ok.status_code == 303
    assert Partner.get_by_id(voisin.id).siret == "26800003100016"
    page = client.get(f"/partners/conventions/{convention.id}/edit").get_data(as_text=True)
    assert 'name="siret"' not in page and "268 000 031 00016" in page


def test_referent_phones_are_stored_in_one_form_and_shown_as_written(client, login_as):
    """Issue 10.7: the référent's phone like the accounts'."""
    from ep.models import Contact

    login_as("caisse.demo")
    url = "/contacts/new"
    data = {"role": "support", "name": "Assistance Démo", "phone": "0389000000"}
    assert client.post(url, data=data).status_code == 303
    assert Contact.get(Contact.name == "Assistance Démo").phone == "+33389000000"
    page = client.post(url, data=dict(data, phone="03 89")).get_data(as_text=True)
    assert "Numéro de téléphone invalide" in page
    login_as("technicien.voisin")
    assert "Téléphone : 03 89 00 00 00" in client.get("/aide").get_data(as_text=True)


def test_a_technicien_becoming_gestionnaire_keeps_the_address_once_the_caisse_confirms(
    client, login_as, outbox
):
    """Issue 10.7: one person, two accounts, one address (§2.2): a warning, not a refusal."""
    login_as("caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    url = f"/partners/{voisin.id}/gestionnaires/new"
    data = dict(IDENTITY, email="technicien.voisin@example.org")
    page = client.post(url, data=data).get_data(as_text=True)
    assert "Tania Voisin-Exemple (technicien)" in page and 'name="confirm_email"' in page
    assert outbox() == []
    assert client.post(url, data=dict(data, confirm_email="y")).status_code == 303
    created = Account.get(Account.nom == IDENTITY["nom"])
    assert created.email == "technicien.voisin@example.org"
    assert created.telephone == "+33123456789"  # stored in one form
    assert [m["To"] for m in outbox()] == ["technicien.voisin@example.org"]
