FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY store store
COPY producers producers
COPY worker worker
COPY sandbox sandbox
RUN pip install --no-cache-dir .
RUN useradd --create-home ferry
USER ferry
ENTRYPOINT ["ferry"]
CMD ["worker"]
