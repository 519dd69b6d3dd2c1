"""With CI=true, a skip in a required suite (browser, Home Assistant, audio devices) fails the run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).parent / "conftest.py").read_text()
MODULE_SKIP = "import pytest\npytest.skip('no chromium here', allow_module_level=True)\n"
TEST_SKIP = "import pytest\n\n@pytest.mark.skipif(True, reason='no .ha-venv')\ndef test_ha():\n    pass\n"


@pytest.mark.parametrize(
    ("name", "source"), [("test_web_browser.py", MODULE_SKIP), ("test_ha_live.py", TEST_SKIP)]
)
def test_required_suite_skip_fails_on_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, source: str
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(**{name.removesuffix(".py"): source})
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) == 0, result.stdout.str()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["*CI=true: the required suite*skipped*"])


def test_required_suite_skip_is_a_skip_off_ci(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_web_browser=MODULE_SKIP)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)


def test_other_suites_may_skip_on_ci(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_deploy=TEST_SKIP)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
