"""The as-of match of the point-in-time join against a brute-force reading of Feast's rule, row by row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from training.pit import asof_match


def _masked(values: list[int | None]) -> np.ma.MaskedArray:
    return np.ma.array([0 if v is None else v for v in values], mask=[v is None for v in values], dtype=np.int64)


def _oracle(entity_keys, entity_stamps, keys, stamps, created, ttl) -> list[int]:
    """Feast's rule, literally: among rows with equal (non-null) keys and a timestamp <= the entity row's (and
    >= it minus the ttl), the latest timestamp, then the latest created timestamp (null created loses)."""
    picked = []
    for entity_key, entity_stamp in zip(entity_keys, entity_stamps, strict=True):
        best, best_order = -1, None
        for i, (key, stamp) in enumerate(zip(keys, stamps, strict=True)):
            if None in entity_key or entity_stamp is None or None in key or stamp is None or key != entity_key:
                continue
            if stamp > entity_stamp or (ttl is not None and stamp < entity_stamp - ttl):
                continue
            order = (stamp, -(2**63) if created is None or created[i] is None else created[i])
            if best_order is None or order > best_order:
                best, best_order = i, order
        picked.append(best)
    return picked


@st.composite
def cases(draw: st.DrawFn):
    """Feature rows and entity rows over one or two keys (integers, some far apart, or strings), with nulls,
    timestamp ties broken by distinct created timestamps, and an optional ttl."""
    two_keys = draw(st.booleans())
    text = draw(st.booleans())
    spread = draw(st.sampled_from([2, 2**40, 2**62]))  # keys this far apart force the rank-based encoding
    key = st.sampled_from(["a", "b", "c's", None]) if text else st.sampled_from([0, 1, spread, -spread, None])
    stamp = st.one_of(st.none(), st.integers(0, 20))
    rows = draw(st.integers(0, 25))
    keys = [tuple(draw(key) for _ in range(1 + two_keys)) for _ in range(rows)]
    stamps = [draw(stamp) for _ in range(rows)]
    with_created = draw(st.booleans())
    if with_created:  # distinct created timestamps, one null at most per (key, timestamp) tie
        created = draw(st.permutations(list(range(rows))))
        seen: set = set()
        for i in range(rows):
            if draw(st.booleans()) and (keys[i], stamps[i]) not in seen:
                seen.add((keys[i], stamps[i]))
                created[i] = None
    else:  # without created timestamps a tie has no defined winner: keep (key, timestamp) unique
        unique = dict(zip(zip(keys, stamps, strict=True), range(rows), strict=False))
        keep = sorted(unique.values())
        keys, stamps, created = [keys[i] for i in keep], [stamps[i] for i in keep], None
    entities = draw(st.integers(0, 15))
    entity_keys = [tuple(draw(key) for _ in range(1 + two_keys)) for _ in range(entities)]
    entity_stamps = [draw(stamp) for _ in range(entities)]
    ttl = draw(st.one_of(st.none(), st.integers(0, 8)))
    return text, entity_keys, entity_stamps, keys, stamps, created, ttl


@settings(max_examples=400, deadline=None)
@given(cases())
def test_asof_match_follows_feasts_rule(case) -> None:
    text, entity_keys, entity_stamps, keys, stamps, created, ttl = case
    type_ = pa.string() if text else pa.int64()
    width = len(entity_keys[0]) if entity_keys else len(keys[0]) if keys else 1
    columns = lambda rows: [pa.chunked_array([pa.array([r[i] for r in rows], type_)]) for i in range(width)]  # noqa: E731
    got = asof_match(
        columns(entity_keys),
        _masked(entity_stamps),
        columns(keys),
        _masked(stamps),
        None if created is None else _masked(created),
        ttl,
    )
    assert got.tolist() == _oracle(entity_keys, entity_stamps, keys, stamps, created, ttl)


def test_keys_far_apart_do_not_collide() -> None:
    """Keys 2**63 apart with an even span of timestamps would meet in a packed int64 (k * span wraps round):
    the match ranks them instead."""
    keys = [-(2**62), 2**62]
    rows = [(key, stamp) for key in keys for stamp in (0, 19)]
    column = lambda values: [pa.chunked_array([pa.array(values, pa.int64())])]  # noqa: E731
    got = asof_match(
        column([2**62]),
        _masked([5]),
        column([k for k, _ in rows]),
        _masked([s for _, s in rows]),
        None,
        None,
    )
    assert got.tolist() == [2]  # the row of key 2**62 at 0, not -(2**62)'s
