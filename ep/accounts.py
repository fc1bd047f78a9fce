"""Accounts and their lifecycle (§2.2): creation, invitation, password, habilitation."""

import re

from flask import current_app, url_for

from . import audit, mail, passwords, quotas, tokens
from .db import lock, write
from .models import Account, Caisse, Partner, now
from .rules import RuleError
from .text import fold

IDENTITY_FIELDS = ("civilite", "nom", "prenom", "fonction", "telephone", "email")


def make_username(prenom, nom):
    """'Hélène', 'Le Gall' -> 'helene.le-gall', with a number when already taken."""

    def slug(value):
        return re.sub(r"[^a-z0-9]+", "-", fold(value)).strip("-")

    base = f"{slug(prenom)}.{slug(nom)}".strip(".")[:50] or "utilisateur"
    candidate, n = base, 1
    while Account.select().where(Account.username == candidate).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


def create_partner_account(actor, partner, profile, identity):
    """Create an invited gestionnaire or technicien account within the partner's quota."""
    with write():
        partner = lock(Partner.select().where(Partner.id == partner.id)).get()
        quotas.check_room(partner, profile)
        account = Account.create(
            username=make_username(identity["prenom"], identity["nom"]),
            profile=profile,
            partner=partner,
            created_by=actor,
            state="invited",
            **{k: identity.get(k, "") for k in IDENTITY_FIELDS},
        )
        audit.record("account_created", actor=actor, account=account, detail=profile)
    send_invitation(account, actor)
    return account


def create_caisse_agent(caisse_name, username, email, password, actor=None):
    """Bootstrap a caisse agent (creates the caisse if missing); used by `ep create-user`."""
    errors = passwords.policy_errors(password, [username])
    if errors:
        raise RuleError(" ".join(errors), field="password")
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,59}", username):
        raise RuleError(
            "Identifiant invalide : lettres minuscules, chiffres, point, tiret (2 à 60).",
            field="username",
        )
    with write():
        if Account.select().where(Account.username == username).exists():
            raise RuleError(f"L'identifiant {username} existe déjà.", field="username")
        caisse, _ = Caisse.get_or_create(name=caisse_name.strip())
        account = Account.create(
            username=username,
            profile="caisse",
            caisse=caisse,
            email=email,
            state="active",
            password_hash=passwords.hash_password(password),
            password_changed_at=now(),
            created_by=actor,
        )
        audit.record("caisse_agent_created", actor=actor, account=account, caisse=caisse)
    return account


def invitation_link(account):
    token = tokens.make(account, "set-password")
    return current_app.config["EP_BASE_URL"].rstrip("/") + url_for("auth.set_password", token=token)


def send_invitation(account, actor=None):
    """E-mail the personal set-password link (single use, expires after EP_INVITE_HOURS)."""
    hours = current_app.config["EP_INVITE_HOURS"]
    body = (
        f"Bonjour,\n\n"
        f"Un compte {account.profile_label.lower()} vient d'être ouvert pour vous sur "
        f"l'Espace Partenaires.\n\n"
        f"Identifiant : {account.username}\n\n"
        f"Pour choisir votre mot de passe, ouvrez ce lien personnel (valable {hours} heures, "
        f"utilisable une seule fois) :\n{invitation_link(account)}\n\n"
        "Si vous n'attendiez pas ce message, ignorez-le et prévenez votre gestionnaire.\n\n"
        "Espace Partenaires\n"
    )
    mail.send(account.email, "Votre accès à l'Espace Partenaires", body)
    with write():
        audit.record("invitation_sent", actor=actor, account=account)


def personal_words(account):
    words = [account.nom, account.prenom, account.username]
    if account.partner_id:
        words.append(Partner.get_by_id(account.partner_id).name)
    return words


def set_password(account, password, confirm):
    """Set the account's own password; an invited account becomes active."""
    if password != confirm:
        raise RuleError("Les deux mots de passe ne sont pas identiques.", field="password_confirm")
    errors = passwords.policy_errors(password, personal_words(account))
    if errors:
        raise RuleError(" ".join(errors), field="password")
    with write():
        account.password_hash = passwords.hash_password(password)
        account.password_changed_at = now()
        if account.state == "invited":
            account.state = "active"
        account.rotate_session()
        account.save()
        audit.record("password_set", actor=account, account=account)
    return account
