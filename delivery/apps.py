from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Delivery"

    def ready(self) -> None:
        # Connected before orders' listener of the same signal (delivery comes
        # first in INSTALLED_APPS): the fulfilment line is marked short before
        # orders substitutes it, and locks follow the fulfilment -> order order.
        from delivery.fulfilment import on_reservation_short
        from inventory.signals import reservation_short

        reservation_short.connect(on_reservation_short, dispatch_uid="delivery.short")
