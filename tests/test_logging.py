"""wsgi.errors, sys.stdout, sys.stderr and the logging module reach
Apache's error log, with the request's context when inside a request."""

import re

import pytest

from common import unique
from conftest import in_both_modes

# Every test here runs on the embedded routes and on their daemon twins.
server = in_both_modes()


def lines_with(text, needle):
    return [l for l in text.splitlines() if needle in l]


@pytest.mark.allow_log(r"(wsgi\.errors|stdout|stderr|logging) line tag-", r"import-time std(out|err) line from logging\.wsgi")
def test_every_channel_reaches_the_log_once_with_client(server):
    tag = unique("tag")
    mark = server.log_mark()
    assert server.get("/log/all?" + tag).text == "logged"
    for what in ("wsgi.errors line", "stdout line", "stderr line", "logging line"):
        needle = "%s %s" % (what, tag)
        text = server.wait_log(re.escape(needle), mark=mark)
        lines = lines_with(text, needle)
        assert len(lines) == 1, (what, text)
        assert "[client 127.0.0.1:" in lines[0], lines[0]


@pytest.mark.allow_log("writelines (one|two) wl-", r"import-time std(out|err) line from logging\.wsgi")
def test_writelines_and_flush(server):
    tag = unique("wl")
    mark = server.log_mark()
    assert server.get("/log/writelines?" + tag).text == "logged"
    text = server.wait_log("writelines two %s" % re.escape(tag), mark=mark)
    assert len(lines_with(text, "writelines one %s" % tag)) == 1
    assert len(lines_with(text, "writelines two %s" % tag)) == 1


@pytest.mark.allow_log("unterminated nl-", r"import-time std(out|err) line from logging\.wsgi")
def test_unterminated_line_is_flushed(server):
    tag = unique("nl")
    mark = server.log_mark()
    assert server.get("/log/no-newline?" + tag).text == "logged"
    text = server.wait_log("unterminated %s" % re.escape(tag), mark=mark)
    assert len(lines_with(text, "unterminated %s" % tag)) == 1


@pytest.mark.allow_log("multi (first|second) ml-", r"import-time std(out|err) line from logging\.wsgi")
def test_multiline_write_gives_one_log_line_per_line(server):
    tag = unique("ml")
    mark = server.log_mark()
    server.get("/log/multiline?" + tag)
    text = server.wait_log("multi second %s" % re.escape(tag), mark=mark)
    first = lines_with(text, "multi first %s" % tag)
    second = lines_with(text, "multi second %s" % tag)
    assert len(first) == 1 and len(second) == 1
    assert first[0] != second[0]
    assert "[client 127.0.0.1:" in second[0]


@pytest.mark.allow_log(r"import-time std(out|err) line from logging\.wsgi")
def test_errors_stream_is_text(server):
    assert server.get("/log/bytes").text == "TypeError"
    assert server.get("/log/attrs").text == "write,writelines,flush"


@pytest.mark.allow_log(r"import-time std(out|err) line from logging\.wsgi")
def test_import_time_output_reaches_the_log(server):
    # Printed when the script was first loaded (some earlier request).
    server.get("/log/attrs")
    text = server.wait_log("import-time stderr line", mark=0)
    assert "import-time stdout line from logging.wsgi" in text
    assert "import-time stderr line from logging.wsgi" in text
