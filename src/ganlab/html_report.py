"""One self-contained HTML page for run folders and experiment folders (`ganlab report`).

    page = <!DOCTYPE html> + inline CSS + one <section> per folder,  every figure a data:image/png;base64 URI

The page loads nothing from anywhere: no external style sheet, font or script, and a Content-Security-Policy
(`default-src 'none'; img-src data:; style-src 'unsafe-inline'`) that makes the browser refuse anything else,
so the file can be mailed, archived or opened offline as it is. Every string read from a folder is escaped
(`html.escape`): a config value or a verdict holding `<script>` is shown, never run.

A folder is read, never written:
  run          (summary.json or metrics.jsonl; `ganlab.runs`): recipe, data, steps, wall time, threads, device;
               the final metrics of summary.json (or the latest evaluation of a run still in progress);
               curves.png and the first and last samples/step_*.png; the evaluation rows of metrics.jsonl,
               thinned evenly to at most `MAX_EVAL_ROWS`; config.toml as key / value.
  experiment   (result.json; `ganlab.experiments`): name, lecture slide, claim, the verdict with a held /
               did-not-hold badge, params and numbers (nested dicts flattened to dotted keys), every figure.
A missing or damaged piece (a PNG that is not one, a malformed metrics line, unreadable JSON or TOML) is
reported inline in its section; only a folder that is neither kind is refused (ValueError naming it).
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import re
import struct
import sys
import zlib
from base64 import b64encode
from pathlib import Path
from typing import Any, Iterable, Literal

from ganlab.files import atomic_write

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["MAX_EVAL_ROWS", "experiment_section", "find_folders", "folder_kind", "png_problem", "run_section",
           "thin", "write_report"]

#: At most this many evaluation rows of metrics.jsonl are shown; more are thinned evenly (first and last kept).
MAX_EVAL_ROWS = 20
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Keys of a metrics.jsonl row that every logged step has; any other key comes from an evaluation.
TRAINING_KEYS = ("step", "d_loss", "g_loss", "critic_gap", "gp", "wall_seconds", "error", "rollback", "lr_scale",
                 "reason")


def _is_evaluation_key(key: str) -> bool:
    """A field only evaluation rows have: not a training scalar, not a diagnostic (`diag_*`, every log row)."""
    return key not in TRAINING_KEYS and not key.startswith("diag_")
#: Keys of summary.json that describe the run rather than measure it.
RUN_FACTS = ("recipe", "data", "steps", "wall_seconds", "steps_per_second", "threads", "device", "world_size",
             "ema", "num_modes", "eval_samples", "run_dir", "torch", "report")
_MAX_PROBLEMS = 5  # malformed metrics lines listed one by one; the rest counted

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d8dde6; --bg: #f6f7f9; --ok: #17663a; --ok-bg: #dcf3e4;
        --bad: #9b1c1c; --bad-bg: #fbe1e1; --warn-bg: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       color: var(--fg); background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 21px; margin: 0 0 8px; }
h2 small { font-size: 14px; font-weight: 400; color: var(--muted); }
h3 { font-size: 16px; margin: 20px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
header p, .path { color: var(--muted); margin: 0 0 6px; font-size: 13px; }
nav ul { margin: 8px 0 0; padding-left: 20px; } nav a { color: #1f4fa3; }
section { border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin: 22px 0;
          background: var(--bg); }
table { border-collapse: collapse; margin: 4px 0 8px; background: #fff; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 3px 9px; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, monospace; }
.scroll { overflow-x: auto; max-width: 100%; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 700; font-size: 13px;
         margin-right: 8px; }
.held { background: var(--ok-bg); color: var(--ok); } .failed { background: var(--bad-bg); color: var(--bad); }
.pending { background: var(--warn-bg); color: #7a5300; }
.claim { font-style: italic; } .verdict { margin: 8px 0; }
.problem { background: var(--bad-bg); color: var(--bad); padding: 4px 10px; border-radius: 4px; margin: 6px 0; }
.note { color: var(--muted); font-size: 13px; margin: 2px 0 6px; }
.row { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; background: #fff; border: 1px solid var(--line); padding: 8px; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


# ---------------------------------------------------------------------------------------------- folders

def folder_kind(path: str | os.PathLike) -> Literal["run", "experiment"]:
    """`experiment` when `path` holds result.json, `run` when it holds summary.json or metrics.jsonl.

    Raises FileNotFoundError when `path` is not a folder, ValueError naming it when it is neither kind.
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"report folder {str(p)!r} does not exist (expected a run or experiment folder)")
    if (p / "result.json").is_file():
        return "experiment"
    if (p / "summary.json").is_file() or (p / "metrics.jsonl").is_file():
        return "run"
    raise ValueError(f"{str(p)!r} is neither a run folder (summary.json or metrics.jsonl) nor an experiment "
                     f"folder (result.json)")


def find_folders(root: str | os.PathLike = "runs") -> list[Path]:
    """Every run folder directly under `root` and every experiment folder under `root`/experiments, by name."""
    root = Path(root)
    runs = [p for p in _subfolders(root) if _is_kind(p, "run")]
    exps = [p for p in _subfolders(root / "experiments") if _is_kind(p, "experiment")]
    return runs + exps


def _subfolders(p: Path) -> list[Path]:
    return sorted(q for q in p.iterdir() if q.is_dir()) if p.is_dir() else []


def _is_kind(p: Path, kind: str) -> bool:
    try:
        return folder_kind(p) == kind
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------- formatting

def _e(value: Any) -> str:
    """Escaped text of anything read from a file."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    """A value as short text (not yet escaped): 4 significant digits, integers whole, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        if value == 0:
            return "0"
        if 1e4 <= abs(value) < 1e12 and value == round(value):
            return f"{value:.0f}"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "[]"
    if isinstance(value, dict) and not value:
        return "{}"
    return str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts (and lists of dicts) as (dotted key, leaf) pairs: {"a": {"b": 1}} -> [("a.b", 1)]; {} -> []."""
    if not prefix and isinstance(value, dict) and not value:
        return []
    if isinstance(value, dict) and value:
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [kv for i, v in enumerate(value) for kv in _flatten(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


def _td(value: Any) -> str:
    """A table cell; numbers right-aligned."""
    return f'<td class="num">{_e(_fmt(value))}</td>' if _is_number(value) else f"<td>{_e(_fmt(value))}</td>"


def _kv_table(pairs: Iterable[tuple[str, Any]], head: tuple[str, str] = ("", "")) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th>{_td(v)}</tr>" for k, v in pairs)
    if not rows:
        return '<p class="note">none</p>'
    thead = f"<thead><tr><th>{_e(head[0])}</th><th>{_e(head[1])}</th></tr></thead>" if any(head) else ""
    return f'<div class="scroll"><table>{thead}<tbody>{rows}</tbody></table></div>'


def _problem(text: str) -> str:
    return f'<p class="problem">{_e(text)}</p>'


# ---------------------------------------------------------------------------------------------- figures

def png_problem(data: bytes) -> str | None:
    """None when `data` is a whole PNG file (signature, IHDR first, every chunk's CRC-32 right, IEND last);
    otherwise what is wrong with it, in a few words."""
    if not data.startswith(PNG_SIGNATURE):
        return f"not a PNG file (it starts with {data[:8]!r})" if data else "an empty file"
    pos, first = len(PNG_SIGNATURE), True
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return f"a truncated PNG file (chunk {kind!r} runs past the end)"
        if zlib.crc32(data[pos + 4:pos + 8 + length]) != struct.unpack(">I", data[pos + 8 + length:end])[0]:
            return f"a damaged PNG file (chunk {kind!r} fails its CRC)"
        if first and kind != b"IHDR":
            return "a damaged PNG file (it does not start with IHDR)"
        if kind == b"IEND":
            return None
        first, pos = False, end
    return "a truncated PNG file (no IEND chunk)"


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR of a checked PNG."""
    return struct.unpack(">II", data[16:24])


def _figure(path: Path, caption: str) -> str:
    """A <figure> with the PNG at `path` as a data URI, or an inline problem when it is missing or damaged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _problem(f"figure {caption} is missing ({path})")
    except OSError as exc:
        return _problem(f"figure {caption} cannot be read ({path}): {exc.strerror or exc}")
    problem = png_problem(data)
    if problem:
        return _problem(f"figure {caption} is {problem}; not shown")
    w, h = _png_size(data)
    uri = "data:image/png;base64," + b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" width="{w}" height="{h}" alt="{_e(caption)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


# ---------------------------------------------------------------------------------------------- reading

def _read_json(path: Path, problems: list[str]) -> Any:
    """The JSON of `path`, or None with the reason appended to `problems` (a missing file is not a problem)."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        problems.append(f"{path.name} cannot be read as JSON: {exc}")
        return None


def _read_metrics(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    """The rows of metrics.jsonl; each malformed line is skipped and reported (the first few by number)."""
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        problems.append(f"metrics.jsonl cannot be read: {exc.strerror or exc}")
        return []
    rows, bad = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            bad.append(f"line {number} is not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict) or not _is_number(row.get("step")):
            bad.append(f"line {number} is not a row with a step")
            continue
        rows.append(row)
    if bad:
        more = f"; and {len(bad) - _MAX_PROBLEMS} more" if len(bad) > _MAX_PROBLEMS else ""
        problems.append(f"metrics.jsonl: {len(bad)} malformed line(s) skipped: {'; '.join(bad[:_MAX_PROBLEMS])}{more}")
    return rows


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"config.toml cannot be read as TOML: {exc}")
        return None


def thin(n: int, k: int = MAX_EVAL_ROWS) -> list[int]:
    """At most `k` indices of range(n), evenly spaced, the first and the last always kept:
    round(i (n - 1) / (k - 1)) for i = 0..k-1 (distinct because n > k). ValueError unless k >= 1."""
    if k < 1:
        raise ValueError(f"thin: k must be at least 1, got {k!r}")
    if n <= k:
        return list(range(n))
    if k == 1:
        return [n - 1]
    return [round(i * (n - 1) / (k - 1)) for i in range(k)]


def _step_of(path: Path) -> int:
    m = re.search(r"(\d+)", path.stem)
    return int(m[1]) if m else -1


# ---------------------------------------------------------------------------------------------- sections

def run_section(run_dir: str | os.PathLike) -> str:
    """The HTML fragment (<section>) of the run folder `run_dir`: facts, final metrics, figures, evaluation
    rows and config. A run without summary.json is shown as in progress; damaged pieces are reported inline."""
    run_dir = Path(run_dir)
    problems: list[str] = []
    summary = _read_json(run_dir / "summary.json", problems)
    if summary is not None and not isinstance(summary, dict):
        problems.append("summary.json is not a JSON object")
        summary = None
    rows = _read_metrics(run_dir / "metrics.jsonl", problems)
    config = _read_toml(run_dir / "config.toml", problems)
    config = config or {}
    last = rows[-1] if rows else {}
    finished = summary is not None
    s = summary or {}

    facts = [
        ("recipe", s.get("recipe", config.get("recipe"))),
        ("data", s.get("data", config.get("data"))),
        ("steps", s["steps"] if "steps" in s else
            f"{last.get('step', 0)} of {_fmt(config.get('steps', '?'))} logged"),
        ("wall time", _duration(s.get("wall_seconds", next((r["wall_seconds"] for r in reversed(rows)
                                                             if "wall_seconds" in r), None)))),
        ("threads", s.get("threads", config.get("threads"))),
        ("device", s.get("device", config.get("device"))),
    ]
    facts += [(k, s[k]) for k in ("world_size", "steps_per_second", "ema", "eval_samples", "torch") if k in s]
    badge = ('<span class="badge held">finished</span>' if finished else
             '<span class="badge pending">in progress</span><span class="note">no summary.json yet</span>')

    evals = [r for r in rows if any(_is_evaluation_key(k) for k in r)]
    if finished:
        final_title = "final metrics (summary.json)"
        final = _flatten({k: v for k, v in s.items() if k not in RUN_FACTS})
    else:
        final_title = f"latest evaluation (step {evals[-1]['step']})" if evals else "latest evaluation"
        final = _flatten({k: v for k, v in evals[-1].items() if k != "wall_seconds"}) if evals else []
    if s.get("num_modes") and _is_number(s.get("modes")):
        final = [(k, f"{v} of {s['num_modes']}" if k == "modes" else v) for k, v in final]

    samples = sorted((run_dir / "samples").glob("step_*.png"), key=_step_of)
    figures = [_figure(run_dir / "curves.png", "curves.png")] if (finished or (run_dir / "curves.png").exists()) else []
    if samples:
        figures.append(_figure(samples[0], f"samples/{samples[0].name} (first)"))
        if len(samples) > 1:
            figures.append(_figure(samples[-1], f"samples/{samples[-1].name} (last)"))

    errors = [r["error"] for r in rows if "error" in r]
    rollbacks = [f"rollback {r['rollback']} to step {r['step']} ({r.get('reason', '?')}); learning rates now "
                 f"x{r.get('lr_scale', '?')}" for r in rows if "rollback" in r]
    parts = [
        f"<h2>{_e(run_dir.name)} <small>run</small></h2>",
        f'<p class="path">{_e(run_dir)}</p>',
        f"<p>{badge}</p>",
        *(_problem(p) for p in problems),
        *(_problem(f"the run stopped: {msg}") for msg in errors),
        *(_problem(msg) for msg in rollbacks),
        '<div class="row"><div>',
        "<h3>run</h3>",
        _kv_table(facts),
        "</div><div>",
        f"<h3>{_e(final_title)}</h3>",
        _kv_table(final),
        "</div></div>",
        "<h3>figures</h3>",
        f'<div class="figures">{"".join(figures)}</div>' if figures else '<p class="note">no figures yet</p>',
        "<h3>evaluations (metrics.jsonl)</h3>",
        _eval_table(evals),
        "<h3>config (config.toml)</h3>",
        _kv_table(_flatten(config)) if config else '<p class="note">no config.toml</p>',
    ]
    return '<section class="run">' + "\n".join(parts) + "</section>"


def _eval_table(evals: list[dict[str, Any]]) -> str:
    if not evals:
        return '<p class="note">no evaluation rows yet</p>'
    keep = [evals[i] for i in thin(len(evals))]
    columns = ["step"]
    for r in evals:
        columns += [k for k in r if _is_evaluation_key(k) and k not in columns]
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_td(r.get(c)) for c in columns) + "</tr>" for r in keep)
    note = (f'<p class="note">{len(keep)} of {len(evals)} evaluation rows, evenly spaced</p>'
            if len(keep) < len(evals) else "")
    return f'{note}<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def experiment_section(exp_dir: str | os.PathLike) -> str:
    """The HTML fragment (<section>) of the experiment folder `exp_dir` (its result.json): name, lecture slide,
    claim, verdict with a held / did-not-hold badge, params, numbers and every figure."""
    exp_dir = Path(exp_dir)
    problems: list[str] = []
    result = _read_json(exp_dir / "result.json", problems)
    if result is None and not problems:
        problems.append("result.json is missing")
    if result is not None and not isinstance(result, dict):
        problems.append("result.json is not a JSON object")
        result = None
    r = result or {}
    passed = r.get("passed")
    if passed is True:
        badge = '<span class="badge held">held</span>'
    elif passed is False:
        badge = '<span class="badge failed">did not hold</span>'
    else:
        badge = '<span class="badge pending">no verdict</span>'
    figures = r.get("figures") or []
    if not isinstance(figures, list):
        problems.append("result.json: figures is not a list of paths")
        figures = []
    shown = "".join(_figure(exp_dir / str(f), str(f)) for f in figures)
    parts = [
        f"<h2>{_e(r.get('experiment', exp_dir.name))} <small>experiment</small></h2>",
        f'<p class="path">{_e(exp_dir)}</p>',
        *(_problem(p) for p in problems),
        _kv_table([("lecture", r.get("lecture")), ("size", r.get("size"))]),
        f'<p class="claim">{_e(r.get("claim", ""))}</p>',
        f'<p class="verdict">{badge}{_e(r.get("verdict", ""))}</p>',
        "<h3>parameters</h3>",
        _kv_table(_flatten(r.get("params") or {})),
        "<h3>numbers</h3>",
        _kv_table(_flatten(r.get("numbers") or {})),
        "<h3>figures</h3>",
        f'<div class="figures">{shown}</div>' if shown else '<p class="note">no figures</p>',
    ]
    return '<section class="experiment">' + "\n".join(parts) + "</section>"


# ---------------------------------------------------------------------------------------------- the page

def write_report(paths: Iterable[str | os.PathLike], out_file: str | os.PathLike, *,
                 title: str = "ganlab report") -> Path:
    """Write one self-contained HTML5 page with a section per folder of `paths` (runs and experiments, kind
    detected by `folder_kind`) to `out_file`, atomically; returns its path.

    Every folder is checked before anything is written: FileNotFoundError / ValueError name the first that
    is not a run or experiment folder; ValueError when `paths` is empty or `out_file` is a folder.
    """
    folders = [Path(p) for p in paths]
    if not folders:
        raise ValueError("no folders to report on; expected run or experiment folders")
    kinds = [folder_kind(p) for p in folders]
    out = Path(out_file)
    if out.is_dir():
        raise ValueError(f"report file {str(out)!r} is a folder; expected a file path such as report.html")
    sections, toc = [], []
    for i, (folder, kind) in enumerate(zip(folders, kinds), 1):
        body = run_section(folder) if kind == "run" else experiment_section(folder)
        sections.append(body.replace("<section ", f'<section id="s{i}" ', 1))
        toc.append(f'<li><a href="#s{i}">{_e(folder.name or folder)}</a> <span class="note">{kind}</span></li>')
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="generator" content="ganlab">',
        f"<title>{_e(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{_e(title)}</h1><p>{len(folders)} folder(s), written {_e(when)} by ganlab</p>",
        f"<nav><ul>{''.join(toc)}</ul></nav></header>",
        "<main>",
        *sections,
        "</main>",
        "</body>",
        "</html>",
        "",
    ])
    return atomic_write(out, lambda tmp: tmp.write_text(page, encoding="utf-8"))
