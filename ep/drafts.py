"""Forms kept across an expired session (RGAA 13.1): what a person typed when their session
ran out comes back to them, and to nobody else, right after they log in again."""

import json
from datetime import datetime

from .db import write
from .models import Draft

# Never kept: the form token, passwords, and the confirmations a person must give again.
SKIPPED = ("csrf_token", "password", "confirm_")


def save(account, path, form, files_dropped=0):
    """Keep the typed fields of a form posted after the session expired; returns its id."""
    data = {
        key: form.getlist(key)
        for key in form.keys()
        if not any(key.startswith(s) or s in key for s in SKIPPED)
    }
    with write():
        Draft.delete().where(Draft.account == account).execute()  # one draft a person
        draft = Draft.create(
            account=account, path=path[:200], data=json.dumps(data), files_dropped=files_dropped
        )
    return draft.id


def take(draft_id, account, path):
    """The draft for this person and page, once (then deleted); None otherwise."""
    draft = Draft.get_or_none((Draft.id == draft_id) & (Draft.account == account))
    if draft is None or draft.path != path:
        return None
    with write():
        draft.delete_instance()
    return draft, json.loads(draft.data)


def drop(draft_id):
    with write():
        Draft.delete().where(Draft.id == draft_id).execute()


def purge(today):
    """Drafts left before today are deleted (the nightly run: a day at most)."""
    limit = datetime.combine(today, datetime.min.time())
    return Draft.delete().where(Draft.created_at < limit).execute()
