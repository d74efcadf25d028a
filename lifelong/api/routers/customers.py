"""Customers and their consents."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.errors import ValidationError

from lifelong.accounts.models import ApiScope
from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS
from lifelong.api.idempotency import write_operation
from lifelong.api.ingest import NotFound, customer_get, customer_ingest
from lifelong.api.pagination import keyset_page
from lifelong.api.schemas import (
    ConsentIn,
    ConsentOut,
    CustomerFilters,
    CustomerIn,
    CustomerOut,
    CustomerPage,
    ExternalId,
    MergeIn,
    PageQuery,
)
from lifelong.customers.models import Consent, Customer
from lifelong.customers.services import (
    CustomerDataError,
    clean_profile,
    consent_record,
    customer_merge,
)

router = Router(tags=["customers"])
SOURCE = "api"


@router.get("/customers", auth=READ, response={200: CustomerPage, **READ_ERRORS})
def customers_list(
    request: HttpRequest, page: Query[PageQuery], filters: Query[CustomerFilters]
) -> dict[str, Any]:
    """Customers by id, oldest first; merged duplicates are left out."""
    customers = Customer.objects.live().prefetch_related("tags")
    if filters.email or filters.phone:
        # Filter on the stored (normalised) form, whatever form the client sent.
        try:
            wanted = clean_profile({"email": filters.email, "phone": filters.phone})
        except CustomerDataError as exc:
            raise ValidationError(
                [{"loc": ("query", exc.field), "msg": str(exc), "type": "value_error"}]
            ) from exc
        customers = customers.filter(**{name: value for name, value in wanted.items() if value})
    if filters.updated_since is not None:
        customers = customers.filter(updated_at__gte=filters.updated_since)
    return keyset_page(customers, page)


# Registered before /customers/{external_id} so that "merge" is not taken for an id.
@write_operation(
    router, "POST", "/customers/merge", scope=ApiScope.CUSTOMERS, response={200: CustomerOut}
)
def customers_merge(request: HttpRequest, payload: MergeIn) -> Customer:
    """Fold `duplicate` into `primary`; the duplicate's external id then resolves to the primary."""
    found = Customer.objects.in_bulk([payload.primary, payload.duplicate], field_name="external_id")
    for field in ("primary", "duplicate"):
        if getattr(payload, field) not in found:
            raise NotFound(f"No customer with external id {getattr(payload, field)!r}.")
    if payload.primary == payload.duplicate:
        raise CustomerDataError("cannot merge a customer into itself", field="duplicate")
    return customer_merge(
        primary=found[payload.primary], duplicate=found[payload.duplicate], actor=None
    )


@router.get("/customers/{external_id}", auth=READ, response={200: CustomerOut, **READ_ERRORS})
def customers_get(request: HttpRequest, external_id: ExternalId) -> Customer:
    return customer_get(external_id)


@write_operation(
    router,
    "PUT",
    "/customers/{external_id}",
    scope=ApiScope.CUSTOMERS,
    response={200: CustomerOut, 201: CustomerOut},
)
def customers_put(
    request: HttpRequest, external_id: ExternalId, payload: CustomerIn
) -> Status[Customer]:
    """Create the customer, or update the fields given. 201 when created."""
    customer, created = customer_ingest(external_id=external_id, payload=payload, source=SOURCE)
    return Status(201 if created else 200, customer)


@router.get(
    "/customers/{external_id}/consents",
    auth=READ,
    response={200: list[ConsentOut], **READ_ERRORS},
)
def consents_list(request: HttpRequest, external_id: ExternalId) -> Any:
    """Every grant and withdrawal, the one recorded last (the current state) first."""
    return Consent.objects.filter(customer=customer_get(external_id)).newest_first()


@write_operation(
    router,
    "POST",
    "/customers/{external_id}/consents",
    scope=ApiScope.CUSTOMERS,
    response={201: ConsentOut},
)
def consents_create(request: HttpRequest, external_id: ExternalId, payload: ConsentIn) -> Any:
    """Record a grant or a withdrawal of consent for one channel and purpose."""
    return Status(
        201,
        consent_record(
            customer=customer_get(external_id),
            channel=payload.channel,
            purpose=payload.purpose,
            granted=payload.granted,
            source=payload.source,
            at=payload.at,
            ip=payload.ip,
            form=payload.form,
            text_version=payload.text_version,
        ),
    )
