"""Form fields shared by every form."""

import pytest
import wtforms
from werkzeug.datastructures import MultiDict
from wtforms.fields.core import UnboundField

from ep import forms


def date_fields():
    """(form class, field name) for every date field of every form of the app."""
    for cls in vars(forms).values():
        if isinstance(cls, type) and issubclass(cls, forms.Form):
            for name in dir(cls):
                unbound = getattr(cls, name)
                if isinstance(unbound, UnboundField) and issubclass(
                    unbound.field_class, wtforms.DateField
                ):
                    yield cls, name


DATE_FIELDS = sorted(date_fields(), key=lambda pair: (pair[0].__name__, pair[1]))


def test_every_date_field_is_found():
    assert len(DATE_FIELDS) >= 13  # this test's enumeration keeps working
    assert all(issubclass(cls, forms.Form) for cls, _ in DATE_FIELDS)


ACCEPTED = ["1900-01-01", "2100-12-31"]
REFUSED = ["1899-12-31", "2101-01-01", "0001-01-01", "9999-12-31"]


@pytest.mark.parametrize(
    "form_class, name", DATE_FIELDS, ids=[f"{c.__name__}.{n}" for c, n in DATE_FIELDS]
)
def test_dates_outside_1900_2100_are_refused_by_every_date_field(ctx, form_class, name):
    for value in ACCEPTED + REFUSED:
        form = form_class(formdata=MultiDict({name: value}))
        form.validate()
        field = form[name]
        if value in ACCEPTED:
            assert field.data is not None and field.data.isoformat() == value
            assert not field.errors
        else:
            assert field.data is None, value
            assert field.errors == ["Saisissez une date entre 1900 et 2100."], value
