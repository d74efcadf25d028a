"""CSV import of customers, orders and products.

The rows and events written are exactly what the per-row services
(customers.services.customer_upsert, commerce.services.order_upsert and product_upsert)
would write, with the same idempotency keys, so the API and a CSV never record the same
fact twice.

Rules for cells: an empty cell never erases stored data (it means "not given"); rows
sharing a key (customer ID, order number, SKU) form one group wherever they are in the
file, and a group with one bad row is rejected whole.

Modules: `layout` (columns and vocabularies), `reading` (the file in batches of whole
groups), `customers`, `orders`, `products` (one batch of each kind), `sql` (staging
tables and bulk writes), `jobs` (ImportJob lifecycle), `cli` (report and command line).
"""

from lifelong.events.csv_import.cli import import_file_cli, import_report_csv
from lifelong.events.csv_import.jobs import (
    import_job_create,
    import_job_run,
    import_job_start,
    imports_run_pending,
)
from lifelong.events.csv_import.layout import ImportFileError

__all__ = [
    "ImportFileError",
    "import_file_cli",
    "import_job_create",
    "import_job_run",
    "import_job_start",
    "import_report_csv",
    "imports_run_pending",
]
