"""Forms of the managers' admin screens.

The stock forms only collect input: the rules (whole pieces, a reason for a
correction or a write-off, no negative counts) live in ``inventory.services``,
whose refusals the admin view shows on the form. Quantities are therefore taken
as plain decimals here and checked once, by the service.
"""

import uuid

from django import forms
from django.contrib.auth import get_user_model

from hema.errors import ApplicationError
from inventory import display, services
from inventory.models import SaleUnit, StoreProduct, StoreStaff
from inventory.services import STORE_PRODUCT_SETTINGS


class StockForm(forms.Form):
    """A stock screen's form. Its page carries a fresh one-time token, which
    becomes the movement's ``request_id``: the same form sent twice (a double
    click, a resent POST) changes the stock once."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=40)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("initial", {"token": uuid.uuid4().hex})
        super().__init__(*args, **kwargs)

    @property
    def request_id(self) -> str:
        return f"admin-{self.cleaned_data['token']}"


class StockReceiveForm(StockForm):
    quantity = forms.DecimalField(
        help_text="Pieces, or kilograms to the gram for weighed products."
    )
    best_before = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: received day plus the product's shelf life (if it has one).",
    )
    reference = forms.CharField(
        required=False, max_length=64, help_text="Delivery note or purchase order."
    )


class StockCorrectForm(StockForm):
    counted = forms.DecimalField(help_text="What is on the shelf now.")
    reason = forms.CharField(
        required=False,
        max_length=255,
        help_text="Required: why the count was wrong (recount, theft, ...).",
    )


class StockWriteOffForm(StockForm):
    quantity = forms.DecimalField(help_text="Pieces or kilograms that leave the shelf.")
    reason = forms.CharField(
        required=False,
        max_length=255,
        help_text="Required: spoiled, damaged, past its date, ...",
    )


class StoreProductAdminForm(forms.ModelForm):
    """A store product's own settings, checked by the service that writes them.

    The form never saves itself: the admin calls ``store_product_create`` or
    ``store_product_update`` with the settings it changed.
    """

    class Meta:
        model = StoreProduct
        fields = (
            "store",
            "product",
            *STORE_PRODUCT_SETTINGS,
        )

    def __init__(self, *args, **kwargs) -> None:
        """Label the money and quantity inputs with what they are in: the
        store's currency per sale unit, pieces or kilograms."""
        super().__init__(*args, **kwargs)
        instance = self.instance
        if instance.store_id and instance.product_id:
            unit = instance.product.sale_unit
            per = f"{instance.store.currency} {display.unit_suffix(unit)}"
            amount = "kg" if unit == SaleUnit.KILOGRAM else "pieces"
        else:
            per, amount = "store currency per sale unit", "pieces or kg"
        for name, text in (
            ("list_price", f"List price ({per})"),
            ("unit_cost", f"Unit cost ({per})"),
            ("online_buffer", f"Online buffer ({amount})"),
        ):
            if name in self.fields:
                self.fields[name].label = text
        zone = self.fields.get("zone")
        if zone is not None and instance.store_id:
            # A zone is one store's: offer only this store product's own.
            zone.queryset = zone.queryset.filter(store_id=instance.store_id)

    def clean(self) -> dict:
        data = super().clean()
        store_id = data["store"].pk if data.get("store") else self.instance.store_id
        product = data.get("product") or (
            self.instance.product if self.instance.product_id else None
        )
        if store_id is None or product is None:
            return data  # their own errors are already shown
        settings = {
            name: data[name]
            for name in STORE_PRODUCT_SETTINGS
            if name in data and name in self.fields
        }
        try:
            self.settings = services.store_product_settings_check(
                store_id=store_id, product=product, data=settings
            )
        except ApplicationError as exc:
            field = exc.extra.get("field")
            self.add_error(field if field in self.fields else None, exc.message)
        return data


class StoreStaffAdminForm(forms.ModelForm):
    """A role in a store, for a user found by e-mail or phone number."""

    login = forms.CharField(
        label="User",
        max_length=254,
        help_text="The person's e-mail address or phone number.",
    )

    class Meta:
        model = StoreStaff
        fields = ("login", "store", "role", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.user_id:
            self.fields["login"].initial = str(self.instance.user)

    def clean_login(self):
        login = self.cleaned_data["login"]
        user_model = get_user_model()
        try:
            user = user_model.objects.get_by_login(login)
        except user_model.DoesNotExist:
            raise forms.ValidationError(
                "No user with this e-mail address or phone number."
            ) from None
        self.instance.user = user
        return login

    def clean(self) -> dict:
        data = super().clean()
        store, role = data.get("store"), data.get("role")
        if self.instance.user_id and store is not None and role:
            taken = StoreStaff.objects.filter(
                user_id=self.instance.user_id, store=store, role=role
            ).exclude(pk=self.instance.pk)
            if taken.exists():
                raise forms.ValidationError(
                    f"{self.instance.user} already has the {role} role at {store.code}."
                )
        return data
