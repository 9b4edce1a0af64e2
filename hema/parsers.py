"""The API's JSON parser: a body nested too deeply is bad input, not a crash.

Python's JSON decoder recurses once per array or object level, so a body of a
few hundred kilobytes of ``[`` raises ``RecursionError``, which DRF's parser
does not catch (it catches ``ValueError``) and every endpoint answered 500.
"""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser


class JSONParser(DRFJSONParser):
    """DRF's JSON parser, refusing a body nested too deeply with 400."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from None
