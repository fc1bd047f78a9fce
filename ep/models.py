"""Tables, their invariants and named queries."""

import functools
import operator
import secrets
from datetime import date, datetime, timedelta

import peewee
from flask_login import UserMixin

from .db import database, is_sqlite

SCHEMA_VERSION = 4

PROFILES = {"caisse": "Agent de caisse", "gestionnaire": "Gestionnaire", "technicien": "Technicien"}
STATES = {"invited": "Invité", "active": "Actif", "inactive": "Inactif", "deleted": "Supprimé"}
CIVILITES = {"Mme": "Madame", "M.": "Monsieur"}


def now():
    return datetime.now().replace(microsecond=0)


def pinned(query, index):
    """The single-table `query`, read through `index` on SQLite (INDEXED BY). Where two
    indexes start alike, SQLite's planner, with or without ANALYZE's statistics, may take
    the one that is not covering (issue 11: the dashboard's counts read 12,000 rows instead
    of their index). PostgreSQL chooses from its statistics."""
    if not is_sqlite():
        return query
    table = query.model._meta.table_name
    return query.from_(peewee.SQL(f'"{table}" AS "t1" INDEXED BY "{index}"'))


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


class Caisse(BaseModel):
    name = peewee.CharField(max_length=120, unique=True)
    created_at = peewee.DateTimeField(default=now)
    # Where the caisse is: its working days count that département's public holidays
    # (ep/workdays.py); '' for the national list (schema 4, issue 12.6).
    departement = peewee.CharField(max_length=3, default="")

    def __str__(self):
        return self.name

    def dpo_contacts(self):
        """The caisse's data protection officers, as its agents keep them (a suspected
        breach is reported to them within 24 hours, `002_…` annexe 3)."""
        return Contact.owned_by(caisse=self).where(Contact.role == "dpo")

    def save(self, *args, **kwargs):
        """A new caisse starts with its own copy of the reference catalogue (issue 12.3),
        which it then adapts: whoever creates it (`ep create-user`, the demo, a test)."""
        new = self.id is None
        result = super().save(*args, **kwargs)
        if new:
            from .catalogue import install_reference

            install_reference(self)
        return result

    def catalogue_offers(self):
        """The offers its catalogue proposes (not withdrawn), in its order."""
        return (
            Offer.select()
            .where((Offer.caisse == self.id) & (Offer.active == True))  # noqa: E712 (SQL)
            .order_by(Offer.position, Offer.id)
        )


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

    def dpo_contacts(self):
        """The structure's data protection officers, as its gestionnaires keep them."""
        return Contact.owned_by(partner=self).where(Contact.role == "dpo")

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
        """The codes of the offers the caisse activated for this convention (among those
        its catalogue still proposes)."""
        return {offer.code for offer in self.active_offers()}

    def active_offers(self):
        """The offers the caisse activated for this convention and still proposes, in the
        catalogue's order (§1.2: "activables, ou pas, par la caisse")."""
        return (
            Offer.select()
            .join(ConventionOffer)
            .where((ConventionOffer.convention == self.id) & (Offer.active == True))  # noqa: E712
            .order_by(Offer.position, Offer.id)
        )

    def active_motifs(self, offer=None):
        """The motifs the structure may choose with this caisse (of `offer`, or of every
        offer), each with its offer loaded: of an activated offer, proposed by the catalogue,
        and not switched off by the caisse for this convention (issue 12.3)."""
        off = ConventionMotifOff.select(ConventionMotifOff.motif).where(
            ConventionMotifOff.convention == self.id
        )
        query = (
            Motif.select(Motif, Offer)
            .join(Offer)
            .join(
                ConventionOffer,
                on=(ConventionOffer.offer == Offer.id) & (ConventionOffer.convention == self.id),
            )
            .where(
                (Motif.active == True)  # noqa: E712 (SQL)
                & (Offer.active == True)  # noqa: E712 (SQL)
                & Motif.id.not_in(off)
            )
        )
        if offer is not None:
            query = query.where(Motif.offer == offer)
        return query.order_by(Offer.position, Offer.id, Motif.position, Motif.id)

    def active_catalogue(self):
        """[(offer, [motifs])]: what the structure may ask this caisse, in the catalogue's
        order; an activated offer with no motif left is not listed."""
        grouped = {}
        for motif in self.active_motifs():
            grouped.setdefault(motif.offer.id, (motif.offer, []))[1].append(motif)
        return list(grouped.values())


class Offer(BaseModel):
    """An offer of a caisse's own catalogue (schema 4, issue 12.3): a CARSAT does not offer
    what a CPAM does. Its code is stable (copied from the reference catalogue, or made from
    the first label); its label is the caisse's, the former ones kept in `OfferLabel`."""

    # Its index is the catalogue's, (caisse, code) (Meta).
    caisse = peewee.ForeignKeyField(Caisse, backref="offers", index=False)
    code = peewee.CharField(max_length=40)
    label = peewee.CharField(max_length=200)
    position = peewee.IntegerField()
    # The caisse's target for a first answer (hours); a convention may set its own.
    target_hours = peewee.IntegerField(default=120)
    active = peewee.BooleanField(default=True)  # False: withdrawn, no new request

    class Meta:
        indexes = ((("caisse", "code"), True),)

    @classmethod
    def of(cls, caisse, code):
        """The caisse's offer with this code (None when it has none)."""
        return cls.get_or_none((cls.caisse == caisse) & (cls.code == code))


class Motif(BaseModel):
    offer = peewee.ForeignKeyField(Offer, backref="motifs")
    code = peewee.CharField(max_length=40)
    label = peewee.CharField(max_length=200)
    position = peewee.IntegerField()
    # Whether a request for this motif identifies an assuré (`004_…` annexe 3: the contact
    # offer's motifs marked (*) concern the partnership, "code AMELI" an assuré).
    concerns_assure = peewee.BooleanField(default=True)
    active = peewee.BooleanField(default=True)  # False: no new request for it

    class Meta:
        indexes = ((("offer", "code"), True),)

    @classmethod
    def of(cls, caisse, offer_code, code):
        """The caisse's motif `code` of its offer `offer_code` (None when there is none)."""
        return (
            cls.select(cls, Offer)
            .join(Offer)
            .where((Offer.caisse == caisse) & (Offer.code == offer_code) & (cls.code == code))
            .first()
        )

    @property
    def key(self):
        """The codes that name it in a form: "offer:motif"."""
        return f"{self.offer.code}:{self.code}"


class ConventionOffer(BaseModel):
    convention = peewee.ForeignKeyField(Convention, backref="offer_links", on_delete="CASCADE")
    offer = peewee.ForeignKeyField(Offer)
    target_hours = peewee.IntegerField(null=True)  # caisse's target for a first answer

    class Meta:
        indexes = ((("convention", "offer"), True),)


class Contact(BaseModel):
    """Someone to call, kept up to date by its owner (schema 4, issue 12.4): a structure's
    référents and DPO, kept by its gestionnaires; a caisse's référents, support, DPO and
    contacts per theme (`004_…` annexe 3), kept by its agents. Exactly one owner."""

    ROLES = {
        "referent": "Référent",
        "support": "Assistance",
        "dpo": "Délégué à la protection des données (DPO)",
        "theme": "Contact thématique",
    }
    PARTNER_ROLES = ("referent", "dpo")
    CAISSE_ROLES = ("referent", "support", "dpo", "theme")

    partner = peewee.ForeignKeyField(Partner, null=True, backref="contacts", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="contacts", on_delete="CASCADE")
    role = peewee.CharField(max_length=20)
    # A thematic contact: its subject, and the offer it serves (shown to the structures
    # whose convention has that offer active); either may be empty, not both.
    theme = peewee.CharField(max_length=120, default="")
    offer = peewee.ForeignKeyField(Offer, null=True, backref="+", on_delete="SET NULL")
    name = peewee.CharField(max_length=120)
    function = peewee.CharField(max_length=120, default="")
    phone = peewee.CharField(max_length=30, default="")
    email = peewee.CharField(max_length=254, default="")
    updated_at = peewee.DateTimeField(default=now)

    @property
    def role_label(self):
        return self.ROLES.get(self.role, self.role)

    @property
    def subject(self):
        """What a thematic contact is for: its theme, else its offer's label."""
        if self.theme:
            return self.theme
        return self.offer.label if self.offer_id else ""

    @classmethod
    def owned_by(cls, partner=None, caisse=None):
        """The contacts of a structure or of a caisse, in the order of the roles."""
        owner = cls.partner == partner if partner is not None else cls.caisse == caisse
        order = peewee.Case(cls.role, [(r, i) for i, r in enumerate(cls.ROLES)], len(cls.ROLES))
        return cls.select().where(owner).order_by(order, cls.theme, cls.id)


class Account(UserMixin, BaseModel):
    username = peewee.CharField(max_length=60, unique=True)
    password_hash = peewee.CharField(max_length=255, null=True)
    profile = peewee.CharField(max_length=20)
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="agents")
    # Its index is the structure's accounts by profile and state (Meta).
    partner = peewee.ForeignKeyField(Partner, null=True, backref="accounts", index=False)
    civilite = peewee.CharField(max_length=5, default="")
    nom = peewee.CharField(max_length=100, default="")
    prenom = peewee.CharField(max_length=100, default="")
    fonction = peewee.CharField(max_length=120, default="")
    telephone = peewee.CharField(max_length=30, default="")
    email = peewee.CharField(max_length=254, default="")
    state = peewee.CharField(max_length=10, default="invited")
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
    # Since when the account is its caisse's or structure's référent RGPD (issue 14.2): it
    # opens the "Données personnelles" space; given and taken back by a colleague (ep/rgpd.py).
    rgpd_referent_at = peewee.DateTimeField(null=True)

    class Meta:
        # A structure's accounts by profile and state: quotas, the dashboard's counts, the
        # gestionnaires to tell (issue 11). No index on the state or the profile alone:
        # SQLite took the state's for the dashboard's counts (all the active accounts).
        indexes = ((("partner", "profile", "state"), False),)

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

    @property
    def is_rgpd_referent(self):
        """A caisse agent or a gestionnaire designated référent RGPD (issue 14.2)."""
        return (
            self.rgpd_referent_at is not None
            and self.profile in ("caisse", "gestionnaire")
            and self.state == "active"
        )

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


class Training(BaseModel):
    """A training the caisse gave to the structure's staff (`002_…` art. 3.2, annexe 2
    §2.2), recorded by the caisse (schema 4, issue 12.5). Which staff was trained is erased
    with the convention's other personal data at its end."""

    convention = peewee.ForeignKeyField(Convention, backref="trainings", on_delete="CASCADE")
    given_on = peewee.DateField()
    subject = peewee.CharField(max_length=200)
    attendees = peewee.IntegerField()  # how many people were trained
    # Which staff, if the caisse says: functions or services; names are not needed (they
    # would outlive the accounts, whose personal data goes 6 months after inactivation).
    audience = peewee.CharField(max_length=500, default="")
    recorded_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    created_at = peewee.DateTimeField(default=now)


# Access traces: the reads of personal data the journal keeps EP_JOURNAL_RETENTION_DAYS only
# (issue 14.4), the only lines the sanctioned purge may delete (install_triggers). Changing
# this list needs a schema step that installs the triggers and the partial indexes again.
READ_ACTIONS = (
    "demande_viewed",
    "attachment_downloaded",
    "users_exported",
    "review_exported",
    "journal_exported",
)
READS_SQL = "(" + ", ".join(f"'{action}'" for action in READ_ACTIONS) + ")"


class AuditEvent(BaseModel):
    """Append-only: triggers refuse UPDATE and DELETE on this table, except the deletion of
    old access traces by the sanctioned purge (`JournalPurgePermit`)."""

    at = peewee.DateTimeField(default=now, index=True)
    # Their indexes are the account's events in time order (Meta).
    actor = peewee.ForeignKeyField(Account, null=True, backref="+", index=False)
    action = peewee.CharField(max_length=60)
    account = peewee.ForeignKeyField(Account, null=True, backref="+", index=False)
    partner = peewee.ForeignKeyField(
        Partner, null=True, backref="+", on_delete="SET NULL", index=False
    )
    caisse = peewee.ForeignKeyField(Caisse, null=True, backref="+", index=False)
    detail = peewee.TextField(default="")
    ip = peewee.CharField(max_length=45, default="")
    # The request the event is about (its detail names it "demande NNNNNN"), for the
    # journal's filter; no foreign key: nothing may cascade into the trail (schema 4).
    demande_id = peewee.IntegerField(null=True)

    PER_PAGE = 50

    class Meta:
        # The journal, newest first: a caisse's events, a structure's (issue 11;
        # tests/test_query_plans.py). They also serve the foreign keys' own look-ups. Then
        # its filters (issue 14.4): an action, an account (author or concerned), a request.
        indexes = (
            (("caisse", "at", "id"), False),
            (("partner", "at", "id"), False),
            (("caisse", "action", "at", "id"), False),
            (("partner", "action", "at", "id"), False),
            (("actor", "at", "id"), False),
            (("account", "at", "id"), False),
            (("demande_id", "at", "id"), False),
        )

    @classmethod
    def _scope(cls, user):
        """The journal `user` may read, as conditions that each read one index in order: a
        caisse's own events, and the events naming no caisse of the structures whose
        convention with it is in force; a structure's events."""
        if user.profile == "caisse":
            partners = Convention.select(Convention.partner).where(
                (Convention.caisse == user.caisse_id) & Convention.in_force()
            )
            return [cls.caisse == user.caisse_id, cls.caisse.is_null() & cls.partner.in_(partners)]
        return [cls.partner == user.partner_id]

    @classmethod
    def in_scope(cls, user):
        """SQL condition: the event is in `user`'s journal, written so that no index serves
        it ("+ 0"): it filters what another condition's index reads (an account's events,
        a request's), which SQLite otherwise read through the structure's whole journal."""
        if user.profile == "caisse":
            partners = Convention.select(Convention.partner).where(
                (Convention.caisse == user.caisse_id) & Convention.in_force()
            )
            return ((cls.caisse + 0) == user.caisse_id) | (
                cls.caisse.is_null() & (cls.partner + 0).in_(partners)
            )
        return (cls.partner + 0) == user.partner_id

    @classmethod
    def _parts(cls, user, filters):
        """The conditions of the journal's page under `filters` (JournalFilters), each read
        in time order from one index (issue 14.4): a request's events; an account's, as
        author or as the account concerned; otherwise each part of the scope, of one action
        or of every action but the access traces."""
        extra = []
        if filters.since is not None:
            extra.append(cls.at >= filters.since)
        if filters.until is not None:
            extra.append(cls.at < filters.until)
        if filters.action:
            extra.append(cls.action == filters.action)
        if not filters.reads or (filters.action and filters.action not in READ_ACTIONS):
            # Written as the partial indexes' WHERE says it, even when one action implies
            # it: SQLite sees only the same words.
            extra.append(cls.action.not_in(peewee.SQL(READS_SQL)))
        if filters.demande is not None:
            drivers = [cls.demande_id == filters.demande]
        elif filters.account is not None:
            account = filters.account
            drivers = [
                cls.actor == account,
                (cls.account == account) & (cls.actor.is_null() | (cls.actor != account)),
            ]
        else:
            drivers = None
        if drivers:
            scope = cls.in_scope(user)
            parts = [driver & scope for driver in drivers]
        else:
            parts = cls._scope(user)
        return [functools.reduce(operator.and_, [part, *extra]) for part in parts]

    @classmethod
    def page_ids(cls, user, before=None, after=None, size=PER_PAGE, filters=None):
        """(id, at) of a page of `user`'s journal: newest first, older than the position
        `before` (at, id); or, with `after`, the oldest first of those newer than it. Each
        part of the scope is read in order from its index and the parts are merged (UNION
        ALL): the page costs the same at the first line and at the millionth. `filters`
        (JournalFilters) narrow it; without them, every event is listed."""
        position = peewee.Tuple(cls.at, cls.id)

        def ordered(at, key):
            return (at.asc(), key.asc()) if after is not None else (at.desc(), key.desc())

        parts = []
        for condition in cls._parts(user, filters or JournalFilters()):
            if before is not None:
                condition &= position < peewee.Tuple(*before)
            if after is not None:
                condition &= position > peewee.Tuple(*after)
            parts.append(cls.select(cls.id, cls.at).where(condition))
        if len(parts) == 1:
            return parts[0].order_by(*ordered(cls.at, cls.id)).limit(size).namedtuples()
        columns = [peewee.SQL('"id"'), peewee.SQL('"at"')]
        if not is_sqlite():
            # Each part takes its own first `size` lines from its index, then they are
            # merged: PostgreSQL, given the whole union to sort, scanned the caisse's
            # 958,000 lines in parallel (230 ms) rather than walk its index. (SQLite merges
            # the plain union in order; given ordered parts, it would sort each again.)
            parts = [
                peewee.Select(
                    [part.order_by(*ordered(cls.at, cls.id)).limit(size).alias(f"part{n}")],
                    columns,
                )
                for n, part in enumerate(parts)
            ]
        query = parts[0]
        for part in parts[1:]:
            query = query + part  # UNION ALL: the parts never overlap
        key, at = columns
        return query.order_by(*ordered(at, key)).limit(size).bind(database).namedtuples()

    @classmethod
    def with_names(cls, ids):
        """The events `ids`, newest first, with their author, account and structure loaded
        in the same query."""
        actor, account = Account.alias(), Account.alias()
        return (
            cls.select(cls, actor, account, Partner)
            .join_from(cls, actor, peewee.JOIN.LEFT_OUTER, on=(cls.actor == actor.id), attr="actor")
            .join_from(
                cls,
                account,
                peewee.JOIN.LEFT_OUTER,
                on=(cls.account == account.id),
                attr="account",
            )
            .join_from(cls, Partner, peewee.JOIN.LEFT_OUTER, attr="partner")
            .where(cls.id.in_(ids))
            .order_by(cls.at.desc(), cls.id.desc())
        )


class JournalFilters:
    """What the journal shows (issue 14.4): an account (as author or as the account
    concerned, an Account id), an action, a request (its id), a period [since, until), and
    whether the access traces are shown (`reads`)."""

    def __init__(self, account=None, action=None, demande=None, since=None, until=None, reads=True):
        self.account, self.action, self.demande = account, action, demande
        self.since, self.until, self.reads = since, until, reads


# The journal without its access traces, a caisse's, a structure's, an account's: the page
# shown by default reads them in time order (the traces may be most of the trail: at
# 1,000,000 requests, an agent's 600,000 reads took 1 s to skip through its own index).
for _column, _name in (
    ("caisse", "audit_event_caisse_acts"),
    ("partner", "audit_event_partner_acts"),
    ("actor", "audit_event_actor_acts"),
):
    AuditEvent.add_index(
        AuditEvent.index(
            getattr(AuditEvent, _column),
            AuditEvent.at,
            AuditEvent.id,
            where=AuditEvent.action.not_in(peewee.SQL(READS_SQL)),
            name=_name,
        )
    )


class JournalPurgePermit(BaseModel):
    """The sanctioned purge of old access traces (issue 14.4): within the transaction that
    deletes them, one row says up to when; the trigger lets a DELETE through only for an
    access trace older than that, and the row is gone before the transaction commits, so
    that no other transaction ever sees one."""

    up_to = peewee.DateTimeField()


PURGE_REASONS = {
    "convention": "fin de convention",
    "retention": "durée de conservation écoulée",
    "request": "à la demande de la personne",  # erased by a référent RGPD (issue 14.2)
}

DEMANDE_STATUSES = {
    "submitted": "Envoyée",
    "in_progress": "En cours de traitement",
    "waiting_partner": "En attente du partenaire",
    "closed": "Clôturée",
}


class Demande(BaseModel):
    # The lists' indexes (Meta, and after the class) begin with the structure or the caisse:
    # they serve the foreign keys too. A column is indexed alone only when a query needs it.
    partner = peewee.ForeignKeyField(Partner, backref="demandes", on_delete="CASCADE", index=False)
    caisse = peewee.ForeignKeyField(Caisse, backref="demandes", index=False)
    author = peewee.ForeignKeyField(Account, backref="demandes")
    offer = peewee.ForeignKeyField(Offer)
    motif = peewee.ForeignKeyField(Motif)
    status = peewee.CharField(max_length=20, default="submitted")
    urgent = peewee.BooleanField(default=False)
    assure_civilite = peewee.CharField(max_length=5, default="")
    assure_nom = peewee.CharField(max_length=100, default="")
    assure_prenom = peewee.CharField(max_length=100, default="")
    assure_date_naissance = peewee.DateField(null=True)
    assure_departement = peewee.CharField(max_length=3, default="")
    assure_informed = peewee.BooleanField(default=False)
    assure_search = peewee.CharField(max_length=210, default="")
    commentaire = peewee.TextField(default="")
    target_hours = peewee.IntegerField(default=120)
    taken_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    created_at = peewee.DateTimeField(default=now)
    updated_at = peewee.DateTimeField(default=now)
    first_answer_at = peewee.DateTimeField(null=True)
    closed_at = peewee.DateTimeField(null=True)
    purged_at = peewee.DateTimeField(null=True)  # personal data erased
    # Why: "convention" (its end), "retention" (closed long ago); schema 4.
    purge_reason = peewee.CharField(max_length=20, null=True)
    # When the structure was told that the request, waiting for its answer, will be closed
    # (issue 14.1); a warning older than the request's last change no longer counts.
    close_warned_at = peewee.DateTimeField(null=True)
    # The last event (DemandeEvent id) of each side, for the unread markers, and whether a
    # reply of the partner waits for the caisse's answer (issue 10.5).
    last_partner_event = peewee.IntegerField(null=True)
    last_caisse_event = peewee.IntegerField(null=True)
    partner_reply_pending = peewee.BooleanField(default=False)
    # Processing limited at the person's request (issue 14.2, RGPD art. 18): the data stays,
    # but only the référents RGPD in scope read it; nobody works on the request any more.
    limited_at = peewee.DateTimeField(null=True)

    OPEN = ("submitted", "in_progress", "waiting_partner")  # "not closed", as an index reads it

    class Meta:
        # Each list's filter and order (issue 11; tests/test_query_plans.py): the history of a
        # structure, newest first; the caisse's open requests per structure (queue,
        # dashboard); the duplicate check made at every submission.
        indexes = (
            (("partner", "created_at", "id"), False),
            (("partner", "motif", "assure_search", "assure_date_naissance"), False),
            (("partner", "last_caisse_event"), False),
            # The caisse's figures over a period (issue 13; the structure's read the first).
            (("caisse", "created_at"), False),
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
    def offer_label(self):
        """The offer's label when the request was sent (issue 12.3)."""
        return self._labels()[0]

    @property
    def motif_label(self):
        """The motif's label when the request was sent (issue 12.3)."""
        return self._labels()[1]

    def _labels(self):
        labels = self.__dict__.get("_labels_in_force")
        if labels is None:
            Demande.with_labels([self])
            labels = self.__dict__["_labels_in_force"]
        return labels

    @classmethod
    def labels_query(cls, offers, motifs, oldest):
        """(kind 'o' or 'm', id, label, until) of the offers and motifs `offers`, `motifs`:
        their current label (until NULL) and those they had until after `oldest`, each read
        through its index (tests/test_query_plans.py)."""
        # The versions first: their column gives the union its type (PostgreSQL types a
        # union of NULLs as text, which no date matches).
        parts = [
            OfferLabel.select(
                peewee.SQL("'o'"), OfferLabel.offer, OfferLabel.label, OfferLabel.until
            ).where(OfferLabel.offer.in_(offers) & (OfferLabel.until > oldest)),
            MotifLabel.select(
                peewee.SQL("'m'"), MotifLabel.motif, MotifLabel.label, MotifLabel.until
            ).where(MotifLabel.motif.in_(motifs) & (MotifLabel.until > oldest)),
            Offer.select(peewee.SQL("'o'"), Offer.id, Offer.label, peewee.SQL("NULL")).where(
                Offer.id.in_(offers)
            ),
            Motif.select(peewee.SQL("'m'"), Motif.id, Motif.label, peewee.SQL("NULL")).where(
                Motif.id.in_(motifs)
            ),
        ]
        query = parts[0]
        for part in parts[1:]:
            query = query + part  # UNION ALL
        return query

    @classmethod
    def with_labels(cls, rows):
        """The rows, each knowing the labels of its offer and motif in force when it was
        sent (`offer_label`, `motif_label`): the current ones, unless the caisse renamed
        them since (`OfferLabel`, `MotifLabel`). One query for the whole page, whatever its
        size; the versions read are those ended after the page's oldest request."""
        rows = list(rows)
        if not rows:
            return rows
        offers = sorted({d.offer_id for d in rows})
        motifs = sorted({d.motif_id for d in rows})
        oldest = min(d.created_at for d in rows)
        query = cls.labels_query(offers, motifs, oldest)
        current, former = {}, {}
        for which, key, label, until in query.tuples():
            if until is None:
                current[which, key] = label
            else:
                if isinstance(until, str):  # SQLite hands a UNION's dates back as text
                    until = datetime.fromisoformat(until)
                former.setdefault((which, key), []).append((until, label))
        for versions in former.values():
            versions.sort()

        def label(which, key, at):
            for until, text in former.get((which, key), ()):
                if at < until:
                    return text
            return current.get((which, key), "")

        for d in rows:
            d.__dict__["_labels_in_force"] = (
                label("o", d.offer_id, d.created_at),
                label("m", d.motif_id, d.created_at),
            )
        return rows

    @property
    def assure_label(self):
        if self.purged_at:
            return f"Données effacées ({PURGE_REASONS.get(self.purge_reason, 'fin de convention')})"
        if self.limited_at:
            return "Traitement limité (RGPD)"
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
        return cls.theirs(account) > peewee.fn.COALESCE(DemandeRead.seen_event, 0)

    @classmethod
    def theirs(cls, account):
        """The other side's last event on a request, as `account` sees it: the partner's for
        a caisse agent, the caisse's for the structure."""
        return cls.last_partner_event if account.profile == "caisse" else cls.last_caisse_event

    @classmethod
    def _read_since(cls, account, scope):
        """How many requests of `scope` with news `account` has opened since the news: from
        the account's own few markers (EXISTS keeps the planner from starting from the
        requests), not one look-up per request."""
        theirs = cls.theirs(account)
        read = cls.select(cls.id).where(
            (cls.id == DemandeRead.demande)
            & scope
            & (theirs > 0)
            & (theirs <= DemandeRead.seen_event)
        )
        return (
            DemandeRead.select(peewee.fn.COUNT(DemandeRead.id))
            .where((DemandeRead.account == account.id) & peewee.fn.EXISTS(read))
            .scalar()
            or 0
        )

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
    def listed_for(cls, account, scoped=True):
        """Requests with everything a list shows, in one query whatever their number: caisse,
        structure, offer, motif, author, agent in charge, and `unread` (1 when the other side
        acted since `account` last opened the request)."""
        author, agent = Account.alias(), Account.alias()
        unread = peewee.Case(None, [(cls.news_for(account), 1)], 0)
        # Of the linked records, what a list shows: each column read is work for every row
        # (issue 11: reading whole accounts made the rows most of a list's time).
        shown = [Caisse.id, Caisse.name, Partner.id, Partner.name, Offer.id, Offer.code]
        shown += [Offer.label, Motif.id, Motif.label]
        for person in (author, agent):
            shown += [person.id, person.prenom, person.nom, person.username, person.state]
            shown += [person.profile]
        query = (
            cls.select(cls, *shown, unread.alias("unread"))
            .join_from(cls, Caisse)
            .join_from(cls, Partner)
            .join_from(cls, Offer)
            .join_from(cls, Motif)
            .join_from(cls, author, on=(cls.author == author.id), attr="author")
            .join_from(
                cls, agent, peewee.JOIN.LEFT_OUTER, on=(cls.taken_by == agent.id), attr="taken_by"
            )
        )
        query = cls.read_by(query, account)
        return query.where(cls.seen_by(account)) if scoped else query

    @classmethod
    def still_open(cls):
        """SQL condition: the request is not closed. Its statuses are written in the SQL
        itself, not passed as parameters, so that the partial index of the open requests
        (whose WHERE says the same) can serve the query."""
        return cls.status.in_(peewee.SQL(OPEN_SQL))

    @classmethod
    def page_ids(
        cls,
        user,
        *,
        words=(),
        status=None,
        offer=None,
        unread=False,
        caisse=None,
        author=None,
        created_from=None,
        created_before=None,
        partner=None,
        taken=None,
        reply_pending=False,
    ):
        """The ids of the requests `user` may list, filtered. The filters read the request's
        own columns only, so that a list's index serves filter and order (issue 11; each
        list's plan is in tests/test_query_plans.py): `words` of the assuré's folded name,
        `status` ("open" or one status), `offer` code, `unread` by `user`, `caisse`,
        `author`, creation dates, and the queue's `partner`, `taken` ("me" or "none") and
        `reply_pending`."""
        query = cls.select(cls.id).where(cls.seen_by(user))
        for word in words:
            query = query.where(cls.assure_search.contains(word))
        if status == "open" or reply_pending:
            query = query.where(cls.still_open())
        elif status:
            query = query.where(cls.status == status)
        if offer:  # a code: the same offer in each caisse's catalogue
            offers = Offer.select(Offer.id).where(Offer.code == offer)
            if user.profile == "caisse":
                offers = offers.where(Offer.caisse == user.caisse_id)
            query = query.where(cls.offer.in_(offers))
        if unread:  # a correlated look-up, not a join: the query stays on one table
            seen = DemandeRead.select(DemandeRead.seen_event).where(
                (DemandeRead.account == user.id) & (DemandeRead.demande == cls.id)
            )
            query = query.where(cls.theirs(user) > peewee.fn.COALESCE(seen, 0))
        if caisse:  # a structure's history stays on its own index, not the caisse's by date
            query = query.where(
                (cls.caisse if user.profile == "caisse" else cls.caisse + 0) == caisse
            )
        if author:
            query = query.where(cls.author == author)
        if created_from:
            query = query.where(cls.created_at >= created_from)
        if created_before:
            query = query.where(cls.created_at < created_before)
        if partner:
            query = query.where(cls.partner == partner)
        if taken == "me":
            query = query.where(cls.taken_by == user.id)
        elif taken == "none":
            query = query.where(cls.taken_by.is_null())
        if reply_pending:
            query = query.where(cls.partner_reply_pending == True)  # noqa: E712 (SQL)
        if user.profile == "caisse" and (status == "open" or reply_pending):
            # The caisse's open requests in the queue's order. Left to itself, SQLite reads
            # the caisse's whole history in that order (demande_caisse_order), the oldest
            # (closed) first, to find the open ones.
            query = pinned(query, "demande_open_queue")
        return query

    @classmethod
    def queue_counts(cls, agent):
        """The caisse's open requests: unread by `agent`, with a partner's reply to answer,
        taken by nobody, taken by `agent` (issue 10.5). Counted from the open requests'
        index alone; the unread ones as those with news, less those `agent` has read since
        (a join from the agent's few read markers, not one look-up per open request)."""

        def number(condition):
            return peewee.fn.SUM(peewee.Case(None, [(condition, 1)], 0))

        mine = (cls.caisse == agent.caisse_id) & cls.still_open()
        counts = cls.select(
            number(cls.last_partner_event > 0),
            number(cls.partner_reply_pending == True),  # noqa: E712 (SQL)
            number(cls.taken_by.is_null()),
            number(cls.taken_by == agent.id),
        ).where(mine)
        news, replies, unassigned, taken = pinned(counts, "demande_open_queue").tuples().get()
        return {
            "unread": (news or 0) - cls._read_since(agent, mine),
            "replies": replies or 0,
            "unassigned": unassigned or 0,
            "mine": taken or 0,
        }

    @classmethod
    def open_per_partner(cls, caisse, partner_ids):
        """(structure, open requests with `caisse`) for the structures `partner_ids`, from
        the open requests' index alone (the dashboard)."""
        query = (
            cls.select(cls.partner, peewee.fn.COUNT(cls.id))
            .where(cls.partner.in_(partner_ids) & (cls.caisse == caisse) & cls.still_open())
            .group_by(cls.partner)
        )
        return pinned(query, "demande_open_queue")

    @classmethod
    def unread_by_technicien(cls, account):
        """How many of the structure's requests the caisse acted on since `account` last
        opened them: those with news, less those read since (from the account's markers,
        not one look-up per request of the structure's history; index
        `partner_id, last_caisse_event`)."""
        mine = cls.partner == account.partner_id
        news = pinned(
            cls.select(peewee.fn.COUNT(cls.id)).where(mine & (cls.last_caisse_event > 0)),
            "demande_partner_id_last_caisse_event",
        ).scalar()
        return (news or 0) - cls._read_since(account, mine)

    @classmethod
    def waiting_for_partner(cls, partner):
        """The structure's requests waiting for its answer, the longest waiting first
        (partial index `demande_waiting_partner`)."""
        return (
            cls.select()
            .where((cls.partner == partner) & (cls.status == peewee.SQL("'waiting_partner'")))
            .order_by(cls.updated_at, cls.id)
        )

    @classmethod
    def newest_first(cls):
        """The history's order (index `partner_id, created_at, id`)."""
        return (cls.created_at.desc(), cls.id.desc())

    @classmethod
    def urgent_then_oldest(cls):
        """The caisse's order (`002_…` §3.2; partial index `demande_open_queue` for the
        open requests)."""
        return (cls.urgent.desc(), cls.created_at, cls.id)

    @classmethod
    def listed_in_order(cls, account, ids):
        """The requests `ids` as `listed_for` loads them, in the order of `ids`. The order
        is set here: asked to sort, SQLite would read the caisse's whole history through the
        order's index instead of taking the rows by their ids (issue 11)."""
        ids = list(ids)
        if not ids:
            return []
        query = cls.listed_for(account, scoped=False)
        # The scope still applies, written so that no index can serve it ("+ 0"): SQLite
        # otherwise reads the caisse's 750,000 requests through a list's index to find the
        # 25 ids its primary key gives at once.
        if account.profile == "caisse":
            scope = (cls.caisse + 0) == account.caisse_id
        else:
            scope = (cls.partner + 0) == account.partner_id
        loaded = {d.id: d for d in query.where(cls.id.in_(ids) & scope)}
        return cls.with_labels(loaded[i] for i in ids if i in loaded)

    @classmethod
    def to_purge(cls, convention, after=None):
        """(id, created_at) of the requests made under a convention whose personal data is
        still there, oldest first, after (created_at, id) `after`: the structure's history
        index, which SQLite left for the caisse's (all its requests) without the order, and
        for the caisse's by day sent (the statistics' index) even with it."""
        query = pinned(cls.select(cls.id, cls.created_at), "demande_partner_id_created_at_id")
        query = query.where(
            (cls.partner == convention.partner_id)
            & ((cls.caisse + 0) == convention.caisse_id)  # not the caisse's index by date
            & cls.purged_at.is_null()
        )
        if after is not None:
            query = query.where(peewee.Tuple(cls.created_at, cls.id) > peewee.Tuple(*after))
        return query.order_by(cls.created_at, cls.id)

    @classmethod
    def open_for(cls, partner, motif, nom_search, date_naissance):
        """Open requests of the structure for the same assuré and motif."""
        return cls.select().where(
            (cls.partner == partner)
            & (cls.motif == motif)
            & (cls.assure_search == nom_search)
            & (cls.assure_date_naissance == date_naissance)
            & cls.still_open()
            & cls.limited_at.is_null()  # nobody works on a limited one any more
        )


OPEN_SQL = "(" + ", ".join(f"'{status}'" for status in Demande.OPEN) + ")"

# The caisse's open requests in its order, urgent first then the oldest: the queue reads its
# page from here (issue 11: it sorted 12,000 rows at each page), and the dashboard counts
# them, per structure too, from the index alone (the last columns).
Demande.add_index(
    Demande.index(
        Demande.caisse,
        Demande.urgent.desc(),
        Demande.created_at,
        Demande.id,
        Demande.taken_by,
        Demande.partner_reply_pending,
        Demande.last_partner_event,
        Demande.partner,
        where=Demande.status.in_(peewee.SQL(OPEN_SQL)),
        name="demande_open_queue",
    )
)

# The caisse's requests in the queue's order, all of them or of one status (issue 11: the
# queue "Clôturées" sorted 738,000 rows, 1.4 s); the status one also counts the open
# requests per structure (the dashboard) from the index alone.
Demande.add_index(
    Demande.index(
        Demande.caisse,
        Demande.urgent.desc(),
        Demande.created_at,
        Demande.id,
        name="demande_caisse_order",
    )
)
Demande.add_index(
    Demande.index(
        Demande.caisse,
        Demande.status,
        Demande.urgent.desc(),
        Demande.created_at,
        Demande.id,
        Demande.partner,
        name="demande_caisse_status_order",
    )
)

# The structure's requests waiting for its answer (the technicien's home).
Demande.add_index(
    Demande.index(
        Demande.partner,
        Demande.updated_at,
        Demande.id,
        where=Demande.status == peewee.SQL("'waiting_partner'"),
        name="demande_waiting_partner",
    )
)


# The closed requests whose personal data is still there, by closing time: the nightly
# retention purge reads its batches from here (issue 14.1); a purged request leaves it.
Demande.add_index(
    Demande.index(
        Demande.closed_at,
        Demande.id,
        Demande.caisse,
        where=(Demande.status == peewee.SQL("'closed'")) & Demande.purged_at.is_null(),
        name="demande_retention",
    )
)


# A person's requests by date of birth, then name (issue 14.2): what a référent RGPD looks
# up to answer a right of access; the partnership requests (no assuré) and the erased ones
# have no date and stay out of it.
Demande.add_index(
    Demande.index(
        Demande.assure_date_naissance,
        Demande.assure_search,
        where=Demande.assure_date_naissance.is_null(False),
        name="demande_person",
    )
)

# The requests whose processing is limited, few: listed to the référents so that none is
# forgotten (issue 14.2).
Demande.add_index(
    Demande.index(
        Demande.limited_at,
        Demande.id,
        where=Demande.limited_at.is_null(False),
        name="demande_limited",
    )
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


QUESTION_KINDS = {"rating": "Note par offre", "text": "Texte libre"}
EVALUATION_STATUSES = {"open": "À remplir", "submitted": "Réponses envoyées"}


class EvaluationQuestion(BaseModel):
    """A question of a caisse's yearly questionnaire (issue 13.4): a rating of each offer
    active in the convention, or a free text. Copied into each evaluation when it opens."""

    caisse = peewee.ForeignKeyField(Caisse, backref="+")
    position = peewee.IntegerField()
    kind = peewee.CharField(max_length=10)  # rating, text
    text = peewee.CharField(max_length=300)
    hint = peewee.CharField(max_length=300, default="")
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=now)
    updated_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("caisse", "position"), False),)

    @property
    def kind_label(self):
        return QUESTION_KINDS.get(self.kind, self.kind)


class Evaluation(BaseModel):
    """The yearly evaluation of a partnership (issue 13.4): one per caisse, structure and
    year, answered by the structure's gestionnaires before `due_on`."""

    caisse = peewee.ForeignKeyField(Caisse, backref="+")
    partner = peewee.ForeignKeyField(Partner, backref="+", on_delete="CASCADE")
    year = peewee.IntegerField()
    due_on = peewee.DateField()
    status = peewee.CharField(max_length=10, default="open")  # open, submitted
    opened_at = peewee.DateTimeField(default=now)
    opened_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    saved_at = peewee.DateTimeField(null=True)
    saved_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    submitted_at = peewee.DateTimeField(null=True)
    submitted_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    reminded_at = peewee.DateTimeField(null=True)
    overdue_notified_at = peewee.DateTimeField(null=True)

    class Meta:
        # One per caisse, structure and year; a caisse's year; a structure's evaluations.
        indexes = (
            (("caisse", "year", "partner"), True),
            (("partner", "year"), False),
        )

    @property
    def is_submitted(self):
        return self.status == "submitted"

    @property
    def status_label(self):
        return EVALUATION_STATUSES.get(self.status, self.status)

    def is_overdue(self, today=None):
        return self.status != "submitted" and self.due_on < (today or date.today())


class EvaluationItem(BaseModel):
    """One answer of an evaluation, with the question's text as it was when the evaluation
    opened (a later edit of the questionnaire never changes a past bilan): a rating of one
    offer (1 to 5, 0 "sans objet", none yet), or a free text."""

    evaluation = peewee.ForeignKeyField(Evaluation, backref="items", on_delete="CASCADE")
    position = peewee.IntegerField()  # the question's number in this evaluation
    kind = peewee.CharField(max_length=10)
    question = peewee.CharField(max_length=300)
    hint = peewee.CharField(max_length=300, default="")
    offer = peewee.ForeignKeyField(Offer, null=True, backref="+")
    offer_label = peewee.CharField(max_length=200, default="")
    rating = peewee.IntegerField(null=True)
    answer = peewee.TextField(default="")


class LoginFailure(BaseModel):
    key = peewee.CharField(max_length=120, index=True)
    at = peewee.DateTimeField(default=now)


class Publication(BaseModel):
    """Information a caisse gives its partners: news, regulatory information, a document
    (`002_…` annexe 2 preamble and §3.2; issue 12.1). Addressed to all the structures whose
    channel with the caisse is open, those that join later included, or to chosen ones
    (`PublicationTarget`); shown until `ends_on` (included) unless withdrawn."""

    caisse = peewee.ForeignKeyField(Caisse, backref="+", index=False)
    author = peewee.ForeignKeyField(Account, backref="+")
    titre = peewee.CharField(max_length=200)
    texte = peewee.TextField(default="")
    search_key = peewee.TextField(default="")  # folded title and text (ep/text.py)
    all_partners = peewee.BooleanField(default=True)
    pinned = peewee.BooleanField(default=False)
    ends_on = peewee.DateField(null=True)  # last day shown to partners
    created_at = peewee.DateTimeField(default=now)
    withdrawn_at = peewee.DateTimeField(null=True)
    withdrawn_by = peewee.ForeignKeyField(Account, null=True, backref="+")
    # The optional PDF, stored like an attachment (ep/attachments.py), outside the database.
    filename = peewee.CharField(max_length=200, default="")
    stored_name = peewee.CharField(max_length=80, null=True, unique=True)
    content_type = peewee.CharField(max_length=60, default="")
    size = peewee.IntegerField(default=0)
    sha256 = peewee.CharField(max_length=64, default="")

    PER_PAGE = 25

    class Meta:
        # A caisse's items in the lists' order, pinned first then the newest: the caisse's
        # list reads it in order, a structure's list per caisse (tests/test_query_plans.py).
        indexes = ((("caisse", "pinned", "created_at", "id"), False),)

    @property
    def has_file(self):
        return bool(self.stored_name)

    @property
    def is_withdrawn(self):
        return self.withdrawn_at is not None

    def has_expired(self, today=None):
        return self.ends_on is not None and self.ends_on < (today or date.today())

    @classmethod
    def in_order(cls):
        """Pinned first, then the newest (the lists, both sides)."""
        return (cls.pinned.desc(), cls.created_at.desc(), cls.id.desc())

    @classmethod
    def shown(cls, today=None):
        """SQL condition: not withdrawn and not past its end date."""
        today = today or date.today()
        return cls.withdrawn_at.is_null() & (cls.ends_on.is_null() | (cls.ends_on >= today))

    @classmethod
    def for_partner(cls, partner_id, today=None):
        """The items a structure's users read: shown, from a caisse whose channel with the
        structure is open (a convention in force, not cut off), addressed to all its
        partners or to this structure."""
        caisses = Convention.select(Convention.caisse).where(
            (Convention.partner == partner_id) & Convention.open_channel(today)
        )
        chosen = PublicationTarget.select(PublicationTarget.publication).where(
            PublicationTarget.partner == partner_id
        )
        return cls.select().where(
            cls.caisse.in_(caisses)
            & cls.shown(today)
            & ((cls.all_partners == True) | cls.id.in_(chosen))  # noqa: E712 (SQL)
        )

    @classmethod
    def for_caisse(cls, caisse_id):
        """Everything the caisse published, withdrawn and past items included."""
        return cls.select().where(cls.caisse == caisse_id)


class PublicationTarget(BaseModel):
    """A structure an item is addressed to, when the caisse chose them."""

    publication = peewee.ForeignKeyField(
        Publication, backref="targets", on_delete="CASCADE", index=False
    )
    partner = peewee.ForeignKeyField(Partner, backref="+", on_delete="CASCADE")

    class Meta:
        indexes = ((("publication", "partner"), True),)


class PublicationRead(BaseModel):
    """An account opened the item: its "nouveau" marker is gone (as `DemandeRead`)."""

    account = peewee.ForeignKeyField(Account, backref="+", on_delete="CASCADE", index=False)
    publication = peewee.ForeignKeyField(Publication, backref="+", on_delete="CASCADE", index=False)
    read_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("account", "publication"), True),)


class PublicationOpening(BaseModel):
    """The first opening of an item by one of a structure's accounts: what the caisse
    counts ("opened by 3 structures out of 12"), one row per structure whatever the number
    of its readers."""

    publication = peewee.ForeignKeyField(Publication, backref="+", on_delete="CASCADE", index=False)
    partner = peewee.ForeignKeyField(Partner, backref="+", on_delete="CASCADE", index=False)
    opened_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("publication", "partner"), True),)


# Exchanges a caisse starts with a structure about something that is not a request (issue
# 12.2): a thread, its messages and their documents, and how far each account read it.

THREAD_AUDIENCES = {
    "all": "Tous les utilisateurs de la structure (gestionnaires et techniciens)",
    "gestionnaires": "Les gestionnaires de la structure seulement",
}


class Thread(BaseModel):
    """A conversation a caisse agent opens with a partner structure; both sides write in it
    until the caisse closes it. Every agent of the caisse sees it; on the structure's side,
    its `audience`: all its users, or its gestionnaires only."""

    caisse = peewee.ForeignKeyField(Caisse, backref="+", index=False)
    partner = peewee.ForeignKeyField(Partner, backref="+", on_delete="CASCADE", index=False)
    subject = peewee.CharField(max_length=200)
    audience = peewee.CharField(max_length=20, default="all")
    # Accounts are never deleted as rows: no index is needed for their foreign keys.
    started_by = peewee.ForeignKeyField(Account, backref="+", index=False)
    created_at = peewee.DateTimeField(default=now)
    last_activity_at = peewee.DateTimeField(default=now)
    # Each side's last message (ThreadMessage id), for the unread markers.
    last_caisse_message = peewee.IntegerField(null=True)
    last_partner_message = peewee.IntegerField(null=True)
    closed_at = peewee.DateTimeField(null=True)
    closed_by = peewee.ForeignKeyField(Account, null=True, backref="+", index=False)

    PER_PAGE = 25

    class Meta:
        # The lists, newest activity first (tests/test_query_plans.py): a structure's, a
        # structure's with one caisse (both sides), a caisse's; and the caisse's threads
        # with news from a structure, counted from the index alone (its agents' homes).
        indexes = (
            (("partner", "last_activity_at", "id"), False),
            (("partner", "caisse", "last_activity_at", "id"), False),
            (("caisse", "last_activity_at", "id"), False),
            (("caisse", "last_partner_message", "partner"), False),
        )

    @property
    def reference(self):
        return f"{self.id:06d}"

    @property
    def is_closed(self):
        return self.closed_at is not None

    @property
    def audience_label(self):
        return THREAD_AUDIENCES.get(self.audience, self.audience)

    @classmethod
    def theirs(cls, account):
        """The other side's last message, as `account` sees it."""
        return cls.last_partner_message if account.profile == "caisse" else cls.last_caisse_message

    @classmethod
    def seen_by(cls, account):
        """SQL condition: the threads `account` may read. A caisse's agents, those of its
        structures in force; a structure's gestionnaires, all of its threads; its
        techniciens, those addressed to every user."""
        if account.profile == "caisse":
            in_force = Convention.select(Convention.partner).where(
                (Convention.caisse == account.caisse_id) & Convention.in_force()
            )
            return (cls.caisse == account.caisse_id) & cls.partner.in_(in_force)
        mine = cls.partner == account.partner_id
        if account.profile == "gestionnaire":
            return mine
        return mine & (cls.audience == "all")

    @classmethod
    def unread_for(cls, account):
        """SQL condition: the other side wrote since `account` last opened the thread (a
        correlated look-up of the account's marker: the query stays on one table)."""
        seen = ThreadRead.select(ThreadRead.seen_message).where(
            (ThreadRead.account == account.id) & (ThreadRead.thread == cls.id)
        )
        return cls.theirs(account) > peewee.fn.COALESCE(seen, 0)


class ThreadMessage(BaseModel):
    thread = peewee.ForeignKeyField(Thread, backref="messages", on_delete="CASCADE")
    author = peewee.ForeignKeyField(Account, backref="+", index=False)
    kind = peewee.CharField(max_length=10, default="message")  # message, close
    body = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=now)


class ThreadAttachment(BaseModel):
    """A document of a thread's message: checked and stored like a request's (§3.1)."""

    thread = peewee.ForeignKeyField(Thread, backref="attachments", on_delete="CASCADE")
    message = peewee.ForeignKeyField(ThreadMessage, backref="attachments", on_delete="CASCADE")
    uploaded_by = peewee.ForeignKeyField(Account, backref="+")  # the daily volume's index
    filename = peewee.CharField(max_length=200)
    stored_name = peewee.CharField(max_length=80, unique=True)
    content_type = peewee.CharField(max_length=60)
    size = peewee.IntegerField()
    sha256 = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=now)


class ThreadRead(BaseModel):
    """How far an account has read a thread: the last message it saw."""

    account = peewee.ForeignKeyField(Account, backref="+", on_delete="CASCADE", index=False)
    thread = peewee.ForeignKeyField(Thread, backref="+", on_delete="CASCADE")
    seen_message = peewee.IntegerField(default=0)
    read_at = peewee.DateTimeField(default=now)

    class Meta:
        indexes = ((("account", "thread"), True),)


# A structure's "Contacter votre organisme" requests, newest activity first: listed with its
# threads, in one place (issue 12.2). The offer comes first, so that the index never competes
# with the structure's own indexes for its other lists (PostgreSQL weighed it against them).
Demande.add_index(Demande.index(Demande.offer, Demande.partner, Demande.updated_at, Demande.id))


class OfferLabel(BaseModel):
    """A label an offer had until `until`, when its caisse renamed it: the requests sent
    before show it (issue 12.3). The current label is the offer's own."""

    offer = peewee.ForeignKeyField(Offer, backref="+", on_delete="CASCADE", index=False)
    label = peewee.CharField(max_length=200)
    until = peewee.DateTimeField()

    class Meta:
        indexes = ((("offer", "until"), False),)


class MotifLabel(BaseModel):
    """A label a motif had until `until` (as `OfferLabel`)."""

    motif = peewee.ForeignKeyField(Motif, backref="+", on_delete="CASCADE", index=False)
    label = peewee.CharField(max_length=200)
    until = peewee.DateTimeField()

    class Meta:
        indexes = ((("motif", "until"), False),)


class ConventionMotifOff(BaseModel):
    """A motif the caisse does not open to this structure, though it activated the offer
    (issue 12.3). Stored as an exception: a motif the caisse adds to an offer is open to
    every structure that has the offer, until it says otherwise."""

    convention = peewee.ForeignKeyField(Convention, backref="+", on_delete="CASCADE", index=False)
    motif = peewee.ForeignKeyField(Motif, backref="+", index=False)

    class Meta:
        indexes = ((("convention", "motif"), True),)


class Breach(BaseModel):
    """A suspected personal data breach a structure reports to the DPO of each caisse
    concerned, within 24 hours of noticing it (`002_…` annexe 3; issue 14.3; schema 4).
    `facts`: the period the journal's facts cover (each account's are on its line)."""

    DEADLINE = timedelta(hours=24)

    partner = peewee.ForeignKeyField(Partner, backref="+", on_delete="CASCADE", index=False)
    reported_by = peewee.ForeignKeyField(Account, backref="+")
    created_at = peewee.DateTimeField(default=now)
    noticed_at = peewee.DateTimeField()
    happened_at = peewee.DateTimeField(null=True)  # when it happened, if known
    description = peewee.TextField()
    measures = peewee.TextField(default="")
    facts = peewee.TextField(default="")

    class Meta:
        indexes = ((("partner", "created_at"), False),)

    @property
    def reference(self):
        return f"{self.id:06d}"

    @property
    def deadline(self):
        return self.noticed_at + self.DEADLINE


class BreachAccount(BaseModel):
    """An account of the structure a breach report concerns, and the journal's facts on it
    as they were sent (logins and reads: times, addresses, request numbers; never an assuré,
    nor the account's name, read from the account so that its deletion erases it)."""

    breach = peewee.ForeignKeyField(Breach, backref="account_links", on_delete="CASCADE")
    account = peewee.ForeignKeyField(Account, backref="+")
    facts = peewee.TextField(default="")

    class Meta:
        indexes = ((("breach", "account"), True),)


BREACH_SENT_TO = {
    "dpo": "DPO de la caisse",
    "referent": "référents de la caisse (aucun DPO joignable par e-mail)",
    "agents": "agents de la caisse (ni DPO ni référent joignable par e-mail)",
    "none": "personne : la caisse n'a aucune adresse connue",
}


class BreachCaisse(BaseModel):
    """A caisse a breach report is addressed to, and who it was e-mailed to (its DPO, or
    the fallback chosen when it has none: docs/decisions.md)."""

    breach = peewee.ForeignKeyField(Breach, backref="caisse_links", on_delete="CASCADE")
    caisse = peewee.ForeignKeyField(Caisse, backref="+", index=False)
    sent_to = peewee.CharField(max_length=10)  # BREACH_SENT_TO
    recipients = peewee.TextField(default="")  # the addresses, one a line

    class Meta:
        # A caisse's reports, newest first; one line per breach and caisse.
        indexes = ((("caisse", "breach"), True), (("breach", "caisse"), True))

    @property
    def sent_to_label(self):
        return BREACH_SENT_TO.get(self.sent_to, self.sent_to)


ALL_MODELS = [
    Caisse,
    Partner,
    Convention,
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
    Publication,
    PublicationTarget,
    PublicationRead,
    PublicationOpening,
    Contact,
    Training,
    Thread,
    ThreadMessage,
    ThreadAttachment,
    ThreadRead,
    EvaluationQuestion,
    Evaluation,
    EvaluationItem,
    JournalPurgePermit,
    OfferLabel,
    MotifLabel,
    ConventionMotifOff,
    Breach,
    BreachAccount,
    BreachCaisse,
]


# A DELETE the triggers let through: an access trace older than the permit of the purge
# running in the same transaction (issue 14.4). Nothing else, ever; no UPDATE at all.
SANCTIONED_DELETE = (
    f"OLD.action IN {READS_SQL} AND EXISTS (SELECT 1 FROM journal_purge_permit p "
    "WHERE OLD.at < p.up_to)"
)


def install_triggers(replace=False):
    """Make the audit trail append-only at the database level, but for the sanctioned purge
    of old access traces. `replace`: the triggers exist already (a schema step changes them)."""
    if is_sqlite():
        if replace:
            database.execute_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        database.execute_sql(
            "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )
        database.execute_sql(
            "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event "
            f"WHEN NOT ({SANCTIONED_DELETE}) "
            "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )
        return
    database.execute_sql(
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$ "
        f"BEGIN IF TG_OP = 'DELETE' AND {SANCTIONED_DELETE} THEN RETURN OLD; END IF; "
        "RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql"
    )
    if not replace:
        database.execute_sql(
            "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )


def seed_reference_data():
    """A caisse without a catalogue (one recorded by other means than the app) gets the
    reference one; a catalogue a caisse has is never touched (issue 12.3)."""
    from .catalogue import install_reference

    if "caisse_id" not in {c.name for c in database.get_columns("offer")}:
        return  # a database kept at an older schema (tests): its catalogue is not per caisse
    owners = Offer.select(Offer.caisse)
    for caisse in Caisse.select().where(Caisse.id.not_in(owners)).order_by(Caisse.id):
        install_reference(caisse)
