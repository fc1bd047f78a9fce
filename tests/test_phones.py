"""Phone numbers (issue 10.7): typed as people write them, stored in one form (E.164), shown
as `03 89 00 00 00` in France and in international form elsewhere (DROM included)."""

import pytest

from ep import phones
from ep.rules import RuleError


@pytest.mark.parametrize(
    "typed, stored, shown",
    [
        ("03 89 00 00 00", "+33389000000", "03 89 00 00 00"),
        ("0389000000", "+33389000000", "03 89 00 00 00"),
        ("03.89.00.00.00", "+33389000000", "03 89 00 00 00"),
        ("03-89-00-00-00", "+33389000000", "03 89 00 00 00"),
        ("+33 3 89 00 00 00", "+33389000000", "03 89 00 00 00"),
        ("+33 (0)3 89 00 00 00", "+33389000000", "03 89 00 00 00"),
        ("0033 3 89 00 00 00", "+33389000000", "03 89 00 00 00"),
        ("06 12 34 56 78", "+33612345678", "06 12 34 56 78"),
        ("+41 22 345 67 89", "+41223456789", "+41 22 345 67 89"),
        ("0041 22 345 67 89", "+41223456789", "+41 22 345 67 89"),
        ("+262 262 12 34 56", "+262262123456", "+262 262 12 34 56"),
        # A DROM number typed as it is dialled from France is that DROM's number.
        ("0262 12 34 56", "+262262123456", "+262 262 12 34 56"),
        ("0269 61 12 34", "+262269611234", "+262 269 61 12 34"),
        ("0594 12 34 56", "+594594123456", "+594 594 12 34 56"),
        ("0690 12 34 56", "+590690123456", "+590 690 12 34 56"),
        ("", "", ""),
    ],
)
def test_numbers_are_stored_in_one_form_and_shown_as_written_in_france(typed, stored, shown):
    assert phones.normalise(typed) == stored
    assert phones.display(stored) == shown
    assert phones.normalise(shown) == stored  # what is shown reads back the same


@pytest.mark.parametrize(
    "typed", ["12", "01 23", "telephone", "+41 22", "01 23 45 67 89 01 23", "0123456789;DROP"]
)
def test_numbers_that_cannot_be_dialled_are_refused(typed):
    with pytest.raises(RuleError, match="Numéro de téléphone invalide") as exc:
        phones.normalise(typed, field="phone")
    assert exc.value.field == "phone"


@pytest.mark.parametrize("kept", ["@SUM(1)", "standard de la mairie", "12"])
def test_display_leaves_what_it_cannot_read_as_it_is(kept):
    assert phones.display(kept) == kept


def test_stored_form_keeps_what_it_cannot_read():
    assert phones.stored_form("01.02.03.04.05") == "+33102030405"
    assert phones.stored_form("poste 1234") == "poste 1234"


def test_a_stored_number_is_read_once_to_be_shown_and_not_again(monkeypatch):
    """Issue 11: the user export shows 15,000 numbers; each cost ten parses of the number
    (the overseas regions tried one by one), then two."""
    import phonenumbers

    calls = []
    parse = phonenumbers.parse
    monkeypatch.setattr(phonenumbers, "parse", lambda *a, **k: calls.append(a) or parse(*a, **k))
    assert phones.display("+33389991234") == "03 89 99 12 34"
    assert len(calls) == 1
    assert phones.display("+33389991234") == "03 89 99 12 34"
    assert len(calls) == 1
    assert phones.display("+33123") == "+33123"  # stored before numbers were checked
