"""How prices read in Slack messages and the monthly report."""

from __future__ import annotations

import pytest

from alerts.evidence_fields import unit_price


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("88.4899999025753", "$88.49"),  # a catalog sum carrying float noise
        ("0.526", "$0.526"),  # not $0.53: unit prices keep their digits
        ("21.957642", "$21.957642"),
        ("0.706832255", "$0.706832"),  # six decimal places at most, half to even
        ("0.00099", "$0.00099"),  # S3 Deep Archive per GB-month
        ("0.0000004", "$0.0000004"),  # per request: two significant digits, not $0.00
        ("2", "$2.00"),
    ],
)
def test_unit_prices_keep_their_digits_but_not_float_noise(amount: str, shown: str) -> None:
    assert unit_price(amount, "USD") == shown
