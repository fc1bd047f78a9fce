"""The audit trail (§4.1, `002_…` annexe 3): who did what, on whom, when, from where."""

from flask import has_request_context, request

from .models import AuditEvent

ACTIONS = {
    "login": "Connexion",
    "login_failed": "Échec de connexion",
    "logout": "Déconnexion",
    "partner_created": "Structure partenaire créée",
    "convention_created": "Convention créée",
    "convention_updated": "Convention modifiée",
    "account_created": "Compte créé",
    "caisse_agent_created": "Agent de caisse créé",
    "invitation_sent": "Lien d'activation envoyé",
    "password_set": "Mot de passe défini",
}


def client_ip():
    if has_request_context():
        return request.remote_addr or ""
    return "ligne de commande"


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
