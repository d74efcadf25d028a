"""The CSV import page: upload, progress, result and the report of rejected rows."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifelong.customers.models import Customer
from lifelong.events import csv_import
from lifelong.events.models import ImportJob, ImportStatus

pytestmark = pytest.mark.django_db

CSV = (
    "ID;Фамилия;Имя;Email;Телефон\n"
    "N-1;Новикова;Ольга;olga@example.ru;+7 916 555-00-11\n"
    "N-2;Бобров;Пётр;not-an-email;\n"
).encode()


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def upload(client, content: bytes, *, dry_run: bool = False, name: str = "clients.csv"):
    data = {"kind": "customers", "file": SimpleUploadedFile(name, content, "text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(reverse("web:import_upload"), data)


def test_upload_runs_and_reports(owner_client, var_dir, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(owner_client, CSV)
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("web:import_job", kwargs={"pk": job.pk})
    assert callbacks  # the worker thread starts only after commit
    page = owner_client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page  # still pending: the page polls

    # What the worker thread does, run here in the test's transaction.
    csv_import.import_job_run(job.pk)
    progress = owner_client.get(reverse("web:import_progress", kwargs={"pk": job.pk}))
    body = progress.content.decode()
    assert "hx-trigger" not in body  # finished: polling stops
    assert ImportJob.objects.get().status == ImportStatus.DONE
    assert Customer.objects.filter(external_id="N-1", last_name="Новикова").exists()
    assert reverse("web:import_report", kwargs={"pk": job.pk}) in body

    report = owner_client.get(reverse("web:import_report", kwargs={"pk": job.pk}))
    assert report["Content-Type"].startswith("text/csv")
    assert "attachment" in report["Content-Disposition"]
    assert "N-2" in report.content.decode()

    listing = owner_client.get(reverse("web:imports")).content.decode()
    assert "clients.csv" in listing


def test_bad_file_is_refused_on_the_form(owner_client, var_dir):
    response = upload(owner_client, b"\x00\x01PK binary", name="book.xlsx")
    assert response.status_code == 400
    assert response.context["form"].errors["file"]
    assert not ImportJob.objects.exists()


def test_dry_run_flag_reaches_the_job(owner_client, var_dir):
    upload(owner_client, CSV, dry_run=True)
    assert ImportJob.objects.get().dry_run


def test_the_job_page_shows_each_rejected_row_with_its_number_and_reason(owner_client, var_dir):
    content = CSV + "N-3;Бобров;{};;\n".format("П" * 101).encode() + b"N-4;Ok;\xff;;\n"
    upload(owner_client, content)
    job = csv_import.import_job_run(ImportJob.objects.get().pk)
    assert job.rejected_rows == 3

    page = owner_client.get(reverse("web:import_job", kwargs={"pk": job.pk})).content.decode()

    assert "<td>3</td><td>Email</td><td>это не адрес email: &#x27;not-an-email&#x27;" in page
    assert (
        "<td>4</td><td>Имя</td><td>слишком длинное значение (101): допустимо не больше 100" in page
    )
    assert "<td>5</td><td>Имя</td><td>байты, недопустимые в UTF-8, в столбце 3</td>" in page
