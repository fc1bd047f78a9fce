"""Working days (jours ouvrés) where the caisse is: Monday to Friday, the public holidays of
its département excluded (issue 12.6). Alsace-Moselle (57, 67, 68) adds Good Friday and
26 December; each overseas département has its own days (abolition of slavery…). The lists
come from the `holidays` library (pure Python), whose subdivisions of France are the
Moselle ('57'), the Collectivité européenne d'Alsace ('6AE', for 67 and 68) and the
overseas départements by their INSEE code ('971'…'976'); anywhere else, the national list.
"""

import functools
from datetime import timedelta

# Our département codes (ep/departements.py) -> the library's subdivision of France.
SUBDIVISIONS = {
    "57": "57",
    "67": "6AE",
    "68": "6AE",
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "976": "976",
}


@functools.lru_cache(maxsize=256)
def _holidays_of(year, subdivision):
    # A frozen set per year and place: the library's calendars fill themselves year by year
    # when asked, which is not safe to share between the server's threads. Imported here:
    # it takes 50 ms, which every `ep` command would pay.
    import holidays

    return frozenset(holidays.France(subdiv=subdivision, years=year))


def public_holidays(year, departement=""):
    """The public holidays of `year` in the département (national list for '' or any
    département without days of its own)."""
    return _holidays_of(year, SUBDIVISIONS.get(departement or ""))


def is_workday(day, departement=""):
    return day.weekday() < 5 and day not in public_holidays(day.year, departement)


def add_workdays(start, n, departement=""):
    """The date n working days after start, counted with the département's holidays."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_workday(day, departement):
            n -= 1
    return day
