"""Password hashing with argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane)."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified when the username is unknown, so that both cases take the same time.
_DUMMY = _hasher.hash("ce mot de passe ne sert à rien")


def hash_password(password):
    return _hasher.hash(password)


def verify(password_hash, password):
    """True when the password matches; unknown accounts still pay the same cost."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash):
    return _hasher.check_needs_rehash(password_hash)


MIN_LENGTH = 12
MAX_LENGTH = 256

RULES_TEXT = [
    f"au moins {MIN_LENGTH} caractères (une phrase de passe convient très bien) ;",
    "aucune obligation de chiffres, majuscules ou caractères spéciaux ;",
    "pas un mot de passe courant (« azerty123456 », « motdepasse2026 »…) ;",
    "ni votre nom, ni votre prénom, ni votre identifiant, ni le nom de votre structure.",
]


def _common():
    global _COMMON
    if _COMMON is None:
        from importlib.resources import files

        text = files("ep").joinpath("data/common-passwords.txt").read_text(encoding="utf-8")
        _COMMON = frozenset(line.strip() for line in text.splitlines() if line.strip())
    return _COMMON


_COMMON = None


def policy_errors(password, personal_words=()):
    """French reasons why this password is refused (empty when it is accepted)."""
    import re

    from .text import fold

    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(f"Le mot de passe doit compter au moins {MIN_LENGTH} caractères.")
    if len(password) > MAX_LENGTH:
        errors.append(f"Le mot de passe ne peut pas dépasser {MAX_LENGTH} caractères.")
    folded = fold(password)
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", folded)
    common = _common()
    if (
        folded in common
        or re.sub(r"\s+", "", folded) in common
        or (len(core) >= 4 and core in common)
    ):
        errors.append("Ce mot de passe est trop courant : choisissez-en un autre.")
    for word in personal_words:
        for part in re.split(r"[\s\-'.]+", fold(word or "")):
            if len(part) >= 3 and part in folded:
                errors.append(
                    "Le mot de passe ne doit contenir ni votre nom, ni votre prénom, ni votre "
                    "identifiant, ni le nom de votre structure."
                )
                return errors
    return errors
