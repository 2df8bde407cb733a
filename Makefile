# Two commands do all setup on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,bench]'
	# bytecode as an installed wheel has it (an editable install writes none, and PYTHONDONTWRITEBYTECODE
	# may be set): every `amr` start then skips compiling the project's modules (~30 ms of ~85)
	$(BIN)/python -m compileall -q -j 0 amr collector decoders sync server
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/amr demo

test: $(STAMP)
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var build *.egg-info
