from hema.errors import ApplicationError, Conflict, NotFound, Unprocessable


class OutsideDeliveryArea(Unprocessable):
    """The address is beyond the store's radius; ``extra`` offers pickup instead."""

    code = "outside_delivery_area"


class StaffForbidden(ApplicationError):
    """Not staff with that role at that store: they see nothing of it."""

    code = "forbidden"
    status_code = 403


class NothingToClaim(NotFound):
    code = "no_task"


class TaskNotFound(NotFound):
    code = "task_not_found"


class FulfilmentNotFound(NotFound):
    code = "fulfilment_not_found"


class TaskNotYours(Conflict):
    """The task is another picker's, or no longer being picked."""

    code = "task_not_yours"


class WrongProduct(Conflict):
    """The scanned shelf code is not the line's product; ``extra`` names it."""

    code = "wrong_product"


class WeightOutsideTolerance(Unprocessable):
    code = "weight_outside_tolerance"


class LineNotOpen(Conflict):
    code = "line_not_open"


class TaskNotPicked(Conflict):
    code = "task_not_picked"


class BagRefused(Unprocessable):
    """A bag code that is not ours (forged, another store's) or already bound."""

    code = "bag_refused"


class RailEventRefused(ApplicationError):
    code = "rail_event_refused"
    status_code = 400


class RailControllerUnknown(ApplicationError):
    code = "rail_controller_unknown"
    status_code = 401


class BagsMissing(Conflict):
    code = "bags_missing"


class FulfilmentStateRefused(Conflict):
    code = "fulfilment_state"


class WrongCollectionCode(Unprocessable):
    code = "wrong_collection_code"


class PickingStarted(Conflict):
    code = "picking_started"


class PositionRefused(ApplicationError):
    """A position outside any plausible range, or too far from the store."""

    code = "position_refused"
    status_code = 400


class NotOnShift(Conflict):
    code = "not_on_shift"


class TripNotFound(NotFound):
    code = "trip_not_found"


class StopNotFound(NotFound):
    code = "stop_not_found"


class TripStateRefused(Conflict):
    """The trip or stop is not in a state that allows this step."""

    code = "trip_state"


class NotOutForDelivery(Conflict):
    code = "not_out_for_delivery"


class QuoteRefused(Conflict):
    """A quote token that is forged, expired, another store's or another
    address's, or whose slot is full; ``extra.offer`` is a fresh offer."""

    code = "quote_refused"


class NoDeliveryCapacity(Conflict):
    """No express and no window the store can keep: ``extra`` offers pickup."""

    code = "no_delivery_capacity"
