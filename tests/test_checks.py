"""seqcourse._checks: the shared argument checks and their messages."""

import numpy as np
import pytest
import torch

from seqcourse._checks import (
    check_bool,
    check_choice,
    check_ids,
    check_int,
    check_positive,
    check_sequence,
    check_state,
    check_temperature,
    initial_state,
)


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


def test_check_positive_accepts_real_numbers():
    assert check_positive(2, "lr") == 2.0
    assert isinstance(check_positive(np.float32(0.5), "lr"), float)
    assert check_positive(np.int64(3), "lr") == 3.0


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, "lr must be a finite number > 0, got 0$"),
        (-1.5, ValueError, r"lr must be a finite number > 0, got -1.5"),
        (float("nan"), ValueError, "lr must be a finite number > 0, got nan"),
        (float("inf"), ValueError, "lr must be a finite number > 0, got inf"),
        ("1", TypeError, "lr must be a finite number > 0, got str '1'"),
        (True, TypeError, "lr must be a finite number > 0, got bool True"),
        (None, TypeError, "lr must be a finite number > 0, got NoneType None"),
        (torch.tensor(1.0), TypeError, "lr must be a finite number > 0, got Tensor"),
    ],
)
def test_check_positive_names_the_argument(value, error, match):
    with pytest.raises(error, match=match):
        check_positive(value, "lr")


def test_check_choice_names_the_choices():
    assert check_choice("b", "mode", ("a", "b")) == "b"
    for bad in ("c", None, ["a"], 1):
        with pytest.raises(ValueError, match=r"mode must be one of \('a', 'b'\), got"):
            check_choice(bad, "mode", ("a", "b"))


def test_check_ids_names_shape_dtype_and_range():
    ids = torch.tensor([[0, 3], [2, 1]])
    assert check_ids(ids, "src", 4) is ids
    assert check_ids(torch.tensor([5]), "center", dims=1) is not None  # no vocab: no range
    cases = [
        ([[0, 1]], TypeError, r"src must be a LongTensor \(B, T\) of token ids .*got list"),
        (ids.float(), TypeError, r"src must be .*\(torch.int64\), got a torch.float32 tensor"),
        (torch.tensor([0, 1]), ValueError, r"src must have shape \(B, T\), got \(2,\)"),
        (torch.zeros(0, 3, dtype=torch.long), ValueError, r"at least one id, got shape \(0, 3\)"),
        (ids + 1, ValueError, r"src must hold ids in \[0, 4\), got ids in \[1, 4\]"),
        (ids - 1, ValueError, r"got ids in \[-1, 2\]"),
    ]
    for bad, error, match in cases:
        with pytest.raises(error, match=match):
            check_ids(bad, "src", 4)
    with pytest.raises(ValueError, match=r"tokens must have shape \(N,\), got \(1, 2\)"):
        check_ids(torch.tensor([[0, 1]]), "tokens", dims=1)


def test_check_temperature():
    assert check_temperature(2) == 2.0
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="temperature must be > 0"):
            check_temperature(bad)
    for bad in (float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            check_temperature(bad)


def test_check_bool_refuses_ints() -> None:
    assert check_bool(True, "flag") is True
    with pytest.raises(TypeError, match="flag must be a bool, got int 1"):
        check_bool(1, "flag")


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        ([[[0.0]]], TypeError, "x must be a torch.Tensor"),
        (torch.zeros(2, 3), ValueError, r"got 2 dimension\(s\)"),
        (torch.zeros(2, 3, 4), ValueError, r"x must have 2 features .*got 4; x must have shape"),
        (torch.zeros(0, 3, 2), ValueError, "at least one sequence"),
        (torch.zeros(1, 3, 2, dtype=torch.float64), TypeError, "dtype torch.float32"),
        (torch.full((1, 3, 2), float("nan")), ValueError, "finite values"),
    ],
)
def test_check_sequence_names_what_is_wrong(x, error, message) -> None:
    like = torch.zeros(1)
    with pytest.raises(error, match=message):
        check_sequence(x, 2, like)


def test_check_sequence_and_state_accept_good_input() -> None:
    like = torch.zeros(1)
    assert check_sequence(torch.zeros(4, 7, 2), 2, like) == (4, 7)
    check_state(torch.zeros(1, 4, 3), (1, 4, 3), like, "h0")
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 4, 3\), got \(1, 4, 2\)"):
        check_state(torch.zeros(1, 4, 2), (1, 4, 3), like, "h0")


def test_initial_state_is_zeros_or_the_checked_h0():
    x, like = torch.ones(3, 5, 2), torch.ones(1)
    assert torch.equal(initial_state(None, x, 4, like), torch.zeros(3, 4))
    h0 = torch.randn(1, 3, 4)
    assert torch.equal(initial_state(h0, x, 4, like), h0[0])
    with pytest.raises(ValueError, match=r"h0 must have shape \(1, 3, 4\), got \(3, 4\)"):
        initial_state(h0[0], x, 4, like)
    with pytest.raises(TypeError, match="h0 must have the parameters' dtype"):
        initial_state(h0.double(), x, 4, like)


def test_finiteness_check_raises_at_once_on_the_cpu(monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(torch, "_assert_async", lambda *a: calls.append(a))
    like = torch.zeros(1)
    with pytest.raises(ValueError, match="h0 must hold finite values"):
        check_state(torch.tensor([[float("inf")]]), (1, 1), like, "h0")
    assert calls == []  # the device-side assertion is for CUDA only


class _NoHostSync(torch.Tensor):
    """Marks a tensor as if it lived on a GPU (the simulated check below) and fails on any
    conversion to a Python value, the host synchronisation the CUDA path must not do."""

    def __bool__(self):
        raise AssertionError("bool() of a tensor: a host sync on CUDA")

    def item(self):
        raise AssertionError(".item(): a host sync on CUDA")


@pytest.mark.parametrize("capturing", [False, True])
def test_finiteness_check_on_cuda_never_converts_to_a_python_bool(capturing, monkeypatch):
    # Simulated on the CPU: what counts as CUDA and the capture flag are patched. It checks
    # the control flow (no bool() or .item(), the assertion queued or skipped), not a GPU.
    import seqcourse._checks as checks

    queued = []
    monkeypatch.setattr(checks, "_on_cuda", lambda x: isinstance(x, _NoHostSync))
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: capturing)
    monkeypatch.setattr(torch, "_assert_async", lambda cond, msg: queued.append((cond, msg)))
    x = torch.full((1, 3, 2), float("nan")).as_subclass(_NoHostSync)
    assert check_sequence(x, 2, torch.zeros(1)) == (1, 3)  # no error raised here
    if capturing:
        assert queued == []  # skipped while a CUDA graph is captured
    else:
        [(cond, msg)] = queued
        assert msg == "x must hold finite values, got NaN or inf"
        assert not torch.Tensor.__bool__(cond.as_subclass(torch.Tensor))  # it would fail
