# triggerd, first image: the daemon on SQLite, config mounted at /etc/triggerd.
#
#   docker build -t triggerd .
#   docker run -d --name triggerd -v "$PWD/config:/etc/triggerd:ro" -v triggerd-state:/var/lib/triggerd triggerd
#   docker exec triggerd triggerd runs list
#   docker stop -t 45 triggerd        # 30 s shutdown grace + margin (docker's default is 10 s)
#
# Command pipelines run inside this container: build your own image FROM this one to add the
# programs your argv lists need.

# Small Debian-based CPython 3.11, the version triggerd is built and tested on.
FROM python:3.11-slim

# No .pyc files or pip cache in the image's layers; output straight to `docker logs`.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged system user; the daemon never runs as root.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/triggerd --no-create-home triggerd \
    && mkdir -p /var/lib/triggerd /etc/triggerd \
    && chown triggerd:triggerd /var/lib/triggerd

# Build context for the install steps below (not the runtime working directory).
WORKDIR /src

# Dependencies first, from pyproject.toml alone, so this layer is rebuilt only when they change.
COPY pyproject.toml ./
# Read [project].dependencies with the standard library and install exactly those.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the package itself (README.md is part of the package metadata).
COPY README.md ./
COPY triggerd/ ./triggerd/
# Dependencies are already in place; install triggerd only, and drop the build context.
RUN pip install --no-deps . \
    && rm -rf /src

# The database (triggerd.db) and its lock file live here; keep it on a volume.
ENV TRIGGERD_STATE_DIR=/var/lib/triggerd
# JSON log lines even when started with `docker run -t`.
ENV TRIGGERD_LOG_FORMAT=json
# State survives the container; mount a named volume or a host directory here.
VOLUME ["/var/lib/triggerd"]

# Commands without a `cwd` in their pipeline run here (writable by the daemon's user).
WORKDIR /var/lib/triggerd
# Everything from here on, and the container itself, runs unprivileged.
USER triggerd

# triggerd drains on SIGTERM: runs in flight get 30 s, then are handed back as pending.
STOPSIGNAL SIGTERM
# `triggerd check` exits 0 while the daemon's heartbeat is fresh (under 15 s old), else 1.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["triggerd", "check"]

# Run the daemon directly (exec form, no shell wrapper) so it is PID 1 and receives SIGTERM.
ENTRYPOINT ["triggerd"]
# Default command: the daemon on the mounted config. Override with e.g. `validate --config /etc/triggerd`.
CMD ["run", "--config", "/etc/triggerd"]
