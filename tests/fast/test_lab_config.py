"""The lab's pure logic: config, inventory, state file, parsers, command lines, error lines.

Nothing here needs root, a namespace or a host.
"""

from __future__ import annotations

import ipaddress
import json
import runpy
from collections.abc import Sequence
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.lab import aptsources, cgroups, lifecycle, machine, network, rootfs, ssh, system
from homelab.lab import cli as lab_cli
from homelab.lab.config import (
    BRIDGE,
    DEFAULT_INVENTORY,
    DEFAULT_SUBNET,
    NAT_TAG,
    PROCESS_MARK,
    UV_CACHE_IN_HOST,
    ConfigError,
    LabConfig,
    inventory_hosts,
    load_config,
    parse_subnet,
)
from homelab.lab.errors import LabError
from homelab.lab.mounts import mounts_under
from homelab.lab.state import HostRun, LabState, StateError

ENV_NAMES = ("HOMELAB_LAB_DIR", "HOMELAB_LAB_CACHE", "HOMELAB_LAB_SUBNET")


@pytest.fixture(autouse=True)
def default_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inventory files call load_config() themselves: give them the default lab."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def write_inventory(path: Path, body: str) -> Path:
    path.write_text("from homelab.lab.config import load_config\n\n_lab = load_config()\n" + body)
    return path


@pytest.fixture
def config(tmp_path: Path) -> LabConfig:
    """A lab in a temporary directory, running three hosts of a temporary inventory."""
    inventory = write_inventory(
        tmp_path / "inventory.py", 'homelab = _lab.inventory(("alpha", "beta", "gamma"))\n'
    )
    return load_config(
        {"HOMELAB_LAB_DIR": str(tmp_path / "lab"), "HOMELAB_LAB_CACHE": str(tmp_path / "cache")},
        inventory=inventory,
    )


# Config and inventory ----------------------------------------------------------------


def test_defaults_put_the_lab_on_its_own_private_range() -> None:
    cfg = load_config({})
    assert cfg.lab_dir == Path("/var/lib/homelab-lab")
    assert cfg.cache_dir == Path("/var/cache/homelab-lab")
    assert str(cfg.subnet) == DEFAULT_SUBNET
    assert cfg.bridge == BRIDGE
    assert cfg.gateway == "10.213.7.1"
    assert cfg.inventory_file == DEFAULT_INVENTORY
    # The lab's hosts are the ones lab/inventory.py lists, at the addresses it derives.
    assert cfg.addresses == {"mini": "10.213.7.11", "studio": "10.213.7.12", "mac2": "10.213.7.13"}


def test_addresses_follow_the_place_in_the_inventory() -> None:
    cfg = load_config({"HOMELAB_LAB_SUBNET": "172.20.5.0/24"})
    names = [f"h{i}" for i in range(20)]
    entries = cfg.inventory(names)
    assert [name for name, _ in entries] == names
    addresses = [ipaddress.IPv4Address(data["ssh_hostname"]) for _, data in entries]
    assert addresses[:3] == [ipaddress.IPv4Address(f"172.20.5.{n}") for n in (11, 12, 13)]
    assert len(set(addresses)) == len(names)
    assert all(a in cfg.subnet for a in addresses)
    assert cfg.gateway not in map(str, addresses)
    # A host added at the end moves no other host's address.
    assert cfg.inventory(names[:2]) == entries[:2]


def test_the_last_lab_address_is_below_the_broadcast() -> None:
    cfg = load_config({})
    assert cfg.host_address(243) == "10.213.7.254"
    with pytest.raises(ConfigError, match="addresses for 244 hosts"):
        cfg.host_address(244)
    with pytest.raises(ConfigError):
        cfg.host_address(-1)


@pytest.mark.parametrize(
    ("names", "says"),
    [
        (("mini", "mini"), "more than once"),
        (("Mini",), "not a lowercase hostname"),
        (("mini_2",), "not a lowercase hostname"),
        (("-mini",), "not a lowercase hostname"),
        (("",), "not a lowercase hostname"),
    ],
)
def test_inventory_refuses_names_the_lab_cannot_use(names: tuple[str, ...], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load_config({}).inventory(names)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("192.168.1.0/24", "real homelab's LAN"),
        ("10.0.0.0/16", "must be a /24"),
        ("8.8.8.0/24", "private range"),
        ("not-a-net", "not an IPv4 network"),
        ("10.213.7.5/24", "not an IPv4 network"),
    ],
)
def test_subnet_override_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_subnet(text)


def test_environment_moves_dirs_and_range(tmp_path: Path) -> None:
    cfg = load_config(
        {
            "HOMELAB_LAB_DIR": str(tmp_path / "a"),
            "HOMELAB_LAB_CACHE": str(tmp_path / "b"),
            "HOMELAB_LAB_SUBNET": "10.9.9.0/24",
        }
    )
    assert cfg.host_root("mini") == tmp_path / "a" / "hosts" / "mini"
    assert cfg.ssh_key == tmp_path / "a" / "ssh" / "id_ed25519"
    assert cfg.uv_cache == tmp_path / "b" / "uv"
    assert cfg.host_address(1) == "10.9.9.12"


def test_inventory_data_is_strict_and_non_interactive(config: LabConfig) -> None:
    data = config.inventory_data("beta", 1)
    assert data["ssh_hostname"] == config.address("beta") == "10.213.7.12"
    assert data["ssh_user"] == "root"
    assert data["ssh_key"] == str(config.ssh_key)
    assert data["ssh_known_hosts_file"] == str(config.known_hosts)
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["uv_cache_dir"] == UV_CACHE_IN_HOST


def groups(namespace: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in namespace.items() if isinstance(v, list) and not k.startswith("_")}


def test_lab_inventory_is_one_group_of_hosts_at_lab_addresses() -> None:
    lab = runpy.run_path(str(PROJECT_ROOT / "lab" / "inventory.py"))
    assert list(groups(lab)) == ["homelab"]
    cfg = load_config({})
    entries = lab["homelab"]
    assert [name for name, _ in entries] == ["mini", "studio", "mac2"]
    for i, (name, data) in enumerate(entries):
        assert data == cfg.inventory_data(name, i)
        assert ipaddress.IPv4Address(data["ssh_hostname"]) in cfg.subnet
    # Every real host has its twin in the lab (read, never contacted).
    real = inventory_hosts(runpy.run_path(str(PROJECT_ROOT / "inventory.py")))
    assert set(real) <= {name for name, _ in entries}
    assert not any(str(d["ssh_hostname"]).startswith("192.168.") for _, d in entries)


def test_previous_lab_inventory_has_the_same_hosts() -> None:
    lab = runpy.run_path(str(PROJECT_ROOT / "lab" / "inventory.py"))
    previous = runpy.run_path(str(PROJECT_ROOT / "lab" / "previous" / "inventory.py"))
    assert groups(previous) == groups(lab)


def test_hosts_are_read_from_every_group_in_order(tmp_path: Path) -> None:
    path = write_inventory(
        tmp_path / "inv.py",
        'web = _lab.inventory(("b", "a"))\n'
        'both = [("a", {"ssh_hostname": "10.213.7.12", "extra": 1}), ("c", {"ssh_hostname":'
        ' "10.213.7.20"})]\n'
        '_hidden = [("z", {"ssh_hostname": "10.213.7.30"})]\n'
        "ports = [1, 2]\n"
        'names = ["x", ("y", 1)]\n',
    )
    cfg = load_config({}, inventory=path)
    assert cfg.hosts == {"b": "10.213.7.11", "a": "10.213.7.12", "c": "10.213.7.20"}
    assert cfg.address("c") == "10.213.7.20"
    with pytest.raises(ConfigError, match=r"lists no host 'z'"):
        cfg.address("z")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "lists no host"),
        ('homelab = ["bare"]\n', "'bare' has no ssh_hostname"),
        ('homelab = [("m", {"ssh_hostname": "192.168.1.71"})]\n', "outside the lab's"),
        ('homelab = [("m", {"ssh_hostname": "mini.lan"})]\n', "not an address of the lab's"),
        ('homelab = [("m", {"ssh_hostname": "10.213.7.1"})]\n', "the lab bridge's address"),
        ('homelab = [("m", {"ssh_hostname": "10.213.7.255"})]\n', "outside the lab's"),
        (
            'homelab = [("m", {"ssh_hostname": "10.213.7.9"}), ("n", {"ssh_hostname": '
            '"10.213.7.9"})]\n',
            "'m' and 'n' share 10.213.7.9",
        ),
        ('homelab = [("M", {"ssh_hostname": "10.213.7.9"})]\n', "not a lowercase hostname"),
        ("raise RuntimeError('half-edited')\n", "RuntimeError: half-edited"),
    ],
)
def test_an_inventory_the_lab_cannot_run_is_refused(tmp_path: Path, body: str, says: str) -> None:
    cfg = load_config({}, inventory=write_inventory(tmp_path / "inv.py", body))
    with pytest.raises(ConfigError, match=says):
        _ = cfg.hosts


def test_the_real_inventory_is_never_a_lab(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="runs only its own hosts"):
        _ = load_config({}, inventory=PROJECT_ROOT / "inventory.py").hosts
    with pytest.raises(ConfigError, match="no inventory at"):
        _ = load_config({}, inventory=tmp_path / "none.py").hosts


# What up changes on a running lab ------------------------------------------------------


LAB3 = {"mini": "10.213.7.11", "studio": "10.213.7.12", "mac2": "10.213.7.13"}


def test_up_boots_only_a_host_added_to_the_inventory() -> None:
    plan = lifecycle.changes({"mini": "10.213.7.11", "studio": "10.213.7.12"}, LAB3)
    assert (plan.kept, plan.leaving, plan.joining) == (["mini", "studio"], [], ["mac2"])


def test_up_stops_only_a_host_removed_from_the_inventory() -> None:
    two = {"mini": LAB3["mini"], "studio": LAB3["studio"]}
    plan = lifecycle.changes(LAB3, two)
    assert (plan.kept, plan.leaving, plan.joining) == (["mini", "studio"], ["mac2"], [])


def test_up_restarts_a_host_whose_address_moved() -> None:
    # mac2 listed before studio: studio's place, hence its address, changes.
    moved = {"mini": "10.213.7.11", "mac2": "10.213.7.12", "studio": "10.213.7.13"}
    plan = lifecycle.changes(LAB3, moved)
    assert plan.kept == ["mini"]
    assert plan.leaving == ["studio", "mac2"]
    assert plan.joining == ["mac2", "studio"]
    # An unknown address (no record of it) is a move too.
    assert lifecycle.changes({"mini": None}, {"mini": "10.213.7.11"}).joining == ["mini"]


def test_an_unchanged_inventory_changes_nothing() -> None:
    plan = lifecycle.changes(LAB3, LAB3)
    assert plan.none and plan.kept == list(LAB3)


# State file ---------------------------------------------------------------------------


def test_state_round_trips(tmp_path: Path) -> None:
    from homelab.lab import state as statefile

    path = tmp_path / "state.json"
    state = LabState(
        bridge="hlab0",
        subnet="10.213.7.0/24",
        hosts={
            "mini": HostRun("mini", 10, 100, 11, 101, "10.213.7.11"),
            "mac2": HostRun("mac2", 20, 200, 21, 201, "10.213.7.13"),
        },
        ip_forward_before="0",
    )
    statefile.save(path, state)
    assert statefile.load(path) == state
    assert statefile.load(tmp_path / "none.json") is None
    assert not list(tmp_path.glob(".state.json.*"))


def test_a_state_file_without_addresses_is_still_read() -> None:
    run = {"name": "mini", "nspawn_pid": 1, "nspawn_start": 2, "init_pid": 3, "init_start": 4}
    text = json.dumps({"version": 1, "bridge": "hlab0", "subnet": "s", "hosts": {"mini": run}})
    assert LabState.from_json(text).hosts["mini"].address == ""


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        '{"version": 99}',
        '{"version": 1}',
        '{"version": 1, "bridge": "b", "subnet": "s", "hosts": {"mini": {"pid": 1}}}',
    ],
)
def test_unreadable_state_is_a_state_error(text: str) -> None:
    with pytest.raises(StateError):
        LabState.from_json(text)


# Parsers of what the machine says ------------------------------------------------------


IPTABLES_S = """-P POSTROUTING ACCEPT
-A POSTROUTING -s 10.213.7.0/24 ! -o hlab0 -m comment --comment homelab-lab -j MASQUERADE
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A POSTROUTING -s 10.1.0.0/24 -m comment --comment "someone else" -j MASQUERADE
"""


def test_tagged_rules_finds_only_the_labs() -> None:
    rules = network.tagged_rules(IPTABLES_S)
    assert rules == [
        [
            "-A",
            "POSTROUTING",
            "-s",
            "10.213.7.0/24",
            "!",
            "-o",
            "hlab0",
            "-m",
            "comment",
            "--comment",
            NAT_TAG,
            "-j",
            "MASQUERADE",
        ]
    ]


def test_lab_rules_are_all_tagged(config: LabConfig) -> None:
    for _table, rule in network.lab_rules(config):
        assert rule[rule.index("--comment") + 1] == NAT_TAG
    (nat,) = [rule for table, rule in network.lab_rules(config) if table == "nat"]
    assert nat[:3] == ["POSTROUTING", "-s", str(config.subnet)]


def test_subnet_conflicts_name_what_uses_the_range() -> None:
    subnet = ipaddress.IPv4Network("10.213.7.0/24")
    addresses = [
        {
            "ifname": "eth0",
            "addr_info": [{"family": "inet", "local": "192.0.2.2", "prefixlen": 24}],
        },
        {
            "ifname": "hlab0",
            "addr_info": [{"family": "inet", "local": "10.213.7.1", "prefixlen": 24}],
        },
        {
            "ifname": "wg0",
            "addr_info": [{"family": "inet", "local": "10.213.0.9", "prefixlen": 16}],
        },
    ]
    routes = [{"dst": "default", "dev": "eth0"}, {"dst": "10.213.7.0/25", "dev": "tun0"}]
    found = network.subnet_conflicts(subnet, "hlab0", addresses, routes)
    assert found == ["wg0 has 10.213.0.9/16", "a route to 10.213.7.0/25 via tun0"]
    assert network.subnet_conflicts(subnet, "hlab0", addresses[:2], routes[:1]) == []


MOUNTINFO = """22 1 0:21 / / rw - ext4 /dev/vda rw
90 22 0:50 / /var/cache/homelab-lab/.base-build-1/proc rw - proc proc rw
91 22 0:51 / /var/cache/homelab-lab/.base-build-1/sys rw - sysfs sysfs rw
92 91 0:52 / /var/cache/homelab-lab/.base-build-1/sys/fs rw - tmpfs none rw
93 22 0:53 / /var/lib/homelab-lab/with\\040space rw - tmpfs none rw
94 22 0:54 / /var/lib/homelab-lab rw - ext4 /dev/vdb rw
95 22 0:55 / /var/lib/homelab-lab-other/x rw - tmpfs none rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_mounts_under_are_strictly_below_and_deepest_first() -> None:
    dirs = [Path("/var/lib/homelab-lab"), Path("/var/cache/homelab-lab")]
    found = mounts_under(dirs, MOUNTINFO)
    assert found == [
        "/var/cache/homelab-lab/.base-build-1/sys/fs",
        "/var/cache/homelab-lab/.base-build-1/sys",
        "/var/cache/homelab-lab/.base-build-1/proc",
        "/var/lib/homelab-lab/with space",
    ]


def test_cgroup_hierarchies_are_the_ones_systemd_manages() -> None:
    assert cgroups.hierarchies(MOUNTINFO) == [
        Path("/sys/fs/cgroup/systemd"),
        Path("/sys/fs/cgroup/unified"),
    ]
    assert cgroups.host_cgroups("mini", MOUNTINFO)[0] == Path(
        "/sys/fs/cgroup/systemd/homelab-lab/mini"
    )


# Apt sources ---------------------------------------------------------------------------


SOURCES = """Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: https://vendor.example/apt
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/vendor.gpg
"""


def test_debian_sources_leave_third_party_out() -> None:
    stanzas = aptsources.debian_stanzas(aptsources.parse_deb822(SOURCES), "bookworm")
    assert [s["URIs"] for s in stanzas] == [
        "http://mirror.example/debian",
        "http://mirror.example/debian-security",
    ]
    assert aptsources.mirror(stanzas, "bookworm", {}) == "http://mirror.example/debian"
    rendered = aptsources.parse_deb822(aptsources.render(stanzas))
    assert rendered == stanzas


def test_one_line_sources_are_read() -> None:
    text = (
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
        "http://m.example/debian bookworm main contrib\n# deb http://old/ buster main\n"
    )
    (stanza,) = aptsources.parse_one_line(text)
    assert stanza["URIs"] == "http://m.example/debian"
    assert stanza["Components"] == "main contrib"
    assert stanza["Architectures"] == "amd64"


def test_mirror_comes_from_the_machine_or_the_override() -> None:
    assert aptsources.mirror([], "bookworm", {"HOMELAB_LAB_MIRROR": "http://x/debian"}) == (
        "http://x/debian"
    )
    with pytest.raises(LabError, match="no Debian mirror for bookworm"):
        aptsources.mirror([], "bookworm", {})


def test_machine_stanzas_skip_disabled_files(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(SOURCES)
    (tmp_path / "sources.list.d" / "old.list.disabled").write_text("deb http://no/ bookworm main\n")
    uris = [s["URIs"] for s in aptsources.machine_stanzas(tmp_path)]
    assert "http://no/" not in uris
    assert len(uris) == 3


# Command lines and host files ----------------------------------------------------------


def test_nspawn_command_boots_without_a_machine_systemd(config: LabConfig) -> None:
    argv = machine.nspawn_argv(config, "gamma")
    assert argv[0] == "systemd-nspawn"
    for flag in ("--boot", "--register=no", "--keep-unit", f"--network-bridge={config.bridge}"):
        assert flag in argv
    assert "--machine=gamma" in argv
    assert f"--directory={config.host_root('gamma')}" in argv
    assert f"--bind={config.uv_cache}:{UV_CACHE_IN_HOST}" in argv
    assert f"--setenv={PROCESS_MARK}={config.host_root('gamma')}" in argv


def test_a_host_the_inventory_no_longer_lists_can_still_be_named(config: LabConfig) -> None:
    assert lifecycle.host_names(config) == ["alpha", "beta", "gamma"]
    # A root kept from an earlier inventory: destroy may delete it.
    (config.host_root("old")).mkdir(parents=True)
    (config.hosts_dir / ".alpha.copy").mkdir()
    assert lifecycle.host_roots(config) == ["old"]
    assert lifecycle.host_names(config) == ["alpha", "beta", "gamma", "old"]


def test_ssh_uses_only_the_labs_config(config: LabConfig) -> None:
    argv = ssh.ssh_argv(config, "beta", ["systemctl", "is-system-running"])
    assert argv[:3] == ["ssh", "-F", str(config.ssh_config)]
    assert argv[-3:] == ["beta", "systemctl", "is-system-running"]
    text = ssh.ssh_config_text(config)
    # One block per host of the inventory, in its order.
    assert [line.split()[1:] for line in text.splitlines() if line.startswith("Host ")] == [
        ["alpha", "10.213.7.11"],
        ["beta", "10.213.7.12"],
        ["gamma", "10.213.7.13"],
    ]
    assert text.count("StrictHostKeyChecking yes") == 3
    assert f"UserKnownHostsFile {config.known_hosts}" in text


def test_known_hosts_names_each_host_by_name_and_address(config: LabConfig) -> None:
    keys = {"alpha": ["ssh-ed25519 AAAA"], "beta": [], "gamma": ["ssh-ed25519 CCCC"]}
    text = ssh.known_hosts_text(config, keys)
    assert text == "alpha,10.213.7.11 ssh-ed25519 AAAA\ngamma,10.213.7.13 ssh-ed25519 CCCC\n"


def test_host_files(config: LabConfig) -> None:
    hosts = rootfs.hosts_file(config)
    for name, address in (("alpha", ".11"), ("beta", ".12"), ("gamma", ".13")):
        assert f"10.213.7{address}\t{name}" in hosts.splitlines()
    net = rootfs.network_file(config, "gamma")
    assert "Name=host0" in net
    assert f"Address={config.address('gamma')}/24" in net
    assert f"Gateway={config.gateway}" in net
    assert rootfs.configured_address(config, "gamma") is None
    (config.host_root("gamma") / rootfs.NETWORK_FILE).parent.mkdir(parents=True)
    (config.host_root("gamma") / rootfs.NETWORK_FILE).write_text(net)
    assert rootfs.configured_address(config, "gamma") == "10.213.7.13"
    env = rootfs.environment_file('PATH="/usr/bin"\nSSL_CERT_FILE=/old\n')
    assert env.splitlines()[0] == 'PATH="/usr/bin"'
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in env
    assert "/old" not in env


def test_pem_blocks_ignore_layout() -> None:
    block = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----"
    assert rootfs.pem_blocks(block) == rootfs.pem_blocks(block.replace("\n", "\r\n") + "\n\n")
    assert len(rootfs.pem_blocks(block + "\n" + block.replace("AAAA", "CCCC"))) == 2


# Faults: one line that says what is wrong and what to do -------------------------------


def test_lab_error_is_one_line_with_a_remedy() -> None:
    error = LabError("the bridge is gone", "run homelab lab up")
    assert str(error) == "the bridge is gone; run homelab lab up"
    assert "\n" not in str(error)


def test_not_root_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(LabError, match=r"needs root.*sudo homelab lab up"):
        system.require_root("up")


def test_missing_namespaces_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(argv: Sequence[str], **_kw: object) -> None:
        raise system.CommandFailed(argv, 1, "unshare: unshare failed: Operation not permitted")

    monkeypatch.setattr(system, "run", refuse)
    with pytest.raises(LabError, match="does not let the lab make namespaces") as info:
        system.check_namespaces()
    assert "Operation not permitted" in str(info.value)


def test_a_package_that_cannot_be_installed_is_named_with_the_fix() -> None:
    def failing(packages: Sequence[str]) -> None:
        raise system.CommandFailed(["apt-get"], 100, "E: Unable to locate package no-such-pkg")

    with pytest.raises(LabError) as info:
        system.ensure_packages({"no-such-command-here": "no-such-pkg"}, {}, installer=failing)
    line = str(info.value)
    assert "no-such-pkg" in line and "apt-get install no-such-pkg" in line
    assert "Unable to locate package" in line


def test_present_packages_install_nothing() -> None:
    def never(packages: Sequence[str]) -> None:
        raise AssertionError("nothing to install")

    assert system.ensure_packages({"sh": "dash"}, {"/": "base-files"}, installer=never) == []


def test_cli_prints_one_error_line_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert lab_cli.main(["status", "--json"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("homelab lab status: error: homelab lab status needs root")


def test_cli_bad_subnet_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOMELAB_LAB_SUBNET", "192.168.1.0/24")
    assert lab_cli.main(["down"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "192.168" in line


@pytest.mark.parametrize("command", [["destroy", "laptop"], ["ssh", "laptop", "true"]])
def test_cli_refuses_unknown_hosts(
    command: list[str],
    config: LabConfig,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As root, on a lab of its own: the name is refused before anything is touched.
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setenv("HOMELAB_LAB_DIR", str(config.lab_dir))
    argv = [command[0], "--inventory", str(config.inventory_file), *command[1:]]
    assert lab_cli.main(argv) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no lab host is named 'laptop'" in line and "alpha, beta, gamma" in line
    assert not config.lab_dir.exists()


def test_cli_names_a_bad_inventory_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setenv("HOMELAB_LAB_DIR", str(tmp_path / "lab"))
    assert lab_cli.main(["status", "--inventory", str(PROJECT_ROOT / "inventory.py")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("homelab lab status: error: ")
    assert "outside the lab's 10.213.7.0/24" in line


def test_status_schema_fields_are_documented() -> None:
    doc = (PROJECT_ROOT / "docs" / "LAB.md").read_text()
    fields = ("schema", "up", "hosts", "address", "ssh_user", "ssh_key", "systemd", "running")
    for field in (*fields, "listed", "inventory"):
        assert f"`{field}`" in doc
