#!/usr/bin/env bash
# The image's entry point: one image, one process per container, chosen by the
# first argument.
#
#   web       gunicorn (the default command)
#   worker    a Celery worker (WORKER_QUEUES, default "celery")
#   beat      celery beat (exactly one per deployment)
#   migrate   apply migrations, then exit (the Kubernetes Job)
#   release   migrate, then collect static files, then exit (the compose one-shot;
#             it refreshes the static volume nginx serves)
#   anything else is run as given, e.g. `python manage.py seed_demo`
set -euo pipefail
cd "$(dirname "$0")/../.."

command="${1:-web}"
case "$command" in
    web) exec deploy/bin/start-web.sh ;;
    worker) exec deploy/bin/start-worker.sh ;;
    beat) exec deploy/bin/start-beat.sh ;;
    migrate) exec python manage.py migrate --noinput ;;
    release)
        python manage.py migrate --noinput
        exec python manage.py collectstatic --noinput
        ;;
    *) exec "$@" ;;
esac
