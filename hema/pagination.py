"""The API's one paginator: DRF's limit/offset, bounded and strict.

DRF's ``LimitOffsetPagination`` takes any positive ``limit`` and ``offset``; a
23-digit number reaches the database as ``LIMIT``/``OFFSET`` and fails there
(bigint out of range on PostgreSQL, a datatype mismatch on SQLite): a 500 for a
typo. Here ``limit`` is capped at ``max_limit`` and an ``offset`` past the end is
the end (an empty page).

DRF also quietly reads ``?limit=null`` or ``?offset=false`` as "the default": a
client with a bug gets a page it did not ask for and never learns why. Here a
value that is not a whole number in range (``limit`` at least 1, ``offset`` at
least 0) is a 400 naming the parameter, as the schema says.
"""

import re
from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

_DIGITS = re.compile(r"[0-9]+")


def _whole_number(request: Any, name: str, *, low: int) -> int | None:
    """The query parameter ``name`` as an int of at least ``low``; None if absent."""
    if name not in request.query_params:
        return None
    raw = request.query_params[name]
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or value < low:
        raise ValidationError({name: [f"Must be a whole number, at least {low}."]})
    return value


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = 500

    def get_limit(self, request) -> int:
        limit = _whole_number(request, self.limit_query_param, low=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        # paginate_queryset counts before it asks for the offset.
        offset = _whole_number(request, self.offset_query_param, low=0) or 0
        count = getattr(self, "count", None)
        return offset if count is None else min(offset, count)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.limit_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page (default {self.default_limit}; a larger "
                    f"value than {self.max_limit} is read as {self.max_limit})."
                )
            elif parameter["name"] == self.offset_query_param:
                parameter["schema"]["minimum"] = 0
                parameter["description"] = (
                    "Results to skip; past the end gives an empty page."
                )
        return parameters
