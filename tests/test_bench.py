"""The benchmark's pure helpers and its seeding (bench/; no timing is measured here).

bench/ is not part of the package: under tox, which tests the installed wheel, there is
nothing to import and these tests are skipped.
"""
from __future__ import annotations

import peewee
import pytest

from widgetapi import operations
from widgetapi.config import Config
from widgetapi.db import database
from widgetapi.timeutil import utcnow

pytest.importorskip("bench.wrk", reason="bench/ is only in a checkout")

from bench import callgrind, inprocess, scenarios, seed, wrk  # noqa: E402
from bench.report import masked  # noqa: E402
from bench.servers import request as bench_request  # noqa: E402

WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:40123
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.12ms    3.01ms  29.31ms   80.00%
  2158 requests in 2.00s, 1.52MB read
Requests/sec:   1079.00
Transfer/sec:    778.51KB
WRK_RESULT {"requests": 2158, "duration_us": 2000000, "errors": {"connect": 0, "read": 1, \
"write": 0, "status": 3, "timeout": 2}, "latency_us": {"p50": 6130, "p90": 9000, "p99": 29310, "max": 31000}}
"""


def test_parse_result_reads_the_result_line_among_wrks_summary():
    result = wrk.parse_result(WRK_OUTPUT)
    assert result == wrk.Result(requests=2158, seconds=2.0, errors=6, p50_ms=6.13, p90_ms=9.0,
                                p99_ms=29.31, max_ms=31.0)
    assert result.rate == 1079.0


@pytest.mark.parametrize("output", [
    "Running 2s test @ http://127.0.0.1:1\nunable to connect to 127.0.0.1:1 Connection refused\n",
    "WRK_RESULT {not json}\n",
    'WRK_RESULT {"requests": 1}\n',
])
def test_parse_result_says_what_wrk_printed_when_there_is_no_result(output):
    with pytest.raises(wrk.WrkFailed) as failure:
        wrk.parse_result(output)
    assert output.strip().splitlines()[-1] in str(failure.value)


def test_median_takes_each_figure_on_its_own_and_adds_the_errors():
    runs = [wrk.Result(1000, 1.0, 1, 5.0, 8.0, 30.0, 40.0), wrk.Result(3000, 1.0, 2, 3.0, 6.0, 10.0, 12.0)]
    measured = wrk.median(runs)
    assert (measured.rate, measured.p50_ms, measured.p99_ms, measured.errors) == (2000.0, 4.0, 20.0, 3)


def test_median_latency_leaves_out_runs_that_got_no_answer():
    unanswered = wrk.Result(0, 2.0, 0, 0.0, 0.0, 0.0, 0.0)
    measured = wrk.median([unanswered, wrk.Result(4, 2.0, 0, 900.0, 950.0, 990.0, 990.0)])
    assert (measured.rate, measured.p50_ms, measured.p99_ms) == (1.0, 900.0, 990.0)
    assert wrk.median([unanswered]).p50_ms is None


def test_only_runs_what_a_scenario_is_compared_with_too():
    assert scenarios.selected(["scale"]) == ("list", "scale")
    assert scenarios.selected(["flood", "user"]) == ("widget", "user", "flood")
    assert scenarios.selected(None) == scenarios.SCENARIOS


def test_masked_hides_a_database_password():
    assert masked("postgresql://bench:s3cret@db.example:5432/bench") == "postgresql://bench:***@db.example:5432/bench"
    assert masked("postgresql://postgres@127.0.0.1/bench") == "postgresql://postgres@127.0.0.1/bench"


def test_fill_ended_sessions_fills_the_table_that_keeps_them(app, config: Config):
    operations.create_admin(config, seed.ADMIN_EMAIL, lambda: seed.PASSWORD)
    table = seed.fill_ended_sessions(config.database_url, 500)
    assert table in ("sessions", "revoked_tokens")
    with database.connection_context():
        rows, distinct, live = database.execute_sql(
            f"SELECT count(*), count(DISTINCT jti), count(CASE WHEN expires_at > {database.param} "
            f"THEN 1 END) FROM {table}", (str(utcnow()),)).fetchone()
    assert (rows, distinct, live) == (500, 500, 500)


def column(name: str, null: bool = False, primary_key: bool = False, default: str | None = None):
    return peewee.ColumnMetadata(name, "", null, primary_key, "sessions", default, "", False)


def test_sessions_get_every_column_they_need_and_unknown_required_ones_are_named():
    values = seed._column_values(
        [column("id", primary_key=True), column("jti"), column("user_id"), column("issued_at"),
         column("expires_at"), column("address", null=True), column("user_agent", null=True),
         column("ended_at", null=True), column("note", null=True), column("kind", default="'web'")], 7)
    assert set(values) == {"jti", "user_id", "issued_at", "expires_at", "address", "user_agent", "ended_at"}
    assert values["user_id"] == 7
    with pytest.raises(seed.SeedingFailed, match="sessions.device"):
        seed._column_values([column("jti"), column("device")], 7)


def test_each_user_gets_books_and_the_path_of_one_of_their_own(app):
    from servers import threaded_server  # tests/, like conftest

    with threaded_server(app) as url:
        accounts = seed.register_users(url, 2, prefix="reader")
        paths = seed.add_books(url, accounts, 3)
        assert len(paths) == 2 and paths[0] != paths[1]
        for account, path in zip(accounts, paths, strict=True):
            assert bench_request(url, "GET", path, token=account.token).status == 200
            assert bench_request(url, "GET", "/api/v1/books", token=account.token).body["total_items"] == 3
        assert bench_request(url, "GET", paths[1], token=accounts[0].token).status == 404
    load = wrk.Load("GET", "/api/v1/books", paths=None)
    assert load.first_path() == "/api/v1/books"


CALLGRIND_DUMP = """\
# callgrind format
version: 1
events: Ir
summary: 123456

fn=(1) _pysqlite_query_execute
10 500
cfn=(2) PyEval_SaveThread
calls=4 0
10 40
cfn=(3) PyEval_RestoreThread
calls=4 0
10 40

fn=(4) pysqlite_cursor_iternext
cfn=(5)
calls=3 0
10 30

fn=(5) PyEval_SaveThread
0 30

fn=(2)
0 40
totals: 234567
"""


def test_callgrind_counts_instructions_and_gil_releases_by_compressed_names_too():
    names: dict[str, str] = {}
    assert callgrind.parse(CALLGRIND_DUMP, names) == callgrind.Count(instructions=123456, gil_releases=7)
    # A later file names the function by its id alone.
    later = "summary: 99\nfn=(1)\ncfn=(2)\ncalls=5 0\n10 50\n"
    assert callgrind.parse(later, names) == callgrind.Count(instructions=99, gil_releases=5)


def test_callgrind_dumps_are_read_in_the_order_callgrind_wrote_them(tmp_path):
    for name in ("callgrind.out.7", "callgrind.out.7.10", "callgrind.out.7.2", "callgrind.out.7.1"):
        (tmp_path / name).write_text("")
    assert [path.name for path in callgrind.dumps(tmp_path)] == [
        "callgrind.out.7.1", "callgrind.out.7.2", "callgrind.out.7.10"]


def test_the_in_process_requests_look_like_wrk_s_through_waitress():
    env = inprocess.environ("GET", "/api/v1/widgets?page=1&per_page=10", "t0k3n")
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/api/v1/widgets", "page=1&per_page=10")
    assert env["HTTP_AUTHORIZATION"] == "Bearer t0k3n" and env["HTTP_HOST"] == "127.0.0.1:8000"


def test_valgrind_zeroes_and_dumps_at_the_marks_the_requests_make(tmp_path):
    command = callgrind.command(tmp_path / "out.json", 5, {"x": "/x"}, tmp_path)
    assert command[-2:] == ["--endpoint", "x=/x"]
    assert f"--zero-before={inprocess.MARK_START}" in command
    assert f"--dump-before={inprocess.MARK_END}" in command
    assert set(inprocess.MARKS) == {inprocess.MARK_START, inprocess.MARK_END}
