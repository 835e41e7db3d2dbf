"""A web dashboard for plait's durable job queue (the ``plait[dashboard]`` extra).

``plait dashboard DSN`` serves it; ``plait.dashboard.app(dsn_or_backend)``
returns it as an ASGI application to mount in your own Starlette or FastAPI
app. Importing ``plait`` never imports this package; importing this package
loads Starlette and Jinja2 only when ``app`` is first used, so ``plait
dashboard`` can say which extra is missing instead of failing on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import app as app

__all__ = ("app",)

EXTRA_MODULES = ("starlette", "jinja2", "multipart")


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module 'plait.dashboard' has no attribute {name!r}")
    try:
        from ._app import app
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] in EXTRA_MODULES:
            raise ImportError(
                f"plait.dashboard needs the dashboard extra ({exc.name} is missing): "
                "pip install 'plait[dashboard]'",
                name=exc.name,
            ) from exc
        raise
    return app
