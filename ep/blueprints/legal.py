"""What a public body publishes about its online service, open to anyone: the accessibility
statement (loi 2005-102 art. 47, décret 2019-768), the legal notice (LCEN art. 6) and the
personal data page (RGPD art. 13). Each is filled from the instance's settings (EP_…); the
accessibility status comes from the RGAA audit (ep/accessibility.py), and every page's
footer says it."""

from flask import Blueprint, current_app

from .. import accessibility
from ..access import public
from ..web import render

bp = Blueprint("legal", __name__)


@bp.app_context_processor
def _footer():
    """The footer's 'Accessibilité : … conforme', on every page."""
    return {"accessibility_status": accessibility.statement()["status"]}


def _publisher():
    """The settings these pages show, by what they are."""
    config = current_app.config
    return {name: config.get(f"EP_{name.upper()}", "") for name in SETTINGS}


# Where people turn when the service did not answer them (the official models' addresses).
RECOURSE = {
    "defenseur_form": "https://formulaire.defenseurdesdroits.fr/",
    "defenseur_delegates": "https://www.defenseurdesdroits.fr/saisir/delegues",
    "cnil_complaint": "https://www.cnil.fr/fr/adresser-une-plainte",
}

SETTINGS = (
    "publisher_name",
    "publisher_address",
    "publisher_phone",
    "publisher_email",
    "publisher_siret",
    "publication_director",
    "host_name",
    "host_address",
    "host_phone",
    "dpo_name",
    "dpo_email",
    "dpo_address",
    "accessibility_email",
    "accessibility_form_url",
    "accessibility_plan_url",
)


@bp.route("/accessibilite")
@public
def accessibility_statement():
    """The accessibility statement: conformity status and rate from the RGAA audit, what is
    not accessible and why, how to report a problem, the recourse (décret 2019-768 art. 7)."""
    return render(
        "legal/accessibility.html",
        audit=accessibility.statement(),
        site=_publisher(),
        recourse=RECOURSE,
    )


@bp.route("/mentions-legales")
@public
def notice():
    """Publisher, director of publication, host (LCEN art. 6 III)."""
    return render("legal/notice.html", site=_publisher())


@bp.route("/donnees-personnelles")
@public
def personal_data():
    """What personal data the service processes, why, for how long, who receives it, and
    the rights of the people concerned (RGPD art. 13 and 14)."""
    return render("legal/personal_data.html", site=_publisher(), recourse=RECOURSE)
