"""Forms and their field-level checks; messages in French, next to the field."""

import wtforms
from email_validator import EmailNotValidError, validate_email
from flask import current_app, g, has_request_context, request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    MultipleFileField,
    PasswordField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from . import nir
from .models import CIVILITES, QUESTION_KINDS, THREAD_AUDIENCES, Contact, Offer
from .web import to_id

REQUIRED = "Ce champ est obligatoire."


def options(pairs):
    return [SelectChoice(value, label) for value, label in pairs]


class _Select(wtforms.widgets.Select):
    """WTForms' select, with its plain options written directly: a caisse's list of 500
    structures took half the queue's time through the generic attribute writer (issue 11)."""

    @classmethod
    def render_option(cls, choice, **kwargs):
        if kwargs or choice.render_kw or not isinstance(choice.value, str):
            return super().render_option(choice, **kwargs)
        selected = " selected" if choice.selected else ""
        label = escape(choice.label or choice.value)
        return Markup(f'<option value="{escape(choice.value)}"{selected}>{label}</option>')


class SelectField(wtforms.SelectField):
    widget = _Select()


class Form(FlaskForm):
    """Base form: WTForms' own messages in French, and no NIR in any free text.

    The NIR check is here, once, for every text field of every form of the app (§5): a form
    field can only be forgotten by not deriving from this class, which
    tests/test_forms.py checks for every form."""

    class Meta:
        locales = ["fr_FR", "fr"]

    def __init__(self, *args, **kwargs):
        # A form left when the session expired comes back filled (web._give_the_draft_back).
        draft = g.get("draft") if has_request_context() else None
        if draft is not None and request.method == "GET":
            kwargs["formdata"] = draft
        super().__init__(*args, **kwargs)

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in free_text_fields(self):
            if isinstance(field.data, str) and nir.contains_nir(field.data):
                field.errors = [*field.errors, nir.REFUSED]
                valid = False
        return valid


def free_text_fields(form):
    """Every field where a person types text: strings and text areas, not passwords (never
    stored in clear) nor hidden fields (the CSRF token)."""
    return [
        f
        for f in form
        if isinstance(f, StringField) and not isinstance(f, PasswordField | HiddenField)
    ]


def required():
    return InputRequired(message=REQUIRED)


FIRST_YEAR, LAST_YEAR = 1900, 2100


class DateField(wtforms.DateField):
    """A date between 1900 and 2100, the only ones that make sense here (a birth date, a
    convention, a deadline); beyond, date arithmetic near year 9999 overflows. A date out of
    range is no date: the field keeps no value and shows its error."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_YEAR <= self.data.year <= LAST_YEAR:
            self.data = None
            raise ValueError(f"Saisissez une date entre {FIRST_YEAR} et {LAST_YEAR}.")


class EmptyForm(Form):
    """A form that carries only the CSRF token (button-only POSTs)."""


class LoginForm(Form):
    username = StringField("Identifiant", [required(), Length(max=60)])
    password = PasswordField("Mot de passe", [required(), Length(max=1024)])


class SetPasswordForm(Form):
    password = PasswordField("Nouveau mot de passe", [required(), Length(max=1024)])
    password_confirm = PasswordField("Confirmez le mot de passe", [required(), Length(max=1024)])


def professional_email(form, field):
    """Well-formed (email-validator), optionally limited to the deployment's domains."""
    try:
        info = validate_email(field.data or "", check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(
            "Adresse e-mail invalide : saisissez une adresse professionnelle complète, "
            "par exemple prenom.nom@structure.fr."
        ) from exc
    field.data = info.normalized
    allowed = [
        d.strip().lower()
        for d in current_app.config["EP_ALLOWED_EMAIL_DOMAINS"].split(",")
        if d.strip()
    ]
    if allowed and info.domain.lower() not in allowed:
        raise ValidationError(
            "Cette adresse n'est pas dans un domaine autorisé : " + ", ".join(allowed) + "."
        )


def phone_number(form, field):
    """A number that can be dialled (ep/phones.py); the rule stores its one form."""
    from . import phones
    from .rules import RuleError

    try:
        phones.normalise(field.data)
    except RuleError as exc:
        raise ValidationError(exc.message) from exc


def strip_filter(value):
    return value.strip() if isinstance(value, str) else value


def fonction_field():
    return StringField("Fonction", [required(), Length(max=120)], filters=[strip_filter])


def telephone_field():
    return StringField(
        "Téléphone professionnel",
        [required(), Length(max=30), phone_number],
        filters=[strip_filter],
    )


def email_field():
    return StringField(
        "E-mail professionnel",
        [required(), Length(max=254), professional_email],
        filters=[strip_filter],
    )


def confirm_email_field():
    # Shown only after the warning that another account of the structure has this address.
    return BooleanField(
        "Cette adresse est bien celle de la personne (elle a aussi l'autre compte) : "
        "enregistrer quand même.",
        description="Confirmation de l'adresse e-mail",
    )


class IdentityForm(Form):
    civilite = RadioField("Civilité", choices=options(CIVILITES.items()), validators=[required()])
    nom = StringField("Nom", [required(), Length(max=100)], filters=[strip_filter])
    prenom = StringField("Prénom", [required(), Length(max=100)], filters=[strip_filter])
    fonction = fonction_field()
    telephone = telephone_field()
    email = email_field()
    confirm_email = confirm_email_field()

    def identity(self):
        return {
            name: getattr(self, name).data
            for name in ("civilite", "nom", "prenom", "fonction", "telephone", "email")
        }


class ContactForm(Form):
    """What a gestionnaire corrects on a technicien's account (issue 10.7)."""

    fonction = fonction_field()
    telephone = telephone_field()
    email = email_field()
    confirm_email = confirm_email_field()

    def identity(self):
        return {name: getattr(self, name).data for name in ("fonction", "telephone", "email")}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConventionForm(Form):
    # Only shown for a structure recorded before SIRETs were asked (schema 2).
    siret = StringField(
        "SIRET de la structure (14 chiffres)",
        [Optional(), Length(max=40)],
        filters=[strip_filter],
        description="SIRET",
    )
    headcount = IntegerField(
        "Effectif de la structure (nombre de membres)",
        [
            required(),
            NumberRange(min=1, max=100000, message="Indiquez un nombre entre 1 et 100 000."),
        ],
    )
    signed_on = DateField("Date de signature", [required()])
    starts_on = DateField("Date d'effet", [required()])
    ends_on = DateField("Date de fin (en cas de résiliation)", [Optional()])
    habilitation_deadline_days = IntegerField(
        "Délai d'habilitation des gestionnaires (jours ouvrés)",
        [required(), NumberRange(min=1, max=60, message="Entre 1 et 60 jours ouvrés.")],
        default=5,
    )
    may_receive_documents = BooleanField(
        "La structure peut recevoir des documents de la caisse (tutelle, ASE…)"
    )
    offers = MultiCheckboxField("Offres de service activées")
    # "offer:motif" of the motifs open to the structure; `motifs_listed` says the page
    # showed them (a post without it leaves the motifs as they are).
    motifs = MultiCheckboxField("Motifs ouverts à la structure")
    motifs_listed = BooleanField()  # a hidden "1" on the page

    def __init__(self, *args, caisse=None, **kwargs):
        """`caisse`: the id of the caisse whose catalogue the offers and motifs come from."""
        from .partners import convention_motifs

        super().__init__(*args, **kwargs)
        self.catalogue = convention_motifs(caisse) if caisse else []
        self.offers.choices = options((o.code, o.label) for o, _ in self.catalogue)
        self.motifs.choices = options(
            (m.key, m.label) for _, motifs in self.catalogue for m in motifs
        )

    def grouped(self):
        """[(offer checkbox, [its motifs' checkboxes])], in the catalogue's order."""
        offers = {option.data: option for option in self.offers}
        motifs = {option.data: option for option in self.motifs}
        return [
            (offers[o.code], [motifs[m.key] for m in ms if m.key in motifs])
            for o, ms in self.catalogue
            if o.code in offers
        ]

    def motif_keys(self):
        """The motifs ticked, or None when the page did not list them."""
        return list(self.motifs.data or []) if self.motifs_listed.data else None

    def convention_fields(self):
        return {
            "signed_on": self.signed_on.data,
            "starts_on": self.starts_on.data,
            "ends_on": self.ends_on.data,
            "habilitation_deadline_days": self.habilitation_deadline_days.data,
            "may_receive_documents": self.may_receive_documents.data,
        }


class OfferForm(Form):
    """An offer of the caisse's catalogue (issue 12.3)."""

    label = StringField("Libellé de l'offre", [required(), Length(max=200)], filters=[strip_filter])
    target_hours = IntegerField(
        "Délai cible de première réponse (heures)",
        [required(), NumberRange(min=1, max=2000, message="Entre 1 et 2000 heures.")],
        default=120,
    )
    active = BooleanField(
        "Proposée aux structures (décochez pour la retirer des nouvelles demandes)"
    )


class MotifForm(Form):
    """A motif of one of the caisse's offers (issue 12.3)."""

    label = StringField("Libellé du motif", [required(), Length(max=200)], filters=[strip_filter])
    concerns_assure = BooleanField(
        "Ce motif concerne un assuré (le formulaire demande son identité)", default=True
    )
    active = BooleanField(
        "Proposé aux structures (décochez pour le retirer des nouvelles demandes)"
    )


class PartnerForm(ConventionForm):
    name = StringField("Nom de la structure", [required(), Length(max=160)], filters=[strip_filter])
    siret = StringField(  # required for a new structure
        "SIRET de la structure (14 chiffres)",
        [required(), Length(max=40)],
        filters=[strip_filter],
        description="SIRET",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The name and SIRET come first on the page, so first in the error summary too.
        self._fields = {
            "name": self._fields.pop("name"),
            "siret": self._fields.pop("siret"),
            **self._fields,
        }


class TechnicienForm(IdentityForm):
    attest_employment = BooleanField(
        "La personne travaille pour la structure (salariée, agente ou bénévole).",
        [InputRequired(message="Cette attestation est obligatoire.")],
        description="Attestation d'appartenance à la structure",
    )
    attest_equipment = BooleanField(
        "Elle utilise un équipement professionnel protégé par un anti-virus.",
        [InputRequired(message="Cette attestation est obligatoire.")],
        description="Attestation d'équipement protégé",
    )
    attest_email = BooleanField(
        "Son adresse e-mail est professionnelle et rattachée à la structure.",
        [InputRequired(message="Cette attestation est obligatoire.")],
        description="Attestation d'e-mail professionnel",
    )

    def attested(self):
        return all(
            f.data for f in (self.attest_employment, self.attest_equipment, self.attest_email)
        )


class HabilitateForm(IdentityForm):
    requested_on = DateField("Date de la demande du partenaire", [required()])


DEACTIVATION_REASONS = [
    ("depart", "Départ de la structure"),
    ("changement", "Changement de fonction ou de domaine d'activité"),
    ("revue", "Revue des habilitations"),
    ("autre", "Autre motif"),
]


class DeactivateForm(Form):
    reason = SelectField("Motif", choices=options(DEACTIVATION_REASONS), validators=[required()])
    detail = StringField(
        "Précision (facultative)", [Optional(), Length(max=200)], filters=[strip_filter]
    )

    def reason_text(self):
        label = dict(DEACTIVATION_REASONS)[self.reason.data]
        return f"{label} – {self.detail.data}" if self.detail.data else label


class FraudForm(Form):
    reason = StringField(
        "Motif (fraude, perte ou vol des identifiants…)",
        [required(), Length(max=200)],
        filters=[strip_filter],
    )


class ScheduleForm(Form):
    on_date = DateField("Date d'inactivation souhaitée par le partenaire", [required()])


class ChangePasswordForm(Form):
    current_password = PasswordField("Mot de passe actuel", [required(), Length(max=1024)])
    password = PasswordField("Nouveau mot de passe", [required(), Length(max=1024)])
    password_confirm = PasswordField(
        "Confirmez le nouveau mot de passe", [required(), Length(max=1024)]
    )


class ForgotForm(Form):
    username = StringField("Identifiant", [required(), Length(max=60)], filters=[strip_filter])


class CguForm(Form):
    accept = BooleanField(
        "J'ai lu les conditions générales d'utilisation et je m'engage à les respecter.",
        [InputRequired(message="Vous devez accepter les conditions pour continuer.")],
        description="Acceptation des CGU",
    )


class FilterForm(Form):
    """Filters of a list (GET): a value that fails its check filters nothing, so that a list
    never runs a query on it (a 60 000-character search is too much even for SQLite)."""

    class Meta:
        csrf = False

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        for field in self:
            if field.errors:
                field.data = None
        return valid


class AccountFilterForm(FilterForm):
    q = StringField("Rechercher (nom, identifiant, e-mail)", [Optional(), Length(max=100)])
    state = SelectField(
        "État",
        choices=options(
            [
                ("", "Tous sauf supprimés"),
                ("active", "Actifs"),
                ("invited", "Invités"),
                ("inactive", "Inactifs"),
            ]
        ),
        validators=[Optional()],
    )
    profile = SelectField(
        "Profil",
        choices=options(
            [("", "Tous"), ("gestionnaire", "Gestionnaires"), ("technicien", "Techniciens")]
        ),
        validators=[Optional()],
    )


class DemandeForm(Form):
    caisse = SelectField("Caisse destinataire (celle de l'assuré)", validate_choice=False)
    offer = SelectField("Offre de service", validate_choice=False)
    motif = SelectField("Motif", validate_choice=False)
    urgent = BooleanField("Situation urgente ou complexe (traitée en priorité)")
    civilite = RadioField("Civilité", choices=options(CIVILITES.items()), validate_choice=False)
    nom = StringField("Nom de l'assuré", [Optional(), Length(max=100)], filters=[strip_filter])
    prenom = StringField(
        "Prénom de l'assuré", [Optional(), Length(max=100)], filters=[strip_filter]
    )
    date_naissance = DateField("Date de naissance", [Optional()])
    departement = SelectField("Département de résidence", validate_choice=False)
    informed = BooleanField(
        "L'assuré a été informé de cette démarche et de la transmission de "
        "ses informations à la caisse.",
        description="Information de l'assuré",
    )
    commentaire = TextAreaField("Description de la demande", [Optional(), Length(max=4000)])
    pieces_jointes = MultipleFileField("Pièces jointes (PDF, JPEG ou PNG)")
    confirm_health = BooleanField(
        "Je confirme que ces informations sont strictement nécessaires à la demande.",
        description="Confirmation",
    )
    confirm_duplicate = BooleanField("Envoyer quand même une nouvelle demande.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checked by the rule (demandes.submit), marked here for the user: "(obligatoire)".
        for name in (
            "caisse",
            "offer",
            "motif",
            "civilite",
            "nom",
            "prenom",
            "date_naissance",
            "departement",
            "informed",
            "commentaire",
        ):
            self[name].flags.required = True

    def data_for_rule(self):
        return {
            "caisse": to_id(self.caisse.data),
            "offer": self.offer.data,
            "motif": self.motif.data,
            "urgent": self.urgent.data,
            "civilite": self.civilite.data,
            "nom": self.nom.data or "",
            "prenom": self.prenom.data or "",
            "date_naissance": self.date_naissance.data,
            "departement": self.departement.data,
            "informed": self.informed.data,
            "commentaire": self.commentaire.data or "",
            "confirm_health": self.confirm_health.data,
            "confirm_duplicate": self.confirm_duplicate.data,
        }


class MessageForm(Form):
    body = TextAreaField("Message", [Optional(), Length(max=4000)])
    pieces_jointes = MultipleFileField("Pièces jointes (PDF, JPEG ou PNG)")
    confirm_health = BooleanField(
        "Je confirme que ces informations sont strictement nécessaires à la demande."
    )


class DemandeFilterForm(FilterForm):
    q = StringField("Nom de l'assuré", [Optional(), Length(max=100)])
    status = SelectField("Statut", validate_choice=False)
    offer = SelectField("Offre", validate_choice=False)
    caisse = SelectField("Caisse", validate_choice=False)
    author = SelectField("Auteur", validate_choice=False)
    partner = SelectField("Structure", validate_choice=False)
    taken = SelectField("Prise en charge", validate_choice=False)
    activity = SelectField("Nouveautés", validate_choice=False)
    date_from = DateField("Envoyée depuis le", [Optional()])
    date_to = DateField("Envoyée jusqu'au", [Optional()])


class StatisticsForm(FilterForm):
    """The period of the figures (both days included) and whose: a structure for a caisse
    agent, a caisse for a gestionnaire. A period the figures cannot cover is refused by the
    field and the current year is shown instead."""

    du = DateField("Du", [Optional()])
    au = DateField("Au", [Optional()])
    which = SelectField("Structure", validate_choice=False)

    MAX_DAYS = 5 * 366

    def validate(self, extra_validators=None):
        valid = super().validate(extra_validators)
        if self.du.data and self.au.data:
            if self.au.data < self.du.data:
                self.au.errors = [*self.au.errors, "La fin de la période précède son début."]
            elif (self.au.data - self.du.data).days > self.MAX_DAYS:
                self.au.errors = [*self.au.errors, "Choisissez une période de cinq ans au plus."]
            if self.au.errors:
                self.du.data = self.au.data = None
                valid = False
        return valid


class PreferencesForm(Form):
    notify_by_email = BooleanField(
        "Recevoir un e-mail quand la caisse écrit sur une demande que j'ai envoyée ou suivie, "
        "ou quand son statut change"
    )


class ReviewRequestForm(Form):
    due_on = DateField("À terminer avant le", [required()])


class PeriodicityForm(Form):
    months = IntegerField(
        "Revue automatique tous les … mois",
        [Optional(), NumberRange(min=1, max=36, message="Entre 1 et 36 mois.")],
    )


class HabilitationRequestForm(Form):
    person = StringField(
        "Personne à habiliter (nom, prénom, fonction)",
        [required(), Length(max=200)],
        filters=[strip_filter],
    )
    received_on = DateField("Demande reçue le", [required()])


class ReviewDecisionForm(Form):
    """One decision of a habilitation review (keep / inactivate with a reason)."""

    decision = SelectField(
        "Décision",
        choices=options([("keep", "Conserver"), ("deactivate", "Inactiver")]),
        validate_choice=False,
    )
    reason = StringField("Motif", [Optional(), Length(max=300)], filters=[strip_filter])
    attest_employment = BooleanField("Appartenance à la structure")
    attest_equipment = BooleanField("Équipement protégé")
    attest_email = BooleanField("E-mail professionnel")

    def attested(self):
        return all(
            f.data for f in (self.attest_employment, self.attest_equipment, self.attest_email)
        )


class PublicationForm(Form):
    """An item a caisse publishes to its partners (issue 12.1; CONTRACT: `titre`, `texte`,
    optional file `fichier`)."""

    AUDIENCES = [
        ("all", "Tous vos partenaires (y compris les structures qui vous rejoindront)"),
        ("chosen", "Des structures choisies"),
    ]

    titre = StringField("Titre", [required(), Length(max=200)], filters=[strip_filter])
    texte = TextAreaField("Texte", [required(), Length(max=10000)])
    fichier = wtforms.FileField("Document PDF (facultatif)")
    ends_on = DateField("Afficher jusqu'au (inclus, facultatif)", [Optional()])
    audience = RadioField(
        "Destinataires", choices=options(AUDIENCES), default="all", validators=[required()]
    )
    partners = MultiCheckboxField("Structures destinataires", validate_choice=False)
    pinned = BooleanField("Épingler : afficher cette information en tête de liste")

    def partner_ids(self):
        """None for all the partners, else the ids of the structures ticked."""
        if self.audience.data != "chosen":
            return None
        return [i for i in (to_id(v) for v in self.partners.data or []) if i is not None]


class PublicationFilterForm(FilterForm):
    q = StringField("Rechercher (titre, texte)", [Optional(), Length(max=100)])


class ReferentForm(Form):
    """A référent, support, DPO or thematic contact, kept by its owner (issue 12.4). The
    roles offered depend on the owner (`for_roles`)."""

    role = SelectField("Rôle", choices=options(Contact.ROLES.items()), validators=[required()])
    theme = StringField(
        "Thème (contact thématique)", [Optional(), Length(max=120)], filters=[strip_filter]
    )
    offer = SelectField("Offre suivie (contact thématique)", choices=[], validate_choice=False)
    name = StringField(
        "Nom et prénom, ou service", [required(), Length(max=120)], filters=[strip_filter]
    )
    function = StringField("Fonction", [Optional(), Length(max=120)], filters=[strip_filter])
    phone = StringField(
        "Téléphone", [Optional(), Length(max=30), phone_number], filters=[strip_filter]
    )
    email = StringField("E-mail", [Optional(), Length(max=254)], filters=[strip_filter])

    def __init__(self, *args, roles=Contact.CAISSE_ROLES, caisse=None, **kwargs):
        """`caisse`: the id of the caisse whose catalogue's offers a thematic contact may
        follow (issue 12.3)."""
        super().__init__(*args, **kwargs)
        self.role.choices = options((r, Contact.ROLES[r]) for r in roles)
        offers = (
            Offer.select().where(Offer.caisse == caisse).order_by(Offer.position, Offer.id)
            if caisse
            else []
        )
        self.offer.choices = options(
            [("", "Aucune en particulier")] + [(str(o.id), o.label) for o in offers]
        )

    def validate_email(self, field):
        if field.data:
            try:
                field.data = validate_email(field.data, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                raise ValidationError("Adresse e-mail invalide.") from exc

    def validate_offer(self, field):
        if field.data and to_id(field.data) not in {to_id(c.value) for c in field.choices}:
            raise ValidationError("Choisissez une offre dans la liste.")

    def fields(self):
        data = {
            k: getattr(self, k).data or "" for k in ("role", "theme", "name", "function", "phone")
        }
        data["email"] = self.email.data or ""
        data["offer"] = to_id(self.offer.data) if self.role.data == "theme" else None
        return data


class DepartementForm(Form):
    """Where the caisse is: its public holidays (issue 12.6)."""

    departement = SelectField("Département de la caisse", choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        from .departements import DEPARTEMENTS

        super().__init__(*args, **kwargs)
        self.departement.choices = options(
            [("", "Non indiqué : jours fériés nationaux")]
            + [(code, f"{code} – {name}") for code, name in DEPARTEMENTS]
        )

    def validate_departement(self, field):
        from .departements import CODES

        if field.data and field.data not in CODES:
            raise ValidationError("Choisissez un département dans la liste.")


class TrainingForm(Form):
    """A training the caisse gave to the structure's staff (`002_…` art. 3.2, annexe 2 §2.2)."""

    given_on = DateField("Date de la formation", [required()])
    subject = StringField("Sujet", [required(), Length(max=200)], filters=[strip_filter])
    attendees = IntegerField(
        "Nombre de personnes formées",
        [required(), NumberRange(min=1, max=500, message="Entre 1 et 500 personnes.")],
    )
    audience = StringField(
        "Personnes formées : fonctions ou services (facultatif)",
        [Optional(), Length(max=500)],
        filters=[strip_filter],
        description="Personnes formées",
    )

    def fields(self):
        return {
            "given_on": self.given_on.data,
            "subject": self.subject.data or "",
            "attendees": self.attendees.data,
            "audience": self.audience.data or "",
        }


class ThreadForm(Form):
    """A caisse agent opens an exchange with one of its structures (issue 12.2)."""

    partner = SelectField("Structure", validate_choice=False)
    audience = RadioField(
        "Destinataires", choices=options(THREAD_AUDIENCES.items()), validate_choice=False
    )
    subject = StringField("Objet", [Optional(), Length(max=200)], filters=[strip_filter])
    body = TextAreaField("Message", [Optional(), Length(max=4000)])
    pieces_jointes = MultipleFileField("Pièces jointes (PDF, JPEG ou PNG)")
    confirm_health = BooleanField(
        "Je confirme que ces informations sont strictement nécessaires à cet échange.",
        description="Confirmation",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Checked by the rule (threads.start), marked here for the user: "(obligatoire)".
        for name in ("partner", "audience", "subject", "body"):
            self[name].flags.required = True


class ThreadMessageForm(Form):
    """A message in an exchange, or the caisse's last word when it closes it."""

    body = TextAreaField("Message", [Optional(), Length(max=4000)])
    pieces_jointes = MultipleFileField("Pièces jointes (PDF, JPEG ou PNG)")
    confirm_health = BooleanField(
        "Je confirme que ces informations sont strictement nécessaires à cet échange.",
        description="Confirmation",
    )


class ThreadFilterForm(FilterForm):
    caisse = SelectField("Caisse", validate_choice=False)
    partner = SelectField("Structure", validate_choice=False)
    activity = SelectField("Nouveautés", validate_choice=False)


class EvaluationOpenForm(Form):
    """The caisse opens a structure's yearly evaluation (issue 13.4)."""

    year = SelectField("Année évaluée", validate_choice=False)
    due_on = DateField("Réponses attendues avant le", [required()])


class EvaluationQuestionForm(Form):
    """A question of the caisse's questionnaire; `active` only when editing one."""

    text = StringField("Question", [required(), Length(max=300)], filters=[strip_filter])
    kind = RadioField(
        "Type de réponse", choices=options(QUESTION_KINDS.items()), validators=[required()]
    )
    hint = StringField(
        "Aide sous la question (facultative)", [Optional(), Length(max=300)], filters=[strip_filter]
    )
    active = BooleanField("Question posée dans les évaluations ouvertes à partir de maintenant")


RATING_CHOICES = [
    ("1", "1 – pas satisfait"),
    ("2", "2 – peu satisfait"),
    ("3", "3 – moyennement satisfait"),
    ("4", "4 – satisfait"),
    ("5", "5 – très satisfait"),
    ("0", "Sans objet"),
]


class EvaluationAnswerForm(Form):
    """The questionnaire of one evaluation. Its fields are the evaluation's own questions,
    bound at construction (`questions` from evaluations.questionnaire): `q1_contact` the
    rating of an offer, `q2` a free text (checked for a NIR like every text field)."""

    def __init__(self, *args, questions=(), **kwargs):
        extra = []
        for question in questions:
            for item in question.items:
                if item.kind == "rating":
                    unbound = RadioField(
                        item.offer_label,
                        choices=options(RATING_CHOICES),
                        validators=[Optional()],
                    )
                else:
                    unbound = TextAreaField(
                        f"{question.position}. {question.text}",
                        [Optional(), Length(max=4000)],
                        filters=[strip_filter],
                    )
                extra.append((item.field, unbound))
        # WTForms binds the class's fields, then these, in this order (an instance's list).
        self._unbound_fields = [*self._unbound_fields, *extra]
        self._items = [item for question in questions for item in question.items]
        super().__init__(*args, **kwargs)

    @staticmethod
    def stored(questions):
        """The answers saved so far, as the form's data."""
        data = {}
        for question in questions:
            for item in question.items:
                if item.kind == "rating":
                    data[item.field] = None if item.rating is None else str(item.rating)
                else:
                    data[item.field] = item.answer
        return data

    def answers(self):
        """{item id: rating (0 for "sans objet") or text} for evaluations.save_answers."""
        found = {}
        for item in self._items:
            value = self[item.field].data
            if item.kind == "rating":
                found[item.id] = int(value) if value in {v for v, _ in RATING_CHOICES} else None
            else:
                found[item.id] = value or ""
        return found


class JournalFilterForm(FilterForm):
    """The journal's filters (issue 14.4), in the address: an account (as author or as the
    account concerned), an action, a request, a period, and the access traces shown or not."""

    compte = StringField("Compte (identifiant)", [Optional(), Length(max=60)])
    action = SelectField("Action", validate_choice=False)
    demande = StringField("N° de demande", [Optional(), Length(max=12)])
    du = DateField("Du", [Optional()])
    au = DateField("Au (inclus)", [Optional()])
    consultations = BooleanField(
        "Afficher les consultations (demandes ouvertes, pièces téléchargées, exports)"
    )


class PersonForm(Form):
    """A person whose data a référent RGPD looks for (issue 14.2), and what to do with the
    requests found: the chosen requests, the reason, the confirmation of an erasure."""

    nom = StringField("Nom", [required(), Length(max=100)], filters=[strip_filter])
    prenom = StringField("Prénom", [Optional(), Length(max=100)], filters=[strip_filter])
    date_naissance = DateField("Date de naissance", [required()])
    demandes = SelectMultipleField("Demandes concernées", choices=[], validate_choice=False)
    motif = TextAreaField(
        "Motif (demande de la personne, date, moyen)", [Optional(), Length(max=500)]
    )
    confirm_erase = BooleanField(
        "Je confirme l'effacement définitif des données des demandes cochées."
    )

    def chosen_ids(self):
        """The requests ticked, as ids (anything else is dropped)."""
        return [i for i in (to_id(v) for v in self.demandes.data or []) if i is not None]


class RectifyForm(Form):
    """The corrected identity of the assuré of a request (issue 14.2)."""

    civilite = RadioField("Civilité", choices=options(CIVILITES.items()), validate_choice=False)
    nom = StringField("Nom de l'assuré", [required(), Length(max=100)], filters=[strip_filter])
    prenom = StringField(
        "Prénom de l'assuré", [required(), Length(max=100)], filters=[strip_filter]
    )
    date_naissance = DateField("Date de naissance", [required()])
    departement = SelectField("Département de résidence", choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        from .departements import DEPARTEMENTS

        super().__init__(*args, **kwargs)
        self.departement.choices = options(
            [(code, f"{code} – {name}") for code, name in DEPARTEMENTS]
        )
        self.civilite.flags.required = True
        self.departement.flags.required = True

    def data_for_rule(self):
        return {
            "civilite": self.civilite.data,
            "nom": self.nom.data or "",
            "prenom": self.prenom.data or "",
            "date_naissance": self.date_naissance.data,
            "departement": self.departement.data,
        }


class BreachForm(Form):
    """A suspected personal data breach, reported to the caisses' DPO (issue 14.3). The
    accounts and caisses are checked by the rule (breaches.report)."""

    noticed_on = DateField("Constatée le", [required()])
    noticed_time = wtforms.TimeField("à (heure)", [required()])
    happened_on = DateField("Survenue le (si vous le savez)", [Optional()])
    happened_time = wtforms.TimeField("à (heure, si vous la savez)", [Optional()])
    description = TextAreaField("Ce qui s'est passé", [Optional(), Length(max=5000)])
    measures = TextAreaField("Mesures déjà prises (facultatif)", [Optional(), Length(max=3000)])
    accounts = MultiCheckboxField("Comptes concernés", validate_choice=False)
    caisses = MultiCheckboxField("Caisses à prévenir", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("description", "caisses"):  # checked by the rule, marked for the user
            self[name].flags.required = True

    def moments(self):
        """(noticed_at, happened_at) as datetimes; None where a date is missing (a time
        alone says nothing; a date without a time counts from midnight)."""
        from datetime import datetime, time

        def at(day, hour):
            return datetime.combine(day, hour or time.min) if day else None

        return (
            at(self.noticed_on.data, self.noticed_time.data),
            at(self.happened_on.data, self.happened_time.data),
        )

    def data_for_rule(self):
        noticed_at, happened_at = self.moments()
        return {
            "description": self.description.data or "",
            "measures": self.measures.data or "",
            "noticed_at": noticed_at,
            "happened_at": happened_at,
            "accounts": self.accounts.data or [],
            "caisses": self.caisses.data or [],
        }
