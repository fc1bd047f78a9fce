"""The audit trail (§4.1, `002_…` annexe 3): who did what, on whom, when, from where."""

import contextvars

from flask import has_request_context, request

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
}


# Outside a request: the command line says so (cli.py); otherwise it is the server's own
# daily run.
ORIGIN = contextvars.ContextVar("origin", default="traitement automatique")


def client_ip():
    """Where the action came from: the client's address, the command line, or the daily
    automatic run of `ep serve`."""
    if has_request_context():
        return request.remote_addr or ORIGIN.get()
    return ORIGIN.get()


def record(action, actor=None, account=None, partner=None, caisse=None, detail=""):
    """Append one event. Never put an assuré's data in `detail`."""
    if partner is None and account is not None:
        partner = account.partner_id
    if caisse is None and actor is not None and actor.profile == "caisse":
        caisse = actor.caisse_id
    return AuditEvent.create(
        action=action,
        actor=actor,
        account=account,
        partner=partner,
        caisse=caisse,
        detail=detail,
        ip=client_ip(),
    )


def record_read(action, actor, partner=None, caisse=None, detail=""):
    """Trace a read of personal data (a request, a document, a user list) in its own
    transaction: who, what, when, from where — what a breach inquiry needs (§5)."""
    from .db import write

    with write():
        return record(action, actor=actor, partner=partner, caisse=caisse, detail=detail)
