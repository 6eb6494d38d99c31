"""Refusals of the citizen's tasks."""

from __future__ import annotations

import datetime as dt

from klageapi.core.errors import Conflict

__all__ = ["CommentDeadlinePassed", "SenderReferenceConflict", "TaskNotOpen"]


class TaskNotOpen(Conflict):
    code = "task_not_open"
    title = "This task is not open"

    def __init__(self, task: str) -> None:
        super().__init__(
            f"{task} is not one of the tasks open on this appeal now: see `you_can` in the"
            " appeal's view.",
            task=task,
        )


class CommentDeadlinePassed(Conflict):
    code = "comment_deadline_passed"
    title = "The comment deadline has passed"

    def __init__(self, deadline: dt.date) -> None:
        super().__init__(
            f"The deadline for comments on the case presentation was {deadline.isoformat()}.",
            comment_deadline_on=deadline.isoformat(),
        )


class SenderReferenceConflict(Conflict):
    code = "sender_reference_conflict"

    def __init__(self, sender_reference: str) -> None:
        super().__init__(
            f"A different file was already sent to this appeal as {sender_reference!r}.",
            sender_reference=sender_reference,
        )
