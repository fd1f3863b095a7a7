#!/bin/sh
# One image, three services: RUN_MODE picks the process (see docs/deploy.md).
set -e

# An explicit command (a platform's pre-deploy step, `docker run IMAGE python -m app migrate`)
# runs as given; without one, RUN_MODE picks the service.
if [ "$#" -gt 0 ]; then
    exec "$@"
fi

if [ -z "${RUN_MODE:-}" ]; then
    echo "ERROR: RUN_MODE environment variable is required!"
    exit 1
fi

case "$RUN_MODE" in
    api)
        exec uvicorn app.main:app --host 0.0.0.0 --port "${PORT:-8000}"
        ;;
    worker)
        exec python -m app.workers.fila_worker
        ;;
    scheduler)
        exec python -m app.workers.scheduler
        ;;
    *)
        echo "ERROR: Invalid RUN_MODE: $RUN_MODE"
        exit 1
        ;;
esac
