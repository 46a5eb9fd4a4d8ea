"""A notification takes the partner's locale and segment: the template variant chosen, the subject
recorded and the reply address of the outbox row, on a migrated SQLite file."""

from __future__ import annotations

from pathlib import Path

from connectors.sendgrid import SendGridSettings
from hub.program.email.templates import EmailTemplates


def write_kind(root: Path, folder: str, subject: str) -> None:
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    (path / "subject.txt").write_text(subject)
    (path / "body.txt").write_text("{{ name }}")
    (path / "body.html").write_text("<p>{{ name }}</p>")


def test_notify_uses_the_partners_locale_and_segment(db_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from hub.pipeline.models import OutboxItem
    from hub.pipeline.store import utcnow
    from hub.program.email.notify import notify
    from hub.program.models import Notification, Partner

    write_kind(tmp_path, "email/welcome", "Welcome")
    write_kind(tmp_path, "email/welcome/de/segment-smb", "Willkommen, KMU")
    partner = Partner(
        name="Wien GmbH",
        email="office@wien.example",
        status="active",
        created_at=utcnow(),
        locale="de-AT",
        segment="SMB",
        country="AT",
    )
    db_session.add(partner)
    db_session.flush()
    nid = notify(
        db_session,
        kind="welcome",
        to_email=partner.email,
        partner_id=partner.id,
        context={"name": "x"},
        natural_key="welcome:1",
        templates=EmailTemplates(tmp_path),
        mail_settings=SendGridSettings(reply_address="replies@parse.example.com"),
    )
    assert db_session.get(Notification, nid).subject == "Willkommen, KMU"
    payload = db_session.query(OutboxItem).one().payload
    assert payload["reply_to"] == {"email": f"replies+n{nid}@parse.example.com"}
