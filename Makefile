# Local Shows. `make demo` runs it all offline against the sandbox; `make test` checks it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_PORT ?= 8080

.PHONY: install demo sandbox run test test-dates lint bench deploy clean

$(INSTALLED): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

# Keys for local runs, made once so sessions and stored tokens survive restarts.
var/local.env: | $(INSTALLED)
	mkdir -p var
	$(BIN)/python -c 'import secrets; from cryptography.fernet import Fernet; \
	print("FLASK_SECRET_KEY=" + secrets.token_urlsafe(32)); \
	print("TOKEN_ENCRYPTION_KEY=" + Fernet.generate_key().decode())' > $@

demo: $(INSTALLED) var/local.env
	$(BIN)/python -m sandbox.demo --port $(DEMO_PORT)

# The sandbox alone, for trying the services by hand: make sandbox SANDBOX_ARGS="--mode extended"
sandbox: $(INSTALLED)
	$(BIN)/python -m sandbox serve --port 8099 $(SANDBOX_ARGS)

# Serve the web app with the settings of this shell's environment (real services).
run: $(INSTALLED)
	$(BIN)/gunicorn -b 127.0.0.1:$(DEMO_PORT) --workers 1 --threads 8 web.main:app

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
		echo "make test needs Debian's chromium for the browser tests: sudo apt-get install -y chromium" >&2; \
		exit 1; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint $(CHROMIUM)
	CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# The whole suite at the instants where calendars break, the machine's clock moved there by
# Debian's faketime (not part of `make test`: it runs the suite seven times). See ops/test-dates.
FAKETIME := /usr/bin/faketime
$(FAKETIME):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime; \
	else \
		echo "make test-dates needs Debian's faketime: sudo apt-get install -y faketime" >&2; \
		exit 1; \
	fi

test-dates: $(INSTALLED) $(CHROMIUM) $(FAKETIME)
	CHROMIUM=$(CHROMIUM) INSTANTS="$(INSTANTS)" ops/test-dates

bench: $(INSTALLED)
	$(BIN)/python -m bench

deploy:
	gcloud app deploy app.yaml etl.yaml
	gcloud app deploy cron.yaml dispatch.yaml

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
