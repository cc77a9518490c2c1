"""seqcourse.data.tasks: shapes, dtypes, labels by an independent computation, seeding."""

import numpy as np
import pytest
import torch

from seqcourse.data.tasks import (
    IGNORE_INDEX,
    TEMPORAL_ORDER_SYMBOLS,
    adding,
    copy_task,
    delayed_recall,
    future_tagging,
    mackey_glass,
    parity,
    temporal_order,
)


def test_running_parity_is_the_cumulative_xor():
    x, y = parity(5, 30, seed=3)
    assert x.shape == (5, 30, 1) and x.dtype == torch.float32
    assert y.shape == (5, 30) and y.dtype == torch.int64
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    bits = x[..., 0].numpy().astype(int)
    for i in range(5):  # a plain loop, independent of the vectorised code
        acc = 0
        for t in range(30):
            acc ^= bits[i, t]
            assert y[i, t] == acc


@pytest.mark.parametrize("lag", [1, 2, 5, 12])
def test_windowed_parity_is_the_xor_of_the_last_lag_bits(lag):
    x, y = parity(4, 12, lag=lag, seed=1)
    bits = x[..., 0].numpy().astype(int)
    assert (y[:, : lag - 1] == IGNORE_INDEX).all()
    for t in range(lag - 1, 12):
        want = bits[:, t - lag + 1 : t + 1].sum(axis=1) % 2
        assert y[:, t].tolist() == want.tolist()
    if lag == 1:
        assert torch.equal(y, x[..., 0].long())


@pytest.mark.parametrize("delay", [0, 1, 7])
def test_delayed_recall_labels_are_the_shifted_inputs(delay):
    x, y = delayed_recall(6, 10, delay, n_symbols=3, seed=2)
    assert x.shape == (6, 10, 3) and x.dtype == torch.float32
    assert y.shape == (6, 10) and y.dtype == torch.int64
    assert torch.equal(x.sum(-1), torch.ones(6, 10))  # one-hot
    symbols = x.argmax(-1)
    assert (y[:, :delay] == IGNORE_INDEX).all()
    assert torch.equal(y[:, delay:], symbols[:, : 10 - delay])


@pytest.mark.parametrize("lookahead", [1, 4])
def test_future_tagging_labels_are_the_symbols_ahead(lookahead):
    x, y = future_tagging(3, 9, seed=5, lookahead=lookahead, n_symbols=5)
    assert x.shape == (3, 9, 5) and y.shape == (3, 9) and y.dtype == torch.int64
    symbols = x.argmax(-1)
    for t in range(9):
        if t + lookahead < 9:
            assert torch.equal(y[:, t], symbols[:, t + lookahead])
        else:
            assert (y[:, t] == IGNORE_INDEX).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda s: parity(3, 8, seed=s),
        lambda s: parity(3, 8, lag=3, seed=s),
        lambda s: delayed_recall(3, 8, 2, seed=s),
        lambda s: future_tagging(3, 8, seed=s),
    ],
)
def test_tasks_are_determined_by_the_seed(make):
    (xa, ya), (xb, yb), (xc, _) = make(0), make(0), make(1)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(xa, xc)


def test_symbols_are_roughly_uniform():
    x, _ = delayed_recall(200, 50, 1, n_symbols=4, seed=0)
    freq = x.sum((0, 1)) / (200 * 50)
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.02)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: parity(0, 5), "n must be an int >= 1, got 0"),
        (lambda: parity(2, 0), "T must be an int >= 1, got 0"),
        (lambda: parity(2, 5, lag=6), r"lag must be in \[1, T=5\]"),
        (lambda: parity(2, 5, lag=0), "lag must be an int >= 1"),
        (lambda: delayed_recall(2, 5, 5), r"delay must be in \[0, T-1\] = \[0, 4\], got 5"),
        (lambda: delayed_recall(2, 5, -1), "delay must be an int >= 0, got -1"),
        (lambda: delayed_recall(2, 5, 1, n_symbols=1), "n_symbols must be an int >= 2"),
        (lambda: future_tagging(2, 5, lookahead=5), r"lookahead must be in \[1, T-1\]"),
        (lambda: future_tagging(2, 5, lookahead=0), "lookahead must be an int >= 1"),
        (lambda: mackey_glass(0), "T must be an int >= 1"),
        (lambda: mackey_glass(10, tau=-1), "tau must be a finite number > 0"),
        (lambda: mackey_glass(10, dt=0), "dt must be a finite number > 0"),
        (lambda: mackey_glass(10, subsample=0), "subsample must be an int >= 1"),
    ],
)
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_integer_sizes_are_type_errors():
    with pytest.raises(TypeError, match="n must be an int"):
        parity(2.0, 5)
    with pytest.raises(TypeError, match="delay must be an int"):
        delayed_recall(2, 5, 1.5)


def test_mackey_glass_is_bounded_chaotic_and_seeded():
    x = mackey_glass(2000, seed=0)
    assert x.shape == (2000,) and x.dtype == np.float64
    assert np.all(np.isfinite(x)) and 0.2 < x.min() and x.max() < 1.4
    assert x.std() > 0.15  # oscillates, not a fixed point
    # Not periodic: no shift of 20..999 samples maps the series onto itself ...
    rms = [np.sqrt(np.mean((x[k:] - x[:-k]) ** 2)) for k in range(20, 1000)]
    assert min(rms) > 0.05
    # ... while the same test finds the period of the periodic regime (tau = 10).
    p = mackey_glass(2000, tau=10, seed=0)
    assert min(np.sqrt(np.mean((p[k:] - p[:-k]) ** 2)) for k in range(20, 1000)) < 0.01
    # The autocorrelation falls from 1 at lag 0.
    xc = x - x.mean()
    acf = np.array([xc[: len(xc) - k] @ xc[k:] for k in range(60)]) / (xc @ xc)
    assert acf[0] == pytest.approx(1.0) and acf.min() < 0.0
    assert np.array_equal(x, mackey_glass(2000, seed=0))
    assert not np.allclose(x, mackey_glass(2000, seed=1))


# ------------------------------------------------------------------ long-lag tasks (ch. 4)
@pytest.mark.parametrize("T", [2, 3, 10, 51])
def test_adding_marks_one_number_in_each_half_and_sums_them(T):
    n = 200
    x, y = adding(n, T, seed=4)
    assert x.shape == (n, T, 2) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.float32
    values, marks = x[..., 0], x[..., 1]
    assert (values >= 0).all() and (values < 1).all()
    assert set(marks.unique().tolist()) <= {0.0, 1.0}
    half = T // 2
    assert torch.equal(marks[:, :half].sum(1), torch.ones(n))  # one mark in t < T // 2
    assert torch.equal(marks[:, half:].sum(1), torch.ones(n))  # one in t >= T // 2
    for i in range(n):  # a plain loop, independent of the vectorised code
        total = sum(float(values[i, t]) for t in range(T) if marks[i, t] == 1.0)
        assert float(y[i]) == pytest.approx(total, abs=1e-6)


def test_adding_marks_reach_every_position():
    x, _ = adding(2000, 12, seed=0)
    positions = x[..., 1].nonzero()[:, 1]
    assert set(positions.tolist()) == set(range(12))


def test_adding_baseline_mse_is_one_sixth():
    _, y = adding(20000, 20, seed=0)
    mse = ((y.double() - 1.0) ** 2).mean().item()
    assert mse == pytest.approx(1 / 6, abs=0.01)
    assert y.mean().item() == pytest.approx(1.0, abs=0.02)
    assert (y >= 0).all() and (y < 2).all()


def test_adding_is_determined_by_the_seed():
    (xa, ya), (xb, yb), (xc, yc) = adding(5, 16, seed=0), adding(5, 16, seed=0), adding(5, 16, 1)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(xa, xc) and not torch.equal(ya, yc)


def temporal_order_ranges(T):
    """t_1 in [T/10, 2T/10), t_2 in [5T/10, 6T/10), rounded down, at least one step each."""
    lo1, hi1 = (T * 1) // 10, (T * 2) // 10
    lo2, hi2 = (T * 5) // 10, (T * 6) // 10
    return range(lo1, max(hi1, lo1 + 1)), range(lo2, max(hi2, lo2 + 1))


@pytest.mark.parametrize("T", [10, 11, 15, 37, 100])
def test_temporal_order_sequences_and_labels(T):
    n = 300
    x, y = temporal_order(n, T, seed=2)
    assert x.shape == (n, T, 8) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert TEMPORAL_ORDER_SYMBOLS == ("a", "b", "c", "d", "X", "Y", "B", "E")
    assert torch.equal(x.sum(-1), torch.ones(n, T))  # one-hot
    range1, range2 = temporal_order_ranges(T)
    classes = {"XX": 0, "XY": 1, "YX": 2, "YY": 3}
    for i in range(n):
        symbols = [TEMPORAL_ORDER_SYMBOLS[k] for k in x[i].argmax(-1).tolist()]
        assert symbols[0] == "B" and symbols[-1] == "E"
        assert "B" not in symbols[1:] and "E" not in symbols[:-1]
        relevant = [t for t, s in enumerate(symbols) if s in ("X", "Y")]
        assert len(relevant) == 2, symbols
        t1, t2 = relevant
        assert t1 in range1 and t2 in range2, (t1, t2)
        assert int(y[i]) == classes[symbols[t1] + symbols[t2]]
        assert set(symbols[1:-1]) - {"X", "Y"} <= {"a", "b", "c", "d"}


def test_temporal_order_covers_the_ranges_and_classes():
    x, y = temporal_order(2000, 100, seed=0)
    is_xy = x[..., 4:6].sum(-1) == 1
    t1 = is_xy[:, :50].float().argmax(1)
    t2 = 50 + is_xy[:, 50:].float().argmax(1)
    assert set(t1.tolist()) == set(range(10, 20))
    assert set(t2.tolist()) == set(range(50, 60))
    counts = torch.bincount(y, minlength=4)
    assert counts.shape == (4,) and (counts > 400).all()  # about 500 each: chance is 1/4
    distractors = x[..., :4].sum((0, 1))
    assert (distractors / distractors.sum() - 0.25).abs().max() < 0.01


def test_temporal_order_is_determined_by_the_seed():
    (xa, ya), (xb, yb) = temporal_order(6, 20, seed=3), temporal_order(6, 20, seed=3)
    assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(xa, temporal_order(6, 20, seed=4)[0])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: adding(0, 10), ValueError, "n must be an int >= 1, got 0"),
        (lambda: adding(5, 1), ValueError, "T must be an int >= 2, got 1"),
        (lambda: adding(5, 10.0), TypeError, "T must be an int"),
        (lambda: temporal_order(0, 20), ValueError, "n must be an int >= 1, got 0"),
        (lambda: temporal_order(5, 9), ValueError, "T must be an int >= 10, got 9"),
        (lambda: temporal_order(5, 0), ValueError, "T must be an int >= 10, got 0"),
        (lambda: temporal_order(True, 20), TypeError, "n must be an int"),
    ],
)
def test_long_lag_task_arguments_are_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_copy_task_layout():
    x, y = copy_task(3, 5, bits=4, seed=2)
    assert x.shape == (3, 11, 5) and y.shape == (3, 5, 4)
    assert x.dtype == y.dtype == torch.float32
    assert torch.equal(x[:, :5, :4], y)  # the vectors first
    assert torch.equal(x[:, 5], torch.tensor([0.0, 0, 0, 0, 1]).expand(3, 5))  # delimiter
    assert not x[:, 6:].any() and not x[:, :5, 4].any()  # blank answer steps, no flag
    assert torch.equal(copy_task(3, 5, bits=4, seed=2)[1], y)
    assert not torch.equal(copy_task(3, 5, bits=4, seed=3)[1], y)
    with pytest.raises(ValueError, match="T must be an int >= 1"):
        copy_task(3, 0)
