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
# Every folder the broker, beat and the logs write lives under var/ (the app
# creates the broker's own folders when it loads).
VAR="${HEMA_VAR_DIR:-$PWD/var}"
export HEMA_VAR_DIR="$VAR"
# The shelf QR codes point at the server this command starts (on all
# interfaces: at this machine's first address, which a phone on the LAN reaches).
QR_HOST="$HOST"
if [[ "$HOST" == "0.0.0.0" ]]; then
    QR_HOST="$(hostname -I 2>/dev/null | awk '{print $1}')"
    QR_HOST="${QR_HOST:-127.0.0.1}"
fi
export HEMA_QR_BASE_URL="${HEMA_QR_BASE_URL:-http://$QR_HOST:$PORT}"
mkdir -p "$VAR"

"$BIN/celery" -A hema worker --beat --loglevel=INFO --concurrency=1 -Q celery,dispatch,forecast \
    --schedule="$VAR/celerybeat-schedule" >"$VAR/celery-dev.log" 2>&1 &
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
  Worker log      $VAR/celery-dev.log
  QR codes point  $HEMA_QR_BASE_URL

EOT
"$BIN/python" manage.py runserver "$HOST:$PORT"
