"""Issue 14.2 in the browser: a référent RGPD answers a right of access on the demo data —
finds the person, reads what is held, downloads the ZIP — well under five minutes; the
results page passes axe."""

import io
import time
import zipfile
from pathlib import Path

from .conftest import act, axe, login, settle


def test_a_referent_answers_a_right_of_access_from_search_to_zip(page, console_errors):
    start = time.monotonic()
    login(page, "gestionnaire.demo")
    act(page, "nav >> text=Données personnelles")
    page.fill("#nom", "fictive")  # the demo's Mme Lucie Fictive, typed without care
    page.fill("#prenom", "LUCIE")
    page.fill("#date_naissance", "1961-04-12")
    act(page, "button:has-text('Rechercher')")
    results = page.locator("#resultats")
    assert "1 demande trouvée" in results.inner_text()
    assert "Lucie Fictive" in results.inner_text()
    assert "attestation-demo.pdf" in results.inner_text() or "Documents (1)" in results.inner_text()
    assert axe(page, "results") == []
    with page.expect_download() as info:
        page.click("button:has-text('Exporter')")
    data = Path(info.value.path()).read_bytes()
    elapsed = time.monotonic() - start
    archive = zipfile.ZipFile(io.BytesIO(data))
    summary = archive.read("synthese.html").decode()
    assert "Fictive" in summary and "CPAM de Démo" in summary
    assert any(name.startswith("documents/") for name in archive.namelist())
    # The journey a DPO makes, scripted: seconds; a person reading the page, a minute or two.
    assert elapsed < 60, elapsed
    print(f"right of access, search to ZIP: {elapsed:.1f} s (scripted)")
    settle(page)
    assert console_errors == []
