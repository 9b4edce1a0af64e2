from django.contrib import admin

from inventory.models import (
    Category,
    Product,
    Reservation,
    StockLot,
    StockMovement,
    Store,
    StoreProduct,
    StoreStaff,
    Supplier,
    Zone,
)

admin.site.register([Category, Supplier, Zone, StoreStaff, Store, Product])
admin.site.register([StoreProduct, StockLot, Reservation, StockMovement])
