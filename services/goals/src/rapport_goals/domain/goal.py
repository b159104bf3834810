"""The goal aggregate: agreeing, revising, moving through the FHIR lifecycle, and reviewing.
Commands return the events that record the decision; the goal changes only by applying events."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from rapport_goals.domain import status
from rapport_goals.domain.commands import AgreeGoal, ChangeGoalStatus, ReviewGoal, ReviseGoal
from rapport_goals.domain.events import GoalWorded
from rapport_shared.contracts import plan_rules
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.errors import DomainError, InvalidState
from rapport_shared.contracts.goals import (
    AchievementStatus,
    GoalAgreed,
    GoalReviewed,
    GoalRevised,
    GoalStatusChanged,
    LifecycleStatus,
)
from rapport_shared.contracts.plan import GasLevel, GoalWording, Milestone
from rapport_shared.contracts.sessions import PlannedGasLevel, PlannedMilestone

# Terms a revision may change; the others (type, horizon, weight) define what the goal is.
WORDS = ("description", "measure", "target")
REVISABLE = (
    *WORDS,
    "due_date",
    "priority",
    "review_every_days",
    "milestones",
    "gas_scale",
)


def goal_stream(goal_id: UUID) -> str:
    return f"goal-{goal_id}"


@dataclass
class Goal:
    goal_id: UUID
    clinic_id: str
    client_id: str
    # Defaults describe a goal with no terms yet, as the agreement's own fields replace them.
    due_date: date = date.max
    milestones: tuple[PlannedMilestone, ...] = ()
    gas_scale: tuple[PlannedGasLevel, ...] | None = None
    # Its words, from goal-worded (private; the public events carry none).
    wording: GoalWording = GoalWording()
    lifecycle_status: LifecycleStatus = "active"
    achievement_status: AchievementStatus = "in-progress"
    version: int = 0

    @staticmethod
    def agree(command: AgreeGoal, agreed_at: datetime) -> GoalAgreed:
        """The public agreement: the goal's structure. Its words: worded()."""
        milestones, scale = _milestones(command.milestones), _scale(command.gas_scale)
        plan_rules.check_goal(
            agreed_at,
            command.due_date,
            milestones,
            scale,
            command.review_every_days,
            command.gas_weight,
        )
        return GoalAgreed(
            clinic_id=command.clinic_id,
            goal_id=command.goal_id,
            client_id=command.client_id,
            counselor_id=command.counselor_id,
            session_id=command.session_id,
            due_date=command.due_date,
            agreed_at=agreed_at,
            type=command.type,
            horizon=command.horizon,
            priority=command.priority,
            review_every_days=command.review_every_days,
            milestones=milestones,
            gas_scale=scale,
            gas_weight=command.gas_weight,
        )

    @staticmethod
    def worded(command: AgreeGoal) -> GoalWorded:
        """The words of a goal being agreed, for this service's own (encrypted) record."""
        wording = GoalWording(
            description=command.description,
            measure=command.measure,
            target=command.target,
            milestones=tuple(m.description for m in command.milestones),
            gas_levels=tuple(level.description for level in command.gas_scale or ()),
        )
        return GoalWorded(
            clinic_id=command.clinic_id,
            goal_id=command.goal_id,
            client_id=command.client_id,
            wording=wording.model_dump_json(),
        )

    @classmethod
    def from_history(cls, events: Sequence[EventContract]) -> "Goal":
        first, *rest = events
        if not isinstance(first, GoalAgreed):
            raise ValueError(f"a goal's history starts with goal-agreed, not {first!r}")
        goal = cls(
            first.goal_id,
            first.clinic_id,
            first.client_id,
            due_date=first.due_date,
            milestones=first.milestones,
            gas_scale=first.gas_scale,
            lifecycle_status=first.lifecycle_status,
            achievement_status=first.achievement_status,
            version=1,
        )
        for event in rest:
            goal.apply(event)
        return goal

    def apply(self, event: EventContract) -> None:
        match event:
            case GoalRevised():
                self.due_date = event.due_date or self.due_date
                if event.milestones is not None:
                    self.milestones = event.milestones
                self.gas_scale = event.gas_scale or self.gas_scale
            case GoalStatusChanged():
                self.lifecycle_status = event.lifecycle_status
                self.achievement_status = event.achievement_status
            case GoalReviewed():
                self.achievement_status = event.achievement_status
            case GoalWorded():
                words = event.wording  # empty once the client is erased
                self.wording = GoalWording.model_validate_json(words) if words else GoalWording()
            case _:
                raise ValueError(f"a goal does not apply {event.event_type}")
        self.version += 1

    def revise(self, command: ReviseGoal, now: datetime) -> list[GoalRevised | GoalWorded]:
        """The public revision (structure, and whether the words changed) and, when they did,
        the goal's whole new wording as a private event."""
        self._refuse_if_ended("revised")
        if all(getattr(command, name) is None for name in REVISABLE):
            raise DomainError("a revision must change at least one term", field="body")
        new_milestones = None if command.milestones is None else _milestones(command.milestones)
        new_scale = _scale(command.gas_scale)
        milestones = self.milestones if new_milestones is None else new_milestones
        # An unchanged due date may have passed already: only a new one must lie ahead.
        plan_rules.check_goal(
            now,
            command.due_date or self.due_date,
            milestones,
            new_scale,
            command.review_every_days,
            new_due_date=command.due_date is not None,
        )
        wording = self._revised_wording(command)
        structure = {
            "due_date": command.due_date,
            "priority": command.priority,
            "review_every_days": command.review_every_days,
            "milestones": new_milestones,
            "gas_scale": new_scale,
        }
        revised = GoalRevised(
            clinic_id=self.clinic_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            revised_at=now,
            revised_by=command.revised_by,
            wording_revised=wording != self.wording,
            **{name: value for name, value in structure.items() if value is not None},
        )
        if wording == self.wording:
            return [revised]
        worded = GoalWorded(
            clinic_id=self.clinic_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            wording=wording.model_dump_json(),
        )
        return [revised, worded]

    def _revised_wording(self, command: ReviseGoal) -> GoalWording:
        words = {name: getattr(command, name) for name in WORDS if getattr(command, name)}
        if command.milestones is not None:
            words["milestones"] = tuple(m.description for m in command.milestones)
        if command.gas_scale is not None:
            words["gas_levels"] = tuple(level.description for level in command.gas_scale)
        return self.wording.model_copy(update=words)

    def change_status(self, command: ChangeGoalStatus, now: datetime) -> GoalStatusChanged:
        achievement = command.achievement_status or self.achievement_status
        if (command.lifecycle_status, achievement) == (
            self.lifecycle_status,
            self.achievement_status,
        ):
            raise InvalidState(
                f"goal {self.goal_id} is already {self.lifecycle_status}/{achievement}",
                field="lifecycle_status",
            )
        if not status.may_move(self.lifecycle_status, command.lifecycle_status):
            raise InvalidState(
                f"a {self.lifecycle_status} goal cannot become {command.lifecycle_status}",
                field="lifecycle_status",
            )
        return GoalStatusChanged(
            clinic_id=self.clinic_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            changed_at=now,
            lifecycle_status=command.lifecycle_status,
            achievement_status=achievement,
        )

    def review(self, command: ReviewGoal, now: datetime) -> GoalReviewed:
        self._refuse_if_ended("reviewed")
        if self.gas_scale is not None and command.attained_level is None:
            raise DomainError(
                "this goal has a GAS scale: say which level was attained", field="attained_level"
            )
        if self.gas_scale is None and command.attained_level is not None:
            raise DomainError(
                "this goal has no GAS scale, so no level can be attained", field="attained_level"
            )
        return GoalReviewed(
            clinic_id=self.clinic_id,
            goal_id=self.goal_id,
            client_id=self.client_id,
            counselor_id=command.reviewed_by,
            reviewed_at=now,
            attained_level=command.attained_level,
            achievement_status=command.achievement_status,
        )

    def _refuse_if_ended(self, verb: str) -> None:
        if self.lifecycle_status in status.TERMINAL:
            raise InvalidState(
                f"goal {self.goal_id} is {self.lifecycle_status} and can no longer be {verb}",
                field="goal_id",
            )


def _milestones(worded: Sequence[Milestone]) -> tuple[PlannedMilestone, ...]:
    return tuple(PlannedMilestone(due_date=m.due_date) for m in worded)


def _scale(worded: Sequence[GasLevel] | None) -> tuple[PlannedGasLevel, ...] | None:
    return None if worded is None else tuple(PlannedGasLevel(level=g.level) for g in worded)
