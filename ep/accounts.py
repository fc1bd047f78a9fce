"""Accounts and their lifecycle (§2.2): creation, invitation, password, habilitation."""

import re
from datetime import date, datetime, timedelta

from peewee import fn

from . import audit, notices, passwords, phones, quotas, settings
from .db import lock, write
from .models import Account, Caisse, Convention, HabilitationRequest, Partner, now
from .rules import NeedsConfirmation, RuleError
from .text import fold
from .workdays import add_workdays

IDENTITY_FIELDS = ("civilite", "nom", "prenom", "fonction", "telephone", "email")
# What a gestionnaire corrects on a technicien's account: an account is personal, so its
# names are not reassigned (another person gets an account of their own, and attestations).
CONTACT_FIELDS = ("fonction", "telephone", "email")
FIELD_LABELS = {
    "civilite": "civilité",
    "nom": "nom",
    "prenom": "prénom",
    "fonction": "fonction",
    "telephone": "téléphone",
    "email": "e-mail",
}


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


def create_partner_account(
    actor,
    partner,
    profile,
    identity,
    requested_on=None,
    today=None,
    habilitation_request=None,
    confirm_email=False,
):
    """Create an invited gestionnaire or technicien account within the partner's quota.

    For a gestionnaire, `requested_on` is when the partner asked: the convention's deadline
    (in working days) runs from it. An e-mail address already used by another account of
    the structure needs `confirm_email` (the set-password link is about to leave for it).
    """
    today = today or date.today()
    identity = dict(identity, telephone=phones.normalise(identity.get("telephone")))
    check_email(partner, identity.get("email", ""), confirmed=confirm_email)
    current = Convention.select().where(
        (Convention.partner == partner) & Convention.not_ended(today)
    )
    if actor.profile == "caisse":
        current = current.where(Convention.caisse == actor.caisse_id)
    if not current.exists():
        raise RuleError(
            "Aucune convention en cours : les comptes ne sont ouverts qu'une fois la convention "
            "signée, et tant qu'elle n'a pas pris fin."
        )
    extra = {}
    if profile == "technicien":
        extra["attested_at"] = now()
    if requested_on is not None:
        if requested_on > today:
            raise RuleError(
                "La date de la demande ne peut pas être dans le futur.", field="requested_on"
            )
        convention = Convention.get_or_none(
            (Convention.partner == partner) & (Convention.caisse == actor.caisse_id)
        )
        days = convention.habilitation_deadline_days if convention else 5
        extra["habilitation_requested_on"] = requested_on
        extra["habilitation_due_on"] = add_workdays(requested_on, days, _departement(actor))
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
            **extra,
        )
        audit.record("account_created", actor=actor, account=account, detail=profile)
        if habilitation_request is not None:
            habilitation_request.account = account
            habilitation_request.done_at = now()
            habilitation_request.save()
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
        from . import evaluations

        evaluations.ensure_questionnaire(caisse.id)  # its yearly questionnaire (issue 13.4)
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


def send_invitation(account, actor=None):
    """E-mail the personal set-password link (single use, expires after EP_INVITE_HOURS).
    Called inside the action's transaction: the notice leaves once it commits."""
    notices.queue(
        account.email,
        "invitation",
        "Votre accès à l'Espace Partenaires",
        partner=account.partner_id,
        account_id=account.id,
        username=account.username,
        profile=account.profile_label.lower(),
        hours=settings.get("EP_INVITE_HOURS"),
    )
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
    from .login import lift_lock

    with write():
        account.password_hash = passwords.hash_password(password)
        account.password_changed_at = now()
        if account.state == "invited":
            account.state = "active"
        account.rotate_session()
        account.save()
        lift_lock(account)
        audit.record("password_set", actor=account, account=account)
    return account


def create_technicien(actor, identity, attested, confirm_email=False):
    """A gestionnaire opens a technicien account for their structure (§2.2.1).

    The gestionnaire attests that the person works for the structure, uses protected
    professional equipment and has a professional e-mail address.
    """
    if not attested:
        raise RuleError(
            "Les trois attestations sont obligatoires pour ouvrir un compte.", field="attestations"
        )
    return create_partner_account(
        actor, actor.partner, "technicien", identity, confirm_email=confirm_email
    )


def check_email(partner, email, excluding=None, confirmed=False):
    """Warn (NeedsConfirmation) when another account of the structure has this address: one
    person may hold a gestionnaire and a technicien account with one address (§2.2), but a
    colleague's address copied by mistake would receive this account's links. Addresses of
    other structures are not looked at (nothing is learnt about them)."""
    email = (email or "").strip()
    if confirmed or not email:
        return
    others = Account.visible().where(
        (Account.partner == partner) & (fn.LOWER(Account.email) == email.lower())
    )
    if excluding is not None:
        others = others.where(Account.id != excluding.id)
    others = list(others.order_by(Account.id))
    if others:
        names = ", ".join(f"{a.display_name} ({a.profile_label.lower()})" for a in others)
        raise NeedsConfirmation(
            f"Cette adresse est déjà celle d'un autre compte de la structure : {names}. Une "
            "même personne peut avoir un compte gestionnaire et un compte technicien avec la "
            "même adresse ; si ce n'est pas le cas, corrigez-la : les liens de ce compte y "
            "seraient envoyés. Sinon, cochez la confirmation.",
            field="email",
            confirm="confirm_email",
        )


def resend_invitation(actor, account):
    """Send a fresh set-password link to an account that has not chosen its password yet."""
    if account.state != "invited":
        raise RuleError("Ce compte a déjà choisi son mot de passe : aucun lien à renvoyer.")
    with write():
        send_invitation(account, actor)


def _active_gestionnaires(partner, excluding=None):
    query = Account.active_gestionnaires(partner).where(Account.scheduled_inactivation_on.is_null())
    if excluding is not None:
        query = query.where(Account.id != excluding.id)
    return query


def is_last_gestionnaire(account):
    """True when no other active gestionnaire would remain for the partner (§2.2)."""
    return not _active_gestionnaires(account.partner_id, excluding=account).exists()


def deactivate(actor, account, reason, fraud=False, review=False):
    """Inactivate an account at once, with a reason; its sessions end at their next request.

    A gestionnaire inactivates techniciens of their structure. A caisse agent inactivates any
    account of its partners at once in case of fraud, loss or theft of credentials (§4.1),
    and the partner's gestionnaires are told by e-mail. The last active gestionnaire is only
    inactivated for fraud: otherwise a replacement must be habilitated first.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RuleError("Indiquez le motif de l'inactivation.", field="reason")
    if account.state not in ("active", "invited"):
        raise RuleError("Ce compte est déjà inactif.")
    if actor.profile == "gestionnaire" and account.profile != "technicien":
        raise RuleError("Seule la caisse inactive un compte gestionnaire.")
    if account.profile == "gestionnaire" and not fraud and is_last_gestionnaire(account):
        raise RuleError(
            "C'est le dernier gestionnaire actif de la structure : faites d'abord habiliter "
            "son remplaçant."
        )
    with write():
        account.state = "inactive"
        account.inactivated_at = now()
        account.inactivation_reason = reason[:300]
        account.scheduled_inactivation_on = None
        if fraud:
            account.fraud_locked_at = now()
        account.rotate_session()
        account.save()
        action = "fraud_deactivated" if fraud else "review_deactivated" if review else "deactivated"
        audit.record(
            action,
            actor=actor,
            account=account,
            detail=reason[:300],
        )
        if fraud:
            notify_partner(
                account.partner_id,
                "Compte inactivé par la caisse",
                f"La caisse a inactivé immédiatement le compte {account.username} "
                f"({account.profile_label.lower()}) de votre structure, pour le motif suivant "
                f": {reason}.\n\nSi vous pensez qu'il s'agit d'une erreur, contactez votre "
                "caisse.",
            )
    return account


def reactivate(actor, account):
    """Reactivate an inactive account within the quota, until it is deleted (§2.2).

    An inactivation by the caisse for fraud, loss or theft is lifted by the caisse only, and
    the old (possibly stolen) password dies: the person chooses a new one from a fresh link,
    and the structure's gestionnaires are told."""
    if account.state != "inactive":
        raise RuleError("Seul un compte inactif peut être réactivé.")
    if actor.profile == "gestionnaire" and account.profile != "technicien":
        raise RuleError("Seule la caisse réactive un compte gestionnaire.")
    locked = account.fraud_locked_at is not None
    if locked and actor.profile != "caisse":
        raise RuleError(
            "Ce compte a été inactivé par la caisse (fraude, perte ou vol des identifiants) : "
            "seule la caisse peut le réactiver. Contactez-la."
        )
    with write():
        partner = lock(Partner.select().where(Partner.id == account.partner_id)).get()
        quotas.check_room(partner, account.profile)
        if locked:
            account.password_hash = None
            account.fraud_locked_at = None
        account.state = "active" if account.password_hash else "invited"
        account.inactivated_at = None
        account.inactivation_reason = ""
        account.reactivated_at = now()  # restarts the 3-month idle clock
        account.idle_warned_at = None
        account.rotate_session()
        account.save()
        audit.record("reactivated", actor=actor, account=account)
        if account.state == "invited":
            send_invitation(account, actor)
        if locked:
            notify_partner(
                account.partner_id,
                "Compte réactivé par la caisse",
                f"La caisse a levé l'inactivation du compte {account.username} "
                f"({account.profile_label.lower()}) de votre structure. L'ancien mot de passe "
                "ne fonctionne plus : un lien personnel pour en choisir un nouveau vient d'être "
                "envoyé à l'adresse e-mail du compte.",
            )
    return account


def schedule_inactivation(actor, account, on_date, today, by_review=False):
    """The caisse sets the date a gestionnaire will be inactivated, as the partner asked
    (or a completed review decided it, 15 days ahead)."""
    if actor.profile != "caisse" and not by_review:
        raise RuleError("Seule la caisse programme l'inactivation d'un gestionnaire.")
    if account.profile != "gestionnaire":
        raise RuleError("Seuls les comptes gestionnaires s'inactivent à date.")
    if on_date is None or on_date < today:
        raise RuleError("Choisissez une date à venir.", field="on_date")
    if is_last_gestionnaire(account):
        raise RuleError(
            "C'est le dernier gestionnaire actif de la structure : faites d'abord habiliter "
            "son remplaçant.",
            field="on_date",
        )
    with write():
        account.scheduled_inactivation_on = on_date
        account.save()
        audit.record(
            "inactivation_scheduled", actor=actor, account=account, detail=on_date.isoformat()
        )
    return account


def update_identity(actor, account, identity, confirm_email=False):
    """Correct an account's details; returns the names of the fields that changed.

    Only the caisse modifies a gestionnaire's identity, on the partner's request (§2.2); a
    gestionnaire of the structure corrects a technicien's fonction, e-mail and telephone. The
    journal names the fields that changed, never their values. A new address on an account
    still waiting for its password gets a fresh set-password link (the old one dies)."""
    if actor.profile == "caisse":
        if account.profile != "gestionnaire":
            raise RuleError("Seuls les comptes gestionnaires sont modifiés par la caisse.")
        fields = IDENTITY_FIELDS
    elif (
        actor.profile == "gestionnaire"
        and account.profile == "technicien"
        and account.partner_id == actor.partner_id
    ):
        fields = CONTACT_FIELDS
    else:
        raise RuleError("Seule la caisse modifie un compte gestionnaire.")
    if account.state == "deleted":
        raise RuleError("Ce compte est supprimé.")
    values = {k: (identity.get(k) or "").strip() for k in fields}
    values["telephone"] = phones.normalise(values["telephone"])
    if values["email"].lower() != account.email.lower():
        check_email(account.partner_id, values["email"], excluding=account, confirmed=confirm_email)
    with write():
        changed = [k for k in fields if getattr(account, k) != values[k]]
        if not changed:
            return []
        for key in changed:
            setattr(account, key, values[key])
        account.save()
        audit.record(
            "identity_updated",
            actor=actor,
            account=account,
            detail=", ".join(FIELD_LABELS[k] for k in changed),
        )
        if "email" in changed and account.state == "invited":
            send_invitation(account, actor)
    return changed


DEACTIVATIONS = (
    "deactivated",
    "fraud_deactivated",
    "review_deactivated",
    "auto_deactivated",
    "scheduled_deactivated",
    "convention_ended",
)


def recent_inactivations(partner, today=None, days=30):
    """The structure's accounts inactivated in the last `days` days and still inactive: who,
    when, why and by whom (a gestionnaire, a caisse, the nightly rules), newest first."""
    from .models import AuditEvent

    today = today or date.today()
    since = datetime.combine(today - timedelta(days=days), datetime.min.time())
    inactive = list(
        Account.select()
        .where(
            (Account.partner == partner)
            & (Account.state == "inactive")
            & (Account.inactivated_at >= since)
        )
        .order_by(Account.inactivated_at.desc(), Account.id)
    )
    by = {}
    for event in (
        AuditEvent.select()
        .where(
            AuditEvent.account.in_([a.id for a in inactive]) & AuditEvent.action.in_(DEACTIVATIONS)
        )
        .order_by(AuditEvent.id)
    ):
        actor = event.actor
        if actor is None:
            by[event.account_id] = "traitement automatique"
        elif actor.profile == "caisse":
            by[event.account_id] = actor.caisse.name
        else:
            by[event.account_id] = actor.display_name
    return [
        {
            "account": a,
            "at": a.inactivated_at,
            "reason": a.inactivation_reason,
            "by": by.get(a.id, ""),
        }
        for a in inactive
    ]


def erase(account, today):
    """Delete an account: personal data gone, the row kept so its history stays attributed."""
    from .models import Notice

    if account.email:
        Notice.delete().where(Notice.recipient == account.email).execute()
    account.state = "deleted"
    account.deleted_at = now()
    account.username = f"ancien-{account.id}"
    for key in IDENTITY_FIELDS:
        setattr(account, key, "")
    account.password_hash = None
    account.inactivation_reason = ""
    account.rotate_session()
    account.save()
    HabilitationRequest.update(person="").where(HabilitationRequest.account == account).execute()
    audit.record("deleted", account=account)


def notify_partner(partner_id, subject, text, **link):
    """Tell the partner's active gestionnaires (no assuré data, ever), through the
    notification layer; call inside the action's transaction. `link`: endpoint=…,
    link_args={…}, link_label=… for a link to a page. Returns how many were queued."""
    return notices.to_gestionnaires(partner_id, "message", subject, text=text, **link)


def accept_cgu(account, version):
    """Record that the user accepted this version of the CGU (first login, new version)."""
    with write():
        account.cgu_version = version
        account.cgu_accepted_at = now()
        account.save()
        audit.record("cgu_accepted", actor=account, account=account, detail=f"version {version}")


def change_password(account, current, password, confirm, ip=""):
    """Change one's own password: the current one is asked again, throttled like the login
    (a stolen session must not try passwords at leisure)."""
    from . import login

    try:
        rows = login.reserve([(login.account_key(account), 1), login.address_key(ip)], now())
    except RuleError as exc:
        raise RuleError(exc.message, field="current_password") from exc
    if not passwords.verify(account.password_hash, current):
        raise RuleError("Le mot de passe actuel est incorrect.", field="current_password")
    with write():
        login.release(rows)
    if passwords.verify(account.password_hash, password):
        raise RuleError("Choisissez un mot de passe différent de l'actuel.", field="password")
    return set_password(account, password, confirm)


def send_reset(username, ip=""):
    """E-mail a reset link if the account exists and is usable; silent otherwise.

    Throttled like logins (per account and per address), so nobody can flood a mailbox. The
    answer on screen is the same either way, and takes the same time: the notice and its
    journal line are written after the response (notices.after_response)."""
    from . import login

    account = Account.get_or_none(Account.username == (username or "").strip())
    if account is not None:
        name_key = login.account_key(account, "reset")
    else:
        name_key = login.unknown_key(username, "reset")
    try:
        login.reserve([(name_key, 1), login.address_key(ip, "reset-ip")], now())
    except RuleError:
        return
    if account is None or account.state != "active":
        return
    account_id = account.id

    def queue():
        account = Account.get_by_id(account_id)
        with write():
            notices.queue(
                account.email,
                "reset",
                "Réinitialisation de votre mot de passe",
                partner=account.partner_id,
                account_id=account.id,
                username=account.username,
                hours=settings.get("EP_RESET_HOURS"),
            )
            audit.record("reset_requested", account=account)

    notices.after_response(queue)


def set_preferences(account, notify_by_email):
    """The user's own settings: e-mail notifications on their requests."""
    with write():
        account.notify_by_email = bool(notify_by_email)
        account.save()


def record_habilitation_request(agent, partner, person, received_on, today=None):
    """The caisse records a partner's request to habilitate a gestionnaire; the convention's
    deadline (working days) runs from its reception (§2.2)."""
    today = today or date.today()
    if received_on is None or received_on > today:
        raise RuleError("La date de réception ne peut pas être dans le futur.", field="received_on")
    convention = Convention.get_or_none(
        (Convention.partner == partner) & (Convention.caisse == agent.caisse_id)
    )
    days = convention.habilitation_deadline_days if convention else 5
    with write():
        request = HabilitationRequest.create(
            partner=partner,
            caisse=agent.caisse_id,
            person=person.strip()[:200],
            received_on=received_on,
            due_on=add_workdays(received_on, days, _departement(agent)),
            created_by=agent,
        )
        audit.record("habilitation_requested", actor=agent, partner=partner)
    return request


def _departement(agent):
    """The département of the agent's caisse, whose public holidays its deadlines count
    (issue 12.6)."""
    return Caisse.get_by_id(agent.caisse_id).departement if agent.caisse_id else ""


def pending_habilitations(partner_ids, caisse_id):
    """The caisse's habilitation requests not yet done, earliest deadline first."""
    return (
        HabilitationRequest.select()
        .where(
            HabilitationRequest.partner.in_(list(partner_ids))
            & (HabilitationRequest.caisse == caisse_id)
            & HabilitationRequest.done_at.is_null()
        )
        .order_by(HabilitationRequest.due_on)
    )
