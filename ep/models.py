"""Tables, their invariants and named queries."""

import secrets
from datetime import date, datetime, timedelta

import peewee
from flask_login import UserMixin

from .db import database, is_sqlite

SCHEMA_VERSION = 3

PROFILES = {"caisse": "Agent de caisse", "gestionnaire": "Gestionnaire", "technicien": "Technicien"}
STATES = {"invited": "Invité", "active": "Actif", "inactive": "Inactif", "deleted": "Supprimé"}
CIVILITES = {"Mme": "Madame", "M.": "Monsieur"}


def now():
    return datetime.now().replace(microsecond=0)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Caisse(BaseModel):
    name = peewee.CharField(max_length=120, unique=True)
    created_at = peewee.DateTimeField(default=now)

    def __str__(self):
        return self.name


class Partner(BaseModel):
    # A structure is identified by its SIRET, not its name: two CCAS may share a name, and
    # a caisse must never reach a structure by typing its name (schema 2). Structures
    # recorded before schema 2 have none until their caisse fills it in.
    siret = peewee.CharField(max_length=14, null=True, unique=True)
    name = peewee.CharField(max_length=160, index=True)
    headcount = peewee.IntegerField()
    created_at = peewee.DateTimeField(default=now)

    def __str__(self):
        return self.name

    @property
    def siret_label(self):
        s = self.siret or ""
        return f"{s[:3]} {s[3:6]} {s[6:9]} {s[9:]}" if len(s) == 14 else ""

    @classmethod
    def for_caisse(cls, caisse, today=None):
        """Partners whose convention with this caisse is in force (accepted, not ended)."""
        return (
            cls.select()
            .join(Convention)
            .where((Convention.caisse == caisse) & Convention.in_force(today))
            .order_by(peewee.fn.LOWER(cls.name))
        )


class Convention(BaseModel):
    partner = peewee.ForeignKeyField(Partner, backref="conventions", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, backref="conventions")
    signed_on = peewee.DateField()
    starts_on = peewee.DateField()
    ends_on = peewee.DateField(null=True)  # set when terminated; otherwise renewed tacitly
    may_receive_documents = peewee.BooleanField(default=False)
    habilitation_deadline_days = peewee.IntegerField(default=5)
    review_every_months = peewee.IntegerField(null=True)  # periodic habilitation reviews
    created_at = peewee.DateTimeField(default=now)
    # A convention recorded with a structure that already exists waits for one of the
    # structure's gestionnaires to accept it: until then the caisse sees its name only.
    state = peewee.CharField(max_length=10, default="accepted")  # pending, accepted, refused
    proposed_by_id = peewee.IntegerField(null=True)  # the caisse agent (Account id)
    decided_at = peewee.DateTimeField(null=True)
    decided_by_id = peewee.IntegerField(null=True)  # the gestionnaire who accepted/refused
    # The caisse's cut-off (§4.1) stops this caisse's channel with the structure only.
    cut_off_at = peewee.DateTimeField(null=True)
    cut_off_reason = peewee.CharField(max_length=300, default="")

    class Meta:
        indexes = ((("partner", "caisse"), True),)

    @property
    def is_pending(self):
        return self.state == "pending"

    @property
    def is_cut_off(self):
        return self.cut_off_at is not None

    def is_active(self, today=None):
        """Accepted, started and not ended."""
        today = today or date.today()
        return (
            self.state == "accepted"
            and self.starts_on <= today
            and (self.ends_on is None or today < self.ends_on)
        )

    def has_ended(self, today=None):
        return self.ends_on is not None and self.ends_on <= (today or date.today())

    @classmethod
    def cut_off_partner_ids(cls, caisse):
        """The structures whose channel with this caisse is cut off."""
        return {
            c.partner_id
            for c in cls.select(cls.partner).where(
                (cls.caisse == caisse) & cls.cut_off_at.is_null(False)
            )
        }

    def is_open(self, today=None):
        """Active and not cut off: the structure's users work with this caisse."""
        return self.is_active(today) and self.cut_off_at is None

    @classmethod
    def not_ended(cls, today=None):
        """Signed and not terminated: the caisse manages the partner (even before the start)."""
        return cls.ends_on.is_null() | (cls.ends_on > (today or date.today()))

    @classmethod
    def in_force(cls, today=None):
        """Accepted by both sides and not ended: the caisse manages the structure."""
        return (cls.state == "accepted") & cls.not_ended(today)

    @classmethod
    def open_channel(cls, today=None):
        """In force and not cut off: the structure's users work with this caisse."""
        return cls.in_force(today) & cls.cut_off_at.is_null()

    def offer_codes(self):
        return {
            co.offer.code
            for co in ConventionOffer.select(ConventionOffer, Offer)
            .join(Offer)
            .where(ConventionOffer.convention == self)
        }


class Referent(BaseModel):
    ROLES = {
        "partenaire": "Référent du partenaire",
        "caisse": "Référent de la caisse",
        "support": "Assistance",
        "dpo": "Délégué à la protection des données",
    }
    convention = peewee.ForeignKeyField(Convention, backref="referents", on_delete="CASCADE")
    role = peewee.CharField(max_length=20)
    name = peewee.CharField(max_length=120)
    function = peewee.CharField(max_length=120, default="")
    phone = peewee.CharField(max_length=30, default="")
    email = peewee.CharField(max_length=254, default="")


class Offer(BaseModel):
    code = peewee.CharField(max_length=40, unique=True)
    label = peewee.CharField(max_length=200)
    position = peewee.IntegerField()
    concerns_assure = peewee.BooleanField(default=True)


class Motif(BaseModel):
    offer = peewee.ForeignKeyField(Offer, backref="motifs")
    code = peewee.CharField(max_length=40)
    label = peewee.CharField(max_length=200)
    position = peewee.IntegerField()

    class Meta:
        indexes = ((("offer", "code"), True),)


class ConventionOffer(BaseModel):
    convention = peewee.ForeignKeyField(Convention, backref="offer_links", on_delete="CASCADE")
    offer = peewee.ForeignKeyField(Offer)
    target_hours = peewee.IntegerField(null=True)  # caisse's target for a first answer

    class Meta:
        indexes = ((("convention", "offer"), True),)


class Account(UserMixin, BaseModel):
    username = peewee.CharField(max_length=60, unique=True)
    password_hash = peewee.CharField(max_length=255, null=True)
    profile = peewee.CharField(max_length=20, index=True)
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="agents")
    partner = peewee.ForeignKeyField(Partner, null=True, backref="accounts")
    civilite = peewee.CharField(max_length=5, default="")
    nom = peewee.CharField(max_length=100, default="")
    prenom = peewee.CharField(max_length=100, default="")
    fonction = peewee.CharField(max_length=120, default="")
    telephone = peewee.CharField(max_length=30, default="")
    email = peewee.CharField(max_length=254, default="")
    state = peewee.CharField(max_length=10, default="invited", index=True)
    created_at = peewee.DateTimeField(default=now)
    created_by = peewee.ForeignKeyField("self", null=True, backref="created_accounts")
    last_login_at = peewee.DateTimeField(null=True)
    password_changed_at = peewee.DateTimeField(null=True)
    inactivated_at = peewee.DateTimeField(null=True)
    reactivated_at = peewee.DateTimeField(null=True)
    # When the technicien was told the idle inactivation is near: once per idle period,
    # cleared by a login or a reactivation (issue 10.4).
    idle_warned_at = peewee.DateTimeField(null=True)
    inactivation_reason = peewee.CharField(max_length=300, default="")
    # Set when the caisse inactivates for fraud, loss or theft (§4.1): only it lifts that,
    # and never with the old password.
    fraud_locked_at = peewee.DateTimeField(null=True)
    deleted_at = peewee.DateTimeField(null=True)
    scheduled_inactivation_on = peewee.DateField(null=True)
    habilitation_requested_on = peewee.DateField(null=True)
    habilitation_due_on = peewee.DateField(null=True)
    attested_at = peewee.DateTimeField(null=True)  # §2.2.1 attestations by the creator
    notify_by_email = peewee.BooleanField(default=True)
    search_key = peewee.CharField(max_length=600, default="", index=True)
    cgu_version = peewee.CharField(max_length=20, default="")
    cgu_accepted_at = peewee.DateTimeField(null=True)
    # Rotated on logout, password change and inactivation: every copied cookie dies.
    session_token = peewee.CharField(max_length=64, default=lambda: secrets.token_hex(16))

    def __str__(self):
        return self.display_name

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    def save(self, *args, **kwargs):
        from .text import fold

        # A name may fold into far more characters ('ﷺ' into 18): the key keeps what fits.
        key = fold(" ".join([self.prenom, self.nom, self.username, self.email]))
        self.search_key = key[: Account.search_key.max_length]
        return super().save(*args, **kwargs)

    @property
    def is_active(self):
        return self.state == "active"

    @property
    def display_name(self):
        if self.state == "deleted":
            return "Ancien utilisateur"
        full = f"{self.prenom} {self.nom}".strip()
        return full or self.username

    @property
    def profile_label(self):
        return PROFILES.get(self.profile, self.profile)

    @property
    def state_label(self):
        return STATES.get(self.state, self.state)

    @property
    def has_password(self):
        return bool(self.password_hash)

    @property
    def organisation(self):
        return self.caisse if self.profile == "caisse" else self.partner

    def rotate_session(self):
        self.session_token = secrets.token_hex(16)

    @classmethod
    def active_gestionnaires(cls, partner):
        """The structure's active gestionnaires: who is told, who is asked, who decides."""
        return cls.select().where(
            (cls.partner == partner) & (cls.profile == "gestionnaire") & (cls.state == "active")
        )

    @classmethod
    def visible(cls):
        """Accounts that still exist for their users (deleted ones are gone)."""
        return cls.select().where(cls.state != "deleted")

    @classmethod
    def counted_for_quota(cls, partner, profile):
        """Accounts that hold a place in the partner's quota: active or awaiting a password."""
        return cls.select().where(
            (cls.partner == partner)
            & (cls.profile == profile)
            & (cls.state.in_(("invited", "active")))
        )


class AuditEvent(BaseModel):
    """Append-only: triggers refuse UPDATE and DELETE on this table."""

    at = peewee.DateTimeField(default=now, index=True)
    actor = peewee.ForeignKeyField(Account, null=True, backref="+")
    action = peewee.CharField(max_length=60)
    account = peewee.ForeignKeyField(Account, null=True, backref="+")
    partner = peewee.ForeignKeyField(Partner, null=True, backref="+", on_delete="SET NULL")
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="+")
    detail = peewee.TextField(default="")
    ip = peewee.CharField(max_length=45, default="")


DEMANDE_STATUSES = {
    "submitted": "Envoyée",
    "in_progress": "En cours de traitement",
    "waiting_partner": "En attente du partenaire",
    "closed": "Clôturée",
}


class Demande(BaseModel):
    partner = peewee.ForeignKeyField(Partner, backref="demandes", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, backref="demandes")
    author = peewee.ForeignKeyField(Account, backref="demandes")
    offer = peewee.ForeignKeyField(Offer)
    motif = peewee.ForeignKeyField(Motif)
    status = peewee.CharField(max_length=20, default="submitted", index=True)
    urgent = peewee.BooleanField(default=False, index=True)
    assure_civilite = peewee.CharField(max_length=5, default="")
    assure_nom = peewee.CharField(max_length=100, default="")
    assure_prenom = peewee.CharField(max_length=100, default="")
    assure_date_naissance = peewee.DateField(null=True)
    assure_departement = peewee.CharField(max_length=3, default="")
    assure_informed = peewee.BooleanField(default=False)
    assure_search = peewee.CharField(max_length=210, default="", index=True)
    commentaire = peewee.TextField(default="")
    target_hours = peewee.IntegerField(default=120)
    taken_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    created_at = peewee.DateTimeField(default=now, index=True)
    updated_at = peewee.DateTimeField(default=now)
    first_answer_at = peewee.DateTimeField(null=True)
    closed_at = peewee.DateTimeField(null=True)
    purged_at = peewee.DateTimeField(null=True)  # personal data erased (end of convention)
    # The last event (DemandeEvent id) of each side, for the unread markers, and whether a
    # reply of the partner waits for the caisse's answer (issue 10.5).
    last_partner_event = peewee.IntegerField(null=True)
    last_caisse_event = peewee.IntegerField(null=True)
    partner_reply_pending = peewee.BooleanField(default=False)

    OPEN = ("submitted", "in_progress", "waiting_partner")  # "not closed", as an index reads it

    class Meta:
        # Each list's filter and order (issue 11; tests/test_query_plans.py): the history of a
        # structure, newest first; the caisse's open requests per structure (queue,
        # dashboard); the duplicate check made at every submission.
        indexes = (
            (("partner", "created_at", "id"), False),
            (("caisse", "status", "partner"), False),
            (("partner", "motif", "assure_search", "assure_date_naissance"), False),
        )

    @property
    def reference(self):
        return f"{self.id:06d}"

    @property
    def status_label(self):
        return DEMANDE_STATUSES.get(self.status, self.status)

    @property
    def concerns_assure(self):
        return bool(self.assure_nom)

    @property
    def assure_label(self):
        if self.purged_at:
            return "Données effacées (fin de convention)"
        if not self.concerns_assure:
            return "Demande de partenariat (sans assuré)"
        return f"{self.assure_civilite} {self.assure_prenom} {self.assure_nom}".strip()

    def is_open(self):
        return self.status != "closed"

    def is_overdue(self, at=None):
        """Past the caisse's target time with no first answer yet."""
        if self.first_answer_at is not None or self.status == "closed":
            return False
        at = at or now()
        return (at - self.created_at).total_seconds() > self.target_hours * 3600

    @classmethod
    def news_for(cls, account):
        """SQL condition: the other side acted on the request since `account` last opened it
        (on a query joined with `read_by`)."""
        theirs = cls.last_partner_event if account.profile == "caisse" else cls.last_caisse_event
        return theirs > peewee.fn.COALESCE(DemandeRead.seen_event, 0)

    @classmethod
    def read_by(cls, query, account):
        """The query, with how far `account` read each request (a LEFT JOIN on a unique
        index: one row per request)."""
        return query.join_from(
            cls,
            DemandeRead,
            peewee.JOIN.LEFT_OUTER,
            on=(DemandeRead.demande == cls.id) & (DemandeRead.account == account.id),
        )

    @classmethod
    def seen_by(cls, account):
        """The requests `account` may read: its caisse's, or its structure's."""
        if account.profile == "caisse":
            return cls.caisse == account.caisse_id
        return cls.partner == account.partner_id

    @classmethod
    def listed_for(cls, account):
        """Requests with everything a list shows, in one query whatever their number: caisse,
        structure, offer, motif, author, agent in charge, and `unread` (1 when the other side
        acted since `account` last opened the request)."""
        author, agent = Account.alias(), Account.alias()
        unread = peewee.Case(None, [(cls.news_for(account), 1)], 0)
        query = (
            cls.select(cls, Caisse, Partner, Offer, Motif, author, agent, unread.alias("unread"))
            .join_from(cls, Caisse)
            .join_from(cls, Partner)
            .join_from(cls, Offer)
            .join_from(cls, Motif)
            .join_from(cls, author, on=(cls.author == author.id), attr="author")
            .join_from(
                cls, agent, peewee.JOIN.LEFT_OUTER, on=(cls.taken_by == agent.id), attr="taken_by"
            )
        )
        return cls.read_by(query, account).where(cls.seen_by(account))

    @classmethod
    def open_for(cls, partner, motif, nom_search, date_naissance):
        """Open requests of the structure for the same assuré and motif."""
        return cls.select().where(
            (cls.partner == partner)
            & (cls.motif == motif)
            & (cls.assure_search == nom_search)
            & (cls.assure_date_naissance == date_naissance)
            & cls.status.in_(cls.OPEN)
        )


class DemandeRead(BaseModel):
    """How far an account has read a request: the last event it saw (issue 10.5)."""

    account = peewee.ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    demande = peewee.ForeignKeyField(Demande, backref="+", on_delete="CASCADE")
    seen_event = peewee.IntegerField(default=0)
    read_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("account", "demande"), True),)


class Message(BaseModel):
    demande = peewee.ForeignKeyField(Demande, backref="messages", on_delete="CASCADE")
    author = peewee.ForeignKeyField(Account, backref="+")
    kind = peewee.CharField(max_length=20, default="message")  # message, ask, answer, close
    body = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=now)


class Attachment(BaseModel):
    demande = peewee.ForeignKeyField(Demande, backref="attachments", on_delete="CASCADE")
    message = peewee.ForeignKeyField(Message, null=True, backref="attachments")
    uploaded_by = peewee.ForeignKeyField(Account, backref="+")
    filename = peewee.CharField(max_length=200)
    stored_name = peewee.CharField(max_length=80, unique=True)
    content_type = peewee.CharField(max_length=60)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=now)


class PendingAttachment(BaseModel):
    """A file chosen in a form that came back (refused, to confirm, refreshed): checked and
    stored like an attachment, it waits for the form to be sent. It belongs to its account
    and to the form's opaque token; an abandoned one leaves after a day (housekeeping)."""

    owner = peewee.ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    token = peewee.CharField(max_length=64)
    filename = peewee.CharField(max_length=200)
    stored_name = peewee.CharField(max_length=80, unique=True)
    content_type = peewee.CharField(max_length=60)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=now, index=True)

    class Meta:
        indexes = ((("owner", "token"), False),)


class DemandeEvent(BaseModel):
    """The history of a request: every status change and exchange, who and when."""

    demande = peewee.ForeignKeyField(Demande, backref="events", on_delete="CASCADE")
    at = peewee.DateTimeField(default=now)
    actor = peewee.ForeignKeyField(Account, null=True, backref="+")
    action = peewee.CharField(max_length=30)
    status = peewee.CharField(max_length=20)


class HabilitationRequest(BaseModel):
    """A partner's request to habilitate a gestionnaire, tracked against the deadline (§2.2)."""

    partner = peewee.ForeignKeyField(Partner, backref="habilitation_requests", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, backref="+")
    person = peewee.CharField(max_length=200)  # who is to be habilitated, as the partner said
    received_on = peewee.DateField()
    due_on = peewee.DateField()
    account = peewee.ForeignKeyField(Account, null=True, backref="+")
    done_at = peewee.DateTimeField(null=True)
    created_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    created_at = peewee.DateTimeField(default=now)


REVIEW_STATUSES = {"requested": "Demandée", "in_progress": "En cours", "completed": "Terminée"}


class Review(BaseModel):
    """A habilitation review of a partner's accounts (§4.2)."""

    partner = peewee.ForeignKeyField(Partner, backref="reviews", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="+")  # who asked, if a caisse
    requested_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    requested_at = peewee.DateTimeField(default=now)
    due_on = peewee.DateField(null=True)
    status = peewee.CharField(max_length=20, default="requested", index=True)
    period_start = peewee.DateTimeField()
    started_at = peewee.DateTimeField(null=True)
    started_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    reminded_at = peewee.DateTimeField(null=True)
    overdue_notified_at = peewee.DateTimeField(null=True)
    completed_at = peewee.DateTimeField(null=True)
    completed_by = peewee.ForeignKeyField(Account, null=True, backref="+")

    @property
    def status_label(self):
        return REVIEW_STATUSES.get(self.status, self.status)

    def is_overdue(self, today=None):
        today = today or date.today()
        return self.status != "completed" and self.due_on is not None and self.due_on < today


class ReviewDecision(BaseModel):
    review = peewee.ForeignKeyField(Review, backref="decisions", on_delete="CASCADE")
    account = peewee.ForeignKeyField(Account, backref="+")
    decision = peewee.CharField(max_length=12)  # keep, deactivate
    reason = peewee.CharField(max_length=300, default="")
    attestations_confirmed = peewee.BooleanField(default=False)
    decided_by = peewee.ForeignKeyField(Account, backref="+")
    decided_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("review", "account"), True),)


class Announcement(BaseModel):
    """A maintenance announced to every user beforehand (§3.2)."""

    message = peewee.TextField()
    starts_at = peewee.DateTimeField()
    ends_at = peewee.DateTimeField()
    created_at = peewee.DateTimeField(default=now)

    @classmethod
    def shown(cls, at=None):
        """Announcements to show now: from a week before the maintenance until its end."""
        at = at or now()
        return (
            cls.select()
            .where((cls.ends_at > at) & (cls.starts_at <= at + timedelta(days=7)))
            .order_by(cls.starts_at)
        )


class Draft(BaseModel):
    """What a person had typed when their session expired: given back to the same person
    right after they log in again, then deleted (kept a day at most: it may hold an assuré's
    identity)."""

    account = peewee.ForeignKeyField(Account, backref="+", on_delete="CASCADE")
    path = peewee.CharField(max_length=200)  # the page of the form
    data = peewee.TextField(default="{}")  # JSON {field: [values]}, no password, no token
    files_dropped = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=now, index=True)


NOTICE_STATUSES = {"pending": "En attente", "sent": "Envoyé", "failed": "Échec"}


class Notice(BaseModel):
    """An e-mail to send: written in the same transaction as the action that wants it, sent
    after commit by `ep/notices.py`, retried with backoff while the mail server is down."""

    created_at = peewee.DateTimeField(default=now, index=True)
    recipient = peewee.CharField(max_length=254)
    template = peewee.CharField(max_length=60)  # ep/templates/email/<template>.txt
    subject = peewee.CharField(max_length=200)
    context = peewee.TextField(default="{}")  # JSON: plain values, never an assuré's data
    partner = peewee.ForeignKeyField(Partner, null=True, backref="+", on_delete="SET NULL")
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="+")
    status = peewee.CharField(max_length=10, default="pending")
    attempts = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(default=now)
    claimed_until = peewee.DateTimeField(null=True)  # a sender is on it (no double send)
    sent_at = peewee.DateTimeField(null=True)
    last_error = peewee.CharField(max_length=200, default="")

    class Meta:
        indexes = ((("status", "next_attempt_at"), False),)

    @property
    def status_label(self):
        return NOTICE_STATUSES.get(self.status, self.status)


class NightlyRun(BaseModel):
    """The nightly rules of one day, whatever the number of server processes: the first to
    ask takes the day (a lease, so that another takes over if it dies mid-run), the others
    see it taken or done (schema 3, issue 11.6)."""

    day = peewee.DateField(unique=True)
    runner = peewee.CharField(max_length=120)  # host and process id
    started_at = peewee.DateTimeField()
    lease_until = peewee.DateTimeField()
    finished_at = peewee.DateTimeField(null=True)
    counts = peewee.TextField(default="")  # JSON: what the run did, families that failed


class LoginFailure(BaseModel):
    key = peewee.CharField(max_length=120, index=True)
    at = peewee.DateTimeField(default=now)


ALL_MODELS = [
    Caisse,
    Partner,
    Convention,
    Referent,
    Offer,
    Motif,
    ConventionOffer,
    Account,
    AuditEvent,
    Demande,
    DemandeRead,
    Message,
    Attachment,
    PendingAttachment,
    DemandeEvent,
    HabilitationRequest,
    Review,
    ReviewDecision,
    Announcement,
    LoginFailure,
    Notice,
    Draft,
    NightlyRun,
]


def install_triggers():
    """Make the audit trail append-only at the database level."""
    if is_sqlite():
        for op in ("UPDATE", "DELETE"):
            database.execute_sql(
                f"CREATE TRIGGER IF NOT EXISTS audit_event_no_{op.lower()} "
                f"BEFORE {op} ON audit_event "
                "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
            )
    else:
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql"
        )
        database.execute_sql(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )


def seed_reference_data():
    """Insert the offer catalogue; existing rows are kept (a caisse may have edited labels)."""
    from .catalogue import OFFERS

    for position, (code, label, motifs, concerns) in enumerate(OFFERS, start=1):
        offer, _ = Offer.get_or_create(
            code=code, defaults={"label": label, "position": position, "concerns_assure": concerns}
        )
        for mpos, (mcode, mlabel) in enumerate(motifs, start=1):
            Motif.get_or_create(
                offer=offer, code=mcode, defaults={"label": mlabel, "position": mpos}
            )
