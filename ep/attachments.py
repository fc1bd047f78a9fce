"""Attachments (§3.1): PDF, JPEG or PNG recognised by their content, limited in size and
number, stored outside the static files under a random name with a SHA-256 checksum, and
scanned by a ClamAV daemon when EP_CLAMAV_URL is set.

A form never loses the files chosen in it: each submission first keeps them (checked like
any attachment) under the form's opaque token and the user's account, so that a form that
comes back (refused, to confirm, refreshed) lists them, and they leave with it when it is
finally sent. Abandoned ones leave after a day."""

import hashlib
import re
import secrets
import socket
import struct
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urlparse

import filetype
from peewee import fn

from . import nir, pdfcheck, private, settings
from .db import lock, write
from .models import Account, Attachment, PendingAttachment
from .rules import RuleError

ALLOWED = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


def folder():
    return private.folder(Path(settings.get("EP_INSTANCE_PATH")) / "uploads")


def _clean_name(name):
    """A safe display name: no path, no odd characters, and never a NIR (§5)."""
    name = Path(name or "document").name
    if nir.contains_nir(name):
        return "document" + Path(name).suffix[:5]
    keep = "".join(c if c.isalnum() or c in " ._-()" else "_" for c in name).strip(" .")
    return (keep or "document")[:120]


def check(files):
    """Read and validate the uploaded files; return [(name, type, bytes)] or raise RuleError."""
    files = [f for f in files if f and f.filename]
    limit = settings.get("EP_MAX_ATTACHMENTS")
    max_mb = settings.get("EP_MAX_ATTACHMENT_MB")
    if len(files) > limit:
        raise RuleError(f"{limit} pièces jointes au plus par envoi.", field="pieces_jointes")
    checked = []
    for f in files:
        data = f.read(max_mb * 1024 * 1024 + 1)
        name = _clean_name(f.filename)
        if len(data) > max_mb * 1024 * 1024:
            raise RuleError(f"« {name} » dépasse {max_mb} Mo.", field="pieces_jointes")
        if not data:
            raise RuleError(f"« {name} » est vide.", field="pieces_jointes")
        kind = filetype.guess(data)
        if kind is None or kind.mime not in ALLOWED:
            raise RuleError(
                f"« {name} » n'est pas un PDF, un JPEG ou un PNG (le contenu du fichier est "
                "vérifié, pas seulement son nom).",
                field="pieces_jointes",
            )
        if kind.mime == "application/pdf":
            _refuse_unsafe_pdf(name, data)
        if scan(data):
            raise RuleError(
                f"« {name} » est signalé comme infecté par l'anti-virus : il n'a pas été "
                "enregistré.",
                field="pieces_jointes",
            )
        stem = Path(name).stem or "document"
        checked.append((stem + ALLOWED[kind.mime], kind.mime, data))
    return checked


PDF_RESAVE = (
    "enregistrez-le de nouveau en PDF simple (Imprimer > Enregistrer au format PDF) puis "
    "joignez-le."
)
PDF_REFUSALS = {
    "active": "contient du contenu actif (JavaScript, lancement de programme ou fichier "
    "intégré) : " + PDF_RESAVE,
    "encrypted": "est chiffré ou protégé par un mot de passe : son contenu ne peut pas être "
    "vérifié ; " + PDF_RESAVE,
    "unreadable": "est illisible ou endommagé : son contenu ne peut pas être vérifié ; "
    + PDF_RESAVE,
}


def _refuse_unsafe_pdf(name, data):
    """A PDF that could run or open something, or that cannot be checked, is refused."""
    verdict = pdfcheck.verdict(data)
    if verdict is not None:
        raise RuleError(f"« {name} » {PDF_REFUSALS[verdict]}", field="pieces_jointes")


TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


def form_token(value=None):
    """The opaque token that carries a form's kept files from one submission to the next:
    the one the form sent back when it is well formed, otherwise a new one."""
    value = (value or "").strip()
    return value if TOKEN.fullmatch(value) else secrets.token_urlsafe(24)


def _kept(owner, token):
    return PendingAttachment.select().where(
        (PendingAttachment.owner == owner) & (PendingAttachment.token == token)
    )


def kept(owner, token):
    """The files this account keeps for the form of this token, in the order chosen. Another
    account gets nothing, whatever token it sends."""
    return list(_kept(owner, token).order_by(PendingAttachment.id))


def keep(owner, token, files):
    """Check the files of a form and keep those that pass, for its next submission.

    Returns the refusals, in French ([] when every file is kept): a refused file is not
    kept, the others are. The count limit includes the files already kept; the daily volume
    is checked like for any attachment, in the transaction that keeps them."""
    files = [f for f in files if f and f.filename]
    if not files:
        return []
    limit = settings.get("EP_MAX_ATTACHMENTS")
    already = _kept(owner, token).count()
    if already + len(files) > limit:
        joined = f" ({already} déjà jointe{'s' if already > 1 else ''})" if already else ""
        return [
            f"{limit} pièces jointes au plus par envoi{joined} : les fichiers choisis n'ont "
            "pas été enregistrés ; choisissez-en moins."
        ]
    checked, refused = [], []
    for f in files:
        try:
            checked += check([f])
        except RuleError as exc:
            refused.append(exc.message)
    if checked:
        try:
            with files_kept_only_if_committed() as written, write():
                _within_daily_volume(owner, checked)
                for name, mime, data in checked:
                    PendingAttachment.create(
                        owner=owner, token=token, **_write(name, mime, data, written)
                    )
        except RuleError as exc:
            refused.append(exc.message)
    return refused


def release(owner, token, ids):
    """Take back kept files (the user ticked "Retirer"): rows and files go."""
    ids = [int(i) for i in ids if re.fullmatch(r"[0-9]{1,18}", i or "")]
    if not ids:
        return 0
    with write():
        gone = list(_kept(owner, token).where(PendingAttachment.id.in_(ids)))
        PendingAttachment.delete().where(PendingAttachment.id.in_([p.id for p in gone])).execute()
    erase_files(gone)
    return len(gone)


def attach_kept(owner, token, demande, message):
    """The kept files become the attachments of the request, or of its message (inside the
    caller's write transaction; if it fails, they stay kept)."""
    return take_kept(owner, token, Attachment, demande=demande, message=message)


def take_kept(owner, token, model, **links):
    """The kept files become rows of `model`, an attachment table (a request's, a thread's),
    with `links` (the record and message they belong to), inside the caller's write
    transaction; if it fails, they stay kept."""
    rows = list(lock(_kept(owner, token).order_by(PendingAttachment.id)))
    created = [
        model.create(
            **links,
            uploaded_by=owner,
            filename=p.filename,
            stored_name=p.stored_name,
            content_type=p.content_type,
            size=p.size,
            sha256=p.sha256,
            created_at=p.created_at,  # counted in the daily volume of the day it came
        )
        for p in rows
    ]
    if rows:
        PendingAttachment.delete().where(PendingAttachment.id.in_([p.id for p in rows])).execute()
    return created


def drop_abandoned(before):
    """Kept files of forms never sent, older than `before`, leave the database and the disk."""
    gone = list(PendingAttachment.select().where(PendingAttachment.created_at < before))
    PendingAttachment.delete().where(PendingAttachment.id.in_([p.id for p in gone])).execute()
    erase_files(gone)
    return len(gone)


def _write(name, mime, data, written):
    """Write one checked file under a random name; its path goes into `written`, so that the
    caller deletes it if its transaction fails."""
    stored = secrets.token_hex(20)
    path = folder() / stored
    written.append(path)
    with private.create(path) as out:
        out.write(data)
    return {
        "filename": name,
        "stored_name": stored,
        "content_type": mime,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# The stored files each account's daily volume counts: (model, its uploader's column); each
# has `size` and `created_at`. Another feature that stores files adds its own (issue 12).
DAILY_VOLUME = [
    (Attachment, "uploaded_by"),
    (PendingAttachment, "owner"),  # kept for a form
]


def _within_daily_volume(author, checked):
    """Each account uploads at most EP_MAX_UPLOAD_MB_PER_DAY a day (counted since midnight),
    so that one account, or one stolen session, cannot fill the server's disk."""
    cap = settings.get("EP_MAX_UPLOAD_MB_PER_DAY")
    lock(Account.select(Account.id).where(Account.id == author.id)).get()  # one at a time
    midnight = datetime.combine(date.today(), time.min)
    used = sum(
        model.select(fn.COALESCE(fn.SUM(model.size), 0))
        .where((getattr(model, owner) == author) & (model.created_at >= midnight))
        .scalar()
        for model, owner in DAILY_VOLUME
    )
    incoming = sum(len(data) for _name, _mime, data in checked)
    if used + incoming > cap * 1024 * 1024:
        left = f"{max(0, cap * 1024 * 1024 - used) / (1024 * 1024):.1f}".replace(".", ",")
        raise RuleError(
            f"Ces pièces jointes dépassent la limite de {cap} Mo par jour et par compte (il "
            f"vous reste {left} Mo aujourd'hui) : rien n'a été enregistré. Réessayez demain "
            "ou joignez des fichiers plus légers.",
            field="pieces_jointes",
        )


def path_of(attachment):
    return folder() / attachment.stored_name


def erase_files(attachments):
    """Remove the files of attachments (or kept files) from the disk."""
    for a in attachments:
        path_of(a).unlink(missing_ok=True)


class files_kept_only_if_committed:
    """`with files_kept_only_if_committed() as written:` around a write transaction that
    stores attachments: if it fails, the files it wrote are deleted."""

    def __enter__(self):
        self.written = []
        return self.written

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for path in self.written:
                path.unlink(missing_ok=True)
        return False


def scan(data):
    """True when the ClamAV daemon reports the data infected; False when clean or no daemon.

    A configured daemon that cannot be reached refuses the file (fail closed).
    """
    url = settings.get("EP_CLAMAV_URL")
    if not url:
        return False
    parsed = urlparse(url)
    try:
        if parsed.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(30)
            sock.connect(parsed.path)
        else:
            sock = socket.create_connection((parsed.hostname, parsed.port or 3310), timeout=30)
        with sock:
            sock.sendall(b"zINSTREAM\0")
            for i in range(0, len(data), 65536):
                chunk = data[i : i + 65536]
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
    except OSError as exc:
        raise RuleError(
            "L'anti-virus ne répond pas : la pièce jointe ne peut pas être vérifiée. "
            "Réessayez plus tard.",
            field="pieces_jointes",
        ) from exc
    text = reply.rstrip(b"\0").decode("utf-8", "replace")
    if text.endswith("OK"):
        return False
    if "FOUND" in text:
        return True
    raise RuleError("L'anti-virus n'a pas pu vérifier ce fichier.", field="pieces_jointes")
