"""Optional virus scan through a ClamAV daemon (EP_CLAMAV_URL), here a small stand-in that
speaks clamd's INSTREAM protocol on a local port and flags the EICAR test string."""

import io
import socket
import struct
import threading

import pytest
from werkzeug.datastructures import FileStorage

from ep import demandes
from ep.demo import DEMO_PDF
from ep.models import Demande
from ep.rules import RuleError

from .conftest import account
from .test_demandes import rule_data

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


class FakeClamd(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.scanned = 0

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                command = b""
                while not command.endswith(b"\0"):
                    command += conn.recv(1)
                assert command == b"zINSTREAM\0"
                data = b""
                while True:
                    size = struct.unpack("!L", self._read(conn, 4))[0]
                    if size == 0:
                        break
                    data += self._read(conn, size)
                self.scanned += 1
                if b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data:
                    conn.sendall(b"stream: Eicar-Test-Signature FOUND\0")
                else:
                    conn.sendall(b"stream: OK\0")

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            buf += conn.recv(n - len(buf))
        return buf


@pytest.fixture
def clamd(app):
    server = FakeClamd()
    server.start()
    app.config["EP_CLAMAV_URL"] = f"tcp://127.0.0.1:{server.port}"
    yield server
    server.sock.close()


def pdf_with(payload):
    return FileStorage(io.BytesIO(DEMO_PDF + payload), filename="scan.pdf")


def test_clean_file_passes_the_scan(ctx, clamd):
    d = demandes.submit(account("technicien.demo"), rule_data(), [pdf_with(b"")])
    assert d.attachments.count() == 1 and clamd.scanned == 1


def test_infected_file_is_rejected_and_nothing_saved(ctx, clamd):
    before = Demande.select().count()
    with pytest.raises(RuleError, match="infecté"):
        demandes.submit(account("technicien.demo"), rule_data(), [pdf_with(EICAR)])
    assert Demande.select().count() == before


def test_unreachable_daemon_refuses_rather_than_lets_through(ctx, app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.config["EP_CLAMAV_URL"] = f"tcp://127.0.0.1:{port}"
    with pytest.raises(RuleError, match="anti-virus ne répond pas"):
        demandes.submit(account("technicien.demo"), rule_data(), [pdf_with(b"")])
