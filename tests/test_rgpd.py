"""Issue 14.2: the référent RGPD permission and the "Données personnelles" space. A référent
finds what is held about a person within its scope (its caisse's requests, its structure's),
exports it, rectifies, erases (gone from the database file, its WAL and the uploads
folder), limits; the journal names request numbers, never the person's identity."""

import io
import zipfile
from datetime import date
from pathlib import Path

import pytest

from ep import demandes, rgpd
from ep.db import database
from ep.models import Account, Attachment, AuditEvent, Demande, Message
from ep.rules import RuleError

from .conftest import account, sqlite_only
from .test_demandes import rule_data, upload
from .test_retention import pdf_with

BORN = date(1957, 3, 14)
IDENTITY = {"nom": "Cœurdelion", "prenom": "Hélène", "date_naissance": BORN.isoformat()}
SECRETS = [
    b"coeurdelion",
    "Cœurdelion".encode(),
    "Hélène".encode(),
    b"Palimpseste",
    b"Ostrakon",
    b"FICHIER-SECRET",
]


@pytest.fixture
def person(app):
    """One person's requests: two of the CCAS de Démo (to the CPAM, with a document and
    exchanges; to the CARSAT), one of CCAS Voisin (to the CPAM); and a homonym born
    another day. Returns {name: request}."""
    with app.test_request_context():
        tech, voisin, agent = (
            account("technicien.demo"),
            account("technicien.voisin"),
            account("caisse.demo"),
        )
        ident = {"nom": "Cœurdelion", "prenom": "Hélène", "date_naissance": BORN}
        cpam = demandes.submit(
            tech,
            rule_data(**ident, commentaire="Situation Palimpseste."),
            [upload(pdf_with(b"FICHIER-SECRET-1"), "avis.pdf")],
        )
        demandes.take(agent, cpam)
        demandes.ask_more(agent, cpam, "Il manque l'avis Ostrakon.", [])
        carsat = demandes.submit(
            tech,
            rule_data(
                **ident,
                caisse=account("carsat.demo").caisse_id,
                offer="rendez_vous",
                motif="invalidite",
            ),
            [],
        )
        other = demandes.submit(voisin, rule_data(**ident), [])
        homonym = demandes.submit(
            tech, rule_data(**{**ident, "date_naissance": date(1960, 1, 1)}), []
        )
    return {"cpam": cpam, "carsat": carsat, "voisin": other, "homonym": homonym}


def search(client, **changes):
    return client.post("/rgpd/", data={**IDENTITY, **changes})


def found_numbers(response):
    import re

    return set(re.findall(r"Demande n° ([0-9]{6})", response.get_data(as_text=True)))


# The permission.


def test_the_demo_has_one_referent_on_each_side(app):
    assert {a.username for a in Account.select() if a.is_rgpd_referent} == {
        "caisse.demo",
        "gestionnaire.demo",
    }


def test_a_gestionnaire_designates_a_gestionnaire_of_its_structure_and_takes_it_back(
    client, login_as
):
    login_as("gestionnaire.voisin")
    target = account("gestionnaire.voisin")
    page = client.get("/rgpd/referents").get_data(as_text=True)
    assert "gestionnaire.voisin" in page and "gestionnaire.demo" not in page
    assert client.get("/rgpd/").status_code == 403  # not yet
    assert 'href="/rgpd/"' not in client.get("/aide").get_data(as_text=True)
    response = client.post(f"/rgpd/referents/{target.id}/grant")
    assert response.status_code == 303
    assert account("gestionnaire.voisin").is_rgpd_referent
    assert client.get("/rgpd/").status_code == 200
    assert 'href="/rgpd/"' in client.get("/aide").get_data(as_text=True)  # the menu entry
    page = client.get(f"/accounts/{target.id}").get_data(as_text=True)
    assert "Référent RGPD" in page and "oui, depuis le" in page
    client.post(f"/rgpd/referents/{target.id}/revoke")
    assert not account("gestionnaire.voisin").is_rgpd_referent
    actions = [
        e.action
        for e in AuditEvent.select().where(AuditEvent.account == target.id).order_by(AuditEvent.id)
    ]
    assert actions[-2:] == ["rgpd_referent_granted", "rgpd_referent_revoked"]
    assert client.get("/rgpd/").status_code == 403


def test_nobody_designates_outside_its_caisse_or_structure(app, client, login_as):
    login_as("caisse.demo")
    # A gestionnaire is not a colleague of a caisse agent; another caisse's agent neither.
    for username in ("gestionnaire.voisin", "carsat.demo", "technicien.demo"):
        assert client.post(f"/rgpd/referents/{account(username).id}/grant").status_code == 404
    with app.app_context():
        with pytest.raises(RuleError):
            rgpd.grant(account("gestionnaire.demo"), account("gestionnaire.voisin"))
        with pytest.raises(RuleError):
            rgpd.grant(account("caisse.demo"), account("carsat.demo"))
    login_as("technicien.demo")
    assert client.get("/rgpd/referents").status_code == 403


def test_a_caisse_agent_designates_an_agent_of_its_caisse(app, client, login_as):
    with app.app_context():
        colleague = Account.create(
            username="agent2.demo",
            profile="caisse",
            state="active",
            caisse=account("caisse.demo").caisse_id,
            nom="Second",
            prenom="Agent",
            email="agent2@example.org",
        )
    login_as("caisse.demo")
    assert "agent2.demo" in client.get("/rgpd/referents").get_data(as_text=True)
    assert client.post(f"/rgpd/referents/{colleague.id}/grant").status_code == 303
    assert account("agent2.demo").is_rgpd_referent
    event = AuditEvent.get(
        AuditEvent.action == "rgpd_referent_granted", AuditEvent.account == colleague.id
    )
    assert event.caisse_id == colleague.caisse_id


# Finding a person: scope, folding, the index.


def test_a_caisse_referent_finds_the_requests_addressed_to_its_caisse(client, login_as, person):
    login_as("caisse.demo")
    response = search(client, nom="COEURDELION", prenom="helene")  # case and accents aside
    assert response.status_code == 200
    assert found_numbers(response) == {person["cpam"].reference, person["voisin"].reference}
    page = response.get_data(as_text=True)
    assert "Situation Palimpseste." in page and "Il manque l&#39;avis Ostrakon." in page
    assert "avis.pdf" in page
    assert "Demande prise en charge" in page  # its journal lines


def test_a_structure_referent_finds_its_structure_s_requests_to_every_caisse(
    client, login_as, person
):
    login_as("gestionnaire.demo")
    response = search(client, prenom="")
    assert found_numbers(response) == {person["cpam"].reference, person["carsat"].reference}


def test_another_structure_s_or_caisse_s_referent_finds_nothing(app, client, login_as, person):
    with app.app_context():
        for username in ("gestionnaire.voisin", "carsat.demo"):
            user = account(username)
            Account.update(rgpd_referent_at=Account.created_at).where(
                Account.id == user.id
            ).execute()
    login_as("gestionnaire.voisin")
    assert found_numbers(search(client)) == {person["voisin"].reference}
    login_as("carsat.demo")
    assert found_numbers(search(client)) == {person["carsat"].reference}
    login_as("gestionnaire.demo")
    assert found_numbers(search(client, date_naissance="1957-03-15")) == set()


def test_non_referents_never_reach_the_space(client, login_as, person):
    for username in ("gestionnaire.voisin", "technicien.demo", "carsat.demo"):
        login_as(username)
        assert search(client).status_code == 403
        assert client.post("/rgpd/export", data={"demandes": person["cpam"].id}).status_code == 403
        assert 'href="/rgpd/"' not in client.get("/aide").get_data(as_text=True)


def test_the_search_is_journaled_by_numbers_never_by_identity(client, login_as, person):
    login_as("caisse.demo")
    search(client)
    event = AuditEvent.select().where(AuditEvent.action == "rgpd_searched").get()
    assert person["cpam"].reference in event.detail
    assert "urdelion" not in event.detail and "Hélène" not in event.detail


def test_the_search_needs_a_name_and_a_date_of_birth(client, login_as):
    login_as("caisse.demo")
    page = client.post("/rgpd/", data={"nom": "Cœurdelion"}).get_data(as_text=True)
    assert "Ce champ est obligatoire." in page and "Résultats" not in page


# Right of access: the ZIP.


def test_the_export_is_a_zip_with_a_readable_summary_and_the_documents(client, login_as, person):
    login_as("gestionnaire.demo")
    ids = [person["cpam"].id, person["carsat"].id]
    response = client.post("/rgpd/export", data={**IDENTITY, "demandes": ids})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    names = archive.namelist()
    assert names[0] == "synthese.html"
    summary = archive.read("synthese.html").decode()
    for text in (
        f"Demande n° {person['cpam'].reference}",
        f"Demande n° {person['carsat'].reference}",
        "Cœurdelion",
        "Hélène",
        "14/03/1957",
        "CPAM de Démo",
        "CARSAT de Démo",
        "Situation Palimpseste.",
        "Il manque l&#x27;avis Ostrakon.",
        "Demande de complément",
        "Attestation de droits",  # the motif's label
        "Traitée par",
        "<h3>Historique</h3>",  # each step: the status it led to, who, when
        "En attente du partenaire, par Claire Démo-Caisse (caisse)",
    ):
        assert text in summary, text
    assert "<script" not in summary and "style" not in summary
    [document] = [n for n in names if n.startswith("documents/")]
    assert document.startswith(f"documents/demande-{person['cpam'].reference}/")
    assert b"FICHIER-SECRET-1" in archive.read(document)
    # The journal names each request exported, never the person.
    events = list(AuditEvent.select().where(AuditEvent.action == "rgpd_exported"))
    assert {e.demande_id for e in events} == set(ids)
    assert all("urdelion" not in e.detail for e in events)


def test_the_export_leaves_out_what_is_not_in_scope(client, login_as, person):
    login_as("gestionnaire.demo")
    response = client.post("/rgpd/export", data={**IDENTITY, "demandes": [person["voisin"].id]})
    assert response.mimetype != "application/zip"
    assert "Cochez au moins une demande." in response.get_data(as_text=True)
    assert not AuditEvent.select().where(AuditEvent.action == "rgpd_exported").exists()


def test_the_zip_is_made_in_chunks(app, person):
    """The documents are read and sent 64 KB at a time: a large one is many chunks."""
    with app.test_request_context():
        user = account("caisse.demo")
        found = rgpd.held(user, [person["cpam"].id])
        path = Path(app.instance_path) / "uploads" / found[0].documents[0].stored_name
        path.write_bytes(path.read_bytes() + b"%" * (5 * rgpd.CHUNK))  # a larger file
        chunks = list(rgpd.zip_chunks(found))
    assert len(chunks) > 5 and max(len(c) for c in chunks) < 2 * rgpd.CHUNK
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None


# Rectification.


def test_rectifying_an_identity_says_which_fields_changed_never_their_values(
    client, login_as, person
):
    login_as("caisse.demo")
    d = person["cpam"]
    assert "Cœurdelion" in client.get(f"/rgpd/{d.id}/rectify").get_data(as_text=True)
    response = client.post(
        f"/rgpd/{d.id}/rectify",
        data={
            "civilite": "Mme",
            "nom": "Cœur-de-Lion",
            "prenom": "Hélène",
            "date_naissance": "1957-03-14",
            "departement": "68",
        },
    )
    assert response.status_code == 303
    d = Demande.get_by_id(d.id)
    assert (d.assure_nom, d.assure_search) == ("Cœur-de-Lion", "coeur-de-lion helene")
    event = AuditEvent.get(AuditEvent.action == "rgpd_rectified")
    assert event.detail == f"demande {d.reference} : identité rectifiée (nom)"
    assert event.demande_id == d.id and event.partner_id == d.partner_id
    assert event.caisse_id == d.caisse_id


def test_a_rectification_is_checked_like_a_submission(client, login_as, person):
    login_as("caisse.demo")
    d = person["cpam"]
    page = client.post(
        f"/rgpd/{d.id}/rectify",
        data={
            "civilite": "Mme",
            "nom": "X1",
            "prenom": "Hélène",
            "date_naissance": "2099-01-01",
            "departement": "68",
        },
    ).get_data(as_text=True)
    assert "Ce champ ne contient pas de chiffres." in page
    assert Demande.get_by_id(d.id).assure_nom == "Cœurdelion"


def test_another_structure_s_referent_cannot_rectify(client, login_as, person):
    login_as("gestionnaire.demo")
    assert client.get(f"/rgpd/{person['voisin'].id}/rectify").status_code == 404


# Limitation.


def test_a_limited_request_is_read_and_processed_by_nobody_but_the_referents(
    client, login_as, person
):
    d = person["cpam"]
    login_as("gestionnaire.demo")
    response = client.post(
        "/rgpd/limit", data={**IDENTITY, "demandes": [d.id], "motif": "Courrier reçu le 02/11."}
    )
    assert response.status_code == 303
    assert Demande.get_by_id(d.id).limited_at is not None
    event = AuditEvent.get(AuditEvent.action == "rgpd_limited")
    assert (
        event.detail
        == f"demande {d.reference} : traitement limité. Motif : Courrier reçu le 02/11."
    )
    # The caisse's agent and the structure's technicien no longer read nor act on it.
    login_as("technicien.demo")
    assert client.get(f"/demandes/{d.id}").status_code == 404
    listed = client.get("/demandes/").get_data(as_text=True)
    assert "Traitement limité (RGPD)" in listed and f'href="/demandes/{d.id}"' not in listed
    login_as("caisse.demo")
    for url in (f"/demandes/{d.id}", f"/demandes/{d.id}/close"):
        response = client.post(url, data={"body": "x"}) if "close" in url else client.get(url)
        assert response.status_code == 404
    attachment = Attachment.get(Attachment.demande == d.id)
    assert client.get(f"/demandes/attachments/{attachment.id}").status_code == 404
    # The référents still see it, and lift it.
    page = client.get("/rgpd/").get_data(as_text=True)
    assert d.reference in page and "Lever la limitation" in page
    assert client.post(f"/rgpd/{d.id}/lift").status_code == 303
    assert Demande.get_by_id(d.id).limited_at is None
    assert AuditEvent.select().where(AuditEvent.action == "rgpd_unlimited").count() == 1
    assert client.get(f"/demandes/{d.id}").status_code == 200


def test_a_reason_is_required_and_never_names_the_person(client, login_as, person):
    login_as("caisse.demo")
    d = person["cpam"]
    page = client.post("/rgpd/limit", data={**IDENTITY, "demandes": [d.id]}).get_data(as_text=True)
    assert "Indiquez le motif" in page
    page = client.post(
        "/rgpd/limit",
        data={**IDENTITY, "demandes": [d.id], "motif": "Lettre de Mme COEURDELION"},
    ).get_data(as_text=True)
    assert "ne doit pas reprendre le nom de la personne" in page
    assert Demande.get_by_id(d.id).limited_at is None
    assert not AuditEvent.select().where(AuditEvent.action == "rgpd_limited").exists()


# Erasure.


def erase(client, *ids, **changes):
    data = {
        **IDENTITY,
        "demandes": list(ids),
        "motif": "Demande d'effacement reçue le 20/11.",
        "confirm_erase": "y",
    }
    return client.post("/rgpd/erase", data={**data, **changes})


def test_erasing_needs_the_confirmation_and_a_reason(client, login_as, person):
    login_as("caisse.demo")
    d = person["cpam"]
    assert "Cochez la confirmation" in erase(client, d.id, confirm_erase="").get_data(as_text=True)
    assert "Indiquez le motif" in erase(client, d.id, motif="").get_data(as_text=True)
    assert Demande.get_by_id(d.id).purged_at is None


def test_erasing_a_person_s_requests_reuses_the_retention_s_erasure(app, client, login_as, person):
    login_as("caisse.demo")
    d = person["cpam"]
    stored = [a.stored_name for a in Attachment.select().where(Attachment.demande == d.id)]
    assert erase(client, d.id).status_code == 303
    gone = Demande.get_by_id(d.id)
    assert (gone.assure_nom, gone.assure_prenom, gone.assure_search, gone.commentaire) == (
        "",
        "",
        "",
        "",
    )
    assert gone.assure_date_naissance is None and gone.purge_reason == "request"
    assert gone.assure_label == "Données effacées (à la demande de la personne)"
    assert gone.status == "closed" and gone.closed_at is not None  # nobody works on it any more
    assert [m.body for m in Message.select().where(Message.demande == d.id)] == [""]
    assert not Attachment.select().where(Attachment.demande == d.id).exists()
    assert not any((Path(app.instance_path) / "uploads" / n).exists() for n in stored)
    event = AuditEvent.get(AuditEvent.action == "rgpd_erased")
    assert event.demande_id == d.id and "urdelion" not in event.detail
    # The other requests of the person, in the CARSAT's and Voisin's scope, stay.
    assert Demande.get_by_id(person["voisin"].id).assure_nom == "Cœurdelion"
    assert found_numbers(search(client)) == {person["voisin"].reference}


@sqlite_only
def test_erased_data_leaves_the_database_file_its_wal_and_the_uploads_folder(
    app, client, login_as, person
):
    instance = Path(app.instance_path)

    def raw():
        database.close()
        files = [p for p in instance.glob("ep.sqlite3*") if p.is_file()]
        files += [p for p in (instance / "uploads").iterdir() if p.is_file()]
        return b"".join(p.read_bytes() for p in files)

    assert all(marker in raw() for marker in SECRETS)  # the test would see them
    login_as("gestionnaire.demo")
    everything = [person[k].id for k in ("cpam", "carsat", "homonym")]
    assert erase(client, *everything).status_code == 303
    with app.test_request_context():  # Voisin's request: its own référent erases it
        rgpd.erase(account("caisse.demo"), [person["voisin"].id], "Demande reçue le 20/11.")
    left = raw()
    assert [marker for marker in SECRETS if marker in left] == []


def test_the_threads_with_the_caisse_that_name_the_person_are_shown_within_the_scope(
    app, client, login_as, person
):
    """Threads (issue 12.2) have no identity fields, but their text may name the person: the
    référent sees the messages that hold every word of the nom and prénom (case and accents
    aside), in its own scope only, to judge them (they are not in the export)."""
    from ep import threads
    from ep.models import Partner

    with app.test_request_context():
        agent = account("caisse.demo")
        ccas = Partner.get(Partner.name == "CCAS de Démo")
        voisin = Partner.get(Partner.name == "CCAS Voisin")
        threads.start(agent, ccas, "Dossier Orthanc", "Mme Hélène CŒURDELION a appelé l'accueil.")
        threads.start(agent, ccas, "Réunion", "Ordre du jour : les délais.")
        threads.start(agent, voisin, "Voisinage", "Mme Hélène Cœurdelion est suivie chez vous.")
    login_as("gestionnaire.demo")
    page = search(client).get_data(as_text=True)
    assert "Dossier Orthanc" in page and "a appelé l&#39;accueil" in page
    assert "Réunion" not in page and "Voisinage" not in page  # no mention; another structure
    login_as("caisse.demo")
    page = search(client).get_data(as_text=True)
    assert "Dossier Orthanc" in page and "Voisinage" in page  # the caisse's threads
    page = search(client, prenom="Lucie").get_data(as_text=True)
    assert "Aucun échange avec la caisse ne cite ce nom." in page  # every word must be there
