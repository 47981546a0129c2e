from __future__ import annotations

import doctest
import json
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

import loaders.edges
from api.cli import app
from loaders.edges import events_from_edges, events_from_text, parse_edges, summarise
from loaders.errors import SourceError
from loaders.generator import generate_campaign, write_campaign
from tests.conftest import shared_data

# Seed 1 puts the five users in the order 50, 10, 20, 30, 40 (numpy's
# permutation of 5 for seed 1 is [4 0 1 2 3]), one every 30 days.
PAIRS = """# a tiny friendship graph
10 20
20 30
30 10
30 40
20 10
40 50
60 60
"""

# Times out of file order; 3 1 and 4 1 point at earlier-joined users; 1 2
# twice; 5 5 is a self-loop; 6 and 7 message each other in the same second.
MESSAGES = """src dst time
1 2 100
1 3 200
2 3 160
3 1 170
1 2 300
4 1 400
5 5 450
6 7 500
7 6 500
"""


def day(n: int) -> str:
    return f"{datetime(2026, 3, 1) + timedelta(days=n):%Y-%m-%d %H:%M:%S}"


def rows(table) -> list[tuple]:
    return [
        (r["type"], r["inviter_id"], r["invitee_id"], r["occurred_at"]) for r in table.to_pylist()
    ]


def test_pairs_join_in_seeded_order_through_the_earliest_joined_neighbour():
    table = events_from_text(PAIRS, seed=1, id_prefix="", invite_back=False)
    assert rows(table) == [
        ("join", None, "50", day(0)),
        ("join", None, "10", day(30)),  # its neighbours 20 and 30 join later
        ("invite", "10", "20", day(60)),
        ("join", "10", "20", day(60)),
        ("invite", "10", "30", day(90)),
        ("invite", "20", "30", day(90)),  # a friend's invite: an INVITED tie
        ("join", "10", "30", day(90)),  # 10 joined before 20
        ("invite", "50", "40", day(120)),
        ("invite", "30", "40", day(120)),
        ("join", "50", "40", day(120)),
    ]
    assert summarise(table) == {"users": 5, "referred": 3, "organic": 2, "invites": 5}


def test_pairs_friends_invite_back_after_they_join():
    forward = events_from_text(PAIRS, seed=1, id_prefix="", invite_back=False)
    both = events_from_text(PAIRS, seed=1, id_prefix="")
    assert summarise(both) == {**summarise(forward), "invites": 10}
    joined = {r["invitee_id"]: r["occurred_at"] for r in both.to_pylist() if r["type"] == "join"}
    ties = {(r[1], r[2]) for r in rows(forward) if r[0] == "invite"}
    back = [r for r in rows(both) if r[0] == "invite" and (r[1], r[2]) not in ties]
    assert {(inviter, invitee) for _, inviter, invitee, _ in back} == {(b, a) for a, b in ties}
    for _, inviter, _, at in back:  # after the inviter's join, within a week
        delay = datetime.fromisoformat(at) - datetime.fromisoformat(joined[inviter])
        assert timedelta(hours=1) <= delay < timedelta(days=7)
    assert [r for r in rows(both) if r not in back] == rows(forward)


def test_messages_join_when_first_reached_with_real_times():
    table = events_from_text(MESSAGES, id_prefix="u")
    at = {t: f"1970-01-01 08:{t // 60:02d}:{t % 60:02d}" for t in (100, 160, 170, 200, 400, 500)}
    assert rows(table) == [
        ("join", None, "u1", at[100]),  # sent before being reached: organic
        ("invite", "u1", "u2", at[100]),
        ("join", "u1", "u2", at[100]),
        ("invite", "u2", "u3", at[160]),
        ("join", "u2", "u3", at[160]),
        ("invite", "u3", "u1", at[170]),  # to an earlier-joined user: an invite back
        ("invite", "u1", "u3", at[200]),  # 3 was already in: a tie, no join
        ("join", None, "u4", at[400]),
        ("invite", "u4", "u1", at[400]),
        ("join", None, "u6", at[500]),
        ("invite", "u6", "u7", at[500]),
        ("join", "u6", "u7", at[500]),
        ("invite", "u7", "u6", at[500]),  # same second: after 7's join
    ]
    forward = events_from_text(MESSAGES, id_prefix="u", invite_back=False)
    assert rows(forward) == [
        r for r in rows(table) if r[1:3] not in {("u3", "u1"), ("u4", "u1"), ("u7", "u6")}
    ]


def test_the_table_has_the_generators_columns_and_types(tmp_path):
    table = events_from_edges(write(tmp_path / "tiny.txt", PAIRS))
    # A real network has no nicknames: its columns are the steady shape's
    # (the realistic shape adds `invitee_name`).
    assert table.schema.equals(generate_campaign(users=50, seed=0, shape="steady")[0].schema)
    assert set(table["campaign"].to_pylist()) == {"real-network"}
    assert all(table[c].null_count == table.num_rows for c in ("channel", "amount", "ip"))
    assert table["invitee_id"][0].as_py().startswith("tiny:")  # ids keep the network's name


def test_same_input_and_seed_same_table():
    assert events_from_text(PAIRS, seed=3).equals(events_from_text(PAIRS, seed=3))
    assert not events_from_text(PAIRS, seed=3).equals(events_from_text(PAIRS, seed=4))
    assert events_from_text(MESSAGES, seed=3).equals(events_from_text(MESSAGES, seed=4))


def test_the_doctest_holds():
    assert doctest.testmod(loaders.edges).failed == 0


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("1 2\n3 x\n4 5\n", None, r"line 2: ids must be integers.*'3 x'"),
        (
            "# c\n1 2\n\n3 4 5\n6 7 8\n",
            None,
            r"line 4: expected 2 fields \(a b\), found 3.*1 more bad",
        ),
        ("src dst time\n1 2 3\n2 3 -4\n", None, r"line 3: ids must be integers"),
        ("1 2 3\nsrc dst time\n", None, r"line 2: ids must be integers"),
        ("1 2\n", "messages", r"line 1: expected 3 fields \(src dst unix_time\), found 2"),
        ("1 2 3 4\n", None, r"line 1: 4 fields; expected 'a b' or 'src dst unix_time'"),
        ("# only a comment\n\n", None, "no edge lines"),
    ],
)
def test_bad_lines_are_refused_with_their_line_number(text, kind, message):
    with pytest.raises(SourceError, match=message):
        parse_edges(text, kind=kind)


def test_oversized_missing_and_binary_files_are_refused(tmp_path):
    path = write(tmp_path / "e.txt", PAIRS)
    with pytest.raises(SourceError, match="over the 10-byte limit"):
        events_from_edges(path, max_bytes=10)
    with pytest.raises(SourceError, match="cannot be read"):
        events_from_edges(tmp_path / "none.txt")
    (tmp_path / "b.txt").write_bytes(b"1 2\n\xff\xfe\n")
    with pytest.raises(SourceError, match="not UTF-8"):
        events_from_edges(tmp_path / "b.txt")


def test_koc_generate_from_edges(tmp_path):
    runner = CliRunner()
    src, out = write(tmp_path / "tiny.txt", MESSAGES), tmp_path / "ev.parquet"
    done = runner.invoke(app, ["generate", "--from-edges", str(src), "--out", str(out), "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["format"] == "parquet" and summary["kind"] == "messages"
    assert (summary["users"], summary["referred"], summary["invites"]) == (6, 3, 7)
    args = ["generate", "--from-edges", str(src), "--out", str(out), "--json", "--no-invite-back"]
    forward = json.loads(runner.invoke(app, args).stdout)
    assert forward["invites"] == 4  # the three invites back left out
    truth = json.loads(Path(summary["truth"]).read_text(encoding="utf-8"))
    assert truth["planted_kocs"] == truth["farm_accounts"] == [] and "nothing" in truth["note"]
    for args in ([], ["--users", "100", "--from-edges", str(src)]):
        done = runner.invoke(app, ["generate", *args])
        assert done.exit_code == 1 and "--from-edges PATH" in done.stderr
    bad = write(tmp_path / "bad.txt", "1 2\n3\n")
    done = runner.invoke(app, ["generate", "--from-edges", str(bad), "--out", str(out)])
    assert done.exit_code == 1 and "line 2" in done.stderr


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


# The real networks (../shared/data/README.md, beside the repo).


@pytest.fixture(scope="module")
def facebook():
    return events_from_edges(shared_data("ego-facebook.txt"), seed=0)


@pytest.fixture(scope="module")
def college():
    return events_from_edges(shared_data("collegemsg.txt"))


def check_joins(table) -> dict[str, str]:
    """Every user joins exactly once, after their inviter; joins are in time order."""
    joins = table.filter(pc.equal(table["type"], "join")).to_pylist()
    joined_at = {j["invitee_id"]: j["occurred_at"] for j in joins}
    assert len(joined_at) == len(joins)
    position = {user: i for i, user in enumerate(joined_at)}
    for j in joins:
        if j["inviter_id"] is not None:
            assert position[j["inviter_id"]] < position[j["invitee_id"]]
            assert joined_at[j["inviter_id"]] <= j["occurred_at"]
    assert [j["occurred_at"] for j in joins] == sorted(joined_at.values())
    invites = table.filter(pc.equal(table["type"], "invite")).to_pylist()
    # An invite to a later-joined user is at or after its join; one back, after both joins.
    assert all(
        i["occurred_at"] >= max(joined_at[i["inviter_id"]], joined_at[i["invitee_id"]])
        for i in invites
    )
    return joined_at


def test_ego_facebook(facebook):
    assert len(parse_edges(shared_data("ego-facebook.txt").read_text("utf-8"))[0]) == 88_234
    assert len(check_joins(facebook)) == 4_039
    counts = summarise(facebook)
    # one each way per tie: no duplicates or self-loops in the file
    assert counts["invites"] == 2 * 88_234
    assert counts["referred"] + counts["organic"] == 4_039 and counts["organic"] < 400
    assert facebook["occurred_at"][0].as_py() == "2026-03-01 00:00:00"
    assert max(check_joins(facebook).values()) < "2026-07-29"  # joins over 150 days
    assert facebook["occurred_at"][-1].as_py() < "2026-08-05"  # the last friend invites back


def test_collegemsg(college):
    assert len(parse_edges(shared_data("collegemsg.txt").read_text("utf-8"))[0]) == 59_835
    joined_at = check_joins(college)
    assert len(joined_at) == 1_899
    first, last = college["occurred_at"][0].as_py(), college["occurred_at"][-1].as_py()
    assert (datetime.fromisoformat(last) - datetime.fromisoformat(first)).days == 193


def test_ego_facebook_ingests_as_converted(facebook, store, ingest, tmp_path):
    path = tmp_path / "facebook.csv"
    write_campaign(
        facebook, loaders.edges.NetworkTruth(0, 4039, "ego-facebook", "pairs"), path, "csv"
    )
    report = ingest(path)
    assert report.accepted == report.read == facebook.num_rows
    stats, counts = store.stats(), summarise(facebook)
    assert stats.users == counts["users"] == 4_039
    assert stats.referred_edges == counts["referred"]
    # every invite is an INVITED tie except the referrer's own
    assert stats.invited_ties == counts["invites"] - counts["referred"]
