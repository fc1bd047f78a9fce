"""French error pages (403, 404, 410, 500, expired form)."""

from flask import Blueprint, render_template
from flask_wtf.csrf import CSRFError

bp = Blueprint("errors", __name__)

PAGES = {
    400: ("Requête incorrecte", "La demande envoyée n'a pas pu être comprise."),
    403: ("Accès refusé", "Votre profil ne permet pas d'ouvrir cette page."),
    404: ("Page introuvable", "Cette page n'existe pas, ou vous n'avez pas à la consulter."),
    405: ("Action impossible", "Cette action ne peut pas être faite de cette façon."),
    413: ("Fichier trop volumineux", "L'envoi dépasse la taille autorisée."),
    500: (
        "Erreur technique",
        "Une erreur inattendue est survenue et l'action n'a peut-être pas abouti : vérifiez "
        "son résultat avant de recommencer, puis prévenez votre gestionnaire ou votre caisse "
        "si le problème continue.",
    ),
}


def _page(code):
    title, text = PAGES.get(code, PAGES[500])
    return render_template("errors/error.html", code=code, title=title, text=text), code


@bp.app_errorhandler(CSRFError)
def csrf_error(exc):
    """An expired or missing form token: with no session at all, the session expired (lead to
    the login page, saying so); otherwise ask to reload rather than show a raw 400."""
    from flask_login import current_user

    from ..web import lost_session

    if not current_user.is_authenticated:
        return lost_session()
    return render_template(
        "errors/error.html",
        code=400,
        title="Formulaire expiré",
        text="Ce formulaire a expiré ou n'a pas été envoyé depuis l'Espace Partenaires. "
        "Revenez à la page précédente, rechargez-la, puis recommencez.",
    ), 400


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
@bp.app_errorhandler(413)
@bp.app_errorhandler(500)
def http_error(exc):
    return _page(getattr(exc, "code", 500) or 500)
