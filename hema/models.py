"""Abstract bases shared by every app's models, and the one table of the
project package itself: task messages delivered more than once."""

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class TaskDelivery(TimeStampedModel):
    """A task message the broker delivered again: the worker running it died (or
    lost the broker) before acknowledging it. Written by ``hema.taskguard`` on
    each redelivery; past ``HEMA_TASK_MAX_DELIVERIES`` the task is not run again
    and ``gave_up_at`` is set. A first delivery writes nothing."""

    task_id = models.CharField(max_length=255)
    task_name = models.CharField(max_length=255)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    deliveries = models.PositiveIntegerField(
        help_text="How many times the broker delivered this message."
    )
    last_delivered_at = models.DateTimeField()
    gave_up_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the worker stopped running it; its periodic sweep does "
        "its work.",
    )

    class Meta:
        ordering = ("-last_delivered_at", "-pk")
        verbose_name_plural = "task deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["task_id"], name="task_delivery_one_per_id"
            ),
            models.CheckConstraint(
                condition=models.Q(deliveries__gte=2),
                name="task_delivery_is_a_redelivery",
            ),
        ]
        indexes = [models.Index(fields=["gave_up_at"])]

    def __str__(self) -> str:
        return f"{self.task_name}[{self.task_id}] delivered {self.deliveries} times"
