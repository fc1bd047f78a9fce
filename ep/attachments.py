"""Attachments (§3.1): PDF, JPEG or PNG recognised by their content, limited in size and
number, stored outside the static files under a random name with a SHA-256 checksum, and
scanned by a ClamAV daemon when EP_CLAMAV_URL is set."""

import hashlib
import secrets
import socket
import struct
from datetime import date, datetime, time
from pathlib import Path
from urllib.parse import urlparse

import filetype
from peewee import fn

from . import nir, pdfcheck, private, settings
from .db import lock
from .models import Account, Attachment
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


def store(demande, message, author, checked, written):
    """Write checked files to disk and record them (inside the caller's transaction).

    The paths go into `written`, so that the caller deletes them if its transaction fails."""
    if checked:
        _within_daily_volume(author, checked)
    created = []
    for name, mime, data in checked:
        stored = secrets.token_hex(20)
        path = folder() / stored
        written.append(path)
        with private.create(path) as out:
            out.write(data)
        created.append(
            Attachment.create(
                demande=demande,
                message=message,
                uploaded_by=author,
                filename=name,
                stored_name=stored,
                content_type=mime,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return created


def _within_daily_volume(author, checked):
    """Each account uploads at most EP_MAX_UPLOAD_MB_PER_DAY a day (counted since midnight),
    so that one account, or one stolen session, cannot fill the server's disk."""
    cap = settings.get("EP_MAX_UPLOAD_MB_PER_DAY")
    lock(Account.select(Account.id).where(Account.id == author.id)).get()  # one at a time
    used = (
        Attachment.select(fn.COALESCE(fn.SUM(Attachment.size), 0))
        .where(
            (Attachment.uploaded_by == author)
            & (Attachment.created_at >= datetime.combine(date.today(), time.min))
        )
        .scalar()
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
