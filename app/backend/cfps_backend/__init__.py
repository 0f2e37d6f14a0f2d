"""CFPS Hub auth service: OAuth2 authorization-code provider for JupyterHub."""

__version__ = "1.0.0"
