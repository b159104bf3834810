"""What this service knows of one goal of the goals service, and its review check-ins: one every
review_every_days from the agreement (or from the revision that changed the cadence or the due
date) up to the goal's due date. Closing the goal cancels the check-ins still pending; a closing
noted before the agreement is a tombstone, so the agreement then schedules nothing.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from rapport_notifications.domain.events import GoalClosureNoted, GoalPlanNoted, ReminderFacts
from rapport_notifications.domain.model import (
    GOAL_REVIEW,
    About,
    Cancellation,
    FollowUp,
    reminder_id_for,
    schedule_reminder,
)
from rapport_shared.contracts.base import EventContract
from rapport_shared.contracts.goals import GoalAgreed, GoalRevised, GoalStatusChanged
from rapport_shared.contracts.sessions import GoalType

CLOSED = frozenset({"completed", "cancelled", "entered-in-error", "rejected"})
MAX_REVIEWS = 366


def goal_stream(goal_id: UUID) -> str:
    return f"goal-{goal_id}"


def review_times(
    since: datetime, every_days: int | None, due_date: date, now: datetime
) -> list[datetime]:
    """since + k x cadence (k >= 1) up to the due date's end (UTC), the past ones left out."""
    if not every_days or every_days < 1:
        return []
    times: list[datetime] = []
    moment = since + timedelta(days=every_days)
    while moment.astimezone(UTC).date() <= due_date and len(times) < MAX_REVIEWS:
        if moment > now:
            times.append(moment)
        moment += timedelta(days=every_days)
    return times


@dataclass
class Goal:
    goal_id: UUID
    plan: GoalPlanNoted | None = None
    closed: bool = False

    @classmethod
    def from_history(cls, goal_id: UUID, events: Sequence[EventContract]) -> "Goal":
        """Named by its subject: nothing may be noted yet (the first event about it)."""
        goal = cls(goal_id)
        for event in events:
            goal.apply(event)
        return goal

    def apply(self, event: EventContract) -> None:
        match event:
            case GoalPlanNoted():
                self.plan = event
            case GoalClosureNoted():
                self.closed = True
            case _:
                raise ValueError(f"{event.event_type} does not belong to a goal")

    def agree(self, agreed: GoalAgreed, now: datetime) -> FollowUp:
        if self.plan is not None:
            return FollowUp()
        return self._new_plan(
            agreed.clinic_id,
            agreed.client_id,
            agreed.type,
            agreed.agreed_at,
            agreed.review_every_days,
            agreed.due_date,
            now,
        )

    def revise(self, revised: GoalRevised, now: datetime) -> FollowUp:
        plan = self.plan
        if plan is None or self.closed:
            return FollowUp()  # nothing scheduled to change (a revision before the agreement)
        every = revised.review_every_days or plan.review_every_days
        due_date = revised.due_date or plan.due_date
        if (every, due_date) == (plan.review_every_days, plan.due_date):
            return FollowUp()
        follow_up = self._new_plan(
            revised.clinic_id,
            plan.client_id,
            plan.goal_type,
            revised.revised_at,
            every,
            due_date,
            now,
        )
        cancel = Cancellation("goal-revised", subject_id=self.goal_id, kinds=(GOAL_REVIEW,))
        return FollowUp(follow_up.noted, follow_up.new_reminders, cancel)

    def change_status(self, changed: GoalStatusChanged) -> FollowUp:
        if self.closed or changed.lifecycle_status not in CLOSED:
            return FollowUp()
        noted: list[EventContract] = [
            GoalClosureNoted(
                clinic_id=changed.clinic_id, goal_id=self.goal_id, closed_at=changed.changed_at
            )
        ]
        cancel = Cancellation("goal-closed", subject_id=self.goal_id, kinds=(GOAL_REVIEW,))
        return FollowUp(noted, cancel=cancel)

    def _new_plan(
        self,
        clinic_id: str,
        client_id: str,
        goal_type: GoalType,
        since: datetime,
        every: int | None,
        due_date: date,
        now: datetime,
    ) -> FollowUp:
        number = self.plan.plan + 1 if self.plan else 1
        noted: list[EventContract] = [
            GoalPlanNoted(
                clinic_id=clinic_id,
                goal_id=self.goal_id,
                client_id=client_id,
                goal_type=goal_type,
                since=since,
                review_every_days=every,
                due_date=due_date,
                plan=number,
            )
        ]
        if self.closed:
            return FollowUp(noted)
        about = About(client_id=client_id, goal_id=self.goal_id)
        # The plan number is in the id: a new plan's check-in at the time of a cancelled one's
        # is a reminder of its own.
        subject = reminder_id_for(self.goal_id, GOAL_REVIEW, None if number == 1 else since)
        new = [
            schedule_reminder(
                reminder_id=reminder_id_for(subject, GOAL_REVIEW, at),
                clinic_id=clinic_id,
                kind=GOAL_REVIEW,
                recipient_id=client_id,
                due_at=at,
                about=about,
                facts=ReminderFacts(goal_type=goal_type, review_every_days=every),
            )
            for at in review_times(since, every, due_date, now)
        ]
        return FollowUp(noted, new)
