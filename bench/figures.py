"""The statistics' cost at the reference size (issue 13), in-process.

    python bench/figures.py INSTANCE [--database-url URL] [--repeat 3]

On a copy of a generated set (it is brought to the current schema: copy it first), times
`statistics.compute` (the page's figures) and `statistics.csv_rows` (the CSV for pivot tables)
for caisse.demo (all its structures) and gestionnaire.demo (its structure), over one year and
over five. Prints the median of the repeats. Indicative: other processes share the machine.
"""

import argparse
import statistics as pystats
import time
from datetime import date
from pathlib import Path

from ep import create_app, db
from ep import statistics as figures
from ep.models import Account


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("instance")
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    instance = Path(args.instance).resolve()
    url = args.database_url or f"sqlite:///{instance / 'ep.sqlite3'}"
    app = create_app({"EP_INSTANCE_PATH": str(instance), "EP_DATABASE_URL": url})
    db.upgrade()
    year = date.today().year - 1
    periods = {
        "1 an": (date(year, 1, 1), date(year, 12, 31)),
        "5 ans": (date(year - 4, 1, 1), date(year, 12, 31)),
    }
    with app.app_context(), db.database.connection_context():
        for username in ("caisse.demo", "gestionnaire.demo"):
            scope = figures.scope_for(Account.get(Account.username == username))
            for label, (start, end) in periods.items():
                page, sheet = [], []
                for _ in range(args.repeat):
                    t = time.monotonic()
                    total = figures.compute(scope, start, end).total
                    page.append(time.monotonic() - t)
                    t = time.monotonic()
                    rows = len(figures.csv_rows(scope, start, end))
                    sheet.append(time.monotonic() - t)
                print(
                    f"{username:18} {label:5} {total:8} demandes"
                    f"  page {pystats.median(page):6.2f} s"
                    f"  CSV {pystats.median(sheet):6.2f} s ({rows} lignes)"
                )


if __name__ == "__main__":
    main()
