"""seqcourse._checks: the shared argument checks and their messages."""

import numpy as np
import pytest

from seqcourse._checks import check_int, check_temperature


def test_check_int_accepts_ints_and_numpy_ints():
    assert check_int(3, "n") == 3
    assert check_int(np.int64(0), "n", low=0) == 0
    assert isinstance(check_int(np.int32(5), "n"), int)


@pytest.mark.parametrize(
    "value, low, error, match",
    [
        (0, 1, ValueError, "n must be an int >= 1, got 0"),
        (-3, -2, ValueError, "n must be an int >= -2, got -3"),
        (1.0, 1, TypeError, "n must be an int >= 1, got float 1.0"),
        (True, 1, TypeError, "n must be an int >= 1, got bool True"),
        ("2", 1, TypeError, "n must be an int >= 1, got str '2'"),
    ],
)
def test_check_int_names_the_argument(value, low, error, match):
    with pytest.raises(error, match=match):
        check_int(value, "n", low)


def test_check_temperature():
    assert check_temperature(2) == 2.0
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            check_temperature(bad)
    for bad in (float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            check_temperature(bad)
