from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Members and orders"

    def ready(self) -> None:
        from inventory.signals import reservation_short
        from orders.lifecycle import on_reservation_short

        reservation_short.connect(on_reservation_short, dispatch_uid="orders.short")
        # States past paid move only through delivery's signals.
        from orders.fulfilment_handlers import connect

        connect()
        # Register the tasks that orders.refunds enqueues by name.
        import orders.tasks  # noqa: F401
