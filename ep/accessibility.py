"""The accessibility statement's figures (loi 2005-102 art. 47, décret 2019-768), read from
the RGAA audit file: docs/accessibilite.md, shipped in the package as
ep/data/accessibilite.md, or the instance's own audit (EP_ACCESSIBILITY_AUDIT).

The audit file is Markdown meant for people; the statement takes from it:
- the lines `- Date de l'audit : 25/11/2026` and the other `- Label : value` lines of its
  "## Audit" section (who audited, tools, environment, pages);
- the grid, one row per RGAA criterion: `| 10.11 | C | what was checked |` (C: conforme,
  NC: non conforme, NA: non applicable);
- the bullets of the sections "## Dérogations" and "## Contenus non soumis".
The conformity rate is C / (C + NC); the status follows the official rule: 100 % is
"totalement conforme", 50 % or more "partiellement conforme", less (or no audit) "non
conforme".
"""

import functools
import re
from pathlib import Path

from . import settings

RGAA_CRITERIA = 106
_ROW = re.compile(r"^\|\s*(\d{1,2}\.\d{1,2})\s*\|\s*(C|NC|NA)\s*\|\s*(.*?)\s*\|\s*$")
_FACT = re.compile(r"^- ([^:]+?) : (.+)$")


def audit_path():
    """The audit the statement is made from: the instance's own, or the one shipped."""
    configured = settings.get("EP_ACCESSIBILITY_AUDIT")
    if configured:
        return Path(configured)
    here = Path(__file__).parent
    for candidate in (
        here / "data" / "accessibilite.md",
        here.parent / "docs" / "accessibilite.md",
    ):
        if candidate.exists():
            return candidate
    return None


def statement():
    """{'status', 'rate', 'date', 'facts', 'criteria', 'failed', 'derogations',
    'exempt', 'source'}: what the statement page and every page's footer show."""
    path = audit_path()
    try:
        stamp = path.stat().st_mtime_ns if path else None
    except OSError:
        stamp = None
    return _read(str(path) if stamp is not None else None, stamp)


@functools.lru_cache(maxsize=4)
def _read(path, stamp):
    found = {
        "status": "non conforme",
        "rate": None,
        "date": None,
        "facts": [],
        "criteria": {},
        "failed": [],
        "derogations": [],
        "exempt": [],
        "source": path,
        "met": 0,
        "not_met": 0,
        "not_applicable": 0,
    }
    if path is None:
        return found
    section = None
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
            continue
        row = _ROW.match(line)
        if row:
            number, state, note = row.groups()
            found["criteria"][number] = (state, note)
            if state == "NC":
                found["failed"].append((number, note))
            continue
        fact = _FACT.match(line)
        if section == "audit" and fact:
            label, value = fact.groups()
            if label.lower().startswith("date de l'audit"):
                found["date"] = value.strip()
            else:
                found["facts"].append((label.strip(), value.strip()))
        elif section and section.startswith("dérogations") and line.startswith("- "):
            found["derogations"].append(line[2:].strip())
        elif section and section.startswith("contenus non soumis") and line.startswith("- "):
            found["exempt"].append(line[2:].strip())
    states = [state for state, _ in found["criteria"].values()]
    met, failed = states.count("C"), states.count("NC")
    found.update(met=met, not_met=failed, not_applicable=states.count("NA"))
    if met + failed:
        found["rate"] = met / (met + failed)
        complete = len(found["criteria"]) == RGAA_CRITERIA
        if failed == 0 and complete:
            found["status"] = "totalement conforme"
        elif found["rate"] >= 0.5:
            found["status"] = "partiellement conforme"
    return found
