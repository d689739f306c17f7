from django.urls import path

from miniops.console import views

app_name = "console_2fa"

urlpatterns = [
    path("setup/", views.two_factor_setup, name="setup"),
    path("verify/", views.two_factor_verify, name="verify"),
]
