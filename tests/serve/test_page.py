"""The page in headless Chromium (selenium): upload slices, find the answer on the page, keep a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,1500"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def save_screenshot(driver, tmp_path: Path) -> Path:
    """The page as shown, in the test's folder and in ``$ALZMRI_TEST_ARTEFACTS`` when set."""
    shot = tmp_path / "serve_page.png"
    driver.save_screenshot(str(shot))
    if os.environ.get("ALZMRI_TEST_ARTEFACTS"):
        folder = Path(os.environ["ALZMRI_TEST_ARTEFACTS"])
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, folder / shot.name)
    return shot


def test_the_page_uploads_slices_and_shows_the_answer(smoke_run, slice_files, serving, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    with serving(smoke_run) as (url, _):
        browser.get(url)
        wait = WebDriverWait(browser, 120)
        wait.until(lambda d: "Run " in d.find_element(By.ID, "run-summary").text)
        browser.find_element(By.ID, "files").send_keys("\n".join(str(p) for p in slice_files[:2]))
        answer = wait.until(seen.visibility_of_element_located((By.ID, "answer")))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cams img")) == 2)
        assert slice_files[0].name in answer.text and "as one subject" in answer.text
        assert "SYNTHETIC" in answer.text and "not a diagnosis" in answer.text
        assert browser.find_element(By.ID, "error").text == ""
        shot = save_screenshot(browser, tmp_path)
    assert shot.stat().st_size > 10_000
