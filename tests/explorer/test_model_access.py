"""What the Explore panels read off the model: here, the test-image indices a person types."""
from __future__ import annotations

import pytest

from explorer.model_access import parse_indices


def test_parse_indices():
    assert parse_indices("0, 3, 10-12", 20) == [0, 3, 10, 11, 12]
    with pytest.raises(ValueError, match="out of range"):
        parse_indices("25", 20)
    with pytest.raises(ValueError, match="not an index"):
        parse_indices("x", 20)


def test_a_typed_range_is_checked_before_it_is_expanded():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for text in ("0-99999999", "99999999-0", "5-99999999999999999999"):
        with pytest.raises(ValueError, match="out of range"):
            parse_indices(text, 50)
    with pytest.raises(ValueError, match="more than 10,000 indices"):
        parse_indices(",".join(["0-49"] * 300), 50)
    assert parse_indices("3-1", 50) == [] and parse_indices("0-2, 1", 50) == [0, 1, 2, 1]
    for text in ("-1", "--1", "a-b", "1e3"):
        with pytest.raises(ValueError):
            parse_indices(text, 50)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KB: nothing was listed
