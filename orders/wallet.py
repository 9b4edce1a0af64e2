"""Wallet writes: one conditional UPDATE and one ledger entry each.

The balance can never go below zero: a debit updates only where
``balance >= amount`` (and the database refuses a negative balance anyway).
A wallet holds one currency: money in any other is refused, never converted.
"""

from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum

from orders.errors import CurrencyMismatch, InsufficientFunds
from orders.models import Member, Wallet, WalletEntry, WalletEntryKind


def wallet_for(member: Member) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(member=member)
    return wallet


def wallet_lock(*, member: Member) -> Wallet:
    """Lock the member's wallet row for the rest of the caller's transaction.

    A payment from the wallet takes this lock before any stock row, so that an
    app checkout (which reserves stock) and an in-store payment (which sells it)
    from the same wallet always lock in the same order and cannot deadlock.
    """
    return Wallet.objects.select_for_update().get(pk=wallet_for(member).pk)


def wallet_check_currency(*, wallet: Wallet, currency: str) -> None:
    """Refuse money in another currency than the wallet's."""
    if currency != wallet.currency:
        raise CurrencyMismatch(
            f"The wallet holds {wallet.currency}; it cannot pay or take {currency}.",
            {
                "field": "currency",
                "wallet_currency": wallet.currency,
                "currency": currency,
            },
        )


def wallet_debit(
    *,
    member: Member,
    amount: Decimal,
    reference: str,
    currency: str,
    wallet: Wallet | None = None,
) -> WalletEntry:
    """Pay from the wallet: refused (nothing changed) for too low a balance or
    another currency than the wallet's.

    ``wallet``: the member's wallet when the caller has read (and locked) it
    already, so that it is not read again. The debit and its ledger entry are
    one transaction, the caller's when there is one (a checkout), without a
    savepoint of their own: a refusal is raised after an UPDATE that matched
    nothing, so a caller that catches it has nothing to roll back. Without
    ``wallet`` the member's is read (created when missing) in a transaction of
    its own that a refusal rolls back."""
    if wallet is None:
        with transaction.atomic():
            return wallet_debit(
                member=member,
                amount=amount,
                reference=reference,
                currency=currency,
                wallet=wallet_for(member),
            )
    wallet_check_currency(wallet=wallet, currency=currency)
    with transaction.atomic(savepoint=False):
        updated = Wallet.objects.filter(pk=wallet.pk, balance__gte=amount).update(
            balance=F("balance") - amount
        )
        if updated:
            return WalletEntry.objects.create(
                wallet=wallet,
                kind=WalletEntryKind.PAYMENT,
                amount=-amount,
                reference=reference,
            )
    balance = Wallet.objects.values_list("balance", flat=True).get(pk=wallet.pk)
    raise InsufficientFunds(
        f"The wallet holds {balance}; {amount} is needed.",
        {"field": "payment_method", "balance": str(balance), "needed": str(amount)},
    )


@transaction.atomic
def wallet_credit(
    *,
    member: Member,
    amount: Decimal,
    kind: str,
    reference: str,
    currency: str | None = None,
) -> WalletEntry:
    """Top-up or refund. The (wallet, kind, reference) pair is credited once;
    ``currency``, when given, must be the wallet's."""
    wallet = wallet_for(member)
    if currency is not None:
        wallet_check_currency(wallet=wallet, currency=currency)
    entry, created = WalletEntry.objects.get_or_create(
        wallet=wallet, kind=kind, reference=reference, defaults={"amount": amount}
    )
    if created:
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    return entry


def wallet_ledger_total(wallet: Wallet) -> Decimal:
    return wallet.entries.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")
