# One image for the three Railway services; RUN_MODE (api | worker | scheduler) picks the
# process in scripts/entrypoint.sh. No HEALTHCHECK here: the worker and the scheduler expose
# no port, so the health check is configured on Railway for the api service only.

# ---- builder: resolve the locked dependencies into a self-contained virtualenv ----------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:$PATH"

WORKDIR /build
RUN python -m venv /opt/venv

# The lock file changes less often than the code, so this layer stays cached across commits.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

# The project itself, without dependencies (all pinned above): gives the `julia` console
# script and the distribution metadata.
COPY pyproject.toml README.md ./
COPY app/ ./app/
RUN pip install --no-cache-dir --no-deps .

# ---- runtime ------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

# ENVIRONMENT / APP_ENV are deliberately not set here: Railway sets them per environment.
# PYTHONPATH makes /app/app the imported package in every mode (uvicorn, python -m, julia).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH="/opt/venv/bin:$PATH" \
    PYTHONPATH=/app

RUN groupadd --system --gid 10001 julia \
    && useradd --system --uid 10001 --gid julia --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin julia

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
COPY app/ ./app/
COPY migrations/ ./migrations/
COPY scripts/entrypoint.sh ./scripts/entrypoint.sh

# .julia is only used by the embedded services outside production; give the user a
# writable one so a local `docker run` behaves like a developer machine.
RUN chmod 0755 /app/scripts/entrypoint.sh \
    && mkdir -p /app/.julia \
    && chown julia:julia /app/.julia

# Build information shown by /health and /health/deep. Declared last so a new commit only
# rebuilds these metadata layers. Railway passes service variables of the same name as
# build args; an empty GIT_SHA lets the app fall back to RAILWAY_GIT_COMMIT_SHA.
ARG GIT_SHA=""
ARG BUILD_TIME=""
ENV GIT_SHA=${GIT_SHA} \
    BUILD_TIME=${BUILD_TIME}

# The julia user created above, by number so the runtime can tell it is not root.
USER 10001:10001

EXPOSE 8000

ENTRYPOINT ["/app/scripts/entrypoint.sh"]
