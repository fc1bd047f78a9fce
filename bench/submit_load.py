"""Many clients submitting requests at once through `ep serve` (issue 11), indicative.

    python bench/submit_load.py INSTANCE [--clients 50] [--seconds 30]

INSTANCE: a copy of a generated set (the submissions are stored). Starts `ep serve`, logs
CLIENTS keep-alive clients in as technicien.demo, then each submits the new-request form in a
loop for SECONDS. Prints submissions/s, latency percentiles, the server's CPU per submission
(user and system), errors, and checks that every acknowledged submission (303) is stored
exactly once. The clients run in this process and share the machine's cores with the server.
"""

import argparse
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from request_cost import EP, Client, cpu, free_port  # noqa: E402
from submit import letters  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=8, help="ep serve --threads")
    args = parser.parse_args(argv)

    instance = os.path.abspath(args.instance)
    database = sqlite3.connect(os.path.join(instance, "ep.sqlite3"))
    caisse_id = database.execute("SELECT id FROM caisse WHERE name = 'CPAM de Démo'").fetchone()[0]
    first_id = database.execute("SELECT MAX(id) FROM demande").fetchone()[0]
    database.close()

    port = free_port()
    env = {**os.environ, "EP_INSTANCE_PATH": instance}
    import subprocess

    server = subprocess.Popen(
        [EP, "serve", "--port", str(port), "--threads", str(args.threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    answers, errors = [], []
    try:
        import http.client

        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(15)  # the nightly rules run at start
        clients = [Client(port) for _ in range(args.clients)]
        for c in clients:
            c.login("technicien.demo")
        tokens = [c.token("/demandes/new") for c in clients]
        stamp = int(time.time()) % 100000 * 10000
        stop = threading.Event()

        def work(n, c, token):
            i = 0
            while not stop.is_set():
                i += 1
                name = "Charge" + letters(stamp + n * 100000 + i)
                form = {
                    "csrf_token": token,
                    "caisse": str(caisse_id),
                    "offer": "rendez_vous",
                    "motif": "c2s",
                    "civilite": "M.",
                    "nom": name,
                    "prenom": "Client",
                    "date_naissance": "1975-05-05",
                    "departement": "68",
                    "informed": "y",
                    "commentaire": "Rendez-vous demandé pour étudier le dossier.",
                }
                start = time.perf_counter()
                try:
                    status, _ = c.request("POST", "/demandes/new", form)
                except OSError as exc:
                    errors.append(repr(exc))
                    continue
                took = time.perf_counter() - start
                if status == 303:
                    answers.append((name, took))
                else:
                    errors.append(status)

        threads = [
            threading.Thread(target=work, args=(n, c, t))
            for n, (c, t) in enumerate(zip(clients, tokens, strict=True))
        ]
        user0, sys0 = cpu(server.pid)
        own = time.process_time()
        start = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        own = time.process_time() - own
        user1, sys1 = cpu(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    n = len(answers)
    took = sorted(t for _, t in answers)
    database = sqlite3.connect(os.path.join(instance, "ep.sqlite3"))
    stored = dict(
        database.execute(
            "SELECT assure_nom, COUNT(*) FROM demande WHERE id > ? GROUP BY assure_nom",
            (first_id,),
        ).fetchall()
    )
    database.close()
    lost = [name for name, _ in answers if stored.get(name) != 1]
    print(f"{args.clients} clients, {wall:.0f} s: {n} submissions acknowledged, {n / wall:.0f}/s")
    if took:
        pct = {p: took[min(n - 1, int(n * p / 100))] * 1000 for p in (50, 95, 99)}
        print(f"latency p50 {pct[50]:.0f} ms, p95 {pct[95]:.0f} ms, p99 {pct[99]:.0f} ms")
        print(
            f"server CPU per submission: {(user1 - user0 + sys1 - sys0) / n * 1000:.1f} ms "
            f"(user {(user1 - user0) / n * 1000:.1f}, system {(sys1 - sys0) / n * 1000:.1f})"
        )
    print(
        f"the clients' own CPU: {own / wall * 100:.0f} % of one core; load {os.getloadavg()[0]:.1f}"
    )
    print(f"errors: {len(errors)} {sorted(set(map(str, errors)))[:5]}")
    print(f"acknowledged but not stored exactly once: {len(lost)}; rows: {sum(stored.values())}")


if __name__ == "__main__":
    main()
