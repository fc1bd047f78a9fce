"""The journal's read traces (§5, issue 11): the first read of a request or a document by an
account from an address is traced before the page leaves; a repeat within the window
(EP_READ_TRACE_MINUTES, 10) writes nothing, so that reading costs no write."""

import pytest

from ep import audit, demandes
from ep.demo import DEMO_PDF
from ep.models import AuditEvent

from .conftest import account, make_app
from .test_demandes import rule_data, upload


@pytest.fixture
def demande(app):
    with app.test_request_context():
        d = demandes.submit(account("technicien.demo"), rule_data(), [upload(DEMO_PDF, "a.pdf")])
        return d, d.attachments.get().id


def traces(actor, action):
    return list(
        AuditEvent.select()
        .where((AuditEvent.actor == account(actor)) & (AuditEvent.action == action))
        .order_by(AuditEvent.id)
    )


def test_the_first_read_is_traced_and_a_repeat_within_the_window_writes_nothing(
    client, login_as, demande, writes
):
    d, attachment_id = demande
    login_as("caisse.demo")
    assert client.get(f"/demandes/{d.id}").status_code == 200
    # Committed before the page left: read here, outside the request.
    assert [e.detail for e in traces("caisse.demo", "demande_viewed")] == [f"demande {d.reference}"]
    client.get(f"/demandes/attachments/{attachment_id}").close()
    assert len(traces("caisse.demo", "attachment_downloaded")) == 1
    writes.clear()
    for _ in range(3):
        assert client.get(f"/demandes/{d.id}").status_code == 200
        client.get(f"/demandes/attachments/{attachment_id}").close()
    assert writes == []
    assert len(traces("caisse.demo", "demande_viewed")) == 1
    assert len(traces("caisse.demo", "attachment_downloaded")) == 1


def test_another_reader_another_address_or_another_request_is_traced_again(
    app, client, login_as, demande
):
    d, _ = demande
    with app.test_request_context():
        other = demandes.submit(account("technicien.demo"), rule_data(nom="Autre"), [])
    login_as("caisse.demo")
    client.get(f"/demandes/{d.id}")
    client.get(f"/demandes/{d.id}", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    client.get(f"/demandes/{other.id}")
    seen = [(e.detail, e.ip) for e in traces("caisse.demo", "demande_viewed")]
    assert seen == [
        (f"demande {d.reference}", "127.0.0.1"),
        (f"demande {d.reference}", "10.1.2.3"),
        (f"demande {other.reference}", "127.0.0.1"),
    ]
    login_as("technicien.demo")
    client.get(f"/demandes/{d.id}")
    assert len(traces("technicien.demo", "demande_viewed")) == 1


def test_exports_are_traced_every_time(client, login_as):
    login_as("caisse.demo")
    for _ in range(2):
        client.get("/caisse/export/utilisateurs.csv").close()
    assert len(traces("caisse.demo", "users_exported")) == 2


def test_with_no_window_every_read_is_traced(tmp_path):
    from ep import demo, notices
    from ep.accounts import accept_cgu
    from ep.models import Account

    from .conftest import PASSWORD

    app = make_app(tmp_path, EP_READ_TRACE_MINUTES=0)
    with app.test_request_context():
        demo.load(PASSWORD)
        for user in Account.select():
            accept_cgu(user, app.config["EP_CGU_VERSION"])
        notices.flush()
        d = demandes.submit(account("technicien.demo"), rule_data(), [])
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = account("caisse.demo").get_id()
    for _ in range(3):
        client.get(f"/demandes/{d.id}")
    assert len(traces("caisse.demo", "demande_viewed")) == 3


def test_the_window_counts_from_the_last_trace():
    reads = audit.RecentReads()
    key = (1, "demande_viewed", "demande 000001", "127.0.0.1")
    assert reads.due(key, at=1000.0, window=600)
    reads.traced(key, at=1000.0)
    assert not reads.due(key, at=1599.0, window=600)
    assert reads.due(key, at=1600.0, window=600)
    assert reads.due((2, *key[1:]), at=1001.0, window=600)
    assert reads.due(key, at=1001.0, window=0)


def test_the_memory_of_recent_reads_stays_small():
    reads = audit.RecentReads(limit=100)
    for n in range(1000):
        reads.traced((n, "demande_viewed", "", ""), at=float(n))
    assert len(reads) <= 100
    assert not reads.due((999, "demande_viewed", "", ""), at=999.5, window=600)
