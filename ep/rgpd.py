"""The persons' rights (issue 14.2; `002_…` annexe 3, `004_…` art. 6, `003_…` §5): a
référent RGPD, designated by a colleague, finds what is held about a person within its
scope, exports it for a right of access, rectifies the identity of a request, erases or
limits a person's data at their request. Every action is in the journal, which names the
requests by their number and never copies the person's identity.

Scope: a caisse's référent, the requests addressed to its caisse; a structure's référent
(a gestionnaire), the requests its structure made.
"""

import html
import io
import re
import zipfile
from datetime import date, datetime

import peewee

from . import attachments, audit
from .db import checkpoint, write
from .departements import DEPARTEMENTS
from .housekeeping import erase_personal_data
from .models import (
    CIVILITES,
    DEMANDE_STATUSES,
    Account,
    Attachment,
    AuditEvent,
    Caisse,
    Demande,
    DemandeEvent,
    Message,
    Partner,
    now,
    pinned,
)
from .rules import RuleError
from .text import fold, plural, search_words

MAX_FOUND = 200  # a person's requests; more means the search is too broad
MAX_REASON = 500
IDENTITY_FIELDS = {
    "civilite": ("assure_civilite", "civilité"),
    "nom": ("assure_nom", "nom"),
    "prenom": ("assure_prenom", "prénom"),
    "date_naissance": ("assure_date_naissance", "date de naissance"),
    "departement": ("assure_departement", "département"),
}


# The permission.


def colleagues(user):
    """Those `user` may designate référent RGPD: its caisse's agents, or its structure's
    gestionnaires, still there (active or invited), the référents first."""
    query = Account.select().where(
        (Account.profile == user.profile) & Account.state.in_(("active", "invited"))
    )
    if user.profile == "caisse":
        query = query.where(Account.caisse == user.caisse_id)
    else:
        query = query.where(Account.partner == user.partner_id)
    return query.order_by(
        Account.rgpd_referent_at.is_null(), peewee.fn.LOWER(Account.nom), Account.username
    )


def _check_colleague(user, account):
    if user.profile not in ("caisse", "gestionnaire") or account.profile != user.profile:
        raise RuleError("Seul un collègue de même profil peut être désigné référent RGPD.")
    same = (
        account.caisse_id == user.caisse_id
        if user.profile == "caisse"
        else account.partner_id == user.partner_id
    )
    if not same or account.state not in ("active", "invited"):
        raise RuleError("Ce compte ne peut pas être désigné référent RGPD.")


def grant(user, account):
    """A caisse agent designates an agent of its caisse, a gestionnaire a gestionnaire of its
    structure (itself included), référent RGPD."""
    _check_colleague(user, account)
    if account.rgpd_referent_at is not None:
        raise RuleError(f"{account.display_name} est déjà référent RGPD.")
    with write():
        Account.update(rgpd_referent_at=now()).where(Account.id == account.id).execute()
        audit.record(
            "rgpd_referent_granted",
            actor=user,
            account=account,
            caisse=account.caisse_id,
            detail="Désigné référent RGPD",
        )


def revoke(user, account):
    """Take the permission back (the same colleagues as `grant`)."""
    _check_colleague(user, account)
    if account.rgpd_referent_at is None:
        raise RuleError(f"{account.display_name} n'est pas référent RGPD.")
    with write():
        Account.update(rgpd_referent_at=None).where(Account.id == account.id).execute()
        audit.record(
            "rgpd_referent_revoked",
            actor=user,
            account=account,
            caisse=account.caisse_id,
            detail="Désignation de référent RGPD retirée",
        )


def _referent(user):
    if not user.is_rgpd_referent:
        raise RuleError("Cette action est réservée aux référents RGPD.")


# Finding a person.


def scope(user):
    """SQL condition: the requests in `user`'s scope, written so that no index of the
    caisse or the structure serves it ("+ 0"): the person's index finds the few rows."""
    if user.profile == "caisse":
        return (Demande.caisse + 0) == user.caisse_id
    return (Demande.partner + 0) == user.partner_id


def person_query(user, nom, prenom, date_naissance):
    """The requests in `user`'s scope of the person born on `date_naissance` whose folded
    name holds every word of `nom` and `prenom` (accents and case aside): read from the
    index of the persons (date of birth, then the folded name)."""
    query = Demande.select(Demande.id).where(
        (Demande.assure_date_naissance == date_naissance) & scope(user)
    )
    for word in search_words(f"{nom} {prenom}"):
        query = query.where(Demande.assure_search.contains(word))
    return pinned(query, "demande_person")


def find(user, nom, prenom, date_naissance):
    """The person's requests in `user`'s scope, newest first, each with its caisse,
    structure, labels, messages, documents, history and journal lines (`Held`); the search
    is journaled with the numbers found, never the identity."""
    _referent(user)
    if not (nom or "").strip() or date_naissance is None:
        raise RuleError("Indiquez au moins le nom et la date de naissance de la personne.")
    ids = [d.id for d in person_query(user, nom, prenom, date_naissance).limit(MAX_FOUND + 1)]
    if len(ids) > MAX_FOUND:
        raise RuleError(
            f"Plus de {MAX_FOUND} demandes correspondent : précisez le prénom.", field="prenom"
        )
    found = held(user, ids)
    numbers = ", ".join(h.demande.reference for h in found)
    detail = plural(len(found), "demande trouvée") + (f" : {numbers}" if numbers else "")
    with write():
        audit.record("rgpd_searched", actor=user, partner=user.partner_id, detail=detail[:1000])
    return found


MAX_MENTIONS = 50


def thread_mentions(user, nom, prenom=""):
    """The messages of the threads with the caisse (issue 12.2) in `user`'s scope whose text
    or subject names the person: their folded words hold every folded word of the nom (and
    of the prénom, if given). Threads are about the partnership, not a request: no identity
    fields, so the text is what may name someone. Read the scope's messages (a caisse's
    threads number in the hundreds), newest first, MAX_MENTIONS at most."""
    from .models import Thread, ThreadMessage

    def words(text):
        return set(re.findall(r"\w+", fold(text)))

    wanted = words(f"{nom} {prenom or ''}")
    if not wanted:
        return []
    if user.profile == "caisse":
        side = Thread.caisse == user.caisse_id
    else:
        side = Thread.partner == user.partner_id
    found = []
    query = (
        ThreadMessage.select(ThreadMessage, Thread)
        .join(Thread)
        .where(side)
        .order_by(ThreadMessage.created_at.desc(), ThreadMessage.id.desc())
    )
    for message in query.iterator():
        if wanted <= words(f"{message.thread.subject} {message.body}"):
            found.append(message)
            if len(found) >= MAX_MENTIONS:
                break
    return found


class Held:
    """What is held about a person on one request: the request and everything tied to it."""

    def __init__(self, demande, messages, documents, events, journal):
        self.demande, self.messages, self.documents = demande, messages, documents
        self.events, self.journal = events, journal


def held(user, ids):
    """`Held` for the requests `ids` that are in `user`'s scope, newest first."""
    if not ids:
        return []
    author, agent = Account.alias(), Account.alias()
    rows = list(
        Demande.select(Demande, Caisse, Partner, author, agent)
        .join_from(Demande, Caisse)
        .join_from(Demande, Partner)
        .join_from(Demande, author, on=(Demande.author == author.id), attr="author")
        .join_from(
            Demande,
            agent,
            peewee.JOIN.LEFT_OUTER,
            on=(Demande.taken_by == agent.id),
            attr="taken_by",
        )
        .where(Demande.id.in_(ids) & scope(user))
        .order_by(Demande.created_at.desc(), Demande.id.desc())
    )
    Demande.with_labels(rows)
    ids = [d.id for d in rows]
    if not ids:
        return []
    messages, documents, events, journal = {}, {}, {}, {}
    writer = Account.alias()
    for m in (
        Message.select(Message, writer)
        .join(writer, on=(Message.author == writer.id), attr="author")
        .where(Message.demande.in_(ids))
        .order_by(Message.created_at, Message.id)
    ):
        messages.setdefault(m.demande_id, []).append(m)
    for a in Attachment.select().where(Attachment.demande.in_(ids)).order_by(Attachment.id):
        documents.setdefault(a.demande_id, []).append(a)
    actor = Account.alias()
    for e in (
        DemandeEvent.select(DemandeEvent, actor)
        .join(actor, peewee.JOIN.LEFT_OUTER, on=(DemandeEvent.actor == actor.id), attr="actor")
        .where(DemandeEvent.demande.in_(ids))
        .order_by(DemandeEvent.at, DemandeEvent.id)
    ):
        events.setdefault(e.demande_id, []).append(e)
    for e in AuditEvent.with_names(
        AuditEvent.select(AuditEvent.id).where(
            AuditEvent.demande_id.in_(ids) & AuditEvent.in_scope(user)
        )
    ):
        journal.setdefault(e.demande_id, []).append(e)
    return [
        Held(
            d,
            messages.get(d.id, []),
            documents.get(d.id, []),
            events.get(d.id, []),
            journal.get(d.id, []),
        )
        for d in rows
    ]


def in_scope(user, ids):
    """The requests `ids` in `user`'s scope (ids chosen in a form are never trusted)."""
    if not ids:
        return []
    return list(Demande.select().where(Demande.id.in_(ids) & scope(user)).order_by(Demande.id))


# Right of access: the export.


def export_name(today=None):
    return f"droit-d-acces-{(today or date.today()).isoformat()}.zip"


def _journal(user, action, demande, what):
    """One journal line about a request, seen by both sides, naming it by its number only
    (never the assuré: a reason that names the person is refused before)."""
    audit.record(
        action,
        actor=user,
        partner=demande.partner_id,
        caisse=demande.caisse_id,
        detail=f"demande {demande.reference} : {what}"[:1000],
    )


def record_export(user, found):
    """Journal the export: one line per request, by its number."""
    with write():
        for h in found:
            d = h.demande
            _journal(user, "rgpd_exported", d, "exportée (droit d'accès)")


def _departement(code):
    name = dict(DEPARTEMENTS).get(code)
    return f"{code} – {name}" if name else (code or "—")


def _date(value):
    return value.strftime("%d/%m/%Y") if value else "—"


def _moment(value):
    return value.strftime("%d/%m/%Y à %H:%M") if value else "—"


def _who(account):
    if account is None:
        return "traitement automatique"
    side = "caisse" if account.profile == "caisse" else "structure"
    return f"{account.display_name} ({side})"


MESSAGE_KINDS = {
    "message": "Message",
    "ask": "Demande de complément",
    "answer": "Réponse",
    "close": "Clôture",
}


def document_path(h, a):
    """Where a document sits in the ZIP: one folder per request."""
    return f"documents/demande-{h.demande.reference}/{a.id}-{a.filename}"


def summary_html(found, today=None):
    """The readable summary (French HTML, no script, no style) of what is held about the
    person, request by request."""
    e = html.escape
    today = today or date.today()
    out = [
        "<!DOCTYPE html>",
        '<html lang="fr"><head><meta charset="utf-8">',
        "<title>Vos données dans l'Espace Partenaires</title></head><body>",
        "<h1>Données personnelles détenues dans l'Espace Partenaires</h1>",
        f"<p>Extraction du {_date(today)} en réponse à une demande de droit d'accès. "
        f"{plural(len(found), 'demande vous concerne', 'demandes vous concernent')}. "
        "Les documents joints figurent dans le dossier « documents » de cette archive.</p>",
        "<p>Finalité : signaler votre situation à votre caisse d'assurance maladie par "
        "l'intermédiaire de la structure qui vous accompagne (convention de partenariat). "
        "Destinataires : la structure et la caisse nommées pour chaque demande.</p>",
    ]
    for h in found:
        d = h.demande
        civ = CIVILITES.get(d.assure_civilite, d.assure_civilite)
        rows = [
            ("Structure", d.partner.name),
            ("Caisse destinataire", d.caisse.name),
            ("Offre de service", d.offer_label),
            ("Motif", d.motif_label),
            ("Statut", d.status_label + (" (prioritaire)" if d.urgent else "")),
            ("Envoyée le", _moment(d.created_at)),
            ("Première réponse le", _moment(d.first_answer_at)),
            ("Clôturée le", _moment(d.closed_at)),
            ("Envoyée par", _who(d.author)),
            ("Traitée par", _who(d.taken_by) if d.taken_by_id else "—"),
            ("Civilité", civ or "—"),
            ("Nom", d.assure_nom or "—"),
            ("Prénom", d.assure_prenom or "—"),
            ("Date de naissance", _date(d.assure_date_naissance)),
            ("Département de résidence", _departement(d.assure_departement)),
        ]
        if d.limited_at:
            rows.append(("Traitement limité depuis le", _moment(d.limited_at)))
        out.append(f"<h2>Demande n° {d.reference}</h2><dl>")
        out += [f"<dt>{e(k)}</dt><dd>{e(str(v) or '—')}</dd>" for k, v in rows]
        out.append("</dl><h3>Description de la demande</h3>")
        out.append(f"<p>{e(d.commentaire) or '—'}</p><h3>Échanges</h3>")
        if h.messages:
            out.append("<ol>")
            for m in h.messages:
                kind = MESSAGE_KINDS.get(m.kind, m.kind)
                out.append(
                    f"<li><p>{e(kind)} du {_moment(m.created_at)}, {e(_who(m.author))}</p>"
                    f"<p>{e(m.body) or '—'}</p></li>"
                )
            out.append("</ol>")
        else:
            out.append("<p>Aucun échange.</p>")
        out.append("<h3>Historique</h3>")
        if h.events:
            out.append("<ol>")
            for ev in h.events:
                status = DEMANDE_STATUSES.get(ev.status, ev.status)
                who = _who(ev.actor if ev.actor_id else None)
                out.append(f"<li>{_moment(ev.at)} : {e(status)}, par {e(who)}</li>")
            out.append("</ol>")
        else:
            out.append("<p>Aucun historique.</p>")
        out.append("<h3>Documents</h3>")
        if h.documents:
            out.append("<ul>")
            for a in h.documents:
                out.append(
                    f"<li>{e(a.filename)} ({a.size} octets, déposé le {_moment(a.created_at)}) "
                    f": {e(document_path(h, a))}</li>"
                )
            out.append("</ul>")
        else:
            out.append("<p>Aucun document.</p>")
    out.append("</body></html>")
    return "\n".join(out)


class _Sink(io.RawIOBase):
    """A write-only stream that hands what was written to the caller, chunk by chunk: the
    ZIP goes out as it is made (zipfile writes data descriptors on an unseekable stream)."""

    def __init__(self):
        self._chunks = []

    def writable(self):
        return True

    def write(self, data):
        self._chunks.append(bytes(data))
        return len(data)

    def take(self):
        data, self._chunks = b"".join(self._chunks), []
        return data


CHUNK = 64 * 1024


def zip_chunks(found, today=None):
    """The archive, in chunks: the summary, then each document read 64 KB at a time (the
    memory stays bounded whatever the size of the documents)."""
    sink = _Sink()
    stamp = datetime.now().timetuple()[:6]
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("synthese.html", stamp), summary_html(found, today).encode()
        )
        yield sink.take()
        for h in found:
            for a in h.documents:
                path = attachments.path_of(a)
                if not path.exists():
                    continue
                info = zipfile.ZipInfo(document_path(h, a), stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(info, "w") as target:
                    while chunk := source.read(CHUNK):
                        target.write(chunk)
                        yield sink.take()
    yield sink.take()


# Rectification, erasure, limitation.


def _reason(reason, demandes):
    """The reason, checked: given, short, and not a copy of the person's identity (it goes
    into the journal)."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise RuleError("Indiquez le motif (la demande de la personne, sa date).", field="motif")
    if len(reason) > MAX_REASON:
        raise RuleError(f"{MAX_REASON} caractères au plus.", field="motif")
    words = set(fold(reason).replace("-", " ").replace("'", " ").split())
    for d in demandes:
        names = fold(f"{d.assure_nom} {d.assure_prenom}").replace("-", " ").split()
        if any(len(n) > 2 and n in words for n in names):
            raise RuleError(
                "Le motif ne doit pas reprendre le nom de la personne : le journal ne "
                "garde que les numéros de demande.",
                field="motif",
            )
    return reason


def _chosen(user, ids):
    _referent(user)
    demandes = in_scope(user, ids)
    if not demandes:
        raise RuleError("Cochez au moins une demande.", field="demandes")
    return demandes


def rectify(user, demande, data, today=None):
    """Correct the identity of a request (RGPD art. 16). The journal says which fields
    changed, never their old or new value."""
    from .demandes import _identity_errors

    _referent(user)
    today = today or date.today()
    if demande.purged_at is not None:
        raise RuleError("Les données de cette demande sont effacées : rien à rectifier.")
    if not demande.concerns_assure:
        raise RuleError("Cette demande ne concerne pas un assuré.")
    errors = [e for e in _identity_errors({**data, "informed": True}, today)]
    if errors:
        raise RuleError(errors[0][1], field=errors[0][0], errors=errors)
    new = {
        "civilite": data["civilite"],
        "nom": data["nom"].strip(),
        "prenom": data["prenom"].strip(),
        "date_naissance": data["date_naissance"],
        "departement": data["departement"],
    }
    changed = [
        label
        for key, (column, label) in IDENTITY_FIELDS.items()
        if getattr(demande, column) != new[key]
    ]
    if not changed:
        raise RuleError("L'identité saisie est celle déjà enregistrée : rien n'a changé.")
    search = fold(f"{new['nom']} {new['prenom']}")[: Demande.assure_search.max_length]
    with write():
        Demande.update(
            assure_civilite=new["civilite"],
            assure_nom=new["nom"],
            assure_prenom=new["prenom"],
            assure_date_naissance=new["date_naissance"],
            assure_departement=new["departement"],
            assure_search=search,
        ).where(Demande.id == demande.id).execute()
        _journal(user, "rgpd_rectified", demande, f"identité rectifiée ({', '.join(changed)})")
    checkpoint()  # the former identity leaves the WAL too
    return changed


def erase(user, ids, reason, today=None):
    """Erase the personal data of the chosen requests at the person's request (RGPD art.
    17), as the retention does (`housekeeping.erase_personal_data`): the identity, the
    comments, the messages' text, the documents; an open request is closed, since nobody
    can work on it any more. Returns how many requests were erased."""
    today = today or date.today()
    demandes = [d for d in _chosen(user, ids) if d.purged_at is None]
    reason = _reason(reason, demandes)
    if not demandes:
        raise RuleError("Les données de ces demandes sont déjà effacées.", field="demandes")
    at = now()
    with write():
        for d in demandes:
            if d.status != "closed":
                DemandeEvent.create(demande=d, actor=user, action="erased", status="closed", at=at)
                Demande.update(status="closed", closed_at=at, updated_at=at).where(
                    Demande.id == d.id
                ).execute()
        files = erase_personal_data([d.id for d in demandes], today, "request")
        Demande.update(limited_at=None).where(Demande.id.in_([d.id for d in demandes])).execute()
        for d in demandes:
            _journal(user, "rgpd_erased", d, f"données effacées. Motif : {reason}")
    attachments.erase_files(files)
    checkpoint()  # what was erased leaves the WAL too
    return len(demandes)


def limit(user, ids, reason):
    """Limit the processing of the chosen requests (RGPD art. 18): their data stays, but
    nobody reads or works on them outside the référents' space. Returns how many."""
    demandes = [d for d in _chosen(user, ids) if d.limited_at is None and d.purged_at is None]
    reason = _reason(reason, demandes)
    if not demandes:
        raise RuleError("Ces demandes sont déjà limitées ou effacées.", field="demandes")
    at = now()
    with write():
        Demande.update(limited_at=at).where(Demande.id.in_([d.id for d in demandes])).execute()
        for d in demandes:
            _journal(user, "rgpd_limited", d, f"traitement limité. Motif : {reason}")
    return len(demandes)


def lift(user, demande):
    """End the limitation of a request: it is read and processed again."""
    _referent(user)
    if demande.limited_at is None:
        raise RuleError(f"Le traitement de la demande n° {demande.reference} n'est pas limité.")
    with write():
        Demande.update(limited_at=None).where(Demande.id == demande.id).execute()
        _journal(user, "rgpd_unlimited", demande, "limitation du traitement levée")


def limited(user):
    """The limited requests in `user`'s scope, the oldest limitation first (a partial index
    holds only them)."""
    return list(
        Demande.select()
        .where(Demande.limited_at.is_null(False) & scope(user))
        .order_by(Demande.limited_at, Demande.id)
        .limit(MAX_FOUND)
    )
