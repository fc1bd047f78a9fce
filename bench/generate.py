"""Fill a new instance with fictitious data at département scale (CONTRACT.md, "Benchmarks").

    python bench/generate.py --partners 500 --accounts 15000 --requests 1000000 --instance DIR

Starts from the demo data (as `ep init --demo`, password EP_DEMO_PASSWORD or
"mot de passe du banc 2026"), keeps the demo accounts usable, then adds structures conventioned
with the demo caisses, their accounts (active, invited, inactive, deleted) and ten years of
requests with their events, messages, attachment records, reviews and journal lines. The
demo structure "CCAS de Démo" and the caisse "CPAM de Démo" get at least their proportional
share of the requests. Every name is invented; no file is written for attachments.
EP_DATABASE_URL (e.g. postgresql://…/empty_db) fills another database than the instance's
SQLite file.
"""

import argparse
import os
import random
import secrets
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = os.environ.get("EP_DEMO_PASSWORD", "mot de passe du banc 2026")
YEARS = 10
CHUNK = 1000

PRENOMS = (
    "Anne Bruno Camille Denis Elise Fabien Gaëlle Hugo Inès Julien Karine Léo Maëlle Nadia "
    "Olivier Pauline Quentin Rose Samir Tiphaine Ugo Valérie William Yasmine Zoé Éric Chloé "
    "Jérôme Sophie Mathis"
).split()
NOMS = (
    "Exemple Fictif Modèle Essai Démo Specimen Témoin Prototype Maquette Brouillon Esquisse "
    "Ébauche Canevas Patron Gabarit Épreuve Échantillon Aperçu Croquis Projet Tentative Maquis "
    "Lavande Tilleul Érable Bouleau Peuplier Sureau Noisetier Aubépine"
).split()
DEPARTEMENTS = ["68", "67", "90", "25", "70", "88", "2A", "974", "75", "13"]


def chunks(rows, size=CHUNK):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def insert(model, fields, rows):
    for part in chunks(rows):
        model.insert_many(part, fields=fields).execute()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=500)
    parser.add_argument("--accounts", type=int, default=15000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--instance", required=True)
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args(argv)
    os.environ["EP_INSTANCE_PATH"] = str(Path(args.instance).resolve())
    os.environ.setdefault("EP_DEMO_PASSWORD", PASSWORD)
    started = time.monotonic()
    counts = generate(args.partners, args.accounts, args.requests, random.Random(args.seed))
    took = time.monotonic() - started
    print(", ".join(f"{k} {v}" for k, v in counts.items()) + f" ({took:.0f} s)")


def generate(n_partners, n_accounts, n_requests, rng):
    from ep import create_app, db, demo, passwords
    from ep.models import (
        Account,
        Attachment,
        AuditEvent,
        Caisse,
        Convention,
        ConventionOffer,
        Demande,
        DemandeEvent,
        Message,
        Motif,
        Offer,
        Partner,
        Review,
    )
    from ep.text import fold

    app = create_app()
    with app.app_context():
        db.upgrade()
        with db.database.connection_context():
            if Partner.select().count() > 2:
                raise SystemExit("generate.py fills a new instance: this one has data already")
            demo.load(PASSWORD)
            if db.is_sqlite():
                db.database.execute_sql("PRAGMA synchronous = OFF")
            now = datetime.now().replace(microsecond=0)
            start = now - timedelta(days=365 * YEARS)
            cpam = Caisse.get(Caisse.name == "CPAM de Démo")
            carsat = Caisse.get(Caisse.name == "CARSAT de Démo")
            # Each caisse its own catalogue (schema 4), the reference one as the demo has it.
            offers = {
                c.id: list(Offer.select().where(Offer.caisse == c.id).order_by(Offer.position))
                for c in (cpam, carsat)
            }
            motifs = {
                o.id: list(Motif.select().where(Motif.offer == o).order_by(Motif.position))
                for listed in offers.values()
                for o in listed
            }
            hashed = passwords.hash_password(PASSWORD)
            caisse_agents = {
                cpam.id: Account.get(Account.username == "caisse.demo").id,
                carsat.id: Account.get(Account.username == "carsat.demo").id,
            }

            with db.database.atomic():
                # Structures, each conventioned with the CPAM, a third with the CARSAT too.
                first_id = (Partner.select(Partner.id).order_by(Partner.id.desc()).scalar()) + 1
                partners = [
                    (
                        first_id + i,
                        f"Structure fictive {i + 1:04d}",
                        f"9{i:013d}",
                        rng.randint(3, 60),
                    )
                    for i in range(n_partners)
                ]
                insert(
                    Partner,
                    [Partner.id, Partner.name, Partner.siret, Partner.headcount],
                    [(pid, name, None, hc) for pid, name, _, hc in partners],
                )
                conventions, links = [], []
                for pid, *_ in partners:
                    for caisse in [cpam] + ([carsat] if pid % 3 == 0 else []):
                        signed = (start + timedelta(days=rng.randint(0, 900))).date()
                        conventions.append((pid, caisse.id, signed, signed, pid % 4 == 0))
                insert(
                    Convention,
                    [
                        Convention.partner,
                        Convention.caisse,
                        Convention.signed_on,
                        Convention.starts_on,
                        Convention.may_receive_documents,
                    ],
                    conventions,
                )
                for c in Convention.select(Convention.id, Convention.caisse).where(
                    Convention.partner >= first_id
                ):
                    links += [(c.id, o.id) for o in offers[c.caisse_id]]
                insert(ConventionOffer, [ConventionOffer.convention, ConventionOffer.offer], links)

                # Accounts: a few gestionnaires and up to 25 working techniciens a structure,
                # the rest inactive or deleted over the years.
                ccas_demo = Partner.get(Partner.name == "CCAS de Démo")
                authors = {ccas_demo.id: [Account.get(Account.username == "technicien.demo").id]}
                first_account = Account.select(Account.id).order_by(Account.id.desc()).scalar() + 1
                rows, aid = [], first_account
                per = max(1, n_accounts // max(1, n_partners))
                for pid, *_ in partners:
                    for k in range(per):
                        profile = "gestionnaire" if k < 2 else "technicien"
                        state = "active" if k < 27 else rng.choice(["inactive", "deleted"])
                        prenom, nom = rng.choice(PRENOMS), rng.choice(NOMS)
                        username = f"u{pid}.{k}"
                        created = start + timedelta(days=rng.randint(0, 365 * YEARS - 1))
                        rows.append(
                            (
                                aid,
                                username,
                                hashed if state == "active" else None,
                                profile,
                                pid,
                                "Mme",
                                nom if state != "deleted" else "",
                                prenom if state != "deleted" else "",
                                "Conseiller" if state != "deleted" else "",
                                f"{username}@example.org" if state != "deleted" else "",
                                state,
                                created,
                                now - timedelta(days=rng.randint(0, 60))
                                if state == "active"
                                else None,
                                fold(f"{prenom} {nom} {username}"),
                                app.config["EP_CGU_VERSION"],
                                secrets.token_hex(16),
                                now - timedelta(days=30) if state != "active" else None,
                            )
                        )
                        if profile == "technicien" and state == "active":
                            authors.setdefault(pid, []).append(aid)
                        aid += 1
                insert(
                    Account,
                    [
                        Account.id,
                        Account.username,
                        Account.password_hash,
                        Account.profile,
                        Account.partner,
                        Account.civilite,
                        Account.nom,
                        Account.prenom,
                        Account.fonction,
                        Account.email,
                        Account.state,
                        Account.created_at,
                        Account.last_login_at,
                        Account.search_key,
                        Account.cgu_version,
                        Account.session_token,
                        Account.inactivated_at,
                    ],
                    rows,
                )

                # Requests over ten years, ids in time order; the demo structure and the CPAM
                # get at least their share (the demo structure twice its share).
                partner_caisses = {}
                for c in Convention.select(Convention.partner, Convention.caisse):
                    partner_caisses.setdefault(c.partner_id, []).append(c.caisse_id)
                pool = [p for p in authors if p in partner_caisses]
                weights = [2 if p == ccas_demo.id else 1 for p in pool]
                first_demande = (
                    Demande.select(Demande.id).order_by(Demande.id.desc()).scalar() or 0
                ) + 1
                first_event = (
                    DemandeEvent.select(DemandeEvent.id).order_by(DemandeEvent.id.desc()).scalar()
                    or 0
                ) + 1
                first_message = (
                    Message.select(Message.id).order_by(Message.id.desc()).scalar() or 0
                ) + 1
                step = (365 * YEARS * 86400) / max(1, n_requests)
                demandes, events, messages, attachments, journal = [], [], [], [], []
                eid, mid = first_event, first_message
                for i in range(n_requests):
                    did = first_demande + i
                    pid = rng.choices(pool, weights)[0]
                    caisses = partner_caisses[pid]
                    caisse = (
                        cpam.id
                        if (cpam.id in caisses and rng.random() < 0.75)
                        else rng.choice(caisses)
                    )
                    author = rng.choice(authors[pid])
                    catalogue = offers[caisse]
                    offer = rng.choice(catalogue[1:]) if rng.random() < 0.93 else catalogue[0]
                    motif = rng.choice(motifs[offer.id])
                    created = start + timedelta(seconds=int(i * step))
                    age = (now - created).days
                    if age > 60:
                        status = "closed"
                    else:
                        status = rng.choice(
                            ["submitted", "in_progress", "waiting_partner", "closed"]
                        )
                    agent = caisse_agents[caisse]
                    evs = [(eid, did, created, author, "submitted", "submitted")]
                    eid += 1
                    last_partner, last_caisse = evs[0][0], None
                    taken = first_answer = closed = None
                    if status != "submitted":
                        taken = agent
                        first_answer = created + timedelta(hours=rng.randint(1, 96))
                        evs.append((eid, did, first_answer, agent, "taken", "in_progress"))
                        last_caisse = eid
                        eid += 1
                    if status == "waiting_partner":
                        evs.append((eid, did, first_answer, agent, "asked", "waiting_partner"))
                        messages.append(
                            (mid, did, agent, "ask", "Merci de compléter le dossier.", first_answer)
                        )
                        last_caisse, eid, mid = eid, eid + 1, mid + 1
                    if status == "closed":
                        closed = first_answer + timedelta(days=rng.randint(0, 20))
                        evs.append((eid, did, closed, agent, "closed", "closed"))
                        messages.append((mid, did, agent, "close", "Demande traitée.", closed))
                        last_caisse, eid, mid = eid, eid + 1, mid + 1
                    events += evs
                    concerns = motif.concerns_assure
                    prenom, nom = rng.choice(PRENOMS), rng.choice(NOMS)
                    purged = age > 365 * 3 and rng.random() < 0.5
                    identity = concerns and not purged
                    demandes.append(
                        (
                            did,
                            pid,
                            caisse,
                            author,
                            offer.id,
                            motif.id,
                            status,
                            rng.random() < 0.08,
                            "Mme" if identity else "",
                            nom if identity else "",
                            prenom if identity else "",
                            date(1940 + rng.randint(0, 60), rng.randint(1, 12), rng.randint(1, 28))
                            if identity
                            else None,
                            rng.choice(DEPARTEMENTS) if identity else "",
                            bool(identity),
                            fold(f"{nom} {prenom}") if identity else "",
                            "Demande fictive générée pour le banc d'essai." if not purged else "",
                            offer.target_hours,
                            taken,
                            created,
                            closed or first_answer or created,
                            first_answer,
                            closed,
                            created if purged else None,
                            last_partner,
                            last_caisse,
                        )
                    )
                    if rng.random() < 0.3 and not purged:
                        attachments.append(
                            (
                                did,
                                author,
                                "justificatif.pdf",
                                secrets.token_hex(20),
                                "application/pdf",
                                rng.randint(20_000, 900_000),
                                "0" * 64,
                                created,
                            )
                        )
                    journal.append(
                        (
                            created,
                            author,
                            "demande_submitted",
                            pid,
                            caisse,
                            f"demande {did:06d}",
                            "10.0.0.1",
                        )
                    )
                    if len(demandes) >= 20000:
                        _flush(demandes, events, messages, attachments, journal)
                _flush(demandes, events, messages, attachments, journal)

                # A completed review a year for each structure, its decisions.
                reviews = []
                for pid, *_ in partners:
                    for year in range(YEARS):
                        at = start + timedelta(days=365 * year + 200)
                        reviews.append((pid, at, "completed", at - timedelta(days=365), at, at))
                insert(
                    Review,
                    [
                        Review.partner,
                        Review.requested_at,
                        Review.status,
                        Review.period_start,
                        Review.completed_at,
                        Review.started_at,
                    ],
                    reviews,
                )
            if not db.is_sqlite():
                _advance_sequences()
            counts = {
                "structures": Partner.select().count(),
                "comptes": Account.select().count(),
                "demandes": Demande.select().count(),
                "échanges": DemandeEvent.select().count(),
                "messages": Message.select().count(),
                "pièces jointes": Attachment.select().count(),
                "revues": Review.select().count(),
                "journal": AuditEvent.select().count(),
            }
            return counts


def _advance_sequences():
    """Rows were inserted with explicit ids: PostgreSQL's sequences must start after them, or
    the next row the app creates collides with a generated one (a 500 on every new request)."""
    import peewee

    from ep import db
    from ep.models import ALL_MODELS

    for model in ALL_MODELS:
        key = model._meta.primary_key
        if isinstance(key, peewee.AutoField):
            table, column = model._meta.table_name, key.column_name
            db.database.execute_sql(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )


def _flush(demandes, events, messages, attachments, journal):
    from ep.models import Attachment, AuditEvent, Demande, DemandeEvent, Message

    insert(
        Demande,
        [
            Demande.id,
            Demande.partner,
            Demande.caisse,
            Demande.author,
            Demande.offer,
            Demande.motif,
            Demande.status,
            Demande.urgent,
            Demande.assure_civilite,
            Demande.assure_nom,
            Demande.assure_prenom,
            Demande.assure_date_naissance,
            Demande.assure_departement,
            Demande.assure_informed,
            Demande.assure_search,
            Demande.commentaire,
            Demande.target_hours,
            Demande.taken_by,
            Demande.created_at,
            Demande.updated_at,
            Demande.first_answer_at,
            Demande.closed_at,
            Demande.purged_at,
            Demande.last_partner_event,
            Demande.last_caisse_event,
        ],
        demandes,
    )
    insert(
        DemandeEvent,
        [
            DemandeEvent.id,
            DemandeEvent.demande,
            DemandeEvent.at,
            DemandeEvent.actor,
            DemandeEvent.action,
            DemandeEvent.status,
        ],
        events,
    )
    insert(
        Message,
        [
            Message.id,
            Message.demande,
            Message.author,
            Message.kind,
            Message.body,
            Message.created_at,
        ],
        messages,
    )
    insert(
        Attachment,
        [
            Attachment.demande,
            Attachment.uploaded_by,
            Attachment.filename,
            Attachment.stored_name,
            Attachment.content_type,
            Attachment.size,
            Attachment.sha256,
            Attachment.created_at,
        ],
        attachments,
    )
    insert(
        AuditEvent,
        [
            AuditEvent.at,
            AuditEvent.actor,
            AuditEvent.action,
            AuditEvent.partner,
            AuditEvent.caisse,
            AuditEvent.detail,
            AuditEvent.ip,
        ],
        journal,
    )
    for rows in (demandes, events, messages, attachments, journal):
        rows.clear()


if __name__ == "__main__":
    main()
