"""Fictitious demo data (CONTRACT.md, "Demo data"): invented names, example.org e-mails."""

import secrets
from datetime import date, timedelta

from . import audit, passwords, phones
from .db import write
from .models import Account, Caisse, Convention, ConventionOffer, Offer, Partner, Referent, now

USERS = [
    # username, profile, organisation, civilite, prenom, nom, fonction
    (
        "caisse.demo",
        "caisse",
        "CPAM de Démo",
        "Mme",
        "Claire",
        "Démo-Caisse",
        "Conseillère partenariats",
    ),
    (
        "carsat.demo",
        "caisse",
        "CARSAT de Démo",
        "M.",
        "Karim",
        "Démo-Carsat",
        "Assistant de service social",
    ),
    (
        "gestionnaire.demo",
        "gestionnaire",
        "CCAS de Démo",
        "Mme",
        "Gaëlle",
        "Exemple",
        "Responsable action sociale",
    ),
    (
        "technicien.demo",
        "technicien",
        "CCAS de Démo",
        "M.",
        "Théo",
        "Exemple",
        "Travailleur social",
    ),
    (
        "gestionnaire.voisin",
        "gestionnaire",
        "CCAS Voisin",
        "M.",
        "Gérard",
        "Voisin-Exemple",
        "Directeur",
    ),
    (
        "technicien.voisin",
        "technicien",
        "CCAS Voisin",
        "Mme",
        "Tania",
        "Voisin-Exemple",
        "Conseillère sociale",
    ),
]


def load(password=None, today=None):
    """Add the demo data once; return (password, created) — created False if already there."""
    today = today or date.today()
    if Caisse.select().where(Caisse.name == "CPAM de Démo").exists():
        return None, False
    password = password or secrets.token_urlsafe(12)
    hashed = passwords.hash_password(password)
    with write():
        cpam = Caisse.create(name="CPAM de Démo")
        carsat = Caisse.create(name="CARSAT de Démo")
        ccas = Partner.create(name="CCAS de Démo", siret="26800000700016", headcount=12)
        voisin = Partner.create(name="CCAS Voisin", siret="26800001500019", headcount=5)
        start = today - timedelta(days=200)
        for partner, caisse, docs in (
            (ccas, cpam, False),
            (ccas, carsat, True),
            (voisin, cpam, False),
        ):
            convention = Convention.create(
                partner=partner,
                caisse=caisse,
                signed_on=start - timedelta(days=10),
                starts_on=start,
                may_receive_documents=docs,
                habilitation_deadline_days=5 if caisse == cpam else 10,
            )
            for offer in caisse.catalogue_offers():
                ConventionOffer.create(convention=convention, offer=offer)
            Referent.create(
                convention=convention,
                role="caisse",
                name=f"Service partenaires – {caisse.name}",
                function="Référent de la caisse",
                phone=phones.normalise("01 02 03 04 05"),
                email="partenaires@example.org",
            )
            Referent.create(
                convention=convention,
                role="dpo",
                name="Délégué à la protection des données",
                function=caisse.name,
                email="dpo@example.org",
            )
        orgs = {
            "CPAM de Démo": cpam,
            "CARSAT de Démo": carsat,
            "CCAS de Démo": ccas,
            "CCAS Voisin": voisin,
        }
        created = {}
        for username, profile, org, civ, prenom, nom, fonction in USERS:
            creator = None
            if profile == "gestionnaire":
                creator = created["caisse.demo"]
            elif profile == "technicien":
                creator = created[
                    "gestionnaire.demo" if org == "CCAS de Démo" else "gestionnaire.voisin"
                ]
            account = Account.create(
                username=username,
                profile=profile,
                state="active",
                caisse=orgs[org] if profile == "caisse" else None,
                partner=orgs[org] if profile != "caisse" else None,
                civilite=civ,
                prenom=prenom,
                nom=nom,
                fonction=fonction,
                telephone=phones.normalise("01 00 00 00 00"),
                email=f"{username}@example.org",
                password_hash=hashed,
                password_changed_at=now(),
                created_by=creator,
            )
            created[username] = account
            audit.record("account_created", actor=creator, account=account, detail="démo")
    _demandes(created)
    _publications(created, today)
    _carsat_catalogue(created["carsat.demo"])
    return password, True


def _carsat_catalogue(agent):
    """The CARSAT adapts its copy of the reference catalogue (issue 12.3): its social
    service's appointments, a motif of its own. Its request sent before keeps the former
    label."""
    from . import catalogue

    offer = Offer.of(agent.caisse_id, "rendez_vous")
    catalogue.update_offer(
        agent,
        offer,
        "Demander un rendez-vous avec le service social",
        offer.target_hours,
        True,
        at=now() + timedelta(seconds=1),
    )
    catalogue.add_motif(agent, offer, "Prévention de la désinsertion professionnelle", True)


def _one_page_pdf():
    """A blank A4 page: the smallest well-formed PDF, cross-reference table included."""
    objects = [
        b"<</Type/Catalog/Pages 2 0 R>>",
        b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
        b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>",
    ]
    pdf, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj%sendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return pdf


DEMO_PDF = _one_page_pdf()


def demo_file(name="justificatif-demo.pdf"):
    from io import BytesIO

    from werkzeug.datastructures import FileStorage

    return FileStorage(BytesIO(DEMO_PDF), filename=name, content_type="application/pdf")


def _demandes(users):
    """A few requests of each partner, in various states, to each of their caisses."""
    from datetime import date

    from . import demandes

    def identity(civilite, prenom, nom, born, dept="75"):
        return {
            "civilite": civilite,
            "prenom": prenom,
            "nom": nom,
            "date_naissance": date.fromisoformat(born),
            "departement": dept,
            "informed": True,
        }

    cpam = Caisse.get(Caisse.name == "CPAM de Démo").id
    carsat = Caisse.get(Caisse.name == "CARSAT de Démo").id
    tech, voisin = users["technicien.demo"], users["technicien.voisin"]
    agent, carsat_agent = users["caisse.demo"], users["carsat.demo"]

    d1 = demandes.submit(
        tech,
        {
            "caisse": cpam,
            "offer": "etude_dossier",
            "motif": "c2s",
            "commentaire": "Étude de la C2S : ressources du foyer jointes.",
            **identity("Mme", "Lucie", "Fictive", "1961-04-12"),
        },
        [demo_file()],
    )
    demandes.take(agent, d1)
    demandes.ask_more(agent, d1, "Merci de joindre le dernier avis d'imposition.", [])
    demandes.submit(
        tech,
        {
            "caisse": cpam,
            "offer": "signalement",
            "motif": "urgence",
            "commentaire": "Rupture de droits, personne sans complémentaire.",
            **identity("M.", "Marc", "Imaginaire", "1948-09-30", "2A"),
        },
        [],
    )
    d3 = demandes.submit(
        tech,
        {
            "caisse": carsat,
            "offer": "rendez_vous",
            "motif": "invalidite",
            "commentaire": "Rendez-vous souhaité pour un point retraite.",
            **identity("Mme", "Anne", "Inventée", "1965-01-20", "971"),
        },
        [],
    )
    demandes.take(carsat_agent, d3)
    demandes.reply(carsat_agent, d3, "Rendez-vous proposé le mardi à 10 h.", [])
    demandes.close(carsat_agent, d3, "Rendez-vous confirmé.")
    demandes.submit(
        tech,
        {
            "caisse": cpam,
            "offer": "contact",
            "motif": "offres",
            "commentaire": "Pouvez-vous nous présenter les ateliers de "
            "prévention proposés cette année ?",
        },
        [],
    )
    d5 = demandes.submit(
        voisin,
        {
            "caisse": cpam,
            "offer": "document",
            "motif": "attestation_droits",
            "commentaire": "Attestation de droits demandée.",
            **identity("M.", "Paul", "Exemplaire", "1990-07-07", "68"),
        },
        [demo_file("piece-identite-demo.pdf")],
    )
    demandes.take(agent, d5)
    demandes.submit(
        voisin,
        {
            "caisse": cpam,
            "offer": "etude_dossier",
            "motif": "puma",
            "commentaire": "Ouverture de droits après arrivée en France.",
            **identity("Mme", "Sofia", "Modèle", "1999-02-28", "68"),
        },
        [],
    )


def _publications(users, today):
    """Two items of the CPAM: one pinned with its document for all its partners, one for
    CCAS Voisin only, shown for two months (issue 12.1)."""
    from . import publications

    agent = users["caisse.demo"]
    publications.publish(
        agent,
        "Permanences d'accueil des partenaires",
        "À partir du mois prochain, l'accueil des partenaires de la CPAM de Démo est ouvert "
        "le mardi et le jeudi de 9 h à 12 h, sans rendez-vous. Le calendrier des permanences "
        "est joint.",
        fichier=demo_file("calendrier-permanences-demo.pdf"),
        pinned=True,
        today=today,
    )
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    publications.publish(
        agent,
        "Réunion d'information sur la complémentaire santé solidaire",
        "Une réunion d'information sur la C2S est organisée pour les équipes du CCAS Voisin. "
        "Inscriptions auprès du service partenaires.",
        fichier=demo_file("programme-reunion-demo.pdf"),
        ends_on=today + timedelta(days=60),
        partner_ids=[voisin.id],
        today=today,
    )
