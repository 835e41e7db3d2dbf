"""The dashboard's actions: retry, cancel and delete, one job or many.

Every action is a POST, refused in read-only mode and without the page's
CSRF token, that calls the admin API and answers with a redirect back to the
page it came from, carrying a one-line message (the ``plait_flash`` cookie)
that the next page shows once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ._frame import FLASH_COOKIE, Frame, PageError
from ._security import check_csrf, cookie_path

MAX_BULK = 1000
# (action, outcome) -> what a bulk summary and a single action say.
VERDICTS = {
    ("retry", "queued again"): ("queued again", "is queued again."),
    ("retry", "not"): (
        "not dead or cancelled",
        "was not retried: only dead or cancelled jobs can be.",
    ),
    ("cancel", "cancelled"): ("cancelled", "is cancelled."),
    ("cancel", "running"): (
        "cancellation requested",
        "is running: its worker was asked to cancel it (within a third of its lease).",
    ),
    ("delete", "deleted"): ("deleted", "is deleted."),
    ("delete", "not"): (
        "not finished",
        "was not deleted: it has not finished (cancel it first).",
    ),
}
# An action's form holds at most a page of job ids and a few fields.
MAX_BODY = 64 * 1024


class Actions:
    """The POST endpoints."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame

    async def job_action(self, request: Request) -> Response:
        form = await self.form(request)
        job_id = request.path_params["job_id"]
        message = await self.act(request.path_params["action"], job_id)
        fallback = self.frame.url(request, "job", job_id=job_id)
        return self.back(request, form, message, fallback=fallback)

    async def bulk(self, request: Request) -> Response:
        form = await self.form(request)
        action = str(form.get("action", ""))
        ids = [str(i) for i in form.getlist("ids")][:MAX_BULK]
        if not ids:
            return self.back(request, form, "No jobs selected.")
        outcomes: dict[str, int] = {}
        for job_id in ids:
            outcome = await self.act(action, job_id, quiet=True)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = "; ".join(f"{n} {what}" for what, n in outcomes.items())
        return self.back(request, form, f"{action.capitalize()} {len(ids)}: {summary}.")

    async def retry_dead(self, request: Request) -> Response:
        form = await self.form(request)
        type_ = str(form.get("type") or "") or None
        queue = str(form.get("queue") or "") or None
        n = await self.frame.require().retry_dead(type=type_, queue=queue)
        which = "".join(
            [
                f" of type {type_}" if type_ else "",
                f" in queue {queue}" if queue else "",
            ]
        )
        message = f"Queued {n:,} dead job{'s' * (n != 1)}{which} again."
        return self.back(request, form, message)

    async def purge_dead(self, request: Request) -> Response:
        form = await self.form(request)
        n = await self.frame.require().purge(state="dead", older_than=0.0)
        return self.back(request, form, f"Deleted {n:,} dead job{'s' * (n != 1)}.")

    async def act(self, action: str, job_id: str, *, quiet: bool = False) -> str:
        """Retry, cancel or delete one job; say what happened (in a few words
        if *quiet*)."""
        backend = self.frame.require()
        if action not in ("retry", "cancel", "delete"):
            raise PageError(404, f"no action {action!r}")
        try:
            if not job_id.isdigit():
                raise KeyError(job_id)
            if action == "cancel":
                outcome = await backend.cancel(job_id)
            elif action == "retry":
                outcome = "queued again" if await backend.retry(job_id) else "not"
            else:
                outcome = "deleted" if await backend.delete(job_id) else "not"
        except KeyError:
            return "not found" if quiet else f"There is no job {job_id!r}."
        short, sentence = VERDICTS.get((action, outcome), (None, None))
        if short is None:  # cancel of a job that had already finished
            short, sentence = f"already {outcome}", f"is already {outcome}."
        return short if quiet else f"Job {job_id} {sentence}"

    async def form(self, request: Request) -> FormData:
        """Read an action's form: refused in read-only mode, or without the
        page's CSRF token."""
        if self.frame.settings.read_only:
            raise PageError(403, "this dashboard is read-only: actions are turned off")
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise PageError(
                413, f"an action's form must state its length, up to {MAX_BODY:,} bytes"
            )
        form = await request.form(max_files=0, max_fields=MAX_BULK + 16)
        check_csrf(request, form)
        return form

    def back(
        self,
        request: Request,
        form: Mapping[str, Any],
        message: str,
        *,
        fallback: str | None = None,
    ) -> Response:
        """Redirect to the page the action came from, with *message*; never
        to a page outside the dashboard."""
        target = str(form.get("next") or "")
        root = request.scope.get("root_path", "")
        if not target.startswith(root + "/") or target.startswith("//"):
            target = fallback or self.frame.url(request, "overview")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            FLASH_COOKIE,
            quote(message[:500]),
            path=cookie_path(request),
            httponly=True,
            samesite="strict",
        )
        return response
