"""Where a hook made through the API may send (webhooks/destinations.py), pure: every spelling of an address that is not
global is refused, over IPv4 and IPv6, unless an allowed network holds it. Only the policy is asked here: none of these
addresses is ever given to a running service (the API tests use loopback ones alone)."""

from __future__ import annotations

import socket
from ipaddress import ip_address, ip_network

import pytest
from hypothesis import given, strategies as st

from click2call.webhooks.destinations import Kind, Policy, Reach, inet_aton, kind, url_host

NOTHING_ALLOWED = Policy()


def refusal(url: str, policy: Policy = NOTHING_ALLOWED) -> str | None:
    return policy.host_refusal(url_host(url))


@pytest.mark.parametrize("url, address, what", [
    # loopback, in every spelling a resolver takes
    ("http://127.0.0.1/", "127.0.0.1", Kind.LOOPBACK),
    ("http://127.0.0.1:8080/x", "127.0.0.1", Kind.LOOPBACK),
    ("http://127.1/", "127.0.0.1", Kind.LOOPBACK),
    ("http://2130706433/", "127.0.0.1", Kind.LOOPBACK),
    ("http://0x7f000001/", "127.0.0.1", Kind.LOOPBACK),
    ("http://0X7F.1/", "127.0.0.1", Kind.LOOPBACK),
    ("http://0177.0.0.1/", "127.0.0.1", Kind.LOOPBACK),
    ("http://017700000001/", "127.0.0.1", Kind.LOOPBACK),
    ("http://127.254.3.9/", "127.254.3.9", Kind.LOOPBACK),
    ("http://[::1]/", "::1", Kind.LOOPBACK),
    ("http://[0:0:0:0:0:0:0:1]:9/", "::1", Kind.LOOPBACK),
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1 (IPv4 127.0.0.1)", Kind.LOOPBACK),
    ("http://[::ffff:7f00:1]/", "::ffff:7f00:1 (IPv4 127.0.0.1)", Kind.LOOPBACK),
    ("http://[64:ff9b::127.0.0.1]/", "64:ff9b::7f00:1 (IPv4 127.0.0.1)", Kind.LOOPBACK),  # NAT64
    ("http://[2002:7f00:1::1]/", "2002:7f00:1::1 (IPv4 127.0.0.1)", Kind.LOOPBACK),  # 6to4
    # link-local: the cloud metadata service among them
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", Kind.LINK_LOCAL),
    ("http://0xa9fea9fe/", "169.254.169.254", Kind.LINK_LOCAL),
    ("http://2852039166/", "169.254.169.254", Kind.LINK_LOCAL),
    ("http://[::ffff:169.254.169.254]/", "::ffff:a9fe:a9fe (IPv4 169.254.169.254)", Kind.LINK_LOCAL),
    ("http://169.254.1.1/", "169.254.1.1", Kind.LINK_LOCAL),
    ("http://[fe80::1]/", "fe80::1", Kind.LINK_LOCAL),
    ("http://[fe80::1%25eth0]/", "fe80::1%eth0", Kind.LINK_LOCAL),
    ("http://[febf::1]/", "febf::1", Kind.LINK_LOCAL),
    # private
    ("http://10.0.0.1/", "10.0.0.1", Kind.PRIVATE),
    ("http://10.1/", "10.0.0.1", Kind.PRIVATE),
    ("http://167772161/", "10.0.0.1", Kind.PRIVATE),
    ("http://172.16.5.4/", "172.16.5.4", Kind.PRIVATE),
    ("http://172.31.255.255/", "172.31.255.255", Kind.PRIVATE),
    ("http://192.168.1.1/", "192.168.1.1", Kind.PRIVATE),
    ("http://0300.0250.1.1/", "192.168.1.1", Kind.PRIVATE),
    ("http://[::ffff:10.0.0.1]/", "::ffff:a00:1 (IPv4 10.0.0.1)", Kind.PRIVATE),
    ("http://[fd12:3456::1]/", "fd12:3456::1", Kind.PRIVATE),
    ("http://[fc00::1]/", "fc00::1", Kind.PRIVATE),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254", Kind.PRIVATE),  # AWS's metadata over IPv6
    ("http://[fec0::1]/", "fec0::1", Kind.PRIVATE),  # site-local (deprecated)
    # shared (carrier-grade NAT)
    ("http://100.64.0.1/", "100.64.0.1", Kind.SHARED),
    ("http://100.127.255.254/", "100.127.255.254", Kind.SHARED),
    ("http://[64:ff9b::100.64.0.1]/", "64:ff9b::6440:1 (IPv4 100.64.0.1)", Kind.SHARED),
    # multicast
    ("http://224.0.0.1/", "224.0.0.1", Kind.MULTICAST),
    ("http://239.255.255.250/", "239.255.255.250", Kind.MULTICAST),
    ("http://[ff02::1]/", "ff02::1", Kind.MULTICAST),
    # unspecified (a connection to it reaches this host)
    ("http://0.0.0.0/", "0.0.0.0", Kind.UNSPECIFIED),
    ("http://0/", "0.0.0.0", Kind.UNSPECIFIED),
    ("http://[::]/", "::", Kind.UNSPECIFIED),
    ("http://[::ffff:0.0.0.0]/", "::ffff:0:0 (IPv4 0.0.0.0)", Kind.UNSPECIFIED),
    # reserved and other special purposes
    ("http://0.1.2.3/", "0.1.2.3", Kind.RESERVED),
    ("http://255.255.255.255/", "255.255.255.255", Kind.RESERVED),
    ("http://0xffffffff/", "255.255.255.255", Kind.RESERVED),
    ("http://240.0.0.1/", "240.0.0.1", Kind.RESERVED),
    ("http://192.0.0.8/", "192.0.0.8", Kind.RESERVED),
    ("http://192.0.2.1/", "192.0.2.1", Kind.RESERVED),
    ("http://198.18.0.1/", "198.18.0.1", Kind.RESERVED),
    ("http://198.51.100.7/", "198.51.100.7", Kind.RESERVED),
    ("http://203.0.113.9/", "203.0.113.9", Kind.RESERVED),
    ("http://192.88.99.1/", "192.88.99.1", Kind.RESERVED),
    ("http://[2001:db8::1]/", "2001:db8::1", Kind.RESERVED),
    ("http://[3fff::1]/", "3fff::1", Kind.RESERVED),
    ("http://[2001::1]/", "2001::1", Kind.RESERVED),  # Teredo
    ("http://[::127.0.0.1]/", "::7f00:1", Kind.RESERVED),  # IPv4-compatible (deprecated)
    ("http://[100::1]/", "100::1", Kind.RESERVED),  # discard-only
    ("http://[64:ff9b:1::1]/", "64:ff9b:1::1", Kind.RESERVED),  # local-use NAT64
    ("http://[5f00::1]/", "5f00::1", Kind.RESERVED),  # outside 2000::/3
])
def test_every_spelling_of_an_address_that_is_not_global_is_refused(url, address, what):
    why = refusal(url)
    assert why is not None and (why.endswith(what) or why.endswith(f"{what} (a cloud metadata service)")), why
    assert address in why, why


@pytest.mark.parametrize("url", [
    "http://8.8.8.8/", "http://134744072/", "http://0x08080808/", "https://1.1.1.1:8443/x",
    "http://[2606:4700:4700::1111]/", "http://[::ffff:8.8.8.8]/", "http://[64:ff9b::8.8.8.8]/",
    "http://[2002:808:808::1]/", "http://100.63.255.255/", "http://100.128.0.1/", "http://172.32.0.1/",
    "http://192.169.0.1/", "http://169.255.0.1/", "http://223.255.255.255/",
    "https://crm.example.com/hook",  # a name: judged by what it resolves to, when it is resolved
])
def test_global_addresses_and_names_pass_the_host_check(url):
    assert refusal(url) is None


def test_a_refusal_names_the_host_as_written_and_the_address_it_is():
    assert refusal("http://127.0.0.1/") == "127.0.0.1 is a loopback address"
    assert refusal("http://2130706433/") == "2130706433 is 127.0.0.1, a loopback address"
    assert refusal("http://0x7f000001/") == "0x7f000001 is 127.0.0.1, a loopback address"
    assert refusal("http://[::1]:80/") == "[::1] is a loopback address"
    assert refusal("http://[::ffff:127.0.0.1]/") == (
        "[::ffff:127.0.0.1] is ::ffff:7f00:1 (IPv4 127.0.0.1), a loopback address")
    assert refusal("http://169.254.169.254/") == (
        "169.254.169.254 is a link-local address (a cloud metadata service)")
    assert NOTHING_ALLOWED.refusal(ip_address("10.0.0.1")) == "10.0.0.1, a private address"


def test_an_allowed_network_lets_its_addresses_through_in_any_spelling_and_no_others():
    lan = Policy((ip_network("10.1.0.0/16"),))
    assert refusal("http://10.1.2.3/", lan) is None
    assert refusal("http://167838211/", lan) is None  # 10.1.2.3
    assert refusal("http://[::ffff:10.1.2.3]/", lan) is None  # reaches 10.1.2.3
    assert refusal("http://10.2.0.1/", lan) == "10.2.0.1 is a private address"
    assert refusal("http://127.0.0.1/", lan) == "127.0.0.1 is a loopback address"
    assert refusal("http://8.8.8.8/", lan) is None  # global addresses stay allowed
    loopback = Policy((ip_network("127.0.0.0/8"),))
    assert refusal("http://2130706433/", loopback) is None and refusal("http://[::ffff:127.0.0.1]/", loopback) is None
    assert refusal("http://[::1]/", loopback) == "[::1] is a loopback address"  # IPv6 loopback: not in 127.0.0.0/8
    v6 = Policy((ip_network("fd00::/8"),))
    assert refusal("http://[fd12::1]/", v6) is None and refusal("http://[fc00::1]/", v6) is not None
    one = Policy((ip_network("127.0.0.2/32"),))
    assert refusal("http://127.0.0.2/", one) is None and refusal("http://127.0.0.1/", one) is not None


def test_each_tenant_reaches_everyones_networks_and_its_own():
    reach = Reach((ip_network("10.0.0.0/24"),), {"acme": (ip_network("192.168.5.0/24"),)})
    assert reach.policy(None) == Policy((ip_network("10.0.0.0/24"),))  # the operator: everyone's only
    assert reach.policy("acme").refusal(ip_address("192.168.5.9")) is None
    assert reach.policy("acme").refusal(ip_address("10.0.0.9")) is None
    assert reach.policy("beta").refusal(ip_address("192.168.5.9")) == "192.168.5.9, a private address"
    assert reach.policy(None).refusal(ip_address("192.168.5.9")) is not None


def test_kinds_of_plain_addresses():
    assert kind(ip_address("93.184.216.34")) is None and kind(ip_address("2a00:1450:4001::1")) is None
    assert kind(ip_address("127.0.0.1")) is Kind.LOOPBACK and kind(ip_address("::1")) is Kind.LOOPBACK


@given(st.text(alphabet="0123456789abcdefxX.", max_size=24))
def test_numbers_are_read_as_the_resolver_reads_them(text):
    """inet_aton() agrees with the C library's inet_aton (what getaddrinfo uses for a numeric host) on every
    string of digits, hex letters, x and dots: the same address, or none."""
    try:
        theirs = socket.inet_aton(text)
    except OSError:
        theirs = None
    ours = inet_aton(text)
    assert (ours.packed if ours is not None else None) == theirs


@pytest.mark.parametrize("text", ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "0x7f.0.1"])
def test_the_resolver_takes_these_numbers_for_loopback(text):
    """What getaddrinfo makes of them (numeric hosts only: no lookup is made)."""
    [(*_, (host, _port))] = socket.getaddrinfo(text, 80, socket.AF_INET, socket.SOCK_STREAM,
                                               flags=socket.AI_NUMERICHOST)
    assert host == "127.0.0.1" == str(inet_aton(text))
