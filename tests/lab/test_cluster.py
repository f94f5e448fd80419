"""The cluster (issue 12): two Asterisk nodes (lab.sh's named nodes a and b, from the one chroot) and two replicas of
`click2call serve` (C2C_CLUSTER=true) on one real PostgreSQL, behind HAProxy, with sipp phones registered to one
node or the other. One cluster is started for the module; each test leaves it (or `healthy` puts it back) whole:
both nodes up with their phones registered, both replicas running, one node each, no call in progress.

Node a: 101, 9001-9020 answer after 0.3 s (phone 5091); 112, 115, 117 answer after 8 s (5093); 113 never answers (5094);
        116 answers after 2 s (5096).
Node b: 102, 9101-9120 answer after 0.3 s (phone 5092); 114 never answers (5095).
Customers: HOTLINE_A's carrier answers and stays up, HOTLINE_B's answers and hangs up after 1.5 s (conftest).
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from click2call.webhooks import signing
from lab import labkit

from tests.receiver import Receiver

from .conftest import HOTLINE_A, HOTLINE_B, TOKEN, Service, free_port, service_env
from .helpers import SECRET, agent_invite, leftovers, unique_phone, wait_for

pytestmark = pytest.mark.lab

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
LEASE = 3  # C2C_NODE_LEASE: the replicas renew every second
NODE_DOWN_AFTER = 3
# Not the default node's ports: the session's lab (8088/5060) may be running beside this module. lab.sh gives
# each node its RTP range from its SIP port (5062: 14000-15999, 5063: 16000-17999).
NODES = {"a": {"ari_port": 8091, "sip_port": 5062}, "b": {"ari_port": 8092, "sip_port": 5063}}
POOL_A = [str(e) for e in range(9001, 9021)]
POOL_B = [str(e) for e in range(9101, 9121)]
PHONES = {  # port: (node, scenario, sipp variables, extensions)
    5091: ("a", "uas_answer", {"ring_ms": 300}, ["101", *POOL_A]),
    5092: ("b", "uas_answer", {"ring_ms": 300}, ["102", *POOL_B]),
    5093: ("a", "uas_answer", {"ring_ms": 8000}, ["112", "115", "117"]),  # answer once node a has a new owner
    5094: ("a", "uas_noanswer", {}, ["113"]),
    5095: ("b", "uas_noanswer", {}, ["114"]),
    5096: ("a", "uas_answer", {"ring_ms": 2000}, ["116"]),  # answers while node a has no owner
}
NODE_OF = {ext: node for node, _, _, exts in PHONES.values() for ext in exts}
CONNECTED = [("ringing", "agent"), ("answered", "agent"), ("ringing", "customer"), ("answered", "customer")]


def register_phones(node: str) -> None:
    for port, (at, _, _, exts) in PHONES.items():
        if at == node:
            labkit.register(exts, port, node=node)


def node_alive(node: str) -> bool:
    try:
        pid = int((labkit.node_run_dir(node) / "asterisk.pid").read_text())
    except (OSError, ValueError):
        return False
    return os.path.exists(f"/proc/{pid}")


class Cluster:
    """The replicas r1 and r2 (conftest's Service), HAProxy in front of them, each node's ARI."""

    def __init__(self, envs: dict[str, dict], phones: dict[int, labkit.Sipp], database_url: str,
                 receiver: Receiver, work) -> None:
        self.envs = envs
        self.phones = phones  # port -> the phone's sipp
        self.receiver = receiver
        ports = {"r1": free_port(), "r2": free_port()}
        self.replicas = {name: Service(self.env(name, port, database_url), str(work / f"{name}.log"))
                         for name, port in ports.items()}
        # A clustered replica's /readyz answers 503 while any node has no owner, on every replica at once: for up
        # to a lease renewal (LEASE / 3) whenever a node changes hands. Only a failure that outlasts that takes
        # a replica out (fall x inter = 2 s); one that stops or dies is out at its first refused connection.
        self.lb = labkit.HAProxy(ports, free_port(), check="/readyz", inter_ms=250, fall=8, workdir=work)
        self.aris = {node: httpx.Client(base_url=env["C2C_ARI_URL"] + "/ari", timeout=10,
                                        auth=(env["C2C_ARI_USER"], env["C2C_ARI_PASSWORD"]))
                     for node, env in envs.items()}

    def env(self, name: str, port: int, database_url: str, **extra: str) -> dict:
        """A replica's environment: both nodes (each its own ARI password), the cluster, webhooks to the receiver."""
        nodes = ",".join(f"{node}={env['C2C_ARI_URL']}" for node, env in self.envs.items())
        passwords = {f"C2C_ARI_PASSWORD_{node.upper()}": env["C2C_ARI_PASSWORD"] for node, env in self.envs.items()}
        return service_env({}, **{
            **passwords, "C2C_ASTERISK_NODES": nodes, "C2C_ARI_USER": "click2call", "C2C_ARI_APP": "click2call-cluster",
            "C2C_CLUSTER": "true", "C2C_NODE_LEASE": str(LEASE), "C2C_NODE_DOWN_AFTER": str(NODE_DOWN_AFTER),
            "C2C_ARI_GRACE": "2", "C2C_REPLICA_NAME": name, "C2C_LISTEN": f"127.0.0.1:{port}",
            "C2C_AGENT_CONTEXT": "click2call-stasis",  # an agent answering while no replica runs the node waits
            "LAB_SERVICE_SCOPE": "module",  # replicas (re)started by a test belong to the module's cluster, which stops them
            "C2C_DRAIN_SECONDS": "2.5",  # on SIGTERM, out of HAProxy (fall x inter = 2 s) before it stops accepting
            "C2C_DATABASE_URL": database_url, "C2C_RING_TIMEOUT": "15", "C2C_WEBHOOK_URL": self.receiver.url("/all"),
            "C2C_WEBHOOK_SECRET": SECRET, "C2C_WEBHOOK_BACKOFF": "0.2", "C2C_WEBHOOK_TIMEOUT": "1", **extra})

    # ---- talking to it ----

    def base(self, replica: str | None = None) -> str:
        return self.replicas[replica].base if replica else self.lb.base

    def get(self, path: str, replica: str | None = None, timeout: float = 30, **params) -> httpx.Response:
        return httpx.get(self.base(replica) + path, params=params, headers=HEADERS, timeout=timeout)

    def click(self, ext: str, replica: str | None = None, sync: bool = False, **params) -> httpx.Response:
        params = {"phone": unique_phone(), "hotline": HOTLINE_B, **params, "ext": ext}
        return self.get("/v1/click2call" if sync else "/v1/click2call/async", replica, **params)

    def call_id(self, response: httpx.Response) -> str:
        assert response.status_code == 200 and response.json()["status"] == "success", response.text
        return response.json()["call_id"]

    def hangup(self, call_id: str, replica: str | None = None) -> httpx.Response:
        return httpx.delete(f"{self.base(replica)}/v1/call/{call_id}", headers=HEADERS, timeout=30)

    def record(self, call_id: str, replica: str | None = None) -> dict:
        r = self.get(f"/v1/cdr/{call_id}", replica)
        assert r.status_code == 200, r.text
        return r.json()

    def final(self, call_id: str, timeout: float = 20, replica: str | None = None) -> dict:
        return wait_for(lambda: (rec := self.record(call_id, replica))["status"] != "IN_PROGRESS" and rec, timeout,
                        f"the final record of {call_id}")

    def connected(self, call_id: str, timeout: float = 10) -> dict:
        return wait_for(lambda: (rec := self.record(call_id))["time_answered"] and rec, timeout,
                        f"{call_id} connected")

    def in_progress(self, replica: str | None = None) -> list[dict]:
        r = self.get("/v1/call", replica)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    def view(self, replica: str | None = None) -> dict:
        r = self.get("/v1/cluster", replica, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def owners(self, replica: str | None = None) -> dict[str, str | None]:
        """node -> the name of the replica that owns it (None: nobody)."""
        body = self.view(replica)
        names = {r["id"]: r["name"] for r in body["replicas"]}
        return {n["name"]: names.get(n["owner"], n["owner"]) for n in body["nodes"]}

    def alive(self, replica: str) -> bool:
        proc = self.replicas[replica].proc
        return proc is not None and proc.poll() is None

    def kill(self, replica: str) -> None:
        proc = self.replicas[replica].proc
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    # ---- keeping it whole ----

    def start(self) -> None:
        # One after the other: started at once on a new database, one of them can fail in the migrations
        # (test_replicas_started_at_once_on_a_new_database_all_come_up). The first takes both nodes, then hands
        # one over.
        for svc in self.replicas.values():
            svc.start()
        self.lb.start()
        self.settled()

    def settled(self, timeout: float = 20) -> None:
        """Both replicas running and in HAProxy's rotation, one node each."""
        for name in self.replicas:
            if not self.alive(name):
                self.replicas[name].start()
        # Asked of r1 itself: HAProxy may have both replicas out for a moment, as it starts during a hand-over
        # (its first failed check takes a server out) and until `rise` checks pass.
        wait_for(lambda: sorted(map(str, self.owners("r1").values())) == ["r1", "r2"], timeout,
                 "one node for each replica")
        for name in self.replicas:
            self.lb.wait_status(name, "UP", timeout)

    def stop(self) -> None:
        self.lb.stop()
        for svc in self.replicas.values():
            svc.stop()
        for client in self.aris.values():
            client.close()


@pytest.fixture(scope="module")
def nodes(carriers):
    """Nodes a and b, each with its phones; the carriers (conftest, session) are reached from both."""
    envs = labkit.start_nodes(NODES)
    phones: dict[int, labkit.Sipp] = {}
    try:
        for port, (node, scenario, variables, exts) in PHONES.items():
            phones[port] = labkit.Sipp(scenario, port, vars=variables).start()
            labkit.register(exts, port, node=node)
        yield envs, phones
    finally:
        for phone in phones.values():
            phone.stop()
        for node in NODES:
            labkit.stop(node)


@pytest.fixture(scope="module")
def cluster(nodes, postgres, tmp_path_factory):
    work = tmp_path_factory.mktemp("cluster")
    receiver = Receiver(free_port()).start()
    c = Cluster(*nodes, postgres.new_database(), receiver, work)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        receiver.stop()


@pytest.fixture(autouse=True)
def healthy(cluster):
    """Each test starts on a whole cluster, even after one that failed half-way (a node or replica down)."""
    for node in NODES:
        if not node_alive(node):
            labkit.restart(node)
            register_phones(node)
    cluster.settled()
    for call in cluster.in_progress():
        cluster.hangup(call["call_id"])
    wait_for(lambda: not cluster.in_progress(), 20, "no call in progress")
    yield cluster


def webhooks(receiver: Receiver, call_id: str, timeout: float = 20) -> list[dict]:
    """Each event of the call once (by webhook-id, as first received), once its cdr event and every sequence
    number before it arrived."""
    def complete():
        seen: dict[str, dict] = {}
        for r in receiver.received("/all", call_id):
            seen.setdefault(r["headers"]["webhook-id"], r)
        events = list(seen.values())
        numbers = sorted(e["json"]["sequence"] for e in events)
        done = any(e["json"]["state"] == "cdr" for e in events) and numbers == list(range(1, len(numbers) + 1))
        return events if done else None
    try:
        return wait_for(complete, timeout, f"every webhook of {call_id}")
    except AssertionError:
        got = [(r["json"]["sequence"], r["json"]["state"], r["json"]["leg"])
               for r in receiver.received("/all", call_id)]
        raise AssertionError(f"webhooks of {call_id} incomplete after {timeout}s: {got}") from None


def assert_webhooks(receiver: Receiver, call_id: str, expected: list[tuple[str, str]]) -> list[dict]:
    """Complete, in order (sequence 1, 2, 3 ... as they arrived, no gap), signed, the ones expected."""
    events = webhooks(receiver, call_id)
    assert [e["json"]["sequence"] for e in events] == list(range(1, len(events) + 1)), \
        [(e["json"]["sequence"], e["json"]["state"]) for e in events]
    assert [(e["json"]["state"], e["json"]["leg"]) for e in events] == expected
    for e in events:
        signing.verify(SECRET, e["headers"], e["body"])
    return events


# ---- clicks through the load balancer ----


def test_clicks_through_the_load_balancer_reach_agents_on_both_nodes(cluster, carriers):
    before = {name: int(row["stot"]) for name, row in cluster.lb.servers().items()}
    exts = ["9001", "9101", "9002", "9102", "9003", "9103"]  # a, b, a, b ...: round-robin crosses replicas
    phones = {ext: unique_phone() for ext in exts}
    with ThreadPoolExecutor(len(exts)) as pool:
        answers = list(pool.map(lambda ext: cluster.click(ext, sync=True, phone=phones[ext]), exts))
    calls = {ext: cluster.call_id(r) for ext, r in zip(exts, answers)}
    served = {name: int(row["stot"]) - before[name] for name, row in cluster.lb.servers().items()}
    assert served["r1"] >= 2 and served["r2"] >= 2, served  # both replicas took clicks

    agent_phones = {"a": 5091, "b": 5092}
    for ext, call_id in calls.items():
        node = NODE_OF[ext]
        invite = agent_invite(cluster.phones[agent_phones[node]], call_id)  # the phone registered to that node rang
        assert invite["request_uri"].startswith(f"sip:{ext}@")
        via = invite["headers"]["via"][0]
        assert f"127.0.0.1:{NODES[node]['sip_port']}" in via, via  # sent by that node's Asterisk
        rec = cluster.final(call_id)
        assert (rec["status"], rec["hangup_by"], rec["cause"]) == ("ANSWERED", "customer", "NORMAL_CLEARING"), rec
        assert rec["extension"] == ext and rec["to_number"] == phones[ext] and rec["billsec"] >= 1
        assert rec["time_started"] <= rec["time_answered"] <= rec["time_ended"]
        assert_webhooks(cluster.receiver, call_id, [*CONNECTED, ("hangup", "customer"), ("cdr", "")])
    assert cluster.in_progress() == []


def test_records_webhooks_and_the_cluster_view_name_the_nodes(cluster, carriers):
    calls = {ext: cluster.call_id(cluster.click(ext, hotline=HOTLINE_A)) for ext in ("9007", "9107")}
    for call_id in calls.values():
        cluster.connected(call_id)
    view = cluster.view()
    nodes = {n["name"]: n for n in view["nodes"]}
    assert {name: (n["reachable"], n["calls_in_progress"], n["lease_expires_in"] > 0) for name, n in nodes.items()} \
        == {"a": (True, 1, True), "b": (True, 1, True)}, view
    replicas = {r["id"]: r for r in view["replicas"]}
    assert sorted((r["name"], r["live"]) for r in replicas.values()) == [("r1", True), ("r2", True)], view
    assert sorted(replicas[n["owner"]]["name"] for n in nodes.values()) == ["r1", "r2"], view
    for call_id in calls.values():  # call control through either replica: one runs the call, the other asks it
        for action, replica in (("hold", "r1"), ("unhold", "r2"), ("mute", "r2"), ("unmute", "r1")):
            r = httpx.post(f"{cluster.base(replica)}/v1/call/{call_id}/{action}", json={"legs": "bleg"},
                           headers=HEADERS, timeout=30)
            assert r.status_code == 200, (action, replica, r.text)
        again = httpx.post(f"{cluster.base('r1')}/v1/call/{call_id}/unhold", json={"legs": "bleg"}, headers=HEADERS,
                           timeout=30)
        assert (again.status_code, again.json()["error"]) == (409, "NOT_HELD"), again.text
        assert [a["action"] for a in cluster.record(call_id)["actions"]] == ["hold", "unhold", "mute", "unmute"]
    for call_id in calls.values():
        assert cluster.hangup(call_id).status_code == 200
    named = {call_id: (NODE_OF[ext], cluster.final(call_id).get("node"),
                       {e["json"].get("node") for e in webhooks(cluster.receiver, call_id)})
             for ext, call_id in calls.items()}
    assert all(rec == node and hooks == {node} for node, rec, hooks in named.values()), \
        f"call: (its node, the record's node, the webhooks' nodes): {named}"
    # The phones registered to each node (the carriers' trunks are endpoints too, but no extensions).
    assert {name: n["registered_extensions"] for name, n in nodes.items()} == {"a": 26, "b": 22}, view


def control(cluster: Cluster, call_id: str, action: str, replica: str, **body) -> httpx.Response:
    return httpx.post(f"{cluster.base(replica)}/v1/call/{call_id}/{action}", json=body, headers=HEADERS, timeout=30)


def test_transfer_and_park_through_the_other_replica_and_a_parked_call_outlives_its_owner(cluster, carriers):
    """The replica that does not run the call transfers it and parks it (it asks the owner); then the owner dies:
    the survivor adopts the parked call, its park timer (C2C_PARK_TIMEOUT, 4 s in the lab) goes on and ends it."""
    owner = cluster.owners()["a"]
    other = "r2" if owner == "r1" else "r1"
    call_id = cluster.call_id(cluster.click("9010", hotline=HOTLINE_A))
    cluster.connected(call_id)
    r = control(cluster, call_id, "transfer", other, ext="9011", legs="bleg")
    assert (r.status_code, r.json()) == (200, {"status": "success", "call_id": call_id, "ext": "9011"}), r.text
    wait_for(lambda: cluster.record(call_id)["transferred_to"] == "9011", 15, "the target answering")
    refused = control(cluster, call_id, "transfer", other, ext="9999", legs="bleg")
    assert (refused.status_code, refused.json()["error"]) == (404, "EXTENSION_NOT_FOUND"), refused.text
    r = control(cluster, call_id, "park", other, legs="bleg")
    assert r.status_code == 200, r.text
    again = control(cluster, call_id, "park", owner, legs="bleg")
    assert (again.status_code, again.json()["error"]) == (409, "ALREADY_PARKED"), again.text
    wait_for(lambda: not cluster.aris["a"].get(f"/channels/{call_id}.transfer-1").status_code == 200, 10,
             "the target's leg gone at the park")
    assert [a["action"] for a in cluster.record(call_id)["actions"]] == ["transfer", "park"]

    cluster.kill(owner)
    record = cluster.final(call_id, timeout=25, replica=other)
    assert (record["status"], record["transferred_to"], record["hangup_by"]) == ("ANSWERED", "9011", "system"), record
    seconds = lambda text: time.mktime(time.strptime(text, "%Y-%m-%d %H:%M:%S"))  # noqa: E731 (one zone: both)
    parked = seconds(record["actions"][-1]["time"])
    assert seconds(record["time_ended"]) - parked >= 3, f"ended before the park timer: {record}"
    assert not leftovers(cluster.aris["a"], call_id)
    events = assert_webhooks(cluster.receiver, call_id, [
        *CONNECTED, ("transfer", "transfer"), ("ringing", "transfer"), ("answered", "transfer"),
        ("transfer", "transfer"), ("hangup", "transfer"), ("hangup", ""), ("cdr", "")])
    assert [e["json"].get("status") for e in events if e["json"]["state"] == "transfer"] == ["started", "answered"]
    assert events[-1]["json"]["cdr"]["legs"]["transfers"][0]["target"] == "9011"


def test_replicas_started_at_once_on_a_new_database_all_come_up(cluster, postgres, tmp_path):
    """A deployment starts its replicas together (a host boots, an orchestrator rolls out): on a new database every
    one of them finds the schema missing and runs the migrations; all must come up."""
    database = postgres.new_database()
    fresh = [Service(cluster.env(f"fresh{i}", free_port(), database, C2C_ARI_APP="click2call-fresh"),
                     str(tmp_path / f"fresh{i}.log")) for i in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(svc.start) for svc in fresh]
            failures = [str(f.exception())[-1500:] for f in started if f.exception() is not None]
        assert not failures, "\n".join(failures)
    finally:
        for svc in fresh:
            svc.stop()


# ---- a replica dies ----


def test_sigkill_of_the_replica_owning_node_a_loses_no_call_and_no_webhook(cluster, carriers):
    victim = cluster.owners()["a"]
    survivor = "r2" if victim == "r1" else "r1"
    talking = cluster.call_id(cluster.click("101", hotline=HOTLINE_A))  # stays up until hung up
    cluster.connected(talking)
    ringing = cluster.call_id(cluster.click("113"))  # never answered: rings until hung up
    waiting: dict[str, httpx.Response | Exception] = {}

    def sync_click(ext: str, replica: str | None) -> None:  # 112, 115, 117 answer after 8 s: after the takeover
        try:
            waiting[ext] = cluster.click(ext, replica, sync=True, hotline=HOTLINE_A)
        except httpx.HTTPError as exc:
            waiting[ext] = exc
    threads = {"112": threading.Thread(target=sync_click, args=("112", victim)),  # waits on the replica that dies
               "115": threading.Thread(target=sync_click, args=("115", survivor)),  # waits on the other one
               "117": threading.Thread(target=sync_click, args=("117", None))}  # through HAProxy, on the victim
    threads["112"].start()
    threads["115"].start()
    cluster.lb.set_state(survivor, "maint")  # HAProxy sends 117's request to the victim
    try:
        threads["117"].start()
        calls = lambda: {c["extension"]: c for c in cluster.in_progress(survivor)}  # noqa: E731
        wait_for(lambda: all(calls().get(ext, {}).get("state") == "agent_ringing"
                             for ext in ("112", "113", "115", "117")), 10, "112, 113, 115 and 117 ringing")
    finally:
        cluster.lb.set_state(survivor, "ready")
    cluster.lb.wait_status(survivor, "UP")
    by_ext = {ext: c["call_id"] for ext, c in calls().items()}

    cluster.kill(victim)
    killed = time.monotonic()
    wait_for(lambda: cluster.owners(survivor) == {"a": survivor, "b": survivor}, LEASE * 2 + 3,
             "the survivor owns both nodes")
    taken_over = time.monotonic() - killed
    assert taken_over <= LEASE * 2, f"node a owned again only {taken_over:.1f} s after the SIGKILL"
    listed = {c["call_id"] for c in cluster.in_progress()}  # through HAProxy: the dead replica is skipped
    assert {talking, ringing, by_ext["112"], by_ext["115"], by_ext["117"]} <= listed, listed

    for thread in threads.values():
        thread.join(30)
    # The sync requests that waited on the killed replica died with it: straight to it, the client sees the
    # connection closed without an answer; through HAProxy, a 502 (it does not send a click twice). The one that
    # waited on the survivor got its answer once the agent answered.
    assert isinstance(waiting["112"], httpx.RemoteProtocolError), waiting
    assert isinstance(waiting["117"], httpx.Response) and waiting["117"].status_code == 502, waiting
    assert isinstance(waiting["115"], httpx.Response) and waiting["115"].status_code == 200, waiting
    assert cluster.call_id(waiting["115"]) == by_ext["115"]
    answered = [by_ext["112"], by_ext["115"], by_ext["117"]]
    for call_id in answered:
        cluster.connected(call_id, timeout=15)  # answered (at 8 s) under the new owner; the customer too

    for call_id in (talking, ringing, *answered):
        hung = cluster.hangup(call_id)
        assert hung.status_code == 200 and hung.json()["status"] == "success", hung.text
    for call_id, status in ((talking, "ANSWERED"), (ringing, "CANCELLED"), *((c, "ANSWERED") for c in answered)):
        rec = cluster.final(call_id)
        assert (rec["status"], rec["hangup_by"]) == (status, "api"), rec
        assert rec["time_ended"] and rec["duration"] >= rec["billsec"] >= 0, rec
        assert not leftovers(cluster.aris["a"], call_id)
    assert cluster.in_progress() == []
    for call_id in (talking, *answered):
        assert_webhooks(cluster.receiver, call_id, [*CONNECTED, ("hangup", ""), ("cdr", "")])
    assert_webhooks(cluster.receiver, ringing, [("ringing", "agent"), ("hangup", ""), ("cdr", "")])
    print(f"\nnode a owned again {taken_over:.1f} s after the SIGKILL of {victim}")
    # Last: the README promises the takeover within C2C_NODE_LEASE (0.5 s for this test's polling and a busy machine).
    assert taken_over <= LEASE + 0.5, f"node a owned again {taken_over:.1f} s after the SIGKILL, lease {LEASE} s"


def test_an_agent_who_answers_while_node_a_has_no_owner_is_still_connected(cluster, carriers):
    """Between the SIGKILL of node a's owner and the takeover (up to a lease) no replica listens to node a. An agent
    who answers then must still be put through to the customer once a replica runs node a again."""
    victim = cluster.owners()["a"]
    survivor = "r2" if victim == "r1" else "r1"
    call_id = cluster.call_id(cluster.click("116", survivor, hotline=HOTLINE_A))  # 116 answers after 2 s
    wait_for(lambda: cluster.record(call_id, survivor)["legs"]["agent"]["time_ringing"], 5, "116 ringing")
    cluster.kill(victim)  # its lease was renewed at most LEASE / 3 ago: 116 answers before anyone owns node a
    wait_for(lambda: cluster.owners(survivor)["a"] == survivor, LEASE * 2 + 3, "the survivor owns node a")
    rec = wait_for(lambda: ((r := cluster.record(call_id))["time_answered"] or r["status"] != "IN_PROGRESS") and r,
                   15, "the call connected or ended")
    assert (rec["status"], rec["time_answered"] != "") == ("IN_PROGRESS", True), \
        f"the agent answered while node a had no owner, and the call was lost: {rec}"
    assert cluster.hangup(call_id).status_code == 200
    assert cluster.final(call_id)["status"] == "ANSWERED"


# ---- an Asterisk node dies ----


def test_node_b_dies_only_its_calls_end_and_when_back_calls_flow_again(cluster, carriers):
    on_a = cluster.call_id(cluster.click("9004", hotline=HOTLINE_A))
    on_b = cluster.call_id(cluster.click("9104", hotline=HOTLINE_A))
    cluster.connected(on_a)
    cluster.connected(on_b)

    labkit.crash("b")
    crashed = time.monotonic()
    rec = cluster.final(on_b, timeout=NODE_DOWN_AFTER + 15)
    ended_after = time.monotonic() - crashed
    assert ended_after <= NODE_DOWN_AFTER + 5, f"node b's call ended {ended_after:.1f} s after its Asterisk died"
    assert (rec["status"], rec["hangup_by"], rec["cause"]) == ("ANSWERED", "system", "NETWORK_OUT_OF_ORDER"), rec
    assert rec["time_ended"]
    assert_webhooks(cluster.receiver, on_b, [*CONNECTED, ("hangup", ""), ("cdr", "")])
    # Node a's call goes on: still in progress, both its channels up on node a.
    assert [c["call_id"] for c in cluster.in_progress()] == [on_a]
    assert cluster.record(on_a)["status"] == "IN_PROGRESS"
    for leg in ("agent", "customer"):
        assert cluster.aris["a"].get(f"/channels/{on_a}.{leg}").json()["state"] == "Up"
    refused = cluster.click("9105")
    assert refused.status_code == 503 and refused.json()["error"] == "SERVICE_UNAVAILABLE", refused.text
    assert " b" in refused.json()["message"], refused.json()  # names the node
    assert cluster.call_id(cluster.click("9005", sync=True))  # node a takes clicks as ever
    nodes = {n["name"]: n for n in cluster.view()["nodes"]}
    assert (nodes["a"]["reachable"], nodes["b"]["reachable"]) == (True, False)

    labkit.restart("b")
    register_phones("b")
    again = wait_for(lambda: (r := cluster.click("9106", sync=True)).status_code == 200 and r, 20,
                     "a click on node b again")
    assert cluster.final(cluster.call_id(again))["status"] == "ANSWERED"
    assert_webhooks(cluster.receiver, cluster.call_id(again), [*CONNECTED, ("hangup", "customer"), ("cdr", "")])
    assert {n["name"]: n["reachable"] for n in cluster.view()["nodes"]} == {"a": True, "b": True}
    hung = cluster.hangup(on_a)
    assert hung.status_code == 200, hung.text
    assert (cluster.final(on_a)["hangup_by"], cluster.record(on_a)["status"]) == ("api", "ANSWERED")
    assert_webhooks(cluster.receiver, on_a, [*CONNECTED, ("hangup", ""), ("cdr", "")])
    print(f"\nnode b's call ended {ended_after:.1f} s after its Asterisk was killed")


# ---- one call per extension, cluster-wide ----


def test_the_same_extension_clicked_on_both_replicas_at_once_rings_once(cluster):
    outcomes = []
    for round_ in range(20):
        ext = "113" if round_ % 2 == 0 else "114"  # a node of each replica in turn; neither phone answers
        start = threading.Barrier(2)

        def click(replica: str) -> httpx.Response:
            start.wait()
            return cluster.click(ext, replica)
        with ThreadPoolExecutor(2) as pool:
            answers = dict(zip(("r1", "r2"), pool.map(click, ("r1", "r2"))))
        won = [name for name, r in answers.items() if r.status_code == 200]
        lost = [r.json().get("error") for r in answers.values() if r.status_code != 200]
        outcomes.append((ext, won, lost))
        assert len(won) == 1 and lost == ["USER_BUSY"], (round_, {n: r.text for n, r in answers.items()})
        call_id = cluster.call_id(answers[won[0]])
        assert cluster.hangup(call_id, won[0]).status_code == 200
        wait_for(lambda: not leftovers(cluster.aris[NODE_OF[ext]], call_id), 10, f"{call_id} gone from Asterisk")
    print("\nwinners: " + " ".join(f"{ext}:{won[0]}" for ext, won, _ in outcomes))


# ---- upgrading one replica at a time ----


def test_rolling_restart_under_a_steady_stream_of_clicks_fails_none(cluster, carriers):
    exts = itertools.cycle([e for pair in zip(POOL_A, POOL_B) for e in pair])  # each reused only every ~13 s
    results: list[tuple[str, bool, httpx.Response | Exception]] = []
    stop = threading.Event()

    def one(ext: str, sync: bool) -> None:
        try:
            results.append((ext, sync, cluster.click(ext, sync=sync)))
        except httpx.HTTPError as exc:
            results.append((ext, sync, exc))

    def stream() -> None:
        with ThreadPoolExecutor(8) as pool:
            for n in itertools.count():
                if stop.is_set():
                    break
                pool.submit(one, next(exts), n % 2 == 0)  # sync and async in turn
                time.sleep(1 / 3)
    streaming = threading.Thread(target=stream)
    streaming.start()
    timings = {}
    try:
        time.sleep(2)
        for name in ("r1", "r2"):
            began = time.monotonic()
            cluster.replicas[name].stop()  # SIGTERM: requests in flight finish, then its nodes are freed
            assert cluster.replicas[name].proc.returncode == 0
            cluster.replicas[name].start()  # waits for its /readyz
            cluster.lb.wait_status(name, "UP")
            timings[name] = time.monotonic() - began
        time.sleep(2)
    finally:
        stop.set()
        streaming.join(60)
    failed = [(ext, sync, r if isinstance(r, Exception) else f"{r.status_code} {r.text}")
              for ext, sync, r in results if isinstance(r, Exception) or r.status_code != 200]
    assert not failed, f"{len(failed)} of {len(results)} clicks failed: {failed}\n{cluster.lb.log()[-3000:]}"
    assert len(results) >= 30
    calls = {r.json()["call_id"]: ext for ext, _, r in results}
    left = lambda: set(calls) & {c["call_id"] for c in cluster.in_progress()}  # noqa: E731
    try:  # the last calls take ~2.5 s to end
        wait_for(lambda: not left(), 20, "every call ended")
    except AssertionError:
        raise AssertionError(f"records still IN_PROGRESS 20 s after the stream: {left()}") from None
    records = {(ext, call_id): cluster.record(call_id) for call_id, ext in calls.items()}
    # And none was cut: every agent and customer talked, the customer hung up. A customer's BYE that comes in the
    # moment of a hand-over (no owner has the node's events) is not seen, and the call is closed by the next owner
    # from the channels, as the README says: system, Q.850 38; the call still talked to its end.
    seen_or_unseen_hangup = {("ANSWERED", "customer", "NORMAL_CLEARING"), ("ANSWERED", "system", "NETWORK_OUT_OF_ORDER")}
    cut = {f"{ext} {call_id}": (rec["status"], rec["hangup_by"], rec["cause"]) for (ext, call_id), rec in records.items()
           if (rec["status"], rec["hangup_by"], rec["cause"]) not in seen_or_unseen_hangup}
    assert not cut, f"{len(cut)} of {len(records)} calls did not end as talked and hung up by the customer: {cut}"
    print(f"\n{len(results)} clicks, none failed; restart of each replica (SIGTERM to in HAProxy again): "
          + ", ".join(f"{n} {t:.1f} s" for n, t in timings.items()))
