"""HTTP face of the orders app: parse, check who is asking, call one service."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hema.schema import ErrorSerializer
from inventory.errors import StoreNotFound
from inventory.models import StaffRole, StoreStaff
from inventory.qr import parse_store_code
from inventory.selectors import store_get
from orders import carts, checkout, lifecycle, members, payments, refunds, selectors
from orders.domain_keys import domain_key
from orders.errors import InvalidCartOperation, OrderNotFound
from orders.idempotency import HEADER, MAX_KEY_LENGTH, idempotent
from orders.models import Address, CartLine, Member, Order
from orders.serializers import (
    AddressSerializer,
    CartLineInput,
    CartLineOutput,
    CartLineUpdateInput,
    CartOpenInput,
    CartOutput,
    CheckoutInput,
    CheckoutOutput,
    LogInInput,
    OrderCancelInput,
    OrderOutput,
    OrderPayInput,
    OrderRefundInput,
    OrderSummaryOutput,
    PaymentOutput,
    ProfileOutput,
    RefundOutput,
    SignUpInput,
    TokenOutput,
    TopUpInput,
    WalletOutput,
    WebhookEventInput,
    WebhookOutput,
)
from orders.wallet import wallet_for


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


IDEMPOTENCY = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per attempted action (1-255 characters); a retry with the "
    "same key and body replays the first response.",
)
SIGNED_IN = {401: _error("Not signed in: send Authorization: Token <token>.")}
IDEMPOTENCY_ERRORS = {
    **SIGNED_IN,
    400: _error("Bad input, or the Idempotency-Key header is missing."),
    409: _error(
        "Conflict: stock short, a state that forbids it, or the same key "
        "still in flight, or a product no longer sold."
    ),
    422: _error("The key was used with another body, or the request cannot be served."),
    503: _error(
        "The database connection was lost before the outcome was known: retry "
        "with the same Idempotency-Key."
    ),
}


def _domain_key(request: Request, given: str | None) -> str:
    """The refund request id or top-up reference the client sent, else one
    derived from its Idempotency-Key (see orders/domain_keys.py)."""
    return domain_key(
        given=given, user=request.user, idempotency_key=request.headers.get(HEADER, "")
    )


def _member(request: Request) -> Member:
    return carts.member_for(request.user)


def _address(member: Member, address_id: int | None) -> Address | None:
    if address_id is None:
        return None
    address = Address.objects.filter(
        member=member, pk=address_id, is_active=True
    ).first()
    if address is None:
        raise InvalidCartOperation(
            "No such address.", {"field": "address_id", "value": address_id}
        )
    return address


# --- Members ----------------------------------------------------------------------


class SignUpApi(APIView):
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Sign up as a member and get an API token",
        request=SignUpInput,
        responses={
            201: TokenOutput,
            400: _error(
                "Bad input, or the e-mail or phone is taken (`invalid_input`, "
                "`signup_refused`; `extra.field` names the field)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = SignUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        _, token = members.member_sign_up(**data.validated_data)
        return Response({"token": token}, status=status.HTTP_201_CREATED)


class LogInApi(APIView):
    permission_classes = (AllowAny,)

    @extend_schema(
        summary="Log in with e-mail or phone and get an API token",
        request=LogInInput,
        responses={
            200: TokenOutput,
            400: _error(
                "Bad input, or a wrong login or password (`invalid_input`, "
                "`login_refused`)."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = LogInInput(data=request.data)
        data.is_valid(raise_exception=True)
        token = members.member_log_in(**data.validated_data, request=request)
        return Response({"token": token})


class ProfileApi(APIView):
    @extend_schema(
        summary="Read the signed-in member", responses={200: ProfileOutput, **SIGNED_IN}
    )
    def get(self, request: Request) -> Response:
        return Response(ProfileOutput(_member(request)).data)


@extend_schema_view(
    get=extend_schema(
        summary="List the member's delivery addresses",
        responses={200: AddressSerializer(many=True), **SIGNED_IN},
    ),
    post=extend_schema(
        summary="Add a delivery address",
        responses={201: AddressSerializer, 400: _error("Bad input"), **SIGNED_IN},
    ),
)
class AddressListApi(generics.ListCreateAPIView):
    serializer_class = AddressSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Address.objects.none()
        return Address.objects.filter(member__user=self.request.user, is_active=True)

    def perform_create(self, serializer: AddressSerializer) -> None:
        serializer.instance = members.address_add(
            member=_member(self.request), **serializer.validated_data
        )


class AddressDetailApi(APIView):
    @extend_schema(
        summary="Remove a delivery address",
        responses={204: None, 404: _error("No such address"), **SIGNED_IN},
    )
    def delete(self, request: Request, address_id: int) -> Response:
        members.address_remove(member=_member(request), address_id=address_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Wallet -----------------------------------------------------------------------


class WalletApi(APIView):
    @extend_schema(
        summary="Read the wallet's balance and latest entries",
        responses={200: WalletOutput, **SIGNED_IN},
    )
    def get(self, request: Request) -> Response:
        wallet = wallet_for(_member(request))
        entries = wallet.entries.all()[:50]
        return Response(
            WalletOutput(
                {
                    "balance": wallet.balance,
                    "currency": wallet.currency,
                    "entries": entries,
                }
            ).data
        )


class TopUpApi(APIView):
    @extend_schema(
        summary="Top up the wallet through a payment provider",
        request=TopUpInput,
        parameters=[IDEMPOTENCY],
        responses={201: PaymentOutput, **IDEMPOTENCY_ERRORS},
        description="Starts a top-up with a payment provider; the provider's signed "
        "webhook credits the wallet.",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        currency = data.validated_data.get("currency")
        payment = payments.top_up_start(
            member=_member(request),
            amount=data.validated_data["amount"],
            method=data.validated_data["payment_method"],
            currency=currency.upper() if currency else None,
            reference=_domain_key(request, data.validated_data.get("reference")),
        )
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


# --- Carts ------------------------------------------------------------------------


def _cart_data(cart) -> dict:
    cart = (
        type(cart)
        .objects.select_related("store")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=CartLine.objects.select_related(
                    "store_product__product"
                ).order_by("pk"),
            )
        )
        .get(pk=cart.pk)
    )
    return CartOutput(cart).data


class CartOpenApi(APIView):
    @extend_schema(
        summary="Open a cart at a store, in store or in the app",
        request=CartOpenInput,
        responses={
            201: CartOutput,
            400: _error(
                "Bad input, or a field the cart does not take (`invalid_input`, "
                "`extra.field` names the first, `extra.fields` all of them)."
            ),
            404: _error("No such store"),
            **SIGNED_IN,
        },
    )
    def post(self, request: Request) -> Response:
        data = CartOpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            store = store_get(code=parse_store_code(data.validated_data["store"]))
        except StoreNotFound as exc:
            # Name the field this request sent (``store``), not the selector's.
            raise StoreNotFound(exc.message, {**exc.extra, "field": "store"}) from None
        cart = carts.cart_open(
            member=_member(request), store=store, channel=data.validated_data["channel"]
        )
        return Response(_cart_data(cart), status=status.HTTP_201_CREATED)


class CartDetailApi(APIView):
    @extend_schema(
        summary="Read a cart and its lines",
        responses={
            200: CartOutput,
            404: _error("No such cart"),
            409: _error("Cart expired or already checked out"),
            **SIGNED_IN,
        },
    )
    def get(self, request: Request, cart_uuid: str) -> Response:
        cart = carts.cart_get(member=_member(request), cart_uuid=cart_uuid)
        return Response(_cart_data(cart))


class CartLineAddApi(APIView):
    @extend_schema(
        summary="Add a scanned or chosen product to a cart",
        request=CartLineInput,
        responses={
            201: CartLineOutput,
            400: _error("Bad quantity or code"),
            404: _error("No such cart or product"),
            409: _error("Cart expired, or not enough stock online"),
            **SIGNED_IN,
        },
    )
    def post(self, request: Request, cart_uuid: str) -> Response:
        data = CartLineInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = carts.cart_get(member=_member(request), cart_uuid=cart_uuid)
        line = carts.cart_line_add(cart=cart, **data.validated_data)
        line = CartLine.objects.select_related("store_product__product").get(pk=line.pk)
        return Response(CartLineOutput(line).data, status=status.HTTP_201_CREATED)


class CartLineDetailApi(APIView):
    @extend_schema(
        summary="Change a cart line's quantity or substitution choice",
        request=CartLineUpdateInput,
        responses={
            200: CartLineOutput,
            400: _error("Bad input, or no such line in this cart"),
            404: _error("No such cart"),
            409: _error("Cart expired, or not enough stock online"),
            **SIGNED_IN,
        },
    )
    def patch(self, request: Request, cart_uuid: str, line_id: int) -> Response:
        data = CartLineUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        cart = carts.cart_get(member=_member(request), cart_uuid=cart_uuid)
        line = carts.cart_line_update(cart=cart, line_id=line_id, **data.validated_data)
        return Response(CartLineOutput(line).data)

    @extend_schema(
        summary="Remove a line from a cart",
        responses={
            204: None,
            400: _error("No such line in this cart"),
            404: _error("No such cart"),
            409: _error("Cart expired or already checked out"),
            **SIGNED_IN,
        },
    )
    def delete(self, request: Request, cart_uuid: str, line_id: int) -> Response:
        cart = carts.cart_get(member=_member(request), cart_uuid=cart_uuid)
        carts.cart_line_remove(cart=cart, line_id=line_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _checkout_response(result: checkout.CheckoutResult) -> Response:
    """201 with the new order as the checkout wrote it; 200 with the order a cart
    checked out before became, read afresh."""
    if result.replayed:
        order, code = _order_queryset().get(pk=result.order.pk), status.HTTP_200_OK
    else:
        order, code = result.order, status.HTTP_201_CREATED
    body = CheckoutOutput(
        {"order": order, "payment": result.payment, "repriced": result.repriced}
    ).data
    return Response(body, status=code)


CHECKOUT_RESPONSES = {
    201: CheckoutOutput,
    200: OpenApiResponse(
        CheckoutOutput,
        description="The cart was checked out before (a retry, or a new key for "
        "the same request): the order it became, nothing done again.",
    ),
    402: _error("Wallet balance too low"),
    404: _error("No such cart"),
    **IDEMPOTENCY_ERRORS,
}


class _CartPaymentApi(APIView):
    """Turn a cart into a paid (or pending) order with one checkout service."""

    checkout_service = staticmethod(checkout.checkout_app)

    def post(self, request: Request, cart_uuid: str) -> Response:
        data = CheckoutInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = _member(request)
        result = self.checkout_service(
            member=member,
            cart_uuid=cart_uuid,
            fulfilment_mode=data.validated_data["fulfilment_mode"],
            payment_method=data.validated_data["payment_method"],
            address=_address(member, data.validated_data.get("address_id")),
            delivery_quote=data.validated_data.get("delivery_quote") or None,
        )
        return _checkout_response(result)


class CheckoutApi(_CartPaymentApi):
    """App checkout: reserve, promise and pay in one step."""

    @extend_schema(
        summary="Check out an app cart: reserve, promise and pay",
        request=CheckoutInput,
        parameters=[IDEMPOTENCY],
        responses=CHECKOUT_RESPONSES,
    )
    @idempotent
    def post(self, request: Request, cart_uuid: str) -> Response:
        return super().post(request, cart_uuid)


class InStorePayApi(_CartPaymentApi):
    """Pay an in-store cart; lines past their price hold are re-priced and listed."""

    checkout_service = staticmethod(checkout.checkout_in_store)

    @extend_schema(
        summary="Pay an in-store cart: carry out or send home",
        request=CheckoutInput,
        parameters=[IDEMPOTENCY],
        responses=CHECKOUT_RESPONSES,
    )
    @idempotent
    def post(self, request: Request, cart_uuid: str) -> Response:
        return super().post(request, cart_uuid)


# --- Orders -----------------------------------------------------------------------


def _order_queryset():
    return selectors.order_queryset()


def _own_order(request: Request, order_id: str) -> Order:
    try:
        return _order_queryset().get(uuid=order_id, member__user=request.user)
    except (Order.DoesNotExist, ValueError, ValidationError):
        raise OrderNotFound("No such order.", {"field": "order"}) from None


@extend_schema_view(
    get=extend_schema(
        summary="List the member's orders, newest first, both channels",
        responses={
            200: OrderSummaryOutput(many=True),
            400: _error("Bad filter"),
            **SIGNED_IN,
        },
    )
)
class OrderListApi(generics.ListAPIView):
    """The member's one history across both channels, newest first."""

    serializer_class = OrderSummaryOutput
    filterset_fields = ("channel", "state", "store__code")

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Order.objects.none()
        return (
            Order.objects.filter(member__user=self.request.user)
            .select_related("store")
            .order_by("-created_at", "-pk")
        )


class OrderDetailApi(APIView):
    @extend_schema(
        summary="Read an order: lines, timeline and refunds",
        responses={200: OrderOutput, 404: _error("No such order"), **SIGNED_IN},
    )
    def get(self, request: Request, order_id: str) -> Response:
        return Response(OrderOutput(_own_order(request, order_id)).data)


class OrderPayApi(APIView):
    @extend_schema(
        summary="Pay an order that is waiting for payment",
        request=OrderPayInput,
        parameters=[IDEMPOTENCY],
        responses={
            201: PaymentOutput,
            402: _error("Wallet balance too low"),
            404: _error("No such order"),
            **IDEMPOTENCY_ERRORS,
        },
    )
    @idempotent
    def post(self, request: Request, order_id: str) -> Response:
        data = OrderPayInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = _own_order(request, order_id)
        payment = payments.order_pay(
            order=order,
            method=data.validated_data["payment_method"],
            member=_member(request),
        )
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)


class OrderCancelApi(APIView):
    @extend_schema(
        summary="Cancel an order before picking (refunds what was paid)",
        request=OrderCancelInput,
        parameters=[IDEMPOTENCY],
        responses={
            200: OrderOutput,
            404: _error("No such order"),
            **IDEMPOTENCY_ERRORS,
        },
    )
    @idempotent
    def post(self, request: Request, order_id: str) -> Response:
        data = OrderCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = _own_order(request, order_id)
        lifecycle.order_cancel(
            order=order,
            actor=request.user,
            reason=data.validated_data.get("reason") or "cancelled by the member",
            request_id=_domain_key(request, data.validated_data.get("request_id")),
        )
        return Response(OrderOutput(_order_queryset().get(pk=order.pk)).data)


class OrderRefundApi(APIView):
    """A store manager refunds part or all of a paid order, with a reason."""

    @extend_schema(
        summary="Refund part or all of an order (store managers)",
        request=OrderRefundInput,
        parameters=[IDEMPOTENCY],
        responses={
            201: RefundOutput,
            404: _error("No such order"),
            **IDEMPOTENCY_ERRORS,
        },
    )
    @idempotent
    def post(self, request: Request, order_id: str) -> Response:
        data = OrderRefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            order = Order.objects.get(uuid=order_id)
        except (Order.DoesNotExist, ValueError, ValidationError):
            raise OrderNotFound("No such order.", {"field": "order"}) from None
        is_manager = (
            request.user.is_superuser
            or StoreStaff.objects.filter(
                user=request.user,
                store_id=order.store_id,
                role=StaffRole.MANAGER,
                is_active=True,
            ).exists()
        )
        if not is_manager:
            raise OrderNotFound("No such order.", {"field": "order"})
        refund = refunds.order_refund(
            order=order,
            amount=data.validated_data["amount"],
            reason=data.validated_data["reason"],
            actor=request.user,
            request_id=_domain_key(request, data.validated_data.get("request_id")),
        )
        return Response(RefundOutput(refund).data, status=status.HTTP_201_CREATED)


class PaymentWebhookApi(APIView):
    """A payment provider's signed notification (header ``Hema-Signature``)."""

    permission_classes = (AllowAny,)
    authentication_classes = ()
    throttle_classes = ()

    @extend_schema(
        summary="Receive a payment provider's signed event",
        description="The body is the provider's event, signed with the "
        "provider's webhook secret in the `Hema-Signature` header; events are "
        "deduplicated by `id`.",
        request=WebhookEventInput,
        parameters=[
            OpenApiParameter(
                "Hema-Signature",
                {"type": "string", "pattern": r"^t=[0-9]+,v1=[0-9a-f]{64}$"},
                OpenApiParameter.HEADER,
                required=True,
                description="`t=<unix time>,v1=<hex HMAC-SHA256 of "
                '"<t>.<body>" with the webhook secret>`, at most 5 minutes old.',
            )
        ],
        responses={
            200: WebhookOutput,
            400: _error(
                "Unknown provider, a bad or stale signature, or an event that "
                "names no known payment (`webhook_rejected`)."
            ),
        },
    )
    def post(self, request: Request, provider: str) -> Response:
        result = payments.webhook_handle(
            provider=provider,
            body=request.body,
            signature=request.headers.get("Hema-Signature", ""),
        )
        return Response({"result": result})
