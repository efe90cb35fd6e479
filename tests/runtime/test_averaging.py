"""RunningMean: the per-step scalars a run averages between log lines."""

from ebmlab.runtime import RunningMean


def test_means_since_the_last_pop():
    m = RunningMean()
    assert m.pop() == {}
    m.add(loss=1.0, acc=0.5)
    m.add(loss=2.0, acc=1.0)
    assert m.pop() == {"loss": 1.5, "acc": 0.75}
    m.add(loss=4.0)
    assert m.pop() == {"loss": 4.0}
