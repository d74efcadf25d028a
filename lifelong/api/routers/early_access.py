"""Early access for the shop: may this customer see these goods now?

`GET /early-access?sku=...` (or `collection=...`) with the customer named by
`customer_external_id`, or by `token`: the signed `early=` value of the link the customer was
sent (for a shopper who is not logged in). Without either, the answer is for an anonymous
shopper. Needs the `read` scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.errors import ValidationError

from lifelong.api.auth import READ
from lifelong.api.errors import READ_ERRORS
from lifelong.api.ingest import NotFound, customer_get
from lifelong.community.early_access import early_access_check, early_access_customer_of
from lifelong.customers.models import Customer

router = Router(tags=["loyalty"])


class EarlyAccessQuery(Schema):
    sku: Annotated[str, Field(max_length=64, examples=["PRANA-MAT-PRO"])] = ""
    collection: Annotated[str, Field(max_length=128, examples=["Осень"])] = ""
    customer_external_id: Annotated[str, Field(max_length=128)] = ""
    token: Annotated[str, Field(max_length=600)] = ""


class EarlyAccessOut(Schema):
    sku: str
    collection: str
    customer_external_id: str | None = Field(
        description="The customer the answer is for; null for an anonymous shopper."
    )
    access: bool = Field(description="Whether the customer may see the goods now.")
    restricted: bool = Field(description="An early-access window for the goods is on or ahead.")
    early: bool = Field(description="The access is the customer's tier privilege.")
    name: str | None = Field(description="The early-access window's name.")
    opens_at: dt.datetime | None = Field(description="When the goods open to this customer.")
    public_at: dt.datetime | None = Field(description="When they open to everyone.")


@router.get("/early-access", auth=READ, response={200: EarlyAccessOut, **READ_ERRORS})
def early_access_get(request: HttpRequest, query: Query[EarlyAccessQuery]) -> dict[str, Any]:
    if not (query.sku or query.collection):
        raise ValidationError([{"loc": ["query", "sku"], "msg": "Give a sku or a collection."}])
    customer: Customer | None = None
    if query.customer_external_id:
        customer = customer_get(query.customer_external_id)
    elif query.token:
        customer_id = early_access_customer_of(query.token)
        customer = Customer.objects.filter(pk=customer_id).first() if customer_id else None
        if customer is None:
            raise NotFound("The early-access link is not valid or too old.")
    found = early_access_check(
        customer_id=customer.pk if customer else None, sku=query.sku, collection=query.collection
    )
    window = found.window
    return {
        "sku": query.sku,
        "collection": query.collection,
        "customer_external_id": customer.external_id if customer else None,
        "access": found.access,
        "restricted": found.restricted,
        "early": found.early,
        "name": window.name if window else None,
        "opens_at": found.opens_at,
        "public_at": window.public_at if window else None,
    }
