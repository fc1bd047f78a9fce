"""Each caisse's own catalogue of offers and motifs (issue 12.3): separation, activation of
motifs per convention, labels kept per version, the code AMELI motif, where a document is
sent."""

import html
import os
from datetime import date, timedelta

import pytest

from ep import catalogue, demandes, partners
from ep.accounts import create_caisse_agent
from ep.models import (
    AuditEvent,
    Caisse,
    Convention,
    Demande,
    Motif,
    MotifLabel,
    Offer,
    Partner,
    now,
)
from ep.rules import RuleError

from .conftest import account

PASSWORD = "mot de passe de test 2026"


@pytest.fixture
def act(app):
    """Call a rule in a request context of its own (`ctx` would share flask-login's cached
    user with the test client's requests)."""

    def run(rule, *args, **kwargs):
        with app.test_request_context(base_url="http://ep.test"):
            return rule(*args, **kwargs)

    return run


def read(response):
    """The page as a person reads it (entities such as &#39; decoded)."""
    return html.unescape(response.get_data(as_text=True))


def ticked(page, value):
    """Whether the page's checkbox of this value is ticked (None: no such checkbox)."""
    import re

    found = re.search(rf'<input[^>]*value="{re.escape(value)}"[^>]*>', page)
    return None if found is None else " checked" in found.group(0)


def caisse(name):
    return Caisse.get(Caisse.name == name).id


def cpam():
    return caisse("CPAM de Démo")


def carsat():
    return caisse("CARSAT de Démo")


def rule_data(**changes):
    data = {
        "caisse": cpam(),
        "offer": "document",
        "motif": "attestation_droits",
        "civilite": "Mme",
        "nom": "Catalogue",
        "prenom": "Zoé",
        "date_naissance": date(1980, 2, 3),
        "departement": "68",
        "informed": True,
        "commentaire": "Attestation de droits à jour demandée.",
    }
    data.update(changes)
    return data


def form(**changes):
    data = {
        k: (v.isoformat() if isinstance(v, date) else "y" if v is True else v)
        for k, v in rule_data(**changes).items()
        if v is not None and v is not False
    }
    data["caisse"] = str(data["caisse"])
    return data


def convention_of(partner_name, caisse_id):
    partner = Partner.get(Partner.name == partner_name)
    return Convention.get((Convention.partner == partner) & (Convention.caisse == caisse_id))


def convention_form(convention, **changes):
    data = {
        "headcount": str(convention.partner.headcount),
        "signed_on": convention.signed_on.isoformat(),
        "starts_on": convention.starts_on.isoformat(),
        "habilitation_deadline_days": str(convention.habilitation_deadline_days),
        "offers": sorted(convention.offer_codes()),
        "motifs": sorted(partners.motif_keys_on(convention)),
        "motifs_listed": "1",
    }
    if convention.may_receive_documents:
        data["may_receive_documents"] = "y"
    data.update(changes)
    return data


# Per-caisse separation


def test_each_caisse_has_its_own_copy_of_the_reference_catalogue(ctx):
    for caisse_id in (cpam(), carsat()):
        offers = catalogue.offers_of(caisse_id)
        assert [o.code for o, _ in offers] == [code for code, _, _ in catalogue.OFFERS]
        assert all(o.caisse_id == caisse_id for o, _ in offers)
    shared = Offer.select().where(Offer.code == "document")
    assert shared.count() == 2 and len({o.id for o in shared}) == 2
    assert Motif.of(cpam(), "document", "ceam").id != Motif.of(carsat(), "document", "ceam").id


def test_a_new_caisse_starts_from_the_reference_catalogue(ctx):
    agent = create_caisse_agent("CARSAT Nouvelle", "carsat.nouvelle", "a@example.org", PASSWORD)
    offers = catalogue.offers_of(agent.caisse_id)
    assert [(o.code, o.label) for o, _ in offers] == [
        (c, label) for c, label, _ in catalogue.OFFERS
    ]
    ameli = Motif.of(agent.caisse_id, "contact", "autre")
    assert ameli.label == "Autre motif de contact : code AMELI" and ameli.concerns_assure
    assert not Motif.of(agent.caisse_id, "contact", "convention").concerns_assure
    assert Offer.of(agent.caisse_id, "signalement").target_hours == 48


def test_what_a_caisse_changes_stays_in_its_catalogue(ctx):
    agent = account("carsat.demo")
    offer = Offer.of(carsat(), "document")
    catalogue.update_offer(agent, offer, "Demander une attestation", 72, True)
    motif = Motif.of(carsat(), "document", "ceam")
    catalogue.update_motif(agent, motif, "CEAM (séjour temporaire)", True, False)
    assert Offer.of(cpam(), "document").label == "Demander un document"
    assert Offer.of(cpam(), "document").target_hours == 120
    assert Motif.of(cpam(), "document", "ceam").label == "Certificat provisoire CEAM"
    assert Motif.of(cpam(), "document", "ceam").active


def test_another_caisse_s_agent_neither_sees_nor_changes_a_catalogue(client, login_as):
    offer = Offer.of(cpam(), "document")
    motif = Motif.of(cpam(), "document", "ceam")
    login_as("carsat.demo")
    page = read(client.get("/catalogue/"))
    assert f"/catalogue/offers/{Offer.of(carsat(), 'document').id}" in page
    assert f"/catalogue/offers/{offer.id}" not in page
    for url in (f"/catalogue/offers/{offer.id}", f"/catalogue/motifs/{motif.id}"):
        assert client.get(url).status_code == 404
        assert client.post(url, data={"label": "Pris", "target_hours": "1"}).status_code == 404
    response = client.post(f"/catalogue/offers/{offer.id}/motifs", data={"label": "Intrus"})
    assert response.status_code == 404
    with pytest.raises(RuleError, match="autre caisse"):
        catalogue.update_offer(account("carsat.demo"), offer, "Pris", 1, True)
    assert Offer.of(cpam(), "document").label == "Demander un document"
    assert not Motif.select().where(Motif.label == "Intrus").exists()
    login_as("technicien.demo")
    assert client.get("/catalogue/").status_code == 403


def test_the_request_form_offers_the_chosen_caisse_s_labels(client, login_as, act):
    act(
        catalogue.update_offer,
        account("carsat.demo"),
        Offer.of(carsat(), "document"),
        "Documents CARSAT",
        120,
        True,
    )
    login_as("technicien.demo")
    cpam_page = read(client.get(f"/demandes/new?caisse={cpam()}"))
    carsat_page = read(client.get(f"/demandes/new?caisse={carsat()}"))
    assert "Demander un document" in cpam_page and "Documents CARSAT" not in cpam_page
    assert "Documents CARSAT" in carsat_page


def test_a_request_points_at_its_caisse_s_offer_and_motif(ctx):
    tech = account("technicien.demo")
    d = demandes.submit(tech, rule_data(caisse=carsat()), [])
    assert d.offer.caisse_id == carsat() and d.motif.offer_id == d.offer_id
    d = demandes.submit(tech, rule_data(nom="Autre"), [])
    assert d.offer.caisse_id == cpam()


# Offers and motifs activated per convention


def test_the_caisse_opens_some_motifs_of_an_offer_to_a_structure(client, login_as):
    convention = convention_of("CCAS Voisin", cpam())
    login_as("caisse.demo")
    page = read(client.get(f"/partners/conventions/{convention.id}/edit"))
    assert ticked(page, "document:ceam") and 'name="motifs_listed"' in page
    keys = [k for k in partners.motif_keys_on(convention) if k != "document:ceam"]
    response = client.post(
        f"/partners/conventions/{convention.id}/edit", data=convention_form(convention, motifs=keys)
    )
    assert response.status_code == 303
    assert "document:ceam" not in partners.motif_keys_on(convention)
    page = read(client.get(f"/partners/conventions/{convention.id}/edit"))
    assert ticked(page, "document:ceam") is False
    event = AuditEvent.select().where(AuditEvent.action == "convention_updated").get()
    assert "motifs fermés : document:ceam" in event.detail

    login_as("technicien.voisin")
    page = read(client.get(f"/demandes/new?caisse={cpam()}&offer=document"))
    assert "Attestation de droits" in page and "Certificat provisoire CEAM" not in page
    refused = client.post("/demandes/new", data=form(motif="ceam"))
    text = read(refused)
    assert refused.status_code == 200 and 'id="motif-error"' in text
    assert "pas ouvert à votre structure" in text
    assert not Demande.select().where(Demande.assure_nom == "Catalogue").exists()
    # The other structure keeps the motif.
    login_as("technicien.demo")
    assert client.post("/demandes/new", data=form(motif="ceam")).status_code == 303


def test_an_activated_offer_opens_at_least_one_motif(client, login_as):
    convention = convention_of("CCAS Voisin", cpam())
    login_as("caisse.demo")
    keys = [k for k in partners.motif_keys_on(convention) if not k.startswith("document:")]
    page = read(
        client.post(
            f"/partners/conventions/{convention.id}/edit",
            data=convention_form(convention, motifs=keys),
        )
    )
    assert "Cochez au moins un motif de l'offre « Demander un document »" in page
    assert "document:ceam" in partners.motif_keys_on(convention)


def test_a_post_without_the_motif_list_leaves_the_motifs_alone(ctx):
    convention = convention_of("CCAS Voisin", cpam())
    agent = account("caisse.demo")
    keys = [k for k in partners.motif_keys_on(convention) if k != "rendez_vous:ame"]
    fields = {"signed_on": convention.signed_on, "starts_on": convention.starts_on}
    partners.update_convention(agent, convention, fields, convention.offer_codes(), motif_keys=keys)
    partners.update_convention(agent, convention, fields, {"document", "rendez_vous"})
    assert convention.offer_codes() == {"document", "rendez_vous"}
    assert "rendez_vous:ame" not in partners.motif_keys_on(convention)
    assert [m.code for m in convention.active_motifs(Offer.of(cpam(), "rendez_vous"))][:1] == [
        "arrets_travail"
    ]


def test_a_new_structure_gets_the_offers_and_motifs_ticked(client, login_as):
    login_as("caisse.demo")
    page = read(client.get("/partners/new"))
    assert ticked(page, "contact:autre")
    data = {
        "name": "CCAS de Motifville",
        "siret": "268 000 023 00013",
        "headcount": "30",
        "signed_on": "2026-11-01",
        "starts_on": "2026-11-15",
        "habilitation_deadline_days": "5",
        "offers": ["contact", "document"],
        "motifs": ["contact:autre", "document:ceam"],
        "motifs_listed": "1",
    }
    assert client.post("/partners/new", data=data).status_code == 303
    convention = Convention.get(Convention.partner == Partner.get(Partner.name == data["name"]))
    assert convention.offer_codes() == {"contact", "document"}
    assert [(m.offer.code, m.code) for m in convention.active_motifs()] == [
        ("contact", "autre"),
        ("document", "ceam"),
    ]


def test_a_motif_withdrawn_from_the_catalogue_is_refused_then_proposed_again(client, login_as, act):
    login_as("caisse.demo")
    motif = Motif.of(cpam(), "document", "ceam")
    response = client.post(
        f"/catalogue/motifs/{motif.id}", data={"label": motif.label, "concerns_assure": "y"}
    )
    assert response.status_code == 303
    assert not Motif.get_by_id(motif.id).active
    with pytest.raises(RuleError, match="plus proposé") as exc:
        act(demandes.submit, account("technicien.demo"), rule_data(motif="ceam"), [])
    assert exc.value.field == "motif"
    convention = convention_of("CCAS de Démo", cpam())
    page = read(client.get(f"/partners/conventions/{convention.id}/edit"))
    assert 'value="document:ceam"' not in page  # nothing to open
    client.post(
        f"/catalogue/motifs/{motif.id}",
        data={"label": motif.label, "concerns_assure": "y", "active": "y"},
    )
    d = act(demandes.submit, account("technicien.demo"), rule_data(motif="ceam"), [])
    assert d.motif_id == motif.id


def test_an_offer_withdrawn_from_the_catalogue_leaves_the_forms(client, login_as, act):
    login_as("caisse.demo")
    offer = Offer.of(cpam(), "rendez_vous")
    client.post(f"/catalogue/offers/{offer.id}", data={"label": offer.label, "target_hours": "120"})
    convention = convention_of("CCAS Voisin", cpam())
    assert "rendez_vous" not in convention.offer_codes()
    login_as("technicien.voisin")
    page = read(client.get(f"/demandes/new?caisse={cpam()}"))
    assert "Demander un rendez-vous" not in page
    with pytest.raises(RuleError, match="pas activée"):
        act(
            demandes.submit,
            account("technicien.voisin"),
            rule_data(offer="rendez_vous", motif="c2s"),
            [],
        )
    login_as("caisse.demo")
    client.post(
        f"/catalogue/offers/{offer.id}",
        data={"label": offer.label, "target_hours": "120", "active": "y"},
    )
    assert "rendez_vous" in convention.offer_codes()  # activated where it was


# The catalogue page


def test_the_caisse_renames_adds_and_sets_defaults_all_audited(client, login_as, act):
    login_as("caisse.demo")
    page = read(client.get("/catalogue/"))
    assert "Catalogue des offres de CPAM de Démo" in page and "code AMELI" in page
    offer = Offer.of(cpam(), "document")
    response = client.post(
        f"/catalogue/offers/{offer.id}",
        data={"label": "Obtenir un document", "target_hours": "48", "active": "y"},
    )
    assert response.status_code == 303
    response = client.post(
        f"/catalogue/offers/{offer.id}/motifs",
        data={"label": "Relevé d'indemnités journalières", "concerns_assure": "y"},
    )
    assert response.status_code == 303
    added = Motif.get(Motif.label == "Relevé d'indemnités journalières")
    assert (added.code, added.offer_id, added.position) == (
        "releve_d_indemnites_journalieres",
        offer.id,
        6,
    )
    response = client.post(
        "/catalogue/offers", data={"label": "Accompagnement", "target_hours": "96"}
    )
    assert response.status_code == 303
    new_offer = Offer.get(Offer.label == "Accompagnement")
    assert (new_offer.caisse_id, new_offer.code, new_offer.position) == (
        cpam(),
        "accompagnement",
        6,
    )
    page = read(client.get(f"/catalogue/offers/{offer.id}"))
    assert "« Demander un document », jusqu'au" in page
    actions = [
        (e.action, e.detail, e.caisse_id)
        for e in AuditEvent.select()
        .where(AuditEvent.action.startswith("catalogue_") & (AuditEvent.caisse == cpam()))
        .order_by(AuditEvent.id)
    ]
    assert [a for a, _, _ in actions] == [
        "catalogue_offer_updated",
        "catalogue_motif_added",
        "catalogue_offer_added",
    ]
    assert "« Demander un document » → « Obtenir un document »" in actions[0][1]
    assert "délai cible 120 h → 48 h" in actions[0][1]
    assert {c for _, _, c in actions} == {cpam()}
    # The new default target time applies to new requests (no convention target set).
    d = act(
        demandes.submit,
        account("technicien.demo"),
        rule_data(motif="releve_d_indemnites_journalieres"),
        [],
    )
    assert d.target_hours == 48


def test_bad_catalogue_input_comes_back_by_the_field(client, login_as):
    login_as("caisse.demo")
    offer = Offer.of(cpam(), "document")
    page = read(
        client.post(f"/catalogue/offers/{offer.id}", data={"label": "", "target_hours": "0"})
    )
    assert 'id="label-error"' in page and 'id="target_hours-error"' in page
    page = read(
        client.post(f"/catalogue/offers/{offer.id}/motifs", data={"label": "attestation de DROITS"})
    )
    assert "déjà un motif de ce libellé" in page and 'id="label-error"' in page
    page = read(
        client.post(
            "/catalogue/offers", data={"label": "Demander un document", "target_hours": "10"}
        )
    )
    assert "déjà une offre de ce libellé" in page
    assert Offer.select().where(Offer.caisse == cpam()).count() == 5
    assert (
        not AuditEvent.select()
        .where(AuditEvent.action.startswith("catalogue_") & (AuditEvent.caisse == cpam()))
        .exists()
    )


def test_a_change_that_changes_nothing_is_not_audited(ctx):
    offer = Offer.of(cpam(), "document")
    catalogue.update_offer(account("caisse.demo"), offer, offer.label, offer.target_hours, True)
    assert (
        not AuditEvent.select()
        .where(AuditEvent.action.startswith("catalogue_") & (AuditEvent.caisse == cpam()))
        .exists()
    )
    assert not MotifLabel.select().exists()


# Labels kept per version


def test_an_old_request_keeps_the_labels_it_was_sent_with(client, login_as, act):
    tech = account("technicien.demo")
    old = act(demandes.submit, tech, rule_data(nom="Ancienne"), [])
    Demande.update(created_at=now() - timedelta(days=3)).where(Demande.id == old.id).execute()
    agent = account("caisse.demo")
    offer, motif = Offer.of(cpam(), "document"), Motif.of(cpam(), "document", "attestation_droits")
    act(
        catalogue.update_offer,
        agent,
        offer,
        "Obtenir un document",
        120,
        True,
        at=now() - timedelta(days=2),
    )
    act(catalogue.update_motif, agent, motif, "Attestation de droits (papier)", True, True)
    act(
        catalogue.update_motif,
        agent,
        Motif.get_by_id(motif.id),
        "Attestation de droits à jour",
        True,
        True,
    )
    new = act(demandes.submit, tech, rule_data(nom="Nouvelle"), [])
    old_page = Demande.get_by_id(old.id)
    assert (old_page.offer_label, old_page.motif_label) == (
        "Demander un document",
        "Attestation de droits",
    )
    assert (new.offer_label, new.motif_label) == (
        "Obtenir un document",
        "Attestation de droits à jour",
    )

    for user, lists in (("technicien.demo", "/demandes/"), ("caisse.demo", "/demandes/queue")):
        login_as(user)
        page = read(client.get(f"/demandes/{old.id}"))
        assert "<dd>Demander un document</dd>" in page and "<dd>Attestation de droits</dd>" in page
        page = read(client.get(f"/demandes/{new.id}"))
        assert "<dd>Attestation de droits à jour</dd>" in page
        page = read(client.get(lists))
        assert "Demander un document – Attestation de droits<" in page
        assert "Obtenir un document – Attestation de droits à jour<" in page


def test_the_labels_of_a_page_cost_one_query(ctx, statements):
    tech = account("technicien.demo")
    ids = [d.id for d in Demande.select(Demande.id)]
    statements.clear()
    rows = Demande.listed_in_order(tech, ids)
    assert [d.motif_label for d in rows] and len(statements) == 2


# The code AMELI motif and the assuré's identity


def test_code_ameli_asks_for_the_assure_s_identity(client, login_as, act):
    tech = account("technicien.demo")
    with pytest.raises(RuleError) as exc:
        act(
            demandes.submit,
            tech,
            rule_data(offer="contact", motif="autre", nom="", prenom="", civilite=None),
            [],
        )
    fields = {field for field, _ in exc.value.errors}
    assert {"civilite", "nom", "prenom"} <= fields
    d = act(demandes.submit, tech, rule_data(offer="contact", motif="autre", nom="Ameli"), [])
    assert d.assure_nom == "Ameli" and d.concerns_assure
    assert d.motif_label == "Autre motif de contact : code AMELI"
    # A partnership motif of the same offer takes no identity, even typed.
    d = act(demandes.submit, tech, rule_data(offer="contact", motif="convention", nom="Tapé"), [])
    assert d.assure_nom == "" and d.assure_date_naissance is None and not d.concerns_assure

    login_as("technicien.demo")
    url = f"/demandes/new?caisse={cpam()}&offer=contact"
    partial = read(client.get(url + "&motif=autre", headers={"HX-Request": "true"}))
    assert 'id="identite"' in partial and 'hx-preserve="true"' in partial
    partial = read(client.get(url + "&motif=convention", headers={"HX-Request": "true"}))
    assert 'id="identite"' not in partial and "concerne le partenariat" in partial
    partial = read(client.get(url, headers={"HX-Request": "true"}))
    assert 'id="identite"' not in partial and "choisissez d'abord le motif" in partial
    # The motif list refreshes the block (htmx), like the caisse and offer lists.
    assert partial.count('hx-include="#caisse, #offer, #motif"') == 3
    # Without JavaScript: sent without the identity, the form comes back with it, by field.
    page = read(
        client.post("/demandes/new", data=form(offer="contact", motif="autre", nom="", prenom=""))
    )
    assert 'id="identite"' in page and 'id="nom-error"' in page and 'id="prenom-error"' in page
    assert "hx-preserve" not in page  # a page from the server shows its errors, kept or not
    page = read(
        client.post("/demandes/new", data=form(offer="contact", motif="autre", refresh="1"))
    )
    assert 'id="identite"' in page and 'value="Catalogue"' in page


def test_a_motif_the_caisse_says_concerns_no_assure_takes_no_identity(client, login_as, act):
    motif = Motif.of(cpam(), "document", "prevention")
    login_as("caisse.demo")
    client.post(f"/catalogue/motifs/{motif.id}", data={"label": motif.label, "active": "y"})
    assert not Motif.get_by_id(motif.id).concerns_assure
    d = act(demandes.submit, account("technicien.demo"), rule_data(motif="prevention"), [])
    assert d.assure_nom == ""


# Where a document asked for is sent


@pytest.mark.parametrize(
    "caisse_name, expected",
    [
        ("CPAM de Démo", "à l'adresse connue de l'assuré"),
        ("CARSAT de Démo", "envoyé à votre structure"),
    ],
)
def test_the_document_form_says_where_the_document_is_sent(client, login_as, caisse_name, expected):
    login_as("technicien.demo")  # CCAS de Démo: documents from the CARSAT only
    caisse_id = caisse(caisse_name)
    partial = read(
        client.get(
            f"/demandes/new?caisse={caisse_id}&offer=document", headers={"HX-Request": "true"}
        )
    )
    assert 'id="document_destination"' in partial and expected in partial
    # Without JavaScript, the page refreshed after choosing the offer says it too.
    page = read(client.post("/demandes/new", data=form(caisse=caisse_id, motif="", refresh="1")))
    assert expected in page
    other = read(
        client.get(
            f"/demandes/new?caisse={caisse_id}&offer=rendez_vous", headers={"HX-Request": "true"}
        )
    )
    assert 'id="document_destination"' not in other


def test_the_request_page_says_where_the_document_is_sent(client, login_as, act):
    tech = account("technicien.demo")
    to_assure = act(demandes.submit, tech, rule_data(), [])
    to_structure = act(demandes.submit, tech, rule_data(caisse=carsat()), [])
    other = act(demandes.submit, tech, rule_data(offer="rendez_vous", motif="c2s"), [])
    login_as("technicien.demo")
    page = read(client.get(f"/demandes/{to_assure.id}"))
    assert "Envoi du document" in page and "À l'adresse connue de l'assuré" in page
    page = read(client.get(f"/demandes/{to_structure.id}"))
    assert "À la structure (sa convention l'autorise" in page
    assert "Envoi du document" not in read(client.get(f"/demandes/{other.id}"))
    login_as("caisse.demo")
    page = read(client.get(f"/demandes/{to_assure.id}"))
    assert "À l'adresse connue de l'assuré" in page


# Schema 4: from one catalogue for all to one per caisse


V3_ROWS = """
INSERT INTO schema_version (version) VALUES (3);
INSERT INTO caisse VALUES (1, 'CPAM', '2026-01-01'), (2, 'CARSAT', '2026-01-01'),
  (3, 'MSA', '2026-01-01');
INSERT INTO partner VALUES (1, '26800000700016', 'CCAS A', 10, '2026-01-01');
INSERT INTO convention (id, partner_id, caisse_id, signed_on, starts_on, may_receive_documents,
  habilitation_deadline_days, created_at, state, cut_off_reason) VALUES
  (1, 1, 1, '2026-01-01', '2026-01-01', 0, 5, '2026-01-01', 'accepted', ''),
  (2, 1, 2, '2026-01-01', '2026-01-01', 1, 5, '2026-01-01', 'accepted', '');
INSERT INTO offer VALUES (1, 'contact', 'Contacter votre organisme d''assurance maladie', 1, 0),
  (2, 'document', 'Demander un document', 2, 1);
INSERT INTO motif VALUES (1, 1, 'convention', 'Gérer la convention de partenariat', 3),
  (2, 1, 'autre', 'Autre motif de contact', 5), (3, 2, 'ceam', 'Certificat provisoire CEAM', 2);
INSERT INTO convention_offer VALUES (1, 1, 1, NULL), (2, 1, 2, 24), (3, 2, 1, NULL),
  (4, 2, 2, NULL);
INSERT INTO account (id, username, profile, partner_id, civilite, nom, prenom, fonction,
  telephone, email, state, created_at, inactivation_reason, notify_by_email, search_key,
  cgu_version, session_token)
  VALUES (1, 'tech', 'technicien', 1, '', '', '', '', '', '', 'active', '2026-01-01',
  '', 1, '', '', 'x');
"""


def v3_database(tmp_path, requests):
    """A schema-3 SQLite file (tests/schema/v3.sql) with two caisses' rows; `requests`:
    [(id, caisse, offer id, motif id)]."""
    import sqlite3
    from pathlib import Path

    folder = tmp_path / "instance"
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v3.sql").read_text())
    conn.executescript(V3_ROWS)
    conn.executemany(
        "INSERT INTO demande (id, partner_id, caisse_id, author_id, offer_id, motif_id, status, "
        "urgent, assure_civilite, assure_nom, assure_prenom, assure_departement, "
        "assure_informed, assure_search, commentaire, target_hours, created_at, updated_at, "
        "partner_reply_pending) VALUES (?, 1, ?, 1, ?, ?, 'submitted', 0, '', '', '', '', 0, "
        "'', 'Texte', 120, '2026-01-02 10:00:00', '2026-01-02 10:00:00', 0)",
        requests,
    )
    conn.commit()
    conn.close()
    return folder / "ep.sqlite3"


@pytest.mark.skipif(bool(os.environ.get("EP_TEST_DATABASE_URL")), reason="a SQLite file")
def test_schema_4_gives_each_caisse_its_catalogue_and_keeps_every_request_s_labels(tmp_path):
    """The caisse with the most requests (the CARSAT here) keeps the existing rows: its
    requests are not rewritten; the CPAM's point at its own copy, same codes and labels; the
    convention links follow; the code AMELI motif is fixed, its old requests keep their
    label."""
    from ep import db

    from .conftest import make_app
    from .test_db import columns, indexes

    path = v3_database(
        tmp_path, [(1, 1, 1, 2), (2, 1, 2, 3), (3, 2, 1, 1), (4, 2, 2, 3), (5, 2, 1, 2)]
    )
    make_app(tmp_path)
    with db.database.connection_context():
        assert db.SchemaVersion.get().version == 4
        codes = {(o.caisse_id, o.code) for o in Offer.select()}
        assert codes == {(c, code) for c in (1, 2, 3) for code in ("contact", "document")}
        requests = {d.id: d for d in Demande.select()}
        # The CARSAT's requests kept their rows' offer and motif.
        assert {i: (requests[i].offer_id, requests[i].motif_id) for i in (3, 4, 5)} == {
            3: (1, 1),
            4: (2, 3),
            5: (1, 2),
        }
        for d in requests.values():
            assert d.offer.caisse_id == d.caisse_id and d.motif.offer_id == d.offer_id
        assert [(requests[i].offer.code, requests[i].motif.code) for i in (1, 2)] == [
            ("contact", "autre"),
            ("document", "ceam"),
        ]
        Demande.with_labels(requests.values())
        for i in (1, 5):
            assert requests[i].motif_label == "Autre motif de contact"
            assert requests[i].offer_label == "Contacter votre organisme d'assurance maladie"
        assert requests[2].motif_label == "Certificat provisoire CEAM"
        for c in (1, 2, 3):
            ameli = Motif.of(c, "contact", "autre")
            assert ameli.label == "Autre motif de contact : code AMELI" and ameli.concerns_assure
            assert not Motif.of(c, "contact", "convention").concerns_assure
            assert Motif.of(c, "document", "ceam").concerns_assure
        cpam_conv, carsat_conv = Convention.get_by_id(1), Convention.get_by_id(2)
        assert cpam_conv.offer_codes() == carsat_conv.offer_codes() == {"contact", "document"}
        assert {o.caisse_id for o in cpam_conv.active_offers()} == {1}
        links = {link.offer.code: link.target_hours for link in cpam_conv.offer_links}
        assert links == {"contact": None, "document": 24}
        assert Offer.of(1, "document").target_hours == 120
        assert db.database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    db.database.close()
    make_app(tmp_path / "fresh")
    db.database.close()
    fresh = tmp_path / "fresh" / "instance" / "ep.sqlite3"
    assert columns(path) == columns(fresh) and indexes(path) == indexes(fresh)


@pytest.mark.skipif(bool(os.environ.get("EP_TEST_DATABASE_URL")), reason="a SQLite file")
def test_schema_4_without_a_caisse_waits_for_the_first_one(tmp_path):
    import sqlite3
    from pathlib import Path

    from ep import db

    from .conftest import make_app

    folder = tmp_path / "instance"
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "ep.sqlite3")
    conn.executescript((Path(__file__).parent / "schema" / "v3.sql").read_text())
    conn.executescript(
        "INSERT INTO schema_version (version) VALUES (3);"
        "INSERT INTO offer VALUES (1, 'contact', 'Contacter', 1, 0);"
        "INSERT INTO motif VALUES (1, 1, 'autre', 'Autre motif de contact', 1);"
    )
    conn.commit()
    conn.close()
    app = make_app(tmp_path)
    with db.database.connection_context():
        assert Offer.select().count() == 0
        with app.app_context():
            agent = create_caisse_agent("CPAM", "agent.cpam", "a@example.org", PASSWORD)
        assert [o.code for o, _ in catalogue.offers_of(agent.caisse_id)][0] == "contact"
    db.database.close()


# What the other parts of issue 12 read of the catalogue


def test_the_structure_s_convention_page_lists_the_motifs_open_to_it(client, login_as, act):
    convention = convention_of("CCAS Voisin", cpam())
    keys = [k for k in partners.motif_keys_on(convention) if k != "document:ceam"]
    fields = {"signed_on": convention.signed_on, "starts_on": convention.starts_on}
    act(
        partners.update_convention,
        account("caisse.demo"),
        convention,
        fields,
        convention.offer_codes() - {"rendez_vous"},
        motif_keys=keys,
    )
    login_as("gestionnaire.voisin")
    page = read(client.get("/conventions/"))
    assert "Attestation de droits" in page and "Certificat provisoire CEAM" not in page
    assert "Demander un rendez-vous" not in page
    assert "Autre motif de contact : code AMELI" in page


def test_a_thematic_contact_follows_an_offer_of_its_own_caisse_only(client, login_as, act):
    from ep import contacts
    from ep.models import Contact

    mine, other = Offer.of(cpam(), "signalement"), Offer.of(carsat(), "signalement")
    login_as("caisse.demo")
    page = read(client.get("/contacts/"))
    assert f'value="{mine.id}"' in page and f'value="{other.id}"' not in page
    fields = {"role": "theme", "name": "Service social", "email": "s@example.org"}
    contact = act(contacts.add, account("caisse.demo"), dict(fields, offer=mine.id))
    assert Contact.get_by_id(contact.id).offer_id == mine.id
    with pytest.raises(RuleError, match="thème"):
        act(contacts.add, account("caisse.demo"), dict(fields, offer=other.id))
