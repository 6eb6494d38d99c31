# The same image runs `klageapi serve`, `klageapi worker` and `klageapi migrate`; configure it
# with KLAGEAPI_* variables. It holds the production dependencies only: no development tools and
# no embedded PostgreSQL (the `embedded` extra), so KLAGEAPI_DATABASE_URL is required.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /build
# Every module is compiled to bytecode here, once: the processes start without compiling, and
# the image runs read-only (PYTHONDONTWRITEBYTECODE below). The environment is made where the
# final image keeps it: its scripts (`klageapi`) name their Python by its absolute path.
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/klageapi
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY alembic.ini ./
COPY migrations ./migrations
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/klageapi klageapi
COPY --from=build /opt/klageapi /opt/klageapi
ENV PATH=/opt/klageapi/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    KLAGEAPI_ENVIRONMENT=production \
    KLAGEAPI_DATA_DIR=/var/lib/klageapi
USER klageapi
WORKDIR /var/lib/klageapi
EXPOSE 8000
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["klageapi", "serve", "--host", "0.0.0.0", "--port", "8000"]
