"""docs/rgpd.md, the record of processing a DPO reads, says what the app does: every file,
function, setting, default and page it names is checked here against the code."""

import ast
import re
from datetime import timedelta
from functools import cache
from pathlib import Path

from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rgpd.md"

CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"((?:ep|docs|tests)/[\w./-]*)(?::([\w.]+))?")
SETTING = re.compile(r"\bEP_[A-Z0-9_]+\b")
# "`EP_X` (défaut : 365 jours)": a default the doc states.
STATED_DEFAULT = re.compile(r"`(EP_[A-Z0-9_]+)` \(défaut : ([^);]+)")


def doc():
    return DOC.read_text(encoding="utf-8")


def code_spans():
    return CODE.findall(doc())


@cache
def defaults():
    """ep/__init__.py's DEFAULTS, read from the source of this checkout."""
    tree = ast.parse((ROOT / "ep" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DEFAULTS" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("DEFAULTS not found in ep/__init__.py")


def _names(body):
    """Names a class or module body defines: functions, classes, assignments."""
    names = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name):
                        names.add(t.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def defines(path, dotted):
    """Whether the module at `path` defines `dotted`: a top-level name or a function nested
    anywhere (`ep/web.py:_idle_timeout`), or `Class.member`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    first, _, rest = dotted.partition(".")
    if not rest:
        nested = {
            n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        return first in _names(tree.body) | nested
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == first:
            return rest in _names(node.body)
    return False


def test_every_file_and_definition_named_exists():
    named = set()
    for span in code_spans():
        m = PATH.fullmatch(span)
        if m:
            named.add((m.group(1).rstrip("/"), m.group(2)))
    assert len(named) > 80  # the doc points at the code on every line
    missing = []
    for path, name in sorted(named, key=str):
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif name and not defines(target, name):
            missing.append(f"{path}:{name}")
    assert missing == []


def test_every_setting_named_exists_with_the_default_stated():
    text = doc()
    named = set(SETTING.findall(text))
    assert {"EP_RETENTION_CLOSED_DAYS", "EP_JOURNAL_RETENTION_DAYS", "EP_DPO_EMAIL"} <= named
    assert sorted(named - set(defaults())) == []
    stated = STATED_DEFAULT.findall(text)
    wrong = []
    for name, value in stated:
        real = defaults()[name]
        number = re.match(r"[0-9]+", value)
        if number:
            ok = real == int(number.group()) and not isinstance(real, bool)
        elif value.startswith("vide"):
            ok = real in ("", None)
        elif value.startswith("non"):
            ok = real is False
        else:
            ok = False
        if not ok:
            wrong.append((name, value, real))
    assert wrong == []
    # Every period the record names comes with its default.
    periods = {n for n in named if n.endswith(("_DAYS", "_HOURS", "_MINUTES"))}
    assert sorted(periods - {name for name, _ in stated}) == []


def test_the_retention_periods_of_the_issue_are_stated_as_the_code_has_them():
    stated = dict(STATED_DEFAULT.findall(doc()))
    assert stated["EP_RETENTION_CLOSED_DAYS"].startswith("365 jours")
    assert stated["EP_JOURNAL_RETENTION_DAYS"].startswith("365 jours")
    assert stated["EP_WAITING_PARTNER_CLOSE_DAYS"].startswith("60 jours")
    assert stated["EP_WAITING_PARTNER_NOTICE_DAYS"].startswith("15 jours")
    assert stated["EP_DELETE_AFTER_DAYS"].startswith("183 jours")


def test_the_fixed_periods_and_measures_stated_are_the_code_s():
    """What the record states without a setting: the code's own constants."""
    import inspect

    from ep import housekeeping, passwords
    from ep.db import SQLITE_PRAGMAS
    from ep.models import Breach

    text = " ".join(doc().split())
    assert Breach.DEADLINE == timedelta(hours=24) and "Délai de 24 heures" in text
    old_notices = inspect.getsource(housekeeping._old_notices)
    assert "timedelta(days=7)" in old_notices and "après 7 jours" in text
    assert "timedelta(days=30)" in old_notices and "30 jours après leur création" in text
    assert "timedelta(days=1)" in inspect.getsource(housekeeping._abandoned_uploads)
    assert passwords.MIN_LENGTH == 12 and "12 caractères au moins" in text
    assert ("secure_delete", 1) in SQLITE_PRAGMAS


def test_every_page_named_is_a_route(tmp_path):
    app = make_app(tmp_path)
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    pages = {span for span in code_spans() if span.startswith("/")}
    assert {"/rgpd/", "/rgpd/export", "/violations/nouveau", "/donnees-personnelles"} <= pages
    assert sorted(pages - rules) == []


def test_the_readme_and_the_decisions_link_the_record():
    assert "docs/rgpd.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/rgpd.md" in (ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
