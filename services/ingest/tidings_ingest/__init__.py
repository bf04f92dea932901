"""Tidings ingest: the Notification API over HTTP (Starlette on uvicorn)."""
