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


def test_each_name_is_averaged_over_the_steps_that_added_it():
    m = RunningMean()
    m.add(loss_d=1.0, loss_g=10.0)
    m.add(loss_d=3.0)  # a critic-only step adds no generator loss
    assert m.pop() == {"loss_d": 2.0, "loss_g": 10.0}


def test_tensors_are_summed_without_leaving_the_tensor_world():
    import torch

    m = RunningMean()
    m.add(loss=torch.tensor(1.0), steps=torch.tensor(2))
    m.add(loss=torch.tensor(2.0), steps=torch.tensor(4))
    assert isinstance(m._sums["loss"], torch.Tensor)
    assert m.pop() == {"loss": 1.5, "steps": 3.0}
