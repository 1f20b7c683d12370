FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PLS_CACHE_DIR=/opt/pls-cache PLS_VAR_DIR=/data
WORKDIR /srv/pls

# The CPU build of torch (a bare `torch` would pull the multi-GB CUDA build).
RUN pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY app ./app
COPY embeddings ./embeddings
COPY indexer ./indexer
RUN pip install --no-cache-dir . && pls model export

EXPOSE 8000
CMD ["sh", "-c", "pls wait && pls serve --host 0.0.0.0 --port 8000"]
