"""MDF on its own: the program file's ``mdf:`` section (defaults, budgets per tier and currency in
exact minor units, errors naming file, line and column), amounts taken exactly, proof files
recognised by their content only, and the multipart reader."""

from __future__ import annotations

import httpx
import pytest

from hub.mapping.errors import MappingFileError
from hub.program.errors import InvalidInput
from hub.program.mdf import proofs
from hub.program.mdf.budget import period_of
from hub.program.mdf.section import Uploads
from hub.program.mdf.workflow import exact_minor
from hub.program.program_file import load_program
from hub.runtime import multipart

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32
HTML = b"<!DOCTYPE html><html><script>alert(1)</script></html>"


def test_mdf_section_defaults_budgets_by_tier_and_exact_minor_units(tmp_path):
    (tmp_path / "program.yaml").write_text(
        "version: 1\nmdf:\n  enabled: true\n  requires: {tier: [gold]}\n"
        '  budgets: {gold: {usd: "5000.50", JPY: "700000"}}\n  default_budget: {KWD: "1.234"}\n'
    )
    mdf = load_program(tmp_path).mdf
    assert mdf.enabled and mdf.period == "quarter" and mdf.requires is not None
    assert mdf.allowance_minor("gold", "USD") == 500050
    assert mdf.allowance_minor("gold", "JPY") == 700000
    assert mdf.allowance_minor("gold", "KWD") == 0  # a listed tier does not fall back
    assert mdf.allowance_minor("silver", "KWD") == 1234 and mdf.allowance_minor(None, "KWD") == 1234
    assert mdf.currencies("gold") == ["JPY", "USD"]
    assert mdf.uploads.types == ["pdf", "png", "jpeg"]
    assert mdf.body_limit() == mdf.uploads.max_bytes * mdf.uploads.max_files + 64 * 1024


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ('  budgets: {gold: {XYZ: "10"}}\n', ":3:", "XYZ"),
        ('  default_budget: {USD: "-5"}\n', ":3:", "must not be negative"),
        ("  period: month\n", ":3:", "period"),
        ("  uploads: {types: [gif]}\n", ":3:", "types"),
        ("  uploads: {max_bytes: 10}\n", ":3:", "max_bytes"),
        ("  requires: {planet: [mars]}\n", ":3:", "planet"),
        ("  budget: {}\n", ":3:3:", "budget"),
    ],
)
def test_mdf_section_errors_name_file_line_and_column(tmp_path, section, where, message):
    (tmp_path / "program.yaml").write_text("version: 1\nmdf:\n" + section)
    with pytest.raises(MappingFileError) as caught:
        load_program(tmp_path)
    text = "\n".join(caught.value.errors)
    assert f"program.yaml{where}" in text and message in text, text


def test_amounts_are_taken_exactly_or_refused():
    assert exact_minor("1500.50", "usd") == 150050
    assert exact_minor("700", "JPY") == 700
    assert exact_minor("0.001", "KWD") == 1
    for bad, code in (("10.005", "USD"), ("1.5", "JPY"), ("0", "USD"), ("-3", "USD"), ("1e400", "USD"), ("abc", "USD")):
        with pytest.raises(InvalidInput):
            exact_minor(bad, code)
    with pytest.raises(InvalidInput):
        exact_minor("10", "XYZ")
    assert period_of(__import__("datetime").datetime(2026, 11, 30, tzinfo=__import__("datetime").UTC), "quarter") == (
        "2026-Q4"
    )


def test_proofs_are_recognised_by_content_never_by_name():
    uploads = Uploads(max_bytes=1024, max_files=3)
    checked = proofs.check(
        [proofs.Upload("a.pdf", PDF), proofs.Upload("b.bin", PNG), proofs.Upload(None, JPEG)], uploads
    )
    assert [kind for _, kind in checked] == ["pdf", "png", "jpeg"]
    with pytest.raises(InvalidInput, match="not a PDF, PNG, JPEG file by its content"):
        proofs.check([proofs.Upload("invoice.pdf", HTML)], uploads)  # HTML named .pdf
    with pytest.raises(InvalidInput, match="larger than 1024 bytes"):
        proofs.check([proofs.Upload("big.pdf", PDF + b"x" * 1024)], uploads)
    with pytest.raises(InvalidInput, match="at least one file"):
        proofs.check([], uploads)
    with pytest.raises(InvalidInput, match="at most 3 files"):
        proofs.check([proofs.Upload("a.pdf", PDF)] * 4, uploads)
    with pytest.raises(InvalidInput, match="not a PDF"):  # a type the program does not accept
        proofs.check([proofs.Upload("a.png", PNG)], Uploads(types=["pdf"]))


def test_multipart_reader_splits_fields_and_files_and_refuses_what_it_cannot_read():
    request = httpx.Request(
        "POST",
        "http://hub.invalid/",
        data={"amount": "12.00", "csrf": "t"},
        files=[("files", ("a.pdf", PDF, "application/pdf"))],
    )
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    # a browser's file input left empty: a part with an empty file name and no bytes
    empty = (
        b'Content-Disposition: form-data; name="files"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = request.read().replace(
        b"--" + boundary + b"--", b"--" + boundary + b"\r\n" + empty + b"\r\n--" + boundary + b"--"
    )
    form = multipart.parse(body, request.headers["content-type"])
    assert form.fields == {"amount": "12.00", "csrf": "t"}
    assert form.files == [("files", "a.pdf", PDF)]  # an empty file input sends nothing
    with pytest.raises(multipart.MultipartError):
        multipart.parse(b"amount=1", "application/x-www-form-urlencoded")
    with pytest.raises(multipart.MultipartError):
        multipart.parse(request.read(), "multipart/form-data")  # no boundary
    many = httpx.Request("POST", "http://hub.invalid/", data={f"f{i}": "x" for i in range(60)}, files={"x": b"1"})
    with pytest.raises(multipart.MultipartError, match="more than 50 parts"):
        multipart.parse(many.read(), many.headers["content-type"])


def test_only_names_the_store_makes_are_looked_up():
    import secrets

    assert proofs.STORED_NAME.fullmatch(secrets.token_urlsafe(24) + ".pdf")
    for name in ("../etc/passwd", "a\x00b.pdf", "x" * 32 + ".html", secrets.token_urlsafe(24) + ".pdf/x"):
        assert proofs.for_partner(None, name, 1) is None  # type: ignore[arg-type] - refused before any query
