"""What every request pays (issue 11): server CPU per request, user and system time apart.

    python bench/request_cost.py INSTANCE [-n 2000] [--clients 4] [--path /aide]

Starts `ep serve` on INSTANCE (a copy of a generated set: requests may write), logs
technicien.demo in, then sends N GET requests for PATH from CLIENTS keep-alive clients, and
prints the server's CPU per request from /proc (utime and stime), and the wall time per
request seen by the clients. Indicative: other processes share the machine.
"""

import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

PASSWORD = os.environ.get("EP_DEMO_PASSWORD", "mot de passe du banc 2026")
EP = str(Path(sys.executable).with_name("ep"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive connection with its cookie."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = ""

    def request(self, method, path, form=None):
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return response.status, data.decode("utf-8", "replace")

    def token(self, path):
        _, page = self.request("GET", path)
        return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)

    def login(self, username):
        token = self.token("/login")
        self.request(
            "POST", "/login", {"csrf_token": token, "username": username, "password": PASSWORD}
        )
        status, page = self.request("GET", "/cgu")
        if status == 200 and "accept" in page:
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            self.request("POST", "/cgu?next=/", {"csrf_token": token, "accept": "y"})


def cpu(pid):
    """(user, system) seconds of the process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instance")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--path", default="/aide")
    parser.add_argument("--user", default="technicien.demo")
    args = parser.parse_args(argv)

    port = free_port()
    env = {**os.environ, "EP_INSTANCE_PATH": os.path.abspath(args.instance)}
    server = subprocess.Popen(
        [EP, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(15)  # the nightly rules run at start (seconds at 1,000,000 requests)
        clients = [Client(port) for _ in range(args.clients)]
        for c in clients:
            c.login(args.user)
            c.request("GET", args.path)  # warm
        per_client = args.n // args.clients
        errors = []

        def work(c):
            for _ in range(per_client):
                status, _ = c.request("GET", args.path)
                if status != 200:
                    errors.append(status)

        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        user0, sys0 = cpu(server.pid)
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        user1, sys1 = cpu(server.pid)
        n = per_client * args.clients
        print(f"{n} GET {args.path}, {args.clients} clients, errors: {len(errors)}")
        print(
            f"server CPU per request: {(user1 - user0 + sys1 - sys0) / n * 1000:.2f} ms "
            f"(user {(user1 - user0) / n * 1000:.2f}, system {(sys1 - sys0) / n * 1000:.2f}); "
            f"{n / wall:.0f} requests/s"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
