"""A local fake of Stripe's API on loopback, for the provider boundary only.

Every request is checked against its operation in Stripe's OpenAPI spec (API version 2023-08-16,
``tests.support.stripe_spec``): the bracket-encoded body or query is decoded into nested data and
validated with jsonschema; a request the spec refuses is answered 400 (``invalid_request_error``)
and kept in ``problems`` for the test to assert empty. Every request must carry
``Authorization: Bearer`` and the pinned ``Stripe-Version``. Answers are spec-shaped objects
(``spec_object``), so the hub reads the shapes Stripe sends.

What it keeps, so behaviour is observable: customers, charges, refunds, checkout sessions and
their line items, accounts, transfers (``transfer_creates`` counts the creates that made one),
webhook endpoints, and the events the tests publish (``GET /v1/events``, newest first).
Idempotency keys replay the first answer, as Stripe does for 24 hours; ``forget_idempotency()``
plays the 24 hours passing. Tests script failures: a status and error for the next call to a
path, or ``hang_after_create`` (the transfer is made, then the answer is held past the client's
timeout: "request sent, answer lost").
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Any
from urllib.parse import urlsplit

from connectors.stripe import API_VERSION
from tests.support.faults import Faults
from tests.support.servers import JsonApiServer
from tests.support.stripe_spec import check_request, list_object, spec_object


class FakeStripe:
    def __init__(self) -> None:
        self.customers: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self.transfer_creates = 0
        self.balance_minor = 10_000_000
        self.idempotency: dict[str, tuple[int, Any]] = {}
        self.script: deque[dict[str, Any]] = deque()
        self.release = threading.Event()
        #: injected faults (off unless a test or the fault harness sets a rate)
        self.faults = Faults()
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self.http = JsonApiServer(self._answer)

    def _answer(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        status, answer = self.serve(method, path, {k.lower(): v for k, v in headers.items()}, raw)
        return status, {}, answer

    # -- test controls --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> FakeStripe:
        self.http.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.faults.release.set()
        self.http.stop()

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}fake"

    def fail_next(
        self, path: str, status: int, message: str = "scripted", *, code: str | None = None, method: str | None = None
    ) -> None:
        """Answer the next call to ``path`` (of ``method``, if given) with this error."""
        self.script.append({"path": path, "status": status, "message": message, "code": code, "method": method})

    def hang_after_create(self, path: str = "/v1/transfers") -> None:
        """The next POST to ``path`` is carried out, then its answer is held back (lost)."""
        self.script.append({"path": path, "hang": True, "method": "POST"})

    def forget_idempotency(self) -> None:
        with self._lock:
            self.idempotency.clear()

    def requests_to(self, fragment: str, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if fragment in r["path"] and (method is None or r["method"] == method)]

    def publish(
        self, event_type: str, obj: dict[str, Any], *, account: str | None = None, created: int | None = None
    ) -> dict[str, Any]:
        """An Event as Stripe renders it (pinned version), also listed by ``GET /v1/events``."""
        event = spec_object(
            "event",
            id=self.new_id("evt"),
            object="event",
            api_version=API_VERSION,
            created=created if created is not None else int(time.time()),
            data={"object": obj},
            livemode=False,
            pending_webhooks=1,
            request={"id": None, "idempotency_key": None},
            type=event_type,
            **({"account": account} if account else {}),
        )
        with self._lock:
            self.events.append(event)
        return event

    # -- objects, as tests and the API make them ------------------------------------------

    def add_customer(
        self, *, email: str | None = None, metadata: dict[str, str] | None = None, name: str | None = None
    ) -> dict[str, Any]:
        cid = self.new_id("cus")
        customer = spec_object(
            "customer",
            id=cid,
            object="customer",
            created=int(time.time()),
            livemode=False,
            email=email,
            name=name,
            metadata=metadata or {},
            description=None,
        )
        self.customers[cid] = customer
        return customer

    def add_charge(
        self,
        *,
        amount: int,
        customer: str | None,
        invoice: str | None = None,
        payment_intent: str | None = None,
        currency: str = "usd",
    ) -> dict[str, Any]:
        chid = self.new_id("ch")
        charge = spec_object(
            "charge",
            id=chid,
            object="charge",
            amount=amount,
            amount_captured=amount,
            amount_refunded=0,
            captured=True,
            created=int(time.time()),
            currency=currency,
            customer=customer,
            invoice=invoice,
            payment_intent=payment_intent,
            paid=True,
            refunded=False,
            status="succeeded",
            livemode=False,
            metadata={},
            disputed=False,
        )
        self.charges[chid] = charge
        return charge

    def add_refund(self, charge_id: str, amount: int, *, status: str = "succeeded") -> dict[str, Any]:
        """A refund of part of a charge; the charge's cumulative ``amount_refunded`` grows."""
        with self._lock:
            charge = self.charges[charge_id]
            rid = self.new_id("re")
            refund = spec_object(
                "refund",
                id=rid,
                object="refund",
                amount=amount,
                charge=charge_id,
                created=int(time.time()),
                currency=charge["currency"],
                status=status,
                payment_intent=charge.get("payment_intent"),
                metadata={},
                reason=None,
            )
            self.refunds[rid] = refund
            if status == "succeeded":
                charge["amount_refunded"] += amount
                charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            return refund

    def add_session(
        self,
        *,
        amount: int,
        customer: str | None,
        mode: str = "payment",
        price: str = "price_1",
        payment_status: str = "paid",
    ) -> dict[str, Any]:
        csid = self.new_id("cs")
        intent = self.new_id("pi") if mode == "payment" else None
        session = spec_object(
            "checkout.session",
            id=csid,
            object="checkout.session",
            amount_total=amount,
            amount_subtotal=amount,
            currency="usd",
            customer=customer,
            mode=mode,
            payment_intent=intent,
            payment_status=payment_status,
            status="complete",
            created=int(time.time()),
            expires_at=int(time.time()) + 86400,
            livemode=False,
            metadata={},
            customer_details={
                "email": None,
                "address": None,
                "name": None,
                "phone": None,
                "tax_exempt": "none",
                "tax_ids": [],
            },
        )
        self.sessions[csid] = session
        self.line_items[csid] = [
            spec_object(
                "item",
                id=self.new_id("li"),
                object="item",
                amount_total=amount,
                amount_subtotal=amount,
                amount_discount=0,
                amount_tax=0,
                currency="usd",
                description="Plan",
                quantity=1,
                price=_price(price),
            )
        ]
        return session

    def invoice(
        self,
        *,
        amount: int,
        customer: str,
        subscription: str | None,
        price: str = "price_monthly",
        charge: str | None = None,
        start: int = 1_700_000_000,
        end: int = 1_702_592_000,
    ) -> dict[str, Any]:
        inid = self.new_id("in")
        line = spec_object(
            "line_item",
            id=self.new_id("il"),
            object="line_item",
            amount=amount,
            amount_excluding_tax=amount,
            currency="usd",
            description="Plan",
            discountable=True,
            livemode=False,
            metadata={},
            period={"start": start, "end": end},
            price=_price(price),
            proration=False,
            quantity=1,
            subscription=subscription,
            type="subscription" if subscription else "invoiceitem",
            discount_amounts=[],
            discounts=[],
            tax_amounts=[],
            tax_rates=[],
        )
        return spec_object(
            "invoice",
            id=inid,
            object="invoice",
            amount_due=amount,
            amount_paid=amount,
            amount_remaining=0,
            currency="usd",
            customer=customer,
            subscription=subscription,
            charge=charge,
            paid=True,
            status="paid",
            billing_reason="subscription_cycle" if subscription else "manual",
            created=int(time.time()),
            period_start=start,
            period_end=end,
            status_transitions={
                "finalized_at": end,
                "marked_uncollectible_at": None,
                "paid_at": end,
                "voided_at": None,
            },
            lines=list_object(f"/v1/invoices/{inid}/lines", [line]),
            livemode=False,
            metadata={},
        )

    def add_account(self, *, transfers: str = "inactive") -> dict[str, Any]:
        aid = self.new_id("acct")
        account = spec_object(
            "account",
            id=aid,
            object="account",
            type="express",
            charges_enabled=False,
            payouts_enabled=transfers == "active",
            capabilities={"transfers": transfers},
            details_submitted=transfers == "active",
            metadata={},
        )
        self.accounts[aid] = account
        return account

    def transfer_object(
        self, *, amount: int, destination: str, payout_id: int | None, amount_reversed: int = 0
    ) -> dict[str, Any]:
        tid = self.new_id("tr")
        return spec_object(
            "transfer",
            id=tid,
            object="transfer",
            amount=amount,
            amount_reversed=amount_reversed,
            currency="usd",
            created=int(time.time()),
            destination=destination,
            livemode=False,
            metadata={"payout_id": str(payout_id)} if payout_id else {},
            transfer_group=f"payout_{payout_id}" if payout_id else None,
            reversed=amount_reversed >= amount,
            reversals=list_object(f"/v1/transfers/{tid}/reversals", []),
            description=None,
        )

    # -- serving --------------------------------------------------------------------------

    def serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        path, query, body = parts.path, parts.query, raw.decode()
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "query": query, "body": body, "headers": headers, "at": time.time()}
            )
        if not headers.get("authorization", "").startswith("Bearer sk_test_"):
            return 401, _error("invalid_request_error", "Invalid API Key provided")
        if headers.get("stripe-version") != API_VERSION:
            self.problems.append(f"{method} {path}: Stripe-Version {headers.get('stripe-version')!r}")
            return 400, _error("invalid_request_error", "unexpected Stripe-Version")
        if method == "POST" and "x-www-form-urlencoded" not in headers.get("content-type", ""):
            self.problems.append(f"{method} {path}: content-type {headers.get('content-type')!r}")
        data, problems = check_request(method, path, query, body)
        if problems:
            self.problems.extend(f"{method} {path}: {p}" for p in problems)
            return 400, _error("invalid_request_error", "; ".join(problems)[:500])
        step = self._scripted(method, path)
        fault = self.faults.draw() if step is None else None
        if fault == "429":
            return 429, _error("invalid_request_error", "Too many requests", code="rate_limit")
        if fault == "5xx":
            return self.faults.status_5xx(), _error("api_error", "injected")
        if fault == "timeout":
            self.faults.hang()
            return 504, _error("api_error", "injected timeout")
        if fault == "lost":
            step = {"hang": True, "faults": True}
        if step is not None and not step.get("hang"):
            return step["status"], _error(
                "api_error" if step["status"] >= 500 else "invalid_request_error",
                step["message"],
                code=step.get("code"),
            )
        key = headers.get("idempotency-key")
        with self._lock:
            if method == "POST" and key and key in self.idempotency:
                return self.idempotency[key]
            answer = self._route(method, path, data)
            if method == "POST" and key:
                self.idempotency[key] = answer
        if step is not None:  # made it, then the answer is lost
            self.faults.hang() if step.get("faults") else self.release.wait(60)
        return answer

    def _scripted(self, method: str, path: str) -> dict[str, Any] | None:
        with self._lock:
            for i, step in enumerate(self.script):
                if path.startswith(step["path"]) and step.get("method") in (None, method):
                    del self.script[i]
                    return step
        return None

    def _route(self, method: str, path: str, data: dict[str, Any]) -> tuple[int, Any]:
        segments = path.strip("/").split("/")[1:]  # drop "v1"
        head = segments[0]
        if head == "events" and method == "GET":
            return 200, self._list_events(data)
        if head == "transfers" and len(segments) == 1:
            if method == "POST":
                return self._create_transfer(data)
            found = [
                t
                for t in self.transfers.values()
                if not data.get("transfer_group") or t.get("transfer_group") == data["transfer_group"]
            ]
            return 200, self._page("/v1/transfers", sorted(found, key=lambda t: t["id"], reverse=True), data)
        if head == "refunds" and len(segments) == 1 and method == "GET":
            found = [r for r in self.refunds.values() if not data.get("charge") or r["charge"] == data["charge"]]
            return 200, self._page("/v1/refunds", sorted(found, key=lambda r: r["id"], reverse=True), data)
        if head == "checkout" and len(segments) == 2 and method == "GET":
            found = [
                s
                for s in self.sessions.values()
                if not data.get("payment_intent") or s.get("payment_intent") == data["payment_intent"]
            ]
            return 200, self._page("/v1/checkout/sessions", found, data)
        if head == "checkout" and len(segments) == 4 and segments[3] == "line_items":
            items = self.line_items.get(segments[2])
            if items is None:
                return 404, _error("invalid_request_error", "No such checkout session", code="resource_missing")
            return 200, self._page(path, items, data)
        if head == "webhook_endpoints":
            return self._endpoint(method, segments, data)
        stores = {
            "customers": self.customers,
            "charges": self.charges,
            "refunds": self.refunds,
            "accounts": self.accounts,
            "transfers": self.transfers,
        }
        if head in stores and len(segments) == 2 and method == "GET":
            obj = stores[head].get(segments[1])
            if obj is None:
                return 404, _error(
                    "invalid_request_error", f"No such {head[:-1]}: '{segments[1]}'", code="resource_missing"
                )
            return 200, obj
        return 404, _error("invalid_request_error", f"Unrecognized request URL ({method}: {path})")

    def _page(self, url: str, items: list[dict[str, Any]], data: dict[str, Any]) -> dict[str, Any]:
        after = data.get("starting_after")
        if after:
            ids = [i["id"] for i in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        limit = int(data.get("limit") or 10)
        return list_object(url, items[:limit], has_more=len(items) > limit)

    def _list_events(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            events = sorted(self.events, key=lambda e: (e["created"], e["id"]), reverse=True)
        created = data.get("created")
        if isinstance(created, dict) and "gte" in created:
            events = [e for e in events if e["created"] >= created["gte"]]
        if data.get("types"):
            events = [e for e in events if e["type"] in data["types"]]
        return self._page("/v1/events", events, data)

    def _create_transfer(self, data: dict[str, Any]) -> tuple[int, Any]:
        destination = data["destination"]
        account = self.accounts.get(destination)
        if account is None or account["capabilities"].get("transfers") != "active":
            return 400, _error(
                "invalid_request_error",
                "Your destination account needs to have at least one of "
                "the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
            )
        if data.get("amount", 0) > self.balance_minor:
            return 400, _error(
                "invalid_request_error",
                "You have insufficient funds in your Stripe account for this transfer.",
                code="balance_insufficient",
            )
        self.balance_minor -= data["amount"]
        transfer = self.transfer_object(amount=data["amount"], destination=destination, payout_id=None)
        transfer.update(
            currency=data["currency"],
            transfer_group=data.get("transfer_group"),
            metadata=dict(data.get("metadata") or {}),
            description=data.get("description"),
        )
        self.transfers[transfer["id"]] = transfer
        self.transfer_creates += 1
        return 200, transfer

    def _endpoint(self, method: str, segments: list[str], data: dict[str, Any]) -> tuple[int, Any]:
        if method == "GET" and len(segments) == 1:
            return 200, self._page("/v1/webhook_endpoints", list(self.endpoints.values()), data)
        if method == "POST" and len(segments) == 1:
            eid = self.new_id("we")
            endpoint = spec_object(
                "webhook_endpoint",
                id=eid,
                object="webhook_endpoint",
                url=data["url"],
                enabled_events=list(data["enabled_events"]),
                api_version=data.get("api_version"),
                created=int(time.time()),
                livemode=False,
                metadata=dict(data.get("metadata") or {}),
                status="enabled",
                description=data.get("description"),
                application=None,
                secret=f"whsec_fake_{eid}",
            )
            self.endpoints[eid] = {k: v for k, v in endpoint.items() if k != "secret"}
            self.endpoints[eid]["connect"] = bool(data.get("connect"))  # kept for the test, not by Stripe
            return 200, endpoint
        if method == "POST" and len(segments) == 2 and segments[1] in self.endpoints:
            self.endpoints[segments[1]].update({k: v for k, v in data.items() if k == "enabled_events"})
            return 200, self.endpoints[segments[1]]
        return 404, _error("invalid_request_error", "No such webhook endpoint")


def _price(price_id: str) -> dict[str, Any]:
    return spec_object(
        "price",
        id=price_id,
        object="price",
        active=True,
        billing_scheme="per_unit",
        created=1_690_000_000,
        currency="usd",
        livemode=False,
        metadata={},
        product="prod_1",
        type="recurring",
        recurring={
            "interval": "month",
            "interval_count": 1,
            "usage_type": "licensed",
            "aggregate_usage": None,
            "trial_period_days": None,
        },
        unit_amount=1000,
        lookup_key=None,
        nickname=None,
        tax_behavior="unspecified",
        tiers_mode=None,
        transform_quantity=None,
        unit_amount_decimal="1000",
        custom_unit_amount=None,
    )


def _error(kind: str, message: str, *, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    return {"error": error}
