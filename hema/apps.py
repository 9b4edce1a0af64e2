from django.apps import AppConfig


class HemaConfig(AppConfig):
    """The project package as an app only for what belongs to no domain: the
    record of task deliveries (``hema.taskguard``)."""

    name = "hema"
    verbose_name = "Jobs"
