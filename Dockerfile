# crisiswatch worker image: `docker build -t crisiswatch .` then `docker run crisiswatch` (a worker) or
# `docker run crisiswatch replay ...`. deploy/docker-compose.yml builds and runs it beside Kafka.
#
# Two stages: the builder makes the project's wheel and installs it with its dependencies into a
# virtualenv; the runtime stage copies only that virtualenv onto a slim Python, and runs as a
# non-root user. Both stages use the same base image, so the venv's interpreter path is valid.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A compiler only for the rare dependency without a wheel; it stays in this stage.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/crisiswatch
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY streams ./streams
COPY detectors ./detectors
COPY alerts ./alerts
RUN /opt/crisiswatch/bin/pip install --upgrade pip wheel \
    && /opt/crisiswatch/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/crisiswatch/bin/pip install /wheels/crisiswatch-*.whl

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="crisiswatch" \
      org.opencontainers.image.description="Crisis-monitoring alerts for brands: Kafka, Faust, Prometheus, Slack, PagerDuty" \
      org.opencontainers.image.licenses="Apache-2.0"
# The data directory exists in the image, owned by the worker's user, so that a named volume mounted
# there starts with that ownership (Docker copies it into an empty volume).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/crisiswatch --create-home crisiswatch \
    && mkdir -p /var/lib/crisiswatch/data /etc/crisiswatch \
    && chown -R crisiswatch:crisiswatch /var/lib/crisiswatch
COPY --from=builder /opt/crisiswatch /opt/crisiswatch
COPY crisiswatch.yaml /etc/crisiswatch/crisiswatch.yaml
ENV PATH=/opt/crisiswatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    CRISISWATCH_CONFIG=/etc/crisiswatch/crisiswatch.yaml \
    CRISISWATCH_DATA_DIR=/var/lib/crisiswatch/data \
    CRISISWATCH_METRICS_PORT=9108 \
    CRISISWATCH_WEB_PORT=6066
USER 10001:10001
WORKDIR /var/lib/crisiswatch
# 9108: Prometheus /metrics; 6066: Faust's web server (/counts/, liveness).
EXPOSE 9108 6066
# Healthy when the metrics endpoint answers (no curl in a slim image: the venv's Python does it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CRISISWATCH_METRICS_PORT', '9108') + '/metrics', timeout=4)"]
ENTRYPOINT ["crisiswatch"]
CMD ["worker"]
