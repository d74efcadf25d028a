from django.urls import path

from lifelong.web.views import auth, customers, dashboard, exports, home, imports, staff, tasks

app_name = "web"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("", home.home, name="home"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("dashboard/kpis.csv", dashboard.dashboard_kpis_csv, name="dashboard_kpis_csv"),
    path("dashboard/cohorts.csv", dashboard.dashboard_cohorts_csv, name="dashboard_cohorts_csv"),
    path("customers/", customers.customer_list, name="customers"),
    path("customers/export.csv", exports.customers_csv, name="customers_csv"),
    path("customers/<int:pk>/", customers.customer_card, name="customer"),
    path("customers/<int:pk>/timeline/", customers.customer_timeline, name="customer_timeline"),
    path("customers/<int:pk>/notes/", customers.note_add, name="note_add"),
    path("customers/<int:pk>/facts/", customers.fact_add, name="fact_add"),
    path("customers/<int:pk>/tags/", customers.tag_add, name="tag_add"),
    path("customers/<int:pk>/tags/remove/", customers.tag_remove, name="tag_remove"),
    path("customers/<int:pk>/consents/", customers.consent_record, name="consent_record"),
    path("customers/<int:pk>/tasks/", customers.task_add, name="task_add"),
    path("customers/<int:pk>/merge/", customers.customer_merge, name="customer_merge"),
    path("tasks/", tasks.task_list, name="tasks"),
    path("tasks/next/", tasks.task_next, name="task_next"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task"),
    path("tasks/no-next-step/", tasks.no_next_step, name="no_next_step"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/upload/", imports.import_upload, name="import_upload"),
    path("imports/<int:pk>/", imports.import_job, name="import_job"),
    path("imports/<int:pk>/progress/", imports.import_progress, name="import_progress"),
    path("imports/<int:pk>/rejected.csv", imports.import_report, name="import_report"),
    path("staff/", staff.staff_index, name="staff"),
    path("staff/users/", staff.staff_user_create, name="staff_user_create"),
    path("staff/api-keys/", staff.api_key_create, name="api_key_create"),
    path("staff/api-keys/<int:pk>/revoke/", staff.api_key_revoke, name="api_key_revoke"),
    path("staff/webhooks/", staff.webhook_source_create, name="webhook_source_create"),
    path("audit/", staff.audit_log, name="audit"),
]
