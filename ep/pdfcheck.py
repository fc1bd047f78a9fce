"""Is a PDF passive? Read with pypdf (a maintained parser, not a search for bytes), every
object reachable from the trailer is looked at for what a viewer could run or open:
JavaScript, launch actions, embedded files, rich media, XFA forms. Links to web pages,
bookmarks and ordinary form fields are passive."""

import io
import logging

from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

# pypdf notes the repairs it makes to sloppy files; they are not the operator's concern.
logging.getLogger("pypdf").setLevel(logging.ERROR)

ACTIVE_KEYS = {
    "/JS",  # an action's script
    "/JavaScript",  # the document's script name tree
    "/EmbeddedFiles",  # the document's embedded-file name tree
    "/EF",  # a file specification carrying the file itself
    "/XFA",  # XML forms, scriptable
    "/RichMediaContent",
    "/RichMediaSettings",
}
# /GoToR and /GoToE open another file, which may be a network share that collects the
# user's Windows credentials.
ACTIVE_ACTIONS = {
    "/JavaScript",
    "/Launch",
    "/ImportData",
    "/GoToR",
    "/GoToE",
    "/RichMediaExecute",
}
ACTIVE_TYPES = {"/EmbeddedFile", "/RichMedia", "/FileAttachment", "/Sound", "/Movie"}

# A guard against files built to make the walk endless: far beyond an ordinary document.
MAX_OBJECTS = 100_000


def verdict(data):
    """None for a passive PDF; otherwise "active", "encrypted" or "unreadable"."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return "encrypted"
        return "active" if _has_active_content(reader.trailer) else None
    except Exception:  # whatever pypdf cannot read cannot be checked
        return "unreadable"


def _has_active_content(root):
    seen = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if isinstance(obj, IndirectObject):
            ref = (obj.idnum, obj.generation)
            if ref in seen:
                continue
            seen.add(ref)
            if len(seen) > MAX_OBJECTS:
                raise ValueError("too many objects")
            obj = obj.get_object()
        if isinstance(obj, DictionaryObject):  # streams included: their dictionary
            if ACTIVE_KEYS.intersection(obj.keys()):
                return True
            if _value(obj, "/S") in ACTIVE_ACTIONS:
                return True
            if _value(obj, "/Type") in ACTIVE_TYPES or _value(obj, "/Subtype") in ACTIVE_TYPES:
                return True
            stack.extend(dict.values(obj))  # unresolved, so that `seen` stops cycles
        elif isinstance(obj, ArrayObject):
            stack.extend(list.__iter__(obj))
    return False


def _value(dictionary, key):
    value = dict.get(dictionary, key)
    return value.get_object() if isinstance(value, IndirectObject) else value
