# partnerhub: web app or worker (the command chooses). Distributed mode: REDIS_URL and
# DATABASE_URL point at shared servers; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PARTNERHUB_DATA_DIR=/data \
    PARTNERHUB_MAPPINGS_DIR=/app/mappings \
    PARTNERHUB_TEMPLATES_DIR=/app/templates \
    PARTNERHUB_HOST=0.0.0.0 \
    PARTNERHUB_PORT=8080

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin partnerhub \
    && mkdir -p /data && chown partnerhub:partnerhub /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectors ./connectors
COPY hub ./hub
COPY worker.py webhook_app.py ./
RUN pip install .
COPY mappings ./mappings
COPY templates ./templates

USER partnerhub
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
CMD ["partnerhub", "web"]
