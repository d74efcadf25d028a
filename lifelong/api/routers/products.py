"""The product catalogue."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS
from lifelong.api.idempotency import write_operation
from lifelong.api.pagination import keyset_page
from lifelong.api.schemas import PageQuery, ProductFilters, ProductIn, ProductOut, ProductPage, Sku
from lifelong.commerce.models import Product
from lifelong.commerce.services import product_upsert

router = Router(tags=["products"])


@router.get("/products", auth=READ, response={200: ProductPage, **READ_ERRORS})
def products_list(
    request: HttpRequest, page: Query[PageQuery], filters: Query[ProductFilters]
) -> dict[str, Any]:
    products = Product.objects.all()
    if filters.active is not None:
        products = products.filter(active=filters.active)
    if filters.category:
        products = products.filter(category=filters.category)
    return keyset_page(products, page)


@write_operation(
    router,
    "PUT",
    "/products/{sku}",
    scope=ApiScope.ORDERS,
    response={200: ProductOut, 201: ProductOut},
)
def products_put(request: HttpRequest, sku: Sku, payload: ProductIn) -> Status[Product]:
    """Create or replace a product by SKU. 201 when created."""
    product, created = product_upsert(sku=sku, **payload.model_dump())
    return Status(201 if created else 200, product)
