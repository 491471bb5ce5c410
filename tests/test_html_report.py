"""`ganlab.html_report`: one self-contained page for run and experiment folders, checked as text and in a browser.

The folders are built here by hand (numbers, rows, PNG files written by an independent 20-line PNG encoder),
so every assertion compares the page with values the test chose. The browser test drives a headless
Chromium over the DevTools protocol on a pipe (`--remote-debugging-pipe`: NUL-separated JSON on fds 3 and 4),
standard library only, and skips when no Chromium binary is found.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import ganlab.experiments as experiments_pkg
from ganlab.cli import main
from ganlab.html_report import (MAX_EVAL_ROWS, experiment_section, find_folders, folder_kind, png_problem,
                                run_section, thin, write_report)

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# ---------------------------------------------------------------------------------------------- test folders

def png(width: int, height: int, pixel) -> bytes:
    """An 8-bit RGB PNG, written from the specification (signature, IHDR, one zlib IDAT, IEND; CRC-32 each)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    raw = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


RED = png(40, 30, lambda x, y: (255, 0, 0))
GRADIENT = png(64, 48, lambda x, y: (4 * x, 5 * y, 128))
STRIPES = png(32, 32, lambda x, y: (0, 0, 255) if (x // 4) % 2 else (255, 255, 0))


def make_run(folder: Path, *, finished: bool = True, n_evals: int = 3, extra_lines: tuple[str, ...] = ()) -> Path:
    """A run folder as `ganlab train` writes it: config.toml, metrics.jsonl, samples, curves.png, summary.json."""
    (folder / "samples").mkdir(parents=True)
    (folder / "config.toml").write_text(
        'recipe = "wgan-gp-toy"\ndata = "ring"\nsteps = 600\nthreads = 3\ndevice = "cpu"\n'
        'note = "a<b & c"\n\n[model]\n"family" = "mlp"\n"g_width" = 512\n')
    rows = [{"step": 1, "d_loss": -0.5, "g_loss": 0.25, "critic_gap": 0.1, "wall_seconds": 0.3}]
    for i in range(1, n_evals + 1):
        rows.append({"step": 10 * i, "d_loss": -1.0 / i, "g_loss": 0.5, "critic_gap": 1.0, "wall_seconds": 1.5 * i,
                     "modes": min(i, 8), "high_quality": 0.01 * i, "w1": 1.0 / (i + 1)})
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    for step, data in ((10, GRADIENT), (20, STRIPES), (30, RED)):
        (folder / "samples" / f"step_{step:07d}.png").write_bytes(data)
    if finished:
        (folder / "curves.png").write_bytes(GRADIENT)
        summary = {"step": 600, "d_loss": -0.3063, "g_loss": 0.2652, "modes": 7, "high_quality": 0.8125,
                   "reverse_kl": 0.0123456, "w1": 0.046391, "critic_w": 0.4380353, "recipe": "wgan-gp-toy",
                   "data": "ring", "steps": 600, "wall_seconds": 65.2, "steps_per_second": 9.2, "threads": 3,
                   "device": "cpu", "world_size": 1, "ema": False, "num_modes": 8, "eval_samples": 2500,
                   "run_dir": str(folder), "torch": "2.x"}
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def make_experiment(folder: Path, *, passed: bool = False, verdict: str = XSS,
                    figures: dict[str, bytes] | None = None) -> Path:
    figures = {"fig/red.png": RED, "stripes.png": STRIPES} if figures is None else figures
    for name, data in figures.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    result = {"experiment": "parallel-lines", "lecture": "004_a72885b194f54592.txt, slide 'Disjoint supports'",
              "claim": "W(p, q_theta) = |theta| while JSD = log 2", "size": "smoke",
              "params": {"thetas": [0.5, 1.0], "n": 2000, "solver": {"name": "emd", "tol": 1e-9}},
              "numbers": {"w1": {"theta_0.5": 0.5012345, "theta_1": 0.99871}, "jsd": math.log(2),
                          "kl": math.inf, "n_pairs": 12000, "ok": True},
              "verdict": verdict, "passed": passed, "figures": list(figures)}
    (folder / "result.json").write_text(json.dumps(result, allow_nan=True))
    return folder


def data_uris(page: str) -> list[bytes]:
    """The decoded bytes of every <img src=...>; fails on an img whose src is not a base64 PNG data URI."""
    srcs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]*)\"", page)
    assert len(srcs) == page.count("<img"), "an <img> without a double-quoted src"
    out = []
    for src in srcs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        out.append(base64.b64decode(src.split(",", 1)[1], validate=True))
    return out


class _Html5Checker(HTMLParser):
    """Every non-void element closed in order, ids unique, a doctype first: the well-formedness we promise."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.doctype: str | None = None
        self.tags: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id"]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def check_html5(page: str) -> _Html5Checker:
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    checker = _Html5Checker()
    checker.feed(page)
    checker.close()
    assert checker.doctype == "DOCTYPE html" and checker.stack == []
    assert len(checker.ids) == len(set(checker.ids))
    return checker


# ---------------------------------------------------------------------------------------------- pure tests

def test_png_check_accepts_a_whole_png_and_names_each_kind_of_damage():
    assert png_problem(RED) is None and png_problem(GRADIENT) is None
    assert "not a PNG" in png_problem(b"png")
    assert png_problem(b"") == "an empty file"
    assert "truncated" in png_problem(RED[:-20])
    flipped = bytearray(RED)
    flipped[45] ^= 0xFF  # a byte of IDAT's data
    assert "CRC" in png_problem(bytes(flipped))


@pytest.mark.parametrize("n, k, expected", [(5, 20, [0, 1, 2, 3, 4]), (10, 4, [0, 3, 6, 9]), (7, 4, [0, 2, 4, 6]),
                                            (101, 5, [0, 25, 50, 75, 100]), (3, 1, [2])])
def test_thin_keeps_evenly_spaced_rows_first_and_last(n, k, expected):
    assert thin(n, k) == expected


def test_run_section_shows_the_files_numbers_and_figures(tmp_path):
    run = make_run(tmp_path / "ring-s0")
    html = run_section(run)
    for text in ("wgan-gp-toy", "ring", "1 min 05 s",  # 65.2 s
                 ">0.04639<", ">0.8125<", ">0.01235<", ">0.438<",  # the summary's metrics, 4 significant digits
                 "7 of 8", ">9.2<", "finished"):
        assert text in html, text
    assert ">threads</th><td class=\"num\">3<" in html and ">device</th><td>cpu<" in html
    # the config as key/value, the [model] table flattened, a value holding '<' escaped
    assert ">model.g_width</th><td class=\"num\">512<" in html and "a&lt;b &amp; c" in html and "a<b" not in html
    # curves, then the first and the last sample, each the very bytes of its file; the middle one left out
    assert data_uris(html) == [GRADIENT, GRADIENT, RED]
    assert "step_0000010.png (first)" in html and "step_0000030.png (last)" in html and "step_0000020" not in html
    # the evaluation rows: steps 10, 20, 30 with their w1 = 1/(i+1), not the training-only row of step 1
    table = html.split("evaluations (metrics.jsonl)")[1].split("</table>")[0]
    assert re.findall(r"<tr><td class=\"num\">(\d+)</td>", table) == ["10", "20", "30"]
    assert ">0.3333<" in table and ">0.25<" in table and "d_loss" not in table


def test_many_evaluation_rows_are_thinned_to_at_most_twenty(tmp_path):
    run = make_run(tmp_path / "long", n_evals=57)
    table = run_section(run).split("evaluations (metrics.jsonl)")[1].split("</table>")[0]
    steps = [int(s) for s in re.findall(r"<tr><td class=\"num\">(\d+)</td>", table)]
    assert len(steps) == MAX_EVAL_ROWS == 20
    assert steps == [10 * (i + 1) for i in thin(57, 20)] and steps[0] == 10 and steps[-1] == 570
    assert "20 of 57 evaluation rows" in table


def test_a_run_in_progress_with_malformed_lines_still_renders(tmp_path):
    run = make_run(tmp_path / "running", finished=False, n_evals=2,
                   extra_lines=("{not json", "[1, 2]", json.dumps({"step": 25, "d_loss": 0.1, "g_loss": 0.2})))
    html = run_section(run)
    assert "in progress" in html and "no summary.json" in html
    assert "25 of 600 logged" in html and "3.0 s" in html  # the last logged step; wall time of the last row
    assert "latest evaluation (step 20)" in html and ">0.3333<" in html  # w1 = 1/3 at step 20
    problem = re.search(r'<p class="problem">([^<]*)</p>', html)[1]
    assert "2 malformed line(s)" in problem and "line 4 is not JSON" in problem and "line 5 is not a row" in problem
    assert data_uris(html) == [GRADIENT, RED]  # no curves.png yet: the first and last samples only


def test_a_rollback_is_shown_as_a_note_not_as_an_evaluation(tmp_path):
    rollback = {"step": 20, "rollback": 1, "lr_scale": 0.5, "reason": "non-finite critic loss (nan) at step 23"}
    run = make_run(tmp_path / "run", finished=False, n_evals=2, extra_lines=(json.dumps(rollback),))
    html = run_section(run)
    notes = re.findall(r'<p class="problem">([^<]*)</p>', html)
    assert notes == ["rollback 1 to step 20 (non-finite critic loss (nan) at step 23); learning rates now x0.5"]
    assert "latest evaluation (step 20)" in html and ">0.3333<" in html  # the rollback row is not an evaluation


def test_damaged_pieces_are_reported_inline(tmp_path):
    run = make_run(tmp_path / "damaged")
    (run / "curves.png").write_bytes(b"png")
    (run / "samples" / "step_0000030.png").write_bytes(RED[:-30])
    (run / "summary.json").write_text("{truncated")
    (run / "config.toml").write_text("recipe = \n")
    html = run_section(run)
    assert "figure curves.png is not a PNG file (it starts with b&#x27;png&#x27;); not shown" in html
    assert "step_0000030.png (last) is a truncated PNG file" in html
    assert "summary.json cannot be read as JSON" in html and "config.toml cannot be read as TOML" in html
    assert data_uris(html) == [GRADIENT]  # only the intact first sample


def test_experiment_section_shows_claim_verdict_params_numbers_and_figures(tmp_path):
    exp = make_experiment(tmp_path / "exp", passed=False)
    html = experiment_section(exp)
    assert "parallel-lines" in html and "slide &#x27;Disjoint supports&#x27;" in html
    assert "W(p, q_theta) = |theta| while JSD = log 2" in html
    assert '<span class="badge failed">did not hold</span>' in html and "held</span>" not in html
    assert XSS_ESCAPED in html and "<script" not in html
    # nested dicts flattened to dotted keys, numbers to 4 significant digits, lists joined
    for key, value in [("w1.theta_0.5", "0.5012"), ("w1.theta_1", "0.9987"), ("jsd", "0.6931"), ("kl", "inf"),
                       ("n_pairs", "12000"), ("ok", "true"), ("thetas", "0.5, 1"), ("solver.name", "emd"),
                       ("solver.tol", "1e-09"), ("n", "2000")]:
        assert re.search(rf"<th>{re.escape(key)}</th><td[^>]*>{re.escape(value)}</td>", html), (key, value)
    assert data_uris(html) == [RED, STRIPES]
    held = experiment_section(make_experiment(tmp_path / "exp2", passed=True, verdict="W1 = 0.5012 as claimed"))
    assert '<span class="badge held">held</span>' in held and "did not hold" not in held


def test_a_corrupt_or_missing_experiment_figure_is_reported_inline(tmp_path):
    exp = make_experiment(tmp_path / "exp", figures={"f.png": b"png", "ok.png": RED})
    result = json.loads((exp / "result.json").read_text())
    (exp / "result.json").write_text(json.dumps({**result, "figures": ["f.png", "ok.png", "gone.png"]}))
    html = experiment_section(exp)
    assert "figure f.png is not a PNG file" in html and "figure gone.png is missing" in html
    assert data_uris(html) == [RED]
    (exp / "result.json").write_text("{")
    assert "result.json cannot be read as JSON" in experiment_section(exp)


def test_unknown_or_missing_folders_are_refused_by_name(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' is neither a run folder \(summary.json or metrics.jsonl\) "
                                         r"nor an experiment folder \(result.json\)"):
        folder_kind(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"report folder '.*nowhere' does not exist"):
        write_report([tmp_path / "nowhere"], tmp_path / "r.html")
    with pytest.raises(ValueError, match="no folders"):
        write_report([], tmp_path / "r.html")
    run = make_run(tmp_path / "run")
    with pytest.raises(ValueError, match=r"report file '.*run' is a folder"):
        write_report([run], run)
    with pytest.raises(ValueError, match="neither a run"):  # checked before anything is written
        write_report([run, tmp_path / "empty"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()
    assert folder_kind(run) == "run" and folder_kind(make_experiment(tmp_path / "e")) == "experiment"


def test_the_page_is_self_contained_valid_and_escaped(tmp_path):
    run, exp = make_run(tmp_path / "run"), make_experiment(tmp_path / "exp")
    out = write_report([run, exp], tmp_path / "out" / "report.html", title="runs <& experiments")
    page = out.read_text()
    checker = check_html5(page)
    assert data_uris(page) == [GRADIENT, GRADIENT, RED, RED, STRIPES]
    assert all(png_problem(b) is None and b.endswith(b"IEND\xaeB`\x82") for b in data_uris(page))
    for external in ("http://", "https://", "<link", "<script", "@import", "url(", "@font-face", "src=\"file"):
        assert external not in page.lower(), external
    assert re.findall(r"\bsrc=\"(?!data:image/png;base64,)", page) == []
    assert "script" not in checker.tags and "iframe" not in checker.tags
    assert "<title>runs &lt;&amp; experiments</title>" in page and XSS_ESCAPED in page
    assert checker.ids == ["s1", "s2"] and 'href="#s1"' in page and 'href="#s2"' in page
    assert "default-src 'none'" in page  # the browser itself refuses anything not inline
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # atomic: no temporary file left


def test_find_folders_gathers_runs_and_experiments(tmp_path):
    make_run(tmp_path / "runs" / "b-run")
    make_run(tmp_path / "runs" / "a-run", finished=False)
    make_experiment(tmp_path / "runs" / "experiments" / "exp1")
    (tmp_path / "runs" / "not-a-run").mkdir()
    assert find_folders(tmp_path / "runs") == [tmp_path / "runs" / "a-run", tmp_path / "runs" / "b-run",
                                               tmp_path / "runs" / "experiments" / "exp1"]
    assert find_folders(tmp_path / "nothing") == []


# ---------------------------------------------------------------------------------------------- commands

def test_the_report_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["report"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganlab report: error: no run or experiment folders under 'runs'") and err.count("\n") == 1
    run = make_run(tmp_path / "runs" / "r1")
    make_experiment(tmp_path / "runs" / "experiments" / "e1")
    assert main(["report", "--out", "all.html"]) == 0  # no DIR: everything under runs/
    assert "2 folder(s) -> all.html" in capsys.readouterr().out
    page = (tmp_path / "all.html").read_text()
    assert page.count("<section ") == 2 and '<section id="s1" class="run">' in page and XSS_ESCAPED in page
    assert main(["report", str(run), "--out", "one.html", "--title", "just r1"]) == 0
    assert "<title>just r1</title>" in (tmp_path / "one.html").read_text()
    (tmp_path / "plain").mkdir()
    assert main(["report", "plain", "--out", "x.html"]) == 2
    err = capsys.readouterr().err
    assert "'plain' is neither a run folder" in err and err.count("\n") == 1 and not (tmp_path / "x.html").exists()
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "every run under runs/ and every experiment under runs/experiments/" in help_text


EXPERIMENT_MODULE = '''
import time

from ganlab.experiments import Experiment, Result


def run(params, out, size):
    time.sleep(0.25)
    (out / "fig.png").write_bytes(FIGURE)
    return Result({"x": params["x"]}, "x < 2 as claimed", params["x"] < 2, (out / "fig.png",))


EXPERIMENT = Experiment("html-toy", "lecture 000, slide 'none'", "x is small", run, params={"x": 1.5})
'''


def test_the_experiment_command_writes_index_html(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "html_toy.py").write_text(f"FIGURE = {RED!r}\n" + EXPERIMENT_MODULE)
    monkeypatch.setattr(experiments_pkg, "__path__", [*experiments_pkg.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, "ganlab.experiments.html_toy", raising=False)
    try:
        assert main(["experiment", "html-toy", "--size", "smoke", "--out", str(tmp_path / "out")]) == 0
    finally:
        sys.modules.pop("ganlab.experiments.html_toy", None)
    assert str(tmp_path / "out" / "index.html") in capsys.readouterr().out
    page = (tmp_path / "out" / "index.html").read_text()
    assert "x &lt; 2 as claimed" in page and '<span class="badge held">held</span>' in page
    assert re.search(r"<th>x</th><td class=\"num\">1.5</td>", page) and data_uris(page) == [RED]
    assert 0.25 <= json.loads((tmp_path / "out" / "result.json").read_text())["wall_seconds"] < 30  # the run's time


def test_train_writes_report_html_and_prints_its_path_last(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--steps", "1", "--out", str(out), "--model.g_width=8", "--model.d_width=8",
                 "--model.g_depth=1", "--model.d_depth=1", "--batch_size=16", "--eval_samples=100",
                 "--threads", "1", "--no-progress", "--n_critic=1"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1] == f"report: {out / 'report.html'}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["report"] == str(out / "report.html")
    page = (out / "report.html").read_text()
    check_html5(page)
    assert f">{summary['w1']:.4g}<" in page and "<title>wgan-gp-quick on ring</title>" in page
    shown = data_uris(page)  # curves.png and the one sample figure, byte for byte
    assert shown == [(out / "curves.png").read_bytes(), (out / "samples" / "step_0000001.png").read_bytes()]


# ---------------------------------------------------------------------------------------------- in a browser

def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        found = shutil.which(explicit)
        if not found:
            pytest.fail(f"CHROMIUM={explicit!r} is not an executable")
        return found
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe: commands NUL-terminated JSON written to
    its fd 3, replies and events read from its fd 4. Nothing but the standard library."""

    def __init__(self, binary: str, profile: Path, *, deadline: float) -> None:
        import fcntl  # POSIX only, as the pipe itself

        self.deadline, self.events, self._buf, self._id = deadline, [], b"", 0
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        def child_fds() -> None:  # in the child: the two pipe ends become fds 3 and 4 (moved above 4 first)
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 5)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 5)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.close(r)
            os.close(w)

        args = [binary, "--headless=new", "--remote-debugging-pipe", f"--user-data-dir={profile}",
                "--no-sandbox",  # needed as root (and in most containers); the page is our own file
                "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--force-color-profile=srgb", "--hide-scrollbars", "--window-size=1200,900", "about:blank"]
        self.log = profile.with_name("chromium.log")  # a file, not a pipe: nobody has to drain it
        try:
            with open(self.log, "wb") as log:
                self.proc = subprocess.Popen(args, preexec_fn=child_fds, close_fds=False, start_new_session=True,
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        except BaseException:
            os.close(self._w)
            os.close(self._r)
            raise
        finally:
            os.close(to_chrome_r)
            os.close(from_chrome_w)

    def _recv(self) -> dict:
        while b"\0" not in self._buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            if select.select([self._r], [], [], left)[0]:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise EOFError(f"chromium exited: {self.log.read_text(errors='replace')[-2000:]}")
                self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._recv()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._recv())

    def open(self, url: str) -> str:
        """A new tab with console, log and network events on; navigates to `url` once loaded; its session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=session)
        self.events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired")
        return session

    def evaluate(self, session: str, expression: str):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                         session=session)["result"]["value"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser log errors (failed loads, CSP refusals)."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - whatever went wrong, the browser goes
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the process group this test started
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def test_the_page_renders_in_a_headless_browser(tmp_path):
    """Every figure decoded (naturalWidth > 0), standards mode, no console error, no request beyond the file
    itself and its data: URIs, and a screenshot that is not blank and shows the red figure. A page with a
    broken image, opened in the same browser, shows that the checks can fail."""
    if os.name != "posix":
        pytest.skip("the DevTools pipe (fds 3 and 4) is POSIX only")
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium binary (set CHROMIUM, or put chromium / chromium-browser / google-chrome on PATH)")
    from PIL import Image  # matplotlib's own dependency

    page = write_report([make_run(tmp_path / "run"), make_experiment(tmp_path / "exp")], tmp_path / "report.html")
    (tmp_path / "broken.html").write_text('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>b</title>'
                                          '</head><body><img src="missing.png" alt="x"></body></html>')
    browser = Browser(binary, tmp_path / "profile", deadline=time.monotonic() + 18)
    try:
        session = browser.open(page.as_uri())
        images = browser.evaluate(session, "[...document.images].map(i => [i.complete, i.naturalWidth, "
                                           "i.naturalHeight])")
        assert images == [[True, 64, 48], [True, 64, 48], [True, 40, 30], [True, 40, 30], [True, 32, 32]]
        assert browser.evaluate(session, "document.compatMode") == "CSS1Compat"  # the doctype took: standards mode
        assert browser.evaluate(session, "document.scripts.length") == 0
        assert XSS in browser.evaluate(session, "document.body.innerText")  # shown as text, not run
        assert browser.errors() == []
        assert [u for u in browser.requests() if not u.startswith("data:")] == [page.as_uri()]
        size = browser.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {
            "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}, session=session)
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))
        assert pixels.shape[0] > 900 and pixels.astype(float).var() > 100.0  # not blank
        red = (pixels[..., 0] > 230) & (pixels[..., 1] < 30) & (pixels[..., 2] < 30)
        assert red.sum() >= 2 * 40 * 30 * 0.9  # the 40 x 30 red figure, shown twice (last sample, experiment)

        broken = browser.open((tmp_path / "broken.html").as_uri())  # the checks have teeth
        assert browser.evaluate(broken, "[...document.images].map(i => i.naturalWidth)") == [0]
        assert any("missing.png" in e for e in browser.errors())
    finally:
        browser.close()
