"""Every list query has the index it needs (issue 11): the plan the database picks, asked
with EXPLAIN (QUERY PLAN on SQLite), names the index, and SQLite sorts nothing it could read
in order. On PostgreSQL, sequential scans are switched off for the question: on the small
test data a scan is cheaper, but the index must be usable."""

import re

import peewee
import pytest

from ep import db
from ep.models import Account, Caisse, Demande, Motif, Partner

from .conftest import demo_app


def plan(query):
    sql, params = query.sql()
    if db.is_sqlite():
        rows = db.database.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        return "\n".join(str(r[-1]) for r in rows)
    with db.database.atomic():
        db.database.execute_sql("SET LOCAL enable_seqscan = off")
        rows = db.database.execute_sql("EXPLAIN " + sql, params).fetchall()
    return "\n".join(r[0] for r in rows)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One app for the module, whose tests only ask for plans, built on tables made afresh:
    on PostgreSQL, tables that carried other tests' rows (dead ones, autovacuum's analyses)
    have statistics that choose plans of their own."""
    return demo_app(tmp_path_factory.mktemp("plans"))


@pytest.fixture
def ids(app):
    with db.database.connection_context():
        yield {
            "partner": Partner.get(Partner.name == "CCAS de Démo").id,
            "caisse": Caisse.get(Caisse.name == "CPAM de Démo").id,
            "motif": Motif.select().first().id,
        }


def test_the_history_of_a_structure_reads_its_index_in_order(ids):
    query = (
        Demande.select()
        .where(Demande.partner == ids["partner"])
        .order_by(Demande.created_at.desc(), Demande.id.desc())
        .limit(25)
    )
    text = plan(query)
    assert "demande_partner_id_created_at_id" in text, text
    assert "TEMP B-TREE" not in text, text


def test_the_list_a_user_sees_uses_the_history_index(ids):
    tech = Account.get(Account.username == "technicien.demo")
    query = (
        Demande.listed_for(tech).order_by(Demande.created_at.desc(), Demande.id.desc()).limit(25)
    )
    text = plan(query)
    assert "demande_partner_id_created_at_id" in text, text


def test_the_caisse_s_open_requests_per_structure_are_counted_from_their_index(ids):
    """The dashboard's open requests per structure: the open requests' index (PostgreSQL
    combined two bitmaps of 12,000 and 50,000 entries at 1,000,000 requests: 12 ms)."""
    text = plan(Demande.open_per_partner(ids["caisse"], [ids["partner"]]))
    assert "demande_open_queue" in text, text


def test_the_duplicate_check_of_every_submission_uses_its_index(ids):
    from datetime import date

    query = Demande.open_for(ids["partner"], ids["motif"], "martin paul", date(1980, 2, 2))
    text = plan(query)
    if db.is_sqlite():
        assert "demande_partner_id_motif_id_assure_search_assure_date_naissance" in text, text
    else:  # on a few rows PostgreSQL's costs tie between the structure's indexes
        assert "Index Cond: (partner_id = " in text or "assure_search" in text, text


def test_open_means_the_three_open_statuses():
    from ep.models import DEMANDE_STATUSES

    assert set(Demande.OPEN) == set(DEMANDE_STATUSES) - {"closed"}


def test_the_queue_reads_its_page_in_order_from_the_open_requests_index(ids):
    """The page's ids come from the request's own columns (Demande.page_ids), in the order
    of the partial index of the open requests: nothing sorted (issue 11: the queue sorted
    its 12,000 open requests at every page)."""
    agent = Account.get(Account.username == "caisse.demo")
    query = Demande.page_ids(agent, status="open").order_by(*Demande.urgent_then_oldest()).limit(25)
    text = plan(query)
    assert "demande_open_queue" in text, text
    assert "TEMP B-TREE" not in text, text


def test_the_open_requests_are_counted_from_their_index(ids):
    agent = Account.get(Account.username == "caisse.demo")
    text = plan(Demande.page_ids(agent, status="open").select(Demande.id))
    assert "demande_open_queue" in text, text


def test_the_caisse_s_journal_merges_two_ordered_index_reads(ids):
    """The caisse's journal: its own events and its partners' events that name no caisse,
    each read in order from an index and merged; nothing sorted, nothing counted (issue 11:
    595 ms at 1,000,000 lines when the two were one OR condition)."""
    from ep.models import AuditEvent

    agent = Account.get(Account.username == "caisse.demo")
    text = plan(AuditEvent.page_ids(agent))
    assert "audit_event_caisse_id_at_id" in text, text
    if db.is_sqlite():
        assert "TEMP B-TREE" not in text, text
        assert "MERGE" in text, text


def test_the_structure_s_journal_reads_its_index_in_order(ids):
    from ep.models import AuditEvent

    gestionnaire = Account.get(Account.username == "gestionnaire.demo")
    text = plan(AuditEvent.page_ids(gestionnaire))
    assert "audit_event_partner_id_at_id" in text, text
    assert "TEMP B-TREE" not in text, text


def test_a_structure_s_accounts_by_profile_are_counted_from_an_index(ids):
    """Quotas and the dashboard count a structure's accounts per profile (issue 11: the
    dashboard read them through the state index, 5 ms for 25 structures)."""
    query = (
        Account.select(Account.partner, Account.profile, peewee.fn.COUNT(Account.id))
        .where(Account.partner.in_([ids["partner"]]) & Account.state.in_(("invited", "active")))
        .group_by(Account.partner, Account.profile)
    )
    text = plan(query)
    assert "account_partner_id_profile_state" in text, text


def test_the_dashboard_s_counters_read_the_open_requests_index_and_the_agent_s_markers(ids):
    """The four counters of the caisse's home: the open requests' index (not the status
    index, which SQLite preferred and which sends it to the table 12,000 times), and the
    agent's own read markers first (issue 11: 28 ms at 1,000,000 requests)."""
    agent = Account.get(Account.username == "caisse.demo")
    plans = []
    original = peewee.Database.execute_sql

    def explained(self, sql, params=None, *args, **kwargs):
        if sql.startswith("SELECT"):
            plans.append(plan(_Raw(sql, params)))
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = explained
    try:
        Demande.queue_counts(agent)
    finally:
        peewee.Database.execute_sql = original
    counts, markers = plans
    assert "demande_open_queue" in counts, counts
    if db.is_sqlite():  # the agent's markers drive the join
        assert "demande_read" in markers.split("\n")[0], markers


class _Raw:
    def __init__(self, sql, params):
        self._sql = (sql, params)

    def sql(self):
        return self._sql


def test_the_technicien_s_home_reads_its_two_indexes(ids):
    """The structure's requests waiting for it, and its unread count, each from their
    index (issue 11: both read the structure's whole history, 6 ms each at 1,000,000)."""
    text = plan(Demande.waiting_for_partner(ids["partner"]).limit(10))
    assert "demande_waiting_partner" in text, text
    assert "TEMP B-TREE" not in text, text
    tech = Account.get(Account.username == "technicien.demo")
    news = plan(
        Demande.select(peewee.fn.COUNT(Demande.id)).where(
            (Demande.partner == tech.partner_id) & (Demande.last_caisse_event > 0)
        )
    )
    assert "demande_partner_id_last_caisse_event" in news, news


@pytest.mark.parametrize("status", ["", "closed", "submitted"])
def test_the_queue_of_any_status_reads_its_page_in_order(ids, status):
    """Issue 11: the queue "Clôturées" sorted the caisse's 738,000 closed requests (1.4 s),
    "Tous" its 750,000 requests (200 ms)."""
    agent = Account.get(Account.username == "caisse.demo")
    query = (
        Demande.page_ids(agent, status=status or None)
        .order_by(*Demande.urgent_then_oldest())
        .limit(25)
    )
    text = plan(query)
    expected = "demande_caisse_status_order" if status else "demande_caisse_order"
    assert expected in text, text
    assert "TEMP B-TREE" not in text, text


def test_the_unread_open_requests_stay_on_the_open_requests_index(ids):
    agent = Account.get(Account.username == "caisse.demo")
    query = (
        Demande.page_ids(agent, status="open", unread=True)
        .order_by(*Demande.urgent_then_oldest())
        .limit(25)
    )
    text = plan(query)
    assert "demande_open_queue" in text, text
    assert "TEMP B-TREE" not in text, text


@pytest.mark.parametrize("username", ["caisse.demo", "technicien.demo"])
def test_a_page_s_rows_are_taken_by_their_ids(ids, username):
    """Issue 11: asked for 25 ids within the caisse's scope, SQLite read the caisse's
    requests through a list's index (115 ms at 1,000,000) instead of the primary key."""
    user = Account.get(Account.username == username)
    captured = []
    original = peewee.Database.execute_sql

    def capture(self, sql, params=None, *args, **kwargs):
        captured.append((sql, params))
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = capture
    try:
        Demande.listed_in_order(user, [1, 2, 3])
    finally:
        peewee.Database.execute_sql = original
    text = plan(_Raw(*captured[0]))
    if db.is_sqlite():
        assert "t1 USING INTEGER PRIMARY KEY" in text, text
        assert "demande_caisse" not in text and "demande_partner" not in text, text
    else:
        assert "demande_pkey" in text, text


def test_a_structure_s_active_gestionnaires_use_their_index(ids):
    """Told of every idle inactivation and counted by every quota check: SQLite read all the
    active accounts of the département through the index on the state (issue 11: 0.35 ms
    each, 7,000 times in one nightly run)."""
    for query in (
        Account.active_gestionnaires(ids["partner"]),
        Account.counted_for_quota(ids["partner"], "technicien"),
    ):
        text = plan(query)
        assert "account_partner_id_profile_state" in text, text


def test_the_purge_at_the_end_of_a_convention_reads_the_structure_s_history(ids):
    """Not the caisse's index (all its requests: 100 ms a batch at 1,000,000 requests)."""
    from datetime import datetime

    from ep.models import Convention

    convention = Convention.get(
        (Convention.partner == ids["partner"]) & (Convention.caisse == ids["caisse"])
    )
    for after in (None, (datetime(2026, 1, 1), 5)):
        text = plan(Demande.to_purge(convention, after).limit(20))
        assert "demande_partner_id_created_at_id" in text, text
        assert "TEMP B-TREE" not in text, text


@pytest.mark.parametrize("who", ["caisse", "partner", "both"])
def test_the_figures_read_the_requests_of_the_period_from_an_index(ids, who):
    """Issue 13: a year of a caisse's requests (96,000 of the 1,000,000) without a scan."""
    from datetime import date

    from ep import statistics

    scope = statistics.Scope(
        caisse_id=ids["caisse"] if who != "partner" else None,
        partner_id=ids["partner"] if who != "caisse" else None,
    )
    text = plan(statistics.requests_sent(scope, date(2026, 1, 1), date(2026, 12, 31)))
    expected = {
        "caisse": ["demande_caisse_id_created_at"],
        "partner": ["demande_partner_id_created_at_id"],
        "both": ["demande_caisse_id_created_at", "demande_partner_id_created_at_id"],
    }[who]
    if db.is_sqlite():
        assert any(name in text for name in expected), text
    else:  # on a few rows PostgreSQL's costs tie between the indexes that begin alike
        assert (
            "Seq Scan" not in text
            and "Index Cond: ((caisse_id" in text
            or ("Index Cond: (partner_id" in text)
        ), text
    text = plan(statistics.waiting(scope))
    if not db.is_sqlite():  # the waiting requests' partial index, or the caisse's
        assert "Seq Scan" not in text and "Index" in text, text
    elif who == "caisse":
        assert "demande_caisse_status_order" in text or "demande_open_queue" in text, text
    else:
        assert "demande_waiting_partner" in text or "demande_partner_id" in text, text


# Information of the caisses (issue 12.1): a caisse publishes for years, its partners read.


def test_the_caisse_s_information_is_listed_in_order_from_its_index(ids):
    from ep.models import Publication

    query = Publication.for_caisse(ids["caisse"]).order_by(*Publication.in_order()).limit(25)
    text = plan(query)
    assert "publication_caisse_id_pinned_created_at_id" in text, text
    assert "TEMP B-TREE" not in text, text


def test_a_structure_s_information_is_read_per_caisse_from_the_same_index(ids):
    """Per caisse whose channel is open (a structure has a few); the account's read markers
    joined through their unique index."""
    from ep import publications

    tech = Account.get(Account.username == "technicien.demo")
    text = plan(publications.listed_for(tech).limit(25))
    assert "publication_caisse_id_pinned_created_at_id" in text, text
    assert "publication_read_account_id_publication_id" in text, text
    assert "publication_target_partner_id" in text, text
    unread = plan(
        _captured(lambda: publications.unread_count(tech))[0],
    )
    assert "publication_caisse_id_pinned_created_at_id" in unread, unread


def test_the_structures_that_opened_a_page_of_items_are_read_from_their_index(ids):
    from ep import publications
    from ep.models import Publication

    items = list(Publication.for_caisse(ids["caisse"]))
    assert items
    queries = _captured(lambda: publications.reach(ids["caisse"], items))
    openings = next(q for q in queries if "publication_opening" in q.sql()[0])
    text = plan(openings)
    assert "publication_opening_publication_id_partner_id" in text, text


def _captured(work):
    """The SELECT statements `work` runs, to be explained."""
    captured = []
    original = peewee.Database.execute_sql

    def capture(self, sql, params=None, *args, **kwargs):
        if sql.startswith("SELECT"):
            captured.append(_Raw(sql, params))
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = capture
    try:
        work()
    finally:
        peewee.Database.execute_sql = original
    return captured


# Exchanges (issue 12.2): each part of a list reads its page in order from its index; the
# parts are merged, nothing sorted.


def _exchange_parts(username, **filters):
    from ep import threads
    from ep.models import Thread

    user = Account.get(Account.username == username)
    parts = threads.exchange_parts(user, **filters)
    orders = []
    for part in parts:
        model = part.model
        at = model.last_activity_at if model is Thread else model.updated_at
        orders.append(plan(part.order_by(at.desc(), model.id.desc()).limit(25)))
    return parts, orders


@pytest.mark.parametrize(
    "username, filters, indexes",
    [
        (  # CCAS de Démo works with two caisses, each with its own contact offer (12.3)
            "technicien.demo",
            {},
            [
                "thread_partner_id_last_activity_at_id",
                "demande_offer_id_partner_id_updated_at_id",
                "demande_offer_id_partner_id_updated_at_id",
            ],
        ),
        (
            "technicien.demo",
            {"caisse": "cpam", "unread": True},
            [
                "thread_partner_id_caisse_id_last_activity_at_id",
                "demande_offer_id_partner_id_updated_at_id",
            ],
        ),
        ("gestionnaire.demo", {}, ["thread_partner_id_last_activity_at_id"]),
        ("caisse.demo", {}, ["thread_caisse_id_last_activity_at_id"]),
        (
            "caisse.demo",
            {"partner": "ccas"},
            [
                "thread_partner_id_caisse_id_last_activity_at_id",
                "demande_offer_id_partner_id_updated_at_id",
            ],
        ),
    ],
)
def test_each_list_of_exchanges_reads_its_parts_in_order_from_their_index(
    ids, username, filters, indexes
):
    named = {"cpam": ids["caisse"], "ccas": ids["partner"]}
    filters = {k: named.get(v, v) for k, v in filters.items()}
    _, orders = _exchange_parts(username, **filters)
    assert len(orders) == len(indexes)
    for text, index in zip(orders, indexes, strict=True):
        if db.is_sqlite() or index.startswith("demande_"):
            assert index in text, text
        else:  # on a few rows PostgreSQL's costs tie between the thread's list indexes
            assert re.search(
                r"Index (Only )?Scan (Backward )?using thread_\w+_last_activity_at_id", text
            ), text
        assert "TEMP B-TREE" not in text and "Sort" not in text, text


def test_a_page_of_exchanges_merges_its_parts_without_sorting(ids):
    """The technicien's page: threads and contact requests, merged in order (SQLite's
    MERGE of the ordered parts; PostgreSQL's parts each limited to the page first)."""
    from ep import threads

    tech = Account.get(Account.username == "technicien.demo")
    captured = []
    original = peewee.Database.execute_sql

    def capture(self, sql, params=None, *args, **kwargs):
        captured.append((sql, params))
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = capture
    try:
        threads._page_keys(threads.exchange_parts(tech), 1, 25)
    finally:
        peewee.Database.execute_sql = original
    [union] = [c for c in captured if "UNION ALL" in c[0]]
    text = plan(_Raw(*union))
    assert "thread_partner_id_last_activity_at_id" in text, text
    assert "demande_offer_id_partner_id_updated_at_id" in text, text
    if db.is_sqlite():
        assert "MERGE (UNION ALL)" in text and "TEMP B-TREE" not in text, text


@pytest.mark.parametrize("username", ["technicien.demo", "caisse.demo"])
def test_the_unread_exchanges_of_a_home_are_counted_from_an_index_and_the_markers(ids, username):
    """The threads with news, from an index alone (a caisse's: 69 -> 8 ms at 20,000 threads,
    in-process on a loaded machine), less those read since, from the reader's own markers:
    no look-up per thread."""
    from ep import threads

    user = Account.get(Account.username == username)
    plans = []
    original = peewee.Database.execute_sql

    def explained(self, sql, params=None, *args, **kwargs):
        if sql.startswith("SELECT"):
            plans.append(plan(_Raw(sql, params)))
        return original(self, sql, params, *args, **kwargs)

    peewee.Database.execute_sql = explained
    try:
        threads.unread_count(user)
    finally:
        peewee.Database.execute_sql = original
    news, markers = plans
    if username == "caisse.demo":
        assert "thread_caisse_id_last_partner_message_partner_id" in news, news
    else:
        assert "thread_partner_id" in news, news
    if db.is_sqlite():  # the reader's markers drive the count
        assert "thread_read" in markers.split("\n")[0], markers


# Issue 14.4: the journal's filters, each read in time order from its index; the nightly
# retention rules' batches from theirs (issue 14.1).


def _journal_plans(username, filters):
    from datetime import datetime

    from ep.models import AuditEvent

    user = Account.get(Account.username == username)
    first = plan(AuditEvent.page_ids(user, filters=filters))
    after = plan(AuditEvent.page_ids(user, before=(datetime(2026, 5, 1), 5), filters=filters))
    return first, after


@pytest.mark.parametrize(
    "username, filters, index",
    [
        # By default, without the access traces: the partial indexes of the other events.
        ("caisse.demo", {"reads": False}, "audit_event_caisse_acts"),
        ("gestionnaire.demo", {"reads": False}, "audit_event_partner_acts"),
        ("gestionnaire.demo", {"reads": False, "since": "2026-01-01"}, "audit_event_partner_acts"),
        # One action.
        ("caisse.demo", {"action": "login"}, "audit_event_caisse_id_action_at_id"),
        ("gestionnaire.demo", {"action": "login"}, "audit_event_partner_id_action_at_id"),
        # An account, as author and as the account concerned; the scope only filters.
        # (an agent's 600,000 reads skipped through took 1 s: its other events' own index)
        ("caisse.demo", {"account": 3, "reads": False}, "audit_event_actor_acts"),
        ("gestionnaire.demo", {"account": 3}, "audit_event_actor_id_at_id"),
        ("gestionnaire.demo", {"account": 3, "action": "login"}, "audit_event_actor_acts"),
        ("caisse.demo", {"account": 3, "action": "demande_viewed"}, "audit_event_actor_id_at_id"),
        # A request.
        ("caisse.demo", {"demande": 3}, "audit_event_demande_id_at_id"),
        ("gestionnaire.demo", {"demande": 3, "reads": False}, "audit_event_demande_id_at_id"),
    ],
)
def test_each_filter_of_the_journal_reads_its_index_in_order(ids, username, filters, index):
    from datetime import datetime

    from ep.models import JournalFilters

    if "since" in filters:
        filters = {**filters, "since": datetime.fromisoformat(filters["since"])}
    for text in _journal_plans(username, JournalFilters(**filters)):
        if db.is_sqlite() or "action" not in filters or "account" in filters:
            assert index in text, text
        else:  # on a few rows PostgreSQL may take the smaller partial index of the caisse's
            assert index.rsplit("_id_", 1)[0] in text, text
        if db.is_sqlite():
            assert "TEMP B-TREE" not in text, text
        if "account" in filters:  # as author, and as the account concerned
            assert "audit_event_account_id_at_id" in text and "audit_event_actor" in text


def test_the_retention_purge_reads_the_closed_requests_by_closing_time(ids):
    """The first night at 1,000,000 requests purges half a million of them: each batch
    takes the next ones from the partial index, never the caisse's history."""
    from datetime import datetime

    from ep import retention

    for after in (None, (datetime(2025, 1, 1), 5)):
        text = plan(retention.closed_to_purge(datetime(2026, 1, 1), after).limit(20))
        assert "demande_retention" in text, text
        assert "TEMP B-TREE" not in text, text


def test_the_journal_purge_reads_each_caisse_s_old_traces_of_one_action(ids):
    from datetime import datetime

    from ep import retention

    for caisse in (ids["caisse"], None):
        for after in (None, (datetime(2025, 1, 1), 5)):
            query = retention.old_traces(caisse, "demande_viewed", datetime(2026, 1, 1), after)
            text = plan(query.limit(100))
            if db.is_sqlite() or caisse is not None:
                assert "audit_event_caisse_id_action_at_id" in text, text
            else:  # on a few rows PostgreSQL may prefer the time index for "no caisse"
                assert "Index" in text and "Seq Scan" not in text, text
            if db.is_sqlite():
                assert "TEMP B-TREE" not in text, text


def test_the_requests_waiting_for_a_structure_are_read_from_their_partial_index(ids):
    """The notices and closings of the unanswered requests read the waiting requests only
    (4,000 at 1,000,000 requests), not the history."""
    from datetime import datetime

    from ep import retention
    from ep.models import pinned

    query = pinned(
        Demande.select().where(retention.WAITING & (Demande.updated_at < datetime(2026, 1, 1))),
        "demande_waiting_partner",
    )
    text = plan(query.where(Demande.id > 3).order_by(Demande.id).limit(10))
    assert "demande_waiting_partner" in text, text


# Each caisse's catalogue (issue 12.3)


def test_the_labels_in_force_on_a_page_read_their_indexes(ids):
    """The labels of a page's offers and motifs: the current ones by their keys, the former
    ones from their (offer or motif, until) index, never a table scan."""
    from datetime import datetime

    query = Demande.labels_query([1, 2], [3, 4], datetime(2026, 1, 1))
    text = plan(query)
    assert "offer_label_offer_id_until" in text, text
    assert "motif_label_motif_id_until" in text, text
    if db.is_sqlite():
        assert "SCAN" not in text.replace("SCAN CONSTANT ROW", ""), text
    else:
        assert "offer_pkey" in text and "motif_pkey" in text, text


def test_a_caisse_s_catalogue_reads_its_index(ids):
    from ep import catalogue
    from ep.models import Offer

    text = plan(Offer.select().where(Offer.caisse == ids["caisse"]))
    assert "offer_caisse_id_code" in text, text
    catalogue.offers_of(ids["caisse"])  # runs
    text = plan(Motif.select().where(Motif.offer.in_([1, 2])).order_by(Motif.position))
    assert "motif_offer_id" in text, text


def test_the_motifs_open_on_a_convention_read_their_indexes(ids):
    """The request form's choices: the convention's activated offers, their proposed
    motifs, less those switched off for it."""
    from ep.models import Convention

    convention = Convention.get(
        (Convention.partner == ids["partner"]) & (Convention.caisse == ids["caisse"])
    )
    text = plan(convention.active_motifs())
    assert "convention_offer_convention_id" in text, text
    assert "convention_motif_off_convention_id_motif_id" in text, text
    assert "motif_offer_id" in text, text


def test_the_caisse_s_list_filtered_by_offer_finds_the_offer_by_its_index(ids):
    agent = Account.get(Account.username == "caisse.demo")
    text = plan(Demande.page_ids(agent, offer="document"))
    assert "offer_caisse_id_code" in text, text


# The persons' rights (issue 14.2)


@pytest.mark.parametrize("username", ["caisse.demo", "gestionnaire.demo"])
def test_a_referent_finds_a_person_from_the_index_of_the_persons(ids, username):
    """A person's requests by date of birth then folded name, whatever the référent's
    scope: not the caisse's or the structure's whole history (1,000,000 requests)."""
    from datetime import date

    from ep import rgpd

    user = Account.get(Account.username == username)
    text = plan(rgpd.person_query(user, "Cœurdelion", "Hélène", date(1957, 3, 14)))
    assert "demande_person" in text, text


def test_the_limited_requests_are_read_from_their_partial_index(ids):
    from ep import rgpd

    agent = Account.get(Account.username == "caisse.demo")
    query = Demande.select().where(Demande.limited_at.is_null(False) & rgpd.scope(agent))
    text = plan(query.order_by(Demande.limited_at, Demande.id))
    assert "demande_limited" in text, text
