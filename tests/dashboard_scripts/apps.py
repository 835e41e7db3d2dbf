"""Handlers behind the dashboard tests' jobs (``--app`` of the test workers).

``email.send`` fails while its payload's mailbox is full, unless the worker
runs with ``PLAIT_TEST_HEAL=1``: a job dead-lettered by one worker succeeds
when another, healed, runs it again after a retry from the dashboard.
"""

from __future__ import annotations

import os

import plait

HEAL = "PLAIT_TEST_HEAL"
XSS_SCRIPT = "<script>window.__xss = 'script'; alert('xss')</script>"
XSS_ATTR = "\"><img src=x onerror=\"window.__xss = 'img'; alert('xss')\">"
XSS_TYPE = 'probe"><img src=x onerror=alert(1)>'

handlers = plait.JobHandlers()


@handlers.register(
    "email.send",
    retry=plait.RetryPolicy(attempts=2, base_delay=0.01, jitter=0),
    queue="mail",
)
async def send_email(job: plait.Job) -> dict[str, str]:
    if job.payload.get("mailbox") == "full" and not os.environ.get(HEAL):
        raise ValueError(f"the mailbox of {job.payload['to']} is full")
    return {"sent_to": job.payload["to"]}


@handlers.register("report.build", queue="reports")
async def build_report(job: plait.Job) -> int:
    return len(job.payload.get("rows", []))


@handlers.register(XSS_TYPE, retry=plait.RetryPolicy(attempts=1))
async def probe(job: plait.Job) -> None:
    raise ValueError(f"{XSS_SCRIPT} {XSS_ATTR}")


handlers.schedule(
    "report.build", every=3600, name="hourly-report", payload={"rows": []}
)
handlers.schedule(
    "email.send",
    every=86400,
    name="daily-digest",
    payload={"to": "team@example.org", "template": "digest"},
)
