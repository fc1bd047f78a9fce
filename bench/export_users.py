"""Benchmark: user-list export of tens of thousands of accounts, through the real server.

Builds a database of PARTNERS partners with ACCOUNTS accounts in a temporary folder, starts
`ep serve`, then measures for the CSV and XLSX exports: time to the first byte, total time,
size, and the server's peak memory (VmHWM). Also times the gestionnaire's account list and
the caisse's request queue. Run: `python bench/export_users.py [accounts]`.
"""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ACCOUNTS = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
PARTNERS = 400
PASSWORD = "mot de passe du banc 2026"
EP = str(Path(sys.executable).with_name("ep"))


def build(instance):
    os.environ["EP_INSTANCE_PATH"] = str(instance)
    from ep import create_app, db, demo
    from ep.models import Account, Convention, ConventionOffer, Demande, Motif, Offer, Partner

    app = create_app()
    with app.test_request_context():
        db.upgrade()
        demo.load(PASSWORD)
        cpam = Convention.select().first().caisse
        offers = list(Offer.select().where(Offer.caisse == cpam).order_by(Offer.position))
        motif = Motif.select().where(Motif.offer == offers[1]).first()
        now = datetime.now()
        with db.database.atomic():
            partners = []
            for i in range(PARTNERS):
                p = Partner.create(name=f"Structure {i:04d}", headcount=40)
                c = Convention.create(
                    partner=p, caisse=cpam, signed_on=now.date(), starts_on=now.date()
                )
                ConventionOffer.insert_many(
                    [{"convention": c, "offer": o} for o in offers]
                ).execute()
                partners.append(p)
            rows = []
            for n in range(ACCOUNTS):
                p = partners[n % PARTNERS]
                rows.append(
                    {
                        "username": f"u{n:06d}",
                        "profile": "technicien" if n % 7 else "gestionnaire",
                        "partner": p.id,
                        "civilite": "Mme",
                        "nom": f"Nom{n}",
                        "prenom": "Prénom",
                        "fonction": "Agent",
                        # stored in one form (E.164) as the app stores it, one per person
                        "telephone": f"+333890{n:05d}",
                        "email": f"u{n}@example.org",
                        "state": ("active", "invited", "inactive")[n % 3],
                        "created_at": now - timedelta(days=n % 400),
                        "search_key": f"prenom nom{n} u{n:06d}",
                    }
                )
                if len(rows) == 5000:
                    Account.insert_many(rows).execute()
                    rows = []
            if rows:
                Account.insert_many(rows).execute()
            author = Account.get(Account.username == "technicien.demo")
            demandes = [
                {
                    "partner": author.partner_id,
                    "caisse": cpam,
                    "author": author.id,
                    "offer": offers[1].id,
                    "motif": motif.id,
                    "assure_nom": f"Assure{n}",
                    "assure_prenom": "Test",
                    "assure_civilite": "M.",
                    "assure_departement": "75",
                    "assure_search": f"assure{n} test",
                    "commentaire": "Demande de banc d'essai.",
                    "urgent": n % 10 == 0,
                    "created_at": now - timedelta(hours=n),
                }
                for n in range(10000)
            ]
            for i in range(0, len(demandes), 2000):
                Demande.insert_many(demandes[i : i + 2000]).execute()
    db.database.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def login(base, username):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page)
    token = token or re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    data = urllib.parse.urlencode(
        {"csrf_token": token.group(1), "username": username, "password": PASSWORD}
    ).encode()
    opener.open(base + "/login", data)
    page = opener.open(base + "/cgu").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    opener.open(
        base + "/cgu", urllib.parse.urlencode({"csrf_token": token, "accept": "y"}).encode()
    )
    return opener


def timed(opener, url):
    start = time.perf_counter()
    response = opener.open(url)
    first = response.read(1)
    ttfb = time.perf_counter() - start
    size = len(first)
    while chunk := response.read(65536):
        size += len(chunk)
    return ttfb, time.perf_counter() - start, size


def peak_rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        t0 = time.perf_counter()
        build(instance)
        print(
            f"database: {ACCOUNTS} accounts, {PARTNERS} partners, 10000 requests "
            f"(built in {time.perf_counter() - t0:.1f} s)"
        )
        port = free_port()
        env = {**os.environ, "EP_INSTANCE_PATH": str(instance)}
        server = subprocess.Popen(
            [EP, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(tmp) / "server.log", "w"),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            # `ep serve` applies the nightly rules at start: a login that waits on them says
            # how long the write lock was held (issue 11: no request waits on them).
            start, failed, caisse = time.perf_counter(), 0, None
            while caisse is None and failed < 60:
                try:
                    caisse = login(base, "caisse.demo")
                except urllib.error.HTTPError:
                    failed += 1
                    time.sleep(1)
            print(
                f"first login succeeded after {time.perf_counter() - start:.1f} s "
                f"({failed} failed attempts while the nightly rules ran)"
            )
            print(f"server memory after start and login: {peak_rss_mb(server.pid):.0f} MiB")
            for fmt in ("csv", "xlsx"):
                ttfb, total, size = timed(caisse, f"{base}/caisse/export/utilisateurs.{fmt}")
                print(
                    f"export {fmt}: first byte {ttfb * 1000:.0f} ms, total {total:.2f} s, "
                    f"{size / 1e6:.1f} MB, server peak memory {peak_rss_mb(server.pid):.0f} MiB"
                )
            for label, url in (
                ("caisse queue (10 000 requests), page 1", "/demandes/queue"),
                ("caisse dashboard (402 partners)", "/"),
            ):
                samples = sorted(timed(caisse, base + url)[1] for _ in range(5))
                print(f"{label}: median {samples[2] * 1000:.0f} ms")
            gest = login(base, "gestionnaire.demo")
            samples = sorted(timed(gest, base + "/accounts/?q=theo")[1] for _ in range(5))
            print(f"gestionnaire account search: median {samples[2] * 1000:.0f} ms")
        finally:
            server.terminate()
            server.wait(timeout=10)
            errors = (Path(tmp) / "server.log").read_text()
            if "Traceback" in errors:
                print(errors[-3000:])


if __name__ == "__main__":
    main()
