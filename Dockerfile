# tenantgate: one image for the webhook, the controller and `certs ensure` (the chart picks the command).
# Build: docker build -t tenantgate:0.1.0 --build-arg GIT_COMMIT=$(git rev-parse HEAD) .
# The base is pinned by tag; the final stage has no compilers, runs as a numeric non-root user and writes
# nothing outside mounted volumes, so it runs with a read-only root filesystem.

ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tenantgate/ tenantgate/
COPY webhook/ webhook/
COPY controller/ controller/
COPY certs/ certs/
COPY admission/ admission/
COPY tenancy/ tenancy/
COPY crds/ crds/
COPY kube/ kube/
RUN python -m pip wheel --no-cache-dir --wheel-dir /wheels /src

FROM ${PYTHON_IMAGE}
ARG GIT_COMMIT=unknown
ARG BUILD_DATE=unknown
LABEL org.opencontainers.image.title="tenantgate" \
      org.opencontainers.image.description="Multi-tenant application platform for Kubernetes: admission webhooks and a companion controller." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TENANTGATE_GIT_COMMIT=${GIT_COMMIT} \
    TENANTGATE_BUILD_DATE=${BUILD_DATE}
COPY --from=build /wheels /wheels
RUN python -m pip install --no-cache-dir --no-index --find-links /wheels tenantgate && rm -rf /wheels
USER 65532:65532
ENTRYPOINT ["tenantgate"]
CMD ["--help"]
