"""Working days where the caisse is (issue 12.6): the public holidays of its département,
from the `holidays` library, Alsace-Moselle and the overseas départements included."""

from datetime import date

import pytest

from ep import workdays

GOOD_FRIDAY_2027 = date(2027, 3, 26)
BOXING_DAY_2029 = date(2029, 12, 26)  # a Wednesday


@pytest.mark.parametrize(
    ("departement", "is_holiday"),
    [("", False), ("75", False), ("67", True), ("68", True), ("57", True), ("971", True)],
)
def test_good_friday_is_a_holiday_in_alsace_moselle_only(departement, is_holiday):
    assert (GOOD_FRIDAY_2027 in workdays.public_holidays(2027, departement)) is is_holiday
    assert workdays.is_workday(GOOD_FRIDAY_2027, departement) is not is_holiday


@pytest.mark.parametrize(("departement", "is_holiday"), [("75", False), ("67", True), ("57", True)])
def test_26_december_in_alsace_moselle(departement, is_holiday):
    assert workdays.is_workday(BOXING_DAY_2029, departement) is not is_holiday


@pytest.mark.parametrize(
    ("departement", "day"),
    [
        ("971", date(2027, 5, 27)),  # Guadeloupe: abolition of slavery
        ("972", date(2027, 5, 22)),  # Martinique (a Saturday in 2027: check the list)
        ("973", date(2027, 6, 10)),  # Guyane
        ("974", date(2027, 12, 20)),  # La Réunion
        ("976", date(2027, 4, 27)),  # Mayotte
    ],
)
def test_overseas_departements_have_their_own_days(departement, day):
    assert day in workdays.public_holidays(day.year, departement)
    assert day not in workdays.public_holidays(day.year, "75")


def test_the_national_list_is_the_same_as_before():
    """The eleven days the hand-written computation gave, Easter's included."""
    assert workdays.public_holidays(2027) == {
        date(2027, 1, 1),
        date(2027, 3, 29),  # lundi de Pâques
        date(2027, 5, 1),
        date(2027, 5, 6),  # Ascension
        date(2027, 5, 8),
        date(2027, 5, 17),  # lundi de Pentecôte
        date(2027, 7, 14),
        date(2027, 8, 15),
        date(2027, 11, 1),
        date(2027, 11, 11),
        date(2027, 12, 25),
    }


def test_an_unknown_or_metropolitan_departement_counts_the_national_list():
    for departement in ("", "75", "2A", "zz", None):
        assert workdays.public_holidays(2027, departement) == workdays.public_holidays(2027)


def test_a_deadline_counts_the_caisse_s_holidays():
    """Five working days from Thursday 25 March 2027: Good Friday and Easter Monday are off
    in Strasbourg, only Easter Monday in Paris."""
    start = date(2027, 3, 25)
    assert workdays.add_workdays(start, 5) == date(2027, 4, 2)
    assert workdays.add_workdays(start, 5, "75") == date(2027, 4, 2)
    assert workdays.add_workdays(start, 5, "67") == date(2027, 4, 5)
    # 24 December 2029 (Monday) + 2: 25 and 26 off in Moselle
    assert workdays.add_workdays(date(2029, 12, 24), 2, "75") == date(2029, 12, 27)
    assert workdays.add_workdays(date(2029, 12, 24), 2, "57") == date(2029, 12, 28)


def test_habilitation_deadlines_use_the_caisse_s_departement(ctx):
    """A gestionnaire's habilitation requested before Easter 2027, and a recorded request:
    due one day later where the caisse is in Alsace-Moselle."""
    from ep import accounts
    from ep.models import Account, Caisse, Partner

    agent = Account.get(Account.username == "caisse.demo")
    voisin = Partner.get(Partner.name == "CCAS Voisin")
    for departement, due in (("75", date(2027, 4, 2)), ("67", date(2027, 4, 5))):
        Caisse.update(departement=departement).where(Caisse.id == agent.caisse_id).execute()
        agent = Account.get_by_id(agent.id)
        request = accounts.record_habilitation_request(
            agent, voisin, "Jean Exemple", date(2027, 3, 25), today=date(2027, 3, 25)
        )
        assert request.due_on == due
