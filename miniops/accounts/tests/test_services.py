"""Business rules for operators and roles, whoever calls them."""

from __future__ import annotations

import pytest

from miniops.accounts import services
from miniops.accounts.models import Operator, Role
from miniops.core.errors import Conflict, Forbidden, InvalidInput
from miniops.core.permissions import ROLES, R
from miniops.testing import factories

pytestmark = pytest.mark.django_db


def role(code: str) -> Role:
    return Role.objects.get(code=code)


def manager_with(*codes: str) -> Operator:
    custom = factories.RoleFactory(permissions=list(codes))
    operator = factories.OperatorFactory(roles=[custom.code])
    return Operator.objects.prefetch_related("roles").get(pk=operator.pk)


def test_operator_creation_needs_the_manage_permission() -> None:
    ops_manager = factories.operator_with_role("ops_manager")
    with pytest.raises(Forbidden):
        services.create_operator(
            username="x", password="Long-enough-pass-1", roles=[], actor=ops_manager
        )
    assert not Operator.objects.filter(username="x").exists()


def test_nobody_grants_a_role_beyond_their_own_permissions() -> None:
    actor = manager_with("accounts.manage_operators", "dashboard.view")
    with pytest.raises(Forbidden):
        services.create_operator(
            username="newbie",
            password="Long-enough-pass-1",
            roles=[role("tech_staff")],
            actor=actor,
        )
    with pytest.raises(Forbidden):
        services.create_operator(
            username="newbie",
            password="Long-enough-pass-1",
            roles=[role("super_admin")],
            actor=actor,
        )
    assert not Operator.objects.filter(username="newbie").exists()


def test_a_manager_may_grant_roles_within_their_rights() -> None:
    reviewer_rights = sorted(str(code) for code in ROLES[R.CONTENT_REVIEWER].permissions)
    actor = manager_with("accounts.manage_operators", *reviewer_rights)
    created = services.create_operator(
        username="cs1", password="Long-enough-pass-1", roles=[role("content_reviewer")], actor=actor
    )
    assert created.has_permission("dashboard.view")
    assert created.check_password("Long-enough-pass-1")


@pytest.mark.parametrize(
    ("password", "field"),
    [("short", "password"), ("1234567890123", "password"), ("password123", "password")],
)
def test_weak_passwords_are_refused(password: str, field: str) -> None:
    with pytest.raises(InvalidInput) as error:
        services.create_operator(username="weak", password=password, roles=[], actor=None)
    assert field in error.value.fields


def test_usernames_are_unique_ignoring_case() -> None:
    factories.OperatorFactory(username="Alice")
    with pytest.raises(Conflict):
        services.create_operator(
            username="alice", password="Long-enough-pass-1", roles=[], actor=None
        )


def test_bad_usernames_are_refused() -> None:
    for bad in ["", "   ", "has space", "x" * 65, "nul\x00byte"]:
        with pytest.raises(InvalidInput):
            services.create_operator(
                username=bad, password="Long-enough-pass-1", roles=[], actor=None
            )


def test_nobody_disables_themselves() -> None:
    admin = factories.operator_with_role("super_admin")
    factories.operator_with_role("super_admin")
    with pytest.raises(Conflict):
        services.disable_operator(operator=admin, actor=admin)


def test_the_last_super_admin_cannot_be_disabled_or_demoted() -> None:
    only_admin = factories.operator_with_role("super_admin")
    with pytest.raises(Conflict):
        services.disable_operator(operator=only_admin, actor=None)
    with pytest.raises(Conflict):
        services.set_operator_roles(operator=only_admin, roles=[role("finance")], actor=None)
    only_admin.refresh_from_db()
    assert only_admin.is_active
    assert only_admin.roles.filter(code="super_admin").exists()


def test_a_manager_cannot_touch_someone_with_more_rights() -> None:
    actor = manager_with("accounts.manage_operators", "dashboard.view")
    tech = factories.operator_with_role("tech_staff")
    admin = factories.operator_with_role("super_admin")
    for target in (tech, admin):
        with pytest.raises(Forbidden):
            services.disable_operator(operator=target, actor=actor)
        with pytest.raises(Forbidden):
            services.reset_two_factor(operator=target, actor=actor)
        with pytest.raises(Forbidden):
            services.change_password(operator=target, password="Another-long-pw-3", actor=actor)


def test_disable_twice_is_an_illegal_transition() -> None:
    admin = factories.operator_with_role("super_admin")
    target = factories.operator_with_role("analyst")
    services.disable_operator(operator=target, actor=admin)
    with pytest.raises(Conflict) as error:
        services.disable_operator(operator=target, actor=admin)
    assert error.value.code == "illegal_transition"
    services.enable_operator(operator=target, actor=admin)
    with pytest.raises(Conflict):
        services.enable_operator(operator=target, actor=admin)


def test_disabled_operator_holds_no_permissions() -> None:
    admin = factories.operator_with_role("super_admin")
    target = factories.operator_with_role("tech_staff")
    services.disable_operator(operator=target, actor=admin)
    fresh = Operator.objects.get(pk=target.pk)
    assert fresh.permissions == frozenset()


def test_built_in_role_permissions_are_not_editable() -> None:
    admin = factories.operator_with_role("super_admin")
    with pytest.raises(Conflict):
        services.update_role(role=role("finance"), actor=admin, permissions=["audit.view"])
    with pytest.raises(Conflict):
        services.update_role(role=role("super_admin"), actor=admin, requires_2fa=False)
    updated = services.update_role(role=role("analyst"), actor=admin, requires_2fa=True)
    assert updated.needs_2fa


def test_custom_roles_take_known_permissions_only() -> None:
    admin = factories.operator_with_role("super_admin")
    with pytest.raises(InvalidInput):
        services.create_role(code="x", name="X", permissions=["made.up"], actor=admin)
    created = services.create_role(
        code="night-shift",
        name="Night shift",
        permissions=["dashboard.view", "audit.view"],
        actor=admin,
    )
    assert created.effective_permissions() == {"dashboard.view", "audit.view"}


def test_roles_in_use_or_built_in_cannot_be_deleted() -> None:
    admin = factories.operator_with_role("super_admin")
    custom = services.create_role(code="temp", name="Temp", permissions=[], actor=admin)
    factories.OperatorFactory(roles=["temp"])
    with pytest.raises(Conflict):
        services.delete_role(role=custom, actor=admin)
    with pytest.raises(Conflict):
        services.delete_role(role=role("analyst"), actor=admin)


def test_only_role_managers_manage_roles() -> None:
    tech = factories.operator_with_role("tech_staff")
    with pytest.raises(Forbidden):
        services.create_role(code="sneaky", name="Sneaky", permissions=[], actor=tech)


def test_role_change_takes_effect_and_ends_sessions(console_as: object) -> None:
    admin = factories.operator_with_role("super_admin")
    target = factories.operator_with_role("tech_staff")
    services.set_operator_roles(operator=target, roles=[role("analyst")], actor=admin)
    fresh = Operator.objects.get(pk=target.pk)
    assert not fresh.has_permission("system.manage_settings")
    assert fresh.has_permission("dashboard.view")
