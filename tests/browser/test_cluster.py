"""The cluster page in Chromium against the real service (its Asterisk unreachable: a loopback port that refuses every
connection): the operator sees the node, that it is not reached and why, its owner (this replica) and the replica;
the page says the cluster needs attention. A tenant has no cluster page. Accessibility, both languages. On the lab:
its node reached, its phones registered, nothing to attend to."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.conftest import WIDTHS, axe, screenshot, signed_in
from tests.browser.pagekit import ACME, OPERATOR, SERVICE_ENV, TENANTS
from tests.lab.conftest import TOKEN
from tests.offline import offline_service


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    with offline_service(work, f"sqlite:///{work}/calls.db", tenants=TENANTS, C2C_REPLICA_NAME="replica-pages",
                         **SERVICE_ENV) as svc:
        yield svc


def open_cluster(page, base: str, lang: str = "en") -> None:
    signed_in(page, base, OPERATOR, lang)
    page.locator("[data-test=nav-cluster]").click()
    page.locator("[data-test=cluster][data-state=ready]").wait_for()


def test_the_operator_sees_nodes_owners_replicas_and_health(served, page):
    cluster = httpx.get(f"{served.base}/v1/cluster", headers={"Authorization": f"Bearer {OPERATOR}"}).json()
    node, = cluster["nodes"]
    replica, = cluster["replicas"]
    open_cluster(page, served.base)
    row = page.locator(f"[data-test=node-row][data-node='{node['name']}']")
    assert row.get_attribute("data-reachable") == "false"
    reached = row.locator("[data-test=node-reachable]").inner_text()
    assert reached.startswith("no") and node["ari_error"] and node["ari_error"] in reached
    assert row.locator("[data-test=node-owner]").inner_text() == f"replica-pages ({replica['id']})"
    assert row.locator("[data-test=node-calls]").inner_text() == "0"
    replica_row = page.locator("[data-test=replica-row][data-replica='replica-pages']")
    assert replica_row.get_attribute("data-live") == "true"
    health = page.locator("[data-test=cluster-health]")
    assert health.get_attribute("data-healthy") == "false"
    assert "1 node(s) not reached" in health.inner_text()


def test_a_tenant_has_no_cluster_page(served, page):
    signed_in(page, served.base, ACME)
    assert page.locator("[data-test=nav-cluster]").count() == 0
    assert page.locator("[data-test=nav-history]").count() == 1
    page.goto(f"{served.base}/console#/cluster")
    page.locator("#view [role=alert]").wait_for()
    assert page.locator("[data-test=cluster]").count() == 0
    assert page.evaluate("async () => (await fetch('/v1/cluster')).status") == 403


@pytest.mark.parametrize("page", ["en", "vi"], indirect=True)
def test_the_cluster_page_is_accessible_in_both_languages(served, page):
    lang = page.evaluate("navigator.language").split("-")[0]
    open_cluster(page, served.base, lang)
    assert axe(page) == []
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        screenshot(page, "cluster")


def test_the_labs_node_is_reached_and_healthy(service, page):
    """On the lab (its Asterisk up, the session's service running it): the node is reached, its phones registered,
    and the page says nothing needs attention."""
    node, = httpx.get(f"{service.base}/v1/cluster", headers={"Authorization": f"Bearer {TOKEN}"}).json()["nodes"]
    signed_in(page, service.base, TOKEN)
    page.locator("[data-test=nav-cluster]").click()
    page.locator("[data-test=cluster][data-state=ready]").wait_for()
    row = page.locator(f"[data-test=node-row][data-node='{node['name']}']")
    assert row.get_attribute("data-reachable") == "true"
    assert int(row.locator("[data-test=node-registered]").inner_text()) == node["registered_extensions"] > 0
    assert page.locator("[data-test=cluster-health]").get_attribute("data-healthy") == "true"
