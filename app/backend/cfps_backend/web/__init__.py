"""The HTTP layer: middleware, shared request helpers, FastAPI dependencies
(settings, service, userinfo cache, rate limits) and one router per concern.
The application is put together in `cfps_backend.app.create_app`."""
