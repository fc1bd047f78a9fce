import pytest

from ep import quotas


@pytest.mark.parametrize(
    "headcount, gestionnaires, techniciens",
    [(1, 2, 5), (10, 2, 5), (11, 3, 15), (25, 3, 15), (26, 5, 25), (4000, 5, 25)],
)
def test_quota_bands_follow_the_convention(headcount, gestionnaires, techniciens):
    assert quotas.limit(headcount, "gestionnaire") == gestionnaires
    assert quotas.limit(headcount, "technicien") == techniciens
