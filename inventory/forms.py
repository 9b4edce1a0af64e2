"""Forms of the managers' admin screens.

The stock forms only collect input: the rules (whole pieces, a reason for a
correction or a write-off, no negative counts) live in ``inventory.services``,
whose refusals the admin view shows on the form. Quantities are therefore taken
as plain decimals here and checked once, by the service.
"""

from django import forms
from django.contrib.auth import get_user_model

from inventory.models import StoreProduct, StoreStaff


class StockReceiveForm(forms.Form):
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


class StockCorrectForm(forms.Form):
    counted = forms.DecimalField(help_text="What is on the shelf now.")
    reason = forms.CharField(
        required=False,
        max_length=255,
        help_text="Required: why the count was wrong (recount, theft, ...).",
    )


class StockWriteOffForm(forms.Form):
    quantity = forms.DecimalField(help_text="Pieces or kilograms that leave the shelf.")
    reason = forms.CharField(
        required=False,
        max_length=255,
        help_text="Required: spoiled, damaged, past its date, ...",
    )


class StoreProductAdminForm(forms.ModelForm):
    """A store product's own fields; its zone must be one of its store's zones."""

    class Meta:
        model = StoreProduct
        fields = (
            "store",
            "product",
            "is_active",
            "zone",
            "shelf_location",
            "list_price",
            "unit_cost",
            "online_buffer",
        )

    def clean(self) -> dict:
        data = super().clean()
        zone = data.get("zone")
        store = data.get("store") or (
            self.instance.store if self.instance.store_id else None
        )
        if zone is not None and store is not None and zone.store_id != store.pk:
            self.add_error("zone", f"Zone {zone.code} belongs to another store.")
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
