# Two commands on a fresh machine:  make demo   and   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first and pinned, so that pip never pulls a different build.
# On a CUDA machine the same pin from PyPI is the CUDA build; override TORCH to choose another.
TORCH  ?= torch==2.13.0
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: install demo test docs bench clean

$(BIN)/ebmlab: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[world,dev]"
	@touch $@

install: $(BIN)/ebmlab

demo: install
	$(BIN)/ebmlab demo

test: install
	$(BIN)/python -m pytest -q

# the documentation site into site/, strict (a broken link or a stale name fails), the notebooks executed at
# small settings (a few minutes; `make docs QUICK=0` runs them at full size)
QUICK ?= 1
docs: install
	NO_MKDOCS_2_WARNING=1 EBMLAB_DOCS_EXECUTE=true EBMLAB_QUICK=$(QUICK) TQDM_DISABLE=1 $(BIN)/mkdocs build --strict

bench: install
	$(BIN)/python benchmarks/bench_solvers.py
	$(BIN)/python benchmarks/bench_lista.py --runs m100,m400,m100-untied
	$(BIN)/python benchmarks/bench_lista.py --runs m400-untied --name lista_m400_untied
	$(BIN)/python benchmarks/lista_variants.py
	$(BIN)/python benchmarks/lista_variants.py --variants shrinkage,momentum --n-train 500000 --epochs 20 --tag 500k
	$(BIN)/python benchmarks/bench_drsae.py --data mnist5k
	$(BIN)/python benchmarks/bench_drsae.py --data fashion-mnist
	$(BIN)/python benchmarks/bench_group_solver.py
	$(BIN)/python benchmarks/bench_topo.py
	$(BIN)/python benchmarks/bench_local.py
	$(BIN)/python benchmarks/bench_conv.py
	$(BIN)/python benchmarks/bench_gan_modes.py
	$(BIN)/python benchmarks/bench_gan_modes.py --data grid25 --configs logistic-r1 --epochs 60 --tag r1_grid
	$(BIN)/python benchmarks/bench_gan_modes.py --data ring8 --configs logistic-r1 --r1 0.5 --epochs 60 --tag r1_ring
	$(BIN)/python benchmarks/bench_gan_fashion.py
	$(BIN)/python benchmarks/bench_gan_pitfalls.py
	$(BIN)/python benchmarks/bench_gan_step.py --rounds 7
	$(BIN)/python benchmarks/bench_world_models.py
	$(BIN)/python benchmarks/bench_world_planning.py
	$(BIN)/python benchmarks/bench_world_control.py --env Pendulum-v1
	$(BIN)/python benchmarks/bench_world_control.py --env MountainCarContinuous-v0
	$(BIN)/python benchmarks/bench_world_control.py --env InvertedDoublePendulum-v5
	$(BIN)/python benchmarks/bench_world_oracle.py
	$(BIN)/python benchmarks/bench_pendulum_optimum.py
	$(BIN)/python benchmarks/bench_traffic_sim.py
	$(BIN)/python benchmarks/bench_traffic_ppuu.py --stages record,model-stoch
	$(BIN)/python benchmarks/bench_traffic_ppuu.py --stages none,recorded,imitation,mpur,ppo,model-det,mper,mpc,mpur-det --model-steps 500 --policy-steps 300 --ppo-steps 50000 --mpc-cars 20 --mpc-horizon 5 --mpc-iterations 2 --reactive imitation,mpur
	$(BIN)/python benchmarks/traffic_steering_probe.py

clean:
	rm -rf $(VENV) runs .pytest_cache site .cache
