"""Sign-in with throttling of failed attempts."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpResponse

from lifelong.web import ratelimit
from lifelong.web.forms import LoginForm


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    form_class = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form: LoginForm) -> HttpResponse:  # type: ignore[override]
        ratelimit.login_succeeded(
            username=form.cleaned_data.get("username", ""),
            ip=self.request.META.get("REMOTE_ADDR", ""),
        )
        return super().form_valid(form)


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default): a link or an image tag cannot sign staff out."""
