"""The Issues view: one row per fingerprint, an issue's page, and resolve/ignore/reopen."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fastapi_flare.dashboard.core import Dashboard, fragment_target
from fastapi_flare.dashboard.csrf import FORM_FIELD, CsrfGuard
from fastapi_flare.dashboard.params import LogFilters, parse_cursor, parse_datetime
from fastapi_flare.grouping import install_grouping, issue_store
from fastapi_flare.grouping.filters import PAGE_SIZES, SORT_LABELS, STATUS_LABELS, IssueFilters
from fastapi_flare.grouping.model import ISSUE_ACTIONS, Issue, IssueAction, IssueChange
from fastapi_flare.grouping.sparkline import sparkline
from fastapi_flare.grouping.store import IssueStore
from fastapi_flare.schema import LEVELS, FlareLogEntry, LogQuery, Page, StorageError
from fastapi_flare.service import StorageUnavailable

TAB = "issues"
LIST_BLOCKS = ("issues",)
DETAIL_BLOCKS = ("issue_head", "occurrences")
OCCURRENCES_PER_PAGE = 20
MAX_FORM_BYTES = 64 * 1024
MAX_FORM_FIELDS = 1_000
MAX_IGNORE_COUNT = 1_000_000_000


async def read_form(request: Request) -> list[tuple[str, str]]:
    """A url-encoded form body (what browsers and htmx send), size-capped."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise HTTPException(415, "expected a url-encoded form")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, "form too large")
    try:
        return parse_qsl(body.decode("utf-8", "replace"), max_num_fields=MAX_FORM_FIELDS)
    except ValueError as exc:
        raise HTTPException(400, "too many form fields") from exc


def parse_change(fields: Sequence[tuple[str, str]]) -> tuple[IssueChange, list[str]]:
    """The action and the issues it applies to; a row button wins over the checkboxes."""
    form: dict[str, str] = {}
    for key, value in fields:
        form.setdefault(key, value)
    action, keys = form.get("action", ""), [v for k, v in fields if k == "fingerprint" and v]
    if "row" in form:
        action, _, key = form["row"].partition(":")
        keys = [key] if key else []
    if action not in ISSUE_ACTIONS:
        raise HTTPException(400, "unknown action")
    chosen: IssueAction = action
    count_text = form.get("ignore_count", "").strip()
    until_text = form.get("ignore_until", "").strip()
    count = int(count_text) if count_text.isascii() and count_text.isdigit() else None
    until = parse_datetime(until_text) if until_text else None
    if chosen == "ignore":
        if count_text and (count is None or not 0 < count <= MAX_IGNORE_COUNT):
            raise HTTPException(400, "the number of occurrences must be a positive whole number")
        if until_text and until is None:
            raise HTTPException(400, "the ignore date is not a date")
        return IssueChange("ignore", count, until), keys
    return IssueChange(chosen), keys


def return_path(base: str, value: str | None) -> str:
    """Where to go after an action: a path inside the Issues view, else the list."""
    default = f"{base}/issues"
    if not value or "\\" in value or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith(default):
        return default
    return value


def status_label(issue: Issue) -> tuple[str, str]:
    """(text, tone) of an issue's status badge."""
    if issue.status == "resolved":
        return "Resolved", "ok"
    if issue.status == "ignored":
        return "Ignored", "none"
    return ("Regression", "error") if issue.regression else ("Open", "warn")


class IssuesView:
    """Routes and rendering of the Issues tab."""

    def __init__(self, dash: Dashboard, store: IssueStore | None) -> None:
        self.dash = dash
        self.store = store
        key_source = store.secret if store else None

        async def csrf_key() -> bytes:
            # Without a shared store the key is per process: fine for one worker.
            return await key_source("csrf") if key_source else secrets.token_bytes(32)

        self.csrf = CsrfGuard(csrf_key, dash.base)
        dash.env.globals["issue_status"] = status_label

    def _store(self) -> IssueStore:
        if self.store is None:
            raise StorageUnavailable("this storage backend keeps no issues")
        return self.store

    async def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        block: str | None,
        status_code: int = 200,
        now: datetime,
    ) -> Response:
        """Render with a CSRF token for the forms, setting the browser cookie if new."""
        try:
            token = await self.csrf.token(request)
        except StorageError:
            token = None
        context["csrf_field"], context["csrf_token"] = FORM_FIELD, token.token if token else ""
        response = self.dash.render(
            template, context, block=block, active_tab=TAB, status_code=status_code, now=now
        )
        if token is not None:
            self.csrf.set_cookie(request, response, token)
        return response

    async def list_context(self, filters: IssueFilters, now: datetime) -> dict[str, Any]:
        """Values of the list block."""
        context: dict[str, Any] = {
            "filters": filters,
            "levels": LEVELS,
            "sorts": SORT_LABELS,
            "page_sizes": PAGE_SIZES,
            "statuses": STATUS_LABELS,
            "issues": None,
            "counts": {},
            "sparks": {},
            "storage_error": None,
            "notice": None,
        }
        try:
            store = self._store()
            page = await store.list_issues(filters.to_query(), now)
            context["counts"] = await store.status_counts(now)
        except (StorageError, StorageUnavailable) as exc:
            context["storage_error"] = str(exc) or "storage unavailable"
            return context
        context["counts"]["all"] = sum(context["counts"].values())
        context["issues"] = page
        context["sparks"] = {i.fingerprint: sparkline(i.hourly, now) for i in page.items}
        return context

    async def list_page(self, request: Request) -> Response:
        """The Issues list (full page, or the list block for htmx)."""
        now = datetime.now(UTC)
        filters = IssueFilters.parse(request.query_params)
        context = await self.list_context(filters, now)
        block = fragment_target(request, LIST_BLOCKS)
        return await self.render(request, "flare/issues.html", context, block=block, now=now)

    async def detail_context(
        self, fingerprint: str, params: QueryParams, now: datetime
    ) -> dict[str, Any] | None:
        """Values of an issue's page; None when the issue does not exist."""
        issue = await self._store().get_issue(fingerprint, now)
        if issue is None:
            return None
        service = self.dash.service
        before, after = parse_cursor(params.get("before")), parse_cursor(params.get("after"))
        query = LogQuery(
            fingerprint=fingerprint,
            limit=OCCURRENCES_PER_PAGE,
            before_id=before,
            after_id=None if before is not None else after,
        )
        occurrences: Page[FlareLogEntry] = await service.list_logs(query)
        latest: FlareLogEntry | None = await service.get_log(issue.latest_entry_id)
        # The Errors view accepts only plain fingerprints; a custom one may hold anything.
        plain = LogFilters.parse({"fingerprint": fingerprint}).fingerprint == fingerprint
        return {
            "issue": issue,
            "latest": latest,
            "occurrences": occurrences,
            "errors_href": f"{self.dash.base}?{urlencode({'fingerprint': fingerprint})}"
            if plain
            else None,
            "paged": before is not None or after is not None,
            "spark": sparkline(issue.hourly, now, height=48, scale=3),
        }

    async def detail_page(self, request: Request, fingerprint: str) -> Response:
        """An issue: its counters, actions, latest occurrence and the list of occurrences."""
        now = datetime.now(UTC)
        block = fragment_target(request, DETAIL_BLOCKS)
        try:
            context = await self.detail_context(fingerprint, request.query_params, now)
        except (StorageError, StorageUnavailable) as exc:
            back = {"reason": str(exc) or "storage unavailable", "back": f"{self.dash.base}/issues"}
            return await self.render(
                request, "flare/unavailable.html", back, block=None, status_code=503, now=now
            )
        if context is None:
            missing = {"what": "issue", "back": f"{self.dash.base}/issues"}
            return await self.render(
                request, "flare/not_found.html", missing, block=None, status_code=404, now=now
            )
        context["next"] = request.url.path
        return await self.render(request, "flare/issues_detail.html", context, block=block, now=now)

    async def act(self, request: Request) -> Response:
        """Resolve, ignore or reopen; htmx gets the updated block, a plain form a redirect."""
        fields = await read_form(request)
        submitted = next((value for key, value in fields if key == FORM_FIELD), None)
        await self.csrf.verify(request, submitted)
        change, keys = parse_change(fields)
        next_url = return_path(self.dash.base, dict(fields).get("next"))
        now = datetime.now(UTC)
        try:
            changed = await self._store().apply(keys, change, now) if keys else 0
        except (StorageError, StorageUnavailable) as exc:
            raise HTTPException(503, f"storage unavailable: {exc}") from exc
        target = request.headers.get("hx-target")
        if request.headers.get("hx-request") != "true" or target not in (
            *LIST_BLOCKS,
            "issue_head",
        ):
            return RedirectResponse(next_url, status_code=303)
        if target == "issue_head" and keys:
            context = await self.detail_context(keys[0], QueryParams(""), now)
            if context is not None:
                context["next"] = next_url
                return await self.render(
                    request, "flare/issues_detail.html", context, block="issue_head", now=now
                )
        filters = IssueFilters.parse(QueryParams(urlsplit(next_url).query))
        context = await self.list_context(filters, now)
        noun = "issue" if changed == 1 else "issues"
        done = {"resolve": "resolved", "ignore": "ignored", "reopen": "reopened"}[change.action]
        context["notice"] = f"{changed} {noun} {done}." if keys else "Select at least one issue."
        return await self.render(request, "flare/issues.html", context, block="issues", now=now)


def register(router: APIRouter, dash: Dashboard) -> None:
    """Add the Issues routes to ``router`` (and the issue tables to the storage)."""
    storage = dash.service.storage
    install_grouping(storage)
    view = IssuesView(dash, issue_store(storage))

    @router.get("/issues")
    async def issues_page(request: Request) -> Response:
        return await view.list_page(request)

    @router.post("/issues/actions")
    async def issue_actions(request: Request) -> Response:
        return await view.act(request)

    @router.get("/issues/{fingerprint:path}")
    async def issue_detail(request: Request, fingerprint: str) -> Response:
        return await view.detail_page(request, fingerprint)
