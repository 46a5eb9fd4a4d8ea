"""The program file's lifecycle sections: conditions (one closed vocabulary), segments,
applications, onboarding tracks, compliance and the benefits gated by conditions.

``docs/program.md`` is the reference. Everything here is data; ``hub.program.conditions``
evaluates a ``Condition`` and the lifecycle modules (``segments``, ``applications``,
``onboarding``, ``compliance``) act on the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: the partner attributes a condition can name (``Partner`` columns of the same name)
ATTRIBUTES = ("company_size", "industry", "country", "region", "specialization", "partner_type")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """All the keys given must hold (an empty condition always holds). A list means "one of".

    The vocabulary is closed: partner attributes, tier, segment, valid certifications, the signed
    agreement's version, the number of won deals and whether onboarding is complete."""

    company_size: list[str] | None = Field(default=None, min_length=1, description="One of these company sizes.")
    industry: list[str] | None = Field(default=None, min_length=1, description="One of these industries.")
    country: list[str] | None = Field(default=None, min_length=1, description="One of these ISO countries.")
    region: list[str] | None = Field(default=None, min_length=1, description="One of these regions.")
    specialization: list[str] | None = Field(default=None, min_length=1, description="One of these.")
    partner_type: list[str] | None = Field(default=None, min_length=1, description="One of these partner types.")
    tier: list[str] | None = Field(default=None, min_length=1, description="One of these tiers.")
    segment: list[str] | None = Field(default=None, min_length=1, description="One of these segments.")
    certifications: list[str] | None = Field(
        default=None, min_length=1, description="Every one of these certifications held and not expired."
    )
    agreement_version: str | None = Field(
        default=None, min_length=1, description="The partner agreement of this version signed and not expired."
    )
    closed_won_min: int | None = Field(default=None, ge=0, description="At least this many won deals.")
    onboarding_complete: bool | None = Field(default=None, description="Onboarding finished (true) or not (false).")

    @field_validator("country")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.upper() for v in value]

    def is_empty(self) -> bool:
        return not self.model_dump(exclude_none=True)


class SegmentRule(_Strict):
    segment: str = Field(min_length=1, max_length=64, description="The segment a matching partner is in.")
    when: Condition = Field(default_factory=Condition, description="The condition (no `segment` key).")

    @model_validator(mode="after")
    def _not_circular(self) -> SegmentRule:
        if self.when.segment is not None:
            raise ValueError("a segment rule cannot depend on the segment")
        return self


class Segments(_Strict):
    """Ordered rules: a partner's segment is the first rule that matches; no match keeps the
    partner's own ``segment`` attribute (set by hand, or the free-text segment it had before)."""

    rules: list[SegmentRule] = Field(default_factory=list)


class Eligibility(_Strict):
    countries: list[str] | None = Field(default=None, min_length=1, description="Applicants from these countries.")
    website_required: bool = Field(default=False, description="Refuse applications without a website.")
    partner_types: list[str] | None = Field(default=None, min_length=1, description="Only these partner types.")

    @field_validator("countries")
    @classmethod
    def _upper(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [v.upper() for v in value]


class Applications(_Strict):
    """Public applications. A person decides every one; ``recommend`` only marks it."""

    enabled: bool = Field(default=True, description="Accept applications at POST /api/v1/applications.")
    eligibility: Eligibility = Eligibility()
    recommend: list[Condition] = Field(
        default_factory=list,
        description="An application matching one of these (over its attributes) is marked recommended.",
    )
    confirm_hours: int = Field(default=48, ge=1, le=720, description="How long the confirmation link works.")


StepKind = Literal["agreement", "training", "payout_account", "first_referral", "task"]


class OnboardingStep(_Strict):
    name: str = Field(min_length=1, max_length=64, description="Unique within the track.")
    kind: StepKind = Field(description="What completes it: see docs/program.md.")
    module: str | None = Field(default=None, max_length=128, description="training: the LMS module id.")
    due_days: int = Field(default=14, ge=0, le=3650, description="Due this many days after onboarding starts.")

    @model_validator(mode="after")
    def _module(self) -> OnboardingStep:
        if self.kind == "training" and not self.module:
            raise ValueError("a training step names its module")
        return self


class Track(_Strict):
    name: str = Field(min_length=1, max_length=64)
    segments: list[str] | None = Field(default=None, min_length=1, description="For these segments; unset: any.")
    steps: list[OnboardingStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Track:
        names = [s.name for s in self.steps]
        if len(names) != len(set(names)):
            raise ValueError("step names must be unique within a track")
        return self


class Onboarding(_Strict):
    """Tracks chosen by segment (the first whose ``segments`` lists the partner's, else the first
    without ``segments``)."""

    agreement_version: str = Field(default="1", max_length=32, description="The partner agreement in force.")
    agreement_valid_days: int = Field(default=365, ge=1, le=3650, description="An acceptance is valid this long.")
    escalate_after_days: int = Field(
        default=3, ge=0, le=365, description="Days after an overdue step's reminder before the manager's task."
    )
    task_owner_id: str | None = Field(default=None, description="CRM user the overdue-step tasks go to.")
    tracks: list[Track] = Field(default_factory=list)

    def track_for(self, segment: str | None) -> Track | None:
        for track in self.tracks:
            if track.segments is not None and segment in track.segments:
                return track
        return next((t for t in self.tracks if t.segments is None), None)


class Compliance(_Strict):
    remind_days_before: list[int] = Field(
        default_factory=lambda: [30, 7],
        description="Reminders this many days before a certification or agreement expires.",
    )

    @field_validator("remind_days_before")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(v < 1 or v > 3650 for v in value):
            raise ValueError("each offset is 1 to 3650 days")
        return sorted(set(value), reverse=True)


class Feature(_Strict):
    requires: Condition = Field(default_factory=Condition)


class Portal(_Strict):
    features: dict[str, Feature] = Field(
        default_factory=dict, description="Portal features (by name) and the condition each requires."
    )


class HealthWeights(_Strict):
    """How much each signal counts (whole numbers; 0 leaves a signal out). The score is the
    weighted mean of the parts, each 0..100."""

    recency: int = Field(default=25, ge=0, le=100, description="Days since the partner's last sign of life.")
    referrals: int = Field(
        default=20, ge=0, le=100, description="Referrals in the last 90 days against the 90 days before."
    )
    conversion: int = Field(default=15, ge=0, le=100, description="Won referrals over all referrals.")
    onboarding: int = Field(default=15, ge=0, le=100, description="Onboarding steps completed.")
    compliance: int = Field(default=15, ge=0, le=100, description="Certifications and agreement not expired.")
    email: int = Field(default=10, ge=0, le=100, description="E-mail opened or clicked; 0 when the address bounced.")

    @model_validator(mode="after")
    def _some(self) -> HealthWeights:
        if sum(self.model_dump().values()) == 0:
            raise ValueError("at least one weight must be above 0")
        return self


class Health(_Strict):
    """The daily health score (``hub.program.health``): per partner 0..100 from weighted signals,
    kept as a history; below ``at_risk_below`` one task for the partner manager (console queue
    and CRM task), closed when the score is back at ``recovered_at`` or above."""

    enabled: bool = Field(default=True, description="Compute the score in the lifecycle's daily pass.")
    weights: HealthWeights = HealthWeights()
    at_risk_below: int = Field(default=40, ge=1, le=100, description="A score below this opens the at-risk task.")
    recovered_at: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="A score at or above this closes it (unset: at_risk_below).",
    )
    active_days: int = Field(
        default=14, ge=0, le=3650, description="Recency: full marks for a sign of life this recent."
    )
    quiet_days: int = Field(
        default=90, ge=1, le=3650, description="Recency: nothing for a partner quiet this long (linear between)."
    )
    conversion_target_percent: int = Field(
        default=20, ge=1, le=100, description="Conversion: full marks at this share of referrals won."
    )
    email_target_percent: int = Field(
        default=25, ge=1, le=100, description="E-mail: full marks when this share of the last 90 days' mail is opened."
    )
    task_owner_id: str | None = Field(default=None, description="CRM user the at-risk task goes to.")
    support_sequence: bool = Field(
        default=False, description="Also e-mail the partner a support offer (health_support), once per at-risk spell."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Health:
        if self.quiet_days <= self.active_days:
            raise ValueError("quiet_days must be above active_days")
        if self.recovered_at is not None and self.recovered_at < self.at_risk_below:
            raise ValueError("recovered_at cannot be below at_risk_below")
        return self

    @property
    def recovery(self) -> int:
        return self.at_risk_below if self.recovered_at is None else self.recovered_at
