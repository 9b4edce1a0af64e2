#!/usr/bin/env bash
# celery beat: the periodic jobs. Schedules live in the database
# (django-celery-beat, editable in the admin); the ones in CELERY_BEAT_SCHEDULE
# are written there at start. Run exactly one beat per deployment.
set -euo pipefail
cd "$(dirname "$0")/../.."

exec celery --app hema beat \
    --loglevel "${LOG_LEVEL:-INFO}" \
    --scheduler django_celery_beat.schedulers:DatabaseScheduler
