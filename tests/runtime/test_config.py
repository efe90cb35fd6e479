from dataclasses import dataclass

import pytest

from ebmlab.errors import ConfigError
from ebmlab.runtime.config import TrainConfig, check, config_to_dict, resolve_config


@dataclass(frozen=True)
class Example(TrainConfig):
    lr: float = 0.1
    steps: int = 10
    sizes: tuple[int, ...] = (1, 2)
    shuffle: bool = True
    name: str = "a"

    def __post_init__(self):
        super().__post_init__()
        check(self.lr > 0, f"--lr must be > 0, got {self.lr}")


def test_defaults_then_toml_then_options(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('lr = 0.5\nsteps = 3\nsizes = [4, 5]\nname = "toml"\n')
    cfg = resolve_config(Example, toml, {"steps": 7, "lr": None, "shuffle": "false"})
    assert cfg.lr == 0.5 and cfg.steps == 7 and cfg.sizes == (4, 5) and cfg.shuffle is False
    assert cfg.name == "toml" and cfg.seed == 0
    assert config_to_dict(cfg)["sizes"] == [4, 5]


def test_comma_separated_tuple_option():
    assert resolve_config(Example, None, {"sizes": "3,4, 5"}).sizes == (3, 4, 5)


@pytest.mark.parametrize(
    "values, fragment",
    [
        ({"lr": -1.0}, "--lr must be > 0"),
        ({"steps": "many"}, "steps must be of type int"),
        ({"steps": 2.5}, "steps must be of type int"),
        ({"device": "tpu"}, "--device must be"),
        ({"checkpoint_every": 0}, "--checkpoint-every"),
    ],
)
def test_bad_values_are_config_errors(values, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(Example, None, values)


def test_unknown_toml_key_and_bad_toml(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text("learning_rate = 1\n")
    with pytest.raises(ConfigError, match="unknown key.*learning_rate"):
        resolve_config(Example, toml, {})
    toml.write_text("lr = = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_config(Example, toml, {})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(Example, tmp_path / "missing.toml", {})
