"""A local fake of HubSpot's CRM API on loopback, for the provider boundary only.

Requests are checked against hubspot-api-client's generated models (HubSpot's spec is not
public): every key of a JSON body must be one the model knows, values must have the model's
types, and required fields and enum values are checked by building the model. Answers are built
from those models, so the JSON has HubSpot's own field names.

What it keeps in memory, so idempotency is observable: contacts, companies and deals (``id ->
properties``), associations between them (and every association *write*, in
``association_writes``), property definitions and groups (what ``crm setup`` creates), and the
OAuth access tokens it issued. It behaves like HubSpot where the hub relies on it: unknown
properties are refused, ``hasUniqueValue`` and contact emails are unique (409), upsert needs a
unique ``idProperty``, search can lag behind new records (``search_lag_s``).

Search takes filter groups (EQ, NEQ, GT, GTE, LT, LTE, IN, HAS_PROPERTY on any property;
datetimes compared as instants, ``hs_object_id`` as a number), one sort rule, ``limit`` up to
200 and ``after``, and refuses to page past 10,000 results, as HubSpot does. ``seed_records``
makes many synthetic records searchable without keeping them (each is computed from its index);
one is kept only once something writes to it. Batch endpoints take at most 100 inputs and echo
each input's ``objectWriteTraceId``. ``merge`` merges two records as a person would in HubSpot
and returns the ``*.merge`` webhook event; ``POST /crm/v3/objects/{type}/merge`` does the same
through the API. Every request served is counted (``request_count``, ``request_counts`` per
method and path).

Tests script failures: a status with headers and body (429 + Retry-After, a TEN_SECONDLY 429,
503, 401…), or a hang until released (a call in flight when a worker is killed). Every request
is logged with its arrival time (``requests[i]["at"]``) for rate measurements.
"""

from __future__ import annotations

import heapq
import importlib
import itertools
import json
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hubspot.crm.associations import v4 as assoc
from hubspot.crm.deals import PublicMergeInput
from hubspot.crm.objects import (
    ApiClient,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    CollectionResponseWithTotalSimplePublicObjectForwardPaging,
    ErrorDetail,
    ForwardPaging,
    NextPage,
    PublicObjectSearchRequest,
    SimplePublicObject,
    SimplePublicObjectId,
    SimplePublicObjectInputForCreate,
    SimplePublicUpsertObject,
    StandardError,
)
from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    BatchResponseProperty,
    CollectionResponsePropertyGroupNoPaging,
    CollectionResponsePropertyNoPaging,
    ModelProperty,
    PropertyGroup,
    PropertyGroupCreate,
)
from hubspot.oauth import TokenResponseIF

from tests.support.faults import Faults
from tests.support.servers import JsonApiServer

_SDK = ApiClient()

#: HubSpot-defined association type ids (from -> to)
ASSOCIATION_TYPES = {
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 5, ("companies", "deals"): 6,
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
}  # fmt: skip
_SINGULAR = {"contact": "contacts", "company": "companies", "deal": "deals", "task": "tasks"}

#: standard properties of a fresh account (name -> type) that the hub reads or writes
_STANDARD = {
    "contacts": ["email", "firstname", "lastname", "company", "phone", "website", "lifecyclestage",
                 "hubspot_owner_id", "lastmodifieddate", "createdate"],
    "companies": ["name", "domain", "country", "industry", "numberofemployees", "lifecyclestage",
                  "hubspot_owner_id", "hs_lastmodifieddate", "createdate"],
    "deals": ["dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate",
              "hubspot_owner_id", "hs_lastmodifieddate", "createdate", "hs_is_closed",
              "hs_is_closed_won"],
    "tasks": ["hs_timestamp", "hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_type",
              "hs_task_priority", "hubspot_owner_id", "hs_lastmodifieddate", "createdate"],
}  # fmt: skip
_READ_ONLY = {"hs_is_closed", "hs_is_closed_won", "hs_lastmodifieddate", "lastmodifieddate", "createdate"}
_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tasks": "task",
}
#: properties holding instants (compared as such in search filters and sorts)
_DATETIMES = {"hs_lastmodifieddate", "lastmodifieddate", "createdate", "closedate", "hs_timestamp"}
#: CRM search limits (PROVIDERS.md §2.4)
SEARCH_PAGE_MAX = 200
#: up to this many records of a type, unique-property lookups scan (exact whatever a test did)
_SCAN_MAX = 5_000
SEARCH_RESULT_CAP = 10_000
BATCH_MAX = 100
_CLOSED_WON = {"closedwon"}
_CLOSED = {"closedwon", "closedlost"}


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.status = status
        self.category = category


class _Body:
    def __init__(self, data: str) -> None:
        self.data = data


def _package(klass: type) -> Any:
    """The SDK package a model belongs to (``hubspot.crm.objects`` …): its ApiClient and models."""
    name = klass.__module__.rsplit(".models.", 1)[0]
    return importlib.import_module(name)


def _check_value(type_name: str, value: Any, where: str, package: Any) -> None:
    if value is None:
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            raise BadRequest(f"{where}: expected a list")
        inner = type_name[5:-1]
        for i, item in enumerate(value):
            _check_value(inner, item, f"{where}[{i}]", package)
        return
    if type_name.startswith("dict["):
        if not isinstance(value, dict):
            raise BadRequest(f"{where}: expected an object")
        inner = re.match(r"dict\[([^,]*), (.*)\]", type_name).group(2)  # type: ignore[union-attr]
        for k, item in value.items():
            _check_value(inner, item, f"{where}.{k}", package)
        return
    primitive = {"str": str, "int": int, "float": (int, float), "bool": bool, "datetime": str, "date": str}
    if type_name in primitive:
        ok = isinstance(value, primitive[type_name]) and not (type_name in ("int", "float") and isinstance(value, bool))
        if not ok:
            raise BadRequest(f"{where}: expected {type_name}, got {type(value).__name__}")
        return
    if type_name == "object":
        return
    _check_keys(getattr(package.models, type_name), value, where)


def _check_keys(klass: type, data: Any, where: str) -> None:
    if not isinstance(data, dict):
        raise BadRequest(f"{where}: expected an object")
    by_json = {json_name: attr for attr, json_name in klass.attribute_map.items()}  # type: ignore[attr-defined]
    unknown = sorted(set(data) - set(by_json))
    if unknown:
        raise BadRequest(f"{where}: unknown keys {unknown} for {klass.__name__}")
    package = _package(klass)
    for json_name, value in data.items():
        _check_value(klass.openapi_types[by_json[json_name]], value, f"{where}.{json_name}", package)  # type: ignore[attr-defined]


_STRICT: dict[str, Any] = {}


def _strict_client(klass: type) -> Any:
    """The model's package ApiClient with client-side validation on (the SDK turns it off by
    default), so building a model checks required fields and enum values."""
    package = _package(klass)
    client = _STRICT.get(package.__name__)
    if client is None:
        config = package.Configuration()
        config.client_side_validation = True
        client = _STRICT[package.__name__] = package.ApiClient(configuration=config)
    return client


def parse_model(klass: type, data: Any, where: str = "body") -> Any:
    """Refuse keys and value types the SDK model does not know, then build the model with
    validation on (required fields, enum values)."""
    _check_keys(klass, data, where)
    try:
        return _strict_client(klass).deserialize(_Body(json.dumps(data)), klass)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"{where}: {exc}") from None


def parse_batch_read(body: dict[str, Any]) -> BatchReadInputSimplePublicObjectId:
    """Refuse any key the SDK model does not know; build the model (validates types)."""
    return parse_model(BatchReadInputSimplePublicObjectId, body)  # type: ignore[no-any-return]


def _dump(model: Any) -> Any:
    """An answer as JSON, checked against its own model first (the fake's answers keep to
    HubSpot's documented shapes too). Every key and value type is checked; building the model
    (required fields, enums; slow: it parses every timestamp) is done on the envelope and its
    first few results, which are all built the same way."""
    data = _SDK.sanitize_for_serialization(model)
    try:
        _check_keys(type(model), data, "answer")
        sample = data
        if isinstance(data, dict) and isinstance(data.get("results"), list) and len(data["results"]) > 3:
            sample = {**data, "results": data["results"][:3]}
        parse_model(type(model), sample, "answer")
    except BadRequest as exc:
        raise AssertionError(f"the fake built an answer its model refuses: {exc}") from None
    return data


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _instant(value: str | None) -> int | None:
    """A datetime property or filter value (ISO 8601 or epoch ms) as epoch ms."""
    if value in (None, ""):
        return None
    assert value is not None
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{value!r} is not a date") from None
    return int(moment.timestamp() * 1000)


def _comparable(prop: str, value: str | None) -> Any:
    if value is None:
        return None
    if prop in _DATETIMES:
        return _instant(value)
    if prop == "hs_object_id" or prop == "amount":
        try:
            return float(value) if "." in value else int(value)
        except ValueError:
            raise BadRequest(f"{value!r} is not a number for {prop}") from None
    return value.lower()


def _passes(props: dict[str, str], flt: Any) -> bool:
    op = flt.operator
    have = _comparable(flt.property_name, props.get(flt.property_name))
    if op == "HAS_PROPERTY":
        return have not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return have in (None, "")
    if op in ("IN", "NOT_IN"):
        values = {_comparable(flt.property_name, v) for v in flt.values or []}
        return (have in values) == (op == "IN")
    if flt.value is None:
        raise BadRequest(f"filter {op} on {flt.property_name} needs a value")
    want = _comparable(flt.property_name, flt.value)
    if op == "EQ":
        return have == want
    if op == "NEQ":
        return have != want
    if have is None:
        return False
    compare = {"GT": have > want, "GTE": have >= want, "LT": have < want, "LTE": have <= want}
    if op not in compare:
        raise BadRequest(f"the fake does not support the {op} operator")
    return compare[op]


@dataclass
class _Seeded:
    """``count`` synthetic records of one object type, computed from their index: record ``i``
    has id ``first_id + i`` and is modified at ``start_ms + (i // per_stamp) * step_ms``, so
    both id and modified stamp grow with the index and a range filter on either is a range of
    indexes. Nothing per record is kept."""

    obj: str
    count: int
    first_id: int
    start_ms: int
    step_ms: int
    per_stamp: int

    def has(self, oid: str) -> bool:
        return oid.isdigit() and self.first_id <= int(oid) < self.first_id + self.count

    def stamp(self, i: int) -> int:
        return self.start_ms + (i // self.per_stamp) * self.step_ms

    def properties(self, i: int) -> dict[str, str]:
        n = self.first_id + i
        if self.obj == "contacts":
            return {"email": f"seed{n}@seed.example", "firstname": "Seed", "lastname": str(n)}
        if self.obj == "companies":
            return {"name": f"Seed {n}", "domain": f"seed{n}.example"}
        if self.obj == "deals":
            return {"dealname": f"Seeded deal {n}", "dealstage": "appointmentscheduled", "pipeline": "default",
                    "amount": str(1000 + i % 9000)}  # fmt: skip
        return {"hs_task_subject": f"Seeded task {n}"}

    def find(self, prop: str, value: str) -> int | None:
        """The index of the record whose unique ``prop`` is ``value``, if it is one of these."""
        pattern = {"hs_object_id": r"(\d+)", "email": r"seed(\d+)@seed\.example", "domain": r"seed(\d+)\.example"}
        match = re.fullmatch(pattern.get(prop, r"(?!)"), value.lower())
        if match and self.has(match.group(1)):
            return int(match.group(1)) - self.first_id
        return None

    def _bound(self, flt: Any, stamp_prop: str) -> tuple[int, int] | None:
        """The index range a filter allows, or ``None`` when it cannot be computed."""
        op, prop = flt.operator, flt.property_name
        if prop not in ("hs_object_id", stamp_prop) or op not in ("EQ", "GT", "GTE", "LT", "LTE") or flt.value is None:
            return None
        value = _comparable(prop, flt.value)
        if prop == "hs_object_id":
            first = value - self.first_id  # the index holding that id
            lo = {"EQ": first, "GT": first + 1, "GTE": first, "LT": 0, "LTE": 0}[op]
            hi = {"EQ": first + 1, "GT": self.count, "GTE": self.count, "LT": first, "LTE": first + 1}[op]
        else:

            def first_at_or_after(ms: int) -> int:  # smallest index with stamp >= ms
                steps = -(-(ms - self.start_ms) // self.step_ms)
                return max(0, steps) * self.per_stamp

            lo = {"EQ": first_at_or_after(value), "GT": first_at_or_after(value + 1), "GTE": first_at_or_after(value),
                  "LT": 0, "LTE": 0}[op]  # fmt: skip
            hi = {"EQ": first_at_or_after(value + 1), "GT": self.count, "GTE": self.count,
                  "LT": first_at_or_after(value), "LTE": first_at_or_after(value + 1)}[op]  # fmt: skip
            if op == "EQ" and (value - self.start_ms) % self.step_ms:
                hi = lo
        return max(0, lo), min(self.count, hi)

    def matching(
        self, groups: list[Any], stamp_prop: str, skip: set[str], scan_limit: int = 20_000
    ) -> list[tuple[int, int]]:
        """Index intervals (sorted, disjoint) of the records the filter groups match."""
        intervals: list[tuple[int, int]] = []
        for group in groups or [None]:
            lo, hi = 0, self.count
            rest = []
            for flt in group.filters if group is not None else []:
                bound = self._bound(flt, stamp_prop)
                if bound is None:
                    rest.append(flt)
                else:
                    lo, hi = max(lo, bound[0]), min(hi, bound[1])
            if lo >= hi:
                continue
            eq = next(
                (f for f in rest if f.operator == "EQ" and f.value and self.find(f.property_name, f.value) is not None),
                None,
            )
            if eq is not None:
                i = self.find(eq.property_name, eq.value)
                assert i is not None
                lo, hi = max(lo, i), min(hi, i + 1)
                if lo >= hi:
                    continue
            if rest:
                if hi - lo > scan_limit:
                    raise BadRequest("the fake cannot evaluate this filter over so many seeded records")
                for i in range(lo, hi):
                    props = self.properties(i) | {
                        stamp_prop: str(self.stamp(i)),
                        "hs_object_id": str(self.first_id + i),
                    }
                    if all(_passes(props, f) for f in rest):
                        intervals.append((i, i + 1))
            else:
                intervals.append((lo, hi))
        intervals.sort()
        merged: list[tuple[int, int]] = []
        for lo, hi in intervals:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged

    def ids(self, intervals: list[tuple[int, int]], skip: set[str]) -> Iterator[str]:
        for lo, hi in intervals:
            for i in range(lo, hi):
                oid = str(self.first_id + i)
                if oid not in skip:
                    yield oid


class _Links(dict[tuple[str, str, str, str], set[int]]):
    """The fake's associations: a dict that counts the changes of its keys (``version``)."""

    version = 0

    def __setitem__(self, key: tuple[str, str, str, str], value: set[int]) -> None:
        self.version += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: tuple[str, str, str, str]) -> None:
        self.version += 1
        super().__delitem__(key)

    def setdefault(self, key: tuple[str, str, str, str], default: set[int] | None = None) -> set[int]:
        if key not in self:
            self.version += 1
        return super().setdefault(key, set() if default is None else default)

    def pop(self, key: tuple[str, str, str, str], *default: Any) -> Any:
        self.version += 1
        return super().pop(key, *default)

    def clear(self) -> None:
        self.version += 1
        super().clear()


class FakeHubSpot:
    def __init__(self) -> None:
        self.deals: dict[str, dict[str, str]] = {}
        self.contacts: dict[str, dict[str, str]] = {}
        self.companies: dict[str, dict[str, str]] = {}
        self.tasks: dict[str, dict[str, str]] = {}
        self.objects = {
            "deals": self.deals,
            "contacts": self.contacts,
            "companies": self.companies,
            "tasks": self.tasks,
        }
        self.modified: dict[str, datetime] = {}  # deals (kept under this name for older tests)
        self.stamps: dict[str, dict[str, datetime]] = {
            "deals": self.modified,
            "contacts": {},
            "companies": {},
            "tasks": {},
        }
        self.created: dict[str, dict[str, float]] = {obj: {} for obj in self.objects}
        #: synthetic records per object (``seed_records``), computed, not kept
        self.seeded: dict[str, _Seeded] = {}
        #: (object, merged-away id) -> the id it was merged into
        self.merged_into: dict[tuple[str, str], str] = {}
        #: associations per page in v4 answers (HubSpot: up to 500)
        self.assoc_page_size = 500
        #: requests served per "METHOD /path"
        self.request_counts: Counter[str] = Counter()
        #: (object, unique property) -> {value lower-cased: id}, kept by every write, so lookups
        #: stay fast with many records (bench); small sets are scanned
        self._index: dict[tuple[str, str], dict[str, str]] = {}
        #: (type a, id a, type b, id b) with type a < type b, -> association type ids
        self.associations: dict[tuple[str, str, str, str], set[int]] = _Links()
        #: (from type, from id, to type) -> the other ends, built from ``associations`` when its
        #: keys changed (a v4 read of many deals scanned every association once per deal)
        self._ends_index: tuple[int, dict[tuple[str, str, str], set[str]]] = (-1, {})
        #: every association written (inline at create, or through the v4 API), in order
        self.association_writes: list[tuple[str, str, str, str]] = []
        self.property_defs: dict[str, dict[str, Any]] = {obj: {} for obj in _STANDARD}
        self.groups: dict[str, dict[str, Any]] = {obj: {} for obj in _STANDARD}
        self.search_lag_s = 0.0
        self.script: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = threading.Event()
        self.release = threading.Event()
        self.oauth: dict[str, Any] | None = None
        self.issued_tokens: list[str] = []
        self.valid_tokens: set[str] | None = None
        self._next_id = 1000
        self._lock = threading.RLock()
        self._define_standard()
        #: injected faults (off unless a test or the fault harness sets a rate)
        self.faults = Faults()
        self.http = JsonApiServer(self.serve)

    # -- test controls --------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> FakeHubSpot:
        self.http.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.faults.release.set()
        self.http.stop()

    def set_deal(self, deal_id: str, modified: datetime, **properties: str) -> None:
        with self._lock:
            self.deals.setdefault(deal_id, {"pipeline": "default"}).update(properties)
            self.modified[deal_id] = modified
            self._remember("deals", deal_id, properties)

    def add(self, obj: str, properties: dict[str, str], *, object_id: str | None = None) -> str:
        """Put a record in the CRM as a person would (no validation); returns its id."""
        with self._lock:
            oid = object_id or self._new_id()
            self.objects[obj][oid] = dict(properties)
            self.stamps[obj][oid] = datetime.now(UTC)
            self._remember(obj, oid, properties)
            self.created[obj][oid] = time.time() - 3600  # long indexed
            return oid

    @property
    def request_count(self) -> int:
        """Every request served (the API and the OAuth token endpoint)."""
        with self._lock:
            return len(self.requests)

    def seed_records(
        self, object: str, count: int, *, per_stamp: int = 1, step_ms: int = 10, start: datetime | None = None
    ) -> list[str]:
        """Make ``count`` synthetic records of ``object`` searchable (long indexed) and readable
        without keeping them: record ``i`` is computed from ``i``. ``per_stamp`` records share
        each modified stamp, ``step_ms`` apart from ``start`` (default: a day ago). Returns the
        first and last id."""
        obj = _SINGULAR.get(object, object)
        with self._lock:
            if obj in self.seeded:
                raise ValueError(f"{obj} are seeded already")
            begin = start or datetime.now(UTC) - timedelta(days=1)
            first = 10_000_000 + 10_000_000 * len(self.seeded)
            self.seeded[obj] = _Seeded(obj, count, first, int(begin.timestamp() * 1000), step_ms, per_stamp)
            return [str(first), str(first + count - 1)]

    def merge(self, obj: str, primary_id: str, merged_id: str, *, new_id: bool = False) -> dict[str, Any]:
        """Merge two records as a person does in HubSpot: the primary's values win, the merged
        record's fill its gaps, associations move over, the merged id is gone. ``new_id``: the
        merge produces a record with a new id (and both old ids go). Returns the ``*.merge``
        webhook event HubSpot sends."""
        with self._lock:
            obj = _SINGULAR.get(obj, obj)
            survivor, moved = self._merge(obj, primary_id, merged_id, new_id=new_id)
            kind = {"deals": "deal", "contacts": "contact", "companies": "company"}[obj]
            return {"objectId": int(survivor), "eventId": int(time.time() * 1000) % 10**9 + int(survivor) % 1000,
                    "subscriptionId": 77, "portalId": 62515, "appId": 54321, "occurredAt": int(time.time() * 1000),
                    "eventType": f"{kind}.merge", "attemptNumber": 0, "changeSource": "CRM_UI",
                    "primaryObjectId": int(primary_id), "mergedObjectIds": [int(merged_id)],
                    "newObjectId": int(survivor), "numberOfPropertiesMoved": moved}  # fmt: skip

    def associate(self, a_type: str, a_id: str, b_type: str, b_id: str) -> None:
        with self._lock:
            self._link(a_type, a_id, b_type, b_id, ASSOCIATION_TYPES[(a_type, b_type)], count=False)

    def associated(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        with self._lock:
            return sorted(self._ends(from_type, from_id, to_type))

    def enable_oauth(self, client_id: str, client_secret: str, refresh_token: str, *, expires_in: int = 1800) -> None:
        """Accept only access tokens issued by ``POST /oauth/v1/token`` from now on."""
        with self._lock:
            self.oauth = {"client_id": client_id, "client_secret": client_secret,
                          "refresh_token": refresh_token, "expires_in": expires_in}  # fmt: skip
            self.valid_tokens = set()

    def fail_next(
        self,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        *,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` API calls (those under ``path`` if given; the OAuth token
        endpoint only when named) with ``status``."""
        for _ in range(times):
            self.script.append({"status": status, "headers": headers or {}, "body": body, "path": path})

    def lose_next_answer(self, path: str) -> None:
        """Carry out the next call to exactly ``path``, then answer 504 as a gateway whose
        upstream answer was lost would: the write happened, the caller cannot know."""
        self.script.append({"lose": True, "path": path})

    def hang_next(self, *, path: str | None = None) -> None:
        self.script.append({"hang": True, "path": path})

    def requests_to(self, fragment: str, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests
                    if fragment in r["path"] and (method is None or r["method"] == method)]  # fmt: skip

    # -- serving --------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        """A JSON POST (kept for older callers)."""
        return self.serve("POST", path, headers, json.dumps(body).encode())

    def serve(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], Any]:
        path = urlsplit(target).path
        lowered = {k.lower(): v for k, v in headers.items()}
        is_form = "x-www-form-urlencoded" in lowered.get("content-type", "")
        try:
            body: Any = dict(parse_qsl(raw.decode())) if is_form else (json.loads(raw) if raw else None)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return 400, {}, {"status": "error", "message": "body is not JSON", "category": "VALIDATION_ERROR"}
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body, "at": time.time()})
            self.request_counts[f"{method} {path}"] += 1
            step = self._scripted(path)
        if step and step.get("hang"):
            self.in_flight.set()
            self.release.wait(120)
            return 503, {}, {"status": "error", "message": "released"}
        if step and step.get("lose"):
            with self._lock:
                self._route(method, path, body)
            return 504, {}, {"status": "error", "message": "upstream answer lost", "category": "SCRIPTED"}
        if step:
            answer = step["body"] or {
                "status": "error",
                "message": f"scripted {step['status']}",
                "category": "SCRIPTED",
            }
            return step["status"], step["headers"], answer
        fault = None if path.startswith("/oauth/") else self.faults.draw()
        if fault == "429":
            return 429, {"Retry-After": str(self.faults.retry_after_s)}, {
                "status": "error", "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT", "category": "RATE_LIMITS"}  # fmt: skip
        if fault == "5xx":
            return (
                self.faults.status_5xx(),
                {},
                {"status": "error", "message": "internal error", "category": "INJECTED"},
            )
        if fault == "timeout":
            self.faults.hang()
            return 504, {}, {"status": "error", "message": "injected timeout", "category": "INJECTED"}
        answer = self._serve_api(method, target, path, lowered, body)
        if fault == "lost":  # carried out; the answer never reaches the caller
            self.faults.hang()
        return answer

    def _serve_api(
        self, method: str, target: str, path: str, lowered: dict[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        try:
            if path == "/oauth/v1/token" and method == "POST":
                return self._token(body or {})
            token = lowered.get("authorization", "")
            if not token.startswith("Bearer ") or (
                self.valid_tokens is not None and token[len("Bearer ") :] not in self.valid_tokens
            ):
                return 401, {}, {"status": "error", "message": "Authentication credentials not found.",
                                 "category": "INVALID_AUTHENTICATION"}  # fmt: skip
            with self._lock:
                return self._route(method, path, body, dict(parse_qsl(urlsplit(target).query)))
        except BadRequest as exc:
            return exc.status, {}, {"status": "error", "message": str(exc), "category": exc.category,
                                    "correlationId": "00000000-0000-0000-0000-000000000000"}  # fmt: skip

    def _scripted(self, path: str) -> dict[str, Any] | None:
        for i, step in enumerate(self.script):
            wanted = step.get("path")
            if step.get("lose") and wanted != path:
                continue
            if (wanted is None and not path.startswith("/oauth/")) or (wanted is not None and path.startswith(wanted)):
                del self.script[i]
                return step
        return None

    def _route(
        self, method: str, path: str, body: Any, query: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], Any]:
        query = query or {}
        parts = path.strip("/").split("/")
        if parts[:3] == ["crm", "v3", "objects"] and method == "POST":
            obj = self._obj(parts[3])
            rest = parts[4:]
            if rest == ["batch", "read"]:
                return self._batch_read(obj, body)
            if rest == ["search"]:
                return self._search(obj, body)
            if rest == ["batch", "upsert"]:
                return self._upsert(obj, body)
            if rest == ["batch", "update"]:
                return self._update(obj, body)
            if rest == ["batch", "create"]:
                return self._batch_create(obj, body)
            if rest == ["merge"]:
                return self._merge_api(obj, body)
            if rest == []:
                return self._create(obj, body)
        if parts[:3] == ["crm", "v4", "associations"] and method == "POST" and len(parts) >= 7:
            from_obj, to_obj, rest = self._obj(parts[3]), self._obj(parts[4]), parts[5:]
            if rest == ["batch", "read"]:
                return self._assoc_read(from_obj, to_obj, body)
            if rest == ["batch", "associate", "default"]:
                return self._assoc_default(from_obj, to_obj, body)
        if parts[:3] == ["crm", "v4", "objects"] and method == "GET" and len(parts) == 7 and parts[5] == "associations":
            return self._assoc_list(self._obj(parts[3]), parts[4], self._obj(parts[6]), query)
        if parts[:3] == ["crm", "v3", "properties"] and len(parts) >= 4:
            obj, rest = self._obj(parts[3]), parts[4:]
            if rest == [] and method == "GET":
                results = [p for p in self.property_defs[obj].values()]
                return 200, {}, _dump(CollectionResponsePropertyNoPaging(results=results))
            if rest == ["groups"] and method == "GET":
                return 200, {}, _dump(CollectionResponsePropertyGroupNoPaging(results=list(self.groups[obj].values())))
            if rest == ["groups"] and method == "POST":
                return self._create_group(obj, body)
            if rest == ["batch", "create"] and method == "POST":
                return self._create_properties(obj, body)
        return 404, {}, {"status": "error", "message": f"no route {method} {path}", "category": "OBJECT_NOT_FOUND"}

    # -- objects --------------------------------------------------------------------------

    def _obj(self, name: str) -> str:
        obj = _SINGULAR.get(name, name)
        if obj not in self.objects:
            raise BadRequest(f"Unable to infer object type from: {name}", 400)
        return obj

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _seeded_index(self, obj: str, oid: str) -> int | None:
        seeded = self.seeded.get(obj)
        if seeded is None or oid in self.objects[obj] or not seeded.has(oid):
            return None
        return int(oid) - seeded.first_id

    def _exists(self, obj: str, oid: str) -> bool:
        return oid in self.objects[obj] or self._seeded_index(obj, oid) is not None

    def _stamp_of(self, obj: str, oid: str) -> datetime:
        index = self._seeded_index(obj, oid)
        if index is not None:
            return datetime.fromtimestamp(self.seeded[obj].stamp(index) / 1000, UTC)
        return self.stamps[obj].get(oid) or datetime.now(UTC)

    def _props_of(self, obj: str, oid: str) -> dict[str, str]:
        index = self._seeded_index(obj, oid)
        props = dict(self.seeded[obj].properties(index) if index is not None else self.objects[obj][oid])
        stamp = self._stamp_of(obj, oid)
        props["lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"] = _iso(stamp)
        props["hs_object_id"] = oid
        if obj == "deals":
            stage = props.get("dealstage", "")
            props.setdefault("hs_is_closed", "true" if stage in _CLOSED else "false")
            props.setdefault("hs_is_closed_won", "true" if stage in _CLOSED_WON else "false")
        return props

    def _public(
        self, obj: str, oid: str, wanted: list[str] | None, model: type = SimplePublicObject, **extra: Any
    ) -> Any:
        props = self._props_of(obj, oid)
        names = set(wanted or ["hs_object_id"])
        shown = {k: v for k, v in props.items() if k in names or k == "hs_object_id"}
        stamp = self._stamp_of(obj, oid)
        return model(id=oid, properties=shown, created_at=stamp, updated_at=stamp, archived=False, **extra)

    def _find(self, obj: str, prop: str, value: str) -> str | None:
        if prop == "hs_object_id":
            return value if self._exists(obj, value) else None
        wanted = value.lower()
        if len(self.objects[obj]) > _SCAN_MAX and self._unique(obj, prop):
            hit = self._index.get((obj, prop), {}).get(wanted)
            found = (
                [hit] if hit in self.objects[obj] and (self.objects[obj][hit].get(prop) or "").lower() == wanted else []
            )
        else:
            found = [oid for oid, props in self.objects[obj].items()
                     if props.get(prop) is not None and props[prop].lower() == wanted]  # fmt: skip
        seeded = self.seeded.get(obj)
        index = seeded.find(prop, value) if seeded is not None else None
        if index is not None and str(seeded.first_id + index) not in self.objects[obj]:  # type: ignore[union-attr]
            found.append(str(seeded.first_id + index))  # type: ignore[union-attr]
        return min(found, key=lambda k: int(k) if k.isdigit() else 0) if found else None

    def _remember(self, obj: str, oid: str, props: dict[str, str]) -> None:
        for name, value in props.items():
            if value and self._unique(obj, name):
                self._index.setdefault((obj, name), {})[value.lower()] = oid

    def _unique(self, obj: str, prop: str) -> bool:
        if obj == "contacts" and prop == "email":
            return True
        definition = self.property_defs[obj].get(prop)
        return bool(definition is not None and definition.has_unique_value)

    def _check_write(self, obj: str, props: dict[str, str], oid: str | None) -> None:
        for name, value in props.items():
            if name not in self.property_defs[obj]:
                raise BadRequest(f'Property values were not valid: [{{"isValid":false,"message":"Property \\"{name}\\" '
                                 f'does not exist","error":"PROPERTY_DOESNT_EXIST","name":"{name}"}}]')  # fmt: skip
            if name in _READ_ONLY:
                raise BadRequest(f"Property {name} is read only", category="READ_ONLY_VALUE")
            if value and self._unique(obj, name):
                other = self._find(obj, name, value)
                if other is not None and other != oid:
                    if obj == "contacts" and name == "email":
                        raise BadRequest(f"Contact already exists. Existing ID: {other}", 409, "CONFLICT")
                    raise BadRequest(f"{obj[:-1]} {other} already has that value for unique property {name}",
                                     409, "CONFLICT")  # fmt: skip

    def _write(self, obj: str, oid: str, props: dict[str, str]) -> None:
        index = self._seeded_index(obj, oid)
        if index is not None:  # a synthetic record written to is kept from now on
            self.objects[obj][oid] = self.seeded[obj].properties(index)
            self.created[obj][oid] = 0.0
        self.objects[obj].setdefault(oid, {}).update(props)
        self.stamps[obj][oid] = datetime.now(UTC)
        self._remember(obj, oid, props)

    def _batch_read(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request = parse_batch_read(body)
        id_property = request.id_property or "hs_object_id"
        if id_property != "hs_object_id" and not self._unique(obj, id_property):
            raise BadRequest(f"{id_property} is not a unique property")
        now = datetime.now(UTC)
        results = []
        for item in request.inputs:
            oid = self._find(obj, id_property, item.id)
            if oid is not None:
                results.append(self._public(obj, oid, request.properties))
        answer = BatchResponseSimplePublicObject(status="COMPLETE", results=results, started_at=now, completed_at=now)
        return 200, {}, _dump(answer)

    def _search(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        body = dict(body or {})
        sorts = body.pop("sorts", None)
        request: PublicObjectSearchRequest = parse_model(PublicObjectSearchRequest, body)
        sort = self._check_sorts(sorts)
        groups = request.filter_groups or []
        if (
            len(groups) > 5
            or any(len(g.filters or []) > 6 for g in groups)
            or sum(len(g.filters or []) for g in groups) > 18
        ):
            raise BadRequest("at most 5 filterGroups of at most 6 filters, 18 filters in all")
        limit = 10 if request.limit is None else request.limit
        if not 0 < limit <= SEARCH_PAGE_MAX:
            raise BadRequest(f"limit must be between 1 and {SEARCH_PAGE_MAX}")
        offset = int(request.after or 0)
        if offset >= SEARCH_RESULT_CAP:
            raise BadRequest(f"search results are limited to {SEARCH_RESULT_CAP}; page past them with a new query")
        prop, descending = sort or ("hs_object_id", False)
        stamp_prop = "lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"

        def key(oid: str) -> tuple[Any, int]:
            value = _comparable(prop, self._props_of(obj, oid).get(prop))
            return (value is None, value if value is not None else 0, int(oid) if oid.isdigit() else 0)

        visible_before = time.time() - self.search_lag_s
        kept = [
            oid
            for oid in self.objects[obj]
            if self.created[obj].get(oid, 0.0) <= visible_before  # else not indexed yet
            and (not groups or any(all(_passes(self._props_of(obj, oid), f) for f in g.filters) for g in groups))
        ]
        kept.sort(key=key, reverse=descending)
        streams: list[Iterator[str]] = [iter(kept)]
        total = len(kept)
        seeded = self.seeded.get(obj)
        if seeded is not None:
            if prop not in ("hs_object_id", stamp_prop):
                raise BadRequest("the fake sorts seeded records by hs_object_id or the modified stamp only")
            intervals = seeded.matching(groups, stamp_prop, set())
            total += sum(hi - lo for lo, hi in intervals) - sum(
                1
                for oid in self.objects[obj]
                if seeded.has(oid) and any(lo <= int(oid) - seeded.first_id < hi for lo, hi in intervals)
            )
            if descending:
                ids = reversed(list(seeded.ids(intervals, set(self.objects[obj]))))
            else:
                ids = seeded.ids(intervals, set(self.objects[obj]))
            streams.append(iter(ids))
        ordered = heapq.merge(*streams, key=key, reverse=descending)
        page = list(itertools.islice(ordered, offset, offset + limit))
        results = [self._public(obj, oid, request.properties or self._default_properties(obj)) for oid in page]
        paging = None
        if offset + limit < total:
            paging = ForwardPaging(next=NextPage(after=str(offset + limit), link=f"?after={offset + limit}"))
        answer = CollectionResponseWithTotalSimplePublicObjectForwardPaging(total=total, results=results, paging=paging)
        return 200, {}, _dump(answer)

    @staticmethod
    def _check_sorts(sorts: Any) -> tuple[str, bool] | None:
        """The SDK types ``sorts`` as strings; HubSpot's docs send ``{"propertyName",
        "direction"}`` objects. Both are taken; one sort rule at most."""
        if sorts is None:
            return None
        if not isinstance(sorts, list) or len(sorts) > 1:
            raise BadRequest("sorts: a list of at most one sort rule")
        if not sorts:
            return None
        rule = sorts[0]
        if isinstance(rule, str):
            return (rule[1:], True) if rule.startswith("-") else (rule, False)
        if (
            not isinstance(rule, dict)
            or set(rule) - {"propertyName", "direction"}
            or not isinstance(rule.get("propertyName"), str)
        ):
            raise BadRequest(f"sorts[0]: expected {{propertyName, direction}}, got {rule!r}")
        direction = rule.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise BadRequest(f"sorts[0].direction: {direction!r}")
        return rule["propertyName"], direction == "DESCENDING"

    @staticmethod
    def _default_properties(obj: str) -> list[str]:
        return {"contacts": ["email", "firstname", "lastname", "lastmodifieddate", "createdate"],
                "deals": ["dealname", "amount", "dealstage", "pipeline", "closedate", "hs_lastmodifieddate", "createdate"],
                "companies": ["name", "domain", "hs_lastmodifieddate", "createdate"]}.get(obj, ["hs_lastmodifieddate"])  # fmt: skip

    def _upsert(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(BatchInputSimplePublicObjectBatchInputUpsert, body)
        self._check_batch(request.inputs)
        ids = [(i.id_property or "hs_object_id", i.id.lower()) for i in request.inputs]
        if len(set(ids)) != len(ids):
            raise BadRequest("Duplicate IDs found in batch input")
        now = datetime.now(UTC)
        results = []
        for item in request.inputs:
            id_property = item.id_property or "hs_object_id"
            if id_property != "hs_object_id" and not self._unique(obj, id_property):
                raise BadRequest(f"idProperty {id_property} must be a property with unique values")
            oid = self._find(obj, id_property, item.id)
            new = oid is None
            props = dict(item.properties)
            if new:
                if id_property != "hs_object_id":
                    props[id_property] = item.id
                self._check_write(obj, props, None)
                oid = self._new_id()
                self.created[obj][oid] = time.time()
            else:
                self._check_write(obj, props, oid)
            assert oid is not None
            self._write(obj, oid, props)
            results.append(
                self._public(
                    obj,
                    oid,
                    list(props),
                    SimplePublicUpsertObject,
                    new=new,
                    object_write_trace_id=item.object_write_trace_id,
                )
            )
        answer = BatchResponseSimplePublicUpsertObject(
            status="COMPLETE", results=results, started_at=now, completed_at=now
        )
        return 200, {}, _dump(answer)

    def _update(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(BatchInputSimplePublicObjectBatchInput, body)
        self._check_batch(request.inputs)
        now = datetime.now(UTC)
        results, errors = [], []
        for item in request.inputs:
            oid = self._find(obj, item.id_property or "hs_object_id", item.id)
            if oid is None:
                context = {"ids": [item.id]}
                if item.object_write_trace_id:
                    context["objectWriteTraceId"] = [item.object_write_trace_id]
                errors.append(StandardError(status="error", category="OBJECT_NOT_FOUND", message=f"no {obj} {item.id}",
                                            context=context, links={}, errors=[ErrorDetail(message="not found")]))  # fmt: skip
                continue
            self._check_write(obj, dict(item.properties), oid)
            self._write(obj, oid, dict(item.properties))
            results.append(
                self._public(obj, oid, list(item.properties), object_write_trace_id=item.object_write_trace_id)
            )
        if errors:
            answer = BatchResponseSimplePublicObjectWithErrors(status="COMPLETE", results=results, errors=errors,
                                                               num_errors=len(errors), started_at=now, completed_at=now)  # fmt: skip
            return 207, {}, _dump(answer)
        return (
            200,
            {},
            _dump(
                BatchResponseSimplePublicObject(status="COMPLETE", results=results, started_at=now, completed_at=now)
            ),
        )

    @staticmethod
    def _check_batch(inputs: list[Any]) -> None:
        if len(inputs) > BATCH_MAX:
            raise BadRequest(f"Batch operations are limited to {BATCH_MAX} records at a time")

    def _batch_create(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(BatchInputSimplePublicObjectBatchInputForCreate, body)
        self._check_batch(request.inputs)
        now = datetime.now(UTC)
        for item in request.inputs:
            self._check_write(obj, dict(item.properties), None)
        results = []
        for item in request.inputs:
            oid = self._new_id()
            self.created[obj][oid] = time.time()
            self._write(obj, oid, dict(item.properties))
            results.append(
                self._public(obj, oid, list(item.properties), object_write_trace_id=item.object_write_trace_id)
            )
        return (
            201,
            {},
            _dump(
                BatchResponseSimplePublicObject(status="COMPLETE", results=results, started_at=now, completed_at=now)
            ),
        )

    def _merge(self, obj: str, primary_id: str, merged_id: str, *, new_id: bool = False) -> tuple[str, int]:
        """(the surviving id, how many properties moved from the merged record)."""
        for oid in (primary_id, merged_id):
            if not self._exists(obj, oid):
                raise BadRequest(f"{obj} {oid} does not exist", 404, "OBJECT_NOT_FOUND")
        if primary_id == merged_id:
            raise BadRequest("cannot merge a record into itself")
        primary, other = self._props_of(obj, primary_id), self._props_of(obj, merged_id)
        moved = {k: v for k, v in other.items() if v not in (None, "") and primary.get(k) in (None, "")
                 and k in self.property_defs[obj] and k not in _READ_ONLY}  # fmt: skip
        survivor = self._new_id() if new_id else primary_id
        values = {k: v for k, v in {**self.objects[obj].get(primary_id, primary), **moved}.items()
                  if k not in _READ_ONLY and k != "hs_object_id"}  # fmt: skip
        gone = [merged_id] + ([primary_id] if new_id else [])
        for oid in gone:
            self.objects[obj].pop(oid, None)
            self.merged_into[(obj, oid)] = survivor
        self.objects[obj][survivor] = values
        self.stamps[obj][survivor] = datetime.now(UTC)
        self.created[obj].setdefault(survivor, time.time() - 3600)
        for key in list(self.associations):
            ta, ia, tb, ib = key
            if (ta == obj and ia in gone) or (tb == obj and ib in gone):
                types = self.associations.pop(key)
                a = survivor if ta == obj and ia in gone else ia
                b = survivor if tb == obj and ib in gone else ib
                self.associations.setdefault((ta, a, tb, b), set()).update(types)
        return survivor, len(moved)

    def _merge_api(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(PublicMergeInput, body)
        survivor, _ = self._merge(obj, request.primary_object_id, request.object_id_to_merge)
        return 200, {}, _dump(self._public(obj, survivor, None))

    def _create(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(SimplePublicObjectInputForCreate, body)
        props = dict(request.properties)
        self._check_write(obj, props, None)
        links = []
        for link in request.associations or []:
            for spec in link.types:
                pair = next(
                    (k for k, v in ASSOCIATION_TYPES.items() if k[0] == obj and v == spec.association_type_id), None
                )
                if pair is None or spec.association_category != "HUBSPOT_DEFINED":
                    raise BadRequest(f"association type {spec.association_type_id} is not valid from {obj}")
                if link.to.id not in self.objects[pair[1]]:
                    raise BadRequest(f"{pair[1]} {link.to.id} does not exist", 404, "OBJECT_NOT_FOUND")
                links.append((pair[1], link.to.id, spec.association_type_id))
        oid = self._new_id()
        self.created[obj][oid] = time.time()
        self._write(obj, oid, props)
        for to_obj, to_id, type_id in links:
            self._link(obj, oid, to_obj, to_id, type_id)
        return 201, {}, _dump(self._public(obj, oid, list(props)))

    # -- associations ---------------------------------------------------------------------

    def _link(self, a_type: str, a_id: str, b_type: str, b_id: str, type_id: int, *, count: bool = True) -> None:
        key = (a_type, a_id, b_type, b_id) if a_type < b_type else (b_type, b_id, a_type, a_id)
        self.associations.setdefault(key, set()).add(type_id)
        if count:
            self.association_writes.append((a_type, a_id, b_type, b_id))

    def _ends(self, from_type: str, from_id: str, to_type: str) -> set[str]:
        links = self.associations
        version = links.version if isinstance(links, _Links) else -2
        built, index = self._ends_index
        if built != version or version == -2:
            index = {}
            for ta, ia, tb, ib in links:
                index.setdefault((ta, ia, tb), set()).add(ib)
                index.setdefault((tb, ib, ta), set()).add(ia)
            self._ends_index = (version, index)
        return set(index.get((from_type, from_id, to_type), ()))

    def _assoc_read(self, from_obj: str, to_obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(assoc.BatchInputPublicFetchAssociationsBatchRequest, body)
        now = datetime.now(UTC)
        results, errors = [], []
        type_id = ASSOCIATION_TYPES[(from_obj, to_obj)]
        for item in request.inputs:
            ends = sorted(self._ends(from_obj, item.id, to_obj), key=lambda k: int(k) if k.isdigit() else 0)
            if not ends:
                errors.append(assoc.StandardError(
                    status="error", category="OBJECT_NOT_FOUND", message=f"No {to_obj} is associated with {from_obj} {item.id}.",
                    context={"fromObjectId": [item.id]}, links={}, errors=[assoc.ErrorDetail(message="none")]))  # fmt: skip
                continue
            page, paging = self._assoc_page(ends, 0, self.assoc_page_size, type_id)
            results.append(
                assoc.PublicAssociationMultiWithLabel(_from=assoc.PublicObjectId(id=item.id), to=page, paging=paging)
            )
        if errors:
            answer = assoc.BatchResponsePublicAssociationMultiWithLabelWithErrors(
                status="COMPLETE",
                results=results,
                errors=errors,
                num_errors=len(errors),
                started_at=now,
                completed_at=now,
            )
            return 207, {}, _dump(answer)
        answer = assoc.BatchResponsePublicAssociationMultiWithLabel(status="COMPLETE", results=results,
                                                                    started_at=now, completed_at=now)  # fmt: skip
        return 200, {}, _dump(answer)

    @staticmethod
    def _assoc_page(ends: list[str], offset: int, size: int, type_id: int) -> tuple[list[Any], Any]:
        page = [assoc.MultiAssociatedObjectWithLabel(
                    to_object_id=to_id,
                    association_types=[assoc.AssociationSpecWithLabel(category="HUBSPOT_DEFINED", type_id=type_id)])
                for to_id in ends[offset:offset + size]]  # fmt: skip
        more = offset + size < len(ends)
        return page, (assoc.Paging(next=assoc.NextPage(after=str(offset + size), link="?after=")) if more else None)

    def _assoc_list(
        self, from_obj: str, from_id: str, to_obj: str, query: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        """``GET /crm/v4/objects/{from}/{id}/associations/{to}?after=&limit=`` (limit up to 500)."""
        limit = int(query.get("limit") or 500)
        if not 0 < limit <= 500:
            raise BadRequest("limit must be between 1 and 500")
        ends = sorted(self._ends(from_obj, from_id, to_obj), key=lambda k: int(k) if k.isdigit() else 0)
        page, paging = self._assoc_page(
            ends, int(query.get("after") or 0), min(limit, self.assoc_page_size), ASSOCIATION_TYPES[(from_obj, to_obj)]
        )
        forward = assoc.ForwardPaging(next=paging.next) if paging is not None else None
        return (
            200,
            {},
            _dump(assoc.CollectionResponseMultiAssociatedObjectWithLabelForwardPaging(results=page, paging=forward)),
        )

    def _assoc_default(self, from_obj: str, to_obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(assoc.BatchInputPublicDefaultAssociationMultiPost, body)
        now = datetime.now(UTC)
        type_id = ASSOCIATION_TYPES[(from_obj, to_obj)]
        results = []
        for item in request.inputs:
            for obj, oid in ((from_obj, item._from.id), (to_obj, item.to.id)):
                if not self._exists(obj, oid):
                    raise BadRequest(f"{obj} {oid} does not exist", 404, "OBJECT_NOT_FOUND")
            self._link(from_obj, item._from.id, to_obj, item.to.id, type_id)
            results.append(assoc.PublicDefaultAssociation(
                association_spec=assoc.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id),
                _from=assoc.PublicObjectId(id=item._from.id), to=assoc.PublicObjectId(id=item.to.id)))  # fmt: skip
        answer = assoc.BatchResponsePublicDefaultAssociation(
            status="COMPLETE", results=results, started_at=now, completed_at=now
        )
        return 200, {}, _dump(answer)

    # -- properties -----------------------------------------------------------------------

    def _define_standard(self) -> None:
        for obj, names in _STANDARD.items():
            group = _GROUPS[obj]
            self.groups[obj][group] = PropertyGroup(name=group, label=group.title(), display_order=0, archived=False)
            for name in names:
                self.property_defs[obj][name] = self._property(name, name, group, unique=False, hubspot_defined=True)

    @staticmethod
    def _property(
        name: str, label: str, group: str, *, unique: bool, hubspot_defined: bool = False, description: str = ""
    ) -> ModelProperty:
        now = datetime.now(UTC)
        return ModelProperty(name=name, label=label, type="string", field_type="text", group_name=group,
                             description=description, options=[], has_unique_value=unique,
                             hubspot_defined=hubspot_defined, created_at=now, updated_at=now, archived=False)  # fmt: skip

    def _create_group(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(PropertyGroupCreate, body)
        if request.name in self.groups[obj]:
            raise BadRequest(f"A property group named '{request.name}' already exists.", 409, "CONFLICT")
        group = PropertyGroup(name=request.name, label=request.label, display_order=request.display_order or -1,
                              archived=False)  # fmt: skip
        self.groups[obj][request.name] = group
        return 201, {}, _dump(group)

    def _create_properties(self, obj: str, body: Any) -> tuple[int, dict[str, str], Any]:
        request: Any = parse_model(BatchInputPropertyCreate, body)
        now = datetime.now(UTC)
        created = []
        for item in request.inputs:
            if item.name in self.property_defs[obj]:
                raise BadRequest(f"Property named '{item.name}' already exists.", 409, "CONFLICT")
            if item.group_name not in self.groups[obj]:
                raise BadRequest(f"group {item.group_name} does not exist")
            created.append(self._property(item.name, item.label, item.group_name, unique=bool(item.has_unique_value),
                                          description=item.description or ""))  # fmt: skip
        for prop in created:
            self.property_defs[obj][prop.name] = prop
        answer = BatchResponseProperty(status="COMPLETE", results=created, started_at=now, completed_at=now)
        return 201, {}, _dump(answer)

    # -- OAuth ----------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            config = self.oauth
            if config is None:
                raise BadRequest("OAuth is not enabled on this fake", 400, "BAD_CLIENT_ID")
            expected = {"grant_type": "refresh_token", "client_id": config["client_id"],
                        "client_secret": config["client_secret"], "refresh_token": config["refresh_token"]}  # fmt: skip
            if set(form) - set(expected) or any(form.get(k) != v for k, v in expected.items()):
                return 400, {}, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token",
                                 "correlationId": "00000000-0000-0000-0000-000000000000"}  # fmt: skip
            token = f"oauth-access-{len(self.issued_tokens) + 1}"
            self.issued_tokens.append(token)
            assert self.valid_tokens is not None
            self.valid_tokens.add(token)
            answer = TokenResponseIF(access_token=token, refresh_token=config["refresh_token"],
                                     expires_in=config["expires_in"], token_type="bearer")  # fmt: skip
            return 200, {}, _dump(answer)


# kept for older imports
__all__ = ["FakeHubSpot", "SimplePublicObjectId", "parse_batch_read", "parse_model"]
