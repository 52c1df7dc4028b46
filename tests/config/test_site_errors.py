"""What an operator reads when a site file or a settings file is wrong: the file, the key path, what was expected.

Each row breaks one key of a valid file, the way people get them wrong (a typo, a misspelt zone, a table
written as a single table), and gives the whole line the operator must see. A typo is never ignored: a
misspelt ``checkin_code`` would switch the proof of arrival off without a word.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from facwatch.config import load_settings, load_site
from facwatch.errors import ConfigError, ConfigProblems
from tests.config.sites import GOOD, broken

CODE = 'checkin_code = "JKJS-TQE4"'

BAD_SITES = [
    # (the change: old passage, new passage), the line the operator reads after "site.toml: "
    (  # a typo of the check-in code: the asset would accept any code
        (CODE, 'checkin_cod = "JKJS-TQE4"'),
        "assets[1].checkin_cod (b1-pump-1): unknown key; did you mean 'checkin_code'?",
    ),
    (  # ... and the code itself is then missing
        (CODE, 'checkin_cod = "JKJS-TQE4"'),
        "assets[1].checkin_code (b1-pump-1): missing; expected the code posted at the asset",
    ),
    (  # a code that can be guessed
        (CODE, 'checkin_code = "1234"'),
        "assets[1].checkin_code (b1-pump-1): too short (4 characters): at least 8 random characters",
    ),
    (  # a typo in a rota entry would make it apply to every kind
        ('night = "eng-chen"\n', 'night = "eng-chen"\nasset_knd = "pump"\n'),
        "rota[0].asset_knd: unknown key; did you mean 'asset_kind'?",
    ),
    (  # a misspelt zone used to pass check and crash run with a traceback
        ('"Asia/Shanghai"', '"Asia/Shangai"'),
        "site.timezone: unknown time zone 'Asia/Shangai'; did you mean 'Asia/Shanghai'?",
    ),
    (  # a word where a number belongs
        ("interval_s = 5", 'interval_s = "fast"'),
        "assets[1].interval_s (b1-pump-1): expected a valid number, got 'fast'",
    ),
    (  # a number written as a string is not taken silently either
        ("interval_s = 5", 'interval_s = "5"'),
        "assets[1].interval_s (b1-pump-1): expected a valid number, got '5'",
    ),
    (  # [buildings] as one table instead of [[buildings]] entries
        ('[[buildings]]\nid = "b1"', '[buildings]\nid = "b1"'),
        "buildings: expected an array, got a table: write each entry as [[buildings]], not one [buildings] table",
    ),
    (  # an apprise URL apprise cannot use: found at load, not when the first RED is sent
        ('"wecombot://BOTKEY"', '"wecombot://"'),
        "people[0].notify[1] (eng-wang): apprise cannot use this wecombot:// URL: An invalid WeCom Bot Webhook Key",
    ),
    (  # not a URL at all
        ('"wecombot://BOTKEY"', '"wecombot:BOTKEY"'),
        "people[0].notify[1] (eng-wang): not a URL: expected scheme://...",
    ),
    (  # a scheme no service has
        ('"wecombot://BOTKEY"', '"wecombt://BOTKEY"'),
        "people[0].notify[1] (eng-wang): apprise knows no wecombt:// service",
    ),
    (  # a placeholder nobody fills
        ("{data_dir}", "{datadir}"),
        "owners[0].notify[0]: unknown placeholder {datadir} (known: {data_dir})",
    ),
    (  # an asset of a building the file does not have
        ('building = "b1"\ncheckin_code = "JKJS', 'building = "b2"\ncheckin_code = "JKJS'),
        "assets[1].building (b1-pump-1): no building 'b2' in this file; known: b1",
    ),
    (  # the rota names a person the file does not have
        ('night = "eng-chen"', 'night = "eng-chan"'),
        "rota[0].night: no person 'eng-chan' in this file; did you mean 'eng-chen'?",
    ),
    (  # the chain names a person the file does not have
        ('chain = ["eng-wang", "eng-chen"]', 'chain = ["eng-wang", "sup-li"]'),
        "escalation.chain[1]: no person 'sup-li' in this file",
    ),
    (  # an owner group limited to an asset of another building
        ('notify = ["jsonl://{data_dir}/n.jsonl"]', 'notify = []\nassets = ["b9-pump"]'),
        "owners[0].assets[0]: no asset 'b9-pump' in this file",
    ),
    (  # two assets with one id: their telemetry could not be told apart
        ('id = "b1-pump-1"', 'id = "b1-elev-1"'),
        "assets: asset id 'b1-elev-1' appears twice; ids must be unique",
    ),
    (  # an unknown kind
        ('kind = "pump"', 'kind = "boiler"'),
        "assets[1].kind (b1-pump-1): expected 'elevator', 'pump' or 'power', got 'boiler'",
    ),
    (  # an id that cannot be an MQTT topic level
        ('id = "hill"', 'id = "hill side"'),
        "site.id: expected the site id: the {site} of the MQTT topics",
    ),
    (  # a misspelt table
        ("[escalation]", "[escalaton]"),
        "escalaton: unknown key; did you mean 'escalation'?",
    ),
    (  # staffed hours that are not hours
        ("[escalation]\n", '[escalation]\nday_start = "8am"\n'),
        "escalation.day_start: expected a whole hour like \"08:00\", got '8am'",
    ),
]


@pytest.mark.parametrize(("change", "line"), BAD_SITES)
def test_a_bad_site_file_names_the_file_the_key_and_what_was_expected(
    tmp_path: Path, change: tuple[str, str], line: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(broken(*change), encoding="utf-8")
    with pytest.raises(ConfigProblems) as caught:
        load_site(path, {"data_dir": str(tmp_path)})
    expected = re.compile(re.escape(str(path)) + r":\d+: " + re.escape(line))
    assert any(expected.match(got) for got in caught.value.lines), "\n".join(caught.value.lines)


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    text = broken(CODE, 'checkin_cod = "JKJS-TQE4"').replace("Asia/Shanghai", "Asia/Shangai")
    text = text.replace('"wecombot://BOTKEY"', '"wecombot://"').replace(
        'night = "eng-chen"', 'night = "nobody"'
    )
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigProblems) as caught:
        load_site(path, {"data_dir": str(tmp_path)})
    where = [
        re.sub(r" \(.*", "", ": ".join(line.removeprefix(str(path)).split(": ")[:2]))
        for line in caught.value.lines
    ]
    assert where == [  # the line of the file, then the key path (a missing key: the line of its entry)
        ":4: site.timezone",
        ":15: assets[1].checkin_code",
        ":19: assets[1].checkin_cod",
        ":24: people[0].notify[1]",
        ":39: rota[0].night",
    ]


def test_the_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(GOOD, encoding="utf-8")
    site = load_site(path, {"data_dir": "/srv/fw"})
    assert [a.checkin_code for a in site.assets] == ["QJ9N-39Y3", "JKJS-TQE4"]
    assert site.owners[0].notify == ("jsonl:///srv/fw/n.jsonl",)
    assert site.people[0].name == "eng-wang" and site.people[0].role == "engineer"


BAD_SETTINGS = [
    # (the settings file, what follows "facwatch.toml:": the line, the key, what was expected)
    (
        '[mqtt]\npasword = "s3cret"\n',
        "2: mqtt.pasword: unknown key; did you mean 'password'?",
    ),  # the broker refuses
    (
        '[telemetry]\nbakend = "influxdb"\n',
        "2: telemetry.bakend: unknown key; did you mean 'backend'?",
    ),  # SQLite
    ('[api]\nhost = "::"\nport = "http"\n', "3: api.port: expected a valid integer, got 'http'"),
    ('[api]\nadmin_token = "short"\n', "2: api.admin_token: too short: at least 16 characters"),
    ('log_level = "info"\ndata_dri = "/srv"\n', "2: data_dri: unknown key; did you mean 'data_dir'?"),
]


@pytest.mark.parametrize(("text", "line"), BAD_SETTINGS)
def test_a_bad_settings_file_names_the_file_the_line_and_the_key(
    tmp_path: Path, text: str, line: str
) -> None:
    path = tmp_path / "facwatch.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert str(caught.value).startswith(f"{path}:{line}"), str(caught.value)
    assert "s3cret" not in str(caught.value)  # a password is not repeated back


def test_a_relative_profile_path_is_taken_from_the_site_files_folder(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        broken("interval_s = 5", 'interval_s = 5\nprofile = "strict-pump.toml"'), encoding="utf-8"
    )
    site = load_site(path, {"data_dir": str(tmp_path)})
    assert site.assets[1].profile == str(tmp_path / "strict-pump.toml")
    assert site.assets[0].profile is None  # the kind's own


def test_a_typo_in_the_environment_is_named_as_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "facwatch.toml"
    path.write_text("[api]\nport = 9000\n", encoding="utf-8")
    monkeypatch.setenv("FACWATCH_MQTT__PASWORD", "s3cret")
    with pytest.raises(ConfigProblems) as caught:
        load_settings(path)
    assert caught.value.lines[0].startswith(
        "environment FACWATCH_MQTT__PASWORD: unknown key; did you mean 'password'?"
    )


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        # (a passage of the demo site, what it becomes, the key that the reported line must show)
        ('level = "red"', 'level = "purple"', "level"),  # in the second [[alerts.rules]]
        ('platform = "feishu"', 'platform = "qq"', "platform"),  # in the second [[chat.groups]]
        (
            'elevator = ["观光梯"]',
            'elevator = ["观光梯"]\nfurniture = ["沙发"]',
            "furniture",
        ),  # [chat.lexicon]
        ("lateness_s = 300", "latenes_s = 300", "latenes_s"),  # [alerts]
        ('day_end = "20:00"', 'day_end = "20:00"\nday_ned = "21:00"', "day_ned"),  # [escalation]
    ],
)
def test_the_line_named_is_the_line_of_the_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    from facwatch.config import demo_site_text

    text = demo_site_text()
    assert old in text
    path = tmp_path / "site.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigProblems) as caught:
        load_site(path, {"data_dir": str(tmp_path)})
    (line,) = caught.value.lines
    number = int(line.removeprefix(f"{path}:").split(":")[0])
    assert path.read_text(encoding="utf-8").splitlines()[number - 1].startswith(f"{key} ="), line
