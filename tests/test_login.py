from datetime import timedelta

import pytest

from ep import login
from ep.models import Account, Convention, LoginFailure, Partner, now
from ep.rules import RuleError

from .conftest import PASSWORD, account


def post_login(client, username, password, **kw):
    return client.post("/login", data={"username": username, "password": password}, **kw)


def test_login_with_username_and_password(client):
    response = post_login(client, "technicien.demo", PASSWORD)
    assert response.status_code == 303
    page = client.get("/").get_data(as_text=True)
    assert "Théo Exemple" in page and "Technicien" in page
    assert account("technicien.demo").last_login_at is not None


@pytest.mark.parametrize("username", ["technicien.demo", "personne.inconnue"])
def test_same_message_whether_or_not_the_username_exists(client, username):
    response = post_login(client, username, "mauvais mot de passe")
    assert response.status_code == 200
    assert "Identifiant ou mot de passe incorrect." in response.get_data(as_text=True)


def test_inactive_account_cannot_log_in(client):
    Account.update(state="inactive").where(Account.username == "technicien.demo").execute()
    response = post_login(client, "technicien.demo", PASSWORD)
    assert response.status_code == 200  # not logged in: told why (issue 10.4)
    assert "Votre compte est inactif" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_cut_off_partner_cannot_log_in_and_loses_its_sessions(client, login_as):
    login_as("technicien.demo")
    assert client.get("/").status_code == 200
    Convention.update(cut_off_at=now()).where(
        Convention.partner == Partner.get(Partner.name == "CCAS de Démo")
    ).execute()
    assert client.get("/").status_code == 302
    response = post_login(client, "technicien.demo", PASSWORD)
    assert "structure coupée par CPAM de Démo, CARSAT de Démo" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_delay_grows_after_five_failures_then_lets_the_right_password_in(ctx):
    t0 = now()
    for i in range(5):
        with pytest.raises(RuleError, match="incorrect"):
            login.authenticate("technicien.demo", "non", "10.0.0.1", at=t0 + timedelta(seconds=i))
    # Even the right password is refused while the delay runs, with the same message for all.
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("technicien.demo", PASSWORD, "10.0.0.1", at=t0 + timedelta(seconds=30))
    assert login.authenticate("technicien.demo", PASSWORD, "10.0.0.1", at=t0 + timedelta(minutes=2))


def test_delay_doubles_with_each_further_failure(ctx):
    t = now()
    for i in range(7):
        LoginFailure.create(key="user:x", at=t - timedelta(seconds=10 - i))
    # 7 failures, 5 free: the 3rd step waits 4 minutes after the last failure.
    assert 200 < login.wait_seconds("user:x", 1, t) <= 240


def test_blocked_for_the_day_after_25_failures(ctx):
    t = now() - timedelta(hours=20)
    key = login.account_key(account("technicien.demo"))
    for i in range(25):
        LoginFailure.create(key=key, at=t + timedelta(minutes=i * 30))
    later = t + timedelta(hours=23)
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("technicien.demo", PASSWORD, "10.0.0.9", at=later)
    assert login.authenticate(
        "technicien.demo", PASSWORD, "10.0.0.9", at=t + timedelta(days=1, minutes=31)
    )


def test_unknown_usernames_are_throttled_like_real_ones(ctx):
    t0 = now()
    for i in range(5):
        with pytest.raises(RuleError, match="incorrect"):
            login.authenticate("fantome", "non", "10.0.0.2", at=t0 + timedelta(seconds=i))
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("fantome", "non", "10.0.0.2", at=t0 + timedelta(seconds=20))


def test_one_client_address_is_throttled_across_usernames(ctx):
    t0 = now()
    for i in range(3):
        with pytest.raises(RuleError, match="incorrect"):
            login.authenticate(f"nom{i}", "non", "10.0.0.3", at=t0 + timedelta(seconds=i))
    free = ctx.config["EP_LOGIN_FREE_FAILURES"] * ctx.config["EP_LOGIN_IP_FACTOR"]
    for i in range(free - 3):
        LoginFailure.create(key="ip:10.0.0.3", at=t0 + timedelta(seconds=i))
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("technicien.demo", PASSWORD, "10.0.0.3", at=t0 + timedelta(seconds=25))
    # Another address is not affected.
    assert login.authenticate(
        "technicien.demo", PASSWORD, "10.0.0.4", at=t0 + timedelta(seconds=25)
    )


def test_logout_is_a_post_and_ends_every_session_of_the_account(app):
    first, second = app.test_client(), app.test_client()
    post_login(first, "gestionnaire.demo", PASSWORD)
    post_login(second, "gestionnaire.demo", PASSWORD)
    assert second.get("/").status_code == 200
    assert first.get("/logout").status_code == 405
    assert first.post("/logout").status_code == 303
    assert second.get("/").status_code == 302  # the copied cookie no longer works


def test_idle_session_expires(client):
    post_login(client, "gestionnaire.demo", PASSWORD)
    with client.session_transaction() as session:
        session["seen"] -= 31 * 60
    response = client.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_session_cookie_flags(client):
    response = post_login(client, "gestionnaire.demo", PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_behind_https(tmp_path):
    from .conftest import make_app

    app = make_app(tmp_path, EP_BASE_URL="https://ep.example.org")
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_login_never_redirects_to_another_site(client):
    response = client.post(
        "/login?next=//evil.example.org/x",
        data={"username": "gestionnaire.demo", "password": PASSWORD},
    )
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/%0d%0aSet-Cookie:x=1", "/%0aX", "/a%0d", "/%09x", "/%7f"])
def test_a_next_with_control_characters_is_ignored(client, login_as, target):
    assert client.get(f"/login?next={target}").status_code == 200
    response = client.post(
        f"/login?next={target}", data={"username": "gestionnaire.demo", "password": PASSWORD}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/"
    user = login_as("gestionnaire.demo")
    Account.update(cgu_version="ancienne").where(Account.id == user.id).execute()
    assert client.get(f"/cgu?next={target}").status_code == 200
    response = client.post(f"/cgu?next={target}", data={"accept": "y"})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_an_expired_session_keeps_an_odd_address_harmlessly(client):
    response = client.get("/accounts/?q=%0d%0a", headers={"HX-Request": "true"})
    assert response.status_code == 401
    location = response.headers["HX-Redirect"]
    assert "\r" not in location and "%250d" in location


def test_responses_carry_a_strict_csp(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_shared_address_can_get_more_room(ctx, app):
    app.config["EP_LOGIN_IP_FACTOR"] = 4
    t0 = now()
    for i in range(20):
        with pytest.raises(RuleError, match="incorrect"):
            login.authenticate(f"nom{i}", "non", "10.0.0.8", at=t0 + timedelta(seconds=i))
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("autre", "non", "10.0.0.8", at=t0 + timedelta(seconds=25))


def test_an_expired_session_sends_htmx_fragments_to_the_login_page(client):
    response = client.get("/accounts/?q=x", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")
    boosted = client.get("/accounts/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 302  # a whole-page navigation just goes to the login page


# Issue 9.4 ------------------------------------------------------------------------------


def test_unknown_names_from_one_address_do_not_lock_out_the_colleagues_behind_it(ctx):
    """A CCAS behind NAT (or the HTTPS proxy) is one address: a few typos on unknown names
    must not lock everybody out."""
    t0 = now()
    for i in range(12):
        with pytest.raises(RuleError, match="incorrect"):
            login.authenticate(f"inconnu{i}", "non", "10.0.0.9", at=t0 + timedelta(seconds=i))
    assert login.authenticate(
        "technicien.demo", PASSWORD, "10.0.0.9", at=t0 + timedelta(seconds=20)
    )


def test_the_address_limit_still_brakes_password_spraying(ctx):
    t0 = now()
    free = ctx.config["EP_LOGIN_FREE_FAILURES"] * ctx.config["EP_LOGIN_IP_FACTOR"]
    for i in range(free):
        LoginFailure.create(key="ip:10.0.0.8", at=t0 + timedelta(seconds=i))
    with pytest.raises(RuleError, match="Trop de tentatives"):
        login.authenticate("technicien.demo", PASSWORD, "10.0.0.8", at=t0 + timedelta(seconds=60))


@pytest.mark.parametrize("proxies, expected", [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_client_address_behind_trusted_proxies(tmp_path, proxies, expected):
    from ep import demo
    from ep.models import AuditEvent

    from .conftest import make_app

    app = make_app(tmp_path, EP_TRUSTED_PROXIES=proxies)
    with app.test_request_context():
        demo.load(PASSWORD)
    client = app.test_client()
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    post_login(client, "technicien.demo", "non", headers=headers)
    post_login(client, "technicien.demo", PASSWORD, headers=headers)
    event = AuditEvent.select().where(AuditEvent.action == "login").get()
    assert event.ip == expected
    keys = {f.key for f in LoginFailure.select()}
    assert f"ip:{expected}" in keys


def test_simultaneous_wrong_passwords_are_counted_atomically(app):
    """30 wrong passwords at once: exactly the free ones are checked, the rest wait."""
    import threading

    from ep.db import database

    barrier = threading.Barrier(30)
    results = []

    def attempt():
        with app.app_context():
            barrier.wait()
            try:
                login.authenticate("technicien.demo", "mauvais", "10.0.1.1")
            except RuleError as exc:
                results.append("checked" if "incorrect" in exc.message else "waits")
            finally:
                database.close()

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("checked") == app.config["EP_LOGIN_FREE_FAILURES"]
    assert results.count("waits") == 30 - app.config["EP_LOGIN_FREE_FAILURES"]


def test_a_password_reset_lifts_the_account_lock(client, outbox):
    from .conftest import link_in

    for _ in range(6):
        post_login(client, "technicien.demo", "mauvais")
    assert "Trop de tentatives" in post_login(client, "technicien.demo", PASSWORD).get_data(
        as_text=True
    )
    client.post("/forgot", data={"username": "technicien.demo"})
    link = link_in(outbox()[-1])
    new = "un tout nouveau mot de passe 2026"
    client.post(link, data={"password": new, "password_confirm": new})
    assert post_login(client, "technicien.demo", new).status_code == 303


def test_changing_the_password_is_throttled_like_the_login(client, login_as):
    login_as("technicien.demo")
    form = {
        "password": "un tout nouveau mot de passe",
        "password_confirm": "un tout nouveau mot de passe",
    }
    for _ in range(5):
        page = client.post("/password", data=dict(form, current_password="mauvais"))
        assert "incorrect" in page.get_data(as_text=True)
    page = client.post("/password", data=dict(form, current_password=PASSWORD))
    assert "Trop de tentatives" in page.get_data(as_text=True)
    assert account("technicien.demo").password_hash  # unchanged
    from ep import passwords

    assert passwords.verify(account("technicien.demo").password_hash, PASSWORD)


def test_a_name_typed_at_login_or_reset_is_never_stored(client):
    """Issue 9.2: a NIR typed as a login name ended up in the failure table."""
    nir = "185057800608491"
    for name in (nir, "NIR" + nir, "personne.inconnue"):
        post_login(client, name, "non")
        client.post("/forgot", data={"username": name})
    stored = " ".join(f.key for f in LoginFailure.select())
    assert stored and "1850578" not in stored and "inconnue" not in stored


# Issue 10.4: the right password on an account that may not log in is answered plainly
# (since when, why, whom to ask) and not counted as a failure; a wrong one learns nothing.


def failures_of(username):
    return LoginFailure.select().where(LoginFailure.key == login.account_key(account(username)))


def test_an_inactivated_technicien_is_told_since_when_why_and_whom_to_ask(client, app):
    from ep import accounts

    with app.test_request_context():
        accounts.deactivate(
            account("gestionnaire.demo"), account("technicien.demo"), "Départ de la structure"
        )
    since = account("technicien.demo").inactivated_at.strftime("%d/%m/%Y")
    response = post_login(client, "technicien.demo", PASSWORD)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Identifiant ou mot de passe incorrect." not in page
    assert "Votre compte est inactif" in page and f"depuis le {since}" in page
    assert "Départ de la structure" in page
    assert "Gaëlle Exemple" in page  # the structure's active gestionnaire
    assert failures_of("technicien.demo").count() == 0  # not counted as a failure


def test_a_wrong_password_on_an_inactive_account_learns_nothing(client, app):
    from ep import accounts

    with app.test_request_context():
        accounts.deactivate(
            account("gestionnaire.demo"), account("technicien.demo"), "Départ de la structure"
        )
    page = post_login(client, "technicien.demo", "mauvais mot de passe").get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect." in page
    assert "inactif" not in page and "Départ" not in page and "Gaëlle" not in page
    assert failures_of("technicien.demo").count() == 1


def test_an_idle_inactivated_technicien_is_told_it_was_unused(client, app):
    from datetime import date

    from ep import housekeeping

    Account.update(created_at=now() - timedelta(days=100)).where(
        Account.username == "technicien.voisin"
    ).execute()
    with app.app_context():
        housekeeping.run(date.today())
    assert account("technicien.voisin").state == "inactive"
    page = post_login(client, "technicien.voisin", PASSWORD).get_data(as_text=True)
    assert "Votre compte est inactif" in page and "inutilisé depuis 90 jours" in page
    assert "Gérard Voisin-Exemple" in page


def test_a_cut_off_structure_is_named_with_its_caisse(client, app):
    from ep import partners

    voisin = Partner.get(Partner.name == "CCAS Voisin")
    with app.test_request_context():
        partners.cut_off(
            account("caisse.demo"), Convention.get(Convention.partner == voisin), "Fuite"
        )
    page = post_login(client, "technicien.voisin", PASSWORD).get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect." not in page
    assert "structure coupée par CPAM de Démo" in page
    assert f"depuis le {now():%d/%m/%Y}" in page
    assert "Gérard Voisin-Exemple" in page
    assert "Fuite" not in page  # the caisse's own reason stays between it and the structure
    assert failures_of("technicien.voisin").count() == 0


def test_an_inactive_gestionnaire_is_sent_to_the_caisse_contacts(client, app):
    from ep import accounts

    with app.test_request_context():
        accounts.deactivate(
            account("caisse.demo"), account("gestionnaire.voisin"), "Identifiants volés", True
        )
    page = post_login(client, "gestionnaire.voisin", PASSWORD).get_data(as_text=True)
    assert "Votre compte est inactif" in page
    assert "fraude, perte ou vol" in page and "Identifiants volés" not in page
    assert "Service partenaires – CPAM de Démo" in page  # the convention's caisse référent
    assert "partenaires@example.org" in page


def test_a_deleted_account_gets_the_usual_message(client, app):
    Account.update(state="deleted", deleted_at=now()).where(
        Account.username == "technicien.demo"
    ).execute()
    page = post_login(client, "technicien.demo", PASSWORD).get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect." in page and "inactif" not in page


def test_with_no_active_gestionnaire_a_technicien_is_sent_to_the_caisse(ctx):
    from ep.models import Contact

    voisin = Partner.get(Partner.name == "CCAS Voisin")
    Account.update(state="inactive", inactivation_reason="Fin de la convention").where(
        Account.partner == voisin
    ).execute()
    refusal = login.inactive_refusal(account("technicien.voisin"))
    assert refusal.reason == "Fin de la convention" and refusal.since is None
    assert refusal.contacts == [  # the caisse's référent and support (issue 12.4)
        "CPAM de Démo : Service partenaires – CPAM de Démo, Suivi du partenariat, "
        "01 99 00 00 01, partenaires@example.org",
        "CPAM de Démo : Assistance Espace Partenaires, CPAM de Démo, 01 99 00 00 02, "
        "assistance@example.org",
    ]
    Contact.delete().execute()  # no référent recorded: the caisse's name
    assert login.inactive_refusal(account("technicien.voisin")).contacts == ["CPAM de Démo"]
    assert login.inactive_refusal(account("technicien.demo")) is None  # may log in
