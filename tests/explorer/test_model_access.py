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
