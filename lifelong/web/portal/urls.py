"""Customer-facing pages: reached by signed links only, never by a login."""

from django.urls import path

from lifelong.web.portal import clubs, loyalty, preferences, referrals, surveys, tracking

app_name = "portal"

urlpatterns = [
    path("r/<str:token>", tracking.click, name="click"),
    path("o/<str:token>.gif", tracking.open_pixel, name="open"),
    path("u/<str:token>", preferences.unsubscribe, name="unsubscribe"),
    path("p/<str:token>", preferences.preferences, name="preferences"),
    path("p/<str:token>/push", preferences.push_subscribe, name="push_subscribe"),
    path("l/<str:token>", loyalty.status, name="loyalty"),
    path("s/<str:token>", surveys.survey, name="survey"),
    path("s/<str:token>/thanks", surveys.thanks, name="survey_thanks"),
    path("s/<str:token>/seen/<str:mark>.css", surveys.score_seen, name="survey_seen"),
    path("club/<str:token>", clubs.join, name="club_join"),
    # A referral code, not a signed token: it is shared on purpose (the view only redirects).
    path("ref/<str:code>", referrals.referral, name="referral"),
]
