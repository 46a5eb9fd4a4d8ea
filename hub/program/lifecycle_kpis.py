"""Lifecycle KPIs, for partners who joined through an application (kept apart from
``hub.program.kpis``'s set-based figures):

* ``time_to_onboard_days``: whole days from the application to the last onboarding step
  (``Partner.onboarded_at``), per partner and the median;
* ``time_to_first_referral_days``: whole days from the application to the partner's first
  referral, per partner and the median.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median_low
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.program.models import Application, Partner, Referral


def compute(session: Session, at: datetime) -> dict[str, Any]:
    first = (
        select(Referral.partner_id, func.min(Referral.created_at).label("first_at"))
        .group_by(Referral.partner_id)
        .subquery()
    )
    rows = session.execute(
        select(Partner.id, Application.created_at, Partner.onboarded_at, first.c.first_at)
        .join(Application, Application.partner_id == Partner.id)
        .outerjoin(first, first.c.partner_id == Partner.id)
        .where(Application.status == "approved", Application.created_at <= at)
    ).all()
    onboard = {pid: (done - applied).days for pid, applied, done, _ in rows if done is not None and done <= at}
    referral = {pid: (ref - applied).days for pid, applied, _, ref in rows if ref is not None and ref <= at}
    return {
        "time_to_onboard_days": {
            "per_partner": onboard,
            "median": median_low(onboard.values()) if onboard else None,
        },
        "time_to_first_referral_days": {
            "per_partner": referral,
            "median": median_low(referral.values()) if referral else None,
        },
    }
