"""Console actions, walked from what is registered.

* No GET changes a row: every URL of the console (the site's views, custom pages,
  every model page's views, every action button and extra URL), opened by a super
  admin — also with the fields of a confirmation in the query string, as a forged
  link would carry them — leaves every table as it was.
* A confirmed action is a POST with the CSRF token: a POST without it is refused.
* An action needing only read permissions writes nothing but the audit row of the
  read (a reveal, an export), even when it runs.

The role x action matrix and "the Analyst writes nothing" are in
``test_permission_matrix.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client

from miniops.accounts.models import Operator
from miniops.core.console import CONFIRMED, site
from miniops.core.permissions import Kind, kind
from miniops.testing import factories
from miniops.testing.console_routes import Route, bulk_actions, routes
from miniops.testing.dbwrites import recorded
from miniops.testing.fixtures import sign_in
from tests.test_permission_matrix import FACTORIES, model_key

pytestmark = pytest.mark.django_db

#: The fields only a confirmation sends: a dialog's, a bulk page's, Django's delete page's.
CONFIRMATION = {"_form_submitted": "on", CONFIRMED: "yes", "post": "yes"}

#: GETs that still write, each with the reason and the issue that removes it. An
#: entry here must keep failing the rule (see the last assertion below), so it is
#: taken out the day the page is fixed.
KNOWN_GET_WRITES: dict[str, str] = {}


def objects_for(operator: Operator) -> Callable[[type[Model]], Model]:
    made: dict[str, Model] = {}

    def get(model: type[Model]) -> Model:
        key = model_key(model)
        if key not in made:
            made[key] = FACTORIES[key](operator)
        return made[key]

    return get


def test_no_console_get_changes_a_row() -> None:
    # given a super admin (who may open everything) and one object of every kind
    admin = factories.operator_with_role("super_admin")
    client = sign_in(Client(raise_request_exception=False), admin)
    client.get("/console/")  # the session's own bookkeeping happens here
    objects = objects_for(admin)
    walked = routes(objects)
    assert len([r for r in walked if r.kind == "action"]) >= 20, "the walker found no actions"
    failures: list[str] = []
    still_writing: set[str] = set()
    for route in walked:
        for query in ({}, CONFIRMATION):
            # when every URL is opened, plainly and as a forged confirmation link
            with recorded() as writes:
                response = client.get(route.url, query)
            # then nothing is written and nothing breaks
            if response.status_code >= 500:
                failures.append(f"GET {route.url} {query or ''}: {response.status_code}")
            if writes.tables and route.name in KNOWN_GET_WRITES:
                assert writes.business_tables(allow_access_rows=True) == set(), route.url
                still_writing.add(route.name)
            elif writes.tables:
                failures.append(f"GET {route.url} {query or ''} wrote {sorted(writes.tables)}")
    # and a bulk action asked for by GET is not run either
    for model, model_admin in site._registry.items():
        obj = objects(model)
        for _func, name in bulk_actions(model_admin):  # type: ignore[arg-type]
            opts = model._meta
            url = f"/console/{opts.app_label}/{opts.model_name}/"
            query = {"action": name, "_selected_action": obj.pk, "index": "0", **CONFIRMATION}
            with recorded() as writes:
                response = client.get(url, query)
            if writes.tables or response.status_code >= 500:
                failures.append(f"GET {url} action={name}: {sorted(writes.tables)}")
    assert not failures, "\n".join(failures)
    assert still_writing == set(KNOWN_GET_WRITES), (
        f"fixed, take out of KNOWN_GET_WRITES: {set(KNOWN_GET_WRITES) - still_writing}"
    )


def test_every_action_url_answers_get_with_its_confirmation_only() -> None:
    admin = factories.operator_with_role("super_admin")
    client = sign_in(Client(), admin)
    for route in routes(objects_for(admin)):
        if route.kind != "action":
            continue
        response = client.get(route.url)
        assert response.status_code == 200, route.url
        assert 'id="dialog"' in response.content.decode(), f"{route.url}: no dialog"


def test_a_confirmation_posted_without_the_csrf_token_is_refused() -> None:
    # given a signed-in operations manager in a browser that checks CSRF
    manager = factories.operator_with_role("ops_manager")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(manager)
    session = factories.flash_session()
    discount = factories.timed_discount()
    targets = [
        f"/console/marketing/flashsession/{session.pk}/end/",
        f"/console/marketing/timeddiscount/{discount.pk}/end/",
    ]
    for url in targets:
        # when another site posts the confirmation (it cannot know the token)
        with recorded() as writes:
            response = browser.post(url, CONFIRMATION)
        # then it is refused and nothing changes
        assert response.status_code == 403, url
        assert not writes.tables, url
    # and with the token (the dialog's own form) it works
    browser.get("/console/")
    token = browser.cookies["miniops_csrf"].value
    response = browser.post(targets[0], {**CONFIRMATION, "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    session.refresh_from_db()
    assert session.status == "ended"


def _reads_only(route: Route) -> bool:
    needs = route.post_needs
    return bool(needs) and all(kind(code) == Kind.READ for code in needs or ())


def test_actions_needing_only_read_permissions_write_nothing_but_the_read() -> None:
    """A reveal or an export may log that it happened (an ACCESS audit row); an
    action that changes anything must need a write permission."""
    checked = 0
    for route in routes(objects_for(factories.operator_with_role("super_admin"))):
        if route.kind != "action" or not _reads_only(route):
            continue
        # given an operator holding exactly what the action needs (and the page's view)
        assert route.model_admin is not None
        view = route.model_admin.permissions["view"]
        role = factories.RoleFactory(permissions=[*(route.post_needs or ()), view])
        operator = factories.operator_with_role(role.code)
        client = sign_in(Client(), operator)
        # when it runs
        with recorded() as writes:
            response = client.post(route.url, CONFIRMATION)
        # then it ran, and wrote nothing but the record of the read
        assert response.status_code in (200, 302), (route.url, response.status_code)
        assert 'id="dialog-form"' not in response.content.decode(), f"{route.url} did not run"
        assert writes.business_tables(allow_access_rows=True) == set(), (
            f"{route.url} needs only {route.post_needs} but wrote {sorted(writes.tables)}"
        )
        checked += 1
    for model, model_admin in site._registry.items():
        for func, name in bulk_actions(model_admin):  # type: ignore[arg-type]
            codes = getattr(func, "console_permissions", None)
            if not codes or not all(kind(code) == Kind.READ for code in codes):
                continue
            role = factories.RoleFactory(permissions=[*codes, model_admin.permissions["view"]])
            client = sign_in(Client(), factories.operator_with_role(role.code))
            obj = FACTORIES[model_key(model)](factories.operator_with_role(None))
            opts = model._meta
            with recorded() as writes:
                response = client.post(
                    f"/console/{opts.app_label}/{opts.model_name}/",
                    {"action": name, "_selected_action": [obj.pk], "index": "0", CONFIRMED: "yes"},
                )
            assert response.status_code == 200, (name, response.status_code)
            assert writes.business_tables(allow_access_rows=True) == set(), (
                f"{opts.model_name} {name} needs only {codes} but wrote {sorted(writes.tables)}"
            )
            checked += 1
    assert checked >= 4  # reveal, and the member and order exports at least


def test_a_bulk_action_runs_only_after_its_confirmation_page(console_as: Any) -> None:
    # given two active operators, selected in the list
    client = console_as("super_admin")
    targets = [factories.operator_with_role("analyst") for _ in range(2)]
    data = {
        "action": "disable_selected",
        "_selected_action": [t.pk for t in targets],
        "index": "0",
    }
    # when the action bar is posted: a page naming both, nothing disabled
    page = client.post("/console/accounts/operator/", data)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="bulk-confirm"' in html
    assert all(str(t) in html for t in targets)
    assert Operator.objects.filter(pk__in=[t.pk for t in targets], is_active=True).count() == 2
    # when the page is confirmed
    done = client.post("/console/accounts/operator/", {**data, CONFIRMED: "yes"})
    # then both are disabled
    assert done.status_code == 302
    assert not Operator.objects.filter(pk__in=[t.pk for t in targets], is_active=True).exists()


def test_a_bulk_action_the_operator_may_not_run_is_refused(console_as: Any) -> None:
    # given an operator who may see operators but not manage them
    client = console_as("ops_manager")
    target = factories.operator_with_role("analyst")
    # when they post the action anyway, confirmed
    response = client.post(
        "/console/accounts/operator/",
        {"action": "disable_selected", "_selected_action": [target.pk], CONFIRMED: "yes"},
    )
    # then it is refused, and the list never offered it
    assert response.status_code == 403
    assert Operator.objects.get(pk=target.pk).is_active
    listing = client.get("/console/accounts/operator/").content.decode()
    assert "disable_selected" not in listing


def test_deleting_selected_rows_goes_through_each_rows_service(console_as: Any) -> None:
    from miniops.accounts.models import Role

    # given a custom role in use and one that is not
    client = console_as("super_admin")
    used = factories.RoleFactory(permissions=["orders.view"])
    factories.operator_with_role(used.code)
    free = factories.RoleFactory(permissions=["orders.view"])
    # when both are deleted together from the list
    response = client.post(
        "/console/accounts/role/",
        {"action": "delete_selected", "_selected_action": [used.pk, free.pk], "post": "yes"},
    )
    # then the service refuses the role in use, and the whole deletion is undone
    assert response.status_code == 302
    assert set(Role.objects.filter(pk__in=[used.pk, free.pk]).values_list("pk", flat=True)) == {
        used.pk,
        free.pk,
    }
    # when only the free one is deleted, it goes, through the service
    client.post(
        "/console/accounts/role/",
        {"action": "delete_selected", "_selected_action": [free.pk], "post": "yes"},
    )
    assert not Role.objects.filter(pk=free.pk).exists()
    assert Role.objects.filter(pk=used.pk).exists()
