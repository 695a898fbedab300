# network.mode "transparent", its DNS half: srt's responder inside the sandbox answers allowed names with addresses of its own, refuses the others with NXDOMAIN and a violation, and the sandbox's resolv.conf and hosts name it whatever the host's say.
#
# srt runs in netutil's private mount namespace, whose /etc/hosts maps the
# test names (*.test) to 127.0.0.1 and whose resolv.conf names a loopback
# address where nothing listens: srt's supervisor looks the names up there
# and nowhere else. Nothing here uses an address outside loopback.
import json
import os
import re

import pytest

import netutil

PY_INSIDE = "/usr/bin/python3"

# 198.18.0.0/15, the range the responder hands out.
HANDED = "198.18."
HANDED_V4 = ("198.18.", "198.19.")


@pytest.fixture
def net(ctx):
    n = netutil.Net(ctx)
    yield n
    n.close()


def transparent(*allowed, denied=(), **extra):
    net = {"mode": "transparent", "allowedDomains": list(allowed)}
    if denied:
        net["deniedDomains"] = list(denied)
    net.update(extra)
    return {"network": net}


def events(net, args, settings, opts=()):
    path = os.path.join(net.ctx.root, "events-%s.jsonl" % net.ctx.token())
    r = net.run(args, settings=settings, opts=["--events", path] + list(opts))
    evs = []
    if os.path.exists(path):
        with open(path) as f:
            evs = [json.loads(l) for l in f.read().splitlines() if l]
    return r, [e for e in evs if e["event"] == "violation"]


def ahosts(out):
    """Addresses of `getent ahosts` output."""
    return sorted({line.split()[0] for line in out.splitlines() if line.strip()})


def test_allowed_name_gets_a_handed_out_address(net):
    r = net.sh("getent ahosts good.test", settings=transparent("good.test"))
    assert r.rc == 0, r
    addrs = ahosts(r.out)
    assert addrs, r
    # Never the host's answer (127.0.0.1), only the responder's own.
    assert all(a.startswith(HANDED_V4) or a.startswith("fd53:7274:7300:") for a in addrs), r
    assert any(a.startswith(HANDED_V4) for a in addrs), r
    assert "127.0.0.1" not in addrs, r


def v4_of(out):
    return [a for a in ahosts(out) if a.startswith(HANDED_V4)]


def test_same_name_same_address_other_name_other_address(net):
    # ahosts, not ahostsv4: that asks with AI_ADDRCONFIG, and a sandbox
    # with loopback alone has no IPv4 address that counts for it.
    r = net.sh("getent ahosts good.test; echo ===; getent ahosts good.test; echo ===; getent ahosts other.test",
               settings=transparent("good.test", "other.test"))
    assert r.rc == 0, r
    a, b, c = [v4_of(part) for part in r.out.split("===")]
    assert len(a) == 1 and a == b and c and c != a, r


def test_denied_name_gets_no_address_and_a_violation(net):
    r, v = events(net, ["sh", "-c", "getent ahosts evil.test; echo rc=$?"],
                  transparent("good.test", "evil.test", denied=["evil.test"]))
    assert "rc=2" in r.out, r  # getent: not found
    assert HANDED not in r.out, r
    res = [e for e in v if e["operation"] == "resolve"]
    assert len(res) == 1, v
    assert res[0]["kind"] == "network" and res[0]["target"] == "evil.test", res
    assert "deniedDomains: evil.test" in res[0]["rule"], res
    assert "denied resolve evil.test" in r.err, r


def test_name_not_in_allowed_domains_gets_no_address(net):
    r, v = events(net, ["sh", "-c", "getent ahosts other.test; echo rc=$?"], transparent("good.test"))
    assert "rc=2" in r.out, r
    assert HANDED not in r.out, r
    res = [e for e in v if e["operation"] == "resolve"]
    assert len(res) == 1 and res[0]["target"] == "other.test", v
    assert res[0]["rule"] == "no allowedDomains entry matches", res


def test_name_the_host_cannot_resolve_is_no_violation(net):
    """nowhere.test is in no hosts file and the host's nameserver is
    silent: NXDOMAIN or a failure, never an address, and no report (the
    name is allowed; it just does not exist)."""
    r, v = events(net, ["sh", "-c", "getent ahosts nowhere.test; echo rc=$?"], transparent("nowhere.test"))
    assert r.rc == 0 and "rc=" in r.out, r
    assert "rc=0" not in r.out and HANDED not in r.out, r
    assert [e for e in v if e["operation"] == "resolve"] == [], v


def test_python_getaddrinfo_agrees(net):
    code = ("import json, socket\n"
            "out = {}\n"
            "for n in ('good.test', 'evil.test', 'other.test'):\n"
            "    try:\n"
            "        out[n] = sorted({a[4][0] for a in socket.getaddrinfo(n, 443, socket.AF_INET,"
            " socket.SOCK_STREAM)})\n"
            "    except socket.gaierror as e:\n"
            "        out[n] = 'error %d' % e.errno\n"
            "print('RESULT ' + json.dumps(out))\n")
    r = net.run([PY_INSIDE, "-c", code], settings=transparent("good.test", "evil.test", denied=["evil.test"]))
    assert r.rc == 0, r
    line = [l for l in r.out.splitlines() if l.startswith("RESULT ")]
    assert line, r
    res = json.loads(line[0][len("RESULT "):])
    assert len(res["good.test"]) == 1 and res["good.test"][0].startswith(HANDED_V4), res
    assert isinstance(res["evil.test"], str) and res["evil.test"].startswith("error"), res
    assert isinstance(res["other.test"], str), res


def test_resolv_conf_names_srt_and_cannot_be_written(net):
    r = net.sh("cat /etc/resolv.conf; echo ===; (echo 'nameserver 10.0.0.1' > /etc/resolv.conf) 2>&1; "
               "echo rc=$?; (rm -f /etc/resolv.conf) 2>&1; echo ===; cat /etc/resolv.conf",
               settings=transparent("good.test"))
    before, _, after = r.out.partition("===")
    servers = [l.split()[1] for l in before.splitlines() if l.startswith("nameserver")]
    assert servers == ["127.0.0.1"], r
    assert "rc=0" not in r.out, r
    assert "10.0.0.1" not in after.split("===")[-1], r
    assert "nameserver 127.0.0.1" in after.split("===")[-1], r


def test_hosts_has_only_the_localhost_lines(net):
    """Only the sandbox's own loopback: localhost, and the sandbox's own
    host name (127.0.1.1 and ::1, as Debian writes it)."""
    r = net.sh("cat /etc/hosts; echo ===; getent hosts localhost; echo ===; hostname",
               settings=transparent("good.test"))
    assert r.rc == 0, r
    hosts, _, rest = r.out.partition("===")
    lookup, _, own = rest.partition("===")
    names = set()
    for line in hosts.splitlines():
        line = line.split("#")[0].split()
        if line:
            assert line[0] in ("127.0.0.1", "::1", "127.0.1.1"), r
            names.update(line[1:])
    assert names <= {"localhost", "ip6-localhost", "ip6-loopback", own.strip()}, r
    assert "good.test" not in hosts, r
    assert "127.0.0.1" in lookup or "::1" in lookup, r


def test_cli_flag_turns_it_on(net):
    r = net.sh("cat /etc/resolv.conf; getent ahosts good.test", settings={"network": {"allowedDomains": ["good.test"]}},
               opts=["--network", "transparent"])
    assert r.rc == 0, r
    assert "nameserver 127.0.0.1" in r.out, r
    assert any(h in r.out for h in HANDED_V4), r


def test_proxy_mode_is_unchanged(net):
    """The default: the sandbox sees the namespace's own files, and a
    program that resolves itself cannot (nothing answers inside)."""
    r = net.sh("cat /etc/resolv.conf; echo ===; cat /etc/hosts; echo ===; getent ahosts good.test; echo rc=$?",
               settings={"network": {"allowedDomains": ["good.test"]}})
    resolv, hosts, lookup = r.out.split("===")
    assert "nameserver %s" % net.nameserver in resolv, r
    assert "good.test" in hosts, r
    # The namespace's hosts file answers it (127.0.0.1): no responder involved.
    assert HANDED not in lookup, r
    r = net.sh("cat /etc/resolv.conf", settings={"network": {"mode": "proxy", "allowedDomains": ["good.test"]}})
    assert "nameserver %s" % net.nameserver in r.out, r


def test_bad_mode_is_refused(net):
    r = net.sh("echo ran", settings={"network": {"mode": "direct"}})
    assert r.rc == 125 and "ran" not in r.out, r
    assert "network.mode: expected \"proxy\" or \"transparent\", found 'direct'" in r.err, r
    r = net.sh("echo ran", settings={}, opts=["--network", "direct"])
    assert r.rc == 125 and "ran" not in r.out, r
    assert "--network takes proxy or transparent" in r.err, r


def test_check_shows_the_mode_and_where_it_was_set(ctx):
    r = ctx.run(["check"], settings={"network": {"mode": "transparent"}})
    assert r.rc == 0, r
    assert re.search(r"  mode transparent \(srt answers names at 127\.0\.0\.1:53 inside\) <- .*:\d+:\d+: network\.mode",
                     r.out), r
    r = ctx.run(["check"], settings={})
    assert re.search(r"  mode proxy +<- default", r.out), r
