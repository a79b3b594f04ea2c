"""Drives the preference page in a real browser, as a recipient would: opens the link from a
sent email, turns one category off on one channel, submits the form and reads the page again.

JavaScript is switched off in the browser: the page must work as plain HTML forms. Prints one
JSON object describing what the browser saw; exits non-zero if the page could not be used.

    python preference_page.py --browser /usr/bin/chromium --url http://.../p/<token> \
        --category news --channel email
"""

import argparse
import json
import sys

from playwright.sync_api import sync_playwright


def checkbox(page, value):
    return page.locator(f'input[type="checkbox"][value="{value}"]')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--browser", required=True, help="the Chromium binary")
    parser.add_argument("--url", required=True, help="the preference page link")
    parser.add_argument("--category", required=True, help="category to turn off")
    parser.add_argument("--channel", required=True, help="channel to turn it off on")
    parser.add_argument("--critical", help="a critical category that must be locked on")
    args = parser.parse_args()
    field = f"{args.category}:{args.channel}"
    seen = {}
    with sync_playwright() as p:
        # root in a container: Chromium's sandbox needs namespaces it may not have
        browser = p.chromium.launch(
            executable_path=args.browser, headless=True, args=["--no-sandbox"]
        )
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        response = page.goto(args.url)
        seen["status"] = response.status
        seen["headers"] = {
            k: v
            for k, v in response.headers.items()
            if k in ("content-security-policy", "referrer-policy", "x-frame-options")
        }
        seen["lang"] = page.locator("html").get_attribute("lang")
        seen["title"] = page.title()
        boxes = page.locator('input[type="checkbox"]')
        seen["checkboxes"] = boxes.count()
        # every control has a label the browser associates with it (its accessible name)
        unlabelled = 0
        for i in range(boxes.count()):
            box = boxes.nth(i)
            box_id = box.get_attribute("id")
            if page.locator(f'label[for="{box_id}"]').count() != 1:
                unlabelled += 1
        seen["unlabelled"] = unlabelled
        seen["legends"] = page.locator("fieldset > legend").count()
        target = checkbox(page, field)
        if target.count() != 1:
            print(json.dumps(seen))
            sys.exit(f"no checkbox for {field}")
        seen["before"] = target.is_checked()
        if args.critical:
            locked = checkbox(page, f"{args.critical}:{args.channel}")
            seen["critical_disabled"] = locked.is_disabled()
            seen["critical_checked"] = locked.is_checked()
        # keyboard: the control is focusable and toggles with the space bar
        target.focus()
        page.keyboard.press("Space")
        seen["toggled"] = not target.is_checked()
        with page.expect_navigation():
            page.get_by_role("button").click()
        seen["after_status"] = page.locator('[role="status"]').count()
        seen["saved_text"] = page.locator('[role="status"]').first.inner_text()
        seen["after"] = checkbox(page, field).is_checked()
        # a fresh load shows the stored state, not the submitted form
        page.goto(args.url)
        seen["reloaded"] = checkbox(page, field).is_checked()
        browser.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
