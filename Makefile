# The two commands of the README: `make report` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: report test venv clean

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

# Proof-check report on the quick profile; pass extra flags with ARGS="--profile paper --only 'gd_cot.*'".
report: $(STAMP)
	$(PY) -m reports $(ARGS)

# Library tests and claim checks (quick profile).
test: $(STAMP)
	$(PY) -m pytest tests verify $(ARGS)

clean:
	rm -rf $(VENV) reports/out .pytest_cache .hypothesis
