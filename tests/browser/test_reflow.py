"""RGAA 10.11 (reflow): at 320 CSS px wide, no page scrolls sideways.

The pages are found, not listed: for each profile, every same-site page reachable by links
from its home is visited, so that a page added later is checked as soon as a link leads to
it. Before the walk, actions made through the pages give them their fuller states: a request
with an exchange of messages, a review in progress, an account with long names.

Bounded: downloads (anything that is not an HTML page), pages beyond the second of a list
and URLs that differ from a visited one only by the ids of the same route are left out;
forms are never sent (logout, actions), so the walk changes nothing.
"""

import os
import re
from datetime import date, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit, urlunsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

from .conftest import act, login, logout, screenshot, serving, settle

WIDTH = 320
PROFILES = ["caisse.demo", "gestionnaire.demo", "technicien.demo"]
LAST_LIST_PAGE = 2
LONG_EMAIL = "marie-christine.delafontaine-auxloups@mairie-de-saint-remy-en-demo.example.org"


@pytest.fixture(scope="module")
def reflow_server(tmp_path_factory):
    """An instance of its own: the actions below must not change what other tests find. With
    EP_BROWSER_DATABASE_URL (PostgreSQL), on a database of its own next to that one: every
    page is then also proven to open on that engine."""
    url = os.environ.get("EP_BROWSER_DATABASE_URL")
    own = _fresh_database(url) if url else None
    try:
        with serving(tmp_path_factory, own) as running:
            yield running
    finally:
        if own:
            _fresh_database(url, create=False)


def _fresh_database(url, create=True):
    """An empty PostgreSQL database named after the one in `url` (+ "_reflow")."""
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_reflow"
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            if create:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="module")
def prepared(reflow_server, browser):
    """The states a page only shows after an action, made through the pages (desktop
    width: the actions are not what is checked). Returns the URLs they lead to, which each
    walk visits first (they stand for their routes)."""
    base = reflow_server["base"]
    context = browser.new_context(base_url=base, locale="fr-FR")
    page = context.new_page()
    page.on("dialog", lambda d: d.accept())
    seeds = {}

    # The caisse asks CCAS de Démo for a review.
    login(page, "caisse.demo")
    act(page, "nav >> text=Partenaires")
    act(page, "a:has-text('CCAS de Démo')")
    page.fill("#due_on", (date.today() + timedelta(days=30)).isoformat())
    act(page, "button:has-text('Demander la revue')")
    logout(page)

    # The gestionnaire creates an account with long names, starts the review, decides once.
    login(page, "gestionnaire.demo")
    act(page, "nav >> text=Comptes")
    act(page, "text=Créer un compte technicien")
    page.check("#civilite-0")
    page.fill("#nom", "Delafontaine-Auxloups-Montmorency")
    page.fill("#prenom", "Marie-Christine")
    page.fill("#fonction", "Conseillère en économie sociale et familiale")
    page.fill("#telephone", "01 23 45 67 89")
    page.fill("#email", LONG_EMAIL)
    for box in ("#attest_employment", "#attest_equipment", "#attest_email"):
        page.check(box)
    act(page, "button:has-text('Créer le compte et envoyer le lien')")
    act(page, "a:has-text('Marie-Christine')")
    long_names = page.url
    act(page, "nav >> text=Revues")
    act(page, "button:has-text('Commencer la revue')")
    seeds["gestionnaire.demo"] = [page.url, long_names]
    card = page.locator("li.review-row", has=page.locator("h3", has_text="Théo Exemple"))
    card.get_by_label("Conserver", exact=True).check()
    for name in ("attest_employment", "attest_equipment", "attest_email"):
        card.locator(f"input[name={name}]").check()
    act(page, card.locator("button:has-text('Enregistrer la décision')"))
    logout(page)

    # The technicien answers the request the caisse asked more about.
    login(page, "technicien.demo")
    act(page, "nav >> text=Demandes de la structure")
    act(page, page.locator("tr", has_text="Fictive").locator("a").first)
    page.fill(
        "#body",
        "L'avis d'imposition est joint : avis-imposition-2025-foyer-fictive-recapitulatif-"
        "complet.pdf ; voir aussi https://www.impots.gouv.fr/particulier/questions/"
        "je-n-ai-pas-recu-mon-avis-d-imposition-comment-l-obtenir",
    )
    act(page, "button:has-text('Envoyer le message')")
    seeds["technicien.demo"] = [page.url]
    seeds["caisse.demo"] = [page.url, long_names]
    logout(page)
    context.close()
    return seeds


def route_key(url):
    """What makes two URLs the same page to check: the route with its ids left out, the
    names of the query's parameters, and the list page (1 or 2)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    number = query.pop("page", "1")
    path = re.sub(r"/\d+(?=/|$)", "/<id>", parts.path)
    return path, tuple(sorted(query)), number


def list_page(url):
    number = dict(parse_qsl(urlsplit(url).query)).get("page", "1")
    return int(number) if number.isdigit() else 1


LINKS = """() => [...document.querySelectorAll('a[href]')]
    .filter(a => !a.hasAttribute('download'))
    .map(a => a.href)"""

# The elements that stick out of the viewport and make the page scroll: not those inside a
# region that scrolls (or clips) by itself, and only the outermost of a sticking-out branch.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const inScroller = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return true;
    }
    return false;
  };
  const out = [...document.body.querySelectorAll('*')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > width + 0.5 && !inScroller(el);
  });
  const describe = el => {
    const classes = [...el.classList].map(c => '.' + c).join('');
    const text = (el.innerText || el.value || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${classes} `
      + `(${Math.round(el.getBoundingClientRect().right)} px) "${text}"`;
  };
  return {
    width: document.documentElement.scrollWidth,
    culprits: out.filter(el => !out.includes(el.parentElement)).slice(0, 4).map(describe),
  };
}"""

# A region that scrolls by itself must be reachable with the keyboard and named (RGAA 7.3,
# 12.8; axe's scrollable-region-focusable).
UNREACHABLE_SCROLLERS = """() => [...document.body.querySelectorAll('*')].filter(el => {
    const s = getComputedStyle(el);
    const scrolls = ['auto', 'scroll'].includes(s.overflowX) && el.scrollWidth > el.clientWidth + 1;
    if (!scrolls || el.matches('textarea, select, input')) return false;
    const labelled = el.getAttribute('aria-labelledby') || el.getAttribute('aria-label');
    return el.tabIndex < 0 || !labelled || el.getAttribute('role') !== 'region';
  }).map(el => el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))"""


class Links(HTMLParser):
    """The links of an HTML page (`a href`, downloads left out), read without a browser."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href") and "download" not in attrs:
            self.found.append(attrs["href"])


def links_of(page, url):
    """The links of a page of a route already checked: read over HTTP, not rendered (a
    list's rows may lead to pages that the first row does not)."""
    response = page.request.get(url)
    if not response.headers.get("content-type", "").startswith("text/html"):
        return []
    parser = Links()
    parser.feed(response.text())
    return [urljoin(response.url, href) for href in parser.found]


def walk(page, starts, name):
    """Render and measure one page per route key, every same-site HTML page reachable by
    links from the starts; return {url: (status, page width, culprits, unreachable
    scrollers)}."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    queue, seen, checked, found = list(starts), set(), set(), {}
    while queue:
        url = queue.pop(0).split("#")[0]
        if url in seen or not url.startswith(origin + "/") or list_page(url) > LAST_LIST_PAGE:
            continue
        seen.add(url)
        key = route_key(url)
        if key in checked:
            queue += links_of(page, url)
            continue
        checked.add(key)
        try:
            response = page.goto(url)
        except PlaywrightError as error:
            if "Download is starting" in str(error):
                continue  # a download, not a page
            raise
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        settle(page)
        measured = page.evaluate(OVERFLOW)
        found[url] = (
            response.status,
            measured["width"],
            measured["culprits"],
            page.evaluate(UNREACHABLE_SCROLLERS),
        )
        if os.environ.get("EP_REFLOW_SCREENSHOTS"):
            path = re.sub(r"[^a-z0-9]+", "-", url[len(origin) :]).strip("-")
            screenshot(page, f"reflow/{name}-{path or 'accueil'}")
        queue += page.evaluate(LINKS)
    return found


@pytest.mark.parametrize("user", PROFILES + ["anonyme"])
def test_every_page_reached_by_links_reflows_at_320_px(reflow_server, prepared, browser, user):
    context = browser.new_context(
        base_url=reflow_server["base"], locale="fr-FR", viewport={"width": WIDTH, "height": 800}
    )
    page = context.new_page()
    if user == "anonyme":
        page.goto("/login")
        starts = [page.url]
    else:
        login(page, user)
        starts = [*prepared.get(user, []), page.url]
    found = walk(page, starts, user.split(".")[0])
    context.close()
    report = "\n".join(
        f"{url} [{status}]: {width} px; {'; '.join(culprits)}"
        + (f"; scrolls without keyboard access: {scrollers}" if scrollers else "")
        for url, (status, width, culprits, scrollers) in found.items()
        if width > WIDTH or scrollers or status != 200
    )
    print(f"\n{user}: {len(found)} pages")  # shown with -s
    for url, (status, width, _, _) in found.items():
        print(f"  {width:4} px [{status}] {url}")
    assert len(found) >= (3 if user == "anonyme" else 8), list(found)
    assert not report, f"{user}: pages wider than {WIDTH} px, or in error:\n{report}"
