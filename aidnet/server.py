"""Run the app under gunicorn: a production WSGI server, never Flask's dev server.

Access logs are off; the error log is scrubbed of IP addresses before it is
written, in case a library ever puts one into a message.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from .config import Settings

_IP = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b|\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b")


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _IP.sub("[addr]", record.getMessage())
        record.args = None
        return True


class QuietLogger(Logger):  # type: ignore[misc]  # gunicorn ships no type hints
    """Gunicorn's logger with access logs dropped and addresses scrubbed."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(ScrubFilter())

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


class AidnetServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, host: str, port: int, workers: int) -> None:
        self.settings = settings
        self.options = {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "gthread",
            "threads": 4,
            "accesslog": None,
            "errorlog": "-",
            "loglevel": "warning",
            "logger_class": QuietLogger,
            "timeout": 30,
            "graceful_timeout": 5,
            "limit_request_line": 4094,
            "limit_request_fields": 50,
            "forwarded_allow_ips": "",
            "proc_name": "aidnet",
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from . import create_app

        app = create_app(self.settings)
        handler = logging.StreamHandler()
        handler.addFilter(ScrubFilter())
        handler.setFormatter(logging.Formatter("aidnet %(levelname)s %(message)s"))
        logging.getLogger("aidnet").addHandler(handler)
        return app


def serve(settings: Settings, host: str, port: int, workers: int = 2) -> None:
    AidnetServer(settings, host, port, workers).run()
