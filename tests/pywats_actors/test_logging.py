"""The structlog setup: JSON lines for services, console lines for people, bound context."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import structlog
import trio

from pywats_actors import bind_context, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield None
    structlog.reset_defaults()
    import logging

    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "_pywats", False):
            logging.getLogger().removeHandler(handler)


class TestConfigureLogging:
    def test_json_lines_carry_bound_context(self) -> None:
        """In JSON mode each line is one object with level, time, message and bound keys."""
        out = io.StringIO()
        assert configure_logging(fmt="json", stream=out) == "json"
        with bind_context(actor="node/spool", report_id="r-1", source="in/a.csv"):
            get_logger(component="test").info("report committed", rows=1)
        record = json.loads(out.getvalue())
        assert record["msg"] == "report committed"
        assert record["level"] == "info"
        assert record["actor"] == "node/spool"
        assert record["report_id"] == "r-1"
        assert record["source"] == "in/a.csv"
        assert record["component"] == "test"
        assert record["rows"] == 1
        assert record["timestamp"].endswith("Z")

    def test_auto_picks_json_when_not_a_terminal(self) -> None:
        """A stream that is not a terminal (a service's journal) gets JSON."""
        assert configure_logging(stream=io.StringIO()) == "json"

    def test_console_is_readable(self) -> None:
        """Console mode renders the message and keys on one plain line."""
        out = io.StringIO()
        configure_logging(fmt="console", stream=out)
        get_logger().warning("spool almost full", used_pct=91)
        line = out.getvalue()
        assert "spool almost full" in line
        assert "used_pct=91" in line
        assert "{" not in line

    def test_level_filters_and_bad_level_is_refused(self) -> None:
        """Lines below the level are dropped; an unknown level name is a clear error."""
        out = io.StringIO()
        configure_logging(fmt="json", level="warning", stream=out)
        get_logger().info("hidden")
        get_logger().error("shown")
        assert [json.loads(x)["msg"] for x in out.getvalue().splitlines()] == ["shown"]
        with pytest.raises(ValueError, match="unknown log level 'loud'"):
            configure_logging(level="loud")

    def test_exceptions_are_structured(self) -> None:
        """An exception logged in JSON mode becomes a structured traceback, not a blob."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        try:
            raise ValueError("bad field")
        except ValueError:
            get_logger().exception("conversion failed")
        record = json.loads(out.getvalue())
        assert record["exception"][0]["exc_type"] == "ValueError"

    def test_a_logger_made_before_configuration_follows_it(self) -> None:
        """A module-level logger (made at import, before the node configures logging) writes
        with the configuration in force when it logs."""
        early = get_logger(component="config")
        out = io.StringIO()
        configure_logging(fmt="json", level="warning", stream=out)
        early.info("hidden")
        early.warning("config note")
        (record,) = [json.loads(line) for line in out.getvalue().splitlines()]
        assert (record["msg"], record["component"]) == ("config note", "config")

    def test_tracebacks_carry_no_local_variables(self) -> None:
        """A logged exception never prints the locals of its frames: a token or a report body
        could be among them."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        token = "s3cret-t0ken"
        try:
            raise RuntimeError(f"length {len(token)}")
        except RuntimeError:
            get_logger().exception("upload failed")
        assert "s3cret-t0ken" not in out.getvalue()
        frame = json.loads(out.getvalue())["exception"][0]["frames"][-1]
        assert frame["name"] == "test_tracebacks_carry_no_local_variables"

    def test_timestamps_are_utc_iso_with_microseconds(self) -> None:
        """``2026-11-23T05:43:49.123456Z``, the same text structlog's ISO stamper writes."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        before = datetime.now(UTC)
        get_logger().info("tick")
        after = datetime.now(UTC)
        stamp = json.loads(out.getvalue())["timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before - timedelta(milliseconds=1) <= when <= after + timedelta(milliseconds=1)

    def test_values_that_are_not_json_are_written_as_text(self) -> None:
        """A path, an exception or any other object in a log call becomes its str()."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        get_logger().info("moved", to=Path("/data/done/a.csv"), error=ValueError("x"), n=None)
        record = json.loads(out.getvalue())
        assert (record["to"], record["error"], record["n"]) == ("/data/done/a.csv", "x", None)

    def test_stdlib_logging_is_rendered_the_same_way(self) -> None:
        """Records of libraries that use the logging module come out as the same JSON lines."""
        import logging

        out = io.StringIO()
        configure_logging(fmt="json", stream=out)
        with bind_context(actor="conversion/pool"):
            logging.getLogger("converters.pool").warning("worker %d replaced", 7)
        record = json.loads(out.getvalue())
        assert record["msg"] == "worker 7 replaced"
        assert record["logger"] == "converters.pool"
        assert record["level"] == "warning"
        assert record["actor"] == "conversion/pool"

    async def test_context_follows_child_tasks(self) -> None:
        """Context bound before a task starts is on every line that task writes."""
        out = io.StringIO()
        configure_logging(fmt="json", stream=out)

        async def child() -> None:
            get_logger().info("from child")

        with bind_context(actor="node/uplink"):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(child)
        assert json.loads(out.getvalue())["actor"] == "node/uplink"
