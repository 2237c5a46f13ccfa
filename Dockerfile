# syntax=docker/dockerfile:1
#
# Images of the three services and the console, one target each, built from the repository
# root with the locked dependencies (uv.lock):
#
#   docker build --target ingress      -t chatbot-ingress:0.1.0      .
#   docker build --target conversation -t chatbot-conversation:0.1.0 .
#   docker build --target sender       -t chatbot-sender:0.1.0       .
#   docker build --target console      -t chatbot-console:0.1.0      .
#
# The build stage installs one service and its dependencies into /app/.venv as regular (not
# editable) packages; the final stage is the same slim Python base with only that venv, run as
# uid/gid 10001: no compiler, no uv, no pip, no sources, no dev dependencies, no sandbox.
# (`make lint` checks this file with hadolint. The development machines and CI have no Docker
# engine, so the images are built by your CI or `skaffold build`, not by `make test`.)

# Pinned by exact tag; pin by digest too in your registry mirror (python:3.13.9-slim-trixie@sha256:...).
ARG PYTHON_IMAGE=python:3.13.9-slim-trixie

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
# uv from its official image, at pyproject.toml's dev pin (tests/chart/test_images.py checks).
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /bin/
# Copies, not links, out of the cache mount that every `uv sync` below shares.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The workspace's manifests: enough for uv to resolve from the lock, so the dependency layers
# below are rebuilt only when uv.lock or a pyproject.toml changes, not on every code change.
COPY pyproject.toml uv.lock ./
COPY services/common/pyproject.toml services/common/
COPY services/ingress/pyproject.toml services/ingress/
COPY services/conversation/pyproject.toml services/conversation/
COPY services/sender/pyproject.toml services/sender/
COPY services/console/pyproject.toml services/console/
COPY services/sandbox/pyproject.toml services/sandbox/
COPY services/devstack/pyproject.toml services/devstack/

FROM build AS build-ingress
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package chatbot-ingress
COPY services/common/ services/common/
COPY services/ingress/ services/ingress/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package chatbot-ingress

FROM build AS build-conversation
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package chatbot-conversation
COPY services/common/ services/common/
COPY services/conversation/ services/conversation/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package chatbot-conversation

FROM build AS build-sender
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package chatbot-sender
COPY services/common/ services/common/
COPY services/sender/ services/sender/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package chatbot-sender

FROM build AS build-console
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package chatbot-console
COPY services/common/ services/common/
COPY services/console/ services/console/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package chatbot-console

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
# pip is a package installer the services never use: out of the final image.
RUN python -m pip uninstall --yes --no-cache-dir pip \
    && groupadd --system --gid 10001 chatbot \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin chatbot
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0
WORKDIR /app
USER 10001:10001

FROM runtime AS ingress
COPY --from=build-ingress /app/.venv /app/.venv
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["chatbot-ingress"]

FROM runtime AS conversation
COPY --from=build-conversation /app/.venv /app/.venv
ENV PORT=8081
EXPOSE 8081
ENTRYPOINT ["chatbot-conversation"]

FROM runtime AS sender
COPY --from=build-sender /app/.venv /app/.venv
ENV PORT=8082
EXPOSE 8082
ENTRYPOINT ["chatbot-sender"]

FROM runtime AS console
COPY --from=build-console /app/.venv /app/.venv
ENV PORT=8083
EXPOSE 8083
ENTRYPOINT ["chatbot-console"]
