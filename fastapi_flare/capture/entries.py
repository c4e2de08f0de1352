"""Build capped, masked ``FlareLogEntry`` / ``FlareRequestEntry`` objects."""

from __future__ import annotations

import functools
import linecache
import traceback
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NamedTuple, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from fastapi_flare.capture.body import summarise_body
from fastapi_flare.capture.context import RequestContext
from fastapi_flare.capture.fingerprint import MAX_CACHED_FRAMES, fingerprint_for
from fastapi_flare.capture.redact import REDACTED, Redactor
from fastapi_flare.capture.sanitize import Sanitizer, clean_text
from fastapi_flare.config import FlareConfig
from fastapi_flare.schema import FlareLogEntry, FlareRequestEntry, Level

MAX_SHORT_FIELD = 2_048  # endpoint, user agent, event names
# Same wording and recursion cut-off as the traceback module, so stacks read as usual.
_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"
_RECURSIVE_CUTOFF = 3

M = TypeVar("M", bound=BaseModel)


# One "fields set" per model, shared by every entry _construct builds. It always holds
# every field name, so pydantic's only change to it (``add`` on assignment) is a no-op.
# A set per entry was one more object per queued entry for the garbage collector to
# scan: at a few thousand failed requests per second, queued entries are most of what
# it walks.
_ALL_FIELDS: dict[type[BaseModel], set[str]] = {}


def _construct(model: type[M], values: dict[str, Any]) -> M:
    """``model_construct`` for callers that pass every field.

    pydantic's ``model_construct`` walks all fields for defaults and aliases (~13 µs
    per entry here, twice per failed request); with every field given that walk is a
    no-op, so set the same attributes it sets directly.
    """
    fields_set = _ALL_FIELDS.get(model)
    if fields_set is None:
        fields_set = _ALL_FIELDS[model] = set(model.model_fields)
    entry = model.__new__(model)
    object.__setattr__(entry, "__dict__", values)
    object.__setattr__(entry, "__pydantic_fields_set__", fields_set)
    object.__setattr__(entry, "__pydantic_extra__", None)
    object.__setattr__(entry, "__pydantic_private__", None)
    return entry


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown status"


def format_exception(exc: BaseException) -> str:
    """The traceback text, chained causes included, in Python's layout without ``^^^`` lines.

    ``traceback.format_exception`` re-parses every frame's source line to place its
    caret markers: about 2 ms for a 15-frame FastAPI stack on Python 3.11, the costliest
    step of capturing a 500. Walking the frames directly takes about 0.1 ms.
    """
    chain: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    parts: list[str] = []
    # Oldest first, as Python prints it; each link is printed after its exception.
    for item, item_link in reversed(chain):
        _format_frames(item, parts)
        parts.append(_exception_line(item))
        parts.append(item_link)
    return "".join(parts)


# Each frame's two lines, per (file, line, function): a failing route fails through the
# same frames every time, and reading and formatting them was most of the cost of a
# trace (17.7 µs for 26 frames, 8.6 µs with this cache).
@functools.lru_cache(maxsize=MAX_CACHED_FRAMES)
def _frame_text(filename: str, lineno: int, name: str) -> str:
    text = f'  File "{filename}", line {lineno}, in {name}\n'
    line = linecache.getline(filename, lineno).strip()
    return f"{text}    {line}\n" if line else text


def _format_frames(exc: BaseException, parts: list[str]) -> None:
    tb = exc.__traceback__
    if tb is None:
        return
    parts.append("Traceback (most recent call last):\n")
    last: tuple[str, int, str] | None = None
    count = 0
    while tb is not None:
        code = tb.tb_frame.f_code
        key = (code.co_filename, tb.tb_lineno, code.co_name)
        if key != last:
            _note_repeats(count, parts)
            last, count = key, 0
        count += 1
        if count <= _RECURSIVE_CUTOFF:
            parts.append(_frame_text(*key))
        tb = tb.tb_next
    _note_repeats(count, parts)


def _note_repeats(count: int, parts: list[str]) -> None:
    if count > _RECURSIVE_CUTOFF:
        parts.append(f"  [Previous line repeated {count - _RECURSIVE_CUTOFF} more times]\n")


def _exception_line(exc: BaseException) -> str:
    """The last line(s) of a traceback: ``module.Type: message`` plus any notes."""
    if isinstance(exc, SyntaxError):
        # Rare, and its caret layout is worth keeping: the stdlib formats it.
        return "".join(traceback.format_exception_only(type(exc), exc))
    cls = type(exc)
    name = cls.__qualname__
    if cls.__module__ not in ("builtins", "__main__"):
        name = f"{cls.__module__}.{name}"
    text = _safe_exc_str(exc)
    line = f"{name}: {text}\n" if text else f"{name}\n"
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list | tuple):
        line += "".join(f"{note}\n" for note in notes if isinstance(note, str))
    return line


def exception_title(exc: BaseException) -> str:
    """``module.Type: message`` for builtins just ``Type: message``."""
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    if isinstance(exc, RequestValidationError):
        # Its str() repeats every rejected input, secrets included; the fields are in context.
        return f"{name}: {len(exc.errors())} validation error(s)"
    text = _safe_exc_str(exc)
    return f"{name}: {text}" if text else name


def _safe_exc_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


class RequestFacts(NamedTuple):
    """What the log entry and the request entry of one request both store, cleaned once."""

    timestamp: datetime
    method: str
    path: str
    route: str | None
    ip_address: str | None
    user_agent: str | None


class EntryFactory:
    """Turns request facts and exceptions into entries; one per app."""

    def __init__(self, config: FlareConfig) -> None:
        self.config = config
        self.redactor = Redactor(config.redact_headers, config.redact_fields)
        self.sanitizer = Sanitizer(self.redactor, config.max_context_chars)

    def _text(self, value: object, limit: int | None = None) -> str:
        return clean_text(value, limit or self.config.max_message_chars)

    def _facts(self, ctx: RequestContext) -> RequestFacts:
        facts: RequestFacts | None = ctx.facts
        if facts is None:
            facts = ctx.facts = RequestFacts(
                timestamp=datetime.fromtimestamp(ctx.started_wall, UTC),
                method=ctx.method,
                path=self._text(ctx.path, MAX_SHORT_FIELD),
                route=ctx.route_template,
                ip_address=ctx.client_ip(self.config.trust_forwarded_for),
                user_agent=self._user_agent(ctx),
            )
        return facts

    def from_request(
        self, ctx: RequestContext, status: int, unhandled: BaseException | None
    ) -> FlareLogEntry:
        """The log entry for a failed request (4xx/5xx or an exception)."""
        handled = ctx.handled_exception
        exc = unhandled or handled
        context: dict[str, Any] = {}
        level: Level = "ERROR" if status >= 500 or unhandled is not None else "WARNING"
        if unhandled is not None:
            event, message = (
                "unhandled_exception",
                _safe_exc_str(unhandled) or type(unhandled).__name__,
            )
        elif isinstance(handled, RequestValidationError):
            event, message = "validation_error", "Request validation failed"
            context["errors"] = self._validation_errors(handled)
        elif isinstance(handled, HTTPException):
            event = "http_exception"
            message = handled.detail if isinstance(handled.detail, str) else _reason(status)
            if not isinstance(handled.detail, str):
                context["detail"] = handled.detail
        elif handled is not None:
            event, message = "handled_exception", _safe_exc_str(handled) or type(handled).__name__
        else:
            event, message = "http_error", f"{status} {_reason(status)}"
        query = ctx.scope.get("query_string", b"")
        if query:
            context["query"] = self.redactor.query_string(query.decode("latin-1"))
        is_http = isinstance(exc, HTTPException | RequestValidationError) and unhandled is None
        stack = format_exception(exc) if exc is not None and not is_http else None
        facts = self._facts(ctx)
        entry = _construct(
            FlareLogEntry,
            dict(
                id=None,
                timestamp=facts.timestamp,
                level=level,
                event=event,
                message=self._text(message),
                request_id=ctx.request_id,
                endpoint=facts.path,
                http_method=facts.method,
                http_status=status,
                ip_address=facts.ip_address,
                duration_ms=ctx.duration_ms,
                error=self._text(exception_title(exc)) if exc is not None else None,
                stack_trace=self._text(stack, self.config.max_stack_trace_chars) if stack else None,
                context=self.sanitizer.mapping(context) if context else None,
                request_body=self._body(ctx),
                route=facts.route,
                user_agent=facts.user_agent,
                fingerprint=None,
            ),
        )
        entry.fingerprint = fingerprint_for(entry, exc, from_request=True)
        return entry

    def request_entry(self, ctx: RequestContext, status: int) -> FlareRequestEntry:
        """The HTTP Requests tab row for one request."""
        headers = None
        if self.config.capture_request_headers:
            headers = {
                name: self._text(value, MAX_SHORT_FIELD)
                for name, value in self.redactor.headers(ctx.scope.get("headers", ())).items()
            }
        facts = self._facts(ctx)
        return _construct(
            FlareRequestEntry,
            dict(
                id=None,
                timestamp=facts.timestamp,
                method=facts.method,
                path=facts.path,
                route=facts.route,
                status=status,
                duration_ms=ctx.duration_ms or 0,
                request_id=ctx.request_id,
                ip_address=facts.ip_address,
                user_agent=facts.user_agent,
                headers=headers,
            ),
        )

    def custom(
        self,
        *,
        level: Level,
        event: str,
        message: str,
        context: dict[str, Any] | None,
        error: str | None,
        stack_trace: str | None,
        request_id: str | None,
        endpoint: str | None,
        http_method: str | None,
        http_status: int | None,
        fingerprint: str | None,
        exc: BaseException | None,
        now: datetime,
    ) -> FlareLogEntry:
        """An entry from ``push_log``; every argument is sanitised and capped."""
        if exc is not None:
            error = error or exception_title(exc)
            stack_trace = stack_trace or format_exception(exc)
        entry = FlareLogEntry.model_construct(
            id=None,
            timestamp=now,
            level=level,
            event=self._text(event, MAX_SHORT_FIELD) or "custom",
            message=self._text(message),
            request_id=self._text(request_id, MAX_SHORT_FIELD) if request_id else None,
            endpoint=self._text(endpoint, MAX_SHORT_FIELD) if endpoint else None,
            http_method=self._text(http_method, 16) if http_method else None,
            # Out-of-range numbers would be refused by the database and block the writer.
            http_status=http_status
            if isinstance(http_status, int) and 100 <= http_status <= 999
            else None,
            ip_address=None,
            duration_ms=None,
            error=self._text(error) if error else None,
            stack_trace=self._text(stack_trace, self.config.max_stack_trace_chars)
            if stack_trace
            else None,
            context=self.sanitizer.mapping(context),
            request_body=None,
            route=None,
            user_agent=None,
            fingerprint=self._text(fingerprint, 128) if fingerprint else None,
        )
        if entry.fingerprint is None:
            entry.fingerprint = fingerprint_for(entry, exc, from_request=False)
        return entry

    def _validation_errors(self, exc: RequestValidationError) -> list[Any]:
        """Per-field errors; the rejected input is masked when its field is a secret."""
        errors: list[Any] = []
        for error in exc.errors():
            if not isinstance(error, dict):
                continue
            loc = error.get("loc") or ()
            if "input" in error and any(
                isinstance(part, str) and self.redactor.is_secret(part) for part in loc
            ):
                error = {**error, "input": REDACTED}
            errors.append(error)
        return errors

    def _user_agent(self, ctx: RequestContext) -> str | None:
        raw = ctx.header(b"user-agent")
        return self._text(raw.decode("latin-1"), MAX_SHORT_FIELD) if raw else None

    def _body(self, ctx: RequestContext) -> dict[str, Any] | None:
        if not self.config.capture_request_body or not ctx.body:
            return None
        content_type = (ctx.header(b"content-type") or b"").decode("latin-1")
        return summarise_body(
            bytes(ctx.body), content_type, truncated=ctx.body_truncated, sanitizer=self.sanitizer
        )
