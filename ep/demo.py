"""Fictitious demo data (CONTRACT.md, "Demo data"): invented names, example.org e-mails."""

import secrets
from datetime import date, timedelta

from . import audit, passwords, phones
from .db import write
from .models import (
    Account,
    Caisse,
    Contact,
    Convention,
    ConventionOffer,
    Offer,
    Partner,
    Training,
    now,
)

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
        cpam = Caisse.create(name="CPAM de Démo", departement="68")
        carsat = Caisse.create(name="CARSAT de Démo", departement="67")
        ccas = Partner.create(name="CCAS de Démo", siret="26800000700016", headcount=12)
        voisin = Partner.create(name="CCAS Voisin", siret="26800001500019", headcount=5)
        start = today - timedelta(days=200)
        # Signed at different dates, so that the caisse's dashboard has a notice deadline
        # (CCAS de Démo) and a tacit renewal (CCAS Voisin) to remind within 60 days.
        conventions = {}
        for partner, caisse, docs, signed in (
            (ccas, cpam, False, today - timedelta(days=300)),
            (ccas, carsat, True, start - timedelta(days=10)),
            (voisin, cpam, False, today - timedelta(days=330)),
        ):
            convention = Convention.create(
                partner=partner,
                caisse=caisse,
                signed_on=signed,
                starts_on=start,
                may_receive_documents=docs,
                habilitation_deadline_days=5 if caisse == cpam else 10,
            )
            conventions[partner.name, caisse.name] = convention
            for offer in caisse.catalogue_offers():
                ConventionOffer.create(convention=convention, offer=offer)
        _contacts(cpam, carsat, ccas, voisin)
        Training.create(
            convention=conventions["CCAS de Démo", "CPAM de Démo"],
            given_on=start + timedelta(days=7),
            subject="Prise en main de l'Espace Partenaires",
            attendees=2,
            audience="La gestionnaire et le technicien de la structure",
        )
        Training.create(
            convention=conventions["CCAS Voisin", "CPAM de Démo"],
            given_on=start + timedelta(days=30),
            subject="Accès aux droits : la Complémentaire santé solidaire",
            attendees=3,
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
    _referents_rgpd(created)
    _publications(created, today)
    _threads(created)
    _evaluations(created, today)
    _carsat_catalogue(created["carsat.demo"])
    _breaches(created)
    return password, True


def _breaches(users):
    """A breach report of CCAS de Démo to CPAM de Démo, noticed a few hours ago (issue
    14.3), so that both sides' lists show one."""
    from . import breaches

    noticed = now() - timedelta(hours=5)
    breaches.report(
        users["gestionnaire.demo"],
        {
            "description": "Un ordinateur portable du CCAS, sur lequel la session de "
            "technicien.demo était ouverte, a été oublié dans un train ; il a été retrouvé "
            "le lendemain. Nous ne savons pas s'il a été utilisé entre-temps.",
            "measures": "Mot de passe de technicien.demo changé, sessions fermées.",
            "noticed_at": noticed,
            "happened_at": noticed - timedelta(hours=16),
            "accounts": [users["technicien.demo"].id],
            "caisses": [users["caisse.demo"].caisse_id],
        },
    )


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


def _contacts(cpam, carsat, ccas, voisin):
    """Each owner's contacts (issue 12.4): invented names, 01 99 00 00 xx numbers."""
    signalement = Offer.of(cpam, "signalement")
    for owner, role, name, function, phone, email, theme, offer in (
        (
            cpam,
            "referent",
            "Service partenaires – CPAM de Démo",
            "Suivi du partenariat",
            "01 99 00 00 01",
            "partenaires@example.org",
            "",
            None,
        ),
        (
            cpam,
            "support",
            "Assistance Espace Partenaires",
            "CPAM de Démo",
            "01 99 00 00 02",
            "assistance@example.org",
            "",
            None,
        ),
        (
            cpam,
            "dpo",
            "Délégué à la protection des données",
            "CPAM de Démo",
            "",
            "dpo.cpam@example.org",
            "",
            None,
        ),
        (
            cpam,
            "theme",
            "Mission accompagnement santé",
            "",
            "01 99 00 00 03",
            "mas@example.org",
            "",
            signalement,
        ),
        (
            cpam,
            "theme",
            "Service des revenus de substitution",
            "",
            "",
            "revenus-substitution@example.org",
            "Indemnités journalières maladie et maternité",
            None,
        ),
        (
            carsat,
            "referent",
            "Service social – CARSAT de Démo",
            "Suivi du partenariat",
            "01 99 00 00 11",
            "service-social@example.org",
            "",
            None,
        ),
        (
            carsat,
            "dpo",
            "Délégué à la protection des données",
            "CARSAT de Démo",
            "",
            "dpo.carsat@example.org",
            "",
            None,
        ),
        (
            ccas,
            "referent",
            "Gaëlle Exemple",
            "Responsable action sociale",
            "01 99 00 00 21",
            "gestionnaire.demo@example.org",
            "",
            None,
        ),
        (
            ccas,
            "dpo",
            "Délégué à la protection des données",
            "CCAS de Démo",
            "",
            "dpo.ccas@example.org",
            "",
            None,
        ),
        (
            voisin,
            "referent",
            "Gérard Voisin-Exemple",
            "Directeur",
            "01 99 00 00 31",
            "gestionnaire.voisin@example.org",
            "",
            None,
        ),
        (
            voisin,
            "dpo",
            "Délégué à la protection des données",
            "CCAS Voisin",
            "",
            "dpo.voisin@example.org",
            "",
            None,
        ),
    ):
        kind = "caisse" if isinstance(owner, Caisse) else "partner"
        Contact.create(
            **{kind: owner},
            role=role,
            name=name,
            function=function,
            phone=phones.normalise(phone),
            email=email,
            theme=theme,
            offer=offer,
        )


def _evaluations(users, today):
    """Each caisse's questionnaire; CCAS de Démo's evaluation of last year, answered, and
    this year's, opened (issue 13.4). The demo's conventions start this year: last year's
    evaluation is written as the history it would be."""
    from datetime import datetime

    from . import evaluations
    from .models import Evaluation

    agent, gestionnaire = users["caisse.demo"], users["gestionnaire.demo"]
    with write():
        for caisse in Caisse.select():
            evaluations.ensure_questionnaire(caisse.id)
        convention = Convention.get(
            (Convention.partner == gestionnaire.partner_id) & (Convention.caisse == agent.caisse_id)
        )
        last = Evaluation.create(
            caisse=agent.caisse_id,
            partner=gestionnaire.partner_id,
            year=today.year - 1,
            due_on=today - timedelta(days=30),
            opened_at=datetime.combine(today - timedelta(days=60), datetime.min.time()),
            opened_by=agent,
        )
        evaluations._copy_questions(
            last,
            evaluations.questions(agent.caisse_id, active_only=True),
            evaluations._offers(convention),
        )
    texts = iter(
        [
            "Des délais de rendez-vous parfois longs à la rentrée.",
            "Un point trimestriel avec le référent de la caisse.",
            "Une présentation des offres de prévention pour l'équipe d'accueil.",
        ]
    )
    ratings = iter([5, 4, 0, 4, 3])
    answers = {}
    for question in evaluations.questionnaire(last):
        for item in question.items:
            answers[item.id] = next(ratings, 4) if item.kind == "rating" else next(texts, "")
    evaluations.save_answers(gestionnaire, last, answers, submit=True)
    evaluations.open_evaluation(
        agent, gestionnaire.partner, today.year, today + timedelta(days=30), today
    )


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


def _referents_rgpd(users):
    """One référent RGPD on each side (issue 14.2): the CPAM's agent and the CCAS de Démo's
    gestionnaire, each designated by itself (the only one of its profile there)."""
    from . import rgpd

    for username in ("caisse.demo", "gestionnaire.demo"):
        rgpd.grant(users[username], users[username])


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


def _threads(users):
    """An exchange opened by CPAM de Démo with CCAS de Démo, and the structure's answer."""
    from . import threads

    thread = threads.start(
        users["caisse.demo"],
        users["technicien.demo"].partner_id,
        "Réunion d'information des partenaires",
        "Nous réunissons les structures partenaires le premier jeudi du mois prochain, de "
        "14 h à 16 h, pour présenter les nouveautés de l'Espace Partenaires. Le programme "
        "est joint. Merci de nous indiquer qui y participera.",
        [demo_file("programme-rencontre-partenaires-demo.pdf")],
    )
    threads.reply(
        users["technicien.demo"],
        thread,
        "Merci pour l'invitation : deux personnes de notre structure y participeront.",
    )
