#!/usr/bin/env bash
# The web process: gunicorn serving hema.wsgi, configured by deploy/gunicorn.conf.py
# (bind, workers and threads from the environment).
#
# Migrations normally run once per release, before the web processes start (the
# compose "migrate" service, the Kubernetes Job in deploy/k8s/migrate-job.yaml).
# MIGRATE_ON_START=1 runs them here instead: for a single web process only, since
# two processes migrating at once can collide.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ "${MIGRATE_ON_START:-0}" == "1" ]]; then
    python manage.py migrate --noinput
fi
exec gunicorn --config deploy/gunicorn.conf.py
