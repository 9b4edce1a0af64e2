"""The demo manager as ``seed_demo`` makes them: the "Store managers" group with
its permissions, and the manager role in the stores given (the whole demo
catalogue is not loaded, so tests stay fast)."""

from __future__ import annotations

from typing import Any

from django.test import Client

from inventory import demo_catalogue as demo
from inventory.management.commands.seed_demo import Command
from inventory.models import Store

PASSWORD = demo.DEFAULT_MANAGER_PASSWORD


def demo_manager(*stores: Store) -> Any:
    """The user ``seed_demo`` creates, managing ``stores``."""
    command = Command()
    command.tally = {}
    group = command._manager_group()
    return command._manager(password=PASSWORD, group=group, stores=list(stores))


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client
