# syntax=docker/dockerfile:1
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
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 RAPPORT_HOST=0.0.0.0 RAPPORT_PORT=8000 \
    RAPPORT_ENVIRONMENT=production
RUN useradd --create-home --uid 10001 rapport
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv/rapport
COPY alembic.ini ./
COPY migrations ./migrations
COPY openapi ./openapi
USER rapport
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz'); sys.exit(0)"
# Migrations first, then the server (rapport serve upgrades the schema before it listens).
CMD ["rapport", "serve"]
