#!/usr/bin/env bash
# `make serve`: the production shape on this machine, without containers. The
# image's own start scripts (deploy/bin/start-{web,worker,beat}.sh) run gunicorn,
# a Celery worker and celery beat with DEBUG=False against the local PostgreSQL,
# RabbitMQ and Redis, after migrate and collectstatic. Ctrl-C stops all three.
#
# The environment overrides every default: PORT (8000), DATABASE_URL,
# CELERY_BROKER_URL, REDIS_URL, ALLOWED_HOSTS, SECRET_KEY (unset: a throwaway key
# is generated for this run); SEED_DEMO=1 also loads the demo stores
# (manage.py seed_demo, idempotent). Output goes to the terminal, each line prefixed
# with its process, and to var/serve/{web,worker,beat}.log.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="$PWD/.venv/bin"
if [[ ! -x "$BIN/python" ]]; then
    echo "serve: no .venv here; run 'make venv' first" >&2
    exit 1
fi
export PATH="$BIN:$PATH"

export DEBUG=False
export PORT="${PORT:-8000}"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/hema}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-amqp://guest:guest@127.0.0.1:5672//}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1}"
# Plain HTTP on this machine: no redirect to HTTPS.
export SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-False}"
export GUNICORN_BIND="${GUNICORN_BIND:-127.0.0.1:$PORT}"
export HEMA_QR_BASE_URL="${HEMA_QR_BASE_URL:-http://127.0.0.1:$PORT}"
# Two servers on one broker must not share a worker name.
export WORKER_NAME="${WORKER_NAME:-serve-$PORT}"

say() { printf '[serve] %s\n' "$*"; }
redact() { sed -E 's#(//[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }

if [[ -z "${SECRET_KEY:-}" ]]; then
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    export SECRET_KEY
    say "SECRET_KEY is not set: using a throwaway key generated for this run" \
        "(sessions and signed links end when it stops; set SECRET_KEY to keep them)."
fi
say "database $(redact "$DATABASE_URL")"
say "broker   $(redact "$CELERY_BROKER_URL")"
say "cache    $(redact "$REDIS_URL")"

python manage.py ensure_database
python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
say "static files collected into staticfiles/"
if [[ "${SEED_DEMO:-0}" == "1" ]]; then
    python manage.py seed_demo
    python manage.py seed_demo_prices
    python manage.py seed_demo_layout
fi

mkdir -p var/serve
pids=()
names=()

start() {  # name command...
    local name=$1
    shift
    "$@" > >(tee "var/serve/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
    pids+=("$!")
    names+=("$name")
}

stop() {
    trap - EXIT INT TERM
    say "stopping web, worker and beat"
    local pid alive
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    # Celery finishes its running tasks first; give everything 30 seconds.
    for _ in $(seq 60); do
        alive=0
        for pid in "${pids[@]}"; do
            if kill -0 "$pid" 2>/dev/null; then alive=1; fi
        done
        [[ $alive == 0 ]] && break
        sleep 0.5
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    say "stopped"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start web deploy/bin/start-web.sh
# One worker here consumes every queue; production gives dispatch and the
# forecast their own.
export WORKER_QUEUES="${WORKER_QUEUES:-celery,dispatch,forecast}"
start worker deploy/bin/start-worker.sh
start beat deploy/bin/start-beat.sh

healthy=0
for _ in $(seq 60); do
    if python - "$PORT" <<'EOF' 2>/dev/null; then
import sys
import urllib.request

urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/healthz", timeout=2)
EOF
        healthy=1
        break
    fi
    sleep 0.5
done
if [[ $healthy == 1 ]]; then
    base="http://127.0.0.1:$PORT"
    cat <<EOT

  Hema, production shape (gunicorn, Celery worker, celery beat; DEBUG=False)
  ---------------------------------------------------------------------------
  Health          $base/healthz
  Stores          $base/api/v1/stores/
  Scan a label    $base/api/v1/stores/SH01/scan/FRU-0001   (demo data: SEED_DEMO=1)
  API docs        $base/api/docs/
  Admin           $base/admin/
  Logs            var/serve/web.log, worker.log, beat.log
  Stop            Ctrl-C

EOT
else
    say "gunicorn did not answer /healthz within 30 seconds; see var/serve/web.log"
fi

status=0
wait -n "${pids[@]}" || status=$?
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        say "${names[$i]} exited (status $status); stopping the others"
    fi
done
exit "$status"
