"""ASGI factory for uvicorn: `uvicorn --factory cfps_backend.asgi:app`."""

from .app import create_app


def app():
    return create_app()
