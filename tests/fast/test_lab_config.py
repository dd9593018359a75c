"""The lab's pure logic: config, inventory, state file, parsers, command lines, error lines.

Nothing here needs root, a namespace or a host.
"""

from __future__ import annotations

import ipaddress
import runpy
from collections.abc import Sequence
from pathlib import Path

import pytest

from homelab import PROJECT_ROOT
from homelab.lab import aptsources, cgroups, machine, network, rootfs, ssh, system
from homelab.lab import cli as lab_cli
from homelab.lab.config import (
    BRIDGE,
    DEFAULT_SUBNET,
    HOST_NAMES,
    NAT_TAG,
    PROCESS_MARK,
    UV_CACHE_IN_HOST,
    ConfigError,
    LabConfig,
    load_config,
    parse_subnet,
)
from homelab.lab.errors import LabError
from homelab.lab.mounts import mounts_under
from homelab.lab.state import HostRun, LabState, StateError


@pytest.fixture
def config(tmp_path: Path) -> LabConfig:
    return load_config(
        {"HOMELAB_LAB_DIR": str(tmp_path / "lab"), "HOMELAB_LAB_CACHE": str(tmp_path / "cache")}
    )


# Config and inventory ----------------------------------------------------------------


def test_defaults_put_the_lab_on_its_own_private_range() -> None:
    cfg = load_config({})
    assert cfg.lab_dir == Path("/var/lib/homelab-lab")
    assert cfg.cache_dir == Path("/var/cache/homelab-lab")
    assert str(cfg.subnet) == DEFAULT_SUBNET
    assert cfg.bridge == BRIDGE
    assert cfg.gateway == "10.213.7.1"
    assert cfg.addresses == {"mini": "10.213.7.11", "studio": "10.213.7.12"}


def test_addresses_are_distinct_inside_the_subnet_and_not_the_gateway() -> None:
    cfg = load_config({"HOMELAB_LAB_SUBNET": "172.20.5.0/24"})
    addresses = [ipaddress.IPv4Address(cfg.address(n)) for n in HOST_NAMES]
    assert len(set(addresses)) == len(HOST_NAMES)
    assert all(a in cfg.subnet for a in addresses)
    assert cfg.gateway not in map(str, addresses)


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
    assert cfg.address("studio") == "10.9.9.12"


def test_inventory_data_is_strict_and_non_interactive(config: LabConfig) -> None:
    data = config.inventory_data("mini")
    assert data["ssh_hostname"] == config.address("mini")
    assert data["ssh_user"] == "root"
    assert data["ssh_key"] == str(config.ssh_key)
    assert data["ssh_known_hosts_file"] == str(config.known_hosts)
    assert data["ssh_strict_host_key_checking"] == "yes"
    assert data["uv_cache_dir"] == UV_CACHE_IN_HOST


def test_lab_inventory_has_the_real_inventorys_groups_with_lab_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HOMELAB_LAB_DIR", "HOMELAB_LAB_CACHE", "HOMELAB_LAB_SUBNET"):
        monkeypatch.delenv(name, raising=False)
    lab = runpy.run_path(str(PROJECT_ROOT / "lab" / "inventory.py"))
    real = runpy.run_path(str(PROJECT_ROOT / "inventory.py"))

    def groups(ns: dict[str, object]) -> dict[str, list[tuple[str, dict[str, object]]]]:
        return {k: v for k, v in ns.items() if isinstance(v, list) and not k.startswith("_")}

    lab_groups, real_groups = groups(lab), groups(real)
    assert set(lab_groups) == set(real_groups) == {"mini", "studio"}
    cfg = load_config({})
    for group, hosts in lab_groups.items():
        assert [h for h, _ in hosts] == [h for h, _ in real_groups[group]]
        ((name, data),) = hosts
        assert data == cfg.inventory_data(name)
        assert not str(data["ssh_hostname"]).startswith("192.168.")


# State file ---------------------------------------------------------------------------


def test_state_round_trips(tmp_path: Path) -> None:
    from homelab.lab import state as statefile

    path = tmp_path / "state.json"
    state = LabState(
        bridge="hlab0",
        subnet="10.213.7.0/24",
        hosts={"mini": HostRun("mini", 10, 100, 11, 101)},
        ip_forward_before="0",
    )
    statefile.save(path, state)
    assert statefile.load(path) == state
    assert statefile.load(tmp_path / "none.json") is None
    assert not list(tmp_path.glob(".state.json.*"))


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
    argv = machine.nspawn_argv(config, "mini")
    assert argv[0] == "systemd-nspawn"
    for flag in ("--boot", "--register=no", "--keep-unit", f"--network-bridge={config.bridge}"):
        assert flag in argv
    assert f"--directory={config.host_root('mini')}" in argv
    assert f"--bind={config.uv_cache}:{UV_CACHE_IN_HOST}" in argv
    assert f"--setenv={PROCESS_MARK}={config.host_root('mini')}" in argv


def test_ssh_uses_only_the_labs_config(config: LabConfig) -> None:
    argv = ssh.ssh_argv(config, "studio", ["systemctl", "is-system-running"])
    assert argv[:3] == ["ssh", "-F", str(config.ssh_config)]
    assert argv[-3:] == ["studio", "systemctl", "is-system-running"]
    text = ssh.ssh_config_text(config)
    assert f"HostName {config.address('studio')}" in text
    assert "StrictHostKeyChecking yes" in text
    assert f"UserKnownHostsFile {config.known_hosts}" in text


def test_known_hosts_names_each_host_by_name_and_address(config: LabConfig) -> None:
    text = ssh.known_hosts_text(config, {"mini": ["ssh-ed25519 AAAA"], "studio": []})
    assert text == f"mini,{config.address('mini')} ssh-ed25519 AAAA\n"


def test_host_files(config: LabConfig) -> None:
    hosts = rootfs.hosts_file(config)
    assert f"{config.address('mini')}\tmini" in hosts
    assert f"{config.address('studio')}\tstudio" in hosts
    net = rootfs.network_file(config, "studio")
    assert "Name=host0" in net
    assert f"Address={config.address('studio')}/24" in net
    assert f"Gateway={config.gateway}" in net
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


def test_cli_refuses_unknown_hosts() -> None:
    with pytest.raises(SystemExit):
        lab_cli.main(["destroy", "laptop"])


def test_status_schema_fields_are_documented() -> None:
    doc = (PROJECT_ROOT / "docs" / "LAB.md").read_text()
    for field in ("schema", "up", "hosts", "address", "ssh_user", "ssh_key", "systemd", "running"):
        assert f"`{field}`" in doc
