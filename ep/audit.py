"""The audit trail (§4.1, `002_…` annexe 3): who did what, on whom, when, from where."""

import contextvars
import re
import threading
import time

from flask import current_app, has_request_context, request

from . import settings
from .models import AuditEvent

ACTIONS = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "login_inactive": "Connexion refusée : compte inactif (bon mot de passe)",
    "logout": "Déconnexion",
    "partner_created": "Structure partenaire créée",
    "convention_created": "Convention créée",
    "convention_updated": "Convention modifiée",
    "account_created": "Compte créé",
    "caisse_agent_created": "Agent de caisse créé",
    "invitation_sent": "Lien d'activation envoyé",
    "password_set": "Mot de passe défini",
    "invitation_failed": "Lien d'activation non envoyé (messagerie injoignable)",
    "deactivated": "Compte inactivé",
    "fraud_deactivated": "Compte inactivé immédiatement par la caisse",
    "auto_deactivated": "Compte inactivé (inutilisé)",
    "idle_warned": "Prévenu de l'inactivation prochaine (inutilisé)",
    "scheduled_deactivated": "Compte inactivé (date programmée)",
    "convention_ended": "Compte inactivé (fin de convention)",
    "reactivated": "Compte réactivé",
    "inactivation_scheduled": "Inactivation programmée",
    "identity_updated": "Identité modifiée",
    "deleted": "Compte supprimé",
    "cgu_accepted": "CGU acceptées",
    "reset_requested": "Réinitialisation du mot de passe demandée",
    "partner_cut_off": "Accès de la structure coupé",
    "partner_restored": "Accès de la structure rétabli",
    "review_requested": "Revue des habilitations demandée",
    "review_periodicity": "Périodicité des revues modifiée",
    "review_completed": "Revue des habilitations terminée",
    "review_overdue": "Revue des habilitations en retard",
    "review_deactivated": "Compte inactivé (revue des habilitations)",
    "habilitation_requested": "Demande d'habilitation enregistrée",
    "demande_submitted": "Demande envoyée",
    "demande_taken": "Demande prise en charge",
    "demande_answered": "Réponse de la caisse",
    "demande_asked": "Complément demandé",
    "demande_partner_replied": "Réponse du partenaire",
    "demande_closed": "Demande clôturée",
    "demande_viewed": "Demande consultée",
    "attachment_downloaded": "Pièce jointe téléchargée",
    "users_exported": "Liste des utilisateurs exportée",
    "review_exported": "Compte rendu de revue exporté",
    "convention_accepted": "Convention acceptée par la structure",
    "review_caisse_asked": "Décision de la caisse demandée (revue)",
    "convention_refused": "Convention refusée par la structure",
    "publication_published": "Information publiée aux partenaires",
    "publication_withdrawn": "Information retirée",
    "publication_pinned": "Information épinglée",
    "publication_unpinned": "Information désépinglée",
    "contact_added": "Contact ajouté",
    "contact_updated": "Contact modifié",
    "contact_removed": "Contact retiré",
    "caisse_departement": "Département de la caisse modifié",
    "training_recorded": "Formation enregistrée",
    "training_deleted": "Formation supprimée",
    "thread_started": "Échange ouvert par la caisse",
    "thread_closed": "Échange clos par la caisse",
    "evaluation_opened": "Évaluation annuelle ouverte",
    "evaluation_submitted": "Évaluation annuelle envoyée par la structure",
    "evaluation_overdue": "Évaluation annuelle en retard",
    "evaluation_question_added": "Question de l'évaluation annuelle ajoutée",
    "evaluation_question_updated": "Question de l'évaluation annuelle modifiée",
    # Issue 14: personal data for as long as needed, the journal as an investigation tool.
    "demande_close_warned": "Prévenu de la clôture automatique (sans réponse)",
    "demande_auto_closed": "Demande clôturée automatiquement (sans réponse du partenaire)",
    "demandes_purged": "Données personnelles des demandes clôturées effacées",
    "journal_exported": "Journal exporté",
    "journal_purged": "Traces de consultation anciennes effacées",
    "catalogue_offer_added": "Offre ajoutée au catalogue",
    "catalogue_offer_updated": "Offre du catalogue modifiée",
    "catalogue_motif_added": "Motif ajouté au catalogue",
    "catalogue_motif_updated": "Motif du catalogue modifié",
    # Issue 14.2: the référents RGPD and the persons' rights.
    "rgpd_referent_granted": "Désigné référent RGPD",
    "rgpd_referent_revoked": "Désignation de référent RGPD retirée",
    "rgpd_searched": "Recherche des données d'une personne (référent RGPD)",
    "rgpd_exported": "Données d'une demande exportées (droit d'accès)",
    "rgpd_rectified": "Identité de l'assuré rectifiée",
    "rgpd_erased": "Données effacées à la demande de la personne",
    "rgpd_limited": "Traitement limité à la demande de la personne",
    "rgpd_unlimited": "Limitation du traitement levée",
    "breach_reported": "Violation de données signalée au DPO de la caisse",
}

# An event about a request names it first in its detail ("demande 000123", "demande 000123,
# pièce 4"): `record` keeps its number in a column of its own for the journal's filter.
_NAMES_A_DEMANDE = re.compile(r"demande ([0-9]{1,9})(?![0-9])")


# Outside a request: the command line says so (cli.py); otherwise it is the server's own
# daily run.
ORIGIN = contextvars.ContextVar("origin", default="traitement automatique")


def client_ip():
    """Where the action came from: the client's address, the command line, or the daily
    automatic run of `ep serve`."""
    if has_request_context():
        return request.remote_addr or ORIGIN.get()
    return ORIGIN.get()


def record(action, actor=None, account=None, partner=None, caisse=None, detail="", demande=None):
    """Append one event. Never put an assuré's data in `detail`. `demande`: the request's
    id, found in the detail ("demande 000123…") when not given."""
    if partner is None and account is not None:
        partner = account.partner_id
    if caisse is None and actor is not None and actor.profile == "caisse":
        caisse = actor.caisse_id
    if demande is None:
        named = _NAMES_A_DEMANDE.match(detail or "")
        demande = int(named.group(1)) if named else None
    return AuditEvent.create(
        action=action,
        actor=actor,
        account=account,
        partner=partner,
        caisse=caisse,
        detail=detail,
        ip=client_ip(),
        demande_id=demande,
    )


# Reads traced once per window (EP_READ_TRACE_MINUTES) and per account, object and address;
# the others (exports: a copy leaves) every time.
THROTTLED_READS = {"demande_viewed", "attachment_downloaded"}


class RecentReads:
    """The reads this process traced lately, (account, action, detail, address) -> when.
    In memory: a read is traced again after a restart, and by each server process once."""

    def __init__(self, limit=20000):
        self.limit = limit
        self._lock = threading.Lock()
        self._at = {}

    def __len__(self):
        return len(self._at)

    def due(self, key, at, window):
        """True when this read must be traced: none traced within `window` seconds."""
        with self._lock:
            last = self._at.get(key)
        return last is None or at - last >= window

    def traced(self, key, at):
        with self._lock:
            self._at[key] = at
            if len(self._at) > self.limit:  # the oldest half goes (dicts keep their order)
                for old in list(self._at)[: len(self._at) // 2]:
                    del self._at[old]


def record_read(action, actor, partner=None, caisse=None, detail=""):
    """Trace a read of personal data (a request, a document, a user list) in its own
    transaction, committed before the page leaves: who, what, when, from where — what a
    breach inquiry needs (§5). A request or a document read again by the same account from
    the same address within EP_READ_TRACE_MINUTES (10) is not traced again: reading a page
    costs no write (issue 11)."""
    from .db import write

    window = settings.get("EP_READ_TRACE_MINUTES", 10) * 60
    key = (actor.id, action, detail, client_ip())
    reads = current_app.extensions.setdefault("ep.recent_reads", RecentReads())
    at = time.monotonic()
    if action in THROTTLED_READS and not reads.due(key, at, window):
        return None
    with write():
        event = record(action, actor=actor, partner=partner, caisse=caisse, detail=detail)
    reads.traced(key, at)
    return event
