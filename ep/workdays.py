"""Working days (jours ouvrés) in France: Monday to Friday, public holidays excluded."""

from datetime import date, timedelta


def _easter(year):
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    leap = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * leap) // 451
    month = (h + leap - 7 * m + 114) // 31
    day = (h + leap - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def holidays(year):
    easter = _easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    moving = [
        easter + timedelta(days=n) for n in (1, 39, 50)
    ]  # lundi de Pâques, Ascension, Pentecôte
    return {date(year, m, d) for m, d in fixed} | set(moving)


def is_workday(day):
    return day.weekday() < 5 and day not in holidays(day.year)


def add_workdays(start, n):
    """The date n working days after start."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_workday(day):
            n -= 1
    return day
