"""Profile the submission of the new-request form, in process (issue 11).

    python bench/submit.py INSTANCE [-n 200] [--profile] [--sql]

INSTANCE is a folder holding an `ep.sqlite3` made by bench/generate.py: work on a copy, the
submissions are stored. Logs technicien.demo in, posts the form N times (a different assuré
each time, so that the duplicate check finds nothing), and prints the SQL statements and the
server CPU per submission; `--profile` adds the cProfile summary, `--sql` one submission's
statements.
"""

import argparse
import cProfile
import logging
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PASSWORD = os.environ.get("EP_DEMO_PASSWORD", "mot de passe du banc 2026")


class Counter(logging.Handler):
    """Counts (and keeps) the statements peewee runs."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.statements = []

    def emit(self, record):
        msg = record.msg
        self.statements.append(msg[0] if isinstance(msg, tuple) else str(msg))


def login(client, username):
    client.post("/login", data={"username": username, "password": PASSWORD})
    client.post("/cgu?next=/", data={"accept": "y"})


def letters(n):
    """A name made of letters only (a name holds no digit)."""
    out = ""
    for _ in range(7):
        n, r = divmod(n, 26)
        out += chr(ord("a") + r)
    return out


def form_data(i, caisse_id):
    return {
        "caisse": str(caisse_id),
        "offer": "rendez_vous",
        "motif": "c2s",
        "civilite": "Mme",
        "nom": "Banc" + letters(i),
        "prenom": "Soumission",
        "date_naissance": "1970-01-01",
        "departement": "68",
        "informed": "y",
        "commentaire": "Rendez-vous demandé pour étudier le dossier avec la personne.",
    }


def _errors(response):
    import re

    text = response.get_data(as_text=True)
    found = re.findall(r'class="(?:error|field-error|errors)[^"]*"[^>]*>(.*?)<', text, re.S)
    return response.status_code, found or text[:3000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sql", action="store_true")
    args = parser.parse_args(argv)

    from ep import create_app
    from ep.models import Caisse, Offer

    app = create_app(
        {"EP_INSTANCE_PATH": os.path.abspath(args.instance), "WTF_CSRF_ENABLED": False}
    )
    client = app.test_client()
    login(client, "technicien.demo")
    with app.app_context():
        caisse_id = Caisse.get(Caisse.name == "CPAM de Démo").id
        assert Offer.of(caisse_id, "rendez_vous"), "catalogue codes changed"
    stamp = int(time.time()) % 100000 * 1000

    counter = Counter()
    peewee_log = logging.getLogger("peewee")
    peewee_log.addHandler(counter)
    peewee_log.setLevel(logging.DEBUG)

    def post(i):
        response = client.post("/demandes/new", data=form_data(stamp + i, caisse_id))
        assert response.status_code == 303, _errors(response)

    def forget_flashes():
        # A browser reads the message on the page it is sent to; here it would pile up in
        # the session cookie, which every request then reads and writes again.
        with client.session_transaction() as session:
            session.pop("_flashes", None)

    post(0)  # warm: templates, caches
    forget_flashes()
    counter.statements.clear()
    post(1)
    forget_flashes()
    one = list(counter.statements)
    counter.statements.clear()

    profiler = cProfile.Profile() if args.profile else None
    cpu = wall = 0.0
    for i in range(2, args.n + 2):
        if profiler:
            profiler.enable()
        c0, w0 = time.process_time(), time.perf_counter()
        post(i)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        if profiler:
            profiler.disable()
        n = len(counter.statements)
        forget_flashes()
        del counter.statements[n:]
    peewee_log.removeHandler(counter)

    print(f"submissions: {args.n}")
    print(f"SQL statements per submission: {len(counter.statements) / args.n:.1f}")
    print(f"CPU per submission: {cpu / args.n * 1000:.2f} ms (wall {wall / args.n * 1000:.2f} ms)")
    if args.sql:
        for statement in one:
            print("  ", statement[:220])
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
