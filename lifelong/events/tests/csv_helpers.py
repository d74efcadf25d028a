"""What the CSV import tests share: running a file through a job, and two sample files."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from lifelong.events.csv_import import import_job_create, import_job_run
from lifelong.events.models import ImportJob

MSK = ZoneInfo("Europe/Moscow")


def run(kind: str, text: str, *, encoding: str = "utf-8", dry_run: bool = False) -> ImportJob:
    job = import_job_create(
        kind=kind,
        file_name=f"{kind}.csv",
        content=text.encode(encoding),
        dry_run=dry_run,
        created_by=None,
    )
    return import_job_run(job.pk)


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.created_rows, job.updated_rows, job.unchanged_rows, job.rejected_rows


CUSTOMERS_RU = (
    "Код клиента;Фамилия;Имя;Отчество;Телефон;E-mail;Пол;Дата рождения;Теги;Город\r\n"
    "C-1;Петрова;Ольга;Игоревна;8 (916) 123-45-67;Olga@Example.ru;ж;07.03.1990;VIP, опт;Тверь\r\n"
    "C-2;Смирнов;Иван;;+7 903 765-43-21;;муж;;;\r\n"
)

ORDERS = (
    "Номер заказа,Клиент,Дата,Статус,Артикул,Товар,Количество,Цена,Сумма\r\n"
    'A-1,C-1,31.12.2024 14:30,оплачен,MAT-1,Коврик,2,"1 000,00","2 500,50 ₽"\r\n'
    'A-1,C-1,31.12.2024 14:30,оплачен,BLK-1,Блок,1,"500,50","2 500,50 ₽"\r\n'
    "A-2,C-2,2025-01-15,,MAT-1,Коврик,1,990,\r\n"
)
