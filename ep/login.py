"""Login and its throttling (CNIL délibération 2022-100, OWASP ASVS 2.2).

Failures are counted per username and per client address over 24 hours. After
EP_LOGIN_FREE_FAILURES failures each further attempt must wait 1, 2, 4… minutes (at most an
hour) after the last failure; at EP_LOGIN_MAX_FAILURES_PER_DAY the key is blocked until the
oldest failure is a day old. A client address gets the same limits, times EP_LOGIN_IP_FACTOR
(20 by default: a whole CCAS may reach the server through one address).
"""

from datetime import timedelta

from . import audit, passwords, settings
from .db import database, is_sqlite, write
from .models import Account, LoginFailure, now
from .rules import RuleError

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."


class AccountInactive(RuleError):
    """The right password on an account that may not log in (inactive, or every channel of
    its structure closed): said plainly — since when, why, whom to ask — and not counted as
    a failure. Only raised once the password is known right: a wrong one learns nothing."""

    def __init__(self, since, reason, ask, contacts):
        self.since, self.reason, self.ask, self.contacts = since, reason, ask, contacts
        when = f" depuis le {since:%d/%m/%Y}" if since else ""
        super().__init__(
            f"Votre compte est inactif{when} : {reason}. {ask} : {' ; '.join(contacts)}."
        )


def _limits(factor):
    free = settings.get("EP_LOGIN_FREE_FAILURES")
    return free * factor, settings.get("EP_LOGIN_MAX_FAILURES_PER_DAY") * factor


def wait_seconds(key, factor, at):
    """Seconds this key must still wait before trying again (0 when it may try now)."""
    free, maximum = _limits(factor)
    failures = list(
        LoginFailure.select(LoginFailure.at)
        .where((LoginFailure.key == key) & (LoginFailure.at > at - timedelta(days=1)))
        .order_by(LoginFailure.at)
    )
    n = len(failures)
    if n >= maximum:
        return (failures[0].at + timedelta(days=1) - at).total_seconds()
    if n >= free:
        delay = min(60 * 2 ** (n - free), 3600)
        return max(0.0, (failures[-1].at + timedelta(seconds=delay) - at).total_seconds())
    return 0.0


def account_key(account, purpose="user"):
    """The throttling key of an account. Keys name accounts by id, never by what was typed:
    a NIR typed as a login name must not be stored (§5)."""
    return f"{purpose}:{account.id}"


def unknown_key(username, purpose="user"):
    """The key of a name that matches no account: 16 bits of a keyed hash, so that a name
    (a NIR, say) typed there is never stored, while an unknown name is still throttled like
    a real one (no way to tell which names exist). Unknown names share 65,536 buckets."""
    import hashlib
    import hmac

    from .text import fold

    digest = hmac.new(
        settings.get("SECRET_KEY").encode(),
        fold((username or "").strip()).encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"{purpose}-unknown:{digest[:4]}"


def address_key(ip, purpose="ip"):
    return (f"{purpose}:{ip or ''}", settings.get("EP_LOGIN_IP_FACTOR"))


def _serialise(keys):
    """Attempts on the same keys queue up: SQLite's IMMEDIATE transaction already does it;
    PostgreSQL takes a transaction-level advisory lock per key (in one order: no deadlock)."""
    if not is_sqlite():
        for key in sorted(k for k, _ in keys):
            database.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (key,))


def too_many(wait):
    minutes = max(1, round(wait / 60))
    return RuleError(
        "Trop de tentatives. Réessayez dans "
        f"{minutes} minute{'s' if minutes > 1 else ''}, ou demandez de l'aide à votre "
        "gestionnaire ou à votre caisse."
    )


def reserve(keys, at):
    """Count an attempt before it is checked, atomically: 30 simultaneous tries get exactly
    the free ones checked. Raises RuleError when a key must wait; returns the rows, which the
    caller releases when the attempt succeeds."""
    with write():
        _serialise(keys)
        wait = max([wait_seconds(key, factor, at) for key, factor in keys] or [0])
        if wait > 0:
            raise too_many(wait)
        return [LoginFailure.create(key=key, at=at).id for key, _ in keys]


def release(rows):
    LoginFailure.delete().where(LoginFailure.id.in_(rows)).execute()


def authenticate(username, password, ip, at=None):
    """The active account for these credentials, or RuleError with one message for all cases.

    Failures count per account and per client address; an address gets EP_LOGIN_IP_FACTOR
    times the account's limits (a brake on password spraying, not a lock-out of the
    colleagues behind the same NAT or proxy)."""
    at = at or now()
    account = Account.get_or_none(Account.username == (username or "").strip())
    name_key = account_key(account) if account is not None else unknown_key(username)
    rows = reserve([(name_key, 1), address_key(ip)], at)
    ok = passwords.verify(account.password_hash if account else None, password)
    usable = ok and account.state == "active" and not _cut_off(account)
    refusal = inactive_refusal(account) if ok and not usable else None
    if refusal is not None:
        with write():
            release(rows)
            audit.record("login_inactive", account=account)
        raise refusal
    if not usable:
        if account is not None:
            with write():
                audit.record("login_failed", account=account)
        raise RuleError(BAD_CREDENTIALS)
    with write():
        release(rows)
        LoginFailure.delete().where(LoginFailure.key == account_key(account)).execute()
        account.last_login_at = at
        account.idle_warned_at = None  # a new idle period, with its own warning
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash_password(password)
        account.save()
        audit.record("login", actor=account, account=account)
    return account


def lift_lock(account):
    """A password chosen from an e-mailed link proves the mailbox: the account's failures go."""
    LoginFailure.delete().where(LoginFailure.key == account_key(account)).execute()


def _cut_off(account):
    """Every channel of the structure is cut off (or none is in force)."""
    from .partners import has_open_channel

    return account.partner_id is not None and not has_open_channel(account.partner_id)


def inactive_refusal(account, today=None):
    """Why this account may not log in, and whom to ask, or None when it may (or when it is
    invited or deleted: those get the usual message)."""
    from .models import Convention

    if account.state == "inactive":
        if account.fraud_locked_at is not None:
            # The caisse's own words stay between it and the structure: whoever typed the
            # right password may be the thief.
            reason = (
                "inactivé par la caisse (fraude, perte ou vol des identifiants) ; seule la "
                "caisse peut le réactiver"
            )
        else:
            reason = account.inactivation_reason or "inactivé"
        return _refusal(account, account.inactivated_at, reason)
    if account.state != "active" or not _cut_off(account):
        return None
    cut = list(
        Convention.select()
        .where(
            (Convention.partner == account.partner_id)
            & Convention.in_force()
            & Convention.cut_off_at.is_null(False)
        )
        .order_by(Convention.id)
    )
    if cut:
        names = ", ".join(c.caisse.name for c in cut)
        since = max(c.cut_off_at for c in cut)
        return _refusal(account, since, f"structure coupée par {names}", [c.caisse_id for c in cut])
    ended = [
        c.ends_on
        for c in Convention.select().where(
            (Convention.partner == account.partner_id) & Convention.ends_on.is_null(False)
        )
    ]
    return _refusal(
        account,
        max(ended) if ended else None,
        "votre structure n'a pas de convention en vigueur avec une caisse",
    )


def _refusal(account, since, reason, caisse_ids=None):
    """A technicien asks the structure's active gestionnaires (by name); a gestionnaire, or a
    technicien whose structure has none left, asks the caisse (its référents, or its name)."""
    if account.profile == "technicien":
        names = [
            g.display_name
            for g in Account.active_gestionnaires(account.partner_id).order_by(
                Account.nom, Account.prenom
            )
        ]
        if names:
            ask = "Pour le faire réactiver, adressez-vous à votre gestionnaire"
            if len(names) > 1:
                ask = "Pour le faire réactiver, adressez-vous à l'un de vos gestionnaires"
            return AccountInactive(since, reason, ask, names)
    return AccountInactive(
        since,
        reason,
        "Pour le faire réactiver, adressez-vous à votre caisse",
        caisse_contacts(account.partner_id, caisse_ids),
    )


def caisse_contacts(partner_id, caisse_ids=None):
    """The caisse's contacts for a structure: the référents and support each caisse of its
    conventions keeps (issue 12.4), or the caisse's name when it recorded none."""
    from .models import Contact, Convention
    from .phones import display

    conventions = Convention.select().where(
        (Convention.partner == partner_id) & (Convention.state == "accepted")
    )
    if caisse_ids is not None:
        conventions = conventions.where(Convention.caisse.in_(caisse_ids))
    contacts = []
    for convention in conventions.order_by(Convention.id):
        caisse = convention.caisse.name
        referents = [
            c
            for c in Contact.owned_by(caisse=convention.caisse_id)
            if c.role in ("referent", "support")
        ]
        for r in referents:
            parts = [r.name, r.function, display(r.phone), r.email]
            contacts.append(f"{caisse} : " + ", ".join(p for p in parts if p))
        if not referents:
            contacts.append(caisse)
    return contacts


def logout(account):
    """End every session of the account, not only this browser's."""
    with write():
        account.rotate_session()
        account.save()
        audit.record("logout", actor=account, account=account)


def purge_failures(at):
    """Forget failures older than a day."""
    LoginFailure.delete().where(LoginFailure.at < at - timedelta(days=1)).execute()
