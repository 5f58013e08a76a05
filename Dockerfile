# triggerd image: the daemon on SQLite, config mounted read-only at /etc/triggerd, state on a
# volume, tini as PID 1, health from `triggerd check`, metrics on :9464.
#
#   docker build -t triggerd .
#   docker run -d --name triggerd -v "$PWD/config:/etc/triggerd:ro" -v triggerd-state:/var/lib/triggerd triggerd
#   docker exec triggerd triggerd runs list
#   docker kill -s HUP triggerd        # reload the config
#   docker stop -t 45 triggerd         # drain: 30 s shutdown grace + 10 s kill grace + margin
#
# Command pipelines run inside this container: build your own image FROM this one to add the
# programs your argv lists need. A sidecar setup (Compose, Kubernetes) is in docs/deploy/.

# Small Debian-based CPython 3.11, the version triggerd is built and tested on. The minor version
# and the Debian release are pinned (tini's path and libc do not move under us); add
# @sha256:<digest> for byte-for-byte reproducible builds.
FROM python:3.11-slim-bookworm

# No .pyc files written at run time (the root file system may be read-only), no pip cache in the
# layers, output straight to `docker logs`.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# tini becomes PID 1: it forwards SIGTERM/SIGHUP to triggerd and reaps zombies. A command
# pipeline runs in its own process group, and its grandchildren that outlive it are re-parented
# to PID 1; with triggerd as PID 1 nobody would wait() for them. (`docker run --init` does the
# same with Docker's bundled tini; this image does not need it.) No -g: only the daemon gets the
# signal, so it can drain its commands.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged system user (uid/gid 10001, above any host's regular users); the
# daemon never runs as root. The state directory is created here and owned by it, so a fresh
# named volume mounted there starts with the right owner.
RUN groupadd --system --gid 10001 triggerd \
    && useradd --system --uid 10001 --gid triggerd --home-dir /var/lib/triggerd --no-create-home \
       --shell /usr/sbin/nologin triggerd \
    && mkdir -p /var/lib/triggerd /etc/triggerd \
    && chown triggerd:triggerd /var/lib/triggerd \
    && chmod 0750 /var/lib/triggerd

# Build context for the install steps below (not the runtime working directory).
WORKDIR /src

# Dependencies first, from the lock file alone, so this layer is rebuilt only when they change.
# requirements.lock pins every package triggerd runs on (its dependencies and the postgres extra,
# the driver for several replicas on PostgreSQL) with the hashes of their files; `make lock`
# resolves it from pyproject.toml for this Python 3.11 on Linux x86_64. Every build installs the
# same Python packages, byte for byte (the base image too, once FROM above names its digest).
COPY requirements.lock ./
# --require-hashes: a file whose hash is not in the lock is refused; --no-deps: nothing outside
# the lock is installed; --only-binary: wheels only, no compiler and no build run here.
RUN pip install --no-deps --require-hashes --only-binary=:all: -r requirements.lock

# The build backend for the package (setuptools, wheel), pinned and hashed the same way.
COPY requirements-build.lock ./
# Installed into the image, so the package below builds without fetching anything.
RUN pip install --no-deps --require-hashes --only-binary=:all: -r requirements-build.lock

# Then the package itself: pyproject.toml and README.md (its long description) are its metadata...
COPY pyproject.toml README.md ./
# ...and the source, the layer that changes most, so it comes last.
COPY triggerd/ ./triggerd/
# triggerd only (--no-deps), built with the pinned backend (--no-build-isolation); `pip check`
# fails the build if the lock left out anything an installed package requires. Then the build
# context goes.
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && rm -rf /src

# The database (triggerd.db), its WAL and its lock file live here; keep it on a volume.
ENV TRIGGERD_STATE_DIR=/var/lib/triggerd
# The config every command reads by default, so `docker exec triggerd triggerd schedules list` works.
ENV TRIGGERD_CONFIG=/etc/triggerd
# JSON log lines even when started with `docker run -t`.
ENV TRIGGERD_LOG_FORMAT=json
# /healthz, /readyz, /metrics on all interfaces of the container's own network namespace:
# loopback (the default outside a container) would hide them from Prometheus and kubelet
# probes. Nothing is reachable from outside unless the port is published (-p 9464:9464).
ENV TRIGGERD_HTTP_ADDRESS=0.0.0.0:9464
# State survives the container; mount a named volume or a host directory here.
VOLUME ["/var/lib/triggerd"]

# Commands without a `cwd` in their pipeline run here (writable by the daemon's user).
WORKDIR /var/lib/triggerd
# Everything from here on, and the container itself, runs unprivileged. Numeric, so Kubernetes'
# runAsNonRoot can verify it without looking into /etc/passwd.
USER 10001:10001

# Prometheus metrics (and the health endpoints) - documentation only; publish it to scrape it.
EXPOSE 9464

# triggerd drains on SIGTERM: runs in flight get 30 s, then their commands SIGTERM and 10 s
# later SIGKILL, and are handed back as pending. Docker waits only 10 s by default before its
# SIGKILL: stop with `docker stop -t 45`, `stop_grace_period: 45s` in Compose, or
# `terminationGracePeriodSeconds: 45` in Kubernetes.
STOPSIGNAL SIGTERM
# `triggerd check` exits 0 while the daemon's heartbeat in the database is fresh (under 15 s
# old), else 1 with the reason (shown by `docker inspect`). Every 30 s; 60 s to start (config,
# migrations, catch-up); unhealthy after 3 misses in a row.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["triggerd", "check"]

# tini as PID 1, then the daemon directly (exec form: no shell in between to swallow signals).
ENTRYPOINT ["tini", "--", "triggerd"]
# Default command: the daemon on the mounted config. Override with e.g. `validate --config /etc/triggerd`.
CMD ["run", "--config", "/etc/triggerd"]
