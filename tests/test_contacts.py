"""Référents and contacts kept by their owners (issue 12.4): a structure's gestionnaires keep
its référents and DPO, a caisse's agents keep its référents, support, DPO and contacts per
theme; the help page shows, for each convention in force, who to call for what."""

from datetime import date, timedelta

import pytest
from playhouse.migrate import migrate

from ep import contacts, db
from ep.models import AuditEvent, Caisse, Contact, Convention, ConventionOffer, Offer, Partner
from ep.rules import RuleError

from .conftest import account

CPAM, CARSAT = "CPAM de Démo", "CARSAT de Démo"


def caisse(name):
    return Caisse.get(Caisse.name == name)


def partner(name):
    return Partner.get(Partner.name == name)


# Rules


def test_a_gestionnaire_keeps_the_structure_s_referents(ctx):
    gest = account("gestionnaire.voisin")
    contact = contacts.add(
        gest,
        {
            "role": "dpo",
            "name": "Nina Exemple",
            "phone": "01 99 00 00 41",
            "email": "n@example.org",
        },
    )
    assert (contact.partner_id, contact.caisse_id) == (gest.partner_id, None)
    assert contact.phone == "+33199000041"
    contacts.update(gest, contact, {"role": "dpo", "name": "Nina Exemple", "phone": "0199000042"})
    assert Contact.get_by_id(contact.id).phone == "+33199000042"
    contacts.remove(gest, Contact.get_by_id(contact.id))
    assert not Contact.select().where(Contact.id == contact.id).exists()
    actions = [
        e.action
        for e in AuditEvent.select()
        .where(AuditEvent.partner == gest.partner_id)
        .order_by(AuditEvent.id)
    ]
    assert actions[-3:] == ["contact_added", "contact_updated", "contact_removed"]


def test_a_structure_has_no_support_nor_thematic_contact(ctx):
    gest = account("gestionnaire.voisin")
    for role in ("support", "theme", "caisse", ""):
        with pytest.raises(RuleError) as refused:
            contacts.add(gest, {"role": role, "name": "X", "email": "x@example.org"})
        assert refused.value.field == "role"


def test_a_contact_can_be_reached(ctx):
    agent = account("caisse.demo")
    with pytest.raises(RuleError, match="téléphone ou une adresse e-mail"):
        contacts.add(agent, {"role": "support", "name": "Assistance"})
    with pytest.raises(RuleError, match="Numéro de téléphone invalide"):
        contacts.add(agent, {"role": "support", "name": "Assistance", "phone": "03 89"})
    with pytest.raises(RuleError) as refused:
        contacts.add(agent, {"role": "support", "name": "", "phone": "0199000001"})
    assert refused.value.field == "name"


def test_a_thematic_contact_names_its_theme_or_its_offer(ctx):
    agent = account("caisse.demo")
    with pytest.raises(RuleError) as refused:
        contacts.add(agent, {"role": "theme", "name": "Service IJ", "email": "ij@example.org"})
    assert refused.value.field == "theme"
    offer = Offer.get(Offer.code == "rendez_vous")
    by_offer = contacts.add(
        agent,
        {"role": "theme", "name": "Plateforme RDV", "email": "rdv@example.org", "offer": offer.id},
    )
    assert by_offer.subject == offer.label
    by_theme = contacts.add(
        agent,
        {"role": "theme", "name": "Service IJ", "email": "ij@example.org", "theme": "Indemnités"},
    )
    assert (by_theme.subject, by_theme.offer_id) == ("Indemnités", None)
    # a role other than "theme" keeps neither
    other = contacts.add(
        agent,
        {"role": "support", "name": "A", "email": "a@example.org", "theme": "x", "offer": offer.id},
    )
    assert (other.theme, other.offer_id) == ("", None)


def test_nobody_changes_another_owner_s_contacts(ctx):
    cpam_contact = contacts.of_caisse(caisse(CPAM))[0]
    voisin_contact = contacts.of_partner(partner("CCAS Voisin"))[0]
    for actor, contact in (
        (account("carsat.demo"), cpam_contact),
        (account("gestionnaire.demo"), voisin_contact),
        (account("caisse.demo"), voisin_contact),
        (account("technicien.voisin"), voisin_contact),
    ):
        with pytest.raises(RuleError):
            contacts.update(
                actor, contact, {"role": "referent", "name": "Pirate", "phone": "0199000009"}
            )
        with pytest.raises(RuleError):
            contacts.remove(actor, contact)
    with pytest.raises(RuleError):
        contacts.add(
            account("technicien.voisin"), {"role": "referent", "name": "X", "phone": "0199000009"}
        )


def test_each_caisse_s_dpo_for_breach_reports(ctx):
    """The API issue 14 uses: the DPO contacts of a caisse, of no other."""
    cpam, carsat = caisse(CPAM), caisse(CARSAT)
    assert [c.email for c in cpam.dpo_contacts()] == ["dpo.cpam@example.org"]
    assert [c.email for c in carsat.dpo_contacts()] == ["dpo.carsat@example.org"]
    contacts.add(
        account("carsat.demo"), {"role": "dpo", "name": "Suppléant", "email": "s@example.org"}
    )
    assert [c.email for c in carsat.dpo_contacts()] == ["dpo.carsat@example.org", "s@example.org"]
    assert [c.email for c in cpam.dpo_contacts()] == ["dpo.cpam@example.org"]
    assert [c.role for c in partner("CCAS Voisin").dpo_contacts()] == ["dpo"]


def test_help_contacts_follow_the_conventions_in_force(ctx):
    tech = account("technicien.demo")
    shown = contacts.for_help(tech)
    assert [s.caisse.name for s in shown.caisses] == [CPAM, CARSAT]
    assert {c.partner_id for c in shown.own} == {tech.partner_id}
    carsat = Convention.get(
        (Convention.partner == tech.partner_id) & (Convention.caisse == caisse(CARSAT))
    )
    Convention.update(ends_on=date.today()).where(Convention.id == carsat.id).execute()
    assert [s.caisse.name for s in contacts.for_help(tech).caisses] == [CPAM]
    Convention.update(ends_on=None, state="pending").where(Convention.id == carsat.id).execute()
    assert [s.caisse.name for s in contacts.for_help(tech).caisses] == [CPAM]


def test_a_thematic_contact_shows_where_its_offer_is_active(ctx):
    agent = account("caisse.demo")
    contacts.add(
        agent,
        {
            "role": "theme",
            "name": "Plateforme signalements",
            "phone": "0199000077",
            "offer": Offer.get(Offer.code == "signalement").id,
        },
    )
    voisin = Convention.get(Convention.partner == partner("CCAS Voisin"))
    ConventionOffer.delete().where(
        (ConventionOffer.convention == voisin)
        & (ConventionOffer.offer == Offer.get(Offer.code == "signalement"))
    ).execute()

    def names(username):
        return [c.name for s in contacts.for_help(account(username)).caisses for c in s.contacts]

    assert "Plateforme signalements" in names("technicien.demo")
    assert "Plateforme signalements" not in names("technicien.voisin")


# Pages


def test_the_help_page_shows_current_contacts_and_drops_ended_conventions(client, login_as):
    login_as("technicien.demo")
    page = client.get("/aide").get_data(as_text=True)
    assert (
        "Service partenaires – CPAM de Démo" in page and "Service social – CARSAT de Démo" in page
    )
    assert "01 99 00 00 01" in page and "dpo.cpam@example.org" in page
    assert "Gaëlle Exemple" in page  # the structure's own référent
    assert "Gérard Voisin-Exemple" not in page  # another structure's
    # The caisse changes its référent: the help page shows the new one.
    login_as("caisse.demo")
    referent = Contact.get((Contact.caisse == caisse(CPAM)) & (Contact.role == "referent"))
    response = client.post(
        f"/contacts/{referent.id}/edit",
        data={
            "role": "referent",
            "name": "Nadia Nouvelle",
            "function": "Chargée de partenariat",
            "phone": "01 99 00 00 09",
            "email": "nadia@example.org",
        },
    )
    assert response.status_code == 303
    login_as("technicien.demo")
    page = client.get("/aide").get_data(as_text=True)
    assert "Nadia Nouvelle" in page and "01 99 00 00 09" in page
    assert "Service partenaires – CPAM de Démo" not in page
    # The convention with the CARSAT ends: its contacts drop off.
    Convention.update(ends_on=date.today()).where(
        (Convention.partner == partner("CCAS de Démo")) & (Convention.caisse == caisse(CARSAT))
    ).execute()
    page = client.get("/aide").get_data(as_text=True)
    assert "Service social – CARSAT de Démo" not in page and CARSAT not in page
    assert "Nadia Nouvelle" in page


def test_another_caisse_s_contacts_never_show(client, login_as):
    login_as("technicien.voisin")  # conventioned with the CPAM only
    page = client.get("/aide").get_data(as_text=True)
    assert "Service partenaires – CPAM de Démo" in page
    assert "CARSAT" not in page and "dpo.carsat@example.org" not in page


def test_the_caisse_s_help_page_shows_its_own_contacts(client, login_as):
    login_as("caisse.demo")
    page = client.get("/aide").get_data(as_text=True)
    assert "Service partenaires – CPAM de Démo" in page and "dpo.cpam@example.org" in page
    assert "dpo.carsat@example.org" not in page and "Gaëlle Exemple" not in page
    assert 'href="/contacts/"' in page


def test_a_gestionnaire_manages_the_structure_s_referents_through_the_pages(client, login_as):
    login_as("gestionnaire.voisin")
    page = client.get("/contacts/").get_data(as_text=True)
    assert "Gérard Voisin-Exemple" in page and "Gaëlle Exemple" not in page
    assert 'value="support"' not in page  # the structure's roles only
    response = client.post(
        "/contacts/new",
        data={
            "role": "referent",
            "name": "Rémi Exemple",
            "function": "Travailleur social",
            "phone": "01 99 00 00 35",
            "email": "remi@example.org",
        },
    )
    assert response.status_code == 303
    contact = Contact.get(Contact.name == "Rémi Exemple")
    assert contact.partner_id == partner("CCAS Voisin").id and contact.phone == "+33199000035"
    bad = client.post("/contacts/new", data={"role": "referent", "name": "Sans moyen"})
    assert bad.status_code == 200 and "téléphone ou une adresse e-mail" in bad.get_data(
        as_text=True
    )
    assert not Contact.select().where(Contact.name == "Sans moyen").exists()
    edit = client.get(f"/contacts/{contact.id}/edit").get_data(as_text=True)
    assert 'value="Rémi Exemple"' in edit
    assert client.post(f"/contacts/{contact.id}/delete").status_code == 303
    assert not Contact.select().where(Contact.id == contact.id).exists()
    # The caisse sees the structure's référents on the partner's page.
    login_as("caisse.demo")
    page = client.get(f"/partners/{partner('CCAS Voisin').id}").get_data(as_text=True)
    assert "Gérard Voisin-Exemple" in page


def test_a_caisse_agent_adds_a_thematic_contact_shown_to_its_partners(client, login_as):
    login_as("caisse.demo")
    page = client.get("/contacts/").get_data(as_text=True)
    assert 'value="theme"' in page and "Service partenaires – CPAM de Démo" in page
    assert "Service social – CARSAT de Démo" not in page
    response = client.post(
        "/contacts/new",
        data={
            "role": "theme",
            "theme": "Invalidité",
            "name": "Service invalidité",
            "email": "invalidite@example.org",
        },
    )
    assert response.status_code == 303
    login_as("technicien.voisin")
    page = client.get("/aide").get_data(as_text=True)
    assert "Invalidité" in page and "invalidite@example.org" in page
    login_as("carsat.demo")
    assert "invalidite@example.org" not in client.get("/aide").get_data(as_text=True)


def test_another_owner_s_contact_is_not_found(client, login_as):
    cpam_contact = Contact.get(Contact.caisse == caisse(CPAM))
    login_as("carsat.demo")
    assert client.get(f"/contacts/{cpam_contact.id}/edit").status_code == 404
    assert client.post(f"/contacts/{cpam_contact.id}/delete").status_code == 404
    login_as("caisse.demo")
    assert client.get(f"/contacts/{cpam_contact.id}/edit").status_code == 200
    login_as("technicien.demo")
    assert client.get("/contacts/").status_code == 403


def test_the_caisse_sets_its_departement(client, login_as):
    login_as("caisse.demo")
    assert client.post("/contacts/departement", data={"departement": "57"}).status_code == 303
    assert caisse(CPAM).departement == "57"
    assert AuditEvent.select().where(AuditEvent.action == "caisse_departement").exists()
    page = client.post("/contacts/departement", data={"departement": "99"})
    assert page.status_code == 200 and 'id="departement-error"' in page.get_data(as_text=True)
    assert caisse(CPAM).departement == "57"
    assert client.post("/contacts/departement", data={"departement": ""}).status_code == 303
    assert caisse(CPAM).departement == ""


# Migration from schema 3


REFERENT_V3 = (
    'CREATE TABLE "referent" ("id" {pk}, "convention_id" INTEGER NOT NULL, '
    '"role" VARCHAR(20) NOT NULL, "name" VARCHAR(120) NOT NULL, '
    '"function" VARCHAR(120) NOT NULL, "phone" VARCHAR(30) NOT NULL, '
    '"email" VARCHAR(254) NOT NULL, FOREIGN KEY ("convention_id") REFERENCES "convention" '
    '("id") ON DELETE CASCADE)'
)


def back_to_schema_3():
    """Undo `_v4_contacts` by hand: the référents of schema 3, per convention."""
    sql = db.database.execute_sql
    sql('DROP TABLE "training"')
    sql('DROP TABLE "contact"')
    sql('ALTER TABLE "caisse" DROP COLUMN "departement"')
    pk = "INTEGER NOT NULL PRIMARY KEY" if db.is_sqlite() else "SERIAL NOT NULL PRIMARY KEY"
    sql(REFERENT_V3.format(pk=pk))
    sql('CREATE INDEX "referent_convention_id" ON "referent" ("convention_id")')


def test_schema_4_moves_each_referent_to_its_owner_once(app):
    """Schema 3's référents hung on a convention: the partner's go to the structure, the
    caisse's, support and DPO to the caisse; the same person recorded on several conventions
    becomes one contact."""
    cpam, carsat = caisse(CPAM), caisse(CARSAT)
    demo, voisin = partner("CCAS de Démo"), partner("CCAS Voisin")
    conv = {(c.partner_id, c.caisse_id): c.id for c in Convention.select()}
    with db.write():
        back_to_schema_3()
    rows = [
        (
            conv[demo.id, cpam.id],
            "partenaire",
            "Jeanne Exemple",
            "Directrice",
            "+33199000051",
            "jeanne@example.org",
        ),
        (
            conv[demo.id, carsat.id],
            "partenaire",
            "Jeanne  exemple",
            "",
            "+33199000051",
            "Jeanne@Example.org",
        ),
        (
            conv[demo.id, cpam.id],
            "caisse",
            "Service partenaires",
            "",
            "+33199000052",
            "p@example.org",
        ),
        (
            conv[voisin.id, cpam.id],
            "caisse",
            "Service partenaires",
            "Référent",
            "+33199000052",
            "p@example.org",
        ),
        (conv[voisin.id, cpam.id], "caisse", "Autre référent", "", "", "autre@example.org"),
        (conv[demo.id, cpam.id], "support", "Assistance", "", "+33199000053", ""),
        (conv[demo.id, cpam.id], "dpo", "DPO", "", "", "dpo@example.org"),
        (conv[voisin.id, cpam.id], "dpo", "DPO", "", "", "dpo@example.org"),
        (conv[demo.id, carsat.id], "caisse", "Service social", "", "+33199000054", ""),
        (conv[demo.id, carsat.id], "dpo", "DPO", "", "", "dpo@example.org"),
    ]
    mark = db.database.param
    for row in rows:
        db.database.execute_sql(
            'INSERT INTO "referent" ("convention_id", "role", "name", "function", "phone", '
            f'"email") VALUES ({", ".join([mark] * 6)})',
            row,
        )
    with db._foreign_keys_off(), db.write():  # as db.upgrade() runs a step
        db._v4_contacts(db._migrator(), migrate)
    assert not db.database.table_exists("referent")

    def owned(**owner):
        return sorted(
            (c.role, c.name, c.function, c.phone, c.email)
            for c in Contact.select().where(*[getattr(Contact, k) == v for k, v in owner.items()])
        )

    assert owned(partner=demo.id) == [
        ("referent", "Jeanne Exemple", "Directrice", "+33199000051", "jeanne@example.org")
    ]
    assert owned(partner=voisin.id) == []
    assert owned(caisse=cpam.id) == [
        ("dpo", "DPO", "", "", "dpo@example.org"),
        ("referent", "Autre référent", "", "", "autre@example.org"),
        ("referent", "Service partenaires", "Référent", "+33199000052", "p@example.org"),
        ("support", "Assistance", "", "+33199000053", ""),
    ]
    assert owned(caisse=carsat.id) == [
        ("dpo", "DPO", "", "", "dpo@example.org"),
        ("referent", "Service social", "", "+33199000054", ""),
    ]
    assert {c.departement for c in Caisse.select()} == {""}  # the national list until set
    assert (
        not Contact.select()
        .where(Contact.partner.is_null(False) & Contact.caisse.is_null(False))
        .exists()
    )


def test_the_partner_page_of_the_caisse_shows_no_other_caisse_s_trainings_or_contacts(
    client, login_as
):
    login_as("carsat.demo")
    page = client.get(f"/partners/{partner('CCAS de Démo').id}").get_data(as_text=True)
    assert "Gaëlle Exemple" in page  # the structure's référent, for each of its caisses
    assert "Service partenaires – CPAM de Démo" not in page
    assert "Prise en main de l" not in page  # the CPAM's training


def test_an_ended_convention_leaves_the_structure_s_own_contacts(ctx):
    demo = partner("CCAS de Démo")
    before = len(contacts.of_partner(demo))
    Convention.update(ends_on=date.today() - timedelta(days=1)).where(
        Convention.partner == demo
    ).execute()
    assert len(contacts.of_partner(demo)) == before
