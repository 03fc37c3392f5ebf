"""The HTTP side of the double: serving, decoding, validation, dispatch and scripted faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from typing import Any, Self

from aiohttp import web

from .models import ApiError, Request
from .spec import PRIMITIVES, CoercionError, UploadedFile, coerce
from .state import ChatState, Delay, Injection
from .store import StoreMixin

MAX_UPLOAD = 50 * 1024 * 1024
SEND_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendAudio",
        "sendVideo",
        "sendAnimation",
        "sendVoice",
        "sendVideoNote",
        "sendSticker",
        "sendLocation",
        "sendVenue",
        "sendContact",
        "sendPoll",
        "sendDice",
        "sendMediaGroup",
        "sendPaidMedia",
        "sendInvoice",
        "sendGame",
        "sendChecklist",
        "copyMessage",
        "copyMessages",
        "forwardMessage",
        "forwardMessages",
    }
)
_MISSING_PARAM = {
    "chat_id": "Bad Request: chat_id is empty",
    "message_id": "Bad Request: message identifier is not specified",
    "from_chat_id": "Bad Request: chat_id is empty",
}
_MISSING_BY_METHOD = {
    ("sendMessage", "text"): "Bad Request: message text is empty",
    ("sendPhoto", "photo"): "Bad Request: there is no photo in the request",
    ("sendDocument", "document"): "Bad Request: there is no document in the request",
    ("sendChatAction", "action"): "Bad Request: wrong parameter action in request",
}
_GATEWAY_TEXT = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
_ERROR_TEXT = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict",
    420: "Flood",
}


class _GatewayError(Exception):
    """Carry a non-JSON gateway failure such as nginx's 502 page."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class TransportMixin(StoreMixin):
    """Serve the Bot API over HTTP and check every request against the spec."""

    async def start(self) -> None:
        """Start serving on host:port (port 0 picks a free one)."""
        app = web.Application(client_max_size=MAX_UPLOAD)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # Cancelling handlers on disconnect lets a dropped long poll vanish like on Telegram.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self._closing = False

    async def stop(self) -> None:
        """Release pending long polls and stop the server."""
        self._closing = True
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("closing")
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
            self._pusher = None
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:PORT."""
        if self._runner is None:
            raise RuntimeError("BotApiDouble is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """Return the value for PTB's base_url."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for PTB's base_file_url."""
        return f"{self.url}/file/bot"

    def inject(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next `times` calls of method ("*" for any) fail like Telegram would."""
        canonical = "*" if method == "*" else self.spec.canonical_method(method)
        if canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._injections.append(
            Injection(canonical, status, description, retry_after, times, chat_id)
        )

    def delay(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | None = None
    ) -> None:
        """Make the next `times` calls of method ("*" for any) reach Telegram `seconds` late."""
        canonical = "*" if method == "*" else self.spec.canonical_method(method)
        if canonical is None:
            raise ValueError(f"unknown Bot API method {method!r}")
        self._delays.append(Delay(canonical, seconds, times, chat_id))

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith("/file/bot"):
            return self._serve_file(path[len("/file/bot") :])
        if not path.startswith("/bot"):
            return _json_response(404, ApiError(404, "Not Found").payload())
        token, _, method_name = path[len("/bot") :].partition("/")
        if token != self.token:
            return _json_response(401, ApiError(401, "Unauthorized").payload())
        canonical = self.spec.canonical_method(method_name) if method_name else None
        if canonical is None:
            self._violate(f"unknown method {method_name!r} (HTTP 404)")
            self.requests.append(Request(method_name, {}, self.clock(), 404, "Not Found"))
            self._notify()
            return _json_response(404, ApiError(404, "Not Found").payload())
        record = Request(canonical, {}, self.clock())
        self.requests.append(record)
        try:
            raw, attachments = await self._decode(request, canonical)
            record.params = dict(raw)
            params = self._validate(canonical, raw, attachments)
            record.params = params
            # Waiters may watch for a request's arrival (e.g. a long poll being open).
            self._notify()
            result = await self._call(canonical, params, request)
        except ApiError as err:
            if err.violation:
                self._violate(err.violation)
            if err.code == 429:
                self.stats.rate_limited += 1
            record.status, record.description = err.code, err.description
            self._notify()
            return _json_response(err.code, err.payload())
        except _GatewayError as err:
            text = _GATEWAY_TEXT.get(err.status, "Bad Gateway")
            record.status, record.description = err.status, text
            self._notify()
            page = (
                f"<html>\r\n<head><title>{err.status} {text}</title></head>\r\n<body>\r\n"
                f"<center><h1>{err.status} {text}</h1></center>\r\n"
                "<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n"
            )
            return web.Response(status=err.status, text=page, content_type="text/html")
        record.status = 200
        self._notify()
        return _json_response(200, {"ok": True, "result": result})

    async def _decode(
        self, request: web.Request, method: str
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        """Read query string and body (form, multipart or JSON) into raw values."""
        raw: dict[str, Any] = dict(request.query)
        attachments: dict[str, UploadedFile] = {}
        if request.method not in ("POST", "PUT"):
            return raw, attachments
        ctype = request.content_type
        if ctype == "application/json":
            body = await request.read()
            if body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError:
                    raise ApiError(
                        400,
                        "Bad Request: can't parse JSON request body",
                        violation=f"{method}: malformed JSON body",
                    ) from None
                if not isinstance(decoded, dict):
                    raise ApiError(
                        400,
                        "Bad Request: JSON body must be an object",
                        violation=f"{method}: JSON body is not an object",
                    )
                raw.update(decoded)
            return raw, attachments
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    upload = UploadedFile(
                        name=key,
                        filename=value.filename or key,
                        content_type=value.content_type,
                        data=value.file.read(),
                    )
                    attachments[key] = upload
                    raw[key] = upload
                else:
                    raw[key] = value if isinstance(value, str) else bytes(value).decode()
        return raw, attachments

    def _validate(
        self, method: str, raw: dict[str, Any], attachments: dict[str, UploadedFile]
    ) -> dict[str, Any]:
        """Check names against the spec, coerce values and enforce required parameters."""
        fields = self.spec.methods[method]
        referenced = {
            m.group(1)
            for value in raw.values()
            if isinstance(value, str)
            for m in re.finditer(r"attach://([\w-]+)", value)
        }
        params: dict[str, Any] = {}
        for name, value in raw.items():
            spec_field = fields.get(name)
            if spec_field is None:
                if name in attachments and name in referenced:
                    continue
                self._violate(f"{method}: unknown parameter {name!r} (Telegram ignores it)")
                continue
            if value is None or (value == "" and any(t != "String" for t in spec_field.types)):
                # The Bot API treats empty values as absent.
                continue
            try:
                params[name] = coerce(spec_field, value, attachments)
            except CoercionError as exc:
                raise ApiError(
                    400,
                    f"Bad Request: can't parse {name}: {exc}",
                    violation=f"{method}: malformed value: {exc}",
                ) from None
            if not isinstance(params[name], UploadedFile) and not set(spec_field.types) <= (
                PRIMITIVES | {"InputFile"}
            ):
                value_to_check = _normalize_keyboard_strings(params[name])
                for problem in self.spec.check(value_to_check, spec_field.types, name)[:5]:
                    self._violate(f"{method}: {problem}")
        for name, spec_field in fields.items():
            if spec_field.required and name not in params:
                description = _MISSING_BY_METHOD.get(
                    (method, name),
                    _MISSING_PARAM.get(name, f'Bad Request: parameter "{name}" is required'),
                )
                raise ApiError(
                    400,
                    description,
                    violation=f"{method}: missing required parameter {name!r}",
                )
        return params

    async def _call(self, method: str, params: dict[str, Any], request: web.Request) -> Any:
        await self._apply_delay(method, params)
        self._apply_injection(method, params)
        handler = self._handlers.get(method)
        if handler is None:
            raise ApiError(
                400,
                "Bad Request: method not supported by the test double",
                violation=f"{method}: not implemented by the test double",
            )
        limited_chat: ChatState | None = None
        if method in SEND_METHODS:
            limited_chat = self._chat_or_none(params.get("chat_id"))
            if self._limiter is not None and limited_chat is not None:
                retry = self._limiter.retry_after(
                    limited_chat.id, is_group=limited_chat.type != "private"
                )
                if retry is not None:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry}",
                        parameters={"retry_after": retry},
                    )
        result = await handler(params, request)
        if method in SEND_METHODS:
            self.stats.sends_accepted += 1
            if self._limiter is not None and limited_chat is not None:
                self.stats.accepted_times.append(self._limiter.record(limited_chat.id))
            else:
                self.stats.accepted_times.append(self.clock())
        self._check_result(result, self.spec.returns.get(method, ()), f"{method} result")
        return result

    async def _apply_delay(self, method: str, params: dict[str, Any]) -> None:
        for delay in self._delays:
            if delay.method not in ("*", method) or delay.remaining <= 0:
                continue
            if delay.chat_id is not None and params.get("chat_id") != delay.chat_id:
                continue
            delay.remaining -= 1
            self._delays = [d for d in self._delays if d.remaining > 0]
            # A client that gives up meanwhile cancels this handler: the call never happens.
            await asyncio.sleep(delay.seconds)
            return

    def _apply_injection(self, method: str, params: dict[str, Any]) -> None:
        for injection in self._injections:
            if injection.method not in ("*", method) or injection.remaining <= 0:
                continue
            if injection.chat_id is not None and params.get("chat_id") != injection.chat_id:
                continue
            injection.remaining -= 1
            self._injections = [i for i in self._injections if i.remaining > 0]
            status = injection.status
            if status >= 500:
                raise _GatewayError(status)
            if status == 429:
                retry = injection.retry_after if injection.retry_after is not None else 1
                raise ApiError(
                    429,
                    injection.description or f"Too Many Requests: retry after {retry}",
                    parameters={"retry_after": retry},
                )
            parameters = None
            if injection.retry_after is not None:
                parameters = {"retry_after": injection.retry_after}
            raise ApiError(
                status,
                injection.description or _ERROR_TEXT.get(status, "Bad Request"),
                parameters=parameters,
            )

    def _serve_file(self, rest: str) -> web.StreamResponse:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return _json_response(401, ApiError(401, "Unauthorized").payload())
        stored = self.files.by_path.get(file_path)
        if stored is None:
            return _json_response(404, ApiError(404, "Not Found").payload())
        self._notify()
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )


def _json_response(status: int, body: dict[str, Any]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
    )


def _normalize_keyboard_strings(value: Any) -> Any:
    """Turn plain-string reply keyboard buttons into objects for the spec check."""
    if isinstance(value, dict) and isinstance(value.get("keyboard"), list):
        rows = [
            [{"text": b} if isinstance(b, str) else b for b in row]
            if isinstance(row, list)
            else row
            for row in value["keyboard"]
        ]
        return {**value, "keyboard": rows}
    return value
