from django.apps import AppConfig


class SimulationConfig(AppConfig):
    """Runs the real apps over simulated time; it may import every app, and no
    app imports it (ARCHITECTURE.md)."""

    name = "simulation"
    verbose_name = "Simulation"
