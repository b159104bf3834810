"""The plan a session closes with, as counselor and client worded it, and how it splits into the
structure that travels in clear (contracts.sessions.PlannedGoal, PlannedHomework) and the
wording that travels sealed (PlanWording) or stays encrypted in a service's own store.

Both the sessions and the goals service use these: sessions takes the plan in at its API and
keeps its own record of it; goals rebuilds the worded plan from session-closed and the unsealed
wording. The ids of the goals and homework a plan creates are derived here, so both services
name them alike without asking each other.
"""

from collections.abc import Sequence
from datetime import date
from typing import TypeVar
from uuid import UUID, uuid5

from pydantic import BaseModel, ConfigDict, Field

from rapport_shared.contracts.base import AwareDatetime, ShortText
from rapport_shared.contracts.sessions import (
    GoalHorizon,
    GoalType,
    HomeworkType,
    PlannedGasLevel,
    PlannedGoal,
    PlannedHomework,
    PlannedMilestone,
    Priority,
    Recurrence,
)

T = TypeVar("T")

# The worded models repeat the fields of the contracts' Planned* models on purpose rather than
# subclass them: pydantic accepts a subclass instance where its base is expected and keeps it
# whole, so a worded goal handed to session-closed would carry its words onto the bus.


class Milestone(BaseModel):
    """A smaller step toward a goal, with its own due date."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    description: ShortText
    due_date: date


class GasLevel(BaseModel):
    """One level of a Goal Attainment Scale: -2 (much less than expected) ... +2 (much more)."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    level: int = Field(ge=-2, le=2)
    description: ShortText


class AgreedGoal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    description: ShortText
    measure: ShortText
    target: ShortText
    due_date: date
    type: GoalType = "behavioral"
    horizon: GoalHorizon = "short-term"
    priority: Priority = "medium"
    review_every_days: int | None = Field(default=None, ge=1, le=365)
    milestones: tuple[Milestone, ...] = ()
    gas_scale: tuple[GasLevel, ...] | None = None
    gas_weight: float = Field(default=1.0, gt=0)


class AgreedHomework(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    instructions: ShortText
    # The due time of a one-off task, or of the first occurrence of a recurring one.
    due_at: AwareDatetime
    recurrence: Recurrence | None = None
    # Position of the goal in the same plan this homework serves, if any.
    goal_index: int | None = Field(default=None, ge=0)
    type: HomeworkType = "other"
    reminder_lead_minutes: int | None = Field(default=None, ge=0, le=7 * 24 * 60)


class GoalWording(BaseModel):
    """A goal's words: what it is, how it is measured, its target, and the words of its
    milestones and GAS levels in the order of the goal's structure."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    description: str = ""
    measure: str = ""
    target: str = ""
    milestones: tuple[str, ...] = ()
    gas_levels: tuple[str, ...] = ()


class PlanWording(BaseModel):
    """The words of a whole plan, by position: goals[i] words goal i, homework[j] is the
    instructions of homework j."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    goals: tuple[GoalWording, ...] = ()
    homework: tuple[str, ...] = ()


def derived_id(session_id: UUID, kind: str, index: int) -> UUID:
    """The id of the index-th goal or homework ("goal" / "homework") a session's plan created:
    the same session always names the same ones, in every service and on every redelivery."""
    return uuid5(session_id, f"{kind}-{index}")


def goal_wording(goal: AgreedGoal) -> GoalWording:
    return GoalWording(
        description=goal.description,
        measure=goal.measure,
        target=goal.target,
        milestones=tuple(m.description for m in goal.milestones),
        gas_levels=tuple(level.description for level in goal.gas_scale or ()),
    )


def goal_structure(goal: AgreedGoal) -> PlannedGoal:
    return PlannedGoal(
        **goal.model_dump(exclude={"description", "measure", "target", "milestones", "gas_scale"}),
        milestones=tuple(PlannedMilestone(due_date=m.due_date) for m in goal.milestones),
        gas_scale=None
        if goal.gas_scale is None
        else tuple(PlannedGasLevel(level=level.level) for level in goal.gas_scale),
    )


def homework_structure(homework: AgreedHomework) -> PlannedHomework:
    return PlannedHomework(**homework.model_dump(exclude={"instructions"}))


def split(
    goals: Sequence[AgreedGoal], homework: Sequence[AgreedHomework]
) -> tuple[tuple[PlannedGoal, ...], tuple[PlannedHomework, ...], PlanWording]:
    """A worded plan as its clear structure and its wording."""
    wording = PlanWording(
        goals=tuple(goal_wording(g) for g in goals),
        homework=tuple(h.instructions for h in homework),
    )
    return (
        tuple(goal_structure(g) for g in goals),
        tuple(homework_structure(h) for h in homework),
        wording,
    )


def worded_milestones(
    structure: Sequence[PlannedMilestone], words: Sequence[str]
) -> tuple[Milestone, ...]:
    return tuple(
        Milestone.model_construct(description=_word(words, i), due_date=m.due_date)
        for i, m in enumerate(structure)
    )


def worded_scale(
    structure: Sequence[PlannedGasLevel] | None, words: Sequence[str]
) -> tuple[GasLevel, ...] | None:
    if structure is None:
        return None
    return tuple(
        GasLevel.model_construct(level=level.level, description=_word(words, i))
        for i, level in enumerate(structure)
    )


def join_goal(structure: PlannedGoal, wording: GoalWording) -> AgreedGoal:
    """The worded goal again. Built without validation: erased or missing wording is empty."""
    return AgreedGoal.model_construct(
        **{k: v for k, v in structure if k not in ("milestones", "gas_scale")},
        description=wording.description,
        measure=wording.measure,
        target=wording.target,
        milestones=worded_milestones(structure.milestones, wording.milestones),
        gas_scale=worded_scale(structure.gas_scale, wording.gas_levels),
    )


def join_homework(structure: PlannedHomework, instructions: str) -> AgreedHomework:
    return AgreedHomework.model_construct(**dict(structure), instructions=instructions)


def join(
    goals: Sequence[PlannedGoal], homework: Sequence[PlannedHomework], wording: PlanWording
) -> tuple[list[AgreedGoal], list[AgreedHomework]]:
    """The worded plan from its structure and wording (empty words where wording is missing)."""
    return (
        [join_goal(g, _at(wording.goals, i, GoalWording())) for i, g in enumerate(goals)],
        [join_homework(h, _at(wording.homework, i, "")) for i, h in enumerate(homework)],
    )


def _at(items: Sequence[T], index: int, default: T) -> T:
    return items[index] if index < len(items) else default


def _word(words: Sequence[str], index: int) -> str:
    return _at(words, index, "")
