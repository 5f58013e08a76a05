"""What the HTTP kinds (``http``, ``azureml``, ``azureml_batch``) share around a request: the
start of an attempt, the bearer token, and closing the connections and the credential."""

from __future__ import annotations

import threading
from typing import Self

from triggerd.errors import SubmitInterrupted
from triggerd.observability.logging import Logger, get_logger
from triggerd.submitters.base import RunRequest
from triggerd.submitters.httpcommon import HttpSender, Secret


class RemoteSubmitter:
    """A base for the submitters that send one HTTP request per attempt."""

    _sender: HttpSender
    _auth: Secret | None = None

    def _begin(self, request: RunRequest, cancel: threading.Event) -> Logger:
        """The attempt's logger; SubmitInterrupted when the daemon is already stopping."""
        if cancel.is_set():
            raise SubmitInterrupted("interrupted before sending: daemon shutting down")
        return get_logger(
            schedule=request.schedule, fire_key=request.fire_key, run_id=request.run_id
        )

    def _authorize(self, headers: dict[str, str], secrets: list[str]) -> None:
        """``Authorization: Bearer <token>`` from ``_auth`` (read at every attempt), the token
        kept among the values scrubbed from errors."""
        if self._auth is not None:
            token = self._auth.read()
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)

    def close(self) -> None:
        """Release the connections and the Azure credential, if any."""
        self._sender.close()
        close = getattr(self._auth, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
