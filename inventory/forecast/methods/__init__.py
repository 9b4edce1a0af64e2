"""The forecasting methods: Prophet and the cheap ones, behind one face.

Every method has ``fit`` (history in, JSON-ready parameters out) and
``predict`` (parameters, the recent history and the days ahead in, a
``Prediction`` out). The cheap methods re-run their smoothing over the recent
history with the stored parameters at predict time (milliseconds, no search);
Prophet predicts from its stored model without refitting.
"""

from inventory.forecast.methods.base import Prediction, SeriesWindow

__all__ = ["Prediction", "SeriesWindow"]
