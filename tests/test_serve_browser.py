"""End to end: a real ``genrenet serve`` process on 127.0.0.1 and its page in headless Chromium
(Debian's ``chromium`` + ``chromium-driver``, driven by Selenium): upload a synthetic song, wait
for the bars, the timeline and the tags, compare the top genre with ``genrenet predict``, and
take screenshots (desktop and phone widths) into the test's folder.

Set ``GENRENET_SCREENSHOTS=DIR`` to also copy the desktop screenshot to ``DIR/serve.png`` (how
the README's picture is made).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.serve_helpers import GENRENET, serve_process

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None,
        reason="needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)",
    ),
]


def _browser(width: int, height: int):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _song(path: Path) -> Path:
    from genrenet.data.synth import generate_clip

    sr = 22050
    y = generate_clip("jazz", 24.0, sr, np.random.default_rng(7))
    sf.write(path, y, sr, format="FLAC")
    return path


def _full_page_shot(driver, path: Path, width: int, mobile: bool = False) -> None:
    """The whole page at ``width`` CSS pixels (a phone's viewport when ``mobile``)."""
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    metrics["height"] = min(max(height, 600), 4000)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.save_screenshot(str(path))


def test_page_in_chromium_matches_cli(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    song = _song(tmp_path / "synthetic-clip.flac")
    cli = subprocess.run(
        [str(GENRENET), "predict", str(song), "--json", "--timeline"],
        capture_output=True,
        text=True,
        check=True,
    )
    cli_top = json.loads(cli.stdout)[0]["top"][0]["label"]
    cli_windows = json.loads(cli.stdout)[0]["timeline"]

    with serve_process(["--tagger", "msd"], tmp_path / "serve.log") as url:
        driver = _browser(1100, 900)
        try:
            driver.get(url + "/")
            wait = WebDriverWait(driver, 120)
            wait.until(ec.text_to_be_present_in_element((By.ID, "model"), "genres"))
            bad = tmp_path / "notes.mp3"
            bad.write_text("a text file, not a song\n" * 10)
            # two files at once: they queue; the bad one shows the server's message
            driver.find_element(By.ID, "files").send_keys(f"{bad}\n{song}")
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".timeline .seg")))
            wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".tags li")))
            labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".bar .label")]
            segments = driver.find_elements(By.CSS_SELECTOR, ".timeline .seg")
            tags = driver.find_elements(By.CSS_SELECTOR, ".tags li")
            cards = driver.find_elements(By.CSS_SELECTOR, ".result")
            assert [c.find_element(By.CSS_SELECTOR, ".name").text for c in cards] == [
                song.name,
                bad.name,
            ]
            error = cards[0].find_element(By.CSS_SELECTOR, ".error")
            assert not error.is_displayed(), error.text
            failed = cards[1].find_element(By.CSS_SELECTOR, ".error")
            assert failed.is_displayed()
            assert "422" in failed.text and "notes.mp3: not an audio file" in failed.text
            assert labels[0].lower() == cli_top
            assert len(labels) == 3
            assert len(segments) == len(cli_windows)
            first = segments[0].get_attribute("title")
            assert first.startswith("0:00") and cli_windows[0]["top"][0]["label"] in first
            assert "windows" in driver.find_element(By.CSS_SELECTOR, ".timeline").get_attribute(
                "aria-label"
            )
            assert len(tags) == 10
            assert driver.find_element(By.CSS_SELECTOR, ".player").get_attribute("src")
            driver.execute_script("document.querySelector('.player').currentTime = 10;")
            wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".now"), "At 0:10"))
            assert driver.find_element(By.CSS_SELECTOR, ".playhead").is_displayed()
            assert not driver.find_element(By.ID, "token-form").is_displayed()
            _full_page_shot(driver, tmp_path / "serve.png", 1000)
            _full_page_shot(driver, tmp_path / "serve-phone.png", 390, mobile=True)
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth > window.innerWidth"
            )
            assert not overflow, "the page scrolls sideways at a phone's width"
        finally:
            driver.quit()
    assert (tmp_path / "serve.png").stat().st_size > 10_000
    access = [
        line for line in (tmp_path / "serve.log").read_text().splitlines() if '"path"' in line
    ]
    predicted = [json.loads(line) for line in access if "/v1/predict" in line]
    assert [(r["status"], r["top"]) for r in predicted] == [(422, None), (200, cli_top)]
    out = os.environ.get("GENRENET_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "serve.png", Path(out) / "serve.png")
        shutil.copyfile(tmp_path / "serve-phone.png", Path(out) / "serve-phone.png")
