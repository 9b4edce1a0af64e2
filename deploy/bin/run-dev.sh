#!/usr/bin/env bash
# `make run`: the demo store on this machine, embedded defaults unless the
# environment says otherwise. A Celery worker with beat runs beside the
# development server (filesystem broker under var/), and stops with it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Development: DEBUG on (its default is off) unless the environment says otherwise.
export DEBUG="${DEBUG:-True}"
HOST="${1:-127.0.0.1}"
PORT="${2:-8000}"
BIN=.venv/bin
mkdir -p var/broker var/broker-processed

"$BIN/celery" -A hema worker --beat --loglevel=INFO --concurrency=1 \
    --schedule=var/celerybeat-schedule >var/celery-dev.log 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM

cat <<EOT

  Hema demo store
  ---------------
  API root        http://$HOST:$PORT/api/v1/
  Stores          http://$HOST:$PORT/api/v1/stores/
  Scan a label    http://$HOST:$PORT/api/v1/stores/SH01/scan/FRU-0001
  QR image        http://$HOST:$PORT/api/v1/stores/SH01/products/FRU-0001/qr.png
  API docs        http://$HOST:$PORT/api/docs/
  Admin           http://$HOST:$PORT/admin/
  Demo manager    manager@hema.demo / ${DEMO_PASSWORD:-hema-demo-2026}
  Worker log      var/celery-dev.log

EOT
"$BIN/python" manage.py runserver "$HOST:$PORT"
