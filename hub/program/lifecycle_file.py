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
