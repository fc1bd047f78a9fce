"""Login and its throttling (CNIL délibération 2022-100, OWASP ASVS 2.2).

Failures are counted per username and per client address over 24 hours. After
EP_LOGIN_FREE_FAILURES failures each further attempt must wait 1, 2, 4… minutes (at most an
hour) after the last failure; at EP_LOGIN_MAX_FAILURES_PER_DAY the key is blocked until the
oldest failure is a day old. A client address gets the same limits, times EP_LOGIN_IP_FACTOR
(1 by default; raise it when a whole CCAS reaches the server through one address).
"""

from datetime import timedelta

from flask import current_app

from . import audit, passwords
from .db import write
from .models import Account, LoginFailure, now
from .rules import RuleError

BAD_CREDENTIALS = "Identifiant ou mot de passe incorrect."


def _limits(factor):
    cfg = current_app.config
    return cfg["EP_LOGIN_FREE_FAILURES"] * factor, cfg["EP_LOGIN_MAX_FAILURES_PER_DAY"] * factor


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


def _keys(username, ip):
    return [
        (f"user:{username.strip().lower()}", 1),
        (f"ip:{ip}", current_app.config["EP_LOGIN_IP_FACTOR"]),
    ]


def authenticate(username, password, ip, at=None):
    """The active account for these credentials, or RuleError with one message for all cases."""
    at = at or now()
    keys = _keys(username, ip)
    wait = max(wait_seconds(key, factor, at) for key, factor in keys)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        raise RuleError(
            "Trop de tentatives de connexion. Réessayez dans "
            f"{minutes} minute{'s' if minutes > 1 else ''}, ou demandez de l'aide à votre "
            "gestionnaire ou à votre caisse."
        )
    account = Account.get_or_none(Account.username == username.strip())
    ok = passwords.verify(account.password_hash if account else None, password)
    usable = ok and account.state == "active" and not _cut_off(account)
    if not usable:
        with write():
            for key, _ in keys:
                LoginFailure.create(key=key, at=at)
            if account is not None:
                audit.record("login_failed", account=account)
        raise RuleError(BAD_CREDENTIALS)
    with write():
        LoginFailure.delete().where(LoginFailure.key == keys[0][0]).execute()
        account.last_login_at = at
        if passwords.needs_rehash(account.password_hash):
            account.password_hash = passwords.hash_password(password)
        account.save()
        audit.record("login", actor=account, account=account)
    return account


def _cut_off(account):
    """Every channel of the structure is cut off (or none is in force)."""
    from .partners import has_open_channel

    return account.partner_id is not None and not has_open_channel(account.partner_id)


def logout(account):
    """End every session of the account, not only this browser's."""
    with write():
        account.rotate_session()
        account.save()
        audit.record("logout", actor=account, account=account)


def purge_failures(at):
    """Forget failures older than a day."""
    LoginFailure.delete().where(LoginFailure.at < at - timedelta(days=1)).execute()
