"""The catalog: the shipped file loads, the most specific rule wins, config entries beat it, errors are precise."""

from __future__ import annotations

import pytest

from classroomd.config.schema import Config
from classroomd.daemon.catalog import Catalog, CatalogError, Facts


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def usb(vid: int, pid: int, *names: str, subsystems: tuple[str, ...] = ("input",), serial: str | None = None,
        paths: tuple[str, ...] = ()) -> Facts:
    return Facts(bus="usb", subsystems=frozenset(subsystems), vid=vid, pid=pid, names=names, serial=serial,
                 paths=paths)


def test_shipped_catalog_has_the_hardware_facts_ids(catalog: Catalog) -> None:
    ids = {(r.vid, r.pid) for r in catalog.rules}
    for needed in [(0x056A, None), (0x256C, 0x006D), (0x28BD, None), (0x222A, None), (0x0EEF, None),
                   (0x0B8C, 0x0001), (0x0D48, 0x0001), (0x2C99, None), (0x1A86, 0x7523), (0x2B71, None),
                   (0x2A89, None), (0x1D50, 0x614E)]:
        assert needed in ids, f"{needed} missing from the catalog"
    ch340 = next(r for r in catalog.rules if r.id == "ch340")
    assert ch340.bridge and ch340.kind is None and ch340.probe is None
    assert catalog.touch_table_min_contacts == 11


def test_most_specific_rule_wins(catalog: Catalog) -> None:
    huion = catalog.match(usb(0x256C, 0x006D, "HUION Huion Tablet_H640P Pen"))
    gaomon = catalog.match(usb(0x256C, 0x006D, "GAOMON Gaomon Tablet_S620 Pen"))
    neither = catalog.match(usb(0x256C, 0x006D, "Tablet Monitor Pen"))
    other = catalog.match(usb(0x256C, 0x0064, "HUION Kamvas"))
    assert huion is not None and huion.rule.id == "huion-006d"
    assert gaomon is not None and gaomon.rule.id == "gaomon-006d"
    assert neither is not None and neither.rule.id == "huion-gaomon-006d"
    assert other is not None and other.rule.id == "huion"
    assert huion.explain() == ("catalog rule 'huion-006d' (usb, vid 256c, pid 006d, "
                               "name '*huion*' ~ 'HUION Huion Tablet_H640P Pen')")


def test_subsystem_limits_a_rule(catalog: Catalog) -> None:
    assert catalog.match(usb(0x2C99, 0x0002, "Original Prusa i3 MK3", subsystems=("usb",))) is None
    tty = catalog.match(usb(0x2C99, 0x0002, "Original Prusa i3 MK3", subsystems=("usb", "tty")))
    assert tty is not None and tty.rule.kind == "printer" and tty.rule.probe == "m115"


def test_config_entry_beats_the_catalog(catalog: Catalog) -> None:
    config = Config.model_validate({"devices": [
        {"id": "ender-3", "kind": "printer", "match": {"vid": "1a86", "pid": "7523"}},
        {"id": "pen-1", "kind": "tablet", "match": {"serial": "8BQ*"}},
        {"id": "panel-front", "kind": "panel", "port": "/dev/serial/by-path/pci-0000:00:14.0-usb-0:11:1.0"},
    ]})
    ender = catalog.match(usb(0x1A86, 0x7523, "USB2.0-Serial", subsystems=("tty",)), config)
    assert ender is not None and ender.rule.id == "ender-3" and ender.rule.source == "config"
    assert ender.explain() == "config entry 'ender-3' (vid 1a86, pid 7523)"
    wacom = catalog.match(usb(0x056A, 0x0357, "Intuos", serial="8BQ00H1001234"), config)
    assert wacom is not None and wacom.rule.id == "pen-1"
    ftdi = catalog.match(usb(0x0403, 0x6001, "FT232R", subsystems=("tty",),
                             paths=("/dev/ttyUSB1", "/dev/serial/by-path/pci-0000:00:14.0-usb-0:11:1.0")), config)
    assert ftdi is not None and ftdi.explain() == (
        "config entry 'panel-front' (port /dev/serial/by-path/pci-0000:00:14.0-usb-0:11:1.0)")
    # Without a config the same FTDI is the bridge rule.
    bridge = catalog.match(usb(0x0403, 0x6001, "FT232R", subsystems=("tty",)))
    assert bridge is not None and bridge.rule.bridge


@pytest.mark.parametrize(("text", "message"), [
    ('[[rule]]\nid = "x"\nvid = "zz"\n', "rule 'x'.vid"),
    ('[[rule]]\nid = "x"\nkind = "robot"\n', "unknown kind 'robot'"),
    ('[[rule]]\nid = "x"\nprobe = "at"\n', "the only probe is"),
    ('[[rule]]\nid = "x"\ncolour = "red"\n', "rule 'x'.colour"),
    ('[[rule]]\nid = "x"\n[[rule]]\nid = "x"\n', "rule ids used twice: x"),
    ('[classify]\ntouch_table_min_contacts = 1\n', "classify.touch_table_min_contacts"),
    ('[[rule]\n', "my.toml"),
])
def test_catalog_errors_name_the_rule_and_key(text: str, message: str) -> None:
    with pytest.raises(CatalogError) as err:
        Catalog.from_text(text, "my.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("my.toml")
