"""The managers' view of the jobs: task messages that kept killing workers."""

from django.contrib import admin
from django.http import HttpRequest

from hema.models import TaskDelivery


class GaveUpFilter(admin.SimpleListFilter):
    title = "given up"
    parameter_name = "gave_up"

    def lookups(self, request, model_admin):
        return [("yes", "Given up"), ("no", "Still retried")]

    def queryset(self, request, queryset):
        if self.value() in {"yes", "no"}:
            return queryset.filter(gave_up_at__isnull=self.value() == "no")
        return queryset


@admin.register(TaskDelivery)
class TaskDeliveryAdmin(admin.ModelAdmin):
    """Read-only; a row may be deleted once its work is known to be done."""

    list_display = (
        "last_delivered_at",
        "task_name",
        "args",
        "deliveries",
        "gave_up_at",
        "task_id",
    )
    list_filter = (GaveUpFilter, "task_name")
    search_fields = ("task_id", "task_name")
    date_hierarchy = "last_delivered_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
