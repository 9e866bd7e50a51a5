# The two commands of the README: `make report` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: report test bench venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

BENCH_JSON := bench/out/gd_cot_training.json
SEEDS_JSON := bench/out/gd_cot_seeds.json

# Parallel workers (pytest-xdist) for the report and the tests: JOBS=1 runs serially, in one process.
JOBS ?= auto
XDIST := -n $(if $(filter 1,$(JOBS)),0,$(JOBS) --dist loadfile)

# Proof-check report on the quick profile; pass extra flags with ARGS="--profile paper --only 'gd_cot.*'".
# Its header quotes the latest benchmarks: this machine's (bench/out), else the committed ones (bench/results);
# with neither, short ones (k = 20, ~1 min together) run first.
report: $(STAMP)
	@test -f $(BENCH_JSON) || test -f bench/results/gd_cot_training.json || \
		$(PY) -m bench gd_cot_training --ks 20 --dtypes float32 --json $(BENCH_JSON)
	@test -f $(SEEDS_JSON) || test -f bench/results/gd_cot_seeds.json || \
		$(PY) -m bench gd_cot_seeds --dtypes float64 --timing-steps 10 --json $(SEEDS_JSON)
	$(PY) -m reports --jobs $(JOBS) $(ARGS)

# The full side-by-side training benchmark (k = 10, 20; float32, float64; a few minutes).
bench: $(STAMP)
	$(PY) -m bench gd_cot_training --json $(BENCH_JSON)

# Library tests and claim checks (quick profile).
test: $(STAMP)
	$(PY) -m pytest $(XDIST) tests verify $(ARGS)

clean:
	rm -rf $(VENV) reports/out .pytest_cache .hypothesis
