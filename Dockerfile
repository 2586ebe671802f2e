# Frontrow as a container: `frontrow run` as an unprivileged user, state in /data.
#
#   docker build -t frontrow .
#   docker run -d --name frontrow \
#     -v "$PWD/config.toml:/config/config.toml:ro" \
#     -v frontrow-data:/data \
#     -e FRONTROW_ACCESS_TOKEN \
#     frontrow
#
# The config is mounted read-only at /config/config.toml. `frontrow init` writes it with mode
# 0600, so make it readable by the container's user (uid 10001), e.g. `sudo chown 10001 config.toml`,
# or leave `access_token` empty in the file and pass FRONTROW_ACCESS_TOKEN instead.
# The example config's store, `sqlite:///frontrow.db`, is relative to the working directory,
# /data, so it lands at sqlite:////data/frontrow.db on the volume. For PostgreSQL see compose.yaml.
# Other commands run the same way: `docker exec frontrow frontrow drafts`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    FRONTROW_CONFIG=/config/config.toml

# Only what the install needs: pyproject names README.md as the readme, and bot/config.example.toml
# (package data, for `frontrow init`) is a symlink to the top-level file. Tests stay out of the image.
WORKDIR /src
COPY pyproject.toml README.md config.example.toml ./
COPY bot ./bot
RUN pip install --no-cache-dir ".[postgres]" \
    && cd / && rm -rf /src

# A fixed uid/gid, so a bind-mounted config or data directory can be chowned to it on the host.
RUN groupadd --system --gid 10001 frontrow \
    && useradd --system --uid 10001 --gid frontrow --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin frontrow \
    && mkdir -p /data /config \
    && chown frontrow:frontrow /data

# Ownership is set before VOLUME: changes to a volume path after it is declared are discarded.
VOLUME /data
WORKDIR /data
USER frontrow

# Fresh when the service wrote its heartbeat within 3 poll intervals (3 minutes by default).
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["frontrow", "health"]

# Exec form: frontrow is PID 1 and gets `docker stop`'s SIGTERM itself, for a graceful shutdown.
STOPSIGNAL SIGTERM
ENTRYPOINT ["frontrow"]
CMD ["run"]
