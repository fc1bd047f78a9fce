"""Signed, single-use links (set password, reset password) built with itsdangerous.

A token carries the account id and a fingerprint of its current password hash, session
token, state and e-mail address: once the password is set, the account inactivated (which
rotates the session) or its address corrected, the fingerprint no longer matches and the
link is dead.
"""

import hashlib

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from . import settings
from .models import Account


def _serializer(purpose):
    return URLSafeTimedSerializer(settings.get("SECRET_KEY"), salt=f"ep-{purpose}")


def _fingerprint(account):
    raw = f"{account.password_hash or ''}|{account.session_token}|{account.state}|{account.email}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def make(account, purpose):
    return _serializer(purpose).dumps({"a": account.id, "f": _fingerprint(account)})


def load(token, purpose, max_age_hours):
    """The account a valid token designates, or None (expired, used, forged)."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age_hours * 3600)
    except (SignatureExpired, BadSignature):
        return None
    account = Account.get_or_none(Account.id == data.get("a"))
    if account is None or account.state in ("inactive", "deleted"):
        return None
    if data.get("f") != _fingerprint(account):
        return None
    return account
