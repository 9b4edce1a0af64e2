# The commands the README names. Every target creates .venv and installs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/hema
BENCH ?=
# These are development commands: DEBUG on (its default is off) unless the
# environment says otherwise. `serve` and the benchmarks turn it off themselves.
export DEBUG ?= True

.PHONY: venv run serve test test-all lint format bench migrate seed demo clean

# The translations (hema/locale/<lang>/LC_MESSAGES/django.po) are compiled
# here, at install, never committed; Babel (a dependency) compiles them in pure
# Python, so no system gettext is needed.
PO_FILES := $(wildcard hema/locale/*/LC_MESSAGES/django.po)
MO_FILES := $(PO_FILES:.po=.mo)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

%.mo: %.po | $(STAMP)
	$(BIN)/pybabel compile --domain django --input-file $< --output-file $@

venv: $(STAMP) $(MO_FILES)

migrate: venv
	$(BIN)/python manage.py ensure_database
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_demo_prices
	$(BIN)/python manage.py seed_demo_layout

## demo: two years of demo history for both demo stores, the forecast fitted,
## two simulated days of SH01 (simulation/scenarios/demo.toml) on the demo
## database (the embedded defaults unless DATABASE_URL says otherwise), kept so
## that `make run` and the admin show them; prints where the report is
## (var/reports/<time>/index.html); then SH01's backtest, and SH02's forecast,
## online buffers and replenishment draft (the draft for a manager to approve
## in the admin). SEED=1 by default.
SEED ?= 1
demo: seed
	$(BIN)/python manage.py seed_demo_history
	$(BIN)/python manage.py forecast --store SH01 --refit
	$(BIN)/python manage.py simulate_store --scenario simulation/scenarios/demo.toml --seed $(SEED) --keep
	$(BIN)/python manage.py backtest --store SH01 --weeks 4 --per-category 3
	$(BIN)/python manage.py forecast --store SH02 --refit
	$(BIN)/python manage.py set_online_buffers --store SH02
	$(BIN)/python manage.py replenishment_draft --store SH02

## run: the demo store on the embedded defaults (SQLite, filesystem broker).
run: seed
	@bash deploy/bin/run-dev.sh $(HOST) $(PORT)

## serve: the production shape here: gunicorn, a worker and beat on the local
## PostgreSQL and RabbitMQ (override DATABASE_URL / CELERY_BROKER_URL).
serve: venv
	@bash deploy/bin/serve-local.sh

## test: the suite in a few minutes: it leaves out the tests marked slow,
## integration or browser, unless CI=true (as .ci/run sets), which runs every
## one of them. DATABASE_URL unset runs on SQLite (PostgreSQL-only tests skip).
LOCAL_MARKERS := -m "not slow and not integration and not browser"
test: venv
	$(BIN)/python -m pytest $(if $(filter true,$(CI)),,$(LOCAL_MARKERS))

## test-all: every test, as CI runs them (CI=true also fails on any skip).
test-all: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py makemigrations --check --dry-run

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: figures under tests/benchmarks/results/ (needs PostgreSQL: PG_URL).
## BENCH=http runs only that one; HEMA_BENCH_BASELINE=<checkout> also serves
## the HTTP benchmark from another checkout (the code before a change), alternately.
bench: venv
	DATABASE_URL=$${DATABASE_URL:-$(PG_URL)} $(BIN)/python -m tests.benchmarks.run $(BENCH)

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles $(MO_FILES)
