"""Which models django-auditlog watches, and which fields it must never copy."""

from auditlog.registry import auditlog
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts.models import ApiToken, Operator, Role

auditlog.register(Operator, exclude_fields=["password", "last_login"], m2m_fields={"roles"})
auditlog.register(Role)
auditlog.register(ApiToken, exclude_fields=["secret_hash", "last_used_at", "last_used_ip"])
auditlog.register(TOTPDevice, include_fields=["name", "confirmed", "user"])
