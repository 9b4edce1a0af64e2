#!/usr/bin/env bash
# A Celery worker. WORKER_QUEUES names the queues it consumes (comma-separated,
# default "celery"), so that each queue can get its own deployment and nightly
# forecasting never delays dispatch. Acks-late, prefetch 1 and the time limits
# come from hema/settings.py.
set -euo pipefail
cd "$(dirname "$0")/../.."

exec celery --app hema worker \
    --loglevel "${LOG_LEVEL:-INFO}" \
    --queues "${WORKER_QUEUES:-celery}" \
    --concurrency "${WORKER_CONCURRENCY:-2}" \
    --hostname "${WORKER_NAME:-worker}@%h"
