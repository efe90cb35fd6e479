import pytest
import torch

from ebmlab.errors import ConfigError
from ebmlab.runtime.device import resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(ConfigError, match="no CUDA device"):
        resolve_device("cuda")


def test_unknown_device():
    with pytest.raises(ConfigError, match="--device must be"):
        resolve_device("tpu")
