# syntax=docker/dockerfile:1
# One image for the API (`rapport serve`), the worker (`rapport worker`) and migrations
# (`rapport migrate`); compose.yaml beside this file runs all three with PostgreSQL, and
# docs/deployment.md lists every production setting. The image sets no environment: production
# is chosen where it runs (RAPPORT_ENVIRONMENT=production, as compose.yaml does), and then
# refuses to start without a real secret key, PostgreSQL and Stripe's keys.
# The dev tools (rapport_dev: Stripe sandbox, demo data, generator) are not in the image.
# tests/test_deployment.py runs these same commands outside Docker.

# Build stage: install the package and its dependencies into a virtualenv.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
RUN pip install .

# Runtime stage: the virtualenv, migrations and a non-root user; nothing to compile with.
FROM python:3.11-slim AS runtime
# Inside a container the API listens on every interface; RAPPORT_PORT may be changed at run
# time, and the health check follows it.
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 RAPPORT_HOST=0.0.0.0 RAPPORT_PORT=8000
RUN useradd --create-home --uid 10001 rapport
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/rapport
COPY alembic.ini ./
COPY migrations ./migrations
COPY openapi ./openapi
# var/ is the API's to write: the matching index's shared generations (RAPPORT_MATCHING_INDEX_DIR,
# default var/matching-index), mapped by every API process of the container.
RUN mkdir var && chown rapport:rapport var
USER rapport
EXPOSE 8000
# `rapport healthcheck` asks http://127.0.0.1:$RAPPORT_PORT/healthz (the worker service of
# compose.yaml turns it off: it serves no HTTP).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD ["rapport", "healthcheck"]
# The API. `rapport serve` upgrades the schema before it listens; compose.yaml runs
# `rapport migrate` once instead and starts the API with --no-migrate.
CMD ["rapport", "serve"]
