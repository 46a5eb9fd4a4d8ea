"""A local fake of Salesforce's REST API and OAuth token endpoint, served over TLS on loopback
with a test CA made at test time (``trustme``), for the provider boundary only.

Salesforce publishes no static OpenAPI for its REST API (``shared/specs/salesforce/README.md``),
so requests are checked against the request templates of Salesforce's Postman collection in
``shared/specs/salesforce`` (method + URL shape; the token endpoint's form keys per grant type;
sObject Collections bodies ``{"allOrNone", "records": [{"attributes": {"type"}, …}]}``), plus the
upsert-by-External-ID template of the REST API Developer Guide (API 46.0+), which the 2021 Postman
collection predates. Anything else lands in ``violations``. Answers have the docs' shapes:
query pages (``totalSize``, ``done``, ``nextRecordsUrl``, ``records[].attributes``), describe's
``fields[]`` (``name``, ``type``, ``externalId``, ``unique``, ``updateable``), Collections results
(``id``, ``success``, ``errors``, ``created``) and error lists (``[{"message", "errorCode"}]``).
Every REST answer carries ``Sforce-Limit-Info: api-usage=<used>/<limit>``.

For the benchmark: ``seed_records(sobject, count)`` makes ``count`` synthetic records queryable
without storing them (generated from their index when read), ``request_count`` and
``requests_by_path`` count what was served, query pages hold 2,000 records.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import jwt
import trustme

from tests.support import soql_eval

POSTMAN = Path("/work/shared/specs/salesforce/postman-salesforce-apis-src/collections/salesforce_apis")
ORG_ID = "00D5g000004ABCDEAZ"  # made up for tests
PAGE = 2000
COLLECTION_MAX = 200

PREFIXES = {"Account": "001", "Contact": "003", "Opportunity": "006", "Lead": "00Q", "Task": "00T",
            "OpportunityContactRole": "00K", "User": "005"}  # fmt: skip
_T = {
    "id": "id",
    "s": "string",
    "e": "email",
    "c": "currency",
    "d": "date",
    "dt": "datetime",
    "b": "boolean",
    "r": "reference",
    "p": "picklist",
    "ta": "textarea",
    "n": "double",
    "u": "url",
    "i": "int",
}
_SYSTEM = {
    "Id": "id",
    "IsDeleted": "b",
    "CreatedDate": "dt",
    "SystemModstamp": "dt",
    "LastModifiedDate": "dt",
    "CreatedById": "r",
    "LastModifiedById": "r",
}
STANDARD: dict[str, dict[str, str]] = {
    "Opportunity": {**_SYSTEM, "Name": "s", "StageName": "p", "Amount": "c", "CloseDate": "d", "OwnerId": "r",
                    "AccountId": "r", "IsClosed": "b", "IsWon": "b", "Probability": "n", "Type": "p",
                    "LeadSource": "p", "Description": "ta"},
    "Contact": {**_SYSTEM, "Email": "e", "FirstName": "s", "LastName": "s", "Phone": "s", "Title": "s",
                "AccountId": "r", "OwnerId": "r", "MailingCountry": "s"},
    "Account": {**_SYSTEM, "Name": "s", "Website": "u", "Type": "p", "Industry": "p", "BillingCountry": "s",
                "BillingState": "s", "NumberOfEmployees": "i", "OwnerId": "r"},
    "Lead": {**_SYSTEM, "Email": "e", "FirstName": "s", "LastName": "s", "Company": "s", "Website": "u",
             "Status": "p", "IsConverted": "b", "ConvertedOpportunityId": "r", "OwnerId": "r"},
    "Task": {**_SYSTEM, "Subject": "s", "Description": "ta", "Status": "p", "OwnerId": "r", "ActivityDate": "d",
             "WhatId": "r", "WhoId": "r"},
    "OpportunityContactRole": {**_SYSTEM, "OpportunityId": "r", "ContactId": "r", "IsPrimary": "b", "Role": "p"},
}  # fmt: skip
#: the custom fields ``crm setup`` asks the admin for: (type, External ID + unique)
CUSTOM: dict[str, dict[str, tuple[str, bool]]] = {
    "Opportunity": {"Partnerhub_Tracking_Id__c": ("s", True), "Partnerhub_Partner_Id__c": ("s", False),
                    "Partnerhub_Source__c": ("s", False), "Partnerhub_Partner_Name__c": ("s", False),
                    "Partnerhub_Attribution__c": ("s", False), "Partnerhub_Commission_Amount__c": ("s", False),
                    "Partnerhub_Commission_Currency__c": ("s", False),
                    "Partnerhub_Commission_State__c": ("s", False)},
    "Contact": {"Partnerhub_Tracking_Id__c": ("s", True), "Partnerhub_Partner_Id__c": ("s", False)},
    "Account": {"Partnerhub_Tracking_Id__c": ("s", True), "Partnerhub_Partner_Id__c": ("s", False)},
    "Lead": {"Partnerhub_Tracking_Id__c": ("s", True), "Partnerhub_Partner_Id__c": ("s", False)},
    "Task": {"Partnerhub_Key__c": ("s", False)},
}  # fmt: skip
REQUIRED = {
    "Opportunity": ("Name", "StageName", "CloseDate"),
    "Contact": ("LastName",),
    "Account": ("Name",),
    "Lead": ("LastName", "Company"),
    "OpportunityContactRole": ("OpportunityId", "ContactId"),
}
WON, LOST = "Closed Won", "Closed Lost"
#: REST API Developer Guide templates that the 2021 Postman collection lacks: sObject Collections
#: upsert by External ID (API 46.0+); update, which the guide documents without an sObject in the
#: path (the Postman item names one); the next page of a query (``nextRecordsUrl``)
DOC_TEMPLATES = [
    ("GET", "/services/data/v{{version}}/query/<QUERY_LOCATOR>"),
    ("GET", "/services/data/v{{version}}/queryAll/<QUERY_LOCATOR>"),
    ("PATCH", "/services/data/v{{version}}/composite/sobjects/<SOBJECT_API_NAME>/<EXTERNAL_ID_FIELD>"),
    ("PATCH", "/services/data/v{{version}}/composite/sobjects"),
]


def _postman() -> tuple[list[tuple[str, re.Pattern[str]]], dict[str, set[str]]]:
    """(method, URL regex) of every Postman request, and the token endpoint's form keys per grant."""
    routes: list[tuple[str, str]] = list(DOC_TEMPLATES)
    grants: dict[str, set[str]] = {}
    for path in sorted(POSTMAN.glob("*/*.json")):
        data = json.loads(path.read_text())
        if "method" not in data or "url" not in data:
            continue
        url = str(data["url"]).split("?")[0]
        url = url.replace("{{_endpoint}}", "").replace("{{url}}{{site}}", "")
        routes.append((data["method"], url))
        if url.endswith("/services/oauth2/token") and isinstance(data.get("data"), list):
            keys = {d["key"] for d in data["data"]}
            grant = next((d["value"] for d in data["data"] if d["key"] == "grant_type"), None)
            if grant:
                grants[grant] = keys
    compiled = []
    for method, url in routes:
        pattern = re.escape(url)
        pattern = pattern.replace(re.escape("{{version}}"), r"\d+\.\d")
        pattern = re.sub(r"<[A-Z_]+>", "[^/]+", pattern)
        pattern = re.sub(r"\\\{\\\{[A-Za-z_]+\\\}\\\}", "[^/]+", pattern)
        compiled.append((method, re.compile("^" + pattern + "/?$")))
    return compiled, grants


ROUTES, GRANTS = _postman()


def sf_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class FakeSalesforce:
    def __init__(
        self,
        *,
        api_limit: int = 15000,
        client_id: str = "3MVG-made-up-client-id",
        client_secret: str = "made-up-client-secret",
        refresh_token: str = "5Aep-made-up-refresh",
        jwt_public_key: str | None = None,
        keep_bodies: bool = True,
    ):
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.jwt_public_key = jwt_public_key
        self.keep_bodies = keep_bodies  # off for benchmarks: request bodies are not kept
        self._external: dict[tuple[str, str], dict[Any, str]] = {}  # (sObject, field) -> value -> Id
        self.api_limit = api_limit
        self.api_used = 0
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in STANDARD}
        self.custom = {t: dict(f) for t, f in CUSTOM.items()}
        self._seeded: dict[str, tuple[int, datetime]] = {}
        self._ids = itertools.count(1)
        self._last_stamp = datetime.now(UTC) - timedelta(seconds=1)
        self.tokens: set[str] = set()
        self.grants: list[str] = []
        self.requests: list[dict[str, Any]] = []
        self.requests_by_path: Counter[str] = Counter()
        self.request_count = 0
        self.violations: list[str] = []
        self._cursors: dict[str, tuple[str, list[Any], list[str], str]] = {}
        self._failures: list[tuple[str, int, Any, dict[str, str]]] = []
        self.instance_url_override: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.ca_file = ""

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, ca_dir: Path | None = None) -> FakeSalesforce:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, headers = fake.handle(self.command, self.path, dict(self.headers), body)
                raw = (
                    payload
                    if isinstance(payload, bytes)
                    else (json.dumps(payload).encode() if payload is not None else b"")
                )
                self.send_response(status)
                if raw:
                    self.send_header("content-type", "application/json;charset=UTF-8")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        directory = ca_dir or Path(__import__("tempfile").mkdtemp(prefix="fake-sf-ca-"))
        self.ca_file = str(directory / "fake-salesforce-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def settings_env(self, **extra: str) -> dict[str, str]:
        """The hub settings that point the connector at this fake (refresh-token flow)."""
        return {
            "PARTNERHUB_SALESFORCE__LOGIN_URL": self.url,
            "PARTNERHUB_SALESFORCE__ALLOWED_HOSTS": json.dumps(["127.0.0.1"]),
            "PARTNERHUB_SALESFORCE__CA_BUNDLE": self.ca_file,
            "PARTNERHUB_SALESFORCE__CLIENT_ID": self.client_id,
            "PARTNERHUB_SALESFORCE__CLIENT_SECRET": self.client_secret,
            "PARTNERHUB_SALESFORCE__REFRESH_TOKEN": self.refresh_token,
            "PARTNERHUB_SALESFORCE__ORGANIZATION_ID": ORG_ID,
            **extra,
        }

    # -- scripting -------------------------------------------------------------------------------

    def fail_next(
        self, path_part: str, status: int, body: Any = None, headers: Mapping[str, str] | None = None
    ) -> None:
        self._failures.append((path_part, status, body, dict(headers or {})))

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def _stamp(self) -> str:
        now = datetime.now(UTC)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(milliseconds=1)
        self._last_stamp = now
        return sf_time(now)

    def new_id(self, sobject: str) -> str:
        return f"{PREFIXES.get(sobject, 'a00')}5g{next(self._ids):010d}AAA"

    def add(self, sobject: str, fields: Mapping[str, Any], *, stamp: str | None = None) -> str:
        """A record as a person would create it in Salesforce."""
        with self.lock:
            record_id = self.new_id(sobject)
            at = stamp or self._stamp()
            record = dict.fromkeys(self._schema(sobject))
            record.update(
                {
                    "Id": record_id,
                    "IsDeleted": False,
                    "CreatedDate": at,
                    "SystemModstamp": at,
                    "LastModifiedDate": at,
                    **fields,
                }
            )
            self._derive(sobject, record)
            self.records[sobject][record_id] = record
            self._reindex(sobject, record)
            return record_id

    def update(self, sobject: str, record_id: str, *, stamp: str | None = None, **fields: Any) -> dict[str, Any]:
        with self.lock:
            record = self.records[sobject][record_id]
            for (t, f), index in self._external.items():
                if t == sobject and f in fields and index.get(record.get(f)) == record_id:
                    del index[record[f]]
            record.update(fields)
            record["SystemModstamp"] = record["LastModifiedDate"] = stamp or self._stamp()
            self._derive(sobject, record)
            self._reindex(sobject, record)
            return dict(record)

    def _reindex(self, sobject: str, record: Mapping[str, Any]) -> None:
        for (t, f), index in self._external.items():
            if t == sobject and record.get(f) not in (None, ""):
                index.setdefault(record[f], record["Id"])

    def _by_external(self, sobject: str, field: str, value: Any) -> list[dict[str, Any]]:
        index = self._external.get((sobject, field))
        if index is None:
            index = self._external[(sobject, field)] = {}
            for r in self.records[sobject].values():
                if r.get(field) not in (None, ""):
                    if r[field] in index:  # duplicates: the index cannot say which; scan
                        return [x for x in self.records[sobject].values() if x.get(field) == value]
                    index[r[field]] = r["Id"]
        found = index.get(value)
        return [self.records[sobject][found]] if found else []

    def delete(self, sobject: str, record_id: str) -> None:
        with self.lock:
            record = self.records[sobject][record_id]
            record["IsDeleted"] = True
            record["SystemModstamp"] = self._stamp()

    def find(self, sobject: str, **match: Any) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.records[sobject].values() if all(r.get(k) == v for k, v in match.items())]

    def seed_records(self, sobject: str, count: int) -> None:
        """``count`` synthetic records, generated from their index when a query reads them."""
        with self.lock:
            start = datetime.now(UTC) - timedelta(days=1)
            self._seeded[sobject] = (count, start)

    def _seeded_record(self, sobject: str, index: int) -> dict[str, Any]:
        _, start = self._seeded[sobject]
        at = sf_time(start + timedelta(milliseconds=index))
        record: dict[str, Any] = {
            "Id": f"{PREFIXES.get(sobject, 'a00')}9z{index:010d}AAA",
            "IsDeleted": False,
            "CreatedDate": at,
            "SystemModstamp": at,
            "LastModifiedDate": at,
        }
        if sobject == "Opportunity":
            record.update(
                Name=f"Seeded deal {index}",
                StageName="Prospecting",
                Amount=1000.0 + index,
                CloseDate="2030-01-01",
                IsClosed=False,
                IsWon=False,
            )
        elif sobject in ("Contact", "Lead"):
            record.update(Email=f"person{index}@seeded.example", LastName=f"Person {index}")
        else:
            record.update(Name=f"Seeded {sobject} {index}")
        return record

    def _schema(self, sobject: str) -> dict[str, str]:
        return {**STANDARD.get(sobject, {}), **{k: v[0] for k, v in self.custom.get(sobject, {}).items()}}

    @staticmethod
    def _derive(sobject: str, record: dict[str, Any]) -> None:
        if sobject == "Opportunity":
            record["IsClosed"] = record.get("StageName") in (WON, LOST)
            record["IsWon"] = record.get("StageName") == WON
            if isinstance(record.get("Amount"), str):
                record["Amount"] = float(record["Amount"])

    # -- the HTTP surface --------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = dict(parse_qsl(parts.query))
        with self.lock:
            self.request_count += 1
            self.requests_by_path[re.sub(r"/(query|queryAll)/[^/]+$", r"/\1/<locator>", path)] += 1
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "body": body if self.keep_bodies else b"",
                    "at": time.time(),
                }
            )
            if not any(m == method and p.match(path) for m, p in ROUTES):
                self.violations.append(f"{method} {path}: no such request in Salesforce's Postman collection")
            for n, (part, status, fail_body, fail_headers) in enumerate(self._failures):
                if part in path:
                    del self._failures[n]
                    return status, fail_body, fail_headers
        if path == "/services/oauth2/token":
            return self._token(headers, body)
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        with self.lock:
            if auth.removeprefix("Bearer ") not in self.tokens:
                return 401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], {}
            self.api_used += 1
            limit_info = {"Sforce-Limit-Info": f"api-usage={self.api_used}/{self.api_limit}"}
            if self.api_used > self.api_limit:
                return (
                    403,
                    [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
                    limit_info,
                )
        m = re.match(r"^/services/data/v(\d+\.\d)(/.*)$", path)
        if not m:
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], limit_info
        version, rest = m.group(1), m.group(2)
        try:
            status, answer = self._rest(method, version, rest, query, body)
        except soql_eval.MalformedQuery as exc:
            status, answer = 400, [{"message": str(exc), "errorCode": "MALFORMED_QUERY"}]
        return status, answer, limit_info

    def _token(self, headers: Mapping[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        form = dict(parse_qsl(body.decode()))
        grant = form.get("grant_type", "")
        expected = GRANTS.get(grant)
        if expected is None:
            self.violations.append(f"token: unknown grant_type {grant!r}")
            return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, {}
        optional = {"client_secret"} if grant == "refresh_token" else set()
        if set(form) - expected or expected - optional - set(form):
            self.violations.append(f"token: form keys {sorted(form)} differ from Postman's {sorted(expected)}")
        ok = False
        if grant == "refresh_token":
            ok = form.get("client_id") == self.client_id and form.get("refresh_token") == self.refresh_token
        elif grant == "password":
            ok = form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
        elif self.jwt_public_key is not None:
            try:
                claims = jwt.decode(
                    form.get("assertion", ""), self.jwt_public_key, algorithms=["RS256"], audience=self.url
                )
                ok = claims.get("iss") == self.client_id and bool(claims.get("sub"))
            except jwt.PyJWTError:
                ok = False
        if not ok:
            return 400, {"error": "invalid_grant", "error_description": "authentication failure"}, {}
        token = "00D5g000004ABCD!" + uuid.uuid4().hex
        with self.lock:
            self.tokens.add(token)
            self.grants.append(grant)
        issued = str(int(time.time() * 1000))
        return (
            200,
            {
                "access_token": token,
                "instance_url": self.instance_url_override or self.url,
                "id": f"{self.url}/id/{ORG_ID}/0055g000001AbcdAAC",
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": "made-up-signature",
                "scope": "api refresh_token",
            },
            {},
        )

    def _rest(self, method: str, version: str, rest: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
        if method == "GET" and rest.rstrip("/") in ("/query", "/queryAll"):
            return self._query(version, query.get("q", ""), all_rows=rest.startswith("/queryAll"))
        m = re.match(r"^/(query|queryAll)/([0-9a-f]+)-(\d+)$", rest)
        if method == "GET" and m:
            return self._page(version, m.group(2), int(m.group(3)))
        m = re.match(r"^/sobjects/([A-Za-z_]+)/describe/?$", rest)
        if method == "GET" and m:
            return self._describe(m.group(1))
        if rest.startswith("/composite/sobjects"):
            return self._collections(method, rest, body)
        return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    def _describe(self, sobject: str) -> tuple[int, Any]:
        if sobject not in STANDARD:
            return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]
        fields = []
        for name, kind in self._schema(sobject).items():
            external = self.custom.get(sobject, {}).get(name, ("", False))[1]
            fields.append(
                {
                    "name": name,
                    "label": name.replace("__c", "").replace("_", " "),
                    "type": _T[kind],
                    "custom": name.endswith("__c"),
                    "externalId": external,
                    "unique": external,
                    "idLookup": external or name == "Id",
                    "updateable": name not in _SYSTEM,
                    "createable": name not in _SYSTEM,
                    "nillable": name not in ("Id",),
                    "length": 64 if kind == "s" else 0,
                }
            )
        return 200, {
            "name": sobject,
            "label": sobject,
            "custom": False,
            "createable": True,
            "updateable": True,
            "queryable": True,
            "fields": fields,
        }

    # -- SOQL -------------------------------------------------------------------------------------

    def _query(self, version: str, text: str, *, all_rows: bool) -> tuple[int, Any]:
        q, names = soql_eval.parse(text)
        if q.sobject not in STANDARD:
            return 400, [{"message": f"sObject type '{q.sobject}' is not supported.", "errorCode": "INVALID_TYPE"}]
        schema = self._schema(q.sobject)
        for name in [*q.fields, *names]:
            if name not in schema:
                return 400, [
                    {"message": f"No such column '{name}' on entity '{q.sobject}'.", "errorCode": "INVALID_FIELD"}
                ]
        with self.lock:
            stored = [
                r
                for r in self.records[q.sobject].values()
                if (all_rows or not r.get("IsDeleted")) and (q.where is None or q.where(r))
            ]
            if q.order_by:
                stored.sort(key=soql_eval.sort_key(q.order_by), reverse=q.order_by[0][1])
            refs: list[Any] = [dict(r) for r in stored]
            if q.sobject in self._seeded:
                count = self._seeded[q.sobject][0]
                if stored and q.order_by:
                    self.violations.append("fake: ordering stored and seeded records together is not supported")
                refs += [i for i in range(count) if q.where is None or q.where(self._seeded_record(q.sobject, i))]
        if q.limit is not None:
            refs = refs[: q.limit]
        locator = uuid.uuid4().hex[:16]
        with self.lock:
            self._cursors[locator] = (q.sobject, refs, q.fields, "queryAll" if all_rows else "query")
        return self._page(version, locator, 0)

    def _page(self, version: str, locator: str, offset: int) -> tuple[int, Any]:
        with self.lock:
            found = self._cursors.get(locator)
        if found is None:
            return 400, [{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]
        sobject, refs, fields, kind = found
        chunk = refs[offset : offset + PAGE]
        records = []
        for ref in chunk:
            row = ref if isinstance(ref, dict) else self._seeded_record(sobject, ref)
            out = {"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}"}}
            out.update({f: row.get(f) for f in fields})
            records.append(out)
        done = offset + PAGE >= len(refs)
        answer: dict[str, Any] = {"totalSize": len(refs), "done": done, "records": records}
        if not done:
            answer["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{offset + PAGE}"
        else:
            with self.lock:
                self._cursors.pop(locator, None)
        return 200, answer

    # -- sObject Collections ----------------------------------------------------------------------

    def _collections(self, method: str, rest: str, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body)
        except ValueError:
            return 400, [{"message": "JSON parser error", "errorCode": "JSON_PARSER_ERROR"}]
        if (
            not isinstance(data, dict)
            or set(data) - {"allOrNone", "records"}
            or not isinstance(data.get("records"), list)
        ):
            self.violations.append(f"collections: body keys {sorted(data) if isinstance(data, dict) else type(data)}")
            return 400, [{"message": "bad request body", "errorCode": "INVALID_FIELD"}]
        if "allOrNone" in data and not isinstance(data["allOrNone"], bool):
            self.violations.append("collections: allOrNone must be a boolean")
        records = data["records"]
        if len(records) > COLLECTION_MAX:
            self.violations.append(f"collections: {len(records)} records in one request (max {COLLECTION_MAX})")
            return 400, [
                {"message": f"Exceeded max limit of records: {COLLECTION_MAX}", "errorCode": "EXCEEDED_ID_LIMIT"}
            ]
        for r in records:
            if not isinstance(r, dict) or not isinstance(r.get("attributes"), dict) or "type" not in r["attributes"]:
                self.violations.append("collections: a record lacks attributes.type")
                return 400, [{"message": "missing attributes.type", "errorCode": "INVALID_TYPE"}]
        m = re.match(r"^/composite/sobjects/([A-Za-z_]+)/([A-Za-z0-9_]+)/?$", rest)
        with self.lock:
            if method == "PATCH" and m:
                return 200, [self._upsert(m.group(1), m.group(2), r) for r in records]
            if method == "POST" and rest.rstrip("/") == "/composite/sobjects":
                return 200, [self._create(r) for r in records]
            if method == "PATCH" and rest.rstrip("/") == "/composite/sobjects":
                return 200, [self._update(r) for r in records]
        return 404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]

    @staticmethod
    def _error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
        return {"success": False, "errors": [{"statusCode": code, "message": message, "fields": fields or []}]}

    def _fields_ok(self, sobject: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
        schema = self._schema(sobject)
        for name in record:
            if name != "attributes" and name not in schema:
                return self._error("INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name])
            if name in _SYSTEM and name != "Id":
                return self._error("INVALID_FIELD_FOR_INSERT_UPDATE", f"Unable to create/update fields: {name}", [name])
        return None

    def _create(self, record: Mapping[str, Any]) -> dict[str, Any]:
        sobject = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k != "attributes"}
        problem = self._fields_ok(sobject, fields)
        if problem:
            return problem
        missing = [f for f in REQUIRED.get(sobject, ()) if fields.get(f) in (None, "")]
        if missing:
            return self._error("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
        record_id = self.add(sobject, fields)
        return {"id": record_id, "success": True, "errors": []}

    def _update(self, record: Mapping[str, Any]) -> dict[str, Any]:
        sobject = record["attributes"]["type"]
        fields = {k: v for k, v in record.items() if k not in ("attributes", "Id")}
        problem = self._fields_ok(sobject, fields)
        if problem:
            return problem
        record_id = record.get("Id")
        if record_id not in self.records.get(sobject, {}):
            return self._error("ENTITY_IS_DELETED" if record_id else "MISSING_ARGUMENT", "entity is deleted or missing")
        self.update(sobject, record_id, **fields)
        return {"id": record_id, "success": True, "errors": []}

    def _upsert(self, sobject: str, external: str, record: Mapping[str, Any]) -> dict[str, Any]:
        if record["attributes"]["type"] != sobject:
            return self._error("INVALID_TYPE", "record type differs from the URL's sObject")
        if not self.custom.get(sobject, {}).get(external, ("", False))[1]:
            return self._error(
                "INVALID_FIELD", f"Field {external} is not an External ID or indexed field for {sobject}"
            )
        fields = {k: v for k, v in record.items() if k != "attributes"}
        key = fields.get(external)
        if key in (None, ""):
            return self._error("MISSING_ARGUMENT", f"{external} not specified")
        same = self._by_external(sobject, external, key)
        if len(same) > 1:
            return self._error("DUPLICATE_EXTERNAL_ID", f"{external}: more than one record found for external id field")
        if same:
            result = self._update({**record, "Id": same[0]["Id"]})
            return {**result, "created": False}
        result = self._create(record)
        return {**result, "created": bool(result.get("success"))}


def outbound_message(
    notifications: list[tuple[str, str, Mapping[str, Any]]],
    *,
    org_id: str = ORG_ID,
    action_id: str = "04k5g000000ABCDAAW",
    session_id: str | None = None,
) -> bytes:
    """An Outbound Message as Salesforce sends it (SOAP 1.1; ``notifications`` of (notification id,
    sObject type, fields)). ``None`` values are sent ``xsi:nil``."""
    items = []
    for notification_id, sobject, fields in notifications:
        inner = "".join(
            f'<sf:{k} xsi:nil="true"/>'
            if v is None
            else f"<sf:{k}>{escape(str(v).lower() if isinstance(v, bool) else str(v))}</sf:{k}>"
            for k, v in fields.items()
        )
        items.append(
            f"<Notification><Id>{notification_id}</Id>"
            f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{inner}</sObject>'
            "</Notification>"
        )
    session = f"<SessionId>{session_id}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<soapenv:Body><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org_id}</OrganizationId><ActionId>{action_id}</ActionId>{session}"
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/61.0/00D5g000004ABCD</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/61.0/00D5g000004ABCD</PartnerUrl>"
        + "".join(items)
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()
