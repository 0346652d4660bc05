"""The identity graph's SVG at 2, 10 and 50 devices: well-formed, every node drawn once,
no two boxes overlapping, every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from services.dashboard.identity_graph import graph

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script>"&'


def person(devices: int) -> tuple[dict, dict]:
    profile = {
        "id": "p_main",
        "name": HOSTILE,
        "user_id": "user-42",
        "emails": ["a@x.io", "b@x.io"],
        "visitors": [
            {"id": f"v{i}", "distinct_ids": [f"anon-{i}" if i else HOSTILE]} for i in range(devices)
        ],
    }
    merges = [
        {
            "id": f"m{i}",
            "merged_id": f"p_old{i}",
            "survivor_id": "p_main" if i % 3 else f"p_old{i + 1}",
            "at": f"2026-05-{i + 1:02d}T10:00:00Z",
            "rule": "identify",
            "cause": {"message_id": f"msg-{i}", "anonymous_id": f"anon-{i + 1}"},
        }
        for i in range(devices - 1)
    ]
    return profile, {"merges": merges}


def boxes(svg: ET.Element) -> list[tuple[float, float, float, float]]:
    return [
        (
            float(r.get("x", 0)),
            float(r.get("y", 0)),
            float(r.get("width", 0)),
            float(r.get("height", 0)),
        )
        for r in svg.iter(f"{NS}rect")
    ]


@pytest.mark.parametrize("devices", [2, 10, 50])
def test_every_node_once_and_no_overlap(devices: int) -> None:
    profile, history = person(devices)
    text = str(graph(profile, history))
    assert "<script>" not in text and "&lt;script&gt;" in text
    svg = ET.fromstring(text)  # noqa: S314 - our own output, well-formed or not
    groups = [g.get("class") for g in svg.iter(f"{NS}g")]
    assert groups.count("node node-device") == devices
    assert groups.count("node node-merged") == min(devices - 1, 17)
    assert groups.count("node node-person") == 1 and groups.count("node node-user") == 1
    assert groups.count("node node-email") == 2
    drawn = boxes(svg)
    for i, (x, y, w, h) in enumerate(drawn):
        assert (
            0 <= x and x + w <= float(svg.get("width", 0)) and y + h <= float(svg.get("height", 0))
        )
        for x2, y2, w2, h2 in drawn[i + 1 :]:
            apart = x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
            assert apart, ((x, y, w, h), (x2, y2, w2, h2))
    labels = [t.text for t in svg.iter(f"{NS}text")]
    assert labels.count("identify · msg-0") == 2  # its merge, and the device it named


def test_no_profile_no_graph() -> None:
    assert str(graph(None, None)) == "" and str(graph({}, {})) == ""
