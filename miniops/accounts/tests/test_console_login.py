"""Signing in to the console: password, lockout, two-factor, timeouts, sign-out."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from miniops.accounts import services
from miniops.accounts.middleware import AUTH_AT, SEEN_AT
from miniops.accounts.models import OperatorSession
from miniops.testing import factories
from miniops.testing.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def login(client: Client, username: str, password: str = TEST_PASSWORD, **extra: Any) -> Any:
    return client.post(
        "/console/login/?next=/console/", {"username": username, "password": password}, **extra
    )


def test_plain_role_signs_in_with_password_only(client: Client) -> None:
    operator = factories.operator_with_role("customer_service")
    response = login(client, operator.username)
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200


def test_wrong_password_rerenders_the_form(client: Client) -> None:
    operator = factories.operator_with_role("customer_service")
    response = login(client, operator.username, "wrong-password")
    assert response.status_code == 200
    assert client.get("/console/").status_code == 302


def test_sensitive_role_must_pass_totp_before_any_page(client: Client, settings: Any) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # throttling has its own test
    # given a super admin with an enrolled authenticator
    operator = factories.operator_with_role("super_admin")
    device = factories.totp_device(operator)
    # when they pass the password step
    assert login(client, operator.username).status_code == 302
    # then every console page sends them to the code step
    response = client.get("/console/accounts/operator/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/2fa/verify/")
    # a wrong code is refused with 400 and the page shown again
    wrong = client.post("/console/2fa/verify/", {"token": "000000", "next": "/console/"})
    assert wrong.status_code == 400
    # the right code lets them in
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    right = client.post("/console/2fa/verify/", {"token": code, "next": "/console/"})
    assert right.status_code == 302
    assert right["Location"] == "/console/"
    assert client.get("/console/accounts/operator/").status_code == 200


def test_sensitive_role_without_device_is_walked_through_enrolment(
    client: Client, settings: Any
) -> None:
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    # given a finance operator who never enrolled
    operator = factories.operator_with_role("finance")
    assert not TOTPDevice.objects.filter(user=operator).exists()
    login(client, operator.username)
    # when they open the console
    response = client.get("/console/")
    # then they land on enrolment, which shows a QR code and the key
    assert response["Location"].startswith("/console/2fa/setup/")
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"<svg" in page.content
    device = TOTPDevice.objects.get(user=operator, confirmed=False)
    # a wrong code keeps them there
    assert client.post("/console/2fa/setup/", {"token": "123456"}).status_code == 400
    # the code from their new authenticator confirms the device
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    done = client.post("/console/2fa/setup/", {"token": code, "next": "/console/"})
    assert done.status_code == 302
    assert TOTPDevice.objects.get(pk=device.pk).confirmed
    assert client.get("/console/").status_code == 200


def test_wrong_codes_throttle_further_attempts(client: Client) -> None:
    # given an operator who just typed a wrong code
    operator = factories.operator_with_role("super_admin")
    device = factories.totp_device(operator)
    login(client, operator.username)
    client.post("/console/2fa/verify/", {"token": "000000"})
    # when they immediately try the right one
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    response = client.post("/console/2fa/verify/", {"token": code})
    # then it is refused until the back-off has passed
    assert response.status_code == 400
    assert client.get("/console/").status_code == 302


def test_operator_who_enrolled_voluntarily_also_needs_the_code(client: Client) -> None:
    operator = factories.operator_with_role("ops_staff")
    factories.totp_device(operator)
    login(client, operator.username)
    assert client.get("/console/")["Location"].startswith("/console/2fa/verify/")


def test_open_redirect_after_totp_is_refused(client: Client) -> None:
    operator = factories.operator_with_role("super_admin")
    device = factories.totp_device(operator)
    login(client, operator.username)
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=6):06d}"
    response = client.post("/console/2fa/verify/", {"token": code, "next": "https://evil.example/"})
    assert response["Location"] == "/console/"


def test_five_failures_lock_the_account_for_that_address(client: Client, settings: Any) -> None:
    operator = factories.operator_with_role("customer_service")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, operator.username, "wrong-password", REMOTE_ADDR="10.0.0.1")
    # even the right password is now refused from that address
    locked = login(client, operator.username, REMOTE_ADDR="10.0.0.1")
    assert locked.status_code == 429
    assert b"locked-out" in locked.content
    # another address is not locked (lockout is per account + IP)
    other = Client()
    assert login(other, operator.username, REMOTE_ADDR="10.0.0.2").status_code == 302


def test_lockout_ends_after_the_cool_off(client: Client, settings: Any) -> None:
    operator = factories.operator_with_role("customer_service")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, operator.username, "wrong-password", REMOTE_ADDR="10.0.0.3")
    assert login(client, operator.username, REMOTE_ADDR="10.0.0.3").status_code == 429
    # when the cool-off has passed
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=5)
    )
    # then the right password works again
    assert login(client, operator.username, REMOTE_ADDR="10.0.0.3").status_code == 302


def test_one_password_sprayed_over_many_usernames_locks_the_address(
    client: Client, settings: Any
) -> None:
    # given twenty operators, and an attacker at one address trying one password on each
    people = [factories.operator_with_role("customer_service") for _ in range(20)]
    statuses = [
        login(client, person.username, "Summer2026!", REMOTE_ADDR="10.0.1.1").status_code
        for person in people
    ]
    # then no account reached its own limit, but the address is locked after its limit
    limit = settings.MINIOPS_LOCKOUT_IP_FAILURES
    assert limit < len(people)
    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form again: wrong password
    assert set(statuses[limit:]) == {429}
    # even a right password is refused from that address, for any account
    assert login(client, people[0].username, REMOTE_ADDR="10.0.1.1").status_code == 429
    # another address is not affected
    assert login(Client(), people[0].username, REMOTE_ADDR="10.0.1.2").status_code == 302


def test_a_sign_in_from_the_address_does_not_reset_its_count(client: Client, settings: Any) -> None:
    # given an attacker who holds one valid account, spraying from one address
    own = factories.operator_with_role("customer_service")
    others = [factories.operator_with_role("customer_service") for _ in range(20)]
    limit = settings.MINIOPS_LOCKOUT_IP_FAILURES
    for person in others[: limit - 1]:
        login(client, person.username, "Summer2026!", REMOTE_ADDR="10.0.1.3")
    # when they sign in with their own account in between
    assert login(Client(), own.username, REMOTE_ADDR="10.0.1.3").status_code == 302
    # then the next failure still locks the address
    login(client, others[limit].username, "Summer2026!", REMOTE_ADDR="10.0.1.3")
    assert login(client, others[limit + 1].username, REMOTE_ADDR="10.0.1.3").status_code == 429


def test_the_address_limit_ends_after_the_cool_off(client: Client, settings: Any) -> None:
    people = [factories.operator_with_role("customer_service") for _ in range(12)]
    for person in people:
        login(client, person.username, "Summer2026!", REMOTE_ADDR="10.0.1.4")
    assert login(client, people[0].username, REMOTE_ADDR="10.0.1.4").status_code == 429
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=5)
    )
    assert login(client, people[0].username, REMOTE_ADDR="10.0.1.4").status_code == 302


def test_the_team_card_counts_locked_addresses(console_as: Any, settings: Any) -> None:
    people = [factories.operator_with_role("customer_service") for _ in range(12)]
    attacker = Client()
    for person in people:
        login(attacker, person.username, "Summer2026!", REMOTE_ADDR="10.0.1.5")
    from miniops.accounts import lockout

    assert lockout.locked_addresses() == 1
    page = console_as("super_admin").get("/console/").content.decode()
    assert "Addresses locked out" in page or "被锁定的地址" in page


def test_idle_session_expires(console_as: Any, settings: Any) -> None:
    client = console_as("customer_service")
    assert client.get("/console/").status_code == 200
    session = client.session
    session[SEEN_AT] = time.time() - settings.MINIOPS_SESSION_IDLE_MINUTES * 60 - 5
    session.save()
    response = client.get("/console/")
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/")
    assert client.get("/console/").status_code == 302
    assert OperatorSession.objects.get(operator=client.operator).end_reason == "idle"


def test_absolute_session_lifetime_expires_even_when_active(console_as: Any, settings: Any) -> None:
    client = console_as("customer_service")
    client.get("/console/")
    session = client.session
    session[AUTH_AT] = time.time() - settings.MINIOPS_SESSION_ABSOLUTE_HOURS * 3600 - 5
    session[SEEN_AT] = time.time()
    session.save()
    assert client.get("/console/")["Location"].startswith("/console/login/")
    assert OperatorSession.objects.get(operator=client.operator).end_reason == "expired"


def test_logout_ends_the_session(console_as: Any) -> None:
    client = console_as("customer_service")
    assert client.get("/console/").status_code == 200
    client.post("/console/logout/")
    assert client.get("/console/").status_code == 302
    record = OperatorSession.objects.get(operator=client.operator)
    assert record.ended_at is not None
    assert record.end_reason == "logout"


def test_disabling_an_operator_ends_all_their_sessions(console_as: Any) -> None:
    # given an operator signed in on two browsers
    first = console_as("customer_service")
    operator = first.operator
    second = Client()
    from miniops.testing.fixtures import sign_in

    sign_in(second, operator)
    assert first.get("/console/").status_code == 200
    assert second.get("/console/").status_code == 200
    # when a super admin disables them
    admin = factories.operator_with_role("super_admin")
    services.disable_operator(operator=operator, actor=admin, reason="left the company")
    # then both browsers are signed out
    assert first.get("/console/").status_code == 302
    assert second.get("/console/").status_code == 302
    assert not OperatorSession.objects.filter(operator=operator, ended_at__isnull=True).exists()
    # and the password no longer works
    assert login(Client(), operator.username).status_code == 200


def test_changing_ones_password_ends_other_sessions(console_as: Any) -> None:
    client = console_as("customer_service")
    other = Client()
    from miniops.testing.fixtures import sign_in

    sign_in(other, client.operator)
    client.get("/console/")
    other.get("/console/")
    response = client.post(
        "/console/password_change/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": "Brand-new-pass-77",
            "new_password2": "Brand-new-pass-77",
        },
    )
    assert response.status_code == 302
    assert client.get("/console/").status_code == 200
    assert other.get("/console/").status_code == 302


def test_weak_new_password_is_refused_with_400(console_as: Any) -> None:
    client = console_as("customer_service")
    response = client.post(
        "/console/password_change/",
        {"old_password": TEST_PASSWORD, "new_password1": "12345", "new_password2": "12345"},
    )
    assert response.status_code == 400
