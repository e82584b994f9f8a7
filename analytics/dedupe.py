"""Savings are never counted twice.

For one resource, terminating it (``idle_gpu``), rightsizing it (``gpu_rightsizing``) and moving
it to spot (``spot_candidate``) rule each other out: you do one of them, so a total counts only
the largest of the three. Every other kind adds up as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

EXCLUSIVE_KINDS: frozenset[str] = frozenset({"idle_gpu", "gpu_rightsizing", "spot_candidate"})


def counted_savings(rows: Sequence[Mapping[str, Any]]) -> list[Decimal]:
    """The saving each row contributes to a total, in the order given.

    Rows need ``kind``, ``resource_id``, ``currency`` and ``monthly_savings``. Within one resource
    and currency, only the largest exclusive saving counts (ties: the first row); the others
    count 0.
    """
    winner: dict[tuple[str, str], int] = {}
    for index, row in enumerate(rows):
        if row["kind"] not in EXCLUSIVE_KINDS:
            continue
        key = (str(row["resource_id"]), str(row["currency"]))
        best = winner.get(key)
        if best is None or row["monthly_savings"] > rows[best]["monthly_savings"]:
            winner[key] = index
    keep = set(winner.values())
    return [
        Decimal(0)
        if row["kind"] in EXCLUSIVE_KINDS and index not in keep
        else Decimal(row["monthly_savings"])
        for index, row in enumerate(rows)
    ]


def totals_by(
    rows: Sequence[Mapping[str, Any]], *, key: str, amounts: Iterable[Decimal]
) -> list[dict[str, Any]]:
    """Sum ``amounts`` (one per row) by ``row[key]`` and currency; currencies never mix."""
    sums: dict[tuple[Any, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[Any, str], int] = defaultdict(int)
    for row, amount in zip(rows, amounts, strict=True):
        group = (row.get(key), str(row["currency"]))
        sums[group] += amount
        counts[group] += 1
    result = [
        {key: group, "currency": currency, "findings": counts[(group, currency)], "amount": total}
        for (group, currency), total in sums.items()
    ]
    result.sort(key=lambda item: (-item["amount"], str(item[key])))
    return result
