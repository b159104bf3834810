"""The safety plan aggregate (pure code): revisions kept, the latest is the plan."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from rapport_sessions.domain.safety_plan import Contact, SafetyPlan, SafetyPlanContent
from rapport_shared.contracts.errors import DomainError

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
FIRST = SafetyPlanContent(
    warning_signs=("not sleeping", "pulling away from friends"),
    internal_coping_strategies=("a walk by the river",),
    people_to_ask_for_help=(Contact(name="my sister", phone="+44 20 7946 0000"),),
    professionals_and_crisis_lines=(Contact(name="Samaritans", phone="116 123"),),
    reasons_for_living=("my daughter",),
)


def test_every_revision_is_kept_and_the_latest_is_the_plan() -> None:
    plan = SafetyPlan.from_history("northside", "alice", [])
    assert (plan.revision, plan.content) == (0, None)
    first = plan.revise(FIRST, "kim", written_with_client=True, at=NOW)
    later = FIRST.model_copy(update={"making_the_environment_safe": ("pills kept by my sister",)})
    plan.apply(first)
    second = plan.revise(later, "kim", written_with_client=True, at=NOW + timedelta(days=7))
    rebuilt = SafetyPlan.from_history("northside", "alice", [first, second])
    assert (first.revision, second.revision) == (1, 2)
    assert rebuilt.content == later
    assert rebuilt.revised_at == NOW + timedelta(days=7)
    assert SafetyPlanContent.model_validate_json(first.plan) == FIRST


def test_a_plan_is_written_with_the_client_and_says_something() -> None:
    plan = SafetyPlan("northside", "alice")
    with pytest.raises(DomainError) as alone:
        plan.revise(FIRST, "kim", written_with_client=False, at=NOW)
    assert alone.value.field == "written_with_client"
    with pytest.raises(DomainError) as empty:
        plan.revise(SafetyPlanContent(), "kim", written_with_client=True, at=NOW)
    assert empty.value.field == "warning_signs"


@pytest.mark.parametrize(
    "content",
    [
        {"warning_signs": ["x" * 501]},
        {"warning_signs": ["   "]},
        {"warning_signs": ["a"] * 21},
        {"people_to_ask_for_help": [{"name": "ann", "phone": "call me maybe"}]},
        {"reasons_for_mourning": ["unknown part"]},
    ],
)
def test_oversized_or_strange_content_is_refused(content: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SafetyPlanContent.model_validate(content)
