"""A ``multipart/form-data`` body, already read into memory under a limit by the caller (which
authenticated the request first), split into its text fields and its files, in memory — nothing
is written to a disk. Used by the MDF claim form of the portal and the partner API.

Bounded: at most ``max_parts`` parts, a text field at most ``max_field`` bytes; a part's headers
are bounded by the parser. A body that does not parse is ``MultipartError`` (a 400 for the
caller)."""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header


class MultipartError(Exception):
    pass


@dataclass
class Part:
    name: str
    filename: str | None
    data: bytearray = field(default_factory=bytearray)


@dataclass
class Form:
    fields: dict[str, str]
    files: list[tuple[str, str | None, bytes]]  # (field name, file name as given, content)


def is_multipart(content_type: str | None) -> bool:
    kind, _ = parse_options_header(content_type or "")
    return kind == b"multipart/form-data"


def parse(body: bytes, content_type: str | None, *, max_parts: int = 50, max_field: int = 64 * 1024) -> Form:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 200:
        raise MultipartError("send the form as multipart/form-data")
    parts: list[Part] = []
    headers: dict[bytes, bytes] = {}
    current: dict[str, bytes] = {"field": b"", "value": b""}
    problems: list[str] = []

    def on_part_begin() -> None:
        headers.clear()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        current["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        current["value"] += data[start:end]

    def on_header_end() -> None:
        headers[current["field"].lower()] = current["value"]
        current["field"], current["value"] = b"", b""

    def on_headers_finished() -> None:
        if len(parts) >= max_parts:
            problems.append(f"more than {max_parts} parts")
        disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            problems.append("a part without a form-data name")
        raw_filename = params.get(b"filename")
        filename = raw_filename.decode("utf-8", "replace") if raw_filename is not None else None
        parts.append(Part((name or b"").decode("utf-8", "replace"), filename))

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if parts:
            part = parts[-1]
            part.data += data[start:end]
            if part.filename is None and len(part.data) > max_field:
                problems.append(f"the field {part.name[:40]} is too long")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError:
        raise MultipartError("the form could not be read") from None
    if problems:
        raise MultipartError(problems[0])
    fields: dict[str, str] = {}
    files: list[tuple[str, str | None, bytes]] = []
    for part in parts:
        if part.filename is None:
            try:
                fields.setdefault(part.name, part.data.decode("utf-8"))
            except UnicodeDecodeError:
                raise MultipartError(f"the field {part.name[:40]} is not UTF-8") from None
        elif part.data or part.filename:  # a file input left empty sends a part with no name and no bytes
            files.append((part.name, part.filename, bytes(part.data)))
    return Form(fields, files)
