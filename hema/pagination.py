"""The API's one paginator: DRF's limit/offset, bounded.

DRF's ``LimitOffsetPagination`` takes any positive ``limit`` and ``offset``; a
23-digit number reaches the database as ``LIMIT``/``OFFSET`` and fails there
(bigint out of range on PostgreSQL, a datatype mismatch on SQLite): a 500 for a
typo. Here ``limit`` is capped at ``max_limit`` and an ``offset`` past the end is
the end (an empty page), as an unparsable value already falls back to the default.
"""

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    max_limit = 500

    def get_offset(self, request) -> int:
        # paginate_queryset counts before it asks for the offset.
        offset = super().get_offset(request)
        count = getattr(self, "count", None)
        return offset if count is None else min(offset, count)
