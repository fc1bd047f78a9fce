"""Who may use a view: profile and scope, declared once next to each view.

    @bp.route("/<int:partner_id>")
    @allow("caisse", "gestionnaire")
    def show(partner): ...

`allow` checks the profile (403 otherwise) and turns each `<model>_id` URL argument into
the object, after checking it belongs to the user's partner or caisse (404 otherwise, so
that nobody learns what exists elsewhere). `public` marks the few views open to anyone.
A view with neither is refused: nothing can be forgotten.
"""

import functools

from flask import abort, current_app, make_response, request, url_for
from flask_login import current_user

from .models import (
    Account,
    Attachment,
    Breach,
    BreachCaisse,
    Convention,
    Demande,
    Evaluation,
    EvaluationQuestion,
    Notice,
    Partner,
    Review,
)

PUBLIC = "public"


def allow(*profiles, setup=False, when=None, loaders=None):
    """Restrict a view to logged-in users of these profiles, objects in their scope.
    `when(user)`: a further condition on the user (e.g. `is_rgpd_referent`), 403 otherwise;
    `loaders`: URL arguments this view loads with another scope than the common one."""
    if not profiles:
        raise ValueError("allow() needs at least one profile")
    own = loaders or {}

    def decorator(view):
        @functools.wraps(view)
        def wrapper(**kwargs):
            if not current_user.is_authenticated:
                return _to_login()
            if current_user.profile not in profiles:
                abort(403)
            if when is not None and not when(current_user):
                abort(403)
            for name in list(kwargs):
                loader = own.get(name) or LOADERS.get(name)
                if loader:
                    kwargs[name[: -len("_id")]] = loader(current_user, kwargs.pop(name))
            if not setup:
                pending = pending_step(current_user)
                if pending:
                    return pending
            return view(**kwargs)

        wrapper.access = frozenset(profiles)
        wrapper.access_when = when
        return wrapper

    return decorator


def _to_login():
    """Send an expired or anonymous session to the login page. An htmx fragment request is
    told to load the whole page (HX-Redirect), so the login form never lands inside a row."""
    from .web import is_partial

    if is_partial():
        response = make_response("", 401)
        response.headers["HX-Redirect"] = url_for("auth.login", next=request.full_path)
        return response
    return current_app.login_manager.unauthorized()


def public(view):
    """Mark a view as open without login (login page, health check, set-password link)."""
    view.access = PUBLIC
    return view


# Steps a user must take before anything else (CGU, expired password); filled by accounts.
SETUP_STEPS = []


def pending_step(user):
    for step in SETUP_STEPS:
        response = step(user)
        if response is not None:
            return response
    return None


def can_see_partner(user, partner):
    """A partner's own users; a caisse while its convention with the partner is in force:
    accepted by the structure (a pending one shows its name only) and not ended (at the end
    of a convention, only access to that caisse stops)."""
    if user.profile == "caisse":
        return (
            Convention.select()
            .where(
                (Convention.partner == partner)
                & (Convention.caisse == user.caisse_id)
                & Convention.in_force()
            )
            .exists()
        )
    return user.partner_id == partner.id


def can_see_account(user, account):
    """Accounts of a partner in scope. Caisse agents are managed by nobody in the app
    (`ep create-user`), so no view reaches them."""
    if account.state == "deleted" or account.profile == "caisse":
        return False
    return can_see_partner(user, account.partner)


def can_see_convention(user, convention):
    if user.profile == "caisse":
        return (
            convention.caisse_id == user.caisse_id
            and convention.state == "accepted"
            and not convention.has_ended()
        )
    return convention.partner_id == user.partner_id


MAX_ID = 2**63 - 1


def _loader(model, check):
    def load(user, pk):
        if pk > MAX_ID:
            abort(404)
        obj = model.get_or_none(model.id == pk)
        if obj is None or not check(user, obj):
            abort(404)
        return obj

    return load


def can_see_demande(user, demande):
    """The caisse it is addressed to; the structure's techniciens. Gestionnaires manage
    accounts and have no need to know the assurés (`002_…` annexe 2 §2.2). A request whose
    processing is limited (issue 14.2) is out of everyone's reach here: the référents RGPD
    read it in their own space (`can_see_as_referent`)."""
    if demande.limited_at is not None:
        return False
    if user.profile == "caisse":
        return demande.caisse_id == user.caisse_id
    return user.profile == "technicien" and demande.partner_id == user.partner_id


LOADERS = {
    "partner_id": _loader(Partner, can_see_partner),
    "account_id": _loader(Account, can_see_account),
    "convention_id": _loader(Convention, can_see_convention),
    "demande_id": _loader(Demande, can_see_demande),
    "attachment_id": _loader(Attachment, lambda u, a: can_see_demande(u, a.demande)),
    "review_id": _loader(Review, lambda u, r: can_see_partner(u, r.partner)),
}


def can_see_notice(user, notice):
    from .blueprints.audit import scoped_notices

    return user.profile == "caisse" and scoped_notices(user).where(Notice.id == notice.id).exists()


LOADERS["notice_id"] = _loader(Notice, can_see_notice)


def can_see_evaluation(user, evaluation):
    """The caisse that opened it; the structure's gestionnaires (issue 13.4). Nobody else,
    not even the structure's techniciens."""
    if user.profile == "caisse":
        return evaluation.caisse_id == user.caisse_id
    return user.profile == "gestionnaire" and evaluation.partner_id == user.partner_id


LOADERS["evaluation_id"] = _loader(Evaluation, can_see_evaluation)
LOADERS["evaluation_question_id"] = _loader(
    EvaluationQuestion, lambda u, q: u.profile == "caisse" and q.caisse_id == u.caisse_id
)


def is_rgpd_referent(user):
    """The référent RGPD permission (issue 14.2): the "Données personnelles" space."""
    return user.is_rgpd_referent


def can_see_as_referent(user, demande):
    """A référent RGPD's scope: the requests addressed to its caisse, or made by its
    structure (a gestionnaire référent reads them there, and only there)."""
    if user.profile == "caisse":
        return demande.caisse_id == user.caisse_id
    return user.profile == "gestionnaire" and demande.partner_id == user.partner_id


def is_colleague(user, account):
    """Whom `user` may designate référent RGPD: an agent of its caisse, a gestionnaire of
    its structure (itself included: a structure may have one gestionnaire)."""
    if account.state == "deleted" or account.profile != user.profile:
        return False
    if user.profile == "caisse":
        return account.caisse_id == user.caisse_id
    return user.profile == "gestionnaire" and account.partner_id == user.partner_id


REFERENT_LOADERS = {
    "demande_id": _loader(Demande, can_see_as_referent),
    "account_id": _loader(Account, is_colleague),
}


def can_report_breach(user):
    """Who reports a suspected breach to the caisses' DPO (issue 14.3): any gestionnaire of
    a structure, its référents RGPD among them (issue 14.2: a structure's référent is one
    of its gestionnaires). A caisse's référent receives reports; it does not send them."""
    return user.profile == "gestionnaire" and user.partner_id is not None


def can_see_breach(user, breach):
    """A breach report: the structure's gestionnaires; the agents of a caisse it was
    addressed to."""
    if user.profile == "caisse":
        return (
            BreachCaisse.select()
            .where((BreachCaisse.caisse == user.caisse_id) & (BreachCaisse.breach == breach.id))
            .exists()
        )
    return user.profile == "gestionnaire" and breach.partner_id == user.partner_id


LOADERS["breach_id"] = _loader(Breach, can_see_breach)


def register_loader(name, model, check):
    """Let a feature module add its own scoped objects (e.g. `demande_id`)."""
    LOADERS[name] = _loader(model, check)


def init_app(app):
    """Refuse any view that declares no access rule."""

    @app.before_request
    def _declared():
        view = app.view_functions.get(request.endpoint)
        if view is not None and getattr(view, "access", None) is None:
            abort(403)

    app.view_functions["static"].access = PUBLIC
