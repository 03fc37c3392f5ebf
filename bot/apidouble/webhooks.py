"""setWebhook, deleteWebhook, getWebhookInfo and posting updates to the bot's webhook."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .models import ApiError
from .state import WebhookDelivery
from .updates import UpdatesMixin

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
WEBHOOK_PORTS = frozenset({80, 88, 443, 8443})
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookMixin(UpdatesMixin):
    """Switch to webhook delivery and push queued updates to the bot, retrying failures."""

    def route_webhook(self, public: str, local: str) -> None:
        """Deliver webhook posts for URLs starting with `public` to `local` instead.

        Several locals behind one public URL are balanced as a load balancer would: each
        update goes to one of them at random, and to another one if it refuses connections.
        """
        backends = self.webhook_routes.setdefault(public.rstrip("/"), [])
        if local.rstrip("/") not in backends:
            backends.append(local.rstrip("/"))

    def unroute_webhook(self, public: str, local: str) -> None:
        """Take `local` out of the servers behind `public`."""
        backends = self.webhook_routes.get(public.rstrip("/"), [])
        if local.rstrip("/") in backends:
            backends.remove(local.rstrip("/"))

    async def _set_webhook(self, params: dict[str, Any], request: web.Request) -> Any:
        url = str(params.get("url", ""))
        if url:
            self._check_webhook_url(url)
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.match(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = int(params.get("max_connections", 40))
        if not 1 <= max_connections <= 100:
            raise ApiError(400, "Bad Request: bad webhook: max_connections must be 1-100")
        if params.get("drop_pending_updates"):
            self._queue.clear()
        if "allowed_updates" in params:
            self._set_allowed(params["allowed_updates"])
        if not url:
            self.webhook = {}
            self._webhook_error = None
            return True
        if url != self.webhook.get("url"):
            self._webhook_error = None
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": max_connections,
            "ip_address": params.get("ip_address"),
        }
        if self._poll is not None and not self._poll.wake.done():
            self._poll.wake.set_result("webhook")
        if self._pusher is None or self._pusher.done():
            self._pusher = asyncio.create_task(self._push_updates(), name="double-webhook")
        self._push_wake.set()
        return True

    @staticmethod
    def _check_webhook_url(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        try:
            port = parts.port or 443
        except ValueError:
            raise ApiError(400, "Bad Request: bad webhook: Wrong port number specified") from None
        if port not in WEBHOOK_PORTS:
            raise ApiError(
                400,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        try:
            ip = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return
        if not ip.is_global:
            raise ApiError(400, f"Bad Request: bad webhook: IP address {ip} is reserved")

    async def _delete_webhook(self, params: dict[str, Any], request: web.Request) -> Any:
        self.webhook = {}
        self._webhook_error = None
        if params.get("drop_pending_updates"):
            self._queue.clear()
        self._push_wake.set()
        return True

    async def _get_webhook_info(self, params: dict[str, Any], request: web.Request) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook.get("url"):
            info["max_connections"] = self.webhook.get("max_connections", 40)
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            info["allowed_updates"] = sorted(self._allowed)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    async def _push_updates(self) -> None:
        """Post queued updates to the webhook one at a time, in order, retrying failures.

        Telegram may use up to max_connections connections; one keeps every chat's updates
        in order, which is what a bot may rely on.
        """
        first, longest = self.webhook_retry
        wait = first
        while not self._closing:
            hook = dict(self.webhook)
            if not hook.get("url") or not self._queue:
                self._push_wake.clear()
                await self._push_wake.wait()
                continue
            update = self._queue[0]
            delivery = await self._post_update(hook, update)
            self.webhook_deliveries.append(delivery)
            if delivery.ok:
                if self._queue and self._queue[0] is update:
                    self._queue.pop(0)
                self._fetched_upto = max(self._fetched_upto, update["update_id"])
                wait = first
            else:
                self._webhook_error = (self._now(), delivery.error or "")
                self._push_wake.clear()
                # Retried later, sooner if the bot sets its webhook again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._push_wake.wait(), wait)
                wait = min(longest, wait * 2)
            self._notify()

    def _webhook_targets(self, url: str) -> list[str]:
        """Return where a post to `url` may go, in the order to try them."""
        for public, backends in self.webhook_routes.items():
            if backends and (url == public or url.startswith((public + "/", public + "?"))):
                order = list(backends)
                self.webhook_balance.shuffle(order)
                return [local + url[len(public) :] for local in order]
        return []

    async def _post_update(self, hook: dict[str, Any], update: dict[str, Any]) -> WebhookDelivery:
        url = str(hook["url"])
        update_id = int(update["update_id"])
        targets = self._webhook_targets(url)
        if not targets:
            return WebhookDelivery(
                update_id, url, None, "Failed to resolve host: Name or service not known"
            )
        delivery = WebhookDelivery(update_id, url, None, "Connection refused")
        for target in targets:
            delivery = await self._post_to(target, url, hook, update)
            # A balancer tries another server only when one refused the connection.
            if delivery.error != "Connection refused":
                break
        return delivery

    async def _post_to(
        self, target: str, url: str, hook: dict[str, Any], update: dict[str, Any]
    ) -> WebhookDelivery:
        update_id = int(update["update_id"])
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers[SECRET_HEADER] = hook["secret_token"]
        if self._webhook_session is None:
            self._webhook_session = aiohttp.ClientSession()
        try:
            async with self._webhook_session.post(
                target,
                data=json.dumps(update, ensure_ascii=False).encode(),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                if not 200 <= resp.status < 300:
                    error = f"Wrong response from the webhook: {resp.status} {_phrase(resp.status)}"
                    return WebhookDelivery(update_id, url, resp.status, error)
        except TimeoutError:
            return WebhookDelivery(update_id, url, None, "Read timeout expired")
        except aiohttp.ClientConnectorError:
            return WebhookDelivery(update_id, url, None, "Connection refused")
        except aiohttp.ClientError as exc:
            return WebhookDelivery(update_id, url, None, f"Connection failed: {exc}")
        self._check_webhook_reply(body)
        return WebhookDelivery(update_id, url, resp.status, None)

    def _check_webhook_reply(self, body: bytes) -> None:
        # Telegram runs a method the bot puts in its reply; the double does not.
        with contextlib.suppress(ValueError):
            reply = json.loads(body) if body.strip() else None
            if isinstance(reply, dict) and "method" in reply:
                self._violate("webhook reply carries a method call (not supported by the double)")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
