"""The REST API fuzzed from its own OpenAPI schema (schemathesis): every operation with every method,
then chains of calls along the links from a create to the retrieve, update and delete of what it made.

Signed in as the staff member of one store (through the token login), so writes really write; a
second store's rows are there too and must stay out of reach. What must never happen is a server
error. Bounded: a fixed number of examples per operation and of scenarios, no deadline per example.
"""

import io
from collections import defaultdict

import hypothesis
import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error

from kb.models import FaqEntry, Product, Store
from kb.services import store_staff_add

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "fuzz-pw-Qx7!"
SETTINGS = {
    "deadline": None,
    "derandomize": True,  # the same examples every run: a failure found once is found again
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.fixture
def api(settings):
    """The schema served by the app, and the token of a staff member of the demo store only."""
    settings.API_THROTTLE_ANON = ""
    settings.API_THROTTLE_USER = ""  # thousands of calls in a minute are the point here
    call_command("load_demo", stdout=io.StringIO())
    other = Store.objects.create(slug="other-shop", name="Other shop")
    Product.objects.create(store=other, sku="OTHER-1", name="Not yours", price="1.00", stock=1)
    FaqEntry.objects.create(store=other, question="Not yours?", answer="No.")
    store_staff_add(store=Store.objects.get(slug="demo"), username="clerk", password=PASSWORD)
    response = Client().post("/api/auth/token/", {"username": "clerk", "password": PASSWORD})
    assert response.status_code == 200, response.content
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    return schema, {"Authorization": f"Token {response.json()['token']}"}, other


def as_clerk(case) -> None:
    """Aim the generated call at the clerk's own store, so creates and updates can succeed and really write."""
    if isinstance(case.body, dict) and "store" in case.body:
        case.body["store"] = "demo"
    for name in ("slug", "store"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = "demo"


def _untouched(other: Store) -> None:
    assert Product.objects.filter(store=other).values_list("sku", "name").get() == ("OTHER-1", "Not yours")
    assert FaqEntry.objects.filter(store=other).values_list("question", "answer").get() == ("Not yours?", "No.")


def test_every_operation_with_every_method_answers_without_a_server_error(api):
    schema, headers, other = api
    methods: set[tuple[str, str]] = set()
    answered: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for result in schema.get_all_operations():
        operation = result.ok()
        methods.add((operation.method.upper(), operation.path))

        @hypothesis.settings(max_examples=6, **SETTINGS)
        @hypothesis.given(case=operation.as_strategy())
        def run(case):
            as_clerk(case)
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])
            answered[(case.method.upper(), case.path)].add(response.status_code)

        run()
    # Every method of every operation was called, writes included, and some writes were accepted.
    assert set(answered) == methods
    assert {("POST", "/api/products/"), ("PUT", "/api/faqs/{id}/"), ("DELETE", "/api/promotions/{id}/")} <= methods
    assert 200 in answered[("PATCH", "/api/stores/{slug}/")]
    assert any(201 in answered[("POST", f"/api/{name}/")] for name in ("products", "promotions", "faqs", "synonyms"))
    _untouched(other)


def test_chains_of_calls_along_the_links_answer_without_a_server_error(api):
    schema, headers, other = api
    Workflow = schema.as_state_machine()
    # The links from each create to what uses the id it answers (found from the schema).
    links = _transitions(schema)
    for resource in ("products", "promotions", "faqs", "synonyms"):
        created = f"POST /api/{resource}/"
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            assert (created, f"{method} /api/{resource}/{{id}}/") in links, (created, method)

    answered: defaultdict[tuple[str, str], set[int]] = defaultdict(set)

    class Clerk(Workflow):  # type: ignore[valid-type, misc]
        """Each scenario starts from the same data (its writes are rolled back after it): Hypothesis
        replays scenarios and needs the same calls to get the same answers."""

        def setup(self):
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)

        def before_call(self, case):
            as_clerk(case)

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def after_call(self, response, case):
            answered[(case.method.upper(), case.path)].add(response.status_code)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=[not_a_server_error])

    # As Django's test client does: a request's end must not close the connection that holds the scenario.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        Clerk.run(settings=hypothesis.settings(max_examples=25, stateful_step_count=6, **SETTINGS))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    # The chains went somewhere: something was created, then read, changed or deleted through its link.
    assert any(201 in answered[(m, f"/api/{name}/")] for m in ("POST",) for name in ("products", "faqs", "synonyms"))
    followed = {
        (method, path) for (method, path), codes in answered.items() if path.endswith("/{id}/") and codes & {200, 204}
    }
    assert followed, dict(answered)
    _untouched(other)


def _transitions(schema) -> set[tuple[str, str]]:
    """(source, target) operations of the links the state machine follows: stated in the schema or inferred."""
    from schemathesis.specs.openapi.stateful import collect_transitions

    operations = [result.ok() for result in schema.get_all_operations()]
    return {
        (source, link.target.label)
        for source, entry in collect_transitions(operations).operations.items()
        for link in entry.outgoing
    }
