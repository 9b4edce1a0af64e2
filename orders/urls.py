from django.urls import path

from orders import api

urlpatterns = [
    path("auth/signup/", api.SignUpApi.as_view(), name="signup"),
    path("auth/login/", api.LogInApi.as_view(), name="login"),
    path("me/", api.ProfileApi.as_view(), name="profile"),
    path("me/addresses/", api.AddressListApi.as_view(), name="address-list"),
    path(
        "me/addresses/<int:address_id>/",
        api.AddressDetailApi.as_view(),
        name="address-detail",
    ),
    path("wallet/", api.WalletApi.as_view(), name="wallet"),
    path("wallet/top-ups/", api.TopUpApi.as_view(), name="wallet-top-up"),
    path("carts/", api.CartOpenApi.as_view(), name="cart-open"),
    path("carts/<str:cart_uuid>/", api.CartDetailApi.as_view(), name="cart-detail"),
    path(
        "carts/<str:cart_uuid>/lines/", api.CartLineAddApi.as_view(), name="cart-lines"
    ),
    path(
        "carts/<str:cart_uuid>/lines/<int:line_id>/",
        api.CartLineDetailApi.as_view(),
        name="cart-line",
    ),
    path(
        "carts/<str:cart_uuid>/checkout/",
        api.CheckoutApi.as_view(),
        name="cart-checkout",
    ),
    path("carts/<str:cart_uuid>/pay/", api.InStorePayApi.as_view(), name="cart-pay"),
    path("orders/", api.OrderListApi.as_view(), name="order-list"),
    path("orders/<str:order_id>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:order_id>/pay/", api.OrderPayApi.as_view(), name="order-pay"),
    path(
        "orders/<str:order_id>/cancel/",
        api.OrderCancelApi.as_view(),
        name="order-cancel",
    ),
    path(
        "orders/<str:order_id>/refunds/",
        api.OrderRefundApi.as_view(),
        name="order-refund",
    ),
    path(
        "payments/webhooks/<str:provider>/",
        api.PaymentWebhookApi.as_view(),
        name="payment-webhook",
    ),
]
