from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CmsConfig(AppConfig):
    name = "miniops.cms"
    label = "cms"
    verbose_name = _("Home page and articles")
