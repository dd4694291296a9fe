"""The class report in a real browser: headless Chromium (Playwright) opens OUT/report.html.

The page must show its sections and the histogram, run no script (a script that
slipped into the page would be refused by its Content-Security-Policy, which the
browser reports), link to the feedback pages that exist beside it, and print.
Screenshots and the printed PDF go to build/browser/ for review.
"""
import pytest

import browser
from instructor.assignment import REPO_ROOT
from instructor.report.build import build_report
from report_fixture import ROSTER, STUDENT_FILE, disguise, make_out, solution, students

REASON = browser.missing_browser()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(REASON is not None, reason=f"browser test skipped: {REASON}")]
SHOTS = f"{REPO_ROOT}/build/browser"
SECTIONS = ["The batch", "Automatic scores", "Each graded cell", "Named mistakes",
            "Knock-on failures", "Similar hand-ins", "Canvas", "Students"]


def test_report_opens_inert_with_its_sections_and_prints(tmp_path):
    from playwright.sync_api import sync_playwright
    out = tmp_path / "out"
    s = students()
    # A student id and code that try to run a script in the report.
    evil = "</pre><script>document.title='pwned'</script><img src=x onerror=alert(1)>"
    code = solution(STUDENT_FILE).replace("    return float(loss), dW",
                                          f"    note = {evil!r}\n    return float(loss), dW")
    s["ada"] = dict(s["ada"], files={STUDENT_FILE: code})
    s["dee"] = dict(s["dee"], files={STUDENT_FILE: disguise(code)})
    make_out(str(out), s)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    build_report(str(out), roster=str(roster))
    import os
    os.makedirs(SHOTS, exist_ok=True)

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=browser.chromium_path(), headless=True,
                                     args=browser.CHROMIUM_FLAGS)
        try:
            page = chromium.new_page(viewport={"width": 1200, "height": 900})
            console, dialogs = [], []
            page.on("console", lambda m: console.append(m.text))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto((out / "report.html").as_uri())
            page.wait_for_load_state("load")
            assert page.title() == "softmax: class report"
            headings = page.locator("h2").all_inner_texts()
            assert headings == SECTIONS
            # The histogram is a real decoded image.
            width = page.eval_on_selector("img[alt^=histogram]", "i => i.naturalWidth")
            assert width == 640
            # Nothing ran: no script element took effect, no dialog, no injected image.
            assert dialogs == []
            assert page.locator("script").count() == 0
            assert page.locator("img").count() == 1
            assert "note = " in page.inner_text("#similar ~ .pair")
            # The mistake's students link to their feedback pages, which exist.
            link = page.locator("div.mistake a", has_text="ben").first
            href = link.get_attribute("href")
            assert href == "feedback/ben/softmax.html" and (out / href).is_file()
            page.screenshot(path=f"{SHOTS}/report.png", full_page=True)
            link.click()
            page.wait_for_load_state("load")
            assert page.url.endswith("/feedback/ben/softmax.html")
            assert "knock-on failure" in page.inner_text("body")
            page.go_back()
            page.emulate_media(media="print")
            assert page.locator("nav").is_hidden()
            page.pdf(path=f"{SHOTS}/report.pdf", format="A4")
            assert os.path.getsize(f"{SHOTS}/report.pdf") > 10_000
            # A Content-Security-Policy violation would have been reported on the console.
            assert not [m for m in console if "Refused to" in m], console
        finally:
            chromium.close()
