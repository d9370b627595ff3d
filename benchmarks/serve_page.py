"""The screenshot of `alzmri serve`'s page that docs/serving.md shows, taken the way a user sees it.

Starts `python -m alzmri serve RUN` on a free 127.0.0.1 port, opens the page in headless Chromium (Debian's
`chromium` and `chromium-driver`, through selenium), uploads the first --slices image files of --data as they are
(one brain's slices, as a user would send them), waits for the answers and the Grad-CAM overlays, and saves the
page as a 256-colour PNG.

Usage: python benchmarks/serve_page.py --run saved_models/<run> --data DIR [--slices 3]
       [--out docs/figures/serve/page.png]
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
from pathlib import Path

from results import ROOT, publish_figure
from serve import free_port, start_server

PAGE = ROOT / "docs" / "figures" / "serve" / "page.png"


def screenshot(url: str, files: list[Path], target: Path) -> None:
    """Upload ``files`` on the page at ``url`` and save what the browser shows to ``target``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 120)
        wait.until(lambda d: "Run " in d.find_element(By.ID, "run-summary").text)
        driver.find_element(By.ID, "files").send_keys("\n".join(str(f) for f in files))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#cams img")) == len(files))
        driver.save_screenshot(str(target))
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="run folder to serve")
    parser.add_argument("--data", required=True, help="folder of one brain's slices to upload")
    parser.add_argument("--slices", type=int, default=3, help="slices uploaded as one subject (default 3)")
    parser.add_argument("--out", type=Path, default=PAGE, help="the PNG to write (default docs/figures/serve/page.png)")
    args = parser.parse_args()
    from alzmri.data.pipeline import collect_image_files

    files = [Path(f).resolve() for f in collect_image_files([args.data])[:args.slices]]
    with tempfile.TemporaryDirectory(prefix="alzmri-serve-page-") as tmp:
        port = free_port()
        server = start_server(Path(args.run), port)
        try:
            screenshot(f"http://127.0.0.1:{port}/", files, Path(tmp) / "page.png")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        publish_figure(Path(tmp) / "page.png", args.out)


if __name__ == "__main__":
    main()
