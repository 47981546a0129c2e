# The Searchlight API, for docker-compose.yml (Neo4j beside it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
# LightGBM's wheel (the learned KOC score) needs the OpenMP runtime.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY loaders loaders
COPY graph graph
COPY api api
RUN pip install . \
    && useradd --system --home-dir /var/lib/searchlight --create-home searchlight

USER searchlight
ENV KOC_QUARANTINE_DIR=/var/lib/searchlight/quarantine
EXPOSE 8000
# Without KOC_API_KEYS `koc serve` refuses to listen beyond loopback.
CMD ["koc", "serve", "--host", "0.0.0.0", "--port", "8000"]
