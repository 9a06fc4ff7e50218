#!/usr/bin/env python3
"""The web front in a real browser: headless Chromium (Debian's) driven by chromium-driver through
Selenium, against `postern demo` (two lanes on simulated devices, a scripted crowd), then against
`postern-central` in `postern-city` (a throwaway PostgreSQL, central, three kiosk processes of two
communities on simulated devices, uplinked).

It logs in, sets the board's roster, opens the live page, watches each passage row appear with
its photo within a bounded time, cuts the browser's connection (a TCP proxy between browser and
server drops every connection and refuses new ones for a while), restores it, checks that the
event stream resumed with no gap and no repeat (against `postern tail --json`), acknowledges an
alarm (and finds the acknowledgement in the log with who), checks the board at the gate (roster
shown, last decision updating live, no personal data of anyone passing), and saves screenshots
of the live view, the ledger page and the board.

At central: anonymous refused, log in with a central account (an operator of community c1), a
community the account may not see refused, the community's live page with rows appearing (with
photos kept by central) as kiosks decide, the connection cut and restored with no gap and no
repeat (against the community's sequence in PostgreSQL), an alarm acknowledged (found in central's
web_actions with who), a street supervisor refused photos. Screenshot: central-live.png.

Exit status 0 and a closing line 'N passed, 0 failed' on success.
"""
import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSTERN = os.environ.get("POSTERN_BIN", os.path.join(ROOT, ".build", "debug", "postern"))
CITY = os.environ.get("POSTERN_CITY_BIN", os.path.join(ROOT, ".build", "debug", "postern-city"))
ARTEFACTS = os.environ.get("POSTERN_ARTEFACTS", os.path.join(ROOT, ".build", "test-artefacts"))
PASSWORD = "browser-test-password"
# Everyone the demo's crowd contains: none of these may appear on the board.
DEMO_PEOPLE = ["张伟", "李娜", "王芳", "赵强", "刘洋", "孙丽", "周杰", "张*", "李*", "王*", "赵*", "刘*", "孙*", "周*"]

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"  ok    {what}", flush=True)
    else:
        failed += 1
        print(f"  FAIL  {what}", flush=True)
    return cond


class Proxy:
    """A loopback TCP relay the test can cut: `down()` resets every connection and refuses new
    ones until `up()`."""

    def __init__(self, target_port):
        self.target = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []
        self.refusing = False
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopped:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                refusing = self.refusing
            if refusing:
                self.reset(c)
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                self.reset(c)
                continue
            with self.lock:
                self.conns.append((c, s))
            threading.Thread(target=self.pipe, args=(c, s), daemon=True).start()

    @staticmethod
    def reset(sock):
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.close()
        except OSError:
            pass

    def pipe(self, a, b):
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 1.0)
                for x in r:
                    data = x.recv(65536)
                    if not data:
                        raise OSError
                    (b if x is a else a).sendall(data)
        except OSError:
            pass
        finally:
            self.reset(a)
            self.reset(b)

    def down(self):
        with self.lock:
            self.refusing = True
            conns, self.conns = self.conns, []
        for a, b in conns:
            self.reset(a)
            self.reset(b)

    def up(self):
        with self.lock:
            self.refusing = False

    def close(self):
        self.stopped = True
        self.down()
        self.listener.close()


def tail(data_dir):
    out = subprocess.run([POSTERN, "tail", "--json", "--after", "0", "--data-dir", data_dir], capture_output=True, text=True, timeout=60)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def shown(ev):
    """Whether the live view shows this record (PosternWeb's Views)."""
    k = ev.get("kind")
    if k == "passage":
        return "decision" in ev
    if k == "alert":
        return "alert" in ev
    if k == "system":
        return ev.get("action") == "alarm_ack"
    return k in ("device_state", "device_fault") and "device" in ev


def driver():
    o = Options()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000", "--lang=zh-CN"]:
        o.add_argument(a)
    o.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=o)


def main():
    os.makedirs(ARTEFACTS, exist_ok=True)
    data = tempfile.mkdtemp(prefix="postern-browser-")
    for user, role in [("admin", "admin"), ("guard1", "guard")]:
        subprocess.run([POSTERN, "web", "passwd", user, "--role", role, "--password-stdin", "--data-dir", data], input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    demo = subprocess.Popen([POSTERN, "demo", "--data-dir", data, "--duration", "75", "--web", "127.0.0.1:0", "--lang", "zh"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    url = None
    t0 = time.time()
    while time.time() - t0 < 60 and url is None:
        line = demo.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"Live view: (http://127\.0\.0\.1:(\d+))/live", line)
        if m:
            url, port = m.group(1), int(m.group(2))
    threading.Thread(target=lambda: [lines.append(l) for l in demo.stdout], daemon=True).start()
    if not check(url is not None, "postern demo prints the live view's address"):
        print("".join(lines))
        return
    proxy = Proxy(port)
    base = f"http://127.0.0.1:{proxy.port}"
    d = driver()
    board = None
    try:
        wait = WebDriverWait(d, 20)
        # Log in as the admin, set the board's roster and a notice.
        d.get(base + "/login")
        d.find_element(By.ID, "user").send_keys("admin")
        d.find_element(By.ID, "password").send_keys(PASSWORD)
        d.find_element(By.ID, "login").click()
        wait.until(lambda d: d.current_url.endswith("/live"))
        check(d.current_url.endswith("/live"), "login with the form lands on the live page")
        d.get(base + "/board/edit")
        d.find_element(By.CSS_SELECTOR, "input[name=publish][value=s1]").click()
        phone = d.find_element(By.CSS_SELECTOR, "input[name='phone.s1']")
        phone.clear()
        phone.send_keys("0470-8212345")
        duty = d.find_element(By.CSS_SELECTOR, "input[name='duty.s1']")
        duty.clear()
        duty.send_keys("社区党支部书记")
        d.find_element(By.CSS_SELECTOR, "input[name=onduty][value=s1]").click()
        d.find_element(By.ID, "save").click()
        wait.until(lambda d: d.current_url.endswith("/board"))

        # The board at the gate, in a second browser without any login.
        board = driver()
        board.get(base + "/board")
        src = board.page_source
        check("陈主任" in src and "0470-8212345" in src and "社区党支部书记" in src and "今日值班" in src, "board: the roster shows name, duty, published phone, on duty")
        check("非本小区人员禁止入内" in src, "board: the residents-only sign")

        # The live page: rows appear with the photo.
        d.get(base + "/live")
        wait.until(lambda d: "ok" in d.find_element(By.ID, "conn").get_attribute("class"))
        first_seen = time.time()
        WebDriverWait(d, 40).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entries tr")) >= 2)
        rows = d.find_elements(By.CSS_SELECTOR, "#entries tr")
        check(len(rows) >= 2, f"live: passage rows appear ({len(rows)} after {time.time() - first_seen:.1f} s)")
        WebDriverWait(d, 10).until(lambda d: d.execute_script("return Array.from(document.querySelectorAll('#entries img')).some(i => i.complete && i.naturalWidth > 0)"))
        check(True, "live: a row shows the holder's photo (image loaded)")

        # Cut the connection for 4 s while the crowd goes on; the stream must resume.
        seen_before = d.execute_script("return window.posternSeen.length")
        cut_at = time.time()
        proxy.down()
        WebDriverWait(d, 15).until(lambda d: "down" in d.find_element(By.ID, "conn").get_attribute("class"))
        check(True, "live: the page shows the connection as lost")
        time.sleep(4)
        proxy.up()
        WebDriverWait(d, 20).until(lambda d: "ok" in d.find_element(By.ID, "conn").get_attribute("class"))
        back_at = time.time()
        check(True, "live: the page reconnects by itself")
        WebDriverWait(d, 40).until(lambda d: d.execute_script("return window.posternSeen.length") > seen_before + 3)

        # An alarm stands out; acknowledge it.
        WebDriverWait(d, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alarms li.alarm button.ack"))
        alarm = d.find_element(By.CSS_SELECTOR, "#alarms li.alarm")
        alarm_seq = alarm.get_attribute("data-seq")
        check(alarm.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), "live: the alarm is coloured")
        d.save_screenshot(os.path.join(ARTEFACTS, "live.png"))
        alarm.find_element(By.CSS_SELECTOR, "button.ack").click()
        WebDriverWait(d, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, f"#alarms li[data-seq='{alarm_seq}']"))
        check(True, f"live: alarm {alarm_seq} acknowledged and gone from the page")

        # The ledger page, printable, in a second tab (the live page keeps its stream).
        live_tab = d.current_window_handle
        d.switch_to.new_window("tab")
        d.get(base + "/ledger")
        rows = d.find_elements(By.CSS_SELECTOR, "#ledger tbody tr")
        check(len(rows) >= 5, f"ledger: {len(rows)} rows for today")
        check(all("*" in r.find_elements(By.TAG_NAME, "td")[4].text or r.find_elements(By.TAG_NAME, "td")[4].text == "" for r in rows), "ledger: names masked")
        d.save_screenshot(os.path.join(ARTEFACTS, "ledger.png"))
        d.close()
        d.switch_to.window(live_tab)

        # The board updates live.
        before = board.execute_script("return window.posternBoardSeen.length")
        WebDriverWait(board, 40).until(lambda b: b.execute_script("return window.posternBoardSeen.length") > before)
        check(True, "board: the last decision updates live")
        bsrc = board.page_source
        leaked = [p for p in DEMO_PEOPLE if p in bsrc]
        check(not leaked and not re.search(r"\b[rvc][1-5]\b", board.find_element(By.ID, "last").text), f"board: no personal data of anyone passing ({leaked or 'none'})")
        board.save_screenshot(os.path.join(ARTEFACTS, "board.png"))

        # Let the crowd finish (the server goes with it), then compare what the page showed
        # with the log.
        while demo.poll() is None:
            seen = d.execute_script("return window.posternSeen")
            arrivals = d.execute_script("return window.posternArrivals")
            time.sleep(0.5)
        log = tail(data)
        start = seen[0] if seen else 0
        want = [e["seq"] for e in log if e["seq"] >= start and shown(e)]
        # The page stops hearing when the demo's server stops: compare up to what it saw last.
        want = [s for s in want if s <= seen[-1]]
        check(seen == sorted(set(seen)), f"stream: {len(seen)} events, strictly increasing, none repeated")
        kinds = {e["seq"]: (e.get("kind"), e.get("action") or e.get("alert") or e.get("device")) for e in log}
        check(seen == want, f"stream: no gap across the cut (page {len(seen)} events, log {len(want)})" + ("" if seen == want else f" missing {[(s, kinds.get(s)) for s in sorted(set(want) - set(seen))[:10]]} extra {[(s, kinds.get(s)) for s in sorted(set(seen) - set(want))[:10]]}"))
        acks = [e for e in log if e.get("kind") == "system" and e.get("action") == "alarm_ack"]
        check(any(e.get("key") == alarm_seq and e.get("actor") == "admin" for e in acks), "log: the acknowledgement is recorded with who")
        # Rows decided while the page was connected (not the opening backlog, not during the cut).
        lat = []
        cut_lat = []
        for e in log:
            if e.get("kind") != "passage" or str(e["seq"]) not in arrivals:
                continue
            at = e["wall_ns"] / 1e9
            delay = arrivals[str(e["seq"])] / 1000 - at
            if at < first_seen:
                continue
            (cut_lat if cut_at - 0.5 <= at <= back_at + 0.5 else lat).append(delay)
        live_lat = sorted(lat)
        if live_lat:
            p50 = live_lat[len(live_lat) // 2]
            check(live_lat[-1] < 2.0, f"stream: decision → row in the browser p50 {p50 * 1000:.0f} ms, max {live_lat[-1] * 1000:.0f} ms (bound 2 s; {len(live_lat)} rows; {len(cut_lat)} decided during the cut came on reconnect)")

    finally:
        d.quit()
        if board:
            board.quit()
        proxy.close()
        if demo.poll() is None:
            demo.terminate()
            try:
                demo.wait(timeout=30)
            except subprocess.TimeoutExpired:
                demo.kill()
        shutil.rmtree(data, ignore_errors=True)


def central_part():
    """Central's live view over the city on one machine."""
    print("central (postern-city):", flush=True)
    city = subprocess.Popen([CITY, "--duration", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    web = pg = password = None
    started = False
    t0 = time.time()
    while time.time() - t0 < 180 and not started:
        line = city.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"central's live view: (http://127\.0\.0\.1:(\d+))/ .*password (\S+)\)", line)
        if m:
            web, password = int(m.group(2)), m.group(3)
        m = re.search(r"PostgreSQL: 127\.0\.0\.1:(\d+)", line)
        if m:
            pg = int(m.group(1))
        started = "the crowd starts" in line
    threading.Thread(target=lambda: [lines.append(l) for l in city.stdout], daemon=True).start()
    if not check(web is not None and pg is not None and started, "postern-city prints central's live view address and how to log in"):
        print("".join(lines))
        city.terminate()
        return

    def psql(sql):
        out = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(pg), "-U", "postgres", "-d", "postern", "-tA", "-c", sql], capture_output=True, text=True, timeout=60)
        return [l for l in out.stdout.splitlines() if l.strip()]

    def login(drv, user):
        drv.get(base + "/login")
        drv.find_element(By.ID, "user").send_keys(user)
        drv.find_element(By.ID, "password").send_keys(password)
        drv.find_element(By.ID, "login").click()

    proxy = Proxy(web)
    base = f"http://127.0.0.1:{proxy.port}"
    d = driver()
    sup = None
    try:
        wait = WebDriverWait(d, 20)
        d.get(base + "/c/c1/live")
        check(d.current_url.endswith("/login"), "central: an anonymous visitor of a community's live page is sent to the login page")
        login(d, "op-c1")
        wait.until(lambda d: d.current_url.endswith("/c/c1/live"))
        check(d.current_url.endswith("/c/c1/live"), "central: an operator of c1 logs in with central's account and lands on c1's live page")
        d.get(base + "/c/c2/live")
        check("may not see" in d.page_source and not d.find_elements(By.ID, "live"), "central: the operator of c1 is refused community c2")
        d.get(base + "/c/c1/live")
        wait.until(lambda d: "ok" in d.find_element(By.ID, "conn").get_attribute("class"))
        first_seen = time.time()
        WebDriverWait(d, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#entries tr")) >= 2)
        check(True, f"central: passage rows of c1 appear as its kiosks decide ({time.time() - first_seen:.1f} s)")
        WebDriverWait(d, 30).until(lambda d: d.execute_script("return Array.from(document.querySelectorAll('#entries img')).some(i => i.complete && i.naturalWidth > 0)"))
        check(True, "central: a row shows the holder's photo kept by central (image loaded)")

        seen_before = d.execute_script("return window.posternSeen.length")
        cut_at = time.time()
        proxy.down()
        WebDriverWait(d, 15).until(lambda d: "down" in d.find_element(By.ID, "conn").get_attribute("class"))
        time.sleep(4)
        proxy.up()
        WebDriverWait(d, 20).until(lambda d: "ok" in d.find_element(By.ID, "conn").get_attribute("class"))
        back_at = time.time()
        check(True, "central: the page lost the connection and reconnected by itself")
        WebDriverWait(d, 60).until(lambda d: d.execute_script("return window.posternSeen.length") > seen_before + 3)

        # The fever at gate A is an open alarm: the operator acknowledges it.
        WebDriverWait(d, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#alarms li.alarm button.ack"))
        alarm = d.find_element(By.CSS_SELECTOR, "#alarms li.alarm")
        alarm_seq = alarm.get_attribute("data-seq")
        d.save_screenshot(os.path.join(ARTEFACTS, "central-live.png"))
        alarm.find_element(By.CSS_SELECTOR, "button.ack").click()
        WebDriverWait(d, 10).until(lambda d: not d.find_elements(By.CSS_SELECTOR, f"#alarms li[data-seq='{alarm_seq}']"))
        acks = psql("SELECT actor || ' ' || encode(payload, 'escape') FROM web_actions WHERE community = 'c1' AND action = 'alarm_ack'")
        check(any(a.startswith("op-c1 ") and f'"key":"{alarm_seq}"' in a for a in acks), f"central: alarm {alarm_seq} acknowledged, recorded in central's web_actions with who")

        # A street supervisor watches c1 but is refused photos.
        sup = driver()
        login(sup, "sup")
        WebDriverWait(sup, 20).until(lambda b: b.current_url.endswith("/c/c1/live"))
        photo_seq = d.execute_script("var i = document.querySelector('#entries tr img'); return i ? i.closest('tr').dataset.seq : null")
        sup.get(base + f"/c/c1/photo/{photo_seq}")
        check(photo_seq is not None and "does not see photos" in sup.page_source, "central: a street supervisor is refused the photo")

        time.sleep(5)
        seen = d.execute_script("return window.posternSeen")
        arrivals = d.execute_script("return window.posternArrivals")
        rows = psql(
            "SELECT community_seq || ' ' || wall_ns || ' ' || kind FROM events WHERE community = 'c1' AND kind IN ('passage', 'alert', 'device_state', 'device_fault')"
            " UNION ALL SELECT community_seq || ' ' || wall_ns || ' ack' FROM web_actions WHERE community = 'c1' AND action = 'alarm_ack' ORDER BY 1")
        recs = sorted((int(r.split()[0]), int(r.split()[1]), r.split()[2]) for r in rows)
        want = [r[0] for r in recs if seen and seen[0] <= r[0] <= seen[-1]]
        check(seen == sorted(set(seen)), f"central stream: {len(seen)} events, strictly increasing, none repeated")
        check(seen == want, f"central stream: no gap across the cut (page {len(seen)} events, central {len(want)})" + ("" if seen == want else f" missing {sorted(set(want) - set(seen))[:10]} extra {sorted(set(seen) - set(want))[:10]}"))
        lat = sorted(arrivals[str(s)] / 1000 - w / 1e9 for s, w, k in recs if k == "passage" and str(s) in arrivals and w / 1e9 >= first_seen and not (cut_at - 0.5 <= w / 1e9 <= back_at + 0.5))
        if lat:
            check(lat[-1] < 3.0, f"central stream: decision at the kiosk → row in the browser p50 {lat[len(lat) // 2] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms (bound 3 s; {len(lat)} rows)")
    finally:
        d.quit()
        if sup:
            sup.quit()
        proxy.close()
        if city.poll() is None:
            city.terminate()
            try:
                city.wait(timeout=60)
            except subprocess.TimeoutExpired:
                city.kill()


if __name__ == "__main__":
    parts = [main, central_part]
    if os.environ.get("POSTERN_BROWSER_PART") == "kiosk":
        parts = [main]
    elif os.environ.get("POSTERN_BROWSER_PART") == "central":
        parts = [central_part]
    for part in parts:
        try:
            part()
        except Exception as e:  # a failure of the harness itself counts as a failed check
            import traceback
            traceback.print_exc()
            check(False, f"browser test ({part.__name__}) raised {type(e).__name__}: {e}")
    print(f"screenshots in {ARTEFACTS}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
