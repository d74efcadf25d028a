"""CSV import: upload, progress polled by htmx, the report of rejected rows."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from lifelong.accounts.permissions import IMPORT_DATA
from lifelong.events import csv_import
from lifelong.events.models import ImportJob, ImportStatus
from lifelong.web.access import object_get, require, staff_user
from lifelong.web.forms import ImportForm
from lifelong.web.listing import page_number, page_slice

PER_PAGE = 30
FINISHED = (ImportStatus.DONE, ImportStatus.FAILED)


def _imports_page(request: HttpRequest, form: ImportForm, status: int = 200) -> HttpResponse:
    page = page_slice(
        ImportJob.objects.select_related("created_by").order_by("-created_at", "-pk"),
        number=page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )
    return render(request, "web/imports/list.html", {"form": form, "page": page}, status=status)


@require(IMPORT_DATA)
def import_list(request: HttpRequest) -> HttpResponse:
    return _imports_page(request, ImportForm())


@require(IMPORT_DATA)
@require_POST
def import_upload(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _imports_page(request, form, status=400)
    upload = form.cleaned_data["file"]
    try:
        job = csv_import.import_job_create(
            kind=form.cleaned_data["kind"],
            file_name=upload.name,
            content=upload.read(),
            dry_run=form.cleaned_data["dry_run"],
            created_by=staff_user(request),
        )
    except csv_import.ImportFileError as exc:
        form.add_error("file", str(exc))
        return _imports_page(request, form, status=400)
    # import_job_start defers its thread until this request's transaction commits.
    csv_import.import_job_start(job)
    return redirect("web:import_job", pk=job.pk)


def _job_context(job: ImportJob) -> dict[str, object]:
    return {"job": job, "finished": job.status in FINISHED}


@require(IMPORT_DATA)
def import_job(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_get(request, ImportJob.objects.select_related("created_by"), pk, IMPORT_DATA)
    return render(request, "web/imports/job.html", _job_context(job))


@require(IMPORT_DATA)
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress block alone; htmx swaps it in every second until the job finishes."""
    job = object_get(request, ImportJob, pk, IMPORT_DATA)
    return render(request, "web/imports/_progress.html", _job_context(job))


@require(IMPORT_DATA)
def import_report(request: HttpRequest, pk: int) -> HttpResponse:
    job = object_get(request, ImportJob, pk, IMPORT_DATA)
    response = HttpResponse(
        csv_import.import_report_csv(job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected.csv"'
    return response
